//! The tokenizer: the part of Go's lexical grammar CEXL text can use — identifiers (plus `$`
//! for template output references such as `$out.labels`), integer, float, string, raw-string
//! and char literals, and the operators and punctuation of Go expressions. Every token carries
//! its 1-based line and column.

use super::ast::Pos;
use super::ParseError;

/// A lexical token.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Tok {
    Ident(String),
    Int(i64),
    Float(f64),
    Str(String),
    /// Operators and punctuation, as written (`==`, `&^`, `(` …).
    Punct(&'static str),
    Eof,
}

impl Tok {
    /// How the token reads in an error message.
    pub(crate) fn describe(&self) -> String {
        match self {
            Tok::Ident(s) => format!("identifier {s:?}"),
            Tok::Int(v) => format!("integer {v}"),
            Tok::Float(v) => format!("number {v}"),
            Tok::Str(s) => format!("string {s:?}"),
            Tok::Punct(p) => format!("{p:?}"),
            Tok::Eof => "end of input".to_owned(),
        }
    }
}

/// Longest first, so `&&` wins over `&` and `&^` over `&`.
const PUNCTS: [&str; 26] = [
    "&^", "&&", "||", "==", "!=", "<=", ">=", "<<", ">>", "+", "-", "*", "/", "%", "&", "|", "^",
    "<", ">", "!", "(", ")", "[", "]", ",", ".",
];

/// Splits `src` into tokens, ending with [`Tok::Eof`].
pub(crate) fn tokenize(src: &str) -> Result<Vec<(Tok, Pos)>, ParseError> {
    let mut lx = Lexer {
        src,
        i: 0,
        line: 1,
        col: 1,
    };
    let mut out = Vec::new();
    loop {
        lx.skip_space()?;
        let pos = lx.pos();
        let Some(c) = lx.peek() else {
            out.push((Tok::Eof, pos));
            return Ok(out);
        };
        let tok = if c.is_alphabetic() || c == '_' || c == '$' {
            Tok::Ident(
                lx.take_while(|c| c.is_alphanumeric() || c == '_' || c == '$')
                    .to_owned(),
            )
        } else if c.is_ascii_digit()
            || (c == '.' && lx.peek_at(1).is_some_and(|d| d.is_ascii_digit()))
        {
            lx.number(pos)?
        } else if c == '"' {
            lx.bump();
            Tok::Str(lx.quoted('"', pos)?)
        } else if c == '`' {
            lx.bump();
            lx.raw(pos)?
        } else if c == '\'' {
            lx.bump();
            let s = lx.quoted('\'', pos)?;
            if s.chars().count() != 1 {
                return Err(ParseError::new(
                    pos,
                    "a char literal holds exactly one character",
                ));
            }
            Tok::Str(s)
        } else if let Some(p) = PUNCTS.iter().find(|p| lx.rest().starts_with(**p)) {
            for _ in 0..p.len() {
                lx.bump();
            }
            Tok::Punct(p)
        } else {
            return Err(ParseError::new(pos, format!("unexpected character {c:?}")));
        };
        out.push((tok, pos));
    }
}

struct Lexer<'s> {
    src: &'s str,
    i: usize,
    line: u32,
    col: u32,
}

impl<'s> Lexer<'s> {
    fn pos(&self) -> Pos {
        Pos {
            line: self.line,
            col: self.col,
        }
    }

