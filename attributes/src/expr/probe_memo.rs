//! Results remembered by what their expressions read ([`Probes`]): a bag whose reads encode
//! exactly like an earlier bag's gets that bag's result without evaluating anything. Kept by
//! a worker across bags and requests; bounded (it starts over when full) and self-disabling
//! when the reads rarely repeat (a rule reading `request.id`), so a miss costs little more
//! than the evaluation it could not save.

use super::Probes;
use crate::access::Attributes;
use rustc_hash::FxHasher;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// Encoded bytes remembered at most.
const MAX_KEY_BYTES: usize = 4 << 20;
/// Lookups per window; each window decides whether the next one looks up at all.
const WINDOW: u32 = 4096;
/// While disabled, one lookup in this many still runs, to notice when reads repeat again.
const SAMPLE: u32 = 16;

#[derive(Debug, Clone, Copy)]
struct Entry<V> {
    hash: u64,
    next: u32,
    key: (u32, u32),
    value: V,
}

const NONE: u32 = u32::MAX;

/// See the module docs. `V` is what the caller remembers per distinct reads.
#[derive(Debug)]
pub struct ProbeMemo<V> {
    max_entries: usize,
    key: Vec<u8>,
    hash: u64,
    /// The last lookup encoded the bag and missed: [`insert`](Self::insert) may keep it.
    pending: bool,
    heads: HashMap<u64, u32, BuildHasherDefault<PassHasher>>,
    entries: Vec<Entry<V>>,
    keys: Vec<u8>,
    lookups: u32,
    hits: u32,
    disabled: bool,
    /// The bag last looked up ([`Attributes::position`]) and its entry: a bag that follows it
    /// and reads the same has the same entry, found without encoding anything.
    last: Option<Last>,
    /// The position of the bag whose lookup is pending.
    pending_at: Option<(u64, u64)>,
}

#[derive(Debug, Clone, Copy)]
struct Last {
    at: (u64, u64),
    entry: u32,
}

impl<V: Copy> ProbeMemo<V> {
    /// A memo of at most `max_entries` results.
    pub fn new(max_entries: usize) -> ProbeMemo<V> {
        ProbeMemo {
            max_entries,
            key: Vec::new(),
            hash: 0,
            pending: false,
            heads: HashMap::default(),
            entries: Vec::new(),
            keys: Vec::new(),
            lookups: 0,
            hits: 0,
            disabled: false,
            last: None,
            pending_at: None,
        }
    }

    /// The entry remembered for `bag`'s reads of `probes`, if any.
    pub fn lookup<A: Attributes + ?Sized>(&mut self, probes: &Probes, bag: &A) -> Option<u32> {
        self.pending = false;
        self.lookups += 1;
        let at = bag.position();
        let last = self.last.take();
        let follows = match (at, last) {
            (Some((buffers, seq)), Some(l)) => {
                l.at == (buffers, seq.wrapping_sub(1)) && probes.same_as_before(bag)
            }
            _ => false,
        };
        let sampled = !self.disabled || self.lookups.is_multiple_of(SAMPLE);
        let found = match last {
            Some(l) if follows => {
                self.hits += 1;
                Some(l.entry)
            }
            _ if sampled => self.find(probes, bag),
            _ => None,
        };
        self.pending_at = at;
        if let (Some(at), Some(entry)) = (at, found) {
            self.last = Some(Last { at, entry });
        }
        if self.lookups >= WINDOW {
            // disabled windows sample 1/SAMPLE lookups: judge those alone
            let looked = if self.disabled {
                WINDOW / SAMPLE
            } else {
                WINDOW
            };
            self.disabled = self.hits * 2 < looked;
            self.lookups = 0;
            self.hits = 0;
        }
        found
    }

    fn find<A: Attributes + ?Sized>(&mut self, probes: &Probes, bag: &A) -> Option<u32> {
        self.key.clear();
        probes.encode(bag, &mut self.key);
        let mut h = FxHasher::default();
        h.write(&self.key);
        self.hash = h.finish();
        let mut i = self.heads.get(&self.hash).copied().unwrap_or(NONE);
        while i != NONE {
            let e = &self.entries[i as usize];
            if e.hash == self.hash
                && self.keys.get(e.key.0 as usize..e.key.1 as usize) == Some(&self.key[..])
            {
                self.hits += 1;
                return Some(i);
            }
            i = e.next;
        }
        self.pending = true;
        None
    }

    /// Whether [`insert`](Self::insert) would keep a value: the last lookup ran and missed.
    pub fn pending(&self) -> bool {
        self.pending
    }

    /// Whether the memo is at its bounds; the caller [`clear`](Self::clear)s it (and what it
    /// keeps beside it) before inserting.
    pub fn is_full(&self) -> bool {
        self.entries.len() >= self.max_entries || self.keys.len() + self.key.len() > MAX_KEY_BYTES
    }

