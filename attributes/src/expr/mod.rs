//! The Mixer expression language (CEXL, spec §4): parse, type-check against a [`Vocabulary`],
//! compile, evaluate.
//!
//! [`compile`] turns text into an [`Expression`] once, at config time: [`parse`] (the Go
//! expression subset, `parser`), type checking and compilation to a small node tree (`check`,
//! with constants folded and constant regexes compiled). Per request, [`Expression::evaluate`]
//! runs the tree against any [`Attributes`] bag; [`Expression::evaluate_recorded`] also reports
//! every attribute and map-key read to a [`Recorder`], which is how policy decisions learn
//! their cache keys (§1.6). Common expressions — attribute lookups, string equality, the `|`
//! fallback, map indexing, `match` — evaluate without allocating.
//!
//! Names starting with `$` (`$out.source_labels`, template outputs in attribute bindings) are
//! read like attribute names; the rules layer declares them in the vocabulary it checks with.
//!
//! Where this differs from Mixer, on purpose: a constant that cannot be converted
//! (`ip("nope")`, `timestamp("yesterday")`, an invalid constant `matches` regex) is a compile
//! error, where Mixer fails every evaluation; a missing map on the left of `|` falls through
//! like a missing key; expressions are limited to 500 operators and 100 levels of nesting
//! (a flat `a && b && …` chain counts one level per operator).

mod ast;
mod check;
mod duration;
mod eval;
mod externs;
mod lexer;
mod parser;
mod probe;
mod probe_memo;
mod value;

pub use ast::{Ast, AstKind, BinaryOp, Pos, UnaryOp};
pub use duration::{parse_duration, DurationError, GoDuration};
pub use externs::parse_timestamp;
pub use parser::parse;
pub use probe::Probes;
pub use probe_memo::{PassHasher, ProbeMemo};
pub use value::EvalValue;

use crate::access::Attributes;
use crate::referenced::{NoRecord, Recorder};
use crate::value::{ValueType, WireKind};
use crate::vocabulary::Vocabulary;
use std::borrow::Cow;
use std::fmt;

/// The text is not a CEXL expression.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message} at {pos}")]
pub struct ParseError {
    pub pos: Pos,
    pub message: String,
}

impl ParseError {
    pub(crate) fn new(pos: Pos, message: impl Into<String>) -> ParseError {
        ParseError {
            pos,
            message: message.into(),
        }
    }
}

/// The expression parses but does not type-check (or a constant in it is invalid).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CheckError {
    #[error("unknown attribute {name:?} at {pos}{}", did_you_mean(suggestion))]
    UnknownAttribute {
        name: String,
        pos: Pos,
        suggestion: Option<String>,
    },
    #[error("unknown function: {name} at {pos}{hint}")]
    UnknownFunction {
        name: String,
        pos: Pos,
        hint: String,
    },
    #[error("{name} at {pos} is a method: call it on a string, as in s.{name}(x)")]
    NotAFunction { name: String, pos: Pos },
    #[error("{name} at {pos} is not a method; only matches, startsWith and endsWith are")]
    NotAMethod { name: String, pos: Pos },
    #[error("{func} at {pos}: expected {expected} argument{}, found {found}", plural(*expected))]
    Arity {
        func: String,
        pos: Pos,
        expected: usize,
        found: usize,
    },
    /// `index` is 1-based; 0 is the target of a method call.
    #[error("{func}: {} at {pos}: expected {expected}, found {found}", arg_name(*index))]
    ArgType {
        func: String,
        index: usize,
        pos: Pos,
        expected: String,
        found: ValueType,
    },
    #[error("invalid constant at {pos}: {message}")]
    Constant { pos: Pos, message: String },
    #[error("expected {expected}, found {found}")]
    ResultType {
        expected: ValueType,
        found: ValueType,
    },
}

fn did_you_mean(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(" — did you mean {s:?}?"))
        .unwrap_or_default()
}

fn plural(n: usize) -> &'static str {
    if n == 1 {
        ""
    } else {
        "s"
    }
}

fn arg_name(index: usize) -> String {
    if index == 0 {
        "target".to_owned()
    } else {
        format!("argument {index}")
    }
}

