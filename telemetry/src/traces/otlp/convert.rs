//! Our span model to OTLP (`opentelemetry.proto.trace.v1`), pure. Spans are grouped into one
//! `ResourceSpans` per reporting process, whose resource carries `service.name` and the
//! process tags; each group has one scope (`mixer`). Per span:
//!
//! - ids: the 16-byte trace id (big-endian high then low, as Jaeger stores it) and 8-byte span
//!   ids; no parent: empty `parent_span_id`, as OTLP wants for a root.
//! - times: microseconds to Unix nanoseconds; end = start + duration (negatives clamp to 0).
//! - the `span.kind` tag becomes the span kind and `error: true` an error status (Jaeger's
//!   OTLP translator turns both back into those tags, so they are not repeated as attributes);
//!   every other tag is an attribute of the same type (string, bool, int, double, bytes).
//! - logs become events (a string `event` field is the event's name); references other than
//!   the parent become links with `opentracing.ref_type`, which Jaeger reads back.

use crate::traces::span::{
    flags, Log, Process, RefType, Span, SpanId, SpanRef, Tag, TagValue, TraceId,
};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{self as otlp, span::SpanKind, status::StatusCode};

/// The instrumentation scope every exported span carries.
pub const SCOPE_NAME: &str = "mixer";

/// One export request for `spans`, grouped by process in first-seen order.
pub fn export_request(spans: impl IntoIterator<Item = Span>) -> ExportTraceServiceRequest {
    let mut groups: Vec<(Process, Vec<otlp::Span>)> = Vec::new();
    for mut span in spans {
        let process = std::mem::take(&mut span.process);
        let converted = span_to_otlp(span);
        match groups.iter_mut().find(|(p, _)| *p == process) {
            Some((_, g)) => g.push(converted),
            None => groups.push((process, vec![converted])),
        }
    }
    ExportTraceServiceRequest {
        resource_spans: groups
            .into_iter()
            .map(|(process, spans)| otlp::ResourceSpans {
                resource: Some(resource(process)),
                scope_spans: vec![otlp::ScopeSpans {
                    scope: Some(InstrumentationScope {
                        name: SCOPE_NAME.into(),
                        version: env!("CARGO_PKG_VERSION").into(),
                        ..Default::default()
                    }),
                    spans,
                    schema_url: String::new(),
                }],
                schema_url: String::new(),
            })
            .collect(),
    }
}

/// `service.name` first, then the process tags (a tag named `service.name` is not repeated).
pub fn resource(process: Process) -> Resource {
    let mut attributes = Vec::with_capacity(process.tags.len() + 1);
    attributes.push(string_kv("service.name", process.service_name));
    attributes.extend(
        process
            .tags
            .into_iter()
            .filter(|t| t.key != "service.name")
            .map(key_value),
    );
    Resource {
        attributes,
        ..Default::default()
    }
}

/// One span, without its process (that is the resource's).
pub fn span_to_otlp(span: Span) -> otlp::Span {
    let mut kind = SpanKind::Unspecified;
    let mut error = false;
    let mut attributes = Vec::with_capacity(span.tags.len());
    for tag in span.tags {
        if tag.key == "span.kind" {
            if let Some(k) = as_str(&tag.value).and_then(span_kind) {
                kind = k;
                continue;
            }
        }
        if tag.key == "error" && tag.value == TagValue::Bool(true) {
            error = true;
            continue;
        }
        attributes.push(key_value(tag));
    }
    let parent = parent_of(span.parent_span_id, &span.references, span.trace_id);
    let links = span
        .references
        .iter()
        .filter(|r| !(r.ref_type == RefType::ChildOf && Some(r.span_id) == parent))
        .map(link)
        .collect();
    let start = micros_to_nanos(span.start_time_us);
    let end = start.saturating_add(micros_to_nanos(span.duration_us));
    otlp::Span {
        trace_id: span.trace_id.to_bytes().to_vec(),
        span_id: span.span_id.0.to_be_bytes().to_vec(),
        trace_state: String::new(),
        parent_span_id: parent.map_or_else(Vec::new, |p| p.0.to_be_bytes().to_vec()),
        // W3C trace flags in the low byte: only "sampled" has a meaning here.
        flags: u32::from(span.flags & flags::SAMPLED != 0),
        name: span.operation_name,
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes,
        dropped_attributes_count: 0,
        events: span.logs.into_iter().map(event).collect(),
        dropped_events_count: 0,
        links,
        dropped_links_count: 0,
        status: error.then(|| otlp::Status {
            message: String::new(),
            code: StatusCode::Error as i32,
        }),
    }
}

/// The span's parent: its own parent id, else its first `child-of` reference in the trace.
fn parent_of(parent: SpanId, refs: &[SpanRef], trace: TraceId) -> Option<SpanId> {
    if parent != SpanId(0) {
        return Some(parent);
    }
    refs.iter()
        .find(|r| r.ref_type == RefType::ChildOf && r.trace_id == trace)
        .map(|r| r.span_id)
}

fn as_str(v: &TagValue) -> Option<&str> {
    match v {
        TagValue::String(s) => Some(s),
        _ => None,
    }
}

fn span_kind(s: &str) -> Option<SpanKind> {
    Some(match s {
        "client" => SpanKind::Client,
        "server" => SpanKind::Server,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        _ => return None,
    })
}

fn link(r: &SpanRef) -> otlp::span::Link {
    let ref_type = match r.ref_type {
        RefType::ChildOf => "child_of",
        RefType::FollowsFrom => "follows_from",
    };
    otlp::span::Link {
        trace_id: r.trace_id.to_bytes().to_vec(),
        span_id: r.span_id.0.to_be_bytes().to_vec(),
        attributes: vec![string_kv("opentracing.ref_type", ref_type.into())],
        ..Default::default()
    }
}

fn event(log: Log) -> otlp::span::Event {
    let mut name = String::new();
    let mut attributes = Vec::with_capacity(log.fields.len());
    for field in log.fields {
        match field {
            Tag {
                key,
                value: TagValue::String(v),
            } if key == "event" && name.is_empty() => name = v,
            other => attributes.push(key_value(other)),
        }
    }
    otlp::span::Event {
        time_unix_nano: micros_to_nanos(log.timestamp_us),
        name,
        attributes,
        dropped_attributes_count: 0,
    }
}

fn micros_to_nanos(us: i64) -> u64 {
    u64::try_from(us).unwrap_or(0).saturating_mul(1_000)
}

fn string_kv(key: &str, v: String) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(v)),
        }),
        ..Default::default()
    }
}

/// A tag as an attribute of the same type.
pub fn key_value(tag: Tag) -> KeyValue {
    let value = match tag.value {
        TagValue::String(s) => any_value::Value::StringValue(s),
        TagValue::Bool(b) => any_value::Value::BoolValue(b),
        TagValue::Int64(i) => any_value::Value::IntValue(i),
        TagValue::Float64(f) => any_value::Value::DoubleValue(f),
        TagValue::Binary(b) => any_value::Value::BytesValue(b),
    };
    KeyValue {
        key: tag.key,
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}
