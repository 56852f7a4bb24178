//! The `rbac` adapter (spec §7; Istio 1.0's Mixer RBAC): answers `authorization` instances
//! from the `ServiceRole` and `ServiceRoleBinding` documents of the config (apiVersion
//! `rbac.istio.io/v1alpha1`), each scoped to its namespace, optionally narrowed by an
//! `RbacConfig` (where RBAC applies, and whether only in permissive mode). A denial is
//! PERMISSION_DENIED `"RBAC: permission denied."`; every answer may be cached for the
//! handler's `cache_duration` (60 s by default).
//!
//! The documents are validated with the rest of the config through
//! [`check_documents`] (the `load_checked` hook of the rules layer): unknown fields, missing
//! rules, subjects or roleRef, wildcards Istio could never match and bindings naming a role
//! that does not exist are all reported at once, by file, document and field.

mod adapter;
mod config;
mod documents;
mod pattern;
mod store;

#[cfg(test)]
mod tests;

pub use adapter::{RbacHandler, StoreError, DENIED};
pub use config::{Params, DEFAULT_CACHE_DURATION, VALID_USE_COUNT};
pub use documents::EnforcementMode;
pub use pattern::{Pattern, Who};
pub use store::Store;

use mixer_rules::{AdapterSpec, Document, FieldProblem, HandlerContext, Problem, Template};
use serde_yaml_ng::Value as Yaml;

/// The adapter as the rules layer sees it.
pub const SPEC: AdapterSpec = AdapterSpec {
    name: "rbac",
    templates: &[Template::Authorization],
    check,
};

/// The document kinds this adapter reads from the config.
pub const KINDS: &[&str] = &mixer_rules::RBAC_KINDS;

/// Parses and validates `params`.
pub fn check(params: &Yaml, _: &HandlerContext<'_>) -> Vec<FieldProblem> {
    match Params::parse(params) {
        Ok(_) => Vec::new(),
        Err(p) => p,
    }
}

/// Every problem of the RBAC documents among `docs`, across documents.
pub fn check_documents(docs: &[Document]) -> Vec<Problem> {
    Store::build(docs).err().unwrap_or_default()
}
