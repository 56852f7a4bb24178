//! The prometheus adapter with Istio's standard HTTP config (4 metrics, 20 labels each, one
//! label group): cost per bag of recording into a per-Report batch and merging it (Reports of
//! 100 bags over 1,000 distinct label sets), against the cost of only evaluating the same
//! expressions; and the exposition of 100k series.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mixer_attributes::{Duration, IndexedBag, OwnedBag, OwnedValue, Vocabulary};
use mixer_rules::{load, Catalog, Plan, Source, Variety};
use mixer_telemetry::adapters::prometheus::{PrometheusHandler, SPEC};
use std::hint::black_box;
use std::time::Instant;

const STANDARD: &str = include_str!("../testdata/istio-http-metrics.yaml");
const REPORT: usize = 100;

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

/// An inbound HTTP report (~40 attributes); `workload` and `code` pick its label set.
fn bag(workload: usize, code: i64, i: usize) -> IndexedBag {
    let app = format!("app-{workload}");
    let b: OwnedBag = [
        ("context.protocol", s("http")),
        ("context.reporter.kind", s("inbound")),
        (
            "source.uid",
            s(&format!("kubernetes://{app}-v1-6b746f74dc-9stvs.default")),
        ),
        ("source.ip", OwnedValue::Bytes(vec![10, 44, 0, 12])),
        (
            "source.labels",
            map(&[
                ("app", &app),
                ("version", "v1"),
                ("pod-template-hash", "6b746f74dc"),
            ]),
        ),
        ("source.namespace", s("default")),
        (
            "source.principal",
            s(&format!("cluster.local/ns/default/sa/{app}")),
        ),
        ("source.workload.name", s(&format!("{app}-v1"))),
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
        ("destination.namespace", s("default")),
        (
            "destination.principal",
            s("cluster.local/ns/default/sa/bookinfo-reviews"),
        ),
        ("destination.workload.name", s("reviews-v2")),
        ("destination.workload.namespace", s("default")),
        (
            "destination.service.host",
            s("reviews.default.svc.cluster.local"),
        ),
        ("destination.service.name", s("reviews")),
        ("destination.service.namespace", s("default")),
        (
            "request.headers",
            map(&[
                (":authority", "reviews:9080"),
                (":path", "/reviews/0"),
                (":method", "GET"),
            ]),
        ),
        ("request.id", s("4f2b0c1e-6a8e-9d1b-b1d6-3c0f8e2a7d55")),
        ("request.path", s("/reviews/0")),
        ("request.host", s("reviews:9080")),
        ("request.method", s("GET")),
        ("request.scheme", s("http")),
        ("request.size", OwnedValue::Int64((i % 7 * 300) as i64)),
        ("request.total_size", OwnedValue::Int64(612)),
        ("request.useragent", s("python-requests/2.18.4")),
        ("response.code", OwnedValue::Int64(code)),
        (
            "response.size",
            OwnedValue::Int64((1_000 + i % 13 * 1_000) as i64),
        ),
        ("response.total_size", OwnedValue::Int64(2_000)),
        (
            "response.duration",
            OwnedValue::Duration(Duration {
                seconds: 0,
                nanos: (i % 50 + 1) as i32 * 1_000_000,
            }),
        ),
        ("connection.mtls", OwnedValue::Bool(true)),
        ("connection.id", s("a2fb4a1d1a96d312")),
    ]
    .into_iter()
    .collect();
    IndexedBag::new(&b, Vocabulary::builtin())
}

fn setup(text: &str) -> (Plan, PrometheusHandler) {
    let catalog = Catalog {
        adapters: &[SPEC],
        other_kinds: &[],
    };
    let config = load(
        &[Source {
            file: "standard.yaml",
            text,
        }],
        &catalog,
    )
    .unwrap_or_else(|p| panic!("{p}"));
    let plan = Plan::new(&config);
    let handler = PrometheusHandler::new(&config, 0, &plan).expect("handler");
    (plan, handler)
}

/// 4,096 bags over 1,000 label sets (200 workloads × 5 response codes), in a mixed order.
fn bags() -> Vec<IndexedBag> {
    (0..4096)
        .map(|i| bag(i * 7 % 200, [200, 201, 404, 500, 503][i / 200 % 5], i))
        .collect()
}

fn report(
    plan: &Plan,
    h: &PrometheusHandler,
    batch: &mut mixer_telemetry::adapters::prometheus::Batch,
    bags: &[IndexedBag],
) {
    let mut ev = plan.evaluator(&bags[0]);
    for b in bags {
        ev = ev.reset(b);
        let mut rec = batch.bag();
        plan.dispatch(
            &mut ev,
            Variety::Report,
            |ev, _, inst| {
                rec.record(ev, inst);
            },
            |_| {},
        );
    }
    h.merge(batch, Instant::now());
}

