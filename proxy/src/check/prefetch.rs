//! One quota cache entry's prefetch, as Istio's client runs it (istio/proxy
//! `src/istio/prefetch/quota_prefetch.cc`, `time_based_counter.cc`; spec/mixer-api.md §8.2).
//!
//! Granted tokens sit in a FIFO of *slots*, each with what is left of it and when it expires.
//! A request for `amount` takes it from the oldest live slots, all or nothing, and is allowed
//! without a call; expired and emptied slots are dropped as it goes. A rolling counter of 20
//! buckets over the predict window (1 s) counts the amounts asked for, allowed or not: it is
//! the predicted need. Before taking, the entry decides whether to prefetch: when what is
//! left is below half the need (the need being at least the minimum prefetch, 10), or below
//! this request's amount, it asks the policy service for `max(amount, need)` with
//! `best_effort = true`. Asked while nothing is left and the entry is open, that amount is
//! *advanced*: put in a slot at once (expiring after 60 s at most), so the request that asks
//! is allowed, and corrected when the grant comes back — what was not granted is taken back
//! from that slot first, then from the oldest. Any other grant becomes a new slot expiring
//! after the grant's valid duration.
//!
//! A grant short of what was asked (nothing, or part) *closes* the entry: no advance, and no
//! new ask until the close-wait window (500 ms) after the last ask has passed; until then a
//! request the remaining tokens cannot pay for is denied. The next ask after the window
//! reopens it if granted in full. A failed call (no result) counts as granted in full for
//! 60 s, as Istio's client fails open on quota transport errors.
//!
//! An ask for being below half the need is made only when no ask is in flight; an ask because
//! a request's amount exceeds what is left is made whatever is in flight, and advanced when
//! nothing is left and the entry is open (Istio's `AttemptPrefetch`). So a burst above the
//! prediction is let through on advances, each for the usage of the window so far, until a
//! grant comes back short and closes the entry: what the sidecar lets through beyond the
//! service's grants is what the advances of one round trip add up to, as in Istio.
//!
//! Where this differs from Istio: amounts are `i64` (Istio: `int`); an amount below 1 is
//! allowed and counts nothing.
//!
//! Every `now` is an argument, so the algorithm is tested without sleeping.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Istio's prefetch constants (`quota_prefetch.cc`).
#[derive(Clone, Copy, Debug)]
pub struct PrefetchOptions {
    /// The window whose usage predicts the next window's (1000 ms).
    pub predict_window: Duration,
    /// The least an ask is for (10).
    pub min_prefetch: i64,
    /// After a short grant, how long no new ask is made (500 ms).
    pub close_wait: Duration,
    /// The expiry of an advanced amount before its grant comes back (60 s); also the validity
    /// of a grant assumed after a failed call.
    pub max_expiration: Duration,
}

impl Default for PrefetchOptions {
    fn default() -> Self {
        PrefetchOptions {
            predict_window: Duration::from_millis(1000),
            min_prefetch: 10,
            close_wait: Duration::from_millis(500),
            max_expiration: Duration::from_secs(60),
        }
    }
}

/// Buckets of the rolling usage counter (Istio's `kTimeBasedWindowSize`).
const BUCKETS: usize = 20;

/// Tokens granted (or advanced), usable until `expire`.
#[derive(Clone, Copy, Debug)]
struct Slot {
    available: i64,
    expire: Instant,
    /// Never 0; tells an advanced slot apart when its grant comes back.
    id: u64,
}

/// What the policy service is to be asked for; hand it back to [`Prefetch::on_response`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ask {
    pub amount: i64,
    /// The slot the amount was advanced into, if it was.
    advanced: Option<u64>,
}

/// What a request got: allowed or not, and the ask to send in the background, if any.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Taken {
    pub allowed: bool,
    pub ask: Option<Ask>,
}

/// A grant as the policy service gave it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Grant {
    pub amount: i64,
    pub valid: Duration,
}

/// One entry's tokens, usage and ask state.
#[derive(Debug)]
pub struct Prefetch {
    opts: PrefetchOptions,
    slots: VecDeque<Slot>,
    usage: Usage,
    /// A short grant closed the entry (Istio's `CLOSE` mode).
    closed: bool,
    last_ask: Option<Instant>,
    /// Asks sent whose answer has not come back.
    in_flight: u32,
    next_id: u64,
}

impl Prefetch {
    pub fn new(opts: PrefetchOptions, now: Instant) -> Prefetch {
        Prefetch {
            opts,
            slots: VecDeque::new(),
            usage: Usage::new(opts.predict_window, now),
            closed: false,
            last_ask: None,
            in_flight: 0,
            next_id: 0,
        }
    }

