//! One loaded config, ready to serve: the validated config, its dispatch plan and the handler
//! instances built from it. A Report call decodes its bags, dispatches each through the plan
//! into per-call batches, and merges the batches only when the whole request decoded — so a
//! request that is rejected (and will be retried) leaves no partial counts behind (nor
//! queued spans, access-log lines or archive rows).

use crate::adapters::jaeger::JaegerHandler;
use crate::adapters::parquet::{Archives, ParquetHandler, Rows};
use crate::adapters::prometheus::{Batch, MetricTotal, PrometheusHandler};
use crate::adapters::stdio::{Lines, LogSinks, StdioHandler};
use crate::self_metrics::{ErrorReason, TelemetryMetrics};
use crate::traces::backend::TraceSink;
use crate::traces::Span;
use mixer_attributes::decode::{DecodeError, ReportBuffers, ReportRequestView};
use mixer_rules::{Config, Memo, Plan, Variety};
use std::time::Instant;

/// A handler built from a `handler` document (a closed list, like the adapters).
#[derive(Debug)]
pub enum Handler {
    Prometheus(PrometheusHandler),
    Jaeger(JaegerHandler),
    Stdio(StdioHandler),
    Parquet(ParquetHandler),
}

/// The process's sinks that outlive a config: where `jaeger` handlers send spans and where
/// `stdio` and `parquet` handlers write. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Sinks {
    pub traces: TraceSink,
    pub logs: LogSinks,
    pub archives: Archives,
}

impl Sinks {
    /// No trace sink (spans are counted as dropped) and log writers of their own.
    pub fn detached() -> Sinks {
        Sinks {
            traces: TraceSink::detached(),
            logs: LogSinks::default(),
            archives: Archives::default(),
        }
    }
}

/// Why a pipeline could not be built from a valid config.
#[derive(Debug, thiserror::Error)]
#[error("handler {handler}: {message}")]
pub struct BuildError {
    pub handler: String,
    pub message: String,
}

/// What one Report call did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ReportOutcome {
    pub bags: u64,
    /// Rules skipped because their `match` could not be evaluated.
    pub match_errors: u64,
}

/// Per-worker scratch space reused across Report calls.
#[derive(Debug, Default)]
pub struct Scratch {
    generation: u64,
    batches: Vec<Option<Batch>>,
    /// Spans built during the call, per handler index; queued once the whole request decoded.
    spans: Vec<Vec<Span>>,
    /// Access-log lines built during the call, per handler index; queued likewise.
    lines: Vec<Lines>,
    /// Archive rows built during the call, per handler index; queued likewise.
    rows: Vec<Rows>,
    /// The rule evaluator's memory, carried from bag to bag.
    memo: Memo,
    /// The decoder's buffers, carried from request to request.
    buffers: ReportBuffers,
}

/// A config in service.
#[derive(Debug)]
pub struct Pipeline {
    pub generation: u64,
    pub config: Config,
    plan: Plan,
    handlers: Vec<Handler>,
}

impl Pipeline {
    /// A pipeline whose `jaeger` handlers have no sink behind them (their spans are counted
    /// as dropped) and whose `stdio` handlers have writers of their own: for benchmarks and
    /// offline use. The server uses [`Pipeline::with_sinks`].
    pub fn new(config: Config, generation: u64) -> Result<Pipeline, BuildError> {
        Pipeline::with_sinks(config, generation, &Sinks::detached())
    }

    /// A pipeline whose `jaeger` handlers send spans to `traces` (and `stdio` handlers have
    /// writers of their own).
    pub fn with_traces(
        config: Config,
        generation: u64,
        traces: &TraceSink,
    ) -> Result<Pipeline, BuildError> {
        let sinks = Sinks {
            traces: traces.clone(),
            logs: LogSinks::default(),
            archives: Archives::default(),
        };
        Pipeline::with_sinks(config, generation, &sinks)
    }

