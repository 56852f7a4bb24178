//! `CompressedAttributes` bytes into a [`Bag`]. The message is walked twice: once for its
//! `words` (any field order is legal protobuf, and indices need the whole list), then for the
//! typed maps. Map entries follow proto3: a missing key or value is 0 (key 0 is the global word
//! `source.ip`), and a repeated field inside an entry means the last one wins.
//!
//! Unlike a protobuf map, where a repeated key means the last one wins, an attribute twice in
//! one set — in two typed maps, twice in one map, or under two indices for the same name — is
//! an error, as Go Mixer's `UpdateBagFromProto` reports for names across maps.

use super::error::{DecodeError, FieldPath};
use super::words::WordList;
use crate::bag::{Bag, Name, Stored};
use crate::value::{Duration, Timestamp};
use crate::vocabulary::Vocabulary;
use crate::wire::{same_bytes, zigzag32, Field, FieldValue, Reader, WireError};

/// Decodes `CompressedAttributes` into bags, reusing its word-list buffers. Holds the fallback
/// word list used when a message has no words of its own (a report's `default_words`).
#[derive(Debug, Default)]
pub struct AttributesDecoder<'a> {
    own: WordList<'a>,
    defaults: WordList<'a>,
    /// The entries of the last set decoded against `defaults`, by position (see
    /// [`Remembered`]).
    memo: Memo<'a>,
    /// The vocabulary `memo`'s names were found in.
    memo_vocab: Option<&'a Vocabulary>,
}

/// A map entry as decoded. The sets of one Report share its `default_words`, and a proxy's
/// bags repeat most of their attributes entry for entry: an entry whose bytes equal the one
/// at its position in the previous set, in the same map, decodes to the same name and value
/// (both depend only on those bytes, the shared words and the vocabulary), so it is not
/// decoded again. Only sets without words of their own use it.
#[derive(Clone, Copy, Debug)]
struct Remembered<'a> {
    map: u32,
    entry: &'a [u8],
    name: Name<'a>,
    /// A string map's range is one of [`Memo::pairs`], not of a bag's pair buffer.
    stored: Stored<'a>,
}

/// What the previous sets of a Report decoded, by position of the entry in its set.
#[derive(Debug, Default)]
struct Memo<'a> {
    entries: Vec<Remembered<'a>>,
    /// The bag (its [`Bag::token`]) whose set `entries` last described, entry for entry at
    /// positions below `count`: the previous set, for a bag that comes next. `None` when
    /// that set had entries without a position (framed longer), or failed to decode.
    before: Option<(u64, u64)>,
    count: usize,
    /// The entries of the string maps remembered. Only appended to while the memo lives (a
    /// remembered range stays valid), up to [`MEMO_PAIRS`]: past that, maps are decoded
    /// each time.
    pairs: Vec<(&'a str, &'a str)>,
}

/// String-map entries a memo holds at most (32 bytes each: 128 KiB).
const MEMO_PAIRS: usize = 4096;

impl<'a> Memo<'a> {
    fn clear(&mut self) {
        self.entries.clear();
        self.pairs.clear();
        self.before = None;
        self.count = 0;
    }

    /// This memo emptied, for other bytes: the buffers are reused.
    fn recycle<'b>(mut self) -> Memo<'b> {
        self.clear();
        // empty: the in-place collects only change the lifetimes
        Memo {
            entries: self
                .entries
                .into_iter()
                .map(|_| unreachable_remembered())
                .collect(),
            pairs: self.pairs.into_iter().map(|_| ("", "")).collect(),
            before: None,
            count: 0,
        }
    }

