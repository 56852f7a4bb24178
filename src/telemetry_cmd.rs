//! `mixer telemetry` and `mixer validate`: flags and environment in, the telemetry crate does
//! the rest.

use clap::Args;
use mixer::runtime;
use mixer_attributes::expr::parse_duration;
use mixer_telemetry::adapters::stdio::LogOptions;
use mixer_telemetry::server::{self, Options};
use mixer_telemetry::traces::cassandra::{CassandraConfig, SchemaOptions};
use mixer_telemetry::traces::otlp::{self, OtlpConfig};
use mixer_telemetry::traces::{MemoryOptions, RetryOptions, SinkOptions, TraceOptions};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Flags of `mixer telemetry`; each also reads the environment variable named in `--help`.
#[derive(Debug, Args)]
pub struct TelemetryArgs {
    /// Config directory (handler/instance/rule/attributemanifest YAML files; a mounted
    /// ConfigMap). Without it, Istio's standard telemetry config is served.
    #[arg(long, env = "MIXER_CONFIG", value_name = "DIR")]
    config: Option<PathBuf>,
    /// gRPC address for istio.mixer.v1.Mixer/Report (Mixer's port).
    #[arg(long, env = "MIXER_GRPC_ADDR", default_value = "127.0.0.1:9091")]
    grpc_addr: SocketAddr,
    /// Address of the Prometheus adapter's /metrics (Istio's 42422).
    #[arg(long, env = "MIXER_METRICS_ADDR", default_value = "127.0.0.1:42422")]
    metrics_addr: SocketAddr,
    /// Self-monitoring address: /metrics, /healthz, /readyz, /version (Mixer's 15014).
    #[arg(long, env = "MIXER_MONITORING_ADDR", default_value = "127.0.0.1:15014")]
    monitoring_addr: SocketAddr,
    /// How often the config directory is checked for changes (Go duration). A changed config
    /// is validated whole and swapped in atomically; metrics it leaves unchanged keep their
    /// series; a bad one is logged and the running config stays.
    #[arg(long, env = "MIXER_RELOAD_INTERVAL", default_value = "5s", value_parser = duration)]
    reload_interval: Duration,
    /// Largest Report message accepted, in bytes (Mixer's --maxMessageSize).
    #[arg(long, env = "MIXER_MAX_MESSAGE_SIZE", default_value_t = 1024 * 1024)]
    max_message_size: usize,
    /// HTTP/2 streams per connection (Mixer's --maxConcurrentStreams).
    #[arg(long, env = "MIXER_MAX_CONCURRENT_STREAMS", default_value_t = 1024)]
    max_concurrent_streams: u32,
    /// Report calls processed at once; further calls wait, and HTTP/2 flow control pushes
    /// back on the senders.
    #[arg(long, env = "MIXER_MAX_IN_FLIGHT", default_value_t = 256)]
    max_in_flight: usize,
    /// Worker threads (0: one per core).
    #[arg(long, env = "MIXER_WORKER_THREADS", default_value_t = 0)]
    worker_threads: usize,
    /// Jaeger's query JSON API (/api/services, /api/services/{svc}/operations,
    /// /api/traces/{id}, /api/traces?service=…) over the in-memory span store, on Jaeger
    /// query's port. With --cassandra the store is empty (use jaeger-query on the keyspace);
    /// "off" serves nothing.
    #[arg(long, env = "MIXER_QUERY_ADDR", default_value = "127.0.0.1:16686", value_parser = query_addr)]
    query_addr: QueryAddr,
    /// Write spans to Cassandra in Jaeger's v004 schema (contact points, comma-separated
    /// host:port), so an unmodified jaeger-query and UI read them. Without it spans go to a
    /// bounded in-memory store. The service starts even when Cassandra is unreachable: it
    /// connects in the background, retrying (mixer_traces_cassandra_connected).
    #[arg(
        long,
        env = "MIXER_CASSANDRA",
        value_name = "HOST:PORT,...",
        value_delimiter = ','
    )]
    cassandra: Vec<String>,
    /// Keyspace of Jaeger's tables.
    #[arg(
        long,
        env = "MIXER_CASSANDRA_KEYSPACE",
        default_value = "jaeger_v1_dc1"
    )]
    cassandra_keyspace: String,
    /// Prefer replicas of this datacenter (token-aware routing either way).
    #[arg(long, env = "MIXER_CASSANDRA_LOCAL_DC")]
    cassandra_local_dc: Option<String>,
    /// Create Jaeger's schema (IF NOT EXISTS) at start, as Jaeger's `schema.create: true`,
    /// with NetworkTopologyStrategy in --cassandra-datacenter (empty: SimpleStrategy).
    #[arg(long, env = "MIXER_CASSANDRA_CREATE_SCHEMA")]
    cassandra_create_schema: bool,
    /// Datacenter of the created keyspace's replication.
    #[arg(long, env = "MIXER_CASSANDRA_DATACENTER", default_value = "dc1")]
    cassandra_datacenter: String,
    /// Replication factor of the created keyspace.
    #[arg(long, env = "MIXER_CASSANDRA_REPLICATION_FACTOR", default_value_t = 1)]
    cassandra_replication_factor: u32,
    /// TTL of the created trace tables (Go duration; 0: none).
    #[arg(long, env = "MIXER_CASSANDRA_TRACE_TTL", default_value = "48h", value_parser = ttl)]
    cassandra_trace_ttl: Duration,
    /// Spans waiting for the sink at most; beyond it new spans are dropped and counted
    /// (mixer_traces_spans_dropped_total{reason="queue_full"}).
    #[arg(long, env = "MIXER_TRACES_QUEUE", default_value_t = 10_000)]
    traces_queue: usize,
    /// Span writes in flight at once.
    #[arg(long, env = "MIXER_TRACES_MAX_IN_FLIGHT", default_value_t = 64)]
    traces_max_in_flight: usize,
    /// Tries per span write (Cassandra down or failing): backoff 100ms doubling to 5s
    /// between them, the span holding its in-flight slot while the queue fills; after the
    /// last it is dropped (mixer_traces_spans_dropped_total{reason="write_failed"}). The
    /// default spans about 70s, longer than a Cassandra node takes to restart.
    #[arg(long, env = "MIXER_TRACES_WRITE_ATTEMPTS", default_value_t = 20)]
    traces_write_attempts: u32,
    /// Also export every span over OTLP/gRPC to this receiver (`http://host:port`: an
    /// OpenTelemetry collector, Jaeger v2's OTLP port 4317 …), besides the store. It has its
    /// own bounded queue: a slow or absent receiver loses OTLP spans (counted in
    /// mixer_traces_spans_dropped_total{sink="otlp"}), never stored ones.
    #[arg(long, env = "MIXER_OTLP_ENDPOINT", value_name = "URI")]
    otlp_endpoint: Option<String>,
    /// gRPC metadata sent with every OTLP export, e.g. an API key (repeatable;
    /// comma-separated in the environment variable).
    #[arg(
        long = "otlp-header",
        env = "MIXER_OTLP_HEADERS",
        value_name = "NAME=VALUE",
        value_delimiter = ',',
        value_parser = otlp::config::parse_header
    )]
    otlp_headers: Vec<(String, String)>,
    /// Deadline of one OTLP export call (Go duration). Transient failures (UNAVAILABLE,
    /// RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED …) are retried with backoff, 5 calls at most.
    #[arg(long, env = "MIXER_OTLP_TIMEOUT", default_value = "10s", value_parser = duration)]
    otlp_timeout: Duration,
    /// Spans waiting for OTLP export at most; beyond it new spans are dropped and counted
    /// (mixer_traces_spans_dropped_total{sink="otlp",reason="queue_full"}).
    #[arg(long, env = "MIXER_OTLP_QUEUE", default_value_t = 10_000)]
    otlp_queue: usize,
    /// Traces the in-memory store keeps (the oldest is evicted).
    #[arg(long, env = "MIXER_TRACES_MEMORY_MAX_TRACES", default_value_t = 10_000)]
    traces_memory_max_traces: usize,
    /// Bytes of access-log lines (stdio handlers) waiting for each destination's writer at
    /// most; beyond them new lines are dropped and counted
    /// (mixer_telemetry_accesslog_entries_total{result="dropped"}).
    #[arg(long, env = "MIXER_ACCESS_LOG_QUEUE_BYTES", default_value_t = 16 * 1024 * 1024)]
    access_log_queue_bytes: u64,
}

