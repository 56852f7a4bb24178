//! The type checker: walks a syntax tree against a [`Vocabulary`], applies the type rules of
//! every operator (§4.2) and function (§4.3), and builds the compiled [`Node`] tree as it
//! goes. Operands that are all constants are folded here (`ip("10.0.0.1")`,
//! `timestamp("…")`), and a constant `matches` pattern is compiled once.

use super::ast::{Ast, AstKind, BinaryOp, Pos};
use super::duration::parse_duration;
use super::eval::{Attr, CmpOp, Func1, Func2, Node};
use super::value::EvalValue;
use super::CheckError;
use crate::access::{AttrRef, Attributes};
use crate::referenced::NoRecord;
use crate::value::{StringMapRef, Value, ValueType};
use crate::vocabulary::Vocabulary;
use std::borrow::Cow;

use ValueType as T;

/// Type-checks `ast` and compiles it; returns the tree and its result type.
pub(crate) fn check(ast: &Ast, vocab: &Vocabulary) -> Result<(Node, ValueType), CheckError> {
    Checker { vocab }.node(ast)
}

struct Checker<'v> {
    vocab: &'v Vocabulary,
}

/// How an operator or function is named in errors: `"==" (EQ)` or `ip`.
fn op_name(op: BinaryOp) -> String {
    format!("{:?} ({})", op.symbol(), op.function())
}

