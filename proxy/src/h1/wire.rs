//! HTTP/1.1 heads as the native path reads and writes them (RFC 9112): a request head parsed
//! into `http` parts whose values are slices of the bytes read, the body's framing, and the
//! response head likewise; heads written back out. Anything the native path does not forward
//! itself (HTTP/1.0, `Expect`, `Upgrade`, `CONNECT`, unusual framing, a malformed head) is
//! reported as [`Parsed::Elsewhere`]: hyper takes the connection over from there, and gives
//! the answers it always gave.

use bytes::{BufMut, Bytes, BytesMut};
use hyper::header::{HeaderMap, HeaderName, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Request, StatusCode, Uri};
use std::mem::MaybeUninit;

/// Most headers a head may have here (hyper's limit too).
pub const MAX_HEADERS: usize = 100;
// a bit per header: see RawHeaders::end_to_end
const _: () = assert!(MAX_HEADERS <= 128);
/// Most bytes a head may take here; a longer one is left to hyper (requests) or refused
/// (responses).
pub const MAX_HEAD: usize = 64 * 1024;

/// How a message's body is delimited (RFC 9112 §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Framing {
    /// No body.
    Empty,
    /// `Content-Length`.
    Length(u64),
    /// `Transfer-Encoding: chunked`.
    Chunked,
    /// Until the sender closes (responses only).
    Close,
}

/// What reading a head came to.
#[derive(Debug)]
pub enum Parsed<T> {
    /// A whole head, and the bytes it took.
    Head(T, usize),
    /// Not all of it has arrived.
    Partial,
    /// Not for the native path (see the module docs); hyper handles the connection from here.
    Elsewhere(&'static str),
}

/// A request head.
#[derive(Debug)]
pub struct RequestHead {
    pub parts: Parts,
    pub body: Framing,
    /// The client did not say `Connection: close`.
    pub keep_alive: bool,
}

/// Where a name and its value lie in the head.
#[derive(Clone, Copy, Debug)]
struct Spans {
    name: (usize, usize),
    value: (usize, usize),
}

/// Room a connection keeps for parsing its heads, so that no parse clears or allocates
/// room for [`MAX_HEADERS`] headers (6 KB a head, zeroed, had been a fifth of the path's
/// instructions).
#[derive(Debug, Default)]
pub struct Scratch {
    spans: Vec<Spans>,
}

/// httparse's header slots, left uninitialised: it writes those it fills.
fn slots<'b>() -> [MaybeUninit<httparse::Header<'b>>; MAX_HEADERS] {
    [const { MaybeUninit::uninit() }; MAX_HEADERS]
}

/// Records where each header lies in `whole`.
fn spans_of(scratch: &mut Scratch, whole: &[u8], headers: &[httparse::Header<'_>]) {
    scratch.spans.clear();
    scratch.spans.extend(headers.iter().map(|h| Spans {
        name: span(whole, h.name.as_bytes()),
        value: span(whole, h.value),
    }));
}

fn span(whole: &[u8], part: &[u8]) -> (usize, usize) {
    let start = part.as_ptr() as usize - whole.as_ptr() as usize;
    (start, start + part.len())
}

/// Reads a request head from the start of `buf`; on success the head's bytes are taken from
/// `buf` (the header values are slices of them) and the body's first bytes stay.
pub fn parse_request(buf: &mut BytesMut, scratch: &mut Scratch) -> Parsed<RequestHead> {
    let mut slots = slots();
    let mut req = httparse::Request::new(&mut []);
    let len = match req.parse_with_uninit_headers(buf, &mut slots) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => {
            return Parsed::Elsewhere("head too long")
        }
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::Elsewhere("malformed head"),
    };
    if req.version != Some(1) {
        return Parsed::Elsewhere("HTTP/1.0");
    }
    let Ok(method) = Method::from_bytes(req.method.unwrap_or("").as_bytes()) else {
        return Parsed::Elsewhere("method");
    };
    if method == Method::CONNECT {
        return Parsed::Elsewhere("CONNECT");
    }
    let path = span(buf, req.path.unwrap_or("").as_bytes());
    spans_of(scratch, buf, req.headers);
    let head = buf.split_to(len).freeze();
    let made = Uri::from_maybe_shared(head.slice(path.0..path.1))
        .map_err(|_| "request target")
        .and_then(|uri| Ok((uri, header_map(&head, &scratch.spans, 6).ok_or("header")?)))
        .and_then(|(uri, headers)| {
            let (body, keep_alive) = request_framing(&headers).ok_or("framing")?;
            Ok((uri, headers, body, keep_alive))
        });
    let (uri, headers, body, keep_alive) = match made {
        Ok(m) => m,
        Err(why) => {
            // hyper reads the head again: put its bytes back in front of the rest
            let mut whole = BytesMut::with_capacity(head.len() + buf.len());
            whole.extend_from_slice(&head);
            whole.extend_from_slice(buf);
            *buf = whole;
            return Parsed::Elsewhere(why);
        }
    };
    let (mut parts, ()) = Request::new(()).into_parts();
    parts.method = method;
    parts.uri = uri;
    parts.headers = headers;
    Parsed::Head(
        RequestHead {
            parts,
            body,
            keep_alive,
        },
        len,
    )
}

