//! The compiled form of an expression — a small tree of [`Node`]s with attribute names resolved,
//! constants pre-parsed and constant regexes compiled — and its evaluation against any
//! [`Attributes`] bag, reporting every read to a [`Recorder`].
//!
//! Two modes, as Mixer's IL compiler has: *strict* ([`Node::eval`]), where a missing attribute
//! is the error `lookup failed: 'name'`, and *jump on value* ([`Node::eval_opt`]) for the left
//! side of `|`, where a missing attribute, map or map key yields `None` and `|` moves on.

use super::externs;
use super::value::EvalValue;
use super::EvalError;
use crate::access::{AttrRef, Attributes};
use crate::referenced::Recorder;
use crate::value::{StringMapRef, Value, ValueType};
use crate::vocabulary::AttrId;
use std::borrow::Cow;
use std::cmp::Ordering;

/// An attribute reference with its declared type.
#[derive(Debug, Clone)]
pub(crate) struct Attr {
    pub name: Box<str>,
    pub id: AttrId,
    pub ty: ValueType,
}

impl Attr {
    fn as_ref(&self) -> AttrRef<'_> {
        AttrRef {
            id: self.id,
            name: &self.name,
        }
    }
}

/// One-argument functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func1 {
    Size,
    ToLower,
    Ip,
    Timestamp,
    DnsName,
    Email,
    Uri,
}

/// Two-argument functions and methods (for methods the target comes first).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Func2 {
    Match,
    StartsWith,
    EndsWith,
    /// `pattern.matches(subject)` with a pattern computed at run time.
    Matches,
}

/// Ordering comparisons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CmpOp {
    Lt,
    Leq,
    Gt,
    Geq,
}

/// A compiled expression node. Only the checker builds these, so operand types are right.
#[derive(Debug, Clone)]
pub(crate) enum Node {
    Const(EvalValue<'static>),
    Attr(Attr),
    Index(Box<Node>, Box<Node>),
    Or(Box<Node>, Box<Node>),
    LAnd(Box<Node>, Box<Node>),
    LOr(Box<Node>, Box<Node>),
    Eq {
        a: Box<Node>,
        b: Box<Node>,
        negate: bool,
    },
    Cmp(CmpOp, Box<Node>, Box<Node>),
    Add(Box<Node>, Box<Node>),
    Cond(Box<Node>, Box<Node>, Box<Node>),
    Call1(Func1, Box<Node>),
    Call2(Func2, Box<Node>, Box<Node>),
    /// `"pattern".matches(subject)`, the pattern compiled once.
    Regex(Box<regex::Regex>, Box<Node>),
}

type Res<T> = Result<T, EvalError>;
/// A map value and the attribute it came from (for recording key reads).
type MapRef<'a> = (StringMapRef<'a>, Option<&'a Attr>);

impl Node {
    /// Whether every operand is a constant (so the node can be folded at compile time).
    pub(crate) fn operands_const(&self) -> bool {
        let c = |n: &Node| matches!(n, Node::Const(_));
        match self {
            Node::Const(_) | Node::Attr(_) => false,
            Node::Index(a, b)
            | Node::Or(a, b)
            | Node::LAnd(a, b)
            | Node::LOr(a, b)
            | Node::Eq { a, b, .. }
            | Node::Cmp(_, a, b)
            | Node::Add(a, b)
            | Node::Call2(_, a, b) => c(a) && c(b),
            Node::Cond(x, a, b) => c(x) && c(a) && c(b),
            Node::Call1(_, a) | Node::Regex(_, a) => c(a),
        }
    }

