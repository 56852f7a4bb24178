//! The baseline server: the same transport as the telemetry and policy services
//! (`mixer_proto::server::MixerServer` under tonic's server, `mixer_proto::server::transport`),
//! and a handler that decodes each request and does nothing else, counting bags. It is the
//! cost floor (the throughput ceiling) a real service is compared against.
//!
//! `Report`:
//! - [`NoopMode::Prost`] decodes into prost's generated `ReportRequest` structs, as a
//!   straightforward server would;
//! - [`NoopMode::Scan`] only walks every field of the wire bytes, building nothing.
//!
//! `Check` (either mode): decodes the `CheckRequest` with prost and answers OK with Mixer's
//! default precondition (valid 60 s or 10,000 uses, nothing referenced) and every quota asked
//! granted in full ([`ok_answer`]).

use bytes::Bytes;
use mixer_attributes::scan::scan_report;
use mixer_attributes::wire::WireError;
use mixer_proto::google::rpc::Status as RpcStatus;
use mixer_proto::mixer::check_response::{PreconditionResult, QuotaResult};
use mixer_proto::mixer::{
    CheckRequest, CheckResponse, ReferencedAttributes, ReportRequest, ReportResponse,
};
use mixer_proto::server::{Limits, MixerHandler, MixerServer};
use prost::Message;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::{Request, Response, Status};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum NoopMode {
    /// `ReportRequest::decode` into prost's structs.
    Prost,
    /// Walk the bytes; build nothing.
    Scan,
}

/// What the server has seen.
#[derive(Debug, Default)]
pub struct NoopCounters {
    pub requests: AtomicU64,
    pub bags: AtomicU64,
    pub bytes: AtomicU64,
    pub errors: AtomicU64,
}

impl NoopCounters {
    /// `{"requests":…,"bags":…,"bytes":…,"errors":…}`
    pub fn json(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        format!(
            "{{\"requests\":{},\"bags\":{},\"bytes\":{},\"errors\":{}}}",
            get(&self.requests),
            get(&self.bags),
            get(&self.bytes),
            get(&self.errors)
        )
    }
}

#[derive(Debug)]
pub struct NoopHandler {
    mode: NoopMode,
    counters: Arc<NoopCounters>,
}

impl NoopHandler {
    pub fn new(mode: NoopMode, counters: Arc<NoopCounters>) -> NoopHandler {
        NoopHandler { mode, counters }
    }

    fn count(&self, bytes: &Bytes) -> Result<u64, String> {
        match self.mode {
            NoopMode::Prost => ReportRequest::decode(&bytes[..])
                .map(|r| r.attributes.len() as u64)
                .map_err(|e| e.to_string()),
            NoopMode::Scan => scan(bytes).map_err(|e| e.to_string()),
        }
    }
}

impl MixerHandler for NoopHandler {
    fn check(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<CheckResponse>, Status>> + Send {
        let bytes = request.into_inner();
        let c = &self.counters;
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let result = match CheckRequest::decode(&bytes[..]) {
            Ok(request) => {
                c.bags.fetch_add(1, Ordering::Relaxed);
                Ok(Response::new(ok_answer(&request)))
            }
            Err(e) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                Err(Status::invalid_argument(format!(
                    "malformed CheckRequest: {e}"
                )))
            }
        };
        std::future::ready(result)
    }

