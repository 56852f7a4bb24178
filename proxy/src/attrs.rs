//! The attribute bag of one request, as Istio's proxy builds it (spec §1.11, §3): our own
//! identity on our side (destination when inbound, source when outbound), the peer's address,
//! the request's attributes when it arrives and the response's when it ends.

use crate::config::{Direction, Identity};
use crate::headers::TraceIds;
use hyper::header::{HeaderMap, CONTENT_TYPE, HOST, REFERER, USER_AGENT};
use hyper::{Method, Uri};
use mixer_attributes::{Duration as WireDuration, LayeredBag, OwnedBag, OwnedValue, Timestamp};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

fn s(v: impl Into<String>) -> OwnedValue {
    OwnedValue::String(v.into())
}

/// The parts of a request the bag is built from, after the tracing headers were set.
#[derive(Debug)]
pub struct RequestView<'a> {
    pub method: &'a Method,
    pub uri: &'a Uri,
    pub headers: &'a HeaderMap,
    /// `Host` / `:authority` as received.
    pub host: &'a str,
    /// The downstream peer.
    pub peer: SocketAddr,
    /// Where we send the request.
    pub upstream: Option<SocketAddr>,
    pub trace: &'a TraceIds,
}

/// True for gRPC (`content-type: application/grpc…`).
pub fn is_grpc(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

/// The names of our own side's attributes: destination when inbound, source when outbound.
struct Side {
    workload_name: &'static str,
    workload_namespace: &'static str,
    workload_uid: &'static str,
    namespace: &'static str,
    uid: &'static str,
    labels: &'static str,
    principal: &'static str,
}

impl Side {
    fn of(dir: Direction) -> &'static Side {
        const DESTINATION: Side = Side {
            workload_name: "destination.workload.name",
            workload_namespace: "destination.workload.namespace",
            workload_uid: "destination.workload.uid",
            namespace: "destination.namespace",
            uid: "destination.uid",
            labels: "destination.labels",
            principal: "destination.principal",
        };
        const SOURCE: Side = Side {
            workload_name: "source.workload.name",
            workload_namespace: "source.workload.namespace",
            workload_uid: "source.workload.uid",
            namespace: "source.namespace",
            uid: "source.uid",
            labels: "source.labels",
            principal: "source.principal",
        };
        match dir {
            Direction::Inbound => &DESTINATION,
            Direction::Outbound => &SOURCE,
        }
    }
}

/// Our own side of every bag in direction `dir`: the identity attributes (destination when
/// inbound, source when outbound), our address, the inbound service, the reporter. Made once;
/// each request's [`LayeredBag`] shares it.
pub fn own_side(me: &Identity, dir: Direction) -> OwnedBag {
    let mut bag = OwnedBag::with_capacity(16);
    let ours = Side::of(dir);
    bag.push_new(ours.workload_name, s(&me.workload));
    bag.push_new(ours.workload_namespace, s(&me.namespace));
    bag.push_new(
        ours.workload_uid,
        s(format!(
            "istio://{}/workloads/{}",
            me.namespace, me.workload
        )),
    );
    bag.push_new(ours.namespace, s(&me.namespace));
    bag.push_new(ours.uid, s(me.uid()));
    bag.push_new(ours.labels, OwnedValue::StringMap(me.labels.clone()));
    if let Some(p) = &me.principal {
        bag.push_new(ours.principal, s(p));
    }
    if let Some(ip) = me.ip {
        let name = match dir {
            Direction::Inbound => "destination.ip",
            Direction::Outbound => "source.ip",
        };
        bag.push_new(name, OwnedValue::ip(ip));
    }
    if let (Direction::Inbound, Some(service)) = (dir, &me.service) {
        set_service(service, &me.namespace, |name, value| {
            bag.push_new(name, value);
        });
    }
    bag.push_new("context.reporter.kind", s(dir.reporter_kind()));
    bag.push_new("context.reporter.uid", s(me.uid()));
    bag.push_new("connection.mtls", OwnedValue::Bool(false));
    bag
}

