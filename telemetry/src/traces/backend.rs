//! The process's trace sink, chosen by flags (not by mesh config): the bounded in-memory
//! store by default, or Cassandra in Jaeger's schema. Either way spans go through one bounded
//! [`SpanSink`] queue (drop newest when full, counted). [`TraceBackend`] owns the worker and
//! shuts it down; [`TraceSink`] is the cheap handle every `jaeger` handler of every config
//! generation shares, so a reload keeps the queue, the store and the Cassandra session.

use super::cassandra::{self, CassandraConfig, CassandraSink, ConfigErrors, ConnectStats};
use super::memory::{MemoryOptions, MemoryStore};
use super::sink::{SinkHandle, SinkOptions, SinkStats, SpanSink};
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
            connect: None,
        }
    }

    pub fn handle(&self) -> &SinkHandle {
        &self.handle
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

    /// `mixer_traces_*` in Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        let s: &SinkStats = self.handle.stats();
        let sink = self.kind;
        let counters: [(&str, &str, u64); 6] = [
            (
                "mixer_traces_spans_received_total",
                "Spans offered to the trace sink's queue.",
                s.received.get(),
            ),
            (
                "mixer_traces_spans_written_total",
                "Spans the sink stored (Cassandra: their traces row acknowledged).",
                s.written.get(),
            ),
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
                "mixer_traces_tags_skipped_total",
                "Tags left out of Cassandra's tag_index (too long, JSON).",
                s.tags_skipped.get(),
            ),
            (
                "mixer_traces_spans_invalid_total",
                "tracespan instances that made no span (no valid trace or span id).",
                self.handlers.invalid.get(),
            ),
        ];
        for (name, help, v) in counters {
            header(out, name, "counter", help);
            let _ = writeln!(out, "{name}{{sink=\"{sink}\"}} {v}");
        }
        let name = "mixer_traces_spans_dropped_total";
        header(out, name, "counter", "Spans not stored, by reason.");
        let trace_full = self
            .memory
            .as_ref()
            .map_or(0, |m| m.stats().spans_dropped_trace_full.get());
        for (reason, v) in [
            ("queue_full", s.dropped_queue_full.get()),
            ("write_failed", s.dropped_write_failed.get()),
            ("shutdown", s.dropped_shutdown.get()),
            ("trace_full", trace_full),
        ] {
            let _ = writeln!(out, "{name}{{sink=\"{sink}\",reason=\"{reason}\"}} {v}");
        }
        let name = "mixer_traces_spans_dropped_maybe_stored_total";
        let help = "Dropped spans (write_failed, shutdown) whose stored row an attempt may have \
                    applied without an acknowledgement (a timeout, a lost connection).";
        header(out, name, "counter", help);
        let _ = writeln!(
            out,
            "{name}{{sink=\"{sink}\"}} {}",
            s.dropped_maybe_stored.get()
        );
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
        for (name, help, v) in [
            (
                "mixer_traces_queue_depth",
                "Spans waiting in the sink's queue.",
                self.handle.queue_depth() as u64,
            ),
            (
                "mixer_traces_in_flight",
                "Spans being written.",
                s.in_flight(),
            ),
        ] {
            header(out, name, "gauge", help);
            let _ = writeln!(out, "{name}{{sink=\"{sink}\"}} {v}");
        }
    }
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
}

impl TraceBackend {
    /// Starts the worker on the current runtime. With Cassandra the connection (and schema
    /// creation, when configured) is made in the background and retried until it succeeds;
    /// only an invalid config fails here.
    pub async fn start(opts: TraceOptions) -> Result<TraceBackend, ConfigErrors> {
        let handlers = Arc::new(HandlerStats::default());
        Ok(match opts.cassandra {
            None => {
                let store = Arc::new(MemoryStore::new(opts.memory));
                let worker = SpanSink::start(store.clone(), opts.queue);
                TraceBackend {
                    sink: TraceSink {
                        handle: worker.handle(),
                        memory: Some(store),
                        kind: "memory",
                        handlers,
                        connect: None,
                    },
                    worker: Worker::Memory(worker),
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
                        connect: Some(worker.writer().stats().clone()),
                    },
                    worker: Worker::Cassandra(worker),
                }
            }
        })
    }

    pub fn sink(&self) -> TraceSink {
        self.sink.clone()
    }

    /// Closes the queue and waits up to `timeout` for what it holds to be written; what is
    /// left is counted as dropped (`shutdown`).
    pub async fn shutdown(self, timeout: Duration) -> Arc<SinkStats> {
        match self.worker {
            Worker::Memory(w) => w.shutdown(timeout).await,
            Worker::Cassandra(w) => w.shutdown(timeout).await,
        }
    }
}
