//! The handler: metric families bound to their instances' compiled expressions, grouped by
//! label expressions, and the shared series of each group; merging a [`Batch`] (one lock per
//! group), expiry and self-metrics.

use super::batch::Batch;
use super::config::{DurationUnit, ExpirationPolicy, Kind, Params};
use super::labels::NONE;
use super::names::safe_name;
use super::registry::{CellKind, Key, SharedGroup, Update};
use crate::adapters::yaml;
use mixer_attributes::expr::Probes;
use mixer_rules::{Config, ExprId, InstancePlan, Plan};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

/// Why a handler could not be built from a loaded config (the config check normally catches
/// all of these first).
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("no handler at index {0}")]
    NoSuchHandler(usize),
    #[error("handler {handler}: invalid params: {problems}")]
    Params { handler: String, problems: String },
    #[error("metric {metric}: no metric instance {instance:?}")]
    NoInstance { metric: String, instance: String },
    #[error("metric {metric}: label {label:?} is not a dimension of instance {instance}")]
    NoDimension {
        metric: String,
        label: String,
        instance: String,
    },
}

/// One exported family.
#[derive(Debug)]
pub(crate) struct Family {
    pub name: String,
    pub help: String,
    pub kind: Kind,
    pub bounds: Vec<f64>,
    pub unit: DurationUnit,
    pub value: Option<ExprId>,
    pub group: usize,
    pub slot: usize,
}

/// Families reading the same label expressions (same exported names, same `ExprId`s).
#[derive(Debug)]
pub(crate) struct Group {
    /// Exported label names, sorted (the exposition order), with their expressions.
    pub labels: Vec<(String, ExprId)>,
    /// What the label expressions read: a bag's label set is memoised by it.
    pub probes: Probes,
    /// Family index of each slot.
    pub families: Vec<usize>,
}

#[derive(Debug)]
pub(crate) struct Binding {
    /// Address of the bound `InstancePlan` in the plan the handler was built from.
    pub addr: usize,
    pub name: String,
    pub families: Vec<usize>,
}

/// What the handler and its batches share.
#[derive(Debug)]
pub(crate) struct Layout {
    pub families: Vec<Family>,
    pub groups: Vec<Group>,
    pub bindings: Vec<Binding>,
    /// Family indices sorted by exported name.
    pub render_order: Vec<usize>,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub overflowed: AtomicU64,
    pub value_errors: AtomicU64,
    pub eval_errors: AtomicU64,
    pub expired: AtomicU64,
}

/// Self-metrics of one exported metric, for the monitoring port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricStats {
    /// Exported family name (the `metric` label of the self-metrics).
    pub metric: String,
    /// `mixer_prometheus_series`: live series, the overflow series included.
    pub series: u64,
    /// `mixer_prometheus_series_overflow_total`: samples sent to the overflow series
    /// because the metric was at `max_series_per_metric`.
    pub overflowed: u64,
    /// `mixer_prometheus_value_errors_total`: instances skipped because the value was not
    /// numeric (or a counter would decrease).
    pub value_errors: u64,
    /// `mixer_prometheus_eval_errors_total`: instances skipped because a dimension or the
    /// value failed to evaluate.
    pub eval_errors: u64,
    /// `mixer_prometheus_expired_series_total`: series deleted by the expiration policy.
    pub expired: u64,
}

/// What one exported metric has counted: the sum of a counter's series, or the observations
/// of a histogram's (its `_count`s). Gauges have none (a sum of gauges means nothing).
#[derive(Clone, Debug, PartialEq)]
pub struct MetricTotal {
    pub metric: String,
    pub total: f64,
}

/// A prometheus handler: its families and series. `Send + Sync`; share it behind an `Arc`.
#[derive(Debug)]
pub struct PrometheusHandler {
    pub(crate) layout: Arc<Layout>,
    /// Per label group; shared with the handler of the previous config when the group is
    /// unchanged (see `inherit`).
    pub(crate) shared: Vec<Arc<Mutex<SharedGroup>>>,
    /// Per family; shared likewise.
    pub(crate) counters: Vec<Arc<Counters>>,
    max_series: usize,
    expiration: Option<ExpirationPolicy>,
}

