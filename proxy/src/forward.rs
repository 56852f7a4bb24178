//! One request through the proxy: pick the upstream (the local app when inbound, the request's
//! authority when outbound), clean the hop-by-hop headers, set the tracing headers, build the
//! bag, forward over a pooled connection with a timeout, and map upstream failures to
//! Envoy's answers (502 `UF`, 503 `UC`, 504 `UT`, 404 `NR`). When a policy service is
//! configured, the request is checked first ([`crate::check`]): a denial is answered here
//! (with flag `UAEX`) and never reaches the upstream, and a route directive edits the request
//! and response headers or answers directly.

use crate::access_log::AccessLog;
use crate::attrs::{self, RequestView};
use crate::body::{Completion, CountingBody, ResponseBody};
use crate::check::{directive, Checker, Decision, Verdict};
use crate::config::{AppProtocol, Direction, Identity};
use crate::h1::{self, AppBody, AppConns};
use crate::headers::{propagate_trace, strip_hop_by_hop, unpin_values};
use crate::metrics::ProxyMetrics;
use crate::ready::Ready;
use crate::report::Reporter;
pub use crate::upstream::ConnUpstream;
use crate::upstream::{AppLease, AppPool, Failure};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::header::{HeaderMap, HeaderValue, CONTENT_TYPE, HOST};
use hyper::http::request::Parts;
use hyper::http::response::Parts as ResponseParts;
use hyper::http::uri::PathAndQuery;
use hyper::{Method, Request, Response, StatusCode, Uri, Version};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use mixer_attributes::{LayeredBag, OwnedBag, OwnedValue};
use mixer_proto::mixer::HeaderOperation;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

type UpstreamClient = Client<HttpConnector, CountingBody>;

/// State shared by every request of both listeners.
#[derive(Debug)]
pub struct Shared {
    pub identity: Identity,
    /// Our side of every bag, inbound and outbound ([`attrs::own_side`]), made once.
    sides: [Arc<OwnedBag>; 2],
    pub app: SocketAddr,
    /// `app` as an authority, made once.
    app_authority: String,
    pub reporter: Reporter,
    pub metrics: Arc<ProxyMetrics>,
    pub upstream_timeout: Duration,
    pub sampling_percent: f64,
    /// What the inbound listener speaks to the app.
    pub app_protocol: AppProtocol,
    /// Readiness, and how long an outbound request arriving before it waits.
    ready: Ready,
    outbound_ready_wait: Duration,
    /// One JSON line per request on stdout, when on.
    access_log: Option<AccessLog>,
    /// The policy Check client; `None` when no policy service is configured.
    pub checker: Option<Checker>,
    /// Our own listeners: an outbound request addressed to one of them would loop.
    listeners: [SocketAddr; 2],
    http1: UpstreamClient,
    http2: UpstreamClient,
    /// HTTP/1.1 connections to the app for requests that cannot have their downstream
    /// connection's own (see [`Shared::with_app_pool`]).
    app_pool: Arc<AppPool>,
    /// The same for the native path: HTTP/2 streams to an HTTP/1.1 app when it is on.
    app_conns: Arc<AppConns>,
    /// HTTP/1.1 clients take the native path ([`crate::h1`]) when their upstream speaks
    /// HTTP/1.1 too.
    native_http1: bool,
}

impl Shared {
    pub fn new(
        mut identity: Identity,
        app: SocketAddr,
        reporter: Reporter,
        metrics: Arc<ProxyMetrics>,
        upstream_timeout: Duration,
        sampling_percent: f64,
        listeners: [SocketAddr; 2],
    ) -> Shared {
        // every bag carries the uid: make the default once, not per request
        identity.uid = Some(identity.uid());
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(connect_timeout(upstream_timeout)));
        let http1 = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector.clone());
        let http2 = Client::builder(TokioExecutor::new())
            .http2_only(true)
            .build(connector);
        let sides = [Direction::Inbound, Direction::Outbound]
            .map(|dir| Arc::new(attrs::own_side(&identity, dir)));
        Shared {
            identity,
            sides,
            app,
            app_authority: app.to_string(),
            reporter,
            metrics,
            upstream_timeout,
            sampling_percent,
            app_protocol: AppProtocol::Auto,
            ready: Ready::now(),
            outbound_ready_wait: Duration::ZERO,
            access_log: None,
            checker: None,
            listeners,
            http1,
            http2,
            app_pool: Arc::new(AppPool::new(app, 0, connect_timeout(upstream_timeout))),
            app_conns: Arc::new(AppConns::new(app, 0, connect_timeout(upstream_timeout))),
            native_http1: false,
        }
    }
}

