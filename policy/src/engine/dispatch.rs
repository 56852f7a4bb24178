//! Which rules a bag's Check runs, evaluated with every read recorded: the namespace lookup
//! (`context.reporter.kind`, then `destination.namespace` — or `source.namespace` for an
//! outbound reporter), each rule's `match`, and the fields of each instance built. Rules in
//! `istio-system` apply to every bag; others only to bags of their namespace (spec §1.10).
//!
//! Telemetry's shared, memoised `Plan` does not record reads; policy decisions must, so Check
//! walks the config's rules itself.

use crate::adapters::{FieldValue, Instance};
use crate::self_metrics::PolicyMetrics;
use mixer_attributes::expr::EvalValue;
use mixer_attributes::referenced::{Recorder, Referenced};
use mixer_attributes::{AttrId, AttrRef, Attributes, Value, Vocabulary};
use mixer_rules::{Config, Template, Variety, DEFAULT_NAMESPACE};
use rustc_hash::FxHashMap;

/// A rule (index into `Config::rules`) with its (handler, instance) pairs of one variety.
type Dispatch = (usize, Vec<(usize, usize)>);

/// Rules of one variety, by the namespace they apply to.
#[derive(Debug, Default)]
struct Scoped {
    everywhere: Vec<Dispatch>,
    by_namespace: FxHashMap<String, Vec<Dispatch>>,
}

impl Scoped {
    fn for_namespace(&self, ns: Option<&str>) -> impl Iterator<Item = &Dispatch> {
        let local = ns
            .and_then(|ns| self.by_namespace.get(ns))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        self.everywhere.iter().chain(local)
    }
}

/// The check and quota rules of a config.
#[derive(Debug)]
pub(crate) struct Rules {
    check: Scoped,
    quota: Scoped,
    /// Fully-qualified instance names, indexed like `Config::instances`.
    instance_names: Vec<String>,
    reporter_kind: AttrRef<'static>,
    source_ns: AttrRef<'static>,
    destination_ns: AttrRef<'static>,
}

fn attr(vocab: &Vocabulary, name: &'static str) -> AttrRef<'static> {
    AttrRef {
        id: vocab.id(name).unwrap_or(AttrId(u32::MAX)),
        name,
    }
}

impl Rules {
    pub(crate) fn new(config: &Config) -> Rules {
        let (mut check, mut quota) = (Scoped::default(), Scoped::default());
        for (r, rule) in config.rules.iter().enumerate() {
            for (variety, scoped) in [(Variety::Check, &mut check), (Variety::Quota, &mut quota)] {
                let pairs: Vec<(usize, usize)> = rule
                    .actions
                    .iter()
                    .flat_map(|a| a.instances.iter().map(move |&i| (a.handler, i)))
                    .filter(|&(_, i)| config.instances[i].template.variety() == variety)
                    .collect();
                if pairs.is_empty() {
                    continue;
                }
                if rule.name.namespace == DEFAULT_NAMESPACE {
                    scoped.everywhere.push((r, pairs));
                } else {
                    scoped
                        .by_namespace
                        .entry(rule.name.namespace.clone())
                        .or_default()
                        .push((r, pairs));
                }
            }
        }
        let vocab = &config.vocabulary;
        Rules {
            check,
            quota,
            instance_names: config
                .instances
                .iter()
                .map(|i| i.name.to_string())
                .collect(),
            reporter_kind: attr(vocab, "context.reporter.kind"),
            source_ns: attr(vocab, "source.namespace"),
            destination_ns: attr(vocab, "destination.namespace"),
        }
    }
}

/// What one Check dispatch needs.
pub(crate) struct Cx<'e> {
    pub(crate) config: &'e Config,
    pub(crate) rules: &'e Rules,
    pub(crate) metrics: &'e PolicyMetrics,
}