    fn report(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<ReportResponse>, Status>> + Send {
        let bytes = request.into_inner();
        let c = &self.counters;
        c.requests.fetch_add(1, Ordering::Relaxed);
        c.bytes.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let result = match self.count(&bytes) {
            Ok(bags) => {
                c.bags.fetch_add(bags, Ordering::Relaxed);
                Ok(Response::new(ReportResponse {}))
            }
            Err(e) => {
                c.errors.fetch_add(1, Ordering::Relaxed);
                Err(Status::invalid_argument(format!(
                    "malformed ReportRequest: {e}"
                )))
            }
        };
        std::future::ready(result)
    }
}

/// The no-op's answer to a Check: OK, valid for 60 s or 10,000 uses (Mixer's answer when no
/// adapter takes part), nothing referenced, every quota granted in full for 60 s.
pub fn ok_answer(request: &CheckRequest) -> CheckResponse {
    let minute = prost_types::Duration {
        seconds: 60,
        nanos: 0,
    };
    let ok = RpcStatus::default;
    CheckResponse {
        precondition: Some(PreconditionResult {
            status: Some(ok()),
            valid_duration: Some(minute),
            valid_use_count: 10_000,
            referenced_attributes: Some(ReferencedAttributes::default()),
            route_directive: None,
        }),
        quotas: request
            .quotas
            .iter()
            .map(|(name, q)| {
                let answer = QuotaResult {
                    valid_duration: Some(minute),
                    granted_amount: q.amount,
                    referenced_attributes: Some(ReferencedAttributes::default()),
                    status: Some(ok()),
                };
                (name.clone(), answer)
            })
            .collect(),
    }
}

/// Walks every field of a `ReportRequest` without building anything (see
/// [`mixer_attributes::scan`]); returns the number of attribute sets.
pub fn scan(bytes: &[u8]) -> Result<u64, WireError> {
    scan_report(bytes).map(|s| s.sets)
}

/// Serves the no-op handler on `listener` until `shutdown` completes, then drains.
pub async fn serve(
    listener: TcpListener,
    mode: NoopMode,
    counters: Arc<NoopCounters>,
    shutdown: impl Future<Output = ()> + Send,
) -> Result<(), tonic::transport::Error> {
    let handler = Arc::new(NoopHandler::new(mode, counters));
    // the same transport settings as the telemetry service, so only the work differs
    mixer_proto::server::transport(1024)
        .serve_with_incoming_shutdown(
            MixerServer::new(handler, Limits::default()),
            mixer_proto::server::incoming(listener),
            shutdown,
        )
        .await
}

/// The process of a no-op server binary (`report-noop`, `check-noop`): serves on `addr` with
/// `worker_threads` runtime workers until SIGINT or SIGTERM, then prints its counters: one
/// JSON line on stdout, a summary on stderr.
pub fn serve_process(
    name: &str,
    addr: SocketAddr,
    mode: NoopMode,
    worker_threads: usize,
) -> std::process::ExitCode {
    use std::process::ExitCode;
    let rt = match crate::runtime(worker_threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let listener = match TcpListener::bind(addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("{name}: cannot listen on {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let counters = Arc::new(NoopCounters::default());
        eprintln!("{name}: serving Check and Report on {addr} (Report decoded by {mode:?})");
        let served = serve(listener, mode, counters.clone(), shutdown_signal()).await;
        println!("{}", counters.json());
        eprintln!("{name}: stopped; {}", counters.json());
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("{name}: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

/// A no-op server running on the current runtime (for tests and in-process harnesses).
#[derive(Debug)]
pub struct RunningNoop {
    pub addr: SocketAddr,
    pub counters: Arc<NoopCounters>,
    stop: oneshot::Sender<()>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl RunningNoop {
    /// Binds `addr` (port 0 for any) and starts serving.
    pub async fn start(addr: SocketAddr, mode: NoopMode) -> std::io::Result<RunningNoop> {
        let listener = TcpListener::bind(addr).await?;
        let addr = listener.local_addr()?;
        let counters = Arc::new(NoopCounters::default());
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, mode, counters.clone(), async move {
            let _ = stopped.await;
        }));
        Ok(RunningNoop {
            addr,
            counters,
            stop,
            task,
        })
    }

    /// Stops accepting, drains calls in flight, and returns the counters.
    pub async fn stop(self) -> Result<Arc<NoopCounters>, String> {
        let _ = self.stop.send(());
        match self.task.await {
            Ok(Ok(())) => Ok(self.counters),
            Ok(Err(e)) => Err(format!("no-op server: {e}")),
            Err(e) => Err(format!("no-op server task: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bags::{BagGenerator, BagShape};

    #[test]
    fn scan_and_prost_agree_on_the_bag_count() {
        let bytes = Bytes::from(BagGenerator::new(BagShape::default()).next_request(37));
        for mode in [NoopMode::Prost, NoopMode::Scan] {
            let h = NoopHandler::new(mode, Arc::default());
            assert_eq!(h.count(&bytes), Ok(37), "{mode:?}");
            assert!(
                h.count(&Bytes::from_static(&[0x0a, 0xff])).is_err(),
                "{mode:?}"
            );
        }
    }
}
