//! The policy service's decision cache: a Check answer that ran only check adapters is kept by
//! the *shape* of its referenced attributes and the bag's *signature* under that shape
//! (spec/mixer-api.md §8.3, [`Shape`]), so every later bag that agrees on exactly the reads
//! the decision made gets the same answer without running a rule.
//!
//! - **What is cached:** the precondition of a Check that asked for no quota (quotas are
//!   never served from the cache, and a Check asking for one bypasses it entirely). Answers
//!   whose referenced attributes do not decode into a shape the request fits — a REGEX
//!   condition, a bad index — are not cached; neither are answers with `valid_use_count` ≤ 0
//!   or a zero `valid_duration`.
//! - **Expiry, as the Istio proxy's client cache (§8.3 steps 5–6):** an entry expires at
//!   store time + `valid_duration` and serves `valid_use_count` hits; a hit on an expired or
//!   used-up entry removes it and is a miss.
//! - **What a hit answers, as Mixer's own server-side cache did (`grpcServer.go`, §1.10
//!   step 1):** the stored status, referenced attributes, route directive and
//!   `valid_use_count`, with `valid_duration` = the time *left*, so a proxy caching the answer
//!   never holds the decision past the moment its adapters said it expires.
//! - **One refinement of the proxy's key:** a map key's ABSENCE fits a bag without the map at
//!   all in §8.3, but the engine reads a missing key of a present map as `""` and a missing
//!   map as an error, so the key also says whether each such map is present.
//! - **Bounds:** at most `max_entries` answers (moka, TinyLFU admission with LRU eviction)
//!   and [`MAX_SHAPES`] shapes per config; 0 entries turns the cache off.
//! - **Dictionaries:** referenced attributes are encoded for the caller's `global_word_count`
//!   (§1.6), so it is part of the key: a client knowing fewer global words never gets an
//!   answer encoded for one knowing more.
//! - **Reload:** [`DecisionCache::reset`] drops every answer and shape and starts a new
//!   *epoch*; keys carry the epoch, so an answer computed by the previous config while the swap
//!   happened can never be served by the new one.
//! - **Cost of a hit:** the key is hashed once, with foldhash keyed by a random seed per cache
//!   (keys carry request values, so the hash must not be predictable), and the answer is
//!   kept encoded ([`EncodedPrecondition`]): a hit shares its bytes instead of copying it.

#[cfg(test)]
mod tests;

use mixer_attributes::referenced::Shape;
use mixer_attributes::{Attributes, Vocabulary};
use mixer_proto::mixer::check_response::PreconditionResult;
use mixer_proto::EncodedPrecondition;
use std::cell::RefCell;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, Instant};

/// Shapes kept per config: each lookup tries them all, so the list stays short. An answer of a
/// new shape once the list is full is not cached.
pub const MAX_SHAPES: usize = 32;

/// Decisions by (epoch, shape, signature). Cheap to share; every method takes `&self`.
#[derive(Debug)]
pub struct DecisionCache {
    answers: Option<moka::sync::Cache<Key, Arc<Entry>, KeyHash>>,
    /// Hashes key bytes (see the module docs).
    hasher: foldhash::quality::RandomState,
    shapes: RwLock<Shapes>,
    epoch: AtomicU64,
}

/// The shapes seen under one epoch.
#[derive(Debug, Default)]
struct Shapes {
    epoch: u64,
    list: Vec<Shape>,
}

/// A key's bytes (see [`signature_key`]) and their hash, computed once.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Key {
    hash: u64,
    bytes: Box<[u8]>,
}

/// A [`Key`] looked up without copying its bytes.
struct KeyRef<'k> {
    hash: u64,
    bytes: &'k [u8],
}

impl Hash for Key {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl moka::Equivalent<Key> for KeyRef<'_> {
    fn equivalent(&self, key: &Key) -> bool {
        self.hash == key.hash && self.bytes == &*key.bytes
    }
}

/// The cache's hasher: a key's hash is already computed, and taken as it is.
#[derive(Clone, Debug, Default)]
struct KeyHash;

#[derive(Debug, Default)]
struct KeyHasher(u64);

impl BuildHasher for KeyHash {
    type Hasher = KeyHasher;
    fn build_hasher(&self) -> KeyHasher {
        KeyHasher(0)
    }
}

