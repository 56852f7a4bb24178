//! The process's file writers, shared by every config generation: one writer per destination
//! (a key: a stdio destination, a parquet directory and prefix), found again by the handlers
//! of a reloaded config. A writer lives as long as some handler holds it (the registry keeps
//! only a weak reference); its counters and its threads — the current one and any still
//! finishing — stay here, so the counters keep counting if the destination comes back and
//! shutdown can wait for every thread.

use super::QueueLevel;
use crate::self_metrics::Counter;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A writer the registry can close at shutdown.
pub(crate) trait FileWriter {
    type Stats: WriterStats + std::fmt::Debug;
    /// Refuses further items and tells the thread to stop once it has written what was
    /// queued before.
    fn close(&self);
}

/// What shutdown reads and counts in a writer's counters.
pub(crate) trait WriterStats: Default {
    fn queue(&self) -> &QueueLevel;
    /// The counter of items left unwritten at shutdown.
    fn dropped_at_shutdown(&self) -> &Counter;
}

#[derive(Debug)]
struct Slot<K, W: FileWriter> {
    key: K,
    stats: Arc<W::Stats>,
    writer: Weak<W>,
    /// Threads of this destination's writers, the current one and any still finishing.
    threads: Vec<JoinHandle<()>>,
}

/// The writers of one adapter, by destination `K`.
#[derive(Debug)]
pub(crate) struct WriterRegistry<K, W: FileWriter> {
    slots: Mutex<Vec<Slot<K, W>>>,
}

impl<K, W: FileWriter> Default for WriterRegistry<K, W> {
    fn default() -> Self {
        WriterRegistry {
            slots: Mutex::new(Vec::new()),
        }
    }
}

impl<K: Clone + PartialEq, W: FileWriter> WriterRegistry<K, W> {
    fn slots(&self) -> MutexGuard<'_, Vec<Slot<K, W>>> {
        self.slots.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The writer of `key`: the running one, after `reuse` gave it the new config's
    /// settings, or one `start` starts with the destination's counters (an error fails the
    /// config). Both run under the registry's lock.
    pub(crate) fn writer(
        &self,
        key: &K,
        reuse: impl FnOnce(&W),
        start: impl FnOnce(Arc<W::Stats>) -> io::Result<(Arc<W>, JoinHandle<()>)>,
    ) -> io::Result<Arc<W>> {
        let mut slots = self.slots();
        let i = match slots.iter().position(|s| s.key == *key) {
            Some(i) => i,
            None => {
                slots.push(Slot {
                    key: key.clone(),
                    stats: Arc::default(),
                    writer: Weak::new(),
                    threads: Vec::new(),
                });
                slots.len() - 1
            }
        };
        let slot = &mut slots[i];
        slot.threads.retain(|t| !t.is_finished());
        if let Some(w) = slot.writer.upgrade() {
            reuse(&w);
            return Ok(w);
        }
        let (w, thread) = start(slot.stats.clone())?;
        slot.writer = Arc::downgrade(&w);
        slot.threads.push(thread);
        Ok(w)
    }

    /// The counters of the first destination `is` accepts, once some handler has used it.
    pub(crate) fn stats(&self, is: impl Fn(&K) -> bool) -> Option<Arc<W::Stats>> {
        self.slots()
            .iter()
            .find(|s| is(&s.key))
            .map(|s| s.stats.clone())
    }

    /// Every destination's counters, with `label(key)`, in the order first used.
    pub(crate) fn labelled_stats(
        &self,
        label: impl Fn(&K) -> String,
    ) -> Vec<(String, Arc<W::Stats>)> {
        self.slots()
            .iter()
            .map(|s| (label(&s.key), s.stats.clone()))
            .collect()
    }

    /// Whether `done` is true of every running writer, stopping at the first false; called
    /// outside the registry's lock, as it may block.
    pub(crate) fn all_running(&self, done: impl FnMut(&Arc<W>) -> bool) -> bool {
        let writers: Vec<Arc<W>> = self
            .slots()
            .iter()
            .filter_map(|s| s.writer.upgrade())
            .collect();
        writers.iter().all(done)
    }

    /// Destinations with a running writer.
    pub(crate) fn live(&self) -> usize {
        self.slots()
            .iter()
            .filter(|s| s.writer.strong_count() > 0)
            .count()
    }

    /// Closes every writer and waits up to `timeout` for their threads to end; what is still
    /// queued then is counted as dropped at shutdown. Returns that number. Blocks.
    pub(crate) fn shutdown(&self, timeout: Duration) -> u64 {
        let deadline = Instant::now() + timeout;
        let mut threads = Vec::new();
        let mut stats = Vec::new();
        for slot in self.slots().iter_mut() {
            if let Some(w) = slot.writer.upgrade() {
                w.close();
            }
            threads.append(&mut slot.threads);
            stats.push(slot.stats.clone());
        }
        let stopped = join_writers(threads, deadline);
        let mut dropped = 0;
        for s in stats {
            let left = s.queue().left_at_shutdown(stopped);
            s.dropped_at_shutdown().add(left);
            dropped += left;
        }
        dropped
    }
}

/// Waits until `deadline` for writer threads to end and joins those that did; true when all
/// of them did (their queue counts are then final).
fn join_writers(threads: Vec<JoinHandle<()>>, deadline: Instant) -> bool {
    while threads.iter().any(|t| !t.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let finished = threads.iter().all(JoinHandle::is_finished);
    for t in threads.into_iter().filter(|t| t.is_finished()) {
        let _ = t.join();
    }
    finished
}