    /// A pipeline whose handlers send spans and write logs through the process's `sinks`.
    pub fn with_sinks(
        config: Config,
        generation: u64,
        sinks: &Sinks,
    ) -> Result<Pipeline, BuildError> {
        let plan = Plan::new(&config);
        let mut handlers = Vec::with_capacity(config.handlers.len());
        for (i, h) in config.handlers.iter().enumerate() {
            let built = match h.adapter.as_str() {
                "prometheus" => PrometheusHandler::new(&config, i, &plan)
                    .map(Handler::Prometheus)
                    .map_err(|e| e.to_string()),
                "jaeger" => JaegerHandler::new(&config, i, &plan, sinks.traces.clone())
                    .map(Handler::Jaeger)
                    .map_err(|e| e.to_string()),
                "stdio" => StdioHandler::new(&config, i, &plan, &sinks.logs)
                    .map(Handler::Stdio)
                    .map_err(|e| e.to_string()),
                "parquet" => ParquetHandler::new(&config, i, &plan, &sinks.archives)
                    .map(Handler::Parquet)
                    .map_err(|e| e.to_string()),
                other => {
                    return Err(BuildError {
                        handler: h.name.to_string(),
                        message: format!("adapter {other} is not a report adapter of this service"),
                    })
                }
            };
            handlers.push(built.map_err(|message| BuildError {
                handler: h.name.to_string(),
                message,
            })?);
        }
        Ok(Pipeline {
            generation,
            config,
            plan,
            handlers,
        })
    }

    /// Takes over the series of `previous` (the config this one replaces) wherever a handler
    /// of the same name exports unchanged metrics (see `PrometheusHandler::inherit`).
    pub fn inherit(&mut self, previous: &Pipeline) {
        for (i, h) in self.handlers.iter_mut().enumerate() {
            let name = &self.config.handlers[i].name;
            let old = previous
                .config
                .handlers
                .iter()
                .position(|o| &o.name == name)
                .and_then(|j| previous.handlers.get(j));
            match (h, old) {
                (Handler::Prometheus(new), Some(Handler::Prometheus(old))) => {
                    new.inherit(old);
                }
                (
                    Handler::Prometheus(_)
                    | Handler::Jaeger(_)
                    | Handler::Stdio(_)
                    | Handler::Parquet(_),
                    _,
                ) => {}
            }
        }
    }

    pub fn handlers(&self) -> &[Handler] {
        &self.handlers
    }

    /// Decodes and dispatches one `ReportRequest`. On a decode error nothing is recorded.
    pub fn report(
        &self,
        request: &[u8],
        scratch: &mut Scratch,
        metrics: &TelemetryMetrics,
    ) -> Result<ReportOutcome, DecodeError> {
        if scratch.generation != self.generation || scratch.batches.len() != self.handlers.len() {
            scratch.generation = self.generation;
            scratch.batches = self
                .handlers
                .iter()
                .map(|h| match h {
                    Handler::Prometheus(p) => Some(p.batch()),
                    Handler::Jaeger(_) | Handler::Stdio(_) | Handler::Parquet(_) => None,
                })
                .collect();
            scratch.spans = self.handlers.iter().map(|_| Vec::new()).collect();
            scratch.lines = self.handlers.iter().map(|_| Lines::default()).collect();
            scratch.rows = self.handlers.iter().map(|_| Rows::default()).collect();
        }
        let batches = &mut scratch.batches;
        let spans = &mut scratch.spans;
        let lines = &mut scratch.lines;
        let rows = &mut scratch.rows;
        let mut outcome = ReportOutcome::default();
        let buffers = std::mem::take(&mut scratch.buffers);
        let mut view = ReportRequestView::parse_with(request, &self.config.vocabulary, buffers)?;
        let mut memo = std::mem::take(&mut scratch.memo);
        while let Some(bag) = view.next_bag() {
            let bag = match bag {
                Ok(bag) => bag,
                Err(e) => {
                    batches.iter_mut().flatten().for_each(Batch::discard);
                    spans.iter_mut().for_each(Vec::clear);
                    lines.iter_mut().for_each(Lines::clear);
                    rows.iter_mut().for_each(Rows::clear);
                    scratch.memo = memo;
                    scratch.buffers = view.recycle();
                    return Err(e);
                }
            };
            outcome.bags += 1;
            batches.iter_mut().flatten().for_each(Batch::next_bag);
            let mut ev = self.plan.evaluator_with(bag, memo);
            self.plan.dispatch(
                &mut ev,
                Variety::Report,
                |ev, handler, instance| {
                    if let Some(Some(batch)) = batches.get_mut(handler) {
                        batch.record(ev, instance);
                        return;
                    }
                    match self.handlers.get(handler) {
                        Some(Handler::Jaeger(j)) => {
                            if let Some(out) = spans.get_mut(handler) {
                                j.record(ev, instance, out);
                            }
                        }
                        Some(Handler::Stdio(s)) => {
                            if let Some(out) = lines.get_mut(handler) {
                                s.record(ev, instance, out);
                            }
                        }
                        Some(Handler::Parquet(p)) => {
                            if let Some(out) = rows.get_mut(handler) {
                                p.record(ev, instance, out);
                            }
                        }
                        _ => {}
                    }
                },
                |_| outcome.match_errors += 1,
            );
            memo = ev.into_memo();
        }
        scratch.memo = memo;
        scratch.buffers = view.recycle();
        let now = Instant::now();
        let mut instance_errors = 0;
        for ((((h, batch), out), log), archived) in self
            .handlers
            .iter()
            .zip(batches.iter_mut())
            .zip(spans)
            .zip(lines)
            .zip(rows)
        {
            match (h, batch) {
                (Handler::Prometheus(p), Some(b)) => p.merge(b, now),
                (Handler::Jaeger(j), _) if !out.is_empty() => {
                    j.submit(out);
                }
                (Handler::Stdio(s), _) => {
                    instance_errors += std::mem::take(&mut log.errors);
                    s.submit(log);
                }
                (Handler::Parquet(p), _) => {
                    instance_errors += std::mem::take(&mut archived.errors);
                    p.submit(archived);
                }
                _ => {}
            }
        }
        metrics.bags.add(outcome.bags);
        metrics.error(ErrorReason::Instance, instance_errors);
        metrics.error(ErrorReason::Match, outcome.match_errors);
        Ok(outcome)
    }