/// The request half of the bag, on top of our `side` ([`own_side`] for its direction).
pub fn request_bag(
    me: &Identity,
    side: &Arc<OwnedBag>,
    dir: Direction,
    req: &RequestView<'_>,
    now: SystemTime,
) -> LayeredBag {
    let mut bag = LayeredBag::with_capacity(side.clone(), 32);
    match dir {
        Direction::Inbound => {
            bag.push_new("source.ip", OwnedValue::ip(req.peer.ip()));
            if let Some(app) = req.upstream {
                bag.push_new("destination.port", OwnedValue::Int64(i64::from(app.port())));
            }
        }
        Direction::Outbound => {
            let host = host_only(req.host);
            if !host.is_empty() {
                set_service(host, &me.namespace, |name, value| {
                    bag.push_new(name, value);
                });
            }
            if let Some(up) = req.upstream {
                bag.push_new("destination.ip", OwnedValue::ip(up.ip()));
                bag.push_new("destination.port", OwnedValue::Int64(i64::from(up.port())));
            }
        }
    }
    let grpc = is_grpc(req.headers);
    bag.push_new("context.protocol", s(if grpc { "grpc" } else { "http" }));

    let path = req
        .uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .to_owned();
    bag.push_new("request.url_path", s(req.uri.path()));
    if let Some(q) = req.uri.query() {
        bag.push_new(
            "request.query_params",
            OwnedValue::StringMap(query_params(q)),
        );
    }
    bag.push_new("request.path", s(path));
    bag.push_new("request.host", s(req.host));
    bag.push_new("request.method", s(req.method.as_str()));
    bag.push_new("request.scheme", s(req.uri.scheme_str().unwrap_or("http")));
    if let Some(ua) = req.headers.get(USER_AGENT).and_then(|v| v.to_str().ok()) {
        bag.push_new("request.useragent", s(ua));
    }
    if let Some(r) = req.headers.get(REFERER).and_then(|v| v.to_str().ok()) {
        bag.push_new("request.referer", s(r));
    }
    bag.push_new("request.id", s(&req.trace.request_id));
    bag.push_new(
        "request.headers",
        OwnedValue::StringMap(header_map(req.headers)),
    );
    bag.push_new("request.time", OwnedValue::Timestamp(timestamp(now)));
    bag
}

