//! Referenced attributes (spec/mixer-api.md §1.6, §8.3): which attributes and map keys a
//! decision read and whether each was present — recorded during evaluation ([`Referenced`]),
//! encoded as `ReferencedAttributes`, decoded back, and turned into the cache [`Shape`] and
//! signature that let a policy decision be reused for every bag that agrees on exactly those
//! reads.

mod recorded;
mod recorder;
mod shape;

pub use recorded::{Condition, Reference, Referenced};
pub use recorder::{NoRecord, Recorder};
pub use shape::{Key, Shape, ShapeError};

#[cfg(test)]
mod tests;
