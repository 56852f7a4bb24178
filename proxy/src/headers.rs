//! Header handling on each hop: hop-by-hop headers removed (RFC 9110 §7.6.1), and the tracing
//! headers Istio's sidecar maintains — `x-request-id` created when absent, B3 ids with a new
//! span per hop and the sampling decision made once per trace.

use hyper::header::{HeaderMap, HeaderName, HeaderValue, CONNECTION, TE};
use std::cell::Cell;
use std::hash::{BuildHasher, Hasher};

// Names, not strings: a lookup by `&str` parses the name first, on every request.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub const B3_TRACE_ID: HeaderName = HeaderName::from_static("x-b3-traceid");
pub const B3_SPAN_ID: HeaderName = HeaderName::from_static("x-b3-spanid");
pub const B3_PARENT_SPAN_ID: HeaderName = HeaderName::from_static("x-b3-parentspanid");
pub const B3_SAMPLED: HeaderName = HeaderName::from_static("x-b3-sampled");
pub const B3_FLAGS: HeaderName = HeaderName::from_static("x-b3-flags");

/// Headers that only describe one connection, besides those `Connection` names.
const HOP_BY_HOP: [&str; 6] = [
    "keep-alive",
    "proxy-connection",
    "proxy-authorization",
    "proxy-authenticate",
    "transfer-encoding",
    "upgrade",
];

/// Gives every value its own allocation. hyper (HTTP/1.1) and h2 (HPACK literals) hand out a
/// value as a slice of the connection's read buffer (8 KB and more), and the slice keeps the
/// whole buffer alive. The HPACK encoder of the connection a value goes out on keeps the
/// values it indexes, up to its table's 4 KB of entries (~70 buffers a connection): forwarded
/// as they were, each new `Date` value of an HTTP/1.1 app's responses pinned another read
/// buffer on every HTTP/2 downstream connection, every second (0.25 MB/s under h2load's 32
/// connections, towards ~17 MB). Call this on headers and trailers about to go out over
/// HTTP/2.
pub fn unpin_values(headers: &mut HeaderMap) {
    for value in headers.values_mut() {
        let sensitive = value.is_sensitive();
        if let Ok(mut own) = HeaderValue::from_bytes(value.as_bytes()) {
            own.set_sensitive(sensitive);
            *value = own;
        }
    }
}

/// Removes the hop-by-hop headers: `Connection` and every header it lists, the fixed list,
/// and `TE` unless it is exactly `trailers` (the one value that may cross a hop, and that
/// gRPC needs).
pub fn strip_hop_by_hop(headers: &mut HeaderMap) {
    // most requests carry none of them: one pass over the names, no lookups
    let mut found = 0;
    let mut only_connection = true;
    for name in headers.keys() {
        if name == CONNECTION {
            found += 1;
        } else if name == TE || is_hop_by_hop(name) {
            found += 1;
            only_connection = false;
        }
    }
    if found == 0 {
        return;
    }
    // most HTTP/1.1 responses: `Connection: keep-alive` (or `close`) alone, naming no header
    if only_connection
        && headers.get_all(CONNECTION).iter().all(|v| {
            v.as_bytes()
                .split(|b| *b == b',')
                .map(<[u8]>::trim_ascii)
                .all(|t| t.eq_ignore_ascii_case(b"keep-alive") || t.eq_ignore_ascii_case(b"close"))
        })
    {
        headers.remove(CONNECTION);
        return;
    }
    // then only names present are removed (most HTTP/1.1 responses carry just
    // `Connection: keep-alive`)
    let listed: Vec<&[u8]> = headers
        .get_all(CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .collect();
    let te_trailers = headers
        .get_all(TE)
        .iter()
        .all(|v| v.as_bytes().eq_ignore_ascii_case(b"trailers"));
    let doomed: Vec<HeaderName> = headers
        .keys()
        .filter(|name| {
            // names in a HeaderMap are lower case
            let named = name.as_str().as_bytes();
            listed.iter().any(|l| l.eq_ignore_ascii_case(named))
                || if *name == TE {
                    !te_trailers
                } else {
                    is_hop_by_hop(name)
                }
        })
        .cloned()
        .collect();
    for name in doomed {
        headers.remove(name);
    }
}

fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == CONNECTION || HOP_BY_HOP.contains(&name.as_str())
}

