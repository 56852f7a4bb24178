//! The handler: each `tracespan` instance's fields bound to the plan's compiled expressions,
//! and the mapping from one evaluated instance to one [`Span`]:
//!
//! - `trace_id`, `span_id` (hex, as B3 sends them) are required: an instance without valid
//!   ones makes no span (counted as invalid). `parent_span_id` empty or absent: a root span.
//! - `span_name` is the operation name; `start_time`/`end_time` give start and duration (µs;
//!   a missing or earlier end gives 0).
//! - `client_span` sets `span.kind` (`client`/`server`) and picks the process: the source
//!   (`source_name`) for a client span, the destination (`destination_name`) for a server span,
//!   as each sidecar reports its own side of the call; `peer.address` is the other side's IP.
//! - `http_status_code` becomes `http.status_code`, and `error: true` from 500 on (as Istio's
//!   adapters did); `request_size`, `request_total_size`, `response_size`,
//!   `response_total_size` and `api_protocol` become tags of the same names
//!   (`api_protocol` as `protocol`); every `span_tags` entry becomes a tag typed by its value.
//! - `rewrite_client_span_id`: B3 proxies share one span id between the client and the server
//!   side of a call. With it set, the client span takes an id derived from the shared one and
//!   the server span becomes its child, so both appear without a shared id (Jaeger's UI
//!   otherwise de-duplicates the pair itself).

use crate::traces::backend::TraceSink;
use crate::traces::span::{flags, Process, Span, SpanId, Tag, TagValue, TraceId};
use crate::traces::Submit;
use mixer_attributes::expr::EvalValue;
use mixer_attributes::Attributes;
use mixer_rules::{Config, Evaluator, ExprId, InstancePlan, Plan, Template};

use super::config::Params;

/// Why a handler could not be built from a loaded config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no handler at index {0}")]
    NoSuchHandler(usize),
    #[error("invalid params: {0}")]
    Params(String),
}

/// A `tracespan` instance's fields as expressions of the plan.
#[derive(Debug, Default)]
struct Fields {
    trace_id: Option<ExprId>,
    span_id: Option<ExprId>,
    parent_span_id: Option<ExprId>,
    span_name: Option<ExprId>,
    start_time: Option<ExprId>,
    end_time: Option<ExprId>,
    span_tags: Vec<(String, ExprId)>,
    http_status_code: Option<ExprId>,
    client_span: Option<ExprId>,
    rewrite_client_span_id: Option<ExprId>,
    source_name: Option<ExprId>,
    source_ip: Option<ExprId>,
    destination_name: Option<ExprId>,
    destination_ip: Option<ExprId>,
    /// `(tag key, expression)` of the integer fields that become tags as they are.
    sizes: Vec<(&'static str, ExprId)>,
    api_protocol: Option<ExprId>,
}

impl Fields {
    fn of(i: &InstancePlan) -> Fields {
        let sizes = [
            "request_size",
            "request_total_size",
            "response_size",
            "response_total_size",
        ]
        .into_iter()
        .filter_map(|f| Some((tag_name(f), i.field(f)?)))
        .collect();
        Fields {
            trace_id: i.field("trace_id"),
            span_id: i.field("span_id"),
            parent_span_id: i.field("parent_span_id"),
            span_name: i.field("span_name"),
            start_time: i.field("start_time"),
            end_time: i.field("end_time"),
            span_tags: i.map("span_tags").unwrap_or_default().to_vec(),
            http_status_code: i.field("http_status_code"),
            client_span: i.field("client_span"),
            rewrite_client_span_id: i.field("rewrite_client_span_id"),
            source_name: i.field("source_name"),
            source_ip: i.field("source_ip"),
            destination_name: i.field("destination_name"),
            destination_ip: i.field("destination_ip"),
            sizes,
            api_protocol: i.field("api_protocol"),
        }
    }
}

fn tag_name(field: &str) -> &'static str {
    match field {
        "request_size" => "request.size",
        "request_total_size" => "request.total_size",
        "response_size" => "response.size",
        _ => "response.total_size",
    }
}

#[derive(Debug)]
struct Binding {
    /// Address of the `InstancePlan` in the plan the handler was built from.
    addr: usize,
    fields: Fields,
}

/// A `jaeger` handler. `Send + Sync`.
#[derive(Debug)]
pub struct JaegerHandler {
    bindings: Vec<Binding>,
    process_tags: Vec<Tag>,
    sink: TraceSink,
}

impl JaegerHandler {
    /// Builds handler `handler` of `config`, bound to `plan` (`Plan::new(config)`), sending
    /// spans to `sink`.
    pub fn new(
        config: &Config,
        handler: usize,
        plan: &Plan,
        sink: TraceSink,
    ) -> Result<JaegerHandler, BuildError> {
        let h = config
            .handlers
            .get(handler)
            .ok_or(BuildError::NoSuchHandler(handler))?;
        let params = Params::parse(&h.params).map_err(|p| BuildError::Params(p.message))?;
        let bindings = plan
            .instances()
            .iter()
            .filter(|i| i.template == Template::TraceSpan)
            .map(|i| Binding {
                addr: i as *const InstancePlan as usize,
                fields: Fields::of(i),
            })
            .collect();
        Ok(JaegerHandler {
            bindings,
            process_tags: params
                .process_tags
                .into_iter()
                .map(|(k, v)| Tag::string(k, v))
                .collect(),
            sink,
        })
    }

    pub fn sink(&self) -> &TraceSink {
        &self.sink
    }

