//! The Cassandra trace sink: spans written straight into Jaeger's v004 schema
//! (spec/jaeger-cassandra.md) so an unmodified jaeger-query reads them. [`config`] holds the
//! settings and their validation, [`schema`] the optional schema creation, [`writer`] the
//! prepared, idempotent inserts of one span's rows and the healthcheck; the bounded queue in
//! front is the generic [`crate::traces::sink::SpanSink`].

pub mod config;
mod names_cache;
pub mod schema;
mod udt;
pub mod writer;

pub use config::{CassandraConfig, SchemaOptions};
pub use writer::{CassandraWriter, ConnectError, WriteError, WriteReport};

use crate::traces::sink::{SinkOptions, SpanSink, WriteSpans};
use crate::traces::span::Span;
use std::sync::Arc;

/// The sink over Cassandra.
pub type CassandraSink = SpanSink<CassandraWriter>;

impl WriteSpans for CassandraWriter {
    type Error = WriteError;
    async fn write_span(&self, span: &Span) -> Result<usize, WriteError> {
        CassandraWriter::write_span(self, span)
            .await
            .map(|r| r.tags_skipped)
    }
}

/// Connects (creating the schema when configured) and starts the queue's worker.
pub async fn start(
    config: CassandraConfig,
    opts: SinkOptions,
) -> Result<CassandraSink, ConnectError> {
    let writer = CassandraWriter::connect(config).await?;
    Ok(SpanSink::start(Arc::new(writer), opts))
}
