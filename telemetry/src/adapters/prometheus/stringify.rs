//! Values as the adapter sees them: label values formatted as Istio's `adapter.Stringify`
//! does (appended to a reused buffer, no allocation for the common types), and metric values
//! converted as Istio's `promValue` does.

use super::config::DurationUnit;
use mixer_attributes::expr::{EvalValue, GoDuration};
use mixer_attributes::Duration;
use std::fmt::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why a metric value was not recorded.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ValueError {
    #[error("value of type {0} is not numeric")]
    NotNumeric(&'static str),
    #[error("string value {0:?} is not a number")]
    BadString(String),
    #[error("counter cannot decrease: value {0}")]
    NegativeCounter(f64),
}

/// Appends the label text of `v` to `out`: strings as they are, integers in decimal, doubles
/// in Go's `%v`-free shortest form, bools as `true`/`false`, IPs (and IP-shaped bytes) in
/// Go's `net.IP` form, durations as Go prints them, string maps as sorted `k=v&…`.
pub fn label(out: &mut String, v: &EvalValue<'_>) {
    match v {
        EvalValue::String(s)
        | EvalValue::EmailAddress(s)
        | EvalValue::Uri(s)
        | EvalValue::DnsName(s) => out.push_str(s),
        EvalValue::Int64(i) => push_i64(out, *i),
        EvalValue::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        EvalValue::Double(d) => push_f64_plain(out, *d),
        EvalValue::IpAddress(ip) => push_ip(out, *ip),
        EvalValue::Bytes(b) => push_ip_bytes(out, b),
        EvalValue::Duration(d) => {
            let _ = write!(out, "{}", GoDuration(*d));
        }
        EvalValue::Timestamp(_) => {
            // Go's time.Time.String for a UTC time: "2006-01-02 15:04:05.999999999 +0000 UTC".
            let start = out.len();
            let _ = write!(out, "{v}");
            if out.ends_with('Z') {
                out.pop();
                out.push_str(" +0000 UTC");
            }
            if let Some(t) = out[start..].find('T') {
                out.replace_range(start + t..start + t + 1, " ");
            }
        }
        EvalValue::StringMap(m) => {
            let mut entries = m.to_sorted();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push('&');
                }
                out.push_str(k);
                out.push('=');
                out.push_str(v);
            }
        }
    }
}

/// The sample value of `v`: int64, double, duration (in `unit`) or a numeric string.
pub fn value(v: &EvalValue<'_>, unit: DurationUnit) -> Result<f64, ValueError> {
    match v {
        EvalValue::Int64(i) => Ok(*i as f64),
        EvalValue::Double(d) => Ok(*d),
        EvalValue::Duration(d) => Ok(duration(*d, unit)),
        EvalValue::String(s) => parse_float(s).ok_or_else(|| ValueError::BadString(s.to_string())),
        other => Err(ValueError::NotNumeric(other.value_type().name())),
    }
}

/// Go's `Duration.Seconds()` (whole seconds plus the nanosecond remainder), or the same in
/// milliseconds.
pub fn duration(d: Duration, unit: DurationUnit) -> f64 {
    let n = d.as_nanos();
    let per = match unit {
        DurationUnit::Seconds => 1_000_000_000,
        DurationUnit::Milliseconds => 1_000_000,
    };
    (n / per) as f64 + (n % per) as f64 / per as f64
}

/// Go's `strconv.ParseFloat(s, 64)`: decimal or exponent forms, `inf`/`infinity`/`nan`; an
/// out-of-range value is an error.
fn parse_float(s: &str) -> Option<f64> {
    let f: f64 = s.parse().ok()?;
    if f.is_infinite() && !s.to_ascii_lowercase().contains("inf") {
        return None;
    }
    Some(f)
}

pub(crate) fn push_i64(out: &mut String, v: i64) {
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    if v < 0 {
        out.push('-');
    }
    for &b in &buf[i..] {
        out.push(b as char);
    }
}

/// Go's `strconv.FormatFloat(v, 'f', -1, 64)`, with `+Inf`/`-Inf`/`NaN`.
fn push_f64_plain(out: &mut String, v: f64) {
    if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

fn push_ip(out: &mut String, ip: IpAddr) {
    // net.IP prints an IPv4-mapped IPv6 address in dotted form.
    let _ = write!(out, "{}", ip.to_canonical());
}

/// Go's `net.IP(b).String()`: 4 or 16 bytes as an address, empty as `<nil>`, anything else as
/// `?` and hex.
fn push_ip_bytes(out: &mut String, b: &[u8]) {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        push_ip(out, IpAddr::V4(Ipv4Addr::from(v4)));
    } else if let Ok(v6) = <[u8; 16]>::try_from(b) {
        push_ip(out, IpAddr::V6(Ipv6Addr::from(v6)));
    } else if b.is_empty() {
        out.push_str("<nil>");
    } else {
        out.push('?');
        for byte in b {
            let _ = write!(out, "{byte:02x}");
        }
    }
}
