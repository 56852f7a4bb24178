//! An ext_authz `AttributeContext` as an Istio attribute bag: what Envoy tells about the peers
//! and the HTTP request, named as an Istio sidecar would have named it for Mixer (spec §3).
//!
//! | Envoy | attribute |
//! |---|---|
//! | `source` / `destination.address.socket_address.address` | `source.ip` / `destination.ip` (raw bytes, as the proxy sends them) |
//! | `destination.address.socket_address.port_value` | `destination.port` |
//! | `source` / `destination.principal` | `source.principal` / `destination.principal`, `spiffe://` dropped (Istio 1.x form `cluster.local/ns/…/sa/…`) |
//! | `source` / `destination.labels` | `source.labels` / `destination.labels` |
//! | `request.time` | `request.time` |
//! | `request.http.method`, `host`, `scheme`, `id` | `request.method`, `request.host`, `request.scheme`, `request.id` (host and id fall back to the `:authority`/`host` and `x-request-id` headers) |
//! | `request.http.path` | `request.path`; before `?`: `request.url_path`; after: `request.query_params` (first value of each name, not decoded) |
//! | `request.http.headers` (or `header_map`) | `request.headers`; `user-agent` → `request.useragent`, `referer` → `request.referer` |
//! | `request.http.size` (≥ 0) | `request.size` |
//! | `content-type: application/grpc…` | `context.protocol` = `grpc`, else `http` |
//! | `tls_session.sni` | `connection.requested_server_name` |
//! | `context_extensions` | any key naming a STRING attribute of the vocabulary (e.g. `destination.namespace`, `context.reporter.kind`), when the request did not set it |
//!
//! `Peer.service` and `Peer.certificate` have no Istio attribute and are not mapped.

use mixer_attributes::{OwnedBag, OwnedValue, Timestamp, ValueType, Vocabulary};
use mixer_proto::envoy::config::core::v3::address::Address as AddressKind;
use mixer_proto::ext_authz::attribute_context::{HttpRequest, Peer};
use mixer_proto::ext_authz::AttributeContext;
use std::collections::BTreeMap;
use std::net::IpAddr;

/// The bag for `ctx`; `vocab` says which `context_extensions` keys are attributes.
pub fn bag(ctx: &AttributeContext, vocab: &Vocabulary) -> OwnedBag {
    let mut b = OwnedBag::with_capacity(24);
    if let Some(p) = &ctx.source {
        peer(&mut b, "source", p);
    }
    if let Some(p) = &ctx.destination {
        peer(&mut b, "destination", p);
        if let Some(port) = p.address.as_ref().and_then(port) {
            b.set("destination.port", OwnedValue::Int64(i64::from(port)));
        }
    }
    if let Some(r) = &ctx.request {
        if let Some(t) = r.time {
            b.set(
                "request.time",
                OwnedValue::Timestamp(Timestamp {
                    seconds: t.seconds,
                    nanos: t.nanos,
                }),
            );
        }
        if let Some(h) = &r.http {
            http(&mut b, h);
        }
    }
    if let Some(sni) = ctx.tls_session.as_ref().map(|t| &t.sni) {
        if !sni.is_empty() {
            b.set("connection.requested_server_name", s(sni));
        }
    }
    for (k, v) in &ctx.context_extensions {
        let is_string = matches!(vocab.attribute(k), Some((_, ValueType::String)));
        if is_string && b.get_by_name(k).is_none() {
            b.set(k.clone(), s(v));
        }
    }
    b
}

fn s(v: &str) -> OwnedValue {
    OwnedValue::String(v.to_owned())
}

fn socket(a: &mixer_proto::envoy::config::core::v3::Address) -> Option<&str> {
    match &a.address {
        Some(AddressKind::SocketAddress(sa)) => Some(&sa.address),
        _ => None,
    }
}

fn port(a: &mixer_proto::envoy::config::core::v3::Address) -> Option<u32> {
    use mixer_proto::envoy::config::core::v3::socket_address::PortSpecifier;
    match &a.address {
        Some(AddressKind::SocketAddress(sa)) => match sa.port_specifier {
            Some(PortSpecifier::PortValue(p)) => Some(p),
            _ => None,
        },
        _ => None,
    }
}

fn peer(b: &mut OwnedBag, side: &str, p: &Peer) {
    let ip = p
        .address
        .as_ref()
        .and_then(socket)
        .and_then(|a| a.parse::<IpAddr>().ok());
    if let Some(ip) = ip {
        b.set(format!("{side}.ip"), OwnedValue::ip(ip));
    }
    if !p.principal.is_empty() {
        let principal = p
            .principal
            .strip_prefix("spiffe://")
            .unwrap_or(&p.principal);
        b.set(format!("{side}.principal"), s(principal));
    }
    if !p.labels.is_empty() {
        b.set(format!("{side}.labels"), map(p.labels.iter()));
    }
}

fn map<'a>(pairs: impl Iterator<Item = (&'a String, &'a String)>) -> OwnedValue {
    OwnedValue::StringMap(pairs.map(|(k, v)| (k.clone(), v.clone())).collect())
}

fn http(b: &mut OwnedBag, h: &HttpRequest) {
    let headers = headers(h);
    let header = |name: &str| {
        headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let mut set = |name: &'static str, v: Option<&str>| {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            b.set(name, s(v));
        }
    };
    set("request.method", Some(&h.method));
    set(
        "request.host",
        Some(h.host.as_str())
            .filter(|v| !v.is_empty())
            .or_else(|| header(":authority"))
            .or_else(|| header("host")),
    );
    set("request.scheme", Some(&h.scheme));
    set(
        "request.id",
        Some(h.id.as_str())
            .filter(|v| !v.is_empty())
            .or_else(|| header("x-request-id")),
    );
    set("request.useragent", header("user-agent"));
    set("request.referer", header("referer"));
    let grpc = header("content-type").is_some_and(|c| c.starts_with("application/grpc"));
    set("context.protocol", Some(if grpc { "grpc" } else { "http" }));
    if !h.path.is_empty() {
        let (url_path, query) = match h.path.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (h.path.as_str(), None),
        };
        set("request.path", Some(&h.path));
        set("request.url_path", Some(url_path));
        if let Some(q) = query.filter(|q| !q.is_empty()) {
            b.set("request.query_params", query_params(q));
        }
    }
    if h.size >= 0 {
        b.set("request.size", OwnedValue::Int64(h.size));
    }
    if !headers.is_empty() {
        b.set("request.headers", OwnedValue::StringMap(headers));
    }
}

/// The request's headers, from `headers` or (raw headers) `header_map`, names lower-cased and
/// repeated names joined with `,` as HTTP allows.
fn headers(h: &HttpRequest) -> Vec<(String, String)> {
    let mut out: BTreeMap<String, String> = h
        .headers
        .iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.clone()))
        .collect();
    for hv in h.header_map.iter().flat_map(|m| &m.headers) {
        let value = if hv.value.is_empty() {
            String::from_utf8_lossy(&hv.raw_value)
        } else {
            hv.value.as_str().into()
        };
        out.entry(hv.key.to_ascii_lowercase())
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert_with(|| value.into_owned());
    }
    out.into_iter().collect()
}

/// `a=1&b=2&a=3` → {a: 1, b: 2}: the first value of each name, left as sent.
fn query_params(q: &str) -> OwnedValue {
    let mut out: BTreeMap<&str, &str> = BTreeMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(k).or_insert(v);
    }
    OwnedValue::StringMap(
        out.into_iter()
            .map(|(k, v)| (k.to_owned(), v.to_owned()))
            .collect(),
    )
}
