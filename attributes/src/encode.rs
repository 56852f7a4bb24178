//! Bags to wire bytes, as an Istio proxy encodes them (spec/mixer-api.md §1.3, §1.8, §2):
//! names and string values that are global words below the client's `global_word_count` go as
//! global indices (a string value equal to a word too, as the proxy does), every other word goes
//! into a message word list as index `-(slot+1)`; IP addresses are raw bytes in `bytes`; the
//! typed map comes from the value's variant.
//!
//! - [`encode_attributes`]: one `CompressedAttributes` with its own `words`;
//! - [`ReportBatch`]: a `ReportRequest` like Istio 1.1+ proxies send — one shared
//!   `default_words`, empty per-set `words`, `INDEPENDENT_ENCODING`;
//! - [`encode_check_request`]: a `CheckRequest`.
//!
//! Bytes are written directly; tests read them back with prost.

use crate::decode::QuotaParams;
use crate::dictionary::{GLOBAL_WORDS, GLOBAL_WORD_COUNT};
use crate::owned_bag::{LayeredBag, OwnedBag};
use crate::value::Value;
use crate::wire::{
    put_key, put_len_field, put_varint, same_bytes, varint_len, zigzag32_encode, WireType,
};
use rustc_hash::{FxHashMap, FxHasher};
use std::borrow::Cow;
use std::collections::hash_map::Entry;
use std::hash::Hasher;
use std::sync::{Arc, OnceLock};

/// Word → index assignment for one message word list.
#[derive(Debug, Default)]
struct Words {
    list: WordList,
    /// The global words below `global_count` (index ≥ 0) and the words in `list` (index < 0),
    /// by their hash: one hash and one probe place any word. Two words of one hash: the
    /// second is not deduplicated (a word list may repeat a word; each index still names the
    /// right one).
    slots: FxHashMap<u64, i32>,
    /// For batches only: what the previous bag had where.
    memo: Option<Memo>,
}

/// The words of the previous bag by attribute (its position in the bag) and by place within
/// the attribute (0 the name, then the value, or a map's keys and values in turn), with their
/// indices. A batch's bags come from one client and mostly repeat one another: a word where it
/// was last time is one string comparison instead of two hash lookups.
#[derive(Debug, Default)]
struct Memo {
    by_attr: Vec<Vec<(String, i32)>>,
    /// By attribute: the address and length of the `&'static str` its name last was, and the
    /// name's index. A static string's bytes never change, so the same address and length is
    /// the same name, known without reading it.
    statics: Vec<(usize, usize, i32)>,
    attr: usize,
    place: usize,
}

/// Attributes and places per attribute remembered; past them words are looked up as usual.
const MEMO_ATTRS: usize = 128;
const MEMO_PLACES: usize = 64;

impl Words {
    fn new(global_word_count: usize) -> Words {
        Words {
            slots: global_slots(global_word_count.min(GLOBAL_WORD_COUNT)),
            ..Words::default()
        }
    }

    /// Remembers each bag's words for the next one (see [`Memo`]).
    fn remembering(mut self) -> Words {
        self.memo = Some(Memo::default());
        self
    }

    /// The next words are attribute `n`'s: its name first.
    fn attribute(&mut self, n: usize) {
        if let Some(m) = &mut self.memo {
            m.attr = n;
            m.place = 0;
        }
    }

    fn index(&mut self, word: &str) -> i32 {
        let Some(m) = &mut self.memo else {
            return self.lookup(word);
        };
        let (attr, place) = (m.attr, m.place);
        m.place += 1;
        if let Some((w, i)) = m.by_attr.get(attr).and_then(|a| a.get(place)) {
            if same_bytes(w.as_bytes(), word.as_bytes()) {
                return *i;
            }
        }
        let i = self.lookup(word);
        let Some(m) = &mut self.memo else {
            return i;
        };
        if attr >= MEMO_ATTRS || place >= MEMO_PLACES {
            return i;
        }
        if m.by_attr.len() <= attr {
            m.by_attr.resize_with(attr + 1, Vec::new);
        }
        let places = &mut m.by_attr[attr];
        if let Some(slot) = places.get_mut(place) {
            slot.0.clear();
            slot.0.push_str(word);
            slot.1 = i;
        } else if places.len() == place {
            places.push((word.to_owned(), i));
        }
        i
    }

