//! Traces end to end in one process, through the standard config: Reports over real gRPC
//! whose bags carry B3 headers become spans, read back through the Jaeger-compatible query
//! API (`--query-addr`) exactly as a script written for jaeger-query would; unsampled
//! requests leave nothing; the sink's self-metrics count what went through.

mod common;

use common::*;
use mixer_attributes::{OwnedBag, OwnedValue, Timestamp};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

const TRACE: &str = "463ac35c9f6413ad48485a3953bb6124";
const SHARED_SPAN: &str = "a2fb4a1d1a96d312";
const PARENT: &str = "0020000000000001";

/// One HTTP call productpage → reviews as the `reporter` sidecar reports it, in trace
/// `trace` with the given sampling decision.
fn traced(reporter: &str, trace: &str, sampled: &str) -> OwnedBag {
    let mut bag = http_bag("productpage-v1", "reviews-v2", 200, 7);
    bag.set("context.reporter.kind", OwnedValue::String(reporter.into()))
        .set("request.path", OwnedValue::String("/reviews/1".into()))
        .set(
            "response.time",
            OwnedValue::Timestamp(Timestamp {
                seconds: 1_790_000_000,
                nanos: 7_000_000,
            }),
        )
        .set(
            "request.headers",
            OwnedValue::StringMap(vec![
                ("x-b3-traceid".into(), trace.into()),
                ("x-b3-spanid".into(), SHARED_SPAN.into()),
                ("x-b3-parentspanid".into(), PARENT.into()),
                ("x-b3-sampled".into(), sampled.into()),
                ("x-request-id".into(), format!("req-{reporter}")),
            ]),
        );
    bag
}

fn json_get(v: &(u16, String)) -> Value {
    serde_json::from_str(&v.1).unwrap_or_else(|e| panic!("{e}: {}", v.1))
}

/// The monitoring port's value of `line` (a full series name with labels).
async fn metric(monitoring: SocketAddr, series: &str) -> f64 {
    let (_, text) = get(monitoring, "/metrics").await;
    sample(&text, series, &[]).unwrap_or_else(|| panic!("no {series} in\n{text}"))
}

