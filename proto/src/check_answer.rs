//! A Check answer as a server sends it: a [`CheckResponse`] built for the call, or a
//! precondition encoded once beforehand and shared (the policy service's cached answers) with
//! the call's own `valid_duration` written in. Both go on the wire as exactly the bytes prost
//! writes for the same `CheckResponse`, so a client cannot tell them apart; a cached answer
//! costs a reference count instead of a copy of its strings.

use crate::mixer::check_response::PreconditionResult;
use crate::mixer::CheckResponse;
use prost::bytes::BufMut;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, message, WireType};
use prost::Message;
use std::sync::Arc;

/// `CheckResponse.precondition`'s field number.
const PRECONDITION: u32 = 2;
/// `PreconditionResult.valid_duration`'s field number.
const VALID_DURATION: u32 = 2;

/// What a Check call answers (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub enum CheckAnswer {
    /// Boxed: a hit's answer moves through the handler as a few words, not 260 bytes.
    Message(Box<CheckResponse>),
    /// A response with this precondition and no quotas.
    Encoded(EncodedPrecondition),
}

/// A `PreconditionResult` kept encoded: every field but `valid_duration`, shared, plus this
/// answer's `valid_duration`.
#[derive(Clone, Debug, PartialEq)]
pub struct EncodedPrecondition {
    fields: Arc<Fields>,
    valid_duration: Option<prost_types::Duration>,
}

#[derive(Debug, PartialEq)]
struct Fields {
    /// The fields in prost's order without `valid_duration`: `status` is `bytes[..split]`,
    /// the fields after `valid_duration` are `bytes[split..]`.
    bytes: Box<[u8]>,
    split: usize,
    status_code: i32,
}

impl EncodedPrecondition {
    pub fn new(p: &PreconditionResult) -> EncodedPrecondition {
        let rest = PreconditionResult {
            valid_duration: None,
            ..p.clone()
        };
        let split = p.status.as_ref().map_or(0, |s| message::encoded_len(1, s));
        EncodedPrecondition {
            fields: Arc::new(Fields {
                bytes: rest.encode_to_vec().into_boxed_slice(),
                split,
                status_code: p.status.as_ref().map_or(0, |s| s.code),
            }),
            valid_duration: p.valid_duration,
        }
    }

    /// The same precondition with `valid_duration` = `d`; shares the encoded fields.
    pub fn with_valid_duration(&self, d: Option<prost_types::Duration>) -> EncodedPrecondition {
        EncodedPrecondition {
            fields: self.fields.clone(),
            valid_duration: d,
        }
    }

    /// `status.code` (0 when there is no status).
    pub fn status_code(&self) -> i32 {
        self.fields.status_code
    }

    /// The precondition as a message (decodes the shared bytes).
    pub fn to_precondition(&self) -> PreconditionResult {
        // the bytes are prost's own encoding of a PreconditionResult
        let mut p = PreconditionResult::decode(&self.fields.bytes[..]).unwrap_or_default();
        p.valid_duration = self.valid_duration;
        p
    }

    fn encoded_len(&self) -> usize {
        self.fields.bytes.len()
            + self
                .valid_duration
                .as_ref()
                .map_or(0, |d| message::encoded_len(VALID_DURATION, d))
    }

    fn encode_raw(&self, buf: &mut impl BufMut) {
        let (status, rest) = self.fields.bytes.split_at(self.fields.split);
        buf.put_slice(status);
        if let Some(d) = &self.valid_duration {
            message::encode(VALID_DURATION, d, buf);
        }
        buf.put_slice(rest);
    }
}

impl CheckAnswer {
    /// `precondition.status.code` (0 when there is none).
    pub fn status_code(&self) -> i32 {
        match self {
            CheckAnswer::Message(r) => r
                .precondition
                .as_ref()
                .and_then(|p| p.status.as_ref())
                .map_or(0, |s| s.code),
            CheckAnswer::Encoded(p) => p.status_code(),
        }
    }

    /// The answer as a message.
    pub fn into_response(self) -> CheckResponse {
        match self {
            CheckAnswer::Message(r) => *r,
            CheckAnswer::Encoded(p) => CheckResponse {
                precondition: Some(p.to_precondition()),
                quotas: Default::default(),
            },
        }
    }

