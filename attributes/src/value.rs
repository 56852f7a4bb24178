//! Attribute values: the twelve `istio.policy.v1beta1.ValueType`s, and the borrowed value a bag
//! hands out. A bag stores what the wire carries (a string, raw IP bytes, a timestamp …); the
//! declared type of an attribute comes from the [`Vocabulary`](crate::Vocabulary).

use std::fmt;

/// `istio.policy.v1beta1.ValueType`, with its proto numbers.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum ValueType {
    Unspecified = 0,
    String = 1,
    Int64 = 2,
    Double = 3,
    Bool = 4,
    Timestamp = 5,
    IpAddress = 6,
    EmailAddress = 7,
    Uri = 8,
    DnsName = 9,
    Duration = 10,
    StringMap = 11,
    Bytes = 12,
}

impl ValueType {
    /// Every concrete type (not `Unspecified`).
    pub const ALL: [ValueType; 12] = [
        ValueType::String,
        ValueType::Int64,
        ValueType::Double,
        ValueType::Bool,
        ValueType::Timestamp,
        ValueType::IpAddress,
        ValueType::EmailAddress,
        ValueType::Uri,
        ValueType::DnsName,
        ValueType::Duration,
        ValueType::StringMap,
        ValueType::Bytes,
    ];

    /// The name Istio uses in manifests and docs (`STRING`, `IP_ADDRESS`, …).
    pub fn name(self) -> &'static str {
        match self {
            ValueType::Unspecified => "VALUE_TYPE_UNSPECIFIED",
            ValueType::String => "STRING",
            ValueType::Int64 => "INT64",
            ValueType::Double => "DOUBLE",
            ValueType::Bool => "BOOL",
            ValueType::Timestamp => "TIMESTAMP",
            ValueType::IpAddress => "IP_ADDRESS",
            ValueType::EmailAddress => "EMAIL_ADDRESS",
            ValueType::Uri => "URI",
            ValueType::DnsName => "DNS_NAME",
            ValueType::Duration => "DURATION",
            ValueType::StringMap => "STRING_MAP",
            ValueType::Bytes => "BYTES",
        }
    }

    /// Parses a manifest type name; case-insensitive, as Istio's enum lookup of YAML values.
    pub fn from_name(name: &str) -> Option<ValueType> {
        let upper = name.to_ascii_uppercase();
        ValueType::ALL.into_iter().find(|t| t.name() == upper)
    }

    /// The wire representation a value of this type travels in.
    pub fn wire_kind(self) -> WireKind {
        match self {
            ValueType::String
            | ValueType::EmailAddress
            | ValueType::Uri
            | ValueType::DnsName
            | ValueType::Unspecified => WireKind::String,
            ValueType::Int64 => WireKind::Int64,
            ValueType::Double => WireKind::Double,
            ValueType::Bool => WireKind::Bool,
            ValueType::Timestamp => WireKind::Timestamp,
            ValueType::Duration => WireKind::Duration,
            ValueType::IpAddress | ValueType::Bytes => WireKind::Bytes,
            ValueType::StringMap => WireKind::StringMap,
        }
    }
}

impl fmt::Display for ValueType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Which typed map of `CompressedAttributes` a value travels in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum WireKind {
    String,
    Int64,
    Double,
    Bool,
    Timestamp,
    Duration,
    Bytes,
    StringMap,
}

/// `google.protobuf.Timestamp`: seconds since the Unix epoch and nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp {
    pub seconds: i64,
    pub nanos: i32,
}

/// `google.protobuf.Duration`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Duration {
    pub seconds: i64,
    pub nanos: i32,
}

impl Duration {
    /// Total nanoseconds, saturating.
    pub fn as_nanos(self) -> i128 {
        self.seconds as i128 * 1_000_000_000 + self.nanos as i128
    }

