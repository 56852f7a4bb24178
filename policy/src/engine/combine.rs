//! Combining the check adapters' answers into one precondition, as Mixer's dispatcher does
//! (spec §1.10 step 4–5).

use crate::adapters::{code, status, CheckResult};
use mixer_proto::google::rpc::Status;
use std::time::Duration;

/// Mixer's `defaultValidDuration`: the answer's lifetime when no adapter took part.
pub const DEFAULT_VALID_DURATION: Duration = Duration::from_secs(60);
/// Mixer's `defaultValidUseCount`.
pub const DEFAULT_VALID_USE_COUNT: i32 = 10000;

/// The answers so far.
#[derive(Debug, Default)]
pub struct Combined {
    ran: bool,
    code: i32,
    messages: Vec<String>,
    valid_duration: Duration,
    valid_use_count: i32,
}

impl Combined {
    /// Adds the answer of handler `handler` (its fully-qualified name).
    pub fn add(&mut self, handler: &str, r: CheckResult) {
        if self.ran {
            self.valid_duration = self.valid_duration.min(r.valid_duration);
            self.valid_use_count = self.valid_use_count.min(r.valid_use_count);
        } else {
            self.ran = true;
            self.valid_duration = r.valid_duration;
            self.valid_use_count = r.valid_use_count;
        }
        if r.status.code != code::OK {
            if self.code == code::OK {
                self.code = r.status.code;
            }
            self.messages
                .push(format!("{handler}:{}", r.status.message));
        }
    }

    /// The status, `valid_duration` and `valid_use_count` to answer with.
    pub fn finish(self) -> (Status, Duration, i32) {
        if !self.ran {
            return (
                status(code::OK, ""),
                DEFAULT_VALID_DURATION,
                DEFAULT_VALID_USE_COUNT,
            );
        }
        (
            status(self.code, self.messages.join(", ")),
            self.valid_duration,
            self.valid_use_count,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(code: i32, msg: &str, secs: u64, count: i32) -> CheckResult {
        CheckResult {
            status: status(code, msg),
            valid_duration: Duration::from_secs(secs),
            valid_use_count: count,
        }
    }

    #[test]
    fn defaults_when_no_adapter_ran() {
        let (s, d, n) = Combined::default().finish();
        assert_eq!((s.code, s.message.as_str()), (0, ""));
        assert_eq!((d, n), (Duration::from_secs(60), 10000));
    }

    #[test]
    fn first_denial_wins_and_minimums_are_taken() {
        let mut c = Combined::default();
        c.add("a.handler.istio-system", r(0, "", 30, 500));
        c.add("b.handler.istio-system", r(7, "Not allowed", 5, 1000));
        c.add("c.handler.default", r(8, "too many", 10, 20));
        let (s, d, n) = c.finish();
        assert_eq!(s.code, 7);
        assert_eq!(
            s.message,
            "b.handler.istio-system:Not allowed, c.handler.default:too many"
        );
        assert_eq!((d, n), (Duration::from_secs(5), 20));
    }

    #[test]
    fn all_ok_keeps_minimums_and_no_message() {
        let mut c = Combined::default();
        c.add("a", r(0, "", 300, 10000));
        c.add("b", r(0, "", 5, 1000));
        let (s, d, n) = c.finish();
        assert_eq!((s.code, s.message.as_str()), (0, ""));
        assert_eq!((d, n), (Duration::from_secs(5), 1000));
    }
}
