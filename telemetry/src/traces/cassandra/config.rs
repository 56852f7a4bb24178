//! The Cassandra sink's settings, with Jaeger v2's defaults where Jaeger has one (keyspace
//! `jaeger_v1_dc1`, datacenter `dc1`, replication factor 1, TTLs 48 h, compaction window 2 h,
//! consistency LOCAL_ONE, names write-cache 12 h), and a pure `validate` that reports every
//! problem at once.

use crate::traces::jaeger_rows::TagIndexOptions;
use std::time::Duration;

/// Where and how to write.
#[derive(Clone, Debug)]
pub struct CassandraConfig {
    /// `host:port` contact points.
    pub contact_points: Vec<String>,
    pub keyspace: String,
    /// Prefer replicas in this datacenter (`connection.local_dc`); token-aware either way.
    pub local_dc: Option<String>,
    /// Create Jaeger's schema (`IF NOT EXISTS`) before preparing statements.
    pub create_schema: Option<SchemaOptions>,
    pub connect_timeout: Duration,
    /// Per-request timeout; the driver retries idempotent requests within its policy.
    pub request_timeout: Duration,
    /// Which tags go into `tag_index`.
    pub index: TagIndexOptions,
    /// `service_names` / `operation_names_v2` rows are written once per this period per name.
    pub names_cache_ttl: Duration,
    /// Bound on that cache's entries (cleared when full).
    pub names_cache_capacity: usize,
}

impl Default for CassandraConfig {
    fn default() -> Self {
        CassandraConfig {
            contact_points: vec!["127.0.0.1:9042".into()],
            keyspace: "jaeger_v1_dc1".into(),
            local_dc: None,
            create_schema: None,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            index: TagIndexOptions::default(),
            names_cache_ttl: Duration::from_secs(12 * 3600),
            names_cache_capacity: 10_000,
        }
    }
}

/// Jaeger's `schema.*` settings for creation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SchemaOptions {
    /// Empty means `SimpleStrategy`.
    pub datacenter: String,
    pub replication_factor: u32,
    pub trace_ttl: Duration,
    /// Jaeger v2 defaults to 48 h (its create.sh to 0, no TTL).
    pub dependencies_ttl: Duration,
    pub compaction_window: Duration,
}

impl Default for SchemaOptions {
    fn default() -> Self {
        SchemaOptions {
            datacenter: "dc1".into(),
            replication_factor: 1,
            trace_ttl: Duration::from_secs(48 * 3600),
            dependencies_ttl: Duration::from_secs(48 * 3600),
            compaction_window: Duration::from_secs(2 * 3600),
        }
    }
}

impl CassandraConfig {
    /// Every problem, each naming the field, the bad value and what is accepted.
    pub fn validate(&self) -> Result<(), ConfigErrors> {
        let mut errs = Vec::new();
        if self.contact_points.is_empty() {
            errs.push("contact_points: empty; give at least one, e.g. 127.0.0.1:9042".into());
        }
        if !is_identifier(&self.keyspace) {
            errs.push(format!(
                "keyspace: {:?} must be 1-48 characters of [a-zA-Z0-9_], e.g. jaeger_v1_dc1",
                self.keyspace
            ));
        }
        if self.request_timeout.is_zero() || self.connect_timeout.is_zero() {
            errs.push("request_timeout/connect_timeout: must be positive, e.g. 10s".into());
        }
        if let Some(s) = &self.create_schema {
            if !s.datacenter.is_empty()
                && !s
                    .datacenter
                    .bytes()
                    .all(|c| c.is_ascii_alphanumeric() || b"_-.".contains(&c))
            {
                errs.push(format!(
                    "schema.datacenter: {:?} must be [a-zA-Z0-9_.-] (or empty for SimpleStrategy), e.g. dc1",
                    s.datacenter
                ));
            }
            if s.replication_factor == 0 {
                errs.push("schema.replication_factor: 0; must be at least 1".into());
            }
            for (name, ttl) in [
                ("trace_ttl", s.trace_ttl),
                ("dependencies_ttl", s.dependencies_ttl),
            ] {
                if !ttl.is_zero() && ttl < Duration::from_secs(1) {
                    errs.push(format!(
                        "schema.{name}: {ttl:?}; must be 0 (no TTL) or at least 1s, e.g. 48h"
                    ));
                }
                if ttl.as_secs() > i32::MAX as u64 {
                    errs.push(format!(
                        "schema.{name}: {ttl:?} exceeds Cassandra's TTL limit"
                    ));
                }
            }
            if s.compaction_window < Duration::from_secs(60) {
                errs.push(format!(
                    "schema.compaction_window: {:?}; must be at least 1m, e.g. 2h",
                    s.compaction_window
                ));
            }
        }
        if errs.is_empty() {
            Ok(())
        } else {
            Err(ConfigErrors(errs))
        }
    }
}

fn is_identifier(s: &str) -> bool {
    !s.is_empty() && s.len() <= 48 && s.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// All the problems `validate` found.
#[derive(Debug, thiserror::Error)]
#[error("cassandra sink config: {}", .0.join("; "))]
pub struct ConfigErrors(pub Vec<String>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        let c = CassandraConfig {
            create_schema: Some(SchemaOptions::default()),
            ..CassandraConfig::default()
        };
        c.validate().expect("defaults validate");
    }

    #[test]
    fn reports_every_problem() {
        let c = CassandraConfig {
            contact_points: vec![],
            keyspace: "bad-name; DROP".into(),
            create_schema: Some(SchemaOptions {
                datacenter: "dc1'".into(),
                replication_factor: 0,
                trace_ttl: Duration::from_millis(10),
                dependencies_ttl: Duration::ZERO,
                compaction_window: Duration::from_secs(30),
            }),
            ..CassandraConfig::default()
        };
        let errs = c.validate().expect_err("invalid").0;
        assert_eq!(errs.len(), 6, "{errs:#?}");
        for field in [
            "contact_points",
            "keyspace",
            "schema.datacenter",
            "schema.replication_factor",
            "schema.trace_ttl",
            "schema.compaction_window",
        ] {
            assert!(
                errs.iter().any(|e| e.starts_with(field)),
                "{field}: {errs:#?}"
            );
        }
    }
}
