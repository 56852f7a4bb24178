//! The hook evaluation reports its reads through. Evaluation is generic over [`Recorder`], so
//! the [`NoRecord`] path (telemetry) compiles to nothing.

use crate::access::AttrRef;
use crate::value::Value;

/// Receives every attribute read an evaluation makes.
pub trait Recorder {
    /// `attr` was looked up; `value` is what the bag held (`None`: absent). Mixer records
    /// ABSENCE for a missing attribute and EXACT for a present one, except that reading a whole
    /// STRING_MAP is not recorded (its keys are, through [`Recorder::map_key`]).
    fn attribute(&mut self, attr: AttrRef<'_>, value: Option<&Value<'_>>);

    /// Key `key` of the present STRING_MAP `attr` was looked up; `present` says whether the
    /// map held it.
    fn map_key(&mut self, attr: AttrRef<'_>, key: &str, present: bool);
}

/// Records nothing.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoRecord;

impl Recorder for NoRecord {
    #[inline(always)]
    fn attribute(&mut self, _: AttrRef<'_>, _: Option<&Value<'_>>) {}

    #[inline(always)]
    fn map_key(&mut self, _: AttrRef<'_>, _: &str, _: bool) {}
}

impl<R: Recorder + ?Sized> Recorder for &mut R {
    fn attribute(&mut self, attr: AttrRef<'_>, value: Option<&Value<'_>>) {
        (**self).attribute(attr, value)
    }

    fn map_key(&mut self, attr: AttrRef<'_>, key: &str, present: bool) {
        (**self).map_key(attr, key, present)
    }
}
