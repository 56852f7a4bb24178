//! The Check engine, pure (no runtime, no I/O): one validated config with its handlers built,
//! answering `CheckRequest` bytes with a `CheckResponse` exactly as Mixer does (spec §1.10):
//!
//! 1. decode the request (a bad one is an error the caller maps to a gRPC status);
//! 2. run the check rules that apply to the bag's namespace ([`dispatch`]): each matching
//!    rule's `checknothing` / `listentry` / `authorization` instances are built and handed to
//!    their handlers;
//! 3. combine the answers ([`combine`]): first non-OK code, messages `"<handler>:<message>"`
//!    joined by `", "`, minimum `valid_duration` / `valid_use_count`, Mixer's defaults (OK,
//!    1 min, 10000) when no adapter took part;
//! 4. when the precondition is OK, allocate each quota the request asks for, with dedup id =
//!    `deduplication_id` + quota name; a quota no rule handles is granted in full for 1 min.
//!    An adapter that allocates over the network (redisquota) answers with an allocation to
//!    await: the engine returns those in [`Checked`] and the caller awaits them
//!    ([`Checked::finish`]) — the engine itself stays synchronous.
//!
//! Every attribute read — the namespace lookup, rule matches, instance fields — is recorded,
//! and the precondition (and each quota result) carries those reads as referenced attributes
//! (§1.6), EXACT or ABSENCE, never REGEX. [`Engine::check_cached`] puts the decision cache
//! ([`crate::cache`]) before step 1 for Checks that ask for no quota: the request is read
//! lazily ([`LazyCheck`]), a hit answers at once and a miss runs steps 2–3 on the lazy view;
//! only a request the lazy reader leaves alone (quotas, unusual encodings, errors) is decoded
//! in full.

mod combine;
mod dispatch;
mod pending;

#[cfg(test)]
mod tests;

pub use combine::{Combined, DEFAULT_VALID_DURATION, DEFAULT_VALID_USE_COUNT};
pub use pending::Checked;

use crate::adapters::listchecker::ListHandler;
use crate::adapters::{self, code, BuildError, Handler, Kind, QuotaAnswer, QuotaArgs, QuotaResult};
use crate::cache::Scope;
use crate::self_metrics::PolicyMetrics;
use dispatch::Rules;
use mixer_attributes::decode::{CheckRequestView, DecodeError, LazyCheck, QuotaParams};
use mixer_attributes::referenced::Referenced;
use mixer_attributes::Attributes;
use mixer_proto::mixer::check_response::{PreconditionResult, QuotaResult as WireQuota};
use mixer_proto::mixer::CheckResponse;
use mixer_rules::Config;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Why a Check call fails as an RPC (a denial is not an error: it is in the response).
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// An instance could not be built (an expression failed): Mixer answers INTERNAL.
    #[error("performing check operation failed: {0}")]
    Dispatch(String),
}

impl CheckError {
    /// The `google.rpc.Code` to fail the call with.
    pub fn grpc_code(&self) -> i32 {
        match self {
            CheckError::Decode(e) => e.grpc_code(),
            CheckError::Dispatch(_) => code::INTERNAL,
        }
    }

    pub fn status_message(&self) -> String {
        match self {
            CheckError::Decode(e) => e.status_message(),
            CheckError::Dispatch(_) => self.to_string(),
        }
    }
}

/// What a `CheckRequest` asks besides its attributes.
#[derive(Clone, Copy, Debug)]
struct Asked<'q> {
    /// The caller's `global_word_count`: referenced attributes are encoded for it.
    words: u32,
    quotas: &'q [QuotaParams<'q>],
    deduplication_id: &'q str,
}

/// A config in service: its rules compiled for Check and its handlers built.
#[derive(Debug)]
pub struct Engine {
    pub generation: u64,
    pub config: Config,
    handlers: Vec<Handler>,
    handler_names: Vec<String>,
    rules: Rules,
}

/// Converts to the wire's `google.protobuf.Duration`.
pub fn wire_duration(d: Duration) -> prost_types::Duration {
    prost_types::Duration {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: d.subsec_nanos() as i32,
    }
}

