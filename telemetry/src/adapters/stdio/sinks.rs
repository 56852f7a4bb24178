//! The process's access-log destinations, shared by every config generation: one [`Writer`]
//! per destination (stdout, stderr, or a file path), found again by the handlers of a reloaded
//! config, so a reload neither reopens a file nor reorders its lines. A writer lives as long
//! as some handler uses it: when the last one goes (a config that no longer writes there), its
//! thread writes what is queued and exits. Its counters stay here and keep counting if the
//! destination comes back. [`LogSinks::shutdown`] closes every writer and waits, within a
//! bound, for the queued entries to be written.

use super::rotate::Rotation;
use super::writer::{SinkStats, Writer};
use crate::adapters::file_writers::WriterRegistry;
use mixer_serving::metrics::{escape_label, header};
use std::fmt::Write as _;
use std::io;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where a `stdio` handler writes.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Destination {
    Stdout,
    Stderr,
    File(PathBuf),
}

impl Destination {
    /// The `sink` label: `stdout`, `stderr` or the file's path.
    pub fn label(&self) -> String {
        match self {
            Destination::Stdout => "stdout".into(),
            Destination::Stderr => "stderr".into(),
            Destination::File(p) => p.display().to_string(),
        }
    }
}

/// Process settings of the access-log writers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LogOptions {
    /// Bytes each destination's queue may hold; beyond them new entries are dropped.
    pub queue_bytes: u64,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            queue_bytes: 16 * 1024 * 1024,
        }
    }
}

#[derive(Debug)]
struct Inner {
    opts: LogOptions,
    writers: WriterRegistry<Destination, Writer>,
}

/// The destinations of the process; cheap to clone.
#[derive(Clone, Debug)]
pub struct LogSinks {
    inner: Arc<Inner>,
}

impl Default for LogSinks {
    fn default() -> Self {
        LogSinks::new(LogOptions::default())
    }
}

impl LogSinks {
    pub fn new(opts: LogOptions) -> LogSinks {
        LogSinks {
            inner: Arc::new(Inner {
                opts,
                writers: WriterRegistry::default(),
            }),
        }
    }

    /// The writer of `dest`: the running one (taking `rotation` from now on), or a new one,
    /// which opens the file now so that a path that cannot be written fails the config.
    pub(crate) fn writer(
        &self,
        dest: &Destination,
        rotation: Option<Rotation>,
    ) -> io::Result<Arc<Writer>> {
        let queue_bytes = self.inner.opts.queue_bytes;
        self.inner.writers.writer(
            dest,
            |w| w.set_rotation(rotation),
            |stats| Writer::start(dest, rotation, stats, queue_bytes),
        )
    }

    /// The counters of `dest`, once some handler has written there.
    pub fn stats(&self, dest: &Destination) -> Option<Arc<SinkStats>> {
        self.inner.writers.stats(|d| d == dest)
    }

    /// Destinations with a running writer.
    pub fn live(&self) -> usize {
        self.inner.writers.live()
    }

    /// Waits up to `timeout` until what was queued before the call is written and flushed
    /// everywhere. Blocks: not for the Report path.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.inner.writers.all_running(|w| w.flush(timeout))
    }

    /// Closes every writer (later entries are dropped) and waits up to `timeout` for the
    /// queued ones to be written; what is still queued then is counted as dropped. Returns
    /// that number. Blocks.
    pub fn shutdown(&self, timeout: Duration) -> u64 {
        self.inner.writers.shutdown(timeout)
    }

    /// `mixer_telemetry_accesslog_*` in Prometheus text format.
    pub fn render_metrics(&self, out: &mut String) {
        let slots = self
            .inner
            .writers
            .labelled_stats(|d| escape_label(&d.label()));
        let name = "mixer_telemetry_accesslog_entries_total";
        header(
            out,
            name,
            "counter",
            "Entries of stdio handlers (access logs), by destination and result: written, \
             failed (write error) or dropped (queue full, or unwritten at shutdown).",
        );
        for (sink, s) in &slots {
            for (result, v) in [
                ("written", s.written.get()),
                ("failed", s.failed.get()),
                ("dropped", s.dropped.get()),
            ] {
                let _ = writeln!(out, "{name}{{sink=\"{sink}\",result=\"{result}\"}} {v}");
            }
        }
        let name = "mixer_telemetry_accesslog_queue_bytes";
        header(
            out,
            name,
            "gauge",
            "Bytes of entries waiting for the writer.",
        );
        for (sink, s) in &slots {
            let _ = writeln!(out, "{name}{{sink=\"{sink}\"}} {}", s.queued_bytes());
        }
        let name = "mixer_telemetry_accesslog_rotations_total";
        header(out, name, "counter", "ROTATED_FILE rotations.");
        for (sink, s) in &slots {
            let _ = writeln!(out, "{name}{{sink=\"{sink}\"}} {}", s.rotations.get());
        }
    }
}
