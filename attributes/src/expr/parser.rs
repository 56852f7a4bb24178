//! The parser: Go's expression grammar, as `go/parser.ParseExpr` reads it, restricted to what
//! CEXL gives meaning to. Binary operators climb Go's five precedence levels; selector chains
//! on an identifier flatten into one attribute name, and a selector followed by `(` is a method
//! call on what precedes it (`destination.service.startsWith("acme")`).

use super::ast::{Ast, AstKind, BinaryOp, Pos, UnaryOp};
use super::lexer::{tokenize, Tok};
use super::ParseError;

/// Deeper nesting than this is refused rather than risking the stack.
const MAX_DEPTH: u32 = 200;
/// At most this many operators, indexes and calls, and a tree at most `MAX_HEIGHT` deep: every
/// later pass recurses over the tree (a flat chain `a | a | … | a` is as deep as it is long),
/// and must fit a 2 MiB thread stack even in a debug build. Real expressions have tens.
const MAX_OPERATORS: u32 = 500;
const MAX_HEIGHT: u32 = 100;

/// Parses CEXL text into a syntax tree.
pub fn parse(src: &str) -> Result<Ast, ParseError> {
    let toks = tokenize(src)?;
    let mut p = Parser {
        toks,
        i: 0,
        depth: 0,
        operators: 0,
    };
    let ast = p.expr(1)?;
    p.expect_eof()?;
    if height(&ast) > MAX_HEIGHT {
        return Err(ParseError::new(
            Pos { line: 1, col: 1 },
            format!("expression is more than {MAX_HEIGHT} operators deep; split it"),
        ));
    }
    Ok(ast)
}

/// The depth of the tree (an atom is 1).
fn height(ast: &Ast) -> u32 {
    1 + match &ast.kind {
        AstKind::Unary(_, x) => height(x),
        AstKind::Binary(_, a, b) | AstKind::Index(a, b) => height(a).max(height(b)),
        AstKind::Call { target, args, .. } => {
            let t = target.as_deref().map_or(0, height);
            args.iter().map(height).fold(t, u32::max)
        }
        _ => 0,
    }
}

struct Parser {
    toks: Vec<(Tok, Pos)>,
    i: usize,
    depth: u32,
    operators: u32,
}

impl Parser {
    fn peek(&self) -> &Tok {
        self.toks.get(self.i).map_or(&Tok::Eof, |t| &t.0)
    }

    fn peek_at(&self, n: usize) -> &Tok {
        self.toks.get(self.i + n).map_or(&Tok::Eof, |t| &t.0)
    }

    fn pos(&self) -> Pos {
        self.toks
            .get(self.i)
            .or(self.toks.last())
            .map_or(Pos::default(), |t| t.1)
    }

    fn next(&mut self) -> (Tok, Pos) {
        let t = self
            .toks
            .get(self.i)
            .cloned()
            .unwrap_or((Tok::Eof, Pos::default()));
        if self.i < self.toks.len() {
            self.i += 1;
        }
        t
    }

    fn is_punct(&self, p: &str) -> bool {
        matches!(self.peek(), Tok::Punct(q) if *q == p)
    }

    fn expect(&mut self, p: &str, context: &str) -> Result<(), ParseError> {
        if self.is_punct(p) {
            self.i += 1;
            Ok(())
        } else {
            Err(self.unexpected(&format!("{p:?} {context}")))
        }
    }

    fn expect_eof(&self) -> Result<(), ParseError> {
        match self.peek() {
            Tok::Eof => Ok(()),
            _ => Err(self.unexpected("an operator or the end of the expression")),
        }
    }

    fn unexpected(&self, expected: &str) -> ParseError {
        ParseError::new(
            self.pos(),
            format!("expected {expected}, found {}", self.peek().describe()),
        )
    }

    /// Counts one more operator node.
    fn operator(&mut self) -> Result<(), ParseError> {
        self.operators += 1;
        if self.operators > MAX_OPERATORS {
            return Err(ParseError::new(
                self.pos(),
                format!("expression has more than {MAX_OPERATORS} operators"),
            ));
        }
        Ok(())
    }