    /// Remembers `value` for the reads of the last lookup, if it missed; returns the entry.
    /// Starts over first when full.
    pub fn insert(&mut self, value: V) -> Option<u32> {
        if !self.pending {
            return None;
        }
        self.pending = false;
        if self.is_full() {
            self.clear();
        }
        let start = self.keys.len() as u32;
        self.keys.extend_from_slice(&self.key);
        let i = self.entries.len() as u32;
        self.last = self.pending_at.map(|at| Last { at, entry: i });
        let next = self.heads.insert(self.hash, i).unwrap_or(NONE);
        self.entries.push(Entry {
            hash: self.hash,
            next,
            key: (start, self.keys.len() as u32),
            value,
        });
        Some(i)
    }

    pub fn value(&self, i: u32) -> &V {
        &self.entries[i as usize].value
    }

    pub fn value_mut(&mut self, i: u32) -> &mut V {
        &mut self.entries[i as usize].value
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Forgets every entry (keeps the buffers, and the reads of a lookup that missed, so an
    /// [`insert`](Self::insert) may follow).
    pub fn clear(&mut self) {
        self.heads.clear();
        self.entries.clear();
        self.keys.clear();
        self.last = None;
    }
}

/// Passes a precomputed `u64` hash through (for maps keyed by a hash already computed).
#[derive(Default)]
pub struct PassHasher(u64);

impl Hasher for PassHasher {
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

impl std::fmt::Debug for PassHasher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PassHasher")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::compile;
    use crate::owned_bag::OwnedBag;
    use crate::value::OwnedValue;
    use crate::vocabulary::Vocabulary;

    fn bag(path: &str) -> OwnedBag {
        let mut b = OwnedBag::default();
        b.set("request.path", OwnedValue::String(path.into()));
        b
    }

    fn probes() -> Probes {
        let e = compile(r#"request.path == "/a""#, Vocabulary::builtin()).expect("compiles");
        Probes::of([&e])
    }

    #[test]
    fn remembers_by_reads_and_starts_over_when_full() {
        let p = probes();
        let mut m = ProbeMemo::new(2);
        assert_eq!(m.lookup(&p, &bag("/a")), None);
        assert_eq!(m.insert(true), Some(0));
        // a second insert without a missed lookup keeps nothing
        assert_eq!(m.insert(false), None);
        let hit = m.lookup(&p, &bag("/a")).expect("remembered");
        assert!(*m.value(hit));
        assert_eq!(m.lookup(&p, &bag("/b")), None);
        m.insert(false);
        assert_eq!(m.len(), 2);
        assert!(m.is_full());
        assert_eq!(m.lookup(&p, &bag("/c")), None);
        assert_eq!(m.insert(false), Some(0));
        assert_eq!(m.len(), 1);
        assert_eq!(m.lookup(&p, &bag("/a")), None);
    }

    #[test]
    fn stops_looking_when_reads_do_not_repeat_and_resumes_when_they_do() {
        let p = probes();
        let mut m = ProbeMemo::new(1 << 20);
        for i in 0..WINDOW {
            if m.lookup(&p, &bag(&format!("/{i}"))).is_none() {
                m.insert(false);
            }
        }
        assert!(m.disabled);
        // disabled: most lookups do not even look
        m.lookup(&p, &bag("/0"));
        assert!(!m.pending());
        // the same path over and over: the sampled lookups hit, the next window looks again
        for _ in 0..2 * WINDOW {
            if m.lookup(&p, &bag("/0")).is_none() && m.pending() {
                m.insert(false);
            }
        }
        assert!(!m.disabled);
        assert!(m.lookup(&p, &bag("/0")).is_some());
    }

    #[test]
    fn a_bag_that_reads_as_the_one_before_gets_its_entry() {
        // decoded bags in turn (their paths A A B B A, a header changing every bag): each
        // gets the entry its path was remembered with, whether found by the shortcut for a
        // bag that repeats the one before it or by encoding its reads
        use crate::decode::ReportRequestView;
        use crate::encode::ReportBatch;
        let mut batch = ReportBatch::new();
        for (i, path) in ["/a", "/a", "/b", "/b", "/a"].iter().enumerate() {
            let mut b = bag(path);
            b.set(
                "request.headers",
                OwnedValue::StringMap(vec![("x-n".into(), i.to_string())]),
            );
            batch.push(b.iter());
        }
        let bytes = batch.finish();
        let mut view = ReportRequestView::parse(&bytes, Vocabulary::builtin()).expect("parses");
        let p = probes();
        let mut m = ProbeMemo::new(8);
        let mut got = Vec::new();
        while let Some(b) = view.next_bag() {
            let b = b.expect("decodes");
            let e = match m.lookup(&p, b) {
                Some(e) => e,
                None => m
                    .insert(b.get_by_name("request.path") == Some(crate::Value::String("/a")))
                    .expect("kept"),
            };
            got.push((e, *m.value(e)));
        }
        assert_eq!(
            got,
            [(0, true), (0, true), (1, false), (1, false), (0, true)]
        );
    }
}
