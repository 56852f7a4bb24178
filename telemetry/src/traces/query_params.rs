//! The query strings of jaeger-query's HTTP API (`cmd/query/app/query_parser.go` of Jaeger
//! v2.13) parsed as Jaeger parses them, refused in Jaeger's words (Go's `strconv` and
//! `time.ParseDuration` errors included), with Jaeger's defaults: a 48 h window, a limit of
//! 100, and the Cassandra reader's 24 h upper duration bound.

use super::memory::TraceQuery;
use super::span::TraceId;
use mixer_attributes::expr::parse_duration;
use serde_json::{Map, Value};
use std::collections::HashMap;

const DEFAULT_LIMIT: usize = 100;
/// jaeger-query's default search window when `start` is absent.
const DEFAULT_LOOKBACK_US: i64 = 48 * 3600 * 1_000_000;
/// The Cassandra reader's upper duration bound when only `minDuration` is given.
const DEFAULT_MAX_DURATION_US: i64 = 24 * 3600 * 1_000_000;

pub(super) type Params = HashMap<String, Vec<String>>;

pub(super) fn one<'a>(p: &'a Params, k: &str) -> Option<&'a String> {
    p.get(k).and_then(|v| v.first()).filter(|v| !v.is_empty())
}

/// Go's `strconv` error text for `v`, which failed to parse.
fn syntax(func: &str, v: &str) -> String {
    let digits = v.strip_prefix(['+', '-']).unwrap_or(v);
    let why =
        if func == "ParseInt" && !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
            "value out of range"
        } else {
            "invalid syntax"
        };
    format!("strconv.{func}: parsing {}: {why}", go_quote(v))
}

/// Go's `time.ParseDuration` error text for `orig`, which failed to parse: a missing unit and
/// an unknown unit have their own words; everything else is an invalid duration.
fn go_duration_error(orig: &str) -> String {
    let q = go_quote(orig);
    let invalid = format!("time: invalid duration {q}");
    let mut s = orig.strip_prefix(['+', '-']).unwrap_or(orig);
    if s.is_empty() {
        return invalid;
    }
    let number = |c: char| c == '.' || c.is_ascii_digit();
    while !s.is_empty() {
        let int = s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        let mut rest = &s[int..];
        if let Some(r) = rest.strip_prefix('.') {
            let frac = r.len() - r.trim_start_matches(|c: char| c.is_ascii_digit()).len();
            rest = &r[frac..];
            if int == 0 && frac == 0 {
                return invalid;
            }
        } else if int == 0 {
            return invalid;
        }
        let unit_len = rest.find(number).unwrap_or(rest.len());
        if unit_len == 0 {
            return format!("time: missing unit in duration {q}");
        }
        let unit = &rest[..unit_len];
        if !["ns", "us", "µs", "μs", "ms", "s", "m", "h"].contains(&unit) {
            return format!("time: unknown unit {} in duration {q}", go_quote(unit));
        }
        s = &rest[unit_len..];
    }
    invalid
}

fn go_quote(v: &str) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| format!("\"{v}\""))
}

/// Jaeger's `model.TraceIDFromString`: up to 32 hex digits. `Ok(None)` for the all-zero id
/// (valid text, never stored).
pub(super) fn parse_trace_id(s: &str) -> Result<Option<TraceId>, String> {
    if s.len() > 32 {
        return Err(format!(
            "TraceID cannot be longer than 32 hex characters: {s}"
        ));
    }
    let split = s.len().saturating_sub(16);
    if !s.is_char_boundary(split) {
        // not hex anyway; Go would split the bytes mid-character
        return Err(syntax("ParseUint", s));
    }
    let parts = if split == 0 {
        vec![s]
    } else {
        vec![&s[..split], &s[split..]]
    };
    for part in parts {
        if part.is_empty() || !part.bytes().all(|c| c.is_ascii_hexdigit()) {
            return Err(syntax("ParseUint", part));
        }
    }
    Ok(TraceId::from_hex(s))
}

/// Go's `strconv.ParseBool`.
fn parse_bool(p: &Params, k: &str) -> Result<bool, String> {
    match one(p, k).map(String::as_str) {
        None => Ok(false),
        Some("1" | "t" | "T" | "TRUE" | "true" | "True") => Ok(true),
        Some("0" | "f" | "F" | "FALSE" | "false" | "False") => Ok(false),
        Some(v) => Err(format!(
            "unable to parse param '{k}': {}",
            syntax("ParseBool", v)
        )),
    }
}

fn micros(p: &Params, k: &str) -> Result<Option<i64>, String> {
    one(p, k)
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| format!("unable to parse param '{k}': {}", syntax("ParseInt", v)))
        })
        .transpose()
}