    fn enter(&mut self) -> Result<(), ParseError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(ParseError::new(self.pos(), "expression nested too deeply"));
        }
        Ok(())
    }

    /// A binary expression whose operators bind at least as tightly as `min_prec`.
    fn expr(&mut self, min_prec: u8) -> Result<Ast, ParseError> {
        self.enter()?;
        let mut lhs = self.unary()?;
        while let Tok::Punct(p) = self.peek() {
            let Some(&(_, op, prec)) = BinaryOp::TABLE.iter().find(|e| e.0 == *p) else {
                break;
            };
            if prec < min_prec {
                break;
            }
            self.operator()?;
            let pos = self.next().1;
            let rhs = self.expr(prec + 1)?;
            lhs = Ast {
                pos,
                kind: AstKind::Binary(op, Box::new(lhs), Box::new(rhs)),
            };
        }
        self.depth -= 1;
        Ok(lhs)
    }

    fn unary(&mut self) -> Result<Ast, ParseError> {
        let op = match self.peek() {
            Tok::Punct("!") => UnaryOp::Not,
            Tok::Punct("-") => UnaryOp::Neg,
            Tok::Punct("+") => UnaryOp::Plus,
            Tok::Punct("^") => UnaryOp::Xor,
            _ => return self.postfix(),
        };
        self.operator()?;
        let pos = self.next().1;
        self.enter()?;
        let x = self.unary()?;
        self.depth -= 1;
        Ok(Ast {
            pos,
            kind: AstKind::Unary(op, Box::new(x)),
        })
    }

    /// A primary expression followed by any number of `[k]`, `.m(args)` and `(args)`.
    fn postfix(&mut self) -> Result<Ast, ParseError> {
        let mut x = self.primary()?;
        loop {
            if self.is_punct("[") {
                self.operator()?;
                let pos = self.next().1;
                let key = self.expr(1)?;
                self.expect("]", "to close the index")?;
                x = Ast {
                    pos: x.pos.min(pos),
                    kind: AstKind::Index(Box::new(x), Box::new(key)),
                };
            } else if self.is_punct(".") {
                self.i += 1;
                let Tok::Ident(name) = self.peek().clone() else {
                    return Err(self.unexpected("a method name after \".\""));
                };
                self.i += 1;
                if !self.is_punct("(") {
                    return Err(ParseError::new(
                        self.pos(),
                        format!(
                            "selector .{name} needs an attribute name before it; only a method \
                             call can follow this expression"
                        ),
                    ));
                }
                let args = self.args()?;
                let pos = x.pos;
                x = Ast {
                    pos,
                    kind: AstKind::Call {
                        name,
                        target: Some(Box::new(x)),
                        args,
                    },
                };
            } else if self.is_punct("(") {
                return Err(ParseError::new(
                    self.pos(),
                    "only named functions can be called",
                ));
            } else {
                return Ok(x);
            }
        }
    }

    fn primary(&mut self) -> Result<Ast, ParseError> {
        let (tok, pos) = self.next();
        let kind = match tok {
            Tok::Int(v) => AstKind::Int(v),
            Tok::Float(v) => AstKind::Float(v),
            Tok::Str(s) => AstKind::Str(s),
            Tok::Punct("(") => {
                let inner = self.expr(1)?;
                self.expect(")", "to close the parenthesis")?;
                return Ok(inner);
            }
            Tok::Ident(first) => return self.name(first, pos),
            _ => {
                self.i -= 1;
                return Err(self.unexpected("an attribute, a literal, a function call or \"(\""));
            }
        };
        Ok(Ast { pos, kind })
    }

    /// An identifier and the selectors after it, up to (not including) a method name.
    fn name(&mut self, first: String, pos: Pos) -> Result<Ast, ParseError> {
        let mut name = first;
        while self.is_punct(".") {
            let Tok::Ident(part) = self.peek_at(1) else {
                self.i += 1;
                return Err(self.unexpected("a name after \".\""));
            };
            if matches!(self.peek_at(2), Tok::Punct("(")) {
                break; // `.method(`: the postfix loop takes it
            }
            name.push('.');
            name.push_str(part);
            self.i += 2;
        }
        if self.is_punct("(") {
            if name.contains('.') {
                return Err(ParseError::new(pos, format!("unknown function {name:?}")));
            }
            let args = self.args()?;
            return Ok(Ast {
                pos,
                kind: AstKind::Call {
                    name,
                    target: None,
                    args,
                },
            });
        }
        let kind = if name.eq_ignore_ascii_case("true") {
            AstKind::Bool(true)
        } else if name.eq_ignore_ascii_case("false") {
            AstKind::Bool(false)
        } else {
            AstKind::Attribute(name)
        };
        Ok(Ast { pos, kind })
    }

    /// `(a, b, …)`, a trailing comma allowed as in Go.
    fn args(&mut self) -> Result<Vec<Ast>, ParseError> {
        self.operator()?;
        self.expect("(", "to start the arguments")?;
        let mut args = Vec::new();
        while !self.is_punct(")") {
            args.push(self.expr(1)?);
            if !self.is_punct(",") {
                break;
            }
            self.i += 1;
        }
        self.expect(")", "or \",\" in the argument list")?;
        Ok(args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> String {
        parse(s)
            .map(|a| a.to_string())
            .unwrap_or_else(|e| format!("error: {e}"))
    }

    #[test]
    fn precedence_follows_go() {
        let same = |a: &str, b: &str| {
            assert_eq!(parse(a).expect(a), parse(b).expect(b), "{a} vs {b}");
        };
        same("a | b == c", "(a | b) == c");
        same("a == b || c && d", "(a == b) || (c && d)");
        same("a + b * c", "a + (b * c)");
        same("a | b | \"x\"", "(a | b) | \"x\"");
        same("!a == b", "(!a) == b");
        assert_ne!(parse("a | (b | c)").ok(), parse("a | b | c").ok());
        // the printer adds only the parentheses needed
        assert_eq!(p("(a | b) == (c)"), "a | b == c");
        assert_eq!(p("a | (b | c)"), "a | (b | c)");
        assert_eq!(p("!(a == b)"), "!(a == b)");
        assert_eq!(p("(a + b) * c"), "(a + b) * c");
    }

    #[test]
    fn selectors_indexes_and_calls() {
        assert_eq!(p("request.auth.raw_claims"), "request.auth.raw_claims");
        assert_eq!(
            p("destination.service.startsWith(\"acme\")"),
            "destination.service.startsWith(\"acme\")"
        );
        let ast = parse("destination.service.startsWith(\"acme\")").expect("parses");
        let AstKind::Call {
            name,
            target: Some(t),
            ..
        } = ast.kind
        else {
            panic!("{ast:?}")
        };
        assert_eq!(name, "startsWith");
        assert_eq!(t.kind, AstKind::Attribute("destination.service".into()));
        assert_eq!(p("\"svc.*\".matches(x)"), "\"svc.*\".matches(x)");
        assert_eq!(
            p("request.headers[toLower(\"A\")]"),
            "request.headers[toLower(\"A\")]"
        );
        assert_eq!(p("TRUE || False"), "true || false");
        assert_eq!(
            p("$out.source_labels | emptyStringMap()"),
            "$out.source_labels | emptyStringMap()"
        );
    }

    #[test]
    fn errors_say_where_and_what() {
        assert_eq!(p("a =="), "error: expected an attribute, a literal, a function call or \"(\", found end of input at 1:5");
        assert_eq!(
            p("(a"),
            "error: expected \")\" to close the parenthesis, found end of input at 1:3"
        );
        assert_eq!(p("a b"), "error: expected an operator or the end of the expression, found identifier \"b\" at 1:3");
        assert!(p("f(a,").starts_with("error: expected an attribute"));
        assert!(p("m[\"k\"].x").contains("selector .x"));
        assert!(p(&"(".repeat(1000)).contains("nested too deeply"));
        assert!(p(&vec!["a"; 502].join(" | ")).contains("more than 500 operators"));
    }
}
