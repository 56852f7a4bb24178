//! `mixer up`: the whole pipeline in one process, on embedded defaults — the telemetry
//! service (Istio's standard metrics, spans in memory behind Jaeger's query API), the policy
//! service (a demo rule, see `policy.yaml`), a demo app and a sidecar in front of it,
//! optionally with traffic. Prints where to look; Ctrl-C (or SIGTERM) stops the sidecar first,
//! so its last reports reach the telemetry service, then the services.
//!
//! Every listener is a flag, so `127.0.0.1:0` everywhere gives free ports (the printed URLs
//! show the ones bound); that is how the end-to-end test runs it.

mod demo_app;

use clap::Args;
use mixer::runtime;
use mixer_policy::clock::SystemClock;
use mixer_proxy::{AppProtocol, CheckOptions, Identity, ReportOptions};
use mixer_telemetry::traces::cassandra::{CassandraConfig, SchemaOptions};
use mixer_telemetry::traces::otlp::OtlpConfig;
use mixer_telemetry::traces::TraceOptions;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// The policy config `mixer up` serves unless given --policy-config.
const DEMO_POLICY: &str = include_str!("policy.yaml");

/// Flags of `mixer up`.
#[derive(Debug, Args)]
pub struct UpArgs {
    /// Requests per second sent through the sidecar to the demo app (0: none; send your own
    /// with curl).
    #[arg(long, default_value_t = 0)]
    traffic: u32,
    /// Percent of new traces the sidecar samples (100 in the demo, so every request shows in
    /// the traces API; Istio's default is 1).
    #[arg(long, default_value_t = 100.0)]
    sampling: f64,
    /// Telemetry config directory instead of Istio's standard one.
    #[arg(long, value_name = "DIR")]
    telemetry_config: Option<PathBuf>,
    /// Policy config directory instead of the demo rule (deny `x-user: mallory`).
    #[arg(long, value_name = "DIR")]
    policy_config: Option<PathBuf>,
    /// Write spans to this Cassandra (host:port, comma-separated) in Jaeger's schema, created
    /// if missing, instead of the in-memory store.
    #[arg(long, value_name = "HOST:PORT,...", value_delimiter = ',')]
    cassandra: Vec<String>,
    /// Also export every span over OTLP/gRPC to this receiver (`http://host:port`: an
    /// OpenTelemetry collector, Jaeger v2's OTLP port 4317 …), as `mixer telemetry
    /// --otlp-endpoint` does (its other OTLP flags at their defaults).
    #[arg(long, value_name = "URI")]
    otlp_endpoint: Option<String>,
    /// The demo app.
    #[arg(long, default_value = "127.0.0.1:8080")]
    app_addr: SocketAddr,
    /// The sidecar's inbound listener, in front of the demo app.
    #[arg(long, default_value = "127.0.0.1:15006")]
    inbound_addr: SocketAddr,
    /// The sidecar's outbound listener (HTTP proxy for the app's own calls).
    #[arg(long, default_value = "127.0.0.1:15001")]
    outbound_addr: SocketAddr,
    /// The sidecar's admin endpoints.
    #[arg(long, default_value = "127.0.0.1:15000")]
    proxy_admin_addr: SocketAddr,
    /// Telemetry's gRPC Report endpoint.
    #[arg(long, default_value = "127.0.0.1:9091")]
    telemetry_addr: SocketAddr,
    /// Istio's metrics (Prometheus scrape target).
    #[arg(long, default_value = "127.0.0.1:42422")]
    metrics_addr: SocketAddr,
    /// Telemetry's own metrics and health.
    #[arg(long, default_value = "127.0.0.1:15014")]
    telemetry_monitoring_addr: SocketAddr,
    /// Jaeger's query API over the in-memory spans.
    #[arg(long, default_value = "127.0.0.1:16686")]
    query_addr: SocketAddr,
    /// Policy's gRPC Check endpoint.
    #[arg(long, default_value = "127.0.0.1:9092")]
    policy_addr: SocketAddr,
    /// Policy's own metrics and health.
    #[arg(long, default_value = "127.0.0.1:15015")]
    policy_monitoring_addr: SocketAddr,
}

