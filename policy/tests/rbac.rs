//! Istio's RBAC task (the Mixer adapter of Istio 0.8 / 1.0) through the real gRPC API of an
//! in-process policy service: namespace-level and service-level access control on Bookinfo,
//! allowing and denying by service, path, method and subject, each answer checked for its
//! status code, message, valid duration and use count and the referenced attributes a proxy
//! caches the decision by.

mod common;

use common::*;
use mixer_attributes::OwnedBag;
use std::time::Duration;

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// istio/istio 0.8 `samples/bookinfo/kube/istio-rbac-enable.yaml`: the rbac handler, the
/// `requestcontext` authorization instance and the rule sending it for every service but
/// mongodb (Istio 1.0 kinds).
const ENABLE: &str = r#"
apiVersion: "config.istio.io/v1alpha2"
kind: authorization
metadata:
  name: requestcontext
  namespace: istio-system
spec:
  subject:
    user: source.user | ""
    groups: ""
    properties:
      app: source.labels["app"] | ""
      version: source.labels["version"] | ""
      namespace: source.namespace | ""
  action:
    namespace: destination.namespace | ""
    service: destination.service | ""
    method: request.method | ""
    path: request.path | ""
    properties:
      app: destination.labels["app"] | ""
      version: destination.labels["version"] | ""
---
apiVersion: "config.istio.io/v1alpha2"
kind: rbac
metadata:
  name: handler
  namespace: istio-system
spec:
  config_store_url: "k8s://"
---
apiVersion: "config.istio.io/v1alpha2"
kind: rule
metadata:
  name: rbaccheck
  namespace: istio-system
spec:
  match: destination.labels["app"] != "mongodb" #exclude mongodb service
  actions:
  - handler: handler.rbac
    instances:
    - requestcontext.authorization
"#;

/// The task's "namespace-level access control": GET on the Bookinfo apps, for callers from
/// `istio-system` and `default` (`samples/bookinfo/kube/rbac/namespace-policy.yaml`).
const NAMESPACE_POLICY: &str = r#"
apiVersion: "rbac.istio.io/v1alpha1"
kind: ServiceRole
metadata:
  name: service-viewer
  namespace: default
spec:
  rules:
  - services: ["*"]
    methods: ["GET"]
    constraints:
    - key: "app"
      values: ["productpage", "details", "reviews", "ratings"]
---
apiVersion: "rbac.istio.io/v1alpha1"
kind: ServiceRoleBinding
metadata:
  name: bind-service-viewer
  namespace: default
spec:
  subjects:
  - properties:
      namespace: "istio-system"
  - properties:
      namespace: "default"
  roleRef:
    kind: ServiceRole
    name: "service-viewer"
"#;

/// The task's "service-level access control" (productpage-policy.yaml,
/// details-reviews-policy.yaml, ratings-policy.yaml), plus a path-scoped role and a cache
/// lifetime on the handler.
const SERVICE_POLICY: &str = r#"
apiVersion: "rbac.istio.io/v1alpha1"
kind: ServiceRole
metadata: {name: productpage-viewer, namespace: default}
spec:
  rules:
  - services: ["productpage.default.svc.cluster.local"]
    methods: ["GET"]
---
apiVersion: "rbac.istio.io/v1alpha1"
kind: ServiceRoleBinding
metadata: {name: bind-productpage-viewer, namespace: default}
spec:
  subjects:
  - user: "*"
  roleRef: {kind: ServiceRole, name: "productpage-viewer"}
---
apiVersion: "rbac.istio.io/v1alpha1"
kind: ServiceRole
metadata: {name: details-reviews-viewer, namespace: default}
spec:
  rules:
  - services: ["details.default.svc.cluster.local", "reviews.default.svc.cluster.local"]
    methods: ["GET"]
---
apiVersion: "rbac.istio.io/v1alpha1"
kind: ServiceRoleBinding
metadata: {name: bind-details-reviews, namespace: default}
spec:
  subjects:
  - user: "cluster.local/ns/default/sa/bookinfo-productpage"
  roleRef: {kind: ServiceRole, name: "details-reviews-viewer"}
---
apiVersion: "rbac.istio.io/v1alpha1"
kind: ServiceRole
metadata: {name: ratings-writer, namespace: default}
spec:
  rules:
  - services: ["ratings.default.svc.cluster.local"]
    paths: ["/ratings/*"]
    methods: ["POST", "PUT"]
