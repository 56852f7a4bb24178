//! The attribute vocabulary (an attribute manifest): which names exist and their types, each
//! resolved once to a dense [`AttrId`]. Ids `0..222` are the global dictionary's words, in
//! dictionary order, so a global wire index *is* an id; manifest attributes that are not
//! dictionary words get the ids after that.

use crate::dictionary::{GLOBAL_WORDS, GLOBAL_WORD_COUNT};
use crate::value::ValueType;
use rustc_hash::FxHashMap;
use std::sync::OnceLock;

/// A resolved attribute name (or dictionary word): an index into its [`Vocabulary`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct AttrId(pub u32);

impl AttrId {
    pub fn index(self) -> usize {
        self.0 as usize
    }

    /// The global dictionary index of this word, when it is one.
    pub fn global_index(self) -> Option<i32> {
        (self.index() < GLOBAL_WORD_COUNT).then_some(self.0 as i32)
    }
}

/// What went wrong building a vocabulary.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VocabularyError {
    #[error("attribute {name:?} is declared as {first} and as {second}")]
    Conflict {
        name: String,
        first: ValueType,
        second: ValueType,
    },
    #[error("attribute {name:?}: VALUE_TYPE_UNSPECIFIED is not a valid attribute type")]
    Unspecified { name: String },
}

/// Names, their ids and their declared types.
#[derive(Debug, Clone)]
pub struct Vocabulary {
    names: Vec<Box<str>>,
    types: Vec<Option<ValueType>>,
    by_name: FxHashMap<Box<str>, AttrId>,
}

impl Vocabulary {
    /// Only the global dictionary's words, none of them declared as an attribute yet.
    pub fn dictionary_only() -> Vocabulary {
        let mut v = Vocabulary {
            names: Vec::with_capacity(GLOBAL_WORD_COUNT + 32),
            types: Vec::with_capacity(GLOBAL_WORD_COUNT + 32),
            by_name: FxHashMap::default(),
        };
        for w in GLOBAL_WORDS {
            v.push_name(w);
        }
        v
    }

