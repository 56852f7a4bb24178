//! Check traffic for the policy benchmark: a pool of encoded `CheckRequest`s, each the bag an
//! inbound sidecar sends before forwarding an Istio-like request ([`BagGenerator::next_check_bag`]),
//! replayed by the load loop as [`CheckCalls`] in one of two modes:
//!
//! - [`CheckMode::Cached`]: the pool is replayed as it is. The bags differ, but only in a few
//!   hundred combinations of what the rules read (workload pair, path, method), so once each
//!   request has been answered once, every Check is a decision-cache hit. No quota is asked
//!   for: a Check asking for one bypasses the cache.
//! - [`CheckMode::Uncached`]: every call gets a unique request path (`/<app>/<n>/<token>`,
//!   read by the rbac rule) and a unique deduplication id, stamped into a copy of the encoded
//!   request just before it is sent, so no two calls agree on the attributes a decision reads
//!   and the cache never hits; by default each call also asks for one unit of a quota, so the
//!   quota rule runs too (and the cache is bypassed outright).
//!
//! Answers are read as a proxy reads them: a non-OK precondition, or a quota granted less than
//! asked, is a denial.

use crate::bags::{BagGenerator, BagShape};
use crate::load::{Answer, Calls};
use bytes::{Bytes, BytesMut};
use mixer_attributes::decode::QuotaParams;
use mixer_attributes::dictionary::GLOBAL_WORD_COUNT;
use mixer_attributes::encode::encode_check_request;
use mixer_attributes::OwnedValue;
use mixer_proto::mixer::CheckResponse;

/// Whether the decision cache can answer the traffic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CheckMode {
    /// A small pool replayed: after warm-up every Check is a cache hit.
    Cached,
    /// Every Check differs in an attribute the rules read (and asks for a quota).
    Uncached,
}

/// What the generated Check traffic looks like.
#[derive(Clone, Debug)]
pub struct CheckTraffic {
    pub shape: BagShape,
    /// Distinct encoded requests.
    pub pool: usize,
    pub mode: CheckMode,
    /// A quota to ask one unit of with every Check (uncached mode only).
    pub quota: Option<String>,
    /// Where the per-call tokens of uncached mode start: runs against the same server should
    /// use bases further apart than the calls they make (e.g. the wall clock in nanoseconds),
    /// so no run repeats a request of an earlier one.
    pub token_base: u64,
}

/// Why the traffic cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum TrafficError {
    #[error("a quota bypasses the decision cache, so cached mode asks for none (drop --quota)")]
    QuotaInCachedMode,
    #[error("the request path was not found in the encoded request; cannot stamp it")]
    NoStamp,
}

/// Length of the per-call token (hex digits of a u64).
const TOKEN_LEN: usize = 16;

/// One encoded request, and where a per-call token goes in it (uncached mode).
#[derive(Debug)]
struct Template {
    bytes: Bytes,
    /// Offsets of the `TOKEN_LEN`-byte placeholder (the request path's word, the dedup id).
    stamps: Vec<usize>,
}

/// The Check calls of a run.
#[derive(Debug)]
pub struct CheckCalls {
    pool: Vec<Template>,
    quota: Option<String>,
    token_base: u64,
    attributes_per_bag: usize,
}

