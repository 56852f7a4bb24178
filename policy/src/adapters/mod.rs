//! Check and quota adapters, one folder each with the same shape (`mod.rs`, `config.rs`,
//! `adapter.rs`, `tests.rs`), listed in closed enums rather than a hidden registry: [`SPECS`]
//! tells the rules layer what each accepts, [`Handler`] is a built handler the engine calls.
//!
//! What adapters exchange with the engine is here: the instance as evaluated for one request
//! ([`Instance`]), and the answers ([`CheckResult`], [`QuotaResult`]). A denial is a result with
//! a non-OK status, never an error.

pub mod denier;
pub mod listchecker;
pub mod memquota;
pub mod params;
pub mod quotas;
pub mod rbac;
pub mod redisquota;

use mixer_attributes::expr::EvalValue;
use mixer_proto::google::rpc::Status;
use mixer_rules::{AdapterSpec, Config};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Every adapter the policy service compiles in, as the rules layer sees them.
pub const SPECS: &[AdapterSpec] = &[
    denier::SPEC,
    listchecker::SPEC,
    memquota::SPEC,
    redisquota::SPEC,
    rbac::SPEC,
];

/// `google.rpc.Code` values the adapters answer with.
pub mod code {
    pub const OK: i32 = 0;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const PERMISSION_DENIED: i32 = 7;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const FAILED_PRECONDITION: i32 = 9;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;

    /// Names of codes 0..=16, as written in config (`PERMISSION_DENIED`).
    pub const NAMES: [&str; 17] = [
        "OK",
        "CANCELLED",
        "UNKNOWN",
        "INVALID_ARGUMENT",
        "DEADLINE_EXCEEDED",
        "NOT_FOUND",
        "ALREADY_EXISTS",
        "PERMISSION_DENIED",
        "RESOURCE_EXHAUSTED",
        "FAILED_PRECONDITION",
        "ABORTED",
        "OUT_OF_RANGE",
        "UNIMPLEMENTED",
        "INTERNAL",
        "UNAVAILABLE",
        "DATA_LOSS",
        "UNAUTHENTICATED",
    ];
}

/// A `google.rpc.Status` with no details.
pub fn status(code: i32, message: impl Into<String>) -> Status {
    Status {
        code,
        message: message.into(),
        details: Vec::new(),
    }
}

/// One instance as evaluated for the request at hand.
#[derive(Debug)]
pub struct Instance<'a> {
    /// Fully-qualified name, `requestcount.instance.istio-system`.
    pub name: &'a str,
    /// `listentry.value`; `None` when the instance does not set it.
    pub value: Option<EvalValue<'a>>,
    /// `quota.dimensions`, sorted by key.
    pub dimensions: Vec<(&'a str, EvalValue<'a>)>,
    /// The fields of a template with sub-messages (`authorization`), in config order.
    pub fields: Vec<FieldValue<'a>>,
}

/// One evaluated field of a template with sub-messages, or one entry of its map field.
#[derive(Debug)]
pub struct FieldValue<'a> {
    /// Dotted name: `subject.user`, `action.properties`.
    pub field: &'a str,
    /// The map key, for an entry of a map field (`action.properties` → `version`).
    pub key: Option<&'a str>,
    pub value: EvalValue<'a>,
}

impl<'a> Instance<'a> {
    /// The scalar field `name` (`action.path`), when the instance sets it.
    pub fn field(&self, name: &str) -> Option<&EvalValue<'a>> {
        self.fields
            .iter()
            .find(|f| f.key.is_none() && f.field == name)
            .map(|f| &f.value)
    }

    /// The value at `key` of the map field `map` (`subject.properties`).
    pub fn entry(&self, map: &str, key: &str) -> Option<&EvalValue<'a>> {
        self.fields
            .iter()
            .find(|f| f.field == map && f.key == Some(key))
            .map(|f| &f.value)
    }
}

/// A check adapter's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct CheckResult {
    pub status: Status,
    pub valid_duration: Duration,
    pub valid_use_count: i32,
}

/// What a quota allocation asks for.
#[derive(Clone, Copy, Debug)]
pub struct QuotaArgs<'a> {
    /// `deduplication_id` + quota name: a retry of the same call gets the same answer.
    pub dedup_id: &'a str,
    pub amount: i64,
    pub best_effort: bool,
}

/// A quota adapter's answer.
#[derive(Clone, Debug, PartialEq)]
pub struct QuotaResult {
    pub status: Status,
    pub granted: i64,
    pub valid_duration: Duration,
}

/// A quota adapter's answer: at once, or an allocation the caller awaits (redisquota's,
/// which runs in Redis).
#[derive(Debug)]
pub enum QuotaAnswer {
    Ready(QuotaResult),
    Pending(redisquota::Allocation),
}