/// Why no response head came from the upstream.
pub(crate) enum Upstream {
    Connect(String),
    Exchange(String),
    /// The response head was not HTTP/1.1.
    Protocol,
    /// The authority and path make no URI.
    BadTarget,
}

/// Where a response's body comes from.
enum UpBody {
    /// hyper's client, and the app pool's connection when it came over one.
    Hyper(Incoming, Option<AppLease>),
    /// One of the native path's connections to the app.
    App(AppBody),
}

/// A response head and its body, or why there is none.
type Reply = Result<Result<(ResponseParts, UpBody), Upstream>, tokio::time::error::Elapsed>;

/// Sends `req` to the app over one of the native path's connections ([`AppConns`]): an
/// HTTP/2 client's stream, when the native path is on.
async fn via_app_conns(shared: &Shared, mut req: Request<CountingBody>) -> Reply {
    to_origin_form(req.uri_mut());
    let head_request = req.method() == Method::HEAD;
    let sent = shared.app_conns.send(req, head_request);
    match tokio::time::timeout(shared.upstream_timeout, sent).await {
        Ok(Ok((status, headers, body))) => {
            let (mut parts, ()) = Response::new(()).into_parts();
            parts.status = status;
            parts.headers = headers;
            Ok(Ok((parts, UpBody::App(body))))
        }
        Ok(Err(failure)) => Ok(Err(Upstream::from(failure))),
        Err(elapsed) => Err(elapsed),
    }
}

type Answer = Result<Result<Response<Incoming>, Upstream>, tokio::time::error::Elapsed>;

/// Sends `req` over the shared pool (HTTP/2, or host names to resolve, or a downstream
/// connection whose own upstream connection is busy, outbound).
async fn via_pool(
    shared: &Shared,
    http2: bool,
    authority: &str,
    mut req: Request<CountingBody>,
) -> Answer {
    let path = req.uri().path_and_query().map_or("/", |p| p.as_str());
    let Ok(uri) = format!("http://{authority}{path}").parse::<Uri>() else {
        return Ok(Err(Upstream::BadTarget));
    };
    *req.uri_mut() = uri;
    let client = if http2 { &shared.http2 } else { &shared.http1 };
    match tokio::time::timeout(shared.upstream_timeout, client.request(req)).await {
        Ok(Ok(resp)) => Ok(Ok(resp)),
        Ok(Err(e)) if e.is_connect() => Ok(Err(Upstream::Connect(e.to_string()))),
        Ok(Err(e)) => Ok(Err(Upstream::Exchange(e.to_string()))),
        Err(elapsed) => Err(elapsed),
    }
}

/// Sends `req` to the app over HTTP/1.1 on one of the app pool's connections ([`AppPool`]):
/// an HTTP/2 client's stream, or an HTTP/1.1 client's request whose connection's own upstream
/// connection is busy. The lease holds the connection until the response body ends.
async fn via_app_pool(
    shared: &Shared,
    mut req: Request<CountingBody>,
) -> (Answer, Option<AppLease>) {
    to_origin_form(req.uri_mut());
    match tokio::time::timeout(shared.upstream_timeout, shared.app_pool.send(req)).await {
        Ok(Ok((resp, lease))) => (Ok(Ok(resp)), Some(lease)),
        Ok(Err(failure)) => (Ok(Err(Upstream::from(failure))), None),
        Err(elapsed) => (Err(elapsed), None),
    }
}