    /// As a `std::time::Duration`; `None` when negative.
    pub fn to_std(self) -> Option<std::time::Duration> {
        let secs = u64::try_from(self.seconds).ok()?;
        let nanos = u32::try_from(self.nanos).ok()?;
        Some(std::time::Duration::new(secs, nanos))
    }

    /// Builds a normalised duration from nanoseconds.
    pub fn from_nanos(n: i128) -> Duration {
        let seconds = n.div_euclid(1_000_000_000);
        let mut nanos = n.rem_euclid(1_000_000_000) as i32;
        let mut seconds = seconds.clamp(i64::MIN as i128, i64::MAX as i128) as i64;
        // protobuf wants seconds and nanos with the same sign
        if seconds < 0 && nanos > 0 {
            seconds += 1;
            nanos -= 1_000_000_000;
        }
        Duration { seconds, nanos }
    }
}

/// A read-only view of a STRING_MAP value, whichever bag it comes from.
#[derive(Clone, Copy, Debug)]
pub enum StringMapRef<'a> {
    /// Entries borrowed from a decoded message (see [`Bag`](crate::Bag)).
    Pairs(&'a [(&'a str, &'a str)]),
    /// Entries of an [`OwnedBag`](crate::OwnedBag).
    Owned(&'a [(String, String)]),
}

impl<'a> StringMapRef<'a> {
    /// An empty map.
    pub const EMPTY: StringMapRef<'static> = StringMapRef::Pairs(&[]);

    /// The value for `key`. When a key occurs twice the last one wins, as a protobuf map does.
    pub fn get(&self, key: &str) -> Option<&'a str> {
        match *self {
            StringMapRef::Pairs(p) => p.iter().rev().find(|(k, _)| *k == key).map(|(_, v)| *v),
            StringMapRef::Owned(p) => p
                .iter()
                .rev()
                .find(|(k, _)| k == key)
                .map(|(_, v)| v.as_str()),
        }
    }

    pub fn len(&self) -> usize {
        match self {
            StringMapRef::Pairs(p) => p.len(),
            StringMapRef::Owned(p) => p.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Entries in wire order (duplicates included).
    pub fn iter(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let (a, b) = match *self {
            StringMapRef::Pairs(p) => (Some(p.iter().map(|(k, v)| (*k, *v))), None),
            StringMapRef::Owned(p) => (None, Some(p.iter().map(|(k, v)| (k.as_str(), v.as_str())))),
        };
        a.into_iter().flatten().chain(b.into_iter().flatten())
    }

    /// Entries with duplicate keys resolved (last wins), sorted by key.
    pub fn to_sorted(&self) -> Vec<(&'a str, &'a str)> {
        let mut out: Vec<(&str, &str)> = Vec::with_capacity(self.len());
        for (k, v) in self.iter() {
            match out.iter_mut().find(|(ok, _)| *ok == k) {
                Some(slot) => slot.1 = v,
                None => out.push((k, v)),
            }
        }
        out.sort_unstable_by(|a, b| a.0.cmp(b.0));
        out
    }
}

impl PartialEq for StringMapRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.to_sorted() == other.to_sorted()
    }
}

