//! `CheckRequest` bytes as a view: the attribute bag (resolved against the message's own words),
//! `global_word_count`, `deduplication_id` and the quotas asked for (spec/mixer-api.md §1.4).
//! `global_word_count` is checked before the attributes are decoded, as Mixer does.

use super::attributes::AttributesDecoder;
use super::error::{DecodeError, FieldPath};
use crate::bag::Bag;
use crate::vocabulary::Vocabulary;
use crate::wire::{Reader, WireError};

/// `CheckRequest.QuotaParams` with the quota's name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QuotaParams<'a> {
    pub name: &'a str,
    pub amount: i64,
    pub best_effort: bool,
}

/// A decoded `CheckRequest`.
#[derive(Debug)]
pub struct CheckRequestView<'a> {
    bag: Bag<'a>,
    global_word_count: u32,
    deduplication_id: &'a str,
    quotas: Vec<QuotaParams<'a>>,
}

const TOP: FieldPath = FieldPath::new("CheckRequest", None);

/// Words of its own a `CheckRequest` is expected to carry at most: an Istio proxy's inbound
/// Check has ~25 (values and names outside the global dictionary). Reserved up front, since
/// growing two lists from empty was six reallocations per Check — ~15 % of a decision-cache
/// hit's instructions.
const CHECK_WORDS: usize = 48;

impl<'a> CheckRequestView<'a> {
    pub fn parse(
        bytes: &'a [u8],
        vocab: &'a Vocabulary,
    ) -> Result<CheckRequestView<'a>, DecodeError> {
        CheckRequestView::parse_reusing(bytes, Bag::new(vocab))
    }

    /// Like [`parse`](Self::parse), reusing the buffers of an earlier bag.
    pub fn parse_reusing(
        bytes: &'a [u8],
        mut bag: Bag<'a>,
    ) -> Result<CheckRequestView<'a>, DecodeError> {
        bag.clear();
        // a message field sent twice is merged, as protobuf does: decode the parts as one
        let mut parts: Vec<&'a [u8]> = Vec::with_capacity(1);
        let mut view = CheckRequestView {
            bag,
            global_word_count: 0,
            deduplication_id: "",
            quotas: Vec::new(),
        };
        for field in Reader::new(bytes) {
            let field = field.map_err(DecodeError::malformed(TOP))?;
            match field.number {
                1 => parts.push(
                    field
                        .bytes()
                        .map_err(DecodeError::malformed(TOP.field(".attributes")))?,
                ),
                2 => {
                    let path = TOP.field(".global_word_count");
                    view.global_word_count =
                        field.varint().map_err(DecodeError::malformed(path))? as u32;
                }
                3 => {
                    let path = TOP.field(".deduplication_id");
                    let raw = field.bytes().map_err(DecodeError::malformed(path))?;
                    view.deduplication_id =
                        std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8 { path })?;
                }
                4 => {
                    let path = TOP.field(".quotas");
                    let raw = field.bytes().map_err(DecodeError::malformed(path))?;
                    let q = quota(raw, path)?;
                    // a map key sent twice: the last one wins
                    match view.quotas.iter_mut().find(|e| e.name == q.name) {
                        Some(e) => *e = q,
                        None => view.quotas.push(q),
                    }
                }
                _ => {}
            }
        }
        DecodeError::check_word_count(view.global_word_count)?;
        let path = FieldPath::new("CheckRequest.attributes", None);
        let mut decoder = AttributesDecoder::with_word_capacity(CHECK_WORDS);
        decoder.merge_into(&parts, &mut view.bag, 0, path)?;
        Ok(view)
    }

    pub fn attributes(&self) -> &Bag<'a> {
        &self.bag
    }

    pub fn global_word_count(&self) -> u32 {
        self.global_word_count
    }

    pub fn deduplication_id(&self) -> &'a str {
        self.deduplication_id
    }

    /// Quotas in the order first asked for.
    pub fn quotas(&self) -> &[QuotaParams<'a>] {
        &self.quotas
    }

    /// The bag, for reuse with the next request ([`Bag::recycle`]).
    pub fn into_bag(self) -> Bag<'a> {
        self.bag
    }
}

/// One `quotas` map entry: name (1) → `QuotaParams { amount = 1, best_effort = 2 }` (2).
fn quota(entry: &[u8], path: FieldPath) -> Result<QuotaParams<'_>, DecodeError> {
    let bad = DecodeError::malformed(path);
    let mut q = QuotaParams {
        name: "",
        amount: 0,
        best_effort: false,
    };
    for field in Reader::new(entry) {
        let field = field.map_err(&bad)?;
        match field.number {
            1 => {
                let raw = field.bytes().map_err(&bad)?;
                q.name = std::str::from_utf8(raw).map_err(|_| DecodeError::InvalidUtf8 { path })?;
            }
            2 => {
                let (amount, best_effort) = params(field.bytes().map_err(&bad)?).map_err(&bad)?;
                q.amount = amount;
                q.best_effort = best_effort;
            }
            _ => {}
        }
    }
    Ok(q)
}

fn params(body: &[u8]) -> Result<(i64, bool), WireError> {
    let (mut amount, mut best_effort) = (0, false);
    for field in Reader::new(body) {
        let field = field?;
        match field.number {
            1 => amount = field.int64()?,
            2 => best_effort = field.bool()?,
            _ => {}
        }
    }
    Ok((amount, best_effort))
}
