//! One entry as Istio's stdio adapter writes it through zap. JSON (the default):
//!
//! ```text
//! {"level":"info","time":"2019-01-24T12:17:11.855496Z","instance":"accesslog.instance.istio-system","latency":"214.661667ms","method":"GET","responseCode":200}
//! ```
//!
//! `level`, `time` (UTC, microseconds), `instance` (the instance's full name), then the
//! variables sorted by name. Values as zap encodes them: strings, URIs, DNS names and emails
//! as strings; int64 and double as numbers (NaN and ±Inf as the strings `NaN`, `+Inf`,
//! `-Inf`); bools; timestamps as `time`; durations as Go prints them (`1.5ms`); IP addresses
//! in their text form (`10.0.0.1`); bytes in base64; string maps as objects with sorted keys.
//! Strings are escaped as zap escapes them (`\"`, `\\`, `\n`, `\r`, `\t`, other control
//! characters as `\u00XX`). Console format (`outputAsJson: false`): time, level and instance
//! separated by tabs, then the variables as a JSON object with zap's spacing
//! (`{"a": 1, "b": "x"}`).

use super::config::Level;
use mixer_attributes::expr::{EvalValue, GoDuration};
use mixer_attributes::Timestamp;
use std::io::Write;

/// The text of one entry, built field by field into the caller's buffer.
#[derive(Debug)]
pub struct Line<'b> {
    out: &'b mut Vec<u8>,
    json: bool,
    fields: usize,
}

impl<'b> Line<'b> {
    /// Starts an entry: level, time and instance (`instance` is written as it is: give it
    /// through [`quoted`]).
    pub fn start(
        out: &'b mut Vec<u8>,
        json: bool,
        level: Level,
        time: Timestamp,
        instance: &str,
    ) -> Line<'b> {
        if json {
            out.extend_from_slice(b"{\"level\":\"");
            out.extend_from_slice(level.label().as_bytes());
            out.extend_from_slice(b"\",\"time\":");
            push_time(out, time);
            out.extend_from_slice(b",\"instance\":");
            out.extend_from_slice(instance.as_bytes());
        } else {
            push_time_bare(out, time);
            out.push(b'\t');
            out.extend_from_slice(level.label().as_bytes());
            out.push(b'\t');
            // the console encoder writes the name unquoted
            out.extend_from_slice(unquote(instance).as_bytes());
        }
        Line {
            out,
            json,
            fields: 0,
        }
    }

    /// Adds a field; `key` is given through [`quoted`].
    pub fn field(&mut self, key: &str, value: &EvalValue<'_>) {
        match (self.json, self.fields) {
            (true, _) => self.out.push(b','),
            (false, 0) => self.out.extend_from_slice(b"\t{"),
            (false, _) => self.out.extend_from_slice(b", "),
        }
        self.out.extend_from_slice(key.as_bytes());
        self.out.push(b':');
        if !self.json {
            self.out.push(b' ');
        }
        push_value(self.out, value);
        self.fields += 1;
    }

    /// Ends the entry with its newline.
    pub fn finish(self) {
        if self.json || self.fields > 0 {
            self.out.push(b'}');
        }
        self.out.push(b'\n');
    }
}

/// `s` as a JSON string, for keys and instance names prepared once.
pub fn quoted(s: &str) -> String {
    let mut out = Vec::with_capacity(s.len() + 2);
    push_str(&mut out, s);
    String::from_utf8(out).unwrap_or_default()
}

fn unquote(s: &str) -> &str {
    s.strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s)
}

/// A JSON string as zap escapes it.
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1f => b"",
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if esc.is_empty() {
            let _ = write!(out, "\\u00{b:02x}");
        } else {
            out.extend_from_slice(esc);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

pub fn push_value(out: &mut Vec<u8>, v: &EvalValue<'_>) {
    match v {
        EvalValue::String(s)
        | EvalValue::Uri(s)
        | EvalValue::DnsName(s)
        | EvalValue::EmailAddress(s) => push_str(out, s),
        EvalValue::Int64(i) => {
            let _ = write!(out, "{i}");
        }
        EvalValue::Double(d) if d.is_nan() => out.extend_from_slice(b"\"NaN\""),
        EvalValue::Double(d) if d.is_infinite() => {
            out.extend_from_slice(if *d > 0.0 { b"\"+Inf\"" } else { b"\"-Inf\"" });
        }
        EvalValue::Double(d) => {
            let _ = write!(out, "{d}");
        }
        EvalValue::Bool(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        EvalValue::Timestamp(t) => push_time(out, *t),
        EvalValue::Duration(d) => {
            let _ = write!(out, "\"{}\"", GoDuration(*d));
        }
        EvalValue::IpAddress(ip) => {
            let _ = write!(out, "\"{ip}\"");
        }
        EvalValue::Bytes(b) => {
            out.push(b'"');
            push_base64(out, b);
            out.push(b'"');
        }
        EvalValue::StringMap(m) => {
            out.push(b'{');
            for (i, (k, v)) in m.to_sorted().into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                push_str(out, k);
                out.push(b':');
                push_str(out, v);
            }
            out.push(b'}');
        }
    }
}

/// `"2006-01-02T15:04:05.000000Z"` (UTC, microseconds), the adapter's time format.
fn push_time(out: &mut Vec<u8>, t: Timestamp) {
    out.push(b'"');
    push_time_bare(out, t);
    out.push(b'"');
}

fn push_time_bare(out: &mut Vec<u8>, t: Timestamp) {
    let (y, mo, d, h, mi, s) = civil(t.seconds);
    let micros = t.nanos.clamp(0, 999_999_999) / 1000;
    let _ = write!(
        out,
        "{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{micros:06}Z"
    );
}

/// Seconds since the epoch → (year, month, day, hour, minute, second), UTC.
pub fn civil(seconds: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = seconds.div_euclid(86_400);
    let rem = seconds.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem / 3600, rem % 3600 / 60, rem % 60)
}

/// Standard base64 with padding, as Go's encoding of `[]byte`.
fn push_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize]);
            } else {
                out.push(b'=');
            }
        }
    }
}

/// The current time as a protobuf `Timestamp`.
pub fn now() -> Timestamp {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    Timestamp {
        seconds: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        nanos: i32::try_from(d.subsec_nanos()).unwrap_or(0),
    }
}