    /// Remembers `name` = `stored` as entry `entry` of map `map`, at position `at` of the set;
    /// a string map's entries are copied from `bag`'s. Nothing when there is no room.
    fn remember(
        &mut self,
        at: usize,
        map: u32,
        entry: &'a [u8],
        name: Name<'a>,
        stored: Stored<'a>,
        bag: &Bag<'a>,
    ) {
        let stored = match stored {
            Stored::StringMap { start, end } => {
                let map_pairs = bag.pairs(start, end);
                if self.pairs.len() + map_pairs.len() > MEMO_PAIRS {
                    // no room: a slot no entry matches (no map is 0), which still names
                    // the attribute for the next set's comparison
                    let unmatched = Remembered {
                        map: 0,
                        entry: &[],
                        name,
                        stored: Stored::Bool(false),
                    };
                    self.put(at, unmatched);
                    return;
                }
                let from = self.pairs.len() as u32;
                self.pairs.extend_from_slice(map_pairs);
                Stored::StringMap {
                    start: from,
                    end: self.pairs.len() as u32,
                }
            }
            other => other,
        };
        let r = Remembered {
            map,
            entry,
            name,
            stored,
        };
        self.put(at, r);
    }

    fn put(&mut self, at: usize, r: Remembered<'a>) {
        if let Some(slot) = self.entries.get_mut(at) {
            *slot = r;
        } else if self.entries.len() == at {
            self.entries.push(r);
        }
    }

    /// The name of the previous set's entry at `at`, if it had one there.
    fn name_before(&self, at: usize) -> Option<Name<'a>> {
        if at < self.count {
            self.entries.get(at).map(|r| r.name)
        } else {
            None
        }
    }
}

impl<'a> AttributesDecoder<'a> {
    pub fn new() -> AttributesDecoder<'a> {
        AttributesDecoder::default()
    }

    /// A decoder with room for `words` words of a message's own before it reallocates: for a
    /// one-off decode (a `CheckRequest`), where growing the list from empty costs more than
    /// anything else the decoder allocates.
    pub fn with_word_capacity(words: usize) -> AttributesDecoder<'a> {
        AttributesDecoder {
            own: WordList::with_capacity(words),
            defaults: WordList::new(),
            memo: Memo::default(),
            memo_vocab: None,
        }
    }

    /// A decoder whose fallback word list is `defaults`.
    pub fn with_default_words(defaults: WordList<'a>) -> AttributesDecoder<'a> {
        AttributesDecoder {
            own: WordList::new(),
            defaults,
            memo: Memo::default(),
            memo_vocab: None,
        }
    }

    /// This decoder with its word lists emptied, for other bytes: the buffers are reused.
    pub fn recycle<'b>(self) -> AttributesDecoder<'b> {
        AttributesDecoder {
            own: self.own.recycle(),
            defaults: self.defaults.recycle(),
            memo: self.memo.recycle(),
            memo_vocab: None,
        }
    }

    pub fn default_words(&self) -> &WordList<'a> {
        &self.defaults
    }

    /// The fallback word list, to fill: what was remembered against the old one is dropped.
    pub(crate) fn defaults_mut(&mut self) -> &mut WordList<'a> {
        self.memo.clear();
        &mut self.defaults
    }

    /// Clears `bag` and fills it from one `CompressedAttributes`.
    pub fn decode_into(&mut self, bytes: &'a [u8], bag: &mut Bag<'a>) -> Result<(), DecodeError> {
        bag.clear();
        let path = FieldPath::new("CompressedAttributes", None);
        self.merge_into(&[bytes], bag, 0, path)
    }

    /// Applies the message made of `parts` (protobuf concatenation = merge) on top of `bag` as
    /// attribute set number `set`: its attributes are added or overwrite those of earlier sets.
    pub(crate) fn merge_into(
        &mut self,
        parts: &[&'a [u8]],
        bag: &mut Bag<'a>,
        set: u32,
        path: FieldPath,
    ) -> Result<(), DecodeError> {
        self.own.clear();
        let words_path = path.field(".words");
        for part in parts {
            let rest = short_fields(part, |n, raw| match n {
                1 => self.own.push_raw(raw, words_path),
                _ => Ok(()),
            })?;
            for field in Reader::new(rest) {
                let field = field.map_err(DecodeError::malformed(path))?;
                if field.number == 1 {
                    let raw = field.bytes().map_err(DecodeError::malformed(words_path))?;
                    self.own.push_raw(raw, words_path)?;
                }
            }
        }
        let vocab = bag.vocabulary();
        if !self.memo_vocab.is_some_and(|v| std::ptr::eq(v, vocab)) {
            self.memo.clear();
            self.memo_vocab = Some(vocab);
        }
        let (words, memo) = if self.own.is_empty() {
            (&mut self.defaults, Some(&mut self.memo))
        } else {
            (&mut self.own, None)
        };
        // this set follows the one the memo describes, into the same (emptied) bag
        let (buffers, seq) = bag.token();
        let follows = bag.is_empty()
            && memo
                .as_ref()
                .is_some_and(|m| m.before == Some((buffers, seq.wrapping_sub(1))));
        let mut set = SetDecoder {
            vocab,
            bag,
            words,
            set,
            path,
            memo,
            at: 0,
            follows,
            positioned: true,
        };
        if let Some(m) = set.memo.as_deref_mut() {
            m.before = None;
        }
        for part in parts {
            let rest = short_fields(part, |n, entry| set.short_field(n, entry))?;
            for field in Reader::new(rest) {
                let field = field.map_err(DecodeError::malformed(path))?;
                set.field(field)?;
            }
        }
        set.finish();
        Ok(())
    }
}