    /// Deletes idle series of every handler with an expiration policy.
    pub fn expire(&self, now: Instant) {
        for h in &self.handlers {
            match h {
                Handler::Prometheus(p) => p.expire(now),
                Handler::Jaeger(_) | Handler::Stdio(_) | Handler::Parquet(_) => {}
            }
        }
    }

    /// What every counter and histogram of the Prometheus handlers has counted (see
    /// `PrometheusHandler::totals`): the shutdown summary.
    pub fn totals(&self) -> Vec<MetricTotal> {
        self.handlers
            .iter()
            .flat_map(|h| match h {
                Handler::Prometheus(p) => p.totals(),
                Handler::Jaeger(_) | Handler::Stdio(_) | Handler::Parquet(_) => Vec::new(),
            })
            .collect()
    }

    /// Per-metric self-metrics of the Prometheus handlers (`mixer_prometheus_*{metric}`).
    pub fn render_self_metrics(&self, out: &mut String) {
        use std::fmt::Write;
        let stats: Vec<_> = self
            .handlers
            .iter()
            .flat_map(|h| match h {
                Handler::Prometheus(p) => p.stats(),
                Handler::Jaeger(_) | Handler::Stdio(_) | Handler::Parquet(_) => Vec::new(),
            })
            .collect();
        type Field = fn(&crate::adapters::prometheus::MetricStats) -> u64;
        let families: [(&str, &str, &str, Field); 5] = [
            (
                "mixer_prometheus_series",
                "gauge",
                "Live series per exported metric.",
                |s| s.series,
            ),
            (
                "mixer_prometheus_series_overflow_total",
                "counter",
                "Samples sent to the overflow series because the metric hit max_series_per_metric.",
                |s| s.overflowed,
            ),
            (
                "mixer_prometheus_value_errors_total",
                "counter",
                "Instances whose value was not a number.",
                |s| s.value_errors,
            ),
            (
                "mixer_prometheus_eval_errors_total",
                "counter",
                "Instances whose value or labels could not be evaluated.",
                |s| s.eval_errors,
            ),
            (
                "mixer_prometheus_expired_series_total",
                "counter",
                "Series deleted after metricsExpiryDuration without updates.",
                |s| s.expired,
            ),
        ];
        for (name, kind, help, field) in families {
            let _ = writeln!(out, "# HELP {name} {help}");
            let _ = writeln!(out, "# TYPE {name} {kind}");
            for s in &stats {
                let _ = writeln!(out, "{name}{{metric=\"{}\"}} {}", s.metric, field(s));
            }
        }
    }

    /// The `/metrics` exposition of every Prometheus handler.
    pub fn render_metrics(&self, out: &mut String) {
        self.render_metrics_chunked(out, usize::MAX, |_| true);
    }

    /// [`render_metrics`](Self::render_metrics) in chunks of about `chunk` bytes handed to
    /// `flush` (see `PrometheusHandler::render_chunked`); what is left at the end stays in
    /// `out`. Returns false when `flush` stopped it.
    pub fn render_metrics_chunked(
        &self,
        out: &mut String,
        chunk: usize,
        mut flush: impl FnMut(&mut String) -> bool,
    ) -> bool {
        self.handlers.iter().all(|h| match h {
            Handler::Prometheus(p) => p.render_chunked(out, chunk, &mut flush),
            Handler::Jaeger(_) | Handler::Stdio(_) | Handler::Parquet(_) => true,
        })
    }
}
