//! The writer of one archive (a directory and file prefix): a thread fed by a queue bounded in
//! bytes whose full policy is **drop newest**, as the `stdio` writer's. Producers (Report
//! calls) never wait: [`Writer::submit`] adds the rows' weight to the queued bytes and, past
//! the bound, takes it back and counts the rows as dropped (`queue_full`).
//!
//! The thread appends rows to Arrow builders, encodes them into the open file every 8192 rows
//! or whenever the queue is empty, and closes the file (footer, fsync, rename from `.tmp`)
//! when it reaches the size limit, when it is older than the age limit (checked on every
//! message and once a second), when the columns change (a reload with other variables:
//! rows of the new layout go to a new file), on [`Writer::seal`], and when the writer stops
//! (every handler using it gone, or [`Writer::close`] at shutdown). Files open on the first
//! row, so no empty file is written. Rows are counted `written` once their file is closed and
//! renamed; a write error (disk full, directory gone) loses the open file's rows, counted
//! `failed`, removes its partial file and is logged (rate-limited); the next rows open a new
//! file. Every row offered is accounted for once: `written + failed + dropped + queued + open`.

use super::columns::Columns;
use super::config::FileLimits;
use super::file::OpenFile;
use super::layout::{Layout, Rows};
use crate::adapters::file_writers::{FileWriter, Inbox, QueueLevel, WriterStats};
use crate::self_metrics::Counter;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, SystemTime};

/// The time source of file names and ages (tests move it by hand).
pub type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// Rows encoded into the file at once.
const BATCH_ROWS: usize = 8192;
/// How often an idle writer checks the open file's age.
const TICK: Duration = Duration::from_secs(1);

/// Why a file was closed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CloseReason {
    Size,
    Age,
    /// The columns changed (a reload).
    Schema,
    /// Sealed, or the writer stopped.
    Close,
}

impl CloseReason {
    pub const ALL: [CloseReason; 4] = [
        CloseReason::Size,
        CloseReason::Age,
        CloseReason::Schema,
        CloseReason::Close,
    ];

    pub fn label(self) -> &'static str {
        match self {
            CloseReason::Size => "size",
            CloseReason::Age => "age",
            CloseReason::Schema => "schema",
            CloseReason::Close => "close",
        }
    }
}

/// Counters of one archive; they outlive the writers a reload replaces.
#[derive(Debug, Default)]
pub struct ArchiveStats {
    /// Rows in closed (readable) files.
    pub written: Counter,
    /// Rows lost to write errors.
    pub failed: Counter,
    pub dropped_queue_full: Counter,
    /// Rows offered after shutdown began, or left queued when it ended.
    pub dropped_shutdown: Counter,
    /// Files closed, by [`CloseReason`] (in `ALL`'s order).
    pub files: [Counter; 4],
    pub write_errors: Counter,
    /// Bytes and rows waiting in the queue.
    pub(crate) queue: QueueLevel,
    /// Rows in the open file and the builders (not readable yet).
    pub(crate) open_rows: AtomicU64,
}

impl ArchiveStats {
    pub fn files_closed(&self, reason: CloseReason) -> u64 {
        self.files[reason as usize].get()
    }

    pub fn queued_bytes(&self) -> u64 {
        self.queue.bytes()
    }

    pub fn open_rows(&self) -> u64 {
        self.open_rows.load(Relaxed)
    }
}

impl WriterStats for ArchiveStats {
    fn queue(&self) -> &QueueLevel {
        &self.queue
    }

    fn dropped_at_shutdown(&self) -> &Counter {
        &self.dropped_shutdown
    }
}

pub(crate) enum Msg {
    Rows {
        layout: Arc<Layout>,
        rows: Rows,
        weight: u64,
    },
    Seal(mpsc::SyncSender<()>),
    Close,
    /// Encodes what is buffered into the open file, then acknowledges (tests).
    #[cfg(test)]
    Encoded(mpsc::SyncSender<()>),
    /// Holds the thread until the sender is dropped (tests of a full queue).
    #[cfg(test)]
    Pause(Receiver<()>),
}

#[derive(Debug)]
struct Shared {
    limits: Mutex<FileLimits>,
    queue_bytes: AtomicU64,
}

/// The producers' side of an archive's writer thread.
#[derive(Debug)]
pub struct Writer {
    inbox: Inbox<Msg>,
    stats: Arc<ArchiveStats>,
    shared: Arc<Shared>,
}

/// Where and how a writer writes.
pub(crate) struct Target {
    pub dir: PathBuf,
    pub prefix: String,
    pub limits: FileLimits,
    pub queue_bytes: u64,
}

