//! The handler: the `logentry` instances its rules send it, bound to the plan's compiled
//! expressions in the order of the file's columns, and the mapping from one evaluated
//! instance to one row — `timestamp` (the current time when the instance has none or it
//! fails), `severity` (null when absent), the instance's name, then each variable (null when
//! it fails, counted in `mixer_telemetry_errors_total{reason="instance"}`).
//! `monitored_resource_*` are not written. Rows are built on the Report path into a per-call
//! [`Rows`] and queued whole once the request decoded ([`ParquetHandler::submit`]).

use super::config::Params;
use super::layout::{Layout, Rows};
use super::sinks::Archives;
use super::writer::Writer;
use crate::adapters::yaml;
use mixer_attributes::expr::EvalValue;
use mixer_attributes::Attributes;
use mixer_rules::{Config, Evaluator, ExprId, InstancePlan, Plan};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

/// Why a handler could not be built from a loaded config.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no handler at index {0}")]
    NoSuchHandler(usize),
    #[error("invalid params: {0}")]
    Params(String),
    #[error("columns: {0}")]
    Columns(String),
    #[error("cannot write the archive: {0}")]
    Open(std::io::Error),
}

#[derive(Debug)]
struct Binding {
    /// Address of the `InstancePlan` in the plan the handler was built from.
    addr: usize,
    /// Index of the instance in the layout.
    index: u32,
    severity: Option<ExprId>,
    timestamp: Option<ExprId>,
    /// The variables, sorted by name (the order of the layout's cells).
    variables: Vec<ExprId>,
}

/// A `parquet` handler. `Send + Sync`.
#[derive(Debug)]
pub struct ParquetHandler {
    bindings: Vec<Binding>,
    layout: Arc<Layout>,
    params: Params,
    writer: Arc<Writer>,
}

impl ParquetHandler {
    /// Builds handler `handler` of `config`, bound to `plan` (`Plan::new(config)`), writing
    /// through `archives` (which starts the archive's writer now if no earlier config did).
    pub fn new(
        config: &Config,
        handler: usize,
        plan: &Plan,
        archives: &Archives,
    ) -> Result<ParquetHandler, BuildError> {
        let h = config
            .handlers
            .get(handler)
            .ok_or(BuildError::NoSuchHandler(handler))?;
        let params =
            Params::parse(&h.params).map_err(|p| BuildError::Params(yaml::one_line(&p)))?;
        let layout = Layout::of_config(config, handler).map_err(BuildError::Columns)?;
        let instances = super::config::instances_of(config, handler);
        let bindings = instances
            .iter()
            .enumerate()
            .filter_map(|(index, &i)| {
                let p = plan.instances().get(i)?;
                Some(Binding {
                    addr: p as *const InstancePlan as usize,
                    index: index as u32,
                    severity: p.field("severity"),
                    timestamp: p.field("timestamp"),
                    variables: p
                        .map("variables")
                        .unwrap_or_default()
                        .iter()
                        .map(|(_, e)| *e)
                        .collect(),
                })
            })
            .collect();
        let writer = archives.writer(&params).map_err(BuildError::Open)?;
        Ok(ParquetHandler {
            bindings,
            layout: Arc::new(layout),
            params,
            writer,
        })
    }

    pub fn params(&self) -> &Params {
        &self.params
    }

    pub fn layout(&self) -> &Arc<Layout> {
        &self.layout
    }

    /// Appends the row of `instance` for the evaluator's bag to `out`.
    pub fn record<'a, A: Attributes>(
        &self,
        ev: &mut Evaluator<'a, A>,
        instance: &InstancePlan,
        out: &mut Rows,
    ) {
        let addr = instance as *const InstancePlan as usize;
        let Some(b) = self.bindings.iter().find(|b| b.addr == addr) else {
            return;
        };
        let Some(columns) = self.layout.instances.get(b.index as usize) else {
            return;
        };
        out.start_row(b.index);
        let micros = match b.timestamp.map(|id| ev.value(id)) {
            Some(Ok(EvalValue::Timestamp(t))) => t
                .seconds
                .saturating_mul(1_000_000)
                .saturating_add(i64::from(t.nanos / 1000)),
            Some(Err(_)) => {
                out.errors += 1;
                now_micros()
            }
            _ => now_micros(),
        };
        out.push_micros(micros);
        match b.severity.map(|id| ev.value(id)) {
            Some(Ok(v)) => match v.as_str() {
                Some(s) => out.push_text(s),
                None => out.push_null(),
            },
            Some(Err(_)) => {
                out.errors += 1;
                out.push_null();
            }
            None => out.push_null(),
        }
        for (id, kind) in b.variables.iter().zip(&columns.kinds) {
            out.push_value(*kind, ev.value(*id));
        }
    }

    /// Queues the call's rows without waiting (what the queue refuses is counted as dropped
    /// by the archive). Returns whether they were queued.
    pub fn submit(&self, out: &mut Rows) -> bool {
        if out.is_empty() {
            out.clear();
            return true;
        }
        let rows = std::mem::take(out);
        self.writer.submit(&self.layout, rows)
    }
}

fn now_micros() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_micros()).unwrap_or(i64::MAX))
}