impl Engine {
    /// Builds every handler of `config`; `now` starts their clocks.
    pub fn new(config: Config, generation: u64, now: Instant) -> Result<Engine, BuildError> {
        let handlers = (0..config.handlers.len())
            .map(|i| Handler::build(&config, i, now))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Engine {
            generation,
            handler_names: config.handlers.iter().map(|h| h.name.to_string()).collect(),
            rules: Rules::new(&config),
            handlers,
            config,
        })
    }

    /// The listchecker handlers with a provider to fetch from, by name.
    pub fn list_providers(&self) -> Vec<(String, Arc<ListHandler>)> {
        self.handlers
            .iter()
            .zip(&self.handler_names)
            .filter_map(|(h, name)| match h {
                Handler::ListChecker(l) if l.provider().is_some() => {
                    Some((name.clone(), l.clone()))
                }
                _ => None,
            })
            .collect()
    }

    /// Answers one `CheckRequest`, except the quota allocations left to await in the result.
    pub fn check(
        &self,
        request: &[u8],
        now: Instant,
        metrics: &PolicyMetrics,
    ) -> Result<Checked, CheckError> {
        self.check_cached(request, now, metrics, None)
    }

    /// Answers one `CheckRequest`, through `cache` when given: a Check asking for no quota is
    /// answered from the cache when it holds a live answer for the bag, and its computed
    /// answer is stored otherwise; a Check asking for quotas bypasses the cache.
    pub fn check_cached(
        &self,
        request: &[u8],
        now: Instant,
        metrics: &PolicyMetrics,
        cache: Option<Scope<'_>>,
    ) -> Result<Checked, CheckError> {
        let vocab = &self.config.vocabulary;
        let cache = cache.filter(|c| c.cache.enabled());
        // The cached path: the request read lazily, which accepts only what the full decode
        // accepts, with the same values, and never a Check asking for quotas. A hit answers
        // at once; a miss is decided on the same lazy view. Anything the lazy reader leaves
        // alone is decoded in full below.
        if let Some(c) = cache {
            if let Some(lazy) = LazyCheck::scan(request, vocab) {
                let gwc = lazy.global_word_count();
                if let Some(hit) = c.cache.lookup(c.epoch, gwc, &lazy, now) {
                    metrics.check_cache_hits.inc();
                    return Ok(Checked::cached(hit));
                }
                metrics.check_cache_misses.inc();
                let asked = Asked {
                    words: gwc,
                    quotas: &[],
                    deduplication_id: "",
                };
                return self.decide(&lazy, asked, now, metrics, Some(c));
            }
        }
        let view = CheckRequestView::parse(request, vocab)?;
        let bag = view.attributes();
        let gwc = view.global_word_count();
        let cache = cache.filter(|_| view.quotas().is_empty());
        if let Some(c) = cache {
            if let Some(hit) = c.cache.lookup(c.epoch, gwc, bag, now) {
                metrics.check_cache_hits.inc();
                return Ok(Checked::cached(hit));
            }
            metrics.check_cache_misses.inc();
        }
        let asked = Asked {
            words: gwc,
            quotas: view.quotas(),
            deduplication_id: view.deduplication_id(),
        };
        self.decide(bag, asked, now, metrics, cache)
    }

    /// Steps 2–4 for a decoded request: `bag`'s attributes, what else it asked; stores the
    /// precondition in `cache` when given.
    fn decide<A: Attributes>(
        &self,
        bag: &A,
        asked: Asked<'_>,
        now: Instant,
        metrics: &PolicyMetrics,
        cache: Option<Scope<'_>>,
    ) -> Result<Checked, CheckError> {
        let vocab = &self.config.vocabulary;
        let gwc = asked.words;
        let mut refs = Referenced::new();
        let mut combined = Combined::default();
        let cx = dispatch::Cx {
            config: &self.config,
            rules: &self.rules,
            metrics,
        };
        cx.each_check_instance(bag, &mut refs, |handler, instance| {
            let h = &self.handlers[handler];
            let start = Instant::now();
            let r = h.check(instance, now);
            metrics.adapter_call(h.kind(), start.elapsed());
            if let Some(r) = r {
                combined.add(&self.handler_names[handler], r);
            }
        })
        .map_err(CheckError::Dispatch)?;
        let (status, valid_duration, valid_use_count) = combined.finish();
        let ok = status.code == code::OK;
        let precondition = PreconditionResult {
            status: Some(status),
            valid_duration: Some(wire_duration(valid_duration)),
            valid_use_count,
            referenced_attributes: Some(refs.encode(vocab, gwc)),
            route_directive: None,
        };
        if let Some(c) = cache {
            c.cache
                .store((c.epoch, gwc), vocab, bag, &precondition, now);
        }
        let response = CheckResponse {
            precondition: Some(precondition),
            quotas: Default::default(),
        };
        let mut checked = Checked::new(response);
        if !ok {
            return Ok(checked);
        }
        let dedup = asked.deduplication_id;
        for q in asked.quotas {
            let mut refs = Referenced::new();
            let dedup_id = if dedup.is_empty() {
                String::new()
            } else {
                format!("{dedup}{}", q.name)
            };
            let args = QuotaArgs {
                dedup_id: &dedup_id,
                amount: q.amount,
                best_effort: q.best_effort,
            };
            let mut result: Option<QuotaAnswer> = None;
            let mut also = Vec::new();
            let dispatched = cx.each_quota_instance(bag, q.name, &mut refs, |handler, instance| {
                let h = &self.handlers[handler];
                let start = Instant::now();
                let r = h.quota(instance, args, now);
                // Mixer keeps the first quota adapter's answer; the others still allocate
                match r {
                    Some(QuotaAnswer::Pending(p)) if result.is_some() => also.push(p),
                    Some(QuotaAnswer::Pending(_)) => result = r,
                    r => {
                        metrics.adapter_call(h.kind(), start.elapsed());
                        if result.is_none() {
                            result = r;
                        }
                    }
                }
            });
            let r = match (dispatched, result) {
                (Err(e), _) => QuotaResult {
                    status: adapters::status(
                        code::INTERNAL,
                        format!("performing quota alloc failed: {e}"),
                    ),
                    granted: 0,
                    valid_duration: Duration::ZERO,
                },
                (Ok(()), Some(QuotaAnswer::Ready(r))) => r,
                (Ok(()), Some(QuotaAnswer::Pending(p))) => {
                    checked.defer(q.name, q.amount, p, refs.encode(vocab, gwc), also);
                    continue;
                }
                (Ok(()), None) => QuotaResult {
                    status: adapters::status(code::OK, ""),
                    granted: q.amount,
                    valid_duration: DEFAULT_VALID_DURATION,
                },
            };
            checked.also(also);
            metrics.quota_allocation(q.amount, r.granted);
            checked.quota(
                q.name.to_owned(),
                WireQuota {
                    valid_duration: Some(wire_duration(r.valid_duration)),
                    granted_amount: r.granted,
                    referenced_attributes: Some(refs.encode(vocab, gwc)),
                    status: Some(r.status),
                },
            );
        }
        Ok(checked)
    }

    /// How many handlers of each adapter this config runs.
    pub fn handler_counts(&self) -> [(Kind, usize); Kind::ALL.len()] {
        Kind::ALL.map(|k| (k, self.handlers.iter().filter(|h| h.kind() == k).count()))
    }
}
