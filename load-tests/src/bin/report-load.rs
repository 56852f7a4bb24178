//! `report-load`: a gRPC Report load generator. Builds a pool of distinct Istio-like
//! `ReportRequest`s once, replays them at a target rate or as fast as the server answers,
//! stops by itself, and prints one JSON line on stdout and a summary on stderr.

use clap::Parser;
use mixer_load_tests::bags::{parse_codes, request_pool, BagGenerator, BagShape};
use mixer_load_tests::duration::parse_duration;
use mixer_load_tests::load::{run, LoadConfig, ReportCalls, Stop};
use mixer_load_tests::summary::{human, json, RunInfo};
use std::process::ExitCode;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "report-load",
    about = "gRPC istio.mixer.v1 Report load generator"
)]
struct Args {
    /// Server `host:port`; repeat or comma-separate for several (round-robin).
    #[arg(long, value_delimiter = ',', default_value = "127.0.0.1:9091")]
    target: Vec<String>,
    /// Calls in flight.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// HTTP/2 connections (at least one per target).
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Requests per second, paced open-loop; 0 = as fast as possible.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// How long to measure (after the warm-up), e.g. 10s.
    #[arg(long, value_parser = parse_duration, default_value = "10s", conflicts_with = "requests")]
    duration: Duration,
    /// Measure this many requests instead of a duration.
    #[arg(long)]
    requests: Option<u64>,
    /// Load before measuring, e.g. 2s.
    #[arg(long, value_parser = parse_duration, default_value = "2s")]
    warmup: Duration,
    /// Per-call deadline.
    #[arg(long, value_parser = parse_duration, default_value = "10s")]
    timeout: Duration,
    /// Bags per ReportRequest.
    #[arg(long, default_value_t = 100)]
    batch: usize,
    /// Distinct requests encoded up front and replayed.
    #[arg(long, default_value_t = 64)]
    pool: usize,
    /// Distinct (source, destination) workload pairs.
    #[arg(long, default_value_t = 20)]
    workloads: usize,
    /// Distinct request paths per destination.
    #[arg(long, default_value_t = 10)]
    paths: usize,
    /// Response-code mix, CODE:WEIGHT,...
    #[arg(long, value_parser = parse_codes, default_value = "200:95,404:3,503:2")]
    codes: std::vec::Vec<(i64, u32)>,
    /// Median response.duration (log-normal).
    #[arg(long, value_parser = parse_duration, default_value = "8ms")]
    median_duration: Duration,
    /// Seed of the traffic generator.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Percent of bags whose trace is sampled (`x-b3-sampled: 1`, a span each); Istio's
    /// default sampling is 1 %.
    #[arg(long, default_value_t = 1.0)]
    sampled_percent: f64,
    /// Runtime worker threads (0 = one per available CPU).
    #[arg(long, default_value_t = 0)]
    worker_threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let start_seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1_700_000_000, |d| d.as_secs() as i64);
    let shape = BagShape {
        workloads: args.workloads.max(1),
        paths: args.paths.max(1),
        codes: args.codes.clone(),
        median_duration: args.median_duration,
        start_seconds,
        seed: args.seed,
        sampled_percent: args.sampled_percent,
    };
    let batch = args.batch.max(1);
    let attributes_per_bag = BagGenerator::new(shape.clone()).next_bag().len();
    let pool = request_pool(shape, args.pool, batch);
    let bytes_per_request = pool.iter().map(|b| b.len()).sum::<usize>() as f64 / pool.len() as f64;
    let info = RunInfo {
        tool: "report-load",
        extra: Vec::new(),
        targets: args.target.clone(),
        connections: args.connections.max(args.target.len()),
        concurrency: args.concurrency.max(1),
        rate: args.rate.max(0.0),
        bags_per_request: batch,
        pool: pool.len(),
        bytes_per_request,
        attributes_per_bag,
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
            eprintln!("report-load: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let calls = ReportCalls {
        pool,
        bags_per_request: batch,
    };
    match rt.block_on(run(&config, calls)) {
        Ok(report) => {
            println!("{}", json(&report, &info));
            eprintln!("{}", human(&report, &info));
            if report.requests == 0 {
                ExitCode::FAILURE
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(e) => {
            eprintln!("report-load: {e}");
            ExitCode::FAILURE
        }
    }
}
