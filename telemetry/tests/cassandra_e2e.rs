//! Against a real Cassandra 5.0 (scripts/install-cassandra, scripts/start-cassandra; the
//! test command starts one and sets `MIXER_CASSANDRA=host:port`): the sink creates Jaeger's
//! v004 schema, writes a three-span trace through its queue, and every table then holds the
//! rows Jaeger's own writer would have written (spec/jaeger-cassandra.md §4–5), read back with
//! plain CQL and with jaeger-query's own SELECTs (§6). Expected values are written out here
//! from the spec, not computed by the code under test; the only value taken from the database
//! is `span_hash`, whose bucket is then checked.
//!
//! A second test sends a sampled Report through the whole telemetry service (gRPC, the
//! standard config's tracing rule, the `jaeger` handler) configured with the Cassandra sink,
//! and finds the span in `traces`.
//!
//! Without `MIXER_CASSANDRA` the tests say so and pass without running.

mod common;

use mixer_telemetry::traces::cassandra::{self, CassandraConfig, SchemaOptions};
use mixer_telemetry::traces::span::{
    flags, Log, Process, RefType, Span, SpanId, SpanRef, Tag, TraceId,
};
use mixer_telemetry::traces::SinkOptions;
use scylla::client::session::Session;
use scylla::value::CqlTimestamp;
use scylla::DeserializeValue;
use std::collections::BTreeSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Both tests create the schema (IF NOT EXISTS); one at a time, as concurrent DDL on one
/// node can disagree.
static SCHEMA: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[derive(Debug, PartialEq, DeserializeValue)]
struct KeyValue {
    key: String,
    value_type: String,
    value_string: Option<String>,
    value_bool: Option<bool>,
    value_long: Option<i64>,
    value_double: Option<f64>,
    value_binary: Option<Vec<u8>>,
}

#[derive(Debug, PartialEq, DeserializeValue)]
struct LogUdt {
    ts: i64,
    fields: Vec<KeyValue>,
}

#[derive(Debug, PartialEq, DeserializeValue)]
struct SpanRefUdt {
    ref_type: String,
    trace_id: Vec<u8>,
    span_id: i64,
}

#[derive(Debug, PartialEq, DeserializeValue)]
struct ProcessUdt {
    service_name: String,
    tags: Vec<KeyValue>,
}

fn kv_string(key: &str, v: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value_type: "string".into(),
        value_string: Some(v.into()),
        value_bool: Some(false),
        value_long: Some(0),
        value_double: Some(0.0),
        value_binary: None,
    }
}

/// 2026-01-02T10:20:00Z in µs; every span starts within a second after it, so the
/// duration_index bucket (start rounded to the hour) is 10:00.
const BASE_US: i64 = 1_767_349_200_000_000;
const BUCKET_10H_MS: i64 = 1_767_348_000_000;

struct Fixture {
    trace: TraceId,
    client: Span,
    server: Span,
    db: Span,
}

