//! Decode speed of a realistic report batch (100 Istio-like bags of ~40 attributes, encoded
//! INDEPENDENT with shared `default_words` as a 1.1+ proxy does), per bag:
//!
//! - `scan`: walks every field, varint and length of the same bytes and builds nothing — the
//!   floor for any decoder of this format;
//! - `bag`: our decoder, every bag made usable in one reused [`Bag`];
//! - `prost`: prost decoding into the generated `ReportRequest` structs (the baseline).
//!
//! Run: `cargo bench -j2 -p mixer-attributes --bench decode`; results in `benches/RESULTS.md`.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use mixer_attributes::decode::ReportRequestView;
use mixer_attributes::encode::ReportBatch;
use mixer_attributes::scan::scan_report;
use mixer_attributes::wire::WireError;
use mixer_attributes::{Bag, Duration, OwnedBag, OwnedValue, Timestamp, Vocabulary};
use prost::Message;
use std::hint::black_box;

const BAGS: usize = 100;

fn s(v: impl Into<String>) -> OwnedValue {
    OwnedValue::String(v.into())
}

fn map(pairs: &[(&str, String)]) -> OwnedValue {
    OwnedValue::StringMap(
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
    )
}

/// The attributes an Istio sidecar reports for one HTTP request.
fn istio_bag(i: usize) -> OwnedBag {
    let src = ["productpage", "reviews", "ratings"][i % 3];
    let dst = ["details", "reviews", "ratings", "productpage"][i % 4];
    let ns = "default";
    let id = format!("{:08x}-{:04x}-4a3b-9c1d-{:012x}", i * 7919, i, i * 104_729);
    let trace = format!("{:016x}", i as u64 * 0x9e37_79b9_7f4a_7c15);
    let mut b = OwnedBag::with_capacity(48);
    b.set(
        "source.uid",
        s(format!("kubernetes://{src}-v1-5d8f7b9c4-{i:05}.{ns}")),
    )
    .set("source.name", s(format!("{src}-v1-5d8f7b9c4-{i:05}")))
    .set("source.namespace", s(ns))
    .set("source.workload.name", s(format!("{src}-v1")))
    .set("source.workload.namespace", s(ns))
    .set(
        "source.workload.uid",
        s(format!("istio://{ns}/workloads/{src}-v1")),
    )
    .set(
        "source.principal",
        s(format!("cluster.local/ns/{ns}/sa/bookinfo-{src}")),
    )
    .set(
        "source.ip",
        OwnedValue::Bytes(vec![10, 44, (i / 250) as u8, (i % 250) as u8 + 1]),
    )
    .set(
        "source.labels",
        map(&[
            ("app", src.into()),
            ("version", "v1".into()),
            ("pod-template-hash", "5d8f7b9c4".into()),
            ("security.istio.io/tlsMode", "istio".into()),
        ]),
    )
    .set(
        "destination.uid",
        s(format!("kubernetes://{dst}-v1-6c7d8e9f0-{:05}.{ns}", i % 7)),
    )
    .set(
        "destination.name",
        s(format!("{dst}-v1-6c7d8e9f0-{:05}", i % 7)),
    )
    .set("destination.namespace", s(ns))
    .set("destination.workload.name", s(format!("{dst}-v1")))
    .set("destination.workload.namespace", s(ns))
    .set(
        "destination.workload.uid",
        s(format!("istio://{ns}/workloads/{dst}-v1")),
    )
    .set(
        "destination.principal",
        s(format!("cluster.local/ns/{ns}/sa/bookinfo-{dst}")),
    )
    .set(
        "destination.service.host",
        s(format!("{dst}.{ns}.svc.cluster.local")),
    )
    .set("destination.service.name", s(dst))
    .set("destination.service.namespace", s(ns))
    .set(
        "destination.ip",
        OwnedValue::Bytes(vec![10, 44, 1, (i % 7) as u8 + 10]),
    )
    .set("destination.port", OwnedValue::Int64(9080))
    .set(
        "destination.labels",
        map(&[
            ("app", dst.into()),
            ("version", "v1".into()),
            ("pod-template-hash", "6c7d8e9f0".into()),
            ("security.istio.io/tlsMode", "istio".into()),
        ]),
    )
    .set(
        "request.headers",
        map(&[
            (":authority", format!("{dst}:9080")),
            (":path", format!("/{dst}/{}", i % 10)),
            (":method", "GET".into()),
            (
                "user-agent",
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36".into(),
            ),
            ("x-request-id", id.clone()),
            ("x-b3-traceid", trace.clone()),
            ("x-b3-spanid", trace[8..].to_owned()),
            ("x-b3-sampled", "1".into()),
            ("accept", "*/*".into()),
            ("x-forwarded-proto", "http".into()),
        ]),
    )
    .set("request.path", s(format!("/{dst}/{}", i % 10)))
    .set("request.host", s(format!("{dst}:9080")))
    .set("request.method", s("GET"))
    .set("request.scheme", s("http"))
    .set(
        "request.useragent",
        s("Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36"),
    )
    .set("request.id", s(id))
    .set("request.size", OwnedValue::Int64(0))
    .set("request.total_size", OwnedValue::Int64(812 + i as i64))
    .set("response.size", OwnedValue::Int64(178 + 3 * i as i64))
    .set("response.total_size", OwnedValue::Int64(512 + 3 * i as i64))
    .set(
        "response.code",
        OwnedValue::Int64(if i.is_multiple_of(20) { 503 } else { 200 }),
    )
    .set(
        "request.time",
        OwnedValue::Timestamp(Timestamp {
            seconds: 1_700_000_000 + i as i64,
            nanos: 123_456_789,
        }),
    )
    .set(
        "response.time",
        OwnedValue::Timestamp(Timestamp {
            seconds: 1_700_000_000 + i as i64,
            nanos: 133_456_789,
        }),
    )
    .set(
        "response.duration",
        OwnedValue::Duration(Duration {
            seconds: 0,
            nanos: 10_000_000 + i as i32,
        }),
    )
    .set("context.protocol", s("http"))
    .set(
        "context.reporter.kind",
        s(if i.is_multiple_of(2) {
            "inbound"
        } else {
            "outbound"
        }),
    )
    .set(
        "context.reporter.uid",
        s(format!("kubernetes://{dst}-v1-6c7d8e9f0-{:05}.{ns}", i % 7)),
    )
    .set("connection.mtls", OwnedValue::Bool(true))
    .set("api.protocol", s("http"));
    b
}

