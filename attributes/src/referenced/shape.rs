//! The decision-cache key (spec §8.3): a [`Shape`] is the set of reads one answer depended on;
//! a bag *fits* a shape when it agrees on every absence, and its *signature* under the shape
//! digests the values of the exact reads. Two bags with the same signature under a shape get
//! the same answer, so the answer can be cached by (shape, signature).

use super::recorded::{Condition, Referenced};
use crate::access::{AttrRef, Attributes};
use crate::dictionary::GLOBAL_WORDS;
use crate::value::Value;
use crate::vocabulary::{AttrId, Vocabulary};
use mixer_proto::mixer::referenced_attributes::Condition as WireCondition;
use mixer_proto::mixer::ReferencedAttributes;
use std::hash::{Hash, Hasher};

/// An attribute, or a key of a map attribute, that a shape refers to.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Key {
    pub name: Box<str>,
    /// `AttrId(u32::MAX)` for a name the vocabulary does not know.
    pub id: AttrId,
    pub map_key: Option<Box<str>>,
}

impl Key {
    fn attr(&self) -> AttrRef<'_> {
        AttrRef {
            id: self.id,
            name: &self.name,
        }
    }
}

/// Why an answer cannot be cached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShapeError {
    #[error("referenced attribute index {0} is not defined in the available dictionaries")]
    BadIndex(i32),
    #[error("referenced attribute {0:?} was matched by regex; such answers are not cached")]
    Regex(String),
    #[error("referenced attribute {0:?} has an unspecified condition")]
    Unspecified(String),
    #[error("response referenced does not match request")]
    DoesNotFit,
}

/// Sorted absence and exact keys. Equality and hashing are the shape's identity (§8.3 step 4).
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct Shape {
    absence: Vec<Key>,
    exact: Vec<Key>,
}

/// The special id for names outside the vocabulary.
const UNKNOWN: AttrId = AttrId(u32::MAX);

impl Shape {
    /// The shape of reads recorded on the server side.
    pub fn from_referenced(refs: &Referenced, vocab: &Vocabulary) -> Shape {
        let mut shape = Shape::default();
        for r in refs.references() {
            let key = Key {
                name: vocab.name(r.name).into(),
                id: r.name,
                map_key: r.map_key.clone(),
            };
            match r.condition {
                Condition::Absence => shape.absence.push(key),
                Condition::Exact => shape.exact.push(key),
            }
        }
        shape.sort();
        shape
    }

    /// Decodes a Check answer's `ReferencedAttributes` the way the Istio proxy does, against the
    /// request it answered: names resolve against the full global dictionary or the message's
    /// `words`; a `map_key` counts only when the attribute is a STRING_MAP present in `request`.
    /// A REGEX match, a bad index, or an answer that does not fit its own request cannot be
    /// cached.
    pub fn from_response<A: Attributes>(
        wire: &ReferencedAttributes,
        vocab: &Vocabulary,
        request: &A,
    ) -> Result<Shape, ShapeError> {
        let word = |index: i32| -> Result<&str, ShapeError> {
            let found = if index >= 0 {
                GLOBAL_WORDS.get(index as usize).copied()
            } else {
                let slot = (-(index as i64) - 1) as usize;
                wire.words.get(slot).map(String::as_str)
            };
            found.ok_or(ShapeError::BadIndex(index))
        };
        let mut shape = Shape::default();
        for m in &wire.attribute_matches {
            let name = word(m.name)?;
            let id = vocab.id(name).unwrap_or(UNKNOWN);
            let is_map = matches!(request.get(AttrRef { id, name }), Some(Value::StringMap(_)));
            let map_key = if is_map && m.map_key != 0 {
                Some(word(m.map_key)?.into())
            } else {
                None
            };
            let key = Key {
                name: name.into(),
                id,
                map_key,
            };
            match WireCondition::try_from(m.condition) {
                Ok(WireCondition::Absence) => shape.absence.push(key),
                Ok(WireCondition::Exact) => shape.exact.push(key),
                Ok(WireCondition::Regex) => return Err(ShapeError::Regex(name.to_owned())),
                _ => return Err(ShapeError::Unspecified(name.to_owned())),
            }
        }
        shape.sort();
        if !shape.fits(request) {
            return Err(ShapeError::DoesNotFit);
        }
        Ok(shape)
    }

    fn sort(&mut self) {
        self.absence.sort();
        self.absence.dedup();
        self.exact.sort();
        self.exact.dedup();
    }

    pub fn absence_keys(&self) -> &[Key] {
        &self.absence
    }

    pub fn exact_keys(&self) -> &[Key] {
        &self.exact
    }

    /// Whether `bag` agrees with the shape: every absence key absent (for a present map, the
    /// key absent from it; a present non-map attribute is a mismatch), every exact key present.
    pub fn fits<A: Attributes>(&self, bag: &A) -> bool {
        let absent_ok = self
            .absence
            .iter()
            .all(|k| match (bag.get(k.attr()), &k.map_key) {
                (None, _) => true,
                (Some(Value::StringMap(m)), Some(key)) => m.get(key).is_none(),
                (Some(_), _) => false,
            });
        absent_ok
            && self
                .exact
                .iter()
                .all(|k| match (bag.get(k.attr()), &k.map_key) {
                    (Some(Value::StringMap(m)), Some(key)) => m.get(key).is_some(),
                    (Some(_), None) => true,
                    _ => false,
                })
    }