    /// Evaluates in strict mode.
    pub(crate) fn eval<'a, A, R>(&'a self, bag: &'a A, rec: &mut R) -> Res<EvalValue<'a>>
    where
        A: Attributes + ?Sized,
        R: Recorder,
    {
        Ok(match self {
            Node::Const(v) => v.reborrow(),
            Node::Attr(a) => lookup(a, bag, rec)?.ok_or_else(|| missing(a))?,
            Node::Index(m, k) => {
                let map = m.map_strict(bag, rec)?;
                EvalValue::String(Cow::Borrowed(index(map, k, bag, rec)?.unwrap_or("")))
            }
            Node::Or(l, r) => match l.eval_opt(bag, rec)? {
                Some(v) => v,
                None => r.eval(bag, rec)?,
            },
            Node::LAnd(..)
            | Node::LOr(..)
            | Node::Eq { .. }
            | Node::Cmp(..)
            | Node::Call2(..)
            | Node::Regex(..) => EvalValue::Bool(self.eval_bool(bag, rec)?),
            Node::Add(a, b) => add(a.eval(bag, rec)?, b.eval(bag, rec)?)?,
            Node::Cond(c, a, b) => {
                if c.eval_bool(bag, rec)? {
                    a.eval(bag, rec)?
                } else {
                    b.eval(bag, rec)?
                }
            }
            Node::Call1(f, a) => call1(*f, a.eval_str(bag, rec)?)?,
        })
    }

    /// Evaluates in "jump on value" mode: `None` when an attribute, map or key is missing.
    /// Only attributes, indexes and `|` can be missing; anything else always has a value.
    pub(crate) fn eval_opt<'a, A, R>(
        &'a self,
        bag: &'a A,
        rec: &mut R,
    ) -> Res<Option<EvalValue<'a>>>
    where
        A: Attributes + ?Sized,
        R: Recorder,
    {
        match self {
            Node::Attr(a) => lookup(a, bag, rec),
            Node::Index(m, k) => {
                let Some(map) = m.map_opt(bag, rec)? else {
                    return Ok(None);
                };
                Ok(index(map, k, bag, rec)?.map(|s| EvalValue::String(Cow::Borrowed(s))))
            }
            Node::Or(l, r) => match l.eval_opt(bag, rec)? {
                Some(v) => Ok(Some(v)),
                None => r.eval_opt(bag, rec),
            },
            _ => self.eval(bag, rec).map(Some),
        }
    }

    pub(crate) fn eval_bool<A, R>(&self, bag: &A, rec: &mut R) -> Res<bool>
    where
        A: Attributes + ?Sized,
        R: Recorder,
    {
        match self {
            Node::LAnd(a, b) => return Ok(a.eval_bool(bag, rec)? && b.eval_bool(bag, rec)?),
            Node::LOr(a, b) => return Ok(a.eval_bool(bag, rec)? || b.eval_bool(bag, rec)?),
            Node::Eq { a, b, negate } => return Ok(equal(a, b, bag, rec)? != *negate),
            Node::Cmp(op, a, b) => return compare(*op, a.eval(bag, rec)?, b.eval(bag, rec)?),
            Node::Call2(f, a, b) => {
                return call2(*f, a.eval_str(bag, rec)?, &b.eval_str(bag, rec)?)
            }
            Node::Regex(re, s) => return Ok(re.is_match(&s.eval_str(bag, rec)?)),
            Node::Const(EvalValue::Bool(b)) => return Ok(*b),
            _ => {}
        }
        match self.eval(bag, rec)? {
            EvalValue::Bool(b) => Ok(b),
            other => Err(EvalError::Type {
                expected: ValueType::Bool,
                found: other.value_type(),
            }),
        }
    }

    pub(crate) fn eval_str<'a, A, R>(&'a self, bag: &'a A, rec: &mut R) -> Res<Cow<'a, str>>
    where
        A: Attributes + ?Sized,
        R: Recorder,
    {
        match self.eval(bag, rec)? {
            EvalValue::String(s)
            | EvalValue::DnsName(s)
            | EvalValue::EmailAddress(s)
            | EvalValue::Uri(s) => Ok(s),
            other => Err(EvalError::Type {
                expected: ValueType::String,
                found: other.value_type(),
            }),
        }
    }

    /// A STRING_MAP operand in strict mode: a missing map attribute is an error.
    fn map_strict<'a, A, R>(&'a self, bag: &'a A, rec: &mut R) -> Res<MapRef<'a>>
    where
        A: Attributes + ?Sized,
        R: Recorder,
    {
        match self {
            Node::Attr(a) => map_lookup(a, bag, rec)?.ok_or_else(|| missing(a)),
            Node::Or(l, r) => match l.map_opt(bag, rec)? {
                Some(m) => Ok(m),
                None => r.map_strict(bag, rec),
            },
            Node::Cond(c, a, b) => {
                if c.eval_bool(bag, rec)? {
                    a.map_strict(bag, rec)
                } else {
                    b.map_strict(bag, rec)
                }
            }
            _ => match self.eval(bag, rec)? {
                EvalValue::StringMap(m) => Ok((m, None)),
                other => Err(EvalError::Type {
                    expected: ValueType::StringMap,
                    found: other.value_type(),
                }),
            },
        }
    }

