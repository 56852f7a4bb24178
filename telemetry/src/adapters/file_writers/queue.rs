//! The level of a writer's queue, bounded in bytes with a **drop newest** full policy: the
//! producers (Report calls) add a chunk's weight and take it back when it passes the bound,
//! never waiting; the writer thread takes each chunk off once it has it. The items (entries,
//! rows) are counted beside the bytes so that shutdown can tell how many were left unwritten.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Bytes and items waiting for one writer; lives in the writer's counters, so it outlives
/// the writers a reload replaces.
#[derive(Debug, Default)]
pub(crate) struct QueueLevel {
    bytes: AtomicU64,
    items: AtomicU64,
}

impl QueueLevel {
    /// Adds a chunk of `weight` bytes holding `items` items, unless that passes `bound`
    /// bytes: then nothing is added and the caller drops the chunk.
    pub(crate) fn admit(&self, weight: u64, items: u64, bound: u64) -> bool {
        if self.bytes.fetch_add(weight, Relaxed) + weight > bound {
            self.bytes.fetch_sub(weight, Relaxed);
            return false;
        }
        self.items.fetch_add(items, Relaxed);
        true
    }

    /// Takes an admitted chunk off: the thread received it, or it never reached the queue.
    pub(crate) fn remove(&self, weight: u64, items: u64) {
        self.bytes.fetch_sub(weight, Relaxed);
        self.items.fetch_sub(items, Relaxed);
    }

    /// Bytes waiting.
    pub(crate) fn bytes(&self) -> u64 {
        self.bytes.load(Relaxed)
    }

    /// Items left queued at shutdown. Once the writer's threads `stopped` the count is final
    /// and is taken (zeroed, so a later shutdown does not count them again); a thread still
    /// writing keeps counting, so then it is only read.
    pub(crate) fn left_at_shutdown(&self, stopped: bool) -> u64 {
        if stopped {
            self.items.swap(0, Relaxed)
        } else {
            self.items.load(Relaxed)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::QueueLevel;

    #[test]
    fn a_chunk_past_the_bound_is_refused_and_leaves_nothing() {
        let q = QueueLevel::default();
        assert!(q.admit(60, 2, 100));
        assert!(!q.admit(41, 5, 100));
        assert_eq!((q.bytes(), q.left_at_shutdown(false)), (60, 2));
        assert!(q.admit(40, 1, 100), "exactly the bound fits");
        q.remove(60, 2);
        assert_eq!((q.bytes(), q.left_at_shutdown(false)), (40, 1));
    }

    #[test]
    fn shutdown_takes_the_count_only_once_the_threads_stopped() {
        let q = QueueLevel::default();
        assert!(q.admit(10, 3, 100));
        assert_eq!(q.left_at_shutdown(false), 3);
        assert_eq!(
            q.left_at_shutdown(false),
            3,
            "only read while a thread runs"
        );
        assert_eq!(q.left_at_shutdown(true), 3);
        assert_eq!(q.left_at_shutdown(true), 0, "taken once");
    }
}
