//! `mixer telemetry`: binds the gRPC, metrics and monitoring ports, serves until shutdown, and
//! keeps the config fresh (reload on change, keep the running config on a bad one) and the
//! series bounded (expiry). Starts the trace sink (memory or Cassandra) and the access-log
//! writers' registry before the first config, serves jaeger-query's API over the memory
//! store, and flushes both on shutdown.

use crate::adapters::parquet::Archives;
use crate::adapters::stdio::{LogOptions, LogSinks};
use crate::config_source::{self, Fingerprint};
use crate::pipeline::{Pipeline, Sinks};
use crate::self_metrics::TelemetryMetrics;
use crate::service::TelemetryService;
use crate::traces::backend::{TraceBackend, TraceOptions};
use crate::traces::query_http;
use hyper::StatusCode;
use mixer_proto::server::{Limits, MixerServer};
use mixer_serving::http::{self, Reply, Routes};
use mixer_serving::shutdown::{drain, DRAIN_LIMIT};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Process settings (flags and environment); mesh config comes from files.
#[derive(Debug, Clone)]
pub struct Options {
    /// gRPC API (Mixer's `--port`, 9091).
    pub grpc_addr: SocketAddr,
    /// Prometheus adapter's `/metrics` (42422, as Istio's adapter).
    pub metrics_addr: SocketAddr,
    /// Self-monitoring: `/metrics`, `/healthz`, `/readyz`, `/version` (15014, as Mixer 1.1+).
    pub monitoring_addr: SocketAddr,
    /// Config directory; `None` serves the built-in standard config.
    pub config_dir: Option<PathBuf>,
    /// How often the config directory is checked for changes.
    pub reload_interval: Duration,
    /// Largest Report accepted (Mixer's `--maxMessageSize`).
    pub max_message_size: usize,
    /// HTTP/2 streams per connection (Mixer's `--maxConcurrentStreams`).
    pub max_concurrent_streams: u32,
    /// Report calls decoded at once; more wait.
    pub max_in_flight: usize,
    /// Where spans go (memory by default, or Cassandra) and the queue in front.
    pub traces: TraceOptions,
    /// jaeger-query's JSON API over the memory store (Jaeger's 16686); `None`: not served.
    pub query_addr: Option<SocketAddr>,
    /// The access-log writers of `stdio` handlers (their queue bound).
    pub logs: LogOptions,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("grpc server: {0}")]
    Grpc(String),
    #[error("trace sink: {0}")]
    Traces(String),
}

/// How long shutdown waits for queued spans to be written.
const TRACE_FLUSH: Duration = Duration::from_secs(5);
/// How long shutdown waits for queued access-log entries (and archive rows) to be written.
const LOG_FLUSH: Duration = Duration::from_secs(5);

/// Loads the config named by `opts` into a pipeline of generation `generation` whose `jaeger`
/// handlers send spans and `stdio` handlers write through `sinks`.
pub fn load_pipeline(
    dir: Option<&PathBuf>,
    generation: u64,
    sinks: &Sinks,
) -> Result<Pipeline, String> {
    let files = match dir {
        Some(d) => Some(config_source::read_dir(d).map_err(|e| format!("{}: {e}", d.display()))?),
        None => None,
    };
    let config = config_source::validate(files.as_ref()).map_err(|p| p.to_string())?;
    Pipeline::with_sinks(config, generation, sinks).map_err(|e| e.to_string())
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// The addresses actually bound (port 0 picks a free port: tests use that).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub grpc: SocketAddr,
    pub metrics: SocketAddr,
    pub monitoring: SocketAddr,
    /// The traces query API, when served.
    pub query: Option<SocketAddr>,
}