    /// Builds the span of `instance` for the evaluator's bag into `out`; an instance without
    /// valid ids is counted and skipped.
    pub fn record<'a, A: Attributes>(
        &self,
        ev: &mut Evaluator<'a, A>,
        instance: &InstancePlan,
        out: &mut Vec<Span>,
    ) {
        let addr = instance as *const InstancePlan as usize;
        let Some(b) = self.bindings.iter().find(|b| b.addr == addr) else {
            return;
        };
        match build(ev, &b.fields, &self.process_tags) {
            Some(span) => out.push(span),
            None => self.sink.handler_stats().invalid.inc(),
        }
    }

    /// Queues `spans` without waiting (for the store and, when configured, OTLP export); what
    /// a queue refuses is counted by it. Returns how many the store's queue took.
    pub fn submit(&self, spans: &mut Vec<Span>) -> usize {
        spans
            .drain(..)
            .map(|s| self.sink.submit(s))
            .filter(|r| *r == Submit::Queued)
            .count()
    }
}

fn text<A: Attributes>(ev: &mut Evaluator<'_, A>, id: Option<ExprId>) -> Option<String> {
    match ev.value(id?) {
        Ok(EvalValue::IpAddress(ip)) => Some(ip.to_string()),
        Ok(v @ (EvalValue::String(_) | EvalValue::Uri(_) | EvalValue::DnsName(_))) => {
            Some(v.to_string())
        }
        Ok(EvalValue::EmailAddress(s)) => Some(s.to_string()),
        _ => None,
    }
}

fn int<A: Attributes>(ev: &mut Evaluator<'_, A>, id: Option<ExprId>) -> Option<i64> {
    match ev.value(id?) {
        Ok(EvalValue::Int64(v)) => Some(*v),
        _ => None,
    }
}

fn boolean<A: Attributes>(ev: &mut Evaluator<'_, A>, id: Option<ExprId>) -> Option<bool> {
    match ev.value(id?) {
        Ok(EvalValue::Bool(v)) => Some(*v),
        _ => None,
    }
}

fn micros<A: Attributes>(ev: &mut Evaluator<'_, A>, id: Option<ExprId>) -> Option<i64> {
    match ev.value(id?) {
        Ok(EvalValue::Timestamp(t)) => Some(
            t.seconds
                .saturating_mul(1_000_000)
                .saturating_add(i64::from(t.nanos) / 1_000),
        ),
        _ => None,
    }
}

fn tag_value(v: &EvalValue<'_>) -> TagValue {
    match v {
        EvalValue::Int64(i) => TagValue::Int64(*i),
        EvalValue::Double(d) => TagValue::Float64(*d),
        EvalValue::Bool(b) => TagValue::Bool(*b),
        EvalValue::Bytes(b) => TagValue::Binary(b.to_vec()),
        other => TagValue::String(other.to_string()),
    }
}

/// A span id for the client side of a shared B3 span id: a fixed mix of the shared id, so the
/// client's and the server's reports agree on it without talking to each other.
fn client_span_id(shared: SpanId) -> SpanId {
    let mut z = shared.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    SpanId(if z == 0 { 1 } else { z })
}

fn build<A: Attributes>(
    ev: &mut Evaluator<'_, A>,
    f: &Fields,
    process_tags: &[Tag],
) -> Option<Span> {
    let trace_id = TraceId::from_hex(&text(ev, f.trace_id)?)?;
    let mut span_id = SpanId::from_hex(&text(ev, f.span_id)?)?;
    let mut parent = text(ev, f.parent_span_id)
        .and_then(|p| SpanId::from_hex(&p))
        .unwrap_or_default();
    let client = boolean(ev, f.client_span).unwrap_or(false);
    if boolean(ev, f.rewrite_client_span_id).unwrap_or(false) {
        if client {
            span_id = client_span_id(span_id);
        } else {
            parent = client_span_id(span_id);
        }
    }
    let start = micros(ev, f.start_time).unwrap_or(0);
    let end = micros(ev, f.end_time).unwrap_or(start);
    let (own, peer_ip) = if client {
        (f.source_name, f.destination_ip)
    } else {
        (f.destination_name, f.source_ip)
    };
    let service = text(ev, own)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());

    let mut tags = Vec::with_capacity(f.span_tags.len() + 8);
    tags.push(Tag::string(
        "span.kind",
        if client { "client" } else { "server" },
    ));
    for (key, id) in &f.span_tags {
        if let Ok(v) = ev.value(*id) {
            tags.push(Tag {
                key: key.clone(),
                value: tag_value(v),
            });
        }
    }
    if let Some(code) = int(ev, f.http_status_code) {
        if !tags.iter().any(|t| t.key == "http.status_code") {
            tags.push(Tag::int64("http.status_code", code));
        }
        if code >= 500 && !tags.iter().any(|t| t.key == "error") {
            tags.push(Tag::bool("error", true));
        }
    }
    for (key, id) in &f.sizes {
        if let Some(v) = int(ev, Some(*id)) {
            tags.push(Tag::int64(*key, v));
        }
    }
    if let Some(p) = text(ev, f.api_protocol).filter(|p| !p.is_empty()) {
        tags.push(Tag::string("protocol", p));
    }
    if let Some(ip) = text(ev, peer_ip) {
        tags.push(Tag::string("peer.address", ip));
    }
    let operation_name = text(ev, f.span_name)
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown".into());
    Some(Span {
        trace_id,
        span_id,
        parent_span_id: parent,
        operation_name,
        flags: flags::SAMPLED,
        start_time_us: start,
        duration_us: end.saturating_sub(start).max(0),
        tags,
        logs: Vec::new(),
        references: Vec::new(),
        process: Process {
            service_name: service,
            tags: process_tags.to_vec(),
        },
    })
}
