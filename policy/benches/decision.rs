//! The in-process cost of one policy decision (no RPC): `CheckRequest` bytes in, answer out,
//! through [`PolicyService::check_bytes`] — decode, cache lookup, and on a miss the rules and
//! adapters. The request is what an Istio 1.4 sidecar sends for an inbound HTTP call (~30
//! attributes with a 10-header map), the config is bookinfo's deny-by-label rule plus a
//! whitelist, both reading labels:
//!
//! - `hit`: the answer is in the decision cache (target ≤ 1 µs);
//! - `miss`: the cache is off, every call runs the rules and adapters (the baseline);
//! - `lookup`: the cache lookup alone, on a decoded bag (`hit` ≈ `lazy` + `lookup`);
//! - `lazy`: reading the request for the lookup alone (`LazyCheck::scan`), the floor under a
//!   hit;
//! - `decode`: decoding the request in full alone, the floor under a miss.
//!
//! Run: `cargo bench -j2 -p mixer-policy --bench decision`; results in `benches/RESULTS.md`.

use criterion::{criterion_group, criterion_main, Criterion};
use mixer_attributes::decode::{CheckRequestView, LazyCheck};
use mixer_attributes::encode::encode_check_request;
use mixer_attributes::{OwnedBag, OwnedValue};
use mixer_policy::clock::{Clock, SystemClock};
use mixer_policy::config_source;
use mixer_policy::engine::Engine;
use mixer_policy::self_metrics::PolicyMetrics;
use mixer_policy::service::{ready_now, PolicyService};
use std::hint::black_box;
use std::sync::Arc;

const CONFIG: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: denyreviewsv3handler, namespace: istio-system}
spec:
  compiledAdapter: denier
  params: {status: {code: 7, message: Not allowed}, validDuration: 300s, validUseCount: 100000000}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: denyreviewsv3request, namespace: istio-system}
spec: {compiledTemplate: checknothing}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: denyreviewsv3, namespace: istio-system}
spec:
  match: destination.labels["app"] == "ratings" && source.labels["app"]=="reviews" && source.labels["version"] == "v3"
  actions: [{handler: denyreviewsv3handler, instances: [denyreviewsv3request]}]
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: whitelist, namespace: istio-system}
spec:
  compiledAdapter: listchecker
  params: {overrides: ["v1", "v2"], blacklist: false, cachingInterval: 300s, cachingUseCount: 100000000}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: appversion, namespace: istio-system}
spec:
  compiledTemplate: listentry
  params:
    value: source.labels["version"]
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: checkversion, namespace: istio-system}
spec:
  match: destination.labels["app"] == "ratings"
  actions: [{handler: whitelist, instances: [appversion]}]
"#;

fn s(v: &str) -> OwnedValue {
    OwnedValue::String(v.to_owned())
}

fn map(pairs: &[(&str, &str)]) -> OwnedValue {
    OwnedValue::StringMap(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
    )
}