---
apiVersion: "rbac.istio.io/v1alpha1"
kind: ServiceRoleBinding
metadata: {name: bind-ratings-writer, namespace: default}
spec:
  subjects:
  - user: "cluster.local/ns/default/sa/bookinfo-reviews"
    properties: {version: v3}
  roleRef: {kind: ServiceRole, name: "ratings-writer"}
"#;

const HANDLER: &str = "handler.handler.istio-system";

/// An inbound request as a sidecar sends it: `from` (namespace, app, version, user) calling
/// `method path` on the Bookinfo app `to` in `default`.
fn call(from: (&str, &str, &str, &str), method: &str, to: &str, path: &str) -> OwnedBag {
    let (ns, app, version, user) = from;
    let mut bag: Vec<(&str, _)> = vec![
        ("context.reporter.kind", s("inbound")),
        ("source.namespace", s(ns)),
        (
            "source.labels",
            labels(&[("app", app), ("version", version)]),
        ),
        ("destination.namespace", s("default")),
        (
            "destination.service",
            s(&format!("{to}.default.svc.cluster.local")),
        ),
        (
            "destination.labels",
            labels(&[("app", to), ("version", "v1")]),
        ),
        ("request.method", s(method)),
        ("request.path", s(path)),
    ];
    if !user.is_empty() {
        bag.push(("source.user", s(user)));
    }
    bag.into_iter().collect()
}

const PRODUCTPAGE: (&str, &str, &str, &str) = (
    "default",
    "productpage",
    "v1",
    "cluster.local/ns/default/sa/bookinfo-productpage",
);
const INGRESS: (&str, &str, &str, &str) = ("istio-system", "istio-ingressgateway", "", "");

async fn serve(name: &str, files: &[(&str, &str)]) -> (Running, std::path::PathBuf) {
    let dir = temp_dir(name);
    for (file, text) in files {
        write(&dir, file, text);
    }
    (start(Some(dir.clone()), SECS(60)).await, dir)
}

fn denied() -> (i32, String, Duration, i32) {
    (
        7,
        format!("{HANDLER}:RBAC: permission denied."),
        SECS(60),
        1_000_000_000,
    )
}

