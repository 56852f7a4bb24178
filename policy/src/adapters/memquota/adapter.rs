//! The memquota handler: counters keyed by quota name and the instance's stringified
//! dimensions (`name;dim=value;…`, sorted), each limited by the first matching override or the
//! quota's default, and a two-generation deduplication map so a retried call (same dedup id)
//! gets the earlier answer for between one and two `min_deduplication_duration`s.

use super::config::{Params, Quota};
use super::window::Window;
use crate::adapters::quotas::{self, ByInstance};
use crate::adapters::{code, status, Instance, QuotaArgs, QuotaResult};
use rustc_hash::FxHashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// Most live counters per handler; past it, idle ones are dropped, then new keys are refused.
pub const MAX_COUNTERS: usize = 100_000;
/// Most remembered dedup ids per generation; past it, answers are not remembered.
pub const MAX_DEDUP_ENTRIES: usize = 1_000_000;

#[derive(Debug, Default)]
struct Dedup {
    current: FxHashMap<String, QuotaResult>,
    previous: FxHashMap<String, QuotaResult>,
    rotated: Duration,
}

#[derive(Debug, Default)]
struct State {
    counters: FxHashMap<String, Window>,
    dedup: Dedup,
}

/// A built `memquota` handler.
#[derive(Debug)]
pub struct MemQuotaHandler {
    limits: ByInstance<Quota>,
    dedup_period: Duration,
    epoch: Instant,
    state: Mutex<State>,
}

impl MemQuotaHandler {
    /// `namespace` (the handler's) and `instances` (the config's) resolve short quota names.
    pub fn new(
        params: Params,
        namespace: &str,
        instances: &[mixer_rules::Instance],
        epoch: Instant,
    ) -> MemQuotaHandler {
        MemQuotaHandler {
            dedup_period: params.min_deduplication_duration(),
            limits: ByInstance::new(params.quotas, |q| &q.name, namespace, instances),
            epoch,
            state: Mutex::new(State::default()),
        }
    }

    /// Allocates (or, with a negative amount, frees) quota for one instance.
    pub fn alloc(&self, instance: &Instance<'_>, args: QuotaArgs<'_>, now: Instant) -> QuotaResult {
        let Some(q) = self.limits.get(instance.name) else {
            return QuotaResult {
                status: status(
                    code::INVALID_ARGUMENT,
                    format!("no quota configured for instance {}", instance.name),
                ),
                granted: 0,
                valid_duration: Duration::ZERO,
            };
        };
        let dims = quotas::dimensions(instance);
        let (max, valid) = quotas::first_match(&q.overrides, &dims, |o| &o.dimensions)
            .map_or((q.max_amount, q.valid_duration), |o| {
                (o.max_amount, o.valid_duration.or(q.valid_duration))
            });
        let valid = valid.map(|d| d.to_std()).unwrap_or_default();
        let key = quotas::counter_key(&q.name, &dims);

        let elapsed = now.saturating_duration_since(self.epoch);
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        let state = &mut *state;
        if !args.dedup_id.is_empty() {
            state.dedup.rotate(elapsed, self.dedup_period);
            if let Some(r) = state.dedup.get(args.dedup_id) {
                return r.clone();
            }
        }
        if !state.counters.contains_key(&key) && state.counters.len() >= MAX_COUNTERS {
            state.counters.retain(|_, w| !w.is_idle(elapsed));
            if state.counters.len() >= MAX_COUNTERS {
                return QuotaResult {
                    status: status(
                        code::UNAVAILABLE,
                        format!("more than {MAX_COUNTERS} live quota counters"),
                    ),
                    granted: 0,
                    valid_duration: Duration::ZERO,
                };
            }
        }
        let window = state
            .counters
            .entry(key)
            .or_insert_with(|| Window::new(max, valid, q.rate_limit_algorithm));
        let granted = match args.amount {
            a if a > 0 => window.alloc(a, args.best_effort, elapsed),
            a if a < 0 => window.release(a.saturating_neg()),
            _ => 0,
        };
        let result = QuotaResult {
            status: status(code::OK, ""),
            granted,
            valid_duration: valid,
        };
        if !args.dedup_id.is_empty() && state.dedup.current.len() < MAX_DEDUP_ENTRIES {
            state
                .dedup
                .current
                .insert(args.dedup_id.to_owned(), result.clone());
        }
        result
    }
}

impl Dedup {
    fn rotate(&mut self, elapsed: Duration, period: Duration) {
        let since = elapsed.saturating_sub(self.rotated);
        if since < period {
            return;
        }
        if since >= period * 2 {
            self.previous.clear();
            self.current.clear();
        } else {
            self.previous = std::mem::take(&mut self.current);
        }
        self.rotated = elapsed;
    }

    fn get(&self, id: &str) -> Option<&QuotaResult> {
        self.current.get(id).or_else(|| self.previous.get(id))
    }
}
