//! `adapter.rbac.config.Params` (spec §7): `config_store_url`, accepted and ignored — roles and
//! bindings are read from the same config as the handler, not from a store of their own — and
//! `cache_duration`, how long a proxy may cache each answer (Istio's default: 60 s).

use crate::adapters::params::{self, non_negative, ConfigDuration};
use mixer_rules::FieldProblem;
use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;
use std::time::Duration;

/// The handler's `params` as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Istio 1.0 read roles from this store (`k8s://`, `fs:///etc/rbac`). Here the
    /// `ServiceRole` / `ServiceRoleBinding` documents come with the rest of the config, so
    /// any value is accepted and none is used.
    #[serde(alias = "configStoreUrl")]
    pub config_store_url: Option<String>,
    #[serde(alias = "cacheDuration")]
    pub cache_duration: Option<ConfigDuration>,
}

/// Istio's `DefaultConfig` for the rbac adapter.
pub const DEFAULT_CACHE_DURATION: Duration = Duration::from_secs(60);
/// What Istio's rbac adapter answers as `valid_use_count`, always.
pub const VALID_USE_COUNT: i32 = 1_000_000_000;

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
        non_negative("cache_duration", self.cache_duration, &mut out);
        out
    }

    pub fn cache_duration(&self) -> Duration {
        self.cache_duration
            .map_or(DEFAULT_CACHE_DURATION, ConfigDuration::to_std)
    }
}
