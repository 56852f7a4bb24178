//! The load loop: makes unary gRPC calls whose bodies are encoded beforehand ([`Calls`]: a
//! pool of `ReportRequest`s, `CheckRequest`s, …) over tonic `Channel`s (one HTTP/2 connection
//! each) with a fixed number of calls in flight, either as fast as the server answers or paced
//! open-loop at a fixed rate, and measures what it got.
//!
//! Open-loop pacing: call `n` is due at `start + n / rate`. A call whose worker was still busy
//! at its due time (every worker waiting on the server) is charged from that due time, so a
//! server that stalls is charged for the calls it delayed (no coordinated omission). A call
//! whose worker was idle and waiting is charged from when it was actually sent: the timer
//! fires up to 1 ms late (tokio's resolution), and that lag is the generator's, not the
//! server's; it is reported apart ([`LoadReport::schedule_lag`]). To send on time, a worker
//! sleeps until 1 ms before its call is due and then yields to the runtime until the due
//! time (a busy wait for that last millisecond): with the timer alone, calls left in bursts
//! at each millisecond tick (5 at once at 5,000/s), and the burst queued at the server and
//! in the generator, which put the generator's own tick on the measured p99. At full speed
//! latency is measured from the actual send.

use crate::cpu::cpu_seconds;
use crate::histogram::Histogram;
use bytes::Bytes;
use mixer_proto::mixer::ReportResponse;
use mixer_proto::raw_codec::PreEncodedCodec;
use prost::Message;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

/// How a server answered a call that succeeded as an RPC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Answer {
    Ok,
    /// The call was answered, with a refusal (a Check's non-OK precondition, a quota not
    /// granted).
    Denied,
}

/// What a run sends: one gRPC method, a body for each call, and how its answers read.
pub trait Calls: Send + Sync + 'static {
    type Response: Message + Default + Send + 'static;
    /// The gRPC method path, e.g. [`mixer_proto::REPORT_PATH`].
    const PATH: &'static str;

    /// The body of call number `n` (cheap: bodies are encoded before the run).
    fn body(&self, n: u64) -> Bytes;
    /// Distinct bodies the calls cycle through; 0 makes the run fail with
    /// [`LoadError::EmptyPool`].
    fn pool_size(&self) -> usize;
    /// Attribute bags each call carries (a Report's batch; 1 for a Check).
    fn bags_per_call(&self) -> u64;
    /// How the server answered.
    fn answer(&self, response: &Self::Response) -> Answer;
}

/// `Report` calls replaying a pool of encoded requests of `bags_per_request` bags each.
#[derive(Debug)]
pub struct ReportCalls {
    pub pool: Vec<Bytes>,
    pub bags_per_request: usize,
}

impl Calls for ReportCalls {
    type Response = ReportResponse;
    const PATH: &'static str = mixer_proto::REPORT_PATH;

    fn body(&self, n: u64) -> Bytes {
        self.pool[n as usize % self.pool.len()].clone()
    }

    fn pool_size(&self) -> usize {
        self.pool.len()
    }

    fn bags_per_call(&self) -> u64 {
        self.bags_per_request as u64
    }

    fn answer(&self, _: &ReportResponse) -> Answer {
        Answer::Ok
    }
}

/// When the measured phase ends.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Stop {
    After(Duration),
    Requests(u64),
}

#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// `host:port` endpoints; calls go round-robin over the connections, and connections
    /// round-robin over the endpoints.
    pub targets: Vec<String>,
    pub connections: usize,
    pub concurrency: usize,
    /// Calls per second; 0 = as fast as possible.
    pub rate: f64,
    pub warmup: Duration,
    pub stop: Stop,
    pub timeout: Duration,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("target {target}: {source}")]
    Connect {
        target: String,
        source: tonic::transport::Error,
    },
    #[error("no target to send to")]
    NoTarget,
    #[error("the request pool is empty")]
    EmptyPool,
}

/// What a run measured (the warm-up excluded, except in `bags_total`).
#[derive(Debug)]
pub struct LoadReport {
    /// Calls answered (OK or denied).
    pub requests: u64,
    /// Of those, answered with a refusal ([`Answer::Denied`]).
    pub denied: u64,
    pub bags: u64,
    /// Bags the server acknowledged including the warm-up (to divide server CPU time by).
    pub bags_total: u64,
    /// Failed calls by gRPC code name.
    pub errors: BTreeMap<String, u64>,
    pub elapsed: Duration,
    /// Latency of answered calls, nanoseconds.
    pub latency: Histogram,
    /// Paced runs: how late each call was sent after its due time, nanoseconds (the timer's
    /// resolution, or a generator short of CPU or of idle workers).
    pub schedule_lag: Histogram,
    pub cpu_seconds: f64,
}

