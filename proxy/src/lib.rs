//! mixer-proxy: the sidecar. An inbound listener in front of the local app and an outbound
//! listener the app uses as its HTTP proxy (`HTTP_PROXY=http://127.0.0.1:15001`), both
//! HTTP/1.1 and HTTP/2 cleartext (prior knowledge, detected by its preface). Every request is
//! described as an Istio attribute bag ([`attrs`]), gets `x-request-id` and B3 headers
//! ([`headers`]), is forwarded — by the native HTTP/1.1 path ([`h1`]) when client and upstream
//! both speak HTTP/1.1, else over hyper and pooled connections ([`forward`], [`body`]) — and
//! its bag is reported in batches to the telemetry service ([`report`]) without ever waiting
//! on it.
//! With a policy service configured, inbound requests are first checked, through Istio's check
//! cache, and denials answered by the proxy ([`check`]).
//! An admin port on loopback serves `/healthz`, `/readyz` and `/metrics` ([`metrics`]).

pub mod access_log;
pub mod attrs;
pub mod body;
pub mod check;
pub mod config;
pub mod forward;
pub mod h1;
pub mod headers;
pub mod metrics;
pub mod ready;
pub mod report;
pub mod upstream;

pub use config::{
    AppProtocol, CheckOptions, Direction, Identity, Options, ReportOptions,
    DEFAULT_APP_POOL_CONNECTIONS,
};
pub use metrics::ProxyMetrics;

use access_log::AccessLog;
use forward::Shared;
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulConnection;
use metrics::DropReason;
use mixer_serving::http::{self, Reply, Routes};
use report::Reporter;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, watch};

/// Why the proxy could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid configuration:\n  {}", .0.join("\n  "))]
    Invalid(Vec<String>),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
}

/// The addresses actually bound (port 0 resolved).
#[derive(Clone, Copy, Debug)]
pub struct Bound {
    pub inbound: SocketAddr,
    pub outbound: SocketAddr,
    pub admin: SocketAddr,
}

