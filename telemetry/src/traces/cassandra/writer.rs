//! Writes one span's rows with Jaeger's exact INSERT statements (spec §4), prepared once and
//! marked idempotent (so the driver may retry them), at consistency LOCAL_ONE like Jaeger,
//! routed token-aware by the driver's default policy. Rows go in Jaeger's order: `traces`
//! (the span's stored mark), then the names (through the write cache), then the index rows
//! (`service_name_index`, `service_operation_index`, `tag_index`, `duration_index`) all at
//! once: a span is two round trips, not one per row (about 23 for an Istio span). TTLs come
//! from the tables' `default_time_to_live`, as with Jaeger.

use super::config::{CassandraConfig, ConfigErrors};
use super::names_cache::NamesCache;
use super::{schema, udt};
use crate::traces::jaeger_rows::SpanRows;
use crate::traces::sink::Progress;
use crate::traces::span::Span;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::errors::{ExecutionError, NewSessionError, PrepareError, UseKeyspaceError};
use scylla::policies::load_balancing::DefaultPolicy;
use scylla::statement::prepared::PreparedStatement;
use scylla::statement::Consistency;
use scylla::value::CqlTimestamp;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Instant;

pub const INSERT_SPAN: &str = "INSERT INTO traces(trace_id, span_id, span_hash, parent_id, operation_name, flags, start_time, duration, tags, logs, refs, process) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
pub const INSERT_SERVICE_NAME_INDEX: &str =
    "INSERT INTO service_name_index(service_name, bucket, start_time, trace_id) VALUES (?, ?, ?, ?)";
pub const INSERT_SERVICE_OPERATION_INDEX: &str = "INSERT INTO service_operation_index(service_name, operation_name, start_time, trace_id) VALUES (?, ?, ?, ?)";
pub const INSERT_TAG_INDEX: &str = "INSERT INTO tag_index(trace_id, span_id, service_name, start_time, tag_key, tag_value) VALUES (?, ?, ?, ?, ?, ?)";
pub const INSERT_DURATION_INDEX: &str = "INSERT INTO duration_index(service_name, operation_name, bucket, duration, start_time, trace_id) VALUES (?, ?, ?, ?, ?, ?)";
pub const INSERT_SERVICE_NAME: &str = "INSERT INTO service_names(service_name) VALUES (?)";
pub const INSERT_OPERATION_NAME: &str =
    "INSERT INTO operation_names_v2(service_name, span_kind, operation_name) VALUES (?, ?, ?)";
/// The healthcheck's round trip: a prepared, idempotent insert like the sink's, into
/// Jaeger's `leases` table (which jaeger-query never reads), expiring after a minute.
const INSERT_HEALTHCHECK: &str = "INSERT INTO leases(name, owner) VALUES (?, ?) USING TTL 60";

#[derive(Debug)]
struct Statements {
    span: PreparedStatement,
    service_name_index: PreparedStatement,
    service_operation_index: PreparedStatement,
    tag_index: PreparedStatement,
    duration_index: PreparedStatement,
    service_name: PreparedStatement,
    operation_name: PreparedStatement,
    healthcheck: PreparedStatement,
}

/// A connected writer: one session, the prepared statements, the names cache.
#[derive(Debug)]
pub struct CassandraWriter {
    session: Arc<Session>,
    stmts: Statements,
    config: CassandraConfig,
    names: NamesCache,
}

/// What one span's write did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct WriteReport {
    pub rows: usize,
    /// Tags `tag_index` left out (too long, JSON).
    pub tags_skipped: usize,
}

