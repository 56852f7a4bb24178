//! The writer of one destination (stdout, stderr or a file): a thread fed by a queue that is
//! bounded in bytes, whose full policy is **drop newest**. Producers (Report calls) never
//! wait: [`Writer::submit`] adds the chunk's size to the queued bytes and, if that passes the
//! bound, takes it back and counts the chunk's entries as dropped. The thread writes what it
//! takes off the queue, flushes whenever the queue is empty (so a quiet stream is on disk
//! at once, a busy one goes out in large writes), rotates files, and exits when every handler
//! using it is gone (after writing what was queued) or on [`Writer::close`]. Every entry
//! offered is accounted for once: `written + failed + dropped + queued`.

use super::rotate::{FileOut, Rotation};
use super::sinks::Destination;
use crate::adapters::file_writers::{FileWriter, Inbox, QueueLevel, WriterStats};
use crate::self_metrics::Counter;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver, TryRecvError};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

/// Counters of one destination; they outlive the writers a reload replaces.
#[derive(Debug, Default)]
pub struct SinkStats {
    pub written: Counter,
    /// Entries whose write failed (disk full, closed stdout …).
    pub failed: Counter,
    /// Entries refused because the queue was full, or left unwritten at shutdown.
    pub dropped: Counter,
    pub rotations: Counter,
    /// Bytes and entries waiting in the queue.
    pub(crate) queue: QueueLevel,
}

impl SinkStats {
    /// Bytes waiting in the queue.
    pub fn queued_bytes(&self) -> u64 {
        self.queue.bytes()
    }
}

impl WriterStats for SinkStats {
    fn queue(&self) -> &QueueLevel {
        &self.queue
    }

    fn dropped_at_shutdown(&self) -> &Counter {
        &self.dropped
    }
}

pub(crate) enum Msg {
    Lines {
        bytes: Vec<u8>,
        entries: u64,
    },
    Flush(mpsc::SyncSender<()>),
    Close,
    /// Holds the thread until the sender is dropped (tests of a full queue).
    #[cfg(test)]
    Pause(Receiver<()>),
}

/// What the thread shares with the handlers.
#[derive(Debug)]
struct Shared {
    rotation: Mutex<Option<Rotation>>,
}

/// The producers' side of a destination's writer thread.
#[derive(Debug)]
pub struct Writer {
    inbox: Inbox<Msg>,
    stats: Arc<SinkStats>,
    shared: Arc<Shared>,
    max_queue_bytes: u64,
}

impl FileWriter for Writer {
    type Stats = SinkStats;

    /// Refuses further entries and tells the thread to stop once it has written what was
    /// queued before.
    fn close(&self) {
        self.inbox.close(Msg::Close);
    }
}

impl Writer {
    /// Opens `dest` (a file is created with its directory if missing) and starts its thread.
    pub(crate) fn start(
        dest: &Destination,
        rotation: Option<Rotation>,
        stats: Arc<SinkStats>,
        max_queue_bytes: u64,
    ) -> io::Result<(Arc<Writer>, JoinHandle<()>)> {
        let out = match dest {
            Destination::Stdout => Out::Stdout(io::stdout()),
            Destination::Stderr => Out::Stderr(io::stderr()),
            Destination::File(path) => Out::File(FileOut::open(path)?),
        };
        let (inbox, rx) = Inbox::new();
        let shared = Arc::new(Shared {
            rotation: Mutex::new(rotation),
        });
        let thread = std::thread::Builder::new()
            .name("mixer-accesslog".into())
            .spawn({
                let (stats, shared, sink) = (stats.clone(), shared.clone(), dest.label());
                move || run(out, rx, &stats, &shared, &sink)
            })?;
        let writer = Writer {
            inbox,
            stats,
            shared,
            max_queue_bytes,
        };
        Ok((Arc::new(writer), thread))
    }

