//! `adapter.list.config.Params` (spec §7): where the list comes from (`provider_url`, refreshed
//! every `refresh_interval`, kept at most `ttl` after the last good fetch), local `overrides`,
//! the `entry_type`, white- or `blacklist`, and how long proxies may cache the answer
//! (`caching_interval`, `caching_use_count`).

use super::list::{BadEntry, List};
use crate::adapters::params::{self, non_negative, ConfigDuration};
use mixer_rules::FieldProblem;
use serde::Deserialize;
use serde_yaml_ng::Value as Yaml;
use std::time::Duration;

/// `Params.ListEntryType`.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
pub enum EntryType {
    #[default]
    #[serde(rename = "STRINGS")]
    Strings,
    #[serde(rename = "CASE_INSENSITIVE_STRINGS")]
    CaseInsensitiveStrings,
    #[serde(rename = "IP_ADDRESSES")]
    IpAddresses,
    #[serde(rename = "REGEX")]
    Regex,
}

/// The handler's `params` as written.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Params {
    #[serde(alias = "providerUrl")]
    pub provider_url: Option<String>,
    #[serde(alias = "refreshInterval")]
    pub refresh_interval: Option<ConfigDuration>,
    pub ttl: Option<ConfigDuration>,
    #[serde(alias = "cachingInterval")]
    pub caching_interval: Option<ConfigDuration>,
    #[serde(alias = "cachingUseCount")]
    pub caching_use_count: Option<i64>,
    #[serde(default)]
    pub overrides: Vec<String>,
    #[serde(alias = "entryType", default)]
    pub entry_type: EntryType,
    #[serde(default)]
    pub blacklist: bool,
}

pub const DEFAULT_REFRESH_INTERVAL: Duration = Duration::from_secs(60);
pub const DEFAULT_TTL: Duration = Duration::from_secs(300);
pub const DEFAULT_CACHING_INTERVAL: Duration = Duration::from_secs(300);
pub const DEFAULT_CACHING_USE_COUNT: i32 = 10000;

/// Where a provider's list is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ProviderUrl {
    /// `file:///etc/lists/ips.txt`
    File(String),
    /// `http://lists.example:8080/ips.txt`
    Http(String),
}

impl ProviderUrl {
    pub fn parse(url: &str) -> Result<ProviderUrl, String> {
        if let Some(path) = url.strip_prefix("file://") {
            if path.is_empty() {
                return Err("a file URL needs a path".into());
            }
            return Ok(ProviderUrl::File(path.to_owned()));
        }
        if let Some(rest) = url.strip_prefix("http://") {
            let host = rest.split(['/', '?']).next().unwrap_or_default();
            if host.is_empty() {
                return Err("an http URL needs a host".into());
            }
            return Ok(ProviderUrl::Http(url.to_owned()));
        }
        if url.starts_with("https://") {
            return Err("https is not supported yet: serve the list over http, or mount it and use a file:// URL".into());
        }
        Err("must be an http:// or file:// URL".into())
    }
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
        for (f, d) in [
            ("refresh_interval", self.refresh_interval),
            ("ttl", self.ttl),
            ("caching_interval", self.caching_interval),
        ] {
            non_negative(f, d, &mut out);
        }
        if let Some(url) = self.provider_url.as_deref().filter(|u| !u.is_empty()) {
            if let Err(e) = ProviderUrl::parse(url) {
                out.push(
                    FieldProblem::new("provider_url", e)
                        .value(format!("{url:?}"))
                        .example("http://lists.example:8080/blocked.txt or file:///etc/mixer/lists/blocked.txt"),
                );
            }
            let refresh = self.refresh_interval();
            if refresh < Duration::from_secs(1) {
                out.push(
                    FieldProblem::new(
                        "refresh_interval",
                        "must be at least 1s when provider_url is set",
                    )
                    .value(format!("{refresh:?}"))
                    .example("60s"),
                );
            }
            if self.ttl() <= refresh {
                out.push(
                    FieldProblem::new("ttl", "must be longer than refresh_interval")
                        .value(format!("{:?} (refresh_interval {refresh:?})", self.ttl()))
                        .example("300s"),
                );
            }
        }
        if let Some(n) = self.caching_use_count {
            if !(0..=i64::from(i32::MAX)).contains(&n) {
                out.push(
                    FieldProblem::new("caching_use_count", "must be between 0 and 2147483647")
                        .value(n.to_string())
                        .example("10000"),
                );
            }
        }
        if let Err(bad) = self.overrides_list() {
            for BadEntry { index, message } in bad {
                let example = match self.entry_type {
                    EntryType::IpAddresses => "10.0.0.0/8 (or 192.168.1.7, 2001:db8::/32)",
                    EntryType::Regex => "^v[0-9]+$",
                    _ => "v1",
                };
                out.push(
                    FieldProblem::new(format!("overrides[{index}]"), message)
                        .value(format!(
                            "{:?}",
                            self.overrides.get(index).map_or("", String::as_str)
                        ))
                        .example(example),
                );
            }
        }
        out
    }

    /// The `overrides` compiled as the list type.
    pub fn overrides_list(&self) -> Result<List, Vec<BadEntry>> {
        List::build(
            self.entry_type,
            self.overrides
                .iter()
                .enumerate()
                .map(|(i, s)| (i, s.as_str())),
        )
    }

    pub fn provider(&self) -> Option<ProviderUrl> {
        self.provider_url
            .as_deref()
            .filter(|u| !u.is_empty())
            .and_then(|u| ProviderUrl::parse(u).ok())
    }

    pub fn refresh_interval(&self) -> Duration {
        self.refresh_interval
            .map_or(DEFAULT_REFRESH_INTERVAL, ConfigDuration::to_std)
    }

    pub fn ttl(&self) -> Duration {
        self.ttl.map_or(DEFAULT_TTL, ConfigDuration::to_std)
    }

    pub fn caching_interval(&self) -> Duration {
        self.caching_interval
            .map_or(DEFAULT_CACHING_INTERVAL, ConfigDuration::to_std)
    }

    pub fn caching_use_count(&self) -> i32 {
        self.caching_use_count
            .and_then(|n| i32::try_from(n).ok())
            .unwrap_or(DEFAULT_CACHING_USE_COUNT)
    }
}
