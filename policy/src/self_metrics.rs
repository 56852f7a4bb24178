//! The policy service's own metrics (`mixer_policy_*`), registered once at startup as plain
//! atomics and rendered in Prometheus text format on the monitoring port.

use crate::adapters::redisquota::Failure;
use crate::adapters::Kind;
use mixer_serving::metrics::{header, Counter, Gauge, Histogram};
use std::fmt::Write;
use std::time::Duration;

/// How a Check call ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckOutcome {
    /// Answered with an OK precondition.
    Ok,
    /// Answered with a denial (any non-OK precondition status).
    Denied,
    /// The RPC failed (bad request, dictionary mismatch, an instance that could not be built,
    /// overload).
    Error,
}

impl CheckOutcome {
    const ALL: [CheckOutcome; 3] = [CheckOutcome::Ok, CheckOutcome::Denied, CheckOutcome::Error];

    fn label(self) -> &'static str {
        match self {
            CheckOutcome::Ok => "ok",
            CheckOutcome::Denied => "denied",
            CheckOutcome::Error => "error",
        }
    }
}

/// How one quota allocation went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Allocation {
    /// All of the amount asked.
    Granted,
    /// Part of it (best effort).
    Partial,
    /// Nothing.
    Exhausted,
}

impl Allocation {
    const ALL: [Allocation; 3] = [
        Allocation::Granted,
        Allocation::Partial,
        Allocation::Exhausted,
    ];

    fn label(self) -> &'static str {
        match self {
            Allocation::Granted => "granted",
            Allocation::Partial => "partial",
            Allocation::Exhausted => "exhausted",
        }
    }
}

const DURATION_BOUNDS: &[f64] = &[
    0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1,
    1.0,
];

/// Every self-metric of the policy service.
#[derive(Debug)]
pub struct PolicyMetrics {
    checks: [Counter; 3],
    pub check_duration: Histogram,
    adapter_duration: [Histogram; Kind::ALL.len()],
    allocations: [Counter; 3],
    pub quota_granted: Counter,
    pub match_errors: Counter,
    redisquota_errors: [Counter; Failure::ALL.len()],
    /// Checks answered from the decision cache / looked up there and not found.
    pub check_cache_hits: Counter,
    pub check_cache_misses: Counter,
    /// Answers in the decision cache, set when the metrics are rendered.
    pub check_cache_entries: Gauge,
    pub list_refreshes_ok: Counter,
    pub list_refreshes_failed: Counter,
    pub config_generation: Gauge,
    pub config_reloads_ok: Counter,
    pub config_reloads_failed: Counter,
}

impl Default for PolicyMetrics {
    fn default() -> Self {
        PolicyMetrics {
            checks: Default::default(),
            check_duration: Histogram::new(DURATION_BOUNDS),
            adapter_duration: Kind::ALL.map(|_| Histogram::new(DURATION_BOUNDS)),
            allocations: Default::default(),
            quota_granted: Counter::default(),
            match_errors: Counter::default(),
            redisquota_errors: Default::default(),
            check_cache_hits: Counter::default(),
            check_cache_misses: Counter::default(),
            check_cache_entries: Gauge::default(),
            list_refreshes_ok: Counter::default(),
            list_refreshes_failed: Counter::default(),
            config_generation: Gauge::default(),
            config_reloads_ok: Counter::default(),
            config_reloads_failed: Counter::default(),
        }
    }
}

impl PolicyMetrics {
    pub fn check_done(&self, outcome: CheckOutcome) {
        self.checks[outcome as usize].inc();
    }

    pub fn checks(&self, outcome: CheckOutcome) -> u64 {
        self.checks[outcome as usize].get()
    }

    pub fn adapter_call(&self, kind: Kind, took: Duration) {
        self.adapter_duration[kind as usize].observe(took.as_secs_f64());
    }

    pub fn adapter_calls(&self, kind: Kind) -> u64 {
        self.adapter_duration[kind as usize].count()
    }

    /// Counts one quota allocation of `asked`, `granted` given.
    pub fn quota_allocation(&self, asked: i64, granted: i64) {
        let a = if granted <= 0 {
            Allocation::Exhausted
        } else if granted < asked {
            Allocation::Partial
        } else {
            Allocation::Granted
        };
        self.allocations[a as usize].inc();
        self.quota_granted.add(u64::try_from(granted).unwrap_or(0));
    }

    pub fn allocations(&self, a: Allocation) -> u64 {
        self.allocations[a as usize].get()
    }

    /// Counts one redisquota allocation that failed.
    pub fn redisquota_error(&self, f: Failure) {
        self.redisquota_errors[f as usize].inc();
    }

