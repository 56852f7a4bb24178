//! The tracespan → span mapping on real configs and bags (through `mixer_rules::load` and
//! `Plan::dispatch`), the params check, the standard config's tracing rule, and the pipeline's
//! handling of a full sink queue.

use super::*;
use crate::config_source;
use crate::pipeline::{Pipeline, Scratch};
use crate::self_metrics::TelemetryMetrics;
use crate::traces::backend::{TraceBackend, TraceOptions, TraceSink};
use crate::traces::span::{Span, SpanId, Tag, TagValue, TraceId};
use crate::traces::SinkOptions;
use mixer_attributes::encode::ReportBatch;
use mixer_attributes::{Duration, OwnedBag, OwnedValue, Timestamp};
use mixer_rules::{load, Catalog, Config, Plan, Source, Variety};
use std::net::IpAddr;

const CATALOG: Catalog<'static> = Catalog {
    adapters: &[SPEC],
    other_kinds: &[],
};

const CONFIG: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: span, namespace: istio-system}
spec:
  compiledTemplate: tracespan
  params:
    traceId: 'request.headers["x-b3-traceid"] | ""'
    spanId: 'request.headers["x-b3-spanid"] | ""'
    parentSpanId: 'request.headers["x-b3-parentspanid"] | ""'
    spanName: 'request.path | "/"'
    startTime: request.time
    endTime: response.time
    httpStatusCode: 'response.code | 0'
    clientSpan: '(context.reporter.kind | "inbound") == "outbound"'
    rewriteClientSpanId: 'REWRITE'
    sourceName: 'source.workload.name | "unknown"'
    sourceIp: source.ip
    destinationName: 'destination.workload.name | "unknown"'
    destinationIp: destination.ip
    responseSize: 'response.size | 0'
    apiProtocol: 'context.protocol | ""'
    spanTags:
      http.method: 'request.method | ""'
      retries: 'request.size | 0'
      mtls: 'connection.mtls | false'
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: jaeger, namespace: istio-system}
spec:
  compiledAdapter: jaeger
  params: {processTags: {cluster: east}}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: tracing, namespace: istio-system}
spec:
  match: '(request.headers["x-b3-sampled"] | "") == "1"'
  actions:
  - {handler: jaeger, instances: [span]}
"#;

fn config(text: &str) -> Config {
    load(
        &[Source {
            file: "test.yaml",
            text,
        }],
        &CATALOG,
    )
    .unwrap_or_else(|p| panic!("config rejected:\n{p}"))
}

fn s(v: &str) -> OwnedValue {
    OwnedValue::String(v.into())
}

fn ts(seconds: i64, micros: i32) -> OwnedValue {
    OwnedValue::Timestamp(Timestamp {
        seconds,
        nanos: micros * 1000,
    })
}

/// A request reported by the `kind` side, with B3 headers.
fn bag(kind: &str, sampled: &str, code: i64) -> OwnedBag {
    pairs(kind, sampled, code).into_iter().collect()
}

fn pairs(kind: &str, sampled: &str, code: i64) -> Vec<(&'static str, OwnedValue)> {
    let headers = OwnedValue::StringMap(vec![
        (
            "x-b3-traceid".into(),
            "463ac35c9f6413ad48485a3953bb6124".into(),
        ),
        ("x-b3-spanid".into(), "a2fb4a1d1a96d312".into()),
        ("x-b3-parentspanid".into(), "0020000000000001".into()),
        ("x-b3-sampled".into(), sampled.into()),
    ]);
    let ip = |a: &str| OwnedValue::ip(a.parse::<IpAddr>().expect("ip"));
    [
        ("context.reporter.kind", s(kind)),
        ("context.protocol", s("http")),
        ("request.headers", headers),
        ("request.path", s("/reviews/1")),
        ("request.method", s("GET")),
        ("request.size", OwnedValue::Int64(3)),
        ("request.time", ts(1_790_000_000, 250)),
        ("response.time", ts(1_790_000_000, 7_250)),
        ("response.code", OwnedValue::Int64(code)),
        ("response.size", OwnedValue::Int64(120)),
        ("source.workload.name", s("productpage-v1")),
        ("source.ip", ip("10.0.0.1")),
        ("destination.workload.name", s("reviews-v2")),
        ("destination.ip", ip("10.0.0.2")),
        ("connection.mtls", OwnedValue::Bool(true)),
        (
            "response.duration",
            OwnedValue::Duration(Duration {
                seconds: 0,
                nanos: 7_000_000,
            }),
        ),
    ]
    .into()
}

/// Dispatches `bags` through `text`'s plan into its first handler; returns the spans built.
fn spans(text: &str, bags: &[OwnedBag]) -> (Vec<Span>, u64) {
    let config = config(text);
    let plan = Plan::new(&config);
    let sink = TraceSink::detached();
    let h = JaegerHandler::new(&config, 0, &plan, sink.clone()).expect("handler builds");
    let mut out = Vec::new();
    for b in bags {
        let mut ev = plan.evaluator(b);
        plan.dispatch(
            &mut ev,
            Variety::Report,
            |ev, _, inst| h.record(ev, inst, &mut out),
            |e| panic!("{e}"),
        );
    }
    (out, sink.handler_stats().invalid.get())
}

