//! OTLP export into a real Jaeger v2 (scripts/install-jaeger; scripts/start-jaeger-otlp runs
//! it with an OTLP/gRPC receiver and in-memory storage, and the test command sets
//! `MIXER_OTLP_ENDPOINT=http://127.0.0.1:PORT` and `MIXER_OTLP_JAEGER_QUERY=127.0.0.1:PORT`).
//! Reports carrying sampled B3 headers for a client span and its server child go through the
//! whole telemetry service (gRPC, the standard config's tracing rule, the `jaeger` handler)
//! with OTLP export on; then Jaeger's own query API returns the trace by id with the parent
//! reference, operation names, services, tags, start times and durations written out below,
//! and lists the services. The spans also reach the in-memory store (export is in addition).
//!
//! Without those variables the test says so and passes without running.

mod common;

use common::*;
use mixer_attributes::{OwnedBag, OwnedValue, Timestamp};
use mixer_telemetry::traces::otlp::OtlpConfig;
use mixer_telemetry::traces::TraceOptions;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

const CLIENT: &str = "00c1000000000001";
const SERVER: &str = "00e2000000000002";
/// 2026-09-21T…: request times of the two reports, in seconds.
const T0: i64 = 1_790_000_000;

fn receiver() -> Option<(String, SocketAddr)> {
    let endpoint = std::env::var("MIXER_OTLP_ENDPOINT").ok()?;
    let query = std::env::var("MIXER_OTLP_JAEGER_QUERY").ok()?;
    Some((
        endpoint,
        query.parse().expect("MIXER_OTLP_JAEGER_QUERY is host:port"),
    ))
}

/// One side of the call productpage → reviews: the client span (outbound report, root of
/// the trace) or the server span (inbound report, child of the client span).
fn side(trace: &str, client: bool) -> OwnedBag {
    let mut bag = http_bag("productpage-v1", "reviews-v2", 200, 0);
    // client: T0 + 0.001 s for 9 ms; server: T0 + 0.003 s for 5 ms
    let (start_ms, dur_ms) = if client { (1, 9) } else { (3, 5) };
    let at = |ms: i64| {
        OwnedValue::Timestamp(Timestamp {
            seconds: T0,
            nanos: (ms * 1_000_000) as i32,
        })
    };
    let mut headers = vec![
        ("x-b3-traceid".into(), trace.into()),
        ("x-b3-sampled".into(), "1".into()),
        ("x-request-id".into(), "req-otlp".into()),
    ];
    if client {
        headers.push(("x-b3-spanid".into(), CLIENT.into()));
    } else {
        headers.push(("x-b3-spanid".into(), SERVER.into()));
        headers.push(("x-b3-parentspanid".into(), CLIENT.into()));
    }
    bag.set(
        "context.reporter.kind",
        OwnedValue::String(if client { "outbound" } else { "inbound" }.into()),
    )
    .set("request.path", OwnedValue::String("/reviews/1".into()))
    .set("request.time", at(start_ms))
    .set("response.time", at(start_ms + dur_ms))
    .set("request.headers", OwnedValue::StringMap(headers));
    bag
}