/// The headers at `spans` in `head`, with room for `extra` more (a request gets up to six
/// tracing headers: growing the map rehashes it).
fn header_map(head: &Bytes, spans: &[Spans], extra: usize) -> Option<HeaderMap> {
    let mut headers = HeaderMap::with_capacity(spans.len() + extra);
    for s in spans {
        let name = HeaderName::from_bytes(&head[s.name.0..s.name.1]).ok()?;
        let value = HeaderValue::from_maybe_shared(head.slice(s.value.0..s.value.1)).ok()?;
        headers.append(name, value);
    }
    Some(headers)
}

/// The request body's framing and whether the connection stays open after it; `None` for
/// what is left to hyper: `Expect` and `Upgrade` (they change the exchange), a transfer
/// coding other than `chunked` alone, both framings at once, and a bad or repeated length.
fn request_framing(headers: &HeaderMap) -> Option<(Framing, bool)> {
    let mut keep_alive = true;
    let mut framing = Framing::Empty;
    let mut te = false;
    let mut lengths = 0;
    for (name, value) in headers {
        match name.as_str() {
            "expect" | "upgrade" => return None,
            "connection" => {
                if has_token(value.as_bytes(), b"close") {
                    keep_alive = false;
                }
                if has_token(value.as_bytes(), b"upgrade") {
                    return None;
                }
            }
            "transfer-encoding" => {
                if te
                    || !value
                        .as_bytes()
                        .trim_ascii()
                        .eq_ignore_ascii_case(b"chunked")
                {
                    return None;
                }
                te = true;
                framing = Framing::Chunked;
            }
            "content-length" => {
                lengths += 1;
                framing = Framing::Length(length(value.as_bytes())?);
            }
            _ => {}
        }
    }
    if lengths > 1 || (te && lengths > 0) {
        return None;
    }
    if framing == Framing::Length(0) {
        framing = Framing::Empty;
    }
    Some((framing, keep_alive))
}

fn length(v: &[u8]) -> Option<u64> {
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Whether a comma-separated header value lists `token` (case-insensitive).
pub fn has_token(value: &[u8], token: &[u8]) -> bool {
    value
        .split(|b| *b == b',')
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(token))
}

/// A response head.
#[derive(Debug)]
pub struct ResponseHead {
    pub status: StatusCode,
    pub headers: RawHeaders,
    pub body: Framing,
    /// The upstream connection may carry another request after this response.
    pub reusable: bool,
}

/// A head's headers as they came: the head's bytes and where each name and value lies. A
/// response mostly crosses the proxy unchanged but for its hop-by-hop headers, so it is
/// written out from these (see [`RawHeaders::end_to_end`]) without a header map.
#[derive(Debug)]
pub struct RawHeaders {
    /// The whole head, status line included.
    raw: Bytes,
    spans: Vec<Spans>,
}

impl RawHeaders {
    /// The head as it came (an interim head is forwarded so).
    pub fn raw(&self) -> &Bytes {
        &self.raw
    }

