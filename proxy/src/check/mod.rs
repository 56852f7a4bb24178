//! The policy Check, as Istio's sidecar makes it (spec/mixer-api.md §1.4–1.7, §8.2–8.3): the
//! request's bag is looked up in the check cache ([`cache`]) and, on a miss, sent to the
//! policy service ([`transport`]) with the full global dictionary, a deduplication id (one
//! UUID per client plus a counter) and a deadline, retried with backoff on transport errors.
//! When the service cannot answer, the network fail policy decides: fail-open (Istio's client
//! default) allows, fail-closed denies with the transport status (UNAVAILABLE → 503). The
//! result is a [`Decision`]: a status (OK allows; any other code is answered with its HTTP
//! status and `CODE:message`, [`status`]) and an optional route directive ([`directive`]).
//! A cached answer running out is refreshed in the background by the request that finds it
//! ([`cache::Hit::refresh`]), so steady traffic does not wait on the service.
//! At most `max_requests` calls are in flight: a miss beyond them waits for a slot, within
//! the call deadline, and looks the cache up again before calling, so a cold cache under many
//! concurrent requests costs a few calls (and their memory), not one per request.
//!
//! Quotas (`CheckOptions::quotas`): a cached denial answers at once and asks for none. A
//! request whose precondition is cached and allows takes its quotas from the quota cache
//! ([`quota`], with Istio's prefetch, [`prefetch`]) without a call; an entry running low
//! asks the service for more in the background (`best_effort = true`, holding a call slot;
//! a request finding nothing left is let through on an advance while it is out). Every other checked request — a miss, or any request with
//! the quota cache off (`quota_cache_entries` 0, Istio's `disable_quota_cache`) — asks for
//! its quotas with its Check, `best_effort = false`. A quota granted nothing denies the
//! request with RESOURCE_EXHAUSTED "Quota is exhausted for: NAME" (429); a quota passes when
//! the call failed, its status is UNAVAILABLE, or anything was granted. A refresh of the
//! check cache asks for no quota.

pub mod cache;
pub mod directive;
mod lru;
pub mod prefetch;
pub mod quota;
pub mod status;
pub mod transport;

pub use cache::{code, CheckCache, Decision, Hit, NotCached};
pub use quota::QuotaCache;
pub use transport::{CallError, CheckFn};

use crate::config::{CheckOptions, Direction};
use crate::headers::uuid_v4;
use crate::metrics::{CheckResult, ProxyMetrics};
use crate::report::backoff;
use bytes::Bytes;
use mixer_attributes::decode::QuotaParams;
use mixer_attributes::dictionary::GLOBAL_WORD_COUNT;
use mixer_attributes::encode::encode_check_request;
use mixer_attributes::LayeredBag;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Instant;
use tokio::sync::{Semaphore, SemaphorePermit};

/// What the request path learns from a check.
#[derive(Clone, Debug)]
pub struct Verdict {
    pub decision: Arc<Decision>,
    /// Answered from the check cache (`check.cache_hit`).
    pub cache_hit: bool,
    /// Quotas were asked for (the bag then says `quota.cache_hit`).
    pub quotas: bool,
    /// The quotas were answered from the quota cache (`quota.cache_hit`).
    pub quota_cache_hit: bool,
}

/// The sidecar's Check client: shared by every request.
#[derive(Debug)]
pub struct Checker {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    opts: CheckOptions,
    cache: CheckCache,
    /// `None` when off or no quota is configured.
    quotas: Option<QuotaCache>,
    call: CheckFnDebug,
    dedup_base: String,
    dedup_next: AtomicU64,
    /// `max_requests` permits: one per Check call in flight.
    slots: Semaphore,
    metrics: Arc<ProxyMetrics>,
}

/// [`CheckFn`] with a `Debug` that names it.
struct CheckFnDebug(CheckFn);

impl std::fmt::Debug for CheckFnDebug {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CheckFn")
    }
}

