//! Envoy's ext_authz v3 API on the policy service's gRPC port, through a tonic client
//! generated from our protos: allowed and denied answers from the same rules Mixer's Check
//! runs (denier, listchecker on a header), the HTTP status each gRPC code maps to, and the
//! request's headers, path and peers reaching the rules as Istio attributes.

mod common;

use common::*;
use mixer_proto::envoy::config::core::v3::{address, socket_address, Address, SocketAddress};
use mixer_proto::ext_authz::attribute_context::{HttpRequest, Peer, Request};
use mixer_proto::ext_authz::authorization_client::AuthorizationClient;
use mixer_proto::ext_authz::check_response::HttpResponse;
use mixer_proto::ext_authz::{AttributeContext, CheckRequest, CheckResponse};
use std::time::Duration;
use tonic::transport::Channel;

const RULES: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: users, namespace: istio-system}
spec:
  compiledAdapter: listchecker
  params: {overrides: ["jason", "alice"], blacklist: false}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: user, namespace: istio-system}
spec:
  compiledTemplate: listentry
  params: {value: 'request.headers["x-user"] | ""'}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: knownusers, namespace: istio-system}
spec:
  match: request.url_path.startsWith("/ratings")
  actions: [{handler: users, instances: [user]}]
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: nologin, namespace: istio-system}
spec:
  compiledAdapter: denier
  params: {status: {code: UNAUTHENTICATED, message: log in first}}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: busy, namespace: istio-system}
spec:
  compiledAdapter: denier
  params: {status: {code: RESOURCE_EXHAUSTED, message: slow down}}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: nodelete, namespace: istio-system}
spec:
  compiledAdapter: denier
  params: {status: {code: PERMISSION_DENIED, message: read only}}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: nothing, namespace: istio-system}
spec: {compiledTemplate: checknothing}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: private, namespace: istio-system}
spec:
  match: request.url_path == "/private" && source.principal != "cluster.local/ns/default/sa/admin"
  actions: [{handler: nologin, instances: [nothing]}]
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: throttled, namespace: istio-system}
spec:
  match: destination.port == 9999
  actions: [{handler: busy, instances: [nothing]}]
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: readonly, namespace: istio-system}
spec:
  match: request.method == "DELETE" && destination.ip == ip("10.0.0.9")
  actions: [{handler: nodelete, instances: [nothing]}]
"#;

fn addr(ip: &str, port: u32) -> Option<Address> {
    Some(Address {
        address: Some(address::Address::SocketAddress(SocketAddress {
            address: ip.to_owned(),
            port_specifier: Some(socket_address::PortSpecifier::PortValue(port)),
            ..Default::default()
        })),
    })
}

/// An Envoy-like request from `principal` to 10.0.0.9:`port`.
fn request(
    method: &str,
    path: &str,
    user: Option<&str>,
    principal: &str,
    port: u32,
) -> CheckRequest {
    let mut headers: std::collections::HashMap<String, String> =
        [(":authority".to_owned(), "ratings:9080".to_owned())].into();
    if let Some(u) = user {
        headers.insert("x-user".into(), u.into());
    }
    CheckRequest {
        attributes: Some(AttributeContext {
            source: Some(Peer {
                address: addr("10.0.0.1", 40000),
                principal: format!("spiffe://{principal}"),
                ..Default::default()
            }),
            destination: Some(Peer {
                address: addr("10.0.0.9", port),
                ..Default::default()
            }),
            request: Some(Request {
                time: None,
                http: Some(HttpRequest {
                    method: method.into(),
                    path: path.into(),
                    headers,
                    protocol: "HTTP/1.1".into(),
                    size: -1,
                    ..Default::default()
                }),
            }),
            ..Default::default()
        }),
    }
}

/// (gRPC code, HTTP status of a denial or 200 for OK, body or message).
fn outcome(r: &CheckResponse) -> (i32, i32, String) {
    let code = r.status.as_ref().map_or(-1, |s| s.code);
    match &r.http_response {
        Some(HttpResponse::OkResponse(_)) => (code, 200, String::new()),
        Some(HttpResponse::DeniedResponse(d)) => {
            (code, d.status.map_or(-1, |s| s.code), d.body.clone())
        }
        None => (code, -1, String::new()),
    }
}

async fn client(srv: &Running) -> AuthorizationClient<Channel> {
    let channel = Channel::from_shared(format!("http://{}", srv.bound.grpc))
        .expect("uri")
        .connect()
        .await
        .expect("connect");
    AuthorizationClient::new(channel)
}

#[tokio::test]
async fn ext_authz_answers_from_the_policy_rules() {
    let dir = temp_dir("ext-authz");
    write(&dir, "rules.yaml", RULES);
    let srv = start(Some(dir.clone()), Duration::from_secs(60)).await;
    let mut c = client(&srv).await;
    let mut check = async |r: CheckRequest| -> (i32, i32, String) {
        outcome(&c.check(r).await.expect("ext_authz answers").into_inner())
    };
    let user = "cluster.local/ns/default/sa/productpage";

    // listchecker on a header value: a listed user is allowed, another denied
    assert_eq!(
        check(request("GET", "/ratings/0?x=1", Some("jason"), user, 9080)).await,
        (0, 200, String::new())
    );
    assert_eq!(
        check(request("GET", "/ratings/0", Some("mallory"), user, 9080)).await,
        (
            7,
            403,
            "users.handler.istio-system:mallory is not whitelisted".into()
        )
    );
    assert_eq!(
        check(request("GET", "/ratings/0", None, user, 9080))
            .await
            .1,
        403,
        "no header: \"\" is not listed"
    );
    // the path outside /ratings: the list is not consulted
    assert_eq!(
        check(request("GET", "/details/0", Some("mallory"), user, 9080))
            .await
            .0,
        0
    );

    // denier rules and the HTTP status of each code
    assert_eq!(
        check(request("GET", "/private", None, user, 9080)).await,
        (16, 401, "nologin.handler.istio-system:log in first".into())
    );
    assert_eq!(
        check(request(
            "GET",
            "/private",
            None,
            "cluster.local/ns/default/sa/admin",
            9080
        ))
        .await
        .0,
        0,
        "source.principal mapped without spiffe://"
    );
    assert_eq!(
        check(request("GET", "/details/0", None, user, 9999)).await,
        (8, 429, "busy.handler.istio-system:slow down".into())
    );
    assert_eq!(
        check(request("DELETE", "/details/0", None, user, 9080)).await,
        (7, 403, "nodelete.handler.istio-system:read only".into())
    );

    // the same engine and cache as Mixer's Check
    let m = &srv.service.metrics;
    let hits = m.check_cache_hits.get();
    assert_eq!(
        check(request("GET", "/ratings/0", Some("mallory"), user, 9080))
            .await
            .1,
        403
    );
    assert_eq!(
        m.check_cache_hits.get(),
        hits + 1,
        "answered from the cache"
    );
    srv.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
