//! Policy-side helpers for the check tests: the real policy service started in-process on a
//! free port with a config directory, and a scripted Mixer (Check and Report over the real
//! gRPC service) for what the policy service never sends — route directives — and to read
//! the bags the proxy reports.
//!
//! The scripted Mixer is a fake by necessity: no Mixer policy configuration of this project
//! produces route directives.

#![allow(dead_code)]

use mixer_attributes::decode::{CheckRequestView, ReportRequestView};
use mixer_attributes::{OwnedBag, Value, Vocabulary};
use mixer_policy::clock::ManualClock;
use mixer_policy::server::{self, Options};
use mixer_policy::service::PolicyService;
use mixer_proto::google::rpc::Status;
use mixer_proto::mixer::check_response::PreconditionResult;
use mixer_proto::mixer::header_operation::Operation;
use mixer_proto::mixer::referenced_attributes::{AttributeMatch, Condition};
use mixer_proto::mixer::{
    CheckResponse, HeaderOperation, ReferencedAttributes, ReportResponse, RouteDirective,
};
use mixer_proto::server::{Limits, MixerHandler, MixerServer};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::codegen::Bytes;
use tonic::{Request, Response};

fn local() -> SocketAddr {
    "127.0.0.1:0".parse().expect("address")
}

/// The policy service, serving the documents in `yaml`.
#[derive(Debug)]
pub struct Policy {
    pub grpc: SocketAddr,
    pub service: Arc<PolicyService>,
    /// The config directory, removed on stop.
    dir: PathBuf,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<Result<(), server::StartError>>>,
}

impl Policy {
    pub async fn start(name: &str, yaml: &str) -> Policy {
        let dir: PathBuf =
            std::env::temp_dir().join(format!("mixer-proxy-check-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("config dir");
        std::fs::write(dir.join("policy.yaml"), yaml).expect("config");
        let opts = Options {
            grpc_addr: local(),
            monitoring_addr: local(),
            config_dir: Some(dir.clone()),
            reload_interval: Duration::from_secs(60),
            max_message_size: 1024 * 1024,
            max_concurrent_streams: 1024,
            max_in_flight: 64,
            // the policy service's own cache off: every Check the sidecar sends is answered anew
            check_cache_entries: 0,
            clock: Arc::new(ManualClock::new()),
        };
        let (tx, rx) = oneshot::channel::<()>();
        let (bound, service, run) = server::start(opts, async move {
            let _ = rx.await;
        })
        .await
        .expect("policy starts");
        Policy {
            grpc: bound.grpc,
            service,
            dir,
            stop: Some(tx),
            task: Some(tokio::spawn(run)),
        }
    }

    pub fn uri(&self) -> String {
        format!("http://{}", self.grpc)
    }

    pub async fn stop(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn op(name: &str, value: &str, operation: Operation) -> HeaderOperation {
    HeaderOperation {
        name: name.into(),
        value: value.into(),
        operation: operation as i32,
    }
}

/// Answers every Check with OK and a route directive that depends on `request.path`:
/// `/direct-empty` gets a direct 204, `/direct…` a direct 302 response; anything else gets header edits
/// (`x-user: alice` replaced, `x-drop-me` removed on the request, `x-policy: checked` appended
/// on the response). The answers reference `request.path` only. Records every reported bag.
#[derive(Debug, Default)]
pub struct ScriptedMixer {
    pub checks: AtomicUsize,
    pub reported: Mutex<Vec<OwnedBag>>,
}

impl ScriptedMixer {
    fn answer(&self, path: &str) -> CheckResponse {
        let directive = if path.starts_with("/direct-empty") {
            RouteDirective {
                direct_response_code: 204,
                ..RouteDirective::default()
            }
        } else if path.starts_with("/direct") {
            RouteDirective {
                request_header_operations: vec![],
                response_header_operations: vec![op("location", "/elsewhere", Operation::Replace)],
                direct_response_code: 302,
                direct_response_body: "see /elsewhere".into(),
            }
        } else {
            RouteDirective {
                request_header_operations: vec![
                    op("x-user", "alice", Operation::Replace),
                    op("x-drop-me", "", Operation::Remove),
                ],
                response_header_operations: vec![op("x-policy", "checked", Operation::Append)],
                direct_response_code: 0,
                direct_response_body: String::new(),
            }
        };
        let path_index = mixer_attributes::dictionary::GLOBAL_WORDS
            .iter()
            .position(|w| *w == "request.path")
            .expect("global word") as i32;
        CheckResponse {
            precondition: Some(PreconditionResult {
                status: Some(Status::default()),
                valid_duration: Some(prost_types::Duration {
                    seconds: 60,
                    nanos: 0,
                }),
                valid_use_count: 100,
                referenced_attributes: Some(ReferencedAttributes {
                    words: vec![],
                    attribute_matches: vec![AttributeMatch {
                        name: path_index,
                        condition: Condition::Exact as i32,
                        regex: String::new(),
                        map_key: 0,
                    }],
                }),
                route_directive: Some(directive),
            }),
            quotas: Default::default(),
        }
    }

    /// Waits (bounded) until `n` bags were reported; returns them.
    pub async fn bags(&self, n: usize) -> Vec<OwnedBag> {
        for _ in 0..200 {
            if self.reported.lock().expect("lock").len() >= n {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        self.reported.lock().expect("lock").clone()
    }
}

impl MixerHandler for ScriptedMixer {
    async fn check(
        &self,
        request: Request<Bytes>,
    ) -> Result<Response<CheckResponse>, tonic::Status> {
        self.checks.fetch_add(1, SeqCst);
        let bytes = request.into_inner();
        let view = CheckRequestView::parse(&bytes, Vocabulary::builtin())
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        let path = match view.attributes().get_by_name("request.path") {
            Some(Value::String(p)) => p.to_owned(),
            _ => String::new(),
        };
        Ok(Response::new(self.answer(&path)))
    }

    async fn report(
        &self,
        request: Request<Bytes>,
    ) -> Result<Response<ReportResponse>, tonic::Status> {
        let bytes = request.into_inner();
        let mut view = ReportRequestView::parse(&bytes, Vocabulary::builtin())
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        let mut bags = Vec::new();
        view.for_each_bag(|b| bags.push(b.to_owned_bag()))
            .map_err(|e| tonic::Status::invalid_argument(e.to_string()))?;
        self.reported.lock().expect("lock").extend(bags);
        Ok(Response::new(ReportResponse::default()))
    }
}

/// Serves `mixer` on a free port until the returned sender is dropped or fired.
pub async fn serve(mixer: Arc<ScriptedMixer>) -> (SocketAddr, oneshot::Sender<()>) {
    let listener = TcpListener::bind(local()).await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (tx, rx) = oneshot::channel::<()>();
    tokio::spawn(
        mixer_proto::server::transport(64).serve_with_incoming_shutdown(
            MixerServer::new(mixer, Limits::default()),
            mixer_proto::server::incoming(listener),
            async move {
                let _ = rx.await;
            },
        ),
    );
    (addr, tx)
}
