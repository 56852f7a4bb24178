use super::*;
use crate::traces::memory::MemoryOptions;
use crate::traces::span::{flags, Process, SpanId};

fn span(trace: u64, id: u64, parent: u64, svc: &str, op: &str, start: i64, dur: i64) -> Span {
    Span {
        trace_id: TraceId::new(0, trace),
        span_id: SpanId(id),
        parent_span_id: SpanId(parent),
        operation_name: op.into(),
        flags: flags::SAMPLED,
        start_time_us: start,
        duration_us: dur,
        tags: vec![
            Tag::string("span.kind", "server"),
            Tag::int64("http.status_code", 200),
            Tag::int64("big", 1 << 60),
            Tag::binary("bin", vec![0, 0, 48, 57]),
        ],
        logs: vec![],
        references: vec![],
        process: Process {
            service_name: svc.into(),
            tags: vec![],
        },
    }
}

fn store() -> MemoryStore {
    let s = MemoryStore::new(MemoryOptions::default());
    s.add(span(0xabc, 1, 0, "productpage", "GET /", 1_000, 30_000));
    s.add(span(0xabc, 2, 1, "reviews", "GET /reviews", 2_000, 20_000));
    s.add(span(0xdef, 3, 0, "reviews", "GET /health", 5_000, 10));
    s
}

fn get(s: Option<&MemoryStore>, path: &str, q: &str) -> (u16, Value) {
    let (status, body) = answer(s, path, q, 10_000_000);
    (status, serde_json::from_str(&body).expect("json"))
}

#[test]
fn services_and_operations_in_jaegers_envelope() {
    let s = store();
    let (st, v) = get(Some(&s), "/api/services", "");
    assert_eq!(st, 200);
    assert_eq!(
        v,
        json!({"data": ["productpage", "reviews"], "total": 2, "limit": 0, "offset": 0, "errors": null})
    );
    let (_, v) = get(Some(&s), "/api/services/reviews/operations", "");
    assert_eq!(v["data"], json!(["GET /health", "GET /reviews"]));
    let (_, v) = get(
        Some(&s),
        "/api/operations",
        "service=reviews&spanKind=server",
    );
    assert_eq!(
        v["data"][0],
        json!({"name": "GET /health", "spanKind": "server"})
    );
}

#[test]
fn trace_by_id_has_processes_references_and_typed_tags() {
    let s = store();
    let (st, v) = get(Some(&s), "/api/traces/0000000000000abc", "");
    assert_eq!(st, 200);
    let t = &v["data"][0];
    assert_eq!(t["traceID"], "0000000000000abc");
    assert_eq!(t["processes"]["p1"]["serviceName"], "productpage");
    assert_eq!(t["processes"]["p2"]["serviceName"], "reviews");
    let child = &t["spans"][1];
    assert_eq!(child["spanID"], "0000000000000002");
    assert_eq!(child["processID"], "p2");
    assert_eq!(
        child["references"],
        json!([{"refType": "CHILD_OF", "traceID": "0000000000000abc", "spanID": "0000000000000001"}])
    );
    assert_eq!(child["startTime"], 2_000);
    assert_eq!(child["duration"], 20_000);
    assert_eq!(child["flags"], 1);
    let tags = &child["tags"];
    assert_eq!(
        tags[1],
        json!({"key": "http.status_code", "type": "int64", "value": 200})
    );
    // beyond 2^53 an int64 travels as a string; binary as base64
    assert_eq!(tags[2]["value"], "1152921504606846976");
    assert_eq!(tags[3]["value"], "AAAwOQ==");
    assert_eq!(t["spans"][0]["references"], json!([]));
}

#[test]
fn unknown_trace_is_404_in_jaegers_words() {
    let (st, v) = get(Some(&store()), "/api/traces/123", "");
    assert_eq!(st, 404);
    assert_eq!(
        v["errors"],
        json!([{"code": 404, "msg": "trace not found"}])
    );
    assert_eq!(v["data"], Value::Null);
}

#[test]
fn search_by_service_operation_tags_duration_and_time() {
    let s = store();
    let ids = |q: &str| -> Vec<String> {
        let (st, v) = get(Some(&s), "/api/traces", q);
        assert_eq!(st, 200, "{q}: {v}");
        v["data"]
            .as_array()
            .expect("array")
            .iter()
            .map(|t| t["traceID"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    assert_eq!(
        ids("service=reviews"),
        ["0000000000000def", "0000000000000abc"]
    );
    assert_eq!(
        ids("service=reviews&operation=GET+%2Freviews"),
        ["0000000000000abc"]
    );
    assert_eq!(ids("service=reviews&minDuration=1ms"), ["0000000000000abc"]);
    assert_eq!(ids("service=reviews&maxDuration=1ms"), ["0000000000000def"]);
    assert_eq!(
        ids("service=reviews&tags=%7B%22http.status_code%22%3A%22200%22%7D&limit=1"),
        ["0000000000000def"]
    );
    assert_eq!(
        ids("service=reviews&tag=span.kind:server&start=3000&end=9000"),
        ["0000000000000def"]
    );
    // lookback counts back from `end` (or now)
    assert_eq!(
        ids("service=reviews&end=6000&lookback=5ms"),
        ["0000000000000def", "0000000000000abc"]
    );
    assert_eq!(
        ids("service=reviews&end=6000&lookback=3.5ms"),
        ["0000000000000def"]
    );
    assert!(ids("service=nobody").is_empty());
}

#[test]
fn bad_searches_are_400() {
    let s = store();
    for q in [
        "",
        "service=",
        "service=a&limit=x",
        "service=a&minDuration=2s&maxDuration=1s",
        "service=a&tags=nope",
    ] {
        let (st, v) = get(Some(&s), "/api/traces", q);
        assert_eq!(st, 400, "{q}");
        assert_eq!(v["errors"][0]["code"], 400, "{q}");
    }
}

#[test]
fn with_cassandra_the_api_answers_empty_and_says_why() {
    let (st, v) = get(None, "/api/services", "");
    assert_eq!(st, 200);
    assert_eq!(v["data"], json!([]));
    assert_eq!(v["errors"][0]["msg"], CASSANDRA_NOTE);
    let (st, _) = get(None, "/api/traces/abc", "");
    assert_eq!(st, 404);
}

#[test]
fn base64_and_percent_decoding() {
    assert_eq!(base64(b""), "");
    assert_eq!(base64(b"f"), "Zg==");
    assert_eq!(base64(b"fo"), "Zm8=");
    assert_eq!(base64(b"foo"), "Zm9v");
    assert_eq!(percent_decode("a%2Fb+c%zz%"), "a/b c%zz%");
    assert_eq!(percent_decode("%C3%A9"), "é");
}
