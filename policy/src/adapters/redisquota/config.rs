//! `adapter.redisquota.config.Params` (spec §7): quotas by instance name with `max_amount`,
//! `valid_duration`, `bucket_duration` and `rate_limit_algorithm` (FIXED_WINDOW, the default,
//! or ROLLING_WINDOW) and per-dimension `overrides`, the server's `redis_server_url` and the
//! `connection_pool_size`. One extension of ours: `timeout`, the bound on one allocation's
//! time in Redis (waiting for a connection, connecting and the script's round trip).

use crate::adapters::params::{self, ConfigDuration};
use crate::adapters::quotas;
use mixer_rules::FieldProblem;
use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;
use std::collections::BTreeMap;
use std::time::Duration;

pub use crate::adapters::memquota::Algorithm;

pub const DEFAULT_REDIS_SERVER_URL: &str = "localhost:6379";
pub const DEFAULT_CONNECTION_POOL_SIZE: usize = 10;
/// Most connections one handler may open (the pool is bounded).
pub const MAX_CONNECTION_POOL_SIZE: i64 = 1000;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1);
pub const MAX_TIMEOUT: Duration = Duration::from_secs(60);
/// Largest amount the scripts count exactly (Lua numbers are doubles).
pub const MAX_AMOUNT: i64 = (1 << 53) - 1;

fn fixed_window() -> Algorithm {
    Algorithm::Fixed
}

/// `Params.Override`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Override {
    #[serde(default)]
    pub dimensions: BTreeMap<String, String>,
    #[serde(alias = "maxAmount")]
    pub max_amount: i64,
}

/// `Params.Quota`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Quota {
    pub name: String,
    #[serde(alias = "maxAmount")]
    pub max_amount: i64,
    #[serde(alias = "validDuration")]
    pub valid_duration: Option<ConfigDuration>,
    #[serde(alias = "bucketDuration")]
    pub bucket_duration: Option<ConfigDuration>,
    #[serde(alias = "rateLimitAlgorithm", default = "fixed_window")]
    pub rate_limit_algorithm: Algorithm,
    #[serde(default)]
    pub overrides: Vec<Override>,
}

/// The handler's `params` as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(default)]
    pub quotas: Vec<Quota>,
    #[serde(alias = "redisServerUrl")]
    pub redis_server_url: Option<String>,
    #[serde(alias = "connectionPoolSize")]
    pub connection_pool_size: Option<i64>,
    pub timeout: Option<ConfigDuration>,
}

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
        if self.quotas.is_empty() {
            out.push(
                FieldProblem::new("quotas", "at least one quota is required")
                    .example("[{name: requestcountquota.instance.istio-system, maxAmount: 100, validDuration: 1s}]"),
            );
        }
        let mut seen = BTreeMap::new();
        for (i, q) in self.quotas.iter().enumerate() {
            let at = |f: &str| format!("quotas[{i}].{f}");
            quotas::name_problems(i, &q.name, &mut seen, &mut out);
            amount(&at("max_amount"), q.max_amount, &mut out);
            let valid = at_least_1ms(&at("valid_duration"), q.valid_duration, "1s", &mut out);
            if q.rate_limit_algorithm == Algorithm::Rolling {
                let bucket =
                    at_least_1ms(&at("bucket_duration"), q.bucket_duration, "100ms", &mut out);
                if let (Some(v), Some(b)) = (valid, bucket) {
                    if b >= v {
                        out.push(
                            FieldProblem::new(
                                at("bucket_duration"),
                                "a ROLLING_WINDOW quota needs buckets shorter than its window (valid_duration)",
                            )
                            .value(format!("{b:?} >= {v:?}"))
                            .example("valid_duration: 1m, bucket_duration: 1s"),
                        );
                    }
                }
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
            }
        }
        if let Some(url) = &self.redis_server_url {
            if !valid_address(url) {
                out.push(
                    FieldProblem::new("redis_server_url", "must be host:port")
                        .value(format!("{url:?}"))
                        .example(DEFAULT_REDIS_SERVER_URL),
                );
            }
        }
        if let Some(n) = self.connection_pool_size {
            if !(0..=MAX_CONNECTION_POOL_SIZE).contains(&n) {
                out.push(
                    FieldProblem::new(
                        "connection_pool_size",
                        format!("must be between 1 and {MAX_CONNECTION_POOL_SIZE} (0 means the default, {DEFAULT_CONNECTION_POOL_SIZE})"),
                    )
                    .value(n.to_string())
                    .example("10"),
                );
            }
        }
        if let Some(t) = self.timeout {
            if t.nanos <= 0 || t.to_std() > MAX_TIMEOUT {
                out.push(
                    FieldProblem::new(
                        "timeout",
                        format!("must be positive and at most {MAX_TIMEOUT:?}"),
                    )
                    .value(format!("{}ns", t.nanos))
                    .example("500ms"),
                );
            }
        }
        out
    }

    /// `host:port` of the Redis server.
    pub fn address(&self) -> &str {
        self.redis_server_url
            .as_deref()
            .unwrap_or(DEFAULT_REDIS_SERVER_URL)
    }

    /// Connections the handler may hold at once.
    pub fn pool_size(&self) -> usize {
        match self.connection_pool_size {
            Some(n) if n > 0 => usize::try_from(n).unwrap_or(DEFAULT_CONNECTION_POOL_SIZE),
            _ => DEFAULT_CONNECTION_POOL_SIZE,
        }
    }

    /// Bound on one allocation's time in Redis.
    pub fn timeout(&self) -> Duration {
        self.timeout.map_or(DEFAULT_TIMEOUT, ConfigDuration::to_std)
    }
}

/// `host:port` with a numeric port (a `[v6]:port` host is fine too).
fn valid_address(url: &str) -> bool {
    match url.rsplit_once(':') {
        Some((host, port)) => !host.is_empty() && port.parse::<u16>().is_ok_and(|p| p > 0),
        None => false,
    }
}

fn amount(field: &str, n: i64, out: &mut Vec<FieldProblem>) {
    if !(1..=MAX_AMOUNT).contains(&n) {
        out.push(
            FieldProblem::new(field, format!("must be between 1 and {MAX_AMOUNT}"))
                .value(n.to_string())
                .example("100"),
        );
    }
}

/// The duration when it is at least 1 ms (the scripts count in milliseconds); else a problem.
fn at_least_1ms(
    field: &str,
    d: Option<ConfigDuration>,
    example: &str,
    out: &mut Vec<FieldProblem>,
) -> Option<Duration> {
    match d {
        Some(d) if d.nanos >= 1_000_000 => Some(d.to_std()),
        Some(d) => {
            out.push(
                FieldProblem::new(field, "must be at least 1ms")
                    .value(format!("{}ns", d.nanos))
                    .example(example),
            );
            None
        }
        None => {
            out.push(FieldProblem::new(field, "required").example(example));
            None
        }
    }
}
