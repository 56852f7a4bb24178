//! The proxy's self-metrics (`mixer_proxy_*`), registered once and rendered on the admin
//! port's `/metrics`.

use crate::config::Direction;
use mixer_serving::metrics::{header, Counter, Gauge, Histogram};
use std::fmt::Write;

/// Why a bag did not reach the telemetry service.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DropReason {
    /// The request path found the bag queue full.
    QueueFull,
    /// The buffer of encoded batches awaiting (re)sending was full.
    BufferFull,
    /// The telemetry service refused the batch with a non-retryable status.
    Rejected,
    /// Shutdown's flush ran out of time.
    Shutdown,
}

const REASONS: [(DropReason, &str); 4] = [
    (DropReason::QueueFull, "queue_full"),
    (DropReason::BufferFull, "buffer_full"),
    (DropReason::Rejected, "rejected"),
    (DropReason::Shutdown, "shutdown"),
];

/// How a policy check ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckResult {
    /// Allowed by the policy service (or the cache).
    Ok,
    /// Denied by the policy service (or the cache).
    Denied,
    /// The policy service could not answer; failing closed denied the request.
    Error,
    /// The policy service could not answer; failing open allowed the request.
    FailedOpen,
}

const RESULTS: [(CheckResult, &str); 4] = [
    (CheckResult::Ok, "ok"),
    (CheckResult::Denied, "denied"),
    (CheckResult::Error, "error"),
    (CheckResult::FailedOpen, "failed_open"),
];

/// Check latency buckets, seconds: a loopback Check is ~100 µs, the deadline 5 s.
const CHECK_BOUNDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.1, 0.5, 1.0, 5.0,
];

const CLASSES: [&str; 6] = ["1xx", "2xx", "3xx", "4xx", "5xx", "other"];

#[derive(Debug)]
pub struct ProxyMetrics {
    /// [direction][code class]
    requests: [[Counter; 6]; 2],
    /// Requests answered by the proxy itself because the upstream failed.
    upstream_failures: [Counter; 2],
    pub reports_sent_bags: Counter,
    pub reports_sent_batches: Counter,
    pub report_retries: Counter,
    dropped: [Counter; 4],
    pub queue_depth: Gauge,
    pub pending_batches: Gauge,
    pub ready: Gauge,
    checks: [Counter; 4],
    pub check_cache_hits: Counter,
    pub check_cache_misses: Counter,
    pub check_retries: Counter,
    /// Cached answers refreshed in the background before they ran out.
    pub check_refreshes: Counter,
    /// Checks that found every call slot taken until their deadline.
    pub check_slot_timeouts: Counter,
    /// Requests whose quotas the quota cache answered / asked the service with their Check.
    pub quota_cache_hits: Counter,
    pub quota_cache_misses: Counter,
    /// Background Check calls asking for quota tokens ahead (best effort).
    pub quota_prefetches: Counter,
    /// Time of the Check calls that went to the policy service (retries included).
    pub check_duration: Histogram,
    /// Access log lines queued for stdout / dropped because the queue was full.
    pub access_log_written: Counter,
    pub access_log_dropped: Counter,
}

impl Default for ProxyMetrics {
    fn default() -> Self {
        ProxyMetrics {
            requests: Default::default(),
            upstream_failures: Default::default(),
            reports_sent_bags: Counter::default(),
            reports_sent_batches: Counter::default(),
            report_retries: Counter::default(),
            dropped: Default::default(),
            queue_depth: Gauge::default(),
            pending_batches: Gauge::default(),
            ready: Gauge::default(),
            checks: Default::default(),
            check_cache_hits: Counter::default(),
            check_cache_misses: Counter::default(),
            check_retries: Counter::default(),
            check_refreshes: Counter::default(),
            check_slot_timeouts: Counter::default(),
            quota_cache_hits: Counter::default(),
            quota_cache_misses: Counter::default(),
            quota_prefetches: Counter::default(),
            check_duration: Histogram::new(CHECK_BOUNDS),
            access_log_written: Counter::default(),
            access_log_dropped: Counter::default(),
        }
    }
}

impl ProxyMetrics {
    pub fn request(&self, dir: Direction, code: u16) {
        let class = match code {
            100..=599 => (code / 100 - 1) as usize,
            _ => 5,
        };
        self.requests[dir as usize][class].inc();
    }

    pub fn upstream_failure(&self, dir: Direction) {
        self.upstream_failures[dir as usize].inc();
    }

    pub fn dropped(&self, reason: DropReason, bags: u64) {
        if let Some(i) = REASONS.iter().position(|(r, _)| *r == reason) {
            self.dropped[i].add(bags);
        }
    }

    pub fn check_result(&self, result: CheckResult) {
        if let Some(i) = RESULTS.iter().position(|(r, _)| *r == result) {
            self.checks[i].inc();
        }
    }

    pub fn checks(&self, result: CheckResult) -> u64 {
        RESULTS
            .iter()
            .position(|(r, _)| *r == result)
            .map_or(0, |i| self.checks[i].get())
    }

    pub fn dropped_total(&self) -> u64 {
        self.dropped.iter().map(Counter::get).sum()
    }