/// Which adapter a handler runs (labels of the adapter self-metrics).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Denier,
    ListChecker,
    MemQuota,
    RedisQuota,
    Rbac,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::Denier,
        Kind::ListChecker,
        Kind::MemQuota,
        Kind::RedisQuota,
        Kind::Rbac,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Denier => "denier",
            Kind::ListChecker => "listchecker",
            Kind::MemQuota => "memquota",
            Kind::RedisQuota => "redisquota",
            Kind::Rbac => "rbac",
        }
    }
}

/// A handler built from a `handler` document.
#[derive(Debug)]
pub enum Handler {
    Denier(denier::DenierHandler),
    ListChecker(Arc<listchecker::ListHandler>),
    MemQuota(memquota::MemQuotaHandler),
    RedisQuota(redisquota::RedisQuotaHandler),
    Rbac(rbac::RbacHandler),
}

/// Why a handler could not be built from a config that passed validation.
#[derive(Debug, thiserror::Error)]
#[error("handler {handler}: {message}")]
pub struct BuildError {
    pub handler: String,
    pub message: String,
}

impl Handler {
    /// Builds handler `index` of `config`; `now` starts its clocks (quota windows).
    pub fn build(config: &Config, index: usize, now: Instant) -> Result<Handler, BuildError> {
        let h = &config.handlers[index];
        let fail = |message: String| BuildError {
            handler: h.name.to_string(),
            message,
        };
        let problems = |p: Vec<mixer_rules::FieldProblem>| {
            fail(
                p.iter()
                    .map(|p| format!("{}: {}", p.field, p.message))
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        };
        match h.adapter.as_str() {
            "denier" => denier::Params::parse(&h.params)
                .map(|p| Handler::Denier(denier::DenierHandler::new(p)))
                .map_err(problems),
            "listchecker" => listchecker::Params::parse(&h.params)
                .map_err(problems)
                .and_then(|p| {
                    listchecker::ListHandler::new(p)
                        .map(|l| Handler::ListChecker(Arc::new(l)))
                        .map_err(|e| fail(e.to_string()))
                }),
            "memquota" => memquota::Params::parse(&h.params)
                .map(|p| {
                    Handler::MemQuota(memquota::MemQuotaHandler::new(
                        p,
                        &h.name.namespace,
                        &config.instances,
                        now,
                    ))
                })
                .map_err(problems),
            "redisquota" => redisquota::Params::parse(&h.params)
                .map(|p| {
                    Handler::RedisQuota(redisquota::RedisQuotaHandler::new(
                        p,
                        &h.name.to_string(),
                        &h.name.namespace,
                        &config.instances,
                    ))
                })
                .map_err(problems),
            "rbac" => rbac::Params::parse(&h.params)
                .map_err(problems)
                .and_then(|p| {
                    rbac::RbacHandler::new(p, &config.other, now).map_err(|e| fail(e.to_string()))
                })
                .map(Handler::Rbac),
            other => Err(fail(format!(
                "adapter {other} is not a policy adapter of this service"
            ))),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Handler::Denier(_) => Kind::Denier,
            Handler::ListChecker(_) => Kind::ListChecker,
            Handler::MemQuota(_) => Kind::MemQuota,
            Handler::RedisQuota(_) => Kind::RedisQuota,
            Handler::Rbac(_) => Kind::Rbac,
        }
    }

    /// Answers a check instance (checknothing, listentry, authorization). `None`: this handler
    /// does not take part in checks (the rules layer only sends it instances it accepts).
    pub fn check(&self, instance: &Instance<'_>, now: Instant) -> Option<CheckResult> {
        match self {
            Handler::Denier(d) => Some(d.check()),
            Handler::ListChecker(l) => Some(l.check(instance, now)),
            Handler::MemQuota(_) | Handler::RedisQuota(_) => None,
            Handler::Rbac(r) => Some(r.check(instance, now)),
        }
    }

    /// Allocates quota for a quota instance. `None`: not a quota handler.
    pub fn quota(
        &self,
        instance: &Instance<'_>,
        args: QuotaArgs<'_>,
        now: Instant,
    ) -> Option<QuotaAnswer> {
        match self {
            Handler::Denier(d) => Some(QuotaAnswer::Ready(d.quota())),
            Handler::ListChecker(_) | Handler::Rbac(_) => None,
            Handler::MemQuota(m) => Some(QuotaAnswer::Ready(m.alloc(instance, args, now))),
            Handler::RedisQuota(r) => Some(r.alloc(instance, args)),
        }
    }
}
