use super::*;
use mixer_attributes::{OwnedBag, OwnedValue};
use prost::Message;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

fn bag(i: i64) -> LayeredBag {
    thread_local! {
        static SIDE: Arc<OwnedBag> = Arc::new(
            [(
                "context.reporter.kind",
                OwnedValue::String("inbound".into()),
            )]
            .into_iter()
            .collect(),
        );
    }
    let own: OwnedBag = [("request.size", OwnedValue::Int64(i))]
        .into_iter()
        .collect();
    LayeredBag::new(SIDE.with(Arc::clone), own)
}

fn opts(queue: usize, batch: usize, pending: usize) -> ReportOptions {
    ReportOptions {
        telemetry: None,
        queue_capacity: queue,
        batch_max_entries: batch,
        batch_max_time: Duration::from_secs(3600),
        max_pending_batches: pending,
        max_in_flight: 1,
        rpc_timeout: Duration::from_secs(1),
        retry_base: Duration::from_millis(1),
        retry_max: Duration::from_millis(4),
        flush_timeout: Duration::from_millis(200),
    }
}

/// A sender recording the bag count of every batch it accepts.
fn recording(fail_first: usize) -> (SendFn, Arc<Mutex<Vec<usize>>>, Arc<AtomicUsize>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicUsize::new(0));
    let (s, c) = (seen.clone(), calls.clone());
    let send: SendFn = Arc::new(move |bytes: Bytes| {
        let (s, c) = (s.clone(), c.clone());
        Box::pin(async move {
            if c.fetch_add(1, Ordering::SeqCst) < fail_first {
                return Outcome::Retry;
            }
            let req = mixer_proto::mixer::ReportRequest::decode(bytes).expect("a ReportRequest");
            s.lock().expect("lock").push(req.attributes.len());
            Outcome::Sent
        })
    });
    (send, seen, calls)
}

#[tokio::test]
async fn a_full_queue_drops_and_counts_without_waiting() {
    let metrics = Arc::new(ProxyMetrics::default());
    let (stop_tx, stop) = watch::channel(false);
    let (send, seen, _) = recording(0);
    let (reporter, done) = spawn(&opts(2, 100, 4), send, metrics.clone(), stop);
    // The current-thread runtime has not run the batcher yet: only 2 bags fit.
    for i in 0..5 {
        reporter.submit(bag(i));
    }
    assert_eq!(reporter.queue_depth(), 2);
    assert_eq!(metrics.dropped_for(DropReason::QueueFull), 3);
    stop_tx.send(true).expect("stop");
    done.await;
    assert_eq!(*seen.lock().expect("lock"), [2]);
    assert_eq!(metrics.reports_sent_bags.get(), 2);
}

#[tokio::test]
async fn bags_are_batched_by_size_and_flushed_on_shutdown() {
    let metrics = Arc::new(ProxyMetrics::default());
    let (stop_tx, stop) = watch::channel(false);
    let (send, seen, _) = recording(0);
    let (reporter, done) = spawn(&opts(1000, 100, 8), send, metrics.clone(), stop);
    for i in 0..250 {
        reporter.submit(bag(i));
    }
    stop_tx.send(true).expect("stop");
    done.await;
    assert_eq!(*seen.lock().expect("lock"), [100, 100, 50]);
    assert_eq!(metrics.reports_sent_bags.get(), 250);
    assert_eq!(metrics.reports_sent_batches.get(), 3);
    assert_eq!(metrics.dropped_total(), 0);
}

