//! The bounded queue in front of a span writer. Producers never wait: [`SinkHandle::submit`]
//! is a `try_send` into a queue of fixed capacity whose full policy is **drop newest**, counted
//! in `dropped_queue_full`. One worker takes spans off the queue and writes up to
//! `max_in_flight` of them concurrently; a failed write is retried with backoff
//! ([`RetryOptions`]) while the queue keeps filling, then dropped (`dropped_write_failed`).
//! A span is *written* once the writer acknowledged its stored row ([`Progress::stored`]).
//! Every span offered is accounted for exactly once: `received = written +
//! dropped_queue_full + dropped_write_failed + dropped_shutdown + queued + in flight`.

use super::span::Span;
pub use super::span_queue::Submit;
use super::span_queue::{self, QueueCounters, QueueHandle, QueueReceiver, QueueStats};
use crate::self_metrics::{Counter, Histogram};
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{oneshot, watch, Semaphore};
use tokio::task::{JoinHandle, JoinSet};

/// What a writer learned about one span over its attempts; the sink keeps it between
/// retries and the writer updates it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Progress {
    /// The span's *stored* row (Cassandra: its `traces` row) is acknowledged. Retries skip
    /// it, and the span counts as written even if its index rows then fail for good.
    pub stored: bool,
    /// An attempt at the stored row failed in a way that may have applied it (a timeout, a
    /// connection lost with the request sent). Only matters if the span is then dropped:
    /// such a span is counted in `dropped_maybe_stored` as well.
    pub maybe_stored: bool,
}

/// Something that stores one span (the Cassandra writer; fakes in tests).
pub trait WriteSpans: Send + Sync + 'static {
    type Error: std::fmt::Display + Send;
    /// Stores `span`, resuming after what `progress` says is done, and records in it what
    /// this attempt did; returns how many of its tags the index left out.
    fn write_span<'a>(
        &'a self,
        span: &'a Span,
        progress: &'a mut Progress,
    ) -> impl Future<Output = Result<usize, Self::Error>> + Send + 'a;
}

/// How a failed span write is retried: up to `attempts` tries in all, waiting
/// `initial_backoff`, doubling up to `max_backoff`, between them. The span keeps its
/// in-flight slot meanwhile, so during an outage the queue fills and then drops newest.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryOptions {
    pub attempts: u32,
    pub initial_backoff: Duration,
    pub max_backoff: Duration,
}

impl Default for RetryOptions {
    /// 20 tries over about 70 s of backoff: longer than a Cassandra node takes to restart.
    fn default() -> Self {
        RetryOptions {
            attempts: 20,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
        }
    }
}

/// Queue, concurrency and retry bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SinkOptions {
    pub queue_capacity: usize,
    pub max_in_flight: usize,
    pub retry: RetryOptions,
}

impl Default for SinkOptions {
    fn default() -> Self {
        SinkOptions {
            queue_capacity: 10_000,
            max_in_flight: 64,
            retry: RetryOptions::default(),
        }
    }
}

