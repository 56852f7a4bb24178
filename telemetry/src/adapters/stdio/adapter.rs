//! The handler: each `logentry` and `metric` instance's fields bound to the plan's compiled
//! expressions, and the mapping from one evaluated instance to one line.
//!
//! - `logentry`: the level is `severityLevels[severity]` (INFO for a severity not listed, or
//!   none); the time is `timestamp` (the current time when it has none); then every
//!   `variables` entry, sorted by name. A variable whose expression fails (an attribute
//!   missing without a default) is left out of the line and counted in
//!   `mixer_telemetry_errors_total{reason="instance"}`; `monitored_resource_*` are not written
//!   (Istio's stdio adapter ignores them too).
//! - `metric`: level `metricLevel`, the current time, `value`, then the `dimensions` sorted by
//!   name.
//!
//! Entries below `outputLevel` are skipped before anything else is evaluated. Lines are built
//! on the Report path into a per-call buffer and queued whole once the request decoded
//! ([`StdioHandler::submit`]); the writing is done by the destination's thread
//! ([`super::writer`]).

use super::config::{Level, Params};
use super::format::{now, quoted, Line};
use super::sinks::{Destination, LogSinks};
use super::writer::Writer;
use crate::adapters::yaml;
use mixer_attributes::expr::EvalValue;
use mixer_attributes::Attributes;
use mixer_rules::{Config, Evaluator, ExprId, InstancePlan, Plan, Template};
use std::sync::Arc;

/// Why a handler could not be built from a loaded config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no handler at index {0}")]
    NoSuchHandler(usize),
    #[error("invalid params: {0}")]
    Params(String),
    #[error("cannot open {path}: {source}")]
    Open {
        path: String,
        source: std::io::Error,
    },
}

#[derive(Debug)]
enum Fields {
    LogEntry {
        severity: Option<ExprId>,
        timestamp: Option<ExprId>,
        /// `(quoted name, expression)`, sorted by name.
        variables: Vec<(String, ExprId)>,
    },
    Metric {
        value: Option<ExprId>,
        dimensions: Vec<(String, ExprId)>,
    },
}

#[derive(Debug)]
struct Binding {
    /// Address of the `InstancePlan` in the plan the handler was built from.
    addr: usize,
    /// The instance's full name, quoted.
    name: String,
    fields: Fields,
}

/// The lines one Report call built for one handler, queued once the call decoded.
#[derive(Debug, Default)]
pub struct Lines {
    buf: Vec<u8>,
    entries: u64,
    /// Variables, values, severities or timestamps that failed to evaluate.
    pub errors: u64,
}

impl Lines {
    /// Forgets the call's lines (the request did not decode).
    pub fn clear(&mut self) {
        self.buf.clear();
        self.entries = 0;
        self.errors = 0;
    }

    pub fn entries(&self) -> u64 {
        self.entries
    }
}

/// A `stdio` handler. `Send + Sync`.
#[derive(Debug)]
pub struct StdioHandler {
    bindings: Vec<Binding>,
    params: Params,
    destination: Destination,
    writer: Arc<Writer>,
}

fn sorted(entries: &[(String, ExprId)]) -> Vec<(String, ExprId)> {
    let mut v: Vec<(String, ExprId)> = entries.iter().map(|(k, e)| (quoted(k), *e)).collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    v
}

impl StdioHandler {
    /// Builds handler `handler` of `config`, bound to `plan` (`Plan::new(config)`), writing
    /// through `sinks` (which opens its destination now if no earlier config did).
    pub fn new(
        config: &Config,
        handler: usize,
        plan: &Plan,
        sinks: &LogSinks,
    ) -> Result<StdioHandler, BuildError> {
        let h = config
            .handlers
            .get(handler)
            .ok_or(BuildError::NoSuchHandler(handler))?;
        let params =
            Params::parse(&h.params).map_err(|p| BuildError::Params(yaml::one_line(&p)))?;
        let bindings = plan
            .instances()
            .iter()
            .filter_map(|i| {
                let fields = match i.template {
                    Template::LogEntry => Fields::LogEntry {
                        severity: i.field("severity"),
                        timestamp: i.field("timestamp"),
                        variables: sorted(i.map("variables").unwrap_or_default()),
                    },
                    Template::Metric => Fields::Metric {
                        value: i.field("value"),
                        dimensions: sorted(i.map("dimensions").unwrap_or_default()),
                    },
                    _ => return None,
                };
                Some(Binding {
                    addr: i as *const InstancePlan as usize,
                    name: quoted(&i.name),
                    fields,
                })
            })
            .collect();
        let destination = params.destination();
        let writer = sinks
            .writer(&destination, params.rotation())
            .map_err(|source| BuildError::Open {
                path: destination.label(),
                source,
            })?;
        Ok(StdioHandler {
            bindings,
            params,
            destination,
            writer,
        })
    }

    pub fn destination(&self) -> &Destination {
        &self.destination
    }

    /// Appends the line of `instance` for the evaluator's bag to `out`, unless its level is
    /// below `outputLevel`.
    pub fn record<'a, A: Attributes>(
        &self,
        ev: &mut Evaluator<'a, A>,
        instance: &InstancePlan,
        out: &mut Lines,
    ) {
        let addr = instance as *const InstancePlan as usize;
        let Some(b) = self.bindings.iter().find(|b| b.addr == addr) else {
            return;
        };
        let json = self.params.output_as_json;
        match &b.fields {
            Fields::LogEntry {
                severity,
                timestamp,
                variables,
            } => {
                let level = match severity.map(|id| ev.value(id)) {
                    Some(Ok(EvalValue::String(s))) => self.params.level_of(s),
                    Some(Err(_)) => {
                        out.errors += 1;
                        Level::Info
                    }
                    _ => Level::Info,
                };
                if level < self.params.output_level {
                    return;
                }
                let time = match timestamp.map(|id| ev.value(id)) {
                    Some(Ok(EvalValue::Timestamp(t))) => *t,
                    Some(Err(_)) => {
                        out.errors += 1;
                        now()
                    }
                    _ => now(),
                };
                let mut line = Line::start(&mut out.buf, json, level, time, &b.name);
                for (key, id) in variables {
                    match ev.value(*id) {
                        Ok(v) => line.field(key, v),
                        Err(_) => out.errors += 1,
                    }
                }
                line.finish();
            }
            Fields::Metric { value, dimensions } => {
                let level = self.params.metric_level;
                if level < self.params.output_level {
                    return;
                }
                let mut line = Line::start(&mut out.buf, json, level, now(), &b.name);
                let fields = value.iter().map(|v| ("\"value\"", v));
                for (key, id) in fields.chain(dimensions.iter().map(|(k, e)| (k.as_str(), e))) {
                    match ev.value(*id) {
                        Ok(v) => line.field(key, v),
                        Err(_) => out.errors += 1,
                    }
                }
                line.finish();
            }
        }
        out.entries += 1;
    }

    /// Queues the call's lines without waiting (what the queue refuses is counted as dropped
    /// by the destination). Returns whether they were queued.
    pub fn submit(&self, out: &mut Lines) -> bool {
        if out.entries == 0 {
            out.buf.clear();
            return true;
        }
        let capacity = out.buf.len();
        let bytes = std::mem::replace(&mut out.buf, Vec::with_capacity(capacity));
        let entries = std::mem::take(&mut out.entries);
        self.writer.submit(bytes, entries)
    }
}
