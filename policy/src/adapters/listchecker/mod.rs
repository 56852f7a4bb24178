//! The `listchecker` adapter (adapter `list` in Istio, spec §7): is a `listentry` value on a
//! list? Entry types STRINGS, CASE_INSENSITIVE_STRINGS, IP_ADDRESSES (addresses and CIDR
//! ranges) and REGEX; a whitelist (default) or `blacklist`; local `overrides` plus a list
//! fetched from `provider_url` (`file://` or `http://`) and refreshed every
//! `refresh_interval`, the last good list kept up to `ttl` when fetches fail.
//!
//! Answers: whitelist miss PERMISSION_DENIED "<v> is not whitelisted"; blacklist hit
//! PERMISSION_DENIED "<v> is blacklisted"; a value that is neither a string nor an IP
//! INVALID_ARGUMENT; all cacheable for `caching_interval` / `caching_use_count`.

mod adapter;
mod config;
pub mod list;
pub mod provider;

#[cfg(test)]
mod tests;

pub use adapter::{ListError, ListHandler};
pub use config::{EntryType, Params, ProviderUrl};

use mixer_rules::{AdapterSpec, FieldProblem, HandlerContext, Template};
use serde_yaml_ng::Value as Yaml;

/// The adapter as the rules layer sees it.
pub const SPEC: AdapterSpec = AdapterSpec {
    name: "listchecker",
    templates: &[Template::ListEntry],
    check,
};

/// Parses and validates `params`.
pub fn check(params: &Yaml, _: &HandlerContext<'_>) -> Vec<FieldProblem> {
    match Params::parse(params) {
        Ok(_) => Vec::new(),
        Err(p) => p,
    }
}