/// `destination.service.*` from a service host. Kubernetes DNS names give the short name and
/// namespace (`name`, `name.ns`, `name.ns.svc[.cluster.local]`; a bare name is in our own
/// namespace); IP addresses and other hosts give only the host.
fn set_service(host: &str, own_namespace: &str, mut push: impl FnMut(&'static str, OwnedValue)) {
    push("destination.service.host", s(host));
    if host.parse::<std::net::IpAddr>().is_ok() {
        return;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let namespace = match labels.as_slice() {
        [_] => own_namespace,
        [_, ns] => ns,
        [_, ns, "svc", ..] => ns,
        _ => return,
    };
    push("destination.service.name", s(labels[0]));
    push("destination.service.namespace", s(namespace));
    push(
        "destination.service.uid",
        s(format!("istio://{namespace}/services/{}", labels[0])),
    );
}

/// How the exchange ended.
#[derive(Debug, Default)]
pub struct Outcome {
    pub code: u16,
    pub response_headers: Vec<(String, String)>,
    pub request_size: u64,
    pub response_size: u64,
    /// Header bytes as Envoy counts them ([`header_bytes`]), for the `*.total_size`s.
    pub request_header_bytes: u64,
    pub response_header_bytes: u64,
    pub duration: Duration,
    /// Envoy response flags (`UF`, `UT`, `DC` …); empty for none.
    pub flags: &'static str,
    pub grpc_status: Option<String>,
    pub grpc_message: Option<String>,
}

/// Adds the response half.
pub fn finish(bag: &mut LayeredBag, out: Outcome, now: SystemTime) {
    bag.push_new("response.code", OwnedValue::Int64(i64::from(out.code)));
    bag.push_new("request.size", OwnedValue::Int64(out.request_size as i64));
    bag.push_new("response.size", OwnedValue::Int64(out.response_size as i64));
    let total = |headers: u64, body: u64| OwnedValue::Int64(headers.saturating_add(body) as i64);
    bag.push_new(
        "request.total_size",
        total(out.request_header_bytes, out.request_size),
    );
    bag.push_new(
        "response.total_size",
        total(out.response_header_bytes, out.response_size),
    );
    bag.push_new(
        "response.headers",
        OwnedValue::StringMap(out.response_headers),
    );
    bag.push_new("response.time", OwnedValue::Timestamp(timestamp(now)));
    bag.push_new(
        "response.duration",
        OwnedValue::Duration(WireDuration {
            seconds: out.duration.as_secs() as i64,
            nanos: out.duration.subsec_nanos() as i32,
        }),
    );
    let flags = if out.flags.is_empty() { "-" } else { out.flags };
    bag.push_new("context.proxy_error_code", s(flags));
    if let Some(g) = out.grpc_status {
        bag.push_new("response.grpc_status", s(g));
    }
    if let Some(m) = out.grpc_message {
        bag.push_new("response.grpc_message", s(m));
    }
}

/// The size of `headers` as Envoy's `HeaderMap::byteSize` counts it, which is what Istio's
/// proxy adds to the body for `request.total_size` / `response.total_size`: every name and
/// value, each value of a repeated header apart, no separators or line ends.
pub fn header_bytes(headers: &HeaderMap) -> u64 {
    headers
        .iter()
        .map(|(n, v)| (n.as_str().len() + v.len()) as u64)
        .sum()
}

/// A request's header bytes as Envoy counts them: its headers plus the pseudo-headers
/// Envoy's map holds for every request, `:method`, `:path` and `:authority`.
pub fn request_header_bytes(method: &Method, uri: &Uri, host: &str, headers: &HeaderMap) -> u64 {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let pseudo = ":method".len() + method.as_str().len() + ":path".len() + path.len();
    let authority = ":authority".len() + host.len();
    // an HTTP/1.1 Host header becomes :authority in Envoy's map: counted once
    let host_header = headers.get(HOST).map_or(0, |v| "host".len() + v.len()) as u64;
    header_bytes(headers) - host_header + (pseudo + authority) as u64
}

/// Headers as a string map with lower-case keys (repeated headers joined by `,`).
pub fn header_map(headers: &HeaderMap) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::with_capacity(headers.keys_len());
    // `iter` yields a name once per value, its values one after another: no lookups
    let mut last: Option<&hyper::header::HeaderName> = None;
    for (name, v) in headers.iter() {
        // the visible-ASCII check first: much cheaper than the UTF-8 one on short values
        let v = match v.to_str() {
            Ok(text) => std::borrow::Cow::Borrowed(text),
            Err(_) => String::from_utf8_lossy(v.as_bytes()),
        };
        match out.last_mut() {
            Some((_, value)) if last == Some(name) => {
                value.push(',');
                value.push_str(&v);
            }
            _ => out.push((name.as_str().to_owned(), v.into_owned())),
        }
        last = Some(name);
    }
    out
}

/// `a=1&b=2` → [(a, 1), (b, 2)]; no percent-decoding (the proxy's map is raw as well).
fn query_params(q: &str) -> Vec<(String, String)> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (p.to_owned(), String::new()),
        })
        .collect()
}

/// `host:port` → `host` (IPv6 literals keep their brackets' content).
pub fn host_only(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    authority.rsplit_once(':').map_or(authority, |(h, _)| h)
}

/// The request's authority: the URI's, else the Host header.
pub fn authority_of<'a>(uri: &'a Uri, headers: &'a HeaderMap) -> Option<&'a str> {
    uri.authority()
        .map(|a| a.as_str())
        .or_else(|| headers.get(HOST).and_then(|v| v.to_str().ok()))
}