/// Whether a header name as it came (any case) is `Connection` or one of the fixed
/// hop-by-hop headers (`TE` and the names `Connection` lists are the caller's to judge).
pub fn is_hop_by_hop_name(name: &[u8]) -> bool {
    name.eq_ignore_ascii_case(b"connection")
        || HOP_BY_HOP
            .iter()
            .any(|h| name.eq_ignore_ascii_case(h.as_bytes()))
}

/// The tracing ids of one request after this hop, as they go upstream and into the bag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceIds {
    pub request_id: String,
    pub trace_id: String,
    pub span_id: String,
    pub parent_span_id: Option<String>,
    pub sampled: bool,
}

/// Fills in `x-request-id` and the B3 headers in place: ids created when absent, a new span
/// id for this hop whose parent is the incoming span, and `x-b3-sampled` kept when present
/// (or forced by `x-b3-flags: 1`), else decided here with `sampling_percent` chance.
pub fn propagate_trace(headers: &mut HeaderMap, sampling_percent: f64) -> TraceIds {
    let arrived = Arrived::read(headers);
    let request_id = match arrived.request_id {
        Some(id) => id,
        None => {
            let id = uuid_v4();
            set(headers, X_REQUEST_ID, &id);
            id
        }
    };
    let trace_id = match arrived.trace_id {
        Some(id) => id,
        None => {
            let mut id = String::with_capacity(32);
            push_hex(&mut id, random_u64(), 16);
            push_hex(&mut id, random_u64(), 16);
            set(headers, B3_TRACE_ID, &id);
            id
        }
    };
    let parent_span_id = arrived.span_id;
    let mut span_id = String::with_capacity(16);
    push_hex(&mut span_id, random_u64(), 16);
    set(headers, B3_SPAN_ID, &span_id);
    match &parent_span_id {
        Some(parent) => set(headers, B3_PARENT_SPAN_ID, parent),
        None if arrived.had_parent => {
            headers.remove(&B3_PARENT_SPAN_ID);
        }
        None => {}
    }
    let sampled = match arrived.sampled {
        _ if arrived.debug => true,
        Some(sampled) => sampled,
        None => {
            let decided = sample(sampling_percent);
            let value = if decided { "1" } else { "0" };
            headers.insert(B3_SAMPLED, HeaderValue::from_static(value));
            decided
        }
    };
    TraceIds {
        request_id,
        trace_id,
        span_id,
        parent_span_id,
        sampled,
    }
}

/// The tracing headers a request arrived with, as far as they are usable: the first value of
/// each, trimmed, read in one pass over the headers instead of a lookup per name.
#[derive(Default)]
struct Arrived {
    /// Non-empty.
    request_id: Option<String>,
    /// B3 ids only when well formed ([`is_hex_id`]).
    trace_id: Option<String>,
    span_id: Option<String>,
    had_parent: bool,
    /// `x-b3-flags: 1`.
    debug: bool,
    /// `x-b3-sampled` when it says `1`/`true` or `0`/`false`.
    sampled: Option<bool>,
}

impl Arrived {
    fn read(headers: &HeaderMap) -> Arrived {
        let mut arrived = Arrived::default();
        let mut seen = [false; 6];
        for (name, value) in headers.iter() {
            let name = name.as_str();
            if !name.starts_with("x-") {
                continue;
            }
            let slot = match name {
                "x-request-id" => 0,
                "x-b3-traceid" => 1,
                "x-b3-spanid" => 2,
                "x-b3-parentspanid" => 3,
                "x-b3-flags" => 4,
                "x-b3-sampled" => 5,
                _ => continue,
            };
            // a repeated header counts by its first value, as HeaderMap::get reads it
            if std::mem::replace(&mut seen[slot], true) {
                continue;
            }
            let text = value.to_str().ok().map(str::trim);
            let id = |ok: fn(&str) -> bool| text.filter(|t| ok(t)).map(str::to_owned);
            match slot {
                0 => arrived.request_id = id(|t| !t.is_empty()),
                1 => arrived.trace_id = id(is_hex_id),
                2 => arrived.span_id = id(is_hex_id),
                3 => arrived.had_parent = true,
                4 => arrived.debug = text == Some("1"),
                _ => {
                    arrived.sampled = match text {
                        Some("1" | "true") => Some(true),
                        Some("0" | "false") => Some(false),
                        _ => None,
                    }
                }
            }
        }
        arrived
    }
}

