//! Istio's proxy check cache (spec/mixer-api.md §8.3, istio/proxy `check_cache.cc`). Every
//! answered Check leaves a *shape* — the attributes and map keys its decision read, split into
//! absence and exact keys (`ReferencedAttributes`) — and an entry keyed by the request's
//! *signature* under that shape. A later request is looked up by computing its signature
//! under each known shape it fits and probing a bounded LRU; the first entry found decides:
//! expired (past `valid_duration`, or out of `valid_use_count`) it is removed and the request
//! misses, otherwise its use count goes down and its answer is reused. Answers with a REGEX
//! match, a bad dictionary index, or a shape their own request does not fit are not cached.
//!
//! Beyond Istio: an answer is refreshed before it runs out. When a tenth or less of its uses
//! or of its valid duration is left, the request that finds it is told to refresh it (once
//! per answer, [`Hit::refresh`]): the checker sends that request's Check in the background
//! and the answer replaces the entry. Istio's cache lets the answer run out instead, and
//! every request arriving until the new answer comes back misses and calls the service —
//! at 20,000 requests/s and 1,000 uses that was 2 % of the requests waiting on a Check.
//!
//! Time comes in as an argument, so expiry is tested without sleeping.

use super::lru::Lru;
use mixer_attributes::referenced::{Shape, ShapeError};
use mixer_attributes::{Attributes, Vocabulary};
use mixer_proto::mixer::check_response::PreconditionResult;
use mixer_proto::mixer::{CheckResponse, RouteDirective};
use std::hash::Hasher;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

/// gRPC codes the check path names.
pub mod code {
    pub const OK: i32 = 0;
    pub const INVALID_ARGUMENT: i32 = 3;
    pub const RESOURCE_EXHAUSTED: i32 = 8;
    pub const INTERNAL: i32 = 13;
    pub const UNAVAILABLE: i32 = 14;
}

/// The most distinct shapes kept. Istio keeps them all; every lookup tries each one, so a
/// bound keeps a lookup's cost bounded too. Answers of further shapes are not cached.
pub const MAX_SHAPES: usize = 64;

/// What a Check came to, as the request path uses it: the final status (OK allows) and the
/// route directive to apply.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Decision {
    pub code: i32,
    pub message: String,
    pub directive: Option<RouteDirective>,
}

impl Decision {
    pub fn ok() -> Decision {
        Decision::default()
    }

    pub fn denied(code: i32, message: impl Into<String>) -> Decision {
        Decision {
            code,
            message: message.into(),
            directive: None,
        }
    }

    pub fn is_ok(&self) -> bool {
        self.code == code::OK
    }

    /// The status as protobuf's `util::Status::ToString` writes it, which is the body of
    /// Istio's denial: `OK`, `CODE`, or `CODE:message`.
    pub fn status_text(&self) -> String {
        let name = super::status::code_name(self.code);
        if self.is_ok() || self.message.is_empty() {
            name.to_owned()
        } else {
            format!("{name}:{}", self.message)
        }
    }

    /// The decision a received `CheckResponse` carries (§8.3 step 6): no precondition is an
    /// INVALID_ARGUMENT; an INTERNAL status is OK when failing open.
    pub fn from_response(response: &CheckResponse, fail_open: bool) -> Decision {
        let Some(p) = &response.precondition else {
            return Decision::denied(
                code::INVALID_ARGUMENT,
                "CheckResponse doesn't have PreconditionResult",
            );
        };
        let (code, message) = p
            .status
            .as_ref()
            .map_or((code::OK, String::new()), |s| (s.code, s.message.clone()));
        if code == code::INTERNAL && fail_open {
            return Decision {
                directive: p.route_directive.clone(),
                ..Decision::ok()
            };
        }
        Decision {
            code,
            message,
            directive: p.route_directive.clone(),
        }
    }
}

/// Refresh an answer when this fraction (1/N) or less of its uses or duration is left.
const REFRESH_WHEN_LEFT: i32 = 10;

#[derive(Debug)]
struct Entry {
    decision: Arc<Decision>,
    /// `None`: the answer had no `valid_duration` and never expires.
    expire: Option<Instant>,
    /// Uses left; 0 is never usable, a negative count is never decremented.
    use_count: i32,
    /// Uses left at or below which the answer is refreshed; 0: not by count.
    refresh_uses: i32,
    /// From when on the answer is refreshed; `None`: not by time.
    refresh_at: Option<Instant>,
    /// A request was told to refresh this answer.
    refreshing: bool,
}

/// A live cached answer.
#[derive(Debug, Clone)]
pub struct Hit {
    pub decision: Arc<Decision>,
    /// The answer is running out and no refresh was asked for yet: the caller should check
    /// this request again in the background and [`insert`](CheckCache::insert) the answer.
    pub refresh: bool,
}

/// Why an answer was not cached.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NotCached {
    #[error("the check cache is off")]
    Disabled,
    #[error("the answer has no precondition")]
    NoPrecondition,
    #[error("{0}")]
    Shape(#[from] ShapeError),
    #[error("already {MAX_SHAPES} distinct shapes")]
    TooManyShapes,
}

/// The cache; shared by every request (`&self` methods, internally locked).
#[derive(Debug)]
pub struct CheckCache {
    shapes: Shapes,
    entries: Mutex<Lru<Entry>>,
    capacity: usize,
    vocab: &'static Vocabulary,
}

