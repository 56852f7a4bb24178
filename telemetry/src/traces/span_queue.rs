//! The bounded span queue both trace outputs put in front of their worker: the store's
//! ([`super::sink`]) and the OTLP exporter's ([`super::otlp::exporter`]). Producers never
//! wait: [`QueueHandle::submit`] is a `try_send` into a queue of fixed capacity whose full
//! policy is **drop newest**, counted in the output's `dropped_queue_full`; a span offered
//! after shutdown closed the queue is counted in `dropped_shutdown`. The worker takes spans
//! off with a `QueueReceiver`, which also obeys the shutdown signal: an explicit shutdown
//! closes the queue, so the worker drains what is left and ends.

use super::span::Span;
use crate::self_metrics::Counter;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// What `submit` did with a span.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Submit {
    Queued,
    DroppedQueueFull,
    DroppedShutdown,
}

/// An output's counters, which hold those of its queue.
pub trait QueueStats: Default + Send + Sync + 'static {
    fn queue_counters(&self) -> QueueCounters<'_>;
}

/// The counters a queue keeps of what is offered to it.
#[derive(Clone, Copy, Debug)]
pub struct QueueCounters<'s> {
    /// Spans offered to `submit`.
    received: &'s Counter,
    /// Drop-newest: the queue was full.
    dropped_queue_full: &'s Counter,
    /// Offered after the queue was closed.
    dropped_shutdown: &'s Counter,
}

impl<'s> QueueCounters<'s> {
    pub fn new(
        received: &'s Counter,
        dropped_queue_full: &'s Counter,
        dropped_shutdown: &'s Counter,
    ) -> QueueCounters<'s> {
        QueueCounters {
            received,
            dropped_queue_full,
            dropped_shutdown,
        }
    }
}

/// The producers' side of a span queue with counters `S`; cheap to clone.
#[derive(Debug)]
pub struct QueueHandle<S> {
    tx: mpsc::Sender<Span>,
    stats: Arc<S>,
}

impl<S> Clone for QueueHandle<S> {
    fn clone(&self) -> Self {
        QueueHandle {
            tx: self.tx.clone(),
            stats: self.stats.clone(),
        }
    }
}

impl<S: QueueStats> QueueHandle<S> {
    /// Queues `span` without waiting; drops it (counted) when the queue is full or closed.
    pub fn submit(&self, span: Span) -> Submit {
        let counters = self.stats.queue_counters();
        counters.received.inc();
        match self.tx.try_send(span) {
            Ok(()) => Submit::Queued,
            Err(mpsc::error::TrySendError::Full(_)) => {
                counters.dropped_queue_full.inc();
                Submit::DroppedQueueFull
            }
            Err(mpsc::error::TrySendError::Closed(_)) => {
                counters.dropped_shutdown.inc();
                Submit::DroppedShutdown
            }
        }
    }

    /// Spans waiting in the queue.
    pub fn queue_depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }

    pub fn stats(&self) -> &Arc<S> {
        &self.stats
    }

    /// A handle whose queue has no receiver: every span is counted as `dropped_shutdown`.
    pub(crate) fn without_receiver() -> QueueHandle<S> {
        let (tx, _) = mpsc::channel(1);
        QueueHandle {
            tx,
            stats: Arc::default(),
        }
    }
}

/// What the worker waited for.
pub(crate) enum Next {
    Span(Span),
    /// The shutdown signal came (and was obeyed); there may be spans left to drain.
    Closing,
    /// The queue is closed and empty, or every handle is gone.
    End,
}

/// The worker's side of a span queue.
pub(crate) struct QueueReceiver {
    rx: mpsc::Receiver<Span>,
    close: oneshot::Receiver<()>,
    closing: bool,
}

/// A queue of `capacity` spans (at least one) counted in `stats`: its handle, its receiver,
/// and the sender of the shutdown signal, which closes the queue (a dropped one does not).
pub(crate) fn channel<S: QueueStats>(
    capacity: usize,
    stats: Arc<S>,
) -> (QueueHandle<S>, QueueReceiver, oneshot::Sender<()>) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let (close, close_rx) = oneshot::channel();
    let receiver = QueueReceiver {
        rx,
        close: close_rx,
        closing: false,
    };
    (QueueHandle { tx, stats }, receiver, close)
}

impl QueueReceiver {
    /// Waits for a span, the shutdown signal or the end, the signal first when both are
    /// ready. Cancel-safe: nothing is lost if the wait is dropped.
    pub(crate) async fn next(&mut self) -> Next {
        tokio::select! {
            biased;
            c = &mut self.close, if !self.closing => {
                self.closing = true;
                // Only an explicit shutdown closes the queue; a dropped sender does not.
                if c.is_ok() {
                    self.rx.close();
                }
                Next::Closing
            }
            s = self.rx.recv() => s.map_or(Next::End, Next::Span),
        }
    }

    /// The next span; `None` at the end (see [`Next::End`]).
    pub(crate) async fn recv(&mut self) -> Option<Span> {
        loop {
            match self.next().await {
                Next::Span(s) => return Some(s),
                Next::Closing => continue,
                Next::End => return None,
            }
        }
    }

    /// A span already queued, without waiting.
    pub(crate) fn try_recv(&mut self) -> Result<Span, mpsc::error::TryRecvError> {
        self.rx.try_recv()
    }

    /// Whether the shutdown signal came (or its sender was dropped).
    pub(crate) fn closing(&self) -> bool {
        self.closing
    }
}
