//! The denier's answers: always the configured result.

use super::config::Params;
use crate::adapters::{status, CheckResult, QuotaResult};
use std::time::Duration;

/// A built `denier` handler.
#[derive(Debug)]
pub struct DenierHandler {
    result: CheckResult,
}

impl DenierHandler {
    pub fn new(params: Params) -> DenierHandler {
        DenierHandler {
            result: CheckResult {
                status: status(params.code(), params.message()),
                valid_duration: params.valid_duration(),
                valid_use_count: params.valid_use_count(),
            },
        }
    }

    /// `checknothing` and `listentry`: the configured result.
    pub fn check(&self) -> CheckResult {
        self.result.clone()
    }

    /// `quota`: nothing granted (Istio's denier returns an empty `QuotaResult`).
    pub fn quota(&self) -> QuotaResult {
        QuotaResult {
            status: status(0, ""),
            granted: 0,
            valid_duration: Duration::ZERO,
        }
    }
}
