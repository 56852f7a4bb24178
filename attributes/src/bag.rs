//! The decoded bag: attributes of one `CompressedAttributes` (or one accumulated delta report),
//! borrowing names, strings and bytes from the request. Lookups by [`AttrId`] are one slot-table
//! read; string maps live in one shared pair buffer; [`Bag::clear`] resets only the slots it
//! used, so one bag serves every attribute set of a request without allocating, and
//! [`Bag::recycle`] carries its buffers over to the next request.

use crate::access::{AttrRef, Attributes};
use crate::owned_bag::OwnedBag;
use crate::value::{Duration, StringMapRef, Timestamp, Value};
use crate::vocabulary::{AttrId, Vocabulary};
use std::sync::atomic::{AtomicU64, Ordering};

/// An attribute name as a decoded bag holds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Name<'a> {
    /// A word of the vocabulary (a global dictionary word or a manifest attribute).
    Known(AttrId),
    /// A name the vocabulary does not know.
    Unknown(&'a str),
}

/// A value as stored: [`Value`] with string maps as a range of the bag's pair buffer.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Stored<'a> {
    String(&'a str),
    Int64(i64),
    Double(f64),
    Bool(bool),
    Timestamp(Timestamp),
    Duration(Duration),
    Bytes(&'a [u8]),
    StringMap { start: u32, end: u32 },
}

impl<'a> Stored<'a> {
    /// The value, its string map's entries taken from `pairs` (the owner's pair buffer).
    pub(crate) fn value<'s>(self, pairs: &'s [(&'a str, &'a str)]) -> Value<'s>
    where
        'a: 's,
    {
        match self {
            Stored::String(s) => Value::String(s),
            Stored::Int64(v) => Value::Int64(v),
            Stored::Double(v) => Value::Double(v),
            Stored::Bool(v) => Value::Bool(v),
            Stored::Timestamp(v) => Value::Timestamp(v),
            Stored::Duration(v) => Value::Duration(v),
            Stored::Bytes(b) => Value::Bytes(b),
            Stored::StringMap { start, end } => {
                let pairs = pairs.get(start as usize..end as usize).unwrap_or_default();
                Value::StringMap(StringMapRef::Pairs(pairs))
            }
        }
    }

    /// The Go type name Mixer's duplicate-attribute error shows (`%T` of the value).
    pub(crate) fn go_type(&self) -> &'static str {
        match self {
            Stored::String(_) => "string",
            Stored::Int64(_) => "int64",
            Stored::Double(_) => "float64",
            Stored::Bool(_) => "bool",
            Stored::Timestamp(_) => "time.Time",
            Stored::Duration(_) => "time.Duration",
            Stored::Bytes(_) => "[]uint8",
            Stored::StringMap { .. } => "attribute.StringMap",
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Entry<'a> {
    name: Name<'a>,
    value: Stored<'a>,
    /// Which attribute set of the request last wrote this entry (duplicate detection).
    set: u32,
}

/// `set` found the attribute already written by the same attribute set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct AlreadySet;

/// A decoded attribute bag borrowing from the request bytes (see the module docs).
#[derive(Debug)]
pub struct Bag<'a> {
    vocab: &'a Vocabulary,
    /// Indexed by `AttrId`: 0 = absent, else entry position + 1.
    slots: Vec<u32>,
    entries: Vec<Entry<'a>>,
    pairs: Vec<(&'a str, &'a str)>,
    unknown: usize,
    succession: Succession,
}

/// How a bag relates to the one held before it in the same buffers (see
/// [`Attributes::position`]). The decoder of a Report's sets fills it: it knows, entry by
/// entry, which attributes repeat the previous set's bytes.
#[derive(Debug)]
struct Succession {
    /// This bag's buffers, numbered once in the process.
    buffers: u64,
    /// Bags held so far (bumped by every [`Bag::clear`]).
    seq: u64,
    /// Whether `changed` names every attribute that may differ from the previous bag.
    follows: bool,
    /// Bits by [`AttrId`] index; sized on the first mark (bags that are not a Report's
    /// never allocate it).
    changed: Vec<u64>,
}

impl Succession {
    fn new() -> Succession {
        static BUFFERS: AtomicU64 = AtomicU64::new(0);
        Succession {
            buffers: BUFFERS.fetch_add(1, Ordering::Relaxed),
            seq: 0,
            follows: false,
            changed: Vec::new(),
        }
    }

    fn next(&mut self) {
        self.seq += 1;
        self.changed.fill(0);
        self.follows = false;
    }
}

