//! What a set of expressions reads from a bag, and a canonical encoding of those reads.
//!
//! Expressions are pure functions of the attributes (and map keys) they read. [`Probes`]
//! lists those reads — an attribute, or one constant key of a STRING_MAP attribute — and
//! [`Probes::encode`] writes what a bag answers to each of them as bytes, with kinds and
//! lengths, so that two bags with equal encodings give every expression of the set the same
//! result (or the same error). Callers memoise results by the encoding: the Prometheus
//! adapter keys a label set on it instead of evaluating a dozen expressions per bag.

use super::eval::{Attr, Node};
use super::value::EvalValue;
use super::Expression;
use crate::access::{AttrRef, Attributes};
use crate::value::{StringMapRef, Value};
use crate::vocabulary::AttrId;

/// One read of an expression.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Probe {
    /// The whole value of an attribute (a map read whole, or with a key only known at run
    /// time, is encoded entry by entry).
    Attr { id: AttrId, name: Box<str> },
    /// `attr["key"]` with a constant key.
    Key {
        id: AttrId,
        name: Box<str>,
        key: Box<str>,
    },
}

/// The reads of a set of expressions (see the module docs).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Probes {
    list: Vec<Probe>,
}

// Tags of the encoding. Each value is a tag, then fixed-size data or a length and the bytes,
// so the encoding of a sequence of reads is unambiguous.
const ABSENT: u8 = 0;
const STRING: u8 = 1;
const INT64: u8 = 2;
const DOUBLE: u8 = 3;
const BOOL: u8 = 4;
const TIMESTAMP: u8 = 5;
const DURATION: u8 = 6;
const BYTES: u8 = 7;
const MAP: u8 = 8;
const MAP_OWNED: u8 = 9;
const NO_KEY: u8 = 10;
const KEY: u8 = 11;

impl Probes {
    /// The reads of every expression in `exprs`, each listed once.
    pub fn of<'e>(exprs: impl IntoIterator<Item = &'e Expression>) -> Probes {
        let mut probes = Probes::default();
        for e in exprs {
            probes.walk(&e.root);
        }
        probes
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    fn add(&mut self, p: Probe) {
        if !self.list.contains(&p) {
            self.list.push(p);
        }
    }

    fn attr(&mut self, a: &Attr) {
        self.add(Probe::Attr {
            id: a.id,
            name: a.name.clone(),
        });
    }

    fn walk(&mut self, node: &Node) {
        match node {
            Node::Const(_) => {}
            Node::Attr(a) => self.attr(a),
            Node::Index(m, k) => match (&**m, &**k) {
                (Node::Attr(a), Node::Const(EvalValue::String(key))) => self.add(Probe::Key {
                    id: a.id,
                    name: a.name.clone(),
                    key: key.as_ref().into(),
                }),
                (m, k) => {
                    self.walk(m);
                    self.walk(k);
                }
            },
            Node::Or(a, b)
            | Node::LAnd(a, b)
            | Node::LOr(a, b)
            | Node::Eq { a, b, .. }
            | Node::Cmp(_, a, b)
            | Node::Add(a, b)
            | Node::Call2(_, a, b) => {
                self.walk(a);
                self.walk(b);
            }
            Node::Cond(c, a, b) => {
                self.walk(c);
                self.walk(a);
                self.walk(b);
            }
            Node::Call1(_, a) | Node::Regex(_, a) => self.walk(a),
        }
    }

    /// Whether `bag` is known to answer every read as the bag before it did (see
    /// [`Attributes::same_as_before`]): its encoding would be the same.
    pub fn same_as_before<A: Attributes + ?Sized>(&self, bag: &A) -> bool {
        self.list.iter().all(|p| match p {
            Probe::Attr { id, .. } | Probe::Key { id, .. } => bag.same_as_before(*id),
        })
    }

    /// Appends to `out` what `bag` answers to every read (see the module docs).
    pub fn encode<A: Attributes + ?Sized>(&self, bag: &A, out: &mut Vec<u8>) {
        out.reserve(self.list.len() * 24);
        for p in &self.list {
            match p {
                Probe::Attr { id, name } => match bag.get(AttrRef { id: *id, name }) {
                    None => out.push(ABSENT),
                    Some(v) => value(v, out),
                },
                Probe::Key { id, name, key } => match bag.get(AttrRef { id: *id, name }) {
                    None => out.push(ABSENT),
                    Some(Value::StringMap(m)) => match m.get(key) {
                        None => out.push(NO_KEY),
                        Some(v) => tagged(KEY, v.as_bytes(), out),
                    },
                    // the wrong kind: an evaluation error, keyed on the value itself
                    Some(v) => value(v, out),
                },
            }
        }
    }
}

