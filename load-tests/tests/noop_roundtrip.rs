//! The load generator against the real no-op server, in one process: every bag sent is counted
//! by the server, and nothing fails.

use mixer_load_tests::bags::{request_pool, BagShape};
use mixer_load_tests::load::{run, LoadConfig, ReportCalls, Stop};
use mixer_load_tests::noop::{NoopMode, RunningNoop};
use std::sync::atomic::Ordering;
use std::time::Duration;

async fn round_trip(mode: NoopMode, rate: f64) {
    let server = RunningNoop::start("127.0.0.1:0".parse().expect("an address"), mode)
        .await
        .expect("the no-op server starts");
    let target = server.addr.to_string();
    let config = LoadConfig {
        // two endpoints (the same server twice) so round-robin over targets is exercised
        targets: vec![target.clone(), target],
        connections: 3,
        concurrency: 4,
        rate,
        warmup: Duration::ZERO,
        stop: Stop::Requests(40),
        timeout: Duration::from_secs(10),
    };
    let calls = ReportCalls {
        pool: request_pool(BagShape::default(), 8, 25),
        bags_per_request: 25,
    };
    let report = run(&config, calls).await.expect("the load runs");
    let counters = server.stop().await.expect("the server stops cleanly");

    assert_eq!(report.errors.len(), 0, "{:?}", report.errors);
    assert_eq!(report.requests, 40);
    assert_eq!(report.bags, 1000);
    assert_eq!(report.latency.count(), 40);
    assert_eq!(counters.requests.load(Ordering::Relaxed), 40);
    assert_eq!(counters.bags.load(Ordering::Relaxed), 1000);
    assert_eq!(counters.errors.load(Ordering::Relaxed), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bag_is_counted_prost() {
    round_trip(NoopMode::Prost, 0.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_bag_is_counted_scan_paced() {
    round_trip(NoopMode::Scan, 400.0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warmup_calls_are_not_measured() {
    let server = RunningNoop::start("127.0.0.1:0".parse().unwrap(), NoopMode::Prost)
        .await
        .unwrap();
    let config = LoadConfig {
        targets: vec![server.addr.to_string()],
        connections: 1,
        concurrency: 2,
        rate: 200.0,
        warmup: Duration::from_millis(100),
        stop: Stop::Requests(10),
        timeout: Duration::from_secs(10),
    };
    let calls = ReportCalls {
        pool: request_pool(BagShape::default(), 2, 5),
        bags_per_request: 5,
    };
    let report = run(&config, calls).await.unwrap();
    let counters = server.stop().await.unwrap();
    assert_eq!(report.requests, 10);
    assert!(report.bags_total > report.bags, "{report:?}");
    assert_eq!(counters.bags.load(Ordering::Relaxed), report.bags_total);
}

#[tokio::test]
async fn an_unreachable_target_is_an_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let config = LoadConfig {
        targets: vec![addr.to_string()],
        connections: 1,
        concurrency: 1,
        rate: 0.0,
        warmup: Duration::ZERO,
        stop: Stop::Requests(1),
        timeout: Duration::from_secs(1),
    };
    let calls = ReportCalls {
        pool: request_pool(BagShape::default(), 1, 1),
        bags_per_request: 1,
    };
    let err = run(&config, calls).await.unwrap_err();
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
}
