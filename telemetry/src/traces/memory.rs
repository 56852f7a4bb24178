//! The embedded span store used when no Cassandra is configured: spans grouped by trace id,
//! at most `max_traces` traces (the oldest trace, by first arrival, is evicted) and at most
//! `max_spans_per_trace` spans each (later spans dropped and counted). It answers what
//! jaeger-query asks of its storage: a trace by id, the services, a service's operations, and a
//! search by service, operation, tags, start time range and duration. Services and operations
//! are reference-counted by the spans held, so they are bounded by the store too.

use super::jaeger_rows::tag_value_text;
use super::sink::{Progress, WriteSpans};
use super::span::{Span, Tag, TraceId};
use crate::self_metrics::Counter;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::future::Future;
use std::sync::Mutex;

/// Bounds of the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryOptions {
    pub max_traces: usize,
    pub max_spans_per_trace: usize,
}

impl Default for MemoryOptions {
    fn default() -> Self {
        MemoryOptions {
            max_traces: 10_000,
            max_spans_per_trace: 1_000,
        }
    }
}

/// The store's counters.
#[derive(Debug, Default)]
pub struct MemoryStats {
    pub spans_stored: Counter,
    /// Spans refused because their trace already held `max_spans_per_trace`.
    pub spans_dropped_trace_full: Counter,
    pub traces_evicted: Counter,
}

/// An operation of a service, as `/api/operations` lists it.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Operation {
    pub name: String,
    pub span_kind: String,
}

/// A search, with jaeger-query's semantics (see `trace_matches`). Start and duration bounds
/// are exclusive, as in the CQL of jaeger-query v2.13 (duration bounds became inclusive in
/// v2.18). Tag values compare as Jaeger's text form.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct TraceQuery {
    pub service: String,
    pub operation: Option<String>,
    pub tags: Vec<(String, String)>,
    pub start_after_us: Option<i64>,
    pub start_before_us: Option<i64>,
    pub min_duration_us: Option<i64>,
    pub max_duration_us: Option<i64>,
    pub limit: usize,
}

#[derive(Debug, Default)]
struct Inner {
    traces: HashMap<TraceId, Vec<Span>>,
    /// Trace ids by first arrival, oldest first.
    order: VecDeque<TraceId>,
    /// service -> (operation, kind) -> spans held.
    operations: BTreeMap<String, BTreeMap<(String, String), usize>>,
}

impl Inner {
    fn count(&mut self, span: &Span, add: bool) {
        let service = &span.process.service_name;
        let key = (span.operation_name.clone(), span.span_kind().to_string());
        if add {
            *self
                .operations
                .entry(service.clone())
                .or_default()
                .entry(key)
                .or_default() += 1;
        } else if let Some(ops) = self.operations.get_mut(service) {
            if let Some(n) = ops.get_mut(&key) {
                *n -= 1;
                if *n == 0 {
                    ops.remove(&key);
                }
            }
            if ops.is_empty() {
                self.operations.remove(service);
            }
        }
    }
}

/// The store.
#[derive(Debug, Default)]
pub struct MemoryStore {
    opts: MemoryOptions,
    inner: Mutex<Inner>,
    stats: MemoryStats,
}

impl MemoryStore {
    pub fn new(opts: MemoryOptions) -> MemoryStore {
        MemoryStore {
            opts: MemoryOptions {
                max_traces: opts.max_traces.max(1),
                max_spans_per_trace: opts.max_spans_per_trace.max(1),
            },
            inner: Mutex::default(),
            stats: MemoryStats::default(),
        }
    }

