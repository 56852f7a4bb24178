//! Where the policy config comes from: every YAML file of a directory, or the built-in default
//! (no rules: every Check is allowed), validated against the policy adapters — the RBAC
//! documents (`ServiceRole`, `ServiceRoleBinding`, `RbacConfig`) included.

use crate::adapters;
use mixer_rules::{load_checked, Catalog, Config, Problems, Source};
use std::path::Path;

/// Served when no `--config` is given.
pub const DEFAULT_CONFIG: &str = include_str!("../config/default.yaml");

/// What the policy service knows how to load.
pub const CATALOG: Catalog<'static> = Catalog {
    adapters: adapters::SPECS,
    other_kinds: adapters::rbac::KINDS,
};

/// Validates `files` as (path, text) pairs.
pub fn validate(files: &[(String, String)]) -> Result<Config, Problems> {
    let sources: Vec<Source<'_>> = files
        .iter()
        .map(|(file, text)| Source { file, text })
        .collect();
    load_checked(&sources, &CATALOG, adapters::rbac::check_documents)
}

/// Reads and validates `dir`, or the default config when `None`; the error is printable.
pub fn load_dir(dir: Option<&Path>) -> Result<Config, String> {
    let files = match dir {
        Some(d) => {
            mixer_serving::config_dir::read(d).map_err(|e| format!("{}: {e}", d.display()))?
        }
        None => vec![(
            "<default policy config>".to_owned(),
            DEFAULT_CONFIG.to_owned(),
        )],
    };
    validate(&files).map_err(|p| p.to_string())
}
