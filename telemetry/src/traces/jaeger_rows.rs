//! Every row Jaeger's Cassandra writer derives from one span (spec/jaeger-cassandra.md §4–5):
//! the `traces` row with its UDT values, `service_names`, `operation_names_v2`,
//! `service_name_index` (bucket = span_hash % 10), `service_operation_index`, `duration_index`
//! (start rounded to the hour, written once without and once with the operation name) and
//! `tag_index` (process tags, span tags and log fields; binary values, oversize, non-UTF-8 and
//! JSON values left out). Pure: no I/O, so every rule is unit tested here and the Cassandra
//! writer only binds these rows to its prepared statements.
//!
//! One deliberate difference: Jaeger's `span_hash` is FNV-1a over Go's `gob` encoding of its
//! own structs, which depends on Go type registration order and on the Jaeger version (it
//! changed in v2.18). We hash a documented canonical encoding with the same FNV-1a; the value
//! is only used for the clustering key (so a rewrite of the same span is idempotent) and the
//! bucket, and jaeger-query never reads it.

use super::span::{flags, Span, Tag, TagValue};
use std::borrow::Cow;
use std::collections::HashSet;

/// Buckets of `service_name_index` (`defaultNumBuckets`).
pub const SERVICE_NAME_BUCKETS: u64 = 10;
/// Tag keys and values this long or longer are not indexed (`maximumTagKeyOrValueSize`).
pub const MAX_INDEXED_TAG_SIZE: usize = 256;
const HOUR_US: i64 = 3_600_000_000;

/// Which tags go into `tag_index` (Jaeger's `index.*` options; all on by default).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagIndexOptions {
    pub span_tags: bool,
    pub process_tags: bool,
    pub log_fields: bool,
    /// Keys never indexed (`tag_blacklist`).
    pub deny_keys: Vec<String>,
    /// When not empty, only these keys are indexed (`tag_whitelist`).
    pub allow_keys: Vec<String>,
}

impl Default for TagIndexOptions {
    fn default() -> Self {
        TagIndexOptions {
            span_tags: true,
            process_tags: true,
            log_fields: true,
            deny_keys: Vec::new(),
            allow_keys: Vec::new(),
        }
    }
}

impl TagIndexOptions {
    fn keeps(&self, key: &str) -> bool {
        (self.allow_keys.is_empty() || self.allow_keys.iter().any(|k| k == key))
            && !self.deny_keys.iter().any(|k| k == key)
    }
}

/// The `keyvalue` UDT: every field is written, the unused ones with zero values
/// (`value_binary` is null unless the value is binary), as gocql marshals Jaeger's struct.
#[derive(Clone, Debug, PartialEq)]
pub struct KeyValueUdt<'a> {
    pub key: &'a str,
    pub value_type: &'static str,
    pub value_string: &'a str,
    pub value_bool: bool,
    pub value_long: i64,
    pub value_double: f64,
    pub value_binary: Option<&'a [u8]>,
}

impl<'a> KeyValueUdt<'a> {
    pub fn from_tag(t: &'a Tag) -> Self {
        let mut kv = KeyValueUdt {
            key: &t.key,
            value_type: t.value.type_name(),
            value_string: "",
            value_bool: false,
            value_long: 0,
            value_double: 0.0,
            value_binary: None,
        };
        match &t.value {
            TagValue::String(s) => kv.value_string = s,
            TagValue::Bool(b) => kv.value_bool = *b,
            TagValue::Int64(i) => kv.value_long = *i,
            TagValue::Float64(f) => kv.value_double = *f,
            TagValue::Binary(b) => kv.value_binary = Some(b),
        }
        kv
    }
}

/// The `log` UDT.
#[derive(Clone, Debug, PartialEq)]
pub struct LogUdt<'a> {
    pub ts: i64,
    pub fields: Vec<KeyValueUdt<'a>>,
}

/// The `span_ref` UDT.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpanRefUdt {
    pub ref_type: &'static str,
    pub trace_id: [u8; 16],
    pub span_id: i64,
}

/// The `process` UDT.
#[derive(Clone, Debug, PartialEq)]
pub struct ProcessUdt<'a> {
    pub service_name: &'a str,
    pub tags: Vec<KeyValueUdt<'a>>,
}