fn record(c: &mut Criterion) {
    let (plan, h) = setup(STANDARD);
    let bags = bags();
    let mut group = c.benchmark_group("record");
    group.throughput(Throughput::Elements(REPORT as u64));

    // Baseline: the same dispatch, evaluating every label and value the adapter reads.
    group.bench_function("evaluate_only_per_report_of_100", |b| {
        let mut start = 0;
        b.iter(|| {
            let chunk = &bags[start..start + REPORT];
            start = (start + REPORT) % (bags.len() - REPORT);
            let mut ev = plan.evaluator(&chunk[0]);
            let mut n = 0usize;
            for bag in chunk {
                ev = ev.reset(bag);
                plan.dispatch(
                    &mut ev,
                    Variety::Report,
                    |ev, _, inst| {
                        for (_, id) in inst.map("dimensions").unwrap_or(&[]) {
                            n += usize::from(ev.value(*id).is_ok());
                        }
                        if let Some(v) = inst.field("value") {
                            n += usize::from(ev.value(v).is_ok());
                        }
                    },
                    |_| {},
                );
            }
            black_box(n)
        })
    });

    let mut batch = h.batch();
    group.bench_function("record_and_merge_per_report_of_100", |b| {
        let mut start = 0;
        b.iter(|| {
            let chunk = &bags[start..start + REPORT];
            start = (start + REPORT) % (bags.len() - REPORT);
            report(&plan, &h, &mut batch, black_box(chunk));
        })
    });

    // One proxy's Report: 100 bags over 10 label sets (most bags hit the batch's own sets).
    let few: Vec<IndexedBag> = (0..1000)
        .map(|i| bag(i % 2, [200, 201, 404, 500, 503][i / 2 % 5], i))
        .collect();
    let (plan2, h2) = setup(STANDARD);
    let mut batch2 = h2.batch();
    group.bench_function("record_and_merge_per_report_of_100_10_label_sets", |b| {
        let mut start = 0;
        b.iter(|| {
            let chunk = &few[start..start + REPORT];
            start = (start + REPORT) % (few.len() - REPORT);
            report(&plan2, &h2, &mut batch2, black_box(chunk));
        })
    });
    group.finish();
    let stats = h.stats();
    eprintln!(
        "series per metric after the run: {:?}",
        stats.iter().map(|s| s.series).collect::<Vec<_>>()
    );
}

fn exposition(c: &mut Criterion) {
    // 25,000 label sets × 4 metrics = 100,000 series (3 of the 4 are histograms).
    let (plan, h) = setup(STANDARD);
    let mut batch = h.batch();
    for chunk in (0..25_000).collect::<Vec<usize>>().chunks(1_000) {
        let bags: Vec<IndexedBag> = chunk
            .iter()
            .map(|&i| bag(i % 250, 200 + (i / 250) as i64, i))
            .collect();
        report(&plan, &h, &mut batch, &bags);
    }
    let series: u64 = h.stats().iter().map(|s| s.series).sum();
    let mut out = String::new();
    h.render(&mut out);
    eprintln!(
        "exposition: {series} series, {} lines, {} bytes",
        out.lines().count(),
        out.len()
    );

    let mut group = c.benchmark_group("exposition");
    group.sample_size(10);
    group.bench_function("render_100k_series_standard_http", |b| {
        b.iter(|| {
            out.clear();
            h.render(&mut out);
            black_box(out.len())
        })
    });

    // The same number of plain counter series, for a per-line cost.
    let counters_only = STANDARD
        .replace("kind: DISTRIBUTION", "kind: COUNTER")
        .replace("      buckets:", "      # buckets:");
    let (plan, h) = setup(&counters_only);
    let mut batch = h.batch();
    for chunk in (0..25_000).collect::<Vec<usize>>().chunks(1_000) {
        let bags: Vec<IndexedBag> = chunk
            .iter()
            .map(|&i| bag(i % 250, 200 + (i / 250) as i64, i))
            .collect();
        report(&plan, &h, &mut batch, &bags);
    }
    out.clear();
    h.render(&mut out);
    eprintln!(
        "counters only: {} lines, {} bytes",
        out.lines().count(),
        out.len()
    );
    group.bench_function("render_100k_counter_series", |b| {
        b.iter(|| {
            out.clear();
            h.render(&mut out);
            black_box(out.len())
        })
    });
    group.finish();
}

/// `MIXER_BENCH=record` or `=exposition` runs one half (the exposition setup takes seconds).
fn selected(name: &str) -> bool {
    std::env::var("MIXER_BENCH").map_or(true, |v| v == name)
}

fn all(c: &mut Criterion) {
    if selected("record") {
        record(c);
    }
    if selected("exposition") {
        exposition(c);
    }
}

criterion_group!(benches, all);
criterion_main!(benches);