    /// Names and values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &[u8])> + '_ {
        self.spans.iter().map(|s| {
            (
                &self.raw[s.name.0..s.name.1],
                &self.raw[s.value.0..s.value.1],
            )
        })
    }

    /// The headers as a map (to be edited by a route directive); `None` when one is not a
    /// valid header.
    pub fn to_map(&self) -> Option<HeaderMap> {
        header_map(&self.raw, &self.spans, 0)
    }

    /// Which headers cross the hop, a bit each (header `i` is bit `i`): all but those
    /// [`crate::headers::strip_hop_by_hop`] removes; and, for a message whose `body` is
    /// chunked, not `Content-Length` (RFC 9112 §6.3: the transfer coding overrides it), and
    /// for one read to the close, its `Transfer-Encoding` (a coding other than chunked,
    /// which the client must undo).
    pub fn end_to_end(&self, body: Framing) -> u128 {
        // names `Connection` lists besides keep-alive and close (rare): gathered once
        let mut listed: Vec<&[u8]> = Vec::new();
        let mut te_trailers = true;
        for (name, value) in self.iter() {
            if name.eq_ignore_ascii_case(b"connection") {
                listed.extend(
                    value
                        .split(|b| *b == b',')
                        .map(<[u8]>::trim_ascii)
                        .filter(|t| {
                            !t.eq_ignore_ascii_case(b"keep-alive")
                                && !t.eq_ignore_ascii_case(b"close")
                        }),
                );
            } else if name.eq_ignore_ascii_case(b"te") {
                te_trailers &= value.eq_ignore_ascii_case(b"trailers");
            }
        }
        let mut keep = 0u128;
        for (i, (name, _)) in self.iter().enumerate() {
            // the names judged here are 2 and 7 to 19 bytes long: most others pass at once
            let hop = match name.len() {
                2 => name.eq_ignore_ascii_case(b"te") && !te_trailers,
                17 if name.eq_ignore_ascii_case(b"transfer-encoding") => body != Framing::Close,
                14 if name.eq_ignore_ascii_case(b"content-length") => body == Framing::Chunked,
                7..=19 => crate::headers::is_hop_by_hop_name(name),
                _ => false,
            } || listed.iter().any(|l| l.eq_ignore_ascii_case(name));
            if !hop {
                keep |= 1 << i;
            }
        }
        keep
    }

    /// Gives the span list back for the next head.
    pub fn recycle(self, scratch: &mut Scratch) {
        scratch.spans = self.spans;
    }
}

/// Why a response head is unusable.
#[derive(Debug, PartialEq, Eq)]
pub enum BadResponse {
    Malformed,
    TooLong,
    /// `101 Switching Protocols` to a request that asked for no upgrade.
    Switching,
}

/// Reads a response head from the start of `buf` (the answer to a `HEAD` request when
/// `head_request`): `Ok(Some)` with the head's bytes taken from `buf`, `Ok(None)` when more
/// must be read. Interim (1xx) heads are returned as such: see [`ResponseHead::is_interim`].
pub fn parse_response(
    buf: &mut BytesMut,
    head_request: bool,
    scratch: &mut Scratch,
) -> Result<Option<ResponseHead>, BadResponse> {
    let mut slots = slots();
    let mut resp = httparse::Response::new(&mut []);
    let parsed = httparse::ParserConfig::default()
        .parse_response_with_uninit_headers(&mut resp, buf, &mut slots);
    let len = match parsed {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) if buf.len() > MAX_HEAD => return Err(BadResponse::TooLong),
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(_) => return Err(BadResponse::Malformed),
    };
    let status = resp
        .code
        .and_then(|c| StatusCode::from_u16(c).ok())
        .ok_or(BadResponse::Malformed)?;
    if status == StatusCode::SWITCHING_PROTOCOLS {
        return Err(BadResponse::Switching);
    }
    let http11 = resp.version == Some(1);
    spans_of(scratch, buf, resp.headers);
    let headers = RawHeaders {
        raw: buf.split_to(len).freeze(),
        spans: std::mem::take(&mut scratch.spans),
    };
    let mut reusable = http11;
    for (_, v) in headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case(b"connection"))
    {
        if has_token(v, b"close") {
            reusable = false;
        } else if !http11 && has_token(v, b"keep-alive") {
            reusable = true;
        }
    }
    let body = match response_framing(status, &headers, head_request) {
        Ok(body) => body,
        Err(bad) => {
            headers.recycle(scratch);
            return Err(bad);
        }
    };
    if body == Framing::Close {
        reusable = false;
    }
    Ok(Some(ResponseHead {
        status,
        headers,
        body,
        reusable,
    }))
}

