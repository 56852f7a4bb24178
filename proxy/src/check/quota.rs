//! The sidecar's quota cache (Istio's `QuotaOptions`, istio/proxy
//! `src/istio/mixerclient/quota_cache.cc`; spec/mixer-api.md §8.2): the configured quotas
//! answered from tokens fetched ahead, so a request whose precondition is cached makes no call.
//!
//! It is used **only when the policy check was a cache hit** and allowed: a request that
//! missed may still be denied by the service, and tokens it took from the cache could not be
//! given back, so its quotas go to the service with its Check (`best_effort = false`), as
//! without the cache, and that answer does not fill the cache.
//!
//! Entries are keyed like the check cache's ([`super::cache`]): each answered quota leaves a
//! *shape* (its `QuotaResult.referenced_attributes`) and an entry under the request's
//! signature in that shape, the signature ending with the quota's name instead of "" (spec
//! §8.3 step 3). A request is looked up under each known shape of each quota; the entry
//! found runs the prefetch algorithm ([`super::prefetch`]): the request takes its charge
//! from the granted tokens and is allowed or denied at once, and the entry may hand back an
//! *ask* that the checker sends in the background, one Check call with `best_effort = true`
//! for every quota asking. A request no entry answers uses the quota's *pending* entry, one
//! per quota (Istio's `pending_item`): its first ask is advanced, and when that ask's answer
//! comes back the pending entry is stored under the signature of the request that asked, in
//! the shape the answer gave, and the next unknown request starts a new pending entry. An
//! answer whose shape cannot be cached (a REGEX match, a shape its own request does not fit,
//! more than 64 shapes) leaves the pending entry in use for every such request.
//!
//! Up to 10000 entries (least recently used first out) and an idle expiry of 10 minutes: an
//! entry not used for that long is dropped when next found. Any quota denied answers the
//! request `RESOURCE_EXHAUSTED` "Quota is exhausted for: NAME[,NAME…]" (429), Istio's
//! message; every quota is still charged, as in Istio.
//!
//! A grant without `valid_duration` (or with zero, which memquota sends for a counter that
//! never expires) is assumed valid for a minute. A call that failed, a quota missing from
//! the answer, or one with status UNAVAILABLE counts as granted in full (Istio's client fails
//! open on quota transport errors; the quota path without the cache lets UNAVAILABLE through
//! too), whatever `--policy-fail-closed` says.
//!
//! Every `now` is an argument.

use super::cache::{millis, signature, Decision, Shapes};
use super::lru::Lru;
use super::prefetch::{Ask, Grant, Prefetch, PrefetchOptions};
use crate::check::code;
use mixer_attributes::decode::QuotaParams;
use mixer_attributes::referenced::Shape;
use mixer_attributes::{Attributes, Vocabulary};
use mixer_proto::mixer::check_response::QuotaResult;
use mixer_proto::mixer::CheckResponse;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long an entry may go unused (Istio: 600000 ms).
pub const IDLE_EXPIRY: Duration = Duration::from_secs(600);

/// Validity of a grant that names none.
const DEFAULT_VALID: Duration = Duration::from_secs(60);

type Shared = Arc<Mutex<Prefetch>>;

fn lock(p: &Shared) -> MutexGuard<'_, Prefetch> {
    p.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[derive(Debug)]
struct Entry {
    prefetch: Shared,
    last_used: Instant,
}

/// One configured quota.
#[derive(Debug)]
struct Quota {
    name: String,
    charge: i64,
    shapes: Shapes,
    /// The entry for requests no stored entry answers yet.
    pending: Mutex<Option<Shared>>,
}

/// An ask to send for one quota, and the entry its answer goes back to.
#[derive(Debug)]
pub struct Ticket {
    quota: usize,
    prefetch: Shared,
    ask: Ask,
    /// The entry is the quota's pending one: the answer also stores it.
    pending: bool,
}

/// What the quota cache answered a request.
#[derive(Debug)]
pub struct Answer {
    /// The check's decision, or RESOURCE_EXHAUSTED when a quota was denied.
    pub decision: Arc<Decision>,
    /// Asks to send in the background (one call for all of them); empty: no call.
    pub tickets: Vec<Ticket>,
}

/// The cache; shared by every request (`&self` methods, internally locked).
#[derive(Debug)]
pub struct QuotaCache {
    quotas: Vec<Quota>,
    entries: Mutex<Lru<Entry>>,
    opts: PrefetchOptions,
    vocab: &'static Vocabulary,
}

impl QuotaCache {
    /// A cache for `quotas` (name, charge) of at most `capacity` entries (Istio: 10000).
    pub fn new(quotas: &[(String, i64)], capacity: usize) -> QuotaCache {
        QuotaCache {
            quotas: quotas
                .iter()
                .map(|(name, charge)| Quota {
                    name: name.clone(),
                    charge: *charge,
                    shapes: Shapes::default(),
                    pending: Mutex::new(None),
                })
                .collect(),
            entries: Mutex::new(Lru::new(capacity)),
            opts: PrefetchOptions::default(),
            vocab: Vocabulary::builtin(),
        }
    }

