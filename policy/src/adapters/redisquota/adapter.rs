//! The redisquota handler. On the request path it only decides (no I/O): which quota the
//! instance is, its limit (the first matching override's `max_amount`, else the quota's), and
//! the Redis keys; the returned [`Allocation`] is then awaited by the service, and runs the
//! algorithm's script in Redis through the handler's bounded pool.
//!
//! Keys are stable across replicas and restarts: `mixer:rq:{<handler>|<instance>;<dim>=<value>…}`
//! (dimensions sorted by name; `%`, `{`, `}`, `|`, `;`, `=` percent-escaped so two different
//! instances never share a key), then `:fixed`, or `:rolling` and `:rolling:buckets`, and
//! `:dedup:<dedup id>`. The braces make every key of one counter a Redis Cluster hash tag, so a
//! script's keys stay in one slot.

use super::client::{Error, Pool};
use super::config::{Algorithm, Params, Quota};
use super::resp::Reply;
use super::scripts;
use crate::adapters::quotas::{self, ByInstance};
use crate::adapters::{code, status, Instance, QuotaAnswer, QuotaArgs, QuotaResult};
use std::sync::Arc;
use std::time::Duration;

/// Why an allocation failed, as counted in `mixer_policy_redisquota_errors_total{reason}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// No answer within the handler's timeout.
    Timeout,
    /// Could not connect, or the connection broke.
    Connection,
    /// Redis answered with an error (a script error, OOM, …).
    Reply,
    /// The answer was not what the script returns.
    Protocol,
}

impl Failure {
    pub const ALL: [Failure; 4] = [
        Failure::Timeout,
        Failure::Connection,
        Failure::Reply,
        Failure::Protocol,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Failure::Timeout => "timeout",
            Failure::Connection => "connection",
            Failure::Reply => "reply",
            Failure::Protocol => "protocol",
        }
    }

    pub fn of(e: &Error) -> Failure {
        match e {
            Error::Timeout { .. } => Failure::Timeout,
            Error::Io { .. } => Failure::Connection,
            Error::Reply { .. } => Failure::Reply,
            Error::Protocol { .. } => Failure::Protocol,
        }
    }
}

/// The answer a failed allocation gives the caller: UNAVAILABLE when Redis could not be used
/// (the proxy's fail policy decides), INTERNAL when it answered nonsense.
pub fn failed(e: &Error) -> QuotaResult {
    let code = match Failure::of(e) {
        Failure::Protocol => code::INTERNAL,
        _ => code::UNAVAILABLE,
    };
    QuotaResult {
        status: status(code, format!("redisquota: {e}")),
        granted: 0,
        valid_duration: Duration::ZERO,
    }
}

/// A built `redisquota` handler.
#[derive(Debug)]
pub struct RedisQuotaHandler {
    name: String,
    limits: ByInstance<Quota>,
    pool: Arc<Pool>,
}

/// One allocation to run in Redis: everything decided, nothing borrowed.
#[derive(Debug)]
pub struct Allocation {
    pool: Arc<Pool>,
    algorithm: Algorithm,
    keys: Vec<String>,
    args: Vec<String>,
}

impl RedisQuotaHandler {
    /// `name` is the handler's fully-qualified name (part of every key); `namespace` and
    /// `instances` resolve short quota names. Connects lazily.
    pub fn new(
        params: Params,
        name: &str,
        namespace: &str,
        instances: &[mixer_rules::Instance],
    ) -> RedisQuotaHandler {
        let pool = Arc::new(Pool::new(
            params.address(),
            params.pool_size(),
            params.timeout(),
        ));
        RedisQuotaHandler {
            name: name.to_owned(),
            limits: ByInstance::new(params.quotas, |q| &q.name, namespace, instances),
            pool,
        }
    }

