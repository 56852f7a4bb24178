//! A `CheckRequest` read for the decision cache's hit path: one pass over the attributes that
//! checks every word and index and keeps each value as the wire has it — no [`Bag`] slot table
//! sized to the vocabulary, no error values built per entry, no per-word UTF-8 calls, no
//! allocation (a scan reuses the buffers the thread's last scan gave back) — so the cache can
//! look the request up for a fraction of a full decode.
//!
//! It accepts only requests [`CheckRequestView::parse`] accepts, with the same values: it
//! shares the decoder's entry readers and gives up (`None`) on everything it does not read the
//! common way — quotas (never served from the cache), a second `attributes` field, words after
//! the first typed map, a map entry not written key-then-value, too many attributes, and every
//! malformed request. The caller then decodes fully, which answers exactly as before.
//!
//! [`Bag`]: crate::bag::Bag
//! [`CheckRequestView::parse`]: super::CheckRequestView::parse

use super::attributes::{canonical_entry, map_entry, seconds_nanos};
use super::error::DecodeError;
use crate::access::{AttrRef, Attributes};
use crate::bag::{Name, Stored};
use crate::dictionary::{GLOBAL_WORDS, GLOBAL_WORD_COUNT};
use crate::value::{Duration, Timestamp, Value};
use crate::vocabulary::{AttrId, Vocabulary};
use crate::wire::{zigzag32_encode, Reader};
use frame::{after_words, each_field, next_field, packed_entry, small_entry, small_message_entry};
use std::cell::Cell;

mod frame;

/// Attribute ids with a slot: names past it (large custom vocabularies) take the full decode.
const SLOTS: usize = 512;
/// Attributes per request with a slot (positions are stored in a byte).
const MAX_ENTRIES: usize = 255;
/// Names outside the vocabulary, each compared with every other one: more take the full decode.
const MAX_UNKNOWN: u8 = 16;

/// Buffers a scan keeps to itself: more than this many elements are not kept for the next.
const MAX_KEPT: usize = 1024;

/// A `CheckRequest` without quotas, its attributes read lazily (see the module docs).
#[derive(Debug)]
pub struct LazyCheck<'a> {
    vocab: &'a Vocabulary,
    global_word_count: u32,
    words: Vec<&'a str>,
    entries: Vec<(Name<'a>, Stored<'a>)>,
    pairs: Vec<(&'a str, &'a str)>,
    /// By `AttrId` (`SLOTS` long): entry position + 1, 0 = absent. All zero between scans.
    slots: Vec<u8>,
    unknown: u8,
}

/// The buffers of a [`LazyCheck`] between scans, empty (and `slots` all zero), so a scan on
/// the same thread allocates nothing: the borrowed element types are re-lifetimed with
/// [`recycle`].
#[derive(Debug, Default)]
struct Scratch {
    words: Vec<&'static str>,
    entries: Vec<(Name<'static>, Stored<'static>)>,
    pairs: Vec<(&'static str, &'static str)>,
    slots: Vec<u8>,
}

thread_local! {
    /// The buffers the last scan on this thread gave back.
    static SCRATCH: Cell<Scratch> = Cell::new(Scratch::default());
}

/// An empty `Vec<U>` in the allocation of `v` (which is cleared): collecting an empty
/// `vec::IntoIter` of a type of the same size and alignment reuses its buffer (std's in-place
/// collection; were it not to, the result is an empty `Vec` and the next push allocates).
fn recycle<T, U>(mut v: Vec<T>) -> Vec<U> {
    v.clear();
    v.into_iter().filter_map(|_| None).collect()
}

