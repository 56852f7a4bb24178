use super::*;
use crate::traces::span::{Log, Process, RefType, SpanId, SpanRef, TraceId};

fn span() -> Span {
    Span {
        trace_id: TraceId::new(0x0102_0304_0506_0708, 0x090a_0b0c_0d0e_0f10),
        span_id: SpanId(0xffff_ffff_ffff_fffe),
        parent_span_id: SpanId(7),
        operation_name: "GET /books".into(),
        flags: flags::SAMPLED,
        // 2026-01-02T10:29:59.999999Z
        start_time_us: 1_767_349_799_999_999,
        duration_us: 1500,
        tags: vec![
            Tag::string("span.kind", "server"),
            Tag::int64("http.status_code", 200),
            Tag::bool("error", false),
            Tag::float64("ratio", 0.25),
            Tag::binary("blob", vec![1, 2, 3]),
            Tag::string("json", r#"{"a": 1}"#),
            Tag::string("long", "x".repeat(256)),
            Tag::string("almost-long", "y".repeat(255)),
        ],
        logs: vec![Log {
            timestamp_us: 1_767_349_800_000_100,
            fields: vec![
                Tag::string("event", "retry"),
                Tag::int64("http.status_code", 200),
            ],
        }],
        references: vec![
            SpanRef {
                ref_type: RefType::FollowsFrom,
                trace_id: TraceId::new(0, 99),
                span_id: SpanId(5),
            },
            SpanRef {
                ref_type: RefType::ChildOf,
                trace_id: TraceId::new(0x0102_0304_0506_0708, 0x090a_0b0c_0d0e_0f10),
                span_id: SpanId(7),
            },
        ],
        process: Process {
            service_name: "reviews".into(),
            tags: vec![
                Tag::string("hostname", "pod-1"),
                Tag::string("event", "retry"),
            ],
        },
    }
}

#[test]
fn traces_row_holds_the_stored_forms() {
    let s = span();
    let rows = SpanRows::new(&s, &TagIndexOptions::default());
    let t = &rows.traces;
    assert_eq!(
        t.trace_id,
        [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
    );
    assert_eq!(t.span_id, -2, "span id bits reinterpreted as signed");
    assert_eq!(t.parent_id, 7);
    assert_eq!(t.flags, 1);
    assert_eq!((t.start_time, t.duration), (s.start_time_us, 1500));
    assert_eq!(t.tags.len(), s.tags.len());
    let status = &t.tags[1];
    assert_eq!(
        (status.key, status.value_type, status.value_long),
        ("http.status_code", "int64", 200)
    );
    assert_eq!((status.value_string, status.value_binary), ("", None));
    assert_eq!(t.tags[4].value_binary, Some(&[1u8, 2, 3][..]));
    assert_eq!(t.tags[3].value_double, 0.25);
    assert_eq!(t.logs[0].ts, 1_767_349_800_000_100);
    assert_eq!(t.logs[0].fields[0].value_string, "retry");
    assert_eq!(t.process.service_name, "reviews");
    assert_eq!(t.process.tags[0].key, "hostname");
}

#[test]
fn parent_comes_first_as_child_of_and_is_not_repeated() {
    let s = span();
    let refs = SpanRows::new(&s, &TagIndexOptions::default()).traces.refs;
    assert_eq!(refs.len(), 2);
    assert_eq!((refs[0].ref_type, refs[0].span_id), ("child-of", 7));
    assert_eq!(refs[0].trace_id, s.trace_id.to_bytes());
    assert_eq!((refs[1].ref_type, refs[1].span_id), ("follows-from", 5));
    assert_eq!(refs[1].trace_id[15], 99);

    let mut root = span();
    root.parent_span_id = SpanId(0);
    root.references.clear();
    let rows = SpanRows::new(&root, &TagIndexOptions::default());
    assert!(rows.traces.refs.is_empty());
    assert_eq!(rows.traces.parent_id, 0);
}

#[test]
fn names_and_operation_kind() {
    let s = span();
    let rows = SpanRows::new(&s, &TagIndexOptions::default());
    assert_eq!(rows.service_name, "reviews");
    assert_eq!(
        rows.operation,
        OperationRow {
            service_name: "reviews",
            span_kind: "server",
            operation_name: "GET /books"
        }
    );
    let mut no_kind = span();
    no_kind.tags[0] = Tag::bool("span.kind", true);
    assert_eq!(no_kind.span_kind(), "", "only a string span.kind counts");
    no_kind.tags.remove(0);
    assert_eq!(no_kind.span_kind(), "");
}

#[test]
fn service_indexes_use_the_hash_bucket_and_start_time() {
    let s = span();
    let rows = SpanRows::new(&s, &TagIndexOptions::default());
    let h = rows.traces.span_hash;
    assert_eq!(rows.service_name_index.bucket as u64, (h as u64) % 10);
    assert_eq!(rows.service_name_index.start_time, s.start_time_us);
    assert_eq!(rows.service_name_index.trace_id, s.trace_id.to_bytes());
    assert_eq!(rows.service_operation_index.operation_name, "GET /books");
    assert_eq!(rows.service_operation_index.service_name, "reviews");
    assert_eq!(service_name_bucket(-1), (u64::MAX % 10) as i32);
    assert_eq!(service_name_bucket(-1), 5);
}

#[test]
fn span_hash_is_stable_and_sees_every_column() {
    let s = span();
    let h = SpanRows::new(&s, &TagIndexOptions::default())
        .traces
        .span_hash;
    assert_eq!(
        h,
        SpanRows::new(&span(), &TagIndexOptions::default())
            .traces
            .span_hash
    );
    type Change = Box<dyn Fn(&mut Span)>;
    let changes: Vec<Change> = vec![
        Box::new(|s| s.operation_name.push('x')),
        Box::new(|s| s.duration_us += 1),
        Box::new(|s| s.flags ^= 2),
        Box::new(|s| s.tags[1] = Tag::int64("http.status_code", 201)),
        Box::new(|s| s.tags[3] = Tag::float64("ratio", 0.5)),
        Box::new(|s| s.logs[0].timestamp_us += 1),
        Box::new(|s| s.references[0].span_id = SpanId(6)),
        Box::new(|s| s.process.service_name.push('2')),
        Box::new(|s| {
            s.process.tags.pop();
        }),
        Box::new(|s| s.parent_span_id = SpanId(8)),
    ];
    for (i, change) in changes.iter().enumerate() {
        let mut c = span();
        change(&mut c);
        let hc = SpanRows::new(&c, &TagIndexOptions::default())
            .traces
            .span_hash;
        assert_ne!(hc, h, "change {i} kept the hash");
    }
}

#[test]
fn fnv1a_matches_go_hash_fnv() {
    // Reference values from Go's hash/fnv New64a.
    for (input, want) in [
        ("", 0xcbf2_9ce4_8422_2325u64),
        ("a", 0xaf63_dc4c_8601_ec8c),
        ("foobar", 0x8594_4171_f739_67e8),
    ] {
        let mut h = Fnv1a::new();
        h.bytes(input.as_bytes());
        assert_eq!(h.0, want, "{input:?}");
    }
}

#[test]
fn duration_bucket_rounds_to_the_nearest_hour() {
    let hour = 3_600_000_000i64;
    let ten = 1_767_348_000_000_000; // 2026-01-02T10:00:00Z
    assert_eq!(ten % hour, 0);
    assert_eq!(duration_bucket_us(ten), ten);
    assert_eq!(duration_bucket_us(ten + hour / 2 - 1), ten);
    assert_eq!(
        duration_bucket_us(ten + hour / 2),
        ten + hour,
        "halves round up"
    );
    assert_eq!(duration_bucket_us(ten - 1), ten);
    assert_eq!(duration_bucket_us(-1), 0);
    assert_eq!(duration_bucket_us(i64::MAX), i64::MAX - i64::MAX % hour);
}

#[test]
fn duration_index_is_written_twice() {
    let s = span();
    let rows = SpanRows::new(&s, &TagIndexOptions::default());
    let ops: Vec<&str> = rows
        .duration_index
        .iter()
        .map(|r| r.operation_name)
        .collect();
    assert_eq!(ops, ["", "GET /books"]);
    for r in &rows.duration_index {
        // 10:29:59.999999 rounds down to 10:00, in milliseconds
        assert_eq!(r.bucket_ms, 1_767_348_000_000);
        assert_eq!((r.duration, r.start_time), (1500, s.start_time_us));
        assert_eq!(r.service_name, "reviews");
    }
}

fn tag_pairs(rows: &SpanRows<'_>) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = rows
        .tag_index
        .iter()
        .map(|r| (r.tag_key.to_string(), r.tag_value.to_string()))
        .collect();
    v.sort();
    v
}

#[test]
fn tag_index_covers_process_span_and_log_tags_once() {
    let s = span();
    let rows = SpanRows::new(&s, &TagIndexOptions::default());
    let want: Vec<(String, String)> = [
        ("almost-long", "y".repeat(255).as_str()),
        ("error", "false"),
        ("event", "retry"),
        ("hostname", "pod-1"),
        ("http.status_code", "200"),
        ("ratio", "0.25"),
        ("span.kind", "server"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    assert_eq!(tag_pairs(&rows), want);
    // `json` (a JSON object) and `long` (256 bytes) are skipped and counted; `blob` is binary.
    assert_eq!(rows.tags_skipped, 2);
    for r in &rows.tag_index {
        assert_eq!(r.service_name, "reviews");
        assert_eq!((r.span_id, r.start_time), (-2, s.start_time_us));
        assert_eq!(r.trace_id, s.trace_id.to_bytes());
    }
}

#[test]
fn tag_index_options_filter() {
    let s = span();
    let only_process = TagIndexOptions {
        span_tags: false,
        log_fields: false,
        ..TagIndexOptions::default()
    };
    let rows = SpanRows::new(&s, &only_process);
    assert_eq!(
        tag_pairs(&rows),
        [
            ("event".into(), "retry".into()),
            ("hostname".into(), "pod-1".into())
        ]
    );
    let allow = TagIndexOptions {
        allow_keys: vec!["error".into(), "hostname".into()],
        deny_keys: vec!["hostname".into()],
        ..TagIndexOptions::default()
    };
    let rows = SpanRows::new(&s, &allow);
    assert_eq!(tag_pairs(&rows), [("error".into(), "false".into())]);
}

#[test]
fn firehose_spans_skip_tag_and_duration_indexes() {
    let mut s = span();
    s.flags |= flags::FIREHOSE;
    let rows = SpanRows::new(&s, &TagIndexOptions::default());
    assert!(rows.tag_index.is_empty());
    assert!(rows.duration_index.is_empty());
    assert_eq!(rows.traces.flags, 9);
}

#[test]
fn json_check_is_only_for_objects() {
    assert!(!should_index_tag("k", r#"{"a":[1,2]}"#));
    assert!(should_index_tag("k", "{not json"));
    assert!(should_index_tag("k", "[1,2]"));
    assert!(should_index_tag("k", ""));
    assert!(!should_index_tag(&"k".repeat(256), "v"));
}

#[test]
fn float_text_matches_go_format_float_g10() {
    // Reference values from Go's strconv.FormatFloat(v, 'g', 10, 64).
    let cases: &[(f64, &str)] = &[
        (0.0, "0"),
        (-0.0, "-0"),
        (1.0, "1"),
        (1.5, "1.5"),
        (-2.5, "-2.5"),
        (100.0, "100"),
        (1e10, "1e+10"),
        (12345678901.0, "1.23456789e+10"),
        (1234567890.0, "1234567890"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.23456789012345, "1.23456789"),
        (0.30000000000000004, "0.3"),
        (123456.789, "123456.789"),
        (1e21, "1e+21"),
        (1e-7, "1e-07"),
        (2.5e-5, "2.5e-05"),
        (99999999995.0, "1e+11"),
        (0.000123456789012, "0.000123456789"),
        (1e100, "1e+100"),
        (5e-324, "4.940656458e-324"),
        (f64::MAX, "1.797693135e+308"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "+Inf"),
        (f64::NEG_INFINITY, "-Inf"),
        (42.0000000001, "42"),
        (9.9999999999, "10"),
    ];
    for (v, want) in cases {
        assert_eq!(go_format_float_g10(*v), *want, "{v:e}");
    }
}
