//! jaeger-query's HTTP JSON API over the in-memory store (spec/jaeger-cassandra.md §6–7), so
//! scripts written for Jaeger work against mixer too: `/api/services`,
//! `/api/services/{svc}/operations`, `/api/operations?service=&spanKind=`,
//! `/api/traces/{traceID}` and `/api/traces?service=&operation=&tags=&tag=&start=&end=
//! &lookback=&minDuration=&maxDuration=&limit=`, each in Jaeger's envelope
//! (`data`, `total`, `limit`, `offset`, `errors`). Pure: [`answer`] maps a path and query
//! string to a status and a JSON body.
//!
//! Differences from jaeger-query: no adjusters are applied (as with `raw=true`); search
//! results come most recent first; a search without `start` or `lookback` has no lower time
//! bound; tags and durations may be combined. When spans go to Cassandra, nothing is held
//! here: every answer is empty and says to ask jaeger-query.

use super::memory::{MemoryStore, TraceQuery};
use super::span::{RefType, Span, Tag, TagValue, TraceId};
use mixer_attributes::expr::parse_duration;
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// What the API says when spans go to Cassandra.
pub const CASSANDRA_NOTE: &str =
    "spans are written to Cassandra in Jaeger's schema; query them with jaeger-query";

const DEFAULT_LIMIT: usize = 100;

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
            envelope(200, json!(s), n, None)
        }
        ["services", svc, "operations"] => {
            let svc = percent_decode(svc);
            let mut names: Vec<String> = store
                .operations(&svc, None)
                .into_iter()
                .map(|o| o.name)
                .collect();
            names.dedup();
            let n = names.len();
            envelope(200, json!(names), n, None)
        }
        ["operations"] => {
            let Some(svc) = params.get("service").and_then(|v| v.first()) else {
                return error(400, "parameter 'service' is required");
            };
            let kind = params
                .get("spanKind")
                .and_then(|v| v.first())
                .filter(|k| !k.is_empty());
            let ops: Vec<Value> = store
                .operations(svc, kind.map(String::as_str))
                .into_iter()
                .map(|o| json!({"name": o.name, "spanKind": o.span_kind}))
                .collect();
            let n = ops.len();
            envelope(200, Value::Array(ops), n, None)
        }
        ["traces", id] => match TraceId::from_hex(id).and_then(|id| store.get_trace(id)) {
            Some(spans) => envelope(200, json!([trace_json(&spans)]), 1, None),
            None => error(404, "trace not found"),
        },
        ["traces"] => match search_query(&params, now_us) {
            Ok(q) => {
                let traces: Vec<Value> = store
                    .find_traces(&q)
                    .iter()
                    .map(|t| trace_json(t))
                    .collect();
                let n = traces.len();
                envelope(200, Value::Array(traces), n, None)
            }
            Err(msg) => error(400, &msg),
        },
        _ => error(404, "not found"),
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

fn search_query(p: &HashMap<String, Vec<String>>, now_us: i64) -> Result<TraceQuery, String> {
    let one = |k: &str| p.get(k).and_then(|v| v.first()).filter(|v| !v.is_empty());
    let service = one("service").ok_or("parameter 'service' is required")?;
    let micros = |k: &str| -> Result<Option<i64>, String> {
        one(k)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| format!("{k}: {v:?} is not unix microseconds"))
            })
            .transpose()
    };
    let duration = |k: &str| -> Result<Option<i64>, String> {
        one(k)
            .map(|v| {
                parse_duration(v)
                    .ok()
                    .and_then(|d| d.to_std())
                    .map(|d| d.as_micros() as i64)
                    .ok_or_else(|| format!("{k}: {v:?} is not a duration such as 100ms or 1.5s"))
            })
            .transpose()
    };
    let end = micros("end")?;
    let start = match (micros("start")?, duration("lookback")?) {
        (Some(s), _) => Some(s),
        (None, Some(l)) => Some(end.unwrap_or(now_us) - l),
        (None, None) => None,
    };
    let mut tags = Vec::new();
    if let Some(t) = one("tags") {
        let map: Map<String, Value> =
            serde_json::from_str(t).map_err(|e| format!("tags: not a JSON map: {e}"))?;
        for (k, v) in map {
            let v = match v {
                Value::String(s) => s,
                other => other.to_string(),
            };
            tags.push((k, v));
        }
    }
    for t in p.get("tag").into_iter().flatten() {
        let (k, v) = t
            .split_once(':')
            .ok_or_else(|| format!("tag: {t:?} must be key:value"))?;
        tags.push((k.to_owned(), v.to_owned()));
    }
    let min = duration("minDuration")?;
    let max = duration("maxDuration")?;
    if let (Some(a), Some(b)) = (min, max) {
        if b < a {
            return Err("maxDuration must be at least minDuration".into());
        }
    }
    let limit = match one("limit") {
        Some(l) => l
            .parse()
            .map_err(|_| format!("limit: {l:?} is not a number"))?,
        None => DEFAULT_LIMIT,
    };
    Ok(TraceQuery {
        service: service.clone(),
        operation: one("operation").cloned(),
        tags,
        start_after_us: start,
        start_before_us: end,
        min_duration_us: min,
        max_duration_us: max,
        limit,
    })
}

/// One trace in jaeger-query's JSON shape: processes `p1`, `p2`, … by first appearance.
pub fn trace_json(spans: &[Span]) -> Value {
    let mut processes: Vec<&super::span::Process> = Vec::new();
    let mut out = Vec::with_capacity(spans.len());
    for s in spans {
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
            "warnings": null,
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
        "traceID": spans.first().map(|s| s.trace_id.to_string()).unwrap_or_default(),
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

/// `k=v&k=v` with `+` and `%XX` decoded; repeated keys keep every value.
fn parse_query(q: &str) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(percent_decode(k))
            .or_default()
            .push(percent_decode(v));
    }
    out
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => match (hex(b[i + 1]), hex(b[i + 2])) {
                (Some(h), Some(l)) => {
                    out.push(h << 4 | l);
                    i += 2;
                }
                _ => out.push(b'%'),
            },
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

#[cfg(test)]
#[path = "query_tests.rs"]
mod tests;
