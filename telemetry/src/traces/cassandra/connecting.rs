//! The writer the process's sink uses: [`CassandraWriter::connect`] retried in a background
//! task with backoff (0.5 s doubling to 30 s) until it succeeds, so the telemetry service
//! starts, serves Reports and metrics while Cassandra is unreachable, and never crash-loops
//! on it. Until the first connection, each span write fails at once with
//! [`WriteError::NotConnected`] (nothing sent, so nothing maybe-stored) and the sink retries
//! it like any other failure. Once connected, the driver's pool reconnects by itself after
//! an outage, and re-prepares statements a restarted node forgot.

use super::config::{CassandraConfig, ConfigErrors};
use super::writer::{CassandraWriter, WriteError};
use crate::self_metrics::Counter;
use crate::traces::sink::{Progress, WriteSpans};
use crate::traces::span::Span;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::sync::watch;

const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// The background connection's counters (`mixer_traces_cassandra_*`).
#[derive(Debug, Default)]
pub struct ConnectStats {
    /// Connection attempts that failed.
    pub failures: Counter,
    connected: OnceLock<()>,
}

impl ConnectStats {
    pub fn connected(&self) -> bool {
        self.connected.get().is_some()
    }
}

/// A [`CassandraWriter`] once connected; until then, spans fail as not connected.
#[derive(Debug)]
pub struct ConnectingWriter {
    writer: Arc<OnceLock<CassandraWriter>>,
    stats: Arc<ConnectStats>,
    ready: watch::Receiver<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl ConnectingWriter {
    /// Validates `config` (a bad one is the only error) and starts connecting on the current
    /// runtime.
    pub fn start(config: CassandraConfig) -> Result<ConnectingWriter, ConfigErrors> {
        config.validate()?;
        let writer = Arc::new(OnceLock::new());
        let stats = Arc::new(ConnectStats::default());
        let (ready_tx, ready) = watch::channel(false);
        let task = tokio::spawn(connect_loop(
            config,
            writer.clone(),
            stats.clone(),
            ready_tx,
        ));
        Ok(ConnectingWriter {
            writer,
            stats,
            ready,
            task,
        })
    }

    /// The connected writer, if connected.
    pub fn connected(&self) -> Option<&CassandraWriter> {
        self.writer.get()
    }

    /// Waits until connected (or `timeout`).
    pub async fn wait_connected(&self, timeout: Duration) -> Option<&CassandraWriter> {
        let mut ready = self.ready.clone();
        let _ = tokio::time::timeout(timeout, ready.wait_for(|r| *r)).await;
        self.connected()
    }

    pub fn stats(&self) -> &Arc<ConnectStats> {
        &self.stats
    }
}

impl Drop for ConnectingWriter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl WriteSpans for ConnectingWriter {
    type Error = WriteError;
    async fn write_span(&self, span: &Span, progress: &mut Progress) -> Result<usize, WriteError> {
        match self.writer.get() {
            Some(w) => w.write_span(span, progress).await.map(|r| r.tags_skipped),
            None => Err(WriteError::NotConnected),
        }
    }
}

async fn connect_loop(
    config: CassandraConfig,
    slot: Arc<OnceLock<CassandraWriter>>,
    stats: Arc<ConnectStats>,
    ready: watch::Sender<bool>,
) {
    let mut backoff = FIRST_BACKOFF;
    loop {
        match CassandraWriter::connect(config.clone()).await {
            Ok(w) => {
                let _ = slot.set(w);
                let _ = stats.connected.set(());
                let _ = ready.send(true);
                tracing::info!(contact_points = ?config.contact_points, keyspace = %config.keyspace,
                    failed_attempts = stats.failures.get(), "trace sink: connected to cassandra");
                return;
            }
            Err(e) => {
                stats.failures.inc();
                let n = stats.failures.get();
                if n <= 3 || n.is_power_of_two() {
                    tracing::warn!(error = %e, failed_attempts = n, retry_in = ?backoff,
                        "trace sink: cannot connect to cassandra; spans queue, then drop (counted), until it is reachable");
                }
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
}