    /// A request for `amount` at `now` (Istio's `Check`).
    pub fn take(&mut self, amount: i64, now: Instant) -> Taken {
        let amount = amount.max(0);
        let ask = self.maybe_ask(amount, now);
        self.usage.add(amount, now);
        let allowed = self.available(now) >= amount;
        if allowed {
            self.spend(amount, now);
        }
        Taken { allowed, ask }
    }

    /// The grant for `ask` came back at `now`; `None`: the call failed (fail open).
    pub fn on_response(&mut self, ask: Ask, grant: Option<Grant>, now: Instant) {
        self.in_flight = self.in_flight.saturating_sub(1);
        let grant = grant.unwrap_or(Grant {
            amount: ask.amount,
            valid: self.opts.max_expiration,
        });
        let granted = grant.amount.clamp(0, ask.amount);
        match ask.advanced {
            Some(id) => {
                let mut short = ask.amount - granted;
                let slot = self.slots.iter_mut().find(|s| s.id == id);
                if let Some(slot) = slot {
                    let back = slot.available.min(short);
                    slot.available -= back;
                    short -= back;
                    if slot.available > 0 {
                        slot.expire = now.checked_add(grant.valid).unwrap_or(now);
                    }
                }
                if short > 0 {
                    // the advance was spent already: what was not granted comes off the rest
                    self.spend(short, now);
                }
            }
            None if granted > 0 => {
                let expire = now.checked_add(grant.valid).unwrap_or(now);
                self.push(granted, expire);
            }
            None => {}
        }
        self.closed = granted < ask.amount;
    }

    /// Live tokens at `now`.
    pub fn available(&self, now: Instant) -> i64 {
        self.slots
            .iter()
            .filter(|s| now < s.expire)
            .map(|s| s.available)
            .sum()
    }

    /// Asks in flight.
    pub fn in_flight(&self) -> u32 {
        self.in_flight
    }

    /// Whether a short grant closed the entry.
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Istio's `AttemptPrefetch`.
    fn maybe_ask(&mut self, amount: i64, now: Instant) -> Option<Ask> {
        let waiting = self
            .last_ask
            .is_some_and(|t| now.saturating_duration_since(t) < self.opts.close_wait);
        if self.closed && waiting {
            return None;
        }
        let available = self.available(now);
        let need = self.usage.count(now).max(self.opts.min_prefetch);
        let running_low = available < need / 2 && self.in_flight == 0;
        if !running_low && available >= amount {
            return None;
        }
        let want = amount.max(need);
        let advanced = (available == 0 && !self.closed).then(|| {
            let expire = now.checked_add(self.opts.max_expiration).unwrap_or(now);
            self.push(want, expire)
        });
        self.last_ask = Some(now);
        self.in_flight += 1;
        Some(Ask {
            amount: want,
            advanced,
        })
    }

    fn push(&mut self, available: i64, expire: Instant) -> u64 {
        self.next_id += 1;
        let id = self.next_id;
        self.slots.push_back(Slot {
            available,
            expire,
            id,
        });
        id
    }

    /// Takes up to `amount` from the oldest live slots, dropping expired and emptied ones on
    /// the way (Istio's `Substract`); returns what could not be taken.
    fn spend(&mut self, mut amount: i64, now: Instant) -> i64 {
        while amount > 0 {
            let Some(head) = self.slots.front_mut() else {
                break;
            };
            if now < head.expire {
                let d = head.available.min(amount);
                head.available -= d;
                amount -= d;
                if head.available > 0 {
                    break;
                }
            }
            self.slots.pop_front();
        }
        amount
    }
}

/// Amounts asked for over the last predict window, in [`BUCKETS`] buckets rolled as time
/// goes (Istio's `TimeBasedCounter`).
#[derive(Debug)]
struct Usage {
    buckets: [i64; BUCKETS],
    bucket: Duration,
    /// The bucket now being filled.
    tail: usize,
    count: i64,
    /// Start of the tail bucket.
    since: Instant,
}

impl Usage {
    fn new(window: Duration, now: Instant) -> Usage {
        Usage {
            buckets: [0; BUCKETS],
            bucket: (window / BUCKETS as u32).max(Duration::from_millis(1)),
            tail: 0,
            count: 0,
            since: now,
        }
    }

    fn add(&mut self, n: i64, now: Instant) {
        self.roll(now);
        self.buckets[self.tail] += n;
        self.count += n;
    }

    fn count(&mut self, now: Instant) -> i64 {
        self.roll(now);
        self.count
    }

    fn roll(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.since);
        let steps = (elapsed.as_nanos() / self.bucket.as_nanos()) as usize;
        if steps >= BUCKETS {
            self.buckets = [0; BUCKETS];
            self.tail = 0;
            self.count = 0;
            self.since = now;
            return;
        }
        for _ in 0..steps {
            self.tail = (self.tail + 1) % BUCKETS;
            self.count -= self.buckets[self.tail];
            self.buckets[self.tail] = 0;
            self.since += self.bucket;
        }
    }
}

#[cfg(test)]
mod tests;