    /// Stored entries (pending ones not counted).
    pub fn len(&self) -> usize {
        self.entries().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn entries(&self) -> MutexGuard<'_, Lru<Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Charges every quota for `bag` at `now`; `decision` (an allowing, cached one) stands
    /// unless one was denied.
    pub fn check<A: Attributes>(&self, bag: &A, decision: Arc<Decision>, now: Instant) -> Answer {
        let mut denied: Vec<&str> = Vec::new();
        let mut tickets = Vec::new();
        let mut buf = Vec::with_capacity(256);
        for (i, q) in self.quotas.iter().enumerate() {
            let (prefetch, pending) = self.entry(i, bag, now, &mut buf);
            let taken = lock(&prefetch).take(q.charge, now);
            if !taken.allowed {
                denied.push(&q.name);
            }
            if let Some(ask) = taken.ask {
                tickets.push(Ticket {
                    quota: i,
                    prefetch,
                    ask,
                    pending,
                });
            }
        }
        let decision = match denied.is_empty() {
            true => decision,
            false => Arc::new(Decision::denied(
                code::RESOURCE_EXHAUSTED,
                format!("Quota is exhausted for: {}", denied.join(",")),
            )),
        };
        Answer { decision, tickets }
    }

    /// The entry answering quota `i` for `bag`: a stored one, else the pending one (true).
    fn entry<A: Attributes>(
        &self,
        i: usize,
        bag: &A,
        now: Instant,
        buf: &mut Vec<u8>,
    ) -> (Shared, bool) {
        let q = &self.quotas[i];
        for shape in q.shapes.get().iter() {
            let Some(sig) = signature(shape, bag, &q.name, buf) else {
                continue;
            };
            let mut entries = self.entries();
            let Some(entry) = entries.get_mut(sig) else {
                continue;
            };
            if now.saturating_duration_since(entry.last_used) > IDLE_EXPIRY {
                entries.remove(sig);
                continue;
            }
            entry.last_used = now;
            return (entry.prefetch.clone(), false);
        }
        let mut pending = q.pending.lock().unwrap_or_else(|p| p.into_inner());
        let p = pending.get_or_insert_with(|| Arc::new(Mutex::new(Prefetch::new(self.opts, now))));
        (p.clone(), true)
    }

    /// The quotas `tickets` ask for, best effort, as the Check request carries them.
    pub fn asked<'a>(&'a self, tickets: &[Ticket]) -> Vec<QuotaParams<'a>> {
        tickets
            .iter()
            .map(|t| QuotaParams {
                name: &self.quotas[t.quota].name,
                amount: t.ask.amount,
                best_effort: true,
            })
            .collect()
    }

    /// The answer to the asks of `tickets`, made for `bag`, came back at `now`; `None`: the
    /// call failed.
    pub fn answered<A: Attributes>(
        &self,
        tickets: Vec<Ticket>,
        bag: &A,
        response: Option<&CheckResponse>,
        now: Instant,
    ) {
        for t in tickets {
            let q = &self.quotas[t.quota];
            let result = response.and_then(|r| r.quotas.get(&q.name));
            lock(&t.prefetch).on_response(t.ask, grant(result), now);
            if let (true, Some(result)) = (t.pending, result) {
                if let Err(why) = self.store(t.quota, bag, result, &t.prefetch, now) {
                    tracing::debug!(quota = %q.name, reason = %why, "quota answer not cached");
                }
            }
        }
    }

    /// Stores the pending entry `prefetch` of quota `i` under `bag`'s signature in the shape
    /// `result` gives, unless an entry is there already (Istio keeps the first).
    fn store<A: Attributes>(
        &self,
        i: usize,
        bag: &A,
        result: &QuotaResult,
        prefetch: &Shared,
        now: Instant,
    ) -> Result<(), super::NotCached> {
        let q = &self.quotas[i];
        let empty = Default::default();
        let wire = result.referenced_attributes.as_ref().unwrap_or(&empty);
        let shape = Shape::from_response(wire, self.vocab, bag)?;
        let mut buf = Vec::with_capacity(256);
        let sig = signature(&shape, bag, &q.name, &mut buf)
            .ok_or(mixer_attributes::referenced::ShapeError::DoesNotFit)?;
        q.shapes.add(shape)?;
        let mut entries = self.entries();
        if entries.get_mut(sig).is_some() {
            return Ok(());
        }
        entries.insert(
            sig,
            Entry {
                prefetch: prefetch.clone(),
                last_used: now,
            },
        );
        drop(entries);
        let mut pending = q.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.as_ref().is_some_and(|p| Arc::ptr_eq(p, prefetch)) {
            *pending = None;
        }
        Ok(())
    }
}

/// The grant a quota result stands for; `None` (fail open) for no result or UNAVAILABLE.
fn grant(result: Option<&QuotaResult>) -> Option<Grant> {
    let r = result?;
    if r.status
        .as_ref()
        .is_some_and(|s| s.code == code::UNAVAILABLE)
    {
        return None;
    }
    let valid = r
        .valid_duration
        .map(|d| millis(d.seconds, d.nanos))
        .filter(|d| !d.is_zero())
        .unwrap_or(DEFAULT_VALID);
    Some(Grant {
        amount: r.granted_amount,
        valid,
    })
}

#[cfg(test)]
mod tests;
