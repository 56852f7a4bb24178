//! One quota counter: a plain allocation counter (`valid_duration` 0: never expires, freed
//! with negative amounts), a rolling window of `ceil(valid_duration / 1 s) × 10` slots of
//! 100 ms (Istio's memquota), or a fixed window reset at each multiple of `valid_duration`.
//! Time is the number of nanoseconds since the handler was built.

use super::config::Algorithm;
use std::collections::VecDeque;
use std::time::Duration;

/// Slot width of a rolling window.
pub const TICK: Duration = Duration::from_millis(100);

#[derive(Debug)]
enum State {
    Counter,
    /// (tick, amount) of the slots still in the window, oldest first.
    Rolling {
        slots: VecDeque<(u64, i64)>,
        ticks: u64,
    },
    /// The window number the count belongs to.
    Fixed {
        window: u128,
        length: u128,
    },
}

/// A counter with its limit.
#[derive(Debug)]
pub struct Window {
    max: i64,
    used: i64,
    state: State,
}

impl Window {
    pub fn new(max: i64, valid: Duration, algorithm: Algorithm) -> Window {
        let state = if valid.is_zero() {
            State::Counter
        } else {
            match algorithm {
                Algorithm::Rolling => State::Rolling {
                    slots: VecDeque::new(),
                    ticks: valid
                        .as_secs()
                        .saturating_add(u64::from(valid.subsec_nanos() > 0))
                        * 10,
                },
                Algorithm::Fixed => State::Fixed {
                    window: 0,
                    length: valid.as_nanos(),
                },
            }
        };
        Window {
            max,
            used: 0,
            state,
        }
    }

    /// Drops what has left the window at `elapsed`.
    fn advance(&mut self, elapsed: Duration) {
        match &mut self.state {
            State::Counter => {}
            State::Rolling { slots, ticks } => {
                let now = tick(elapsed);
                while let Some(&(t, n)) = slots.front() {
                    if t + *ticks > now {
                        break;
                    }
                    self.used -= n;
                    slots.pop_front();
                }
            }
            State::Fixed { window, length } => {
                let w = elapsed.as_nanos() / *length;
                if w != *window {
                    *window = w;
                    self.used = 0;
                }
            }
        }
    }

    /// Nothing counted any more (the counter can be forgotten).
    pub fn is_idle(&mut self, elapsed: Duration) -> bool {
        self.advance(elapsed);
        self.used == 0
    }

    /// Allocates up to `amount` at `elapsed`: all of it when available, else what is left
    /// when `best_effort`, else nothing. Returns the amount granted.
    pub fn alloc(&mut self, amount: i64, best_effort: bool, elapsed: Duration) -> i64 {
        self.advance(elapsed);
        let available = (self.max - self.used).max(0);
        let granted = if amount <= available {
            amount
        } else if best_effort {
            available
        } else {
            0
        };
        if granted > 0 {
            self.used += granted;
            if let State::Rolling { slots, .. } = &mut self.state {
                let now = tick(elapsed);
                match slots.back_mut() {
                    Some((t, n)) if *t == now => *n += granted,
                    _ => slots.push_back((now, granted)),
                }
            }
        }
        granted
    }

    /// Frees up to `amount` of a plain counter; windows free themselves. Returns the amount
    /// freed.
    pub fn release(&mut self, amount: i64) -> i64 {
        match self.state {
            State::Counter => {
                let freed = amount.min(self.used);
                self.used -= freed;
                freed
            }
            _ => 0,
        }
    }
}

fn tick(elapsed: Duration) -> u64 {
    u64::try_from(elapsed.as_nanos() / TICK.as_nanos()).unwrap_or(u64::MAX)
}