fn tag<'s>(span: &'s Span, key: &str) -> Option<&'s TagValue> {
    span.tags.iter().find(|t| t.key == key).map(|t| &t.value)
}

#[test]
fn a_sampled_inbound_request_becomes_a_server_span() {
    let (out, invalid) = spans(
        &CONFIG.replace("REWRITE", "false"),
        &[bag("inbound", "1", 200)],
    );
    assert_eq!(invalid, 0);
    let [span] = out.as_slice() else {
        panic!("{out:#?}")
    };
    assert_eq!(
        span.trace_id,
        TraceId::new(0x463a_c35c_9f64_13ad, 0x4848_5a39_53bb_6124)
    );
    assert_eq!(span.span_id, SpanId(0xa2fb_4a1d_1a96_d312));
    assert_eq!(span.parent_span_id, SpanId(0x0020_0000_0000_0001));
    assert_eq!(span.operation_name, "/reviews/1");
    assert_eq!(span.start_time_us, 1_790_000_000_000_250);
    assert_eq!(span.duration_us, 7_000);
    assert_eq!(span.flags, 1);
    assert_eq!(span.process.service_name, "reviews-v2");
    assert_eq!(span.process.tags, vec![Tag::string("cluster", "east")]);
    assert_eq!(span.span_kind(), "server");
    assert_eq!(
        tag(span, "http.method"),
        Some(&TagValue::String("GET".into()))
    );
    assert_eq!(tag(span, "retries"), Some(&TagValue::Int64(3)));
    assert_eq!(tag(span, "mtls"), Some(&TagValue::Bool(true)));
    assert_eq!(tag(span, "http.status_code"), Some(&TagValue::Int64(200)));
    assert_eq!(tag(span, "error"), None);
    assert_eq!(tag(span, "response.size"), Some(&TagValue::Int64(120)));
    assert_eq!(
        tag(span, "protocol"),
        Some(&TagValue::String("http".into()))
    );
    // a server span's peer is the source
    assert_eq!(
        tag(span, "peer.address"),
        Some(&TagValue::String("10.0.0.1".into()))
    );
}

#[test]
fn an_outbound_request_becomes_the_sources_client_span_and_5xx_is_an_error() {
    let (out, _) = spans(
        &CONFIG.replace("REWRITE", "false"),
        &[bag("outbound", "1", 503)],
    );
    let [span] = out.as_slice() else {
        panic!("{out:#?}")
    };
    assert_eq!(span.span_kind(), "client");
    assert_eq!(span.process.service_name, "productpage-v1");
    assert_eq!(tag(span, "error"), Some(&TagValue::Bool(true)));
    assert_eq!(
        tag(span, "peer.address"),
        Some(&TagValue::String("10.0.0.2".into()))
    );
}

#[test]
fn unsampled_requests_make_no_span() {
    let (out, invalid) = spans(
        &CONFIG.replace("REWRITE", "false"),
        &[bag("inbound", "0", 200), bag("outbound", "", 200)],
    );
    assert!(out.is_empty(), "{out:#?}");
    assert_eq!(invalid, 0);
}

#[test]
fn rewriting_makes_the_server_span_a_child_of_the_client_span() {
    let (out, _) = spans(
        &CONFIG.replace("REWRITE", "true"),
        &[bag("outbound", "1", 200), bag("inbound", "1", 200)],
    );
    let [client, server] = out.as_slice() else {
        panic!("{out:#?}")
    };
    let shared = SpanId(0xa2fb_4a1d_1a96_d312);
    assert_ne!(client.span_id, shared);
    assert_eq!(client.parent_span_id, SpanId(0x0020_0000_0000_0001));
    assert_eq!(server.span_id, shared);
    assert_eq!(server.parent_span_id, client.span_id);
}

#[test]
fn an_instance_without_valid_ids_is_counted_not_stored() {
    let mut p = pairs("inbound", "1", 200);
    p[2].1 = OwnedValue::StringMap(vec![
        ("x-b3-traceid".into(), "not-hex".into()),
        ("x-b3-spanid".into(), "a2fb4a1d1a96d312".into()),
        ("x-b3-sampled".into(), "1".into()),
    ]);
    let b: OwnedBag = p.into_iter().collect();
    let (out, invalid) = spans(&CONFIG.replace("REWRITE", "false"), &[b]);
    assert!(out.is_empty());
    assert_eq!(invalid, 1);
}