impl From<Failure> for Upstream {
    fn from(failure: Failure) -> Upstream {
        match failure {
            Failure::Connect(e) => Upstream::Connect(e.to_string()),
            Failure::Exchange(e) => Upstream::Exchange(e.to_string()),
        }
    }
}

impl From<h1::Failure> for Upstream {
    fn from(failure: h1::Failure) -> Upstream {
        match failure {
            h1::Failure::Connect(e) => Upstream::Connect(e.to_string()),
            h1::Failure::Exchange(e) => Upstream::Exchange(e.to_string()),
            h1::Failure::Protocol => Upstream::Protocol,
            h1::Failure::Client => Upstream::Exchange("the request body broke off".into()),
        }
    }
}

impl Upstream {
    /// The proxy's own answer, as Envoy's: 502 `UF`, 503 `UC`, 502 `UPE`, or 400 for a
    /// target that makes no URI; logged with the `authority` it was for.
    pub(crate) fn into_local(self, authority: &str) -> Local {
        match self {
            Upstream::Connect(e) => {
                tracing::debug!(error = %e, %authority, "upstream connect failed");
                Local::connect_failure()
            }
            Upstream::Exchange(e) => {
                tracing::debug!(error = %e, %authority, "upstream failed before headers");
                Local::connection_termination()
            }
            Upstream::Protocol => {
                tracing::debug!(%authority, "upstream answered with a malformed head");
                Local::protocol_error()
            }
            Upstream::BadTarget => Local::new(StatusCode::BAD_REQUEST, "", "bad request target\n"),
        }
    }
}

/// How long making a connection may take: the upstream timeout, at most 5 s.
pub(crate) fn connect_timeout(upstream_timeout: Duration) -> Duration {
    upstream_timeout.min(Duration::from_secs(5))
}

/// `http://host/path?q` → `/path?q`, as a request to the origin server is sent.
pub(crate) fn to_origin_form(uri: &mut Uri) {
    if uri.scheme().is_some() || uri.authority().is_some() {
        let pq = uri
            .path_and_query()
            .cloned()
            .unwrap_or_else(|| PathAndQuery::from_static("/"));
        *uri = Uri::from(pq);
    }
}

/// Why the proxy answers itself.
pub(crate) struct Local {
    status: StatusCode,
    flags: &'static str,
    text: Bytes,
}

impl Local {
    pub(crate) fn new(status: StatusCode, flags: &'static str, text: &'static str) -> Local {
        Local {
            status,
            flags,
            text: Bytes::from_static(text.as_bytes()),
        }
    }

    /// No connection to the upstream could be made: 502 `UF`.
    pub(crate) fn connect_failure() -> Local {
        Local::new(
            StatusCode::BAD_GATEWAY,
            "UF",
            "upstream connect error or disconnect/reset before headers. reset reason: connection failure\n",
        )
    }

    /// The upstream connection ended before a response head: 503 `UC`.
    pub(crate) fn connection_termination() -> Local {
        Local::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "UC",
            "upstream connect error or disconnect/reset before headers. reset reason: connection termination\n",
        )
    }

    /// The upstream's response head is not HTTP/1.1: 502 `UPE`.
    pub(crate) fn protocol_error() -> Local {
        Local::new(
            StatusCode::BAD_GATEWAY,
            "UPE",
            "upstream connect error or disconnect/reset before headers. reset reason: protocol error\n",
        )
    }

    /// No response head within the upstream timeout: 504 `UT`.
    pub(crate) fn timeout() -> Local {
        Local::new(
            StatusCode::GATEWAY_TIMEOUT,
            "UT",
            "upstream request timeout\n",
        )
    }
}

