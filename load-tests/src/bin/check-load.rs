//! `check-load`: a gRPC Check load generator. Builds a pool of Istio-like inbound
//! `CheckRequest`s once, replays them (`--mode cached`: the decision cache can answer every
//! Check after warm-up; `--mode uncached`: every Check is unique and asks for a quota) at a
//! target rate or as fast as the server answers, stops by itself, and prints one JSON line on
//! stdout and a summary on stderr. Fails when a call fails or is denied: the benchmark's
//! config allows all of its traffic, so either means the run measured something else.

use clap::Parser;
use mixer_load_tests::bags::BagShape;
use mixer_load_tests::check::{CheckCalls, CheckMode, CheckTraffic};
use mixer_load_tests::duration::parse_duration;
use mixer_load_tests::load::{run, LoadConfig, Stop};
use mixer_load_tests::summary::{human, json, RunInfo};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "check-load",
    about = "gRPC istio.mixer.v1 Check load generator"
)]
struct Args {
    /// Server `host:port`; repeat or comma-separate for several (round-robin).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:9091")]
    target: Vec<String>,
    /// `cached`: a pool replayed, every Check a decision-cache hit after warm-up;
    /// `uncached`: every Check differs in the request path (read by the rbac rule) and asks
    /// for a quota.
    #[arg(long, value_enum, default_value_t = CheckMode::Cached)]
    mode: CheckMode,
    /// Quota to ask one unit of with each Check (uncached mode; default `requestcount`,
    /// `none` for no quota: the Checks then go through the cache and miss).
    #[arg(long)]
    quota: Option<String>,
    /// Calls in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// HTTP/2 connections (at least one per target).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Checks per second, paced open-loop; 0 = as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// How long to measure (after the warm-up), e.g. 10s.
    #[arg(long, value_parser = parse_duration, default_value = "10s", conflicts_with = "requests")]
    duration: Duration,
    /// Measure this many Checks instead of a duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Load before measuring, e.g. 2s (fills the decision cache in cached mode).
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    warmup: Duration,
    /// Per-call deadline.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    timeout: Duration,
    /// Distinct requests encoded up front and replayed.
    #[arg(long, default_value_t = 64)]
    pool: usize,
    /// Distinct (source, destination) workload pairs.
    #[arg(long, default_value_t = 20)]
    workloads: usize,
    /// Distinct request paths per destination.
    #[arg(long, default_value_t = 10)]
    paths: usize,
    /// Seed of the traffic generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Runtime worker threads (0 = one per available CPU).
    #[arg(long, default_value_t = 0)]
    worker_threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let quota = match (args.mode, args.quota.as_deref()) {
        (_, Some("none" | "")) => None,
        (CheckMode::Uncached, None) => Some("requestcount".to_owned()),
        (_, q) => q.map(str::to_owned),
    };
    let traffic = CheckTraffic {
        shape: BagShape {
            workloads: args.workloads.max(1),
            paths: args.paths.max(1),
            start_seconds: now.as_secs() as i64,
            seed: args.seed,
            ..BagShape::default()
        },
        pool: args.pool.max(1),
        mode: args.mode,
        quota: quota.clone(),
        // the wall clock in ns grows faster than any run makes calls: no run repeats a request
        // of an earlier one against the same server
        token_base: now.as_nanos() as u64,
    };
    let calls = match CheckCalls::new(traffic) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("check-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mode = match args.mode {
        CheckMode::Cached => "cached",
        CheckMode::Uncached => "uncached",
    };
    let info = RunInfo {
        tool: "check-load",
        extra: vec![
            ("mode", format!("\"{mode}\"")),
            (
                "quota",
                quota.map_or("null".into(), |q| format!("\"{}\"", q.escape_default())),
            ),
        ],
        targets: args.target.clone(),
        connections: args.connections.max(args.target.len()),
        concurrency: args.concurrency.max(1),
        rate: args.rate.max(0.0),
        bags_per_request: 1,
        pool: args.pool.max(1),
        bytes_per_request: calls.bytes_per_request(),
        attributes_per_bag: calls.attributes_per_bag(),
    };
    let config = LoadConfig {
        targets: args.target,
        connections: info.connections,
        concurrency: info.concurrency,
        rate: info.rate,
        warmup: args.warmup,
        stop: args
            .requests
            .map_or(Stop::After(args.duration), Stop::Requests),
        timeout: args.timeout,
    };

    let rt = match mixer_load_tests::runtime(args.worker_threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("check-load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(&config, calls)) {
        Ok(report) => {
            println!("{}", json(&report, &info));
            eprintln!("{}", human(&report, &info));
            if report.requests == 0 || report.error_count() > 0 || report.denied > 0 {
                eprintln!(
                    "check-load: FAILED: {} answered, {} denied, {} failed — the benchmark config \
                     allows all of this traffic",
                    report.requests,
                    report.denied,
                    report.error_count()
                );
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("check-load: {e}");
            ExitCode::FAILURE
        }
    }
}