#[test]
fn params_check_refuses_unknown_fields_and_accepts_both_spellings() {
    let yaml = |t: &str| serde_yaml_ng::from_str::<serde_yaml_ng::Value>(t).expect("yaml");
    assert_eq!(Params::parse(&yaml("~")).expect("null"), Params::default());
    let p = Params::parse(&yaml("{process_tags: {a: b}}")).expect("snake");
    assert_eq!(
        p,
        Params::parse(&yaml("{processTags: {a: b}}")).expect("camel")
    );
    let err = Params::parse(&yaml("{sink: cassandra}")).expect_err("unknown field");
    assert!(err.message.contains("unknown field `sink`"), "{err:?}");
    let bad = config_source::validate(Some(&config_source::Files {
        files: vec![(
            "t.yaml".into(),
            CONFIG
                .replace("REWRITE", "false")
                .replace("{processTags: {cluster: east}}", "{processTag: 1}"),
        )],
    }))
    .expect_err("rejected");
    assert!(bad.to_string().contains("processTag"), "{bad}");
}

#[test]
fn the_standard_config_traces_sampled_requests() {
    let config = config_source::validate(None).unwrap_or_else(|p| panic!("{p}"));
    let h = config
        .handlers
        .iter()
        .position(|h| h.adapter == "jaeger")
        .expect("a jaeger handler");
    let plan = Plan::new(&config);
    let sink = TraceSink::detached();
    let jaeger = JaegerHandler::new(&config, h, &plan, sink).expect("builds");
    let mut p = pairs("inbound", "1", 200);
    p.push(("request.id", s("req-1")));
    let headers: OwnedBag = p.into_iter().collect();
    let mut out = Vec::new();
    let mut ev = plan.evaluator(&headers);
    plan.dispatch(
        &mut ev,
        Variety::Report,
        |ev, handler, inst| {
            if handler == h {
                jaeger.record(ev, inst, &mut out)
            }
        },
        |e| panic!("{e}"),
    );
    let [span] = out.as_slice() else {
        panic!("{out:#?}")
    };
    assert_eq!(span.operation_name, "/reviews/1");
    assert_eq!(span.process.service_name, "reviews-v2");
    assert_eq!(
        tag(span, "guid:x-request-id"),
        Some(&TagValue::String("req-1".into()))
    );
    assert_eq!(
        tag(span, "source.workload"),
        Some(&TagValue::String("productpage-v1".into()))
    );
}

fn report_bytes(bags: &[OwnedBag]) -> Vec<u8> {
    let mut b = ReportBatch::new();
    for bag in bags {
        b.push(bag.iter());
    }
    b.finish()
}

/// On a current-thread runtime the sink's worker cannot run while `report` (synchronous)
/// queues, so a queue of 2 takes exactly 2 of 5 spans and counts 3 drops.
#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_drops_newest_and_counts() {
    let backend = TraceBackend::start(TraceOptions {
        queue: SinkOptions {
            queue_capacity: 2,
            max_in_flight: 1,
            ..SinkOptions::default()
        },
        ..TraceOptions::default()
    })
    .await
    .expect("memory sink starts");
    let sink = backend.sink();
    let pipeline =
        Pipeline::with_traces(config(&CONFIG.replace("REWRITE", "false")), 1, &sink).expect("ok");
    let bags: Vec<OwnedBag> = (0..5).map(|_| bag("inbound", "1", 200)).collect();
    let metrics = TelemetryMetrics::default();
    let mut scratch = Scratch::default();
    pipeline
        .report(&report_bytes(&bags), &mut scratch, &metrics)
        .expect("report");
    let stats = sink.handle().stats().clone();
    assert_eq!(stats.received.get(), 5);
    assert_eq!(stats.dropped_queue_full.get(), 3);
    let mut text = String::new();
    sink.render_metrics(&mut text);
    assert!(
        text.contains("mixer_traces_spans_dropped_total{sink=\"memory\",reason=\"queue_full\"} 3"),
        "{text}"
    );
    let stats = backend.shutdown(std::time::Duration::from_secs(30)).await;
    assert_eq!(stats.written.get(), 2);
    let mut text = String::new();
    sink.render_metrics(&mut text);
    assert!(
        text.contains("mixer_traces_span_write_duration_seconds_count{sink=\"memory\"} 2"),
        "{text}"
    );
    assert!(
        text.contains(
            "mixer_traces_span_write_duration_seconds_bucket{sink=\"memory\",le=\"10\"} 2"
        ),
        "{text}"
    );
    let store = sink.memory().expect("memory store");
    assert_eq!(store.stats().spans_stored.get(), 2);
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_that_fails_to_decode_queues_no_span() {
    let backend = TraceBackend::start(TraceOptions::default())
        .await
        .expect("memory sink starts");
    let sink = backend.sink();
    let pipeline =
        Pipeline::with_traces(config(&CONFIG.replace("REWRITE", "false")), 1, &sink).expect("ok");
    let mut bytes = report_bytes(&[bag("inbound", "1", 200), bag("inbound", "1", 200)]);
    // a truncated request: the first bag decodes, the message does not
    bytes.truncate(bytes.len() - 3);
    let metrics = TelemetryMetrics::default();
    let mut scratch = Scratch::default();
    assert!(pipeline.report(&bytes, &mut scratch, &metrics).is_err());
    assert_eq!(sink.handle().stats().received.get(), 0);
    backend.shutdown(std::time::Duration::from_secs(30)).await;
}
