//! Load generators and the benchmark harness for mixer's services: Istio-like report traffic
//! ([`bags`]), a gRPC Report load generator that replays pre-encoded requests and measures
//! throughput, latency and its own CPU ([`load`], [`summary`]), and the no-op baseline server
//! it is compared against ([`noop`]). The binaries `report-load` and `report-noop` are thin
//! wrappers; `bench-report.sh` runs them side by side and records the results in RESULTS.md.

pub mod bags;
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