    /// Decides what to allocate for one instance; the Redis work is in the returned
    /// [`Allocation`]. Amounts of 0 or less are answered at once (windows free themselves).
    pub fn alloc(&self, instance: &Instance<'_>, args: QuotaArgs<'_>) -> QuotaAnswer {
        let Some(q) = self.limits.get(instance.name) else {
            return QuotaAnswer::Ready(QuotaResult {
                status: status(
                    code::INVALID_ARGUMENT,
                    format!("no quota configured for instance {}", instance.name),
                ),
                granted: 0,
                valid_duration: Duration::ZERO,
            });
        };
        if args.amount <= 0 {
            return QuotaAnswer::Ready(QuotaResult {
                status: status(code::OK, ""),
                granted: 0,
                valid_duration: Duration::ZERO,
            });
        }
        let dims = quotas::dimensions(instance);
        let max = quotas::first_match(&q.overrides, &dims, |o| &o.dimensions)
            .map_or(q.max_amount, |o| o.max_amount);
        let base = base_key(&self.name, instance.name, &dims);
        let ms = |d: Option<crate::adapters::params::ConfigDuration>| {
            (d.map_or(Duration::ZERO, |d| d.to_std()).as_millis()).to_string()
        };
        let best_effort = if args.best_effort { "1" } else { "0" };
        let (mut keys, args_) = match q.rate_limit_algorithm {
            Algorithm::Fixed => (
                vec![format!("{base}:fixed")],
                vec![
                    max.to_string(),
                    ms(q.valid_duration),
                    args.amount.to_string(),
                    best_effort.to_owned(),
                    String::new(),
                ],
            ),
            Algorithm::Rolling => (
                vec![format!("{base}:rolling"), format!("{base}:rolling:buckets")],
                vec![
                    max.to_string(),
                    ms(q.valid_duration),
                    ms(q.bucket_duration),
                    args.amount.to_string(),
                    best_effort.to_owned(),
                    String::new(),
                ],
            ),
        };
        if !args.dedup_id.is_empty() {
            keys.push(format!("{base}:dedup:{}", escape(args.dedup_id)));
        }
        QuotaAnswer::Pending(Allocation {
            pool: self.pool.clone(),
            algorithm: q.rate_limit_algorithm,
            keys,
            args: args_,
        })
    }

    /// The pool (tests: reachability, reuse).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }
}

impl Allocation {
    /// Runs the script; the answer is OK (in full or, best effort, in part) or
    /// RESOURCE_EXHAUSTED with nothing granted. A failure is for [`failed`] to answer.
    pub async fn run(self) -> Result<QuotaResult, Error> {
        let script = match self.algorithm {
            Algorithm::Fixed => &scripts::FIXED_WINDOW,
            Algorithm::Rolling => &scripts::ROLLING_WINDOW,
        };
        let keys: Vec<&str> = self.keys.iter().map(String::as_str).collect();
        let args: Vec<&str> = self.args.iter().map(String::as_str).collect();
        let reply = self.pool.eval(script, &keys, &args).await?;
        let (granted, valid_ms) = match &reply {
            Reply::Array(Some(items)) => match items.as_slice() {
                [Reply::Int(g), Reply::Int(v), Reply::Int(_)] if *g >= 0 && *v >= 0 => (*g, *v),
                _ => (-1, -1),
            },
            _ => (-1, -1),
        };
        if granted < 0 {
            return Err(Error::Protocol {
                addr: self.pool.addr().to_owned(),
                message: format!("script answered {reply:?}"),
            });
        }
        Ok(QuotaResult {
            status: if granted > 0 {
                status(code::OK, "")
            } else {
                status(code::RESOURCE_EXHAUSTED, "redisquota: resource exhausted")
            },
            granted,
            valid_duration: Duration::from_millis(valid_ms.unsigned_abs()),
        })
    }

    /// The keys the script touches (tests).
    pub fn keys(&self) -> &[String] {
        &self.keys
    }

    /// The script's arguments (tests).
    pub fn args(&self) -> &[String] {
        &self.args
    }

    /// Runs at `now_ms` (milliseconds since the Unix epoch) instead of Redis's clock (tests).
    pub fn at(mut self, now_ms: u64) -> Allocation {
        if let Some(last) = self.args.last_mut() {
            *last = now_ms.to_string();
        }
        self
    }
}

/// `mixer:rq:{<handler>|<instance>;<dim>=<value>…}` with the parts escaped.
pub fn base_key(handler: &str, instance: &str, dims: &[(&str, String)]) -> String {
    let mut key = format!("mixer:rq:{{{}|{}", escape(handler), escape(instance));
    for (k, v) in dims {
        key.push(';');
        key.push_str(&escape(k));
        key.push('=');
        key.push_str(&escape(v));
    }
    key.push('}');
    key
}

/// Percent-escapes the characters that structure a key.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '%' | '{' | '}' | '|' | ';' | '=' => out.push_str(&format!("%{:02X}", c as u32)),
            c => out.push(c),
        }
    }
    out
}
