//! The `denier` adapter (spec §7): answers every `checknothing` and `listentry` instance with
//! the configured status (default FAILED_PRECONDITION), `valid_duration` (5 s) and
//! `valid_use_count` (1000); a `quota` instance gets nothing granted.

mod adapter;
mod config;

#[cfg(test)]
mod tests;

pub use adapter::DenierHandler;
pub use config::{Code, Params, StatusParams};

use mixer_rules::{AdapterSpec, FieldProblem, HandlerContext, Template};
use serde_yaml_ng::Value as Yaml;

/// The adapter as the rules layer sees it.
pub const SPEC: AdapterSpec = AdapterSpec {
    name: "denier",
    templates: &[Template::CheckNothing, Template::ListEntry, Template::Quota],
    check,
};

/// Parses and validates `params`.
pub fn check(params: &Yaml, _: &HandlerContext<'_>) -> Vec<FieldProblem> {
    match Params::parse(params) {
        Ok(_) => Vec::new(),
        Err(p) => p,
    }
}