/// Where the request goes: `authority` for the URI, and its address when it is one.
fn route(
    dir: Direction,
    shared: &Shared,
    method: &Method,
    uri: &Uri,
    host: &str,
) -> Result<String, Local> {
    match dir {
        Direction::Inbound => Ok(shared.app_authority.clone()),
        Direction::Outbound => {
            if method == Method::CONNECT {
                return Err(Local::new(
                    StatusCode::METHOD_NOT_ALLOWED,
                    "",
                    "CONNECT tunnels are not supported by this proxy\n",
                ));
            }
            if uri.scheme_str().is_some_and(|s| s != "http") {
                return Err(Local::new(
                    StatusCode::BAD_REQUEST,
                    "",
                    "only http:// URIs are proxied (https needs CONNECT)\n",
                ));
            }
            if host.is_empty() {
                return Err(Local::new(
                    StatusCode::NOT_FOUND,
                    "NR",
                    "no route: send an absolute-form URI or a Host header\n",
                ));
            }
            if shared.is_own_listener(host) {
                return Err(Local::new(
                    StatusCode::LOOP_DETECTED,
                    "NR",
                    "no route: the request is addressed to this proxy itself\n",
                ));
            }
            Ok(host.to_owned())
        }
    }
}

impl Shared {
    /// Checks requests with `checker`.
    pub fn with_checker(mut self, checker: Option<Checker>) -> Shared {
        self.checker = checker;
        self
    }

    pub fn with_app_protocol(mut self, app_protocol: AppProtocol) -> Shared {
        self.app_protocol = app_protocol;
        self
    }

    /// At most `connections` pooled HTTP/1.1 connections to the app (0: no limit). HTTP/2
    /// clients' streams to an HTTP/1.1 app each need a connection of their own while they
    /// run: uncapped, 320 concurrent streams open 320 connections (~30 KB each in hyper). A
    /// stream finding them all busy waits for one, within the upstream timeout, as Envoy
    /// queues requests at its cluster's connection limit.
    pub fn with_app_pool(mut self, connections: usize) -> Shared {
        let timeout = connect_timeout(self.upstream_timeout);
        self.app_pool = Arc::new(AppPool::new(self.app, connections, timeout));
        self.app_conns = Arc::new(AppConns::new(self.app, connections, timeout));
        self
    }

    /// Forwards HTTP/1.1 clients over the native path ([`crate::h1`]) when `on`.
    pub fn with_native_http1(mut self, on: bool) -> Shared {
        self.native_http1 = on;
        self
    }

    /// Whether an HTTP/1.1 client of the `dir` listener takes the native path: on, and its
    /// upstream speaks HTTP/1.1 (outbound always; inbound unless the app speaks HTTP/2).
    pub fn native_http1_for(&self, dir: Direction) -> bool {
        self.native_http1 && (dir == Direction::Outbound || self.app_protocol != AppProtocol::Http2)
    }

    pub fn with_access_log(mut self, log: Option<AccessLog>) -> Shared {
        self.access_log = log;
        self
    }

    pub fn with_readiness(mut self, ready: Ready, outbound_wait: Duration) -> Shared {
        self.ready = ready;
        self.outbound_ready_wait = outbound_wait;
        self
    }

    /// True when `authority` names one of our listeners (by address, or `localhost`).
    fn is_own_listener(&self, authority: &str) -> bool {
        let host = attrs::host_only(authority);
        let port = authority
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .unwrap_or(80);
        let ip = match host {
            "localhost" => std::net::IpAddr::from([127, 0, 0, 1]),
            h => match h.parse() {
                Ok(ip) => ip,
                Err(_) => return false,
            },
        };
        self.listeners.iter().any(|l| {
            l.port() == port
                && (l.ip() == ip
                    || (l.ip().is_unspecified() && (ip.is_loopback() || ip.is_unspecified())))
        })
    }
}

/// A request the proxy forwards, after [`admit`]: its parts ready for the upstream's
/// protocol, where it goes, and what finishes it.
pub(crate) struct Admitted {
    pub parts: Parts,
    /// Where the request goes (`host:port`, or a host name to resolve).
    pub authority: String,
    /// HTTP/2 towards the upstream.
    pub http2: bool,
    /// The request's bag and what finishes it.
    pub completion: Completion,
    /// The request body's bytes, counted as they pass.
    pub request_size: Arc<AtomicU64>,
    /// What the check came to, when there was one: see [`directive_response_ops`].
    pub verdict: Option<Verdict>,
}