impl Hasher for KeyHasher {
    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }
    /// Only [`Key`]s are hashed, with `write_u64`; anything else still hashes (FNV-1a).
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
    fn finish(&self) -> u64 {
        self.0
    }
}

/// One stored answer.
#[derive(Debug)]
struct Entry {
    /// The precondition as first answered (its `valid_duration` is rewritten on each hit).
    precondition: EncodedPrecondition,
    /// `None`: the answer carried no `valid_duration` and never expires (§8.3 step 6).
    expires: Option<Instant>,
    /// Hits left; the entry is removed when it reaches 0.
    uses_left: AtomicI32,
}

/// Where a Check looks: the cache and the epoch of the config that answers the call.
#[derive(Clone, Copy, Debug)]
pub struct Scope<'c> {
    pub cache: &'c DecisionCache,
    pub epoch: u64,
}

impl DecisionCache {
    /// A cache of at most `max_entries` answers; 0 makes a cache that stores nothing.
    pub fn new(max_entries: u64) -> DecisionCache {
        DecisionCache {
            answers: (max_entries > 0).then(|| {
                moka::sync::Cache::builder()
                    .max_capacity(max_entries)
                    .build_with_hasher(KeyHash)
            }),
            hasher: foldhash::quality::RandomState::default(),
            shapes: RwLock::new(Shapes::default()),
            epoch: AtomicU64::new(0),
        }
    }

    pub fn enabled(&self) -> bool {
        self.answers.is_some()
    }

    /// The epoch answers are stored under now.
    pub fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// Forgets every answer and shape (a new config went into service); returns the new epoch.
    pub fn reset(&self) -> u64 {
        let mut shapes = self.shapes.write().unwrap_or_else(PoisonError::into_inner);
        let epoch = self.epoch.fetch_add(1, Ordering::AcqRel) + 1;
        *shapes = Shapes {
            epoch,
            list: Vec::new(),
        };
        if let Some(a) = &self.answers {
            a.invalidate_all();
        }
        epoch
    }

    /// Answers stored (after moka's pending bookkeeping is applied).
    pub fn entries(&self) -> u64 {
        self.answers.as_ref().map_or(0, |a| {
            a.run_pending_tasks();
            a.entry_count()
        })
    }

    /// The cached answer for `bag` under `epoch`, asked by a client knowing `words` global
    /// words, if any is live at `now`; a hit uses it once.
    pub fn lookup<A: Attributes>(
        &self,
        epoch: u64,
        words: u32,
        bag: &A,
        now: Instant,
    ) -> Option<EncodedPrecondition> {
        let answers = self.answers.as_ref()?;
        let shapes = self.shapes.read().unwrap_or_else(PoisonError::into_inner);
        if shapes.epoch != epoch {
            return None;
        }
        KEY.with_borrow_mut(|key| {
            let answer = shapes.list.iter().enumerate().find_map(|(i, shape)| {
                if !signature_key(key, (epoch, words, i), shape, bag) {
                    return None;
                }
                let key = KeyRef {
                    hash: self.hasher.hash_one(key.as_slice()),
                    bytes: key.as_slice(),
                };
                let entry = answers.get(&key)?;
                // The first shape that finds an answer decides, as in the proxy (§8.3 step 5).
                Some(entry.take(now, || answers.invalidate(&key)))
            });
            // a key built from a huge value is not kept alive by the thread
            if key.capacity() > MAX_KEPT_KEY {
                *key = Vec::with_capacity(256);
            }
            answer.flatten()
        })
    }

