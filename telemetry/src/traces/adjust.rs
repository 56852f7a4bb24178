//! jaeger-query's standard adjusters (Jaeger v2.13 / v1.76.0,
//! `cmd/query/app/querysvc/adjusters.go`), applied to a trace the embedded store returns so
//! that its JSON is what jaeger-query returns for the same spans read from Cassandra. In
//! Jaeger's order:
//!
//! 1. a server span sharing its id with a client span (B3's shared-span model) gets the
//!    lowest unused id counting up from 1 and becomes the client span's child; spans whose
//!    parent was the shared id follow the server span;
//! 2. span tags and process tags sorted by key, then type, then value; log fields likewise,
//!    with a string `event` field first;
//! 3. identical spans kept once;
//! 4. clock skew, with jaeger-query's default `max_clock_skew_adjust` of 0: nothing is moved,
//!    but a span that does not fit inside its parent (on another host) says by how much, as
//!    Jaeger words it; so do duplicate span ids and parents missing from the trace;
//! 5. integer `ip` / `peer.ipv4` tags become dotted quads;
//! 6. OpenTelemetry SDK tags move from the span to its process;
//! 7. references to the all-zero trace id are removed (with a warning);
//! 8. the parent reference first.
//!
//! `raw=true` skips all of it, as in Jaeger.

use super::span::{RefType, Span, SpanId, SpanRef, Tag, TagValue, TraceId};
use std::cmp::Ordering;
use std::collections::HashMap;

/// A span as jaeger-query answers it: every reference explicit (the parent first, as stored;
/// `parent_span_id` is 0) and the warnings the adjusters attached.
#[derive(Clone, Debug, PartialEq)]
pub struct Adjusted {
    pub span: Span,
    pub warnings: Vec<String>,
}

impl Adjusted {
    /// `span` as read back from storage, before any adjuster.
    pub fn stored(span: &Span) -> Adjusted {
        let mut s = span.clone();
        s.references = span.stored_refs();
        s.parent_span_id = SpanId(0);
        Adjusted {
            span: s,
            warnings: Vec::new(),
        }
    }

    /// Jaeger's `ParentSpanID()`: the first `CHILD_OF` reference into the same trace, else
    /// the first `FOLLOWS_FROM` one, else 0.
    pub fn parent(&self) -> SpanId {
        let s = &self.span;
        let same = |r: &&SpanRef| r.trace_id == s.trace_id;
        s.references
            .iter()
            .filter(same)
            .find(|r| r.ref_type == RefType::ChildOf)
            .or_else(|| {
                s.references
                    .iter()
                    .filter(same)
                    .find(|r| r.ref_type == RefType::FollowsFrom)
            })
            .map_or(SpanId(0), |r| r.span_id)
    }

    /// Jaeger's `ReplaceParentID`.
    fn replace_parent(&mut self, new: SpanId) {
        let old = self.parent();
        let trace = self.span.trace_id;
        if let Some(r) = self
            .span
            .references
            .iter_mut()
            .find(|r| r.span_id == old && r.trace_id == trace)
        {
            r.span_id = new;
            return;
        }
        if new != SpanId(0) {
            self.span.references.insert(
                0,
                SpanRef {
                    ref_type: RefType::ChildOf,
                    trace_id: trace,
                    span_id: new,
                },
            );
        }
    }
}

/// The spans of one trace as stored, without adjusting (`raw=true`). A span reported twice
/// is one row in Cassandra (same key: trace id, span id, hash of the content), so it is
/// returned once here too.
pub fn raw(spans: &[Span]) -> Vec<Adjusted> {
    let mut t: Vec<Adjusted> = spans.iter().map(Adjusted::stored).collect();
    dedupe(&mut t);
    t
}

/// The spans of one trace after jaeger-query's standard adjusters.
pub fn standard(spans: &[Span]) -> Vec<Adjusted> {
    let mut t = raw(spans);
    // Cassandra returns a trace's rows by span id as a signed bigint; new ids for shared
    // server spans are handed out in that order.
    t.sort_by_key(|a| a.span.span_id.as_db());
    uniquify_server_span_ids(&mut t);
    for a in &mut t {
        sort_tags_and_log_fields(&mut a.span);
    }
    dedupe(&mut t);
    clock_skew_warnings(&mut t);
    for a in &mut t {
        ip_tags(&mut a.span.tags);
        ip_tags(&mut a.span.process.tags);
        sort_tags(&mut a.span.process.tags);
        otel_library_tags(&mut a.span);
        bad_references(a);
        parent_reference_first(&mut a.span);
    }
    t
}

fn kind_is(s: &Span, kind: &str) -> bool {
    s.tags
        .iter()
        .any(|t| t.key == "span.kind" && t.value == TagValue::String(kind.into()))
}