fn set(headers: &mut HeaderMap, name: HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        headers.insert(name, v);
    }
}

/// B3 ids are 16 or 32 lower-case hex digits; anything else is replaced.
fn is_hex_id(id: &str) -> bool {
    (id.len() == 16 || id.len() == 32) && id.bytes().all(|b| b.is_ascii_hexdigit())
}

fn sample(percent: f64) -> bool {
    if percent >= 100.0 {
        return true;
    }
    if percent <= 0.0 || percent.is_nan() {
        return false;
    }
    // 53 random bits as a uniform value in [0, 100).
    let unit = (random_u64() >> 11) as f64 / (1u64 << 53) as f64;
    unit * 100.0 < percent
}

/// A random UUID in version 4 form (RFC 9562): 122 random bits.
pub fn uuid_v4() -> String {
    let hi = (random_u64() & 0xffff_ffff_ffff_0fff) | 0x0000_0000_0000_4000;
    let lo = (random_u64() & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    let mut id = String::with_capacity(36);
    push_hex(&mut id, hi >> 32, 8);
    id.push('-');
    push_hex(&mut id, hi >> 16, 4);
    id.push('-');
    push_hex(&mut id, hi, 4);
    id.push('-');
    push_hex(&mut id, lo >> 48, 4);
    id.push('-');
    push_hex(&mut id, lo, 12);
    id
}

/// Appends the low `digits` hex digits of `v`, lower case and zero-padded (what
/// `format!("{:0digits$x}")` writes, without the formatter: ids are made per request).
fn push_hex(out: &mut String, v: u64, digits: u32) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    for i in (0..digits).rev() {
        out.push(HEX[((v >> (4 * i)) & 0xf) as usize] as char);
    }
}

thread_local! {
    static RNG: Cell<u64> = Cell::new(seed());
}

/// A per-thread seed from the standard library's random hasher keys (no extra dependency).
fn seed() -> u64 {
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u64(0x9e37_79b9_7f4a_7c15);
    h.finish()
}