/// The route directive's edits to the response headers, if the check gave one.
pub(crate) fn directive_response_ops(verdict: Option<&Verdict>) -> &[HeaderOperation] {
    match verdict.and_then(|v| v.decision.directive.as_ref()) {
        Some(d) => &d.response_header_operations,
        None => &[],
    }
}

/// An answer the proxy gives itself instead of forwarding, with what finishes the request.
pub(crate) struct Refused {
    pub local: Local,
    pub completion: Completion,
    /// Response header edits of a route directive's direct response.
    ops: Vec<HeaderOperation>,
}

impl Refused {
    pub fn new(local: Local, completion: Completion) -> Refused {
        Refused {
            local,
            completion,
            ops: Vec::new(),
        }
    }

    /// The answer's status, headers and body; the completion has its response attributes.
    pub fn into_answer(self) -> (StatusCode, HeaderMap, Bytes, Completion) {
        let Refused {
            local,
            mut completion,
            ops,
        } = self;
        let mut headers = HeaderMap::new();
        headers.insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
        directive::apply(&mut headers, &ops);
        completion.code = local.status.as_u16();
        completion.flags = local.flags;
        completion.response_head(&headers);
        (local.status, headers, local.text, completion)
    }
}

/// Everything about a request the protocols share, up to its forwarding: readiness (outbound),
/// the route, hop-by-hop and tracing headers, the bag, the check and its route directive, and
/// the `Host` header the upstream's protocol wants. `version` is the client's protocol.
pub(crate) async fn admit(
    shared: &Shared,
    dir: Direction,
    peer: SocketAddr,
    mut parts: Parts,
) -> Result<Admitted, Refused> {
    if dir == Direction::Outbound && !shared.ready.is_ready() {
        // the app started before its sidecar was ready: hold the call a bounded time
        shared.ready.wait(shared.outbound_ready_wait).await;
    }
    let started = Instant::now();
    let now = SystemTime::now();
    let mut host = attrs::authority_of(&parts.uri, &parts.headers)
        .unwrap_or("")
        .to_owned();
    let mut target = route(dir, shared, &parts.method, &parts.uri, &host);
    let upstream_addr = match (&target, dir) {
        (_, Direction::Inbound) => Some(shared.app),
        (Ok(t), Direction::Outbound) => t.parse::<SocketAddr>().ok(),
        (Err(_), _) => None,
    };
    // the protocol towards the upstream: the client's, unless the app's port says otherwise
    let http2 = match (dir, shared.app_protocol) {
        (Direction::Inbound, AppProtocol::Http1) => false,
        (Direction::Inbound, AppProtocol::Http2) => true,
        _ => parts.version == Version::HTTP_2,
    };
    strip_hop_by_hop(&mut parts.headers);
    let trace = propagate_trace(&mut parts.headers, shared.sampling_percent);
    // the bag is for the reports, the access log and the check: none of them, no bag
    let bag = if shared.reporter.is_enabled()
        || shared.access_log.is_some()
        || shared.checker.is_some()
    {
        let side = match dir {
            Direction::Inbound => &shared.sides[0],
            Direction::Outbound => &shared.sides[1],
        };
        attrs::request_bag(
            &shared.identity,
            side,
            dir,
            &RequestView {
                method: &parts.method,
                uri: &parts.uri,
                headers: &parts.headers,
                host: &host,
                peer,
                upstream: upstream_addr,
                trace: &trace,
            },
            now,
        )
    } else {
        LayeredBag::default()
    };
    let request_size = Arc::new(AtomicU64::new(0));
    let mut completion = Completion::new(
        bag,
        dir,
        started,
        request_size.clone(),
        shared.reporter.clone(),
        shared.metrics.clone(),
    )
    .with_access_log(shared.access_log.clone());
    if completion.records() {
        completion.request_header_bytes =
            attrs::request_header_bytes(&parts.method, &parts.uri, &host, &parts.headers);
    }
    let checker = shared
        .checker
        .as_ref()
        .filter(|c| c.applies(dir, parts.uri.path()));
    let verdict = match checker {
        Some(checker) => Some(checker.check(completion.bag()).await),
        None => None,
    };
    if let Some(verdict) = &verdict {
        let decision = &verdict.decision;
        note_check(&mut completion, verdict);
        if let Some(local) = check_answer(decision) {
            let ops = response_ops_of(decision).to_vec();
            return Err(Refused {
                local,
                completion,
                ops,
            });
        }
        if let Some(d) = &decision.directive {
            let before = host.clone();
            directive::apply_to_request(&mut parts, &mut host, &d.request_header_operations);
            if host != before && dir == Direction::Outbound {
                target = route(dir, shared, &parts.method, &parts.uri, &host);
            }
        }
    }
    let authority = match target {
        Ok(a) => a,
        Err(local) => return Err(Refused::new(local, completion)),
    };
    if http2 {
        parts.headers.remove(HOST);
    } else if parts.uri.authority().is_some() || !parts.headers.contains_key(HOST) {
        // An absolute-form target's authority replaces the received Host (RFC 9112 §3.2.2).
        if let Ok(v) = HeaderValue::from_str(&host) {
            parts.headers.insert(HOST, v);
        }
    }
    Ok(Admitted {
        parts,
        authority,
        http2,
        completion,
        request_size,
        verdict,
    })
}