/// The demo workload's identity, as a Kubernetes deployment `demo-app` would have it.
const WORKLOAD: &str = "demo-app";
const NAMESPACE: &str = "default";

pub fn run(args: UpArgs) -> Result<(), String> {
    let rt = runtime::build(0)?;
    rt.block_on(up(args, runtime::shutdown_signal()))
}

/// Starts everything, waits for `signal`, stops everything.
async fn up(args: UpArgs, signal: impl Future<Output = ()>) -> Result<(), String> {
    let policy_dir = match &args.policy_config {
        Some(dir) => PolicyDir::Given(dir.clone()),
        None => PolicyDir::demo()?,
    };
    // The sidecar and traffic stop first, the services after (so the last reports land).
    let (stop_edge, edge_stopped) = watch::channel(false);
    let (stop_core, core_stopped) = watch::channel(false);
    let on = |rx: &watch::Receiver<bool>| {
        let mut rx = rx.clone();
        async move {
            let _ = rx.changed().await;
        }
    };

    let telemetry = mixer_telemetry::server::Options {
        grpc_addr: args.telemetry_addr,
        metrics_addr: args.metrics_addr,
        monitoring_addr: args.telemetry_monitoring_addr,
        config_dir: args.telemetry_config.clone(),
        reload_interval: Duration::from_secs(5),
        max_message_size: 1024 * 1024,
        max_concurrent_streams: 1024,
        max_in_flight: 256,
        traces: traces(&args.cassandra, args.otlp_endpoint.as_deref())?,
        // with Cassandra the in-memory store stays empty: jaeger-query reads the keyspace
        query_addr: args.cassandra.is_empty().then_some(args.query_addr),
        logs: Default::default(),
    };
    let (t_bound, _, t_run) = mixer_telemetry::server::start(telemetry, on(&core_stopped))
        .await
        .map_err(|e| format!("telemetry: {e}"))?;
    let t_run = tokio::spawn(t_run);

    let policy = mixer_policy::server::Options {
        grpc_addr: args.policy_addr,
        monitoring_addr: args.policy_monitoring_addr,
        config_dir: Some(policy_dir.path().clone()),
        reload_interval: Duration::from_secs(5),
        max_message_size: 1024 * 1024,
        max_concurrent_streams: 1024,
        max_in_flight: 1024,
        check_cache_entries: 10_000,
        clock: Arc::new(SystemClock),
    };
    let (p_bound, _, p_run) = mixer_policy::server::start(policy, on(&core_stopped))
        .await
        .map_err(|e| format!("policy: {e}"))?;
    let p_run = tokio::spawn(p_run);

    let app = tokio::net::TcpListener::bind(args.app_addr)
        .await
        .map_err(|e| format!("demo app: cannot listen on {}: {e}", args.app_addr))?;
    let app_addr = app.local_addr().unwrap_or(args.app_addr);
    let app_run = tokio::spawn(mixer_serving::http::serve(
        app,
        Arc::new(demo_app::DemoApp),
        core_stopped.clone(),
    ));

    let proxy = mixer_proxy::Options {
        inbound: args.inbound_addr,
        outbound: args.outbound_addr,
        admin: args.proxy_admin_addr,
        app: app_addr,
        app_protocol: AppProtocol::Auto,
        app_pool_connections: mixer_proxy::DEFAULT_APP_POOL_CONNECTIONS,
        native_http1: true,
        identity: Identity {
            workload: WORKLOAD.to_owned(),
            namespace: NAMESPACE.to_owned(),
            labels: vec![
                ("app".to_owned(), WORKLOAD.to_owned()),
                ("version".to_owned(), "v1".to_owned()),
            ],
            principal: Some(format!("cluster.local/ns/{NAMESPACE}/sa/{WORKLOAD}")),
            uid: None,
            ip: Some(app_addr.ip()),
            service: Some(format!("{WORKLOAD}.{NAMESPACE}.svc.cluster.local")),
        },
        upstream_timeout: Duration::from_secs(15),
        sampling_percent: args.sampling,
        drain_grace: Duration::from_secs(5),
        outbound_ready_wait: Duration::from_secs(5),
        access_log: false,
        report: ReportOptions {
            telemetry: Some(format!("http://{}", t_bound.grpc)),
            ..ReportOptions::default()
        },
        check: CheckOptions {
            policy: Some(format!("http://{}", p_bound.grpc)),
            ..CheckOptions::default()
        },
    };
    let (x_bound, _, x_run) = mixer_proxy::start(proxy, on(&edge_stopped))
        .await
        .map_err(|e| format!("sidecar: {e}"))?;
    let x_run = tokio::spawn(x_run);
    let traffic = (args.traffic > 0).then(|| {
        tokio::spawn(demo_app::traffic(
            x_bound.inbound,
            args.traffic,
            edge_stopped.clone(),
        ))
    });

    print_banner(&Banner {
        app: app_addr,
        inbound: x_bound.inbound,
        outbound: x_bound.outbound,
        proxy_admin: x_bound.admin,
        telemetry: t_bound.grpc,
        metrics: t_bound.metrics,
        telemetry_monitoring: t_bound.monitoring,
        query: t_bound.query,
        policy: p_bound.grpc,
        policy_monitoring: p_bound.monitoring,
        policy_config: policy_dir.path().clone(),
        traffic: args.traffic,
    });

    signal.await;
    println!("mixer up: stopping");
    let _ = stop_edge.send(true);
    if let Some(t) = traffic {
        let _ = t.await;
    }
    let _ = x_run.await;
    let _ = stop_core.send(true);
    let _ = app_run.await;
    let telemetry = t_run.await;
    let policy = p_run.await;
    drop(policy_dir);
    match (telemetry, policy) {
        (Ok(Ok(())), Ok(Ok(()))) => {
            println!("mixer up: stopped");
            Ok(())
        }
        (Ok(Err(e)), _) => Err(format!("telemetry: {e}")),
        (_, Ok(Err(e))) => Err(format!("policy: {e}")),
        (Err(e), _) | (_, Err(e)) => Err(format!("a service panicked: {e}")),
    }
}

