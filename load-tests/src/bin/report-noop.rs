//! `report-noop`: the baseline Report server. Decodes every request (prost structs, or only a
//! byte walk with `--mode scan`), counts bags, and prints its counters when it gets SIGINT or
//! SIGTERM: one JSON line on stdout, a summary on stderr. (It answers Check as `check-noop`
//! does.)

use clap::Parser;
use mixer_load_tests::noop::{serve_process, NoopMode};
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "report-noop",
    about = "No-op istio.mixer.v1 Report server (the baseline)"
)]
struct Args {
    /// gRPC listen address.
    #[arg(long, default_value = "127.0.0.1:9091")]
    grpc_addr: SocketAddr,
    /// What to do with each request.
    #[arg(long, value_enum, default_value_t = NoopMode::Prost)]
    mode: NoopMode,
    /// Runtime worker threads (0 = one per available CPU).
    #[arg(long, default_value_t = 0)]
    worker_threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    serve_process(
        "report-noop",
        args.grpc_addr,
        args.mode,
        args.worker_threads,
    )
}