/// splitmix64: fast, well distributed, not cryptographic (ids, not secrets).
pub fn random_u64() -> u64 {
    RNG.with(|state| {
        let s = state.get().wrapping_add(0x9e37_79b9_7f4a_7c15);
        state.set(s);
        let mut z = s;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unpinned_values_no_longer_share_the_buffer_they_were_parsed_from() {
        // what hyper hands out: values that are slices of one read buffer
        let buffer = bytes::Bytes::from_static(b"Fri, 27 Nov 2026 18:00:00 GMTsecret");
        let date = HeaderValue::from_maybe_shared(buffer.slice(0..29)).expect("value");
        let mut token = HeaderValue::from_maybe_shared(buffer.slice(29..)).expect("value");
        token.set_sensitive(true);
        let mut headers = HeaderMap::new();
        headers.insert(hyper::header::DATE, date);
        headers.append(hyper::header::AUTHORIZATION, token);
        let inside = |v: &HeaderValue| buffer.as_ptr_range().contains(&v.as_bytes().as_ptr());
        assert!(
            headers.values().all(inside),
            "the test's values start as slices"
        );
        unpin_values(&mut headers);
        assert!(
            !headers.values().any(inside),
            "each value has its own bytes"
        );
        assert_eq!(
            headers[hyper::header::DATE],
            "Fri, 27 Nov 2026 18:00:00 GMT"
        );
        assert_eq!(headers[hyper::header::AUTHORIZATION], "secret");
        assert!(
            headers[hyper::header::AUTHORIZATION].is_sensitive(),
            "sensitivity kept"
        );
    }

    fn map(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn hop_by_hop_headers_and_the_ones_connection_lists_are_removed() {
        let mut h = map(&[
            ("connection", "keep-alive, x-private"),
            ("connection", "close"),
            ("x-private", "secret"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("proxy-authorization", "Basic xyz"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("te", "gzip"),
            ("x-end-to-end", "kept"),
            ("content-type", "text/plain"),
        ]);
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-type", "x-end-to-end"]);
    }

    #[test]
    fn each_hop_by_hop_header_alone_is_removed() {
        let alone = HOP_BY_HOP
            .iter()
            .map(|n| (*n, "x"))
            .chain([("connection", "close"), ("te", "gzip")]);
        for (name, value) in alone {
            let mut h = map(&[(name, value), ("x-end-to-end", "kept")]);
            strip_hop_by_hop(&mut h);
            let left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
            assert_eq!(left, ["x-end-to-end"], "{name}");
        }
        let mut none = map(&[("accept", "*/*"), ("user-agent", "wrk")]);
        strip_hop_by_hop(&mut none);
        assert_eq!(none.len(), 2);
    }

    #[test]
    fn only_the_headers_present_are_touched() {
        // a typical HTTP/1.1 response, and a Connection header naming what is absent
        let mut h = map(&[
            ("connection", "keep-alive"),
            ("content-length", "3"),
            ("server", "nginx"),
        ]);
        strip_hop_by_hop(&mut h);
        let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
        left.sort_unstable();
        assert_eq!(left, ["content-length", "server"]);
        let mut h = map(&[("connection", " X-Gone , Server"), ("server", "a")]);
        strip_hop_by_hop(&mut h);
        assert!(h.is_empty(), "listed names match case-insensitively: {h:?}");
        let mut h = map(&[("connection", "te"), ("te", "trailers")]);
        strip_hop_by_hop(&mut h);
        assert!(
            h.is_empty(),
            "TE named by Connection goes even as trailers: {h:?}"
        );
    }

    #[test]
    fn a_connection_header_of_keep_alive_or_close_alone_goes_and_nothing_else() {
        for value in ["keep-alive", "close", "Keep-Alive, close", " close ,"] {
            let mut h = map(&[
                ("connection", "keep-alive"),
                ("connection", value),
                ("server", "nginx"),
                ("keep", "kept"),
            ]);
            strip_hop_by_hop(&mut h);
            let mut left: Vec<&str> = h.keys().map(|k| k.as_str()).collect();
            left.sort_unstable();
            assert_eq!(left, ["keep", "server"], "{value:?}");
        }
        // a listed name, or another hop-by-hop header beside it, takes the full path
        let mut h = map(&[
            ("connection", "close, keep"),
            ("keep", "x"),
            ("server", "a"),
        ]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["server"]);
        let mut h = map(&[("connection", "close"), ("upgrade", "h2c"), ("server", "a")]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.keys().map(|k| k.as_str()).collect::<Vec<_>>(), ["server"]);
    }

    #[test]
    fn te_trailers_crosses_the_hop() {
        let mut h = map(&[("te", "trailers")]);
        strip_hop_by_hop(&mut h);
        assert_eq!(h.get("te").map(|v| v.as_bytes()), Some(&b"trailers"[..]));
    }

    #[test]
    fn absent_ids_are_created_and_sampling_is_decided_once() {
        let mut h = HeaderMap::new();
        let ids = propagate_trace(&mut h, 100.0);
        assert_eq!(ids.request_id.len(), 36);
        assert_eq!(&ids.request_id[14..15], "4");
        assert_eq!(ids.trace_id.len(), 32);
        assert_eq!(ids.span_id.len(), 16);
        assert_eq!(ids.parent_span_id, None);
        assert!(ids.sampled);
        assert_eq!(
            h.get(X_REQUEST_ID).unwrap().to_str().unwrap(),
            ids.request_id
        );
        assert_eq!(h.get(B3_TRACE_ID).unwrap().to_str().unwrap(), ids.trace_id);
        assert_eq!(h.get(B3_SAMPLED).unwrap(), "1");
        assert!(h.get(B3_PARENT_SPAN_ID).is_none());

        // The next hop keeps the trace and the decision, and chains the span.
        let next = propagate_trace(&mut h, 0.0);
        assert_eq!(next.trace_id, ids.trace_id);
        assert_eq!(next.request_id, ids.request_id);
        assert_eq!(next.parent_span_id.as_deref(), Some(ids.span_id.as_str()));
        assert_ne!(next.span_id, ids.span_id);
        assert!(next.sampled, "an upstream decision is honoured");
        assert_eq!(
            h.get(B3_PARENT_SPAN_ID).unwrap().to_str().unwrap(),
            ids.span_id
        );
    }

    #[test]
    fn incoming_decisions_are_honoured() {
        let mut h = map(&[("x-b3-sampled", "0")]);
        assert!(!propagate_trace(&mut h, 100.0).sampled);
        let mut h = map(&[("x-b3-flags", "1"), ("x-b3-sampled", "0")]);
        assert!(propagate_trace(&mut h, 0.0).sampled);
        let mut h = HeaderMap::new();
        assert!(!propagate_trace(&mut h, 0.0).sampled);
        assert_eq!(h.get(B3_SAMPLED).unwrap(), "0");
    }

    #[test]
    fn malformed_trace_ids_are_replaced() {
        let mut h = map(&[("x-b3-traceid", "not-hex"), ("x-b3-spanid", "zz")]);
        let ids = propagate_trace(&mut h, 1.0);
        assert_eq!(ids.trace_id.len(), 32);
        assert_eq!(ids.parent_span_id, None);
    }

    #[test]
    fn a_stale_parent_goes_and_repeated_headers_count_by_their_first_value() {
        let span = "00f067aa0ba902b7";
        let mut h = map(&[("x-b3-parentspanid", span)]);
        let ids = propagate_trace(&mut h, 0.0);
        assert_eq!(ids.parent_span_id, None);
        assert!(
            h.get(B3_PARENT_SPAN_ID).is_none(),
            "no span came: no parent"
        );

        let mut h = map(&[
            ("x-request-id", " r1 "),
            ("x-request-id", "r2"),
            ("x-b3-sampled", "1"),
            ("x-b3-sampled", "0"),
            ("x-b3-spanid", span),
        ]);
        let ids = propagate_trace(&mut h, 0.0);
        assert_eq!(ids.request_id, "r1", "first value, trimmed");
        assert!(ids.sampled);
        assert_eq!(ids.parent_span_id.as_deref(), Some(span));
        assert_eq!(h.get(B3_PARENT_SPAN_ID).unwrap(), span);
        assert_ne!(h.get(B3_SPAN_ID).unwrap(), span, "a new span for this hop");

        let mut h = map(&[("x-request-id", "  ")]);
        let ids = propagate_trace(&mut h, 0.0);
        assert_eq!(ids.request_id.len(), 36, "a blank id is replaced");
        assert_eq!(h.get(X_REQUEST_ID).unwrap(), ids.request_id.as_str());
    }

    #[test]
    fn uuids_differ() {
        assert_ne!(uuid_v4(), uuid_v4());
    }

    #[test]
    fn hex_is_what_the_formatter_writes() {
        for v in [0, 1, 0xabc, u64::MAX, 0x0123_4567_89ab_cdef, random_u64()] {
            for digits in [4u32, 8, 12, 16] {
                let mut out = String::new();
                push_hex(&mut out, v, digits);
                let mask = if digits == 16 {
                    u64::MAX
                } else {
                    (1 << (4 * digits)) - 1
                };
                let want = format!("{:0w$x}", v & mask, w = digits as usize);
                assert_eq!(out, want, "{v:#x} in {digits} digits");
            }
        }
        // version 4, variant 10xx, 8-4-4-4-12
        let id = uuid_v4();
        let parts: Vec<&str> = id.split('-').collect();
        let lens: Vec<usize> = parts.iter().map(|p| p.len()).collect();
        assert_eq!(lens, vec![8, 4, 4, 4, 12], "{id}");
        assert!(parts[2].starts_with('4'), "{id}");
        assert!(
            matches!(parts[3].as_bytes()[0], b'8' | b'9' | b'a' | b'b'),
            "{id}"
        );
        assert!(id
            .bytes()
            .all(|b| b == b'-' || b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    }
}