    pub fn stats(&self) -> &MemoryStats {
        &self.stats
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `span`; returns false when its trace was full.
    pub fn add(&self, span: Span) -> bool {
        let mut inner = self.lock();
        let id = span.trace_id;
        if !inner.traces.contains_key(&id) {
            while inner.traces.len() >= self.opts.max_traces {
                let Some(old) = inner.order.pop_front() else {
                    break;
                };
                for s in inner.traces.remove(&old).unwrap_or_default() {
                    inner.count(&s, false);
                }
                self.stats.traces_evicted.inc();
            }
            inner.order.push_back(id);
        }
        let held = inner.traces.get(&id).map_or(0, Vec::len);
        if held >= self.opts.max_spans_per_trace {
            self.stats.spans_dropped_trace_full.inc();
            return false;
        }
        inner.count(&span, true);
        inner.traces.entry(id).or_default().push(span);
        self.stats.spans_stored.inc();
        true
    }

    /// The spans of trace `id`, in arrival order.
    pub fn get_trace(&self, id: TraceId) -> Option<Vec<Span>> {
        self.lock().traces.get(&id).cloned()
    }

    /// Every span held, oldest trace first (for tools that replay them, e.g. the span
    /// benchmark's raw-insert baseline).
    pub fn spans(&self) -> Vec<Span> {
        let inner = self.lock();
        inner
            .order
            .iter()
            .filter_map(|id| inner.traces.get(id))
            .flatten()
            .cloned()
            .collect()
    }

    /// Services with spans held, sorted.
    pub fn services(&self) -> Vec<String> {
        self.lock().operations.keys().cloned().collect()
    }

    /// A service's operations, optionally of one span kind, in the order Cassandra returns
    /// `operation_names_v2` rows: by span kind, then name.
    pub fn operations(&self, service: &str, span_kind: Option<&str>) -> Vec<Operation> {
        let inner = self.lock();
        let Some(ops) = inner.operations.get(service) else {
            return Vec::new();
        };
        let mut out: Vec<Operation> = ops
            .keys()
            .filter(|(_, kind)| span_kind.is_none_or(|k| k == kind))
            .map(|(name, kind)| Operation {
                name: name.clone(),
                span_kind: kind.clone(),
            })
            .collect();
        out.sort_by(|a, b| (&a.span_kind, &a.name).cmp(&(&b.span_kind, &b.name)));
        out
    }

    /// Matching traces, most recently arrived first, at most `q.limit` (0: no limit).
    pub fn find_traces(&self, q: &TraceQuery) -> Vec<Vec<Span>> {
        let inner = self.lock();
        let limit = if q.limit == 0 { usize::MAX } else { q.limit };
        inner
            .order
            .iter()
            .rev()
            .filter_map(|id| inner.traces.get(id))
            .filter(|spans| trace_matches(spans, q))
            .take(limit)
            .cloned()
            .collect()
    }
}

/// jaeger-query's Cassandra reader answers from one index per condition and intersects the
/// trace ids: a trace matches when, among its spans of `q.service` that started inside the
/// window, one has the operation (with the duration in range, when one is asked: the
/// duration index is keyed by operation too), and one has each tag, not necessarily the same
/// span. Without conditions, any span of the service in the window will do.
fn trace_matches(spans: &[Span], q: &TraceQuery) -> bool {
    let in_window = |s: &&Span| {
        s.process.service_name == q.service
            && q.start_after_us.is_none_or(|t| s.start_time_us > t)
            && q.start_before_us.is_none_or(|t| s.start_time_us < t)
    };
    let op = |s: &Span| q.operation.as_ref().is_none_or(|o| *o == s.operation_name);
    let dur = |s: &Span| {
        q.min_duration_us.is_none_or(|d| s.duration_us > d)
            && q.max_duration_us.is_none_or(|d| s.duration_us < d)
    };
    let mut cands = spans.iter().filter(in_window).peekable();
    if cands.peek().is_none() {
        return false;
    }
    let cands: Vec<&Span> = cands.collect();
    cands.iter().any(|s| op(s) && dur(s))
        && q.tags
            .iter()
            .all(|(k, v)| cands.iter().any(|s| has_tag(s, k, v)))
}

fn has_tag(s: &Span, key: &str, value: &str) -> bool {
    let is = |t: &Tag| t.key == key && tag_value_text(&t.value).is_some_and(|x| x == value);
    s.tags.iter().any(is)
        || s.process.tags.iter().any(is)
        || s.logs.iter().any(|l| l.fields.iter().any(is))
}

impl WriteSpans for MemoryStore {
    type Error = std::convert::Infallible;
    fn write_span<'a>(
        &'a self,
        span: &'a Span,
        progress: &'a mut Progress,
    ) -> impl Future<Output = Result<usize, Self::Error>> + Send + 'a {
        self.add(span.clone());
        progress.stored = true;
        std::future::ready(Ok(0))
    }
}

#[cfg(test)]
#[path = "memory_tests.rs"]
mod tests;
