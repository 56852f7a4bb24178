//! The Report load generator: replays a pool of pre-encoded `ReportRequest`s over tonic
//! `Channel`s (one HTTP/2 connection each) with a fixed number of calls in flight, either as
//! fast as the server answers or paced open-loop at a fixed rate, and measures what it got.
//!
//! Open-loop pacing: call `n` is due at `start + n / rate`, and its latency is measured from
//! that due time, so a server that stalls is charged for the calls it delayed (no coordinated
//! omission). At full speed latency is measured from the actual send.

use crate::cpu::cpu_seconds;
use crate::histogram::Histogram;
use bytes::Bytes;
use mixer_proto::mixer::ReportResponse;
use mixer_proto::raw_codec::PreEncodedCodec;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

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
    pub requests: u64,
    pub bags: u64,
    /// Bags the server acknowledged including the warm-up (to divide server CPU time by).
    pub bags_total: u64,
    /// Failed calls by gRPC code name.
    pub errors: BTreeMap<String, u64>,
    pub elapsed: Duration,
    /// Latency of successful calls, nanoseconds.
    pub latency: Histogram,
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
struct Plan {
    channels: Vec<Channel>,
    pool: Vec<Bytes>,
    bags_per_request: u64,
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
    warmup_requests: u64,
    errors: BTreeMap<String, u64>,
    latency: Histogram,
}

impl Plan {
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

async fn worker(plan: Arc<Plan>) -> WorkerStats {
    let mut stats = WorkerStats::default();
    let path = PathAndQuery::from_static(mixer_proto::REPORT_PATH);
    while let Some((n, due, measured)) = plan.next_call() {
        if plan.rate > 0.0 {
            tokio::time::sleep_until(due).await;
        }
        let channel = plan.channels[n as usize % plan.channels.len()].clone();
        let body = plan.pool[n as usize % plan.pool.len()].clone();
        let mut request = Request::new(body);
        request.set_timeout(plan.timeout);
        let mut grpc = tonic::client::Grpc::new(channel);
        let result = match grpc.ready().await {
            Ok(()) => grpc
                .unary(
                    request,
                    path.clone(),
                    PreEncodedCodec::<ReportResponse>::default(),
                )
                .await
                .map(drop),
            Err(e) => Err(Status::unavailable(e.to_string())),
        };
        let latency = due.elapsed();
        match result {
            Ok(()) if measured => {
                stats.requests += 1;
                stats.latency.record(latency.as_nanos() as u64);
            }
            Ok(()) => stats.warmup_requests += 1,
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

/// Runs the load against already-open `channels` and reports what it measured.
pub async fn run_on(
    config: &LoadConfig,
    channels: Vec<Channel>,
    pool: Vec<Bytes>,
    bags_per_request: usize,
) -> Result<LoadReport, LoadError> {
    if channels.is_empty() {
        return Err(LoadError::NoTarget);
    }
    if pool.is_empty() {
        return Err(LoadError::EmptyPool);
    }
    let start = Instant::now();
    let plan = Arc::new(Plan {
        channels,
        pool,
        bags_per_request: bags_per_request as u64,
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
        total.warmup_requests += stats.warmup_requests;
        total.latency.merge(&stats.latency);
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
        bags: total.requests * plan.bags_per_request,
        bags_total: (total.requests + total.warmup_requests) * plan.bags_per_request,
        errors: total.errors,
        elapsed,
        latency: total.latency,
        cpu_seconds: cpu,
    })
}

/// Connects to `config.targets` and runs the load.
pub async fn run(
    config: &LoadConfig,
    pool: Vec<Bytes>,
    bags_per_request: usize,
) -> Result<LoadReport, LoadError> {
    let channels = connect(&config.targets, config.connections).await?;
    run_on(config, channels, pool, bags_per_request).await
}
