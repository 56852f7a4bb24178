//! The telemetry service's own metrics (`mixer_telemetry_*`), registered once at startup as
//! plain atomics and rendered in Prometheus text format on the monitoring port.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// A monotonically increasing count.
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    pub fn inc(&self) {
        self.add(1)
    }

    pub fn add(&self, n: u64) {
        self.0.fetch_add(n, Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A value that goes up and down.
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    pub fn set(&self, v: u64) {
        self.0.store(v, Relaxed);
    }

    pub fn get(&self) -> u64 {
        self.0.load(Relaxed)
    }
}

/// A histogram with fixed bounds.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    sum_bits: AtomicU64,
}

impl Histogram {
    pub fn new(bounds: &'static [f64]) -> Histogram {
        Histogram {
            bounds,
            buckets: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            sum_bits: AtomicU64::new(0f64.to_bits()),
        }
    }

    pub fn observe(&self, v: f64) {
        if let Some(i) = self.bounds.iter().position(|b| v <= *b) {
            self.buckets[i].fetch_add(1, Relaxed);
        }
        self.count.fetch_add(1, Relaxed);
        let _ = self.sum_bits.fetch_update(Relaxed, Relaxed, |bits| {
            Some((f64::from_bits(bits) + v).to_bits())
        });
    }

    pub fn count(&self) -> u64 {
        self.count.load(Relaxed)
    }

    fn render(&self, out: &mut String, name: &str) {
        let mut cumulative = 0;
        for (b, n) in self.bounds.iter().zip(self.buckets.iter()) {
            cumulative += n.load(Relaxed);
            let _ = writeln!(out, "{name}_bucket{{le=\"{b}\"}} {cumulative}");
        }
        let count = self.count();
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(
            out,
            "{name}_sum {}",
            f64::from_bits(self.sum_bits.load(Relaxed))
        );
        let _ = writeln!(out, "{name}_count {count}");
    }
}

/// Why a report, a bag or an instance was not (fully) processed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorReason {
    /// The request was not a valid `ReportRequest` (malformed, bad index, duplicate …).
    Decode,
    /// The caller's global dictionary is larger than ours.
    Dictionary,
    /// A rule's `match` could not be evaluated (a missing attribute): the rule was skipped.
    Match,
    /// An instance field could not be evaluated or converted: the instance was dropped.
    Instance,
    /// The service was at its concurrency limit and shed the call.
    Overloaded,
}

impl ErrorReason {
    const ALL: [ErrorReason; 5] = [
        ErrorReason::Decode,
        ErrorReason::Dictionary,
        ErrorReason::Match,
        ErrorReason::Instance,
        ErrorReason::Overloaded,
    ];

    fn label(self) -> &'static str {
        match self {
            ErrorReason::Decode => "decode",
            ErrorReason::Dictionary => "dictionary",
            ErrorReason::Match => "match",
            ErrorReason::Instance => "instance",
            ErrorReason::Overloaded => "overloaded",
        }
    }
}

const GRPC_CODES: [&str; 17] = [
    "OK",
    "Canceled",
    "Unknown",
    "InvalidArgument",
    "DeadlineExceeded",
    "NotFound",
    "AlreadyExists",
    "PermissionDenied",
    "ResourceExhausted",
    "FailedPrecondition",
    "Aborted",
    "OutOfRange",
    "Unimplemented",
    "Internal",
    "Unavailable",
    "DataLoss",
    "Unauthenticated",
];

const DURATION_BOUNDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];
const BATCH_BOUNDS: &[f64] = &[1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0];

/// Every self-metric of the telemetry service.
#[derive(Debug)]
pub struct TelemetryMetrics {
    reports: [Counter; 17],
    pub bags: Counter,
    errors: [Counter; 5],
    pub report_duration: Histogram,
    pub batch_size: Histogram,
    pub config_generation: Gauge,
    pub config_reloads_ok: Counter,
    pub config_reloads_failed: Counter,
}