impl LoadReport {
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn bags_per_second(&self) -> f64 {
        self.bags as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Opens `connections` HTTP/2 connections, round-robin over `targets` (at least one each).
pub async fn connect(targets: &[String], connections: usize) -> Result<Vec<Channel>, LoadError> {
    if targets.is_empty() {
        return Err(LoadError::NoTarget);
    }
    let mut channels = Vec::new();
    for k in 0..connections.max(targets.len()) {
        let target = &targets[k % targets.len()];
        let uri = if target.contains("://") {
            target.clone()
        } else {
            format!("http://{target}")
        };
        let err = |source| LoadError::Connect {
            target: target.clone(),
            source,
        };
        let channel = Endpoint::from_shared(uri)
            .map_err(err)?
            .tcp_nodelay(true)
            .connect()
            .await
            .map_err(err)?;
        channels.push(channel);
    }
    Ok(channels)
}

/// Shared by the workers of one run.
struct Plan<C> {
    channels: Vec<Channel>,
    calls: C,
    rate: f64,
    timeout: Duration,
    start: Instant,
    measure_start: Instant,
    stop: Stop,
    /// Next call number (for pacing, request choice and connection choice).
    next: AtomicU64,
    /// Measured calls started (for `Stop::Requests`).
    measured: AtomicU64,
}

#[derive(Default)]
struct WorkerStats {
    requests: u64,
    denied: u64,
    warmup_requests: u64,
    errors: BTreeMap<String, u64>,
    latency: Histogram,
    schedule_lag: Histogram,
}

impl<C> Plan<C> {
    /// The next call's number and due time, or `None` once the run is over.
    fn next_call(&self) -> Option<(u64, Instant, bool)> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let due = if self.rate > 0.0 {
            self.start + Duration::from_secs_f64(n as f64 / self.rate)
        } else {
            Instant::now()
        };
        let measured = due >= self.measure_start;
        if measured {
            match self.stop {
                Stop::After(d) if due >= self.measure_start + d => return None,
                Stop::Requests(max) if self.measured.fetch_add(1, Ordering::Relaxed) >= max => {
                    return None
                }
                _ => {}
            }
        }
        Some((n, due, measured))
    }
}

async fn worker<C: Calls>(plan: Arc<Plan<C>>) -> WorkerStats {
    let mut stats = WorkerStats::default();
    let path = PathAndQuery::from_static(C::PATH);
    while let Some((n, due, measured)) = plan.next_call() {
        // where this call's latency is counted from (see the module docs)
        let from = if plan.rate > 0.0 {
            let idle = Instant::now() < due;
            wait_until(due).await;
            let sent = Instant::now();
            if measured {
                stats.schedule_lag.record((sent - due).as_nanos() as u64);
            }
            if idle {
                sent
            } else {
                due
            }
        } else {
            due
        };
        let channel = plan.channels[n as usize % plan.channels.len()].clone();
        let mut request = Request::new(plan.calls.body(n));
        request.set_timeout(plan.timeout);
        let mut grpc = tonic::client::Grpc::new(channel);
        let result = match grpc.ready().await {
            Ok(()) => grpc
                .unary(
                    request,
                    path.clone(),
                    PreEncodedCodec::<C::Response>::default(),
                )
                .await
                .map(|r| plan.calls.answer(r.get_ref())),
            Err(e) => Err(Status::unavailable(e.to_string())),
        };
        let latency = from.elapsed();
        match result {
            Ok(answer) if measured => {
                stats.requests += 1;
                stats.denied += u64::from(answer == Answer::Denied);
                stats.latency.record(latency.as_nanos() as u64);
            }
            Ok(_) => stats.warmup_requests += 1,
            Err(status) if measured => {
                *stats
                    .errors
                    .entry(format!("{:?}", status.code()))
                    .or_insert(0) += 1;
            }
            Err(_) => {}
        }
    }
    stats
}

/// Returns at `due`: the timer for all but the last millisecond (its resolution), then
/// yielding to the other tasks until the time has come.
async fn wait_until(due: Instant) {
    const TICK: Duration = Duration::from_millis(1);
    if let Some(coarse) = due.checked_sub(TICK) {
        if Instant::now() < coarse {
            tokio::time::sleep_until(coarse).await;
        }
    }
    while Instant::now() < due {
        tokio::task::yield_now().await;
    }
}

/// Makes `calls` against already-open `channels` and reports what it measured.
pub async fn run_on<C: Calls>(
    config: &LoadConfig,
    channels: Vec<Channel>,
    calls: C,
) -> Result<LoadReport, LoadError> {
    if channels.is_empty() {
        return Err(LoadError::NoTarget);
    }
    if calls.pool_size() == 0 {
        return Err(LoadError::EmptyPool);
    }
    let bags_per_call = calls.bags_per_call();
    let start = Instant::now();
    let plan = Arc::new(Plan {
        channels,
        calls,
        rate: config.rate,
        timeout: config.timeout,
        start,
        measure_start: start + config.warmup,
        stop: config.stop,
        next: AtomicU64::new(0),
        measured: AtomicU64::new(0),
    });
    let workers: Vec<_> = (0..config.concurrency.max(1))
        .map(|_| tokio::spawn(worker(plan.clone())))
        .collect();

    tokio::time::sleep_until(plan.measure_start).await;
    let cpu_start = cpu_seconds(None);
    let mut total = WorkerStats::default();
    for w in workers {
        // a worker only ends by returning; a panic there is a bug worth seeing
        let stats = w
            .await
            .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
        total.requests += stats.requests;
        total.denied += stats.denied;
        total.warmup_requests += stats.warmup_requests;
        total.latency.merge(&stats.latency);
        total.schedule_lag.merge(&stats.schedule_lag);
        for (code, n) in stats.errors {
            *total.errors.entry(code).or_insert(0) += n;
        }
    }
    let elapsed = plan.measure_start.elapsed();
    let cpu = match (cpu_start, cpu_seconds(None)) {
        (Some(a), Some(b)) => b - a,
        _ => 0.0,
    };
    Ok(LoadReport {
        requests: total.requests,
        denied: total.denied,
        bags: total.requests * bags_per_call,
        bags_total: (total.requests + total.warmup_requests) * bags_per_call,
        errors: total.errors,
        elapsed,
        latency: total.latency,
        schedule_lag: total.schedule_lag,
        cpu_seconds: cpu,
    })
}

/// Connects to `config.targets` and makes `calls`.
pub async fn run<C: Calls>(config: &LoadConfig, calls: C) -> Result<LoadReport, LoadError> {
    let channels = connect(&config.targets, config.connections).await?;
    run_on(config, channels, calls).await
}