impl CassandraWriter {
    /// Validates `config`, connects, creates the schema when asked, and prepares every
    /// statement (which fails here, not on the first span, when a table is missing).
    pub async fn connect(config: CassandraConfig) -> Result<CassandraWriter, ConnectError> {
        config.validate()?;
        let mut policy = DefaultPolicy::builder().token_aware(true);
        if let Some(dc) = &config.local_dc {
            policy = policy.prefer_datacenter(dc.clone());
        }
        let profile = ExecutionProfile::builder()
            .consistency(Consistency::LocalOne)
            .request_timeout(Some(config.request_timeout))
            .load_balancing_policy(policy.build())
            .build();
        let session = SessionBuilder::new()
            .known_nodes(&config.contact_points)
            .connection_timeout(config.connect_timeout)
            .default_execution_profile_handle(profile.into_handle())
            .build()
            .await?;
        if let Some(opts) = &config.create_schema {
            schema::create(&session, &config.keyspace, opts).await?;
        }
        session.use_keyspace(&config.keyspace, false).await?;
        let prepare = |cql: &'static str| {
            let session = &session;
            async move {
                let mut p = session
                    .prepare(cql)
                    .await
                    .map_err(|source| ConnectError::Prepare { cql, source })?;
                p.set_is_idempotent(true);
                Ok::<_, ConnectError>(p)
            }
        };
        let stmts = Statements {
            span: prepare(INSERT_SPAN).await?,
            service_name_index: prepare(INSERT_SERVICE_NAME_INDEX).await?,
            service_operation_index: prepare(INSERT_SERVICE_OPERATION_INDEX).await?,
            tag_index: prepare(INSERT_TAG_INDEX).await?,
            duration_index: prepare(INSERT_DURATION_INDEX).await?,
            service_name: prepare(INSERT_SERVICE_NAME).await?,
            operation_name: prepare(INSERT_OPERATION_NAME).await?,
            healthcheck: prepare(INSERT_HEALTHCHECK).await?,
        };
        let names = NamesCache::new(config.names_cache_ttl, config.names_cache_capacity);
        Ok(CassandraWriter {
            session: Arc::new(session),
            stmts,
            config,
            names,
        })
    }

    /// The session (shared), e.g. for reading back in tests.
    pub fn session(&self) -> &Arc<Session> {
        &self.session
    }

    pub fn keyspace(&self) -> &str {
        &self.config.keyspace
    }

    /// Writes every row of `span`; stops at the first failed insert, like Jaeger. The
    /// `traces` row goes first and is the span's stored mark: once acknowledged it is
    /// recorded in `progress` and a retry writes only the other rows (all idempotent).
    pub async fn write_span(
        &self,
        span: &Span,
        progress: &mut Progress,
    ) -> Result<WriteReport, WriteError> {
        let rows = SpanRows::new(span, &self.config.index);
        let s = &self.stmts;
        let t = &rows.traces;
        let mut n = 0;
        if !progress.stored {
            let stored = self
                .exec(
                    "traces",
                    &s.span,
                    (
                        &t.trace_id[..],
                        t.span_id,
                        t.span_hash,
                        t.parent_id,
                        t.operation_name,
                        t.flags,
                        t.start_time,
                        t.duration,
                        udt::key_values(&t.tags),
                        udt::logs(&t.logs),
                        udt::refs(&t.refs),
                        udt::process(&t.process),
                    ),
                )
                .await;
            if let Err(e) = stored {
                progress.maybe_stored |= e.maybe_applied();
                return Err(e);
            }
            progress.stored = true;
            n += 1;
        }

        let now = Instant::now();
        let service_key = rows.service_name;
        if self.names.needs_write(service_key, now) {
            self.exec("service_names", &s.service_name, (rows.service_name,))
                .await?;
            self.names.written(service_key.to_string(), now);
            n += 1;
        }
        let op = &rows.operation;
        let op_key = format!(
            "{}\u{0}{}\u{0}{}",
            op.service_name, op.span_kind, op.operation_name
        );
        if self.names.needs_write(&op_key, now) {
            let values = (op.service_name, op.span_kind, op.operation_name);
            self.exec("operation_names_v2", &s.operation_name, values)
                .await?;
            self.names.written(op_key, now);
            n += 1;
        }

        // The index rows are independent of each other: all at once, one round trip.
        let mut inserts: Vec<Insert<'_>> = Vec::with_capacity(4 + rows.tag_index.len());
        let r = &rows.service_name_index;
        let values = (r.service_name, r.bucket, r.start_time, &r.trace_id[..]);
        inserts.push(Box::pin(self.exec(
            "service_name_index",
            &s.service_name_index,
            values,
        )));
        let r = &rows.service_operation_index;
        let values = (
            r.service_name,
            r.operation_name,
            r.start_time,
            &r.trace_id[..],
        );
        inserts.push(Box::pin(self.exec(
            "service_operation_index",
            &s.service_operation_index,
            values,
        )));
        for r in &rows.tag_index {
            let values = (
                &r.trace_id[..],
                r.span_id,
                r.service_name,
                r.start_time,
                r.tag_key,
                r.tag_value.as_ref(),
            );
            inserts.push(Box::pin(self.exec("tag_index", &s.tag_index, values)));
        }
        for r in &rows.duration_index {
            let values = (
                r.service_name,
                r.operation_name,
                CqlTimestamp(r.bucket_ms),
                r.duration,
                r.start_time,
                &r.trace_id[..],
            );
            inserts.push(Box::pin(self.exec(
                "duration_index",
                &s.duration_index,
                values,
            )));
        }
        n += inserts.len();
        join_all(inserts).await?;
        Ok(WriteReport {
            rows: n,
            tags_skipped: rows.tags_skipped,
        })
    }

    /// One prepared, idempotent insert round trip, as the sink's writes do.
    pub async fn healthcheck(&self) -> Result<(), WriteError> {
        let owner = format!("mixer-{}", std::process::id());
        self.exec(
            "leases",
            &self.stmts.healthcheck,
            ("mixer_healthcheck", owner.as_str()),
        )
        .await
    }

    async fn exec(
        &self,
        table: &'static str,
        stmt: &PreparedStatement,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Result<(), WriteError> {
        self.session
            .execute_unpaged(stmt, values)
            .await
            .map(drop)
            .map_err(|source| WriteError::Insert {
                table,
                source: Box::new(source),
            })
    }
}