impl Checker {
    /// A checker calling the policy service through `call`.
    pub fn new(opts: CheckOptions, call: CheckFn, metrics: Arc<ProxyMetrics>) -> Checker {
        Checker {
            inner: Arc::new(Inner {
                cache: CheckCache::new(opts.cache_entries),
                quotas: (opts.quota_cache_entries > 0 && !opts.quotas.is_empty())
                    .then(|| QuotaCache::new(&opts.quotas, opts.quota_cache_entries)),
                call: CheckFnDebug(call),
                dedup_base: uuid_v4(),
                dedup_next: AtomicU64::new(0),
                slots: Semaphore::new(opts.max_requests.max(1)),
                metrics,
                opts,
            }),
        }
    }

    /// A checker over gRPC to `opts.policy`; `None` when no policy service is configured.
    pub fn grpc(
        opts: &CheckOptions,
        metrics: Arc<ProxyMetrics>,
    ) -> Result<Option<Checker>, String> {
        let Some(uri) = &opts.policy else {
            return Ok(None);
        };
        let call = transport::grpc(uri, opts.timeout)?;
        Ok(Some(Checker::new(opts.clone(), call, metrics)))
    }

    pub fn cache(&self) -> &CheckCache {
        &self.inner.cache
    }

    /// The quota cache, when on and quotas are configured.
    pub fn quota_cache(&self) -> Option<&QuotaCache> {
        self.inner.quotas.as_ref()
    }

    /// Whether a request on `dir` for `url_path` is checked: inbound always, outbound when
    /// client-side checks are on; never for a path under a disabled prefix.
    pub fn applies(&self, dir: Direction, url_path: &str) -> bool {
        let on = match dir {
            Direction::Inbound => true,
            Direction::Outbound => self.inner.opts.outbound,
        };
        on && !self
            .inner
            .opts
            .skip_paths
            .iter()
            .any(|p| url_path.starts_with(p.as_str()))
    }

    /// Checks `bag`: from the cache, else by calling the policy service; quotas always call.
    pub async fn check(&self, bag: &LayeredBag) -> Verdict {
        let me = &self.inner;
        let quotas = !me.opts.quotas.is_empty();
        if let Some(hit) = me.cache.find(bag, Instant::now()) {
            return self.answer_hit(bag, hit, quotas).await;
        }
        // a miss: wait for a call slot, then look again (a call that held it may have
        // brought the answer)
        let slot = me.slot().await;
        if slot.is_ok() {
            if let Some(hit) = me.cache.find(bag, Instant::now()) {
                drop(slot);
                return self.answer_hit(bag, hit, quotas).await;
            }
        }
        if me.cache.is_enabled() {
            me.metrics.check_cache_misses.inc();
        }
        if quotas && me.quotas.is_some() {
            me.metrics.quota_cache_misses.inc();
        }
        let answer = match slot {
            Ok(_slot) => me.call(bag, &me.all_quotas(quotas)).await,
            Err(e) => Err(e),
        };
        let decision = me.decide(bag, answer);
        Verdict {
            decision,
            cache_hit: false,
            quotas,
            quota_cache_hit: false,
        }
    }

    /// The verdict of a cache hit: the cached decision, after the quotas when there are any
    /// and it allows — from the quota cache, or else by a call.
    async fn answer_hit(&self, bag: &LayeredBag, hit: Hit, quotas: bool) -> Verdict {
        let me = &self.inner;
        me.metrics.check_cache_hits.inc();
        if hit.refresh {
            self.refresh(bag);
        }
        let mut quota_cache_hit = false;
        let decision = match &me.quotas {
            _ if !quotas || !hit.decision.is_ok() => hit.decision,
            Some(cache) => {
                let answer = cache.check(bag, hit.decision, Instant::now());
                me.metrics.quota_cache_hits.inc();
                quota_cache_hit = true;
                if !answer.tickets.is_empty() {
                    self.prefetch(bag, answer.tickets);
                }
                answer.decision
            }
            None => {
                // the precondition is cached; the quotas are not
                let answer = me.call_in_slot(bag, &me.all_quotas(true)).await;
                me.with_quotas(hit.decision, answer.as_ref().ok())
            }
        };
        me.metrics.check_result(result_of(&decision));
        Verdict {
            decision,
            cache_hit: true,
            quotas,
            quota_cache_hit,
        }
    }