impl Cx<'_> {
    /// The namespace whose rules apply, recording the reads that chose it.
    fn namespace<'b, A: Attributes>(&self, bag: &'b A, refs: &mut Referenced) -> Option<&'b str> {
        let r = self.rules;
        let kind = bag.get(r.reporter_kind);
        refs.attribute(r.reporter_kind, kind.as_ref());
        let which = if matches!(kind, Some(Value::String("outbound"))) {
            r.source_ns
        } else {
            r.destination_ns
        };
        let ns = bag.get(which);
        refs.attribute(which, ns.as_ref());
        match ns {
            Some(Value::String(s)) => Some(s),
            _ => None,
        }
    }

    /// Rules of `scoped` whose match holds for `bag` (a match that cannot be evaluated is
    /// false, as in Mixer, and counted).
    fn matching<'s, A: Attributes>(
        &'s self,
        scoped: &'s Scoped,
        bag: &A,
        refs: &mut Referenced,
    ) -> Vec<&'s [(usize, usize)]> {
        let ns = self.namespace(bag, refs);
        let mut out = Vec::new();
        for (r, pairs) in scoped.for_namespace(ns) {
            if let Some(p) = &self.config.rules[*r].predicate {
                match p.evaluate_bool(bag, refs) {
                    Ok(true) => {}
                    Ok(false) => continue,
                    Err(_) => {
                        self.metrics.match_errors.inc();
                        continue;
                    }
                }
            }
            out.push(pairs.as_slice());
        }
        out
    }

    /// Calls `f(handler, instance)` for every check instance a matching rule sends to a
    /// handler, in rule order. An instance that cannot be built fails the whole check.
    pub(crate) fn each_check_instance<A: Attributes>(
        &self,
        bag: &A,
        refs: &mut Referenced,
        mut f: impl FnMut(usize, &Instance<'_>),
    ) -> Result<(), String> {
        for pairs in self.matching(&self.rules.check, bag, refs) {
            for &(handler, instance) in pairs {
                let built = self.build(instance, bag, refs)?;
                f(handler, &built);
            }
        }
        Ok(())
    }

    /// Like [`each_check_instance`](Self::each_check_instance) for the quota instances whose
    /// short name is `quota` (compared case-insensitively, as Mixer does).
    pub(crate) fn each_quota_instance<A: Attributes>(
        &self,
        bag: &A,
        quota: &str,
        refs: &mut Referenced,
        mut f: impl FnMut(usize, &Instance<'_>),
    ) -> Result<(), String> {
        for pairs in self.matching(&self.rules.quota, bag, refs) {
            for &(handler, instance) in pairs {
                if !self.config.instances[instance]
                    .name
                    .name
                    .eq_ignore_ascii_case(quota)
                {
                    continue;
                }
                let built = self.build(instance, bag, refs)?;
                f(handler, &built);
            }
        }
        Ok(())
    }

    /// Evaluates instance `index`'s fields against `bag`, recording reads.
    fn build<'a, A: Attributes>(
        &'a self,
        index: usize,
        bag: &'a A,
        refs: &mut Referenced,
    ) -> Result<Instance<'a>, String> {
        let inst = &self.config.instances[index];
        let fail = |field: &str, e: &dyn std::fmt::Display| {
            format!("instance {}: {field}: {e}", inst.name)
        };
        let mut value: Option<EvalValue<'a>> = None;
        if inst.template == Template::ListEntry {
            if let Some(e) = inst.field("value") {
                value = Some(
                    e.evaluate_recorded(bag, refs)
                        .map_err(|e| fail("value", &e))?,
                );
            }
        }
        let mut dimensions = Vec::new();
        if let Some(m) = inst.map("dimensions") {
            for (k, e) in &m.entries {
                let v = e
                    .evaluate_recorded(bag, refs)
                    .map_err(|e| fail(&format!("dimensions.{k}"), &e))?;
                dimensions.push((k.as_str(), v));
            }
        }
        let mut fields = Vec::new();
        if inst.template == Template::Authorization {
            for f in &inst.fields {
                let value = f
                    .expr
                    .evaluate_recorded(bag, refs)
                    .map_err(|e| fail(&f.field, &e))?;
                fields.push(FieldValue {
                    field: &f.field,
                    key: None,
                    value,
                });
            }
            for m in &inst.maps {
                for (k, e) in &m.entries {
                    let value = e
                        .evaluate_recorded(bag, refs)
                        .map_err(|e| fail(&format!("{}.{k}", m.field), &e))?;
                    fields.push(FieldValue {
                        field: &m.field,
                        key: Some(k),
                        value,
                    });
                }
            }
        }
        Ok(Instance {
            name: self.instance_name(index),
            value,
            dimensions,
            fields,
        })
    }

    fn instance_name(&self, index: usize) -> &str {
        &self.rules.instance_names[index]
    }
}