fn json_of(status: u16, body: &str) -> Value {
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

async fn metric(monitoring: SocketAddr, series: &str) -> f64 {
    let (_, text) = get(monitoring, "/metrics").await;
    sample(&text, series, &[]).unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_reports_reach_jaeger_over_otlp() {
    let Some((endpoint, jaeger)) = receiver() else {
        eprintln!(
            "skipped: MIXER_OTLP_ENDPOINT / MIXER_OTLP_JAEGER_QUERY unset (scripts/test starts \
             Jaeger v2 with scripts/start-jaeger-otlp and sets them)"
        );
        return;
    };
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    // a fresh 128-bit trace id per run: the Jaeger instance may hold earlier runs' traces
    let trace = format!(
        "{:016x}{:016x}",
        nanos | (1 << 63),
        nanos.rotate_left(17) | 1
    );

    let srv = start_with(
        None,
        Duration::from_secs(60),
        TraceOptions {
            otlp: Some(OtlpConfig {
                endpoint,
                batch_delay: Duration::from_millis(50),
                ..OtlpConfig::default()
            }),
            ..TraceOptions::default()
        },
    )
    .await;
    report(
        srv.bound.grpc,
        batch(&[side(&trace, true), side(&trace, false)]),
    )
    .await
    .expect("report accepted");

    // The exporter's counters, then Jaeger (its batch processor and store run after the
    // export call returns). The waits are bounded only so that a bug fails the test.
    let mon = srv.bound.monitoring;
    let mut exported = 0.0;
    for _ in 0..1000 {
        exported = metric(mon, "mixer_traces_spans_written_total{sink=\"otlp\"}").await;
        if exported >= 2.0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(exported, 2.0, "the exporter never exported both spans");
    let mut got = Value::Null;
    for _ in 0..500 {
        let (status, body) = get(jaeger, &format!("/api/traces/{trace}")).await;
        if status == 200 {
            got = json_of(status, &body);
            if got["data"][0]["spans"].as_array().map_or(0, Vec::len) >= 2 {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let t = &got["data"][0];
    assert_eq!(t["traceID"], trace.as_str(), "{got:#}");
    let spans = t["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 2, "{t:#}");
    let by_id = |id: &str| -> &Value {
        spans
            .iter()
            .find(|s| s["spanID"] == id)
            .unwrap_or_else(|| panic!("no span {id} in {t:#}"))
    };
    let (client, server) = (by_id(CLIENT), by_id(SERVER));

    assert_eq!(
        client["references"],
        json!([]),
        "the client span is the root"
    );
    assert_eq!(
        server["references"],
        json!([{"refType": "CHILD_OF", "traceID": trace, "spanID": CLIENT}])
    );
    let t0_us = T0 * 1_000_000;
    for (s, service, kind, start_us, duration_us) in [
        (client, "productpage-v1", "client", t0_us + 1_000, 9_000),
        (server, "reviews-v2", "server", t0_us + 3_000, 5_000),
    ] {
        assert_eq!(s["operationName"], "/reviews/1");
        assert_eq!(s["startTime"], start_us, "{kind}");
        assert_eq!(s["duration"], duration_us, "{kind}");
        let pid = s["processID"].as_str().expect("processID");
        assert_eq!(t["processes"][pid]["serviceName"], service, "{kind}");
        let tags = s["tags"].as_array().expect("tags");
        for want in [
            json!({"key": "span.kind", "type": "string", "value": kind}),
            json!({"key": "http.method", "type": "string", "value": "GET"}),
            json!({"key": "http.url", "type": "string", "value": "/reviews/1"}),
            json!({"key": "http.status_code", "type": "int64", "value": 200}),
            json!({"key": "guid:x-request-id", "type": "string", "value": "req-otlp"}),
            json!({"key": "response.size", "type": "int64", "value": 120}),
            json!({"key": "protocol", "type": "string", "value": "http"}),
        ] {
            assert!(tags.contains(&want), "{kind}: no {want} in {tags:#?}");
        }
        assert!(
            !tags.iter().any(|t| t["key"] == "error"),
            "{kind}: a 200 is no error: {tags:#?}"
        );
    }

    let (status, body) = get(jaeger, "/api/services").await;
    let services = json_of(status, &body);
    let services = services["data"].as_array().expect("services");
    for want in ["productpage-v1", "reviews-v2"] {
        assert!(
            services.contains(&json!(want)),
            "{want} not in {services:?}"
        );
    }
    let (status, body) = get(jaeger, "/api/services/reviews-v2/operations").await;
    let ops = json_of(status, &body);
    assert!(
        ops["data"]
            .as_array()
            .is_some_and(|o| o.contains(&json!("/reviews/1"))),
        "{ops}"
    );

    // in addition to the store, not instead of it
    let query = srv.bound.query.expect("query API served");
    let (status, body) = get(query, &format!("/api/traces/{trace}")).await;
    let stored = json_of(status, &body);
    assert_eq!(stored["data"][0]["spans"].as_array().map(Vec::len), Some(2));
    assert_eq!(
        metric(mon, "mixer_traces_spans_received_total{sink=\"otlp\"}").await,
        2.0
    );
    let (_, text) = get(mon, "/metrics").await;
    for reason in [
        "queue_full",
        "rejected",
        "retries_exhausted",
        "export_error",
    ] {
        let series =
            format!("mixer_traces_spans_dropped_total{{sink=\"otlp\",reason=\"{reason}\"}}");
        assert_eq!(sample(&text, &series, &[]), Some(0.0), "{series}");
    }
    srv.stop().await;
}
