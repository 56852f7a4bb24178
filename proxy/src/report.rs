//! Reporting: the request path `try_send`s finished bags into a bounded queue (full → dropped
//! and counted); a batcher packs them into `ReportRequest`s of up to N bags or T time (INDEPENDENT
//! encoding, one `default_words` per batch, as Istio 1.1+ proxies do); a sender delivers the
//! batches, a few calls at a time, retrying transient failures with backoff (80 ms → 1 s)
//! while a bounded buffer of batches holds the rest. Shutdown flushes both within a deadline (a call still running then
//! is abandoned); every lost bag is counted. Delivery is at least once: a batch the service
//! counted but whose answer was lost or late is sent again (Mixer's Report carries nothing to
//! deduplicate on); proxy/tests/report_delivery.rs shows each case.

use crate::config::ReportOptions;
use crate::headers::random_u64;
use crate::metrics::{DropReason, ProxyMetrics};
use bytes::Bytes;
use mixer_attributes::encode::ReportBatch;
use mixer_attributes::LayeredBag;
use mixer_proto::mixer::ReportResponse;
use mixer_proto::raw_codec::PreEncodedCodec;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

/// What one Report call came to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Sent,
    /// A transport failure or a status worth retrying (UNAVAILABLE, DEADLINE_EXCEEDED …).
    Retry,
    /// The service refused the batch for good (INVALID_ARGUMENT …); retrying cannot help.
    Reject,
}

/// Sends one encoded `ReportRequest`.
pub type SendFn = Arc<dyn Fn(Bytes) -> Pin<Box<dyn Future<Output = Outcome> + Send>> + Send + Sync>;

/// The request path's handle: cheap to clone, never waits.
#[derive(Clone, Debug)]
pub struct Reporter {
    tx: Option<mpsc::Sender<LayeredBag>>,
    metrics: Arc<ProxyMetrics>,
}

impl Reporter {
    /// Reporting off: bags are discarded (not counted as drops).
    pub fn disabled(metrics: Arc<ProxyMetrics>) -> Reporter {
        Reporter { tx: None, metrics }
    }

    pub fn is_enabled(&self) -> bool {
        self.tx.is_some()
    }

    /// Queues `bag`, or drops and counts it when the queue is full.
    pub fn submit(&self, bag: LayeredBag) {
        let Some(tx) = &self.tx else { return };
        match tx.try_send(bag) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.metrics.dropped(DropReason::QueueFull, 1)
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.metrics.dropped(DropReason::Shutdown, 1)
            }
        }
    }

    /// Bags waiting to be batched.
    pub fn queue_depth(&self) -> usize {
        self.tx
            .as_ref()
            .map_or(0, |tx| tx.max_capacity() - tx.capacity())
    }
}

/// Starts the batcher and the sender; they run until `stop` turns true, then flush within
/// `opts.flush_timeout`. The returned future ends when both have finished.
pub fn spawn(
    opts: &ReportOptions,
    send: SendFn,
    metrics: Arc<ProxyMetrics>,
    stop: watch::Receiver<bool>,
) -> (Reporter, impl Future<Output = ()> + Send + 'static) {
    let (tx, rx) = mpsc::channel(opts.queue_capacity.max(1));
    let (btx, brx) = mpsc::channel(opts.max_pending_batches.max(1));
    let batcher = tokio::spawn(batcher(
        rx,
        btx,
        opts.clone(),
        metrics.clone(),
        stop.clone(),
    ));
    let sender = tokio::spawn(sender(brx, send, opts.clone(), metrics.clone(), stop));
    let reporter = Reporter {
        tx: Some(tx),
        metrics,
    };
    let done = async move {
        let _ = batcher.await;
        let _ = sender.await;
    };
    (reporter, done)
}