    /// Attribute `attr`'s name.
    fn name(&mut self, attr: usize, name: &str) -> i32 {
        self.attribute(attr);
        self.index(name)
    }

    /// Attribute `attr`'s name when it is a `&'static str` (what the proxy's bags hold):
    /// after the first bag, an address comparison instead of reading the name.
    fn static_name(&mut self, attr: usize, name: &'static str) -> i32 {
        self.attribute(attr);
        let at = (name.as_ptr() as usize, name.len());
        if let Some(m) = &mut self.memo {
            if let Some(&(ptr, len, i)) = m.statics.get(attr) {
                if (ptr, len) == at {
                    m.place = 1;
                    return i;
                }
            }
        }
        let i = self.index(name);
        if let Some(m) = &mut self.memo {
            if attr < MEMO_ATTRS {
                if m.statics.len() <= attr {
                    m.statics.resize(attr + 1, (0, 0, 0));
                }
                m.statics[attr] = (at.0, at.1, i);
            }
        }
        i
    }

    fn lookup(&mut self, word: &str) -> i32 {
        self.message_word(word, word_hash(word))
    }

    /// `word`'s index: a global word's, or its place in the message word list, where it is
    /// added when new; `hash` is its hash.
    fn message_word(&mut self, word: &str, hash: u64) -> i32 {
        let i = -(self.list.len() as i32) - 1;
        match self.slots.entry(hash) {
            Entry::Occupied(slot) => {
                let at = *slot.get();
                let known = match usize::try_from(at) {
                    Ok(global) => GLOBAL_WORDS[global],
                    Err(_) => self.list.get((-at - 1) as usize),
                };
                if known == word {
                    return at;
                }
            }
            Entry::Vacant(slot) => {
                slot.insert(i);
            }
        }
        self.list.push(word);
        i
    }
}

/// A message's own words, back to back in one buffer: a word is added with a copy, not an
/// allocation of its own (a batch adds a few per bag: request and span ids, dates).
#[derive(Debug, Default)]
struct WordList {
    text: String,
    /// Where each word ends in `text`.
    ends: Vec<usize>,
}

impl WordList {
    fn len(&self) -> usize {
        self.ends.len()
    }

    fn push(&mut self, word: &str) {
        self.text.push_str(word);
        self.ends.push(self.text.len());
    }

    /// Word `i` (< `len`).
    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.text[start..self.ends[i]]
    }

    fn iter(&self) -> impl Iterator<Item = &str> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }
}

fn word_hash(word: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(word.as_bytes());
    h.finish()
}

/// Room for a message's own words in a fresh table: a batch of 100 proxy bags adds ~470
/// (request, trace and span ids, dates), which would grow the table twice per batch.
const OWN_WORDS_ROOM: usize = 512;

/// The first `count` global words by hash, the table every word list starts from (a copy of
/// one built once for the whole dictionary, the count every batch uses), with room for
/// [`OWN_WORDS_ROOM`] more.
fn global_slots(count: usize) -> FxHashMap<u64, i32> {
    fn build(count: usize) -> FxHashMap<u64, i32> {
        let mut slots =
            FxHashMap::with_capacity_and_hasher(count + OWN_WORDS_ROOM, Default::default());
        for (i, w) in GLOBAL_WORDS[..count].iter().enumerate() {
            slots.entry(word_hash(w)).or_insert(i as i32);
        }
        slots
    }
    static WHOLE: OnceLock<FxHashMap<u64, i32>> = OnceLock::new();
    match count {
        GLOBAL_WORD_COUNT => WHOLE.get_or_init(|| build(GLOBAL_WORD_COUNT)).clone(),
        n => build(n),
    }
}

/// Per-kind buffers: entries of each typed map, written out in field order.
#[derive(Debug, Default)]
struct Maps {
    by_field: [Vec<u8>; 8],
    inner: Vec<u8>,
}

