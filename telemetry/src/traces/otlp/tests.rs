//! The conversion against values written out from the OTLP spec and Jaeger's translator;
//! config validation; and the exporter's batching, retries and drop accounting against a
//! scripted receiver. The scripted receiver stands in for error answers (UNAVAILABLE,
//! INVALID_ARGUMENT, partial success) that a real one cannot be made to give on demand; the
//! real receiver (Jaeger v2) is exercised by tests/otlp_jaeger_e2e.rs.

use super::config::{parse_header, OtlpConfig};
use super::convert::{export_request, span_to_otlp};
use super::exporter::{backoff, retryable, OtlpExporter};
use crate::traces::sink::Submit;
use crate::traces::span::{flags, Log, Process, RefType, Span, SpanId, SpanRef, Tag, TraceId};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTracePartialSuccess, ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tonic::{Code, Status};

const TRACE: TraceId = TraceId::new(0x0123_4567_89ab_cdef, 0xfedc_ba98_7654_3210);

fn span(id: u64, parent: u64, service: &str, kind: &str) -> Span {
    Span {
        trace_id: TRACE,
        span_id: SpanId(id),
        parent_span_id: SpanId(parent),
        operation_name: "GET /reviews".into(),
        flags: flags::SAMPLED,
        start_time_us: 1_790_000_000_000_123,
        duration_us: 7_000,
        tags: vec![
            Tag::string("span.kind", kind),
            Tag::string("http.method", "GET"),
            Tag::int64("http.status_code", 200),
            Tag::bool("cached", false),
            Tag::float64("ratio", 0.25),
            Tag::binary("blob", vec![0xde, 0xad]),
        ],
        logs: vec![],
        references: vec![],
        process: Process {
            service_name: service.into(),
            tags: vec![Tag::string("hostname", format!("{service}-1"))],
        },
    }
}

