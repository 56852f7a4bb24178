//! Load generators and the benchmark harness for mixer's services: Istio-like report and
//! check traffic ([`bags`], [`check`]), a gRPC load loop that replays pre-encoded requests and
//! measures throughput, latency and its own CPU ([`load`], [`summary`]), and the no-op
//! baseline server the services are compared against ([`noop`]). The binaries `report-load`,
//! `check-load`, `report-noop` and `check-noop` are thin wrappers; `bench-report.sh` and
//! `bench-policy.sh` run them side by side and record the results in RESULTS.md.

pub mod bags;
pub mod check;
pub mod cpu;
pub mod duration;
pub mod histogram;
pub mod load;
pub mod noop;
mod rng;
pub mod summary;

/// The multi-threaded tokio runtime the binaries run on: `worker_threads` workers, or one per
/// available CPU when 0.
pub fn runtime(worker_threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if worker_threads > 0 {
        rt.worker_threads(worker_threads);
    }
    rt.enable_all().build()
}
