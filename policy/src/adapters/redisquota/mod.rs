//! The `redisquota` adapter (spec §7): quotas counted in a Redis server that every policy
//! replica shares, so a limit holds across replicas. Each allocation is one Lua script run
//! atomically in Redis ([`scripts`]): FIXED_WINDOW (the default) or ROLLING_WINDOW, limits by
//! `max_amount` with per-dimension `overrides` (first match wins), best-effort partial grants,
//! and deduplication of retried calls kept in Redis too. Redis is reached through a small
//! RESP2 client with a bounded pool and a per-call deadline ([`client`]); when it cannot be
//! reached in time the quota is answered UNAVAILABLE and the failure counted — the request
//! path never waits longer than the handler's `timeout`.
//!
//! Unlike the other adapters, the handler does not answer on the spot: it returns an
//! [`Allocation`] that the service awaits (see `engine::Checked`).

mod adapter;
mod client;
mod config;
mod resp;
mod scripts;

#[cfg(test)]
mod tests;

pub use adapter::{base_key, failed, Allocation, Failure, RedisQuotaHandler};
pub use client::{Error, Pool};
pub use config::{
    Algorithm, Override, Params, Quota, DEFAULT_CONNECTION_POOL_SIZE, DEFAULT_REDIS_SERVER_URL,
    DEFAULT_TIMEOUT,
};
pub use resp::{parse as parse_reply, ParseError, Reply};

use super::quotas;
use mixer_rules::{AdapterSpec, FieldProblem, HandlerContext, Template};
use serde_yaml_ng::Value as Yaml;

/// The adapter as the rules layer sees it.
pub const SPEC: AdapterSpec = AdapterSpec {
    name: "redisquota",
    templates: &[Template::Quota],
    check,
};

/// Parses and validates `params` offline (no connection to Redis); every quota must name a
/// `quota` instance.
pub fn check(params: &Yaml, ctx: &HandlerContext<'_>) -> Vec<FieldProblem> {
    match Params::parse(params) {
        Ok(p) => quotas::check_instances(p.quotas.iter().map(|q| q.name.as_str()), ctx),
        Err(p) => p,
    }
}
