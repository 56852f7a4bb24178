//! The bounded queue in front of a span writer. Producers never wait: [`SinkHandle::submit`]
//! is a `try_send` into a queue of fixed capacity whose full policy is **drop newest**, counted
//! in `dropped_queue_full`. One worker takes spans off the queue and writes up to
//! `max_in_flight` of them concurrently. Every span offered is accounted for exactly once:
//! `received = written + failed + dropped_queue_full + dropped_shutdown + queued + in flight`.

use super::span::Span;
use crate::self_metrics::{Counter, Histogram};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

/// Something that stores one span (the Cassandra writer; fakes in tests).
pub trait WriteSpans: Send + Sync + 'static {
    type Error: std::fmt::Display + Send;
    /// Stores `span`; returns how many of its tags the index left out.
    fn write_span<'a>(
        &'a self,
        span: &'a Span,
    ) -> impl Future<Output = Result<usize, Self::Error>> + Send + 'a;
}

/// Queue and concurrency bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SinkOptions {
    pub queue_capacity: usize,
    pub max_in_flight: usize,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            queue_capacity: 10_000,
            max_in_flight: 64,
        }
    }
}

/// Upper bounds (seconds) of the write-time histogram: from the memory store's microseconds
/// to a Cassandra write that took its driver's retries.
const WRITE_BOUNDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The sink's counters (`mixer_traces_*` when exported).
#[derive(Debug)]
pub struct SinkStats {
    /// Spans offered to `submit`.
    pub received: Counter,
    pub written: Counter,
    /// Spans whose write failed (after the driver's retries).
    pub failed: Counter,
    /// Drop-newest: the queue was full.
    pub dropped_queue_full: Counter,
    /// Queued or in flight when the sink shut down (or submitted after).
    pub dropped_shutdown: Counter,
    /// Tags left out of the tag index (too long, JSON), summed over written spans.
    pub tags_skipped: Counter,
    /// Seconds each span write took (all its rows, the driver's retries included), failed
    /// writes too.
    pub write_duration: Histogram,
    in_flight: AtomicU64,
}

impl Default for SinkStats {
    fn default() -> Self {
        SinkStats {
            received: Counter::default(),
            written: Counter::default(),
            failed: Counter::default(),
            dropped_queue_full: Counter::default(),
            dropped_shutdown: Counter::default(),
            tags_skipped: Counter::default(),
            write_duration: Histogram::new(WRITE_BOUNDS),
            in_flight: AtomicU64::new(0),
        }
    }
}

impl SinkStats {
    /// Spans taken off the queue whose write has not finished.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Relaxed)
    }
}

/// What `submit` did with a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submit {
    Queued,
    DroppedQueueFull,
    DroppedShutdown,
}

/// The producers' side; cheap to clone.
#[derive(Clone, Debug)]
pub struct SinkHandle {
    tx: mpsc::Sender<Span>,
    stats: Arc<SinkStats>,
}

impl SinkHandle {
    /// Queues `span` without waiting; drops it (counted) when the queue is full or closed.
    pub fn submit(&self, span: Span) -> Submit {
        self.stats.received.inc();
        match self.tx.try_send(span) {
            Ok(()) => Submit::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                self.stats.dropped_queue_full.inc();
                Submit::DroppedQueueFull
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                self.stats.dropped_shutdown.inc();
                Submit::DroppedShutdown
            }
        }
    }

    /// Spans waiting in the queue.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn stats(&self) -> &Arc<SinkStats> {
        &self.stats
    }

    /// A handle with no worker behind it: every span is counted as `dropped_shutdown`. For
    /// pipelines built outside a runtime (benchmarks, offline checks).
    pub fn detached() -> SinkHandle {
        let (tx, _) = mpsc::channel(1);
        SinkHandle {
            tx,
            stats: Arc::default(),
        }
    }
}

/// The queue plus its worker task, over writer `W`.
#[derive(Debug)]
pub struct SpanSink<W> {
    handle: SinkHandle,
    writer: Arc<W>,
    worker: JoinHandle<()>,
    /// Tells the worker to close the queue (later submits are refused) and drain it.
    close: oneshot::Sender<()>,
}

