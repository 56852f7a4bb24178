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
use crate::bag::{Bag, Stored};
use crate::value::{Duration, Timestamp};
use crate::vocabulary::Vocabulary;
use crate::wire::{Field, Reader, WireError};

/// Decodes `CompressedAttributes` into bags, reusing its word-list buffers. Holds the fallback
/// word list used when a message has no words of its own (a report's `default_words`).
#[derive(Debug, Default)]
pub struct AttributesDecoder<'a> {
    own: WordList<'a>,
    defaults: WordList<'a>,
}

impl<'a> AttributesDecoder<'a> {
    pub fn new() -> AttributesDecoder<'a> {
        AttributesDecoder::default()
    }

    /// A decoder whose fallback word list is `defaults`.
    pub fn with_default_words(defaults: WordList<'a>) -> AttributesDecoder<'a> {
        AttributesDecoder {
            own: WordList::new(),
            defaults,
        }
    }

    pub fn default_words(&self) -> &WordList<'a> {
        &self.defaults
    }

    pub(crate) fn defaults_mut(&mut self) -> &mut WordList<'a> {
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
            for field in Reader::new(part) {
                let field = field.map_err(DecodeError::malformed(path))?;
                if field.number == 1 {
                    let raw = field.bytes().map_err(DecodeError::malformed(words_path))?;
                    self.own.push_raw(raw, words_path)?;
                }
            }
        }
        let words = if self.own.is_empty() {
            &mut self.defaults
        } else {
            &mut self.own
        };
        let mut set = SetDecoder {
            vocab: bag.vocabulary(),
            bag,
            words,
            set,
            path,
        };
        for part in parts {
            for field in Reader::new(part) {
                let field = field.map_err(DecodeError::malformed(path))?;
                set.field(field)?;
            }
        }
        Ok(())
    }
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
}

impl<'a> SetDecoder<'_, 'a> {
    #[inline]
    fn field(&mut self, field: Field<'a>) -> Result<(), DecodeError> {
        let n = field.number;
        if !(2..=9).contains(&n) {
            return Ok(()); // words (already read) and unknown fields
        }
        let path = self
            .path
            .field(MAP_FIELDS.get(n as usize).copied().unwrap_or(""));
        let bad = DecodeError::malformed(path);
        let entry = field.bytes().map_err(&bad)?;
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
        if self.bag.set(name, stored, self.set).is_err() {
            return Err(DecodeError::Duplicate {
                name: self.bag.name(name).to_owned(),
                kind: stored.go_type(),
            });
        }
        Ok(())
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
        for field in Reader::new(body) {
            let field = field.map_err(&bad)?;
            if field.number != 1 {
                continue;
            }
            let (k, v) = map_entry(field.bytes().map_err(&bad)?).map_err(&bad)?;
            let v = match v {
                Some(f) => f.sint32().map_err(&bad)?,
                None => 0,
            };
            let (k, v) = (self.words.word(k)?, self.words.word(v)?);
            self.bag.push_pair(k, v);
        }
        Ok(Stored::StringMap {
            start,
            end: self.bag.pairs_len(),
        })
    }
}

/// A map entry: the `sint32` key (field 1) and the value field (field 2), if present.
#[inline]
fn map_entry(entry: &[u8]) -> Result<(i32, Option<Field<'_>>), WireError> {
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
fn seconds_nanos(value: Option<Field<'_>>) -> Result<(i64, i32), WireError> {
    let (mut seconds, mut nanos) = (0, 0);
    if let Some(f) = value {
        for field in Reader::new(f.bytes()?) {
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