    /// The length of [`CheckAnswer::encode_raw`]'s output.
    pub fn encoded_len(&self) -> usize {
        match self {
            CheckAnswer::Message(r) => r.encoded_len(),
            CheckAnswer::Encoded(p) => {
                let len = p.encoded_len();
                1 + encoded_len_varint(len as u64) + len
            }
        }
    }

    /// Writes the `CheckResponse` bytes; `buf` must have room for
    /// [`CheckAnswer::encoded_len`] bytes.
    pub fn encode_raw(&self, buf: &mut impl BufMut) {
        match self {
            CheckAnswer::Message(r) => r.encode_raw(buf),
            CheckAnswer::Encoded(p) => {
                encode_key(PRECONDITION, WireType::LengthDelimited, buf);
                encode_varint(p.encoded_len() as u64, buf);
                p.encode_raw(buf);
            }
        }
    }

    pub fn encode_to_vec(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.encoded_len());
        self.encode_raw(&mut buf);
        buf
    }
}

impl From<CheckResponse> for CheckAnswer {
    fn from(r: CheckResponse) -> CheckAnswer {
        CheckAnswer::Message(Box::new(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::google::rpc::Status;
    use crate::mixer::referenced_attributes::AttributeMatch;
    use crate::mixer::{ReferencedAttributes, RouteDirective};

    fn preconditions() -> Vec<PreconditionResult> {
        let full = PreconditionResult {
            status: Some(Status {
                code: 7,
                message: "denier:Not allowed".into(),
                details: vec![],
            }),
            valid_duration: Some(prost_types::Duration {
                seconds: 300,
                nanos: 5,
            }),
            valid_use_count: 10_000,
            referenced_attributes: Some(ReferencedAttributes {
                words: vec!["app".into(), "version".into()],
                attribute_matches: vec![AttributeMatch {
                    name: 31,
                    condition: 2,
                    regex: String::new(),
                    map_key: -1,
                }],
            }),
            route_directive: Some(RouteDirective {
                direct_response_code: 403,
                ..Default::default()
            }),
        };
        vec![
            full.clone(),
            PreconditionResult {
                status: None,
                route_directive: None,
                ..full.clone()
            },
            PreconditionResult {
                valid_duration: None,
                referenced_attributes: None,
                ..full.clone()
            },
            PreconditionResult {
                status: Some(Status::default()),
                ..full
            },
            PreconditionResult::default(),
        ]
    }

    #[test]
    fn encodes_as_prost_encodes_the_response() {
        let durations = [
            None,
            Some(prost_types::Duration {
                seconds: 0,
                nanos: 0,
            }),
            Some(prost_types::Duration {
                seconds: 299,
                nanos: 999_999_999,
            }),
        ];
        for p in preconditions() {
            let encoded = EncodedPrecondition::new(&p);
            let as_is = CheckAnswer::Encoded(encoded.clone());
            let message = CheckResponse {
                precondition: Some(p.clone()),
                quotas: Default::default(),
            };
            assert_eq!(as_is.encode_to_vec(), message.encode_to_vec(), "{p:?}");
            assert_eq!(as_is.encoded_len(), message.encoded_len());
            assert_eq!(as_is.clone().into_response(), message);
            assert_eq!(as_is.status_code(), p.status.as_ref().map_or(0, |s| s.code));
            for d in durations {
                let answer = CheckAnswer::Encoded(encoded.with_valid_duration(d));
                let message = CheckResponse {
                    precondition: Some(PreconditionResult {
                        valid_duration: d,
                        ..p.clone()
                    }),
                    quotas: Default::default(),
                };
                assert_eq!(answer.encode_to_vec(), message.encode_to_vec());
                assert_eq!(answer.encoded_len(), message.encoded_len());
                assert_eq!(answer.into_response(), message);
            }
        }
    }

    #[test]
    fn a_message_encodes_as_itself() {
        let r = CheckResponse {
            precondition: preconditions().into_iter().next(),
            quotas: Default::default(),
        };
        let answer = CheckAnswer::from(r.clone());
        assert_eq!(answer.encode_to_vec(), r.encode_to_vec());
        assert_eq!(answer.status_code(), 7);
        assert_eq!(answer.into_response(), r);
    }
}
