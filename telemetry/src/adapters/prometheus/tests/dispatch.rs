//! Real configs loaded through `mixer_rules::load`, real bags dispatched through
//! `Plan::dispatch` into the handler: kinds, values, label formatting, the series cap,
//! expiry, and the standard config end to end.

use super::super::*;
use super::{setup, STANDARD};
use mixer_attributes::{Duration, OwnedBag, OwnedValue};
use mixer_rules::{Plan, Variety};
use std::net::IpAddr;
use std::time::{Duration as StdDuration, Instant};

pub(in super::super) fn report(
    plan: &Plan,
    h: &PrometheusHandler,
    bags: &[OwnedBag],
    now: Instant,
) {
    let mut batch = h.batch();
    for b in bags {
        let mut ev = plan.evaluator(b);
        let mut rec = batch.bag();
        plan.dispatch(
            &mut ev,
            Variety::Report,
            |ev, _, inst| assert!(rec.record(ev, inst)),
            |e| panic!("{e}"),
        );
    }
    h.merge(&mut batch, now);
}

pub(in super::super) fn text(h: &PrometheusHandler) -> String {
    let mut out = String::new();
    h.render(&mut out);
    out
}

fn s(v: &str) -> OwnedValue {
    OwnedValue::String(v.into())
}

pub(in super::super) fn bag(pairs: &[(&'static str, OwnedValue)]) -> OwnedBag {
    pairs.iter().cloned().collect()
}

/// One instance read by a counter, a gauge and a histogram, with typed dimensions.
pub(in super::super) fn small(extra_params: &str, value: &str) -> String {
    format!(
        r#"
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {{name: sized, namespace: istio-system}}
spec:
  compiledTemplate: metric
  params:
    value: '{value}'
    dimensions:
      code: response.code | 200
      ip: source.ip | ip("0.0.0.0")
      mtls: connection.mtls | false
      app: source.labels | emptyStringMap()
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {{name: prometheus, namespace: istio-system}}
spec:
  compiledAdapter: prometheus
  params:
{extra_params}
    metrics:
    - {{name: sized_total, instance_name: sized, kind: COUNTER, label_names: [code, ip, mtls, app]}}
    - {{name: sized_last, instance_name: sized, kind: GAUGE, label_names: [code, ip, mtls, app]}}
    - name: sized
      instance_name: sized
      kind: DISTRIBUTION
      description: "sizes"
      label_names: [code, ip, mtls, app]
      buckets: {{explicit_buckets: {{bounds: [1, 10, 100]}}}}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {{name: all, namespace: istio-system}}
spec:
  actions:
  - {{handler: prometheus, instances: [sized]}}
"#
    )
}

fn sized(size: i64, code: i64) -> OwnedBag {
    bag(&[
        ("request.size", OwnedValue::Int64(size)),
        ("response.code", OwnedValue::Int64(code)),
    ])
}

#[test]
fn counter_adds_gauge_sets_distribution_observes() {
    let (_, plan, h) = setup(&small("", "request.size | 0"));
    let now = Instant::now();
    report(&plan, &h, &[sized(5, 200), sized(50, 200)], now);
    report(&plan, &h, &[sized(500, 200), sized(7, 404)], now);
    let labels = r#"app="",code="200",ip="0.0.0.0",mtls="false""#;
    let want = format!(
        "# HELP istio_sized sizes\n# TYPE istio_sized histogram\n\
         istio_sized_bucket{{{labels},le=\"1\"}} 0\n\
         istio_sized_bucket{{{labels},le=\"10\"}} 1\n\
         istio_sized_bucket{{{labels},le=\"100\"}} 2\n\
         istio_sized_bucket{{{labels},le=\"+Inf\"}} 3\n\
         istio_sized_sum{{{labels}}} 555\n\
         istio_sized_count{{{labels}}} 3\n"
    );
    let all = text(&h);
    assert!(all.starts_with(&want), "{all}");
    assert!(
        all.contains(&format!(
            "# TYPE istio_sized_last gauge\nistio_sized_last{{{labels}}} 500\n"
        )),
        "{all}"
    );
    assert!(
        all.contains(&format!(
            "# TYPE istio_sized_total counter\nistio_sized_total{{{labels}}} 555\n"
        )),
        "{all}"
    );
    assert!(
        all.contains(r#"istio_sized_total{app="",code="404",ip="0.0.0.0",mtls="false"} 7"#),
        "{all}"
    );
    let stats = h.stats();
    assert_eq!(
        stats
            .iter()
            .map(|s| (s.metric.as_str(), s.series))
            .collect::<Vec<_>>(),
        [
            ("istio_sized", 2),
            ("istio_sized_last", 2),
            ("istio_sized_total", 2)
        ]
    );
}

#[test]
fn totals_sum_counters_and_count_observations_but_not_gauges() {
    let (_, plan, h) = setup(&small("", "request.size | 0"));
    assert!(h.totals().iter().all(|t| t.total.is_sign_positive()));
    assert_eq!(
        h.totals(),
        [
            MetricTotal {
                metric: "istio_sized".into(),
                total: 0.0
            },
            MetricTotal {
                metric: "istio_sized_total".into(),
                total: 0.0
            },
        ]
    );
    let now = Instant::now();
    report(&plan, &h, &[sized(5, 200), sized(50, 200)], now);
    report(&plan, &h, &[sized(500, 200), sized(7, 404)], now);
    let totals: Vec<(String, f64)> = h
        .totals()
        .into_iter()
        .map(|t| (t.metric, t.total))
        .collect();
    assert_eq!(
        totals,
        [
            ("istio_sized".to_owned(), 4.0),
            ("istio_sized_total".to_owned(), 562.0)
        ]
    );
}

#[test]
fn label_values_are_stringified_as_istio_does() {
    let (_, plan, h) = setup(&small("", "request.size | 0"));
    let b = bag(&[
        ("request.size", OwnedValue::Int64(1)),
        ("response.code", OwnedValue::Int64(-3)),
        (
            "source.ip",
            OwnedValue::ip("10.1.2.3".parse::<IpAddr>().expect("ip")),
        ),
        ("connection.mtls", OwnedValue::Bool(true)),
        (
            "source.labels",
            OwnedValue::StringMap(vec![
                ("version".into(), "v1".into()),
                ("app".into(), "a\"b".into()),
            ]),
        ),
    ]);
    let mapped = bag(&[
        ("request.size", OwnedValue::Int64(1)),
        (
            "source.ip",
            OwnedValue::ip("::ffff:10.9.9.9".parse::<IpAddr>().expect("ip")),
        ),
    ]);
    let v6 = bag(&[
        ("request.size", OwnedValue::Int64(1)),
        (
            "source.ip",
            OwnedValue::ip("fe80::1".parse::<IpAddr>().expect("ip")),
        ),
    ]);
    report(&plan, &h, &[b, mapped, v6], Instant::now());
    let all = text(&h);
    for want in [
        r#"istio_sized_total{app="app=a\"b&version=v1",code="-3",ip="10.1.2.3",mtls="true"} 1"#,
        r#"istio_sized_total{app="",code="200",ip="10.9.9.9",mtls="false"} 1"#,
        r#"istio_sized_total{app="",code="200",ip="fe80::1",mtls="false"} 1"#,
    ] {
        assert!(all.contains(want), "missing {want} in\n{all}");
    }
}

#[test]
fn values_convert_like_prom_value() {
    let cases: [(&str, OwnedBag, Option<&str>); 6] = [
        (
            "response.duration | \"0ms\"",
            bag(&[(
                "response.duration",
                OwnedValue::Duration(Duration {
                    seconds: 1,
                    nanos: 500_000_000,
                }),
            )]),
            Some("1.5"),
        ),
        (
            "request.path | \"none\"",
            bag(&[("request.path", s("2.5e3"))]),
            Some("2500"),
        ),
        (
            "request.path | \"none\"",
            bag(&[("request.path", s("12 bytes"))]),
            None,
        ),
        ("connection.mtls | false", bag(&[]), None),
        (
            "request.size | 0",
            bag(&[("request.size", OwnedValue::Int64(-1))]),
            None,
        ),
        ("\"7.25\"", bag(&[]), Some("7.25")),
    ];
    for (expr, b, want) in cases {
        let (_, plan, h) = setup(&small("", expr));
        report(&plan, &h, &[b], Instant::now());
        let all = text(&h);
        let stats = h.stats();
        let total = stats
            .iter()
            .find(|s| s.metric == "istio_sized_total")
            .expect("counter stats");
        match want {
            Some(v) => assert!(all.contains(&format!("istio_sized_total{{app=\"\",code=\"200\",ip=\"0.0.0.0\",mtls=\"false\"}} {v}\n")), "{expr}: {all}"),
            None => assert_eq!(total.value_errors, 1, "{expr}: {all}"),
        }
    }
}

#[test]
fn milliseconds_unit_and_evaluation_errors() {
    let text_cfg = small("", "response.duration | \"0ms\"").replace(
        "kind: DISTRIBUTION\n",
        "kind: DISTRIBUTION\n      duration_unit: MILLISECONDS\n",
    );
    let text_cfg = text_cfg.replace(
        "app: source.labels | emptyStringMap()",
        "app: source.labels",
    );
    let (_, plan, h) = setup(&text_cfg);
    let d = |ms: i32| {
        OwnedValue::Duration(Duration {
            seconds: 0,
            nanos: ms * 1_000_000,
        })
    };
    let ok = bag(&[
        ("response.duration", d(12)),
        ("source.labels", OwnedValue::StringMap(vec![])),
    ]);
    let no_labels = bag(&[("response.duration", d(3))]);
    report(&plan, &h, &[ok, no_labels], Instant::now());
    let all = text(&h);
    assert!(
        all.contains("istio_sized_sum{app=\"\",code=\"200\",ip=\"0.0.0.0\",mtls=\"false\"} 12\n"),
        "{all}"
    );
    assert!(
        all.contains(
            "istio_sized_total{app=\"\",code=\"200\",ip=\"0.0.0.0\",mtls=\"false\"} 0.012\n"
        ),
        "{all}"
    );
    assert!(
        h.stats().iter().all(|s| s.eval_errors == 1),
        "{:?}",
        h.stats()
    );
}

#[test]
fn series_beyond_the_cap_go_to_the_overflow_series() {
    let (_, plan, h) = setup(&small("    max_series_per_metric: 2", "request.size | 0"));
    let now = Instant::now();
    report(&plan, &h, &[sized(1, 200), sized(1, 201)], now);
    report(
        &plan,
        &h,
        &[sized(1, 202), sized(1, 203), sized(1, 200)],
        now,
    );
    let all = text(&h);
    assert!(
        all.contains(r#"istio_sized_total{app="",code="200",ip="0.0.0.0",mtls="false"} 2"#),
        "{all}"
    );
    assert!(
        all.contains(r#"istio_sized_total{app="",code="201",ip="0.0.0.0",mtls="false"} 1"#),
        "{all}"
    );
    assert!(!all.contains(r#"code="202""#), "{all}");
    let overflow =
        r#"{app="mixer_overflow",code="mixer_overflow",ip="mixer_overflow",mtls="mixer_overflow"}"#;
    assert!(
        all.contains(&format!("istio_sized_total{overflow} 2\n")),
        "{all}"
    );
    assert!(
        all.contains(&format!("istio_sized_count{overflow} 2\n")),
        "{all}"
    );
    for s in h.stats() {
        assert_eq!((s.series, s.overflowed), (3, 2), "{s:?}");
    }
}

#[test]
fn idle_series_expire() {
    let (_, plan, h) = setup(&small(
        "    metricsExpirationPolicy: {metricsExpiryDuration: 10m}",
        "request.size | 0",
    ));
    assert_eq!(
        h.expiration().map(|e| e.check_interval),
        Some(StdDuration::from_secs(300))
    );
    let t0 = Instant::now();
    report(&plan, &h, &[sized(1, 200), sized(1, 500)], t0);
    report(
        &plan,
        &h,
        &[sized(1, 200)],
        t0 + StdDuration::from_secs(300),
    );
    h.expire(t0 + StdDuration::from_secs(599));
    assert_eq!(h.stats()[0].series, 2);
    h.expire(t0 + StdDuration::from_secs(600));
    let all = text(&h);
    assert!(!all.contains("code=\"500\""), "{all}");
    assert!(
        all.contains(r#"istio_sized_total{app="",code="200",ip="0.0.0.0",mtls="false"} 2"#),
        "{all}"
    );
    assert!(
        h.stats().iter().all(|s| s.series == 1 && s.expired == 1),
        "{:?}",
        h.stats()
    );
    // a new sample of the expired label set starts from zero
    report(
        &plan,
        &h,
        &[sized(4, 500)],
        t0 + StdDuration::from_secs(700),
    );
    assert!(
        text(&h).contains(r#"istio_sized_total{app="",code="500",ip="0.0.0.0",mtls="false"} 4"#)
    );
    h.expire(t0 + StdDuration::from_secs(1300));
    assert_eq!(text(&h), "", "everything expired");
}

/// An inbound HTTP bag as an Istio 1.4 sidecar reports it.
pub(in super::super) fn http_bag(i: usize) -> OwnedBag {
    let app = ["productpage", "reviews", "ratings", "details"][i % 4];
    let mut b = bag(&[
        ("context.protocol", s("http")),
        ("context.reporter.kind", s("inbound")),
        ("source.workload.name", s(&format!("{app}-v1"))),
        ("source.workload.namespace", s("default")),
        (
            "source.principal",
            s("cluster.local/ns/default/sa/bookinfo"),
        ),
        (
            "source.labels",
            OwnedValue::StringMap(vec![
                ("app".into(), app.into()),
                ("version".into(), "v1".into()),
            ]),
        ),
        ("destination.workload.name", s("reviews-v2")),
        ("destination.workload.namespace", s("default")),
        (
            "destination.principal",
            s("cluster.local/ns/default/sa/reviews"),
        ),
        (
            "destination.labels",
            OwnedValue::StringMap(vec![
                ("app".into(), "reviews".into()),
                ("version".into(), "v2".into()),
            ]),
        ),
        (
            "destination.service.host",
            s("reviews.default.svc.cluster.local"),
        ),
        ("destination.service.name", s("reviews")),
        ("destination.service.namespace", s("default")),
        ("destination.namespace", s("default")),
        ("request.host", s("reviews:9080")),
        (
            "response.code",
            OwnedValue::Int64([200, 200, 200, 404, 503][i % 5]),
        ),
        (
            "response.duration",
            OwnedValue::Duration(Duration {
                seconds: 0,
                nanos: (i as i32 % 50 + 1) * 1_000_000,
            }),
        ),
        ("request.size", OwnedValue::Int64((i as i64 % 7) * 300)),
        (
            "response.size",
            OwnedValue::Int64(1_000 + i as i64 % 13 * 1_000),
        ),
        ("connection.mtls", OwnedValue::Bool(!i.is_multiple_of(3))),
    ]);
    if i.is_multiple_of(11) {
        b.set("context.proxy_error_code", s("UH"));
    }
    b
}

#[test]
fn standard_config_end_to_end() {
    let (_, plan, h) = setup(STANDARD);
    let bags: Vec<OwnedBag> = (0..60).map(http_bag).collect();
    report(&plan, &h, &bags[..30], Instant::now());
    report(&plan, &h, &bags[30..], Instant::now());
    let all = text(&h);
    let one = concat!(
        r#"istio_requests_total{connection_security_policy="mutual_tls",destination_app="reviews","#,
        r#"destination_principal="cluster.local/ns/default/sa/reviews","#,
        r#"destination_service="reviews.default.svc.cluster.local",destination_service_name="reviews","#,
        r#"destination_service_namespace="default",destination_version="v2","#,
        r#"destination_workload="reviews-v2",destination_workload_namespace="default","#,
        r#"permissive_response_code="none",permissive_response_policyid="none",reporter="destination","#,
        r#"request_protocol="http",response_code="200",response_flags="-",source_app="reviews","#,
        r#"source_principal="cluster.local/ns/default/sa/bookinfo",source_version="v1","#,
        r#"source_workload="reviews-v1",source_workload_namespace="default"} "#
    );
    assert!(all.contains(one), "{all}");
    let families: Vec<&str> = all.lines().filter(|l| l.starts_with("# TYPE")).collect();
    assert_eq!(
        families,
        [
            "# TYPE istio_request_bytes histogram",
            "# TYPE istio_request_duration_seconds histogram",
            "# TYPE istio_requests_total counter",
            "# TYPE istio_response_bytes histogram",
        ]
    );
    assert!(
        all.contains(r#"le="0.005"} "#) && all.contains(r#"le="1e+08"} "#),
        "{all}"
    );
    let total: f64 = all
        .lines()
        .filter(|l| l.starts_with("istio_requests_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(total, 60.0);
    let stats = h.stats();
    assert!(
        stats
            .iter()
            .all(|s| s.series == stats[0].series && s.value_errors == 0 && s.eval_errors == 0),
        "{stats:?}"
    );
}

/// A worker keeps one batch across Reports, so label sets come from its memo (what the label
/// expressions read) more often than not. The exposition must be the one evaluating every bag
/// gives: across Reports, for bags that differ only in what no label reads (the path, other
/// labels of the maps), and for bags that differ in a map key a label reads.
#[test]
fn remembered_label_sets_give_the_evaluated_series() {
    let (_, plan, remembered) = setup(STANDARD);
    let (_, _, evaluated) = setup(STANDARD);
    let bags: Vec<OwnedBag> = (0..48)
        .map(|i| {
            let mut b = http_bag(i);
            b.set("request.path", s(&format!("/p/{i}")));
            // eighths of a second add up exactly in any order
            let nanos = 125_000_000 * (i % 8) as i32;
            b.set(
                "response.duration",
                OwnedValue::Duration(Duration { seconds: 0, nanos }),
            );
            let version = if i % 3 == 0 { "v1" } else { "v9" };
            let other = format!("x{}", i % 5);
            b.set(
                "source.labels",
                OwnedValue::StringMap(vec![
                    ("app".into(), "reviews".into()),
                    ("version".into(), version.into()),
                    ("other".into(), other),
                ]),
            );
            b
        })
        .collect();
    let now = Instant::now();
    let mut batch = remembered.batch();
    for chunk in bags.chunks(16).chain(bags.chunks(16)) {
        for b in chunk {
            let mut ev = plan.evaluator(b);
            let mut rec = batch.bag();
            plan.dispatch(
                &mut ev,
                Variety::Report,
                |ev, _, inst| assert!(rec.record(ev, inst)),
                |e| panic!("{e}"),
            );
        }
        remembered.merge(&mut batch, now);
    }
    // a fresh batch per bag: nothing remembered, every label evaluated
    for b in bags.iter().chain(&bags) {
        report(&plan, &evaluated, std::slice::from_ref(b), now);
    }
    let (got, want) = (text(&remembered), text(&evaluated));
    assert_eq!(got, want);
    assert!(got.contains(r#"source_version="v9""#), "{got}");
    assert!(got.contains(r#"source_version="v1""#), "{got}");
    assert!(!got.contains("/p/"), "the path is not a label: {got}");
}
