//! Report adapters, one folder each with the same shape (`mod.rs`, `config.rs`, `adapter.rs`,
//! `tests.rs`), listed in a closed enum rather than a hidden registry.

pub(crate) mod file_writers;
pub mod jaeger;
pub mod parquet;
pub mod prometheus;
pub mod stdio;
#[cfg(test)]
pub(crate) mod test_support;
pub(crate) mod yaml;

use mixer_rules::AdapterSpec;

/// Every report adapter the telemetry service compiles in, as the rules layer sees them.
pub const SPECS: &[AdapterSpec] = &[prometheus::SPEC, jaeger::SPEC, stdio::SPEC, parquet::SPEC];
