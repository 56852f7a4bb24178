//! How evaluation reads a bag: the [`Attributes`] trait, implemented by the decoded
//! [`Bag`](crate::Bag) and by [`OwnedBag`](crate::OwnedBag).

use crate::value::Value;
use crate::vocabulary::AttrId;

/// An attribute reference resolved at compile time: both its id and its name, so a bag can look
/// it up whichever way it is indexed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttrRef<'n> {
    pub id: AttrId,
    pub name: &'n str,
}

/// Read access to an attribute bag.
pub trait Attributes {
    /// The value of an attribute, or `None` when the bag does not hold it.
    fn get(&self, attr: AttrRef<'_>) -> Option<Value<'_>>;

    /// Where this bag stands among the bags held one after another by the same buffers (a
    /// Report's sets, decoded in turn): the buffers' number and the bag's. `None` for a bag
    /// that is not one of such a sequence.
    fn position(&self) -> Option<(u64, u64)> {
        None
    }

    /// Whether attribute `id` is known to hold what it held in the bag just before this one
    /// (see [`position`](Self::position)): an equal value, or absent in both. False when
    /// that is not known.
    fn same_as_before(&self, _id: AttrId) -> bool {
        false
    }
}

impl<T: Attributes + ?Sized> Attributes for &T {
    fn get(&self, attr: AttrRef<'_>) -> Option<Value<'_>> {
        (**self).get(attr)
    }

    fn position(&self) -> Option<(u64, u64)> {
        (**self).position()
    }

    fn same_as_before(&self, id: AttrId) -> bool {
        (**self).same_as_before(id)
    }
}
