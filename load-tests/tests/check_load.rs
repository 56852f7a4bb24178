//! `check-load`'s traffic against the real policy service serving the benchmark's config
//! (`load-tests/policy-bench`), in one process: every Check is answered OK, cached mode is
//! answered from the decision cache, uncached mode never is (with a quota it bypasses the
//! cache and allocates; without one it looks there and misses). And against the no-op
//! server, the benchmark's ceiling. Counts only, no timing.

use mixer_load_tests::bags::BagShape;
use mixer_load_tests::check::{CheckCalls, CheckMode, CheckTraffic};
use mixer_load_tests::load::{run, LoadConfig, LoadReport, Stop};
use mixer_load_tests::noop::{NoopMode, RunningNoop};
use mixer_policy::clock::SystemClock;
use mixer_policy::server::{self, Options};
use mixer_policy::service::PolicyService;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

const POOL: usize = 8;

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().expect("an address")
}

fn calls(mode: CheckMode, quota: Option<&str>, token_base: u64) -> CheckCalls {
    CheckCalls::new(CheckTraffic {
        shape: BagShape::default(),
        pool: POOL,
        mode,
        quota: quota.map(str::to_owned),
        token_base,
    })
    .expect("the traffic builds")
}

/// `n` Checks, 4 in flight (fewer than the pool: no two calls of one request in flight).
async fn load(target: SocketAddr, calls: CheckCalls, n: u64) -> LoadReport {
    let config = LoadConfig {
        targets: vec![target.to_string()],
        connections: 2,
        concurrency: 4,
        rate: 0.0,
        warmup: Duration::ZERO,
        stop: Stop::Requests(n),
        timeout: Duration::from_secs(10),
    };
    let report = run(&config, calls).await.expect("the load runs");
    assert_eq!(report.errors.len(), 0, "{:?}", report.errors);
    assert_eq!(report.denied, 0, "the benchmark config allows everything");
    assert_eq!(report.requests, n);
    report
}

/// (cache hits, cache misses, quota units granted)
fn counts(service: &PolicyService) -> (u64, u64, u64) {
    let m = &service.metrics;
    (
        m.check_cache_hits.get(),
        m.check_cache_misses.get(),
        m.quota_granted.get(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_benchmark_config_answers_each_mode_as_intended() {
    let config = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("policy-bench");
    let opts = Options {
        grpc_addr: local(),
        monitoring_addr: local(),
        config_dir: Some(config),
        reload_interval: Duration::from_secs(60),
        max_message_size: 1024 * 1024,
        max_concurrent_streams: 1024,
        max_in_flight: 1024,
        check_cache_entries: 10_000,
        clock: Arc::new(SystemClock),
    };
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (bound, service, running) = server::start(opts, async move {
        let _ = stopped.await;
    })
    .await
    .expect("the policy service starts with the benchmark config");
    let task = tokio::spawn(running);

    // cached: each distinct request misses at most once, everything else is a hit
    let n = 200;
    load(bound.grpc, calls(CheckMode::Cached, None, 0), n).await;
    let (hits, misses, granted) = counts(&service);
    assert!((1..=POOL as u64).contains(&misses), "{misses} misses");
    assert_eq!(hits + misses, n);
    assert_eq!(granted, 0);

    // uncached with the quota: the cache is bypassed, every Check allocates one unit
    load(
        bound.grpc,
        calls(CheckMode::Uncached, Some("requestcount"), 0),
        n,
    )
    .await;
    assert_eq!(counts(&service), (hits, misses, n));

    // uncached without a quota: every Check looks in the cache and misses
    load(bound.grpc, calls(CheckMode::Uncached, None, 1 << 32), n).await;
    assert_eq!(counts(&service), (hits, misses + n, n));

    let _ = stop.send(());
    task.await
        .expect("the server task")
        .expect("a clean shutdown");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_noop_server_answers_every_check_ok() {
    let server = RunningNoop::start(local(), NoopMode::Prost)
        .await
        .expect("the no-op server starts");
    load(server.addr, calls(CheckMode::Cached, None, 0), 50).await;
    load(
        server.addr,
        calls(CheckMode::Uncached, Some("requestcount"), 0),
        50,
    )
    .await;
    let counters = server.stop().await.expect("the server stops cleanly");
    assert_eq!(counters.requests.load(Ordering::Relaxed), 100);
    assert_eq!(counters.bags.load(Ordering::Relaxed), 100);
    assert_eq!(counters.errors.load(Ordering::Relaxed), 0);
}
