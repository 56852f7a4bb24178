//! The per-Report [`Batch`]: for each bag, the label set of each label group is evaluated,
//! stringified straight into the batch's arena and hashed once, then every metric of the
//! group pre-aggregates into its cell for that set. Nothing shared is touched until
//! [`PrometheusHandler::merge`](super::PrometheusHandler::merge).

use super::adapter::{Group, Layout};
use super::config::Kind;
use super::label_memo::LabelMemo;
use super::labels::{self, Index, NONE};
use super::stringify::{self, ValueError};
use mixer_attributes::Attributes;
use mixer_rules::{Evaluator, ExprId, InstancePlan};
use std::cmp::Ordering::{Equal, Greater};
use std::sync::Arc;

/// One label set of a batch.
#[derive(Debug)]
pub(super) struct LocalSeries {
    pub(super) hash: u64,
    next: u32,
    pub(super) text: (u32, u32),
    pub(super) ends: (u32, u32),
}

/// One metric's pre-aggregate for one label set of a batch.
#[derive(Debug, Clone, Copy)]
pub(super) struct LocalCell {
    pub(super) n: u64,
    pub(super) value: f64,
    /// Offset of this cell's bucket counts in `LocalGroup::buckets`, or `NONE`.
    pub(super) buckets: u32,
}

impl Default for LocalCell {
    fn default() -> Self {
        LocalCell {
            n: 0,
            value: 0.0,
            buckets: NONE,
        }
    }
}

#[derive(Debug, Default)]
pub(super) struct LocalGroup {
    /// Generation of the bag whose label set is memoised, and that set (`None`: failed).
    memo: (u64, Option<u32>),
    index: Index,
    pub(super) series: Vec<LocalSeries>,
    pub(super) text: String,
    pub(super) ends: Vec<u32>,
    pub(super) cells: Vec<LocalCell>,
    pub(super) buckets: Vec<u64>,
    /// Non-string values of the set being looked up, formatted; and per label where its
    /// text starts in `scratch` (`NONE` for a string value, read from the evaluator).
    scratch: String,
    formatted: Vec<u32>,
    /// Label sets by what their expressions read, kept across Reports.
    known: LabelMemo,
    /// Bumped whenever `series` is cleared (the memo's series numbers go stale).
    epoch: u64,
}

/// A Report's worth of samples, pre-aggregated per label set; merge it with
/// [`PrometheusHandler::merge`]. Reused across Reports, it stops allocating once warm.
#[derive(Debug)]
pub struct Batch {
    pub(super) layout: Arc<Layout>,
    generation: u64,
    pub(super) groups: Vec<LocalGroup>,
    /// Per family: (value errors, evaluation errors).
    pub(super) errors: Vec<(u64, u64)>,
}

impl Batch {
    pub(super) fn new(layout: Arc<Layout>) -> Batch {
        let groups = layout
            .groups
            .iter()
            .map(|_| LocalGroup::default())
            .collect();
        let errors = vec![(0, 0); layout.families.len()];
        Batch {
            layout,
            generation: 0,
            groups,
            errors,
        }
    }

    /// Starts the next bag: returns the recorder for that bag's instances.
    pub fn bag(&mut self) -> BagRecorder<'_> {
        self.next_bag();
        BagRecorder { batch: self }
    }

    /// Starts the next bag, for callers that interleave several handlers' batches and record
    /// with [`Batch::record`].
    pub fn next_bag(&mut self) {
        self.generation += 1;
    }

    /// Records `instance` for the current bag (see [`BagRecorder::record`]).
    pub fn record<A: Attributes>(
        &mut self,
        ev: &mut Evaluator<'_, A>,
        instance: &InstancePlan,
    ) -> bool {
        BagRecorder { batch: self }.record(ev, instance)
    }

    /// Drops everything recorded since the last merge (the Report was rejected).
    pub fn discard(&mut self) {
        self.clear();
    }

    /// Number of distinct label sets held, over all groups.
    pub fn len(&self) -> usize {
        self.groups.iter().map(|g| g.series.len()).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn clear(&mut self) {
        for g in &mut self.groups {
            g.memo = (0, None);
            g.epoch += 1;
            g.index.clear();
            g.series.clear();
            g.text.clear();
            g.ends.clear();
            g.cells.clear();
            g.buckets.clear();
        }
        self.errors.iter_mut().for_each(|e| *e = (0, 0));
    }
}

/// Records one bag's instances into a [`Batch`]; label sets shared by several metrics are
/// evaluated, stringified and hashed once.
#[derive(Debug)]
pub struct BagRecorder<'b> {
    batch: &'b mut Batch,
}

