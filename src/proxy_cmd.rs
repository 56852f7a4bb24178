//! `mixer proxy`: flags and environment in, the proxy crate does the rest. Values are parsed
//! here rather than by clap so that every bad one is reported in one go.

use crate::runtime;
use clap::Args;
use mixer_attributes::expr::parse_duration;
use mixer_proxy::{
    AppProtocol, CheckOptions, Identity, Options, ReportOptions, DEFAULT_APP_POOL_CONNECTIONS,
};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Flags of `mixer proxy`; each also reads the environment variable named in `--help`.
#[derive(Debug, Args)]
pub struct ProxyArgs {
    /// The local app the inbound listener forwards to.
    #[arg(long, env = "MIXER_PROXY_APP", default_value = "127.0.0.1:8080")]
    app: String,
    /// Protocol towards the app: `auto` (the client's own, as Istio sniffs unnamed ports),
    /// `http` (HTTP/1.1 always) or `http2` / `grpc` (h2c always); the app port's Istio name
    /// (`http-web`, `grpc-api`) works too.
    #[arg(long, env = "MIXER_PROXY_APP_PROTOCOL", default_value = "auto")]
    app_protocol: String,
    /// HTTP/1.1 connections to the app that HTTP/2 clients' streams share (each stream needs
    /// one while it runs; beyond, a stream waits for one within --upstream-timeout); 0: no
    /// limit. An HTTP/1.1 client's connection keeps a connection to the app of its own.
    #[arg(long, env = "MIXER_PROXY_APP_POOL_CONNECTIONS", default_value = "32")]
    app_pool_connections: String,
    /// Forward HTTP/1.1 clients with hyper's server and client, and HTTP/2 clients' streams
    /// to an HTTP/1.1 app with hyper's client, instead of the native HTTP/1.1 path (which
    /// hands hyper only HTTP/1.0, `Expect`, `Upgrade` and malformed requests). A way back,
    /// should the native path misbehave.
    #[arg(long, env = "MIXER_PROXY_HYPER_HTTP1")]
    hyper_http1: bool,
    /// Inbound listener (in front of the app; Istio's 15006).
    #[arg(long, env = "MIXER_PROXY_INBOUND", default_value = "127.0.0.1:15006")]
    inbound: String,
    /// Outbound listener: the app's HTTP proxy (`HTTP_PROXY=http://127.0.0.1:15001`).
    #[arg(long, env = "MIXER_PROXY_OUTBOUND", default_value = "127.0.0.1:15001")]
    outbound: String,
    /// Admin endpoints /healthz, /readyz, /metrics (loopback; Envoy's 15000).
    #[arg(long, env = "MIXER_PROXY_ADMIN", default_value = "127.0.0.1:15000")]
    admin: String,
    /// Telemetry service for Reports (`http://host:port`), several comma-separated (one per
    /// replica; Report calls take turns and fail over), or `off`.
    #[arg(long, env = "MIXER_PROXY_TELEMETRY", default_value = "off")]
    telemetry: String,
    /// Policy service for Checks (`http://host:port`), or `off`.
    #[arg(long, env = "MIXER_PROXY_POLICY", default_value = "off")]
    policy: String,
    /// Deny with 503 when the policy service cannot answer (Istio's FAIL_CLOSE); by default
    /// such requests are allowed (FAIL_OPEN) and counted.
    #[arg(long, env = "MIXER_PROXY_POLICY_FAIL_CLOSED")]
    policy_fail_closed: bool,
    /// Deadline of one Check call.
    #[arg(long, env = "MIXER_PROXY_POLICY_TIMEOUT", default_value = "5s")]
    policy_timeout: String,
    /// Retries of a Check call after a transport error (backoff 80 ms → 1 s).
    #[arg(long, env = "MIXER_PROXY_POLICY_RETRIES", default_value = "0")]
    policy_retries: String,
    /// Check cache entries; 0 turns the cache off.
    #[arg(long, env = "MIXER_PROXY_POLICY_CACHE", default_value = "10000")]
    policy_cache: String,
    /// Check calls in flight at most; a request that misses the check cache beyond them
    /// waits (within --policy-timeout), then looks the cache up again.
    #[arg(long, env = "MIXER_PROXY_POLICY_MAX_REQUESTS", default_value = "64")]
    policy_max_requests: String,
    /// Check outbound requests too (Istio's enableClientSidePolicyCheck).
    #[arg(long, env = "MIXER_PROXY_POLICY_OUTBOUND")]
    policy_outbound: bool,
    /// A URL path prefix never checked; repeat the flag (comma-separated in the environment).
    #[arg(
        long = "policy-skip-path",
        env = "MIXER_PROXY_POLICY_SKIP_PATHS",
        value_delimiter = ','
    )]
    policy_skip_paths: Vec<String>,
    /// A quota every checked request asks for, `NAME[=CHARGE]` (charge 1 by default), as
    /// Istio's QuotaSpec gives it (e.g. `requestcountquota` for the memquota or redisquota
    /// rule of that instance); repeat the flag (comma-separated in the environment). A request
    /// whose quota is exhausted is answered 429.
    #[arg(
        long = "policy-quota",
        env = "MIXER_PROXY_POLICY_QUOTAS",
        value_delimiter = ','
    )]
    policy_quotas: Vec<String>,
    /// Quota cache entries: a request whose precondition is cached takes its quotas from
    /// tokens prefetched in the background (Istio's quota cache); 0 turns it off, and every
    /// request with quotas asks the policy service.
    #[arg(long, env = "MIXER_PROXY_POLICY_QUOTA_CACHE", default_value = "10000")]
    policy_quota_cache: String,
    /// Name of the workload this proxy runs beside.
    #[arg(long, env = "MIXER_PROXY_WORKLOAD")]
    workload: Option<String>,
    /// Its namespace.
    #[arg(long, env = "MIXER_PROXY_NAMESPACE")]
    namespace: Option<String>,
    /// A workload label `key=value`; repeat the flag (comma-separated in the environment).
    #[arg(long = "label", env = "MIXER_PROXY_LABELS", value_delimiter = ',')]
    labels: Vec<String>,
    /// The identity the workload runs as (`cluster.local/ns/NS/sa/SA`).
    #[arg(long, env = "MIXER_PROXY_PRINCIPAL")]
    principal: Option<String>,
    /// Platform id of the instance; default `kubernetes://WORKLOAD.NAMESPACE`.
    #[arg(long, env = "MIXER_PROXY_UID")]
    uid: Option<String>,
    /// The service the app serves (`reviews.default.svc.cluster.local`), reported as
    /// destination.service.* of inbound requests.
    #[arg(long, env = "MIXER_PROXY_SERVICE")]
    service: Option<String>,
    /// The instance's IP address, reported as source.ip / destination.ip.
    #[arg(long, env = "MIXER_PROXY_IP")]
    ip: Option<String>,
    /// Time allowed for an upstream's response headers (Go duration); then 504 `UT`.
    #[arg(long, env = "MIXER_PROXY_UPSTREAM_TIMEOUT", default_value = "15s")]
    upstream_timeout: String,
    /// Percent of new traces sampled (`x-b3-sampled` from downstream is honoured).
    #[arg(long, env = "MIXER_PROXY_SAMPLING", default_value = "1")]
    sampling: String,
    /// Time in-flight requests get to finish on SIGTERM.
    #[arg(long, env = "MIXER_PROXY_DRAIN_GRACE", default_value = "5s")]
    drain_grace: String,
    /// How long the app's outbound requests wait for the sidecar to be ready (telemetry, and
    /// policy when failing closed, reachable) before going ahead anyway.
    #[arg(long, env = "MIXER_PROXY_OUTBOUND_READY_WAIT", default_value = "5s")]
    outbound_ready_wait: String,
    /// Write one JSON line per request to stdout (Envoy's access log fields); off by default,
    /// as the seed ran in production: at thousands of requests per second it costs.
    #[arg(long, env = "MIXER_PROXY_ACCESS_LOG")]
    access_log: bool,
    /// Bags per Report call.
    #[arg(
        long,
        env = "MIXER_PROXY_REPORT_BATCH_MAX_ENTRIES",
        default_value = "100"
    )]
    report_batch_max_entries: String,
    /// Longest a bag waits to be batched.
    #[arg(long, env = "MIXER_PROXY_REPORT_BATCH_MAX_TIME", default_value = "1s")]
    report_batch_max_time: String,
    /// Bags queued for the batcher; more are dropped and counted.
    #[arg(long, env = "MIXER_PROXY_REPORT_QUEUE", default_value = "10000")]
    report_queue: String,
    /// Batches held for (re)sending while telemetry is unreachable; more are dropped and counted.
    #[arg(long, env = "MIXER_PROXY_REPORT_BUFFER", default_value = "256")]
    report_buffer: String,
    /// Report calls in flight at once.
    #[arg(long, env = "MIXER_PROXY_REPORT_IN_FLIGHT", default_value = "4")]
    report_in_flight: String,
    /// Worker threads (0: one per core).
    #[arg(long, env = "MIXER_PROXY_WORKER_THREADS", default_value = "0")]
    worker_threads: String,
}

