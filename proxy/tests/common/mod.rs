//! Helpers for the proxy integration tests: a tiny "ok" app that records what it received, the
//! telemetry service and the proxy started in-process on free loopback ports, and a raw
//! HTTP/1.1 client (so the tests control the request line and hop-by-hop headers exactly).

#![allow(dead_code)]

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::HeaderMap;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use mixer_proxy::{
    AppProtocol, Bound, CheckOptions, Identity, Options, ProxyMetrics, ReportOptions,
};
use mixer_telemetry::server::{self, Options as TelemetryOptions};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

/// The app behind the proxy: answers 200 "ok" with an end-to-end header and a hop-by-hop
/// one, and records every request's headers and path.
#[derive(Debug)]
pub struct App {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<(String, HeaderMap)>>>,
    task: tokio::task::JoinHandle<()>,
}

impl App {
    pub async fn start() -> App {
        let listener = TcpListener::bind(local()).await.expect("bind app");
        let addr = listener.local_addr().expect("app addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let record = record.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let record = record.clone();
                        async move {
                            let path = req
                                .uri()
                                .path_and_query()
                                .map_or("/".to_owned(), |p| p.to_string());
                            let slow = path.starts_with("/slow");
                            record
                                .lock()
                                .expect("lock")
                                .push((path, req.headers().clone()));
                            if slow {
                                tokio::time::sleep(Duration::from_millis(300)).await;
                            }
                            let resp = Response::builder()
                                .header("x-app", "yes")
                                .header("connection", "x-app-hop")
                                .header("x-app-hop", "secret")
                                .body(Full::new(Bytes::from_static(b"ok")))
                                .expect("response");
                            Ok::<_, Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        App { addr, seen, task }
    }

    pub fn count(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }

    pub fn last(&self) -> (String, HeaderMap) {
        self.seen
            .lock()
            .expect("lock")
            .last()
            .cloned()
            .expect("the app saw a request")
    }
}

impl Drop for App {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The telemetry service with the standard config.
#[derive(Debug)]
pub struct Telemetry {
    pub grpc: SocketAddr,
    pub metrics: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), server::StartError>>>,
}

impl Telemetry {
    pub async fn start() -> Telemetry {
        let opts = TelemetryOptions {
            grpc_addr: local(),
            metrics_addr: local(),
            monitoring_addr: local(),
            config_dir: None,
            reload_interval: Duration::from_secs(60),
            max_message_size: 1024 * 1024,
            max_concurrent_streams: 1024,
            max_in_flight: 16,
            traces: Default::default(),
            query_addr: None,
            logs: Default::default(),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let (bound, _, run) = server::start(opts, async move {
            let _ = rx.await;
        })
        .await
        .expect("telemetry starts");
        Telemetry {
            grpc: bound.grpc,
            metrics: bound.metrics,
            stop: Some(tx),
            task: Some(tokio::spawn(run)),
        }
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }

    /// Waits (bounded) until an `istio_requests_total` sample with every needle reaches
    /// `want`; returns the last value seen.
    pub async fn requests_total(&self, needles: &[&str], want: f64) -> Option<f64> {
        let mut last = None;
        for _ in 0..200 {
            let (_, _, body) = get(self.metrics, "/metrics").await;
            last = sample(&body, "istio_requests_total{", needles);
            if last.is_some_and(|v| v >= want) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        last
    }
}

/// The proxy, stopped by [`Proxy::stop`].
#[derive(Debug)]
pub struct Proxy {
    pub bound: Bound,
    pub metrics: Arc<ProxyMetrics>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

pub fn options(app: SocketAddr, telemetry: Option<SocketAddr>, workload: &str) -> Options {
    Options {
        inbound: local(),
        outbound: local(),
        admin: local(),
        app,
        identity: Identity {
            workload: workload.to_owned(),
            namespace: "default".to_owned(),
            labels: vec![(
                "app".into(),
                workload.split('-').next().unwrap_or(workload).into(),
            )],
            principal: Some(format!("cluster.local/ns/default/sa/{workload}")),
            uid: None,
            ip: None,
            service: None,
        },
        upstream_timeout: Duration::from_secs(5),
        sampling_percent: 1.0,
        drain_grace: Duration::from_secs(5),
        outbound_ready_wait: Duration::from_secs(5),
        access_log: false,
        app_protocol: AppProtocol::Auto,
        app_pool_connections: mixer_proxy::DEFAULT_APP_POOL_CONNECTIONS,
        native_http1: true,
        report: ReportOptions {
            telemetry: telemetry.map(|a| format!("http://{a}")),
            batch_max_time: Duration::from_millis(100),
            ..ReportOptions::default()
        },
        check: CheckOptions::default(),
    }
}

impl Proxy {
    pub async fn start(opts: Options) -> Proxy {
        let (tx, rx) = oneshot::channel::<()>();
        let (bound, metrics, run) = mixer_proxy::start(opts, async move {
            let _ = rx.await;
        })
        .await
        .expect("proxy starts");
        Proxy {
            bound,
            metrics,
            stop: Some(tx),
            task: Some(tokio::spawn(run)),
        }
    }

    /// Begins shutdown and waits for the drain and the report flush.
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("proxy task");
        }
    }
}

/// A parsed HTTP/1.x response.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    /// Lower-case names.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Answer {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Sends `head` (request line and headers, without the final blank line) and reads the
/// answer until the server closes (the request should say `Connection: close`).
pub async fn send(addr: SocketAddr, head: &str) -> Answer {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("{head}\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut buf))
        .await
        .expect("answer within 20 s")
        .expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

/// GET `path` over HTTP/1.0; returns (status, headers, body).
pub async fn get(addr: SocketAddr, path: &str) -> (u16, Vec<(String, String)>, String) {
    let a = send(addr, &format!("GET {path} HTTP/1.0\r\nHost: {addr}")).await;
    (a.status, a.headers, a.body)
}

/// The value of the first sample line starting with `prefix` and containing every `needle`.
pub fn sample(exposition: &str, prefix: &str, needles: &[&str]) -> Option<f64> {
    exposition
        .lines()
        .filter(|l| l.starts_with(prefix) && needles.iter().all(|n| l.contains(n)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}

/// A loopback port nothing listens on.
pub async fn closed_port() -> SocketAddr {
    let l = TcpListener::bind(local()).await.expect("bind");
    let addr = l.local_addr().expect("addr");
    drop(l);
    addr
}

/// A listener that accepts connections and never answers; counts what it accepted. Stops
/// with the returned task.
pub async fn silent_upstream() -> (
    SocketAddr,
    Arc<std::sync::atomic::AtomicUsize>,
    tokio::task::JoinHandle<()>,
) {
    let l = TcpListener::bind(local()).await.expect("bind");
    let addr = l.local_addr().expect("addr");
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            held.push(s);
        }
    });
    (addr, accepted, task)
}

/// An h2c (prior knowledge) connection to `addr`, driven in the background: clone the sender
/// for each stream.
pub async fn h2c<B>(addr: SocketAddr) -> hyper::client::conn::http2::SendRequest<B>
where
    B: hyper::body::Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = tokio::net::TcpStream::connect(addr).await.expect("connect");
    let (send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        TokioIo::new(stream),
    )
    .await
    .expect("h2c handshake");
    tokio::spawn(conn);
    send
}
