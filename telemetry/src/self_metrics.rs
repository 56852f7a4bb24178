//! The telemetry service's own metrics (`mixer_telemetry_*`), registered once at startup as
//! plain atomics and rendered in Prometheus text format on the monitoring port.

use mixer_serving::metrics::header;
pub use mixer_serving::metrics::{Counter, Gauge, Histogram};
use std::fmt::Write;

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
}

impl ErrorReason {
    const ALL: [ErrorReason; 4] = [
        ErrorReason::Decode,
        ErrorReason::Dictionary,
        ErrorReason::Match,
        ErrorReason::Instance,
    ];

    fn label(self) -> &'static str {
        match self {
            ErrorReason::Decode => "decode",
            ErrorReason::Dictionary => "dictionary",
            ErrorReason::Match => "match",
            ErrorReason::Instance => "instance",
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
    errors: [Counter; 4],
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
        header(
            out,
            "mixer_telemetry_reports_total",
            "counter",
            "Report calls handled, by gRPC status code.",
        );
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
        header(
            out,
            "mixer_telemetry_errors_total",
            "counter",
            "Reports, rules and instances not processed, by reason.",
        );
        for r in ErrorReason::ALL {
            let _ = writeln!(
                out,
                "mixer_telemetry_errors_total{{reason=\"{}\"}} {}",
                r.label(),
                self.errors(r)
            );
        }
        let name = "mixer_telemetry_report_duration_seconds";
        let help = "Time to decode and dispatch one Report call.";
        header(out, name, "histogram", help);
        self.report_duration.render(out, name, "");
        let name = "mixer_telemetry_report_batch_size";
        header(out, name, "histogram", "Attribute bags per Report call.");
        self.batch_size.render(out, name, "");
        header(
            out,
            "mixer_telemetry_config_generation",
            "gauge",
            "Generation of the config in use (1 = the first).",
        );
        let _ = writeln!(
            out,
            "mixer_telemetry_config_generation {}",
            self.config_generation.get()
        );
        header(
            out,
            "mixer_telemetry_config_reloads_total",
            "counter",
            "Config reloads, by result.",
        );
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
    header(out, name, "counter", help);
    let _ = writeln!(out, "{name} {v}");
}
