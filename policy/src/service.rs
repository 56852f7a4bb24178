//! The `istio.mixer.v1.Mixer/Check` handler: takes the request bytes, answers them with the
//! current [`Engine`] through the [`DecisionCache`] at the service clock's time, maps errors to
//! gRPC statuses as Mixer does (spec §1.10), and counts everything in [`PolicyMetrics`].

use crate::cache::{DecisionCache, Scope};
use crate::clock::Clock;
use crate::engine::{CheckError, Engine};
use crate::self_metrics::{CheckOutcome, PolicyMetrics};
use mixer_proto::mixer::CheckResponse;
use mixer_proto::server::MixerHandler;
use mixer_proto::CheckAnswer;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Instant;
use tokio::sync::{Semaphore, SemaphorePermit};
use tonic::codegen::Bytes;
use tonic::{Code, Request, Response, Status};

/// The Check service; cheap to share behind an `Arc`.
#[derive(Debug)]
pub struct PolicyService {
    /// The engine in service and the decision-cache epoch its answers are stored under,
    /// swapped together so an answer of one config is never served under another.
    current: RwLock<(Arc<Engine>, u64)>,
    pub cache: DecisionCache,
    pub metrics: Arc<PolicyMetrics>,
    pub clock: Arc<dyn Clock>,
    /// Bounds the Check calls processed at once; callers beyond it are told to retry
    /// (UNAVAILABLE, Mixer's load-shedding answer) rather than queued without bound.
    in_flight: Semaphore,
}

impl PolicyService {
    /// A service answering with `engine`, caching at most `cache_entries` decisions (0: no
    /// cache).
    pub fn new(
        engine: Engine,
        metrics: Arc<PolicyMetrics>,
        clock: Arc<dyn Clock>,
        max_in_flight: usize,
        cache_entries: u64,
    ) -> Self {
        metrics.config_generation.set(engine.generation);
        let cache = DecisionCache::new(cache_entries);
        let epoch = cache.reset();
        PolicyService {
            current: RwLock::new((Arc::new(engine), epoch)),
            cache,
            metrics,
            clock,
            in_flight: Semaphore::new(max_in_flight.max(1)),
        }
    }

    /// The engine in service now.
    pub fn engine(&self) -> Arc<Engine> {
        self.current().0
    }

    fn current(&self) -> (Arc<Engine>, u64) {
        self.current
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// Puts a new engine in service and empties the decision cache; calls already running
    /// finish on the old one (and whatever they store is under the old epoch, never served).
    pub fn swap(&self, next: Engine) {
        self.metrics.config_generation.set(next.generation);
        let mut current = self.current.write().unwrap_or_else(PoisonError::into_inner);
        let epoch = self.cache.reset();
        *current = (Arc::new(next), epoch);
    }

    /// Try to start one call; `None` when `max_in_flight` calls are running already.
    pub(crate) fn admit(&self) -> Option<SemaphorePermit<'_>> {
        self.in_flight.try_acquire().ok()
    }

    /// Answers one request's bytes; public so benchmarks and tests can call it without gRPC.
    /// Awaits the quota allocations made in Redis (each bounded by its handler's timeout). A
    /// cached answer comes encoded: [`CheckAnswer::into_response`] makes it a message.
    pub async fn check_bytes(&self, request: &[u8]) -> Result<CheckAnswer, Status> {
        let start = Instant::now();
        let (engine, epoch) = self.current();
        let scope = Scope {
            cache: &self.cache,
            epoch,
        };
        let checked = engine.check_cached(request, self.clock.now(), &self.metrics, Some(scope));
        let result = match checked {
            Ok(c) if c.is_complete() => Ok(c.into_answer()),
            Ok(c) => Ok(c.finish(&self.metrics).await),
            Err(e) => Err(e),
        };
        self.metrics
            .check_duration
            .observe(start.elapsed().as_secs_f64());
        let outcome = match &result {
            Ok(r) if r.status_code() != 0 => CheckOutcome::Denied,
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
        self.check_answer(request)
            .await
            .map(|r| r.map(CheckAnswer::into_response))
    }

    /// What the gRPC server calls: a cached answer is sent from its encoded bytes.
    async fn check_answer(&self, request: Request<Bytes>) -> Result<Response<CheckAnswer>, Status> {
        let Some(_permit) = self.admit() else {
            self.metrics.check_done(CheckOutcome::Error);
            return Err(Status::unavailable(
                "Server is currently overloaded. Please try again.",
            ));
        };
        self.check_bytes(request.get_ref()).await.map(Response::new)
    }
}

/// The output of `fut` if it finishes without waiting, else `None`. A Check that allocates no
/// Redis quota never waits, so benchmarks and tests answer it with this instead of timing an
/// async runtime along with it.
pub fn ready_now<F: std::future::Future>(fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    match fut.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}