fn kv(key: &str, v: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

#[test]
fn a_span_maps_ids_times_kind_and_typed_attributes() {
    let o = span_to_otlp(span(0x42, 0xfedc_ba98_7654_3210, "reviews", "server"));
    assert_eq!(
        o.trace_id,
        [
            0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, 0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54,
            0x32, 0x10
        ]
    );
    assert_eq!(o.span_id, [0, 0, 0, 0, 0, 0, 0, 0x42]);
    assert_eq!(
        o.parent_span_id,
        [0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10]
    );
    assert_eq!(o.name, "GET /reviews");
    assert_eq!(o.kind, SpanKind::Server as i32);
    assert_eq!(o.start_time_unix_nano, 1_790_000_000_000_123_000);
    assert_eq!(o.end_time_unix_nano, 1_790_000_000_007_123_000);
    assert_eq!(o.flags, 1, "sampled");
    assert_eq!(o.status, None);
    // span.kind became the kind, so it is not an attribute too (Jaeger adds it back)
    assert_eq!(
        o.attributes,
        [
            kv("http.method", s("GET")),
            kv("http.status_code", Value::IntValue(200)),
            kv("cached", Value::BoolValue(false)),
            kv("ratio", Value::DoubleValue(0.25)),
            kv("blob", Value::BytesValue(vec![0xde, 0xad])),
        ]
    );
}

#[test]
fn a_root_has_no_parent_bytes_and_kinds_map() {
    for (tag, kind) in [
        ("client", SpanKind::Client),
        ("server", SpanKind::Server),
        ("producer", SpanKind::Producer),
        ("consumer", SpanKind::Consumer),
        ("internal", SpanKind::Internal),
    ] {
        let o = span_to_otlp(span(1, 0, "a", tag));
        assert!(o.parent_span_id.is_empty());
        assert_eq!(o.kind, kind as i32, "{tag}");
        assert!(!o.attributes.iter().any(|a| a.key == "span.kind"));
    }
    // an unknown kind stays a tag; the span kind is unspecified
    let o = span_to_otlp(span(1, 0, "a", "sideways"));
    assert_eq!(o.kind, SpanKind::Unspecified as i32);
    assert_eq!(o.attributes[0], kv("span.kind", s("sideways")));
}

#[test]
fn error_true_is_an_error_status_and_negative_times_clamp() {
    let mut sp = span(1, 0, "a", "client");
    sp.tags.push(Tag::bool("error", true));
    sp.start_time_us = -5;
    sp.duration_us = -1;
    let o = span_to_otlp(sp);
    let status = o.status.expect("status");
    assert_eq!(status.code, StatusCode::Error as i32);
    assert!(!o.attributes.iter().any(|a| a.key == "error"));
    assert_eq!((o.start_time_unix_nano, o.end_time_unix_nano), (0, 0));
}

#[test]
fn logs_become_events_and_other_references_links() {
    let mut sp = span(2, 1, "a", "server");
    sp.logs = vec![Log {
        timestamp_us: 1_000,
        fields: vec![Tag::string("event", "cache-miss"), Tag::int64("size", 3)],
    }];
    let other = SpanRef {
        ref_type: RefType::FollowsFrom,
        trace_id: TraceId::new(0, 9),
        span_id: SpanId(7),
    };
    // the parent repeated as a reference is not a link
    sp.references = vec![
        SpanRef {
            ref_type: RefType::ChildOf,
            trace_id: TRACE,
            span_id: SpanId(1),
        },
        other,
    ];
    let o = span_to_otlp(sp);
    assert_eq!(o.events.len(), 1);
    assert_eq!(o.events[0].name, "cache-miss");
    assert_eq!(o.events[0].time_unix_nano, 1_000_000);
    assert_eq!(o.events[0].attributes, [kv("size", Value::IntValue(3))]);
    assert_eq!(o.links.len(), 1);
    assert_eq!(o.links[0].span_id, [0, 0, 0, 0, 0, 0, 0, 7]);
    assert_eq!(o.links[0].trace_id[15], 9);
    assert_eq!(
        o.links[0].attributes,
        [kv("opentracing.ref_type", s("follows_from"))]
    );

    // no parent id, but a child-of reference: that is the parent
    let mut sp = span(2, 0, "a", "server");
    sp.references = vec![SpanRef {
        ref_type: RefType::ChildOf,
        trace_id: TRACE,
        span_id: SpanId(5),
    }];
    let o = span_to_otlp(sp);
    assert_eq!(o.parent_span_id, [0, 0, 0, 0, 0, 0, 0, 5]);
    assert!(o.links.is_empty());
}

#[test]
fn spans_are_grouped_by_process_with_service_name_first() {
    let req = export_request([
        span(1, 0, "productpage", "client"),
        span(2, 1, "reviews", "server"),
        span(3, 1, "productpage", "client"),
    ]);
    assert_eq!(req.resource_spans.len(), 2);
    let services: Vec<_> = req
        .resource_spans
        .iter()
        .map(|rs| {
            let r = rs.resource.as_ref().expect("resource");
            assert_eq!(rs.scope_spans.len(), 1);
            let scope = rs.scope_spans[0].scope.as_ref().expect("scope");
            assert_eq!(scope.name, "mixer");
            (
                r.attributes.clone(),
                rs.scope_spans[0]
                    .spans
                    .iter()
                    .map(|s| s.span_id[7])
                    .collect::<Vec<_>>(),
            )
        })
        .collect();
    assert_eq!(
        services,
        [
            (
                vec![
                    kv("service.name", s("productpage")),
                    kv("hostname", s("productpage-1"))
                ],
                vec![1, 3]
            ),
            (
                vec![
                    kv("service.name", s("reviews")),
                    kv("hostname", s("reviews-1"))
                ],
                vec![2]
            ),
        ]
    );
}

#[test]
fn config_validation_names_every_problem() {
    assert_eq!(OtlpConfig::default().validate(), Ok(()));
    let bad = OtlpConfig {
        endpoint: "https://collector:4317".into(),
        headers: vec![
            ("Bad Key".into(), "v".into()),
            ("k".into(), "caf\u{e9}\n".into()),
        ],
        timeout: Duration::ZERO,
        max_batch: 0,
        ..OtlpConfig::default()
    };
    let e = bad.validate().expect_err("invalid").to_string();
    for want in [
        "https is not supported",
        "\"Bad Key\" is not a valid gRPC metadata key",
        "must be visible ASCII",
        "timeout must be positive",
        "max batch must be at least 1",
    ] {
        assert!(e.contains(want), "{want:?} not in {e}");
    }
    for (endpoint, want) in [
        ("127.0.0.1:4317", "needs the http:// scheme"),
        ("http://127.0.0.1:4317/v1/traces", "takes no path"),
        ("not a uri", "is not a URI"),
    ] {
        let c = OtlpConfig {
            endpoint: endpoint.into(),
            ..OtlpConfig::default()
        };
        let e = c.validate().expect_err(endpoint).to_string();
        assert!(e.contains(want), "{endpoint}: {e}");
    }
    assert_eq!(
        parse_header("X-Api-Key = s3cret"),
        Ok(("x-api-key".into(), "s3cret".into()))
    );
    assert!(parse_header("novalue").is_err());
}

#[test]
fn retry_codes_and_backoff_bounds() {
    for c in [
        Code::Unavailable,
        Code::ResourceExhausted,
        Code::DeadlineExceeded,
        Code::Aborted,
    ] {
        assert!(retryable(c), "{c:?}");
    }
    for c in [
        Code::InvalidArgument,
        Code::Unimplemented,
        Code::PermissionDenied,
        Code::Unauthenticated,
    ] {
        assert!(!retryable(c), "{c:?}");
    }
    let cfg = OtlpConfig {
        initial_backoff: Duration::from_millis(100),
        max_backoff: Duration::from_millis(300),
        ..OtlpConfig::default()
    };
    for (attempt, base) in [(1, 100), (2, 200), (3, 300), (30, 300)] {
        let b = backoff(&cfg, attempt);
        let base = Duration::from_millis(base);
        assert!(b >= base / 2 && b <= base, "attempt {attempt}: {b:?}");
    }
}

/// A receiver that answers from a script (then OK) and records what it was sent.
#[derive(Default)]
struct Scripted {
    answers: Mutex<VecDeque<Result<ExportTraceServiceResponse, Status>>>,
    /// Spans per request, and the `x-api-key` header of each.
    seen: Mutex<Vec<(usize, Option<String>)>>,
}

#[tonic::async_trait]
impl TraceService for Scripted {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, Status> {
        let key = request
            .metadata()
            .get("x-api-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let n = request
            .into_inner()
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        self.seen.lock().expect("lock").push((n, key));
        let next = self.answers.lock().expect("lock").pop_front();
        next.unwrap_or(Ok(ExportTraceServiceResponse::default()))
            .map(tonic::Response::new)
    }
}

/// Serves `receiver` on a free loopback port; returns its endpoint.
async fn serve(receiver: Arc<Scripted>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(
        tonic::transport::Server::builder().serve_with_incoming_shutdown(
            TraceServiceServer::from_arc(receiver),
            mixer_proto::server::incoming(listener),
            std::future::pending(),
        ),
    );
    format!("http://{addr}")
}

fn config(endpoint: String) -> OtlpConfig {
    OtlpConfig {
        endpoint,
        headers: vec![("x-api-key".into(), "s3cret".into())],
        timeout: Duration::from_secs(30),
        max_batch: 2,
        batch_delay: Duration::from_millis(1),
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        ..OtlpConfig::default()
    }
}

/// Submits `n` spans, then shuts down (which waits for the export to finish: the bound is
/// only there so that a bug fails the test instead of hanging it).
async fn run(cfg: OtlpConfig, n: u64) -> Arc<super::OtlpStats> {
    let exporter = OtlpExporter::start(cfg).expect("valid config");
    let h = exporter.handle();
    for i in 0..n {
        assert_eq!(h.submit(span(i + 1, 0, "a", "client")), Submit::Queued);
    }
    exporter.shutdown(Duration::from_secs(60)).await
}

#[tokio::test(flavor = "current_thread")]
async fn batches_carry_headers_and_transient_errors_are_retried() {
    let r = Arc::new(Scripted::default());
    r.answers
        .lock()
        .expect("lock")
        .push_back(Err(Status::unavailable("warming up")));
    let stats = run(config(serve(r.clone()).await), 5).await;
    // 5 spans in batches of 2: [2 (UNAVAILABLE), 2 again], [2], [1]
    let seen = r.seen.lock().expect("lock").clone();
    let key = Some("s3cret".to_owned());
    assert_eq!(
        seen,
        [
            (2, key.clone()),
            (2, key.clone()),
            (2, key.clone()),
            (1, key)
        ]
    );
    assert_eq!(stats.received.get(), 5);
    assert_eq!(stats.exported.get(), 5);
    assert_eq!(stats.retries.get(), 1);
    assert_eq!(stats.failed(), 0);
    assert_eq!(stats.dropped_shutdown.get(), 0);
}

#[tokio::test(flavor = "current_thread")]
async fn permanent_errors_partial_success_and_exhausted_retries_are_counted_drops() {
    let r = Arc::new(Scripted::default());
    {
        let mut a = r.answers.lock().expect("lock");
        // batch 1: refused outright, not retried
        a.push_back(Err(Status::invalid_argument("bad span")));
        // batch 2: one of two rejected
        a.push_back(Ok(ExportTraceServiceResponse {
            partial_success: Some(ExportTracePartialSuccess {
                rejected_spans: 1,
                error_message: "span too old".into(),
            }),
        }));
        // batch 3: unavailable on all 3 attempts
        for _ in 0..3 {
            a.push_back(Err(Status::unavailable("down")));
        }
    }
    let stats = run(config(serve(r.clone()).await), 6).await;
    assert_eq!(r.seen.lock().expect("lock").len(), 5);
    assert_eq!(stats.export_error.get(), 2);
    assert_eq!(stats.rejected.get(), 1);
    assert_eq!(stats.exported.get(), 1);
    assert_eq!(stats.retries_exhausted.get(), 2);
    assert_eq!(stats.retries.get(), 2);
    assert_eq!(stats.failed(), 5);
    assert_eq!(stats.received.get(), 6);
}

#[tokio::test(flavor = "current_thread")]
async fn an_absent_receiver_costs_retries_then_counted_drops() {
    // a port that was free a moment ago: nothing listens there
    let addr = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port");
    let stats = run(config(format!("http://{addr}")), 3).await;
    assert_eq!(stats.exported.get(), 0);
    assert_eq!(stats.retries_exhausted.get(), 3);
    // two batches, two retries each
    assert_eq!(stats.retries.get(), 4);
}

/// On a current-thread runtime the worker cannot run while spans are submitted, so a queue
/// of 2 takes exactly 2 of 5 and counts 3 drops; a submit after shutdown is counted too.
#[tokio::test(flavor = "current_thread")]
async fn a_full_queue_drops_newest_and_counts() {
    let r = Arc::new(Scripted::default());
    let cfg = OtlpConfig {
        queue_capacity: 2,
        ..config(serve(r.clone()).await)
    };
    let exporter = OtlpExporter::start(cfg).expect("valid");
    let h = exporter.handle();
    let results: Vec<_> = (1..=5)
        .map(|i| h.submit(span(i, 0, "a", "client")))
        .collect();
    assert_eq!(
        results,
        [
            Submit::Queued,
            Submit::Queued,
            Submit::DroppedQueueFull,
            Submit::DroppedQueueFull,
            Submit::DroppedQueueFull
        ]
    );
    assert_eq!(h.queue_depth(), 2);
    let stats = exporter.shutdown(Duration::from_secs(60)).await;
    assert_eq!(h.submit(span(9, 0, "a", "client")), Submit::DroppedShutdown);
    assert_eq!(stats.exported.get(), 2);
    assert_eq!(stats.dropped_queue_full.get(), 3);
    assert_eq!(stats.dropped_shutdown.get(), 1);
    assert_eq!(h.queue_depth(), 0);
}

/// A receiver that accepts TCP connections but never answers (the listener is never
/// accepted from) holds the exporter's batch; the store behind the same `TraceSink` still
/// writes every span, and only OTLP spans are dropped, counted by reason.
#[tokio::test(flavor = "current_thread")]
async fn a_hung_receiver_never_stalls_the_store() {
    use crate::traces::backend::{TraceBackend, TraceOptions};
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = hung.local_addr().expect("addr");
    let backend = TraceBackend::start(TraceOptions {
        otlp: Some(OtlpConfig {
            endpoint: format!("http://{addr}"),
            queue_capacity: 2,
            ..config(String::new())
        }),
        ..TraceOptions::default()
    })
    .await
    .expect("starts");
    let sink = backend.sink();
    // the workers cannot run while this synchronous loop submits
    for i in 1..=10 {
        assert_eq!(sink.submit(span(i, 0, "a", "client")), Submit::Queued);
    }
    let otlp = sink.otlp().expect("otlp on").stats().clone();
    assert_eq!(otlp.dropped_queue_full.get(), 8);
    let store = sink.handle().stats().clone();
    // bounded only so that a bug fails the test instead of hanging it
    for _ in 0..10_000 {
        if store.written.get() == 10 && otlp.in_flight() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    assert_eq!(store.written.get(), 10, "the store wrote every span");
    assert_eq!(otlp.in_flight(), 2, "the OTLP batch is stuck in its call");
    assert_eq!(otlp.exported.get(), 0);
    let mut text = String::new();
    sink.render_metrics(&mut text);
    for line in [
        "mixer_traces_spans_received_total{sink=\"otlp\"} 10",
        "mixer_traces_spans_written_total{sink=\"memory\"} 10",
        "mixer_traces_spans_dropped_total{sink=\"otlp\",reason=\"queue_full\"} 8",
        "mixer_traces_spans_dropped_total{sink=\"memory\",reason=\"queue_full\"} 0",
        "mixer_traces_in_flight{sink=\"otlp\"} 2",
        "mixer_traces_queue_depth{sink=\"otlp\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }
    // the stuck batch is what shutdown cannot flush
    backend.shutdown(Duration::from_millis(50)).await;
    assert_eq!(otlp.dropped_shutdown.get(), 2);
    assert_eq!(otlp.in_flight(), 0);
    drop(hung);
}