/// One row of `traces`.
#[derive(Clone, Debug, PartialEq)]
pub struct TracesRow<'a> {
    pub trace_id: [u8; 16],
    pub span_id: i64,
    pub span_hash: i64,
    pub parent_id: i64,
    pub operation_name: &'a str,
    pub flags: i32,
    pub start_time: i64,
    pub duration: i64,
    pub tags: Vec<KeyValueUdt<'a>>,
    pub logs: Vec<LogUdt<'a>>,
    pub refs: Vec<SpanRefUdt>,
    pub process: ProcessUdt<'a>,
}

/// One row of `operation_names_v2`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct OperationRow<'a> {
    pub service_name: &'a str,
    pub span_kind: &'a str,
    pub operation_name: &'a str,
}

/// One row of `service_name_index`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceNameIndexRow<'a> {
    pub service_name: &'a str,
    pub bucket: i32,
    pub start_time: i64,
    pub trace_id: [u8; 16],
}

/// One row of `service_operation_index`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceOperationIndexRow<'a> {
    pub service_name: &'a str,
    pub operation_name: &'a str,
    pub start_time: i64,
    pub trace_id: [u8; 16],
}

/// One row of `duration_index`; `bucket_ms` is the CQL `timestamp` (milliseconds).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationIndexRow<'a> {
    pub service_name: &'a str,
    pub operation_name: &'a str,
    pub bucket_ms: i64,
    pub duration: i64,
    pub start_time: i64,
    pub trace_id: [u8; 16],
}

/// One row of `tag_index`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagIndexRow<'a> {
    pub trace_id: [u8; 16],
    pub span_id: i64,
    pub service_name: &'a str,
    pub start_time: i64,
    pub tag_key: &'a str,
    pub tag_value: Cow<'a, str>,
}

/// Everything Jaeger writes for one span, in its write order.
#[derive(Clone, Debug, PartialEq)]
pub struct SpanRows<'a> {
    pub traces: TracesRow<'a>,
    /// `service_names.service_name`.
    pub service_name: &'a str,
    pub operation: OperationRow<'a>,
    pub service_name_index: ServiceNameIndexRow<'a>,
    pub service_operation_index: ServiceOperationIndexRow<'a>,
    /// Empty for firehose spans, otherwise `[service only (""), with operation]`.
    pub duration_index: Vec<DurationIndexRow<'a>>,
    /// Empty for firehose spans.
    pub tag_index: Vec<TagIndexRow<'a>>,
    /// Unique tags left out of `tag_index` by [`should_index_tag`] (Jaeger's `tag_index_skipped`).
    pub tags_skipped: usize,
}

impl<'a> SpanRows<'a> {
    /// Derives every row from `span`.
    pub fn new(span: &'a Span, index: &TagIndexOptions) -> SpanRows<'a> {
        let traces = traces_row(span);
        let trace_id = traces.trace_id;
        let service = span.process.service_name.as_str();
        let start_time = span.start_time_us;
        let firehose = span.flags & flags::FIREHOSE != 0;
        let (tag_index, tags_skipped) = if firehose {
            (Vec::new(), 0)
        } else {
            tag_rows(span, index)
        };
        let duration_index = if firehose {
            Vec::new()
        } else {
            let bucket_ms = duration_bucket_us(start_time) / 1000;
            ["", span.operation_name.as_str()]
                .into_iter()
                .map(|operation_name| DurationIndexRow {
                    service_name: service,
                    operation_name,
                    bucket_ms,
                    duration: span.duration_us,
                    start_time,
                    trace_id,
                })
                .collect()
        };
        SpanRows {
            service_name: service,
            operation: OperationRow {
                service_name: service,
                span_kind: span.span_kind(),
                operation_name: &span.operation_name,
            },
            service_name_index: ServiceNameIndexRow {
                service_name: service,
                bucket: service_name_bucket(traces.span_hash),
                start_time,
                trace_id,
            },
            service_operation_index: ServiceOperationIndexRow {
                service_name: service,
                operation_name: &span.operation_name,
                start_time,
                trace_id,
            },
            duration_index,
            tag_index,
            tags_skipped,
            traces,
        }
    }
}

fn traces_row(span: &Span) -> TracesRow<'_> {
    let mut row = TracesRow {
        trace_id: span.trace_id.to_bytes(),
        span_id: span.span_id.as_db(),
        span_hash: 0,
        parent_id: span.parent_span_id.as_db(),
        operation_name: &span.operation_name,
        flags: span.flags as i32,
        start_time: span.start_time_us,
        duration: span.duration_us,
        tags: span.tags.iter().map(KeyValueUdt::from_tag).collect(),
        logs: span
            .logs
            .iter()
            .map(|l| LogUdt {
                ts: l.timestamp_us,
                fields: l.fields.iter().map(KeyValueUdt::from_tag).collect(),
            })
            .collect(),
        refs: span
            .stored_refs()
            .into_iter()
            .map(|r| SpanRefUdt {
                ref_type: r.ref_type.as_str(),
                trace_id: r.trace_id.to_bytes(),
                span_id: r.span_id.as_db(),
            })
            .collect(),
        process: ProcessUdt {
            service_name: &span.process.service_name,
            tags: span
                .process
                .tags
                .iter()
                .map(KeyValueUdt::from_tag)
                .collect(),
        },
    };
    row.span_hash = span_hash(&row);
    row
}

