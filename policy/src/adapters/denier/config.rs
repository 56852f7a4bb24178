//! `adapter.denier.config.Params`: `status` (a `google.rpc.Status`; the code as a number or a
//! name), `valid_duration`, `valid_use_count`, with Istio's defaults.

use crate::adapters::code;
use crate::adapters::params::{self, non_negative, ConfigDuration};
use mixer_rules::FieldProblem;
use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;
use std::time::Duration;

/// A status code: `7` or `PERMISSION_DENIED`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
#[serde(untagged)]
pub enum Code {
    Number(i64),
    Name(String),
}

impl Code {
    /// The numeric code, when it is one of the 17 gRPC codes.
    pub fn value(&self) -> Option<i32> {
        match self {
            Code::Number(n) => i32::try_from(*n).ok().filter(|n| (0..=16).contains(n)),
            Code::Name(s) => code::NAMES.iter().position(|n| *n == s).map(|i| i as i32),
        }
    }
}

/// `params.status`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct StatusParams {
    pub code: Option<Code>,
    #[serde(default)]
    pub message: String,
}

/// The handler's `params` as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Params {
    pub status: Option<StatusParams>,
    #[serde(alias = "validDuration")]
    pub valid_duration: Option<ConfigDuration>,
    #[serde(alias = "validUseCount")]
    pub valid_use_count: Option<i64>,
}

/// Istio's defaults (`mixer/adapter/metadata/inventory.go`).
pub const DEFAULT_CODE: i32 = code::FAILED_PRECONDITION;
pub const DEFAULT_VALID_DURATION: Duration = Duration::from_secs(5);
pub const DEFAULT_VALID_USE_COUNT: i32 = 1000;

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
        if let Some(c) = self.status.as_ref().and_then(|s| s.code.as_ref()) {
            if c.value().is_none() {
                out.push(
                    FieldProblem::new(
                        "status.code",
                        "not a gRPC status code (0 to 16, or its name)",
                    )
                    .value(match c {
                        Code::Number(n) => n.to_string(),
                        Code::Name(s) => format!("{s:?}"),
                    })
                    .example("7 (or PERMISSION_DENIED)"),
                );
            }
        }
        non_negative("valid_duration", self.valid_duration, &mut out);
        if let Some(n) = self.valid_use_count {
            if !(0..=i64::from(i32::MAX)).contains(&n) {
                out.push(
                    FieldProblem::new("valid_use_count", "must be between 0 and 2147483647")
                        .value(n.to_string())
                        .example("1000"),
                );
            }
        }
        out
    }

    pub fn code(&self) -> i32 {
        self.status
            .as_ref()
            .and_then(|s| s.code.as_ref())
            .and_then(Code::value)
            .unwrap_or(DEFAULT_CODE)
    }

    pub fn message(&self) -> &str {
        self.status.as_ref().map_or("", |s| s.message.as_str())
    }

    pub fn valid_duration(&self) -> Duration {
        self.valid_duration
            .map_or(DEFAULT_VALID_DURATION, ConfigDuration::to_std)
    }

    pub fn valid_use_count(&self) -> i32 {
        self.valid_use_count
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(DEFAULT_VALID_USE_COUNT)
    }
}