fn uniquify_server_span_ids(t: &mut [Adjusted]) {
    let used: std::collections::HashSet<SpanId> = t.iter().map(|a| a.span.span_id).collect();
    let shared_with_client = |id: SpanId| {
        t.iter()
            .any(|a| a.span.span_id == id && kind_is(&a.span, "client"))
    };
    let servers: Vec<usize> = (0..t.len())
        .filter(|&i| kind_is(&t[i].span, "server") && shared_with_client(t[i].span.span_id))
        .collect();
    let mut max_used = 0u64;
    let mut renamed: HashMap<SpanId, SpanId> = HashMap::new();
    for i in servers {
        let next = (max_used + 1..u64::MAX).find(|id| !used.contains(&SpanId(*id)));
        let Some(new) = next else {
            t[i].warnings
                .push("cannot assign unique span ID, too many spans in the trace".into());
            continue;
        };
        max_used = new;
        let old = t[i].span.span_id;
        renamed.insert(old, SpanId(new));
        t[i].replace_parent(old);
        t[i].span.span_id = SpanId(new);
    }
    for a in t.iter_mut() {
        if let Some(&new) = renamed.get(&a.parent()) {
            if a.span.span_id != new {
                a.replace_parent(new);
            }
        }
    }
}

/// Jaeger's `KeyValue.IsLess`: by key, then value type (string, bool, int64, float64,
/// binary), then value.
fn tag_order(a: &Tag, b: &Tag) -> Ordering {
    fn rank(v: &TagValue) -> u8 {
        match v {
            TagValue::String(_) => 0,
            TagValue::Bool(_) => 1,
            TagValue::Int64(_) => 2,
            TagValue::Float64(_) => 3,
            TagValue::Binary(_) => 4,
        }
    }
    a.key
        .cmp(&b.key)
        .then(rank(&a.value).cmp(&rank(&b.value)))
        .then(match (&a.value, &b.value) {
            (TagValue::String(x), TagValue::String(y)) => x.cmp(y),
            (TagValue::Bool(x), TagValue::Bool(y)) => x.cmp(y),
            (TagValue::Int64(x), TagValue::Int64(y)) => x.cmp(y),
            (TagValue::Float64(x), TagValue::Float64(y)) => {
                x.partial_cmp(y).unwrap_or(Ordering::Equal)
            }
            (TagValue::Binary(x), TagValue::Binary(y)) => x.cmp(y),
            _ => Ordering::Equal,
        })
}

fn sort_tags(tags: &mut [Tag]) {
    tags.sort_by(tag_order);
}

fn sort_tags_and_log_fields(s: &mut Span) {
    sort_tags(&mut s.tags);
    sort_tags(&mut s.process.tags);
    for log in &mut s.logs {
        let event = log
            .fields
            .iter()
            .position(|f| f.key == "event" && matches!(f.value, TagValue::String(_)));
        let offset = match event {
            Some(i) => {
                log.fields.swap(0, i);
                1
            }
            None => 0,
        };
        if log.fields.len() > 1 {
            sort_tags(&mut log.fields[offset..]);
        }
    }
}

fn dedupe(t: &mut Vec<Adjusted>) {
    let mut kept: Vec<Adjusted> = Vec::with_capacity(t.len());
    for a in t.drain(..) {
        if !kept.contains(&a) {
            kept.push(a);
        }
    }
    *t = kept;
}

/// The host a span ran on, as the clock-skew adjuster keys it: the process's `ip` tag.
fn host_key(s: &Span) -> String {
    match s
        .process
        .tags
        .iter()
        .find(|t| t.key == "ip")
        .map(|t| &t.value)
    {
        Some(TagValue::String(v)) => v.clone(),
        Some(TagValue::Int64(v)) => dotted(*v as u32),
        Some(TagValue::Binary(b)) if b.len() == 4 => {
            dotted(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
        }
        Some(TagValue::Binary(b)) if b.len() == 16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(b);
            std::net::IpAddr::from(a).to_string()
        }
        _ => String::new(),
    }
}

fn dotted(v: u32) -> String {
    std::net::Ipv4Addr::from(v).to_string()
}

fn clock_skew_warnings(t: &mut [Adjusted]) {
    let mut index: HashMap<SpanId, usize> = HashMap::new();
    for (i, a) in t.iter_mut().enumerate() {
        match index.entry(a.span.span_id) {
            std::collections::hash_map::Entry::Occupied(_) => a
                .warnings
                .push("duplicate span IDs; skipping clock skew adjustment".into()),
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(i);
            }
        }
    }
    let mut children: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut roots = Vec::new();
    let mut nodes: Vec<usize> = index.values().copied().collect();
    nodes.sort_unstable();
    for &i in &nodes {
        let parent = t[i].parent();
        if parent == SpanId(0) {
            roots.push(i);
        } else if let Some(&p) = index.get(&parent) {
            children.entry(p).or_default().push(i);
        } else {
            t[i].warnings.push(format!(
                "invalid parent span IDs={parent}; skipping clock skew adjustment"
            ));
            roots.push(i);
        }
    }
    // (node, parent, inherited skew: host and delta in ns)
    let mut stack: Vec<(usize, Option<usize>, String, i64)> = roots
        .into_iter()
        .map(|r| (r, None, host_key(&t[r].span), 0))
        .collect();
    while let Some((n, parent, mut host, mut delta)) = stack.pop() {
        let own = host_key(&t[n].span);
        if let Some(p) = parent {
            if own != host || own.is_empty() {
                host = own;
                delta = skew_ns(&t[n].span, &t[p].span);
            }
        }
        if delta != 0 {
            t[n].warnings.push(format!(
                "clock skew adjustment disabled; not applying calculated delta of {}",
                go_duration(delta)
            ));
        }
        for &c in children.get(&n).into_iter().flatten() {
            stack.push((c, Some(n), host.clone(), delta));
        }
    }
}