/// Starts everything; returns the bound addresses at once and a future that runs the service
/// until `shutdown` resolves, then drains and returns.
pub async fn start(
    opts: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<
    (
        Bound,
        Arc<TelemetryService>,
        impl Future<Output = Result<(), StartError>>,
    ),
    StartError,
> {
    // Fingerprint before reading: a change made while we read is then seen as a change.
    let seen = opts
        .config_dir
        .as_deref()
        .map(config_source::fingerprint)
        .and_then(Result::ok);
    let backend = TraceBackend::start(opts.traces.clone())
        .await
        .map_err(|e| StartError::Traces(e.to_string()))?;
    let traces = backend.sink();
    let sinks = Sinks {
        traces: traces.clone(),
        logs: LogSinks::new(opts.logs),
        archives: Archives::default(),
    };
    let pipeline =
        load_pipeline(opts.config_dir.as_ref(), 1, &sinks).map_err(StartError::Config)?;
    let metrics = Arc::new(TelemetryMetrics::default());
    let service = Arc::new(TelemetryService::new(pipeline, metrics, opts.max_in_flight));

    let grpc = bind(opts.grpc_addr).await?;
    let metrics_l = bind(opts.metrics_addr).await?;
    let monitoring_l = bind(opts.monitoring_addr).await?;
    let query_l = match opts.query_addr {
        Some(a) => Some(bind(a).await?),
        None => None,
    };
    let local = |l: &TcpListener, a| l.local_addr().unwrap_or(a);
    let bound = Bound {
        grpc: local(&grpc, opts.grpc_addr),
        metrics: local(&metrics_l, opts.metrics_addr),
        monitoring: local(&monitoring_l, opts.monitoring_addr),
        query: query_l
            .as_ref()
            .zip(opts.query_addr)
            .map(|(l, a)| local(l, a)),
    };
    let (stop_tx, stop_rx) = watch::channel(false);

    let scrape: Arc<dyn Routes> = Arc::new(Scrape(service.clone()));
    let monitor: Arc<dyn Routes> = Arc::new(Monitor(service.clone(), sinks.clone()));
    let mut tasks = vec![
        tokio::spawn(http::serve(metrics_l, scrape, stop_rx.clone())),
        tokio::spawn(http::serve(monitoring_l, monitor, stop_rx.clone())),
        tokio::spawn(reload_loop(
            service.clone(),
            sinks.clone(),
            opts.config_dir.clone(),
            seen.unwrap_or_default(),
            opts.reload_interval,
            stop_rx.clone(),
        )),
        tokio::spawn(expiry_loop(service.clone(), stop_rx.clone())),
    ];
    if let Some(l) = query_l {
        tasks.push(tokio::spawn(query_http::serve(
            l,
            traces.clone(),
            stop_rx.clone(),
        )));
    }

    let server = MixerServer::new(
        service.clone(),
        Limits {
            max_message_size: opts.max_message_size,
        },
    );
    let mut grpc_stop = stop_rx.clone();
    let grpc_task = tokio::spawn(
        mixer_proto::server::transport(opts.max_concurrent_streams).serve_with_incoming_shutdown(
            server,
            mixer_proto::server::incoming(grpc),
            async move {
                let _ = grpc_stop.changed().await;
            },
        ),
    );
    tracing::info!(grpc = %bound.grpc, metrics = %bound.metrics, monitoring = %bound.monitoring,
        query = ?bound.query, trace_sink = traces.kind(), "telemetry serving");

    let run_service = service.clone();
    let run = async move {
        shutdown.await;
        tracing::info!("shutting down: draining calls in flight");
        let _ = stop_tx.send(true);
        let drained = drain(grpc_task, tasks, DRAIN_LIMIT).await;
        log_final_counts(&run_service, matches!(drained, Ok(true)));
        // Report calls are done: what they queued is written now, within a bound.
        let stats = backend.shutdown(TRACE_FLUSH).await;
        tracing::info!(
            written = stats.written.get(),
            dropped_shutdown = stats.dropped_shutdown.get(),
            "trace sink flushed"
        );
        let logs = sinks.logs.clone();
        match tokio::task::spawn_blocking(move || logs.shutdown(LOG_FLUSH)).await {
            Ok(0) => {}
            Ok(dropped) => tracing::warn!(dropped, "access log: entries unwritten at shutdown"),
            Err(e) => tracing::warn!(error = %e, "access log: shutdown failed"),
        }
        let archives = sinks.archives.clone();
        match tokio::task::spawn_blocking(move || archives.shutdown(LOG_FLUSH)).await {
            Ok(0) => {}
            Ok(dropped) => tracing::warn!(dropped, "parquet archive: rows unwritten at shutdown"),
            Err(e) => tracing::warn!(error = %e, "parquet archive: shutdown failed"),
        }
        drained.map(|_| ()).map_err(StartError::Grpc)
    };
    Ok((bound, service, run))
}

/// Logs what this process accepted and counted, once its Report calls are over. A Prometheus
/// scrape misses whatever was counted after the last scrape; this line does not (and a test
/// restarting the service adds it to what the next process counts). With `drained` false the
/// drain ran out of time and calls may still have been running: the counts are a lower bound.
fn log_final_counts(service: &TelemetryService, drained: bool) {
    let m = &service.metrics;
    tracing::info!(
        drained,
        reports_ok = m.reports(0),
        bags = m.bags.get(),
        "report calls over; final counts follow"
    );
    for t in service.pipeline().totals() {
        tracing::info!(metric = %t.metric, total = %t.total, "final count");
    }
}

async fn reload_loop(
    service: Arc<TelemetryService>,
    sinks: Sinks,
    dir: Option<PathBuf>,
    mut seen: Fingerprint,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    let Some(dir) = dir else { return };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => return,
        }
        let now: Fingerprint = match config_source::fingerprint(&dir) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read the config directory; keeping the running config");
                continue;
            }
        };
        if now == seen {
            continue;
        }
        seen = now;
        let generation = service.pipeline().generation + 1;
        match load_pipeline(Some(&dir), generation, &sinks) {
            Ok(p) => {
                service.swap(p);
                service.metrics.config_reloads_ok.inc();
                tracing::info!(generation, "config reloaded");
            }
            Err(problems) => {
                service.metrics.config_reloads_failed.inc();
                tracing::error!("config change rejected; keeping the running config\n{problems}");
            }
        }
    }
}

