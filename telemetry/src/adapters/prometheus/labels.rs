//! Label sets as stored: all values of one set concatenated in label-name order with their end
//! offsets, hashed once, and found again through a hash → series index with collision chains
//! (the hash is already computed, so the map does not hash again).

use mixer_attributes::expr::PassHasher;
use rustc_hash::FxHasher;
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// End of a collision chain.
pub(crate) const NONE: u32 = u32::MAX;

/// The hash of a label set: each value's bytes then `0xff` (never in UTF-8, so the values are
/// delimited); [`Hashing`] computes the same value by value.
pub(crate) fn hash(text: &str, ends: &[u32]) -> u64 {
    let mut h = Hashing::default();
    for i in 0..ends.len() {
        h.value(value(text, ends, i));
    }
    h.finish()
}

/// Hashes a label set value by value, as [`hash`] does.
#[derive(Default)]
pub(crate) struct Hashing(FxHasher);

impl Hashing {
    pub(crate) fn value(&mut self, v: &str) {
        self.0.write(v.as_bytes());
        self.0.write_u8(0xff);
    }

    pub(crate) fn finish(&self) -> u64 {
        self.0.finish()
    }
}

/// The `i`-th value of a label set.
pub(crate) fn value<'t>(text: &'t str, ends: &[u32], i: usize) -> &'t str {
    let start = if i == 0 { 0 } else { ends[i - 1] as usize };
    text.get(start..ends[i] as usize).unwrap_or_default()
}

/// Hash → first series with that hash; series chain the rest through their own `next`.
#[derive(Debug, Default)]
pub(crate) struct Index {
    heads: HashMap<u64, u32, BuildHasherDefault<PassHasher>>,
}

impl Index {
    /// The first series with `hash`, or [`NONE`].
    pub(crate) fn head(&self, hash: u64) -> u32 {
        self.heads.get(&hash).copied().unwrap_or(NONE)
    }

    /// Makes `series` the head of its chain; returns the previous head (its `next`).
    pub(crate) fn insert(&mut self, hash: u64, series: u32) -> u32 {
        self.heads.insert(hash, series).unwrap_or(NONE)
    }

    pub(crate) fn clear(&mut self) {
        self.heads.clear();
    }
}