impl Drop for LazyCheck<'_> {
    /// Gives the buffers back to the thread, emptied, for its next scan.
    fn drop(&mut self) {
        let entries = std::mem::take(&mut self.entries);
        let words = std::mem::take(&mut self.words);
        let pairs = std::mem::take(&mut self.pairs);
        if words
            .capacity()
            .max(entries.capacity())
            .max(pairs.capacity())
            > MAX_KEPT
        {
            return;
        }
        // one 512-byte fill: cheaper than clearing the slot of each entry (24 in a sidecar's
        // Check)
        let mut slots = std::mem::take(&mut self.slots);
        slots.fill(0);
        let scratch = Scratch {
            words: recycle(words),
            entries: recycle(entries),
            pairs: recycle(pairs),
            slots,
        };
        // at thread exit the buffers are simply freed
        let _ = SCRATCH.try_with(|s| s.set(scratch));
    }
}

impl<'a> LazyCheck<'a> {
    /// Reads `bytes` as a `CheckRequest`; `None` when it must be decoded fully (see the module
    /// docs) — never for a request that decodes fully into something else.
    pub fn scan(bytes: &'a [u8], vocab: &'a Vocabulary) -> Option<LazyCheck<'a>> {
        let mut attributes = None;
        let mut global_word_count = 0;
        for field in Reader::new(bytes) {
            let field = field.ok()?;
            match field.number {
                1 if attributes.is_none() => attributes = Some(field.bytes().ok()?),
                // merged by protobuf rules: the full decoder's business
                1 => return None,
                2 => global_word_count = field.varint().ok()? as u32,
                3 => {
                    std::str::from_utf8(field.bytes().ok()?).ok()?;
                }
                // a Check asking for quotas bypasses the cache
                4 => return None,
                _ => {}
            }
        }
        DecodeError::check_word_count(global_word_count).ok()?;
        let scratch = SCRATCH.try_with(Cell::take).unwrap_or_default();
        let mut slots = scratch.slots;
        if slots.len() != SLOTS {
            slots = vec![0; SLOTS];
        }
        let mut check = LazyCheck {
            vocab,
            global_word_count,
            words: recycle(scratch.words),
            entries: recycle(scratch.entries),
            pairs: recycle(scratch.pairs),
            slots,
            unknown: 0,
        };
        check.words.reserve(48);
        check.entries.reserve(32);
        check.pairs.reserve(32);
        if let Some(attributes) = attributes {
            check.attributes(attributes)?;
        }
        Some(check)
    }

    pub fn global_word_count(&self) -> u32 {
        self.global_word_count
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Attributes in wire order, with their names as text.
    pub fn iter(&self) -> impl Iterator<Item = (&str, Value<'_>)> + '_ {
        self.entries.iter().map(|(name, v)| {
            let name = match *name {
                Name::Known(id) => self.vocab.name(id),
                Name::Unknown(s) => s,
            };
            (name, self.value_of(*v))
        })
    }

    /// One `CompressedAttributes`: its words (which every encoder writes first), then the
    /// typed maps.
    fn attributes(&mut self, message: &'a [u8]) -> Option<()> {
        let rest = after_words(message)?;
        let head = message.get(..message.len() - rest.len())?;
        self.words(head)?;
        self.maps(rest)
    }

    /// The leading word fields. One UTF-8 check covers the run of them framed in ASCII
    /// (one-byte keys and lengths), read in a tight loop; the rest are checked one by one.
    fn words(&mut self, mut head: &'a [u8]) -> Option<()> {
        if let Ok(mut text) = std::str::from_utf8(head) {
            while let [0x0a, len, ..] = *text.as_bytes() {
                if len >= 0x80 {
                    break;
                }
                // the word starts on a char boundary (its framing is ASCII); one ending inside a
                // char is not UTF-8 on its own, and the full decoder rejects it too
                let (field, rest) = text.split_at_checked(2 + usize::from(len))?;
                self.words.push(field.get(2..)?);
                text = rest;
            }
            head = text.as_bytes();
        }
        each_field(head, |_, payload| {
            self.words.push(std::str::from_utf8(payload?).ok()?);
            Some(())
        })
    }

    /// The typed maps after the words. A `strings` entry (by far the commonest field) framed
    /// the common way is read here; every other field by [`Self::entry`].
    fn maps(&mut self, mut rest: &'a [u8]) -> Option<()> {
        loop {
            if let Some((key, value, after)) = packed_entry(rest, 0x12) {
                let stored = Stored::String(self.word(value)?);
                self.set(self.name(key)?, stored)?;
                rest = after;
                continue;
            }
            rest = match *rest {
                [] => return Some(()),
                [0x12, len, ref tail @ ..] if len < 0x80 => {
                    let (entry, after) = tail.split_at_checked(usize::from(len))?;
                    match small_entry(entry, true) {
                        Some((key, value)) => {
                            let stored = Stored::String(self.word(value as u32)?);
                            let name = self.name(key as u32)?;
                            self.set(name, stored)?;
                        }
                        None => self.entry(2, entry)?,
                    }
                    after
                }
                _ => {
                    let next = next_field(rest)??;
                    match next.number {
                        // a word after a typed map: the full decoder reads both passes
                        1 => return None,
                        n @ 2..=9 => self.entry(n, next.payload?)?,
                        _ => {}
                    }
                    next.rest
                }
            };
        }
    }

    /// One entry of typed map `n` (2..=9), read as the full decoder reads it.
    fn entry(&mut self, n: u32, entry: &'a [u8]) -> Option<()> {
        let (key, stored) = match n {
            2..=5 => {
                let (key, v) = small_entry(entry, n != 4)
                    .or_else(|| canonical_entry(entry, if n == 4 { 0x11 } else { 0x10 }))?;
                let stored = match n {
                    2 => Stored::String(self.word(v as u32)?),
                    3 => Stored::Int64(v as i64),
                    4 => Stored::Double(f64::from_bits(v)),
                    _ => Stored::Bool(v != 0),
                };
                (key as u32, stored)
            }
            8 | 9 => match small_message_entry(entry) {
                Some((key, body)) => {
                    let stored = match n {
                        8 => Stored::Bytes(body),
                        _ => self.string_map(body)?,
                    };
                    (key as u32, stored)
                }
                None => self.message_entry(n, entry)?,
            },
            _ => self.message_entry(n, entry)?,
        };
        let name = self.name(key)?;
        self.set(name, stored)
    }

    /// An entry of typed map `n` (6..=9) read by the general rules; its key zigzag-encoded.
    #[inline(never)]
    fn message_entry(&mut self, n: u32, entry: &'a [u8]) -> Option<(u32, Stored<'a>)> {
        let (key, value) = map_entry(entry).ok()?;
        let stored = match n {
            6 => {
                let (seconds, nanos) = seconds_nanos(value).ok()?;
                Stored::Timestamp(Timestamp { seconds, nanos })
            }
            7 => {
                let (seconds, nanos) = seconds_nanos(value).ok()?;
                Stored::Duration(Duration { seconds, nanos })
            }
            8 => Stored::Bytes(value.map_or(Ok(&[][..]), |f| f.bytes()).ok()?),
            _ => self.string_map(match value {
                Some(f) => f.bytes().ok()?,
                None => &[],
            })?,
        };
        Some((zigzag32_encode(key), stored))
    }

    /// A `StringMap` message's entries; those framed the common way are read in a tight loop.
    fn string_map(&mut self, mut body: &'a [u8]) -> Option<Stored<'a>> {
        let start = self.pairs.len() as u32;
        loop {
            if let Some((key, value, after)) = packed_entry(body, 0x0a) {
                let pair = (self.word(key)?, self.word(value)?);
                self.pairs.push(pair);
                body = after;
                continue;
            }
            body = match *body {
                [] => break,
                [0x0a, len, ref tail @ ..] if len < 0x80 => {
                    let (entry, after) = tail.split_at_checked(usize::from(len))?;
                    self.pair(entry)?;
                    after
                }
                _ => {
                    let next = next_field(body)??;
                    if next.number == 1 {
                        self.pair(next.payload?)?;
                    }
                    next.rest
                }
            };
        }
        Some(Stored::StringMap {
            start,
            end: self.pairs.len() as u32,
        })
    }

    /// One `StringMap` entry: two word indexes.
    #[inline(always)]
    fn pair(&mut self, entry: &'a [u8]) -> Option<()> {
        let (k, v) = match small_entry(entry, true) {
            Some(kv) => kv,
            None => canonical_entry(entry, 0x10)?,
        };
        let pair = (self.word(k as u32)?, self.word(v as u32)?);
        self.pairs.push(pair);
        Some(())
    }

    /// The index rule of [`WordList::word`](super::WordList::word) on an index as the wire
    /// has it, zigzag-encoded (of a `sint32`: the varint's low 32 bits): even is global word
    /// `z / 2`, odd is message word `z / 2` (index `-(z / 2) - 1`).
    #[inline(always)]
    fn word(&self, z: u32) -> Option<&'a str> {
        let i = (z >> 1) as usize;
        if z & 1 == 0 {
            GLOBAL_WORDS.get(i).copied()
        } else {
            self.words.get(i).copied()
        }
    }

    /// A name, its index zigzag-encoded, as the full decoder resolves it: a global index is
    /// its own id.
    #[inline(always)]
    fn name(&self, z: u32) -> Option<Name<'a>> {
        let i = (z >> 1) as usize;
        if z & 1 == 0 {
            return (i < GLOBAL_WORD_COUNT).then_some(Name::Known(AttrId(i as u32)));
        }
        let word = *self.words.get(i)?;
        Some(match self.vocab.id(word) {
            Some(id) => Name::Known(id),
            None => Name::Unknown(word),
        })
    }

    /// Adds an attribute; `None` for a duplicate (an error of the full decoder) or past the
    /// limits.
    #[inline]
    fn set(&mut self, name: Name<'a>, stored: Stored<'a>) -> Option<()> {
        let position = self.entries.len();
        if position >= MAX_ENTRIES {
            return None;
        }
        match name {
            Name::Known(id) => {
                let slot = self.slots.get_mut(id.index())?;
                if *slot != 0 {
                    return None;
                }
                *slot = position as u8 + 1;
            }
            Name::Unknown(_) => {
                if self.unknown >= MAX_UNKNOWN || self.entries.iter().any(|(n, _)| *n == name) {
                    return None;
                }
                self.unknown += 1;
            }
        }
        self.entries.push((name, stored));
        Some(())
    }

    fn value_of(&self, v: Stored<'a>) -> Value<'_> {
        v.value(&self.pairs)
    }
}

impl Attributes for LazyCheck<'_> {
    /// As [`Bag`](crate::bag::Bag) looks up: by id when the id is the vocabulary's, else by name.
    #[inline]
    fn get(&self, attr: AttrRef<'_>) -> Option<Value<'_>> {
        let id = if attr.id.index() < self.vocab.len() {
            Some(attr.id)
        } else {
            self.vocab.id(attr.name)
        };
        let stored = match id {
            Some(id) => {
                let slot = *self.slots.get(id.index())?;
                self.entries.get(usize::from(slot).checked_sub(1)?)?.1
            }
            None if self.unknown == 0 => return None,
            None => {
                self.entries
                    .iter()
                    .find(|(n, _)| *n == Name::Unknown(attr.name))?
                    .1
            }
        };
        Some(self.value_of(stored))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decode::CheckRequestView;
    use crate::encode::encode_check_request;
    use crate::owned_bag::OwnedBag;
    use crate::value::OwnedValue;

    fn request() -> OwnedBag {
        let mut b = OwnedBag::new();
        b.set("request.path", OwnedValue::String("/ratings/0".into()))
            .set("my.custom", OwnedValue::Int64(7))
            .set(
                "source.labels",
                OwnedValue::StringMap(vec![("app".into(), "reviews".into())]),
            )
            .set("source.ip", OwnedValue::Bytes(vec![10, 0, 0, 1]));
        b
    }

    #[test]
    fn reads_what_the_full_decoder_reads() {
        let vocab = Vocabulary::builtin();
        let bytes = encode_check_request(request().iter(), 222, "dedup", &[]);
        let lazy = LazyCheck::scan(&bytes, vocab).expect("a canonical request is read lazily");
        let full = CheckRequestView::parse(&bytes, vocab).expect("decodes");
        assert_eq!(lazy.global_word_count(), 222);
        let lazy_attrs: Vec<_> = lazy
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned_value()))
            .collect();
        let full_attrs: Vec<_> = full
            .attributes()
            .iter()
            .map(|(n, v)| (n.to_owned(), v.to_owned_value()))
            .collect();
        assert_eq!(lazy_attrs, full_attrs);
        for (name, value) in full.attributes().iter() {
            let attr = AttrRef {
                id: vocab.id(name).unwrap_or(AttrId(u32::MAX)),
                name,
            };
            assert_eq!(lazy.get(attr), Some(value), "{name}");
        }
        let missing = AttrRef {
            id: AttrId(u32::MAX),
            name: "not.there",
        };
        assert_eq!(lazy.get(missing), None);
    }

    #[test]
    fn a_scan_after_a_scan_reads_the_same() {
        let vocab = Vocabulary::builtin();
        let bytes = encode_check_request(request().iter(), 222, "", &[]);
        let listed = |c: &LazyCheck<'_>| -> Vec<(String, OwnedValue)> {
            c.iter()
                .map(|(n, v)| (n.to_owned(), v.to_owned_value()))
                .collect()
        };
        let first = LazyCheck::scan(&bytes, vocab).expect("read lazily");
        let expected = listed(&first);
        // one alive while another scans: the second gets fresh buffers
        let second = LazyCheck::scan(&bytes, vocab).expect("read lazily");
        assert_eq!(listed(&second), expected);
        drop(first);
        drop(second);
        // buffers given back (their slots cleared), then reused: no false duplicate
        for _ in 0..3 {
            let again = LazyCheck::scan(&bytes, vocab).expect("read lazily");
            assert_eq!(listed(&again), expected);
        }
        // a scan given up half way gives its buffers back cleared too
        let mut dup = bytes.clone();
        dup.truncate(dup.len() - 1);
        assert!(LazyCheck::scan(&dup, vocab).is_none());
        let again = LazyCheck::scan(&bytes, vocab).expect("read lazily");
        assert_eq!(listed(&again), expected);
    }

    #[test]
    fn recycling_keeps_the_allocation() {
        let mut v: Vec<&'static str> = Vec::with_capacity(48);
        v.push("x");
        let ptr = v.as_ptr() as usize;
        let w: Vec<&str> = recycle(v);
        assert!(w.is_empty());
        assert_eq!(w.capacity(), 48);
        assert_eq!(w.as_ptr() as usize, ptr);
    }

    #[test]
    fn leaves_quotas_and_errors_to_the_full_decoder() {
        let vocab = Vocabulary::builtin();
        let quota = crate::decode::QuotaParams {
            name: "q",
            amount: 1,
            best_effort: false,
        };
        let bytes = encode_check_request(request().iter(), 222, "", &[quota]);
        assert!(LazyCheck::scan(&bytes, vocab).is_none());
        // a duplicate attribute: strings { 17 → 0 } twice
        let dup = [
            0x0a, 0x0c, 0x12, 0x04, 0x08, 0x22, 0x10, 0x00, 0x12, 0x04, 0x08, 0x22, 0x10, 0x00,
        ];
        assert!(CheckRequestView::parse(&dup, vocab).is_err());
        assert!(LazyCheck::scan(&dup, vocab).is_none());
        // a word that is not UTF-8
        let bad = [0x0a, 0x03, 0x0a, 0x01, 0xff];
        assert!(CheckRequestView::parse(&bad, vocab).is_err());
        assert!(LazyCheck::scan(&bad, vocab).is_none());
        // a caller knowing more global words than we do
        let gwc = [0x10, 0xe0, 0x01];
        assert!(CheckRequestView::parse(&gwc, vocab).is_err());
        assert!(LazyCheck::scan(&gwc, vocab).is_none());
    }
}
