//! The producers' end of a writer thread's channel: the messages the thread takes in order
//! (items, a request to flush or seal, close) and the flag that makes producers refuse items
//! once shutdown closed the writer. The thread answers a request ([`Inbox::ask`]) once it has
//! done everything queued before it.

use std::sync::atomic::{AtomicBool, Ordering::Relaxed};
use std::sync::mpsc::{self, Receiver, Sender, SyncSender};
use std::time::Duration;

/// The channel into one writer thread.
pub(crate) struct Inbox<M> {
    tx: Sender<M>,
    closed: AtomicBool,
}

impl<M> std::fmt::Debug for Inbox<M> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inbox")
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl<M> Inbox<M> {
    /// An inbox and the receiver its thread reads.
    pub(crate) fn new() -> (Inbox<M>, Receiver<M>) {
        let (tx, rx) = mpsc::channel();
        let inbox = Inbox {
            tx,
            closed: AtomicBool::new(false),
        };
        (inbox, rx)
    }

    /// Whether [`Inbox::close`] was called: producers then drop what they offer.
    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Relaxed)
    }

    /// Queues `msg`; false when the thread is gone.
    pub(crate) fn send(&self, msg: M) -> bool {
        self.tx.send(msg).is_ok()
    }

    /// Sends the request `ask` makes around a reply channel and waits up to `timeout` for
    /// the thread's reply.
    pub(crate) fn ask(&self, ask: impl FnOnce(SyncSender<()>) -> M, timeout: Duration) -> bool {
        let (ack, done) = mpsc::sync_channel(1);
        self.send(ask(ack)) && done.recv_timeout(timeout).is_ok()
    }

    /// Refuses further items and sends `close`, the thread's message to stop once it has
    /// written what was queued before.
    pub(crate) fn close(&self, close: M) {
        self.closed.store(true, Relaxed);
        let _ = self.tx.send(close);
    }

    /// Sends the message `pause` makes, which holds the thread until the returned sender is
    /// dropped (tests of a full queue).
    #[cfg(test)]
    pub(crate) fn pause(&self, pause: impl FnOnce(Receiver<()>) -> M) -> Sender<()> {
        let (hold, wait) = mpsc::channel();
        let _ = self.tx.send(pause(wait));
        hold
    }
}
