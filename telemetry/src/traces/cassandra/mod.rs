//! The Cassandra trace sink: spans written straight into Jaeger's v004 schema
//! (spec/jaeger-cassandra.md) so an unmodified jaeger-query reads them. [`config`] holds the
//! settings and their validation, [`schema`] the optional schema creation, [`writer`] the
//! prepared, idempotent inserts of one span's rows and the healthcheck, [`connecting`] the
//! background connection that lets the service start while Cassandra is down; the bounded
//! queue in front is the generic [`crate::traces::sink::SpanSink`].

pub mod config;
pub mod connecting;
mod names_cache;
pub mod schema;
pub mod udt;
pub mod writer;

pub use config::{CassandraConfig, ConfigErrors, SchemaOptions};
pub use connecting::{ConnectStats, ConnectingWriter};
pub use writer::{CassandraWriter, ConnectError, WriteError, WriteReport};

use crate::traces::sink::{Progress, SinkOptions, SpanSink, WriteSpans};
use crate::traces::span::Span;
use std::sync::Arc;

/// The sink over Cassandra.
pub type CassandraSink = SpanSink<ConnectingWriter>;

impl WriteSpans for CassandraWriter {
    type Error = WriteError;
    async fn write_span(&self, span: &Span, progress: &mut Progress) -> Result<usize, WriteError> {
        CassandraWriter::write_span(self, span, progress)
            .await
            .map(|r| r.tags_skipped)
    }
}

/// Validates `config` and starts the queue's worker at once; the writer connects (creating
/// the schema when configured) in the background and keeps trying until it succeeds, so
/// the service runs while Cassandra is down. Only a bad config is an error.
pub fn start(config: CassandraConfig, opts: SinkOptions) -> Result<CassandraSink, ConfigErrors> {
    let writer = ConnectingWriter::start(config)?;
    Ok(SpanSink::start(Arc::new(writer), opts))
}