/// Jaeger's `calculateSkew`, in nanoseconds.
fn skew_ns(child: &Span, parent: &Span) -> i64 {
    let ns = |us: i64| us.saturating_mul(1000);
    let (cs, cd) = (ns(child.start_time_us), ns(child.duration_us));
    let (ps, pd) = (ns(parent.start_time_us), ns(parent.duration_us));
    if cd > pd {
        return if cs < ps { ps - cs } else { 0 };
    }
    if cs >= ps && cs + cd <= ps + pd {
        return 0;
    }
    let latency = (pd - cd) / 2;
    ps + latency - cs
}

/// Go's `time.Duration.String()` for `ns` nanoseconds.
pub fn go_duration(ns: i64) -> String {
    let neg = ns < 0;
    let u = ns.unsigned_abs();
    let sign = if neg { "-" } else { "" };
    if u == 0 {
        return "0s".into();
    }
    let frac = |v: u64, digits: u32| -> String {
        let p = 10u64.pow(digits);
        let (w, f) = (v / p, v % p);
        if f == 0 {
            w.to_string()
        } else {
            let f = format!("{f:0width$}", width = digits as usize);
            format!("{w}.{}", f.trim_end_matches('0'))
        }
    };
    if u < 1_000 {
        return format!("{sign}{u}ns");
    }
    if u < 1_000_000 {
        return format!("{sign}{}µs", frac(u, 3));
    }
    if u < 1_000_000_000 {
        return format!("{sign}{}ms", frac(u, 6));
    }
    let secs = u / 1_000_000_000;
    let sub = u % 1_000_000_000;
    let (h, m, s) = (secs / 3600, (secs / 60) % 60, secs % 60);
    let s = frac(s * 1_000_000_000 + sub, 9);
    match (h, m) {
        (0, 0) => format!("{sign}{s}s"),
        (0, m) => format!("{sign}{m}m{s}s"),
        (h, m) => format!("{sign}{h}h{m}m{s}s"),
    }
}

fn ip_tags(tags: &mut [Tag]) {
    for t in tags {
        if t.key != "ip" && t.key != "peer.ipv4" {
            continue;
        }
        let v = match t.value {
            TagValue::Int64(i) => i as u32,
            TagValue::Float64(f) => f as u32,
            _ => continue,
        };
        t.value = TagValue::String(dotted(v));
    }
}

const OTEL_LIBRARY_KEYS: [&str; 5] = [
    "telemetry.sdk.language",
    "telemetry.sdk.name",
    "telemetry.sdk.version",
    "telemetry.distro.name",
    "telemetry.distro.version",
];

fn otel_library_tags(s: &mut Span) {
    let (moved, kept): (Vec<Tag>, Vec<Tag>) = s
        .tags
        .drain(..)
        .partition(|t| OTEL_LIBRARY_KEYS.contains(&t.key.as_str()));
    s.tags = kept;
    s.process.tags.extend(moved);
    sort_tags(&mut s.process.tags);
}

fn bad_references(a: &mut Adjusted) {
    let zero = TraceId::default();
    let (bad, good): (Vec<SpanRef>, Vec<SpanRef>) = a
        .span
        .references
        .drain(..)
        .partition(|r| r.trace_id == zero);
    a.span.references = good;
    for r in bad {
        let kind = match r.ref_type {
            RefType::ChildOf => "CHILD_OF",
            RefType::FollowsFrom => "FOLLOWS_FROM",
        };
        a.warnings.push(format!(
            "Invalid span reference removed {{TraceID:{} SpanID:{} RefType:{kind}}}",
            r.trace_id, r.span_id
        ));
    }
}

fn parent_reference_first(s: &mut Span) {
    let same: Vec<usize> = (0..s.references.len())
        .filter(|&i| s.references[i].trace_id == s.trace_id)
        .collect();
    let pick = same
        .iter()
        .copied()
        .find(|&i| s.references[i].ref_type == RefType::ChildOf)
        .or_else(|| same.first().copied());
    if let Some(i) = pick.filter(|&i| i != 0) {
        s.references.swap(0, i);
    }
}

#[cfg(test)]
#[path = "adjust_tests.rs"]
mod tests;