    pub fn redisquota_errors(&self, f: Failure) -> u64 {
        self.redisquota_errors[f as usize].get()
    }

    /// Appends the text exposition of these metrics to `out`.
    pub fn render(&self, out: &mut String) {
        header(
            out,
            "mixer_policy_checks_total",
            "counter",
            "Check calls handled, by result (ok, denied, error).",
        );
        for o in CheckOutcome::ALL {
            let _ = writeln!(
                out,
                "mixer_policy_checks_total{{result=\"{}\"}} {}",
                o.label(),
                self.checks(o)
            );
        }
        header(
            out,
            "mixer_policy_check_duration_seconds",
            "histogram",
            "Time to decode, dispatch and answer one Check call.",
        );
        self.check_duration
            .render(out, "mixer_policy_check_duration_seconds", "");
        header(
            out,
            "mixer_policy_adapter_duration_seconds",
            "histogram",
            "Time one adapter call took, by adapter.",
        );
        for k in Kind::ALL {
            self.adapter_duration[k as usize].render(
                out,
                "mixer_policy_adapter_duration_seconds",
                &format!("adapter=\"{}\",", k.name()),
            );
        }
        header(
            out,
            "mixer_policy_quota_allocations_total",
            "counter",
            "Quota allocations, by result (granted in full, partial, exhausted).",
        );
        for a in Allocation::ALL {
            let _ = writeln!(
                out,
                "mixer_policy_quota_allocations_total{{result=\"{}\"}} {}",
                a.label(),
                self.allocations(a)
            );
        }
        header(
            out,
            "mixer_policy_quota_granted_total",
            "counter",
            "Quota amount granted.",
        );
        let _ = writeln!(
            out,
            "mixer_policy_quota_granted_total {}",
            self.quota_granted.get()
        );
        header(
            out,
            "mixer_policy_match_errors_total",
            "counter",
            "Rule matches that could not be evaluated (the rule was skipped).",
        );
        let _ = writeln!(
            out,
            "mixer_policy_match_errors_total {}",
            self.match_errors.get()
        );
        header(
            out,
            "mixer_policy_redisquota_errors_total",
            "counter",
            "redisquota allocations that failed (answered UNAVAILABLE or INTERNAL), by reason.",
        );
        for f in Failure::ALL {
            let _ = writeln!(
                out,
                "mixer_policy_redisquota_errors_total{{reason=\"{}\"}} {}",
                f.label(),
                self.redisquota_errors(f)
            );
        }
        header(
            out,
            "mixer_policy_check_cache_hits_total",
            "counter",
            "Checks answered from the decision cache.",
        );
        let _ = writeln!(
            out,
            "mixer_policy_check_cache_hits_total {}",
            self.check_cache_hits.get()
        );
        header(
            out,
            "mixer_policy_check_cache_misses_total",
            "counter",
            "Checks looked up in the decision cache and not found there (Checks asking for quotas bypass it).",
        );
        let _ = writeln!(
            out,
            "mixer_policy_check_cache_misses_total {}",
            self.check_cache_misses.get()
        );
        header(
            out,
            "mixer_policy_check_cache_entries",
            "gauge",
            "Answers held in the decision cache.",
        );
        let _ = writeln!(
            out,
            "mixer_policy_check_cache_entries {}",
            self.check_cache_entries.get()
        );
        header(
            out,
            "mixer_policy_list_refreshes_total",
            "counter",
            "listchecker provider fetches, by result.",
        );
        let _ = writeln!(
            out,
            "mixer_policy_list_refreshes_total{{result=\"ok\"}} {}",
            self.list_refreshes_ok.get()
        );
        let _ = writeln!(
            out,
            "mixer_policy_list_refreshes_total{{result=\"error\"}} {}",
            self.list_refreshes_failed.get()
        );
        header(
            out,
            "mixer_policy_config_generation",
            "gauge",
            "Generation of the config in use (1 = the first).",
        );
        let _ = writeln!(
            out,
            "mixer_policy_config_generation {}",
            self.config_generation.get()
        );
        header(
            out,
            "mixer_policy_config_reloads_total",
            "counter",
            "Config reloads, by result.",
        );
        let _ = writeln!(
            out,
            "mixer_policy_config_reloads_total{{result=\"ok\"}} {}",
            self.config_reloads_ok.get()
        );
        let _ = writeln!(
            out,
            "mixer_policy_config_reloads_total{{result=\"error\"}} {}",
            self.config_reloads_failed.get()
        );
    }
}