    /// Queues `bytes` (whole lines holding `entries` entries) without waiting; drops them,
    /// counted, when the queue is full or the writer closed. Returns whether they were queued.
    pub fn submit(&self, bytes: Vec<u8>, entries: u64) -> bool {
        let len = bytes.len() as u64;
        let s = &self.stats;
        if self.inbox.is_closed() {
            s.dropped.add(entries);
            return false;
        }
        if !s.queue.admit(len, entries, self.max_queue_bytes) {
            s.dropped.add(entries);
            return false;
        }
        if !self.inbox.send(Msg::Lines { bytes, entries }) {
            // the thread is gone (it only stops on close): the entries are not coming back
            s.queue.remove(len, entries);
            s.dropped.add(entries);
            return false;
        }
        true
    }

    #[cfg(test)]
    pub(crate) fn stats(&self) -> &Arc<SinkStats> {
        &self.stats
    }

    /// The rotation a reloaded config asks for; applies from the next write.
    pub(crate) fn set_rotation(&self, rotation: Option<Rotation>) {
        *self
            .shared
            .rotation
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = rotation;
    }

    /// Waits up to `timeout` until everything queued before the call is written and flushed.
    pub fn flush(&self, timeout: Duration) -> bool {
        self.inbox.ask(Msg::Flush, timeout)
    }

    #[cfg(test)]
    pub(crate) fn pause(&self) -> mpsc::Sender<()> {
        self.inbox.pause(Msg::Pause)
    }
}

enum Out {
    Stdout(io::Stdout),
    Stderr(io::Stderr),
    File(FileOut),
}

impl Out {
    /// Writes whole lines; returns the rotations done.
    fn write(&mut self, data: &[u8], rotation: Option<&Rotation>) -> io::Result<u32> {
        match self {
            // one locked write per chunk: lines of other writers never land inside ours
            Out::Stdout(o) => o.lock().write_all(data).map(|()| 0),
            Out::Stderr(o) => o.lock().write_all(data).map(|()| 0),
            Out::File(f) => f.write(data, rotation),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Out::Stdout(o) => o.flush(),
            Out::Stderr(o) => o.flush(),
            Out::File(f) => f.flush(),
        }
    }
}

fn run(mut out: Out, rx: Receiver<Msg>, stats: &SinkStats, shared: &Shared, sink: &str) {
    let mut dirty = false;
    let mut log = FailureLog { sink, events: 0 };
    loop {
        let msg = if dirty {
            match rx.try_recv() {
                Ok(m) => m,
                Err(TryRecvError::Empty) => {
                    flush(&mut out, stats, &mut log);
                    dirty = false;
                    continue;
                }
                Err(TryRecvError::Disconnected) => break,
            }
        } else {
            match rx.recv() {
                Ok(m) => m,
                Err(_) => break,
            }
        };
        match msg {
            Msg::Lines { bytes, entries } => {
                stats.queue.remove(bytes.len() as u64, entries);
                let rotation = *shared
                    .rotation
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner);
                match out.write(&bytes, rotation.as_ref()) {
                    Ok(rotations) => {
                        stats.written.add(entries);
                        stats.rotations.add(u64::from(rotations));
                    }
                    Err(e) => log.failed(stats, entries, &e),
                }
                dirty = true;
            }
            Msg::Flush(ack) => {
                flush(&mut out, stats, &mut log);
                dirty = false;
                let _ = ack.send(());
            }
            Msg::Close => break,
            #[cfg(test)]
            Msg::Pause(wait) => {
                let _ = wait.recv();
            }
        }
    }
    flush(&mut out, stats, &mut log);
}

fn flush(out: &mut Out, stats: &SinkStats, log: &mut FailureLog<'_>) {
    if let Err(e) = out.flush() {
        // what the buffer held is lost; it was counted as written when buffered
        log.failed(stats, 0, &e);
    }
}

/// Counts failed entries and logs the 1st, 2nd, 4th, 8th … failure.
struct FailureLog<'s> {
    sink: &'s str,
    events: u64,
}

impl FailureLog<'_> {
    fn failed(&mut self, stats: &SinkStats, entries: u64, e: &io::Error) {
        stats.failed.add(entries);
        self.events += 1;
        if self.events.is_power_of_two() {
            tracing::warn!(sink = self.sink, error = %e, failed_entries = stats.failed.get(),
                failures = self.events, "access log: write failed");
        }
    }
}