    /// Writes the bytes the signature digests: for each exact key, its name and value, each
    /// length-prefixed with a kind tag (unlike Istio's NUL-delimited string, values containing
    /// NUL cannot collide), then `extra` ("" for a Check, the quota name for a quota). Returns
    /// false, leaving `out` unspecified, when `bag` does not fit.
    pub fn signature_bytes<A: Attributes>(&self, bag: &A, extra: &str, out: &mut Vec<u8>) -> bool {
        out.clear();
        if !self.fits(bag) {
            return false;
        }
        for k in &self.exact {
            let Some(value) = bag.get(k.attr()) else {
                return false;
            };
            put(out, b'n', k.name.as_bytes());
            match (value, &k.map_key) {
                (Value::StringMap(m), Some(key)) => {
                    put(out, b'k', key.as_bytes());
                    put(out, b'v', m.get(key).unwrap_or_default().as_bytes());
                }
                (Value::String(s), _) => put(out, b's', s.as_bytes()),
                (Value::Bytes(b), _) => put(out, b'b', b),
                (Value::Int64(v), _) => put(out, b'i', &v.to_le_bytes()),
                (Value::Double(v), _) => put(out, b'd', &v.to_bits().to_le_bytes()),
                (Value::Bool(v), _) => put(out, b'o', &[u8::from(v)]),
                (Value::Timestamp(t), _) => {
                    put(out, b't', &t.seconds.to_le_bytes());
                    put(out, b't', &t.nanos.to_le_bytes());
                }
                (Value::Duration(d), _) => {
                    put(out, b'u', &d.seconds.to_le_bytes());
                    put(out, b'u', &d.nanos.to_le_bytes());
                }
                // An exact key on a whole map cannot come from a fitting bag.
                (Value::StringMap(_), None) => return false,
            }
        }
        put(out, b'x', extra.as_bytes());
        true
    }

    /// The bytes of a decision-cache key for `bag` under this shape, written to `out` (cleared
    /// first), reading each attribute once: for each absence key on a map key whether the map
    /// is present, then the value of each exact key (kind tag, length, bytes: self-delimiting).
    /// Names are left out — they are the shape's — so a key must only be compared with keys of
    /// the same shape. False, leaving `out` unspecified, when `bag` does not fit (as
    /// [`Shape::fits`]).
    pub fn key_bytes<A: Attributes>(&self, bag: &A, out: &mut Vec<u8>) -> bool {
        out.clear();
        for k in &self.absence {
            match (bag.get(k.attr()), &k.map_key) {
                (None, None) => {}
                (None, Some(_)) => out.push(0),
                (Some(Value::StringMap(m)), Some(key)) if m.get(key).is_none() => out.push(1),
                (Some(_), _) => return false,
            }
        }
        for k in &self.exact {
            let Some(value) = bag.get(k.attr()) else {
                return false;
            };
            match (value, &k.map_key) {
                (Value::StringMap(m), Some(key)) => match m.get(key) {
                    Some(v) => put(out, b'v', v.as_bytes()),
                    None => return false,
                },
                // a whole map, or a map key of something else: never fits
                (Value::StringMap(_), None) | (_, Some(_)) => return false,
                (Value::String(s), None) => put(out, b's', s.as_bytes()),
                (Value::Bytes(b), None) => put(out, b'b', b),
                (Value::Int64(v), None) => put(out, b'i', &v.to_le_bytes()),
                (Value::Double(v), None) => put(out, b'd', &v.to_bits().to_le_bytes()),
                (Value::Bool(v), None) => put(out, b'o', &[u8::from(v)]),
                (Value::Timestamp(t), None) => {
                    put(out, b't', &t.seconds.to_le_bytes());
                    put(out, b't', &t.nanos.to_le_bytes());
                }
                (Value::Duration(d), None) => {
                    put(out, b'u', &d.seconds.to_le_bytes());
                    put(out, b'u', &d.nanos.to_le_bytes());
                }
            }
        }
        true
    }

    /// A 64-bit digest of [`Shape::signature_bytes`]; `None` when `bag` does not fit.
    pub fn signature<A: Attributes>(&self, bag: &A, extra: &str) -> Option<u64> {
        let mut buf = Vec::with_capacity(128);
        if !self.signature_bytes(bag, extra, &mut buf) {
            return None;
        }
        let mut h = std::collections::hash_map::DefaultHasher::new();
        buf.hash(&mut h);
        Some(h.finish())
    }
}

#[inline]
fn put(out: &mut Vec<u8>, tag: u8, bytes: &[u8]) {
    let [a, b, c, d] = (bytes.len() as u32).to_le_bytes();
    out.extend_from_slice(&[tag, a, b, c, d]);
    out.extend_from_slice(bytes);
}
