//! The handler's `params` (`adapter.prometheus.config.Params`, spec §7, plus our two
//! extensions) as types. Reading them from YAML is in `parse`, the checks against the rest of
//! the config in `check`.

use super::names::safe_name;
use std::time::Duration;

/// Prefix of every exported name unless a metric sets its own `namespace`.
pub const DEFAULT_NAMESPACE: &str = "istio";
/// Default of our `max_series_per_metric` extension.
pub const DEFAULT_MAX_SERIES_PER_METRIC: usize = 100_000;

/// `Params.MetricInfo.Kind`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Gauge,
    Counter,
    Distribution,
}

/// Our `duration_unit` extension: what a DURATION value becomes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum DurationUnit {
    /// Istio's behaviour (`time.Duration.Seconds()`).
    #[default]
    Seconds,
    Milliseconds,
}

/// `Params.MetricInfo.BucketsDefinition`.
#[derive(Clone, Debug, PartialEq)]
pub enum Buckets {
    Linear {
        num_finite_buckets: i32,
        width: f64,
        offset: f64,
    },
    Exponential {
        num_finite_buckets: i32,
        growth_factor: f64,
        scale: f64,
    },
    Explicit {
        bounds: Vec<f64>,
    },
}

impl Buckets {
    /// Upper bounds, computed as Istio does: `LinearBuckets(offset, width, n+1)` and
    /// `ExponentialBuckets(scale, growth_factor, n+1)` (client_golang's repeated add/multiply).
    pub fn bounds(&self) -> Vec<f64> {
        match self {
            Buckets::Explicit { bounds } => bounds.clone(),
            Buckets::Linear {
                num_finite_buckets,
                width,
                offset,
            } => {
                let mut start = *offset;
                (0..=*num_finite_buckets)
                    .map(|_| {
                        let b = start;
                        start += width;
                        b
                    })
                    .collect()
            }
            Buckets::Exponential {
                num_finite_buckets,
                growth_factor,
                scale,
            } => {
                let mut start = *scale;
                (0..=*num_finite_buckets)
                    .map(|_| {
                        let b = start;
                        start *= growth_factor;
                        b
                    })
                    .collect()
            }
        }
    }
}

/// `Params.MetricInfo` plus `duration_unit`.
#[derive(Clone, Debug, PartialEq)]
pub struct MetricInfo {
    pub namespace: String,
    pub name: String,
    pub instance_name: String,
    pub description: String,
    pub kind: Kind,
    pub buckets: Option<Buckets>,
    pub label_names: Vec<String>,
    pub duration_unit: DurationUnit,
}

impl MetricInfo {
    /// The exported family name: sanitised namespace (default `istio`) and sanitised name
    /// (default: the instance name), joined by `_`.
    pub fn exported_name(&self) -> String {
        let ns = if self.namespace.is_empty() {
            DEFAULT_NAMESPACE.to_owned()
        } else {
            safe_name(&self.namespace)
        };
        let name = safe_name(self.raw_name());
        match (ns.is_empty(), name.is_empty()) {
            (_, true) => String::new(),
            (true, false) => name,
            (false, false) => format!("{ns}_{name}"),
        }
    }

    /// `# HELP` text: the description, or the unsanitised name as Istio does.
    pub fn help(&self) -> &str {
        if self.description.is_empty() {
            self.raw_name()
        } else {
            &self.description
        }
    }

    fn raw_name(&self) -> &str {
        if self.name.is_empty() {
            &self.instance_name
        } else {
            &self.name
        }
    }

    /// Histogram upper bounds (empty unless DISTRIBUTION).
    pub fn bounds(&self) -> Vec<f64> {
        match (&self.kind, &self.buckets) {
            (Kind::Distribution, Some(b)) => b.bounds(),
            _ => Vec::new(),
        }
    }
}

/// `Params.MetricsExpirationPolicy`, defaults applied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExpirationPolicy {
    /// A series idle this long is deleted.
    pub expiry: Duration,
    /// How often to look (default: half the expiry).
    pub check_interval: Duration,
}

/// A handler's validated `params`.
#[derive(Clone, Debug, PartialEq)]
pub struct Params {
    pub metrics: Vec<MetricInfo>,
    pub expiration: Option<ExpirationPolicy>,
    /// Our extension: new label sets beyond this many series per metric go to one overflow
    /// series.
    pub max_series_per_metric: usize,
}
