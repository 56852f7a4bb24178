//! `ReportRequest` bytes as a view: the top-level fields are read once, then
//! [`ReportRequestView::next_bag`] decodes one attribute set at a time into a single reused
//! [`Bag`] (spec/mixer-api.md §1.8):
//!
//! - INDEPENDENT_ENCODING: every set is a bag of its own;
//! - DELTA_ENCODING: set 0 is the base, each later set adds or overwrites attributes of the
//!   accumulated bag (nothing is ever deleted), and every accumulated bag is yielded.
//!
//! Each set resolves negative indices against its own `words`, or against `default_words` when
//! it has none; the default words are UTF-8-checked and resolved to ids once per request.
//!
//! `repeated_attributes_semantics` is an open proto3 enum. A value other than 0 or 1 is treated
//! as DELTA_ENCODING, exactly as Go Mixer does (it only tests for INDEPENDENT_ENCODING), so a
//! request Mixer accepts is accepted here with the same meaning; [`ReportRequestView::raw_semantics`]
//! still shows the number sent.

use super::attributes::AttributesDecoder;
use super::error::{DecodeError, FieldPath};
use crate::bag::Bag;
use crate::vocabulary::Vocabulary;
use crate::wire::Reader;

/// How the attribute sets of a report build on each other.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Semantics {
    Delta,
    Independent,
}

const TOP: FieldPath = FieldPath::new("ReportRequest", None);

/// A parsed `ReportRequest` handing out its bags one at a time.
#[derive(Debug)]
pub struct ReportRequestView<'a> {
    sets: Vec<&'a [u8]>,
    /// `default_words` as they came, while they are read (a buffer kept for the next request).
    raw_words: Vec<&'a [u8]>,
    global_word_count: u32,
    raw_semantics: i32,
    decoder: AttributesDecoder<'a>,
    bag: Bag<'a>,
    next: usize,
    failed: bool,
}

