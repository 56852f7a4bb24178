//! Optional creation of Jaeger's v004 schema ([`SCHEMA_TEMPLATE`], `schema.cql`), rendered as
//! Jaeger v2's Go schema creator does: `NetworkTopologyStrategy {'<dc>': rf}` when a
//! datacenter is named (`dc1` by default), `SimpleStrategy` otherwise; TTLs in seconds; the
//! `traces` compaction window in minutes. Every statement is `IF NOT EXISTS`, so running it on
//! a keyspace Jaeger created is a no-op.

use super::config::SchemaOptions;
use scylla::client::session::Session;

/// The CQL template (`schema.cql` beside this file).
pub const SCHEMA_TEMPLATE: &str = include_str!("schema.cql");

/// The `replication` map of `CREATE KEYSPACE`.
pub fn replication(opts: &SchemaOptions) -> String {
    if opts.datacenter.is_empty() {
        format!(
            "{{'class': 'SimpleStrategy', 'replication_factor': '{}'}}",
            opts.replication_factor
        )
    } else {
        format!(
            "{{'class': 'NetworkTopologyStrategy', '{}': '{}' }}",
            opts.datacenter, opts.replication_factor
        )
    }
}

/// The schema's statements for `keyspace`, comments dropped, one string per statement,
/// without the trailing `;`. `keyspace` and `opts` must have passed validation
/// (`CassandraConfig::validate`): they are pasted into CQL text.
pub fn statements(keyspace: &str, opts: &SchemaOptions) -> Vec<String> {
    let text = SCHEMA_TEMPLATE
        .replace("${keyspace}", keyspace)
        .replace("${replication}", &replication(opts))
        .replace("${trace_ttl}", &opts.trace_ttl.as_secs().to_string())
        .replace(
            "${dependencies_ttl}",
            &opts.dependencies_ttl.as_secs().to_string(),
        )
        .replace(
            "${compaction_window_minutes}",
            &(opts.compaction_window.as_secs() / 60).to_string(),
        );
    let mut out = Vec::new();
    let mut current = String::new();
    for line in text.lines() {
        let code = line.split_once("--").map_or(line, |(code, _)| code);
        let code = code.trim_end();
        if code.trim().is_empty() {
            continue;
        }
        if !current.is_empty() {
            current.push('\n');
        }
        current.push_str(code);
        if let Some(stmt) = current.strip_suffix(';') {
            out.push(stmt.trim().to_string());
            current.clear();
        }
    }
    out
}

/// Runs every statement of the schema, in order, waiting for schema agreement after each
/// (the driver does this for DDL), on a session not yet bound to the keyspace.
pub async fn create(
    session: &Session,
    keyspace: &str,
    opts: &SchemaOptions,
) -> Result<(), SchemaError> {
    for stmt in statements(keyspace, opts) {
        session
            .query_unpaged(stmt.as_str(), ())
            .await
            .map_err(|source| SchemaError {
                statement: first_line(&stmt),
                source,
            })?;
    }
    Ok(())
}

fn first_line(stmt: &str) -> String {
    stmt.lines().next().unwrap_or_default().to_string()
}

/// A schema statement that failed.
#[derive(Debug, thiserror::Error)]
#[error("create schema: `{statement}`: {source}")]
pub struct SchemaError {
    pub statement: String,
    #[source]
    pub source: scylla::errors::ExecutionError,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn renders_jaeger_v2_defaults() {
        let opts = SchemaOptions::default();
        let stmts = statements("jaeger_v1_dc1", &opts);
        assert_eq!(
            stmts[0],
            "CREATE KEYSPACE IF NOT EXISTS jaeger_v1_dc1 WITH replication = \
             {'class': 'NetworkTopologyStrategy', 'dc1': '1' }"
        );
        // keyspace, 5 types, 11 tables
        assert_eq!(stmts.len(), 17);
        assert!(stmts.iter().all(|s| !s.contains("${") && !s.contains("--")));
        let traces = stmts
            .iter()
            .find(|s| s.contains("TABLE IF NOT EXISTS jaeger_v1_dc1.traces ("))
            .expect("traces table");
        assert!(traces.contains("'compaction_window_size': '120'"));
        assert!(traces.contains("default_time_to_live = 172800"));
        let deps = stmts
            .iter()
            .find(|s| s.contains("dependencies_v2"))
            .expect("dependencies_v2");
        assert!(deps.ends_with("default_time_to_live = 172800"));
        let ttl_tables = stmts
            .iter()
            .filter(|s| s.contains("default_time_to_live = 172800"))
            .count();
        assert_eq!(ttl_tables, 8, "7 trace tables + dependencies_v2");
    }

    #[test]
    fn simple_strategy_without_datacenter() {
        let opts = SchemaOptions {
            datacenter: String::new(),
            replication_factor: 3,
            trace_ttl: Duration::from_secs(3600),
            dependencies_ttl: Duration::ZERO,
            compaction_window: Duration::from_secs(5400),
        };
        let stmts = statements("ks", &opts);
        assert!(stmts[0].ends_with("{'class': 'SimpleStrategy', 'replication_factor': '3'}"));
        assert!(stmts
            .iter()
            .any(|s| s.contains("'compaction_window_size': '90'")));
        assert!(stmts
            .iter()
            .any(|s| s.contains("dependencies_v2") && s.ends_with("default_time_to_live = 0")));
    }
}
