//! Traces: the span model ([`span`]), the rows Jaeger's Cassandra schema holds for a span
//! ([`jaeger_rows`], pure), the bounded span queue ([`span_queue`]) in front of a writer
//! ([`sink`]) and of the OTLP exporter, the Cassandra writer that stores those rows so an
//! unmodified jaeger-query reads our spans ([`cassandra`]), and the bounded in-memory store
//! used when no Cassandra is configured ([`memory`]), and the OTLP exporter that also sends
//! every span to an OTLP receiver ([`otlp`]). [`backend`] picks the store for the process and
//! owns the queues; [`query`] and [`query_http`] serve jaeger-query's JSON API over the memory
//! store, through jaeger-query's own adjusters ([`adjust`]).

pub mod adjust;
pub mod backend;
pub mod cassandra;
pub mod jaeger_rows;
pub mod memory;
pub mod otlp;
pub mod query;
pub mod query_http;
mod query_params;
pub mod sink;
pub mod span;
pub mod span_queue;

pub use backend::{TraceBackend, TraceOptions, TraceSink};
pub use memory::{MemoryOptions, MemoryStore, TraceQuery};
pub use sink::{
    Progress, RetryOptions, SinkHandle, SinkOptions, SinkStats, SpanSink, Submit, WriteSpans,
};
pub use span::{Log, Process, RefType, Span, SpanId, SpanRef, Tag, TagValue, TraceId};