impl<'a> ReportRequestView<'a> {
    /// Reads the top-level fields and checks `global_word_count` (spec §1.10).
    pub fn parse(
        bytes: &'a [u8],
        vocab: &'a Vocabulary,
    ) -> Result<ReportRequestView<'a>, DecodeError> {
        ReportRequestView::parse_reusing(bytes, Bag::new(vocab))
    }

    /// Like [`parse`](Self::parse), reusing the buffers of a bag from an earlier request
    /// (see [`into_bag`](Self::into_bag)); `bag` must be empty or is cleared.
    pub fn parse_reusing(
        bytes: &'a [u8],
        bag: Bag<'a>,
    ) -> Result<ReportRequestView<'a>, DecodeError> {
        ReportRequestView::parse_into(bytes, bag, ReportBuffers::default())
    }

    /// Like [`parse`](Self::parse), reusing every buffer of an earlier request's view
    /// ([`recycle`](Self::recycle)): no allocation once warm.
    pub fn parse_with(
        bytes: &'a [u8],
        vocab: &'a Vocabulary,
        mut buffers: ReportBuffers,
    ) -> Result<ReportRequestView<'a>, DecodeError> {
        let bag = match buffers.bag.take() {
            Some(b) => b.recycle(vocab),
            None => Bag::new(vocab),
        };
        ReportRequestView::parse_into(bytes, bag, buffers)
    }

    fn parse_into(
        bytes: &'a [u8],
        mut bag: Bag<'a>,
        buffers: ReportBuffers,
    ) -> Result<ReportRequestView<'a>, DecodeError> {
        bag.clear();
        let ReportBuffers {
            sets,
            raw_words,
            decoder,
            ..
        } = buffers;
        let mut view = ReportRequestView {
            sets: recycled(sets),
            raw_words: recycled(raw_words),
            global_word_count: 0,
            raw_semantics: 0,
            decoder,
            bag,
            next: 0,
            failed: false,
        };
        for field in Reader::new(bytes) {
            let field = field.map_err(DecodeError::malformed(TOP))?;
            match field.number {
                1 => {
                    let path = TOP.field(".attributes");
                    view.sets
                        .push(field.bytes().map_err(DecodeError::malformed(path))?);
                }
                2 => {
                    let path = TOP.field(".default_words");
                    let raw = field.bytes().map_err(DecodeError::malformed(path))?;
                    view.raw_words.push(raw);
                }
                3 => {
                    let path = TOP.field(".global_word_count");
                    view.global_word_count =
                        field.varint().map_err(DecodeError::malformed(path))? as u32;
                }
                4 => {
                    let path = TOP.field(".repeated_attributes_semantics");
                    view.raw_semantics = field.int32().map_err(DecodeError::malformed(path))?;
                }
                _ => {}
            }
        }
        view.read_default_words(bytes)?;
        DecodeError::check_word_count(view.global_word_count)?;
        Ok(view)
    }

    /// Checks the raw `default_words` are UTF-8 and makes them the decoder's fallback words.
    /// Where the span from the first word to the last is all UTF-8 (the words one after
    /// another, framed by ASCII tags and lengths, as encoders write them), one check serves
    /// all: a slice of valid text at character boundaries is valid. Otherwise each word is
    /// checked on its own.
    fn read_default_words(&mut self, bytes: &'a [u8]) -> Result<(), DecodeError> {
        let (Some(first), Some(last)) = (self.raw_words.first(), self.raw_words.last()) else {
            return Ok(());
        };
        let from = offset(bytes, first);
        let to = offset(bytes, last) + last.len();
        let text = bytes
            .get(from..to)
            .and_then(|span| std::str::from_utf8(span).ok());
        let path = TOP.field(".default_words");
        let words = self.decoder.defaults_mut();
        for raw in self.raw_words.drain(..) {
            let at = offset(bytes, raw).wrapping_sub(from);
            match text.and_then(|t| t.get(at..at + raw.len())) {
                Some(word) => words.push(word),
                None => words.push_raw(raw, path)?,
            }
        }
        Ok(())
    }

    /// Number of attribute sets (= bags) in the request.
    pub fn len(&self) -> usize {
        self.sets.len()
    }

    pub fn is_empty(&self) -> bool {
        self.sets.is_empty()
    }

    pub fn global_word_count(&self) -> u32 {
        self.global_word_count
    }

    /// The semantics the sets are decoded with (unknown enum values count as delta).
    pub fn semantics(&self) -> Semantics {
        if self.raw_semantics == 1 {
            Semantics::Independent
        } else {
            Semantics::Delta
        }
    }

    /// `repeated_attributes_semantics` as sent.
    pub fn raw_semantics(&self) -> i32 {
        self.raw_semantics
    }

    pub fn default_words(&self) -> &[&'a str] {
        self.decoder.default_words().words()
    }

    /// The next bag, or `None` after the last one. After an error there are no more bags: a
    /// delta chain cannot continue past a set it could not apply, and Mixer rejects the
    /// whole request.
    #[allow(clippy::should_implement_trait)] // lending: the bag is reused
    pub fn next_bag(&mut self) -> Option<Result<&Bag<'a>, DecodeError>> {
        if self.failed {
            return None;
        }
        let i = self.next;
        let set = *self.sets.get(i)?;
        self.next += 1;
        if i == 0 || self.semantics() == Semantics::Independent {
            self.bag.clear();
        }
        let path = FieldPath::new("ReportRequest.attributes", Some(i as u32));
        match self
            .decoder
            .merge_into(&[set], &mut self.bag, i as u32, path)
        {
            Ok(()) => Some(Ok(&self.bag)),
            Err(e) => {
                self.failed = true;
                Some(Err(e))
            }
        }
    }

    /// Calls `f` with every bag in turn; stops at the first decode error.
    pub fn for_each_bag(&mut self, mut f: impl FnMut(&Bag<'a>)) -> Result<(), DecodeError> {
        while let Some(bag) = self.next_bag() {
            f(bag?);
        }
        Ok(())
    }

    /// The bag, for reuse with the next request ([`Bag::recycle`]).
    pub fn into_bag(self) -> Bag<'a> {
        self.bag
    }

    /// Every buffer of this view, emptied, for [`parse_with`](Self::parse_with).
    pub fn recycle(self) -> ReportBuffers {
        ReportBuffers {
            bag: Some(self.bag.recycle(Vocabulary::builtin())),
            sets: recycled(self.sets),
            raw_words: recycled(self.raw_words),
            decoder: self.decoder.recycle(),
        }
    }
}

/// The buffers of a [`ReportRequestView`] between requests (see
/// [`ReportRequestView::recycle`]).
#[derive(Debug, Default)]
pub struct ReportBuffers {
    bag: Option<Bag<'static>>,
    sets: Vec<&'static [u8]>,
    raw_words: Vec<&'static [u8]>,
    decoder: AttributesDecoder<'static>,
}

/// `slices` emptied, to hold slices of other bytes: the in-place collect only changes the
/// lifetime.
fn recycled<'b>(mut slices: Vec<&[u8]>) -> Vec<&'b [u8]> {
    slices.clear();
    slices.into_iter().map(|_| &[][..]).collect()
}

/// Where `part`, a slice of `whole`, starts in it.
fn offset(whole: &[u8], part: &[u8]) -> usize {
    part.as_ptr() as usize - whole.as_ptr() as usize
}