fn traces(cassandra: &[String], otlp_endpoint: Option<&str>) -> Result<TraceOptions, String> {
    let cassandra = if cassandra.is_empty() {
        None
    } else {
        let config = CassandraConfig {
            contact_points: cassandra.to_vec(),
            create_schema: Some(SchemaOptions::default()),
            ..CassandraConfig::default()
        };
        config.validate().map_err(|e| e.to_string())?;
        Some(config)
    };
    let otlp = match otlp_endpoint {
        None => None,
        Some(endpoint) => {
            let config = OtlpConfig {
                endpoint: endpoint.to_owned(),
                ..OtlpConfig::default()
            };
            config.validate().map_err(|e| e.to_string())?;
            Some(config)
        }
    };
    Ok(TraceOptions {
        cassandra,
        otlp,
        ..TraceOptions::default()
    })
}

/// The policy config directory: the user's, or the demo rule written to a temporary
/// directory that is removed when this is dropped.
#[derive(Debug)]
enum PolicyDir {
    Given(PathBuf),
    Demo(PathBuf),
}

impl PolicyDir {
    fn demo() -> Result<PolicyDir, String> {
        let dir = std::env::temp_dir().join(format!("mixer-up-{}", std::process::id()));
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(dir.join("policy.yaml"), DEMO_POLICY))
            .map_err(|e| format!("cannot write the demo policy to {}: {e}", dir.display()))?;
        Ok(PolicyDir::Demo(dir))
    }

    fn path(&self) -> &PathBuf {
        match self {
            PolicyDir::Given(p) | PolicyDir::Demo(p) => p,
        }
    }
}