impl CheckCalls {
    pub fn new(traffic: CheckTraffic) -> Result<CheckCalls, TrafficError> {
        let uncached = traffic.mode == CheckMode::Uncached;
        if !uncached && traffic.quota.is_some() {
            return Err(TrafficError::QuotaInCachedMode);
        }
        let quotas: Vec<QuotaParams<'_>> = traffic
            .quota
            .iter()
            .map(|name| QuotaParams {
                name,
                amount: 1,
                best_effort: false,
            })
            .collect();
        let mut generator = BagGenerator::new(traffic.shape.clone());
        let mut attributes_per_bag = 0;
        let mut pool = Vec::with_capacity(traffic.pool.max(1));
        for i in 0..traffic.pool.max(1) {
            let mut bag = generator.next_check_bag();
            attributes_per_bag = bag.len();
            // 'z' is no hex digit: the placeholder cannot occur elsewhere in the request
            let placeholder = format!("z{:015x}", i);
            let dedup = if uncached {
                placeholder.clone()
            } else {
                format!("{:016x}", i)
            };
            if uncached {
                let path = match bag.get_by_name("request.path") {
                    Some(OwnedValue::String(p)) => format!("{p}/{placeholder}"),
                    _ => format!("/{placeholder}"),
                };
                if let Some(OwnedValue::StringMap(headers)) = bag.get_by_name("request.headers") {
                    let mut headers = headers.clone();
                    for (k, v) in &mut headers {
                        if k == ":path" {
                            v.clone_from(&path);
                        }
                    }
                    bag.set("request.headers", OwnedValue::StringMap(headers));
                }
                bag.set("request.path", OwnedValue::String(path.clone()));
                bag.set("request.url_path", OwnedValue::String(path));
            }
            let bytes = encode_check_request(bag.iter(), GLOBAL_WORD_COUNT, &dedup, &quotas);
            let stamps = if uncached {
                let stamps = find_all(&bytes, placeholder.as_bytes());
                // the path's word and the dedup id
                if stamps.len() < 2 {
                    return Err(TrafficError::NoStamp);
                }
                stamps
            } else {
                Vec::new()
            };
            pool.push(Template {
                bytes: Bytes::from(bytes),
                stamps,
            });
        }
        Ok(CheckCalls {
            pool,
            quota: traffic.quota,
            token_base: traffic.token_base,
            attributes_per_bag,
        })
    }

    /// Attributes in each Check's bag.
    pub fn attributes_per_bag(&self) -> usize {
        self.attributes_per_bag
    }

    /// Mean encoded size of a request.
    pub fn bytes_per_request(&self) -> f64 {
        let total: usize = self.pool.iter().map(|t| t.bytes.len()).sum();
        total as f64 / self.pool.len().max(1) as f64
    }
}