impl Maps {
    /// Encodes `attrs` as the typed-map fields (2..=9) of a `CompressedAttributes` into `out`.
    fn encode<'b>(
        &mut self,
        attrs: impl IntoIterator<Item = (&'b str, Value<'b>)>,
        words: &mut Words,
        out: &mut Vec<u8>,
    ) {
        self.clear();
        self.add_all(0, attrs, words);
        for b in &self.by_field {
            out.extend_from_slice(b);
        }
    }

    fn clear(&mut self) {
        for b in &mut self.by_field {
            b.clear();
        }
    }

    /// Adds the entries of `attrs`, the first being attribute `first` of its bag.
    fn add_all<'b>(
        &mut self,
        first: usize,
        attrs: impl IntoIterator<Item = (&'b str, Value<'b>)>,
        words: &mut Words,
    ) {
        for (n, (name, value)) in attrs.into_iter().enumerate() {
            self.add(first + n, name, value, words);
        }
    }

    /// Adds attribute `n` of its bag to its typed map.
    fn add(&mut self, n: usize, name: &str, value: Value<'_>, words: &mut Words) {
        let key = words.name(n, name);
        self.add_keyed(key, value, words);
    }

    /// Adds an attribute whose name is word `key` (its value's words come next in `words`).
    fn add_keyed(&mut self, key: i32, value: Value<'_>, words: &mut Words) {
        // fixed-size entries are built on the stack, tag and length included, and copied once
        let mut e = Scratch::default();
        e.byte(0x08);
        e.varint(u64::from(zigzag32_encode(key)));
        let field = match value {
            Value::String(s) => {
                e.byte(0x10);
                e.varint(u64::from(zigzag32_encode(words.index(s))));
                2
            }
            Value::Int64(v) => {
                e.byte(0x10);
                e.varint(v as u64);
                3
            }
            Value::Double(v) => {
                e.byte(0x11);
                e.bytes(&v.to_bits().to_le_bytes());
                4
            }
            Value::Bool(v) => {
                e.byte(0x10);
                e.byte(u8::from(v));
                5
            }
            Value::Timestamp(t) => {
                e.seconds_nanos(t.seconds, t.nanos);
                6
            }
            Value::Duration(d) => {
                e.seconds_nanos(d.seconds, d.nanos);
                7
            }
            Value::Bytes(b) => {
                put_long_entry(&mut self.by_field[6], 8, &e, b);
                return;
            }
            Value::StringMap(m) => {
                let inner = &mut self.inner;
                inner.clear();
                for (k, v) in m.iter() {
                    let mut pair = Scratch::default();
                    pair.byte(0x08);
                    pair.varint(u64::from(zigzag32_encode(words.index(k))));
                    pair.byte(0x10);
                    pair.varint(u64::from(zigzag32_encode(words.index(v))));
                    pair.append_framed(0x0a, inner);
                }
                put_long_entry(&mut self.by_field[7], 9, &e, inner);
                return;
            }
        };
        // fields 2..=7 and entries under 128 bytes: one byte each for tag and length
        e.append_framed(((field as u8) << 3) | 2, &mut self.by_field[field - 2]);
    }

    /// The encoded size of the maps.
    fn len(&self) -> usize {
        self.by_field.iter().map(Vec::len).sum()
    }
}

/// A map entry (field `field`) whose value, `value`, may be any length: the key part from
/// `key`, then the value as field 2.
fn put_long_entry(buf: &mut Vec<u8>, field: u32, key: &Scratch, value: &[u8]) {
    put_key(buf, field, WireType::Len);
    let len = key.size() + 1 + varint_len(value.len() as u64) + value.len();
    put_varint(buf, len as u64);
    buf.extend_from_slice(key.as_slice());
    put_len_field(buf, 2, value);
}

/// A map entry of fixed-size parts, built on the stack: key and value tags, varints, and
/// the 8 bytes of a double or a timestamp's two varints (at most 35 bytes in all), after two
/// bytes kept for the entry's own tag and length.
struct Scratch {
    buf: [u8; 42],
    len: usize,
}

/// Where an entry's parts start in [`Scratch`].
const FRAME: usize = 2;

impl Default for Scratch {
    fn default() -> Scratch {
        Scratch {
            buf: [0; 42],
            len: FRAME,
        }
    }
}