/// What a 1.4 sidecar sends to Check for reviews-v2 → ratings.
fn request() -> Vec<u8> {
    let mut b = OwnedBag::with_capacity(32);
    b.set("context.reporter.kind", s("inbound"))
        .set("context.protocol", s("http"))
        .set(
            "source.uid",
            s("kubernetes://reviews-v2-5d8f7b9c4-x2x7q.default"),
        )
        .set("source.namespace", s("default"))
        .set(
            "source.principal",
            s("cluster.local/ns/default/sa/bookinfo-reviews"),
        )
        .set("source.ip", OwnedValue::Bytes(vec![10, 44, 0, 17]))
        .set(
            "source.labels",
            map(&[
                ("app", "reviews"),
                ("version", "v2"),
                ("pod-template-hash", "5d8f7b9c4"),
            ]),
        )
        .set(
            "destination.uid",
            s("kubernetes://ratings-v1-7dc98c7588-4qvzl.default"),
        )
        .set("destination.namespace", s("default"))
        .set(
            "destination.principal",
            s("cluster.local/ns/default/sa/bookinfo-ratings"),
        )
        .set("destination.ip", OwnedValue::Bytes(vec![10, 44, 0, 23]))
        .set("destination.port", OwnedValue::Int64(9080))
        .set(
            "destination.labels",
            map(&[
                ("app", "ratings"),
                ("version", "v1"),
                ("pod-template-hash", "7dc98c7588"),
            ]),
        )
        .set(
            "destination.service.host",
            s("ratings.default.svc.cluster.local"),
        )
        .set("destination.service.name", s("ratings"))
        .set("destination.service.namespace", s("default"))
        .set("request.method", s("GET"))
        .set("request.path", s("/ratings/0"))
        .set("request.url_path", s("/ratings/0"))
        .set("request.host", s("ratings:9080"))
        .set("request.scheme", s("http"))
        .set("request.id", s("a1b2c3d4-0000-4a3b-9c1d-00000000beef"))
        .set("request.useragent", s("Mozilla/5.0"))
        .set(
            "request.headers",
            map(&[
                (":authority", "ratings:9080"),
                (":method", "GET"),
                (":path", "/ratings/0"),
                ("accept", "application/json"),
                ("user-agent", "Mozilla/5.0"),
                ("x-request-id", "a1b2c3d4-0000-4a3b-9c1d-00000000beef"),
                ("x-b3-traceid", "80f198ee56343ba864fe8b2a57d3eff7"),
                ("x-b3-spanid", "e457b5a2e4d86bd1"),
                ("x-b3-sampled", "1"),
                ("x-forwarded-proto", "http"),
            ]),
        );
    encode_check_request(b.iter(), 222, "", &[])
}

fn service(cache_entries: u64) -> PolicyService {
    let config = config_source::validate(&[("bench.yaml".into(), CONFIG.into())])
        .unwrap_or_else(|p| panic!("config: {p}"));
    let engine = Engine::new(config, 1, SystemClock.now()).expect("engine builds");
    PolicyService::new(
        engine,
        Arc::new(PolicyMetrics::default()),
        Arc::new(SystemClock),
        64,
        cache_entries,
    )
}

/// Answers a Check that allocates no Redis quota, so no async runtime is timed with it. The
/// answer is what the gRPC server encodes (a hit: the cached answer's shared bytes).
fn check_now(service: &PolicyService, req: &[u8]) -> mixer_proto::CheckAnswer {
    ready_now(service.check_bytes(req))
        .expect("a Check without Redis quotas does not wait")
        .expect("answers")
}

fn decision(c: &mut Criterion) {
    let req = request();
    let cached = service(10_000);
    let first = check_now(&cached, &req).into_response();
    let hit = check_now(&cached, &req).into_response();
    assert_eq!(cached.metrics.check_cache_hits.get(), 1, "a hit");
    let refs = |r: &mixer_proto::mixer::CheckResponse| {
        r.precondition
            .as_ref()
            .map(|p| (p.status.clone(), p.referenced_attributes.clone()))
    };
    assert_eq!(refs(&hit), refs(&first));
    let uncached = service(0);

    let mut g = c.benchmark_group("decision");
    g.bench_function("hit", |b| b.iter(|| check_now(&cached, black_box(&req))));
    g.bench_function("miss", |b| b.iter(|| check_now(&uncached, black_box(&req))));
    let engine = cached.engine();
    let vocab = &engine.config.vocabulary;
    let view = CheckRequestView::parse(&req, vocab).expect("decodes");
    let epoch = cached.cache.epoch();
    let now = SystemClock.now();
    g.bench_function("lookup", |b| {
        b.iter(|| {
            cached
                .cache
                .lookup(epoch, 222, black_box(view.attributes()), now)
        })
    });
    g.bench_function("lazy", |b| {
        b.iter(|| LazyCheck::scan(black_box(&req), vocab).map(|v| v.len()))
    });
    g.bench_function("decode", |b| {
        b.iter(|| CheckRequestView::parse(black_box(&req), vocab).map(|v| v.attributes().len()))
    });
    g.finish();
    assert!(
        cached.metrics.check_cache_misses.get() == 1,
        "every timed call was a hit"
    );
}

criterion_group!(benches, decision);
criterion_main!(benches);