impl<'a> Bag<'a> {
    /// An empty bag for names resolved against `vocab`.
    pub fn new(vocab: &'a Vocabulary) -> Bag<'a> {
        Bag {
            vocab,
            slots: vec![0; vocab.len()],
            entries: Vec::with_capacity(64),
            pairs: Vec::with_capacity(64),
            unknown: 0,
            succession: Succession::new(),
        }
    }

    pub fn vocabulary(&self) -> &'a Vocabulary {
        self.vocab
    }

    /// Removes every attribute, keeping the buffers.
    pub fn clear(&mut self) {
        for e in &self.entries {
            if let Name::Known(id) = e.name {
                if let Some(s) = self.slots.get_mut(id.index()) {
                    *s = 0;
                }
            }
        }
        self.entries.clear();
        self.pairs.clear();
        self.unknown = 0;
        self.succession.next();
    }

    /// This bag, emptied, ready to borrow from other bytes: the buffers are reused.
    pub fn recycle<'b>(mut self, vocab: &'b Vocabulary) -> Bag<'b> {
        self.clear();
        // Collecting an empty `Vec` through a same-layout map reuses its allocation.
        let entries = self
            .entries
            .into_iter()
            .map(|_| unreachable_entry())
            .collect();
        let pairs = self.pairs.into_iter().map(|_| ("", "")).collect();
        let mut slots = self.slots;
        slots.resize(vocab.len(), 0);
        let mut succession = self.succession;
        // sized again for the new vocabulary on the first mark
        succession.changed.clear();
        Bag {
            vocab,
            slots,
            entries,
            pairs,
            unknown: 0,
            succession,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    fn value_of(&self, v: Stored<'a>) -> Value<'_> {
        v.value(&self.pairs)
    }

    /// The value of the attribute with id `id`.
    #[inline]
    pub fn get_id(&self, id: AttrId) -> Option<Value<'_>> {
        let slot = *self.slots.get(id.index())?;
        let e = self.entries.get(slot.checked_sub(1)? as usize)?;
        Some(self.value_of(e.value))
    }

    /// The value of the attribute called `name`.
    pub fn get_by_name(&self, name: &str) -> Option<Value<'_>> {
        match self.vocab.id(name) {
            Some(id) => self.get_id(id),
            None => self
                .find_unknown(name)
                .and_then(|i| self.entries.get(i))
                .map(|e| self.value_of(e.value)),
        }
    }

    fn find_unknown(&self, name: &str) -> Option<usize> {
        if self.unknown == 0 {
            return None;
        }
        self.entries
            .iter()
            .position(|e| e.name == Name::Unknown(name))
    }

    fn name_str(&self, name: Name<'a>) -> &str {
        match name {
            Name::Known(id) => self.vocab.name(id),
            Name::Unknown(s) => s,
        }
    }

    /// Attributes in the order they were first set.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Value<'_>)> + '_ {
        self.entries
            .iter()
            .map(|e| (self.name_str(e.name), self.value_of(e.value)))
    }

    /// Attributes with their resolved names.
    pub fn iter_names(&self) -> impl Iterator<Item = (Name<'a>, Value<'_>)> + '_ {
        self.entries
            .iter()
            .map(|e| (e.name, self.value_of(e.value)))
    }

    /// Copies the bag out of the request.
    pub fn to_owned_bag(&self) -> OwnedBag {
        let mut out = OwnedBag::with_capacity(self.len());
        for (n, v) in self.iter() {
            out.set(n.to_owned(), v.to_owned_value());
        }
        out
    }

    /// Appends a string-map entry; [`Bag::set`] with a range over the entries appended since
    /// [`Bag::pairs_len`] stores the map.
    #[inline]
    pub(crate) fn push_pair(&mut self, k: &'a str, v: &'a str) {
        self.pairs.push((k, v));
    }

    /// Appends string-map entries (see [`Bag::push_pair`]).
    #[inline]
    pub(crate) fn extend_pairs(&mut self, pairs: &[(&'a str, &'a str)]) {
        self.pairs.extend_from_slice(pairs);
    }

    /// The string-map entries `start..end` (of [`Bag::pairs_len`]).
    #[inline]
    pub(crate) fn pairs(&self, start: u32, end: u32) -> &[(&'a str, &'a str)] {
        self.pairs
            .get(start as usize..end as usize)
            .unwrap_or_default()
    }

    /// This bag's buffers and its number among the bags they held (see
    /// [`Attributes::position`]).
    #[inline]
    pub(crate) fn token(&self) -> (u64, u64) {
        (self.succession.buffers, self.succession.seq)
    }

    /// Notes that `name` may differ from the previous bag; false when it cannot be noted
    /// (a name outside the vocabulary).
    #[inline]
    pub(crate) fn mark_changed(&mut self, name: Name<'a>) -> bool {
        let Name::Known(id) = name else {
            return false;
        };
        if id.index() >= self.slots.len() {
            return false;
        }
        let words = &mut self.succession.changed;
        let at = id.index() / 64;
        if at >= words.len() {
            words.resize(self.slots.len().div_ceil(64), 0);
        }
        words[at] |= 1 << (id.index() % 64);
        true
    }

    /// Whether the attributes not marked changed since [`Bag::clear`] hold what they held in
    /// the previous bag (the decoder sets it once a whole set is read).
    #[inline]
    pub(crate) fn set_follows(&mut self, follows: bool) {
        self.succession.follows = follows;
    }

    #[inline]
    pub(crate) fn pairs_len(&self) -> u32 {
        self.pairs.len() as u32
    }

    /// Sets `name` for attribute set `set`. Overwrites a value from an earlier set (delta
    /// reports); a second write from the same set is [`AlreadySet`], leaving the bag as it was.
    #[inline]
    pub(crate) fn set(
        &mut self,
        name: Name<'a>,
        value: Stored<'a>,
        set: u32,
    ) -> Result<(), AlreadySet> {
        let existing = match name {
            Name::Known(id) => match self.slots.get_mut(id.index()) {
                Some(slot) if *slot == 0 => {
                    *slot = self.entries.len() as u32 + 1;
                    None
                }
                Some(slot) => Some(*slot as usize - 1),
                // ids come from this bag's vocabulary; anything else is stored without a slot
                None => None,
            },
            Name::Unknown(s) => self.find_unknown(s),
        };
        match existing.and_then(|i| self.entries.get_mut(i)) {
            Some(e) if e.set == set => Err(AlreadySet),
            Some(e) => {
                e.value = value;
                e.set = set;
                Ok(())
            }
            None => {
                if matches!(name, Name::Unknown(_)) {
                    self.unknown += 1;
                }
                self.entries.push(Entry { name, value, set });
                Ok(())
            }
        }
    }

    /// The name as text.
    pub fn name(&self, name: Name<'a>) -> &str {
        self.name_str(name)
    }
}

