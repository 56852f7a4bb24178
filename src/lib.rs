//! What the two binaries share: `mixer` (every subcommand) and `mixer-proxy` (the sidecar
//! alone, for the sidecar container: it maps only the proxy's code, ~3 MB less resident
//! memory per pod than `mixer proxy`; see load-tests/RESULTS.md).

pub mod allocator;
pub mod proxy_cmd;
pub mod runtime;

/// Logs to stderr; `RUST_LOG` filters (default `info`).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
}
