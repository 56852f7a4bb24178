//! [`Referenced`]: the reads an evaluation made, collected through [`Recorder`], and their
//! `ReferencedAttributes` encoding as Mixer sends it with every Check answer.

use super::recorder::Recorder;
use crate::access::AttrRef;
use crate::value::Value;
use crate::vocabulary::{AttrId, Vocabulary};
use mixer_proto::mixer::referenced_attributes::{AttributeMatch, Condition as WireCondition};
use mixer_proto::mixer::ReferencedAttributes;

/// How a referenced attribute or map key was matched.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Condition {
    /// The decision depended on the attribute (or key) being absent.
    Absence,
    /// The decision depended on the exact value.
    Exact,
}

/// One referenced attribute, or one key of a STRING_MAP attribute.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Reference {
    pub name: AttrId,
    pub map_key: Option<Box<str>>,
    pub condition: Condition,
}

/// The set of reads one decision made. Implements [`Recorder`] so evaluation fills it directly;
/// a read made twice is kept once.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Referenced {
    refs: Vec<Reference>,
}

impl Referenced {
    pub fn new() -> Referenced {
        Referenced::default()
    }

    pub fn is_empty(&self) -> bool {
        self.refs.is_empty()
    }

    pub fn len(&self) -> usize {
        self.refs.len()
    }

    /// The recorded reads, sorted by (name, map key).
    pub fn references(&self) -> &[Reference] {
        &self.refs
    }

    pub fn clear(&mut self) {
        self.refs.clear();
    }

    /// Adds every read of `other` (several adapters took part in one decision).
    pub fn merge(&mut self, other: &Referenced) {
        for r in &other.refs {
            self.insert(r.clone());
        }
    }

    fn insert(&mut self, r: Reference) {
        let key = (&r.name, &r.map_key);
        match self
            .refs
            .binary_search_by(|e| (&e.name, &e.map_key).cmp(&key))
        {
            // The same read gives the same answer within one bag; keep the first.
            Ok(_) => {}
            Err(pos) => self.refs.insert(pos, r),
        }
    }

    /// Encodes as Mixer does (spec §1.6): a name or key uses its global index only when that
    /// index is below the caller's `global_word_count`; every other word goes into `words`.
    ///
    /// One deviation keeps the encoding unambiguous: `map_key` 0 means "no key", so a map key
    /// that is global word 0 (`source.ip`) is sent as a message word instead.
    pub fn encode(&self, vocab: &Vocabulary, global_word_count: u32) -> ReferencedAttributes {
        let mut words: Vec<String> = Vec::new();
        let mut index_of = |word: &str, allow_zero: bool| -> i32 {
            if let Some(g) = vocab.id(word).and_then(AttrId::global_index) {
                if (g as u32) < global_word_count && (allow_zero || g != 0) {
                    return g;
                }
            }
            let slot = match words.iter().position(|w| w == word) {
                Some(slot) => slot,
                None => {
                    words.push(word.to_owned());
                    words.len() - 1
                }
            };
            -(slot as i32) - 1
        };
        let mut attribute_matches = Vec::with_capacity(self.refs.len());
        for r in &self.refs {
            let name = index_of(vocab.name(r.name), true);
            let map_key = r.map_key.as_deref().map_or(0, |k| index_of(k, false));
            let condition = match r.condition {
                Condition::Absence => WireCondition::Absence,
                Condition::Exact => WireCondition::Exact,
            };
            attribute_matches.push(AttributeMatch {
                name,
                condition: condition as i32,
                regex: String::new(),
                map_key,
            });
        }
        ReferencedAttributes {
            words,
            attribute_matches,
        }
    }
}

impl Recorder for Referenced {
    fn attribute(&mut self, attr: AttrRef<'_>, value: Option<&Value<'_>>) {
        let condition = match value {
            None => Condition::Absence,
            // Reading a whole map is not recorded; its keys are.
            Some(Value::StringMap(_)) => return,
            Some(_) => Condition::Exact,
        };
        self.insert(Reference {
            name: attr.id,
            map_key: None,
            condition,
        });
    }

    fn map_key(&mut self, attr: AttrRef<'_>, key: &str, present: bool) {
        let condition = if present {
            Condition::Exact
        } else {
            Condition::Absence
        };
        self.insert(Reference {
            name: attr.id,
            map_key: Some(key.into()),
            condition,
        });
    }
}