    /// Sends the quota cache's asks in the background, in one Check call for `bag` holding a
    /// call slot; the answer goes back to the entries. A call that could not be made or
    /// failed counts as granted in full (the quota cache fails open, as Istio's does).
    fn prefetch(&self, bag: &LayeredBag, tickets: Vec<quota::Ticket>) {
        let me = self.inner.clone();
        let Some(cache) = &me.quotas else {
            return;
        };
        me.metrics.quota_prefetches.inc();
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            cache.answered(tickets, bag, None, Instant::now());
            return;
        };
        let bag = bag.clone();
        rt.spawn(async move {
            let Some(cache) = &me.quotas else {
                return;
            };
            let answer = me.call_in_slot(&bag, &cache.asked(&tickets)).await;
            if let Err(e) = &answer {
                tracing::debug!(code = e.code, message = %e.message, "quota prefetch failed");
            }
            cache.answered(tickets, &bag, answer.as_ref().ok(), Instant::now());
        });
    }

    /// Checks `bag` again in the background; its answer replaces the cached one. A failed
    /// refresh changes nothing: the cached answer runs out and requests miss as before.
    fn refresh(&self, bag: &LayeredBag) {
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            return;
        };
        let me = self.inner.clone();
        let bag = bag.clone();
        me.metrics.check_refreshes.inc();
        rt.spawn(async move {
            let answer = me.call_in_slot(&bag, &[]).await;
            match answer {
                Ok(response) => {
                    me.store(&bag, &response);
                }
                Err(e) => {
                    tracing::debug!(code = e.code, message = %e.message, "check refresh failed")
                }
            }
        });
    }
}

