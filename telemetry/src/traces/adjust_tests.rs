use super::*;
use crate::traces::span::{flags, Log, Process};

fn span(id: u64, parent: u64, kind: &str, svc: &str, start: i64, dur: i64) -> Span {
    Span {
        trace_id: TraceId::new(0, 0xabc),
        span_id: SpanId(id),
        parent_span_id: SpanId(parent),
        operation_name: "op".into(),
        flags: flags::SAMPLED,
        start_time_us: start,
        duration_us: dur,
        tags: vec![Tag::string("span.kind", kind)],
        logs: vec![],
        references: vec![],
        process: Process {
            service_name: svc.into(),
            tags: vec![],
        },
    }
}

fn by_id(t: &[Adjusted], id: u64) -> &Adjusted {
    t.iter()
        .find(|a| a.span.span_id == SpanId(id))
        .unwrap_or_else(|| panic!("no span {id:x} in {t:#?}"))
}

fn child_of(id: u64) -> Vec<SpanRef> {
    vec![SpanRef {
        ref_type: RefType::ChildOf,
        trace_id: TraceId::new(0, 0xabc),
        span_id: SpanId(id),
    }]
}

#[test]
fn a_server_span_sharing_the_client_id_becomes_its_child_with_id_1() {
    // B3 shared span: client and server report 0x50 with parent 0x10; 0x60 is the server's child
    let t = standard(&[
        span(0x10, 0, "client", "a", 0, 100),
        span(0x50, 0x10, "client", "a", 10, 50),
        span(0x50, 0x10, "server", "b", 12, 40),
        span(0x60, 0x50, "client", "b", 20, 10),
    ]);
    let server = t
        .iter()
        .find(|a| kind_is(&a.span, "server"))
        .expect("server span");
    assert_eq!(server.span.span_id, SpanId(1));
    assert_eq!(server.span.references, child_of(0x50));
    assert_eq!(by_id(&t, 0x50).span.references, child_of(0x10));
    // the shared id's other child now hangs off the server span
    assert_eq!(by_id(&t, 0x60).span.references, child_of(1));
    assert!(t.iter().all(|a| a.warnings.is_empty()), "{t:#?}");
}

#[test]
fn tags_sort_by_key_type_value_and_events_come_first() {
    let mut s = span(1, 0, "server", "a", 0, 1);
    s.tags = vec![
        Tag::int64("z", 1),
        Tag::string("a", "2"),
        Tag::bool("m", true),
        Tag::int64("a", 1),
        Tag::string("a", "1"),
    ];
    s.process.tags = vec![Tag::string("ip", "10.0.0.1"), Tag::string("hostname", "h")];
    s.logs = vec![Log {
        timestamp_us: 1,
        fields: vec![
            Tag::string("z", "1"),
            Tag::string("b", "1"),
            Tag::string("event", "e"),
        ],
    }];
    let t = standard(&[s]);
    let keys = |tags: &[Tag]| -> Vec<String> {
        tags.iter()
            .map(|t| format!("{}={:?}", t.key, t.value))
            .collect()
    };
    assert_eq!(
        keys(&t[0].span.tags),
        [
            r#"a=String("1")"#,
            r#"a=String("2")"#,
            "a=Int64(1)",
            "m=Bool(true)",
            "z=Int64(1)"
        ]
    );
    assert_eq!(t[0].span.process.tags[0].key, "hostname");
    let fields: Vec<&str> = t[0].span.logs[0]
        .fields
        .iter()
        .map(|f| f.key.as_str())
        .collect();
    assert_eq!(fields, ["event", "b", "z"]);
}

#[test]
fn identical_spans_are_kept_once() {
    let s = span(1, 0, "server", "a", 0, 1);
    let t = standard(&[s.clone(), s.clone()]);
    assert_eq!(t.len(), 1);
    assert!(t[0].warnings.is_empty());
    // same id, different content: both kept, the second warned
    let mut other = s.clone();
    other.operation_name = "other".into();
    let t = standard(&[s, other]);
    assert_eq!(t.len(), 2);
    assert_eq!(
        t[1].warnings,
        ["duplicate span IDs; skipping clock skew adjustment"]
    );
}

#[test]
fn clock_skew_is_reported_not_applied() {
    // child starts 5 µs before its parent, on another (unknown) host
    let t = standard(&[
        span(1, 0, "server", "a", 100, 50),
        span(2, 1, "client", "b", 95, 20),
        span(3, 2, "server", "c", 96, 2),
        span(4, 9, "server", "d", 0, 1),
    ]);
    assert_eq!(
        by_id(&t, 2).warnings,
        ["clock skew adjustment disabled; not applying calculated delta of 20µs"]
    );
    assert!(by_id(&t, 1).warnings.is_empty());
    assert!(by_id(&t, 3).warnings.is_empty(), "fits inside its parent");
    assert_eq!(
        by_id(&t, 4).warnings,
        ["invalid parent span IDs=0000000000000009; skipping clock skew adjustment"]
    );
    assert_eq!(by_id(&t, 2).span.start_time_us, 95, "not moved");
}

#[test]
fn go_duration_text() {
    for (ns, want) in [
        (0, "0s"),
        (999, "999ns"),
        (20_000, "20µs"),
        (1_500, "1.5µs"),
        (2_500_000, "2.5ms"),
        (-3_000_000_000, "-3s"),
        (61_500_000_000, "1m1.5s"),
        (3_600_000_000_000, "1h0m0s"),
    ] {
        assert_eq!(go_duration(ns), want, "{ns}");
    }
}

#[test]
fn ip_tags_otel_tags_and_reference_order() {
    let mut s = span(1, 0, "server", "a", 0, 1);
    s.tags.push(Tag::int64("peer.ipv4", 0x0a00_0001));
    s.tags
        .push(Tag::string("telemetry.sdk.name", "opentelemetry"));
    s.process
        .tags
        .push(Tag::float64("ip", f64::from(0x7f00_0001u32)));
    s.references = vec![
        SpanRef {
            ref_type: RefType::FollowsFrom,
            trace_id: TraceId::new(0, 0x77),
            span_id: SpanId(9),
        },
        SpanRef {
            ref_type: RefType::ChildOf,
            trace_id: TraceId::default(),
            span_id: SpanId(8),
        },
        child_of(7)[0],
    ];
    let t = standard(&[s]);
    let a = &t[0];
    assert!(a.span.tags.contains(&Tag::string("peer.ipv4", "10.0.0.1")));
    assert!(!a.span.tags.iter().any(|t| t.key == "telemetry.sdk.name"));
    assert_eq!(
        a.span.process.tags,
        [
            Tag::string("ip", "127.0.0.1"),
            Tag::string("telemetry.sdk.name", "opentelemetry")
        ]
    );
    assert_eq!(a.span.references[0], child_of(7)[0], "parent first");
    assert_eq!(a.span.references.len(), 2, "zero trace id removed");
    assert_eq!(
        a.warnings,
        [
            "invalid parent span IDs=0000000000000007; skipping clock skew adjustment",
            "Invalid span reference removed {TraceID:0000000000000000 SpanID:0000000000000008 RefType:CHILD_OF}"
        ]
    );
}

#[test]
fn raw_keeps_the_stored_form() {
    let s = span(0x50, 0x10, "server", "b", 12, 40);
    let c = span(0x50, 0x10, "client", "a", 10, 50);
    let t = raw(&[c, s]);
    assert_eq!(t[1].span.span_id, SpanId(0x50));
    assert_eq!(t[1].span.references, child_of(0x10));
    assert_eq!(t[1].parent(), SpanId(0x10));
}