impl Scratch {
    fn byte(&mut self, b: u8) {
        self.buf[self.len] = b;
        self.len += 1;
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.byte((v as u8) | 0x80);
            v >>= 7;
        }
        self.byte(v as u8);
    }

    fn bytes(&mut self, b: &[u8]) {
        self.buf[self.len..self.len + b.len()].copy_from_slice(b);
        self.len += b.len();
    }

    /// The value of a Timestamp or Duration entry: field 2 holding seconds and nanos.
    fn seconds_nanos(&mut self, seconds: i64, nanos: i32) {
        let inner = if seconds != 0 {
            1 + varint_len(seconds as u64)
        } else {
            0
        } + if nanos != 0 {
            1 + varint_len(nanos as i64 as u64)
        } else {
            0
        };
        self.byte(0x12);
        self.byte(inner as u8);
        if seconds != 0 {
            self.byte(0x08);
            self.varint(seconds as u64);
        }
        if nanos != 0 {
            self.byte(0x10);
            self.varint(nanos as i64 as u64);
        }
    }

    /// The entry's parts.
    fn as_slice(&self) -> &[u8] {
        &self.buf[FRAME..self.len]
    }

    /// Appends the whole entry to `out`: `tag`, the length (under 128), then the parts.
    /// The whole buffer is copied and the tail cut: a copy of known size is a few moves,
    /// where one of the entry's size is a call to `memcpy` (most of an entry's cost).
    #[inline]
    fn append_framed(&mut self, tag: u8, out: &mut Vec<u8>) {
        self.buf[0] = tag;
        self.buf[1] = (self.len - FRAME) as u8;
        let end = out.len() + self.len;
        out.extend_from_slice(&self.buf);
        out.truncate(end);
    }

    /// The size of the entry's parts.
    fn size(&self) -> usize {
        self.len - FRAME
    }
}

/// One `CompressedAttributes` with its own word list. `global_word_count` is the number of
/// global words the receiver is assumed to know (222, or 111 after a proxy's fallback).
pub fn encode_attributes<'b>(
    attrs: impl IntoIterator<Item = (&'b str, Value<'b>)>,
    global_word_count: usize,
) -> Vec<u8> {
    let mut words = Words::new(global_word_count);
    let mut maps = Vec::new();
    Maps::default().encode(attrs, &mut words, &mut maps);
    let mut out =
        Vec::with_capacity(maps.len() + words.list.iter().map(|w| w.len() + 2).sum::<usize>());
    for w in words.list.iter() {
        put_len_field(&mut out, 1, w.as_bytes());
    }
    out.extend_from_slice(&maps);
    out
}

/// A `ReportRequest` being built, one bag at a time, the way Istio 1.1+ proxies batch reports.
#[derive(Debug)]
pub struct ReportBatch {
    words: Words,
    maps: Maps,
    /// The encoded entries of the shared layers met in this batch (their words are this
    /// batch's), by field; the `Arc` is held so its address cannot be reused.
    shared: Vec<(Arc<OwnedBag>, [Vec<u8>; 8])>,
    sets: Vec<u8>,
    count: usize,
    global_word_count: usize,
}

/// Shared layers remembered per batch: a proxy has two (inbound and outbound).
const SHARED_KEPT: usize = 4;

impl Default for ReportBatch {
    fn default() -> Self {
        ReportBatch::new()
    }
}

impl ReportBatch {
    /// A batch against the full 222-word dictionary.
    pub fn new() -> ReportBatch {
        ReportBatch::with_global_word_count(GLOBAL_WORD_COUNT)
    }

    /// A batch that uses only the first `n` global words (at most 222), and says so in
    /// `global_word_count`.
    pub fn with_global_word_count(n: usize) -> ReportBatch {
        ReportBatch {
            words: Words::new(n).remembering(),
            maps: Maps::default(),
            shared: Vec::new(),
            sets: Vec::new(),
            count: 0,
            global_word_count: n.min(GLOBAL_WORD_COUNT),
        }
    }

    /// Makes room for `bytes` more of encoded sets: a batcher that knows its last batch's
    /// size spares the growing copies.
    pub fn reserve(&mut self, bytes: usize) {
        self.sets.reserve(bytes);
    }

