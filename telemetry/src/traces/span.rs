//! The span as the trace sinks hold it: an owned value in the shape Jaeger stores (its
//! `dbmodel.Span`): 128-bit trace id, 64-bit span ids, microsecond times, typed tags, logs,
//! references and the reporting process. Built from `tracespan` instances upstream; consumed by
//! [`super::jaeger_rows`] (Cassandra) and [`super::memory`].

use std::fmt;

/// A 128-bit trace id; `high` is 0 for 64-bit ids.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TraceId {
    pub high: u64,
    pub low: u64,
}

impl TraceId {
    pub const fn new(high: u64, low: u64) -> TraceId {
        TraceId { high, low }
    }

    /// The 16-byte form Jaeger stores (`blob`): big-endian `high`, then big-endian `low`.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&self.high.to_be_bytes());
        b[8..].copy_from_slice(&self.low.to_be_bytes());
        b
    }

    pub fn from_bytes(b: [u8; 16]) -> TraceId {
        let (hi, lo) = b.split_at(8);
        let mut h = [0u8; 8];
        let mut l = [0u8; 8];
        h.copy_from_slice(hi);
        l.copy_from_slice(lo);
        TraceId::new(u64::from_be_bytes(h), u64::from_be_bytes(l))
    }

    /// Parses hex of 1 to 32 digits (B3 `x-b3-traceid` and Jaeger's URL form). `None` for
    /// anything else, including the all-zero id, which is invalid in B3 and Jaeger.
    pub fn from_hex(s: &str) -> Option<TraceId> {
        if s.is_empty() || s.len() > 32 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        let split = s.len().saturating_sub(16);
        let high = if split == 0 {
            0
        } else {
            u64::from_str_radix(&s[..split], 16).ok()?
        };
        let low = u64::from_str_radix(&s[split..], 16).ok()?;
        let id = TraceId::new(high, low);
        (id != TraceId::default()).then_some(id)
    }
}

/// Jaeger's text form: 16 hex digits when `high` is 0, otherwise 32.
impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.high == 0 {
            write!(f, "{:016x}", self.low)
        } else {
            write!(f, "{:016x}{:016x}", self.high, self.low)
        }
    }
}

/// A 64-bit span id; 0 means "none" (a root span's parent).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SpanId(pub u64);

impl SpanId {
    /// Parses 1 to 16 hex digits; `None` for anything else or 0.
    pub fn from_hex(s: &str) -> Option<SpanId> {
        if s.is_empty() || s.len() > 16 || !s.bytes().all(|c| c.is_ascii_hexdigit()) {
            return None;
        }
        u64::from_str_radix(s, 16)
            .ok()
            .filter(|v| *v != 0)
            .map(SpanId)
    }

    /// The `bigint` Jaeger stores: the id's bits reinterpreted as signed.
    pub fn as_db(self) -> i64 {
        self.0 as i64
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// A tag's typed value: Jaeger's five value types.
#[derive(Clone, Debug, PartialEq)]
pub enum TagValue {
    String(String),
    Bool(bool),
    Int64(i64),
    Float64(f64),
    Binary(Vec<u8>),
}

impl TagValue {
    /// Jaeger's `value_type` column: `string`, `bool`, `int64`, `float64` or `binary`.
    pub fn type_name(&self) -> &'static str {
        match self {
            TagValue::String(_) => "string",
            TagValue::Bool(_) => "bool",
            TagValue::Int64(_) => "int64",
            TagValue::Float64(_) => "float64",
            TagValue::Binary(_) => "binary",
        }
    }
}

/// A key and a typed value (span tags, process tags, log fields).
#[derive(Clone, Debug, PartialEq)]
pub struct Tag {
    pub key: String,
    pub value: TagValue,
}

impl Tag {
    pub fn string(key: impl Into<String>, v: impl Into<String>) -> Tag {
        Tag {
            key: key.into(),
            value: TagValue::String(v.into()),
        }
    }
    pub fn bool(key: impl Into<String>, v: bool) -> Tag {
        Tag {
            key: key.into(),
            value: TagValue::Bool(v),
        }
    }
    pub fn int64(key: impl Into<String>, v: i64) -> Tag {
        Tag {
            key: key.into(),
            value: TagValue::Int64(v),
        }
    }
    pub fn float64(key: impl Into<String>, v: f64) -> Tag {
        Tag {
            key: key.into(),
            value: TagValue::Float64(v),
        }
    }
    pub fn binary(key: impl Into<String>, v: impl Into<Vec<u8>>) -> Tag {
        Tag {
            key: key.into(),
            value: TagValue::Binary(v.into()),
        }
    }
}

/// `span_ref.ref_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RefType {
    ChildOf,
    FollowsFrom,
}

impl RefType {
    /// The stored text: `child-of` or `follows-from`.
    pub fn as_str(self) -> &'static str {
        match self {
            RefType::ChildOf => "child-of",
            RefType::FollowsFrom => "follows-from",
        }
    }
}

/// A reference to another span (the parent, or a link).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SpanRef {
    pub ref_type: RefType,
    pub trace_id: TraceId,
    pub span_id: SpanId,
}

/// A timestamped set of fields.
#[derive(Clone, Debug, PartialEq)]
pub struct Log {
    /// Microseconds since the Unix epoch.
    pub timestamp_us: i64,
    pub fields: Vec<Tag>,
}

/// The reporting process: its service name and tags (hostname, ip, version, ...).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Process {
    pub service_name: String,
    pub tags: Vec<Tag>,
}

/// Jaeger's flag bits (`model.Flags`).
pub mod flags {
    pub const SAMPLED: u32 = 1;
    pub const DEBUG: u32 = 2;
    /// Jaeger's writer skips the tag and duration indexes for firehose spans.
    pub const FIREHOSE: u32 = 8;
}

/// One span.
#[derive(Clone, Debug, PartialEq)]
pub struct Span {
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// `SpanId(0)` for a root span.
    pub parent_span_id: SpanId,
    pub operation_name: String,
    /// See [`flags`].
    pub flags: u32,
    /// Microseconds since the Unix epoch.
    pub start_time_us: i64,
    /// Microseconds.
    pub duration_us: i64,
    pub tags: Vec<Tag>,
    pub logs: Vec<Log>,
    /// References other than the parent (links). The parent is stored first, as `child-of`,
    /// when the rows are derived; a reference to the parent listed here is not repeated.
    pub references: Vec<SpanRef>,
    pub process: Process,
}

impl Span {
    /// The value of the `span.kind` tag when it is a string, as Jaeger reads it for
    /// `operation_names_v2.span_kind`; `""` otherwise.
    pub fn span_kind(&self) -> &str {
        match self.tags.iter().find(|t| t.key == "span.kind") {
            Some(Tag {
                value: TagValue::String(s),
                ..
            }) => s,
            _ => "",
        }
    }

    /// The references as stored: the parent first as `child-of` (Jaeger's v2 write path),
    /// then the others in order, without repeating the parent.
    pub fn stored_refs(&self) -> Vec<SpanRef> {
        let mut out = Vec::with_capacity(self.references.len() + 1);
        let parent = (self.parent_span_id != SpanId(0)).then_some(SpanRef {
            ref_type: RefType::ChildOf,
            trace_id: self.trace_id,
            span_id: self.parent_span_id,
        });
        out.extend(parent);
        out.extend(
            self.references
                .iter()
                .filter(|r| Some(**r) != parent)
                .copied(),
        );
        out
    }
}
