//! Attribute values and bags, the global dictionary, the compressed-bag codec of
//! `istio.mixer.v1` and the Mixer expression language. Everything a sidecar or a Mixer service
//! does *to* attributes lives here; nothing here does I/O or needs a runtime, so every piece is
//! tested with properties and fuzzed.
//!
//! - [`value`]: the twelve value types and the borrowed [`Value`] a bag hands out;
//! - [`dictionary`] and [`vocabulary`]: the 222 global words and the attribute manifest, with
//!   names resolved once to [`AttrId`]s;
//! - [`OwnedBag`]: a bag built in memory; [`bag::Bag`]: a bag decoded from the wire, borrowing
//!   the request bytes;
//! - [`decode`] and [`encode`]: `CompressedAttributes`, `ReportRequest` (delta and independent)
//!   and `CheckRequest` to and from bags, reading the wire format directly ([`wire`]);
//! - [`expr`]: the expression language;
//! - [`referenced`]: referenced attributes and the decision-cache signature.

pub mod access;
pub mod bag;
pub mod decode;
pub mod dictionary;
pub mod encode;
pub mod expr;
pub mod owned_bag;
pub mod referenced;
pub mod scan;
pub mod value;
pub mod vocabulary;
pub mod wire;

pub use access::{AttrRef, Attributes};
pub use bag::Bag;
pub use owned_bag::{IndexedBag, LayeredBag, OwnedBag};
pub use value::{Duration, OwnedValue, StringMapRef, Timestamp, Value, ValueType, WireKind};
pub use vocabulary::{AttrId, Vocabulary, VocabularyError};
