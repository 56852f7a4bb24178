//! The compiled dispatch plan: for one bag, which rules match and the instances they build for
//! which handlers. Identical expressions across instances and rules (the twenty dimensions the
//! four HTTP metrics share) are compiled once and evaluated at most once per bag, on first use.

use crate::document::DEFAULT_NAMESPACE;
use crate::model::Config;
use crate::template::{Template, Variety};
use mixer_attributes::expr::{EvalError, EvalValue, Expression, ProbeMemo, Probes};
use mixer_attributes::referenced::NoRecord;
use mixer_attributes::{AttrRef, Attributes, Value, Vocabulary};
use rustc_hash::FxHashMap;
use std::sync::atomic::{AtomicU64, Ordering};

/// Report-rule predicate results remembered per rule and worker (see [`Memo`]).
const PREDICATE_MEMO_ENTRIES: usize = 1024;

/// Numbers plans, so a [`Memo`] knows which plan it remembers for.
static NEXT_PLAN: AtomicU64 = AtomicU64::new(1);

/// Index of a unique expression in a [`Plan`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ExprId(pub u32);

/// An instance with its expressions replaced by [`ExprId`]s.
#[derive(Clone, Debug)]
pub struct InstancePlan {
    /// Fully-qualified name, `requestcount.instance.istio-system`.
    pub name: String,
    pub template: Template,
    /// Scalar fields, in the order the document gave them.
    pub fields: Vec<(String, ExprId)>,
    /// Map fields, entries sorted by key.
    pub maps: Vec<(String, Vec<(String, ExprId)>)>,
}

impl InstancePlan {
    pub fn field(&self, name: &str) -> Option<ExprId> {
        self.fields.iter().find(|(f, _)| f == name).map(|(_, e)| *e)
    }

    pub fn map(&self, name: &str) -> Option<&[(String, ExprId)]> {
        self.maps
            .iter()
            .find(|(f, _)| f == name)
            .map(|(_, m)| m.as_slice())
    }
}

#[derive(Clone, Debug)]
struct RulePlan {
    predicate: Option<ExprId>,
    /// The predicate's [`Expression::guard`]: an attribute that must equal this string for
    /// the predicate to hold, checked first (one shared lookup for many such rules).
    guard: Option<(ExprId, Box<str>)>,
    /// What the predicate reads, when it reads more than one thing: its result is remembered
    /// by those reads (report rules only; check rules record what they read).
    probes: Option<Probes>,
    /// (handler, instance) pairs of this variety, in action order.
    pairs: Vec<(usize, usize)>,
}

/// Rules of one variety, split by the namespace they apply to.
#[derive(Clone, Debug, Default)]
struct Scoped {
    everywhere: Vec<usize>,
    by_namespace: FxHashMap<String, Vec<usize>>,
}

/// Which attributes pick a bag's namespace (spec §1.10).
#[derive(Clone, Debug)]
struct NamespaceAttrs {
    reporter_kind: AttrRef<'static>,
    source: AttrRef<'static>,
    destination: AttrRef<'static>,
}

/// The dispatch plan of a validated [`Config`].
#[derive(Clone, Debug)]
pub struct Plan {
    id: u64,
    exprs: Vec<Expression>,
    instances: Vec<InstancePlan>,
    rules: Vec<RulePlan>,
    report: Scoped,
    check: Scoped,
    quota: Scoped,
    ns: NamespaceAttrs,
}

