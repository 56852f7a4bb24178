//! `mixer policy`: flags and environment in, the policy crate does the rest.

use clap::Args;
use mixer::runtime;
use mixer_attributes::expr::parse_duration;
use mixer_policy::clock::SystemClock;
use mixer_policy::server::{self, Options};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Flags of `mixer policy`; each also reads the environment variable named in `--help`.
#[derive(Debug, Args)]
pub struct PolicyArgs {
    /// Config directory (handler/instance/rule YAML files; a mounted ConfigMap). Without it,
    /// the built-in default is served: no rules, every Check allowed.
    #[arg(long, env = "MIXER_POLICY_CONFIG", value_name = "DIR")]
    config: Option<PathBuf>,
    /// gRPC address for istio.mixer.v1.Mixer/Check (Mixer's port).
    #[arg(long, env = "MIXER_POLICY_GRPC_ADDR", default_value = "127.0.0.1:9091")]
    grpc_addr: SocketAddr,
    /// Self-monitoring address: /metrics, /healthz, /readyz, /version (Mixer's 15014).
    #[arg(
        long,
        env = "MIXER_POLICY_MONITORING_ADDR",
        default_value = "127.0.0.1:15014"
    )]
    monitoring_addr: SocketAddr,
    /// How often the config directory is checked for changes (Go duration).
    #[arg(long, env = "MIXER_POLICY_RELOAD_INTERVAL", default_value = "5s", value_parser = duration)]
    reload_interval: Duration,
    /// Largest Check message accepted, in bytes (Mixer's --maxMessageSize).
    #[arg(long, env = "MIXER_POLICY_MAX_MESSAGE_SIZE", default_value_t = 1024 * 1024)]
    max_message_size: usize,
    /// HTTP/2 streams per connection (Mixer's --maxConcurrentStreams).
    #[arg(
        long,
        env = "MIXER_POLICY_MAX_CONCURRENT_STREAMS",
        default_value_t = 1024
    )]
    max_concurrent_streams: u32,
    /// Check calls processed at once; further calls are shed with UNAVAILABLE (Mixer's
    /// load-shedding answer), which proxies treat per their fail-open policy.
    #[arg(long, env = "MIXER_POLICY_MAX_IN_FLIGHT", default_value_t = 1024)]
    max_in_flight: usize,
    /// Check answers kept in the decision cache (by the shape and values of the attributes
    /// each answer read); 0 turns the cache off. Checks asking for quotas never use it.
    #[arg(
        long,
        env = "MIXER_POLICY_CHECK_CACHE_ENTRIES",
        default_value_t = 10_000
    )]
    check_cache_entries: u64,
    /// Worker threads (0: one per core).
    #[arg(long, env = "MIXER_POLICY_WORKER_THREADS", default_value_t = 0)]
    worker_threads: usize,
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
        .map_err(|e| e.to_string())?
        .to_std()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} must be positive"))
}

pub fn run(args: PolicyArgs) -> Result<(), String> {
    let opts = Options {
        grpc_addr: args.grpc_addr,
        monitoring_addr: args.monitoring_addr,
        config_dir: args.config,
        reload_interval: args.reload_interval,
        max_message_size: args.max_message_size,
        max_concurrent_streams: args.max_concurrent_streams,
        max_in_flight: args.max_in_flight,
        check_cache_entries: args.check_cache_entries,
        clock: Arc::new(SystemClock),
    };
    let rt = runtime::build(args.worker_threads)?;
    rt.block_on(async move {
        let (_, _, run) = server::start(opts, runtime::shutdown_signal())
            .await
            .map_err(|e| e.to_string())?;
        run.await.map_err(|e| e.to_string())
    })
}