#[tokio::test]
async fn transient_failures_are_retried_until_sent() {
    let metrics = Arc::new(ProxyMetrics::default());
    let (stop_tx, stop) = watch::channel(false);
    let (send, seen, calls) = recording(3);
    let (reporter, done) = spawn(&opts(100, 10, 8), send, metrics.clone(), stop);
    for i in 0..10 {
        reporter.submit(bag(i));
    }
    // Wait (bounded) for the full batch to get through the failures.
    for _ in 0..500 {
        if metrics.reports_sent_bags.get() == 10 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    stop_tx.send(true).expect("stop");
    done.await;
    assert_eq!(*seen.lock().expect("lock"), [10]);
    assert_eq!(calls.load(Ordering::SeqCst), 4);
    assert_eq!(metrics.report_retries.get(), 3);
    assert_eq!(metrics.dropped_total(), 0);
}

#[tokio::test]
async fn when_telemetry_stays_down_every_bag_is_accounted_for() {
    let metrics = Arc::new(ProxyMetrics::default());
    let (stop_tx, stop) = watch::channel(false);
    let send: SendFn = Arc::new(|_| Box::pin(async { Outcome::Retry }));
    let (reporter, done) = spawn(&opts(1000, 10, 2), send, metrics.clone(), stop);
    for round in 0..10 {
        for i in 0..10 {
            reporter.submit(bag(round * 10 + i));
        }
        tokio::task::yield_now().await;
    }
    // held for (re)sending: the batch being retried and the two the buffer holds
    assert_eq!(metrics.pending_batches.get(), 3, "{}", metrics.render());
    stop_tx.send(true).expect("stop");
    done.await;
    assert_eq!(metrics.pending_batches.get(), 0);
    assert_eq!(metrics.reports_sent_bags.get(), 0);
    assert!(metrics.dropped_for(DropReason::BufferFull) > 0);
    assert!(metrics.dropped_for(DropReason::Shutdown) > 0);
    assert_eq!(metrics.dropped_total(), 100, "{}", metrics.render());
}

#[test]
fn backoff_stays_within_bounds() {
    let (base, max) = (Duration::from_millis(80), Duration::from_millis(1000));
    for attempt in 0..40 {
        let d = backoff(base, max, attempt);
        assert!(d >= base && d <= max, "{attempt}: {d:?}");
        let cap = Duration::from_millis((80u64 << attempt.min(20)).min(1000));
        assert!(d <= cap);
    }
}

/// A Report call that never returns (a black-holed telemetry service) must not hold the
/// flush past its deadline: the call is abandoned, and it and everything behind it counted.
#[tokio::test]
async fn a_call_hanging_at_shutdown_is_abandoned_at_the_flush_deadline_and_counted() {
    let metrics = Arc::new(ProxyMetrics::default());
    let (stop_tx, stop) = watch::channel(false);
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let send: SendFn = Arc::new(move |_| {
        c.fetch_add(1, Ordering::SeqCst);
        Box::pin(std::future::pending())
    });
    let (reporter, done) = spawn(&opts(1000, 10, 8), send, metrics.clone(), stop);
    for i in 0..35 {
        reporter.submit(bag(i));
    }
    // Wait (bounded) for the first batch to be in its never-ending call.
    for _ in 0..500 {
        if calls.load(Ordering::SeqCst) > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    stop_tx.send(true).expect("stop");
    // Liveness bound only: before the fix this never returned.
    tokio::time::timeout(Duration::from_secs(60), done)
        .await
        .expect("the flush ends at its deadline");
    assert_eq!(metrics.reports_sent_bags.get(), 0);
    assert_eq!(
        metrics.dropped_for(DropReason::Shutdown),
        35,
        "{}",
        metrics.render()
    );
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "nothing is sent after the deadline"
    );
}

#[tokio::test]
async fn a_slow_call_does_not_hold_up_the_batches_behind_it_beyond_the_in_flight_limit() {
    let metrics = Arc::new(ProxyMetrics::default());
    let (stop_tx, stop) = watch::channel(false);
    let now = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (n, m, g) = (now.clone(), most.clone(), gate.clone());
    let send: SendFn = Arc::new(move |_| {
        let (n, m, g) = (n.clone(), m.clone(), g.clone());
        Box::pin(async move {
            let running = n.fetch_add(1, Ordering::SeqCst) + 1;
            m.fetch_max(running, Ordering::SeqCst);
            // each call waits until the test lets one through
            g.acquire().await.expect("gate").forget();
            n.fetch_sub(1, Ordering::SeqCst);
            Outcome::Sent
        })
    });
    let options = ReportOptions {
        max_in_flight: 3,
        ..opts(1000, 10, 8)
    };
    let (reporter, done) = spawn(&options, send, metrics.clone(), stop);
    for i in 0..60 {
        reporter.submit(bag(i));
    }
    // Wait (bounded) until the calls are in flight: three of the six batches, not one.
    for _ in 0..500 {
        if now.load(Ordering::SeqCst) == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(now.load(Ordering::SeqCst), 3);
    gate.add_permits(6);
    stop_tx.send(true).expect("stop");
    done.await;
    assert_eq!(most.load(Ordering::SeqCst), 3, "never more than the limit");
    assert_eq!(metrics.reports_sent_bags.get(), 60);
    assert_eq!(metrics.reports_sent_batches.get(), 6);
}
