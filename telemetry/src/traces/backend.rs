//! The process's trace sink, chosen by flags (not by mesh config): the bounded in-memory
//! store by default, or Cassandra in Jaeger's schema. Either way spans go through one bounded
//! [`SpanSink`] queue (drop newest when full, counted). Optionally each span also goes to an
//! OTLP receiver through the exporter's own bounded queue, so neither path can stall the
//! other. [`TraceBackend`] owns the workers and shuts them down; [`TraceSink`] is the cheap
//! handle every `jaeger` handler of every config generation shares, so a reload keeps the
//! queues, the store, the Cassandra session and the OTLP connection.

use super::cassandra::{self, CassandraConfig, CassandraSink, ConfigErrors, ConnectStats};
use super::memory::{MemoryOptions, MemoryStore};
use super::otlp::{self, OtlpConfig, OtlpExporter, OtlpHandle, OtlpStats};
use super::sink::{SinkHandle, SinkOptions, SinkStats, SpanSink, Submit};
use super::span::Span;
use crate::self_metrics::Counter;
use mixer_serving::metrics::header;
use std::fmt::Write;
use std::sync::Arc;
use std::time::Duration;

/// Where spans go and how much may wait.
#[derive(Clone, Debug, Default)]
pub struct TraceOptions {
    /// `None`: the in-memory store.
    pub cassandra: Option<CassandraConfig>,
    pub queue: SinkOptions,
    pub memory: MemoryOptions,
    /// Also export every span over OTLP/gRPC (its own queue and counters).
    pub otlp: Option<OtlpConfig>,
}

/// Why the trace sink could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Cassandra(#[from] ConfigErrors),
    #[error(transparent)]
    Otlp(#[from] otlp::ConfigErrors),
}

/// Counters of the handlers that feed the sink.
#[derive(Debug, Default)]
pub struct HandlerStats {
    /// `tracespan` instances that made no span (no valid trace or span id).
    pub invalid: Counter,
}

/// The producers' side of the process's sink; cheap to clone.
#[derive(Clone, Debug)]
pub struct TraceSink {
    handle: SinkHandle,
    memory: Option<Arc<MemoryStore>>,
    kind: &'static str,
    handlers: Arc<HandlerStats>,
    otlp: Option<OtlpHandle>,
    /// The Cassandra writer's background connection.
    connect: Option<Arc<ConnectStats>>,
}

impl TraceSink {
    /// A sink with nothing behind it: spans are counted as dropped (`shutdown`). For
    /// pipelines built outside a runtime (benchmarks, offline checks).
    pub fn detached() -> TraceSink {
        TraceSink {
            handle: SinkHandle::detached(),
            memory: None,
            kind: "none",
            handlers: Arc::default(),
            otlp: None,
            connect: None,
        }
    }

    /// Queues `span` for the store and, when configured, a copy for OTLP export, without
    /// waiting; each queue counts what it refuses. Returns what the store's queue did.
    pub fn submit(&self, span: Span) -> Submit {
        if let Some(o) = &self.otlp {
            o.submit(span.clone());
        }
        self.handle.submit(span)
    }

    /// The store's queue.
    pub fn handle(&self) -> &SinkHandle {
        &self.handle
    }

    /// The OTLP exporter's queue, when configured.
    pub fn otlp(&self) -> Option<&OtlpHandle> {
        self.otlp.as_ref()
    }

    /// The store the query API reads; `None` when spans go to Cassandra.
    pub fn memory(&self) -> Option<&Arc<MemoryStore>> {
        self.memory.as_ref()
    }

