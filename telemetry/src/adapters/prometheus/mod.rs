//! The `prometheus` adapter (spec §7): `metric` instances become Prometheus counters, gauges
//! and histograms, exported in the text format exactly as Istio's adapter (client_golang)
//! exports them. Pure logic: the Report service feeds it and serves [`PrometheusHandler::render`]
//! on `/metrics`.
//!
//! How a Report flows through it: the service keeps a [`Batch`] per worker; for each bag it
//! calls [`Batch::bag`] and hands every instance `Plan::dispatch` sends to this handler to
//! [`BagRecorder::record`]. Metrics that read the same label expressions (the four HTTP
//! metrics of the standard config) form one label group: a bag's label set is evaluated,
//! stringified and hashed once per group, and the batch pre-aggregates per label set. Once
//! per Report, [`PrometheusHandler::merge`] takes each group's lock once and updates the
//! shared series, allocating only for new ones.
//!
//! Behaviour as Istio's: COUNTER adds, GAUGE sets, DISTRIBUTION observes; values are int64,
//! double, duration or a numeric string (anything else is counted and skipped); label values
//! are formatted as `adapter.Stringify` does; names are sanitised (`/`, `.`, space → `_`, `-`
//! dropped) and prefixed by the namespace (default `istio`); with `metrics_expiration_policy`
//! a series idle for the expiry is deleted ([`PrometheusHandler::expire`]).
//!
//! Two extensions of ours, both in `params`:
//! - `max_series_per_metric` (handler level, default 100000): once a metric has that many
//!   series, samples of new label sets go to one overflow series whose every label value is
//!   `mixer_overflow`, and `mixer_prometheus_series_overflow_total{metric}` counts them.
//! - `duration_unit: SECONDS | MILLISECONDS` per metric (default SECONDS, as Istio): so a
//!   config can export `istio_request_duration_milliseconds` from `response.duration`.
//!
//! Deliberate difference: a DISTRIBUTION must define its buckets (Istio falls back to
//! client_golang's default buckets, which are in seconds and fit no byte-sized metric).

mod adapter;
mod batch;
mod check;
mod config;
mod exposition;
mod inherit;
mod label_memo;
mod labels;
mod names;
mod parse;
mod registry;
mod stringify;

#[cfg(test)]
mod tests;

pub use adapter::{BuildError, MetricStats, MetricTotal, PrometheusHandler};
pub use batch::{BagRecorder, Batch};
pub use check::{check, check_across_handlers};
pub use config::{
    Buckets, DurationUnit, ExpirationPolicy, Kind, MetricInfo, Params,
    DEFAULT_MAX_SERIES_PER_METRIC, DEFAULT_NAMESPACE,
};
pub use exposition::{write_float, CONTENT_TYPE};
pub use names::{safe_name, valid_label_name, valid_metric_name};
pub use registry::OVERFLOW_LABEL_VALUE;
pub use stringify::{label as stringify_label, value as sample_value, ValueError};

use mixer_rules::{AdapterSpec, Template};

/// The adapter as the rules layer sees it.
pub const SPEC: AdapterSpec = AdapterSpec {
    name: "prometheus",
    templates: &[Template::Metric],
    check,
};