#[tokio::test]
async fn namespace_level_access_control() {
    let (srv, dir) = serve(
        "rbac-namespace",
        &[("enable.yaml", ENABLE), ("policy.yaml", NAMESPACE_POLICY)],
    )
    .await;

    // the ingress gateway (istio-system) and productpage (default) may GET the apps
    let r = srv
        .check(&call(INGRESS, "GET", "productpage", "/productpage"))
        .await;
    assert_eq!(verdict(&r), (0, String::new(), SECS(60), 1_000_000_000));
    assert_eq!(
        referenced(&r),
        [
            "context.reporter.kind EXACT",
            "destination.labels[app] EXACT",
            "destination.labels[version] EXACT",
            "destination.namespace EXACT",
            "destination.service EXACT",
            "request.method EXACT",
            "request.path EXACT",
            "source.labels[app] EXACT",
            "source.labels[version] EXACT",
            "source.namespace EXACT",
            "source.user ABSENCE",
        ]
    );
    let r = srv
        .check(&call(PRODUCTPAGE, "GET", "reviews", "/reviews/0"))
        .await;
    assert_eq!(verdict(&r).0, 0);
    assert!(referenced(&r).contains(&"source.user EXACT".to_owned()));

    // another namespace, another method, an app outside the constraint: denied
    let stranger = (
        "sandbox",
        "sleep",
        "v1",
        "cluster.local/ns/sandbox/sa/sleep",
    );
    let r = srv
        .check(&call(stranger, "GET", "reviews", "/reviews/0"))
        .await;
    assert_eq!(verdict(&r), denied());
    let r = srv
        .check(&call(PRODUCTPAGE, "DELETE", "reviews", "/reviews/0"))
        .await;
    assert_eq!(verdict(&r), denied());
    let r = srv
        .check(&call(PRODUCTPAGE, "GET", "httpbin", "/headers"))
        .await;
    assert_eq!(verdict(&r), denied());

    // mongodb is excluded by the rule: no adapter ran, Mixer's defaults, and only the
    // match's reads are referenced
    let r = srv.check(&call(stranger, "DELETE", "mongodb", "/")).await;
    assert_eq!(verdict(&r), (0, String::new(), SECS(60), 10000));
    assert_eq!(
        referenced(&r),
        [
            "context.reporter.kind EXACT",
            "destination.labels[app] EXACT",
            "destination.namespace EXACT",
        ]
    );
    srv.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn service_level_access_by_service_path_method_and_subject() {
    let enable = ENABLE.replace(
        "config_store_url: \"k8s://\"",
        "config_store_url: \"k8s://\"\n  cache_duration: 30s",
    );
    let (srv, dir) = serve(
        "rbac-service",
        &[("enable.yaml", &enable), ("policy.yaml", SERVICE_POLICY)],
    )
    .await;
    let denied = (
        7,
        format!("{HANDLER}:RBAC: permission denied."),
        SECS(30),
        1_000_000_000,
    );

    // anyone may GET productpage, even without a user
    let r = srv
        .check(&call(INGRESS, "GET", "productpage", "/productpage"))
        .await;
    assert_eq!(verdict(&r), (0, String::new(), SECS(30), 1_000_000_000));
    let r = srv
        .check(&call(INGRESS, "POST", "productpage", "/productpage"))
        .await;
    assert_eq!(verdict(&r), denied);

    // details and reviews: only productpage's service account
    for to in ["details", "reviews"] {
        let r = srv.check(&call(PRODUCTPAGE, "GET", to, "/x/0")).await;
        assert_eq!(verdict(&r).0, 0, "{to}");
        let r = srv.check(&call(INGRESS, "GET", to, "/x/0")).await;
        assert_eq!(verdict(&r), denied, "{to}");
    }

    // ratings: reviews v3 may POST or PUT under /ratings/, nothing else
    let reviews = |v| {
        (
            "default",
            "reviews",
            v,
            "cluster.local/ns/default/sa/bookinfo-reviews",
        )
    };
    let r = srv
        .check(&call(reviews("v3"), "POST", "ratings", "/ratings/0"))
        .await;
    assert_eq!(verdict(&r).0, 0);
    for (from, method, path) in [
        (reviews("v3"), "POST", "/health"),
        (reviews("v3"), "GET", "/ratings/0"),
        (reviews("v2"), "PUT", "/ratings/0"),
        (PRODUCTPAGE, "POST", "/ratings/0"),
    ] {
        let r = srv.check(&call(from, method, "ratings", path)).await;
        assert_eq!(verdict(&r), denied, "{from:?} {method} {path}");
    }
    srv.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// With `RbacConfig` in permissive mode nothing is denied; with ON_WITH_INCLUSION only the
/// included namespaces are checked.
#[tokio::test]
async fn rbac_config_modes() {
    let permissive = "apiVersion: rbac.istio.io/v1alpha1\nkind: RbacConfig\nmetadata: {name: default}\nspec: {mode: 'ON', enforcementMode: PERMISSIVE}\n";
    let (srv, dir) = serve(
        "rbac-permissive",
        &[
            ("enable.yaml", ENABLE),
            ("policy.yaml", NAMESPACE_POLICY),
            ("rbac-config.yaml", permissive),
        ],
    )
    .await;
    let r = srv
        .check(&call(PRODUCTPAGE, "DELETE", "reviews", "/reviews/0"))
        .await;
    assert_eq!(verdict(&r), (0, String::new(), SECS(60), 1_000_000_000));
    srv.stop().await;
    let _ = std::fs::remove_dir_all(dir);

    let inclusion = "apiVersion: rbac.istio.io/v1alpha1\nkind: RbacConfig\nmetadata: {name: default}\nspec: {mode: ON_WITH_INCLUSION, inclusion: {namespaces: [staging]}}\n";
    let (srv, dir) = serve(
        "rbac-inclusion",
        &[
            ("enable.yaml", ENABLE),
            ("policy.yaml", NAMESPACE_POLICY),
            ("rbac-config.yaml", inclusion),
        ],
    )
    .await;
    let r = srv
        .check(&call(PRODUCTPAGE, "DELETE", "reviews", "/reviews/0"))
        .await;
    assert_eq!(verdict(&r).0, 0, "default is not included");
    srv.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