fn fixture() -> Fixture {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    // A fresh trace id per run; the high half has its top bit set so the bytes are unusual.
    let trace = TraceId::new(0x8000_0000_0000_0000 | (nanos >> 1), nanos | 1);
    let start = BASE_US + (nanos % 500_000) as i64;
    let client = Span {
        trace_id: trace,
        span_id: SpanId(0xfedc_ba98_7654_3210),
        parent_span_id: SpanId(0),
        operation_name: "GET /reviews".into(),
        flags: flags::SAMPLED,
        start_time_us: start,
        duration_us: 25_000,
        tags: vec![
            Tag::string("span.kind", "client"),
            Tag::string("http.method", "GET"),
            Tag::int64("http.status_code", 200),
            Tag::bool("error", false),
            Tag::float64("upstream.ratio", 0.125),
            Tag::binary("trace.state", vec![0xde, 0xad]),
            Tag::string("payload", r#"{"user": 7}"#),
        ],
        logs: vec![],
        references: vec![],
        process: Process {
            service_name: "productpage".into(),
            tags: vec![Tag::string("hostname", "productpage-1")],
        },
    };
    let server = Span {
        trace_id: trace,
        span_id: SpanId(0x0000_0000_0000_0042),
        parent_span_id: client.span_id,
        operation_name: "GET /reviews".into(),
        flags: flags::SAMPLED,
        start_time_us: start + 2_000,
        duration_us: 20_000,
        tags: vec![
            Tag::string("span.kind", "server"),
            Tag::int64("http.status_code", 200),
        ],
        logs: vec![Log {
            timestamp_us: start + 3_000,
            fields: vec![Tag::string("event", "cache-miss")],
        }],
        references: vec![],
        process: Process {
            service_name: "reviews".into(),
            tags: vec![
                Tag::string("hostname", "reviews-v2-1"),
                Tag::string("ip", "10.1.2.3"),
            ],
        },
    };
    let db = Span {
        trace_id: trace,
        span_id: SpanId(0x0000_0000_0000_0043),
        parent_span_id: server.span_id,
        operation_name: "SELECT ratings".into(),
        flags: flags::SAMPLED,
        start_time_us: start + 5_000,
        duration_us: 4_000,
        tags: vec![],
        logs: vec![],
        references: vec![SpanRef {
            ref_type: RefType::FollowsFrom,
            trace_id: TraceId::new(0, 0x77),
            span_id: SpanId(0x99),
        }],
        process: server.process.clone(),
    };
    Fixture {
        trace,
        client,
        server,
        db,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spans_land_in_every_jaeger_table() {
    let Ok(addr) = std::env::var("MIXER_CASSANDRA") else {
        eprintln!(
            "skipped: MIXER_CASSANDRA (host:port of a Cassandra 5.0 node) is not set; \
             scripts/test starts one with scripts/start-cassandra and sets it"
        );
        return;
    };
    let _one = SCHEMA.lock().await;
    let keyspace = std::env::var("MIXER_CASSANDRA_KEYSPACE").unwrap_or("jaeger_v1_dc1".into());
    let config = CassandraConfig {
        contact_points: vec![addr],
        keyspace: keyspace.clone(),
        create_schema: Some(SchemaOptions::default()),
        request_timeout: Duration::from_secs(30),
        ..CassandraConfig::default()
    };
    let sink = cassandra::start(config, SinkOptions::default()).expect("valid config");
    let writer = sink
        .writer()
        .wait_connected(Duration::from_secs(120))
        .await
        .expect("connect, create schema, prepare");
    writer.healthcheck().await.expect("healthcheck");
    let session = writer.session().clone();

    let f = fixture();
    for s in [&f.client, &f.server, &f.db] {
        assert_eq!(
            sink.submit(s.clone()),
            mixer_telemetry::traces::Submit::Queued
        );
    }
    let stats = sink.shutdown(Duration::from_secs(60)).await;
    assert_eq!(
        (stats.written.get(), stats.dropped(), stats.retries.get()),
        (3, 0, 0),
        "all three spans written"
    );
    // `payload` is a JSON object: not indexed, and counted.
    assert_eq!(stats.tags_skipped.get(), 1);

    let tid = f.trace.to_bytes().to_vec();
    check_traces(&session, &f, &tid).await;
    check_names(&session).await;
    check_indexes(&session, &f, &tid).await;
    check_jaeger_reader_queries(&session, &tid).await;
    check_schema(&session, &keyspace).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sampled_report_through_the_service_lands_in_traces() {
    use mixer_attributes::{OwnedValue, Timestamp};
    let Ok(addr) = std::env::var("MIXER_CASSANDRA") else {
        eprintln!("skipped: MIXER_CASSANDRA is not set");
        return;
    };
    let _one = SCHEMA.lock().await;
    let keyspace = std::env::var("MIXER_CASSANDRA_KEYSPACE").unwrap_or("jaeger_v1_dc1".into());
    let config = CassandraConfig {
        contact_points: vec![addr.clone()],
        keyspace: keyspace.clone(),
        create_schema: Some(SchemaOptions::default()),
        request_timeout: Duration::from_secs(30),
        ..CassandraConfig::default()
    };
    let srv = common::start_with(
        None,
        Duration::from_secs(60),
        mixer_telemetry::traces::TraceOptions {
            cassandra: Some(config),
            ..Default::default()
        },
    )
    .await;
    // The sink connects (and creates the schema) in the background; the span below must
    // not wait for that longer than shutdown's flush bound.
    let started = std::time::Instant::now();
    loop {
        let (_, m) = common::get(srv.bound.monitoring, "/metrics").await;
        if m.lines().any(|l| l == "mixer_traces_cassandra_connected 1") {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the sink did not connect: {m}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1);
    let trace = TraceId::new(nanos, nanos | 1);
    let start_us = (nanos / 1000) as i64;
    let mut bag = common::http_bag("productpage-v1", "reviews-v2", 200, 7);
    bag.set("request.path", OwnedValue::String("/reviews/9".into()))
        .set(
            "request.time",
            OwnedValue::Timestamp(Timestamp {
                seconds: start_us / 1_000_000,
                nanos: (start_us % 1_000_000) as i32 * 1000,
            }),
        )
        .set(
            "response.time",
            OwnedValue::Timestamp(Timestamp {
                seconds: (start_us + 7_000) / 1_000_000,
                nanos: ((start_us + 7_000) % 1_000_000) as i32 * 1000,
            }),
        )
        .set(
            "request.headers",
            OwnedValue::StringMap(vec![
                ("x-b3-traceid".into(), trace.to_string()),
                ("x-b3-spanid".into(), "00000000000000b3".into()),
                ("x-b3-parentspanid".into(), "00000000000000a1".into()),
                ("x-b3-sampled".into(), "1".into()),
            ]),
        );
    common::report(srv.bound.grpc, common::batch(&[bag]))
        .await
        .expect("report accepted");
    // With Cassandra the embedded query API holds nothing and says where to look.
    let (_, body) = common::get(srv.bound.query.expect("query API"), "/api/services").await;
    assert!(body.contains("jaeger-query"), "{body}");
    // Stopping flushes the sink's queue: the span is written before `stop` returns.
    srv.stop().await;

    let session = scylla::client::session_builder::SessionBuilder::new()
        .known_node(&addr)
        .build()
        .await
        .expect("connect");
    session
        .use_keyspace(&keyspace, false)
        .await
        .expect("keyspace");
    let rows = select_traces(&session, &trace.to_bytes()).await;
    let [(span_id, _hash, parent, op, fl, start, dur, tags, _logs, _refs, process, _ttl)] =
        rows.as_slice()
    else {
        panic!("one span in traces, got {rows:#?}");
    };
    assert_eq!((*span_id, *parent), (0xb3, 0xa1));
    assert_eq!((op.as_str(), *fl), ("/reviews/9", 1));
    assert_eq!((*start, *dur), (start_us, 7_000));
    assert_eq!(process.service_name, "reviews-v2");
    let tags = tags.as_ref().expect("tags");
    assert_eq!(tags[0], kv_string("span.kind", "server"));
    assert!(
        tags.iter()
            .any(|t| t.key == "http.status_code" && t.value_long == Some(200)),
        "{tags:#?}"
    );
}

type TracesRow = (
    i64,
    i64,
    i64,
    String,
    i32,
    i64,
    i64,
    Option<Vec<KeyValue>>,
    Option<Vec<LogUdt>>,
    Option<Vec<SpanRefUdt>>,
    ProcessUdt,
    Option<i32>,
);

async fn select_traces(session: &Session, tid: &[u8]) -> Vec<TracesRow> {
    session
        .query_unpaged(
            "SELECT span_id, span_hash, parent_id, operation_name, flags, start_time, duration, \
             tags, logs, refs, process, TTL(operation_name) FROM traces WHERE trace_id = ?",
            (tid,),
        )
        .await
        .expect("select traces")
        .into_rows_result()
        .expect("rows")
        .rows::<TracesRow>()
        .expect("typed rows")
        .collect::<Result<Vec<_>, _>>()
        .expect("deserialize traces rows")
}

async fn check_traces(session: &Session, f: &Fixture, tid: &[u8]) {
    let rows = select_traces(session, tid).await;
    assert_eq!(rows.len(), 3, "one row per span");
    // Clustering order is span_id ASC as signed bigint: the client's id is negative.
    let (span_id, _hash, parent, op, fl, start, dur, tags, logs, refs, process, ttl) = &rows[0];
    assert_eq!(*span_id, 0xfedc_ba98_7654_3210u64 as i64);
    assert!(*span_id < 0, "span id bits are stored as a signed bigint");
    assert_eq!((*parent, op.as_str(), *fl), (0, "GET /reviews", 1));
    assert_eq!((*start, *dur), (f.client.start_time_us, 25_000));
    let tags = tags.as_ref().expect("client tags");
    assert_eq!(tags.len(), 7);
    assert_eq!(tags[0], kv_string("span.kind", "client"));
    assert_eq!(
        tags[2],
        KeyValue {
            key: "http.status_code".into(),
            value_type: "int64".into(),
            value_string: Some(String::new()),
            value_bool: Some(false),
            value_long: Some(200),
            value_double: Some(0.0),
            value_binary: None,
        }
    );
    assert_eq!(
        (tags[3].value_type.as_str(), tags[3].value_bool),
        ("bool", Some(false))
    );
    assert_eq!(
        (tags[4].value_type.as_str(), tags[4].value_double),
        ("float64", Some(0.125))
    );
    assert_eq!(
        (tags[5].value_type.as_str(), tags[5].value_binary.as_deref()),
        ("binary", Some(&[0xde, 0xad][..]))
    );
    assert!(logs.as_ref().is_none_or(|l| l.is_empty()));
    assert!(
        refs.as_ref().is_none_or(|r| r.is_empty()),
        "a root has no refs"
    );
    assert_eq!(
        *process,
        ProcessUdt {
            service_name: "productpage".into(),
            tags: vec![kv_string("hostname", "productpage-1")],
        }
    );
    let ttl = ttl.expect("a TTL from default_time_to_live");
    assert!(
        ttl > 172_800 - 600 && ttl <= 172_800,
        "trace TTL 48h, got {ttl}"
    );

    let (span_id, _, parent, _, _, start, dur, _, logs, refs, process, _) = &rows[1];
    assert_eq!((*span_id, *parent), (0x42, 0xfedc_ba98_7654_3210u64 as i64));
    assert_eq!((*start, *dur), (f.server.start_time_us, 20_000));
    assert_eq!(
        logs.as_deref(),
        Some(
            &[LogUdt {
                ts: f.server.start_time_us + 1_000,
                fields: vec![kv_string("event", "cache-miss")],
            }][..]
        )
    );
    let parent_ref = SpanRefUdt {
        ref_type: "child-of".into(),
        trace_id: tid.to_vec(),
        span_id: 0xfedc_ba98_7654_3210u64 as i64,
    };
    assert_eq!(refs.as_deref(), Some(&[parent_ref][..]));
    assert_eq!(process.service_name, "reviews");
    assert_eq!(process.tags.len(), 2);

    let (span_id, _, parent, op, _, _, _, _, _, refs, _, _) = &rows[2];
    assert_eq!(
        (*span_id, *parent, op.as_str()),
        (0x43, 0x42, "SELECT ratings")
    );
    let mut link_trace = vec![0u8; 16];
    link_trace[15] = 0x77;
    assert_eq!(
        refs.as_deref(),
        Some(
            &[
                SpanRefUdt {
                    ref_type: "child-of".into(),
                    trace_id: tid.to_vec(),
                    span_id: 0x42,
                },
                SpanRefUdt {
                    ref_type: "follows-from".into(),
                    trace_id: link_trace,
                    span_id: 0x99,
                },
            ][..]
        ),
        "parent first, then the link"
    );
}

async fn strings(
    session: &Session,
    cql: &str,
    values: impl scylla::serialize::row::SerializeRow,
) -> BTreeSet<(String, String)> {
    session
        .query_unpaged(cql, values)
        .await
        .expect(cql)
        .into_rows_result()
        .expect("rows")
        .rows::<(String, String)>()
        .expect("typed")
        .collect::<Result<BTreeSet<_>, _>>()
        .expect("deserialize")
}

async fn check_names(session: &Session) {
    let services = strings(
        session,
        "SELECT service_name, service_name FROM service_names WHERE service_name IN ('productpage', 'reviews')",
        (),
    )
    .await;
    assert_eq!(services.len(), 2, "{services:?}");
    let ops = strings(
        session,
        "SELECT span_kind, operation_name FROM operation_names_v2 WHERE service_name = ?",
        ("reviews",),
    )
    .await;
    for want in [("server", "GET /reviews"), ("", "SELECT ratings")] {
        assert!(
            ops.contains(&(want.0.to_string(), want.1.to_string())),
            "{want:?} in {ops:?}"
        );
    }
    let ops = strings(
        session,
        "SELECT span_kind, operation_name FROM operation_names_v2 WHERE service_name = ?",
        ("productpage",),
    )
    .await;
    assert!(ops.contains(&("client".into(), "GET /reviews".into())));
}

async fn trace_ids(
    session: &Session,
    cql: &str,
    values: impl scylla::serialize::row::SerializeRow,
) -> Vec<Vec<u8>> {
    session
        .query_unpaged(cql, values)
        .await
        .expect(cql)
        .into_rows_result()
        .expect("rows")
        .rows::<(Vec<u8>,)>()
        .expect("typed")
        .map(|r| r.map(|(t,)| t))
        .collect::<Result<Vec<_>, _>>()
        .expect("deserialize")
}

async fn check_indexes(session: &Session, f: &Fixture, tid: &[u8]) {
    let want = vec![tid.to_vec()];
    let start = f.server.start_time_us;
    let soi = trace_ids(
        session,
        "SELECT trace_id FROM service_operation_index WHERE service_name = ? AND operation_name = ? AND start_time = ?",
        ("reviews", "GET /reviews", start),
    )
    .await;
    assert_eq!(soi, want, "service_operation_index");

    // service_name_index: exactly one bucket holds the span, and it is span_hash % 10.
    let rows: Vec<(i32, Vec<u8>)> = session
        .query_unpaged(
            "SELECT bucket, trace_id FROM service_name_index WHERE service_name = ? \
             AND bucket IN (0,1,2,3,4,5,6,7,8,9) AND start_time = ?",
            ("reviews", start),
        )
        .await
        .expect("service_name_index")
        .into_rows_result()
        .expect("rows")
        .rows::<(i32, Vec<u8>)>()
        .expect("typed")
        .collect::<Result<_, _>>()
        .expect("deserialize");
    let hash = select_traces(session, tid).await[1].1;
    assert_eq!(rows, vec![((hash as u64 % 10) as i32, tid.to_vec())]);

    // duration_index: twice, "" and the operation, in the 10:00 bucket.
    let dur: BTreeSet<(String, i64, i64, Vec<u8>)> = session
        .query_unpaged(
            "SELECT operation_name, duration, start_time, trace_id FROM duration_index \
             WHERE service_name = ? AND operation_name IN ('', 'GET /reviews') AND bucket = ? \
             AND duration = ? AND start_time = ?",
            ("reviews", CqlTimestamp(BUCKET_10H_MS), 20_000i64, start),
        )
        .await
        .expect("duration_index")
        .into_rows_result()
        .expect("rows")
        .rows::<(String, i64, i64, Vec<u8>)>()
        .expect("typed")
        .collect::<Result<_, _>>()
        .expect("deserialize");
    let expect: BTreeSet<_> = ["", "GET /reviews"]
        .into_iter()
        .map(|op| (op.to_string(), 20_000i64, start, tid.to_vec()))
        .collect();
    assert_eq!(dur, expect, "duration_index");

    // tag_index: process tags, span tags and log fields, as text.
    let expect_client: &[(&str, &str)] = &[
        ("hostname", "productpage-1"),
        ("span.kind", "client"),
        ("http.method", "GET"),
        ("http.status_code", "200"),
        ("error", "false"),
        ("upstream.ratio", "0.125"),
    ];
    let expect_server: &[(&str, &str)] = &[
        ("hostname", "reviews-v2-1"),
        ("ip", "10.1.2.3"),
        ("span.kind", "server"),
        ("http.status_code", "200"),
        ("event", "cache-miss"),
    ];
    for (service, span, expected) in [
        ("productpage", &f.client, expect_client),
        ("reviews", &f.server, expect_server),
    ] {
        for (k, v) in expected {
            let got: Vec<(Vec<u8>, i64)> = session
                .query_unpaged(
                    "SELECT trace_id, span_id FROM tag_index WHERE service_name = ? \
                     AND tag_key = ? AND tag_value = ? AND start_time = ?",
                    (service, *k, *v, span.start_time_us),
                )
                .await
                .expect("tag_index")
                .into_rows_result()
                .expect("rows")
                .rows::<(Vec<u8>, i64)>()
                .expect("typed")
                .collect::<Result<_, _>>()
                .expect("deserialize");
            assert_eq!(
                got,
                vec![(tid.to_vec(), span.span_id.0 as i64)],
                "tag_index {service} {k}={v}"
            );
        }
    }
    // Not indexed: binary values and JSON objects.
    for (k, v) in [("trace.state", "dead"), ("payload", r#"{"user": 7}"#)] {
        let got = trace_ids(
            session,
            "SELECT trace_id FROM tag_index WHERE service_name = ? AND tag_key = ? AND tag_value = ?",
            ("productpage", k, v),
        )
        .await;
        assert!(!got.contains(&tid.to_vec()), "{k} must not be indexed");
    }
}

/// jaeger-query's own SELECTs (spec §6), verbatim, find the trace.
async fn check_jaeger_reader_queries(session: &Session, tid: &[u8]) {
    let (lo, hi) = (BASE_US - 1, BASE_US + 1_000_000);
    let found = trace_ids(
        session,
        "SELECT trace_id FROM service_name_index WHERE bucket IN (0,1,2,3,4,5,6,7,8,9) \
         AND service_name = ? AND start_time > ? AND start_time < ? ORDER BY start_time DESC LIMIT ?",
        ("reviews", lo, hi, 1000i32),
    )
    .await;
    assert!(found.contains(&tid.to_vec()), "service search");
    let found = trace_ids(
        session,
        "SELECT trace_id FROM service_operation_index WHERE service_name = ? AND operation_name = ? \
         AND start_time > ? AND start_time < ? ORDER BY start_time DESC LIMIT ?",
        ("reviews", "SELECT ratings", lo, hi, 1000i32),
    )
    .await;
    assert!(found.contains(&tid.to_vec()), "service + operation search");
    let found = trace_ids(
        session,
        "SELECT trace_id FROM tag_index WHERE service_name = ? AND tag_key = ? AND tag_value = ? \
         and start_time > ? and start_time < ? ORDER BY start_time DESC LIMIT ?",
        ("reviews", "event", "cache-miss", lo, hi, 1000i32),
    )
    .await;
    assert!(found.contains(&tid.to_vec()), "tag search (log field)");
    let found = trace_ids(
        session,
        "SELECT trace_id FROM duration_index WHERE bucket = ? AND service_name = ? AND operation_name = ? \
         AND duration >= ? AND duration <= ? LIMIT ?",
        (CqlTimestamp(BUCKET_10H_MS), "productpage", "", 25_000i64, 25_000i64, 1000i32),
    )
    .await;
    assert!(found.contains(&tid.to_vec()), "min/max duration search");
    let n = session
        .query_unpaged(
            "SELECT trace_id, span_id, parent_id, operation_name, flags, start_time, duration, \
             tags, logs, refs, process FROM traces WHERE trace_id = ?",
            (tid,),
        )
        .await
        .expect("get trace")
        .into_rows_result()
        .expect("rows")
        .rows_num();
    assert_eq!(n, 3, "get trace by id");
}

async fn check_schema(session: &Session, keyspace: &str) {
    let repl: Vec<(std::collections::HashMap<String, String>,)> = session
        .query_unpaged(
            "SELECT replication FROM system_schema.keyspaces WHERE keyspace_name = ?",
            (keyspace,),
        )
        .await
        .expect("keyspaces")
        .into_rows_result()
        .expect("rows")
        .rows()
        .expect("typed")
        .collect::<Result<_, _>>()
        .expect("deserialize");
    let r = &repl[0].0;
    assert!(r["class"].ends_with("NetworkTopologyStrategy"), "{r:?}");
    assert_eq!(r.get("dc1").map(String::as_str), Some("1"));
    let tables: BTreeSet<(String, i32)> = session
        .query_unpaged(
            "SELECT table_name, default_time_to_live FROM system_schema.tables WHERE keyspace_name = ?",
            (keyspace,),
        )
        .await
        .expect("tables")
        .into_rows_result()
        .expect("rows")
        .rows::<(String, i32)>()
        .expect("typed")
        .collect::<Result<_, _>>()
        .expect("deserialize");
    for t in [
        "traces",
        "service_names",
        "operation_names_v2",
        "service_operation_index",
        "service_name_index",
        "duration_index",
        "tag_index",
    ] {
        assert!(
            tables.contains(&(t.to_string(), 172_800)),
            "{t} TTL: {tables:?}"
        );
    }
}
