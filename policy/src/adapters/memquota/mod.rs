//! The `memquota` adapter (spec §7): quotas counted in this process — fixed or rolling
//! windows of `valid_duration` (or a plain allocation counter when it is 0), limits by
//! `max_amount` with per-dimension `overrides` (first match wins), best-effort partial grants,
//! and deduplication of retried calls within `min_deduplication_duration`. One replica's
//! count: limits shared by several replicas are redisquota's job.

mod adapter;
mod config;
mod window;

#[cfg(test)]
mod tests;

pub use adapter::{MemQuotaHandler, MAX_COUNTERS, MAX_DEDUP_ENTRIES};
pub use config::{Algorithm, Override, Params, Quota};
pub use window::{Window, TICK};

use super::quotas;
use mixer_rules::{AdapterSpec, FieldProblem, HandlerContext, Template};
use serde_yaml_ng::Value as Yaml;

/// The adapter as the rules layer sees it.
pub const SPEC: AdapterSpec = AdapterSpec {
    name: "memquota",
    templates: &[Template::Quota],
    check,
};

/// Parses and validates `params`; every quota must name a `quota` instance.
pub fn check(params: &Yaml, ctx: &HandlerContext<'_>) -> Vec<FieldProblem> {
    match Params::parse(params) {
        Ok(p) => quotas::check_instances(p.quotas.iter().map(|q| q.name.as_str()), ctx),
        Err(p) => p,
    }
}
