//! The syntax tree [`parse`](super::parse) produces, before type checking, and a printer that
//! writes it back as CEXL text (`parse(ast.to_string())` gives the same tree).

use std::fmt;

/// A 1-based line and column (in characters) in the expression text.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pos {
    pub line: u32,
    pub col: u32,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

/// A node of the syntax tree and where it starts.
#[derive(Clone, Debug)]
pub struct Ast {
    pub pos: Pos,
    pub kind: AstKind,
}

/// Equality of trees compares shapes and values, not positions.
impl PartialEq for Ast {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

/// The kinds of syntax nodes.
#[derive(Clone, Debug, PartialEq)]
pub enum AstKind {
    /// An attribute name: a selector chain flattened (`a.b.c`), or `$out.x`.
    Attribute(String),
    Int(i64),
    Float(f64),
    /// A string or char literal (a duration literal too: typing decides).
    Str(String),
    /// `true` / `false`, any case.
    Bool(bool),
    Unary(UnaryOp, Box<Ast>),
    Binary(BinaryOp, Box<Ast>, Box<Ast>),
    /// `map[key]`.
    Index(Box<Ast>, Box<Ast>),
    /// `name(args)`, or with a target `target.name(args)`.
    Call {
        name: String,
        target: Option<Box<Ast>>,
        args: Vec<Ast>,
    },
}

/// Unary operators Go parses. CEXL supports none of them; the checker rejects them by their
/// Mixer function name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Not,
    Neg,
    Plus,
    Xor,
}

impl UnaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            UnaryOp::Not => "!",
            UnaryOp::Neg => "-",
            UnaryOp::Plus => "+",
            UnaryOp::Xor => "^",
        }
    }

    /// The function name Mixer maps the operator to.
    pub fn function(self) -> &'static str {
        match self {
            UnaryOp::Not => "NOT",
            UnaryOp::Neg => "SUB",
            UnaryOp::Plus => "ADD",
            UnaryOp::Xor => "XOR",
        }
    }
}

/// Binary operators of Go's expression grammar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BinaryOp {
    LOr,
    LAnd,
    Eq,
    Neq,
    Lt,
    Leq,
    Gt,
    Geq,
    Add,
    Sub,
    /// `|`: CEXL's "first present" operator.
    Or,
    Xor,
    Mul,
    Quo,
    Rem,
    Shl,
    Shr,
    And,
    AndNot,
}

impl BinaryOp {
    /// Every operator: symbol, operator and Go precedence (5 binds tightest).
    pub const TABLE: [(&'static str, BinaryOp, u8); 19] = [
        ("||", BinaryOp::LOr, 1),
        ("&&", BinaryOp::LAnd, 2),
        ("==", BinaryOp::Eq, 3),
        ("!=", BinaryOp::Neq, 3),
        ("<", BinaryOp::Lt, 3),
        ("<=", BinaryOp::Leq, 3),
        (">", BinaryOp::Gt, 3),
        (">=", BinaryOp::Geq, 3),
        ("+", BinaryOp::Add, 4),
        ("-", BinaryOp::Sub, 4),
        ("|", BinaryOp::Or, 4),
        ("^", BinaryOp::Xor, 4),
        ("*", BinaryOp::Mul, 5),
        ("/", BinaryOp::Quo, 5),
        ("%", BinaryOp::Rem, 5),
        ("<<", BinaryOp::Shl, 5),
        (">>", BinaryOp::Shr, 5),
        ("&", BinaryOp::And, 5),
        ("&^", BinaryOp::AndNot, 5),
    ];

    /// Go's precedence level, 1 (`||`) to 5 (`*`).
    pub fn precedence(self) -> u8 {
        BinaryOp::TABLE
            .iter()
            .find(|e| e.1 == self)
            .map_or(5, |e| e.2)
    }

    pub fn symbol(self) -> &'static str {
        BinaryOp::TABLE
            .iter()
            .find(|e| e.1 == self)
            .map_or("?", |e| e.0)
    }

    /// The intrinsic name Mixer maps the operator to (`EQ`, `LOR`, `QUO` …).
    pub fn function(self) -> &'static str {
        match self {
            BinaryOp::LOr => "LOR",
            BinaryOp::LAnd => "LAND",
            BinaryOp::Eq => "EQ",
            BinaryOp::Neq => "NEQ",
            BinaryOp::Lt => "LT",
            BinaryOp::Leq => "LEQ",
            BinaryOp::Gt => "GT",
            BinaryOp::Geq => "GEQ",
            BinaryOp::Add => "ADD",
            BinaryOp::Sub => "SUB",
            BinaryOp::Or => "OR",
            BinaryOp::Xor => "XOR",
            BinaryOp::Mul => "MUL",
            BinaryOp::Quo => "QUO",
            BinaryOp::Rem => "REM",
            BinaryOp::Shl => "SHL",
            BinaryOp::Shr => "SHR",
            BinaryOp::And => "AND",
            BinaryOp::AndNot => "AND_NOT",
        }
    }
}

impl fmt::Display for Ast {
    /// Prints CEXL text; every compound operand is parenthesised, so precedence never matters.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            AstKind::Attribute(name) => f.write_str(name),
            AstKind::Int(v) => write!(f, "{v}"),
            AstKind::Float(v) => write!(f, "{v:?}"),
            AstKind::Str(s) => write_go_string(f, s),
            AstKind::Bool(b) => write!(f, "{b}"),
            AstKind::Unary(op, x) => {
                f.write_str(op.symbol())?;
                write_operand(f, x, 6)
            }
            AstKind::Binary(op, a, b) => {
                let prec = op.precedence();
                write_operand(f, a, prec)?;
                write!(f, " {} ", op.symbol())?;
                // operators associate to the left: a right operand of equal precedence needs
                // parentheses
                write_operand(f, b, prec + 1)
            }
            AstKind::Index(m, k) => {
                write_operand(f, m, 7)?;
                write!(f, "[{k}]")
            }
            AstKind::Call { name, target, args } => {
                if let Some(t) = target {
                    // `0.m()` would lex as the float `0.`
                    match t.kind {
                        AstKind::Int(_) | AstKind::Float(_) => write!(f, "({t})")?,
                        _ => write_operand(f, t, 7)?,
                    }
                    f.write_str(".")?;
                }
                write!(f, "{name}(")?;
                for (i, a) in args.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{a}")?;
                }
                f.write_str(")")
            }
        }
    }
}

/// An operand of an operator binding at `min_prec` (6: unary, 7: index or method target):
/// parenthesised when it binds less tightly, so printing adds only the parentheses needed.
fn write_operand(f: &mut fmt::Formatter<'_>, x: &Ast, min_prec: u8) -> fmt::Result {
    let prec = match &x.kind {
        AstKind::Binary(op, ..) => op.precedence(),
        AstKind::Unary(..) => 6,
        _ => 7,
    };
    if prec < min_prec {
        write!(f, "({x})")
    } else {
        write!(f, "{x}")
    }
}

/// Writes `s` as a Go interpreted string literal.
pub(crate) fn write_go_string(f: &mut impl fmt::Write, s: &str) -> fmt::Result {
    f.write_char('"')?;
    for c in s.chars() {
        match c {
            '"' => f.write_str("\\\"")?,
            '\\' => f.write_str("\\\\")?,
            '\n' => f.write_str("\\n")?,
            '\t' => f.write_str("\\t")?,
            '\r' => f.write_str("\\r")?,
            c if c.is_control() => write!(f, "\\U{:08x}", c as u32)?,
            c => f.write_char(c)?,
        }
    }
    f.write_char('"')
}