/// A Report sender over gRPC to the endpoints of `uris` (comma-separated; each connected
/// lazily, reconnecting on demand). Calls take turns over the endpoints, so a retried batch
/// goes to the next one.
pub fn grpc_sender(uris: &str, rpc_timeout: Duration) -> Result<SendFn, String> {
    let channels = crate::config::endpoints(uris)
        .map(|uri| {
            Ok(tonic::transport::Endpoint::from_shared(uri.to_owned())
                .map_err(|e| format!("telemetry {uri:?}: {e}"))?
                .tcp_nodelay(true)
                .connect_timeout(Duration::from_secs(1))
                .timeout(rpc_timeout)
                .connect_lazy())
        })
        .collect::<Result<Vec<_>, String>>()?;
    if channels.is_empty() {
        return Err(format!("telemetry {uris:?}: no URI"));
    }
    let turn = std::sync::atomic::AtomicUsize::new(0);
    Ok(Arc::new(move |bytes: Bytes| {
        let i = turn.fetch_add(1, std::sync::atomic::Ordering::Relaxed) % channels.len();
        let channel = channels[i].clone();
        Box::pin(async move {
            let mut grpc = tonic::client::Grpc::new(channel);
            if grpc.ready().await.is_err() {
                return Outcome::Retry;
            }
            let path =
                tonic::codegen::http::uri::PathAndQuery::from_static(mixer_proto::REPORT_PATH);
            match grpc
                .unary(
                    tonic::Request::new(bytes),
                    path,
                    PreEncodedCodec::<ReportResponse>::default(),
                )
                .await
            {
                Ok(_) => Outcome::Sent,
                Err(status) => classify(status.code()),
            }
        })
    }))
}

fn classify(code: tonic::Code) -> Outcome {
    use tonic::Code::*;
    match code {
        Ok => Outcome::Sent,
        Unavailable | DeadlineExceeded | Unknown | ResourceExhausted | Aborted | Cancelled
        | Internal => Outcome::Retry,
        _ => Outcome::Reject,
    }
}

#[derive(Debug)]
struct Batch {
    bytes: Bytes,
    bags: u64,
}

async fn batcher(
    mut rx: mpsc::Receiver<LayeredBag>,
    out: mpsc::Sender<Batch>,
    opts: ReportOptions,
    metrics: Arc<ProxyMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    let max = opts.batch_max_entries.max(1);
    let mut last_size = 0;
    let mut stopping = *stop.borrow();
    if stopping {
        rx.close();
    }
    loop {
        let first = tokio::select! {
            bag = rx.recv() => bag,
            _ = stop.changed(), if !stopping => {
                stopping = true;
                rx.close();
                continue;
            }
        };
        let Some(first) = first else { break };
        let mut batch = ReportBatch::new();
        batch.reserve(last_size);
        batch.push_layered(&first);
        // one timer per batch, and every bag already queued taken per wake-up: under load the
        // batcher runs once per burst of requests, not once per request
        let deadline = tokio::time::sleep(opts.batch_max_time);
        tokio::pin!(deadline);
        let mut taken = Vec::with_capacity(max.min(128));
        while batch.len() < max {
            tokio::select! {
                n = rx.recv_many(&mut taken, max - batch.len()) => {
                    if n == 0 {
                        break;
                    }
                    for bag in taken.drain(..) {
                        batch.push_layered(&bag);
                    }
                }
                _ = &mut deadline => break,
                _ = stop.changed(), if !stopping => {
                    stopping = true;
                    rx.close();
                }
            }
        }
        let bags = batch.len() as u64;
        let mut encoded = batch.finish();
        // the next batch is likely as big: its room is made at once
        last_size = encoded.len();
        // Bytes keeps a Vec's whole allocation: a small batch made in a big batch's room
        // would pin it while it waits in the buffer (256 of them through an outage)
        if encoded.capacity() > 2 * encoded.len() {
            encoded.shrink_to_fit();
        }
        let bytes = Bytes::from(encoded);
        match out.try_send(Batch { bytes, bags }) {
            Ok(()) => metrics.pending_batches.inc(),
            Err(_) => metrics.dropped(DropReason::BufferFull, bags),
        }
    }
}