impl<W: WriteSpans> SpanSink<W> {
    /// Starts the worker on the current tokio runtime.
    pub fn start(writer: Arc<W>, opts: SinkOptions) -> SpanSink<W> {
        let (tx, rx) = mpsc::channel(opts.queue_capacity.max(1));
        let stats = Arc::new(SinkStats::default());
        let (close, close_rx) = oneshot::channel();
        let worker = tokio::spawn(run(
            writer.clone(),
            rx,
            close_rx,
            stats.clone(),
            opts.max_in_flight.max(1),
        ));
        SpanSink {
            handle: SinkHandle { tx, stats },
            writer,
            worker,
            close,
        }
    }

    pub fn handle(&self) -> SinkHandle {
        self.handle.clone()
    }

    pub fn submit(&self, span: Span) -> Submit {
        self.handle.submit(span)
    }

    pub fn stats(&self) -> &Arc<SinkStats> {
        &self.handle.stats
    }

    pub fn writer(&self) -> &Arc<W> {
        &self.writer
    }

    /// Closes the queue (spans submitted later, through any [`SinkHandle`], are counted in
    /// `dropped_shutdown`) and waits up to `timeout` for queued and in-flight spans to be
    /// written. What is still unwritten then is counted in `dropped_shutdown` too.
    pub async fn shutdown(self, timeout: Duration) -> Arc<SinkStats> {
        let SpanSink {
            handle,
            mut worker,
            close,
            ..
        } = self;
        let stats = handle.stats.clone();
        drop(handle);
        let _ = close.send(());
        if tokio::time::timeout(timeout, &mut worker).await.is_err() {
            worker.abort();
            let _ = worker.await;
        }
        let s = &stats;
        let settled = s.written.get() + s.failed.get() + s.dropped_queue_full.get();
        let unwritten = s
            .received
            .get()
            .saturating_sub(settled + s.dropped_shutdown.get());
        s.dropped_shutdown.add(unwritten);
        stats
    }
}

async fn run<W: WriteSpans>(
    writer: Arc<W>,
    mut rx: mpsc::Receiver<Span>,
    mut close: oneshot::Receiver<()>,
    stats: Arc<SinkStats>,
    max_in_flight: usize,
) {
    let permits = Arc::new(Semaphore::new(max_in_flight));
    let mut tasks = JoinSet::new();
    let mut closing = false;
    loop {
        let next = tokio::select! {
            biased;
            c = &mut close, if !closing => {
                closing = true;
                // Only an explicit shutdown closes the queue; a dropped sender does not.
                if c.is_ok() {
                    rx.close();
                }
                continue;
            }
            s = rx.recv() => s,
        };
        let Some(span) = next else { break };
        stats.in_flight.fetch_add(1, Relaxed);
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (writer, task_stats) = (writer.clone(), stats.clone());
        tasks.spawn(async move {
            let stats = task_stats;
            let started = Instant::now();
            let written = writer.write_span(&span).await;
            stats
                .write_duration
                .observe(started.elapsed().as_secs_f64());
            match written {
                Ok(skipped) => {
                    stats.written.inc();
                    stats.tags_skipped.add(skipped as u64);
                }
                Err(e) => {
                    stats.failed.inc();
                    let n = stats.failed.get();
                    if n.is_power_of_two() {
                        tracing::warn!(error = %e, failed_total = n, trace_id = %span.trace_id, "trace sink: span write failed");
                    }
                }
            }
            stats.in_flight.fetch_sub(1, Relaxed);
            drop(permit);
        });
        while let Some(done) = tasks.try_join_next() {
            settle_panicked(done, &stats);
        }
    }
    while let Some(done) = tasks.join_next().await {
        settle_panicked(done, &stats);
    }
}

/// A write task that panicked counts as failed (the writer has no panics on input; this
/// keeps the accounting exact if one ever does).
fn settle_panicked(done: Result<(), tokio::task::JoinError>, stats: &SinkStats) {
    if let Err(e) = done {
        if e.is_panic() {
            stats.failed.inc();
            stats.in_flight.fetch_sub(1, Relaxed);
        }
    }
}

#[cfg(test)]
#[path = "sink_tests.rs"]
mod tests;