impl Plan {
    pub fn new(config: &Config) -> Plan {
        let mut b = Builder {
            exprs: Vec::new(),
            ids: FxHashMap::default(),
        };
        let instances = config
            .instances
            .iter()
            .map(|i| InstancePlan {
                name: i.name.to_string(),
                template: i.template,
                fields: i
                    .fields
                    .iter()
                    .map(|f| (f.field.clone(), b.id(&f.expr)))
                    .collect(),
                maps: i
                    .maps
                    .iter()
                    .map(|m| {
                        (
                            m.field.clone(),
                            m.entries
                                .iter()
                                .map(|(k, e)| (k.clone(), b.id(e)))
                                .collect(),
                        )
                    })
                    .collect(),
            })
            .collect::<Vec<_>>();
        let mut rules = Vec::new();
        let (mut report, mut check, mut quota) =
            (Scoped::default(), Scoped::default(), Scoped::default());
        for rule in &config.rules {
            let predicate = rule.predicate.as_ref().map(|e| b.id(e));
            let guard = rule
                .predicate
                .as_ref()
                .and_then(Expression::guard)
                .map(|(attr, k)| (b.id(&attr), Box::from(k)));
            let probes = rule
                .predicate
                .as_ref()
                .map(|e| Probes::of([e]))
                .filter(|p| p.len() > 1);
            for (variety, scoped) in [
                (Variety::Report, &mut report),
                (Variety::Check, &mut check),
                (Variety::Quota, &mut quota),
            ] {
                let pairs: Vec<(usize, usize)> = rule
                    .actions
                    .iter()
                    .flat_map(|a| a.instances.iter().map(move |&i| (a.handler, i)))
                    .filter(|&(_, i)| instances[i].template.variety() == variety)
                    .collect();
                if pairs.is_empty() {
                    continue;
                }
                let id = rules.len();
                rules.push(RulePlan {
                    predicate,
                    guard: guard.clone(),
                    probes: probes.clone().filter(|_| variety == Variety::Report),
                    pairs,
                });
                if rule.name.namespace == DEFAULT_NAMESPACE {
                    scoped.everywhere.push(id);
                } else {
                    scoped
                        .by_namespace
                        .entry(rule.name.namespace.clone())
                        .or_default()
                        .push(id);
                }
            }
        }
        Plan {
            id: NEXT_PLAN.fetch_add(1, Ordering::Relaxed),
            exprs: b.exprs,
            instances,
            rules,
            report,
            check,
            quota,
            ns: NamespaceAttrs::new(&config.vocabulary),
        }
    }

    /// Number of unique expressions (after sharing).
    pub fn expression_count(&self) -> usize {
        self.exprs.len()
    }

    pub fn expression(&self, id: ExprId) -> &Expression {
        &self.exprs[id.0 as usize]
    }

    /// Instance plans, indexed like `Config::instances`.
    pub fn instances(&self) -> &[InstancePlan] {
        &self.instances
    }

    /// A per-bag evaluator; reuse it across bags with [`Evaluator::reset`].
    pub fn evaluator<'a, A: Attributes>(&'a self, bag: &'a A) -> Evaluator<'a, A> {
        self.evaluator_with(bag, Memo::default())
    }

    /// A per-bag evaluator using the memory of an earlier one ([`Evaluator::into_memo`]), for
    /// loops whose bags do not outlive one iteration: no allocation once warm.
    pub fn evaluator_with<'a, A: Attributes>(&'a self, bag: &'a A, memo: Memo) -> Evaluator<'a, A> {
        let Memo {
            plan,
            mut stamps,
            mut generation,
            values,
            mut predicates,
        } = memo;
        if plan != self.id {
            stamps.clear();
            stamps.resize(self.exprs.len(), (0, 0));
            generation = 0;
            predicates.clear();
            predicates.resize_with(self.rules.len(), || ProbeMemo::new(PREDICATE_MEMO_ENTRIES));
        }
        generation = generation.wrapping_add(1);
        if generation == 0 {
            stamps.iter_mut().for_each(|s| *s = (0, 0));
            generation = 1;
        }
        Evaluator {
            plan: self,
            bag,
            stamps,
            generation,
            // empty: the in-place collect only changes the lifetime
            values: values
                .into_iter()
                .map(|_| Ok(EvalValue::Bool(false)))
                .collect(),
            predicates,
        }
    }

    /// The namespace whose rules apply to `bag`: the destination's for inbound reports (the
    /// default), the source's for outbound ones.
    fn namespace<'a, A: Attributes>(&self, bag: &'a A) -> Option<&'a str> {
        let outbound =
            matches!(bag.get(self.ns.reporter_kind), Some(Value::String(k)) if k == "outbound");
        let attr = if outbound {
            self.ns.source
        } else {
            self.ns.destination
        };
        match bag.get(attr) {
            Some(Value::String(ns)) => Some(ns),
            _ => None,
        }
    }

    /// Calls `f(evaluator, handler, instance)` for every instance of `variety` that a rule
    /// matching the evaluator's bag sends to a handler, in rule order. Rules whose match fails
    /// to evaluate are skipped and passed to `on_error`.
    pub fn dispatch<'a, A: Attributes>(
        &'a self,
        ev: &mut Evaluator<'a, A>,
        variety: Variety,
        mut f: impl FnMut(&mut Evaluator<'a, A>, usize, &'a InstancePlan),
        mut on_error: impl FnMut(&EvalError),
    ) {
        let scoped = match variety {
            Variety::Report => &self.report,
            Variety::Check => &self.check,
            Variety::Quota => &self.quota,
        };
        let local = self
            .namespace(ev.bag)
            .and_then(|ns| scoped.by_namespace.get(ns))
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        for &r in scoped.everywhere.iter().chain(local) {
            let rule = &self.rules[r];
            if let Some(p) = rule.predicate {
                if let Some((attr, k)) = &rule.guard {
                    // decides the predicate exactly as evaluating it would (see `guard`)
                    match ev.value(*attr) {
                        Ok(EvalValue::String(v)) if **v != **k => continue,
                        Ok(_) => {}
                        Err(e) => {
                            on_error(e);
                            continue;
                        }
                    }
                }
                let known = match &rule.probes {
                    Some(probes) => ev.predicates[r].lookup(probes, ev.bag),
                    None => None,
                };
                let holds = match known {
                    Some(i) => *ev.predicates[r].value(i),
                    None => {
                        let holds = match ev.value(p) {
                            Ok(v) => matches!(v, EvalValue::Bool(true)),
                            Err(e) => {
                                on_error(e);
                                continue;
                            }
                        };
                        ev.predicates[r].insert(holds);
                        holds
                    }
                };
                if !holds {
                    continue;
                }
            }
            for &(handler, instance) in &rule.pairs {
                f(ev, handler, &self.instances[instance]);
            }
        }
    }
}