fn batch() -> Vec<u8> {
    let mut batch = ReportBatch::new();
    for i in 0..BAGS {
        batch.push(istio_bag(i).iter());
    }
    batch.finish()
}

/// The zero-allocation baseline, with its checksum so nothing is optimised away.
fn scan(bytes: &[u8]) -> Result<u64, WireError> {
    scan_report(bytes).map(|s| s.checksum)
}

fn bench(c: &mut Criterion) {
    let bytes = batch();
    let vocab = Vocabulary::builtin();
    let mut group = c.benchmark_group("decode_report_100x40");
    group.throughput(Throughput::Elements(BAGS as u64));

    if let Err(e) = scan(&bytes) {
        panic!("bench batch does not scan: {e}");
    }
    group.bench_function("scan", |b| b.iter(|| black_box(scan(black_box(&bytes)))));

    let mut spare = Some(Bag::new(vocab));
    group.bench_function("bag", |b| {
        b.iter(|| {
            let bag = spare.take().unwrap_or_else(|| Bag::new(vocab));
            let mut view = match ReportRequestView::parse_reusing(black_box(&bytes), bag) {
                Ok(v) => v,
                Err(e) => panic!("bench batch does not decode: {e}"),
            };
            let mut n = 0;
            while let Some(Ok(bag)) = view.next_bag() {
                n += bag.len();
            }
            spare = Some(view.into_bag());
            black_box(n)
        })
    });

    group.bench_function("prost", |b| {
        b.iter(|| {
            black_box(
                mixer_proto::mixer::ReportRequest::decode(black_box(&bytes[..]))
                    .map(|r| r.attributes.len()),
            )
        })
    });
    group.finish();

    eprintln!(
        "batch: {} bytes, {} bags, {} attributes in bag 0",
        bytes.len(),
        BAGS,
        istio_bag(0).len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