async fn sender(
    mut rx: mpsc::Receiver<Batch>,
    send: SendFn,
    opts: ReportOptions,
    metrics: Arc<ProxyMetrics>,
    stop: watch::Receiver<bool>,
) {
    // up to max_in_flight batches are delivered at once, each through its own retries
    let limit = opts.max_in_flight.max(1);
    let mut running = tokio::task::JoinSet::new();
    let flush = Flush::new(stop, opts.flush_timeout);
    loop {
        tokio::select! {
            batch = rx.recv(), if running.len() < limit => match batch {
                Some(batch) => {
                    let (send, opts, metrics) = (send.clone(), opts.clone(), metrics.clone());
                    running.spawn(deliver(batch, send, opts, metrics, flush.clone()));
                }
                None => break,
            },
            Some(_) = running.join_next(), if !running.is_empty() => {}
        }
    }
    while running.join_next().await.is_some() {}
}

/// Sends one batch, retrying transient failures with backoff until it is sent, refused, or
/// the shutdown flush runs out of time.
async fn deliver(
    batch: Batch,
    send: SendFn,
    opts: ReportOptions,
    metrics: Arc<ProxyMetrics>,
    mut flush: Flush,
) {
    // pending_batches counts this one until it is sent or given up (the batcher counted it
    // in), so a batch being retried through an outage shows
    let mut attempt = 0u32;
    loop {
        // A call still running when the flush runs out of time is abandoned too: the flush
        // ends within its bound and what it gives up is counted (a call abandoned after the
        // service counted it is then counted as dropped although delivered).
        let outcome = if flush.past() {
            None
        } else {
            tokio::select! {
                biased;
                _ = flush.expired() => None,
                outcome = send(batch.bytes.clone()) => Some(outcome),
            }
        };
        match outcome {
            None => {
                metrics.dropped(DropReason::Shutdown, batch.bags);
                break;
            }
            Some(Outcome::Sent) => {
                metrics.reports_sent_bags.add(batch.bags);
                metrics.reports_sent_batches.inc();
                break;
            }
            Some(Outcome::Reject) => {
                tracing::warn!(bags = batch.bags, "telemetry refused a report batch");
                metrics.dropped(DropReason::Rejected, batch.bags);
                break;
            }
            Some(Outcome::Retry) => {
                attempt = attempt.saturating_add(1);
                metrics.report_retries.inc();
                let pause = backoff(opts.retry_base, opts.retry_max, attempt);
                tokio::select! {
                    _ = tokio::time::sleep(pause) => {}
                    _ = flush.expired() => {}
                }
            }
        }
    }
    metrics.pending_batches.dec();
}

/// The shutdown flush's deadline: none until `stop` turns true (or its sender is gone), then
/// `timeout` from the moment that was first seen. Clones share the deadline, so every batch
/// delivered at once, and every batch after them, ends by the same time.
#[derive(Clone, Debug)]
struct Flush {
    stop: watch::Receiver<bool>,
    timeout: Duration,
    deadline: Arc<std::sync::OnceLock<Instant>>,
}

impl Flush {
    fn new(stop: watch::Receiver<bool>, timeout: Duration) -> Flush {
        Flush {
            stop,
            timeout,
            deadline: Arc::default(),
        }
    }

    fn start_clock(&self) -> Instant {
        *self.deadline.get_or_init(|| Instant::now() + self.timeout)
    }

    /// Whether the flush has run out of time (starting its clock if stopping began).
    fn past(&mut self) -> bool {
        let deadline = match self.deadline.get() {
            Some(d) => *d,
            None if *self.stop.borrow() => self.start_clock(),
            None => return false,
        };
        Instant::now() >= deadline
    }

    /// Resolves once the flush has run out of time (never while not stopping). Cancel-safe:
    /// the deadline, once set, stays.
    async fn expired(&mut self) {
        loop {
            if let Some(deadline) = self.deadline.get() {
                tokio::time::sleep_until(*deadline).await;
                return;
            }
            if *self.stop.borrow_and_update() || self.stop.changed().await.is_err() {
                self.start_clock();
            }
        }
    }
}

/// Uniformly random in [base, min(max, base × 2^attempt)] (spec §8.2).
pub fn backoff(base: Duration, max: Duration, attempt: u32) -> Duration {
    let base_ms = base.as_millis() as u64;
    let hi = base_ms
        .saturating_mul(1u64 << attempt.min(20))
        .min(max.as_millis() as u64)
        .max(base_ms);
    Duration::from_millis(base_ms + random_u64() % (hi - base_ms + 1))
}

#[cfg(test)]
mod tests;