impl FileWriter for Writer {
    type Stats = ArchiveStats;

    /// Refuses further rows and tells the thread to stop once it has written what was queued
    /// before (closing its file).
    fn close(&self) {
        self.inbox.close(Msg::Close);
    }
}

impl Writer {
    /// Creates the directory (so a config naming one that cannot be made fails) and starts
    /// the thread.
    pub(crate) fn start(
        target: Target,
        stats: Arc<ArchiveStats>,
        clock: Clock,
    ) -> std::io::Result<(Arc<Writer>, JoinHandle<()>)> {
        std::fs::create_dir_all(&target.dir).map_err(|e| {
            std::io::Error::new(
                e.kind(),
                format!("cannot create {}: {e}", target.dir.display()),
            )
        })?;
        let (inbox, rx) = Inbox::new();
        let shared = Arc::new(Shared {
            limits: Mutex::new(target.limits),
            queue_bytes: AtomicU64::new(target.queue_bytes),
        });
        let label = target.dir.join(&target.prefix).display().to_string();
        let thread = std::thread::Builder::new()
            .name("mixer-parquet".into())
            .spawn({
                let (stats, shared) = (stats.clone(), shared.clone());
                move || {
                    let mut t = Thread {
                        dir: target.dir,
                        prefix: target.prefix,
                        stats: &stats,
                        shared: &shared,
                        clock,
                        layout: None,
                        columns: None,
                        file: None,
                        seq: 0,
                        label,
                        failures: 0,
                    };
                    t.run(rx);
                }
            })?;
        let writer = Writer {
            inbox,
            stats,
            shared,
        };
        Ok((Arc::new(writer), thread))
    }

    /// Queues `rows` (built with `layout`) without waiting; drops them, counted, when the
    /// queue is full or the writer closed. Returns whether they were queued.
    pub fn submit(&self, layout: &Arc<Layout>, rows: Rows) -> bool {
        let n = rows.len() as u64;
        let weight = rows.weight();
        let s = &self.stats;
        if self.inbox.is_closed() {
            s.dropped_shutdown.add(n);
            return false;
        }
        let bound = self.shared.queue_bytes.load(Relaxed);
        if !s.queue.admit(weight, n, bound) {
            s.dropped_queue_full.add(n);
            return false;
        }
        let msg = Msg::Rows {
            layout: layout.clone(),
            rows,
            weight,
        };
        if !self.inbox.send(msg) {
            s.queue.remove(weight, n);
            s.dropped_shutdown.add(n);
            return false;
        }
        true
    }

    /// The limits a reloaded config asks for: the queue bound at once, the file limits from
    /// the next row.
    pub(crate) fn set_limits(&self, limits: FileLimits, queue_bytes: u64) {
        *self
            .shared
            .limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = limits;
        self.shared.queue_bytes.store(queue_bytes, Relaxed);
    }

    /// Waits up to `timeout` until everything queued before the call is in a closed file.
    pub fn seal(&self, timeout: Duration) -> bool {
        self.inbox.ask(Msg::Seal, timeout)
    }

    /// Waits until the rows queued before the call are encoded into the open file (tests).
    #[cfg(test)]
    pub(crate) fn encoded(&self, timeout: Duration) -> bool {
        self.inbox.ask(Msg::Encoded, timeout)
    }

    #[cfg(test)]
    pub(crate) fn pause(&self) -> mpsc::Sender<()> {
        self.inbox.pause(Msg::Pause)
    }
}

struct Thread<'s> {
    dir: PathBuf,
    prefix: String,
    stats: &'s ArchiveStats,
    shared: &'s Shared,
    clock: Clock,
    /// The layout of the rows in `columns` and the open file.
    layout: Option<Arc<Layout>>,
    columns: Option<Columns>,
    file: Option<OpenFile>,
    seq: u64,
    label: String,
    failures: u64,
}

