//! Decoding `istio.mixer.v1` requests straight from their wire bytes (no prost structs) into
//! [`Bag`](crate::bag::Bag)s that borrow the request:
//!
//! - [`AttributesDecoder`]: one `CompressedAttributes` (spec/mixer-api.md §1.3), with the index
//!   rule (≥ 0 global word, < 0 message word `-index-1`), message words resolved to
//!   [`AttrId`](crate::AttrId)s once per word list, and Mixer's duplicate-attribute check;
//! - [`ReportRequestView`]: a `ReportRequest` (§1.8), yielding each bag of a delta or
//!   independent batch in turn, against its own words or the shared `default_words`;
//! - [`CheckRequestView`]: a `CheckRequest` (§1.4) with its bag and quotas;
//! - [`LazyCheck`]: a `CheckRequest` read only as far as a decision-cache lookup needs, for
//!   the requests it reads the common way (the full decode answers the rest).
//!
//! Errors are [`DecodeError`]s; [`DecodeError::grpc_code`] and
//! [`DecodeError::status_message`] say what to answer the caller.

mod attributes;
mod check;
mod error;
mod lazy_check;
mod report;
mod words;

pub use attributes::{decode_attributes, AttributesDecoder};
pub use check::{CheckRequestView, QuotaParams};
pub use error::{invalid_attributes_message, DecodeError, FieldPath};
pub use lazy_check::LazyCheck;
pub use report::{ReportBuffers, ReportRequestView, Semantics};
pub use words::WordList;
