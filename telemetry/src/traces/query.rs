//! jaeger-query's HTTP JSON API over the in-memory store (spec/jaeger-cassandra.md §6–7), so
//! scripts written for Jaeger work against mixer too: `/api/services`,
//! `/api/services/{svc}/operations`, `/api/operations?service=&spanKind=`,
//! `/api/traces/{traceID}?raw=` and `/api/traces?service=&operation=&tags=&tag=&start=&end=
//! &lookback=&minDuration=&maxDuration=&limit=&raw=&traceID=`, each in Jaeger's envelope
//! (`data`, `total`, `limit`, `offset`, `errors`). Pure: [`answer`] maps a path and query
//! string to a status and a JSON body.
//!
//! The answers are jaeger-query's (v2.13 over Cassandra) for the same spans, field for field:
//! traces go through Jaeger's adjusters ([`super::adjust`]) unless `raw=true`; `total` is 0
//! for traces, as Jaeger leaves it; empty service and legacy operation lists are `null`; bad
//! parameters are 400 in Jaeger's words (`query_params.rs`). The test
//! telemetry/tests/jaeger_query_compare.rs compares the two against a real jaeger-query.
//! What still differs, by design:
//! - search results come most recent first, and `limit` keeps the most recent (Jaeger's order
//!   and choice are arbitrary);
//! - tags and a duration may be combined (Jaeger's Cassandra reader refuses with a 500);
//! - `lookback` gives the start when `start` is absent (Jaeger ignores it and looks back 48 h);
//! - a `tags` parameter that is not JSON is refused with serde's words after Jaeger's prefix.
//!
//! When spans go to Cassandra, nothing is held here: every answer is empty and says to ask
//! jaeger-query.

use super::adjust::{self, Adjusted};
use super::memory::MemoryStore;
use super::query_params::{
    get_trace_params, one, parse_query, parse_trace_id, percent_decode, search_query, Search,
};
use super::span::{RefType, Span, Tag, TagValue};
use serde_json::{json, Map, Value};

/// What the API says when spans go to Cassandra.
pub const CASSANDRA_NOTE: &str =
    "spans are written to Cassandra in Jaeger's schema; query them with jaeger-query";

/// The answer to `GET path?query` (`query` without the `?`): HTTP status and JSON body.
/// `store` is `None` when spans go to Cassandra; `now_us` is the current time.
pub fn answer(store: Option<&MemoryStore>, path: &str, query: &str, now_us: i64) -> (u16, String) {
    let params = parse_query(query);
    let route = path.trim_end_matches('/');
    let Some(rest) = route.strip_prefix("/api/") else {
        return error(404, "not found");
    };
    let Some(store) = store else {
        return match rest {
            "services" | "operations" | "traces" => {
                envelope(200, json!([]), 0, Some(CASSANDRA_NOTE))
            }
            r if r.starts_with("services/") => envelope(200, json!([]), 0, Some(CASSANDRA_NOTE)),
            r if r.starts_with("traces/") => error(404, CASSANDRA_NOTE),
            _ => error(404, "not found"),
        };
    };
    match rest.split('/').collect::<Vec<_>>().as_slice() {
        ["services"] => {
            let s = store.services();
            let n = s.len();
            envelope(200, list_or_null(s), n, None)
        }
        ["services", svc, "operations"] => {
            let svc = percent_decode(svc);
            let mut names: Vec<String> = store
                .operations(&svc, None)
                .into_iter()
                .map(|o| o.name)
                .collect();
            names.sort();
            names.dedup();
            let n = names.len();
            envelope(200, list_or_null(names), n, None)
        }
        ["operations"] => {
            let Some(svc) = one(&params, "service") else {
                return error(400, "parameter 'service' is required");
            };
            let kind = one(&params, "spanKind");
            let ops: Vec<Value> = store
                .operations(svc, kind.map(String::as_str))
                .into_iter()
                .map(|o| json!({"name": o.name, "spanKind": o.span_kind}))
                .collect();
            let n = ops.len();
            envelope(200, Value::Array(ops), n, None)
        }
        ["traces", id] => {
            let id = match parse_trace_id(&percent_decode(id)) {
                Ok(id) => id,
                Err(msg) => return error(400, &msg),
            };
            let raw = match get_trace_params(&params) {
                Ok(raw) => raw,
                Err(msg) => return error(400, &msg),
            };
            match id.and_then(|id| store.get_trace(id)) {
                Some(spans) => envelope(200, json!([trace_json(&adjusted(&spans, raw))]), 0, None),
                None => error(404, "trace not found"),
            }
        }
        ["traces"] => match search_query(&params, now_us) {
            Ok(Search::Ids(ids, raw)) => {
                let mut traces = Vec::new();
                let mut missing = Vec::new();
                for (text, id) in ids {
                    match id.and_then(|id| store.get_trace(id)) {
                        Some(spans) => traces.push(trace_json(&adjusted(&spans, raw))),
                        None => missing.push(json!({"msg": "trace not found", "traceID": text})),
                    }
                }
                let errors = if missing.is_empty() {
                    Value::Null
                } else {
                    Value::Array(missing)
                };
                let body =
                    json!({"data": traces, "total": 0, "limit": 0, "offset": 0, "errors": errors});
                (200, body.to_string())
            }
            Ok(Search::Query(q, raw)) => {
                if q.start_before_us < q.start_after_us {
                    return error(500, "start Time Minimum is above Maximum");
                }
                let traces: Vec<Value> = store
                    .find_traces(&q)
                    .iter()
                    .map(|t| trace_json(&adjusted(t, raw)))
                    .collect();
                envelope(200, Value::Array(traces), 0, None)
            }
            Err(msg) => error(400, &msg),
        },
        _ => error(404, "not found"),
    }
}