impl Thread<'_> {
    fn run(&mut self, rx: Receiver<Msg>) {
        loop {
            let pending = self.columns.as_ref().is_some_and(|c| c.rows() > 0);
            let msg = if pending {
                match rx.try_recv() {
                    Ok(m) => m,
                    Err(TryRecvError::Empty) => {
                        self.encode();
                        continue;
                    }
                    Err(TryRecvError::Disconnected) => break,
                }
            } else {
                match rx.recv_timeout(TICK) {
                    Ok(m) => m,
                    Err(RecvTimeoutError::Timeout) => {
                        self.check_age();
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => break,
                }
            };
            match msg {
                Msg::Rows {
                    layout,
                    rows,
                    weight,
                } => {
                    self.stats.queue.remove(weight, rows.len() as u64);
                    self.append(layout, &rows);
                }
                Msg::Seal(ack) => {
                    self.finish(CloseReason::Close);
                    let _ = ack.send(());
                }
                Msg::Close => break,
                #[cfg(test)]
                Msg::Encoded(ack) => {
                    self.encode();
                    let _ = ack.send(());
                }
                #[cfg(test)]
                Msg::Pause(wait) => {
                    let _ = wait.recv();
                }
            }
        }
        self.finish(CloseReason::Close);
    }

    fn limits(&self) -> FileLimits {
        *self
            .shared
            .limits
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn append(&mut self, layout: Arc<Layout>, rows: &Rows) {
        if self
            .layout
            .as_ref()
            .is_some_and(|l| !l.same_columns(&layout))
        {
            self.finish(CloseReason::Schema);
            self.columns = None;
        }
        self.check_age();
        let columns = self.columns.get_or_insert_with(|| Columns::new(&layout));
        self.layout = Some(layout.clone());
        let buffered = columns.rows() as u64;
        if let Err(e) = columns.append(&layout, rows) {
            // cannot happen with builders made for the layout; counted, not a panic. The
            // builders may hold part of a row now: they and the rows they held are given up
            self.columns = None;
            self.lose(buffered);
            self.stats.failed.add(rows.len() as u64);
            self.failed(&e.to_string());
            return;
        }
        self.stats.open_rows.fetch_add(rows.len() as u64, Relaxed);
        if self
            .columns
            .as_ref()
            .is_some_and(|c| c.rows() >= BATCH_ROWS)
        {
            self.encode();
        }
    }

    /// Encodes the builders' rows into the open file (opening one if needed); closes the file
    /// once it reaches the size limit.
    fn encode(&mut self) {
        let Some(columns) = self.columns.as_mut().filter(|c| c.rows() > 0) else {
            return;
        };
        let pending = columns.rows() as u64;
        let batch = match columns.finish() {
            Ok(b) => b,
            Err(e) => {
                self.lose(pending);
                self.failed(&e.to_string());
                return;
            }
        };
        let limits = self.limits();
        if self.file.is_none() {
            let now = (self.clock)();
            match OpenFile::create(
                &self.dir,
                &self.prefix,
                now,
                &mut self.seq,
                batch.schema_ref(),
                &limits,
            ) {
                Ok(f) => self.file = Some(f),
                Err(e) => {
                    self.lose(pending);
                    self.failed(&e.to_string());
                    return;
                }
            }
        }
        let Some(file) = self.file.as_mut() else {
            return;
        };
        if let Err(e) = file.write(&batch) {
            let lost = file.rows + pending;
            if let Some(f) = self.file.take() {
                f.abandon();
            }
            self.lose(lost);
            self.failed(&e.to_string());
            return;
        }
        if file.size() >= limits.max_bytes {
            self.close_file(CloseReason::Size);
        }
    }

    /// Rows that will never be readable: counted failed, no longer open.
    fn lose(&mut self, rows: u64) {
        self.stats.failed.add(rows);
        let _ = self
            .stats
            .open_rows
            .fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_sub(rows)));
    }

    fn finish(&mut self, reason: CloseReason) {
        self.encode();
        self.close_file(reason);
    }

    fn close_file(&mut self, reason: CloseReason) {
        let Some(file) = self.file.take() else {
            return;
        };
        let rows = file.rows;
        match file.close() {
            Ok(path) => {
                self.stats.written.add(rows);
                let _ = self
                    .stats
                    .open_rows
                    .fetch_update(Relaxed, Relaxed, |n| Some(n.saturating_sub(rows)));
                self.stats.files[reason as usize].inc();
                tracing::debug!(file = %path.display(), rows, reason = reason.label(), "parquet archive: file closed");
            }
            Err(e) => {
                self.lose(rows);
                self.failed(&e.to_string());
            }
        }
    }

    fn check_age(&mut self) {
        let max_age = self.limits().max_age;
        let old = self.file.as_ref().is_some_and(|f| {
            (self.clock)()
                .duration_since(f.opened)
                .is_ok_and(|age| age >= max_age)
        });
        if old {
            self.finish(CloseReason::Age);
        }
    }

    /// Counts a write error and logs the 1st, 2nd, 4th, 8th … one.
    fn failed(&mut self, error: &str) {
        self.stats.write_errors.inc();
        self.failures += 1;
        if self.failures.is_power_of_two() {
            tracing::warn!(archive = %self.label, error, failed_rows = self.stats.failed.get(),
                failures = self.failures, "parquet archive: write failed");
        }
    }
}
