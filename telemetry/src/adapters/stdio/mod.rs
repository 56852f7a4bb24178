//! The `stdio` adapter (Istio's, `adapter.stdio.config.Params`): `logentry` instances — the
//! access log — and `metric` instances written as lines to stdout, stderr or a file, in the
//! shape Istio's adapter writes them through zap (`format.rs`). Off unless a config has a
//! `stdio` handler and a rule for it: `telemetry/config/accesslog.yaml` is Istio's `accesslog`
//! instance with such a handler and rule, to add to a config directory.
//!
//! Writing never holds up a Report: a call's lines are built into a buffer and handed, once
//! the request decoded, to the destination's writer thread through a queue bounded in bytes
//! (drop newest, counted in `mixer_telemetry_accesslog_entries_total{result="dropped"}`); see
//! `writer.rs`. Destinations belong to the process ([`LogSinks`]), not to a config, so a
//! reload keeps the open file and its queue; shutdown writes what is queued, within a bound.
//!
//! `params`, with Istio's defaults, all supported:
//!
//! | param | default | here |
//! | --- | --- | --- |
//! | `logStream` | `STDOUT` | `STDOUT`, `STDERR`, `FILE` (appended to), `ROTATED_FILE` |
//! | `severityLevels` | `info`/`INFO`/`informational`… → INFO, `warn`/`warning`… → WARNING, `err`/`error`/`fatal`… → ERROR | entries given are added to the defaults; an unlisted severity is INFO |
//! | `metricLevel` | `INFO` | the level of `metric` entries |
//! | `outputAsJson` | `true` | JSON lines; `false`: zap's console format |
//! | `outputLevel` | `INFO` | entries below it are not written (nor evaluated) |
//! | `outputPath` | — | required for `FILE`/`ROTATED_FILE`, refused for the streams; its directory is created |
//! | `maxMegabytesBeforeRotation` | 100 | `ROTATED_FILE`: rotate before a write would pass it (0: the default) |
//! | `maxDaysBeforeRotation` | 30 | `ROTATED_FILE`: rotate a file that old, and delete backups that old (0: never) |
//! | `maxRotatedFiles` | 1000 | `ROTATED_FILE`: backups kept, the newest (0: all) |
//!
//! Where this differs from Istio 1.4's code, on purpose: Istio passed `maxDaysBeforeRotation`
//! as lumberjack's backup count and `maxRotatedFiles` as its age limit (swapped), and its
//! default size was 100 × 1024 × 1024 *megabytes*; here each does what its documentation says.
//! Lumberjack never rotates by age; here a file older than `maxDaysBeforeRotation` is rotated
//! too, and rotation falls between lines. Backups are not compressed (lumberjack could be told
//! to; Istio never did). Handlers writing the same file must agree on its settings (checked
//! with the config, [`check_across_handlers`]).

mod adapter;
mod config;
mod format;
mod rotate;
mod sinks;
mod writer;

#[cfg(test)]
mod tests;

pub use adapter::{BuildError, Lines, StdioHandler};
pub use config::{check, check_across_handlers, Level, Params, Stream};
pub(crate) use format::civil;
pub use rotate::Rotation;
pub use sinks::{Destination, LogOptions, LogSinks};
pub use writer::SinkStats;

use mixer_rules::{AdapterSpec, Template};

/// The adapter as the rules layer sees it.
pub const SPEC: AdapterSpec = AdapterSpec {
    name: "stdio",
    templates: &[Template::LogEntry, Template::Metric],
    check,
};
