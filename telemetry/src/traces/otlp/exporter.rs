//! The OTLP export path: its own bounded queue (drop newest when full, counted), one worker
//! that batches spans (up to `max_batch`, or what arrived within `batch_delay` of a batch's
//! first span), converts them ([`super::convert`]) and calls the receiver's
//! `TraceService/Export` with a deadline, retrying transient failures with jittered
//! exponential backoff. The store's queue is separate, so a slow or absent receiver costs
//! only OTLP spans, never stored ones. Every span offered is accounted for exactly once:
//! `received = exported + rejected + retries_exhausted + export_error + dropped_queue_full +
//! dropped_shutdown + queued + in flight`.

use super::config::{endpoint_uri, ConfigErrors, OtlpConfig};
use super::convert;
use crate::self_metrics::{Counter, Histogram};
use crate::traces::span::Span;
use crate::traces::span_queue::{
    self, Next, QueueCounters, QueueHandle, QueueReceiver, QueueStats,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use std::hash::BuildHasher;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc::error::TryRecvError;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::metadata::{AsciiMetadataKey, AsciiMetadataValue, MetadataMap};
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

/// Upper bounds (seconds) of the export-time histogram: one call on loopback to a batch that
/// spent its whole retry budget.
const EXPORT_BOUNDS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
];

/// The exporter's counters (`mixer_traces_*{sink="otlp"}` when rendered).
#[derive(Debug)]
pub struct OtlpStats {
    /// Spans offered to `submit`.
    pub received: Counter,
    /// Spans the receiver accepted.
    pub exported: Counter,
    /// Drop-newest: the queue was full.
    pub dropped_queue_full: Counter,
    /// Queued or being exported when the exporter shut down (or submitted after).
    pub dropped_shutdown: Counter,
    /// Spans the receiver refused in a partial success.
    pub rejected: Counter,
    /// Spans of batches that still failed transiently after `max_attempts` calls.
    pub retries_exhausted: Counter,
    /// Spans of batches that failed with a non-retryable status (INVALID_ARGUMENT …).
    pub export_error: Counter,
    /// Export calls repeated after a transient failure.
    pub retries: Counter,
    /// Seconds per batch from the first call to the last answer, backoff included.
    pub export_duration: Histogram,
    in_flight: AtomicU64,
}

impl Default for OtlpStats {
    fn default() -> Self {
        OtlpStats {
            received: Counter::default(),
            exported: Counter::default(),
            dropped_queue_full: Counter::default(),
            dropped_shutdown: Counter::default(),
            rejected: Counter::default(),
            retries_exhausted: Counter::default(),
            export_error: Counter::default(),
            retries: Counter::default(),
            export_duration: Histogram::new(EXPORT_BOUNDS),
            in_flight: AtomicU64::new(0),
        }
    }
}

impl OtlpStats {
    /// Spans of the batch being exported.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Relaxed)
    }

    /// Spans lost after leaving the queue: rejected, retries exhausted, non-retryable error.
    pub fn failed(&self) -> u64 {
        self.rejected.get() + self.retries_exhausted.get() + self.export_error.get()
    }
}

impl QueueStats for OtlpStats {
    fn queue_counters(&self) -> QueueCounters<'_> {
        QueueCounters::new(
            &self.received,
            &self.dropped_queue_full,
            &self.dropped_shutdown,
        )
    }
}

/// The producers' side; cheap to clone.
pub type OtlpHandle = QueueHandle<OtlpStats>;

/// The queue plus its worker task.
#[derive(Debug)]
pub struct OtlpExporter {
    handle: OtlpHandle,
    worker: JoinHandle<()>,
    /// Tells the worker to close the queue (later submits are refused) and drain it.
    close: oneshot::Sender<()>,
}