/// One attribute's value as a bag holds it: the wire representation, borrowed.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Value<'a> {
    /// STRING, DNS_NAME, EMAIL_ADDRESS, URI.
    String(&'a str),
    Int64(i64),
    Double(f64),
    Bool(bool),
    Timestamp(Timestamp),
    Duration(Duration),
    /// BYTES, and IP_ADDRESS as 4 or 16 raw bytes.
    Bytes(&'a [u8]),
    StringMap(StringMapRef<'a>),
}

impl<'a> Value<'a> {
    pub fn wire_kind(&self) -> WireKind {
        match self {
            Value::String(_) => WireKind::String,
            Value::Int64(_) => WireKind::Int64,
            Value::Double(_) => WireKind::Double,
            Value::Bool(_) => WireKind::Bool,
            Value::Timestamp(_) => WireKind::Timestamp,
            Value::Duration(_) => WireKind::Duration,
            Value::Bytes(_) => WireKind::Bytes,
            Value::StringMap(_) => WireKind::StringMap,
        }
    }

    /// Copies the value out of its bag.
    pub fn to_owned_value(&self) -> OwnedValue {
        match *self {
            Value::String(s) => OwnedValue::String(s.to_owned()),
            Value::Int64(v) => OwnedValue::Int64(v),
            Value::Double(v) => OwnedValue::Double(v),
            Value::Bool(v) => OwnedValue::Bool(v),
            Value::Timestamp(v) => OwnedValue::Timestamp(v),
            Value::Duration(v) => OwnedValue::Duration(v),
            Value::Bytes(b) => OwnedValue::Bytes(b.to_vec()),
            Value::StringMap(m) => OwnedValue::StringMap(
                m.iter()
                    .map(|(k, v)| (k.to_owned(), v.to_owned()))
                    .collect(),
            ),
        }
    }
}

/// An owned attribute value, for bags built in memory (the proxy, tests, tools).
#[derive(Clone, Debug, PartialEq)]
pub enum OwnedValue {
    String(String),
    Int64(i64),
    Double(f64),
    Bool(bool),
    Timestamp(Timestamp),
    Duration(Duration),
    Bytes(Vec<u8>),
    StringMap(Vec<(String, String)>),
}

impl OwnedValue {
    /// An IP address as the wire carries it: 4 raw bytes for IPv4, 16 for IPv6.
    pub fn ip(addr: std::net::IpAddr) -> OwnedValue {
        match addr {
            std::net::IpAddr::V4(a) => OwnedValue::Bytes(a.octets().to_vec()),
            std::net::IpAddr::V6(a) => OwnedValue::Bytes(a.octets().to_vec()),
        }
    }

    pub fn as_value(&self) -> Value<'_> {
        match self {
            OwnedValue::String(s) => Value::String(s),
            OwnedValue::Int64(v) => Value::Int64(*v),
            OwnedValue::Double(v) => Value::Double(*v),
            OwnedValue::Bool(v) => Value::Bool(*v),
            OwnedValue::Timestamp(v) => Value::Timestamp(*v),
            OwnedValue::Duration(v) => Value::Duration(*v),
            OwnedValue::Bytes(b) => Value::Bytes(b),
            OwnedValue::StringMap(m) => Value::StringMap(StringMapRef::Owned(m)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_round_trip() {
        for t in ValueType::ALL {
            assert_eq!(ValueType::from_name(t.name()), Some(t));
        }
        assert_eq!(
            ValueType::from_name("ip_address"),
            Some(ValueType::IpAddress)
        );
        assert_eq!(ValueType::from_name("nope"), None);
    }

    #[test]
    fn duration_from_nanos_normalises_sign() {
        assert_eq!(
            Duration::from_nanos(1_500_000_000).to_std(),
            Some(std::time::Duration::from_millis(1500))
        );
        assert_eq!(Duration::from_nanos(-1).to_std(), None);
        assert_eq!(
            Duration::from_nanos(1_500_000_000),
            Duration {
                seconds: 1,
                nanos: 500_000_000
            }
        );
        assert_eq!(
            Duration::from_nanos(-1_500_000_000),
            Duration {
                seconds: -1,
                nanos: -500_000_000
            }
        );
        assert_eq!(
            Duration::from_nanos(-1_500_000_000).as_nanos(),
            -1_500_000_000
        );
    }

    #[test]
    fn string_map_last_key_wins_and_compares_unordered() {
        let a = [("a", "1"), ("b", "2"), ("a", "3")];
        let m = StringMapRef::Pairs(&a);
        assert_eq!(m.get("a"), Some("3"));
        assert_eq!(m.get("c"), None);
        let owned = vec![
            ("b".to_owned(), "2".to_owned()),
            ("a".to_owned(), "3".to_owned()),
        ];
        assert_eq!(m, StringMapRef::Owned(&owned));
    }
}