impl PrometheusHandler {
    /// Builds handler `handler` of a loaded config, binding its metrics to `plan` (which must
    /// be `Plan::new(config)`: the handler is rebuilt with every new plan).
    pub fn new(
        config: &Config,
        handler: usize,
        plan: &Plan,
    ) -> Result<PrometheusHandler, BuildError> {
        let h = config
            .handlers
            .get(handler)
            .ok_or(BuildError::NoSuchHandler(handler))?;
        let params = Params::parse(&h.params).map_err(|p| BuildError::Params {
            handler: h.name.to_string(),
            problems: yaml::one_line(&p),
        })?;
        let namespace = &h.name.namespace;
        PrometheusHandler::build(&params, plan, |reference| {
            let i = resolve(reference, namespace, config)?;
            plan.instances().get(i)
        })
    }

    /// Builds a handler from parsed params; `instance` finds the plan of an `instance_name`
    /// in `plan`.
    pub fn build<'p>(
        params: &Params,
        plan: &Plan,
        mut instance: impl FnMut(&str) -> Option<&'p InstancePlan>,
    ) -> Result<PrometheusHandler, BuildError> {
        let (mut families, mut groups, mut bindings) =
            (Vec::new(), Vec::<Group>::new(), Vec::<Binding>::new());
        for m in &params.metrics {
            let metric = m.exported_name();
            let inst = instance(&m.instance_name).ok_or_else(|| BuildError::NoInstance {
                metric: metric.clone(),
                instance: m.instance_name.clone(),
            })?;
            let dims = inst.map("dimensions").unwrap_or(&[]);
            let mut labels = Vec::with_capacity(m.label_names.len());
            for l in &m.label_names {
                let id = dims
                    .iter()
                    .find(|(k, _)| k == l)
                    .map(|(_, id)| *id)
                    .ok_or_else(|| BuildError::NoDimension {
                        metric: metric.clone(),
                        label: l.clone(),
                        instance: inst.name.clone(),
                    })?;
                labels.push((safe_name(l), id));
            }
            labels.sort_by(|a, b| a.0.cmp(&b.0));
            let f = families.len();
            let group = match groups.iter().position(|g| g.labels == labels) {
                Some(g) => g,
                None => {
                    let probes = Probes::of(labels.iter().map(|(_, id)| plan.expression(*id)));
                    groups.push(Group {
                        labels,
                        probes,
                        families: Vec::new(),
                    });
                    groups.len() - 1
                }
            };
            let slot = groups[group].families.len();
            groups[group].families.push(f);
            families.push(Family {
                name: metric,
                help: m.help().to_owned(),
                kind: m.kind,
                bounds: m.bounds(),
                unit: m.duration_unit,
                value: inst.field("value"),
                group,
                slot,
            });
            let addr = inst as *const InstancePlan as usize;
            match bindings.iter_mut().find(|b| b.addr == addr) {
                Some(b) => b.families.push(f),
                None => bindings.push(Binding {
                    addr,
                    name: inst.name.clone(),
                    families: vec![f],
                }),
            }
        }
        let mut render_order: Vec<usize> = (0..families.len()).collect();
        render_order.sort_by(|a, b| families[*a].name.cmp(&families[*b].name));
        let shared = groups
            .iter()
            .map(|g| {
                Arc::new(Mutex::new(SharedGroup::new(
                    g.families
                        .iter()
                        .map(|&f| families[f].bounds.len())
                        .collect(),
                )))
            })
            .collect();
        let counters = families.iter().map(|_| Arc::default()).collect();
        Ok(PrometheusHandler {
            layout: Arc::new(Layout {
                families,
                groups,
                bindings,
                render_order,
            }),
            shared,
            counters,
            max_series: params.max_series_per_metric,
            expiration: params.expiration,
        })
    }

    /// The expiration policy: call [`expire`](Self::expire) every `check_interval`.
    pub fn expiration(&self) -> Option<ExpirationPolicy> {
        self.expiration
    }

    /// A new, empty batch for this handler (keep one per worker and reuse it).
    pub fn batch(&self) -> Batch {
        Batch::new(Arc::clone(&self.layout))
    }

    /// Merges `batch` into the shared series (one lock per label group) and empties it. A
    /// batch of another handler is emptied and ignored.
    pub fn merge(&self, batch: &mut Batch, now: Instant) {
        if !Arc::ptr_eq(&self.layout, &batch.layout) {
            batch.clear();
            return;
        }
        for (f, (value_errors, eval_errors)) in batch.errors.iter_mut().enumerate() {
            self.counters[f]
                .value_errors
                .fetch_add(std::mem::take(value_errors), Relaxed);
            self.counters[f]
                .eval_errors
                .fetch_add(std::mem::take(eval_errors), Relaxed);
        }
        for (g, local) in batch.groups.iter().enumerate() {
            if local.series.is_empty() {
                continue;
            }
            let group = &self.layout.groups[g];
            let mut shared = lock(&self.shared[g]);
            let slots = group.families.len();
            let mut updates = Vec::with_capacity(slots);
            for (i, s) in local.series.iter().enumerate() {
                updates.clear();
                for (slot, &f) in group.families.iter().enumerate() {
                    let c = &local.cells[i * slots + slot];
                    let kind = match self.layout.families[f].kind {
                        Kind::Counter => CellKind::Add,
                        Kind::Gauge => CellKind::Set,
                        Kind::Distribution => CellKind::Observe,
                    };
                    let nb = self.layout.families[f].bounds.len();
                    let buckets = if c.buckets == NONE {
                        &[][..]
                    } else {
                        &local.buckets[c.buckets as usize..][..nb]
                    };
                    updates.push(Update {
                        slot,
                        n: c.n,
                        value: c.value,
                        buckets,
                        kind,
                    });
                }
                let text = &local.text[s.text.0 as usize..s.text.1 as usize];
                let ends = &local.ends[s.ends.0 as usize..s.ends.1 as usize];
                shared.merge(
                    Key {
                        hash: s.hash,
                        text,
                        ends,
                    },
                    &updates,
                    self.max_series,
                    now,
                    |slot, n| {
                        self.counters[group.families[slot]]
                            .overflowed
                            .fetch_add(n, Relaxed);
                    },
                );
            }
        }
        batch.clear();
    }

    /// Deletes series not updated for the policy's expiry (nothing without a policy).
    pub fn expire(&self, now: Instant) {
        let Some(policy) = self.expiration else {
            return;
        };
        for (g, shared) in self.shared.iter().enumerate() {
            let families = &self.layout.groups[g].families;
            lock(shared).expire(now, policy.expiry, |slot| {
                self.counters[families[slot]].expired.fetch_add(1, Relaxed);
            });
        }
    }

    /// Self-metrics per exported metric, in exposition order.
    pub fn stats(&self) -> Vec<MetricStats> {
        self.layout
            .render_order
            .iter()
            .map(|&f| {
                let fam = &self.layout.families[f];
                let c = &self.counters[f];
                MetricStats {
                    metric: fam.name.clone(),
                    series: lock(&self.shared[fam.group]).series_count(fam.slot) as u64,
                    overflowed: c.overflowed.load(Relaxed),
                    value_errors: c.value_errors.load(Relaxed),
                    eval_errors: c.eval_errors.load(Relaxed),
                    expired: c.expired.load(Relaxed),
                }
            })
            .collect()
    }

    /// What every counter and histogram has counted, over its live series (expired series
    /// and their counts are gone, as they are from the exposition), in exposition order.
    pub fn totals(&self) -> Vec<MetricTotal> {
        self.layout
            .render_order
            .iter()
            .filter_map(|&f| {
                let fam = &self.layout.families[f];
                let cell = |s: &super::registry::Series| -> f64 {
                    let c = &s.cells[fam.slot];
                    match (c.updated, fam.kind) {
                        (None, _) | (_, Kind::Gauge) => 0.0,
                        (Some(_), Kind::Counter) => c.value,
                        (Some(_), Kind::Distribution) => c.count as f64,
                    }
                };
                // A fold from +0: `sum` of no floats is -0, which would print as "-0".
                (fam.kind != Kind::Gauge).then(|| MetricTotal {
                    metric: fam.name.clone(),
                    total: lock(&self.shared[fam.group])
                        .series
                        .iter()
                        .map(cell)
                        .fold(0.0, |a, b| a + b),
                })
            })
            .collect()
    }
}

pub(crate) fn lock(m: &Mutex<SharedGroup>) -> MutexGuard<'_, SharedGroup> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The config index of the instance `reference` names from namespace `ns` (Mixer's
/// `name`, `name.kind`, `name.namespace`, `name.kind.namespace`).
fn resolve(reference: &str, ns: &str, config: &Config) -> Option<usize> {
    let find = |n: &str, ns: &str| {
        config
            .instances
            .iter()
            .position(|i| i.name.name == n && i.name.namespace == ns)
    };
    let kind_word = |w: &str| !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric());
    let parts: Vec<&str> = reference.split('.').collect();
    match parts.as_slice() {
        [name] => find(name, ns),
        [name, second] => find(name, second).or_else(|| {
            if kind_word(second) {
                find(name, ns)
            } else {
                None
            }
        }),
        [name, kind, namespace] if kind_word(kind) => find(name, namespace),
        _ => None,
    }
}
