//! The extern functions of `mixer/pkg/lang/externs.go` that need more than a line: `ip`,
//! `timestamp` (RFC 3339 both ways), `dnsName`, `email`, `uri` and their equalities, and the
//! glob of `match`. Each parser returns a lowercase message that names the input.

use crate::value::Timestamp;
use std::fmt;
use std::net::IpAddr;

/// `ip(s)`: `net.ParseIP` (dotted IPv4 or IPv6 text, no zone).
pub(crate) fn parse_ip(s: &str) -> Result<IpAddr, String> {
    s.parse()
        .map_err(|_| format!("could not convert {s:?} to IP_ADDRESS"))
}

/// `timestamp(s)`: Go's `time.Parse(time.RFC3339, s)` —
/// `2006-01-02T15:04:05[.999999999](Z|±07:00)`.
/// Parses an RFC 3339 timestamp, as the `timestamp()` function does.
pub fn parse_timestamp(s: &str) -> Result<Timestamp, String> {
    let err = || format!("could not convert {s:?} to TIMESTAMP: want RFC 3339 text");
    let b = s.as_bytes();
    let num = |from: usize, len: usize| -> Result<i64, String> {
        let part = b.get(from..from + len).ok_or_else(err)?;
        if !part.iter().all(u8::is_ascii_digit) {
            return Err(err());
        }
        Ok(part
            .iter()
            .fold(0i64, |acc, d| acc * 10 + i64::from(d - b'0')))
    };
    let sep = |at: usize, c: u8| {
        if b.get(at) == Some(&c) {
            Ok(())
        } else {
            Err(err())
        }
    };
    let (year, month, day) = (num(0, 4)?, num(5, 2)?, num(8, 2)?);
    sep(4, b'-')?;
    sep(7, b'-')?;
    sep(10, b'T')?;
    let (hour, min, sec) = (num(11, 2)?, num(14, 2)?, num(17, 2)?);
    sep(13, b':')?;
    sep(16, b':')?;
    let mut i = 19;
    let mut nanos = 0i64;
    if b.get(i) == Some(&b'.') {
        let digits = b[i + 1..].iter().take_while(|c| c.is_ascii_digit()).count();
        if digits == 0 || digits > 9 {
            return Err(err());
        }
        nanos = num(i + 1, digits)? * 10i64.pow(9 - digits as u32);
        i += 1 + digits;
    }
    let offset = match b.get(i) {
        Some(b'Z') if b.len() == i + 1 => 0,
        Some(sign @ (b'+' | b'-')) if b.len() == i + 6 => {
            sep(i + 3, b':')?;
            let (oh, om) = (num(i + 1, 2)?, num(i + 4, 2)?);
            if oh > 23 || om > 59 {
                return Err(err());
            }
            let o = oh * 3600 + om * 60;
            if *sign == b'-' {
                -o
            } else {
                o
            }
        }
        _ => return Err(err()),
    };
    let days_in_month = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        _ => return Err(err()),
    };
    if day < 1 || day > days_in_month || hour > 23 || min > 59 || sec > 59 {
        return Err(err());
    }
    let secs = days_from_civil(year, month, day) * 86_400 + hour * 3600 + min * 60 + sec - offset;
    Ok(Timestamp {
        seconds: secs,
        nanos: nanos as i32,
    })
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Writes a timestamp as Go's `time.RFC3339Nano` in UTC.
pub(crate) fn write_rfc3339(f: &mut fmt::Formatter<'_>, t: Timestamp) -> fmt::Result {
    let days = t.seconds.div_euclid(86_400);
    let rem = t.seconds.rem_euclid(86_400);
    // civil_from_days
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    write!(
        f,
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )?;
    if t.nanos > 0 {
        let frac = format!("{:09}", t.nanos);
        write!(f, ".{}", frac.trim_end_matches('0'))?;
    }
    f.write_str("Z")
}

/// `dnsName(s)`: a DNS name of labels of at most 63 bytes, 253 in all; a trailing dot is
/// allowed. Mixer runs IDNA validation; this checks the ASCII rules (letters, digits, `-`, `_`,
/// no label starting or ending with `-`) and accepts non-ASCII letters as they are.
pub(crate) fn check_dns_name(s: &str) -> Result<(), String> {
    let err = |why: &str| format!("could not convert {s:?} to DNS_NAME: {why}");
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() {
        return Err(err("empty name"));
    }
    if name.len() > 253 {
        return Err(err("longer than 253 bytes"));
    }
    for label in name.split('.') {
        if label.is_empty() || label.len() > 63 {
            return Err(err("every label must be 1 to 63 bytes"));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(err("a label cannot start or end with '-'"));
        }
        if !label
            .chars()
            .all(|c| c.is_alphanumeric() || c == '-' || c == '_')
        {
            return Err(err("invalid character"));
        }
    }
    Ok(())
}

