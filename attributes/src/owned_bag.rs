//! A bag built in memory, owning its names and values: what the proxy assembles per request,
//! what tools read from YAML, and the reference side of codec round-trip tests.

use crate::access::{AttrRef, Attributes};
use crate::value::{OwnedValue, Value};
use std::borrow::Cow;

/// Attributes in insertion order; setting a name again replaces its value. Names are usually
/// the vocabulary's own `&'static str`s, so building a bag allocates only for values.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct OwnedBag {
    entries: Vec<(Cow<'static, str>, OwnedValue)>,
}

impl OwnedBag {
    pub fn new() -> OwnedBag {
        OwnedBag::default()
    }

    pub fn with_capacity(n: usize) -> OwnedBag {
        OwnedBag {
            entries: Vec::with_capacity(n),
        }
    }

    /// Sets `name` to `value`, replacing an earlier value.
    pub fn set(&mut self, name: impl Into<Cow<'static, str>>, value: OwnedValue) -> &mut Self {
        let name = name.into();
        match self.entries.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.entries.push((name, value)),
        }
        self
    }

    /// Adds `name`, which the caller knows is not in the bag yet (checked in debug builds):
    /// [`set`](Self::set) without the search, for bags built field by field.
    pub fn push_new(&mut self, name: &'static str, value: OwnedValue) -> &mut Self {
        debug_assert!(
            self.get_by_name(name).is_none(),
            "{name} is already in the bag"
        );
        self.entries.push((Cow::Borrowed(name), value));
        self
    }

    pub fn remove(&mut self, name: &str) -> Option<OwnedValue> {
        let i = self.entries.iter().position(|(n, _)| n == name)?;
        Some(self.entries.remove(i).1)
    }

    pub fn get_by_name(&self, name: &str) -> Option<&OwnedValue> {
        self.entries.iter().find(|(n, _)| n == name).map(|(_, v)| v)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, Value<'_>)> + '_ {
        self.entries.iter().map(|(n, v)| (n.as_ref(), v.as_value()))
    }

    /// Entries sorted by name: a canonical form for comparisons.
    pub fn sorted(mut self) -> OwnedBag {
        self.entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (_, v) in &mut self.entries {
            if let OwnedValue::StringMap(m) = v {
                let mut dedup: Vec<(String, String)> = Vec::with_capacity(m.len());
                for (k, val) in m.drain(..) {
                    match dedup.iter_mut().find(|(dk, _)| *dk == k) {
                        Some(slot) => slot.1 = val,
                        None => dedup.push((k, val)),
                    }
                }
                dedup.sort();
                *m = dedup;
            }
        }
        self
    }
}

impl Attributes for OwnedBag {
    fn get(&self, attr: AttrRef<'_>) -> Option<Value<'_>> {
        self.get_by_name(attr.name).map(OwnedValue::as_value)
    }
}

impl<N: Into<Cow<'static, str>>> FromIterator<(N, OwnedValue)> for OwnedBag {
    fn from_iter<I: IntoIterator<Item = (N, OwnedValue)>>(iter: I) -> Self {
        let mut bag = OwnedBag::new();
        for (n, v) in iter {
            bag.set(n, v);
        }
        bag
    }
}

/// An [`OwnedBag`] indexed by the [`AttrId`](crate::AttrId)s of a vocabulary: O(1) lookups,
/// as the decoded [`Bag`](crate::Bag) has. Attributes the vocabulary does not declare are
/// left out.
#[derive(Clone, Debug, Default)]
pub struct IndexedBag(Vec<Option<OwnedValue>>);

impl IndexedBag {
    pub fn new(bag: &OwnedBag, vocab: &crate::Vocabulary) -> IndexedBag {
        let mut slots = vec![None; vocab.len()];
        for (name, v) in &bag.entries {
            if let Some((id, _)) = vocab.attribute(name) {
                slots[id.index()] = Some(v.clone());
            }
        }
        IndexedBag(slots)
    }
}

impl Attributes for IndexedBag {
    fn get(&self, attr: AttrRef<'_>) -> Option<Value<'_>> {
        self.0
            .get(attr.id.index())?
            .as_ref()
            .map(OwnedValue::as_value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Vocabulary;

    #[test]
    fn indexed_bag_answers_like_the_owned_one() {
        let vocab = Vocabulary::builtin();
        let bag: OwnedBag = [
            ("request.size", OwnedValue::Int64(7)),
            ("not.an.attribute", OwnedValue::Bool(true)),
        ]
        .into_iter()
        .collect();
        let indexed = IndexedBag::new(&bag, vocab);
        let attr = |name: &'static str| AttrRef {
            id: vocab.id(name).unwrap_or(crate::AttrId(u32::MAX)),
            name,
        };
        assert_eq!(indexed.get(attr("request.size")), Some(Value::Int64(7)));
        assert_eq!(indexed.get(attr("request.path")), None);
        assert_eq!(indexed.get(attr("not.an.attribute")), None);
    }
}