    /// Adds one bag as an attribute set (no words of its own; words go to `default_words`).
    pub fn push<'b>(&mut self, attrs: impl IntoIterator<Item = (&'b str, Value<'b>)>) {
        self.maps.clear();
        self.maps.add_all(0, attrs, &mut self.words);
        self.close_set();
    }

    /// Adds a layered bag. Its shared layer is encoded the first time the batch meets it;
    /// after that its entries are copied.
    pub fn push_layered(&mut self, bag: &LayeredBag) {
        let shared = bag.shared();
        match self.shared.iter().find(|(s, _)| Arc::ptr_eq(s, shared)) {
            Some((_, encoded)) => {
                for (to, from) in self.maps.by_field.iter_mut().zip(encoded) {
                    to.clear();
                    to.extend_from_slice(from);
                }
            }
            None => {
                self.maps.clear();
                self.maps.add_all(0, shared.iter(), &mut self.words);
                if self.shared.len() == SHARED_KEPT {
                    self.shared.remove(0);
                }
                self.shared
                    .push((shared.clone(), self.maps.by_field.clone()));
            }
        }
        for (n, (name, value)) in bag.own().entries().enumerate() {
            let attr = shared.len() + n;
            match name {
                Cow::Borrowed(name) => {
                    let key = self.words.static_name(attr, name);
                    self.maps.add_keyed(key, value.as_value(), &mut self.words);
                }
                Cow::Owned(name) => self.maps.add(attr, name, value.as_value(), &mut self.words),
            }
        }
        self.close_set();
    }

    /// Writes the set in `maps` as the next `attributes` entry.
    fn close_set(&mut self) {
        put_key(&mut self.sets, 1, WireType::Len);
        put_varint(&mut self.sets, self.maps.len() as u64);
        for b in &self.maps.by_field {
            self.sets.extend_from_slice(b);
        }
        self.count += 1;
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// The `ReportRequest` bytes.
    pub fn finish(self) -> Vec<u8> {
        let mut out = self.sets;
        for w in self.words.list.iter() {
            put_len_field(&mut out, 2, w.as_bytes());
        }
        put_key(&mut out, 3, WireType::Varint);
        put_varint(&mut out, self.global_word_count as u64);
        put_key(&mut out, 4, WireType::Varint);
        put_varint(&mut out, 1); // INDEPENDENT_ENCODING
        out
    }
}

/// A `CheckRequest`: the bag (with its own words), `global_word_count`, `deduplication_id` and
/// the quotas to allocate.
pub fn encode_check_request<'b>(
    attrs: impl IntoIterator<Item = (&'b str, Value<'b>)>,
    global_word_count: usize,
    deduplication_id: &str,
    quotas: &[QuotaParams<'_>],
) -> Vec<u8> {
    let gwc = global_word_count.min(GLOBAL_WORD_COUNT);
    let mut out = Vec::new();
    put_len_field(&mut out, 1, &encode_attributes(attrs, gwc));
    put_key(&mut out, 2, WireType::Varint);
    put_varint(&mut out, gwc as u64);
    if !deduplication_id.is_empty() {
        put_len_field(&mut out, 3, deduplication_id.as_bytes());
    }
    let (mut entry, mut params) = (Vec::new(), Vec::new());
    for q in quotas {
        params.clear();
        put_key(&mut params, 1, WireType::Varint);
        put_varint(&mut params, q.amount as u64);
        put_key(&mut params, 2, WireType::Varint);
        put_varint(&mut params, u64::from(q.best_effort));
        entry.clear();
        put_len_field(&mut entry, 1, q.name.as_bytes());
        put_len_field(&mut entry, 2, &params);
        put_len_field(&mut out, 4, &entry);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::Words;
    use crate::dictionary::{GLOBAL_WORDS, GLOBAL_WORD_COUNT};

    #[test]
    fn global_words_are_found_below_the_count_and_only_there() {
        for count in [GLOBAL_WORD_COUNT, 111, 0] {
            let mut w = Words::new(count);
            for (i, word) in GLOBAL_WORDS.iter().enumerate() {
                let at = w.lookup(word);
                if i < count {
                    assert_eq!(at, i as i32, "{word} with {count} global words");
                } else {
                    assert!(at < 0, "{word} is a message word with {count} global words");
                    assert_eq!(w.list.get((-at - 1) as usize), *word);
                }
            }
            assert_eq!(w.list.len(), GLOBAL_WORD_COUNT - count);
        }
    }

    #[test]
    fn words_of_one_hash_each_keep_their_own_index() {
        let mut w = Words::new(0);
        assert_eq!(w.message_word("a", 7), -1);
        assert_eq!(w.message_word("b", 7), -2, "same hash, other word: added");
        assert_eq!(w.message_word("a", 7), -1, "the first keeps its slot");
        assert_eq!(w.message_word("b", 7), -3, "the second is not deduplicated");
        assert_eq!(w.message_word("c", 9), -4);
        assert_eq!(w.message_word("c", 9), -4);
        assert_eq!(w.list.iter().collect::<Vec<_>>(), ["a", "b", "b", "c"]);
    }
}