/// Hands `f` the length-delimited fields at the start of `bytes` whose key and length are one
/// byte each — how every field of an encoder's `CompressedAttributes` under 128 bytes is
/// framed — and returns the rest, from the first field framed otherwise (for the general
/// reader, which gives the same result for the fields this skips, or the error).
#[inline(always)]
fn short_fields<'a>(
    bytes: &'a [u8],
    mut f: impl FnMut(u32, &'a [u8]) -> Result<(), DecodeError>,
) -> Result<&'a [u8], DecodeError> {
    let mut rest = bytes;
    // key: wire type 2, field 1..=15, no continuation bit; length below 128
    while let [key, len, ref tail @ ..] = *rest {
        if key & 0x87 != 0x02 || key < 0x08 || len >= 0x80 {
            break;
        }
        let Some((payload, after)) = tail.split_at_checked(usize::from(len)) else {
            break;
        };
        f(u32::from(key >> 3), payload)?;
        rest = after;
    }
    Ok(rest)
}

/// Decodes one `CompressedAttributes` on its own (no fallback words) into a new bag.
pub fn decode_attributes<'a>(
    bytes: &'a [u8],
    vocab: &'a Vocabulary,
) -> Result<Bag<'a>, DecodeError> {
    let mut bag = Bag::new(vocab);
    AttributesDecoder::new().decode_into(bytes, &mut bag)?;
    Ok(bag)
}

const MAP_FIELDS: [&str; 10] = [
    "",
    ".words",
    ".strings",
    ".int64s",
    ".doubles",
    ".bools",
    ".timestamps",
    ".durations",
    ".bytes",
    ".string_maps",
];

struct SetDecoder<'s, 'a> {
    vocab: &'a Vocabulary,
    bag: &'s mut Bag<'a>,
    words: &'s mut WordList<'a>,
    set: u32,
    path: FieldPath,
    /// The previous sets' entries, when `words` is the shared list.
    memo: Option<&'s mut Memo<'a>>,
    /// The position of the next short map entry in this set.
    at: usize,
    /// Whether this set comes right after the one `memo` describes, in the same bag, and
    /// every difference found so far could be marked on the bag.
    follows: bool,
    /// Whether every attribute of this set had a position (was a short entry).
    positioned: bool,
}

/// Never called: the element type of an emptied vector, for its lifetime's change.
fn unreachable_remembered<'b>() -> Remembered<'b> {
    Remembered {
        map: 0,
        entry: &[],
        name: Name::Unknown(""),
        stored: Stored::Bool(false),
    }
}

