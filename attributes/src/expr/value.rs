//! [`EvalValue`], what an expression evaluates to: borrowed from the bag or the expression when
//! it can be, owned when it was computed. Its [`Display`](fmt::Display) prints values the way
//! Mixer does (durations as Go prints them, timestamps in RFC 3339).

use super::duration::GoDuration;
use super::externs;
use crate::value::{Duration, StringMapRef, Timestamp, ValueType};
use std::borrow::Cow;
use std::fmt;
use std::net::IpAddr;

/// The value of an expression.
#[derive(Clone, Debug, PartialEq)]
pub enum EvalValue<'a> {
    String(Cow<'a, str>),
    Int64(i64),
    Double(f64),
    Bool(bool),
    Timestamp(Timestamp),
    Duration(Duration),
    IpAddress(IpAddr),
    EmailAddress(Cow<'a, str>),
    Uri(Cow<'a, str>),
    DnsName(Cow<'a, str>),
    Bytes(Cow<'a, [u8]>),
    StringMap(StringMapRef<'a>),
}

impl<'a> EvalValue<'a> {
    /// The CEXL type of the value.
    pub fn value_type(&self) -> ValueType {
        match self {
            EvalValue::String(_) => ValueType::String,
            EvalValue::Int64(_) => ValueType::Int64,
            EvalValue::Double(_) => ValueType::Double,
            EvalValue::Bool(_) => ValueType::Bool,
            EvalValue::Timestamp(_) => ValueType::Timestamp,
            EvalValue::Duration(_) => ValueType::Duration,
            EvalValue::IpAddress(_) => ValueType::IpAddress,
            EvalValue::EmailAddress(_) => ValueType::EmailAddress,
            EvalValue::Uri(_) => ValueType::Uri,
            EvalValue::DnsName(_) => ValueType::DnsName,
            EvalValue::Bytes(_) => ValueType::Bytes,
            EvalValue::StringMap(_) => ValueType::StringMap,
        }
    }

    /// The text of a STRING, DNS_NAME, EMAIL_ADDRESS or URI value.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            EvalValue::String(s)
            | EvalValue::EmailAddress(s)
            | EvalValue::Uri(s)
            | EvalValue::DnsName(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_bool(&self) -> Option<bool> {
        match self {
            EvalValue::Bool(b) => Some(*b),
            _ => None,
        }
    }

    pub fn as_i64(&self) -> Option<i64> {
        match self {
            EvalValue::Int64(v) => Some(*v),
            _ => None,
        }
    }

    /// A copy borrowing from `self` (cheap: no string is copied).
    pub fn reborrow(&self) -> EvalValue<'_> {
        fn b(s: &str) -> Cow<'_, str> {
            Cow::Borrowed(s)
        }
        match self {
            EvalValue::String(s) => EvalValue::String(b(s)),
            EvalValue::EmailAddress(s) => EvalValue::EmailAddress(b(s)),
            EvalValue::Uri(s) => EvalValue::Uri(b(s)),
            EvalValue::DnsName(s) => EvalValue::DnsName(b(s)),
            EvalValue::Bytes(v) => EvalValue::Bytes(Cow::Borrowed(v)),
            EvalValue::StringMap(m) => EvalValue::StringMap(*m),
            EvalValue::Int64(v) => EvalValue::Int64(*v),
            EvalValue::Double(v) => EvalValue::Double(*v),
            EvalValue::Bool(v) => EvalValue::Bool(*v),
            EvalValue::Timestamp(v) => EvalValue::Timestamp(*v),
            EvalValue::Duration(v) => EvalValue::Duration(*v),
            EvalValue::IpAddress(v) => EvalValue::IpAddress(*v),
        }
    }

    /// An owned copy that outlives the bag; `None` for a non-empty string map, which stays
    /// borrowed (its entries belong to the bag).
    pub fn to_static(&self) -> Option<EvalValue<'static>> {
        fn o(s: &str) -> Cow<'static, str> {
            Cow::Owned(s.to_owned())
        }
        Some(match self {
            EvalValue::String(s) => EvalValue::String(o(s)),
            EvalValue::EmailAddress(s) => EvalValue::EmailAddress(o(s)),
            EvalValue::Uri(s) => EvalValue::Uri(o(s)),
            EvalValue::DnsName(s) => EvalValue::DnsName(o(s)),
            EvalValue::Bytes(v) => EvalValue::Bytes(Cow::Owned(v.to_vec())),
            EvalValue::StringMap(m) if m.is_empty() => EvalValue::StringMap(StringMapRef::EMPTY),
            EvalValue::StringMap(_) => return None,
            EvalValue::Int64(v) => EvalValue::Int64(*v),
            EvalValue::Double(v) => EvalValue::Double(*v),
            EvalValue::Bool(v) => EvalValue::Bool(*v),
            EvalValue::Timestamp(v) => EvalValue::Timestamp(*v),
            EvalValue::Duration(v) => EvalValue::Duration(*v),
            EvalValue::IpAddress(v) => EvalValue::IpAddress(*v),
        })
    }

    /// CEXL equality (`==`): by value for the primitive types, and with Mixer's extern
    /// semantics for the others — `net.IP.Equal` for IPs (an IPv4 address equals its
    /// IPv4-mapped IPv6 form), case- and trailing-dot-insensitive DNS names, e-mail addresses
    /// with DNS-equal domains, URIs with a case-insensitive scheme. Values of different types
    /// are never equal.
    pub fn cexl_eq(&self, other: &EvalValue<'_>) -> bool {
        use EvalValue as V;
        match (self, other) {
            (V::String(a), V::String(b)) => a == b,
            (V::Int64(a), V::Int64(b)) => a == b,
            (V::Double(a), V::Double(b)) => a == b,
            (V::Bool(a), V::Bool(b)) => a == b,
            (V::Timestamp(a), V::Timestamp(b)) => a == b,
            (V::Duration(a), V::Duration(b)) => a == b,
            (V::IpAddress(a), V::IpAddress(b)) => a.to_canonical() == b.to_canonical(),
            (V::DnsName(a), V::DnsName(b)) => externs::dns_name_equal(a, b),
            (V::EmailAddress(a), V::EmailAddress(b)) => externs::email_equal(a, b),
            (V::Uri(a), V::Uri(b)) => externs::uri_equal(a, b),
            (V::Bytes(a), V::Bytes(b)) => a == b,
            (V::StringMap(a), V::StringMap(b)) => a == b,
            _ => false,
        }
    }
}

impl fmt::Display for EvalValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EvalValue::String(s)
            | EvalValue::EmailAddress(s)
            | EvalValue::Uri(s)
            | EvalValue::DnsName(s) => f.write_str(s),
            EvalValue::Int64(v) => write!(f, "{v}"),
            EvalValue::Double(v) => write!(f, "{v}"),
            EvalValue::Bool(v) => write!(f, "{v}"),
            EvalValue::Timestamp(t) => externs::write_rfc3339(f, *t),
            EvalValue::Duration(d) => write!(f, "{}", GoDuration(*d)),
            EvalValue::IpAddress(ip) => write!(f, "{ip}"),
            EvalValue::Bytes(b) => {
                for byte in b.iter() {
                    write!(f, "{byte:02x}")?;
                }
                Ok(())
            }
            EvalValue::StringMap(m) => {
                f.write_str("{")?;
                for (i, (k, v)) in m.to_sorted().into_iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k}: {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}
