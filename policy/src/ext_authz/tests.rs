//! The ext_authz mappings on their own: an `AttributeContext` into attributes, a Mixer answer
//! into an ext_authz answer.

use super::answer::{answer, http_status};
use super::attributes::bag;
use mixer_attributes::{OwnedBag, OwnedValue, Timestamp, Vocabulary};
use mixer_proto::envoy::config::core::v3::{
    address, socket_address, Address, HeaderMap, HeaderValue, SocketAddress,
};
use mixer_proto::envoy::r#type::v3::StatusCode;
use mixer_proto::ext_authz::attribute_context::{HttpRequest, Peer, Request, TlsSession};
use mixer_proto::ext_authz::check_response::HttpResponse;
use mixer_proto::ext_authz::AttributeContext;
use mixer_proto::google::rpc::Status;
use mixer_proto::mixer::check_response::PreconditionResult;
use mixer_proto::mixer::header_operation::Operation;
use mixer_proto::mixer::{CheckResponse as MixerResponse, HeaderOperation, RouteDirective};

fn addr(ip: &str, port: u32) -> Option<Address> {
    Some(Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.to_owned(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    })
}

fn context() -> AttributeContext {
    AttributeContext {
        source: Some(Peer {
            address: addr("10.44.0.17", 51234),
            principal: "spiffe://cluster.local/ns/default/sa/reviews".into(),
            labels: [("app".to_owned(), "reviews".to_owned())].into(),
            ..Default::default()
        }),
        destination: Some(Peer {
            address: addr("fd00::23", 9080),
            principal: "cluster.local/ns/default/sa/ratings".into(),
            ..Default::default()
        }),
        request: Some(Request {
            time: Some(prost_types::Timestamp {
                seconds: 1_700_000_000,
                nanos: 5,
            }),
            http: Some(HttpRequest {
                method: "POST".into(),
                headers: [
                    (":authority", "ratings:9080"),
                    ("User-Agent", "curl/8"),
                    ("content-type", "application/grpc+proto"),
                    ("x-request-id", "abc-123"),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
                path: "/ratings/0?user=jason&x=1&user=other".into(),
                scheme: "https".into(),
                size: 42,
                protocol: "HTTP/2".into(),
                ..Default::default()
            }),
        }),
        context_extensions: [
            ("destination.namespace", "default"),
            ("request.method", "GET"),
            ("destination.port", "1"),
            ("not.an.attribute", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect(),
        tls_session: Some(TlsSession {
            sni: "ratings.default.svc.cluster.local".into(),
        }),
    }
}

fn get(b: &OwnedBag, name: &str) -> Option<OwnedValue> {
    b.get_by_name(name).cloned()
}

fn s(v: &str) -> Option<OwnedValue> {
    Some(OwnedValue::String(v.to_owned()))
}

fn map(pairs: &[(&str, &str)]) -> Option<OwnedValue> {
    Some(OwnedValue::StringMap(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    ))
}

#[test]
fn the_attribute_context_maps_to_istio_attributes() {
    let b = bag(&context(), Vocabulary::builtin());
    let ip6: std::net::IpAddr = "fd00::23".parse().expect("ip");
    let expected = [
        ("source.ip", Some(OwnedValue::Bytes(vec![10, 44, 0, 17]))),
        ("source.principal", s("cluster.local/ns/default/sa/reviews")),
        ("source.labels", map(&[("app", "reviews")])),
        ("destination.ip", Some(OwnedValue::ip(ip6))),
        ("destination.port", Some(OwnedValue::Int64(9080))),
        (
            "destination.principal",
            s("cluster.local/ns/default/sa/ratings"),
        ),
        (
            "request.time",
            Some(OwnedValue::Timestamp(Timestamp {
                seconds: 1_700_000_000,
                nanos: 5,
            })),
        ),
        ("request.method", s("POST")),
        ("request.path", s("/ratings/0?user=jason&x=1&user=other")),
        ("request.url_path", s("/ratings/0")),
        (
            "request.query_params",
            map(&[("user", "jason"), ("x", "1")]),
        ),
        ("request.host", s("ratings:9080")),
        ("request.scheme", s("https")),
        ("request.id", s("abc-123")),
        ("request.useragent", s("curl/8")),
        ("request.size", Some(OwnedValue::Int64(42))),
        ("context.protocol", s("grpc")),
        (
            "connection.requested_server_name",
            s("ratings.default.svc.cluster.local"),
        ),
        ("destination.namespace", s("default")),
        (
            "request.headers",
            map(&[
                (":authority", "ratings:9080"),
                ("content-type", "application/grpc+proto"),
                ("user-agent", "curl/8"),
                ("x-request-id", "abc-123"),
            ]),
        ),
    ];
    for (name, want) in &expected {
        assert_eq!(&get(&b, name), want, "{name}");
    }
    assert_eq!(b.len(), expected.len(), "nothing else: {b:?}");
}

#[test]
fn raw_headers_are_merged_and_an_empty_context_is_an_empty_bag() {
    let ctx = AttributeContext {
        request: Some(Request {
            time: None,
            http: Some(HttpRequest {
                header_map: Some(HeaderMap {
                    headers: vec![
                        HeaderValue {
                            key: "X-Tag".into(),
                            value: String::new(),
                            raw_value: b"a".to_vec(),
                        },
                        HeaderValue {
                            key: "x-tag".into(),
                            value: "b".into(),
                            raw_value: vec![],
                        },
                    ],
                }),
                path: "/plain".into(),
                size: -1,
                ..Default::default()
            }),
        }),
        ..Default::default()
    };
    let b = bag(&ctx, Vocabulary::builtin());
    assert_eq!(get(&b, "request.headers"), map(&[("x-tag", "a,b")]));
    assert_eq!(get(&b, "request.url_path"), s("/plain"));
    assert_eq!(get(&b, "request.query_params"), None);
    assert_eq!(get(&b, "request.size"), None, "-1: unknown");
    assert_eq!(get(&b, "context.protocol"), s("http"));
    assert!(bag(&AttributeContext::default(), Vocabulary::builtin()).is_empty());
}

#[test]
fn grpc_codes_map_to_http_statuses() {
    assert_eq!(http_status(7), StatusCode::Forbidden);
    assert_eq!(http_status(8), StatusCode::TooManyRequests);
    assert_eq!(http_status(16), StatusCode::Unauthorized);
    for other in [3, 5, 9, 13, 14] {
        assert_eq!(http_status(other), StatusCode::Forbidden, "code {other}");
    }
}

fn mixer(code: i32, message: &str, directive: Option<RouteDirective>) -> MixerResponse {
    MixerResponse {
        precondition: Some(PreconditionResult {
            status: Some(Status {
                code,
                message: message.into(),
                details: vec![],
            }),
            route_directive: directive,
            ..Default::default()
        }),
        quotas: Default::default(),
    }
}

fn op(name: &str, value: &str, operation: Operation) -> HeaderOperation {
    HeaderOperation {
        name: name.into(),
        value: value.into(),
        operation: operation as i32,
    }
}

#[test]
fn an_allowed_answer_carries_the_header_operations() {
    let directive = RouteDirective {
        request_header_operations: vec![
            op("x-user", "jason", Operation::Replace),
            op("x-trace", "1", Operation::Append),
            op("authorization", "", Operation::Remove),
        ],
        response_header_operations: vec![op("x-policy", "ok", Operation::Replace)],
        ..Default::default()
    };
    let r = answer(mixer(0, "", Some(directive)));
    assert_eq!(r.status.as_ref().map(|s| s.code), Some(0));
    let Some(HttpResponse::OkResponse(ok)) = r.http_response else {
        panic!("an OK answer: {r:?}");
    };
    let headers: Vec<(String, String, Option<bool>)> = ok
        .headers
        .iter()
        .map(|h| {
            let hv = h.header.clone().unwrap_or_default();
            (hv.key, hv.value, h.append)
        })
        .collect();
    assert_eq!(
        headers,
        [
            ("x-user".into(), "jason".into(), Some(false)),
            ("x-trace".into(), "1".into(), Some(true)),
        ]
    );
    assert_eq!(ok.headers_to_remove, ["authorization"]);
    assert_eq!(ok.response_headers_to_add.len(), 1);
}

#[test]
fn a_denial_answers_the_mapped_status_and_the_message() {
    let r = answer(mixer(8, "quota.handler.istio-system:over", None));
    assert_eq!(
        r.status.as_ref().map(|s| (s.code, s.message.as_str())),
        Some((8, "quota.handler.istio-system:over"))
    );
    let Some(HttpResponse::DeniedResponse(d)) = r.http_response else {
        panic!("a denial: {r:?}");
    };
    assert_eq!(d.status.map(|s| s.code), Some(429));
    assert_eq!(d.body, "quota.handler.istio-system:over");

    // a direct response from the directive wins over the mapping
    let directive = RouteDirective {
        direct_response_code: 302,
        direct_response_body: "moved".into(),
        response_header_operations: vec![op("location", "/login", Operation::Replace)],
        ..Default::default()
    };
    let Some(HttpResponse::DeniedResponse(d)) =
        answer(mixer(7, "no", Some(directive))).http_response
    else {
        panic!("a denial");
    };
    assert_eq!(
        (d.status.map(|s| s.code), d.body.as_str()),
        (Some(302), "moved")
    );
    assert_eq!(d.headers.len(), 1);
}