/// Waits until the sink has written every span it queued (the queue is drained by a task);
/// the wait is bounded only so that a bug fails the test instead of hanging it.
async fn drained(monitoring: SocketAddr, want: f64) {
    for _ in 0..1000 {
        if metric(
            monitoring,
            "mixer_traces_spans_written_total{sink=\"memory\"}",
        )
        .await
            >= want
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the sink never wrote {want} spans");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sampled_reports_become_spans_on_the_jaeger_query_api() {
    let srv = start(None, Duration::from_secs(60)).await;
    let query = srv.bound.query.expect("query API served");
    let unsampled = "00000000000000000000000000000777";
    report(
        srv.bound.grpc,
        batch(&[
            traced("outbound", TRACE, "1"),
            traced("inbound", TRACE, "1"),
            traced("inbound", unsampled, "0"),
        ]),
    )
    .await
    .expect("report accepted");
    drained(srv.bound.monitoring, 2.0).await;
    let mon = srv.bound.monitoring;
    assert_eq!(
        metric(mon, "mixer_traces_spans_received_total{sink=\"memory\"}").await,
        2.0
    );

    let services = json_get(&get(query, "/api/services").await);
    assert_eq!(
        services,
        json!({"data": ["productpage-v1", "reviews-v2"], "total": 2, "limit": 0, "offset": 0, "errors": null})
    );
    let ops = json_get(&get(query, "/api/services/reviews-v2/operations").await);
    assert_eq!(ops["data"], json!(["/reviews/1"]));

    let (status, body) = get(query, &format!("/api/traces/{TRACE}")).await;
    assert_eq!(status, 200, "{body}");
    let v = json_get(&(status, body));
    let trace = &v["data"][0];
    assert_eq!(trace["traceID"], TRACE);
    let spans = trace["spans"].as_array().expect("spans");
    assert_eq!(spans.len(), 2, "{trace:#}");
    let by_kind = |kind: &str| -> &Value {
        spans
            .iter()
            .find(|s| {
                s["tags"].as_array().is_some_and(|t| {
                    t.contains(&json!({"key": "span.kind", "type": "string", "value": kind}))
                })
            })
            .unwrap_or_else(|| panic!("no {kind} span in {trace:#}"))
    };
    for (kind, service) in [("client", "productpage-v1"), ("server", "reviews-v2")] {
        let s = by_kind(kind);
        // B3's shared span model: both sides carry the proxy's span id and parent; as
        // jaeger-query does, the server side is given the first free id (1) and made the
        // client side's child.
        let (id, parent) = match kind {
            "client" => (SHARED_SPAN, PARENT),
            _ => ("0000000000000001", SHARED_SPAN),
        };
        assert_eq!(s["spanID"], id);
        assert_eq!(
            s["references"],
            json!([{"refType": "CHILD_OF", "traceID": TRACE, "spanID": parent}])
        );
        assert_eq!(s["operationName"], "/reviews/1");
        assert_eq!(s["startTime"], 1_790_000_000_000_000i64);
        assert_eq!(s["duration"], 7_000);
        assert_eq!(s["flags"], 1);
        let pid = s["processID"].as_str().expect("process id");
        assert_eq!(trace["processes"][pid]["serviceName"], service);
        let tags = s["tags"].as_array().expect("tags");
        for want in [
            json!({"key": "http.method", "type": "string", "value": "GET"}),
            json!({"key": "http.url", "type": "string", "value": "/reviews/1"}),
            json!({"key": "http.status_code", "type": "int64", "value": 200}),
            json!({"key": "guid:x-request-id", "type": "string", "value": format!("req-{}", if kind == "client" { "outbound" } else { "inbound" })}),
            json!({"key": "source.workload", "type": "string", "value": "productpage-v1"}),
            json!({"key": "destination.namespace", "type": "string", "value": "default"}),
            json!({"key": "response.size", "type": "int64", "value": 120}),
            json!({"key": "protocol", "type": "string", "value": "http"}),
        ] {
            assert!(tags.contains(&want), "{kind}: no {want} in {tags:#?}");
        }
    }

    // search as the Jaeger UI does: by service and operation, by tag, by duration
    // the spans start at 1_790_000_000 s; Jaeger's default window is the last 48 h
    let found = |q: String| async move {
        let window = "start=1789999000000000&end=1790001000000000";
        let v = json_get(&get(query, &format!("/api/traces?{window}&{q}")).await);
        v["data"]
            .as_array()
            .expect("data")
            .iter()
            .map(|t| t["traceID"].as_str().unwrap_or_default().to_owned())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        found("service=reviews-v2&operation=%2Freviews%2F1&limit=20".into()).await,
        [TRACE]
    );
    assert_eq!(
        found("service=productpage-v1&tags=%7B%22http.status_code%22%3A%22200%22%7D".into()).await,
        [TRACE]
    );
    assert_eq!(
        found("service=reviews-v2&minDuration=5ms&maxDuration=10ms".into()).await,
        [TRACE]
    );
    assert!(found("service=reviews-v2&minDuration=8ms".into())
        .await
        .is_empty());

    // the unsampled request made no span
    let (status, _) = get(query, &format!("/api/traces/{unsampled}")).await;
    assert_eq!(status, 404);
    assert_eq!(
        metric(
            mon,
            "mixer_traces_spans_dropped_total{sink=\"memory\",reason=\"queue_full\"}"
        )
        .await,
        0.0
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_sampled_requests_the_store_stays_empty() {
    let srv = start(None, Duration::from_secs(60)).await;
    let query = srv.bound.query.expect("query API served");
    // metrics still flow for unsampled and header-less requests
    report(
        srv.bound.grpc,
        batch(&[
            traced("inbound", TRACE, "0"),
            http_bag("productpage-v1", "reviews-v2", 200, 7),
        ]),
    )
    .await
    .expect("report accepted");
    let (_, text) = get(srv.bound.metrics, "/metrics").await;
    assert_eq!(sample(&text, "istio_requests_total{", &[]), Some(2.0));
    let mon = srv.bound.monitoring;
    assert_eq!(
        metric(mon, "mixer_traces_spans_received_total{sink=\"memory\"}").await,
        0.0
    );
    assert_eq!(
        metric(mon, "mixer_telemetry_errors_total{reason=\"match\"}").await,
        0.0
    );
    let v = json_get(&get(query, "/api/services").await);
    assert_eq!(v["data"], Value::Null, "Go's nil list, as jaeger-query");
    srv.stop().await;
}