/// Binds the listeners and starts serving. Returns the bound addresses, the self-metrics and
/// a future that runs the proxy until `shutdown` resolves, then stops accepting, lets requests
/// in flight finish within `drain_grace`, flushes the reports and returns.
pub async fn start(
    opts: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(Bound, Arc<ProxyMetrics>, impl Future<Output = ()>), StartError> {
    let problems = opts.problems();
    if !problems.is_empty() {
        return Err(StartError::Invalid(problems));
    }
    let send = match &opts.report.telemetry {
        Some(uri) => Some(
            report::grpc_sender(uri, opts.report.rpc_timeout)
                .map_err(|e| StartError::Invalid(vec![e]))?,
        ),
        None => None,
    };
    let inbound = bind(opts.inbound).await?;
    let outbound = bind(opts.outbound).await?;
    let admin = bind(opts.admin).await?;
    let local = |l: &TcpListener, a| l.local_addr().unwrap_or(a);
    let bound = Bound {
        inbound: local(&inbound, opts.inbound),
        outbound: local(&outbound, opts.outbound),
        admin: local(&admin, opts.admin),
    };

    let metrics = Arc::new(ProxyMetrics::default());
    let mut deps = Vec::new();
    if let Some(list) = opts.report.telemetry.as_deref() {
        let replicas = config::endpoints(list).filter_map(ready::authority);
        deps.push(("telemetry", replicas.collect()));
    }
    if let Some(a) = opts.check.policy.as_deref().and_then(ready::authority) {
        if opts.check.fail_closed {
            deps.push(("policy", vec![a]));
        }
    }
    // the listeners are bound (connections queue); /readyz and held outbound requests follow
    // the services the sidecar cannot do without
    let ready = ready::spawn(deps, metrics.clone());
    let (access_log, access_log_task) = match opts.access_log {
        true => {
            let (log, task) = AccessLog::spawn(tokio::io::stdout(), metrics.clone());
            (Some(log), Some(task))
        }
        false => (None, None),
    };
    let (report_stop_tx, report_stop) = watch::channel(false);
    let (reporter, report_done) = match send {
        Some(send) => {
            let (r, done) = report::spawn(&opts.report, send, metrics.clone(), report_stop);
            (r, Some(tokio::spawn(done)))
        }
        None => (Reporter::disabled(metrics.clone()), None),
    };
    let checker = check::Checker::grpc(&opts.check, metrics.clone())
        .map_err(|e| StartError::Invalid(vec![e]))?;
    let shared = Arc::new(
        Shared::new(
            opts.identity.clone(),
            opts.app,
            reporter.clone(),
            metrics.clone(),
            opts.upstream_timeout,
            opts.sampling_percent,
            [bound.inbound, bound.outbound],
        )
        .with_checker(checker)
        .with_app_protocol(opts.app_protocol)
        .with_app_pool(opts.app_pool_connections)
        .with_native_http1(opts.native_http1)
        .with_readiness(ready, opts.outbound_ready_wait)
        .with_access_log(access_log.clone()),
    );
    let (listen_stop_tx, listen_stop) = watch::channel(false);
    let (drain_tx, mut drain_rx) = mpsc::channel::<()>(1);
    let grace = opts.drain_grace;
    let listeners = [
        tokio::spawn(serve(
            inbound,
            Direction::Inbound,
            shared.clone(),
            listen_stop.clone(),
            drain_tx.clone(),
            grace,
        )),
        tokio::spawn(serve(
            outbound,
            Direction::Outbound,
            shared,
            listen_stop,
            drain_tx,
            grace,
        )),
    ];
    let (admin_stop_tx, admin_stop) = watch::channel(false);
    let routes: Arc<dyn Routes> = Arc::new(Admin {
        metrics: metrics.clone(),
        reporter,
    });
    let admin_task = tokio::spawn(http::serve(admin, routes, admin_stop));
    tracing::info!(
        inbound = %bound.inbound,
        outbound = %bound.outbound,
        admin = %bound.admin,
        app = %opts.app,
        telemetry = opts.report.telemetry.as_deref().unwrap_or("off"),
        policy = opts.check.policy.as_deref().unwrap_or("off"),
        fail_closed = opts.check.fail_closed,
        "proxy listening"
    );

    let flush = opts.report.flush_timeout;
    let run_metrics = metrics.clone();
    let run = async move {
        shutdown.await;
        tracing::info!("draining");
        run_metrics.ready.set(0);
        let _ = listen_stop_tx.send(true);
        for l in listeners {
            let _ = l.await;
        }
        // Every connection task holds a sender: `None` once the last one has finished.
        let _ = tokio::time::timeout(grace + Duration::from_secs(1), drain_rx.recv()).await;
        let _ = report_stop_tx.send(true);
        if let Some(done) = report_done {
            let _ = tokio::time::timeout(flush + Duration::from_secs(2), done).await;
            let m = &run_metrics;
            tracing::info!(
                sent = m.reports_sent_bags.get(),
                dropped_queue_full = m.dropped_for(DropReason::QueueFull),
                dropped_buffer_full = m.dropped_for(DropReason::BufferFull),
                dropped_rejected = m.dropped_for(DropReason::Rejected),
                dropped_shutdown = m.dropped_for(DropReason::Shutdown),
                "reports flushed"
            );
        }
        // the connections are gone, and with them every sender of the access log
        if let Some(task) = access_log_task {
            let _ = tokio::time::timeout(Duration::from_secs(1), task).await;
        }
        let _ = admin_stop_tx.send(true);
        let _ = admin_task.await;
        tracing::info!("stopped");
    };
    Ok((bound, metrics, run))
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// Accepts connections until `stop`; each connection finishes gracefully (HTTP/1.1
/// `Connection: close` after the request in flight, HTTP/2 GOAWAY) within `grace`.
async fn serve(
    listener: TcpListener,
    dir: Direction,
    shared: Arc<Shared>,
    mut stop: watch::Receiver<bool>,
    drain: mpsc::Sender<()>,
    grace: Duration,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => break,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, ?dir, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let mut stop = stop.clone();
        let drain = drain.clone();
        tokio::spawn(async move {
            let _drain = drain;
            let http2 = tokio::select! {
                h2 = speaks_http2(&stream) => h2,
                _ = stop.changed() => return,
            };
            if http2 {
                let upstream = Arc::new(forward::ConnUpstream::default());
                let io = TokioIo::new(stream);
                // each stream runs as a task of its own, which is moved as it starts and ends:
                // boxed, the request's future (3.3 KB) moves as a pointer
                let service = service_fn(move |req| {
                    Box::pin(forward::handle(
                        shared.clone(),
                        dir,
                        peer,
                        upstream.clone(),
                        req,
                    ))
                });
                let conn = http2::Builder::new(TokioExecutor::new()).serve_connection(io, service);
                drive(conn, stop, grace, peer).await;
            } else {
                // read by the native path first, when it is on: hyper gets the connection
                // only when the native path hands it over
                let (stream, read) = if shared.native_http1_for(dir) {
                    let native = h1::serve(stream, shared.clone(), dir, peer, stop.clone(), grace);
                    match native.await {
                        h1::Ended::Closed => return,
                        h1::Ended::Elsewhere(stream, read) => (stream, read),
                    }
                } else {
                    (stream, bytes::Bytes::new())
                };
                let io = TokioIo::new(h1::Rewind::new(read, stream));
                // the connection's own upstream connection, kept between its requests
                let upstream = Arc::new(forward::ConnUpstream::default());
                let service = service_fn(move |req| {
                    forward::handle(shared.clone(), dir, peer, upstream.clone(), req)
                });
                let conn = http1::Builder::new().serve_connection(io, service);
                drive(conn, stop, grace, peer).await;
            }
        });
    }
}

/// Runs one downstream connection until it ends, or, once `stop` changes, shuts it down
/// gracefully (HTTP/1.1 `Connection: close` after the request in flight, HTTP/2 GOAWAY)
/// within `grace`.
async fn drive<C: GracefulConnection>(
    conn: C,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
    peer: SocketAddr,
) where
    C::Error: std::fmt::Display,
{
    tokio::pin!(conn);
    tokio::select! {
        r = conn.as_mut() => {
            if let Err(e) = r {
                tracing::debug!(error = %e, %peer, "connection ended with an error");
            }
        }
        _ = stop.changed() => {
            conn.as_mut().graceful_shutdown();
            let _ = tokio::time::timeout(grace, conn).await;
        }
    }
}

/// Whether the client opens with the HTTP/2 connection preface (prior knowledge, as h2c
/// clients and gRPC do), looked at without taking it from the stream: false at the first byte
/// that differs, when the client fails or closes, or when a preface begun is not whole within
/// half a second (HTTP/1.1 then reads those bytes and answers them).
async fn speaks_http2(stream: &TcpStream) -> bool {
    const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut seen = [0u8; 24];
    let mut wait = Duration::from_millis(1);
    let mut waited = Duration::ZERO;
    loop {
        let n = match stream.peek(&mut seen).await {
            Ok(n) => n,
            Err(_) => return false,
        };
        if n == 0 || seen[..n] != PREFACE[..n] {
            return false;
        }
        if n == PREFACE.len() {
            return true;
        }
        // a preface cut short (it comes in one segment from any real client): the peeked
        // bytes keep the socket readable, and a peek cannot see the client close after them,
        // so wait a little, then longer, before looking again, half a second in all
        if waited >= Duration::from_millis(500) {
            return false;
        }
        tokio::time::sleep(wait).await;
        waited += wait;
        wait = (wait * 2).min(Duration::from_millis(100));
    }
}

/// The admin port's answers.
#[derive(Debug)]
struct Admin {
    metrics: Arc<ProxyMetrics>,
    reporter: Reporter,
}

impl Routes for Admin {
    fn get(&self, path: &str) -> Option<Reply> {
        use hyper::StatusCode;
        match path {
            "/healthz" => Some(Reply::text(StatusCode::OK, "ok\n")),
            "/readyz" if self.metrics.ready.get() == 1 => {
                Some(Reply::text(StatusCode::OK, "ready\n"))
            }
            "/readyz" => Some(Reply::text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n")),
            "/metrics" => {
                self.metrics
                    .queue_depth
                    .set(self.reporter.queue_depth() as u64);
                Some(Reply::metrics(self.metrics.render()))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::speaks_http2;
    use tokio::io::AsyncWriteExt;
    use tokio::net::{TcpListener, TcpStream};

    /// What `speaks_http2` says of a connection whose client sends `parts`, one write each.
    async fn detect(parts: &[&'static [u8]]) -> bool {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let first = parts[0];
        let parts = parts.to_vec();
        let client = tokio::spawn(async move {
            let mut c = TcpStream::connect(addr).await.expect("connect");
            for p in parts {
                c.write_all(p).await.expect("write");
                c.flush().await.expect("flush");
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
            // then the client closes
        });
        let (server, _) = listener.accept().await.expect("accept");
        let h2 = speaks_http2(&server).await;
        let mut peeked = [0u8; 3];
        let n = server.peek(&mut peeked).await.expect("peek");
        assert_eq!(&peeked[..n], &first[..n], "nothing taken from the stream");
        client.await.expect("client");
        h2
    }

    #[tokio::test]
    async fn the_http2_preface_is_recognised_whole_or_in_pieces() {
        assert!(detect(&[b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"]).await);
        assert!(detect(&[b"PRI * HTTP/2.", b"0\r\n\r\nSM\r\n\r\n\x00\x00"]).await);
        assert!(!detect(&[b"GET / HTTP/1.1\r\nHost: a\r\n\r\n"]).await);
        assert!(
            !detect(&[b"PRI * HTTP/1.1\r\n\r\n"]).await,
            "differs at byte 9"
        );
        assert!(
            !detect(&[b"PRI * HT"]).await,
            "a client closing mid-preface"
        );
    }
}
