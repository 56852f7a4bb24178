//! `adapter.memquota.config.Params` (spec §7): quotas by instance name with `max_amount`,
//! `valid_duration` and per-dimension `overrides`, and `min_deduplication_duration`. One
//! extension of ours, per quota: `rate_limit_algorithm` (ROLLING_WINDOW, Istio's behaviour and
//! the default, or FIXED_WINDOW, as redisquota names them).

use crate::adapters::params::{self, non_negative, ConfigDuration};
use crate::adapters::quotas;
use mixer_rules::FieldProblem;
use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeMap;
use std::time::Duration;

/// How a windowed quota counts.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum Algorithm {
    /// The last `valid_duration`, in 100 ms slots (Istio's memquota).
    #[default]
    #[serde(rename = "ROLLING_WINDOW")]
    Rolling,
    /// Consecutive windows of `valid_duration`; the count resets at each boundary.
    #[serde(rename = "FIXED_WINDOW")]
    Fixed,
}

/// `Params.Override`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Override {
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    #[serde(alias = "maxAmount")]
    pub max_amount: i64,
    #[serde(alias = "validDuration")]
    pub valid_duration: Option<ConfigDuration>,
}

/// `Params.Quota`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    pub name: String,
    #[serde(alias = "maxAmount")]
    pub max_amount: i64,
    #[serde(alias = "validDuration")]
    pub valid_duration: Option<ConfigDuration>,
    #[serde(default)]
    pub overrides: Vec<Override>,
    #[serde(alias = "rateLimitAlgorithm", default)]
    pub rate_limit_algorithm: Algorithm,
}

/// The handler's `params` as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub quotas: Vec<Quota>,
    #[serde(alias = "minDeduplicationDuration")]
    pub min_deduplication_duration: Option<ConfigDuration>,
}

pub const DEFAULT_MIN_DEDUPLICATION_DURATION: Duration = Duration::from_secs(1);

impl Params {
    /// Reads `params` and [`validate`](Self::validate)s them.
    pub fn parse(params: &Yaml) -> Result<Params, Vec<FieldProblem>> {
        let p: Params = params::parse(params)?;
        let problems = p.validate();
        if problems.is_empty() {
            Ok(p)
        } else {
            Err(problems)
        }
    }

    /// Every problem of params that parsed.
    pub fn validate(&self) -> Vec<FieldProblem> {
        let mut out = Vec::new();
        if let Some(d) = self.min_deduplication_duration {
            if d.nanos <= 0 {
                out.push(
                    FieldProblem::new("min_deduplication_duration", "must be positive")
                        .value(format!("{}ns", d.nanos))
                        .example("1s"),
                );
            }
        }
        let mut seen = BTreeMap::new();
        for (i, q) in self.quotas.iter().enumerate() {
            let at = |f: &str| format!("quotas[{i}].{f}");
            quotas::name_problems(i, &q.name, &mut seen, &mut out);
            amount(&at("max_amount"), q.max_amount, &mut out);
            non_negative(&at("valid_duration"), q.valid_duration, &mut out);
            let zero = q.valid_duration.is_none_or(|d| d.nanos == 0);
            if q.rate_limit_algorithm == Algorithm::Fixed && zero {
                out.push(
                    FieldProblem::new(
                        at("valid_duration"),
                        "a FIXED_WINDOW quota needs a window: valid_duration must be positive",
                    )
                    .example("1s"),
                );
            }
            for (j, o) in q.overrides.iter().enumerate() {
                let at = |f: &str| format!("quotas[{i}].overrides[{j}].{f}");
                if o.dimensions.is_empty() {
                    out.push(
                        FieldProblem::new(at("dimensions"), "must name at least one dimension")
                            .example("{destination: ratings}"),
                    );
                }
                amount(&at("max_amount"), o.max_amount, &mut out);
                non_negative(&at("valid_duration"), o.valid_duration, &mut out);
            }
        }
        out
    }

    pub fn min_deduplication_duration(&self) -> Duration {
        self.min_deduplication_duration
            .map_or(DEFAULT_MIN_DEDUPLICATION_DURATION, ConfigDuration::to_std)
    }
}

fn amount(field: &str, n: i64, out: &mut Vec<FieldProblem>) {
    if n < 0 {
        out.push(
            FieldProblem::new(field, "must not be negative")
                .value(n.to_string())
                .example("100"),
        );
    }
}
