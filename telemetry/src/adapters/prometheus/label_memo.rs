//! Label sets remembered by what their expressions read ([`ProbeMemo`]): a bag whose reads
//! (attributes and map keys) encode exactly like an earlier bag's has that bag's label set,
//! so the dimension expressions need not run again — a worker sees the same few hundred
//! (source, destination, code) combinations over and over. Kept across Reports by the batch
//! that owns it; bounded, it starts over when full.

use mixer_attributes::expr::{ProbeMemo, Probes};
use mixer_attributes::Attributes;

/// Label sets remembered at most (per label group and worker).
const MAX_ENTRIES: usize = 4096;
/// Bytes of label text remembered at most.
const MAX_TEXT: usize = 4 << 20;

/// A remembered label set.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    text: (u32, u32),
    ends: (u32, u32),
    /// The label set's hash (as `labels::hash` computes it).
    pub(super) hash: u64,
    /// The batch series holding this set, valid while the batch epoch is `epoch`.
    pub(super) epoch: u64,
    pub(super) series: u32,
}

#[derive(Debug)]
pub(super) struct LabelMemo {
    memo: ProbeMemo<Entry>,
    text: String,
    ends: Vec<u32>,
}

impl Default for LabelMemo {
    fn default() -> Self {
        LabelMemo {
            memo: ProbeMemo::new(MAX_ENTRIES),
            text: String::new(),
            ends: Vec::new(),
        }
    }
}

impl LabelMemo {
    /// The entry for `bag`'s reads, if remembered.
    pub(super) fn lookup<A: Attributes + ?Sized>(
        &mut self,
        probes: &Probes,
        bag: &A,
    ) -> Option<u32> {
        self.memo.lookup(probes, bag)
    }

    /// Remembers the label set (`text` split at `ends`, hashed `hash`) of the bag last looked
    /// up without success; it is batch series `series` in batch epoch `epoch`.
    pub(super) fn insert(&mut self, text: &str, ends: &[u32], hash: u64, epoch: u64, series: u32) {
        if !self.memo.pending() {
            return;
        }
        if self.memo.is_full() || self.text.len() + text.len() > MAX_TEXT {
            self.memo.clear();
            self.text.clear();
            self.ends.clear();
        }
        let t0 = self.text.len() as u32;
        self.text.push_str(text);
        let e0 = self.ends.len() as u32;
        self.ends.extend_from_slice(ends);
        self.memo.insert(Entry {
            text: (t0, self.text.len() as u32),
            ends: (e0, self.ends.len() as u32),
            hash,
            epoch,
            series,
        });
    }

    pub(super) fn entry(&self, i: u32) -> Entry {
        *self.memo.value(i)
    }

    /// Notes that entry `i` is batch series `series` in batch epoch `epoch`.
    pub(super) fn place(&mut self, i: u32, epoch: u64, series: u32) {
        let e = self.memo.value_mut(i);
        e.epoch = epoch;
        e.series = series;
    }

    /// The label set of entry `e`: its text and the end of each value in it.
    pub(super) fn labels(&self, e: &Entry) -> (&str, &[u32]) {
        let text = self
            .text
            .get(e.text.0 as usize..e.text.1 as usize)
            .unwrap_or_default();
        let ends = self
            .ends
            .get(e.ends.0 as usize..e.ends.1 as usize)
            .unwrap_or_default();
        (text, ends)
    }
}