/// `dnsName_equal`: case-insensitive, a trailing dot ignored.
pub(crate) fn dns_name_equal(a: &str, b: &str) -> bool {
    let (a, b) = (
        a.strip_suffix('.').unwrap_or(a),
        b.strip_suffix('.').unwrap_or(b),
    );
    a.eq_ignore_ascii_case(b) || (!a.is_ascii() && a.to_lowercase() == b.to_lowercase())
}

/// `email(s)`: `mail.ParseAddress` with display names rejected; a bare `local@domain` or
/// `<local@domain>`. Returns the address.
pub(crate) fn parse_email(s: &str) -> Result<&str, String> {
    let err = |why: &str| format!("could not convert {s:?} to EMAIL_ADDRESS: {why}");
    let t = s.trim();
    let addr = match (t.find('<'), t.strip_suffix('>')) {
        (Some(0), Some(inner)) => &inner[1..],
        (Some(_), _) => return Err(err("display names are not allowed")),
        (None, _) => t,
    };
    let Some((local, domain)) = addr.rsplit_once('@') else {
        return Err(err("missing '@'"));
    };
    let atext = |c: char| c.is_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c);
    let local_ok = (local.len() >= 2 && local.starts_with('"') && local.ends_with('"'))
        || (!local.is_empty()
            && local
                .split('.')
                .all(|p| !p.is_empty() && p.chars().all(atext)));
    if !local_ok {
        return Err(err("invalid local part"));
    }
    if domain.is_empty()
        || !domain
            .split('.')
            .all(|p| !p.is_empty() && p.chars().all(atext))
    {
        return Err(err("invalid domain"));
    }
    Ok(addr)
}

/// `email_equal`: local parts byte-equal, domains DNS-equal.
pub(crate) fn email_equal(a: &str, b: &str) -> bool {
    match (a.rsplit_once('@'), b.rsplit_once('@')) {
        (Some((la, da)), Some((lb, db))) => la == lb && dns_name_equal(da, db),
        _ => a == b,
    }
}

/// `uri(s)`: `url.Parse`, which accepts almost anything; rejected are the empty string,
/// control characters, a missing scheme before `:` and bad `%` escapes.
pub(crate) fn check_uri(s: &str) -> Result<(), String> {
    let err = |why: &str| format!("could not convert {s:?} to URI: {why}");
    if s.is_empty() {
        return Err(err("empty string"));
    }
    if s.chars().any(|c| c.is_ascii_control()) {
        return Err(err("invalid control character"));
    }
    if s.starts_with(':') {
        return Err(err("missing protocol scheme"));
    }
    let b = s.as_bytes();
    for (i, _) in s.match_indices('%') {
        let ok = b
            .get(i + 1..i + 3)
            .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit));
        if !ok {
            return Err(err("invalid URL escape"));
        }
    }
    Ok(())
}

/// The parts `uri_equal` compares: scheme, userinfo, host, port, and the path and the rest.
fn uri_parts(s: &str) -> (String, &str, &str, &str, &str) {
    let (scheme, rest) = match s.split_once(':') {
        Some((sc, rest))
            if sc.starts_with(|c: char| c.is_ascii_alphabetic())
                && sc
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c)) =>
        {
            (sc.to_ascii_lowercase(), rest)
        }
        _ => (String::new(), s),
    };
    let Some(after) = rest.strip_prefix("//") else {
        return (scheme, "", "", "", rest);
    };
    let end = after.find(['/', '?', '#']).unwrap_or(after.len());
    let (authority, tail) = after.split_at(end);
    let (user, hostport) = authority.rsplit_once('@').unwrap_or(("", authority));
    let (host, port) = match hostport.rsplit_once(':') {
        // an IPv6 literal `[::1]` has colons of its own
        Some((h, p)) if !p.contains(']') => (h, p),
        _ => (hostport, ""),
    };
    (scheme, user, host, port, tail)
}

/// `uri_equal`: schemes compare case-insensitively; for http and https the hosts compare as DNS
/// names and the ports must match; the rest compares byte for byte.
pub(crate) fn uri_equal(a: &str, b: &str) -> bool {
    let (sa, ua, ha, pa, ta) = uri_parts(a);
    let (sb, ub, hb, pb, tb) = uri_parts(b);
    if sa != sb || ua != ub || pa != pb || ta != tb {
        return false;
    }
    if sa == "http" || sa == "https" {
        dns_name_equal(ha, hb)
    } else {
        ha == hb
    }
}

/// `match(str, pattern)`: a trailing `*` matches a prefix, a leading `*` a suffix, otherwise
/// the strings must be equal.
pub(crate) fn glob_match(s: &str, pattern: &str) -> bool {
    if let Some(prefix) = pattern.strip_suffix('*') {
        s.starts_with(prefix)
    } else if let Some(suffix) = pattern.strip_prefix('*') {
        s.ends_with(suffix)
    } else {
        s == pattern
    }
}