fn timestamp(t: SystemTime) -> Timestamp {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    Timestamp {
        seconds: d.as_secs() as i64,
        nanos: d.subsec_nanos() as i32,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn trace() -> TraceIds {
        TraceIds {
            request_id: "rid".into(),
            trace_id: "0".repeat(32),
            span_id: "1".repeat(16),
            parent_span_id: None,
            sampled: false,
        }
    }

    fn me() -> Identity {
        Identity {
            workload: "reviews-v1".into(),
            namespace: "default".into(),
            labels: vec![("app".into(), "reviews".into())],
            principal: Some("cluster.local/ns/default/sa/reviews".into()),
            uid: None,
            ip: None,
            service: Some("reviews.default.svc.cluster.local".into()),
        }
    }

    fn bag_of(dir: Direction, view: &RequestView<'_>) -> LayeredBag {
        let side = Arc::new(own_side(&me(), dir));
        request_bag(&me(), &side, dir, view, UNIX_EPOCH)
    }

    #[test]
    fn inbound_bags_put_us_on_the_destination_side() {
        let mut h = HeaderMap::new();
        h.insert("user-agent", HeaderValue::from_static("curl/8"));
        h.append("x-multi", HeaderValue::from_static("a"));
        h.append("x-multi", HeaderValue::from_static("b"));
        let uri: Uri = "/api/v1?x=1&flag".parse().expect("uri");
        let t = trace();
        let view = RequestView {
            method: &Method::POST,
            uri: &uri,
            headers: &h,
            host: "reviews:9080",
            peer: "10.0.0.7:5555".parse().expect("addr"),
            upstream: Some("127.0.0.1:8080".parse().expect("addr")),
            trace: &t,
        };
        let mut bag = bag_of(Direction::Inbound, &view);
        finish(
            &mut bag,
            Outcome {
                code: 201,
                ..Outcome::default()
            },
            UNIX_EPOCH,
        );
        let get = |n| bag.get_by_name(n).cloned();
        assert_eq!(get("destination.workload.name"), Some(s("reviews-v1")));
        assert_eq!(
            get("destination.uid"),
            Some(s("kubernetes://reviews-v1.default"))
        );
        assert_eq!(get("source.workload.name"), None);
        assert_eq!(get("source.ip"), Some(OwnedValue::Bytes(vec![10, 0, 0, 7])));
        assert_eq!(get("destination.port"), Some(OwnedValue::Int64(8080)));
        assert_eq!(
            get("destination.service.host"),
            Some(s("reviews.default.svc.cluster.local"))
        );
        assert_eq!(get("destination.service.name"), Some(s("reviews")));
        assert_eq!(get("context.reporter.kind"), Some(s("inbound")));
        assert_eq!(get("request.path"), Some(s("/api/v1?x=1&flag")));
        assert_eq!(get("request.url_path"), Some(s("/api/v1")));
        assert_eq!(
            get("request.query_params"),
            Some(OwnedValue::StringMap(vec![
                ("x".into(), "1".into()),
                ("flag".into(), String::new())
            ]))
        );
        assert_eq!(get("request.useragent"), Some(s("curl/8")));
        assert_eq!(get("response.code"), Some(OwnedValue::Int64(201)));
        assert_eq!(get("context.proxy_error_code"), Some(s("-")));
        let Some(OwnedValue::StringMap(headers)) = get("request.headers") else {
            panic!("request.headers missing")
        };
        assert!(headers.contains(&("x-multi".into(), "a,b".into())));
    }

    #[test]
    fn outbound_bags_put_us_on_the_source_side() {
        let h = HeaderMap::new();
        let uri: Uri = "http://ratings.default.svc:9080/r".parse().expect("uri");
        let t = trace();
        let view = RequestView {
            method: &Method::GET,
            uri: &uri,
            headers: &h,
            host: "ratings.default.svc:9080",
            peer: "127.0.0.1:5555".parse().expect("addr"),
            upstream: None,
            trace: &t,
        };
        let bag = bag_of(Direction::Outbound, &view);
        let get = |n| bag.get_by_name(n).cloned();
        assert_eq!(get("source.workload.name"), Some(s("reviews-v1")));
        assert_eq!(
            get("source.principal"),
            Some(s("cluster.local/ns/default/sa/reviews"))
        );
        assert_eq!(get("destination.workload.name"), None);
        assert_eq!(
            get("destination.service.host"),
            Some(s("ratings.default.svc"))
        );
        assert_eq!(get("destination.service.name"), Some(s("ratings")));
        assert_eq!(get("context.reporter.kind"), Some(s("outbound")));
        assert_eq!(get("request.scheme"), Some(s("http")));
    }

    #[test]
    fn service_names_follow_kubernetes_dns() {
        let svc = |host: &str| {
            let mut bag = OwnedBag::new();
            set_service(host, "own", |n, v| {
                bag.set(n, v);
            });
            let get = |n| match bag.get_by_name(n) {
                Some(OwnedValue::String(v)) => Some(v.clone()),
                _ => None,
            };
            (
                get("destination.service.name"),
                get("destination.service.namespace"),
            )
        };
        let some = |a: &str, b: &str| (Some(a.to_owned()), Some(b.to_owned()));
        assert_eq!(svc("ratings"), some("ratings", "own"));
        assert_eq!(svc("ratings.prod"), some("ratings", "prod"));
        assert_eq!(
            svc("ratings.prod.svc.cluster.local"),
            some("ratings", "prod")
        );
        assert_eq!(svc("10.0.0.1"), (None, None));
        assert_eq!(svc("www.example.com"), (None, None));
    }

    #[test]
    fn hosts_lose_their_ports() {
        assert_eq!(host_only("a.b:80"), "a.b");
        assert_eq!(host_only("a.b"), "a.b");
        assert_eq!(host_only("[::1]:80"), "::1");
    }

    #[test]
    fn repeated_headers_are_joined_in_order_and_names_kept_once() {
        let mut h = HeaderMap::new();
        h.append("accept", HeaderValue::from_static("text/html"));
        h.append("x-b", HeaderValue::from_static("1"));
        h.append("accept", HeaderValue::from_static("*/*"));
        h.append("x-b", HeaderValue::from_static("2"));
        h.append("x-b", HeaderValue::from_static("3"));
        h.append(
            "x-c",
            HeaderValue::from_bytes(b"caf\xc3\xa9 \xff").expect("opaque"),
        );
        let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
            v.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            header_map(&h),
            pairs(&[
                ("accept", "text/html,*/*"),
                ("x-b", "1,2,3"),
                ("x-c", "caf\u{e9} \u{fffd}"),
            ])
        );
        assert!(header_map(&HeaderMap::new()).is_empty());
    }

    #[test]
    fn total_sizes_add_header_bytes_as_envoy_counts_them_to_the_body() {
        let mut h = HeaderMap::new();
        h.insert(HOST, HeaderValue::from_static("reviews:9080"));
        h.append("accept", HeaderValue::from_static("a"));
        h.append("accept", HeaderValue::from_static("bc"));
        // every value apart, no separators: accept+a, accept+bc
        assert_eq!(header_bytes(&h), (4 + 12) + (6 + 1) + (6 + 2));
        let uri: Uri = "/ratings/1?x=y".parse().expect("uri");
        // Host becomes :authority; :method and :path join it
        assert_eq!(
            request_header_bytes(&Method::GET, &uri, "reviews:9080", &h),
            (6 + 1) + (6 + 2) + (7 + 3) + (5 + 14) + (10 + 12)
        );
        let mut bag = LayeredBag::default();
        finish(
            &mut bag,
            Outcome {
                code: 200,
                request_size: 10,
                response_size: 100,
                request_header_bytes: 60,
                response_header_bytes: 25,
                ..Outcome::default()
            },
            UNIX_EPOCH,
        );
        let get = |n| bag.get_by_name(n).cloned();
        assert_eq!(get("request.total_size"), Some(OwnedValue::Int64(70)));
        assert_eq!(get("response.total_size"), Some(OwnedValue::Int64(125)));
        assert_eq!(get("request.size"), Some(OwnedValue::Int64(10)));
    }
}