    pub fn dropped_for(&self, reason: DropReason) -> u64 {
        REASONS
            .iter()
            .position(|(r, _)| *r == reason)
            .map_or(0, |i| self.dropped[i].get())
    }

    /// Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::with_capacity(2048);
        let dirs = [
            (Direction::Inbound, "inbound"),
            (Direction::Outbound, "outbound"),
        ];
        let name = "mixer_proxy_requests_total";
        header(
            &mut out,
            name,
            "counter",
            "Requests proxied, by listener and status class.",
        );
        for (d, dn) in dirs {
            for (c, cn) in CLASSES.iter().enumerate() {
                let v = self.requests[d as usize][c].get();
                let _ = writeln!(out, "{name}{{direction=\"{dn}\",code_class=\"{cn}\"}} {v}");
            }
        }
        let name = "mixer_proxy_upstream_failures_total";
        header(
            &mut out,
            name,
            "counter",
            "Requests answered 502/503/504 by the proxy.",
        );
        for (d, dn) in dirs {
            let v = self.upstream_failures[d as usize].get();
            let _ = writeln!(out, "{name}{{direction=\"{dn}\"}} {v}");
        }
        let simple: [(&str, &str, &str, u64); 6] = [
            (
                "mixer_proxy_reports_sent_total",
                "counter",
                "Bags accepted by the telemetry service.",
                self.reports_sent_bags.get(),
            ),
            (
                "mixer_proxy_report_batches_sent_total",
                "counter",
                "Report calls that succeeded.",
                self.reports_sent_batches.get(),
            ),
            (
                "mixer_proxy_report_retries_total",
                "counter",
                "Report calls retried after a failure.",
                self.report_retries.get(),
            ),
            (
                "mixer_proxy_report_queue_depth",
                "gauge",
                "Bags waiting to be batched.",
                self.queue_depth.get(),
            ),
            (
                "mixer_proxy_report_pending_batches",
                "gauge",
                "Encoded batches waiting to be sent.",
                self.pending_batches.get(),
            ),
            (
                "mixer_proxy_ready",
                "gauge",
                "1 once the listeners are bound and reporting is configured.",
                self.ready.get(),
            ),
        ];
        for (name, kind, help, v) in simple {
            header(&mut out, name, kind, help);
            let _ = writeln!(out, "{name} {v}");
        }
        let name = "mixer_proxy_reports_dropped_total";
        header(
            &mut out,
            name,
            "counter",
            "Bags that never reached the telemetry service, by reason.",
        );
        for (i, (_, rn)) in REASONS.iter().enumerate() {
            let _ = writeln!(out, "{name}{{reason=\"{rn}\"}} {}", self.dropped[i].get());
        }
        self.render_checks(&mut out);
        let name = "mixer_proxy_access_log_lines_total";
        header(
            &mut out,
            name,
            "counter",
            "Access log lines queued for stdout (written) or lost to a full queue (dropped).",
        );
        for (result, v) in [
            ("written", self.access_log_written.get()),
            ("dropped", self.access_log_dropped.get()),
        ] {
            let _ = writeln!(out, "{name}{{result=\"{result}\"}} {v}");
        }
        out
    }

    fn render_checks(&self, out: &mut String) {
        let name = "mixer_proxy_checks_total";
        header(
            out,
            name,
            "counter",
            "Policy checks, by result (failed_open: allowed because the policy service could not answer).",
        );
        for (i, (_, rn)) in RESULTS.iter().enumerate() {
            let _ = writeln!(out, "{name}{{result=\"{rn}\"}} {}", self.checks[i].get());
        }
        let simple: [(&str, &str, u64); 8] = [
            (
                "mixer_proxy_check_cache_hits_total",
                "Checks answered from the check cache.",
                self.check_cache_hits.get(),
            ),
            (
                "mixer_proxy_check_cache_misses_total",
                "Checks the check cache could not answer.",
                self.check_cache_misses.get(),
            ),
            (
                "mixer_proxy_check_retries_total",
                "Check calls retried after a transport error.",
                self.check_retries.get(),
            ),
            (
                "mixer_proxy_check_refreshes_total",
                "Cached check answers refreshed in the background before they ran out.",
                self.check_refreshes.get(),
            ),
            (
                "mixer_proxy_check_slot_timeouts_total",
                "Checks that waited their whole deadline for one of --policy-max-requests call slots.",
                self.check_slot_timeouts.get(),
            ),
            (
                "mixer_proxy_quota_cache_hits_total",
                "Checked requests whose quotas the quota cache answered without a call.",
                self.quota_cache_hits.get(),
            ),
            (
                "mixer_proxy_quota_cache_misses_total",
                "Checked requests whose quotas went to the policy service with their Check (the check cache missed).",
                self.quota_cache_misses.get(),
            ),
            (
                "mixer_proxy_quota_prefetches_total",
                "Background Check calls asking for quota tokens ahead (best effort).",
                self.quota_prefetches.get(),
            ),
        ];
        for (name, help, v) in simple {
            header(out, name, "counter", help);
            let _ = writeln!(out, "{name} {v}");
        }
        let name = "mixer_proxy_check_duration_seconds";
        header(
            out,
            name,
            "histogram",
            "Time of the Check calls sent to the policy service, retries included.",
        );
        self.check_duration.render(out, name, "");
    }
}
