//! What can go wrong decoding a request, and what to answer the caller when it does.

use crate::dictionary::GLOBAL_WORD_COUNT;
use crate::wire::WireError;
use std::fmt;

/// Where in a request a problem sits, e.g. `ReportRequest.attributes[3].strings`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldPath {
    /// The message, or the repeated field, the problem is in.
    pub prefix: &'static str,
    /// The element of a repeated field (the attribute set of a report).
    pub index: Option<u32>,
    /// The field inside it, with a leading dot (may be empty).
    pub field: &'static str,
}

impl FieldPath {
    pub(crate) const fn new(prefix: &'static str, index: Option<u32>) -> FieldPath {
        FieldPath {
            prefix,
            index,
            field: "",
        }
    }

    pub(crate) const fn field(self, field: &'static str) -> FieldPath {
        FieldPath { field, ..self }
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix)?;
        if let Some(i) = self.index {
            write!(f, "[{i}]")?;
        }
        f.write_str(self.field)
    }
}

/// Why a request could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The bytes are not valid protobuf for the message (truncated, bad varint, wrong wire type
    /// for a known field).
    #[error("malformed protobuf at {path}: {source}")]
    Malformed { path: FieldPath, source: WireError },
    /// A word (or map key, or quota name) is not UTF-8.
    #[error("invalid utf-8 in {path}")]
    InvalidUtf8 { path: FieldPath },
    /// An index outside the global dictionary or the message's word list (Mixer's wording).
    #[error("attribute index {0} is not defined in the available dictionaries")]
    UnknownIndex(i32),
    /// The same attribute twice in one attribute set (Mixer's wording; `kind` is the Go type
    /// Mixer prints: `string`, `int64`, `float64`, `bool`, `time.Time`, `time.Duration`,
    /// `[]uint8`, `attribute.StringMap`).
    #[error("duplicate attribute {name} (type {kind})")]
    Duplicate { name: String, kind: &'static str },
    /// The caller's `global_word_count` is larger than our dictionary (spec §1.10).
    #[error(
        "inconsistent global dictionary versions used: mixer knows {known} words, caller knows {caller}"
    )]
    DictionaryMismatch { known: usize, caller: u32 },
}

impl DecodeError {
    pub(crate) fn malformed(path: FieldPath) -> impl Fn(WireError) -> DecodeError {
        move |source| DecodeError::Malformed { path, source }
    }

    pub(crate) fn check_word_count(caller: u32) -> Result<(), DecodeError> {
        if caller as usize > GLOBAL_WORD_COUNT {
            return Err(DecodeError::DictionaryMismatch {
                known: GLOBAL_WORD_COUNT,
                caller,
            });
        }
        Ok(())
    }

    /// The `google.rpc.Code` to fail the call with: INTERNAL (13) for a dictionary mismatch,
    /// as Mixer does; INVALID_ARGUMENT (3) for anything wrong with the attributes.
    ///
    /// Why INVALID_ARGUMENT: an Istio proxy that gets INVALID_ARGUMENT with a message starting
    /// "Request could not be processed due to invalid" shrinks its global dictionary to the
    /// 111-word base every version shares and re-encodes (spec §2). A bad index is most likely
    /// such a dictionary disagreement, so that is exactly the recovery we want; answer with
    /// [`DecodeError::status_message`]. (Go Mixer answers UNKNOWN with a lower-case "request",
    /// which never triggers the fallback.)
    pub fn grpc_code(&self) -> i32 {
        match self {
            DecodeError::DictionaryMismatch { .. } => 13,
            _ => 3,
        }
    }

    /// The status message to answer with: the error itself for a dictionary mismatch, else
    /// [`invalid_attributes_message`].
    pub fn status_message(&self) -> String {
        match self {
            DecodeError::DictionaryMismatch { .. } => self.to_string(),
            _ => invalid_attributes_message(self),
        }
    }
}

/// `Request could not be processed due to invalid attributes: {err}`: the INVALID_ARGUMENT
/// message that makes an Istio proxy fall back to its base dictionary (see
/// [`DecodeError::grpc_code`]).
pub fn invalid_attributes_message(err: &DecodeError) -> String {
    format!("Request could not be processed due to invalid attributes: {err}")
}
