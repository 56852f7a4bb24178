//! `check-noop`: the baseline Check server, the ceiling of the gRPC stack itself. Decodes every
//! `CheckRequest` into prost's structs and answers OK (valid 60 s or 10,000 uses, every quota
//! granted); prints its counters when it gets SIGINT or SIGTERM: one JSON line on stdout, a
//! summary on stderr. Same transport settings as `mixer policy`.

use clap::Parser;
use mixer_load_tests::noop::{serve_process, NoopMode};
use std::net::SocketAddr;
use std::process::ExitCode;

#[derive(Debug, Parser)]
#[command(
    name = "check-noop",
    about = "No-op istio.mixer.v1 Check server (the ceiling of the gRPC stack)"
)]
struct Args {
    /// gRPC listen address.
    #[arg(long, default_value = "127.0.0.1:9091")]
    grpc_addr: SocketAddr,
    /// Runtime worker threads (0 = one per available CPU).
    #[arg(long, default_value_t = 0)]
    worker_threads: usize,
}

fn main() -> ExitCode {
    let args = Args::parse();
    serve_process(
        "check-noop",
        args.grpc_addr,
        NoopMode::Prost,
        args.worker_threads,
    )
}