/// `--query-addr`: an address, or `off`.
#[derive(Debug, Clone, Copy)]
struct QueryAddr(Option<SocketAddr>);

fn query_addr(s: &str) -> Result<QueryAddr, String> {
    if s == "off" {
        return Ok(QueryAddr(None));
    }
    s.parse()
        .map(|a| QueryAddr(Some(a)))
        .map_err(|e| format!("{s:?}: {e}; give host:port or off"))
}

fn ttl(s: &str) -> Result<Duration, String> {
    parse_duration(s)
        .map_err(|e| e.to_string())?
        .to_std()
        .ok_or_else(|| format!("{s:?} must not be negative"))
}

impl TelemetryArgs {
    fn traces(&self) -> Result<TraceOptions, String> {
        let cassandra = if self.cassandra.is_empty() {
            None
        } else {
            let defaults = CassandraConfig::default();
            let config = CassandraConfig {
                contact_points: self.cassandra.clone(),
                keyspace: self.cassandra_keyspace.clone(),
                local_dc: self.cassandra_local_dc.clone(),
                create_schema: self.cassandra_create_schema.then(|| SchemaOptions {
                    datacenter: self.cassandra_datacenter.clone(),
                    replication_factor: self.cassandra_replication_factor,
                    trace_ttl: self.cassandra_trace_ttl,
                    ..SchemaOptions::default()
                }),
                ..defaults
            };
            config.validate().map_err(|e| e.to_string())?;
            Some(config)
        };
        let otlp = match &self.otlp_endpoint {
            None => None,
            Some(endpoint) => {
                let config = OtlpConfig {
                    endpoint: endpoint.clone(),
                    headers: self.otlp_headers.clone(),
                    timeout: self.otlp_timeout,
                    queue_capacity: self.otlp_queue.max(1),
                    ..OtlpConfig::default()
                };
                config.validate().map_err(|e| e.to_string())?;
                Some(config)
            }
        };
        Ok(TraceOptions {
            cassandra,
            otlp,
            queue: SinkOptions {
                queue_capacity: self.traces_queue.max(1),
                max_in_flight: self.traces_max_in_flight.max(1),
                retry: RetryOptions {
                    attempts: self.traces_write_attempts.max(1),
                    ..RetryOptions::default()
                },
            },
            memory: MemoryOptions {
                max_traces: self.traces_memory_max_traces.max(1),
                ..MemoryOptions::default()
            },
        })
    }
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
        .map_err(|e| e.to_string())?
        .to_std()
        .filter(|d| !d.is_zero())
        .ok_or_else(|| format!("{s:?} must be positive"))
}