fn adjusted(spans: &[Span], raw: bool) -> Vec<Adjusted> {
    if raw {
        adjust::raw(spans)
    } else {
        adjust::standard(spans)
    }
}

/// Jaeger answers a nil list, which Go encodes as `null`, when nothing is stored.
fn list_or_null(v: Vec<String>) -> Value {
    if v.is_empty() {
        Value::Null
    } else {
        json!(v)
    }
}

fn envelope(status: u16, data: Value, total: usize, note: Option<&str>) -> (u16, String) {
    let errors = note.map_or(Value::Null, |m| json!([{"code": 501, "msg": m}]));
    let body = json!({"data": data, "total": total, "limit": 0, "offset": 0, "errors": errors});
    (status, body.to_string())
}

fn error(status: u16, msg: &str) -> (u16, String) {
    let body = json!({"data": null, "total": 0, "limit": 0, "offset": 0,
        "errors": [{"code": status, "msg": msg}]});
    (status, body.to_string())
}

/// One trace in jaeger-query's JSON shape: processes `p1`, `p2`, … by first appearance.
pub fn trace_json(spans: &[Adjusted]) -> Value {
    let mut processes: Vec<&super::span::Process> = Vec::new();
    let mut out = Vec::with_capacity(spans.len());
    for Adjusted { span: s, warnings } in spans {
        let pid = match processes.iter().position(|p| **p == s.process) {
            Some(i) => i + 1,
            None => {
                processes.push(&s.process);
                processes.len()
            }
        };
        let refs: Vec<Value> = s
            .stored_refs()
            .iter()
            .map(|r| {
                json!({
                    "refType": match r.ref_type {
                        RefType::ChildOf => "CHILD_OF",
                        RefType::FollowsFrom => "FOLLOWS_FROM",
                    },
                    "traceID": r.trace_id.to_string(),
                    "spanID": r.span_id.to_string(),
                })
            })
            .collect();
        let mut span = json!({
            "traceID": s.trace_id.to_string(),
            "spanID": s.span_id.to_string(),
            "operationName": s.operation_name,
            "references": refs,
            "startTime": s.start_time_us,
            "duration": s.duration_us,
            "tags": tags_json(&s.tags),
            "logs": s.logs.iter().map(|l| json!({"timestamp": l.timestamp_us, "fields": tags_json(&l.fields)})).collect::<Vec<_>>(),
            "processID": format!("p{pid}"),
            "warnings": if warnings.is_empty() { Value::Null } else { json!(warnings) },
        });
        if s.flags != 0 {
            span["flags"] = json!(s.flags);
        }
        out.push(span);
    }
    let procs: Map<String, Value> = processes
        .iter()
        .enumerate()
        .map(|(i, p)| {
            (
                format!("p{}", i + 1),
                json!({"serviceName": p.service_name, "tags": tags_json(&p.tags)}),
            )
        })
        .collect();
    json!({
        "traceID": spans.first().map(|s| s.span.trace_id.to_string()).unwrap_or_default(),
        "spans": out,
        "processes": procs,
        "warnings": null,
    })
}

fn tags_json(tags: &[Tag]) -> Vec<Value> {
    const SAFE: i64 = (1 << 53) - 1;
    tags.iter()
        .map(|t| {
            let value = match &t.value {
                TagValue::String(s) => json!(s),
                TagValue::Bool(b) => json!(b),
                TagValue::Int64(i) if (-SAFE..=SAFE).contains(i) => json!(i),
                TagValue::Int64(i) => json!(i.to_string()),
                TagValue::Float64(f) => json!(f),
                TagValue::Binary(b) => json!(base64(b)),
            };
            json!({"key": t.key, "type": t.value.type_name(), "value": value})
        })
        .collect()
}

fn base64(b: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(b.len().div_ceil(3) * 4);
    for c in b.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(A[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
