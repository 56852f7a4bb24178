//! `mixer-proxy`: the sidecar on its own, with exactly the flags and environment of
//! `mixer proxy`. The one `mixer` binary holds every service; a sidecar runs in every pod, and
//! this binary maps only the code a sidecar runs.

use clap::Parser;
use mixer::proxy_cmd::{self, ProxyArgs};
use std::process::ExitCode;

/// The same allocator as `mixer` (see src/allocator.rs).
#[global_allocator]
static ALLOCATOR: mixer::allocator::Mimalloc = mixer::allocator::Mimalloc;

/// The sidecar: inbound and outbound HTTP listeners, attribute bags reported in batches to
/// the telemetry service, policy checks through Istio's check cache, x-request-id and B3
/// trace propagation (the same as `mixer proxy`).
#[derive(Debug, Parser)]
#[command(name = "mixer-proxy", version, about, long_about = None)]
struct Cli {
    #[command(flatten)]
    args: ProxyArgs,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    mixer::init_logging();
    match proxy_cmd::run(cli.args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mixer-proxy: {message}");
            ExitCode::FAILURE
        }
    }
}