/// Handles one request from `peer` on the `dir` listener; `conn` keeps the downstream
/// connection's own upstream connection between its requests.
pub async fn handle(
    shared: Arc<Shared>,
    dir: Direction,
    peer: SocketAddr,
    conn: Arc<ConnUpstream>,
    req: Request<Incoming>,
) -> Result<Response<ResponseBody>, Infallible> {
    let (parts, body) = req.into_parts();
    // An HTTP/1.1 downstream connection sends one request at a time: it can keep its own
    // upstream connection. HTTP/2 streams run concurrently: they share the pool.
    let sequential = parts.version != Version::HTTP_2;
    let admitted = match admit(&shared, dir, peer, parts).await {
        Ok(a) => a,
        Err(refused) => return Ok(local_answer(refused)),
    };
    let Admitted {
        mut parts,
        authority,
        http2,
        mut completion,
        request_size,
        verdict,
    } = admitted;
    let response_ops = directive_response_ops(verdict.as_ref());
    parts.version = if http2 {
        Version::HTTP_2
    } else {
        Version::HTTP_11
    };
    // HTTP/1.1 from and to an address: this downstream connection's own upstream connection;
    // otherwise (HTTP/2 on either side, a host name to resolve, the connection busy) the pool
    let addr = match dir {
        Direction::Inbound => Some(shared.app),
        Direction::Outbound => authority.parse::<SocketAddr>().ok(),
    };
    if http2 {
        // out over HTTP/2: see unpin_values (an HTTP/2 downstream's values are slices of
        // its connection's read buffer too)
        unpin_values(&mut parts.headers);
    }
    let mut req = Request::from_parts(parts, CountingBody::new(body, request_size));
    // HTTP/1.1 to the app without a connection of this downstream connection's own: the app
    // pool
    let app_pooled = dir == Direction::Inbound && !http2;
    let reply = if app_pooled && !sequential && shared.native_http1 {
        via_app_conns(&shared, req).await
    } else {
        let (answer, lease) = match addr.filter(|_| sequential && !http2) {
            Some(addr) => {
                to_origin_form(req.uri_mut());
                let sent = conn.send(addr, connect_timeout(shared.upstream_timeout), req);
                match tokio::time::timeout(shared.upstream_timeout, sent).await {
                    Ok(Ok(Ok(resp))) => (Ok(Ok(resp)), None),
                    Ok(Ok(Err(failure))) => (Ok(Err(Upstream::from(failure))), None),
                    Ok(Err(busy)) if app_pooled => via_app_pool(&shared, busy).await,
                    Ok(Err(busy)) => (via_pool(&shared, http2, &authority, busy).await, None),
                    Err(elapsed) => (Err(elapsed), None),
                }
            }
            None if app_pooled => via_app_pool(&shared, req).await,
            None => (via_pool(&shared, http2, &authority, req).await, None),
        };
        answer.map(|sent| {
            sent.map(|resp| {
                let (parts, body) = resp.into_parts();
                (parts, UpBody::Hyper(body, lease))
            })
        })
    };
    let failure = match reply {
        Ok(Ok((mut rparts, rbody))) => {
            strip_hop_by_hop(&mut rparts.headers);
            if !sequential {
                // back over HTTP/2: see unpin_values
                unpin_values(&mut rparts.headers);
            }
            directive::apply(&mut rparts.headers, response_ops);
            rparts.version = Version::HTTP_11;
            completion.code = rparts.status.as_u16();
            if completion.records() {
                completion.response_head(&rparts.headers);
                completion.grpc_from(&rparts.headers);
            }
            let body = match rbody {
                UpBody::Hyper(body, lease) => ResponseBody::upstream(body, completion, lease),
                UpBody::App(body) => ResponseBody::app(body, completion),
            };
            return Ok(Response::from_parts(rparts, body));
        }
        Ok(Err(Upstream::BadTarget)) => {
            // the request's own fault: not counted as an upstream failure
            let bad = Upstream::BadTarget.into_local(&authority);
            return Ok(local_answer(Refused::new(bad, completion)));
        }
        Ok(Err(why)) => why.into_local(&authority),
        Err(_) => Local::timeout(),
    };
    shared.metrics.upstream_failure(dir);
    Ok(local_answer(Refused::new(failure, completion)))
}