    fn rest(&self) -> &'s str {
        &self.src[self.i..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek_at(&self, n: usize) -> Option<char> {
        self.rest().chars().nth(n)
    }

    fn bump(&mut self) -> Option<char> {
        let c = self.peek()?;
        self.i += c.len_utf8();
        if c == '\n' {
            self.line += 1;
            self.col = 1;
        } else {
            self.col += 1;
        }
        Some(c)
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'s str {
        let start = self.i;
        while self.peek().is_some_and(&f) {
            self.bump();
        }
        &self.src[start..self.i]
    }

    fn skip_space(&mut self) -> Result<(), ParseError> {
        loop {
            match self.peek() {
                Some(' ' | '\t' | '\n' | '\r') => {
                    self.bump();
                }
                Some('/') if self.rest().starts_with("//") => {
                    self.take_while(|c| c != '\n');
                }
                Some('/') if self.rest().starts_with("/*") => {
                    let pos = self.pos();
                    let Some(end) = self.rest().find("*/") else {
                        return Err(ParseError::new(pos, "comment not terminated"));
                    };
                    let stop = self.i + end + 2;
                    while self.i < stop {
                        self.bump();
                    }
                }
                _ => return Ok(()),
            }
        }
    }

    /// Go integer and float literals (decimal, hex, octal, binary; `_` separators).
    fn number(&mut self, pos: Pos) -> Result<Tok, ParseError> {
        let text = self.take_while(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        // an exponent sign: `1e-3`, `2E+5`
        let text = if (text.ends_with('e') || text.ends_with('E'))
            && !text.starts_with("0x")
            && !text.starts_with("0X")
            && matches!(self.peek(), Some('+' | '-'))
        {
            let start = self.i - text.len();
            self.bump();
            self.take_while(|c| c.is_ascii_digit() || c == '_');
            &self.src[start..self.i]
        } else {
            text
        };
        let bad = || ParseError::new(pos, format!("invalid number literal {text:?}"));
        if text.contains("__") || text.ends_with('_') || text.ends_with('i') {
            return Err(bad());
        }
        let clean = text.replace('_', "");
        let lower = clean.to_ascii_lowercase();
        let radix = |prefix: &str, radix: u32| -> Result<Tok, ParseError> {
            let digits = &lower[prefix.len()..];
            if digits.is_empty() {
                return Err(bad());
            }
            u64::from_str_radix(digits, radix)
                .map_err(|_| bad())
                .and_then(|v| i64::try_from(v).map_err(|_| out_of_range(pos, text)))
                .map(Tok::Int)
        };
        if lower.starts_with("0x") {
            if lower.contains('.') || lower.contains('p') {
                return Err(ParseError::new(pos, "hexadecimal floats are not supported"));
            }
            return radix("0x", 16);
        }
        if lower.starts_with("0b") {
            return radix("0b", 2);
        }
        if lower.starts_with("0o") {
            return radix("0o", 8);
        }
        if lower.contains('.') || lower.contains('e') {
            let v: f64 = lower.parse().map_err(|_| bad())?;
            if !v.is_finite() {
                return Err(out_of_range(pos, text));
            }
            return Ok(Tok::Float(v));
        }
        if lower.len() > 1 && lower.starts_with('0') {
            return radix("0", 8);
        }
        if !lower.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        lower
            .parse::<i64>()
            .map(Tok::Int)
            .map_err(|_| out_of_range(pos, text))
    }

    /// The body of an interpreted string or char literal, after its opening quote.
    fn quoted(&mut self, quote: char, pos: Pos) -> Result<String, ParseError> {
        let mut out = String::new();
        loop {
            let here = self.pos();
            match self.bump() {
                None | Some('\n') => {
                    return Err(ParseError::new(pos, "string literal not terminated"));
                }
                Some(c) if c == quote => return Ok(out),
                Some('\\') => self.escape(quote, here, &mut out)?,
                Some(c) => out.push(c),
            }
        }
    }

    fn escape(&mut self, quote: char, pos: Pos, out: &mut String) -> Result<(), ParseError> {
        let bad = |what: &str| ParseError::new(pos, format!("invalid escape sequence: {what}"));
        let c = self.bump().ok_or_else(|| bad("end of input"))?;
        let simple = match c {
            'a' => Some('\u{7}'),
            'b' => Some('\u{8}'),
            'f' => Some('\u{c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{b}'),
            '\\' => Some('\\'),
            c if c == quote => Some(c),
            _ => None,
        };
        if let Some(s) = simple {
            out.push(s);
            return Ok(());
        }
        let (len, radix) = match c {
            '0'..='7' => (2, 8),
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            other => return Err(bad(&format!("\\{other}"))),
        };
        let mut digits = String::new();
        if radix == 8 {
            digits.push(c);
        }
        for _ in 0..len {
            match self.bump() {
                Some(d) if d.is_digit(radix) => digits.push(d),
                _ => return Err(bad(&format!("\\{c}{digits}"))),
            }
        }
        let v = u32::from_str_radix(&digits, radix).map_err(|_| bad(&digits))?;
        match c {
            // \x and octal escapes are single bytes; CEXL strings are UTF-8 text, so only
            // ASCII bytes are accepted.
            'x' | '0'..='7' if v < 0x80 => out.push(v as u8 as char),
            'x' | '0'..='7' => return Err(bad("a non-ASCII byte escape in a string")),
            _ => out.push(char::from_u32(v).ok_or_else(|| bad("not a Unicode code point"))?),
        }
        Ok(())
    }

    fn raw(&mut self, pos: Pos) -> Result<Tok, ParseError> {
        let mut out = String::new();
        loop {
            match self.bump() {
                None => return Err(ParseError::new(pos, "raw string literal not terminated")),
                Some('`') => return Ok(Tok::Str(out)),
                Some('\r') => {}
                Some(c) => out.push(c),
            }
        }
    }
}

fn out_of_range(pos: Pos, text: &str) -> ParseError {
    ParseError::new(pos, format!("number literal {text} is out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s)
            .expect("tokenizes")
            .into_iter()
            .map(|(t, _)| t)
            .collect()
    }

    #[test]
    fn literals() {
        assert_eq!(
            toks("0x1F 017 0o17 0b11 1_000"),
            [
                Tok::Int(31),
                Tok::Int(15),
                Tok::Int(15),
                Tok::Int(3),
                Tok::Int(1000),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks("1.5 .5 1e3 2E-2"),
            [
                Tok::Float(1.5),
                Tok::Float(0.5),
                Tok::Float(1000.0),
                Tok::Float(0.02),
                Tok::Eof
            ]
        );
        assert_eq!(
            toks(r#""a\tb\"\u00e9\x41" `r\n` 'x' '\''"#),
            [
                Tok::Str("a\tb\"éA".into()),
                Tok::Str("r\\n".into()),
                Tok::Str("x".into()),
                Tok::Str("'".into()),
                Tok::Eof
            ]
        );
    }

    #[test]
    fn errors_have_positions() {
        let e = tokenize("a ==\n  \"open").expect_err("fails");
        assert_eq!(e.to_string(), "string literal not terminated at 2:3");
        assert!(tokenize("99999999999999999999")
            .expect_err("fails")
            .to_string()
            .contains("out of range"));
        assert!(tokenize("'ab'").is_err());
        assert!(tokenize("a # b")
            .expect_err("fails")
            .to_string()
            .contains("1:3"));
    }
}
