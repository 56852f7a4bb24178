//! A message-level word list (`CompressedAttributes.words`, `ReportRequest.default_words`)
//! and the index rule: index ≥ 0 is a global word, index < 0 is word `-index-1` of the list.
//! Words are UTF-8-checked once when added; the [`AttrId`] of each word used as a name is looked
//! up once and cached, so a batch sharing `default_words` hashes each word once per request.

use super::error::{DecodeError, FieldPath};
use crate::bag::Name;
use crate::dictionary::{GLOBAL_WORDS, GLOBAL_WORD_COUNT};
use crate::vocabulary::{AttrId, Vocabulary};

const UNRESOLVED: u32 = u32::MAX;
const NOT_IN_VOCABULARY: u32 = u32::MAX - 1;

/// Words of one list, borrowed from the request, with a lazily filled name → id cache.
#[derive(Debug, Default, Clone)]
pub struct WordList<'a> {
    words: Vec<&'a str>,
    ids: Vec<u32>,
}

impl<'a> WordList<'a> {
    pub fn new() -> WordList<'a> {
        WordList::default()
    }

    /// An empty list with room for `n` words, so filling it does not reallocate.
    pub fn with_capacity(n: usize) -> WordList<'a> {
        WordList {
            words: Vec::with_capacity(n),
            ids: Vec::with_capacity(n),
        }
    }

    /// A list of already checked words.
    pub fn from_words(words: &[&'a str]) -> WordList<'a> {
        let mut list = WordList::new();
        for w in words {
            list.push(w);
        }
        list
    }

    pub fn clear(&mut self) {
        self.words.clear();
        self.ids.clear();
    }

    /// This list, emptied, for words borrowed from other bytes: the buffers are reused.
    pub fn recycle<'b>(mut self) -> WordList<'b> {
        self.clear();
        WordList {
            // empty: the in-place collect only changes the lifetime
            words: self.words.into_iter().map(|_| "").collect(),
            ids: self.ids,
        }
    }

    pub fn push(&mut self, word: &'a str) {
        self.words.push(word);
        self.ids.push(UNRESOLVED);
    }

    /// Adds a word as it came off the wire, checking it is UTF-8.
    pub(crate) fn push_raw(&mut self, raw: &'a [u8], path: FieldPath) -> Result<(), DecodeError> {
        let word = std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8 { path })?;
        self.push(word);
        Ok(())
    }

    pub fn words(&self) -> &[&'a str] {
        &self.words
    }

    pub fn len(&self) -> usize {
        self.words.len()
    }

    pub fn is_empty(&self) -> bool {
        self.words.is_empty()
    }

    /// The word an index stands for (a string value or a map key).
    #[inline(always)]
    pub fn word(&self, index: i32) -> Result<&'a str, DecodeError> {
        if index >= 0 {
            GLOBAL_WORDS
                .get(index as usize)
                .copied()
                .ok_or(DecodeError::UnknownIndex(index))
        } else {
            // !index == -index - 1, without overflow for i32::MIN
            self.words
                .get(!index as usize)
                .copied()
                .ok_or(DecodeError::UnknownIndex(index))
        }
    }

    /// The attribute name an index stands for, resolved against `vocab`. A global index is
    /// its own id (the vocabulary starts with the dictionary); a message word is looked up
    /// once and cached.
    #[inline(always)]
    pub(crate) fn name(&mut self, index: i32, vocab: &Vocabulary) -> Result<Name<'a>, DecodeError> {
        if index >= 0 {
            if (index as usize) < GLOBAL_WORD_COUNT {
                return Ok(Name::Known(AttrId(index as u32)));
            }
            return Err(DecodeError::UnknownIndex(index));
        }
        let slot = !index as usize;
        let (Some(&word), Some(id)) = (self.words.get(slot), self.ids.get_mut(slot)) else {
            return Err(DecodeError::UnknownIndex(index));
        };
        if *id == UNRESOLVED {
            *id = vocab.id(word).map_or(NOT_IN_VOCABULARY, |i| i.0);
        }
        Ok(match *id {
            NOT_IN_VOCABULARY => Name::Unknown(word),
            id => Name::Known(AttrId(id)),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn index_rule() {
        let vocab = Vocabulary::builtin();
        let mut w = WordList::from_words(&["request.path", "my.attr"]);
        assert_eq!(w.word(0), Ok("source.ip"));
        assert_eq!(w.word(94), Ok("'200'"));
        assert_eq!(w.word(-1), Ok("request.path"));
        assert_eq!(w.word(-3), Err(DecodeError::UnknownIndex(-3)));
        assert_eq!(w.word(222), Err(DecodeError::UnknownIndex(222)));
        assert_eq!(w.word(i32::MIN), Err(DecodeError::UnknownIndex(i32::MIN)));
        // a message word resolves to the same id as its global index
        assert_eq!(w.name(-1, vocab), Ok(Name::Known(AttrId(17))));
        assert_eq!(w.name(17, vocab), Ok(Name::Known(AttrId(17))));
        assert_eq!(w.name(-2, vocab), Ok(Name::Unknown("my.attr")));
        assert_eq!(w.name(-2, vocab), Ok(Name::Unknown("my.attr")));
    }
}