impl OtlpExporter {
    /// Validates `config` and starts the worker on the current tokio runtime. The connection
    /// is made on the first export (and remade after failures), so a receiver that is down at
    /// start costs retries, not the process.
    pub fn start(config: OtlpConfig) -> Result<OtlpExporter, ConfigErrors> {
        config.validate()?;
        let uri = endpoint_uri(&config.endpoint).map_err(|e| ConfigErrors(vec![e]))?;
        let channel = Endpoint::from(uri)
            .connect_timeout(config.timeout)
            .timeout(config.timeout)
            .tcp_nodelay(true)
            .connect_lazy();
        let mut metadata = MetadataMap::new();
        for (k, v) in &config.headers {
            if let (Ok(k), Ok(v)) = (
                k.parse::<AsciiMetadataKey>(),
                v.parse::<AsciiMetadataValue>(),
            ) {
                metadata.append(k, v);
            }
        }
        let stats = Arc::new(OtlpStats::default());
        let (handle, queue, close) = span_queue::channel(config.queue_capacity, stats.clone());
        let export = Export {
            client: TraceServiceClient::new(channel),
            metadata,
            config,
            stats: stats.clone(),
        };
        let worker = tokio::spawn(run(export, queue));
        Ok(OtlpExporter {
            handle,
            worker,
            close,
        })
    }

    pub fn handle(&self) -> OtlpHandle {
        self.handle.clone()
    }

    /// Closes the queue (spans submitted later are counted in `dropped_shutdown`) and waits
    /// up to `timeout` for queued spans to be exported; what is still unexported then is
    /// counted in `dropped_shutdown` too.
    pub async fn shutdown(self, timeout: Duration) -> Arc<OtlpStats> {
        let OtlpExporter {
            handle,
            mut worker,
            close,
        } = self;
        let stats = handle.stats().clone();
        drop(handle);
        let _ = close.send(());
        if tokio::time::timeout(timeout, &mut worker).await.is_err() {
            worker.abort();
            let _ = worker.await;
        }
        let s = &stats;
        let settled = s.exported.get() + s.failed() + s.dropped_queue_full.get();
        let unsent = s
            .received
            .get()
            .saturating_sub(settled + s.dropped_shutdown.get());
        s.dropped_shutdown.add(unsent);
        s.in_flight.store(0, Relaxed);
        stats
    }
}

/// What the worker needs to send a batch.
struct Export {
    client: TraceServiceClient<Channel>,
    metadata: MetadataMap,
    config: OtlpConfig,
    stats: Arc<OtlpStats>,
}

async fn run(export: Export, mut queue: QueueReceiver) {
    let max_batch = export.config.max_batch.max(1);
    let mut batch: Vec<Span> = Vec::with_capacity(max_batch.min(1024));
    while let Some(first) = queue.recv().await {
        batch.push(first);
        let deadline = tokio::time::Instant::now() + export.config.batch_delay;
        while batch.len() < max_batch {
            match queue.try_recv() {
                Ok(s) => {
                    batch.push(s);
                    continue;
                }
                Err(TryRecvError::Disconnected) => break,
                Err(TryRecvError::Empty) if queue.closing() => break,
                Err(TryRecvError::Empty) => {}
            }
            tokio::select! {
                biased;
                next = queue.next() => match next {
                    Next::Span(s) => batch.push(s),
                    Next::Closing => {}
                    Next::End => break,
                },
                _ = tokio::time::sleep_until(deadline) => break,
            }
        }
        export.batch(&mut batch).await;
    }
}

/// How a batch ended when it did not go through.
enum Failure {
    /// Transient errors until the attempts ran out.
    Exhausted(Status),
    /// A status retrying cannot fix.
    Permanent(Status),
}