pub fn run(args: TelemetryArgs) -> Result<(), String> {
    let traces = args.traces()?;
    let opts = Options {
        grpc_addr: args.grpc_addr,
        metrics_addr: args.metrics_addr,
        monitoring_addr: args.monitoring_addr,
        config_dir: args.config,
        reload_interval: args.reload_interval,
        max_message_size: args.max_message_size,
        max_concurrent_streams: args.max_concurrent_streams,
        max_in_flight: args.max_in_flight,
        traces,
        query_addr: args.query_addr.0,
        logs: LogOptions {
            queue_bytes: args.access_log_queue_bytes,
        },
    };
    let rt = runtime::build(args.worker_threads)?;
    rt.block_on(async move {
        let (_, _, run) = server::start(opts, runtime::shutdown_signal())
            .await
            .map_err(|e| e.to_string())?;
        run.await.map_err(|e| e.to_string())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Cli {
        #[command(flatten)]
        args: TelemetryArgs,
    }

    fn traces(args: &[&str]) -> Result<TraceOptions, String> {
        let cli = Cli::try_parse_from(std::iter::once("telemetry").chain(args.iter().copied()))
            .map_err(|e| e.to_string())?;
        cli.args.traces()
    }

    #[test]
    fn otlp_flags_make_the_exporter_config() {
        let t = traces(&[
            "--otlp-endpoint",
            "http://127.0.0.1:4317",
            "--otlp-header",
            "X-Api-Key=s3cret",
            "--otlp-header",
            "tenant=a",
            "--otlp-timeout",
            "3s",
            "--otlp-queue",
            "7",
        ])
        .expect("valid flags");
        let o = t.otlp.expect("export on");
        assert_eq!(o.endpoint, "http://127.0.0.1:4317");
        assert_eq!(
            o.headers,
            [
                ("x-api-key".to_owned(), "s3cret".to_owned()),
                ("tenant".to_owned(), "a".to_owned())
            ]
        );
        assert_eq!(o.timeout, Duration::from_secs(3));
        assert_eq!(o.queue_capacity, 7);
        assert_eq!(o.max_batch, 512);
    }

    #[test]
    fn bad_otlp_flags_are_refused_with_the_reason() {
        let e = traces(&["--otlp-endpoint", "https://collector:4317"]).expect_err("no TLS");
        assert!(e.contains("https is not supported"), "{e}");
        let e = traces(&[
            "--otlp-endpoint",
            "http://c:4317",
            "--otlp-header",
            "novalue",
        ])
        .expect_err("not name=value");
        assert!(e.contains("is not name=value"), "{e}");
        let e = traces(&["--otlp-endpoint", "http://c:4317", "--otlp-timeout", "0s"])
            .expect_err("zero timeout");
        assert!(e.contains("must be positive"), "{e}");
    }
}