/// `service_name_index.bucket`: `uint64(span_hash) % 10`.
pub fn service_name_bucket(span_hash: i64) -> i32 {
    ((span_hash as u64) % SERVICE_NAME_BUCKETS) as i32
}

/// `duration_index.bucket`: the start time rounded (not truncated) to the nearest hour, halves
/// up, as Go's `time.Round(time.Hour)`; microseconds in, microseconds out.
pub fn duration_bucket_us(start_time_us: i64) -> i64 {
    let r = start_time_us.rem_euclid(HOUR_US);
    let down = start_time_us - r;
    if r < HOUR_US / 2 {
        down
    } else {
        down.saturating_add(HOUR_US)
    }
}

/// The `tag_index` rows and the count of unique tags [`should_index_tag`] refused: process
/// tags, span tags and log fields that pass `index`, binary values excluded, one row per
/// distinct (key, value text).
fn tag_rows<'a>(span: &'a Span, index: &TagIndexOptions) -> (Vec<TagIndexRow<'a>>, usize) {
    let empty: &[Tag] = &[];
    let process = if index.process_tags {
        span.process.tags.as_slice()
    } else {
        empty
    };
    let tags = if index.span_tags {
        span.tags.as_slice()
    } else {
        empty
    };
    let logs = span
        .logs
        .iter()
        .filter(|_| index.log_fields)
        .flat_map(|l| l.fields.iter());
    let mut seen: HashSet<(&str, Cow<'a, str>)> = HashSet::new();
    let mut rows = Vec::new();
    let mut skipped = 0;
    for tag in process.iter().chain(tags).chain(logs) {
        if !index.keeps(&tag.key) {
            continue;
        }
        let Some(value) = tag_value_text(&tag.value) else {
            continue; // binary values are never indexed
        };
        if !seen.insert((tag.key.as_str(), value.clone())) {
            continue;
        }
        if !should_index_tag(&tag.key, &value) {
            skipped += 1;
            continue;
        }
        rows.push(TagIndexRow {
            trace_id: span.trace_id.to_bytes(),
            span_id: span.span_id.as_db(),
            service_name: &span.process.service_name,
            start_time: span.start_time_us,
            tag_key: &tag.key,
            tag_value: value,
        });
    }
    (rows, skipped)
}

/// `tag_index.tag_value`: Jaeger's `KeyValue.AsString()`. `None` for binary values.
pub fn tag_value_text(v: &TagValue) -> Option<Cow<'_, str>> {
    Some(match v {
        TagValue::String(s) => Cow::Borrowed(s.as_str()),
        TagValue::Bool(true) => Cow::Borrowed("true"),
        TagValue::Bool(false) => Cow::Borrowed("false"),
        TagValue::Int64(i) => Cow::Owned(i.to_string()),
        TagValue::Float64(f) => Cow::Owned(go_format_float_g10(*f)),
        TagValue::Binary(_) => return None,
    })
}

/// Jaeger's `shouldIndexTag`: key and value shorter than 256 bytes, and the value is not a
/// JSON object. (Both are `&str`, so always valid UTF-8 here.)
pub fn should_index_tag(key: &str, value: &str) -> bool {
    key.len() < MAX_INDEXED_TAG_SIZE
        && value.len() < MAX_INDEXED_TAG_SIZE
        && !(value.starts_with('{') && serde_json::from_str::<serde_json::Value>(value).is_ok())
}

