use super::*;
use crate::traces::span::{Process, SpanId, TraceId};
use std::sync::Mutex;
use tokio::sync::Semaphore as Gate;

/// A writer that waits for a gate permit per span, fails spans named "fail", and records
/// the highest number of concurrent writes it saw. Spans named "flaky" fail their first
/// two attempts, "late" fail after their stored row on the first two, "maybe" fail as if
/// the stored row's answer was lost.
#[derive(Debug)]
struct FakeWriter {
    gate: Gate,
    written: Mutex<Vec<u64>>,
    current: AtomicU64,
    max_seen: AtomicU64,
    attempts: Mutex<std::collections::HashMap<u64, u32>>,
}

impl FakeWriter {
    fn new(open: usize) -> Arc<Self> {
        Arc::new(FakeWriter {
            gate: Gate::new(open),
            written: Mutex::new(Vec::new()),
            current: AtomicU64::new(0),
            max_seen: AtomicU64::new(0),
            attempts: Mutex::default(),
        })
    }
}

impl WriteSpans for FakeWriter {
    type Error = String;
    async fn write_span(&self, span: &Span, progress: &mut Progress) -> Result<usize, String> {
        let now = self.current.fetch_add(1, Relaxed) + 1;
        self.max_seen.fetch_max(now, Relaxed);
        let permit = self.gate.acquire().await.map_err(|e| e.to_string())?;
        permit.forget();
        self.current.fetch_sub(1, Relaxed);
        let attempt = {
            let mut a = self.attempts.lock().map_err(|e| e.to_string())?;
            let n = a.entry(span.span_id.0).or_default();
            *n += 1;
            *n
        };
        match span.operation_name.as_str() {
            "fail" => return Err("injected failure".into()),
            "flaky" if attempt <= 2 => return Err("injected flake".into()),
            "maybe" => {
                progress.maybe_stored = true;
                return Err("injected lost answer".into());
            }
            "late" | "late-forever" if !progress.stored || attempt <= 2 => {
                assert!(
                    !progress.stored || attempt > 1,
                    "retry resumes after the stored row"
                );
                progress.stored = true;
                if span.operation_name == "late-forever" || attempt <= 2 {
                    return Err("injected index failure".into());
                }
            }
            "late-forever" => return Err("injected index failure".into()),
            _ => progress.stored = true,
        }
        self.written
            .lock()
            .map_err(|e| e.to_string())?
            .push(span.span_id.0);
        Ok(1)
    }
}

fn span(id: u64, op: &str) -> Span {
    Span {
        trace_id: TraceId::new(0, 1),
        span_id: SpanId(id),
        parent_span_id: SpanId(0),
        operation_name: op.into(),
        flags: 1,
        start_time_us: 1,
        duration_us: 1,
        tags: vec![],
        logs: vec![],
        references: vec![],
        process: Process {
            service_name: "svc".into(),
            tags: vec![],
        },
    }
}

const LONG: Duration = Duration::from_secs(30);

/// Retries without waiting, so no test depends on the clock.
fn opts(queue_capacity: usize, max_in_flight: usize, attempts: u32) -> SinkOptions {
    SinkOptions {
        queue_capacity,
        max_in_flight,
        retry: RetryOptions {
            attempts,
            initial_backoff: Duration::ZERO,
            max_backoff: Duration::ZERO,
        },
    }
}

fn accounted(stats: &SinkStats) -> u64 {
    stats.written.get()
        + stats.dropped_queue_full.get()
        + stats.dropped_write_failed.get()
        + stats.dropped_shutdown.get()
}

// #[tokio::test] is single-threaded: the worker cannot run until the test awaits, so the
// queue's state at each `submit` is exact.

#[tokio::test]
async fn full_queue_drops_newest_and_counts() {
    let writer = FakeWriter::new(0);
    let sink = SpanSink::start(writer.clone(), opts(2, 1, 3));
    let outcomes: Vec<Submit> = (1..=5).map(|i| sink.submit(span(i, "op"))).collect();
    assert_eq!(
        outcomes,
        [
            Submit::Queued,
            Submit::Queued,
            Submit::DroppedQueueFull,
            Submit::DroppedQueueFull,
            Submit::DroppedQueueFull
        ]
    );
    assert_eq!(sink.handle().queue_depth(), 2);
    writer.gate.add_permits(100);
    let stats = sink.shutdown(LONG).await;
    assert_eq!(stats.received.get(), 5);
    assert_eq!(stats.dropped_queue_full.get(), 3);
    assert_eq!(stats.written.get(), 2);
    assert_eq!(stats.dropped_shutdown.get(), 0);
    assert_eq!(stats.tags_skipped.get(), 2);
    let mut ids = writer.written.lock().map(|w| w.clone()).unwrap_or_default();
    ids.sort();
    assert_eq!(ids, [1, 2], "the oldest spans were kept");
}

