//! Attribute values and bags, the global dictionary, the compressed-bag codec of
//! `istio.mixer.v1` and the Mixer expression language. Everything a sidecar or a Mixer service
//! does *to* attributes lives here; nothing here does I/O or needs a runtime, so every piece is
//! tested with properties and fuzzed.
//!
//! - [`value`]: the twelve value types and the borrowed [`Value`] a bag hands out;
//! - [`dictionary`] and [`vocabulary`]: the 222 global words and the attribute manifest, with
//!   names resolved once to [`AttrId`]s;
//! - [`OwnedBag`]: a bag built in memory.

pub mod access;
pub mod dictionary;
pub mod owned_bag;
pub mod value;
pub mod vocabulary;

pub use access::{AttrRef, Attributes};
pub use owned_bag::OwnedBag;
pub use value::{Duration, OwnedValue, StringMapRef, Timestamp, Value, ValueType, WireKind};
pub use vocabulary::{AttrId, Vocabulary, VocabularyError};