impl<'a> SetDecoder<'_, 'a> {
    /// A length-delimited field `n` with payload `entry` (see [`short_fields`]).
    #[inline(always)]
    fn short_field(&mut self, n: u32, entry: &'a [u8]) -> Result<(), DecodeError> {
        if !(2..=9).contains(&n) {
            return self.field(Field {
                number: n,
                value: FieldValue::Len(entry),
            });
        }
        let at = self.at;
        self.at += 1;
        if let Some(memo) = self.memo.as_deref() {
            if let Some(r) = memo.entries.get(at) {
                if r.map == n && same_bytes(r.entry, entry) {
                    let (name, mut stored) = (r.name, r.stored);
                    if at >= memo.count && self.follows {
                        // remembered from a set before the previous one
                        self.follows = self.bag.mark_changed(name);
                    }
                    if let Stored::StringMap { start, end } = stored {
                        let from = self.bag.pairs_len();
                        self.bag
                            .extend_pairs(&memo.pairs[start as usize..end as usize]);
                        stored = Stored::StringMap {
                            start: from,
                            end: self.bag.pairs_len(),
                        };
                    }
                    return self.set(name, stored);
                }
            }
        }
        let (name, stored) = match self.scalar_entry(n, entry)? {
            Some(decoded) => decoded,
            None => {
                let path = self.path.field(MAP_FIELDS[n as usize]);
                self.entry(n, entry, path)?
            }
        };
        if let Some(memo) = self.memo.as_deref_mut() {
            if self.follows {
                let before = memo.name_before(at);
                self.follows =
                    self.bag.mark_changed(name) && before.is_none_or(|b| self.bag.mark_changed(b));
            }
            memo.remember(at, n, entry, name, stored, self.bag);
        }
        self.set(name, stored)
    }

    /// Ends the set: records what the memo now describes, and whether the bag follows the
    /// previous one with its differences marked (attributes the previous set had past this
    /// one's last position are marked too).
    fn finish(&mut self) {
        let Some(memo) = self.memo.as_deref_mut() else {
            return;
        };
        if self.follows && self.positioned {
            for at in self.at..memo.count {
                if let Some(name) = memo.name_before(at) {
                    self.follows = self.follows && self.bag.mark_changed(name);
                }
            }
            self.bag.set_follows(self.follows);
        }
        memo.count = self.at;
        memo.before = self.positioned.then(|| self.bag.token());
    }

    #[inline(always)]
    fn set(&mut self, name: Name<'a>, stored: Stored<'a>) -> Result<(), DecodeError> {
        if self.bag.set(name, stored, self.set).is_err() {
            return Err(DecodeError::Duplicate {
                name: self.bag.name(name).to_owned(),
                kind: stored.go_type(),
            });
        }
        Ok(())
    }

    #[inline]
    fn field(&mut self, field: Field<'a>) -> Result<(), DecodeError> {
        let n = field.number;
        if !(2..=9).contains(&n) {
            return Ok(()); // words (already read) and unknown fields
        }
        self.positioned = false;
        let path = self
            .path
            .field(MAP_FIELDS.get(n as usize).copied().unwrap_or(""));
        let bad = DecodeError::malformed(path);
        let entry = field.bytes().map_err(&bad)?;
        let (name, stored) = match self.scalar_entry(n, entry)? {
            Some(decoded) => decoded,
            None => self.entry(n, entry, path)?,
        };
        self.set(name, stored)
    }

    /// The common entries of the scalar maps (strings, int64s, doubles, bools), timestamps and
    /// durations as every encoder writes them — key, then value, once each — read without
    /// building fields; `None` for anything else, which [`entry`](Self::entry) reads with the
    /// same result.
    #[inline(always)]
    fn scalar_entry(
        &mut self,
        n: u32,
        entry: &'a [u8],
    ) -> Result<Option<(Name<'a>, Stored<'a>)>, DecodeError> {
        let tag = match n {
            2 | 3 | 5 => 0x10,
            4 => 0x11,
            6 | 7 => return self.time_entry(n, entry),
            _ => return Ok(None),
        };
        let Some((key, v)) = canonical_entry(entry, tag) else {
            return Ok(None);
        };
        let name = self.words.name(zigzag32(key as u32), self.vocab)?;
        let stored = match n {
            2 => Stored::String(self.words.word(zigzag32(v as u32))?),
            3 => Stored::Int64(v as i64),
            4 => Stored::Double(f64::from_bits(v)),
            _ => Stored::Bool(v != 0),
        };
        Ok(Some((name, stored)))
    }

    /// A timestamp (`n` 6) or duration (7) entry as every encoder writes it: the key, then
    /// the value message of at most 127 bytes with seconds and nanos each once, in order, a
    /// zero left out; `None` for anything else.
    #[inline(always)]
    fn time_entry(
        &mut self,
        n: u32,
        entry: &'a [u8],
    ) -> Result<Option<(Name<'a>, Stored<'a>)>, DecodeError> {
        let [0x08, ref rest @ ..] = *entry else {
            return Ok(None);
        };
        let mut r = Reader::new(rest);
        let Ok(key) = r.varint() else {
            return Ok(None);
        };
        let [0x12, len, ref body @ ..] = *r.remaining() else {
            return Ok(None);
        };
        if len >= 0x80 || usize::from(len) != body.len() {
            return Ok(None);
        }
        let Some((seconds, nanos)) = canonical_seconds_nanos(body) else {
            return Ok(None);
        };
        let name = self.words.name(zigzag32(key as u32), self.vocab)?;
        let stored = if n == 6 {
            Stored::Timestamp(Timestamp { seconds, nanos })
        } else {
            Stored::Duration(Duration { seconds, nanos })
        };
        Ok(Some((name, stored)))
    }

    /// Any entry of typed map `n` (2..=9), field by field.
    fn entry(
        &mut self,
        n: u32,
        entry: &'a [u8],
        path: FieldPath,
    ) -> Result<(Name<'a>, Stored<'a>), DecodeError> {
        let bad = DecodeError::malformed(path);
        let (key, value) = map_entry(entry).map_err(&bad)?;
        let name = self.words.name(key, self.vocab)?;
        let stored = match n {
            2 => {
                let v = match value {
                    Some(f) => f.sint32().map_err(&bad)?,
                    None => 0,
                };
                Stored::String(self.words.word(v)?)
            }
            3 => Stored::Int64(value.map_or(Ok(0), |f| f.int64()).map_err(&bad)?),
            4 => Stored::Double(value.map_or(Ok(0.0), |f| f.double()).map_err(&bad)?),
            5 => Stored::Bool(value.map_or(Ok(false), |f| f.bool()).map_err(&bad)?),
            6 => {
                let (seconds, nanos) = seconds_nanos(value).map_err(&bad)?;
                Stored::Timestamp(Timestamp { seconds, nanos })
            }
            7 => {
                let (seconds, nanos) = seconds_nanos(value).map_err(&bad)?;
                Stored::Duration(Duration { seconds, nanos })
            }
            8 => Stored::Bytes(value.map_or(Ok(&[][..]), |f| f.bytes()).map_err(&bad)?),
            _ => self.string_map(value, path.field(".string_maps.entries"))?,
        };
        Ok((name, stored))
    }

    fn string_map(
        &mut self,
        value: Option<Field<'a>>,
        path: FieldPath,
    ) -> Result<Stored<'a>, DecodeError> {
        let bad = DecodeError::malformed(path);
        let start = self.bag.pairs_len();
        let body = match value {
            Some(f) => f.bytes().map_err(&bad)?,
            None => &[],
        };
        let rest = short_fields(body, |n, entry| match n {
            1 => self.pair(entry, path),
            _ => Ok(()),
        })?;
        for field in Reader::new(rest) {
            let field = field.map_err(&bad)?;
            if field.number != 1 {
                continue;
            }
            self.pair(field.bytes().map_err(&bad)?, path)?;
        }
        Ok(Stored::StringMap {
            start,
            end: self.bag.pairs_len(),
        })
    }
}

