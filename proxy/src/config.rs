//! What a proxy is started with: addresses, its own identity (the attributes of its side of
//! every request), upstream, reporting and checking limits. Validation collects every problem
//! at once.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// Which listener a request came through; it decides whose attributes are ours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// In front of the local app: we are the destination (reporter "destination").
    Inbound,
    /// The app's HTTP proxy: we are the source (reporter "source").
    Outbound,
}

impl Direction {
    /// The value of `context.reporter.kind`.
    pub fn reporter_kind(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// The workload this sidecar runs beside.
#[derive(Clone, Debug, Default)]
pub struct Identity {
    /// `*.workload.name`.
    pub workload: String,
    /// `*.workload.namespace` and `*.namespace`.
    pub namespace: String,
    /// `*.labels`.
    pub labels: Vec<(String, String)>,
    /// `*.principal` (e.g. `cluster.local/ns/NS/sa/SA`), when known.
    pub principal: Option<String>,
    /// `*.uid`; `kubernetes://<workload>.<namespace>` when not given.
    pub uid: Option<String>,
    /// `*.ip`, when known.
    pub ip: Option<IpAddr>,
    /// The service the app serves (`reviews.default.svc.cluster.local`): inbound requests'
    /// `destination.service.*`.
    pub service: Option<String>,
}

impl Identity {
    pub fn uid(&self) -> String {
        self.uid
            .clone()
            .unwrap_or_else(|| format!("kubernetes://{}.{}", self.workload, self.namespace))
    }
}

/// How bags travel to the telemetry service (spec §8.2 defaults).
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Telemetry service URI (`http://host:port`), or several separated by commas (one per
    /// replica: Report calls take turns, so one HTTP/2 connection does not pin every bag to
    /// one replica, and a failed call is retried on the next); `None` turns reporting off.
    pub telemetry: Option<String>,
    /// Bags waiting to be batched; when full, new bags are dropped and counted.
    pub queue_capacity: usize,
    /// Bags per Report (Istio 1.1+: 100).
    pub batch_max_entries: usize,
    /// Longest a bag waits in a batch (1 s).
    pub batch_max_time: Duration,
    /// Encoded batches held while the telemetry service is unreachable; beyond, dropped.
    pub max_pending_batches: usize,
    /// Report calls in flight at once (4): one slow answer does not hold up the batches
    /// behind it.
    pub max_in_flight: usize,
    /// Per-call deadline (5 s).
    pub rpc_timeout: Duration,
    /// Retry backoff bounds (80 ms → 1 s).
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// How long the flush on shutdown may take.
    pub flush_timeout: Duration,
}

impl Default for ReportOptions {
    fn default() -> Self {
        ReportOptions {
            telemetry: None,
            queue_capacity: 10_000,
            batch_max_entries: 100,
            batch_max_time: Duration::from_secs(1),
            max_pending_batches: 256,
            max_in_flight: 4,
            rpc_timeout: Duration::from_secs(5),
            retry_base: Duration::from_millis(80),
            retry_max: Duration::from_secs(1),
            flush_timeout: Duration::from_secs(5),
        }
    }
}

/// How requests are checked with the policy service (spec §1.12, §8.2 defaults).
#[derive(Clone, Debug)]
pub struct CheckOptions {
    /// Policy service URI (`http://host:port`); `None` turns checking off.
    pub policy: Option<String>,
    /// Istio's `NetworkFailPolicy`: false (FAIL_OPEN, the client default) allows a request
    /// when the policy service cannot answer; true (FAIL_CLOSE) denies it with 503.
    pub fail_closed: bool,
    /// Per-call deadline (5 s).
    pub timeout: Duration,
    /// Retries after a transport error (0), with backoff 80 ms → 1 s.
    pub retries: u32,
    pub retry_base: Duration,
    pub retry_max: Duration,
    /// Check cache entries (10000); 0 turns the cache off (`disable_check_cache`).
    pub cache_entries: usize,
    /// Check outbound requests too (mesh `enableClientSidePolicyCheck`; off by default:
    /// Istio checks on the server side).
    pub outbound: bool,
    /// URL path prefixes never checked (per-route `disable_check_calls`).
    pub skip_paths: Vec<String>,
    /// Quotas every checked request asks for, by name with their charge (what Istio's
    /// QuotaSpec rules bound to the service give the proxy).
    pub quotas: Vec<(String, i64)>,
    /// Quota cache entries (10000, Istio's `QuotaOptions`): a request whose precondition is
    /// cached takes its quotas from tokens prefetched in the background. 0 turns it off
    /// (`disable_quota_cache`): every request with quotas asks the policy service.
    pub quota_cache_entries: usize,
    /// Check calls in flight at most (64), as Envoy bounds a cluster's requests. A request
    /// that misses the cache while every slot is taken waits, within the call's deadline, and
    /// looks the cache up again when it gets one: the answer a call before it brought back
    /// may serve it (a cold cache under many concurrent requests makes a few calls, not one
    /// per request).
    pub max_requests: usize,
}

impl Default for CheckOptions {
    fn default() -> Self {
        CheckOptions {
            policy: None,
            fail_closed: false,
            timeout: Duration::from_secs(5),
            retries: 0,
            retry_base: Duration::from_millis(80),
            retry_max: Duration::from_secs(1),
            cache_entries: 10_000,
            outbound: false,
            skip_paths: Vec::new(),
            quotas: Vec::new(),
            quota_cache_entries: 10_000,
            max_requests: 64,
        }
    }
}

/// The protocol the inbound listener speaks to the app. Istio takes it from the Service port's
/// name or `appProtocol` (`http` → HTTP/1.1, `http2` / `grpc` → HTTP/2) and sniffs unnamed
/// ports, which amounts to the client's own protocol.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum AppProtocol {
    /// Whatever the client spoke (HTTP/2 stays HTTP/2; HTTP/1.x goes as HTTP/1.1).
    #[default]
    Auto,
    /// HTTP/1.1, whatever the client spoke (an HTTP/1.1-only app behind HTTP/2 clients).
    Http1,
    /// HTTP/2 with prior knowledge (h2c), whatever the client spoke (gRPC apps).
    Http2,
}

impl std::str::FromStr for AppProtocol {
    type Err = String;

