//! The listchecker's decisions: the `overrides` first, then the provider's list while it is
//! fresh (fetched within `ttl`); white- or blacklist; every answer cacheable for
//! `caching_interval` / `caching_use_count`.

use super::config::{Params, ProviderUrl};
use super::list::{self, BadEntry, List, Symbol};
use crate::adapters::{code, status, CheckResult, Instance};
use mixer_attributes::expr::EvalValue;
use std::net::IpAddr;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Why a list could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ListError {
    #[error("{}", describe(.0))]
    Entries(Vec<BadEntry>),
    #[error("list is {0} bytes, more than the {max} allowed", max = list::MAX_LIST_BYTES)]
    TooLarge(usize),
}

fn describe(bad: &[BadEntry]) -> String {
    let mut s: Vec<String> = bad
        .iter()
        .take(5)
        .map(|b| format!("entry {}: {}", b.index, b.message))
        .collect();
    if bad.len() > 5 {
        s.push(format!("and {} more", bad.len() - 5));
    }
    s.join("; ")
}

#[derive(Debug)]
struct Fetched {
    list: Arc<List>,
    at: Instant,
}

/// A built `listchecker` handler; shared with its provider's refresh task.
#[derive(Debug)]
pub struct ListHandler {
    params: Params,
    provider: Option<ProviderUrl>,
    overrides: List,
    fetched: RwLock<Option<Fetched>>,
}

/// How long a "list not fetched yet" answer may be cached: briefly.
const UNAVAILABLE_VALID_DURATION: Duration = Duration::from_secs(1);

impl ListHandler {
    pub fn new(params: Params) -> Result<ListHandler, ListError> {
        let overrides = params.overrides_list().map_err(ListError::Entries)?;
        Ok(ListHandler {
            provider: params.provider(),
            params,
            overrides,
            fetched: RwLock::new(None),
        })
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    /// Where the list is fetched from, if anywhere.
    pub fn provider(&self) -> Option<&ProviderUrl> {
        self.provider.as_ref()
    }

    /// Installs a provider's list text fetched at `now`. A list with a bad entry is rejected
    /// whole and the previous list stays in use. Returns the number of entries.
    pub fn install(&self, text: &str, now: Instant) -> Result<usize, ListError> {
        if text.len() > list::MAX_LIST_BYTES {
            return Err(ListError::TooLarge(text.len()));
        }
        let list =
            List::build(self.params.entry_type, list::entries(text)).map_err(ListError::Entries)?;
        let n = list.len();
        *self.fetched.write().unwrap_or_else(PoisonError::into_inner) = Some(Fetched {
            list: Arc::new(list),
            at: now,
        });
        Ok(n)
    }

    /// The provider's list, if one was fetched within `ttl` of `now`.
    fn current(&self, now: Instant) -> Option<Arc<List>> {
        let guard = self.fetched.read().unwrap_or_else(PoisonError::into_inner);
        let f = guard.as_ref()?;
        (now.saturating_duration_since(f.at) <= self.params.ttl()).then(|| f.list.clone())
    }

    /// Answers one `listentry` instance.
    pub fn check(&self, instance: &Instance<'_>, now: Instant) -> CheckResult {
        let result = |code: i32, message: String| CheckResult {
            status: status(code, message),
            valid_duration: self.params.caching_interval(),
            valid_use_count: self.params.caching_use_count(),
        };
        let ip;
        let symbol = match &instance.value {
            Some(EvalValue::IpAddress(a)) => Symbol::Ip(*a),
            Some(EvalValue::Bytes(b)) if b.len() == 4 || b.len() == 16 => {
                ip = bytes_ip(b);
                Symbol::Ip(ip)
            }
            Some(v) => match v.as_str() {
                Some(s) => Symbol::Str(s),
                None => {
                    return result(
                        code::INVALID_ARGUMENT,
                        format!("listentry value {v} is neither a string nor an IP address"),
                    )
                }
            },
            None => {
                return result(
                    code::INVALID_ARGUMENT,
                    format!("instance {} has no value", instance.name),
                )
            }
        };
        let shown = match symbol {
            Symbol::Str(s) => s.to_owned(),
            Symbol::Ip(a) => a.to_canonical().to_string(),
        };
        let mut found = match self.overrides.contains(symbol) {
            Ok(f) => f,
            Err(e) => return result(code::INVALID_ARGUMENT, e),
        };
        if !found && self.provider.is_some() {
            let Some(list) = self.current(now) else {
                return CheckResult {
                    status: status(
                        code::UNAVAILABLE,
                        "the list has not been fetched from its provider (or is older than ttl)",
                    ),
                    valid_duration: UNAVAILABLE_VALID_DURATION,
                    valid_use_count: 1,
                };
            };
            found = match list.contains(symbol) {
                Ok(f) => f,
                Err(e) => return result(code::INVALID_ARGUMENT, e),
            };
        }
        match (self.params.blacklist, found) {
            (true, true) => result(code::PERMISSION_DENIED, format!("{shown} is blacklisted")),
            (false, false) => result(
                code::PERMISSION_DENIED,
                format!("{shown} is not whitelisted"),
            ),
            _ => result(code::OK, String::new()),
        }
    }
}

fn bytes_ip(b: &[u8]) -> IpAddr {
    match <[u8; 4]>::try_from(b) {
        Ok(v4) => IpAddr::from(v4),
        Err(_) => IpAddr::from(<[u8; 16]>::try_from(b).unwrap_or([0; 16])),
    }
}
