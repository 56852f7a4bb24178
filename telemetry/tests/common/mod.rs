//! Helpers shared by the telemetry integration tests: start the service in-process on free
//! ports, send Reports over real gRPC, read HTTP endpoints.

#![allow(dead_code)]

use mixer_attributes::encode::ReportBatch;
use mixer_attributes::{Duration, OwnedBag, OwnedValue, Timestamp};
use mixer_proto::mixer::ReportResponse;
use mixer_proto::raw_codec::PreEncodedCodec;
use mixer_telemetry::server::{self, Bound, Options};
use mixer_telemetry::service::TelemetryService;
use mixer_telemetry::traces::TraceOptions;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::Bytes;
use tonic::transport::Channel;

#[derive(Debug)]
pub struct Running {
    pub bound: Bound,
    pub service: Arc<TelemetryService>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), server::StartError>>>,
}

impl Running {
    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            t.await.expect("server task").expect("clean shutdown");
        }
    }
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

pub async fn start(config_dir: Option<PathBuf>, reload: std::time::Duration) -> Running {
    start_with(config_dir, reload, TraceOptions::default()).await
}

/// [`start`] with the given trace sink options; the traces query API on a free port.
pub async fn start_with(
    config_dir: Option<PathBuf>,
    reload: std::time::Duration,
    traces: TraceOptions,
) -> Running {
    let opts = Options {
        grpc_addr: local(),
        metrics_addr: local(),
        monitoring_addr: local(),
        config_dir,
        reload_interval: reload,
        max_message_size: 1024 * 1024,
        max_concurrent_streams: 1024,
        max_in_flight: 16,
        traces,
        query_addr: Some(local()),
        logs: Default::default(),
    };
    let (tx, rx) = oneshot::channel::<()>();
    let (bound, service, run) = server::start(opts, async move {
        let _ = rx.await;
    })
    .await
    .expect("telemetry starts");
    let task = tokio::spawn(run);
    Running {
        bound,
        service,
        stop: Some(tx),
        task: Some(task),
    }
}

/// Sends one pre-encoded ReportRequest.
pub async fn report(addr: SocketAddr, bytes: Vec<u8>) -> Result<ReportResponse, tonic::Status> {
    let channel = Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    grpc.unary(
        tonic::Request::new(Bytes::from(bytes)),
        PathAndQuery::from_static(mixer_proto::REPORT_PATH),
        PreEncodedCodec::<ReportResponse>::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

/// GET `path` over HTTP/1.0; returns (status code, body).
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    try_get(addr, path)
        .await
        .unwrap_or_else(|e| panic!("GET http://{addr}{path}: {e}"))
}

/// [`get`], with connection errors returned (a server still starting).
pub async fn try_get(addr: SocketAddr, path: &str) -> std::io::Result<(u16, String)> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await?;
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    Ok((status, body.to_owned()))
}

fn s(v: &str) -> OwnedValue {
    OwnedValue::String(v.to_owned())
}

/// An inbound HTTP request from `src` to `dst` as an Istio sidecar reports it.
pub fn http_bag(src: &str, dst: &str, code: i64, duration_ms: i64) -> OwnedBag {
    let labels = |app: &str| {
        OwnedValue::StringMap(vec![
            ("app".into(), app.into()),
            ("version".into(), "v1".into()),
        ])
    };
    [
        ("context.reporter.kind", s("inbound")),
        ("context.protocol", s("http")),
        ("source.workload.name", s(src)),
        ("source.workload.namespace", s("default")),
        (
            "source.principal",
            s(&format!("cluster.local/ns/default/sa/{src}")),
        ),
        ("source.labels", labels(src)),
        ("destination.workload.name", s(dst)),
        ("destination.workload.namespace", s("default")),
        ("destination.namespace", s("default")),
        ("destination.labels", labels(dst)),
        (
            "destination.service.host",
            s(&format!("{dst}.default.svc.cluster.local")),
        ),
        ("destination.service.name", s(dst)),
        ("destination.service.namespace", s("default")),
        ("request.host", s(dst)),
        ("request.method", s("GET")),
        ("request.useragent", s("curl/8.5")),
        ("request.size", OwnedValue::Int64(0)),
        ("response.size", OwnedValue::Int64(120)),
        ("response.code", OwnedValue::Int64(code)),
        (
            "request.time",
            OwnedValue::Timestamp(Timestamp {
                seconds: 1_790_000_000,
                nanos: 0,
            }),
        ),
        (
            "response.duration",
            OwnedValue::Duration(Duration {
                seconds: 0,
                nanos: (duration_ms * 1_000_000) as i32,
            }),
        ),
        ("connection.mtls", OwnedValue::Bool(true)),
    ]
    .into_iter()
    .collect()
}

/// A ReportRequest of `bags`, encoded as an Istio 1.1+ proxy does.
pub fn batch(bags: &[OwnedBag]) -> Vec<u8> {
    let mut b = ReportBatch::new();
    for bag in bags {
        b.push(bag.iter());
    }
    b.finish()
}

/// The value of the first sample line starting with `prefix` and containing every `needle`.
pub fn sample(exposition: &str, prefix: &str, needles: &[&str]) -> Option<f64> {
    exposition
        .lines()
        .filter(|l| l.starts_with(prefix) && needles.iter().all(|n| l.contains(n)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}