/// Upper bounds (seconds) of the write-time histogram: from the memory store's microseconds
/// to a Cassandra write that took its driver's retries.
const WRITE_BOUNDS: &[f64] = &[
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The sink's counters (`mixer_traces_*` when exported). Every span received ends in
/// exactly one of `written`, `dropped_queue_full`, `dropped_write_failed`,
/// `dropped_shutdown`; until then it is queued or in flight.
#[derive(Debug)]
pub struct SinkStats {
    /// Spans offered to `submit`.
    pub received: Counter,
    /// Spans whose stored row was acknowledged.
    pub written: Counter,
    /// Written spans whose other rows (indexes) still failed after every retry.
    pub written_unindexed: Counter,
    /// Drop-newest: the queue was full.
    pub dropped_queue_full: Counter,
    /// Every attempt failed before the stored row was acknowledged.
    pub dropped_write_failed: Counter,
    /// Queued or in flight when the sink shut down (or submitted after).
    pub dropped_shutdown: Counter,
    /// Dropped spans (`write_failed` or `shutdown`) whose stored row an attempt may have
    /// applied without an acknowledgement: the only way a dropped span can be in the store.
    pub dropped_maybe_stored: Counter,
    /// Failed attempts that were retried.
    pub retries: Counter,
    /// Tags left out of the tag index (too long, JSON), summed over written spans.
    pub tags_skipped: Counter,
    /// Seconds each write attempt took (all its rows, the driver's retries included), failed
    /// attempts too.
    pub write_duration: Histogram,
    in_flight: AtomicU64,
}

impl Default for SinkStats {
    fn default() -> Self {
        SinkStats {
            received: Counter::default(),
            written: Counter::default(),
            written_unindexed: Counter::default(),
            dropped_queue_full: Counter::default(),
            dropped_write_failed: Counter::default(),
            dropped_shutdown: Counter::default(),
            dropped_maybe_stored: Counter::default(),
            retries: Counter::default(),
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

    /// Spans that have ended (written or dropped).
    pub fn settled(&self) -> u64 {
        self.written.get()
            + self.dropped_queue_full.get()
            + self.dropped_write_failed.get()
            + self.dropped_shutdown.get()
    }

    /// Every drop, whatever the reason.
    pub fn dropped(&self) -> u64 {
        self.dropped_queue_full.get()
            + self.dropped_write_failed.get()
            + self.dropped_shutdown.get()
    }
}

impl QueueStats for SinkStats {
    fn queue_counters(&self) -> QueueCounters<'_> {
        QueueCounters::new(
            &self.received,
            &self.dropped_queue_full,
            &self.dropped_shutdown,
        )
    }
}

/// The producers' side; cheap to clone.
pub type SinkHandle = QueueHandle<SinkStats>;

impl SinkHandle {
    /// A handle with no worker behind it: every span is counted as `dropped_shutdown`. For
    /// pipelines built outside a runtime (benchmarks, offline checks).
    pub fn detached() -> SinkHandle {
        QueueHandle::without_receiver()
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
    /// Tells writes still retrying at the shutdown deadline to stop and settle.
    give_up: watch::Sender<bool>,
}

impl<W: WriteSpans> SpanSink<W> {
    /// Starts the worker on the current tokio runtime.
    pub fn start(writer: Arc<W>, opts: SinkOptions) -> SpanSink<W> {
        let stats = Arc::new(SinkStats::default());
        let (handle, queue, close) = span_queue::channel(opts.queue_capacity, stats.clone());
        let (give_up, give_up_rx) = watch::channel(false);
        let worker = tokio::spawn(run(writer.clone(), queue, give_up_rx, stats, opts));
        SpanSink {
            handle,
            writer,
            worker,
            close,
            give_up,
        }
    }

    pub fn handle(&self) -> SinkHandle {
        self.handle.clone()
    }

    pub fn submit(&self, span: Span) -> Submit {
        self.handle.submit(span)
    }

    pub fn stats(&self) -> &Arc<SinkStats> {
        self.handle.stats()
    }

    pub fn writer(&self) -> &Arc<W> {
        &self.writer
    }

    /// Closes the queue (spans submitted later, through any [`SinkHandle`], are counted in
    /// `dropped_shutdown`) and waits up to `timeout` for queued and in-flight spans to be
    /// written. Then writes still retrying stop: each settles as written if its stored row
    /// was acknowledged, else as `dropped_shutdown`, as does what is still queued.
    pub async fn shutdown(self, timeout: Duration) -> Arc<SinkStats> {
        let SpanSink {
            handle,
            mut worker,
            close,
            give_up,
            ..
        } = self;
        let stats = handle.stats().clone();
        drop(handle);
        let _ = close.send(());
        if tokio::time::timeout(timeout, &mut worker).await.is_err() {
            let _ = give_up.send(true);
            // Settling is quick now (no write waits); the bound is for a writer that
            // ignores cancellation.
            if tokio::time::timeout(GIVE_UP_BOUND, &mut worker)
                .await
                .is_err()
            {
                worker.abort();
                let _ = worker.await;
            }
        }
        let unsettled = stats.received.get().saturating_sub(stats.settled());
        stats.dropped_shutdown.add(unsettled);
        stats
    }
}

/// How long writes that were told to give up may take to settle.
const GIVE_UP_BOUND: Duration = Duration::from_secs(5);

async fn run<W: WriteSpans>(
    writer: Arc<W>,
    mut queue: QueueReceiver,
    give_up: watch::Receiver<bool>,
    stats: Arc<SinkStats>,
    opts: SinkOptions,
) {
    let permits = Arc::new(Semaphore::new(opts.max_in_flight.max(1)));
    let mut tasks = JoinSet::new();
    while let Some(span) = queue.recv().await {
        stats.in_flight.fetch_add(1, Relaxed);
        let Ok(permit) = permits.clone().acquire_owned().await else {
            break;
        };
        let (writer, task_stats, give_up) = (writer.clone(), stats.clone(), give_up.clone());
        tasks.spawn(async move {
            let stats = task_stats;
            write_with_retries(&*writer, &span, &stats, opts.retry, give_up).await;
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

/// How one span's write ended.
enum End {
    Written(usize),
    Failed,
    GaveUp,
}

/// Writes `span`, retrying failed attempts with backoff, and counts how it ended.
async fn write_with_retries<W: WriteSpans>(
    writer: &W,
    span: &Span,
    stats: &SinkStats,
    retry: RetryOptions,
    mut give_up: watch::Receiver<bool>,
) {
    let mut progress = Progress::default();
    let mut backoff = retry.initial_backoff;
    let mut attempt = 1;
    let end = loop {
        if *give_up.borrow() {
            break End::GaveUp;
        }
        let started = Instant::now();
        let result = tokio::select! {
            biased;
            r = writer.write_span(span, &mut progress) => Some(r),
            Ok(_) = give_up.wait_for(|g| *g) => None,
        };
        stats
            .write_duration
            .observe(started.elapsed().as_secs_f64());
        let e = match result {
            Some(Ok(skipped)) => break End::Written(skipped),
            Some(Err(e)) => e,
            None => {
                // Cut off mid-attempt: the stored row may or may not have been applied.
                progress.maybe_stored |= !progress.stored;
                break End::GaveUp;
            }
        };
        if attempt >= retry.attempts.max(1) {
            log_failure(stats, &e, span, attempt, "giving up");
            break End::Failed;
        }
        stats.retries.inc();
        log_failure(stats, &e, span, attempt, "retrying");
        attempt += 1;
        tokio::select! {
            biased;
            Ok(_) = give_up.wait_for(|g| *g) => break End::GaveUp,
            _ = tokio::time::sleep(backoff) => {}
        }
        backoff = (backoff * 2).min(retry.max_backoff);
    };
    match end {
        End::Written(skipped) => {
            stats.written.inc();
            stats.tags_skipped.add(skipped as u64);
        }
        // The stored row is in: the span is written, its index rows are not all there.
        End::Failed | End::GaveUp if progress.stored => {
            stats.written.inc();
            stats.written_unindexed.inc();
        }
        End::Failed | End::GaveUp => {
            if progress.maybe_stored {
                stats.dropped_maybe_stored.inc();
            }
            match end {
                End::Failed => stats.dropped_write_failed.inc(),
                _ => stats.dropped_shutdown.inc(),
            }
        }
    }
}

/// Logs a failed attempt, rate-limited: the first few, then at powers of two.
fn log_failure(
    stats: &SinkStats,
    e: &impl std::fmt::Display,
    span: &Span,
    attempt: u32,
    what: &str,
) {
    let n = stats.retries.get() + stats.dropped_write_failed.get();
    if n < 8 || n.is_power_of_two() || what == "giving up" && stats.dropped_write_failed.get() < 8 {
        tracing::warn!(error = %e, attempt, retries_total = stats.retries.get(),
            trace_id = %span.trace_id, "trace sink: span write failed; {what}");
    }
}

/// A write task that panicked counts as a failed write (the writer has no panics on input;
/// this keeps the accounting exact if one ever does).
fn settle_panicked(done: Result<(), tokio::task::JoinError>, stats: &SinkStats) {
    if let Err(e) = done {
        if e.is_panic() {
            stats.dropped_write_failed.inc();
            stats.in_flight.fetch_sub(1, Relaxed);
        }
    }
}

#[cfg(test)]
#[path = "sink_tests.rs"]
mod tests;