impl NamespaceAttrs {
    fn new(vocab: &Vocabulary) -> NamespaceAttrs {
        let r = |name: &'static str| AttrRef {
            id: vocab.id(name).unwrap_or(mixer_attributes::AttrId(u32::MAX)),
            name,
        };
        NamespaceAttrs {
            reporter_kind: r("context.reporter.kind"),
            source: r("source.namespace"),
            destination: r("destination.namespace"),
        }
    }
}

struct Builder {
    exprs: Vec<Expression>,
    ids: FxHashMap<(String, mixer_attributes::ValueType), ExprId>,
}

impl Builder {
    fn id(&mut self, e: &Expression) -> ExprId {
        let key = (e.text().to_owned(), e.result_type());
        *self.ids.entry(key).or_insert_with(|| {
            self.exprs.push(e.clone());
            ExprId(self.exprs.len() as u32 - 1)
        })
    }
}

/// The memory of an [`Evaluator`], carried by a worker from bag to bag: which expressions
/// the current bag has evaluated (stamped with the bag's generation, so the next bag starts
/// afresh without touching every slot) and, per report rule, predicate results by what the
/// predicate reads. Used with another plan, it starts over.
#[derive(Debug, Default)]
pub struct Memo {
    plan: u64,
    /// Per expression: the generation that evaluated it, and where its value is.
    stamps: Vec<(u32, u32)>,
    generation: u32,
    /// Always empty here (its buffer is reused).
    values: Vec<Result<EvalValue<'static>, EvalError>>,
    predicates: Vec<ProbeMemo<bool>>,
}

/// Evaluates a plan's expressions against one bag, each at most once.
#[derive(Debug)]
pub struct Evaluator<'a, A> {
    plan: &'a Plan,
    bag: &'a A,
    stamps: Vec<(u32, u32)>,
    generation: u32,
    values: Vec<Result<EvalValue<'a>, EvalError>>,
    predicates: Vec<ProbeMemo<bool>>,
}

impl<'a, A: Attributes> Evaluator<'a, A> {
    /// The value of expression `id` for this bag.
    pub fn value(&mut self, id: ExprId) -> Result<&EvalValue<'a>, &EvalError> {
        let i = id.0 as usize;
        let (generation, at) = self.stamps[i];
        if generation == self.generation {
            return self.values[at as usize].as_ref();
        }
        let v = self.plan.exprs[i].evaluate_recorded(self.bag, &mut NoRecord);
        let at = self.values.len();
        self.values.push(v);
        self.stamps[i] = (self.generation, at as u32);
        self.values[at].as_ref()
    }

    pub fn bag(&self) -> &'a A {
        self.bag
    }

    /// This evaluator's memory, for [`Plan::evaluator_with`].
    pub fn into_memo(self) -> Memo {
        let mut values = self.values;
        values.clear();
        Memo {
            plan: self.plan.id,
            stamps: self.stamps,
            generation: self.generation,
            // empty: the in-place collect only changes the lifetime
            values: values
                .into_iter()
                .map(|_| Ok(EvalValue::Bool(false)))
                .collect(),
            predicates: self.predicates,
        }
    }

    /// This evaluator's memory, for another bag.
    pub fn reset<'b>(self, bag: &'b A) -> Evaluator<'b, A>
    where
        'a: 'b,
    {
        let plan = self.plan;
        plan.evaluator_with(bag, self.into_memo())
    }
}