impl<'a> SetDecoder<'_, 'a> {
    /// One entry of a `StringMap`: two word indices.
    #[inline(always)]
    fn pair(&mut self, entry: &'a [u8], path: FieldPath) -> Result<(), DecodeError> {
        let (k, v) = match canonical_entry(entry, 0x10) {
            Some((k, v)) => (zigzag32(k as u32), zigzag32(v as u32)),
            None => {
                let bad = DecodeError::malformed(path);
                let (k, v) = map_entry(entry).map_err(&bad)?;
                let v = match v {
                    Some(f) => f.sint32().map_err(&bad)?,
                    None => 0,
                };
                (k, v)
            }
        };
        let (k, v) = (self.words.word(k)?, self.words.word(v)?);
        self.bag.push_pair(k, v);
        Ok(())
    }
}

/// A map entry as every encoder writes it: the varint key (field 1), then the value (field 2)
/// with key byte `tag` (`0x10` varint, `0x11` fixed64), once each; `None` for anything else,
/// which [`map_entry`] reads with the same result. Returns the raw key and value.
#[inline(always)]
pub(super) fn canonical_entry(entry: &[u8], tag: u8) -> Option<(u64, u64)> {
    let [0x08, ref rest @ ..] = *entry else {
        return None;
    };
    let mut r = Reader::new(rest);
    let key = r.varint().ok()?;
    let mut r = match *r.remaining() {
        [t, ref rest @ ..] if t == tag => Reader::new(rest),
        _ => return None,
    };
    let value = if tag == 0x11 { r.fixed64() } else { r.varint() };
    match value {
        Ok(v) if r.is_empty() => Some((key, v)),
        _ => None,
    }
}