/// RFC 9112 §6.3, for a proxy: no body for `HEAD`, 1xx, 204 and 304; a transfer coding ending
/// in `chunked` is chunked, any other reads to the close; else `Content-Length` (one value,
/// or repeats of it), else to the close.
fn response_framing(
    status: StatusCode,
    headers: &RawHeaders,
    head_request: bool,
) -> Result<Framing, BadResponse> {
    if head_request
        || status.is_informational()
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
    {
        return Ok(Framing::Empty);
    }
    let named = |name: &'static [u8]| {
        headers
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v)
    };
    if let Some(last) = named(b"transfer-encoding").last() {
        let chunked = last
            .rsplit(|b| *b == b',')
            .next()
            .is_some_and(|c| c.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        return Ok(if chunked {
            Framing::Chunked
        } else {
            Framing::Close
        });
    }
    let mut found = None;
    for v in named(b"content-length") {
        for part in v.split(|b| *b == b',') {
            let n = length(part.trim_ascii()).ok_or(BadResponse::Malformed)?;
            if found.is_some_and(|f| f != n) {
                return Err(BadResponse::Malformed);
            }
            found = Some(n);
        }
    }
    Ok(match found {
        Some(0) => Framing::Empty,
        Some(n) => Framing::Length(n),
        None => Framing::Close,
    })
}

impl ResponseHead {
    /// A 1xx head: forwarded as it came, and the final head follows.
    pub fn is_interim(&self) -> bool {
        self.status.is_informational()
    }
}

/// Writes a request line and headers in origin form (`parts.uri` already is), with
/// `Transfer-Encoding: chunked` when the body is (the hop-by-hop header was removed).
pub fn write_request_head(out: &mut Vec<u8>, parts: &Parts, body: Framing) {
    out.put_slice(parts.method.as_str().as_bytes());
    out.put_u8(b' ');
    let target = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    out.put_slice(target.as_bytes());
    out.put_slice(b" HTTP/1.1\r\n");
    write_headers(out, &parts.headers);
    if body == Framing::Chunked {
        out.put_slice(b"transfer-encoding: chunked\r\n");
    }
    out.put_slice(b"\r\n");
}

/// Writes a status line and headers, the body's framing (a close-delimited body stays so),
/// and `Connection: close` when the connection ends after this response.
pub fn write_response_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &HeaderMap,
    body: Framing,
    closing: bool,
) {
    status_line(out, status);
    write_headers(out, headers);
    end_of_response_head(out, body, closing);
}

/// Writes a response head from the headers as they came, those in `keep` only (see
/// [`RawHeaders::end_to_end`]), with the framing and `Connection: close` as
/// [`write_response_head`] does.
pub fn write_raw_response_head(
    out: &mut Vec<u8>,
    status: StatusCode,
    headers: &RawHeaders,
    keep: u128,
    body: Framing,
    closing: bool,
) {
    status_line(out, status);
    for (i, (name, value)) in headers.iter().enumerate() {
        if keep & (1 << i) != 0 {
            header_line(out, name, value);
        }
    }
    end_of_response_head(out, body, closing);
}

fn status_line(out: &mut Vec<u8>, status: StatusCode) {
    out.put_slice(b"HTTP/1.1 ");
    out.put_slice(status.as_str().as_bytes());
    out.put_u8(b' ');
    out.put_slice(status.canonical_reason().unwrap_or("").as_bytes());
    out.put_slice(b"\r\n");
}

fn end_of_response_head(out: &mut Vec<u8>, body: Framing, closing: bool) {
    if body == Framing::Chunked {
        out.put_slice(b"transfer-encoding: chunked\r\n");
    }
    if closing {
        out.put_slice(b"connection: close\r\n");
    }
    out.put_slice(b"\r\n");
}

fn header_line(out: &mut Vec<u8>, name: &[u8], value: &[u8]) {
    out.put_slice(name);
    out.put_slice(b": ");
    out.put_slice(value);
    out.put_slice(b"\r\n");
}

fn write_headers(out: &mut Vec<u8>, headers: &HeaderMap) {
    for (name, value) in headers {
        header_line(out, name.as_str().as_bytes(), value.as_bytes());
    }
}

#[cfg(test)]
mod tests;