#[tokio::test]
async fn failures_are_retried_then_dropped_and_every_span_accounted() {
    let writer = FakeWriter::new(1000);
    let sink = SpanSink::start(writer.clone(), opts(100, 64, 4));
    for i in 0..30 {
        let op = ["fail", "ok", "flaky"][i as usize % 3];
        assert_eq!(sink.submit(span(i, op)), Submit::Queued);
    }
    let stats = sink.shutdown(LONG).await;
    // "fail": 4 attempts each, then dropped; "flaky": written on the third attempt
    assert_eq!(stats.dropped_write_failed.get(), 10);
    assert_eq!(stats.written.get(), 20);
    assert_eq!(stats.retries.get(), 10 * 3 + 10 * 2);
    assert_eq!(stats.dropped_maybe_stored.get(), 0);
    // every attempt is timed, the failed ones too
    assert_eq!(stats.write_duration.count(), 10 * 4 + 10 + 10 * 3);
    assert_eq!(stats.in_flight(), 0);
    assert_eq!(stats.received.get(), accounted(&stats));
}

#[tokio::test]
async fn a_span_whose_stored_row_is_in_counts_as_written_even_if_its_index_fails() {
    let writer = FakeWriter::new(1000);
    let sink = SpanSink::start(writer.clone(), opts(100, 8, 3));
    sink.submit(span(1, "late")); // index fails twice, then succeeds
    sink.submit(span(2, "late-forever")); // index never succeeds
    sink.submit(span(3, "maybe")); // answer lost every time
    let stats = sink.shutdown(LONG).await;
    assert_eq!(stats.written.get(), 2);
    assert_eq!(stats.written_unindexed.get(), 1);
    assert_eq!(stats.dropped_write_failed.get(), 1);
    assert_eq!(
        stats.dropped_maybe_stored.get(),
        1,
        "the dropped span that may be stored is counted"
    );
    assert_eq!(stats.received.get(), accounted(&stats));
}

#[tokio::test]
async fn shutdown_stops_retrying_and_settles_by_what_was_stored() {
    // Long backoff: both spans are waiting to retry when the shutdown bound passes.
    let writer = FakeWriter::new(1000);
    let mut o = opts(100, 8, 100);
    o.retry.initial_backoff = Duration::from_secs(3600);
    o.retry.max_backoff = Duration::from_secs(3600);
    let sink = SpanSink::start(writer.clone(), o);
    sink.submit(span(1, "late-forever"));
    sink.submit(span(2, "fail"));
    let stats = sink.shutdown(Duration::from_millis(50)).await;
    assert_eq!(stats.written.get(), 1, "its traces row is in");
    assert_eq!(stats.written_unindexed.get(), 1);
    assert_eq!(stats.dropped_shutdown.get(), 1);
    assert_eq!(stats.in_flight(), 0);
    assert_eq!(stats.received.get(), accounted(&stats));
}

#[tokio::test]
async fn concurrency_is_bounded() {
    let writer = FakeWriter::new(0);
    let sink = SpanSink::start(writer.clone(), opts(100, 3, 3));
    for i in 0..40 {
        sink.submit(span(i, "op"));
    }
    // Let the worker start as many writes as it may, all blocked on the gate.
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(writer.current.load(Relaxed), 3);
    writer.gate.add_permits(1000);
    let stats = sink.shutdown(LONG).await;
    assert_eq!(stats.written.get(), 40);
    assert_eq!(writer.max_seen.load(Relaxed), 3);
}

#[tokio::test]
async fn shutdown_bound_counts_what_is_left() {
    let writer = FakeWriter::new(0); // never opens
    let sink = SpanSink::start(writer, SinkOptions::default());
    let handle = sink.handle();
    for i in 0..3 {
        sink.submit(span(i, "op"));
    }
    drop(handle);
    let stats = sink.shutdown(Duration::from_millis(50)).await;
    assert_eq!(stats.written.get(), 0);
    assert_eq!(stats.dropped_shutdown.get(), 3);
    assert_eq!(stats.received.get(), 3);
}

#[tokio::test]
async fn submit_after_close_is_counted() {
    let writer = FakeWriter::new(10);
    let sink = SpanSink::start(writer, SinkOptions::default());
    let handle = sink.handle();
    let stats = sink.shutdown(Duration::from_millis(50)).await;
    // shutdown closed the queue although `handle` is still alive: a later submit is refused
    // and counted.
    assert_eq!(handle.submit(span(1, "op")), Submit::DroppedShutdown);
    assert_eq!(stats.dropped_shutdown.get(), 1);
    assert_eq!(stats.received.get(), 1);
}

#[tokio::test]
async fn shutdown_drains_what_was_queued_while_handles_live() {
    let writer = FakeWriter::new(10);
    let sink = SpanSink::start(writer.clone(), SinkOptions::default());
    let handle = sink.handle();
    for i in 0..5 {
        assert_eq!(handle.submit(span(i, "op")), Submit::Queued);
    }
    let stats = sink.shutdown(LONG).await;
    assert_eq!(stats.written.get(), 5);
    assert_eq!(stats.dropped_shutdown.get(), 0);
    assert_eq!(handle.submit(span(9, "op")), Submit::DroppedShutdown);
}

#[test]
fn a_detached_handle_counts_every_span_as_dropped() {
    let handle = SinkHandle::detached();
    assert_eq!(handle.submit(span(1, "op")), Submit::DroppedShutdown);
    assert_eq!(handle.stats().received.get(), 1);
    assert_eq!(handle.stats().dropped_shutdown.get(), 1);
}
