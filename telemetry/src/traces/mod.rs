//! Traces: the span model ([`span`]), the rows Jaeger's Cassandra schema holds for a span
//! ([`jaeger_rows`], pure), the bounded queue in front of a writer ([`sink`]), the Cassandra
//! writer that stores those rows so an unmodified jaeger-query reads our spans
//! ([`cassandra`]), and the bounded in-memory store used when no Cassandra is configured
//! ([`memory`]). [`backend`] picks one for the process and owns its queue; [`query`] and
//! [`query_http`] serve jaeger-query's JSON API over the memory store.

pub mod backend;
pub mod cassandra;
pub mod jaeger_rows;
pub mod memory;
pub mod query;
pub mod query_http;
pub mod sink;
pub mod span;

pub use backend::{TraceBackend, TraceOptions, TraceSink};
pub use memory::{MemoryOptions, MemoryStore, TraceQuery};
pub use sink::{
    Progress, RetryOptions, SinkHandle, SinkOptions, SinkStats, SpanSink, Submit, WriteSpans,
};
pub use span::{Log, Process, RefType, Span, SpanId, SpanRef, Tag, TagValue, TraceId};