impl BagRecorder<'_> {
    /// Records `instance` (as `Plan::dispatch` hands it over) into every metric bound to it;
    /// returns false when no metric of this handler reads that instance.
    pub fn record<A: Attributes>(
        &mut self,
        ev: &mut Evaluator<'_, A>,
        instance: &InstancePlan,
    ) -> bool {
        let Batch {
            layout,
            generation,
            groups,
            errors,
        } = &mut *self.batch;
        let addr = instance as *const InstancePlan as usize;
        let binding = layout
            .bindings
            .iter()
            .find(|b| b.addr == addr)
            .or_else(|| layout.bindings.iter().find(|b| b.name == instance.name));
        let Some(binding) = binding else { return false };
        for &f in &binding.families {
            record_family(layout, groups, &mut errors[f], *generation, ev, f);
        }
        true
    }
}

fn record_family<A: Attributes>(
    layout: &Layout,
    groups: &mut [LocalGroup],
    errors: &mut (u64, u64),
    generation: u64,
    ev: &mut Evaluator<'_, A>,
    f: usize,
) {
    let fam = &layout.families[f];
    let g = &mut groups[fam.group];
    let slots = layout.groups[fam.group].families.len();
    let Some(series) = g.labels(&layout.groups[fam.group], slots, generation, ev) else {
        errors.1 += 1;
        return;
    };
    let v = match fam.value.map(|id| ev.value(id)) {
        Some(Ok(v)) => stringify::value(v, fam.unit),
        Some(Err(_)) => {
            errors.1 += 1;
            return;
        }
        None => Err(ValueError::NotNumeric("missing value")),
    };
    let v = match v {
        Ok(v) if fam.kind == Kind::Counter && v < 0.0 => Err(ValueError::NegativeCounter(v)),
        v => v,
    };
    let Ok(v) = v else {
        errors.0 += 1;
        return;
    };
    let cell = &mut g.cells[series as usize * slots + fam.slot];
    cell.n += 1;
    match fam.kind {
        Kind::Counter => cell.value += v,
        Kind::Gauge => cell.value = v,
        Kind::Distribution => {
            cell.value += v;
            let nb = fam.bounds.len();
            if cell.buckets == NONE {
                cell.buckets = g.buckets.len() as u32;
                g.buckets.resize(g.buckets.len() + nb, 0);
            }
            // client_golang: the first bucket whose bound is >= v; NaN goes to +Inf only.
            let i = fam
                .bounds
                .partition_point(|b| !matches!(b.partial_cmp(&v), Some(Greater | Equal)));
            if i < nb {
                g.buckets[cell.buckets as usize + i] += 1;
            }
        }
    }
}

impl LocalGroup {
    /// The batch series of this bag's label set, found once per bag (`None`: a label failed
    /// to evaluate): by what the label expressions read when an earlier bag read the same,
    /// else by evaluating them.
    fn labels<A: Attributes>(
        &mut self,
        group: &Group,
        slots: usize,
        generation: u64,
        ev: &mut Evaluator<'_, A>,
    ) -> Option<u32> {
        if self.memo.0 == generation {
            return self.memo.1;
        }
        self.memo = (generation, None);
        let i = match self.known.lookup(&group.probes, ev.bag()) {
            Some(e) => {
                let entry = self.known.entry(e);
                if entry.epoch == self.epoch {
                    entry.series
                } else {
                    let (text, ends) = self.known.labels(&entry);
                    let mut sets = Sets {
                        index: &mut self.index,
                        series: &mut self.series,
                        text: &mut self.text,
                        ends: &mut self.ends,
                        cells: &mut self.cells,
                    };
                    let i = sets.find_or_add(entry.hash, text, ends, slots);
                    self.known.place(e, self.epoch, i);
                    i
                }
            }
            None => {
                let i = self.evaluate(&group.labels, slots, ev)?;
                let s = &self.series[i as usize];
                let text = &self.text[s.text.0 as usize..s.text.1 as usize];
                let ends = &self.ends[s.ends.0 as usize..s.ends.1 as usize];
                self.known.insert(text, ends, s.hash, self.epoch, i);
                i
            }
        };
        self.memo.1 = Some(i);
        Some(i)
    }