impl Export {
    /// Exports `batch` (emptied), retrying transient failures; counts the outcome.
    async fn batch(&self, batch: &mut Vec<Span>) {
        let n = batch.len() as u64;
        let stats = &self.stats;
        stats.in_flight.store(n, Relaxed);
        let request = convert::export_request(batch.drain(..));
        let started = Instant::now();
        let outcome = self.send(request).await;
        stats
            .export_duration
            .observe(started.elapsed().as_secs_f64());
        match outcome {
            Ok(rejected) => {
                let rejected = rejected.min(n);
                stats.exported.add(n - rejected);
                if rejected > 0 {
                    stats.rejected.add(rejected);
                    let total = stats.rejected.get();
                    if crossed_power_of_two(total, rejected) {
                        tracing::warn!(
                            spans = rejected,
                            dropped_total = total,
                            "otlp: receiver rejected spans (partial success)"
                        );
                    }
                }
            }
            Err(Failure::Exhausted(status)) => {
                stats.retries_exhausted.add(n);
                let total = stats.retries_exhausted.get();
                if crossed_power_of_two(total, n) {
                    tracing::warn!(code = ?status.code(), message = status.message(), spans = n,
                        dropped_total = total, "otlp: export failed after retries; spans dropped");
                }
            }
            Err(Failure::Permanent(status)) => {
                stats.export_error.add(n);
                let total = stats.export_error.get();
                if crossed_power_of_two(total, n) {
                    tracing::warn!(code = ?status.code(), message = status.message(), spans = n,
                        dropped_total = total, "otlp: export refused; spans dropped");
                }
            }
        }
        stats.in_flight.store(0, Relaxed);
    }

    /// Calls Export until it succeeds (returning the spans the receiver rejected), fails with a
    /// permanent status, or `max_attempts` calls failed transiently.
    async fn send(&self, request: ExportTraceServiceRequest) -> Result<u64, Failure> {
        let cfg = &self.config;
        let mut attempt = 1;
        loop {
            let mut req = tonic::Request::new(request.clone());
            *req.metadata_mut() = self.metadata.clone();
            req.set_timeout(cfg.timeout);
            let mut client = self.client.clone();
            match client.export(req).await {
                Ok(resp) => {
                    let partial = resp.into_inner().partial_success;
                    if let Some(p) = partial.as_ref().filter(|p| !p.error_message.is_empty()) {
                        tracing::debug!(message = %p.error_message, rejected = p.rejected_spans,
                            "otlp: partial success");
                    }
                    return Ok(partial.map_or(0, |p| u64::try_from(p.rejected_spans).unwrap_or(0)));
                }
                Err(status) if !retryable(status.code()) => return Err(Failure::Permanent(status)),
                Err(status) if attempt >= cfg.max_attempts.max(1) => {
                    return Err(Failure::Exhausted(status))
                }
                Err(status) => {
                    tracing::debug!(code = ?status.code(), attempt, "otlp: export failed; retrying");
                    self.stats.retries.inc();
                    tokio::time::sleep(backoff(cfg, attempt)).await;
                    attempt += 1;
                }
            }
        }
    }
}

/// The OTLP spec's retryable codes (RESOURCE_EXHAUSTED is retried even without RetryInfo:
/// the attempts are bounded).
pub fn retryable(code: Code) -> bool {
    matches!(
        code,
        Code::Cancelled
            | Code::DeadlineExceeded
            | Code::ResourceExhausted
            | Code::Aborted
            | Code::OutOfRange
            | Code::Unavailable
            | Code::DataLoss
    )
}

/// The wait before retry number `attempt` (1-based): `initial · 2^(attempt-1)` capped at
/// `max_backoff`, then a random 50–100 % of it so that replicas do not retry in step.
pub fn backoff(cfg: &OtlpConfig, attempt: u32) -> Duration {
    let base = cfg
        .initial_backoff
        .saturating_mul(1u32 << attempt.saturating_sub(1).min(16))
        .min(cfg.max_backoff);
    let r = std::collections::hash_map::RandomState::new().hash_one(attempt);
    base.mul_f64(0.5 + (r % 1024) as f64 / 2048.0)
}

/// True when adding `n` to reach `total` crossed a power of two: logs at 1, 2, 4, 8 … drops.
fn crossed_power_of_two(total: u64, n: u64) -> bool {
    let before = total.saturating_sub(n);
    before == 0 || total.ilog2() > before.ilog2()
}