impl Inner {
    /// One of the `max_requests` call slots, waited for within the call deadline; a call is
    /// made while holding one. None free in time is a transient UNAVAILABLE, which the fail
    /// policy decides like any other failed call.
    async fn slot(&self) -> Result<SemaphorePermit<'_>, CallError> {
        let wait = tokio::time::timeout(self.opts.timeout, self.slots.acquire());
        match wait.await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                self.metrics.check_slot_timeouts.inc();
                Err(CallError {
                    code: code::UNAVAILABLE,
                    message: format!(
                        "no Check call slot free within {:?} (--policy-max-requests {})",
                        self.opts.timeout, self.opts.max_requests
                    ),
                    transient: true,
                })
            }
        }
    }

    /// Every configured quota at its charge, not best effort, when `quotas`; else none.
    fn all_quotas(&self, quotas: bool) -> Vec<QuotaParams<'_>> {
        match quotas {
            true => self
                .opts
                .quotas
                .iter()
                .map(|(name, charge)| QuotaParams {
                    name,
                    amount: *charge,
                    best_effort: false,
                })
                .collect(),
            false => Vec::new(),
        }
    }

    /// [`Inner::call`] in a slot waited for first; no slot in time is the call's failure.
    async fn call_in_slot(
        &self,
        bag: &LayeredBag,
        asked: &[QuotaParams<'_>],
    ) -> Result<mixer_proto::mixer::CheckResponse, CallError> {
        let _slot = self.slot().await?;
        self.call(bag, asked).await
    }

    /// One Check call for `bag` (retries included), timed, asking for the quotas `asked`.
    /// The caller holds a slot ([`Inner::slot`]).
    async fn call(
        &self,
        bag: &LayeredBag,
        asked: &[QuotaParams<'_>],
    ) -> Result<mixer_proto::mixer::CheckResponse, CallError> {
        let dedup = format!(
            "{}{}",
            self.dedup_base,
            self.dedup_next.fetch_add(1, Relaxed)
        );
        let request = Bytes::from(encode_check_request(
            bag.iter(),
            GLOBAL_WORD_COUNT,
            &dedup,
            asked,
        ));
        let started = Instant::now();
        let answer = self.call_with_retries(request).await;
        self.metrics
            .check_duration
            .observe(started.elapsed().as_secs_f64());
        answer
    }

    /// The decision of a received answer, cached when it can be.
    fn store(
        &self,
        bag: &LayeredBag,
        response: &mixer_proto::mixer::CheckResponse,
    ) -> Arc<Decision> {
        let decision = Arc::new(Decision::from_response(response, !self.opts.fail_closed));
        if let Some(p) = &response.precondition {
            if let Err(e) = self.cache.insert(bag, p, decision.clone(), Instant::now()) {
                tracing::debug!(reason = %e, "check answer not cached");
            }
        }
        decision
    }

    /// The request's decision from the call's outcome, after the fail policy.
    fn decide(
        &self,
        bag: &LayeredBag,
        answer: Result<mixer_proto::mixer::CheckResponse, CallError>,
    ) -> Arc<Decision> {
        match answer {
            Ok(response) => {
                let decision = self.store(bag, &response);
                let decision = self.with_quotas(decision, Some(&response));
                self.metrics.check_result(result_of(&decision));
                decision
            }
            Err(e) if self.opts.fail_closed => {
                self.metrics.check_result(CheckResult::Error);
                Arc::new(Decision::denied(e.code, e.message))
            }
            Err(e) => {
                // One warning per 100 failures: this is the request path.
                if self
                    .metrics
                    .checks(CheckResult::FailedOpen)
                    .is_multiple_of(100)
                {
                    tracing::warn!(code = e.code, message = %e.message, "policy check failed; failing open");
                }
                self.metrics.check_result(CheckResult::FailedOpen);
                Arc::new(Decision::ok())
            }
        }
    }

    /// `decision`, unless it allows and a configured quota in `response` was granted nothing
    /// (spec §8.2: a quota passes on a failed call, an UNAVAILABLE status, or any grant).
    fn with_quotas(
        &self,
        decision: Arc<Decision>,
        response: Option<&mixer_proto::mixer::CheckResponse>,
    ) -> Arc<Decision> {
        let Some(response) = response.filter(|_| decision.is_ok()) else {
            return decision;
        };
        let exhausted = self.opts.quotas.iter().find(|(name, _)| {
            response.quotas.get(name).is_some_and(|q| {
                q.granted_amount <= 0
                    && q.status
                        .as_ref()
                        .is_none_or(|s| s.code != code::UNAVAILABLE)
            })
        });
        match exhausted {
            Some((name, _)) => Arc::new(Decision::denied(
                code::RESOURCE_EXHAUSTED,
                format!("Quota is exhausted for: {name}"),
            )),
            None => decision,
        }
    }

    /// Calls the service, retrying transient failures `retries` times with backoff
    /// (uniform in [base, min(max, base × 2^attempt)], spec §8.2); the dedup id stays.
    async fn call_with_retries(
        &self,
        request: Bytes,
    ) -> Result<mixer_proto::mixer::CheckResponse, CallError> {
        let mut attempt = 0u32;
        loop {
            match (self.call.0)(request.clone()).await {
                Err(e) if e.transient && attempt < self.opts.retries => {
                    attempt += 1;
                    self.metrics.check_retries.inc();
                    let wait = backoff(self.opts.retry_base, self.opts.retry_max, attempt);
                    tokio::time::sleep(wait).await;
                }
                answer => return answer,
            }
        }
    }
}

fn result_of(d: &Decision) -> CheckResult {
    if d.is_ok() {
        CheckResult::Ok
    } else {
        CheckResult::Denied
    }
}

#[cfg(test)]
mod tests;
