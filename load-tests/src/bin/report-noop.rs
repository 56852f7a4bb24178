//! `report-noop`: the baseline Report server. Decodes every request (prost structs, or only a
//! byte walk with `--mode scan`), counts bags, and prints its counters when it gets SIGINT or
//! SIGTERM: one JSON line on stdout, a summary on stderr.

use clap::Parser;
use mixer_load_tests::noop::{serve, NoopCounters, NoopMode};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;

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

fn main() -> ExitCode {
    let args = Args::parse();
    let rt = match mixer_load_tests::runtime(args.worker_threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("report-noop: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async {
        let listener = match tokio::net::TcpListener::bind(args.grpc_addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("report-noop: cannot listen on {}: {e}", args.grpc_addr);
                return ExitCode::FAILURE;
            }
        };
        let counters = Arc::new(NoopCounters::default());
        eprintln!(
            "report-noop: serving Report on {} (mode {:?})",
            args.grpc_addr, args.mode
        );
        let served = serve(listener, args.mode, counters.clone(), shutdown_signal()).await;
        println!("{}", counters.json());
        eprintln!("report-noop: stopped; {}", counters.json());
        match served {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("report-noop: {e}");
                ExitCode::FAILURE
            }
        }
    })
}