    /// A STRING_MAP operand in "jump on value" mode.
    fn map_opt<'a, A, R>(&'a self, bag: &'a A, rec: &mut R) -> Res<Option<MapRef<'a>>>
    where
        A: Attributes + ?Sized,
        R: Recorder,
    {
        match self {
            Node::Attr(a) => map_lookup(a, bag, rec),
            Node::Or(l, r) => match l.map_opt(bag, rec)? {
                Some(m) => Ok(Some(m)),
                None => r.map_opt(bag, rec),
            },
            _ => self.map_strict(bag, rec).map(Some),
        }
    }
}

/// Looks `attr` up, records the read, and checks the bag's value against the declared type.
#[inline]
fn lookup<'a, A, R>(attr: &'a Attr, bag: &'a A, rec: &mut R) -> Res<Option<EvalValue<'a>>>
where
    A: Attributes + ?Sized,
    R: Recorder,
{
    let r = attr.as_ref();
    let v = bag.get(r);
    rec.attribute(r, v.as_ref());
    let Some(v) = v else { return Ok(None) };
    let wrong = || EvalError::WrongKind {
        name: attr.name.clone(),
        declared: attr.ty,
        found: v.wire_kind(),
    };
    Ok(Some(match (attr.ty, v) {
        (ValueType::String, Value::String(s)) => EvalValue::String(Cow::Borrowed(s)),
        (ValueType::DnsName, Value::String(s)) => EvalValue::DnsName(Cow::Borrowed(s)),
        (ValueType::EmailAddress, Value::String(s)) => EvalValue::EmailAddress(Cow::Borrowed(s)),
        (ValueType::Uri, Value::String(s)) => EvalValue::Uri(Cow::Borrowed(s)),
        (ValueType::Int64, Value::Int64(x)) => EvalValue::Int64(x),
        (ValueType::Double, Value::Double(x)) => EvalValue::Double(x),
        (ValueType::Bool, Value::Bool(x)) => EvalValue::Bool(x),
        (ValueType::Timestamp, Value::Timestamp(x)) => EvalValue::Timestamp(x),
        (ValueType::Duration, Value::Duration(x)) => EvalValue::Duration(x),
        (ValueType::Bytes, Value::Bytes(b)) => EvalValue::Bytes(Cow::Borrowed(b)),
        (ValueType::StringMap, Value::StringMap(m)) => EvalValue::StringMap(m),
        (ValueType::IpAddress, Value::Bytes(b)) => match <[u8; 4]>::try_from(b) {
            Ok(v4) => EvalValue::IpAddress(v4.into()),
            Err(_) => match <[u8; 16]>::try_from(b) {
                Ok(v6) => EvalValue::IpAddress(v6.into()),
                Err(_) => {
                    return Err(EvalError::BadIp {
                        name: attr.name.clone(),
                        len: b.len(),
                    });
                }
            },
        },
        _ => return Err(wrong()),
    }))
}

fn map_lookup<'a, A, R>(attr: &'a Attr, bag: &'a A, rec: &mut R) -> Res<Option<MapRef<'a>>>
where
    A: Attributes + ?Sized,
    R: Recorder,
{
    match lookup(attr, bag, rec)? {
        None => Ok(None),
        Some(EvalValue::StringMap(m)) => Ok(Some((m, Some(attr)))),
        Some(other) => Err(EvalError::Type {
            expected: ValueType::StringMap,
            found: other.value_type(),
        }),
    }
}

/// Looks the key up in the map, recording the key read when the map is an attribute.
fn index<'a, A, R>(map: MapRef<'a>, key: &'a Node, bag: &'a A, rec: &mut R) -> Res<Option<&'a str>>
where
    A: Attributes + ?Sized,
    R: Recorder,
{
    let key = key.eval_str(bag, rec)?;
    let v = map.0.get(&key);
    if let Some(attr) = map.1 {
        rec.map_key(attr.as_ref(), &key, v.is_some());
    }
    Ok(v)
}

