//! The `parquet` adapter — mixer's own, Istio has none like it: `logentry` instances (the
//! access log) archived as Parquet files, one row per instance, with columns typed from the
//! template's expressions (`layout.rs`), for reading with any Parquet reader (pyarrow,
//! DuckDB, Spark …). Off unless a config has a `parquet` handler and a rule for it:
//! `telemetry/config/accesslog-parquet.yaml` is Istio's `accesslog` instance with such a
//! handler and rule.
//!
//! Writing never holds up a Report: a call's rows are built into a per-call buffer and handed,
//! once the request decoded, to the archive's writer thread through a queue bounded in bytes
//! (drop newest, counted in `mixer_telemetry_parquet_rows_dropped_total{reason="queue_full"}`);
//! see `writer.rs`. Files are written as `….parquet.tmp` and renamed to `….parquet` when
//! closed — by size, by age, when a reload changes the columns, at shutdown — so readers only
//! ever see whole files. Archives belong to the process ([`Archives`]), not to a config, so
//! a reload keeps the open file when the columns stay the same.
//!
//! `params`:
//!
//! | param | default | meaning |
//! | --- | --- | --- |
//! | `directory` | — (required) | where the files go; created if missing |
//! | `filePrefix` | `accesslog` | files are `<prefix>-<UTC time opened>-<n>.parquet` |
//! | `maxMegabytesBeforeRotation` | 128 | close the file once its encoded size reaches this |
//! | `maxAgeBeforeRotation` | `1h` | close the file once this old (≥ 1s): the bound on how late rows become readable |
//! | `rowGroupRows` | 32768 | rows per row group |
//! | `compression` | `SNAPPY` | `SNAPPY` or `UNCOMPRESSED` |
//! | `queueMegabytes` | 16 | rows waiting for the writer, in memory; past it rows are dropped |
//!
//! Two handlers may not write the same directory and prefix, and the instances one handler
//! receives must agree on the type of a shared variable name ([`check_across_handlers`]).

mod adapter;
mod columns;
mod config;
mod file;
mod layout;
mod sinks;
mod writer;

#[cfg(test)]
mod tests;

pub use adapter::{BuildError, ParquetHandler};
pub use config::{check, check_across_handlers, Compression, FileLimits, Params};
pub use file::file_name;
pub use layout::{Kind, Layout, Rows, FIXED_COLUMNS};
pub use sinks::Archives;
pub use writer::{ArchiveStats, Clock, CloseReason};

use mixer_rules::{AdapterSpec, Template};

/// The adapter as the rules layer sees it.
pub const SPEC: AdapterSpec = AdapterSpec {
    name: "parquet",
    templates: &[Template::LogEntry],
    check,
};