impl Checker<'_> {
    fn node(&self, ast: &Ast) -> Result<(Node, ValueType), CheckError> {
        let pos = ast.pos;
        let (node, ty) = match &ast.kind {
            AstKind::Int(v) => (Node::Const(EvalValue::Int64(*v)), T::Int64),
            AstKind::Float(v) => (Node::Const(EvalValue::Double(*v)), T::Double),
            AstKind::Bool(v) => (Node::Const(EvalValue::Bool(*v)), T::Bool),
            AstKind::Str(s) => match parse_duration(s) {
                Ok(d) => (Node::Const(EvalValue::Duration(d)), T::Duration),
                Err(_) => (
                    Node::Const(EvalValue::String(Cow::Owned(s.clone()))),
                    T::String,
                ),
            },
            AstKind::Attribute(name) => match self.vocab.attribute(name) {
                Some((id, ty)) => (
                    Node::Attr(Attr {
                        name: name.as_str().into(),
                        id,
                        ty,
                    }),
                    ty,
                ),
                None => {
                    return Err(CheckError::UnknownAttribute {
                        name: name.clone(),
                        pos,
                        suggestion: self.vocab.suggest(name).map(str::to_owned),
                    })
                }
            },
            AstKind::Unary(op, _) => {
                return Err(CheckError::UnknownFunction {
                    name: op.function().to_owned(),
                    pos,
                    hint: format!(" (unary {:?} is not supported)", op.symbol()),
                })
            }
            AstKind::Binary(op, a, b) => self.binary(*op, pos, a, b)?,
            AstKind::Index(m, k) => {
                let m = self.arg("INDEX", m, 1, T::StringMap)?;
                let k = self.arg("INDEX", k, 2, T::String)?;
                (Node::Index(Box::new(m), Box::new(k)), T::String)
            }
            AstKind::Call {
                name,
                target: Some(t),
                args,
            } => self.method(name, pos, t, args)?,
            AstKind::Call {
                name,
                target: None,
                args,
            } => self.function(name, pos, args)?,
        };
        Ok((fold(node, pos)?, ty))
    }

    /// Checks argument `index` (1-based) of `func` against `want`.
    fn arg(
        &self,
        func: &str,
        ast: &Ast,
        index: usize,
        want: ValueType,
    ) -> Result<Node, CheckError> {
        let (node, ty) = self.node(ast)?;
        if ty != want {
            return Err(CheckError::ArgType {
                func: func.to_owned(),
                index,
                pos: ast.pos,
                expected: want.name().to_owned(),
                found: ty,
            });
        }
        Ok(node)
    }

    /// Checks two operands of the same type, that type being one of `allowed` (any if empty).
    fn same(
        &self,
        func: &str,
        a: &Ast,
        b: &Ast,
        allowed: &[ValueType],
    ) -> Result<(Node, Node, ValueType), CheckError> {
        let (na, ta) = self.node(a)?;
        if !allowed.is_empty() && !allowed.contains(&ta) {
            return Err(CheckError::ArgType {
                func: func.to_owned(),
                index: 1,
                pos: a.pos,
                expected: one_of(allowed),
                found: ta,
            });
        }
        let nb = self.arg(func, b, 2, ta)?;
        Ok((na, nb, ta))
    }

    fn binary(
        &self,
        op: BinaryOp,
        pos: Pos,
        a: &Ast,
        b: &Ast,
    ) -> Result<(Node, ValueType), CheckError> {
        let name = op_name(op);
        let bx = Box::new;
        Ok(match op {
            BinaryOp::LOr | BinaryOp::LAnd => {
                let (x, y) = (
                    self.arg(&name, a, 1, T::Bool)?,
                    self.arg(&name, b, 2, T::Bool)?,
                );
                let node = if op == BinaryOp::LOr {
                    Node::LOr(bx(x), bx(y))
                } else {
                    Node::LAnd(bx(x), bx(y))
                };
                (node, T::Bool)
            }
            BinaryOp::Eq | BinaryOp::Neq => {
                let (x, y, _) = self.same(&name, a, b, &[])?;
                (
                    Node::Eq {
                        a: bx(x),
                        b: bx(y),
                        negate: op == BinaryOp::Neq,
                    },
                    T::Bool,
                )
            }
            BinaryOp::Lt | BinaryOp::Leq | BinaryOp::Gt | BinaryOp::Geq => {
                let (x, y, _) =
                    self.same(&name, a, b, &[T::String, T::Int64, T::Double, T::Timestamp])?;
                let cmp = match op {
                    BinaryOp::Lt => CmpOp::Lt,
                    BinaryOp::Leq => CmpOp::Leq,
                    BinaryOp::Gt => CmpOp::Gt,
                    _ => CmpOp::Geq,
                };
                (Node::Cmp(cmp, bx(x), bx(y)), T::Bool)
            }
            BinaryOp::Add => {
                let (x, y, ty) = self.same(&name, a, b, &[T::String, T::Int64, T::Double])?;
                (Node::Add(bx(x), bx(y)), ty)
            }
            BinaryOp::Or => {
                let (x, y, ty) = self.same(&name, a, b, &[])?;
                (Node::Or(bx(x), bx(y)), ty)
            }
            _ => {
                return Err(CheckError::UnknownFunction {
                    name: op.function().to_owned(),
                    pos,
                    hint: format!(" ({:?} is not supported)", op.symbol()),
                })
            }
        })
    }

    fn function(
        &self,
        name: &str,
        pos: Pos,
        args: &[Ast],
    ) -> Result<(Node, ValueType), CheckError> {
        let arity = |n: usize| {
            if args.len() == n {
                Ok(())
            } else {
                Err(CheckError::Arity {
                    func: name.to_owned(),
                    pos,
                    expected: n,
                    found: args.len(),
                })
            }
        };
        let one = |f: Func1, out: ValueType| -> Result<(Node, ValueType), CheckError> {
            arity(1)?;
            Ok((
                Node::Call1(f, Box::new(self.arg(name, &args[0], 1, T::String)?)),
                out,
            ))
        };
        match name {
            "ip" => one(Func1::Ip, T::IpAddress),
            "timestamp" => one(Func1::Timestamp, T::Timestamp),
            "dnsName" => one(Func1::DnsName, T::DnsName),
            "email" => one(Func1::Email, T::EmailAddress),
            "uri" => one(Func1::Uri, T::Uri),
            "toLower" => one(Func1::ToLower, T::String),
            "size" => one(Func1::Size, T::Int64),
            "match" => {
                arity(2)?;
                let s = self.arg(name, &args[0], 1, T::String)?;
                let p = self.arg(name, &args[1], 2, T::String)?;
                Ok((Node::Call2(Func2::Match, Box::new(s), Box::new(p)), T::Bool))
            }
            "emptyStringMap" => {
                arity(0)?;
                Ok((
                    Node::Const(EvalValue::StringMap(StringMapRef::EMPTY)),
                    T::StringMap,
                ))
            }
            "conditional" | "conditionalString" => {
                arity(3)?;
                let c = self.arg(name, &args[0], 1, T::Bool)?;
                let allowed: &[ValueType] = if name == "conditional" {
                    &[]
                } else {
                    &[T::String]
                };
                let (x, y, ty) = self.same_from(name, &args[1], &args[2], allowed)?;
                Ok((Node::Cond(Box::new(c), Box::new(x), Box::new(y)), ty))
            }
            "matches" | "startsWith" | "endsWith" => Err(CheckError::NotAFunction {
                name: name.to_owned(),
                pos,
            }),
            _ => Err(CheckError::UnknownFunction {
                name: name.to_owned(),
                pos,
                hint: String::new(),
            }),
        }
    }

    /// [`Self::same`] for arguments 2 and 3 of `conditional`.
    fn same_from(
        &self,
        func: &str,
        a: &Ast,
        b: &Ast,
        allowed: &[ValueType],
    ) -> Result<(Node, Node, ValueType), CheckError> {
        self.same(func, a, b, allowed).map_err(|e| match e {
            CheckError::ArgType {
                func,
                index,
                pos,
                expected,
                found,
            } => CheckError::ArgType {
                func,
                index: index + 1,
                pos,
                expected,
                found,
            },
            other => other,
        })
    }

    fn method(
        &self,
        name: &str,
        pos: Pos,
        target: &Ast,
        args: &[Ast],
    ) -> Result<(Node, ValueType), CheckError> {
        let f = match name {
            "matches" => Func2::Matches,
            "startsWith" => Func2::StartsWith,
            "endsWith" => Func2::EndsWith,
            _ => {
                return Err(CheckError::NotAMethod {
                    name: name.to_owned(),
                    pos,
                })
            }
        };
        if args.len() != 1 {
            return Err(CheckError::Arity {
                func: name.to_owned(),
                pos,
                expected: 1,
                found: args.len(),
            });
        }
        let t = self.node(target)?;
        if t.1 != T::String {
            return Err(CheckError::ArgType {
                func: name.to_owned(),
                index: 0,
                pos: target.pos,
                expected: "STRING".to_owned(),
                found: t.1,
            });
        }
        let arg = self.arg(name, &args[0], 1, T::String)?;
        if let (Func2::Matches, Node::Const(EvalValue::String(p))) = (f, &t.0) {
            let re = regex::Regex::new(p).map_err(|e| CheckError::Constant {
                pos: target.pos,
                message: format!("invalid regular expression {p:?}: {e}"),
            })?;
            return Ok((Node::Regex(Box::new(re), Box::new(arg)), T::Bool));
        }
        Ok((Node::Call2(f, Box::new(t.0), Box::new(arg)), T::Bool))
    }
}

fn one_of(types: &[ValueType]) -> String {
    let names: Vec<_> = types.iter().map(|t| t.name()).collect();
    match names.split_last() {
        Some((last, rest)) if !rest.is_empty() => format!("{} or {last}", rest.join(", ")),
        _ => names.join(""),
    }
}

/// A bag with nothing in it, for folding constants.
struct Empty;

impl Attributes for Empty {
    fn get(&self, _: AttrRef<'_>) -> Option<Value<'_>> {
        None
    }
}

/// Replaces a node whose operands are all constants by its value; a constant on the left of
/// `|` always has a value, so `"x" | y` folds to `"x"`.
fn fold(node: Node, pos: Pos) -> Result<Node, CheckError> {
    if let Node::Or(l, _) = &node {
        if let Node::Const(v) = &**l {
            return Ok(Node::Const(v.clone()));
        }
    }
    if !node.operands_const() {
        return Ok(node);
    }
    let value = node
        .eval(&Empty, &mut NoRecord)
        .map_err(|e| CheckError::Constant {
            pos,
            message: e.to_string(),
        })?
        .to_static();
    Ok(value.map_or(node, Node::Const))
}