impl Drop for PolicyDir {
    fn drop(&mut self) {
        if let PolicyDir::Demo(dir) = self {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

/// What the banner shows.
struct Banner {
    app: SocketAddr,
    inbound: SocketAddr,
    outbound: SocketAddr,
    proxy_admin: SocketAddr,
    telemetry: SocketAddr,
    metrics: SocketAddr,
    telemetry_monitoring: SocketAddr,
    query: Option<SocketAddr>,
    policy: SocketAddr,
    policy_monitoring: SocketAddr,
    policy_config: PathBuf,
    traffic: u32,
}

/// Prints where to look. The `name: url` lines are also what the end-to-end test reads.
fn print_banner(b: &Banner) {
    let (query, try_query) = match b.query {
        Some(q) => {
            let url = format!("http://{q}/api/traces?service={WORKLOAD}");
            let try_it = format!("  curl -s '{url}'\n");
            (url, try_it)
        }
        None => (
            "in Cassandra (keyspace jaeger_v1_dc1): point jaeger-query at it".to_owned(),
            String::new(),
        ),
    };
    let traffic = if b.traffic > 0 {
        format!("{} requests/s through the sidecar", b.traffic)
    } else {
        "none (mixer up --traffic 20 sends some)".to_owned()
    };
    println!(
        "\
mixer up: the pipeline is running; Ctrl-C stops it.

  sidecar:           http://{inbound}/  (inbound, in front of the demo app; send requests here)
  sidecar outbound:  http://{outbound}  (HTTP_PROXY for the app's own calls)
  sidecar admin:     http://{proxy_admin}/metrics
  demo app:          http://{app}/  (workload {WORKLOAD}.{NAMESPACE}, app={WORKLOAD} version=v1)
  istio metrics:     http://{metrics}/metrics
  traces:            {query}
  telemetry:         grpc://{telemetry}  (self-metrics http://{t_mon}/metrics)
  policy:            grpc://{policy}  (self-metrics http://{p_mon}/metrics; rules in {policy_config})
  demo traffic:      {traffic}

Try:
  curl -i http://{inbound}/productpage
  curl -i -H 'x-user: mallory' http://{inbound}/productpage   (the policy denies it: 403)
  curl -s http://{metrics}/metrics | grep '^istio_requests_total'
{try_query}",
        inbound = b.inbound,
        outbound = b.outbound,
        proxy_admin = b.proxy_admin,
        app = b.app,
        metrics = b.metrics,
        telemetry = b.telemetry,
        t_mon = b.telemetry_monitoring,
        policy = b.policy,
        p_mon = b.policy_monitoring,
        policy_config = b.policy_config.display(),
    );
}

#[cfg(test)]
mod tests {
    use super::traces;

    #[test]
    fn otlp_and_cassandra_flags_make_the_trace_options() {
        let none = traces(&[], None).expect("defaults");
        assert!(none.cassandra.is_none() && none.otlp.is_none());
        let otlp = traces(&[], Some("http://127.0.0.1:4317")).expect("an OTLP receiver");
        assert_eq!(
            otlp.otlp.map(|c| c.endpoint).as_deref(),
            Some("http://127.0.0.1:4317")
        );
        assert!(otlp.cassandra.is_none(), "spans still go to memory");
        let both =
            traces(&["127.0.0.1:9042".into()], Some("http://127.0.0.1:4317")).expect("both sinks");
        assert!(both.cassandra.is_some() && both.otlp.is_some());
        let bad = traces(&[], Some("not a uri")).expect_err("a bad endpoint");
        assert!(bad.contains("not a uri"), "{bad}");
    }
}