    /// `auto`, a protocol, or an Istio port name `<protocol>[-<suffix>]` (`http-web`,
    /// `grpc-api`); a port name with another protocol (`tcp-db`) leaves it to `auto`.
    fn from_str(s: &str) -> Result<Self, String> {
        let protocol = s.split_once('-').map_or(s, |(p, _)| p);
        match protocol.to_ascii_lowercase().as_str() {
            "auto" => Ok(AppProtocol::Auto),
            "http" | "http1" => Ok(AppProtocol::Http1),
            "http2" | "grpc" => Ok(AppProtocol::Http2),
            _ if s.contains('-') => Ok(AppProtocol::Auto),
            _ => Err("not one of auto, http, http2, grpc, or a port name like http-web".to_owned()),
        }
    }
}

/// The URIs of a comma-separated endpoint list, trimmed, empty ones skipped.
pub fn endpoints(list: &str) -> impl Iterator<Item = &str> {
    list.split(',').map(str::trim).filter(|u| !u.is_empty())
}

/// Default of [`Options::app_pool_connections`].
pub const DEFAULT_APP_POOL_CONNECTIONS: usize = 32;

/// Everything [`crate::start`] needs.
#[derive(Clone, Debug)]
pub struct Options {
    pub inbound: SocketAddr,
    pub outbound: SocketAddr,
    pub admin: SocketAddr,
    /// The local app the inbound listener forwards to.
    pub app: SocketAddr,
    pub app_protocol: AppProtocol,
    /// Pooled HTTP/1.1 connections to the app, shared by HTTP/2 clients' streams (and by
    /// HTTP/1.1 clients whose own connection is busy); 0: no limit. An HTTP/1.1 client's
    /// connection keeps its own connection to the app and does not count.
    pub app_pool_connections: usize,
    /// HTTP/1.1 clients whose upstream speaks HTTP/1.1 too are forwarded by the native path
    /// ([`crate::h1`]), and HTTP/2 clients' streams reach an HTTP/1.1 app over its
    /// connections ([`crate::h1::AppConns`]); false: hyper's server and client do both.
    pub native_http1: bool,
    pub identity: Identity,
    /// Time allowed for the upstream's response headers; then 504 `UT`.
    pub upstream_timeout: Duration,
    /// Chance, in percent, that a new trace is sampled.
    pub sampling_percent: f64,
    /// Time in-flight requests get to finish after shutdown begins.
    pub drain_grace: Duration,
    /// How long an outbound request sent before the sidecar is ready waits for readiness
    /// (then it goes ahead anyway).
    pub outbound_ready_wait: Duration,
    /// One JSON line per request on stdout (Envoy's fields); off by default.
    pub access_log: bool,
    pub report: ReportOptions,
    pub check: CheckOptions,
}

impl Options {
    /// Every problem with these options, one line each; empty when they are usable.
    pub fn problems(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.identity.workload.is_empty() {
            out.push("workload: must not be empty (e.g. --workload reviews-v1)".to_owned());
        }
        if self.identity.namespace.is_empty() {
            out.push("namespace: must not be empty (e.g. --namespace default)".to_owned());
        }
        if !(0.0..=100.0).contains(&self.sampling_percent) {
            out.push(format!(
                "sampling: {} is not a percentage in [0, 100] (e.g. --sampling 1)",
                self.sampling_percent
            ));
        }
        let r = &self.report;
        if let Some(list) = &r.telemetry {
            for t in endpoints(list) {
                if !t.starts_with("http://") || t.parse::<hyper::Uri>().is_err() {
                    out.push(format!(
                        "telemetry: {t:?} is not an http:// URI (e.g. --telemetry http://127.0.0.1:9091)"
                    ));
                }
            }
            if endpoints(list).next().is_none() {
                out.push(
                    "telemetry: no URI given (e.g. --telemetry http://127.0.0.1:9091, or off)"
                        .into(),
                );
            }
        }
        let c = &self.check;
        if let Some(p) = &c.policy {
            if !p.starts_with("http://") || p.parse::<hyper::Uri>().is_err() {
                out.push(format!(
                    "policy: {p:?} is not an http:// URI (e.g. --policy http://127.0.0.1:9092)"
                ));
            }
        }
        if c.max_requests == 0 {
            out.push(
                "policy max requests: must be at least 1 (e.g. --policy-max-requests 64)".into(),
            );
        }
        if c.retry_base > c.retry_max {
            out.push(format!(
                "policy retry wait: base {:?} is above max {:?} (e.g. 80ms and 1s)",
                c.retry_base, c.retry_max
            ));
        }
        for p in &c.skip_paths {
            if !p.starts_with('/') {
                out.push(format!(
                    "policy skip path: {p:?} does not start with / (e.g. --policy-skip-path /healthz)"
                ));
            }
        }
        for (name, charge) in &c.quotas {
            if name.is_empty() || *charge < 1 {
                out.push(format!(
                    "policy quota: {name:?} charge {charge}: needs a name and a charge of at least 1 (e.g. --policy-quota requestcountquota=1)"
                ));
            }
        }
        if !c.quotas.is_empty() && c.policy.is_none() {
            out.push("policy quota: quotas are asked of the policy service, and --policy is off (e.g. --policy http://127.0.0.1:9092)".to_owned());
        }
        for (name, v) in [
            ("report queue", r.queue_capacity),
            ("report batch max entries", r.batch_max_entries),
            ("report pending batches", r.max_pending_batches),
        ] {
            if v == 0 {
                out.push(format!("{name}: must be at least 1"));
            }
        }
        for (name, d) in [
            ("upstream timeout", self.upstream_timeout),
            ("report batch max time", r.batch_max_time),
            ("policy timeout", c.timeout),
            ("policy retry base wait", c.retry_base),
        ] {
            if d.is_zero() {
                out.push(format!("{name}: must be positive (e.g. 1s)"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(check: CheckOptions) -> Options {
        let addr: SocketAddr = ([127, 0, 0, 1], 0).into();
        Options {
            inbound: addr,
            outbound: addr,
            admin: addr,
            app: addr,
            identity: Identity {
                workload: "w".into(),
                namespace: "ns".into(),
                ..Identity::default()
            },
            upstream_timeout: Duration::from_secs(1),
            sampling_percent: 1.0,
            drain_grace: Duration::from_secs(1),
            outbound_ready_wait: Duration::from_secs(5),
            access_log: false,
            app_protocol: AppProtocol::Auto,
            app_pool_connections: DEFAULT_APP_POOL_CONNECTIONS,
            native_http1: true,
            report: ReportOptions::default(),
            check,
        }
    }

    #[test]
    fn app_protocol_reads_protocols_and_istio_port_names() {
        let p = |s: &str| s.parse::<AppProtocol>();
        assert_eq!(p("auto"), Ok(AppProtocol::Auto));
        assert_eq!(p("http"), Ok(AppProtocol::Http1));
        assert_eq!(p("http-web"), Ok(AppProtocol::Http1));
        assert_eq!(p("HTTP2"), Ok(AppProtocol::Http2));
        assert_eq!(p("grpc-ratings"), Ok(AppProtocol::Http2));
        assert_eq!(p("tcp-mysql"), Ok(AppProtocol::Auto));
        assert!(p("spdy").is_err());
    }

    #[test]
    fn check_problems_are_reported_together() {
        assert!(opts(CheckOptions::default()).problems().is_empty());
        let bad = CheckOptions {
            policy: Some("grpc://policy:9092".into()),
            timeout: Duration::ZERO,
            retry_base: Duration::from_secs(2),
            skip_paths: vec!["healthz".into()],
            ..CheckOptions::default()
        };
        let problems = opts(bad).problems();
        assert_eq!(problems.len(), 4, "{problems:#?}");
        assert!(problems[0].starts_with("policy: \"grpc://policy:9092\" is not an http:// URI"));
    }

    #[test]
    fn quotas_need_a_charge_and_a_policy_service() {
        let quotas = |policy: Option<&str>, quotas: &[(&str, i64)]| {
            opts(CheckOptions {
                policy: policy.map(str::to_owned),
                quotas: quotas.iter().map(|(n, c)| (n.to_string(), *c)).collect(),
                ..CheckOptions::default()
            })
            .problems()
        };
        let policy = Some("http://127.0.0.1:9092");
        assert!(quotas(policy, &[("requestcountquota", 1)]).is_empty());
        let problems = quotas(None, &[("requestcountquota", 1), ("", 1), ("q", 0)]);
        assert_eq!(problems.len(), 3, "{problems:#?}");
        assert!(problems[0].starts_with("policy quota: \"\" charge 1"));
        assert!(problems[1].starts_with("policy quota: \"q\" charge 0"));
        assert!(problems[2].contains("--policy is off"));
    }
}
