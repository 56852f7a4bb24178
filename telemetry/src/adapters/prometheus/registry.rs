//! The shared series of one label group (the metrics that read the same label expressions —
//! the four HTTP metrics of the standard config are one group): one label set per series,
//! one cell per metric of the group, behind one lock. Batches merge into it once per Report;
//! the per-metric series cap, the overflow series and expiry live here.

use super::labels::{self, Index, NONE};
use std::time::{Duration, Instant};

/// Every label value of the overflow series.
pub const OVERFLOW_LABEL_VALUE: &str = "mixer_overflow";

/// One metric's state for one label set.
#[derive(Debug, Clone, Default)]
pub(crate) struct Cell {
    /// Last update; `None` when this metric has no series for the label set.
    pub updated: Option<Instant>,
    /// Counter or gauge value, or a histogram's sum.
    pub value: f64,
    /// Histogram observations.
    pub count: u64,
    /// Histogram observations per finite bucket (not cumulative).
    pub buckets: Box<[u64]>,
}

#[derive(Debug)]
pub(crate) struct Series {
    pub hash: u64,
    next: u32,
    pub text: Box<str>,
    pub ends: Box<[u32]>,
    pub cells: Box<[Cell]>,
    overflow: bool,
}

/// A label set: its hash, its values concatenated and where each ends.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key<'b> {
    pub hash: u64,
    pub text: &'b str,
    pub ends: &'b [u32],
}

/// What a batch brings for one metric of one label set.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Update<'b> {
    pub slot: usize,
    /// Number of samples pre-aggregated into this update (0: nothing to merge).
    pub n: u64,
    pub value: f64,
    pub buckets: &'b [u64],
    pub kind: CellKind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CellKind {
    Add,
    Set,
    Observe,
}

#[derive(Debug)]
pub(crate) struct SharedGroup {
    index: Index,
    pub series: Vec<Series>,
    /// Per slot: series holding a cell for that metric (the overflow series not counted).
    pub present: Vec<usize>,
    /// Per slot: number of finite buckets (0 unless a histogram).
    bucket_counts: Vec<usize>,
    /// Series indices in exposition order, and series added since it was sorted.
    order: Vec<u32>,
    pending: Vec<u32>,
}

impl SharedGroup {
    pub(crate) fn new(bucket_counts: Vec<usize>) -> SharedGroup {
        SharedGroup {
            index: Index::default(),
            series: Vec::new(),
            present: vec![0; bucket_counts.len()],
            bucket_counts,
            order: Vec::new(),
            pending: Vec::new(),
        }
    }

    fn find(&self, hash: u64, text: &str, ends: &[u32]) -> Option<usize> {
        let mut i = self.index.head(hash);
        while i != NONE {
            let s = &self.series[i as usize];
            if s.hash == hash && &*s.text == text && &*s.ends == ends {
                return Some(i as usize);
            }
            i = s.next;
        }
        None
    }

    fn insert(&mut self, hash: u64, text: &str, ends: &[u32], overflow: bool) -> usize {
        let i = self.series.len();
        let next = self.index.insert(hash, i as u32);
        let cells = self
            .bucket_counts
            .iter()
            .map(|&n| Cell {
                buckets: vec![0; n].into_boxed_slice(),
                ..Cell::default()
            })
            .collect();
        self.series.push(Series {
            hash,
            next,
            text: text.into(),
            ends: ends.into(),
            cells,
            overflow,
        });
        self.pending.push(i as u32);
        i
    }

    fn overflow_with(&mut self, label_count: usize) -> usize {
        let text = OVERFLOW_LABEL_VALUE.repeat(label_count);
        let ends: Vec<u32> = (1..=label_count)
            .map(|i| (i * OVERFLOW_LABEL_VALUE.len()) as u32)
            .collect();
        let hash = labels::hash(&text, &ends);
        match self.find(hash, &text, &ends) {
            Some(i) => {
                self.series[i].overflow = true;
                i
            }
            None => self.insert(hash, &text, &ends, true),
        }
    }

