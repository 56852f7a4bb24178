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
}

impl<T: Attributes + ?Sized> Attributes for &T {
    fn get(&self, attr: AttrRef<'_>) -> Option<Value<'_>> {
        (**self).get(attr)
    }
}