/// The body of a `Timestamp` or `Duration` as encoders write it: seconds (field 1) then
/// nanos (2), each once, either left out when zero; `None` for anything else.
#[inline(always)]
fn canonical_seconds_nanos(body: &[u8]) -> Option<(i64, i32)> {
    let (mut seconds, mut nanos) = (0, 0);
    let mut rest = body;
    if let [0x08, ref tail @ ..] = *rest {
        let (v, tail) = short_varint(tail)?;
        seconds = v as i64;
        rest = tail;
    }
    if let [0x10, ref tail @ ..] = *rest {
        let (v, tail) = short_varint(tail)?;
        nanos = v as i32;
        rest = tail;
    }
    rest.is_empty().then_some((seconds, nanos))
}

/// A varint of at most 8 bytes (seconds since 1970 and nanos take 5) and the bytes after
/// it; `None` for a longer or truncated one, which the general reader then reads. Inline
/// here because [`Reader::varint`] reads anything past two bytes on its cold path, and
/// every timestamp takes it twice.
#[inline(always)]
fn short_varint(bytes: &[u8]) -> Option<(u64, &[u8])> {
    let mut v = 0u64;
    for (i, &b) in bytes.iter().take(8).enumerate() {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b < 0x80 {
            return Some((v, &bytes[i + 1..]));
        }
    }
    None
}

/// A map entry: the `sint32` key (field 1) and the value field (field 2), if present.
#[inline(always)]
pub(super) fn map_entry(entry: &[u8]) -> Result<(i32, Option<Field<'_>>), WireError> {
    // What every encoder writes: the key, then the value, once each. Anything else (or any
    // error) takes the general path, which gives the same answer for this shape.
    if let [0x08, ref rest @ ..] = *entry {
        let mut r = Reader::new(rest);
        if let Ok(key) = r.varint() {
            if let Some(Ok(value)) = r.field() {
                if value.number == 2 && r.is_empty() {
                    return Ok((zigzag32(key as u32), Some(value)));
                }
            }
        }
    }
    map_entry_general(entry)
}