    /// Merges one batch label set; returns, per update, how many samples went to the overflow
    /// series because the metric is at `max_series`.
    pub(crate) fn merge(
        &mut self,
        key: Key<'_>,
        updates: &[Update<'_>],
        max_series: usize,
        now: Instant,
        mut overflowed: impl FnMut(usize, u64),
    ) {
        let Key { hash, text, ends } = key;
        let mut found = self.find(hash, text, ends);
        for u in updates.iter().filter(|u| u.n > 0) {
            let has_cell = found.is_some_and(|i| self.series[i].cells[u.slot].updated.is_some());
            let target = if has_cell {
                found.unwrap_or_default()
            } else if self.present[u.slot] < max_series {
                let i = match found {
                    Some(i) => i,
                    None => self.insert(hash, text, ends, false),
                };
                found = Some(i);
                if !self.series[i].overflow {
                    self.present[u.slot] += 1;
                }
                i
            } else {
                overflowed(u.slot, u.n);
                self.overflow_with(ends.len())
            };
            apply(&mut self.series[target].cells[u.slot], u, now);
        }
    }

    /// Deletes cells idle for `expiry` or longer, and series left without cells; calls
    /// `expired(slot)` for each cell deleted.
    pub(crate) fn expire(
        &mut self,
        now: Instant,
        expiry: Duration,
        mut expired: impl FnMut(usize),
    ) {
        let mut removed_any = false;
        for s in &mut self.series {
            for (slot, c) in s.cells.iter_mut().enumerate() {
                if c.updated
                    .is_some_and(|t| now.saturating_duration_since(t) >= expiry)
                {
                    c.updated = None;
                    c.value = 0.0;
                    c.count = 0;
                    c.buckets.iter_mut().for_each(|b| *b = 0);
                    if !s.overflow {
                        self.present[slot] = self.present[slot].saturating_sub(1);
                    }
                    expired(slot);
                }
            }
            removed_any |= s.cells.iter().all(|c| c.updated.is_none());
        }
        if removed_any {
            self.series
                .retain(|s| s.cells.iter().any(|c| c.updated.is_some()));
            self.index.clear();
            for i in 0..self.series.len() {
                let hash = self.series[i].hash;
                self.series[i].next = self.index.insert(hash, i as u32);
            }
            self.order.clear();
            self.pending = (0..self.series.len() as u32).collect();
        }
    }

    /// Series indices sorted as client_golang sorts a family: by label values, in label-name
    /// order, bytewise.
    pub(crate) fn sort(&mut self) {
        if !self.pending.is_empty() {
            let series = &self.series;
            let cmp = |a: &u32, b: &u32| compare(&series[*a as usize], &series[*b as usize]);
            self.pending.sort_unstable_by(cmp);
            if self.order.is_empty() {
                std::mem::swap(&mut self.order, &mut self.pending);
            } else {
                let old = std::mem::take(&mut self.order);
                let mut merged = Vec::with_capacity(old.len() + self.pending.len());
                let (mut i, mut j) = (0, 0);
                while i < old.len() && j < self.pending.len() {
                    if cmp(&old[i], &self.pending[j]).is_le() {
                        merged.push(old[i]);
                        i += 1;
                    } else {
                        merged.push(self.pending[j]);
                        j += 1;
                    }
                }
                merged.extend_from_slice(&old[i..]);
                merged.extend_from_slice(&self.pending[j..]);
                self.order = merged;
            }
            self.pending.clear();
        }
    }

    /// Series indices in exposition order as of the last [`sort`](Self::sort).
    pub(crate) fn order(&self) -> &[u32] {
        &self.order
    }

    /// The position in [`order`](Self::order) (sorted) of the first series after the label
    /// set (`text`, `ends`).
    pub(crate) fn position_after(&self, text: &str, ends: &[u32]) -> usize {
        self.order.partition_point(|&i| {
            let s = &self.series[i as usize];
            compare_labels(&s.text, &s.ends, text, ends).is_le()
        })
    }

    /// Series holding a cell for `slot`, the overflow series included.
    pub(crate) fn series_count(&self, slot: usize) -> usize {
        self.series
            .iter()
            .filter(|s| s.cells[slot].updated.is_some())
            .count()
    }
}

fn compare(a: &Series, b: &Series) -> std::cmp::Ordering {
    compare_labels(&a.text, &a.ends, &b.text, &b.ends)
}

/// Label sets in exposition order: by each label value in turn.
fn compare_labels(a: &str, a_ends: &[u32], b: &str, b_ends: &[u32]) -> std::cmp::Ordering {
    for i in 0..a_ends.len().min(b_ends.len()) {
        let o = labels::value(a, a_ends, i).cmp(labels::value(b, b_ends, i));
        if o.is_ne() {
            return o;
        }
    }
    a_ends.len().cmp(&b_ends.len())
}

fn apply(c: &mut Cell, u: &Update<'_>, now: Instant) {
    c.updated = Some(now);
    match u.kind {
        CellKind::Add => c.value += u.value,
        CellKind::Set => c.value = u.value,
        CellKind::Observe => {
            c.value += u.value;
            c.count += u.n;
            for (b, add) in c.buckets.iter_mut().zip(u.buckets) {
                *b += add;
            }
        }
    }
}