/// Why [`compile`] failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExprError {
    #[error("{0}")]
    Parse(#[from] ParseError),
    #[error("{0}")]
    Check(#[from] CheckError),
}

/// Why an evaluation failed. Mixer's wording where Mixer has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EvalError {
    #[error("lookup failed: '{0}'")]
    LookupFailed(Box<str>),
    #[error("attribute '{name}' is declared {declared} but the bag holds a {found:?} value")]
    WrongKind {
        name: Box<str>,
        declared: ValueType,
        found: WireKind,
    },
    #[error("attribute '{name}' is an IP_ADDRESS but holds {len} bytes (want 4 or 16)")]
    BadIp { name: Box<str>, len: usize },
    #[error("{0}")]
    Function(String),
    #[error("invalid regular expression {pattern:?}: {message}")]
    Regex { pattern: String, message: String },
    #[error("internal type error: expected {expected}, found {found}")]
    Type {
        expected: ValueType,
        found: ValueType,
    },
}

/// A compiled expression: type-checked, ready to evaluate against any bag.
#[derive(Debug, Clone)]
pub struct Expression {
    text: Box<str>,
    root: eval::Node,
    ty: ValueType,
}

/// Parses, type-checks against `vocab` and compiles `text`.
pub fn compile(text: &str, vocab: &Vocabulary) -> Result<Expression, ExprError> {
    let ast = parse(text)?;
    let (root, ty) = check::check(&ast, vocab)?;
    Ok(Expression {
        text: text.into(),
        root,
        ty,
    })
}

/// [`compile`], requiring the result type `expected` (a rule's `match` must be BOOL, an
/// instance field its declared type): `expected BOOL, found STRING`.
pub fn compile_as(
    text: &str,
    vocab: &Vocabulary,
    expected: ValueType,
) -> Result<Expression, ExprError> {
    let e = compile(text, vocab)?;
    if e.ty != expected {
        return Err(CheckError::ResultType {
            expected,
            found: e.ty,
        }
        .into());
    }
    Ok(e)
}

impl Expression {
    /// A cheap necessary condition of a BOOL expression: `(attr, k)` when the expression is
    /// `attr == "k"`, or a `&&` chain whose first operand is. Evaluating `attr` alone (the
    /// returned expression, strict) decides the expression when it is an error (the
    /// expression's error, the same value) or a STRING other than `k` (the expression is false);
    /// otherwise the whole expression must be evaluated.
    pub fn guard(&self) -> Option<(Expression, &str)> {
        let mut node = &self.root;
        while let eval::Node::LAnd(first, _) = node {
            node = first;
        }
        let eval::Node::Eq {
            a,
            b,
            negate: false,
        } = node
        else {
            return None;
        };
        let (eval::Node::Attr(attr), eval::Node::Const(EvalValue::String(k))) = (&**a, &**b) else {
            return None;
        };
        let attr = Expression {
            text: attr.name.clone(),
            root: eval::Node::Attr(attr.clone()),
            ty: attr.ty,
        };
        Some((attr, k))
    }

    /// The type every evaluation returns.
    pub fn result_type(&self) -> ValueType {
        self.ty
    }

    /// The source text.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Evaluates against `bag`.
    pub fn evaluate<'a, A: Attributes + ?Sized>(
        &'a self,
        bag: &'a A,
    ) -> Result<EvalValue<'a>, EvalError> {
        self.root.eval(bag, &mut NoRecord)
    }

    /// Evaluates against `bag`, reporting every attribute and map-key read to `recorder`.
    pub fn evaluate_recorded<'a, A, R>(
        &'a self,
        bag: &'a A,
        recorder: &mut R,
    ) -> Result<EvalValue<'a>, EvalError>
    where
        A: Attributes + ?Sized,
        R: Recorder,
    {
        self.root.eval(bag, recorder)
    }

    /// Evaluates a BOOL expression (a predicate), reporting reads to `recorder` (pass
    /// [`NoRecord`] when no one listens).
    pub fn evaluate_bool<A, R>(&self, bag: &A, recorder: &mut R) -> Result<bool, EvalError>
    where
        A: Attributes + ?Sized,
        R: Recorder,
    {
        self.root.eval_bool(bag, recorder)
    }

    /// Evaluates a STRING (or DNS_NAME, EMAIL_ADDRESS, URI) expression.
    pub fn evaluate_str<'a, A: Attributes + ?Sized>(
        &'a self,
        bag: &'a A,
    ) -> Result<Cow<'a, str>, EvalError> {
        self.root.eval_str(bag, &mut NoRecord)
    }
}

impl fmt::Display for Expression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}