fn find_all(haystack: &[u8], needle: &[u8]) -> Vec<usize> {
    haystack
        .windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

/// `n` as 16 lowercase hex digits.
fn hex(n: u64) -> [u8; TOKEN_LEN] {
    let mut out = [0u8; TOKEN_LEN];
    for (i, b) in out.iter_mut().enumerate() {
        let nibble = (n >> (60 - 4 * i)) & 0xf;
        *b = b"0123456789abcdef"[nibble as usize];
    }
    out
}

impl Calls for CheckCalls {
    type Response = CheckResponse;
    const PATH: &'static str = mixer_proto::CHECK_PATH;

    fn body(&self, n: u64) -> Bytes {
        let t = &self.pool[n as usize % self.pool.len()];
        if t.stamps.is_empty() {
            return t.bytes.clone();
        }
        let token = hex(self.token_base.wrapping_add(n));
        let mut b = BytesMut::from(&t.bytes[..]);
        for &at in &t.stamps {
            b[at..at + TOKEN_LEN].copy_from_slice(&token);
        }
        b.freeze()
    }

    fn pool_size(&self) -> usize {
        self.pool.len()
    }

    fn bags_per_call(&self) -> u64 {
        1
    }

    fn answer(&self, response: &CheckResponse) -> Answer {
        let ok = response
            .precondition
            .as_ref()
            .and_then(|p| p.status.as_ref())
            .is_some_and(|s| s.code == 0);
        let granted = self.quota.as_ref().is_none_or(|name| {
            response.quotas.get(name).is_some_and(|q| {
                q.granted_amount >= 1 && q.status.as_ref().is_none_or(|s| s.code == 0)
            })
        });
        if ok && granted {
            Answer::Ok
        } else {
            Answer::Denied
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mixer_attributes::decode::CheckRequestView;
    use mixer_attributes::Vocabulary;
    use mixer_proto::google::rpc::Status;
    use mixer_proto::mixer::check_response::{PreconditionResult, QuotaResult};
    use std::collections::HashSet;

    fn traffic(mode: CheckMode, quota: Option<&str>) -> CheckTraffic {
        CheckTraffic {
            shape: BagShape::default(),
            pool: 8,
            mode,
            quota: quota.map(str::to_owned),
            token_base: 0x1234,
        }
    }

    /// (request.path, :path header, dedup id, quotas asked) of an encoded request.
    fn read(bytes: &[u8]) -> (String, String, String, Vec<String>) {
        let view = CheckRequestView::parse(bytes, Vocabulary::builtin()).expect("decodes");
        let bag = view.attributes().to_owned_bag();
        let path = match bag.get_by_name("request.path") {
            Some(OwnedValue::String(p)) => p.clone(),
            other => panic!("request.path: {other:?}"),
        };
        let header = match bag.get_by_name("request.headers") {
            Some(OwnedValue::StringMap(m)) => {
                m.iter().find(|(k, _)| k == ":path").map(|(_, v)| v.clone())
            }
            other => panic!("request.headers: {other:?}"),
        };
        let quotas = view.quotas().iter().map(|q| q.name.to_owned()).collect();
        (
            path,
            header.unwrap_or_default(),
            view.deduplication_id().to_owned(),
            quotas,
        )
    }

    #[test]
    fn cached_mode_replays_the_pool_and_asks_no_quota() {
        let calls = CheckCalls::new(traffic(CheckMode::Cached, None)).expect("builds");
        assert_eq!(calls.pool_size(), 8);
        assert_eq!(calls.body(3), calls.body(11), "the pool cycles");
        let (path, header, _, quotas) = read(&calls.body(0));
        assert_eq!(path, header);
        assert!(quotas.is_empty());
        assert!(CheckCalls::new(traffic(CheckMode::Cached, Some("requestcount"))).is_err());
    }

    #[test]
    fn uncached_mode_makes_every_call_unique() {
        let calls =
            CheckCalls::new(traffic(CheckMode::Uncached, Some("requestcount"))).expect("builds");
        let mut paths = HashSet::new();
        let mut dedups = HashSet::new();
        for n in 0..32 {
            let (path, header, dedup, quotas) = read(&calls.body(n));
            assert_eq!(path, header, "the header says the same path");
            assert_eq!(quotas, ["requestcount"]);
            let token = format!("{:016x}", 0x1234 + n);
            assert!(path.ends_with(&format!("/{token}")), "{path}");
            assert_eq!(dedup, token);
            paths.insert(path);
            dedups.insert(dedup);
        }
        assert_eq!(paths.len(), 32);
        assert_eq!(dedups.len(), 32);
    }

    #[test]
    fn answers_are_read_as_a_proxy_reads_them() {
        let calls =
            CheckCalls::new(traffic(CheckMode::Uncached, Some("requestcount"))).expect("builds");
        let status = |code| Status {
            code,
            ..Status::default()
        };
        let answer = |code, granted: Option<i64>| CheckResponse {
            precondition: Some(PreconditionResult {
                status: Some(status(code)),
                ..PreconditionResult::default()
            }),
            quotas: granted
                .map(|g| {
                    let q = QuotaResult {
                        granted_amount: g,
                        status: Some(status(0)),
                        ..QuotaResult::default()
                    };
                    ("requestcount".to_owned(), q)
                })
                .into_iter()
                .collect(),
        };
        assert_eq!(calls.answer(&answer(0, Some(1))), Answer::Ok);
        assert_eq!(calls.answer(&answer(7, Some(1))), Answer::Denied);
        assert_eq!(calls.answer(&answer(0, Some(0))), Answer::Denied);
        assert_eq!(calls.answer(&answer(0, None)), Answer::Denied);
        let no_quota = CheckCalls::new(traffic(CheckMode::Cached, None)).expect("builds");
        assert_eq!(no_quota.answer(&answer(0, None)), Answer::Ok);
        assert_eq!(
            no_quota.answer(&CheckResponse::default()),
            Answer::Denied,
            "no precondition"
        );
    }

    #[test]
    fn hex_is_sixteen_digits() {
        assert_eq!(&hex(0x1234), b"0000000000001234");
        assert_eq!(&hex(u64::MAX), b"ffffffffffffffff");
    }
}