    fn sets(&mut self) -> Sets<'_> {
        Sets {
            index: &mut self.index,
            series: &mut self.series,
            text: &mut self.text,
            ends: &mut self.ends,
            cells: &mut self.cells,
        }
    }

    /// The batch series of this bag's label set, by evaluating the label expressions.
    fn evaluate<A: Attributes>(
        &mut self,
        labels: &[(String, ExprId)],
        slots: usize,
        ev: &mut Evaluator<'_, A>,
    ) -> Option<u32> {
        // Hash the values where they are (string values are borrowed from the bag or the
        // expression); only other types are formatted, into `scratch`. Copy into the arena
        // only when the set is new to this batch.
        let mut h = labels::Hashing::default();
        self.scratch.clear();
        self.formatted.clear();
        for (_, id) in labels {
            let v = ev.value(*id).ok()?;
            match v.as_str() {
                Some(s) => {
                    h.value(s);
                    self.formatted.push(NONE);
                }
                None => {
                    let start = self.scratch.len();
                    stringify::label(&mut self.scratch, v);
                    h.value(&self.scratch[start..]);
                    self.formatted.push(start as u32);
                }
            }
        }
        let hash = h.finish();
        let mut i = self.index.head(hash);
        while i != NONE {
            let s = &self.series[i as usize];
            if s.hash == hash && self.same(s, labels, ev) {
                return Some(i);
            }
            i = s.next;
        }
        let (text_start, ends_start) = (self.text.len(), self.ends.len());
        for (j, (_, id)) in labels.iter().enumerate() {
            let v = formatted_value(&self.scratch, &self.formatted, j);
            match v {
                Some(v) => self.text.push_str(v),
                None => {
                    if let Ok(v) = ev.value(*id) {
                        self.text.push_str(v.as_str().unwrap_or_default());
                    }
                }
            }
            self.ends.push((self.text.len() - text_start) as u32);
        }
        Some(self.sets().add(hash, text_start, ends_start, slots))
    }

    /// Whether batch series `s` holds the label set being looked up.
    fn same<A: Attributes>(
        &self,
        s: &LocalSeries,
        labels: &[(String, ExprId)],
        ev: &mut Evaluator<'_, A>,
    ) -> bool {
        let text = self
            .text
            .get(s.text.0 as usize..s.text.1 as usize)
            .unwrap_or_default();
        let ends = self
            .ends
            .get(s.ends.0 as usize..s.ends.1 as usize)
            .unwrap_or_default();
        if ends.len() != labels.len() {
            return false;
        }
        labels.iter().enumerate().all(|(j, (_, id))| {
            let stored = labels::value(text, ends, j);
            match formatted_value(&self.scratch, &self.formatted, j) {
                Some(v) => v == stored,
                None => ev.value(*id).ok().and_then(|v| v.as_str()) == Some(stored),
            }
        })
    }
}

/// The `j`-th value of the set being looked up when it is not a string (formatted in
/// `scratch`); `None` for a string value.
fn formatted_value<'s>(scratch: &'s str, formatted: &[u32], j: usize) -> Option<&'s str> {
    let start = *formatted.get(j)?;
    if start == NONE {
        return None;
    }
    let end = formatted
        .iter()
        .skip(j + 1)
        .find(|&&s| s != NONE)
        .map_or(scratch.len(), |&s| s as usize);
    scratch.get(start as usize..end)
}

/// The series storage of a [`LocalGroup`], borrowed apart from its label memo.
struct Sets<'g> {
    index: &'g mut Index,
    series: &'g mut Vec<LocalSeries>,
    text: &'g mut String,
    ends: &'g mut Vec<u32>,
    cells: &'g mut Vec<LocalCell>,
}

impl Sets<'_> {
    /// The series holding the label set `text` (values ending at `ends`, hashed `hash`),
    /// added if the batch has none.
    fn find_or_add(&mut self, hash: u64, text: &str, ends: &[u32], slots: usize) -> u32 {
        let mut i = self.index.head(hash);
        while i != NONE {
            let s = &self.series[i as usize];
            if s.hash == hash
                && self.text.get(s.text.0 as usize..s.text.1 as usize) == Some(text)
                && self.ends.get(s.ends.0 as usize..s.ends.1 as usize) == Some(ends)
            {
                return i;
            }
            i = s.next;
        }
        let (text_start, ends_start) = (self.text.len(), self.ends.len());
        self.text.push_str(text);
        self.ends.extend_from_slice(ends);
        self.add(hash, text_start, ends_start, slots)
    }

    /// Adds the series whose text and ends were just appended from `text_start` and
    /// `ends_start`.
    fn add(&mut self, hash: u64, text_start: usize, ends_start: usize, slots: usize) -> u32 {
        let i = self.series.len() as u32;
        let next = self.index.insert(hash, i);
        self.series.push(LocalSeries {
            hash,
            next,
            text: (text_start as u32, self.text.len() as u32),
            ends: (ends_start as u32, self.ends.len() as u32),
        });
        self.cells
            .resize(self.cells.len() + slots, LocalCell::default());
        i
    }
}