/// `tag`, the length (one byte below 255, else 255 and eight bytes), the bytes.
#[inline]
fn tagged(tag: u8, bytes: &[u8], out: &mut Vec<u8>) {
    match u8::try_from(bytes.len()) {
        Ok(len) if len < u8::MAX => out.extend_from_slice(&[tag, len]),
        _ => {
            out.extend_from_slice(&[tag, u8::MAX]);
            out.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        }
    }
    out.extend_from_slice(bytes);
}

#[inline]
fn fixed(tag: u8, a: u64, b: u64, out: &mut Vec<u8>) {
    let mut buf = [0u8; 17];
    buf[0] = tag;
    buf[1..9].copy_from_slice(&a.to_le_bytes());
    buf[9..].copy_from_slice(&b.to_le_bytes());
    out.extend_from_slice(&buf);
}

fn value(v: Value<'_>, out: &mut Vec<u8>) {
    match v {
        Value::String(s) => tagged(STRING, s.as_bytes(), out),
        Value::Int64(x) => fixed(INT64, x as u64, 0, out),
        Value::Double(x) => fixed(DOUBLE, x.to_bits(), 0, out),
        Value::Bool(x) => fixed(BOOL, u64::from(x), 0, out),
        Value::Timestamp(t) => fixed(TIMESTAMP, t.seconds as u64, u64::from(t.nanos as u32), out),
        Value::Duration(d) => fixed(DURATION, d.seconds as u64, u64::from(d.nanos as u32), out),
        Value::Bytes(b) => tagged(BYTES, b, out),
        Value::StringMap(m) => {
            // The entries in order, duplicates included: equal sequences look up equally.
            let tag = match m {
                StringMapRef::Pairs(_) => MAP,
                StringMapRef::Owned(_) => MAP_OWNED,
            };
            fixed(tag, m.len() as u64, 0, out);
            for (k, v) in m.iter() {
                tagged(STRING, k.as_bytes(), out);
                tagged(STRING, v.as_bytes(), out);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::expr::compile;
    use crate::owned_bag::OwnedBag;
    use crate::value::OwnedValue;
    use crate::vocabulary::Vocabulary;
    use proptest::prelude::*;

    fn exprs(texts: &[&str]) -> Vec<Expression> {
        let vocab = Vocabulary::builtin();
        texts
            .iter()
            .map(|t| compile(t, vocab).expect("compiles"))
            .collect()
    }

    fn encoding(probes: &Probes, bag: &OwnedBag) -> Vec<u8> {
        let mut out = Vec::new();
        probes.encode(bag, &mut out);
        out
    }

    #[test]
    fn lists_each_read_once() {
        let e = exprs(&[
            r#"source.labels["app"] | source.workload.name | "unknown""#,
            r#"conditional(context.reporter.kind == "outbound", source.labels["app"], "x")"#,
            r#"destination.labels[source.workload.name] | "none""#,
        ]);
        let p = Probes::of(&e);
        let names: Vec<String> = p
            .list
            .iter()
            .map(|p| match p {
                Probe::Attr { name, .. } => name.to_string(),
                Probe::Key { name, key, .. } => format!("{name}[{key}]"),
            })
            .collect();
        assert_eq!(
            names,
            [
                "source.labels[app]",
                "source.workload.name",
                "context.reporter.kind",
                "destination.labels",
            ]
        );
    }

    #[test]
    fn absent_missing_key_and_values_encode_apart() {
        let p = Probes::of(&exprs(&[r#"source.labels["app"] | "none""#]));
        let mut bag = OwnedBag::default();
        let absent = encoding(&p, &bag);
        bag.set("source.labels", OwnedValue::StringMap(vec![]));
        let no_key = encoding(&p, &bag);
        let with = |v: &str| {
            let mut b = OwnedBag::default();
            b.set(
                "source.labels",
                OwnedValue::StringMap(vec![("app".into(), v.into())]),
            );
            encoding(&p, &b)
        };
        let all = [absent, no_key, with(""), with("a"), with("ab")];
        for (i, a) in all.iter().enumerate() {
            for b in &all[i + 1..] {
                assert_ne!(a, b);
            }
        }
        // other labels of the map are not read
        let mut b = OwnedBag::default();
        b.set(
            "source.labels",
            OwnedValue::StringMap(vec![("app".into(), "a".into()), ("x".into(), "y".into())]),
        );
        assert_eq!(encoding(&p, &b), with("a"));
    }

    fn string() -> impl Strategy<Value = Option<String>> {
        prop::option::of(prop::sample::select(vec!["", "a", "ab", "b", "outbound"]))
            .prop_map(|s| s.map(str::to_owned))
    }

    proptest! {
        /// Equal encodings mean equal results, for every expression of the set; bags that
        /// differ only in what is not read (another label, another attribute) encode equally.
        #[test]
        fn equal_encodings_evaluate_equally(
            a in prop::collection::vec(string(), 6),
            other in prop::collection::vec(string(), 6),
            keep in prop::collection::vec(prop::bool::weighted(0.8), 6),
        ) {
            // b mostly equals a, so that equal encodings are common
            let b: Vec<Option<String>> = (0..6)
                .map(|i| if keep[i] { a[i].clone() } else { other[i].clone() })
                .collect();
            let texts = [
                r#"source.labels["app"] | source.workload.name | "unknown""#,
                r#"conditional((context.reporter.kind | "inbound") == "outbound", "source", "destination")"#,
                r#"destination.workload.name + "-" + (source.labels["app"] | "x")"#,
            ];
            let e = exprs(&texts);
            let p = Probes::of(&e);
            let bag = |v: &[Option<String>]| {
                let mut bag = OwnedBag::default();
                let labels: Vec<(String, String)> = [("app", &v[0]), ("other", &v[4])]
                    .iter()
                    .filter_map(|(k, v)| Some(((*k).to_owned(), (*v).clone()?)))
                    .collect();
                if v[0].is_some() || v[4].is_some() {
                    bag.set("source.labels", OwnedValue::StringMap(labels));
                }
                let names = ["source.workload.name", "context.reporter.kind", "destination.workload.name"];
                for (name, s) in names.iter().zip(&v[1..4]) {
                    if let Some(s) = s {
                        bag.set(*name, OwnedValue::String(s.clone()));
                    }
                }
                if let Some(s) = &v[5] {
                    bag.set("request.path", OwnedValue::String(s.clone()));
                }
                bag
            };
            let (ba, bb) = (bag(&a), bag(&b));
            let read = |v: &[Option<String>]| (v[0].clone(), v[1..4].to_vec(), v[0].is_some() || v[4].is_some());
            if encoding(&p, &ba) == encoding(&p, &bb) {
                for e in &e {
                    let ra = e.evaluate(&ba).map(|v| v.to_string()).map_err(|e| e.to_string());
                    let rb = e.evaluate(&bb).map(|v| v.to_string()).map_err(|e| e.to_string());
                    prop_assert_eq!(ra, rb);
                }
            } else {
                // only a difference in what is read changes the encoding
                prop_assert_ne!(read(&a), read(&b));
            }
        }
    }
}
