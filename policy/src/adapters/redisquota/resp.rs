//! RESP2, the Redis wire format, as far as redisquota needs it: commands are arrays of bulk
//! strings ([`encode`]); replies are simple strings, errors, integers, bulk strings and arrays
//! ([`parse`], incremental: `None` until a whole reply is buffered). Pure; the parser bounds
//! nesting, element counts and lengths, so a hostile or broken peer cannot make it allocate
//! without bound.

/// A reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Reply {
    Simple(String),
    Error(String),
    Int(i64),
    /// `None`: the null bulk string.
    Bulk(Option<Vec<u8>>),
    /// `None`: the null array.
    Array(Option<Vec<Reply>>),
}

/// Why bytes are not RESP2.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad RESP2 reply: {0}")]
pub struct ParseError(pub &'static str);

/// Deepest array nesting accepted.
const MAX_DEPTH: usize = 4;
/// Most elements of one array accepted.
const MAX_ELEMENTS: i64 = 1024;
/// Longest bulk string accepted.
const MAX_BULK: i64 = 512 * 1024;

/// Appends `args` as one command (an array of bulk strings).
pub fn encode(args: &[&[u8]], out: &mut Vec<u8>) {
    out.push(b'*');
    out.extend_from_slice(args.len().to_string().as_bytes());
    out.extend_from_slice(b"\r\n");
    for a in args {
        out.push(b'$');
        out.extend_from_slice(a.len().to_string().as_bytes());
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// The first reply of `buf` and the bytes it took; `Ok(None)` when `buf` holds only part of
/// one.
pub fn parse(buf: &[u8]) -> Result<Option<(Reply, usize)>, ParseError> {
    parse_at(buf, 0, 0)
}

fn parse_at(buf: &[u8], at: usize, depth: usize) -> Result<Option<(Reply, usize)>, ParseError> {
    let Some((kind, line, next)) = line(buf, at)? else {
        return Ok(None);
    };
    let text = || {
        std::str::from_utf8(line)
            .map(str::to_owned)
            .map_err(|_| ParseError("line is not UTF-8"))
    };
    match kind {
        b'+' => Ok(Some((Reply::Simple(text()?), next))),
        b'-' => Ok(Some((Reply::Error(text()?), next))),
        b':' => Ok(Some((Reply::Int(int(line)?), next))),
        b'$' => {
            let n = int(line)?;
            if n == -1 {
                return Ok(Some((Reply::Bulk(None), next)));
            }
            if !(0..=MAX_BULK).contains(&n) {
                return Err(ParseError("bulk length out of range"));
            }
            let end = next + n as usize;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            if &buf[end..end + 2] != b"\r\n" {
                return Err(ParseError("bulk string not followed by CRLF"));
            }
            Ok(Some((Reply::Bulk(Some(buf[next..end].to_vec())), end + 2)))
        }
        b'*' => {
            let n = int(line)?;
            if n == -1 {
                return Ok(Some((Reply::Array(None), next)));
            }
            if !(0..=MAX_ELEMENTS).contains(&n) {
                return Err(ParseError("array length out of range"));
            }
            if depth >= MAX_DEPTH {
                return Err(ParseError("arrays nested too deep"));
            }
            let mut items = Vec::with_capacity(n as usize);
            let mut at = next;
            for _ in 0..n {
                match parse_at(buf, at, depth + 1)? {
                    Some((item, after)) => {
                        items.push(item);
                        at = after;
                    }
                    None => return Ok(None),
                }
            }
            Ok(Some((Reply::Array(Some(items)), at)))
        }
        _ => Err(ParseError("unknown reply type")),
    }
}

/// (type byte, rest of the line, index after its CRLF).
type Line<'a> = (u8, &'a [u8], usize);

/// The line starting at `at`; `None` until its CRLF is buffered.
fn line(buf: &[u8], at: usize) -> Result<Option<Line<'_>>, ParseError> {
    let Some(&kind) = buf.get(at) else {
        return Ok(None);
    };
    let rest = &buf[at + 1..];
    match rest.windows(2).position(|w| w == b"\r\n") {
        Some(end) => Ok(Some((kind, &rest[..end], at + 1 + end + 2))),
        None if rest.len() > 64 * 1024 => Err(ParseError("line too long")),
        None => Ok(None),
    }
}

fn int(line: &[u8]) -> Result<i64, ParseError> {
    std::str::from_utf8(line)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(ParseError("not an integer"))
}