/// Go's `strconv.FormatFloat(v, 'g', 10, 64)`: 10 significant digits, trailing zeros
/// removed, exponent form (`1.5e+10`, `1e-05`) when the exponent is below -4 or at least the
/// number of digits kept (at most 10).
pub fn go_format_float_g10(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let sign = if v.is_sign_negative() { "-" } else { "" };
    if v == 0.0 {
        return format!("{sign}0");
    }
    let sci = format!("{:.9e}", v.abs()); // d.ddddddddde<exp>, correctly rounded
    let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: Vec<u8> = mantissa.bytes().filter(u8::is_ascii_digit).collect();
    let nd = digits.iter().rposition(|d| *d != b'0').map_or(1, |i| i + 1);
    let digits = &digits[..nd];
    let (nd, dp) = (nd as i32, exp + 1);
    let eprec = if 10 > nd && nd >= dp { nd } else { 10 };
    let mut out = String::from(sign);
    if exp < -4 || exp >= eprec {
        out.push(char::from(digits[0]));
        if nd > 1 {
            out.push('.');
            out.extend(digits[1..].iter().map(|d| char::from(*d)));
        }
        let e = exp.unsigned_abs();
        out.push_str(&format!("e{}{e:02}", if exp < 0 { '-' } else { '+' }));
    } else {
        let digit = |i: i32| {
            usize::try_from(i)
                .ok()
                .and_then(|i| digits.get(i))
                .map_or('0', |d| char::from(*d))
        };
        if dp > 0 {
            (0..dp).for_each(|i| out.push(digit(i)));
        } else {
            out.push('0');
        }
        let decimals = (nd - dp).max(0);
        if decimals > 0 {
            out.push('.');
            (0..decimals).for_each(|i| out.push(digit(dp + i)));
        }
    }
    out
}

/// `span_hash`: 64-bit FNV-1a over a canonical encoding of every stored column except
/// `span_hash` itself (length-prefixed strings, big-endian numbers, a type byte per value), so
/// the same span always hashes the same and any changed column changes it.
pub fn span_hash(row: &TracesRow<'_>) -> i64 {
    let mut h = Fnv1a::new();
    h.bytes(&row.trace_id);
    h.u64(row.span_id as u64);
    h.u64(row.parent_id as u64);
    h.str(row.operation_name);
    h.u64(row.flags as u32 as u64);
    h.u64(row.start_time as u64);
    h.u64(row.duration as u64);
    h.kvs(&row.tags);
    h.u64(row.logs.len() as u64);
    for l in &row.logs {
        h.u64(l.ts as u64);
        h.kvs(&l.fields);
    }
    h.u64(row.refs.len() as u64);
    for r in &row.refs {
        h.str(r.ref_type);
        h.bytes(&r.trace_id);
        h.u64(r.span_id as u64);
    }
    h.str(row.process.service_name);
    h.kvs(&row.process.tags);
    h.0 as i64
}

/// 64-bit FNV-1a (Go's `hash/fnv.New64a`).
struct Fnv1a(u64);

impl Fnv1a {
    const OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
    const PRIME: u64 = 0x0000_0100_0000_01b3;

    fn new() -> Self {
        Fnv1a(Self::OFFSET)
    }
    fn bytes(&mut self, b: &[u8]) {
        for x in b {
            self.0 ^= u64::from(*x);
            self.0 = self.0.wrapping_mul(Self::PRIME);
        }
    }
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_be_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u64(s.len() as u64);
        self.bytes(s.as_bytes());
    }
    fn kvs(&mut self, kvs: &[KeyValueUdt<'_>]) {
        self.u64(kvs.len() as u64);
        for kv in kvs {
            self.str(kv.key);
            self.str(kv.value_type);
            match kv.value_type {
                "string" => self.str(kv.value_string),
                "bool" => self.bytes(&[u8::from(kv.value_bool)]),
                "int64" => self.u64(kv.value_long as u64),
                "float64" => self.u64(kv.value_double.to_bits()),
                _ => {
                    let b = kv.value_binary.unwrap_or_default();
                    self.u64(b.len() as u64);
                    self.bytes(b);
                }
            }
        }
    }
}

#[cfg(test)]
#[path = "jaeger_rows_tests.rs"]
mod tests;
