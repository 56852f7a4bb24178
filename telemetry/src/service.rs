//! The `istio.mixer.v1.Mixer/Report` handler: takes the request bytes, runs them through the
//! current [`Pipeline`], maps errors to gRPC statuses as Mixer does (spec §1.10), and counts
//! everything in [`TelemetryMetrics`].

use crate::pipeline::{Pipeline, Scratch};
use crate::self_metrics::{ErrorReason, TelemetryMetrics};
use mixer_attributes::decode::DecodeError;
use mixer_proto::mixer::ReportResponse;
use mixer_proto::server::MixerHandler;
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::Instant;
use tokio::sync::Semaphore;
use tonic::codegen::Bytes;
use tonic::{Code, Request, Response, Status};

/// The Report service; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct TelemetryService {
    pipeline: RwLock<Arc<Pipeline>>,
    pub metrics: Arc<TelemetryMetrics>,
    scratch: Mutex<Vec<Scratch>>,
    /// Bounds the Report calls processed at once; others wait (HTTP/2 flow control then
    /// pushes back on the senders) rather than piling up decoded state.
    in_flight: Semaphore,
}

impl TelemetryService {
    pub fn new(pipeline: Pipeline, metrics: Arc<TelemetryMetrics>, max_in_flight: usize) -> Self {
        metrics.config_generation.set(pipeline.generation);
        TelemetryService {
            pipeline: RwLock::new(Arc::new(pipeline)),
            metrics,
            scratch: Mutex::new(Vec::new()),
            in_flight: Semaphore::new(max_in_flight.max(1)),
        }
    }

    /// The pipeline in service now.
    pub fn pipeline(&self) -> Arc<Pipeline> {
        self.pipeline
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts a new pipeline in service; calls already running finish on the old one. Series of
    /// unchanged metrics carry over (see [`Pipeline::inherit`]).
    pub fn swap(&self, mut next: Pipeline) {
        next.inherit(&self.pipeline());
        self.metrics.config_generation.set(next.generation);
        *self
            .pipeline
            .write()
            .unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
    }

    /// Handles one request's bytes; public so benchmarks and tests can call it without gRPC.
    pub fn report_bytes(&self, request: &[u8]) -> Result<u64, Status> {
        let start = Instant::now();
        let pipeline = self.pipeline();
        let mut scratch = self
            .scratch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
            .unwrap_or_default();
        let result = pipeline.report(request, &mut scratch, &self.metrics);
        self.scratch
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(scratch);
        let result = match result {
            Ok(outcome) => {
                self.metrics.batch_size.observe(outcome.bags as f64);
                Ok(outcome.bags)
            }
            Err(e) => Err(status(&e, &self.metrics)),
        };
        self.metrics
            .report_duration
            .observe(start.elapsed().as_secs_f64());
        self.metrics.report_done(match &result {
            Ok(_) => 0,
            Err(s) => s.code() as i32,
        });
        result
    }
}

/// Mixer's answers (spec §1.10): a dictionary mismatch is INTERNAL with Mixer's wording;
/// any other bad request is INVALID_ARGUMENT "Request could not be processed due to invalid
/// attributes: …", which also makes an Istio proxy fall back to its 111-word dictionary.
fn status(e: &DecodeError, metrics: &TelemetryMetrics) -> Status {
    let code = Code::from_i32(e.grpc_code());
    let reason = if code == Code::Internal {
        ErrorReason::Dictionary
    } else {
        ErrorReason::Decode
    };
    metrics.error(reason, 1);
    Status::new(code, e.status_message())
}

impl MixerHandler for TelemetryService {
    async fn report(&self, request: Request<Bytes>) -> Result<Response<ReportResponse>, Status> {
        // Past --max-in-flight a call waits for a permit (HTTP/2 flow control then pushes back
        // on the sidecars); none is refused. The semaphore is never closed, so this error
        // cannot happen; it is answered as a busy server would be.
        let _permit = self.in_flight.acquire().await.map_err(|_| {
            Status::unavailable("Server is currently overloaded. Please try again.")
        })?;
        self.report_bytes(request.get_ref())?;
        Ok(Response::new(ReportResponse {}))
    }
}