/// Collects parse problems as it goes.
#[derive(Default)]
struct Problems(Vec<String>);

impl Problems {
    fn parse<T: std::str::FromStr>(&mut self, flag: &str, v: &str, example: &str) -> Option<T>
    where
        T::Err: std::fmt::Display,
    {
        v.trim()
            .parse()
            .map_err(|e| {
                self.0
                    .push(format!("--{flag} {v:?}: {e} (e.g. --{flag} {example})"))
            })
            .ok()
    }

    fn duration(&mut self, flag: &str, v: &str) -> Option<Duration> {
        match parse_duration(v).ok().and_then(|d| d.to_std()) {
            Some(d) if !d.is_zero() => Some(d),
            _ => {
                self.0.push(format!(
                    "--{flag} {v:?}: not a positive duration (e.g. --{flag} 1s)"
                ));
                None
            }
        }
    }
}

fn options(args: &ProxyArgs) -> Result<(Options, usize), String> {
    let mut p = Problems::default();
    let addr = "127.0.0.1:15006";
    let app = p.parse::<SocketAddr>("app", &args.app, "127.0.0.1:8080");
    let app_protocol = p.parse::<AppProtocol>("app-protocol", &args.app_protocol, "http");
    let app_pool = p.parse::<usize>("app-pool-connections", &args.app_pool_connections, "32");
    let inbound = p.parse::<SocketAddr>("inbound", &args.inbound, addr);
    let outbound = p.parse::<SocketAddr>("outbound", &args.outbound, "127.0.0.1:15001");
    let admin = p.parse::<SocketAddr>("admin", &args.admin, "127.0.0.1:15000");
    let ip = args
        .ip
        .as_deref()
        .and_then(|v| p.parse::<IpAddr>("ip", v, "10.0.0.7"));
    let mut labels = Vec::new();
    for l in &args.labels {
        match l.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                labels.push((k.trim().to_owned(), v.trim().to_owned()))
            }
            _ => p.0.push(format!(
                "--label {l:?}: not key=value (e.g. --label app=reviews)"
            )),
        }
    }
    let upstream_timeout = p.duration("upstream-timeout", &args.upstream_timeout);
    let drain_grace = p.duration("drain-grace", &args.drain_grace);
    let ready_wait = p.duration("outbound-ready-wait", &args.outbound_ready_wait);
    let batch_time = p.duration("report-batch-max-time", &args.report_batch_max_time);
    let sampling = p.parse::<f64>("sampling", &args.sampling, "1");
    let batch = p.parse::<usize>(
        "report-batch-max-entries",
        &args.report_batch_max_entries,
        "100",
    );
    let queue = p.parse::<usize>("report-queue", &args.report_queue, "10000");
    let buffer = p.parse::<usize>("report-buffer", &args.report_buffer, "256");
    let in_flight = p.parse::<usize>("report-in-flight", &args.report_in_flight, "4");
    let threads = p.parse::<usize>("worker-threads", &args.worker_threads, "2");
    let policy_timeout = p.duration("policy-timeout", &args.policy_timeout);
    let policy_retries = p.parse::<u32>("policy-retries", &args.policy_retries, "2");
    let policy_cache = p.parse::<usize>("policy-cache", &args.policy_cache, "10000");
    let policy_quota_cache =
        p.parse::<usize>("policy-quota-cache", &args.policy_quota_cache, "10000");
    let policy_max_requests =
        p.parse::<usize>("policy-max-requests", &args.policy_max_requests, "64");
    let policy = (args.policy != "off").then(|| args.policy.clone());
    let mut quotas = Vec::new();
    for q in args
        .policy_quotas
        .iter()
        .map(|q| q.trim())
        .filter(|q| !q.is_empty())
    {
        let (name, charge) = match q.split_once('=') {
            Some((name, charge)) => (name.trim(), charge.trim().parse::<i64>().ok()),
            None => (q, Some(1)),
        };
        match charge {
            Some(charge) if charge >= 1 && !name.is_empty() => {
                quotas.push((name.to_owned(), charge))
            }
            _ => p.0.push(format!(
                "--policy-quota {q:?}: not NAME or NAME=CHARGE with a charge of at least 1 (e.g. --policy-quota requestcountquota=1)"
            )),
        }
    }
    let telemetry = (args.telemetry != "off").then(|| args.telemetry.clone());
    if args.workload.is_none() {
        p.0.push("--workload is required (e.g. --workload reviews-v1)".to_owned());
    }
    if args.namespace.is_none() {
        p.0.push("--namespace is required (e.g. --namespace default)".to_owned());
    }
    let defaults = ReportOptions::default();
    let check_defaults = CheckOptions::default();
    let opts = Options {
        inbound: inbound.unwrap_or(([127, 0, 0, 1], 15006).into()),
        outbound: outbound.unwrap_or(([127, 0, 0, 1], 15001).into()),
        admin: admin.unwrap_or(([127, 0, 0, 1], 15000).into()),
        app: app.unwrap_or(([127, 0, 0, 1], 8080).into()),
        app_protocol: app_protocol.unwrap_or_default(),
        app_pool_connections: app_pool.unwrap_or(DEFAULT_APP_POOL_CONNECTIONS),
        native_http1: !args.hyper_http1,
        identity: Identity {
            workload: args.workload.clone().unwrap_or_default(),
            namespace: args.namespace.clone().unwrap_or_default(),
            labels,
            principal: args.principal.clone(),
            uid: args.uid.clone(),
            ip,
            service: args.service.clone(),
        },
        upstream_timeout: upstream_timeout.unwrap_or(Duration::from_secs(15)),
        sampling_percent: sampling.unwrap_or(1.0),
        drain_grace: drain_grace.unwrap_or(Duration::from_secs(5)),
        outbound_ready_wait: ready_wait.unwrap_or(Duration::from_secs(5)),
        access_log: args.access_log,
        report: ReportOptions {
            telemetry,
            queue_capacity: queue.unwrap_or(defaults.queue_capacity),
            batch_max_entries: batch.unwrap_or(defaults.batch_max_entries),
            batch_max_time: batch_time.unwrap_or(defaults.batch_max_time),
            max_pending_batches: buffer.unwrap_or(defaults.max_pending_batches),
            max_in_flight: in_flight.unwrap_or(defaults.max_in_flight).max(1),
            ..defaults
        },
        check: CheckOptions {
            policy,
            fail_closed: args.policy_fail_closed,
            timeout: policy_timeout.unwrap_or(check_defaults.timeout),
            retries: policy_retries.unwrap_or(check_defaults.retries),
            cache_entries: policy_cache.unwrap_or(check_defaults.cache_entries),
            max_requests: policy_max_requests.unwrap_or(check_defaults.max_requests),
            outbound: args.policy_outbound,
            skip_paths: args
                .policy_skip_paths
                .iter()
                .map(|p| p.trim().to_owned())
                .filter(|p| !p.is_empty())
                .collect(),
            quotas,
            quota_cache_entries: policy_quota_cache.unwrap_or(check_defaults.quota_cache_entries),
            ..check_defaults
        },
    };
    // Problems the values have together (empty names, ranges), without repeating the
    // missing workload / namespace already reported.
    for problem in opts.problems() {
        let repeated = (problem.starts_with("workload:") && args.workload.is_none())
            || (problem.starts_with("namespace:") && args.namespace.is_none());
        if !repeated {
            p.0.push(problem);
        }
    }
    if p.0.is_empty() {
        Ok((opts, threads.unwrap_or(0)))
    } else {
        Err(format!("invalid configuration:\n  {}", p.0.join("\n  ")))
    }
}

pub fn run(args: ProxyArgs) -> Result<(), String> {
    let (opts, threads) = options(&args)?;
    let rt = runtime::build(threads)?;
    rt.block_on(async move {
        let (_, _, run) = mixer_proxy::start(opts, runtime::shutdown_signal())
            .await
            .map_err(|e| e.to_string())?;
        run.await;
        Ok(())
    })
}
