//! The process's Parquet archives, shared by every config generation: one [`Writer`] per
//! directory and file prefix, found again by the handlers of a reloaded config, so a reload
//! keeps the open file (unless the columns change, see `writer.rs`). A writer lives as long as
//! some handler uses it; its counters stay here. [`Archives::shutdown`] closes every writer
//! and waits, within a bound, for the queued rows to be written and the files closed.

use super::config::Params;
use super::writer::{ArchiveStats, Clock, CloseReason, Target, Writer};
use crate::adapters::file_writers::WriterRegistry;
use mixer_serving::metrics::{escape_label, header};
use std::fmt::Write as _;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// An archive: the directory and file prefix of its files.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ArchiveKey {
    dir: PathBuf,
    prefix: String,
}

impl ArchiveKey {
    fn label(&self) -> String {
        self.dir.join(&self.prefix).display().to_string()
    }
}

struct Inner {
    clock: Clock,
    writers: WriterRegistry<ArchiveKey, Writer>,
}

/// The archives of the process; cheap to clone.
#[derive(Clone)]
pub struct Archives {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Archives {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Archives")
            .field("writers", &self.inner.writers)
            .finish()
    }
}

impl Default for Archives {
    fn default() -> Self {
        Archives::with_clock(Arc::new(SystemTime::now))
    }
}

impl Archives {
    /// Archives whose file names and ages follow `clock`.
    pub fn with_clock(clock: Clock) -> Archives {
        Archives {
            inner: Arc::new(Inner {
                clock,
                writers: WriterRegistry::default(),
            }),
        }
    }

    /// The writer of the archive `params` names: the running one (taking the new limits), or
    /// a new one, which creates the directory now so that one that cannot be made fails the
    /// config.
    pub(crate) fn writer(&self, params: &Params) -> io::Result<Arc<Writer>> {
        let key = ArchiveKey {
            dir: params.directory.clone(),
            prefix: params.file_prefix.clone(),
        };
        self.inner.writers.writer(
            &key,
            |w| w.set_limits(params.limits, params.queue_bytes),
            |stats| {
                let target = Target {
                    dir: params.directory.clone(),
                    prefix: params.file_prefix.clone(),
                    limits: params.limits,
                    queue_bytes: params.queue_bytes,
                };
                Writer::start(target, stats, self.inner.clock.clone())
            },
        )
    }

    /// The counters of the archive `dir`/`prefix`, once some handler has used it.
    pub fn stats(&self, dir: &Path, prefix: &str) -> Option<Arc<ArchiveStats>> {
        self.inner
            .writers
            .stats(|k| k.dir == dir && k.prefix == prefix)
    }

    /// Closes every open file (after writing what was queued before the call), waiting up to
    /// `timeout` for each. Blocks: not for the Report path.
    pub fn seal(&self, timeout: Duration) -> bool {
        self.inner.writers.all_running(|w| w.seal(timeout))
    }

    /// Closes every writer (later rows are dropped) and waits up to `timeout` for the queued
    /// rows to be written and the files closed; rows still queued then are counted as
    /// dropped. Returns that number. Blocks.
    pub fn shutdown(&self, timeout: Duration) -> u64 {
        self.inner.writers.shutdown(timeout)
    }

    /// `mixer_telemetry_parquet_*` in Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        let slots = self
            .inner
            .writers
            .labelled_stats(|k| escape_label(&k.label()));
        let name = "mixer_telemetry_parquet_rows_total";
        header(
            out,
            name,
            "counter",
            "Rows of parquet handlers (access-log archives), by archive and result: written \
             (in a closed file) or failed (lost to a write error).",
        );
        for (archive, s) in &slots {
            for (result, v) in [("written", s.written.get()), ("failed", s.failed.get())] {
                let _ = writeln!(
                    out,
                    "{name}{{archive=\"{archive}\",result=\"{result}\"}} {v}"
                );
            }
        }
        let name = "mixer_telemetry_parquet_rows_dropped_total";
        header(
            out,
            name,
            "counter",
            "Rows of parquet handlers dropped, by reason: queue_full, or shutdown (offered \
             after it began or still queued when it ended).",
        );
        for (archive, s) in &slots {
            for (reason, v) in [
                ("queue_full", s.dropped_queue_full.get()),
                ("shutdown", s.dropped_shutdown.get()),
            ] {
                let _ = writeln!(
                    out,
                    "{name}{{archive=\"{archive}\",reason=\"{reason}\"}} {v}"
                );
            }
        }
        let name = "mixer_telemetry_parquet_files_total";
        header(
            out,
            name,
            "counter",
            "Parquet files closed (made readable), by reason: size, age, schema (the columns \
             changed) or close (shutdown, or the handler removed).",
        );
        for (archive, s) in &slots {
            for r in CloseReason::ALL {
                let v = s.files_closed(r);
                let _ = writeln!(
                    out,
                    "{name}{{archive=\"{archive}\",reason=\"{}\"}} {v}",
                    r.label()
                );
            }
        }
        let name = "mixer_telemetry_parquet_write_errors_total";
        header(
            out,
            name,
            "counter",
            "Failed file creations, writes and closes.",
        );
        for (archive, s) in &slots {
            let _ = writeln!(
                out,
                "{name}{{archive=\"{archive}\"}} {}",
                s.write_errors.get()
            );
        }
        let name = "mixer_telemetry_parquet_queue_bytes";
        header(out, name, "gauge", "Bytes of rows waiting for the writer.");
        for (archive, s) in &slots {
            let _ = writeln!(out, "{name}{{archive=\"{archive}\"}} {}", s.queued_bytes());
        }
        let name = "mixer_telemetry_parquet_open_rows";
        header(
            out,
            name,
            "gauge",
            "Rows in the open file, readable once it is closed.",
        );
        for (archive, s) in &slots {
            let _ = writeln!(out, "{name}{{archive=\"{archive}\"}} {}", s.open_rows());
        }
    }
}
