//! Nanoseconds per evaluation of the standard Istio telemetry expressions (spec §5.3: the
//! `requestcount`/`requestduration` dimensions and values, and the `promhttp`/`promtcp` rule
//! matches) over a realistic ~40-attribute inbound HTTP bag: each expression alone, then the
//! whole set per bag, with and without a recorder.

use criterion::{criterion_group, criterion_main, Criterion};
use mixer_attributes::expr::{compile, Expression};
use mixer_attributes::referenced::{NoRecord, Recorder};
use mixer_attributes::{
    AttrRef, Duration, IndexedBag, OwnedBag, OwnedValue, Timestamp, Value, Vocabulary,
};
use std::hint::black_box;

const EXPRESSIONS: [(&str, &str); 24] = [
    (
        "reporter",
        r#"conditional((context.reporter.kind | "inbound") == "outbound", "source", "destination")"#,
    ),
    ("source_workload", r#"source.workload.name | "unknown""#),
    (
        "source_workload_namespace",
        r#"source.workload.namespace | "unknown""#,
    ),
    ("source_principal", r#"source.principal | "unknown""#),
    ("source_app", r#"source.labels["app"] | "unknown""#),
    ("source_version", r#"source.labels["version"] | "unknown""#),
    (
        "destination_workload",
        r#"destination.workload.name | "unknown""#,
    ),
    (
        "destination_workload_namespace",
        r#"destination.workload.namespace | "unknown""#,
    ),
    (
        "destination_principal",
        r#"destination.principal | "unknown""#,
    ),
    (
        "destination_app",
        r#"destination.labels["app"] | "unknown""#,
    ),
    (
        "destination_version",
        r#"destination.labels["version"] | "unknown""#,
    ),
    (
        "destination_service",
        r#"destination.service.host | conditional((destination.service.name | "unknown") == "unknown", "unknown", request.host)"#,
    ),
    (
        "destination_service_name",
        r#"destination.service.name | "unknown""#,
    ),
    (
        "destination_service_namespace",
        r#"destination.service.namespace | "unknown""#,
    ),
    (
        "request_protocol",
        r#"api.protocol | context.protocol | "unknown""#,
    ),
    ("response_code", r#"response.code | 200"#),
    ("response_flags", r#"context.proxy_error_code | "-""#),
    (
        "permissive_response_code",
        r#"rbac.permissive.response_code | "none""#,
    ),
    (
        "permissive_response_policyid",
        r#"rbac.permissive.effective_policy_id | "none""#,
    ),
    (
        "connection_security_policy",
        r#"conditional((context.reporter.kind | "inbound") == "outbound", "unknown", conditional(connection.mtls | false, "mutual_tls", "none"))"#,
    ),
    ("requestduration_value", r#"response.duration | "0ms""#),
    (
        "authority",
        r#"request.headers[":authority"] | request.host | """#,
    ),
    (
        "promhttp_match",
        r#"(context.protocol == "http" || context.protocol == "grpc") && (match((request.useragent | "-"), "kube-probe*") == false) && (match((request.useragent | "-"), "Prometheus*") == false)"#,
    ),
    ("promtcp_match", r#"context.protocol == "tcp""#),
];

fn s(v: &str) -> OwnedValue {
    OwnedValue::String(v.to_owned())
}

fn map(pairs: &[(&str, &str)]) -> OwnedValue {
    OwnedValue::StringMap(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

/// What an inbound sidecar reports for one HTTP request (44 attributes).
fn bag() -> OwnedBag {
    let ts = OwnedValue::Timestamp(Timestamp {
        seconds: 1_700_000_000,
        nanos: 123_000_000,
    });
    [
        (
            "source.uid",
            s("kubernetes://productpage-v1-6b746f74dc-9stvs.default"),
        ),
        ("source.ip", OwnedValue::Bytes(vec![10, 44, 0, 12])),
        (
            "source.labels",
            map(&[
                ("app", "productpage"),
                ("version", "v1"),
                ("pod-template-hash", "6b746f74dc"),
            ]),
        ),
        ("source.name", s("productpage-v1-6b746f74dc-9stvs")),
        ("source.namespace", s("default")),
        (
            "source.principal",
            s("cluster.local/ns/default/sa/bookinfo-productpage"),
        ),
        (
            "source.owner",
            s("kubernetes://apis/apps/v1/namespaces/default/deployments/productpage-v1"),
        ),
        (
            "source.workload.uid",
            s("istio://default/workloads/productpage-v1"),
        ),
        ("source.workload.name", s("productpage-v1")),
        ("source.workload.namespace", s("default")),
        (
            "destination.uid",
            s("kubernetes://reviews-v2-7d6f8b5b9c-kq2xw.default"),
        ),
        ("destination.ip", OwnedValue::Bytes(vec![10, 44, 0, 17])),
        ("destination.port", OwnedValue::Int64(9080)),
        (
            "destination.labels",
            map(&[
                ("app", "reviews"),
                ("version", "v2"),
                ("pod-template-hash", "7d6f8b5b9c"),
            ]),
        ),
        ("destination.name", s("reviews-v2-7d6f8b5b9c-kq2xw")),
        ("destination.namespace", s("default")),
        (
            "destination.principal",
            s("cluster.local/ns/default/sa/bookinfo-reviews"),
        ),
        (
            "destination.owner",
            s("kubernetes://apis/apps/v1/namespaces/default/deployments/reviews-v2"),
        ),
        (
            "destination.workload.uid",
            s("istio://default/workloads/reviews-v2"),
        ),
        ("destination.workload.name", s("reviews-v2")),
        ("destination.workload.namespace", s("default")),
        (
            "destination.service.host",
            s("reviews.default.svc.cluster.local"),
        ),
        (
            "destination.service.uid",
            s("istio://default/services/reviews"),
        ),
        ("destination.service.name", s("reviews")),
        ("destination.service.namespace", s("default")),
        (
            "request.headers",
            map(&[
                (":authority", "reviews:9080"),
                (":path", "/reviews/0"),
                (":method", "GET"),
                ("user-agent", "python-requests/2.18.4"),
                ("accept", "*/*"),
                ("x-request-id", "4f2b0c1e-6a8e-9d1b-b1d6-3c0f8e2a7d55"),
                ("x-b3-traceid", "463ac35c9f6413ad48485a3953bb6124"),
                ("x-b3-spanid", "a2fb4a1d1a96d312"),
            ]),
        ),
        ("request.id", s("4f2b0c1e-6a8e-9d1b-b1d6-3c0f8e2a7d55")),
        ("request.path", s("/reviews/0")),
        ("request.host", s("reviews:9080")),
        ("request.method", s("GET")),
        ("request.scheme", s("http")),
        ("request.size", OwnedValue::Int64(0)),
        ("request.total_size", OwnedValue::Int64(612)),
        ("request.time", ts.clone()),
        ("request.useragent", s("python-requests/2.18.4")),
        ("response.code", OwnedValue::Int64(200)),
        ("response.size", OwnedValue::Int64(295)),
        ("response.total_size", OwnedValue::Int64(510)),
        ("response.time", ts),
        (
            "response.duration",
            OwnedValue::Duration(Duration {
                seconds: 0,
                nanos: 7_412_000,
            }),
        ),
        ("context.protocol", s("http")),
        ("context.reporter.kind", s("inbound")),
        (
            "context.reporter.uid",
            s("kubernetes://reviews-v2-7d6f8b5b9c-kq2xw.default"),
        ),
        ("connection.mtls", OwnedValue::Bool(true)),
    ]
    .into_iter()
    .collect()
}

/// A recorder that counts reads: the cost of reporting them, without a real signature.
#[derive(Default)]
struct Count(usize);

impl Recorder for Count {
    fn attribute(&mut self, _: AttrRef<'_>, _: Option<&Value<'_>>) {
        self.0 += 1;
    }

    fn map_key(&mut self, _: AttrRef<'_>, _: &str, _: bool) {
        self.0 += 1;
    }
}

fn compiled() -> Vec<(&'static str, Expression)> {
    let vocab = Vocabulary::builtin();
    EXPRESSIONS
        .iter()
        .map(|(name, text)| {
            (
                *name,
                compile(text, vocab).unwrap_or_else(|e| panic!("{name}: {e}")),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let bag = bag();
    let exprs = compiled();
    let mut group = c.benchmark_group("eval");
    for (name, e) in &exprs {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(e.evaluate(black_box(&bag)).is_ok()))
        });
    }
    group.bench_function("all_24_per_bag", |b| {
        b.iter(|| {
            let mut ok = 0;
            for (_, e) in &exprs {
                ok += usize::from(e.evaluate(black_box(&bag)).is_ok());
            }
            black_box(ok)
        })
    });
    group.bench_function("all_24_per_bag_recorded", |b| {
        b.iter(|| {
            let mut rec = Count::default();
            for (_, e) in &exprs {
                let _ = black_box(e.evaluate_recorded(black_box(&bag), &mut rec).is_ok());
            }
            black_box(rec.0)
        })
    });
    let ids = IndexedBag::new(&bag, Vocabulary::builtin());
    group.bench_function("all_24_per_id_bag", |b| {
        b.iter(|| {
            let mut ok = 0;
            for (_, e) in &exprs {
                ok += usize::from(e.evaluate(black_box(&ids)).is_ok());
            }
            black_box(ok)
        })
    });
    for i in [1, 4, 11, 19, 22] {
        let (name, e) = &exprs[i];
        group.bench_function(format!("id_bag/{name}"), |b| {
            b.iter(|| black_box(e.evaluate(black_box(&ids)).is_ok()))
        });
    }
    group.bench_function("promhttp_match_bool", |b| {
        let e = &exprs[22].1;
        b.iter(|| black_box(e.evaluate_bool(black_box(&bag), &mut NoRecord)))
    });
    group.finish();
    c.bench_function("compile/all_24", |b| b.iter(|| black_box(compiled().len())));
}

criterion_group!(benches, bench);
criterion_main!(benches);