fn unreachable_entry<'b>() -> Entry<'b> {
    Entry {
        name: Name::Unknown(""),
        value: Stored::Bool(false),
        set: 0,
    }
}

impl Attributes for Bag<'_> {
    #[inline]
    fn get(&self, attr: AttrRef<'_>) -> Option<Value<'_>> {
        if attr.id.index() < self.slots.len() {
            self.get_id(attr.id)
        } else {
            self.get_by_name(attr.name)
        }
    }

    #[inline]
    fn position(&self) -> Option<(u64, u64)> {
        Some(self.token())
    }

    #[inline]
    fn same_as_before(&self, id: AttrId) -> bool {
        let s = &self.succession;
        // no bits yet: nothing was marked
        s.follows
            && id.index() < self.slots.len()
            && s.changed
                .get(id.index() / 64)
                .is_none_or(|w| w & (1 << (id.index() % 64)) == 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_get_clear_and_overwrite() {
        let vocab = Vocabulary::builtin();
        let mut bag = Bag::new(vocab);
        let path = vocab
            .id("request.path")
            .map(Name::Known)
            .unwrap_or(Name::Unknown("x"));
        assert!(bag.set(path, Stored::String("/a"), 0).is_ok());
        assert!(bag
            .set(Name::Unknown("my.attr"), Stored::Int64(3), 0)
            .is_ok());
        assert!(bag.set(path, Stored::String("/b"), 0).is_err());
        assert!(bag
            .set(Name::Unknown("my.attr"), Stored::Int64(4), 0)
            .is_err());
        assert_eq!(bag.get_by_name("request.path"), Some(Value::String("/a")));
        // a later set overwrites
        assert!(bag.set(path, Stored::String("/b"), 1).is_ok());
        assert_eq!(bag.get_by_name("request.path"), Some(Value::String("/b")));
        assert_eq!(bag.get_by_name("my.attr"), Some(Value::Int64(3)));
        assert_eq!(bag.len(), 2);
        bag.clear();
        assert!(bag.is_empty());
        assert_eq!(bag.get_by_name("request.path"), None);
        let bag = bag.recycle(vocab);
        assert!(bag.is_empty());
    }
}