/// Adds what the check came to to the bag, as Istio's proxy reports it.
fn note_check(completion: &mut Completion, verdict: &Verdict) {
    let decision = &verdict.decision;
    let bag = completion.bag_mut();
    bag.set("check.cache_hit", OwnedValue::Bool(verdict.cache_hit));
    if verdict.quotas {
        bag.set("quota.cache_hit", OwnedValue::Bool(verdict.quota_cache_hit));
    }
    if !decision.is_ok() {
        bag.set(
            "check.error_code",
            OwnedValue::Int64(i64::from(decision.code)),
        );
        bag.set(
            "check.error_message",
            OwnedValue::String(decision.status_text()),
        );
    }
}

/// The answer a check makes the proxy give itself, as Envoy's mixer filter does: a route
/// directive's direct response (whatever the status), else for a denial the HTTP status of its
/// gRPC code with body `CODE:message` and flag `UAEX`; `None` lets the request through.
fn check_answer(decision: &Decision) -> Option<Local> {
    if let Some(d) = decision.directive.as_ref() {
        if d.direct_response_code != 0 {
            let status = u16::try_from(d.direct_response_code)
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            return Some(Local {
                status,
                flags: if decision.is_ok() { "" } else { "UAEX" },
                text: Bytes::from(d.direct_response_body.clone()),
            });
        }
    }
    if decision.is_ok() {
        return None;
    }
    let status = StatusCode::from_u16(crate::check::status::http_status(decision.code))
        .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    Some(Local {
        status,
        flags: "UAEX",
        text: Bytes::from(decision.status_text()),
    })
}

/// Response header operations that go with a direct response.
fn response_ops_of(decision: &Decision) -> &[HeaderOperation] {
    match &decision.directive {
        Some(d) if d.direct_response_code != 0 => &d.response_header_operations,
        _ => &[],
    }
}

fn local_answer(refused: Refused) -> Response<ResponseBody> {
    let (status, headers, text, completion) = refused.into_answer();
    let mut resp = Response::new(ResponseBody::local(text, completion));
    *resp.status_mut() = status;
    *resp.headers_mut() = headers;
    resp
}