type Insert<'a> = Pin<Box<dyn Future<Output = Result<(), WriteError>> + Send + 'a>>;

/// Drives every insert to completion concurrently; the first error, once all are done (so
/// no request is abandoned mid-flight).
async fn join_all(mut inserts: Vec<Insert<'_>>) -> Result<(), WriteError> {
    let mut first_err = None;
    std::future::poll_fn(|cx| {
        let mut i = 0;
        while i < inserts.len() {
            match inserts[i].as_mut().poll(cx) {
                Poll::Ready(r) => {
                    if let (Err(e), None) = (r, &first_err) {
                        first_err = Some(e);
                    }
                    drop(inserts.swap_remove(i));
                }
                Poll::Pending => i += 1,
            }
        }
        if inserts.is_empty() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
    first_err.map_or(Ok(()), Err)
}

/// Why the writer could not start.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(transparent)]
    Config(#[from] ConfigErrors),
    #[error("cassandra: connect: {0}")]
    Session(#[from] NewSessionError),
    #[error("cassandra: {0}")]
    Schema(#[from] schema::SchemaError),
    #[error("cassandra: use keyspace: {0}")]
    Keyspace(#[from] UseKeyspaceError),
    #[error("cassandra: prepare `{cql}`: {source}")]
    Prepare {
        cql: &'static str,
        #[source]
        source: PrepareError,
    },
}

/// Why a span (or the healthcheck) was not written.
#[derive(Debug, thiserror::Error)]
pub enum WriteError {
    /// An insert failed after the driver's retries.
    #[error("cassandra: insert into {table}: {source}")]
    Insert {
        table: &'static str,
        #[source]
        source: Box<ExecutionError>,
    },
    /// No session yet: the sink is still connecting in the background.
    #[error("cassandra: not connected yet (connecting in the background)")]
    NotConnected,
}

impl WriteError {
    /// Whether the failed insert may still have been applied: only errors raised before a
    /// request left the client (no connection, nothing to send it to, a bad statement) say
    /// it was not. Timeouts, lost connections and server errors may hide an applied write.
    pub fn maybe_applied(&self) -> bool {
        match self {
            WriteError::NotConnected => false,
            WriteError::Insert { source, .. } => !matches!(
                **source,
                ExecutionError::ConnectionPoolError(_)
                    | ExecutionError::EmptyPlan
                    | ExecutionError::BadQuery(_)
                    | ExecutionError::PrepareError(_)
            ),
        }
    }
}
