//! Report adapters, one folder each with the same shape (`mod.rs`, `config.rs`, `adapter.rs`,
//! `tests.rs`), listed in a closed enum rather than a hidden registry.

pub mod jaeger;
pub mod parquet;
pub mod prometheus;
pub mod stdio;
pub(crate) mod yaml;

use mixer_rules::AdapterSpec;

/// Every report adapter the telemetry service compiles in, as the rules layer sees them.
pub const SPECS: &[AdapterSpec] = &[prometheus::SPEC, jaeger::SPEC, stdio::SPEC, parquet::SPEC];

/// Waits until `deadline` for the file adapters' writer threads to end and joins those that
/// did; true when all of them did (their queue counts are then final).
pub(crate) fn join_writers(
    threads: Vec<std::thread::JoinHandle<()>>,
    deadline: std::time::Instant,
) -> bool {
    while threads.iter().any(|t| !t.is_finished()) && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let finished = threads.iter().all(std::thread::JoinHandle::is_finished);
    for t in threads.into_iter().filter(|t| t.is_finished()) {
        let _ = t.join();
    }
    finished
}