async fn expiry_loop(service: Arc<TelemetryService>, mut stop: watch::Receiver<bool>) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            _ = stop.changed() => return,
        }
        service.pipeline().expire(Instant::now());
    }
}

/// The Prometheus adapter's scrape endpoint.
struct Scrape(Arc<TelemetryService>);

impl Routes for Scrape {
    fn get(&self, path: &str) -> Option<Reply> {
        (path == "/metrics").then(|| {
            // Rendered on a blocking thread in 256 KiB chunks through a bounded channel, so a
            // scrape of any size holds a few MiB of text at a time, not the whole exposition
            // (Istio's ~20 labels make a series line ~700 bytes: 100k series are ~700 MB).
            const CHUNK: usize = 256 * 1024;
            let (tx, rx) = tokio::sync::mpsc::channel(8);
            let pipeline = self.0.pipeline();
            tokio::task::spawn_blocking(move || {
                let mut out = String::with_capacity(CHUNK + 64 * 1024);
                let mut send = |out: &mut String| {
                    let chunk = std::mem::replace(out, String::with_capacity(CHUNK + 64 * 1024));
                    tx.blocking_send(bytes::Bytes::from(chunk)).is_ok()
                };
                if pipeline.render_metrics_chunked(&mut out, CHUNK, &mut send) && !out.is_empty() {
                    send(&mut out);
                }
            });
            Reply::metrics_stream(rx)
        })
    }
}

/// Self-monitoring endpoints.
struct Monitor(Arc<TelemetryService>, Sinks);

impl Routes for Monitor {
    fn get(&self, path: &str) -> Option<Reply> {
        match path {
            "/metrics" => {
                let mut out = String::with_capacity(8 * 1024);
                self.0.metrics.render(&mut out);
                self.0.pipeline().render_self_metrics(&mut out);
                self.1.traces.render_metrics(&mut out);
                self.1.logs.render_metrics(&mut out);
                self.1.archives.render_metrics(&mut out);
                Some(Reply::metrics(out))
            }
            "/healthz" | "/readyz" => Some(Reply::text(StatusCode::OK, "ok\n")),
            "/version" => Some(Reply::text(
                StatusCode::OK,
                concat!(env!("CARGO_PKG_VERSION"), "\n"),
            )),
            _ => None,
        }
    }
}