    /// The built-in manifest: the 96 attributes of Istio's vocabulary
    /// (`data/attribute_vocabulary.tsv`, the union of the 1.0 and 1.4 manifests and the docs).
    pub fn builtin() -> &'static Vocabulary {
        static BUILTIN: OnceLock<Vocabulary> = OnceLock::new();
        BUILTIN.get_or_init(|| {
            let mut v = Vocabulary::dictionary_only();
            for line in include_str!("../data/attribute_vocabulary.tsv").lines() {
                let mut cols = line.split('\t');
                let (Some(name), Some(ty)) = (cols.next(), cols.next()) else {
                    continue;
                };
                let ty = ValueType::from_name(ty).unwrap_or(ValueType::Unspecified);
                // The data file is ours and tested; a conflict here is a build defect.
                v.declare(name, ty)
                    .unwrap_or_else(|e| panic!("built-in vocabulary: {e}"));
            }
            v
        })
    }

    /// This vocabulary extended with more attributes (from `attributemanifest` documents).
    pub fn extended<'n>(
        &self,
        attributes: impl IntoIterator<Item = (&'n str, ValueType)>,
    ) -> Result<Vocabulary, Vec<VocabularyError>> {
        let mut v = self.clone();
        let errors: Vec<_> = attributes
            .into_iter()
            .filter_map(|(n, t)| v.declare(n, t).err())
            .collect();
        if errors.is_empty() {
            Ok(v)
        } else {
            Err(errors)
        }
    }

    /// Declares `name` as an attribute of type `ty`. Declaring it again with the same type is
    /// fine; with another type it is an error.
    pub fn declare(&mut self, name: &str, ty: ValueType) -> Result<AttrId, VocabularyError> {
        if ty == ValueType::Unspecified {
            return Err(VocabularyError::Unspecified {
                name: name.to_owned(),
            });
        }
        let id = match self.by_name.get(name) {
            Some(&id) => id,
            None => self.push_name(name),
        };
        match self.types[id.index()] {
            Some(first) if first != ty => Err(VocabularyError::Conflict {
                name: name.to_owned(),
                first,
                second: ty,
            }),
            _ => {
                self.types[id.index()] = Some(ty);
                Ok(id)
            }
        }
    }

    fn push_name(&mut self, name: &str) -> AttrId {
        let id = AttrId(self.names.len() as u32);
        self.names.push(name.into());
        self.types.push(None);
        self.by_name.insert(name.into(), id);
        id
    }

    /// Number of ids (dictionary words plus extra attributes); bags size their slot tables by it.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The id of a word or attribute name, declared or not.
    pub fn id(&self, name: &str) -> Option<AttrId> {
        self.by_name.get(name).copied()
    }

    /// The id and declared type of an attribute; `None` when `name` is not an attribute.
    pub fn attribute(&self, name: &str) -> Option<(AttrId, ValueType)> {
        let id = self.id(name)?;
        Some((id, self.types[id.index()]?))
    }

    pub fn name(&self, id: AttrId) -> &str {
        &self.names[id.index()]
    }

    /// Declared type of `id`, `None` for a dictionary word that is not an attribute.
    pub fn type_of(&self, id: AttrId) -> Option<ValueType> {
        self.types.get(id.index()).copied().flatten()
    }

    /// Every declared attribute, in id order.
    pub fn attributes(&self) -> impl Iterator<Item = (AttrId, &str, ValueType)> + '_ {
        self.types
            .iter()
            .enumerate()
            .filter_map(|(i, t)| t.map(|t| (AttrId(i as u32), &*self.names[i], t)))
    }

    /// The declared attribute nearest to `name` by edit distance, for "did you mean" hints.
    pub fn suggest(&self, name: &str) -> Option<&str> {
        let limit = (name.len() / 3).max(2);
        self.attributes()
            .map(|(_, n, _)| (edit_distance(name, n), n))
            .filter(|(d, _)| *d <= limit)
            .min()
            .map(|(_, n)| n)
    }
}

/// Levenshtein distance over bytes (names are ASCII).
fn edit_distance(a: &str, b: &str) -> usize {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for i in 1..=a.len() {
        cur[0] = i;
        for j in 1..=b.len() {
            let sub = prev[j - 1] + usize::from(a[i - 1] != b[j - 1]);
            cur[j] = sub.min(prev[j] + 1).min(cur[j - 1] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_has_the_96_attributes_and_dictionary_ids() {
        let v = Vocabulary::builtin();
        assert_eq!(v.attributes().count(), 96);
        assert_eq!(
            v.attribute("source.ip"),
            Some((AttrId(0), ValueType::IpAddress))
        );
        assert_eq!(
            v.attribute("request.headers").map(|a| a.1),
            Some(ValueType::StringMap)
        );
        // a dictionary word that is no attribute
        assert!(v.id(":authority").is_some());
        assert_eq!(v.attribute(":authority"), None);
        // source.port is in the dictionary but in no manifest
        assert_eq!(v.attribute("source.port"), None);
        // an attribute that is not a dictionary word gets an id past the dictionary
        let (id, _) = v.attribute("origin.ip").unwrap();
        assert!(id.global_index().is_none());
    }

    #[test]
    fn suggestions_find_typos() {
        let v = Vocabulary::builtin();
        assert_eq!(v.suggest("destination.servce"), Some("destination.service"));
        assert_eq!(v.suggest("completely.different.thing"), None);
    }

    #[test]
    fn conflicting_declarations_are_errors() {
        let err = Vocabulary::builtin()
            .extended([("source.ip", ValueType::String)])
            .unwrap_err();
        assert!(
            err[0].to_string().contains("IP_ADDRESS and as STRING"),
            "{}",
            err[0]
        );
        let ok = Vocabulary::builtin()
            .extended([("my.attr", ValueType::Int64)])
            .unwrap();
        assert_eq!(ok.attribute("my.attr").map(|a| a.1), Some(ValueType::Int64));
    }
}