/// `a == b`; strings (the common case) compare without building values.
fn equal<A, R>(a: &Node, b: &Node, bag: &A, rec: &mut R) -> Res<bool>
where
    A: Attributes + ?Sized,
    R: Recorder,
{
    if let Node::Const(EvalValue::String(k)) = b {
        if let EvalValue::String(v) = a.eval(bag, rec)? {
            return Ok(*v == **k);
        }
        return Ok(false);
    }
    Ok(a.eval(bag, rec)?.cexl_eq(&b.eval(bag, rec)?))
}

#[inline(never)]
fn call2(f: Func2, x: Cow<'_, str>, y: &str) -> Res<bool> {
    Ok(match f {
        Func2::Match => externs::glob_match(&x, y),
        Func2::StartsWith => x.starts_with(y),
        Func2::EndsWith => x.ends_with(y),
        Func2::Matches => regex::Regex::new(&x)
            .map_err(|e| EvalError::Regex {
                pattern: x.to_string(),
                message: e.to_string(),
            })?
            .is_match(y),
    })
}

fn missing(a: &Attr) -> EvalError {
    EvalError::LookupFailed(a.name.clone())
}

#[inline(never)]
fn compare(op: CmpOp, a: EvalValue<'_>, b: EvalValue<'_>) -> Res<bool> {
    let ord = match (&a, &b) {
        (EvalValue::String(x), EvalValue::String(y)) => Some(x.cmp(y)),
        (EvalValue::Int64(x), EvalValue::Int64(y)) => Some(x.cmp(y)),
        (EvalValue::Double(x), EvalValue::Double(y)) => x.partial_cmp(y),
        (EvalValue::Timestamp(x), EvalValue::Timestamp(y)) => Some(x.cmp(y)),
        _ => {
            return Err(EvalError::Type {
                expected: a.value_type(),
                found: b.value_type(),
            })
        }
    };
    // NaN compares false with everything, as in Go
    Ok(ord.is_some_and(|o| match op {
        CmpOp::Lt => o == Ordering::Less,
        CmpOp::Leq => o != Ordering::Greater,
        CmpOp::Gt => o == Ordering::Greater,
        CmpOp::Geq => o != Ordering::Less,
    }))
}

#[inline(never)]
fn add<'a>(a: EvalValue<'a>, b: EvalValue<'a>) -> Res<EvalValue<'a>> {
    Ok(match (a, b) {
        (EvalValue::String(x), EvalValue::String(y)) => {
            if y.is_empty() {
                EvalValue::String(x)
            } else {
                EvalValue::String(Cow::Owned(x.into_owned() + &y))
            }
        }
        // Go integers wrap
        (EvalValue::Int64(x), EvalValue::Int64(y)) => EvalValue::Int64(x.wrapping_add(y)),
        (EvalValue::Double(x), EvalValue::Double(y)) => EvalValue::Double(x + y),
        (a, b) => {
            return Err(EvalError::Type {
                expected: a.value_type(),
                found: b.value_type(),
            })
        }
    })
}

#[inline(never)]
fn call1(f: Func1, s: Cow<'_, str>) -> Res<EvalValue<'_>> {
    let fail = EvalError::Function;
    Ok(match f {
        Func1::Size => EvalValue::Int64(s.len() as i64),
        Func1::ToLower => {
            if s.chars().any(char::is_uppercase) {
                EvalValue::String(Cow::Owned(s.to_lowercase()))
            } else {
                EvalValue::String(s)
            }
        }
        Func1::Ip => EvalValue::IpAddress(externs::parse_ip(&s).map_err(fail)?),
        Func1::Timestamp => EvalValue::Timestamp(externs::parse_timestamp(&s).map_err(fail)?),
        Func1::DnsName => {
            externs::check_dns_name(&s).map_err(fail)?;
            EvalValue::DnsName(s)
        }
        Func1::Email => {
            let addr = externs::parse_email(&s).map_err(fail)?;
            if addr.len() == s.len() {
                EvalValue::EmailAddress(s)
            } else {
                EvalValue::EmailAddress(Cow::Owned(addr.to_owned()))
            }
        }
        Func1::Uri => {
            externs::check_uri(&s).map_err(fail)?;
            EvalValue::Uri(s)
        }
    })
}
