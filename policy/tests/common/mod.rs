//! Helpers shared by the policy integration tests: start the service in-process on free
//! ports with a hand-moved clock, send Checks over real gRPC, read the answers' referenced
//! attributes the way a proxy does, read HTTP endpoints.

#![allow(dead_code)]

use mixer_attributes::decode::QuotaParams;
use mixer_attributes::dictionary::GLOBAL_WORDS;
use mixer_attributes::encode::encode_check_request;
use mixer_attributes::{OwnedBag, OwnedValue};
use mixer_policy::clock::ManualClock;
use mixer_policy::server::{self, Bound, Options};
use mixer_policy::service::PolicyService;
use mixer_proto::mixer::check_response::PreconditionResult;
use mixer_proto::mixer::referenced_attributes::Condition;
use mixer_proto::mixer::{CheckResponse, ReferencedAttributes};
use mixer_proto::raw_codec::PreEncodedCodec;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::oneshot;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::Bytes;
use tonic::transport::Channel;

#[derive(Debug)]
pub struct Running {
    pub bound: Bound,
    pub service: Arc<PolicyService>,
    pub clock: Arc<ManualClock>,
    channel: Channel,
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

    /// Sends one pre-encoded CheckRequest over gRPC.
    pub async fn check_bytes(&self, bytes: Vec<u8>) -> Result<CheckResponse, tonic::Status> {
        let mut grpc = tonic::client::Grpc::new(self.channel.clone());
        grpc.ready().await.expect("ready");
        grpc.unary(
            tonic::Request::new(Bytes::from(bytes)),
            PathAndQuery::from_static(mixer_proto::CHECK_PATH),
            PreEncodedCodec::<CheckResponse>::default(),
        )
        .await
        .map(tonic::Response::into_inner)
    }

    /// Checks `bag` as an Istio 1.4 proxy sends it (full global dictionary).
    pub async fn check(&self, bag: &OwnedBag) -> CheckResponse {
        self.check_bytes(encode_check_request(bag.iter(), 222, "", &[]))
            .await
            .expect("check answers")
    }

    /// Checks `bag` asking for `quotas`, with dedup id `dedup`.
    pub async fn check_quotas(
        &self,
        bag: &OwnedBag,
        dedup: &str,
        quotas: &[QuotaParams<'_>],
    ) -> CheckResponse {
        self.check_bytes(encode_check_request(bag.iter(), 222, dedup, quotas))
            .await
            .expect("check answers")
    }
}

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

/// Starts the policy service on free ports, serving `config_dir` (or the default).
pub async fn start(config_dir: Option<PathBuf>, reload: Duration) -> Running {
    let clock = Arc::new(ManualClock::new());
    let opts = Options {
        grpc_addr: local(),
        monitoring_addr: local(),
        config_dir,
        reload_interval: reload,
        max_message_size: 1024 * 1024,
        max_concurrent_streams: 1024,
        max_in_flight: 64,
        check_cache_entries: 1000,
        clock: clock.clone(),
    };
    let (tx, rx) = oneshot::channel::<()>();
    let (bound, service, run) = server::start(opts, async move {
        let _ = rx.await;
    })
    .await
    .expect("policy starts");
    let task = tokio::spawn(run);
    let channel = Channel::from_shared(format!("http://{}", bound.grpc))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    Running {
        bound,
        service,
        clock,
        channel,
        stop: Some(tx),
        task: Some(task),
    }
}

/// A fresh temporary directory for one test's config.
pub fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("mixer-policy-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// Writes `text` to `dir/file`.
pub fn write(dir: &Path, file: &str, text: &str) {
    std::fs::write(dir.join(file), text).expect("write config");
}

/// The precondition as (code, message, valid duration, valid use count).
pub fn verdict(r: &CheckResponse) -> (i32, String, Duration, i32) {
    let p: &PreconditionResult = r
        .precondition
        .as_ref()
        .expect("precondition always present");
    let s = p.status.as_ref().expect("status");
    let d = p.valid_duration.expect("valid_duration always present");
    (
        s.code,
        s.message.clone(),
        Duration::new(d.seconds as u64, d.nanos as u32),
        p.valid_use_count,
    )
}

/// The precondition's referenced attributes as `name[key] CONDITION`, sorted, indices
/// resolved as a proxy does (spec §8.3); panics on REGEX, which Mixer never sends.
pub fn referenced(r: &CheckResponse) -> Vec<String> {
    decode_refs(
        r.precondition
            .as_ref()
            .and_then(|p| p.referenced_attributes.as_ref())
            .expect("referenced attributes"),
    )
}

pub fn decode_refs(r: &ReferencedAttributes) -> Vec<String> {
    let word = |i: i32| -> String {
        if i >= 0 {
            GLOBAL_WORDS[i as usize].to_owned()
        } else {
            r.words[(-i - 1) as usize].clone()
        }
    };
    let mut out: Vec<String> = r
        .attribute_matches
        .iter()
        .map(|m| {
            let key = if m.map_key == 0 {
                String::new()
            } else {
                format!("[{}]", word(m.map_key))
            };
            let cond = match Condition::try_from(m.condition) {
                Ok(Condition::Absence) => "ABSENCE",
                Ok(Condition::Exact) => "EXACT",
                other => panic!("condition {other:?} is never sent"),
            };
            format!("{}{key} {cond}", word(m.name))
        })
        .collect();
    out.sort();
    out
}

pub fn s(v: &str) -> OwnedValue {
    OwnedValue::String(v.to_owned())
}

pub fn labels(pairs: &[(&str, &str)]) -> OwnedValue {
    OwnedValue::StringMap(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// An inbound request from `src` (app, version) to `dst` (app, version) in `default`, as an
/// Istio 1.4 sidecar sends it to Check.
pub fn request(src: (&str, &str), dst: (&str, &str)) -> OwnedBag {
    [
        ("context.reporter.kind", s("inbound")),
        (
            "source.labels",
            labels(&[("app", src.0), ("version", src.1)]),
        ),
        ("source.workload.name", s(&format!("{}-{}", src.0, src.1))),
        (
            "destination.labels",
            labels(&[("app", dst.0), ("version", dst.1)]),
        ),
        ("destination.namespace", s("default")),
        ("destination.service.name", s(dst.0)),
        ("request.path", s("/")),
    ]
    .into_iter()
    .collect()
}

/// GET `path` over HTTP/1.0; returns (status code, body).
pub async fn get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    (status, body.to_owned())
}

/// The value of the first sample line starting with `prefix` and containing every `needle`.
pub fn sample(exposition: &str, prefix: &str, needles: &[&str]) -> Option<f64> {
    exposition
        .lines()
        .filter(|l| l.starts_with(prefix) && needles.iter().all(|n| l.contains(n)))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}