fn duration(p: &Params, k: &str) -> Result<Option<i64>, String> {
    one(p, k)
        .map(|v| {
            parse_duration(v)
                .ok()
                .and_then(|d| d.to_std())
                .map(|d| d.as_micros() as i64)
                .ok_or_else(|| format!("unable to parse param '{k}': {}", go_duration_error(v)))
        })
        .transpose()
}

/// `start`, `end` and `raw` of `/api/traces/{id}`: checked as Jaeger does; the times do not
/// narrow the answer (Jaeger's Cassandra reader ignores them too).
pub(super) fn get_trace_params(p: &Params) -> Result<bool, String> {
    micros(p, "start")?;
    micros(p, "end")?;
    parse_bool(p, "raw")
}

pub(super) enum Search {
    /// `traceID=` given: those traces, by their text and id.
    Ids(Vec<(String, Option<TraceId>)>, bool),
    Query(TraceQuery, bool),
}

pub(super) fn search_query(p: &Params, now_us: i64) -> Result<Search, String> {
    let start = micros(p, "start")?;
    let end = micros(p, "end")?;
    let mut tags: Vec<(String, String)> = Vec::new();
    let mut put = |k: String, v: String| match tags.iter_mut().find(|(key, _)| *key == k) {
        Some(t) => t.1 = v,
        None => tags.push((k, v)),
    };
    for t in p.get("tag").into_iter().flatten() {
        let (k, v) = t.split_once(':').ok_or_else(|| {
            format!("malformed 'tag' parameter, expecting key:value, received: {t}")
        })?;
        put(k.to_owned(), v.to_owned());
    }
    for t in p.get("tags").into_iter().flatten() {
        let bad = |e: String| format!("malformed 'tags' parameter, cannot unmarshal JSON: {e}");
        let map: Map<String, Value> = serde_json::from_str(t).map_err(|e| bad(e.to_string()))?;
        for (k, v) in map {
            match v {
                Value::String(s) => put(k, s),
                Value::Null => put(k, String::new()),
                other => {
                    let kind = match other {
                        Value::Bool(_) => "bool",
                        Value::Number(_) => "number",
                        Value::Array(_) => "array",
                        _ => "object",
                    };
                    return Err(bad(format!(
                        "json: cannot unmarshal {kind} into Go value of type string"
                    )));
                }
            }
        }
    }
    let limit = match one(p, "limit") {
        Some(l) => match l.parse::<i32>() {
            Ok(n) if n > 0 => n as usize,
            Ok(_) => DEFAULT_LIMIT,
            Err(_) => return Err(syntax("ParseInt", l)),
        },
        None => DEFAULT_LIMIT,
    };
    let min = duration(p, "minDuration")?;
    let max = duration(p, "maxDuration")?;
    let ids = p
        .get("traceID")
        .into_iter()
        .flatten()
        .map(|t| {
            parse_trace_id(t)
                .map(|id| {
                    (
                        id.map_or_else(|| "0000000000000000".into(), |i| i.to_string()),
                        id,
                    )
                })
                .map_err(|e| format!("cannot parse traceID param: {e}"))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let raw = parse_bool(p, "raw")?;
    let service = one(p, "service");
    if ids.is_empty() && service.is_none() {
        return Err("parameter 'service' is required".into());
    }
    if let (Some(a), Some(b)) = (min, max) {
        if a != 0 && b != 0 && b < a {
            return Err("'maxDuration' should be greater than 'minDuration'".into());
        }
    }
    if !ids.is_empty() {
        return Ok(Search::Ids(ids, raw));
    }
    let end = end.unwrap_or(now_us);
    let start = match (start, duration(p, "lookback")?) {
        (Some(s), _) => s,
        (None, Some(l)) => end - l,
        (None, None) => now_us - DEFAULT_LOOKBACK_US,
    };
    let (min, max) = match (min.filter(|d| *d != 0), max.filter(|d| *d != 0)) {
        (None, None) => (None, None),
        (a, b) => (
            Some(a.unwrap_or(0)),
            Some(b.unwrap_or(DEFAULT_MAX_DURATION_US)),
        ),
    };
    Ok(Search::Query(
        TraceQuery {
            service: service.cloned().unwrap_or_default(),
            operation: one(p, "operation").cloned(),
            tags,
            start_after_us: Some(start),
            start_before_us: Some(end),
            min_duration_us: min,
            max_duration_us: max,
            limit,
        },
        raw,
    ))
}

/// `k=v&k=v` with `+` and `%XX` decoded; repeated keys keep every value.
pub(super) fn parse_query(q: &str) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for pair in q.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        out.entry(percent_decode(k))
            .or_default()
            .push(percent_decode(v));
    }
    out
}

pub(super) fn percent_decode(s: &str) -> String {
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