impl CheckCache {
    /// A cache of at most `capacity` answers (Istio: 10000); 0 turns it off.
    pub fn new(capacity: usize) -> CheckCache {
        CheckCache {
            shapes: Shapes::default(),
            entries: Mutex::new(Lru::new(capacity)),
            capacity,
            vocab: Vocabulary::builtin(),
        }
    }

    pub fn is_enabled(&self) -> bool {
        self.capacity > 0
    }

    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.lock().is_empty()
    }

    pub fn shape_count(&self) -> usize {
        self.shapes().len()
    }

    fn shapes(&self) -> Arc<Vec<Shape>> {
        self.shapes.get()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru<Entry>> {
        self.entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The cached decision for `bag` at `now`, if any (§8.3 step 5).
    pub fn lookup<A: Attributes>(&self, bag: &A, now: Instant) -> Option<Arc<Decision>> {
        self.find(bag, now).map(|hit| hit.decision)
    }

    /// Like [`lookup`](Self::lookup), also telling whether this request should refresh the
    /// answer it found.
    pub fn find<A: Attributes>(&self, bag: &A, now: Instant) -> Option<Hit> {
        if !self.is_enabled() {
            return None;
        }
        let shapes = self.shapes();
        let mut buf = Vec::with_capacity(256);
        for shape in shapes.iter() {
            let Some(sig) = signature(shape, bag, "", &mut buf) else {
                continue;
            };
            let mut entries = self.lock();
            let Some(entry) = entries.get_mut(sig) else {
                continue;
            };
            let expired = entry.expire.is_some_and(|e| now > e) || entry.use_count == 0;
            if expired {
                entries.remove(sig);
                return None;
            }
            if entry.use_count > 0 {
                entry.use_count -= 1;
            }
            let running_out = (entry.refresh_uses > 0 && entry.use_count <= entry.refresh_uses)
                || entry.refresh_at.is_some_and(|t| now >= t);
            let refresh = running_out && !entry.refreshing;
            entry.refreshing |= refresh;
            return Some(Hit {
                decision: entry.decision.clone(),
                refresh,
            });
        }
        None
    }

    /// Stores the answer `precondition` gave to `bag` (§8.3 steps 1, 2, 6), as `decision`.
    pub fn insert<A: Attributes>(
        &self,
        bag: &A,
        precondition: &PreconditionResult,
        decision: Arc<Decision>,
        now: Instant,
    ) -> Result<(), NotCached> {
        if !self.is_enabled() {
            return Err(NotCached::Disabled);
        }
        let empty = Default::default();
        let wire = precondition
            .referenced_attributes
            .as_ref()
            .unwrap_or(&empty);
        let shape = Shape::from_response(wire, self.vocab, bag)?;
        let mut buf = Vec::with_capacity(256);
        let sig = signature(&shape, bag, "", &mut buf).ok_or(ShapeError::DoesNotFit)?;
        self.shapes.add(shape)?;
        let valid = precondition
            .valid_duration
            .map(|d| millis(d.seconds, d.nanos));
        let at = |d: Duration| now.checked_add(d).unwrap_or(now);
        let use_count = precondition.valid_use_count;
        self.lock().insert(
            sig,
            Entry {
                decision,
                expire: valid.map(at),
                use_count,
                refresh_uses: use_count.max(0) / REFRESH_WHEN_LEFT,
                refresh_at: valid
                    .filter(|d| !d.is_zero())
                    .map(|d| at(d - d / REFRESH_WHEN_LEFT as u32)),
                refreshing: false,
            },
        );
        Ok(())
    }
}

/// Distinct shapes, in the order first seen, at most [`MAX_SHAPES`]. Replaced whole when one
/// is added, so a lookup clones the `Arc` and computes signatures without holding a lock.
/// The quota cache keeps one per quota.
#[derive(Debug, Default)]
pub(super) struct Shapes(RwLock<Arc<Vec<Shape>>>);

impl Shapes {
    pub(super) fn get(&self) -> Arc<Vec<Shape>> {
        self.0
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub(super) fn add(&self, shape: Shape) -> Result<(), NotCached> {
        if self.get().contains(&shape) {
            return Ok(());
        }
        let mut shapes = self
            .0
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if shapes.contains(&shape) {
            return Ok(());
        }
        if shapes.len() >= MAX_SHAPES {
            return Err(NotCached::TooManyShapes);
        }
        let mut next = Vec::with_capacity(shapes.len() + 1);
        next.extend(shapes.iter().cloned());
        next.push(shape);
        *shapes = Arc::new(next);
        Ok(())
    }
}

/// A wire duration at millisecond precision (Istio's `ToMilliseonds`); negative is zero.
pub(super) fn millis(seconds: i64, nanos: i32) -> Duration {
    let ms = seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(nanos / 1_000_000));
    Duration::from_millis(ms.max(0) as u64)
}

/// The request's signature under `shape` (the digest of its exact keys' names and values,
/// then `extra`: "" for the check cache, the quota's name for the quota cache), or `None`
/// when it does not fit the shape. `buf` is scratch space.
pub(super) fn signature<A: Attributes>(
    shape: &Shape,
    bag: &A,
    extra: &str,
    buf: &mut Vec<u8>,
) -> Option<u64> {
    if !shape.signature_bytes(bag, extra, buf) {
        return None;
    }
    let mut h = std::collections::hash_map::DefaultHasher::new();
    h.write(buf);
    Some(h.finish())
}