#[inline(never)]
fn map_entry_general(entry: &[u8]) -> Result<(i32, Option<Field<'_>>), WireError> {
    let mut key = 0;
    let mut value = None;
    for field in Reader::new(entry) {
        let field = field?;
        match field.number {
            1 => key = field.sint32()?,
            2 => value = Some(field),
            _ => {}
        }
    }
    Ok((key, value))
}

/// A `Timestamp` or `Duration` message: seconds (1) and nanos (2).
#[inline]
pub(super) fn seconds_nanos(value: Option<Field<'_>>) -> Result<(i64, i32), WireError> {
    let (mut seconds, mut nanos) = (0, 0);
    if let Some(f) = value {
        let body = f.bytes()?;
        // as every encoder writes it: seconds, then nanos, each once
        if let [0x08, ref rest @ ..] = *body {
            let mut r = Reader::new(rest);
            if let Ok(s) = r.varint() {
                if let [0x10, ref rest @ ..] = *r.remaining() {
                    let mut r = Reader::new(rest);
                    let n = r.varint();
                    if let (Ok(n), true) = (n, r.is_empty()) {
                        return Ok((s as i64, n as i32));
                    }
                }
            }
        }
        for field in Reader::new(body) {
            let field = field?;
            match field.number {
                1 => seconds = field.int64()?,
                2 => nanos = field.int32()?,
                _ => {}
            }
        }
    }
    Ok((seconds, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::Value;
    use crate::wire::{put_key, put_len_field, put_varint, zigzag32_encode, WireType};

    /// An entry of map `map` with key `key` (an index), its value field written by `value`;
    /// `order` puts the value first when true.
    fn entry(out: &mut Vec<u8>, map: u32, key: i32, value: &[u8], value_first: bool) {
        let mut k = Vec::new();
        put_key(&mut k, 1, WireType::Varint);
        put_varint(&mut k, u64::from(zigzag32_encode(key)));
        let body = if value_first {
            [value, &k[..]].concat()
        } else {
            [&k[..], value].concat()
        };
        put_len_field(out, map, &body);
    }

    fn varint_value(v: u64) -> Vec<u8> {
        let mut out = vec![0x10];
        put_varint(&mut out, v);
        out
    }

    fn message(value_first: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for w in ["my.str", "my.int", "my.dbl", "my.bool", "a value", "my.map"] {
            put_len_field(&mut out, 1, w.as_bytes());
        }
        entry(
            &mut out,
            2,
            -1,
            &varint_value(zigzag32_encode(-5).into()),
            value_first,
        );
        entry(&mut out, 2, 17, &varint_value(94 * 2), value_first);
        entry(&mut out, 3, -2, &varint_value(-7i64 as u64), value_first);
        let mut dbl = vec![0x11];
        dbl.extend_from_slice(&2.5f64.to_bits().to_le_bytes());
        entry(&mut out, 4, -3, &dbl, value_first);
        entry(&mut out, 5, -4, &varint_value(1), value_first);
        // string_maps: "my.map" -> {"my.str": "a value", "source.ip": "'200'"}
        let mut map = Vec::new();
        entry(
            &mut map,
            1,
            -1,
            &varint_value(zigzag32_encode(-5).into()),
            value_first,
        );
        entry(&mut map, 1, 0, &varint_value(94 * 2), value_first);
        let mut value = Vec::new();
        put_len_field(&mut value, 2, &map);
        entry(&mut out, 9, -6, &value, value_first);
        out
    }

    fn attrs(bag: &Bag<'_>) -> Vec<(String, String)> {
        bag.iter()
            .map(|(n, v)| (n.to_owned(), format!("{v:?}")))
            .collect()
    }

    #[test]
    fn scalar_entries_read_alike_in_any_field_order() {
        let vocab = Vocabulary::builtin();
        let (canonical, reordered) = (message(false), message(true));
        let a = decode_attributes(&canonical, vocab).expect("canonical decodes");
        let b = decode_attributes(&reordered, vocab).expect("reordered decodes");
        assert_eq!(attrs(&a), attrs(&b));
        assert_eq!(a.get_by_name("my.str"), Some(Value::String("a value")));
        assert_eq!(a.get_by_name("request.path"), Some(Value::String("'200'")));
        assert_eq!(a.get_by_name("my.int"), Some(Value::Int64(-7)));
        assert_eq!(a.get_by_name("my.dbl"), Some(Value::Double(2.5)));
        assert_eq!(a.get_by_name("my.bool"), Some(Value::Bool(true)));
        let Some(Value::StringMap(m)) = a.get_by_name("my.map") else {
            panic!("my.map is a string map");
        };
        assert_eq!(m.get("my.str"), Some("a value"));
        assert_eq!(m.get("source.ip"), Some("'200'"));
    }

    #[test]
    fn remembered_entries_give_the_same_bag_and_are_still_checked_for_duplicates() {
        let vocab = Vocabulary::builtin();
        // global words only (no words of the sets' own): 17 is request.path, 94 "'200'"
        let mut a = Vec::new();
        entry(&mut a, 2, 17, &varint_value(94 * 2), false);
        let mut b = Vec::new();
        entry(&mut b, 3, 18, &varint_value(7), false);
        let first = [a.clone(), b.clone()].concat();
        // B at the place it had: remembered, and a second B in the set
        let second = [b.clone(), b.clone()].concat();
        let mut dec = AttributesDecoder::new();
        let mut bag = Bag::new(vocab);
        let path = FieldPath::new("CompressedAttributes", None);
        dec.merge_into(&[&first], &mut bag, 0, path)
            .expect("decodes");
        let once = attrs(&bag);
        bag.clear();
        let err = dec
            .merge_into(&[&second], &mut bag, 1, path)
            .expect_err("B twice");
        assert!(matches!(err, DecodeError::Duplicate { .. }), "{err}");
        bag.clear();
        dec.merge_into(&[&first], &mut bag, 2, path)
            .expect("decodes");
        assert_eq!(attrs(&bag), once);
        assert_eq!(
            bag.get_by_name("request.path"),
            Some(Value::String("'200'"))
        );
    }

    #[test]
    fn odd_scalar_entries_take_the_general_path() {
        let vocab = Vocabulary::builtin();
        // the value twice: the last one wins
        let mut out = Vec::new();
        put_len_field(&mut out, 1, b"my.int");
        entry(&mut out, 3, -1, &[0x10, 1, 0x10, 2], false);
        let bag = decode_attributes(&out, vocab).expect("decodes");
        assert_eq!(bag.get_by_name("my.int"), Some(Value::Int64(2)));
        // no value: zero
        let mut out = Vec::new();
        put_len_field(&mut out, 1, b"my.int");
        entry(&mut out, 3, -1, &[], false);
        let bag = decode_attributes(&out, vocab).expect("decodes");
        assert_eq!(bag.get_by_name("my.int"), Some(Value::Int64(0)));
        // a double sent as a varint is malformed, as before
        let mut out = Vec::new();
        put_len_field(&mut out, 1, b"my.dbl");
        entry(&mut out, 4, -1, &[0x10, 1], false);
        let err = decode_attributes(&out, vocab).expect_err("wrong wire type");
        assert!(matches!(err, DecodeError::Malformed { .. }), "{err}");
        // an unknown index is reported for the name before the value
        let mut out = Vec::new();
        entry(
            &mut out,
            2,
            -9,
            &varint_value(zigzag32_encode(-10).into()),
            false,
        );
        let err = decode_attributes(&out, vocab).expect_err("unknown index");
        assert_eq!(err, DecodeError::UnknownIndex(-9));
        // a truncated value
        let mut out = Vec::new();
        put_len_field(&mut out, 1, b"my.dbl");
        entry(&mut out, 4, -1, &[0x11, 1, 2], false);
        assert!(decode_attributes(&out, vocab).is_err());
    }
}
