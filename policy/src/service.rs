//! The `istio.mixer.v1.Mixer/Check` handler: takes the request bytes, answers them with the
//! current [`Engine`] at the service clock's time, maps errors to gRPC statuses as Mixer does
//! (spec §1.10), and counts everything in [`PolicyMetrics`].

use crate::clock::Clock;
use crate::engine::{CheckError, Engine};
use crate::self_metrics::{CheckOutcome, PolicyMetrics};
use mixer_proto::mixer::CheckResponse;
use mixer_proto::server::MixerHandler;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;
use tokio::sync::Semaphore;
use tonic::codegen::Bytes;
use tonic::{Code, Request, Response, Status};

/// The Check service; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct PolicyService {
    engine: RwLock<Arc<Engine>>,
    pub metrics: Arc<PolicyMetrics>,
    pub clock: Arc<dyn Clock>,
    /// Bounds the Check calls processed at once; callers beyond it are told to retry
    /// (UNAVAILABLE, Mixer's load-shedding answer) rather than queued without bound.
    in_flight: Semaphore,
}

impl PolicyService {
    pub fn new(
        engine: Engine,
        metrics: Arc<PolicyMetrics>,
        clock: Arc<dyn Clock>,
        max_in_flight: usize,
    ) -> Self {
        metrics.config_generation.set(engine.generation);
        PolicyService {
            engine: RwLock::new(Arc::new(engine)),
            metrics,
            clock,
            in_flight: Semaphore::new(max_in_flight.max(1)),
        }
    }

    /// The engine in service now.
    pub fn engine(&self) -> Arc<Engine> {
        self.engine
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts a new engine in service; calls already running finish on the old one.
    pub fn swap(&self, next: Engine) {
        self.metrics.config_generation.set(next.generation);
        *self.engine.write().unwrap_or_else(PoisonError::into_inner) = Arc::new(next);
    }

    /// Answers one request's bytes; public so benchmarks and tests can call it without gRPC.
    /// Awaits the quota allocations made in Redis (each bounded by its handler's timeout).
    pub async fn check_bytes(&self, request: &[u8]) -> Result<CheckResponse, Status> {
        let start = Instant::now();
        let checked = self
            .engine()
            .check(request, self.clock.now(), &self.metrics);
        let result = match checked {
            Ok(c) if c.is_complete() => Ok(c.response),
            Ok(c) => Ok(c.finish(&self.metrics).await),
            Err(e) => Err(e),
        };
        self.metrics
            .check_duration
            .observe(start.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(r)
                if r.precondition
                    .as_ref()
                    .and_then(|p| p.status.as_ref())
                    .is_some_and(|s| s.code != 0) =>
            {
                CheckOutcome::Denied
            }
            Ok(_) => CheckOutcome::Ok,
            Err(_) => CheckOutcome::Error,
        };
        self.metrics.check_done(outcome);
        result.map_err(|e| status(&e))
    }
}

/// A failed call: decode errors as Mixer answers them (INTERNAL for a dictionary mismatch,
/// INVALID_ARGUMENT otherwise), INTERNAL for an instance that could not be built.
fn status(e: &CheckError) -> Status {
    if let CheckError::Dispatch(_) = e {
        tracing::warn!(error = %e, "check failed");
    }
    Status::new(Code::from_i32(e.grpc_code()), e.status_message())
}

impl MixerHandler for PolicyService {
    async fn check(&self, request: Request<Bytes>) -> Result<Response<CheckResponse>, Status> {
        let Ok(_permit) = self.in_flight.try_acquire() else {
            self.metrics.check_done(CheckOutcome::Error);
            return Err(Status::unavailable(
                "Server is currently overloaded. Please try again.",
            ));
        };
        self.check_bytes(request.get_ref()).await.map(Response::new)
    }
}