    /// `memory`, `cassandra` or `none`.
    pub fn kind(&self) -> &'static str {
        self.kind
    }

    pub fn handler_stats(&self) -> &HandlerStats {
        &self.handlers
    }

    /// `mixer_traces_*` in Prometheus text format: one series per sink (the store's kind,
    /// and `otlp` when exporting).
    pub fn render_metrics(&self, out: &mut String) {
        let s: &SinkStats = self.handle.stats();
        let trace_full = self
            .memory
            .as_ref()
            .map_or(0, |m| m.stats().spans_dropped_trace_full.get());
        let mut rows = vec![Row {
            sink: self.kind,
            received: s.received.get(),
            written: s.written.get(),
            failed: s.dropped_write_failed.get(),
            dropped: vec![
                ("queue_full", s.dropped_queue_full.get()),
                ("write_failed", s.dropped_write_failed.get()),
                ("shutdown", s.dropped_shutdown.get()),
                ("trace_full", trace_full),
            ],
            queue_depth: self.handle.queue_depth() as u64,
            in_flight: s.in_flight(),
        }];
        let otlp: Option<&OtlpStats> = self.otlp.as_ref().map(|o| &**o.stats());
        if let (Some(o), Some(h)) = (otlp, &self.otlp) {
            rows.push(Row {
                sink: "otlp",
                received: o.received.get(),
                written: o.exported.get(),
                failed: o.failed(),
                dropped: vec![
                    ("queue_full", o.dropped_queue_full.get()),
                    ("shutdown", o.dropped_shutdown.get()),
                    ("rejected", o.rejected.get()),
                    ("retries_exhausted", o.retries_exhausted.get()),
                    ("export_error", o.export_error.get()),
                ],
                queue_depth: h.queue_depth() as u64,
                in_flight: o.in_flight(),
            });
        }
        let per_sink: [(&str, &str, RowValue); 3] = [
            (
                "mixer_traces_spans_received_total",
                "Spans offered to the sink's queue.",
                |r| r.received,
            ),
            (
                "mixer_traces_spans_written_total",
                "Spans the sink stored (Cassandra: their traces row acknowledged; otlp: the \
                 receiver accepted).",
                |r| r.written,
            ),
            (
                "mixer_traces_spans_failed_total",
                "Spans whose write failed after every retry (the store: the write_failed drops; \
                 otlp: the sum of the rejected, retries_exhausted and export_error drops).",
                |r| r.failed,
            ),
        ];
        for (name, help, v) in per_sink {
            header(out, name, "counter", help);
            for r in &rows {
                let _ = writeln!(out, "{name}{{sink=\"{}\"}} {}", r.sink, v(r));
            }
        }
        let sink = self.kind;
        for (name, help, v) in [
            (
                "mixer_traces_spans_unindexed_total",
                "Written spans whose index rows still failed after every retry.",
                s.written_unindexed.get(),
            ),
            (
                "mixer_traces_span_write_retries_total",
                "Failed span write attempts that were retried (with backoff).",
                s.retries.get(),
            ),
            (
                "mixer_traces_spans_dropped_maybe_stored_total",
                "Dropped spans (write_failed, shutdown) whose stored row an attempt may have \
                 applied without an acknowledgement (a timeout, a lost connection).",
                s.dropped_maybe_stored.get(),
            ),
            (
                "mixer_traces_tags_skipped_total",
                "Tags left out of Cassandra's tag_index (too long, JSON).",
                s.tags_skipped.get(),
            ),
            (
                "mixer_traces_spans_invalid_total",
                "tracespan instances that made no span (no valid trace or span id).",
                self.handlers.invalid.get(),
            ),
        ] {
            header(out, name, "counter", help);
            let _ = writeln!(out, "{name}{{sink=\"{sink}\"}} {v}");
        }
        let name = "mixer_traces_spans_dropped_total";
        header(
            out,
            name,
            "counter",
            "Spans not stored (otlp: not exported), by reason.",
        );
        for r in &rows {
            for (reason, v) in &r.dropped {
                let _ = writeln!(out, "{name}{{sink=\"{}\",reason=\"{reason}\"}} {v}", r.sink);
            }
        }
        if let Some(c) = &self.connect {
            let name = "mixer_traces_cassandra_connected";
            let help = "1 once the Cassandra session is up (the driver reconnects by itself \
                        afterwards), 0 while the sink is still connecting.";
            header(out, name, "gauge", help);
            let _ = writeln!(out, "{name} {}", u8::from(c.connected()));
            let name = "mixer_traces_cassandra_connect_failures_total";
            header(
                out,
                name,
                "counter",
                "Failed attempts to connect to Cassandra.",
            );
            let _ = writeln!(out, "{name} {}", c.failures.get());
        }
        let name = "mixer_traces_span_write_duration_seconds";
        let help = "Time of one span write attempt (all its rows, the driver's retries \
                    included), failed attempts too.";
        header(out, name, "histogram", help);
        s.write_duration
            .render(out, name, &format!("sink=\"{sink}\","));
        if let Some(o) = otlp {
            let name = "mixer_traces_otlp_export_duration_seconds";
            let help = "Time to export one batch over OTLP, from the first call to the last \
                        answer (retries and backoff included), failed batches too.";
            header(out, name, "histogram", help);
            o.export_duration.render(out, name, "sink=\"otlp\",");
            let name = "mixer_traces_otlp_export_retries_total";
            header(
                out,
                name,
                "counter",
                "OTLP export calls repeated after a transient error.",
            );
            let _ = writeln!(out, "{name}{{sink=\"otlp\"}} {}", o.retries.get());
        }
        for (name, help, v) in [
            (
                "mixer_traces_queue_depth",
                "Spans waiting in the sink's queue.",
                (|r| r.queue_depth) as RowValue,
            ),
            (
                "mixer_traces_in_flight",
                "Spans being written (otlp: in the batch being exported).",
                |r| r.in_flight,
            ),
        ] {
            header(out, name, "gauge", help);
            for r in &rows {
                let _ = writeln!(out, "{name}{{sink=\"{}\"}} {}", r.sink, v(r));
            }
        }
    }
}

