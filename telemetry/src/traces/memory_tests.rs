use super::*;
use crate::traces::span::{Log, Process, SpanId};

fn span(trace: u64, id: u64, service: &str, op: &str, start: i64, dur: i64) -> Span {
    Span {
        trace_id: TraceId::new(0, trace),
        span_id: SpanId(id),
        parent_span_id: SpanId(0),
        operation_name: op.into(),
        flags: 1,
        start_time_us: start,
        duration_us: dur,
        tags: vec![
            Tag::string("span.kind", "server"),
            Tag::int64("http.status_code", 200 + trace as i64),
        ],
        logs: vec![Log {
            timestamp_us: start,
            fields: vec![Tag::string("event", format!("e{trace}"))],
        }],
        references: vec![],
        process: Process {
            service_name: service.into(),
            tags: vec![Tag::string("hostname", format!("host{trace}"))],
        },
    }
}

fn ids(traces: &[Vec<Span>]) -> Vec<u64> {
    traces.iter().map(|t| t[0].trace_id.low).collect()
}

#[test]
fn get_trace_services_and_operations() {
    let store = MemoryStore::new(MemoryOptions::default());
    assert!(store.add(span(1, 1, "reviews", "GET /r", 10, 5)));
    assert!(store.add(span(1, 2, "ratings", "GET /x", 11, 2)));
    let mut client = span(2, 3, "reviews", "call", 12, 1);
    client.tags[0] = Tag::string("span.kind", "client");
    store.add(client);
    let t = store.get_trace(TraceId::new(0, 1)).expect("trace 1");
    assert_eq!(t.iter().map(|s| s.span_id.0).collect::<Vec<_>>(), [1, 2]);
    assert!(store.get_trace(TraceId::new(0, 9)).is_none());
    assert_eq!(store.services(), ["ratings", "reviews"]);
    let op = |n: &str, k: &str| Operation {
        name: n.into(),
        span_kind: k.into(),
    };
    assert_eq!(
        store.operations("reviews", None),
        [op("call", "client"), op("GET /r", "server")],
        "by kind, then name, as operation_names_v2's clustering order"
    );
    assert_eq!(
        store.operations("reviews", Some("client")),
        [op("call", "client")]
    );
    assert!(store.operations("nope", None).is_empty());
}

#[test]
fn evicts_the_oldest_trace_and_its_names() {
    let store = MemoryStore::new(MemoryOptions {
        max_traces: 2,
        max_spans_per_trace: 10,
    });
    store.add(span(1, 1, "old", "a", 1, 1));
    store.add(span(2, 2, "mid", "b", 2, 1));
    store.add(span(1, 3, "old", "a", 3, 1)); // same trace: no eviction
    store.add(span(3, 4, "new", "c", 4, 1));
    assert!(
        store.get_trace(TraceId::new(0, 1)).is_none(),
        "oldest evicted"
    );
    assert!(store.get_trace(TraceId::new(0, 2)).is_some());
    assert_eq!(store.services(), ["mid", "new"]);
    assert_eq!(store.stats().traces_evicted.get(), 1);
}

#[test]
fn caps_spans_per_trace_and_counts() {
    let store = MemoryStore::new(MemoryOptions {
        max_traces: 10,
        max_spans_per_trace: 2,
    });
    assert!(store.add(span(1, 1, "s", "a", 1, 1)));
    assert!(store.add(span(1, 2, "s", "a", 1, 1)));
    assert!(!store.add(span(1, 3, "s", "a", 1, 1)));
    assert_eq!(store.stats().spans_dropped_trace_full.get(), 1);
    assert_eq!(store.stats().spans_stored.get(), 2);
}

#[test]
fn find_traces_like_jaeger_query() {
    let store = MemoryStore::new(MemoryOptions::default());
    for t in 1..=5u64 {
        store.add(span(
            t,
            t,
            "reviews",
            if t % 2 == 0 { "even" } else { "odd" },
            t as i64 * 100,
            t as i64 * 10,
        ));
    }
    store.add(span(6, 6, "ratings", "odd", 600, 60));
    let q = |f: &dyn Fn(&mut TraceQuery)| {
        let mut q = TraceQuery {
            service: "reviews".into(),
            ..TraceQuery::default()
        };
        f(&mut q);
        ids(&store.find_traces(&q))
    };
    assert_eq!(q(&|_| {}), [5, 4, 3, 2, 1], "newest first");
    assert_eq!(q(&|q| q.limit = 2), [5, 4]);
    assert_eq!(q(&|q| q.operation = Some("even".into())), [4, 2]);
    assert_eq!(
        q(&|q| {
            q.start_after_us = Some(200);
            q.start_before_us = Some(500);
        }),
        [4, 3],
        "start bounds exclusive"
    );
    assert_eq!(
        q(&|q| {
            q.min_duration_us = Some(20);
            q.max_duration_us = Some(50);
        }),
        [4, 3],
        "duration bounds exclusive, as jaeger-query v2.13"
    );
    assert_eq!(
        q(&|q| q.tags = vec![("http.status_code".into(), "203".into())]),
        [3],
        "span tag as text"
    );
    assert_eq!(
        q(&|q| q.tags = vec![("hostname".into(), "host4".into())]),
        [4],
        "process tag"
    );
    assert_eq!(
        q(&|q| q.tags = vec![("event".into(), "e1".into())]),
        [1],
        "log field"
    );
    assert_eq!(
        q(&|q| q.tags = vec![
            ("event".into(), "e1".into()),
            ("hostname".into(), "host2".into())
        ]),
        Vec::<u64>::new(),
        "every tag in the same trace"
    );
    assert_eq!(q(&|q| q.service = "ratings".into()), [6]);

    // Jaeger intersects per-index answers: the operation and each tag may be on different
    // spans of the service, but each must be on one of them (and inside the window).
    let mut other = span(1, 7, "reviews", "other-op", 150, 1);
    other.tags.push(Tag::string("extra", "x"));
    store.add(other);
    assert_eq!(
        q(&|q| {
            q.operation = Some("odd".into());
            q.tags = vec![("extra".into(), "x".into()), ("event".into(), "e1".into())];
        }),
        [1],
        "operation on span 1, tag on span 7"
    );
    assert_eq!(
        q(&|q| {
            q.tags = vec![("extra".into(), "x".into())];
            q.start_before_us = Some(150);
        }),
        Vec::<u64>::new(),
        "the tagged span started outside the window"
    );
}

#[tokio::test]
async fn serves_as_a_sink_writer() {
    use crate::traces::sink::{SinkOptions, SpanSink};
    use std::sync::Arc;
    let store = Arc::new(MemoryStore::new(MemoryOptions::default()));
    let sink = SpanSink::start(store.clone(), SinkOptions::default());
    sink.submit(span(1, 1, "s", "a", 1, 1));
    let stats = sink.shutdown(std::time::Duration::from_secs(30)).await;
    assert_eq!(stats.written.get(), 1);
    assert_eq!(store.services(), ["s"]);
}