impl Default for TelemetryMetrics {
    fn default() -> Self {
        TelemetryMetrics {
            reports: Default::default(),
            bags: Counter::default(),
            errors: Default::default(),
            report_duration: Histogram::new(DURATION_BOUNDS),
            batch_size: Histogram::new(BATCH_BOUNDS),
            config_generation: Gauge::default(),
            config_reloads_ok: Counter::default(),
            config_reloads_failed: Counter::default(),
        }
    }
}

impl TelemetryMetrics {
    /// Counts one finished Report call by its gRPC code.
    pub fn report_done(&self, code: i32) {
        if let Some(c) = usize::try_from(code).ok().and_then(|i| self.reports.get(i)) {
            c.inc();
        }
    }

    pub fn reports(&self, code: i32) -> u64 {
        usize::try_from(code)
            .ok()
            .and_then(|i| self.reports.get(i))
            .map_or(0, Counter::get)
    }

    pub fn error(&self, reason: ErrorReason, n: u64) {
        self.errors[reason as usize].add(n);
    }

    pub fn errors(&self, reason: ErrorReason) -> u64 {
        self.errors[reason as usize].get()
    }

    /// Appends the text exposition of these metrics to `out`.
    pub fn render(&self, out: &mut String) {
        let _ = writeln!(
            out,
            "# HELP mixer_telemetry_reports_total Report calls handled, by gRPC status code."
        );
        let _ = writeln!(out, "# TYPE mixer_telemetry_reports_total counter");
        for (code, c) in GRPC_CODES.iter().zip(&self.reports) {
            let _ = writeln!(
                out,
                "mixer_telemetry_reports_total{{grpc_code=\"{code}\"}} {}",
                c.get()
            );
        }
        counter(
            out,
            "mixer_telemetry_bags_total",
            "Attribute bags dispatched.",
            self.bags.get(),
        );
        let _ = writeln!(out, "# HELP mixer_telemetry_errors_total Reports, rules and instances not processed, by reason.");
        let _ = writeln!(out, "# TYPE mixer_telemetry_errors_total counter");
        for r in ErrorReason::ALL {
            let _ = writeln!(
                out,
                "mixer_telemetry_errors_total{{reason=\"{}\"}} {}",
                r.label(),
                self.errors(r)
            );
        }
        let _ = writeln!(out, "# HELP mixer_telemetry_report_duration_seconds Time to decode and dispatch one Report call.");
        let _ = writeln!(
            out,
            "# TYPE mixer_telemetry_report_duration_seconds histogram"
        );
        self.report_duration
            .render(out, "mixer_telemetry_report_duration_seconds");
        let _ = writeln!(
            out,
            "# HELP mixer_telemetry_report_batch_size Attribute bags per Report call."
        );
        let _ = writeln!(out, "# TYPE mixer_telemetry_report_batch_size histogram");
        self.batch_size
            .render(out, "mixer_telemetry_report_batch_size");
        let _ = writeln!(out, "# HELP mixer_telemetry_config_generation Generation of the config in use (1 = the first).");
        let _ = writeln!(out, "# TYPE mixer_telemetry_config_generation gauge");
        let _ = writeln!(
            out,
            "mixer_telemetry_config_generation {}",
            self.config_generation.get()
        );
        let _ = writeln!(
            out,
            "# HELP mixer_telemetry_config_reloads_total Config reloads, by result."
        );
        let _ = writeln!(out, "# TYPE mixer_telemetry_config_reloads_total counter");
        let _ = writeln!(
            out,
            "mixer_telemetry_config_reloads_total{{result=\"ok\"}} {}",
            self.config_reloads_ok.get()
        );
        let _ = writeln!(
            out,
            "mixer_telemetry_config_reloads_total{{result=\"error\"}} {}",
            self.config_reloads_failed.get()
        );
    }
}

fn counter(out: &mut String, name: &str, help: &str, v: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} counter");
    let _ = writeln!(out, "{name} {v}");
}