    /// Stores the precondition answered at `now` for `bag`, sent by a client knowing `words`
    /// global words (the answer's referenced attributes are encoded for it), under `epoch`;
    /// quietly does nothing when the answer cannot be cached (see the module docs).
    pub fn store<A: Attributes>(
        &self,
        (epoch, words): (u64, u32),
        vocab: &Vocabulary,
        bag: &A,
        precondition: &PreconditionResult,
        now: Instant,
    ) {
        let Some(answers) = &self.answers else {
            return;
        };
        if precondition.valid_use_count <= 0 {
            return;
        }
        // No duration, or one past what `Instant` can hold: the entry never expires by time.
        let expires = match precondition.valid_duration {
            Some(d) => match std_duration(d) {
                Some(d) if !d.is_zero() => now.checked_add(d),
                _ => return,
            },
            None => None,
        };
        let Some(wire) = &precondition.referenced_attributes else {
            return;
        };
        // Decoded the way a proxy decodes it: the REGEX guard, and the answer must fit its own
        // request.
        let shape = match Shape::from_response(wire, vocab, bag) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!(error = %e, "check answer not cached");
                return;
            }
        };
        let Some(index) = self.shape_index(epoch, shape) else {
            return;
        };
        let shapes = self.shapes.read().unwrap_or_else(PoisonError::into_inner);
        let (Some(shape), true) = (shapes.list.get(index), shapes.epoch == epoch) else {
            return;
        };
        let mut key = Vec::with_capacity(256);
        if !signature_key(&mut key, (epoch, words, index), shape, bag) {
            return;
        }
        drop(shapes);
        let key = Key {
            hash: self.hasher.hash_one(key.as_slice()),
            bytes: key.into_boxed_slice(),
        };
        answers.insert(
            key,
            Arc::new(Entry {
                precondition: EncodedPrecondition::new(precondition),
                expires,
                uses_left: AtomicI32::new(precondition.valid_use_count),
            }),
        );
    }

    /// The index of `shape` under `epoch`, adding it if there is room.
    fn shape_index(&self, epoch: u64, shape: Shape) -> Option<usize> {
        {
            let shapes = self.shapes.read().unwrap_or_else(PoisonError::into_inner);
            if shapes.epoch != epoch {
                return None;
            }
            if let Some(i) = shapes.list.iter().position(|s| *s == shape) {
                return Some(i);
            }
        }
        let mut shapes = self.shapes.write().unwrap_or_else(PoisonError::into_inner);
        if shapes.epoch != epoch {
            return None;
        }
        if let Some(i) = shapes.list.iter().position(|s| *s == shape) {
            return Some(i);
        }
        if shapes.list.len() >= MAX_SHAPES {
            return None;
        }
        shapes.list.push(shape);
        Some(shapes.list.len() - 1)
    }
}

impl Entry {
    /// Uses the entry once at `now`: the answer, or `None` (and `remove` called) when it has
    /// expired or is used up.
    fn take(&self, now: Instant, remove: impl FnOnce()) -> Option<EncodedPrecondition> {
        let left = match self.expires {
            Some(at) if now >= at => {
                remove();
                return None;
            }
            Some(at) => Some(at - now),
            None => None,
        };
        let before = self
            .uses_left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n > 0).then(|| n - 1)
            });
        match before {
            Ok(1) | Err(_) => remove(),
            Ok(_) => {}
        }
        before.ok()?;
        Some(match left {
            Some(left) => self
                .precondition
                .with_valid_duration(Some(crate::engine::wire_duration(left))),
            None => self.precondition.clone(),
        })
    }
}

/// The largest key buffer a thread keeps between lookups.
const MAX_KEPT_KEY: usize = 16 * 1024;

thread_local! {
    /// The key buffer of lookups on this thread, reused so a lookup does not allocate.
    static KEY: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(256));
}

/// Writes the key of `bag` under `shape` (number `index` of `epoch`, for a client knowing
/// `words` global words) into `out`: [`Shape::key_bytes`] — whether each map of a map-key
/// absence is present, then the exact values — then epoch, words and shape index (which also
/// names the attributes the values belong to). False when the bag does not fit the shape.
///
/// Why the presence flags: a map key's absence fits a bag without the map at all (§8.3 step
/// 3), but the engine reads a missing key of a present map as "" and a missing map as an
/// error.
fn signature_key<A: Attributes>(
    out: &mut Vec<u8>,
    (epoch, words, index): (u64, u32, usize),
    shape: &Shape,
    bag: &A,
) -> bool {
    if !shape.key_bytes(bag, out) {
        return false;
    }
    out.extend_from_slice(&epoch.to_le_bytes());
    out.extend_from_slice(&words.to_le_bytes());
    out.extend_from_slice(&(index as u32).to_le_bytes());
    true
}

fn std_duration(d: prost_types::Duration) -> Option<Duration> {
    let secs = u64::try_from(d.seconds).ok()?;
    let nanos = u32::try_from(d.nanos).ok()?;
    (nanos < 1_000_000_000).then(|| Duration::new(secs, nanos))
}