/// Reads one value of a [`Row`].
type RowValue = fn(&Row) -> u64;

/// One sink's values for the shared `mixer_traces_*` series.
struct Row<'a> {
    sink: &'a str,
    received: u64,
    written: u64,
    failed: u64,
    dropped: Vec<(&'static str, u64)>,
    queue_depth: u64,
    in_flight: u64,
}

enum Worker {
    Memory(SpanSink<MemoryStore>),
    Cassandra(CassandraSink),
}

impl std::fmt::Debug for Worker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Worker::Memory(_) => "Worker::Memory",
            Worker::Cassandra(_) => "Worker::Cassandra",
        })
    }
}

/// The running sink: its worker and the handle to give handlers.
#[derive(Debug)]
pub struct TraceBackend {
    sink: TraceSink,
    worker: Worker,
    otlp: Option<OtlpExporter>,
}

impl TraceBackend {
    /// Starts the workers on the current runtime. With Cassandra the connection (and schema
    /// creation, when configured) is made in the background and retried until it succeeds;
    /// the OTLP exporter connects on its first export. Only an invalid config fails here.
    pub async fn start(opts: TraceOptions) -> Result<TraceBackend, StartError> {
        let handlers = Arc::new(HandlerStats::default());
        let otlp = opts.otlp.map(OtlpExporter::start).transpose()?;
        let otlp_handle = otlp.as_ref().map(OtlpExporter::handle);
        let mut backend = match opts.cassandra {
            None => {
                let store = Arc::new(MemoryStore::new(opts.memory));
                let worker = SpanSink::start(store.clone(), opts.queue);
                TraceBackend {
                    sink: TraceSink {
                        handle: worker.handle(),
                        memory: Some(store),
                        kind: "memory",
                        handlers,
                        otlp: otlp_handle,
                        connect: None,
                    },
                    worker: Worker::Memory(worker),
                    otlp: None,
                }
            }
            Some(config) => {
                let worker = cassandra::start(config, opts.queue)?;
                TraceBackend {
                    sink: TraceSink {
                        handle: worker.handle(),
                        memory: None,
                        kind: "cassandra",
                        handlers,
                        otlp: otlp_handle,
                        connect: Some(worker.writer().stats().clone()),
                    },
                    worker: Worker::Cassandra(worker),
                    otlp: None,
                }
            }
        };
        backend.otlp = otlp;
        Ok(backend)
    }

    pub fn sink(&self) -> TraceSink {
        self.sink.clone()
    }

    /// Closes the queues and waits up to `timeout` (both at once) for what they hold to be
    /// written and exported; what is left is counted as dropped (`shutdown`). Returns the
    /// store's counters; the exporter's are logged.
    pub async fn shutdown(self, timeout: Duration) -> Arc<SinkStats> {
        let store = async {
            match self.worker {
                Worker::Memory(w) => w.shutdown(timeout).await,
                Worker::Cassandra(w) => w.shutdown(timeout).await,
            }
        };
        let otlp = async {
            match self.otlp {
                Some(e) => Some(e.shutdown(timeout).await),
                None => None,
            }
        };
        let (stats, otlp) = tokio::join!(store, otlp);
        if let Some(o) = otlp {
            tracing::info!(
                exported = o.exported.get(),
                failed = o.failed(),
                dropped_queue_full = o.dropped_queue_full.get(),
                dropped_shutdown = o.dropped_shutdown.get(),
                "otlp exporter flushed"
            );
        }
        stats
    }
}
