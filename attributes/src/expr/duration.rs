//! Go's `time.ParseDuration` and `time.Duration.String`, exactly: CEXL types a string literal
//! that parses as a duration as a DURATION constant (`"0ms"`, `"1h2m3.5s"`), and durations
//! print the way Mixer prints them.

use crate::value::Duration;
use std::fmt;

const NS_PER_SEC: u64 = 1_000_000_000;
/// 1<<63: the magnitude of the most negative Go duration.
const LIMIT: u64 = 1 << 63;

fn unit(u: &str) -> Option<u64> {
    Some(match u {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => NS_PER_SEC,
        "m" => 60 * NS_PER_SEC,
        "h" => 3600 * NS_PER_SEC,
        _ => return None,
    })
}

/// Why a string is not a Go duration (the text after `time: `, as Go words it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DurationError {
    #[error("invalid duration {0:?}")]
    Invalid(String),
    #[error("missing unit in duration {0:?}")]
    MissingUnit(String),
    #[error("unknown unit {unit:?} in duration {text:?}")]
    UnknownUnit { unit: String, text: String },
}

/// Parses a duration as Go's `time.ParseDuration` does: an optional sign, then one or more
/// decimal numbers each with a unit (`ns`, `us`/`µs`/`μs`, `ms`, `s`, `m`, `h`); `"0"` alone is
/// zero; anything beyond ±2⁶³ ns is an error.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let invalid = || DurationError::Invalid(text.to_owned());
    let mut s = text;
    let mut neg = false;
    if let Some(rest) = s.strip_prefix('-') {
        neg = true;
        s = rest;
    } else if let Some(rest) = s.strip_prefix('+') {
        s = rest;
    }
    if s == "0" {
        return Ok(Duration::default());
    }
    if s.is_empty() {
        return Err(invalid());
    }
    let mut total: u64 = 0;
    while !s.is_empty() {
        let b = s.as_bytes()[0];
        if !(b == b'.' || b.is_ascii_digit()) {
            return Err(invalid());
        }
        let digits = s.bytes().take_while(u8::is_ascii_digit).count();
        let mut v: u64 = 0;
        for d in s[..digits].bytes() {
            if v > LIMIT / 10 {
                return Err(invalid());
            }
            v = v * 10 + u64::from(d - b'0');
            if v > LIMIT {
                return Err(invalid());
            }
        }
        let pre = digits > 0;
        s = &s[digits..];
        let (mut frac, mut scale, mut post) = (0u64, 1f64, false);
        if let Some(rest) = s.strip_prefix('.') {
            let n = rest.bytes().take_while(u8::is_ascii_digit).count();
            let mut overflow = false;
            for d in rest[..n].bytes() {
                if overflow || frac > (LIMIT - 1) / 10 {
                    overflow = true;
                    continue;
                }
                let y = frac * 10 + u64::from(d - b'0');
                if y > LIMIT {
                    overflow = true;
                    continue;
                }
                frac = y;
                scale *= 10.0;
            }
            post = n > 0;
            s = &rest[n..];
        }
        if !pre && !post {
            return Err(invalid());
        }
        let n = s
            .bytes()
            .take_while(|c| *c != b'.' && !c.is_ascii_digit())
            .count();
        if n == 0 {
            return Err(DurationError::MissingUnit(text.to_owned()));
        }
        let (u, rest) = s.split_at(n);
        s = rest;
        let Some(unit) = unit(u) else {
            return Err(DurationError::UnknownUnit {
                unit: u.to_owned(),
                text: text.to_owned(),
            });
        };
        if v > LIMIT / unit {
            return Err(invalid());
        }
        v *= unit;
        if frac > 0 {
            // as Go: float64(f) * (float64(unit) / scale), truncated
            v += (frac as f64 * (unit as f64 / scale)) as u64;
            if v > LIMIT {
                return Err(invalid());
            }
        }
        total += v;
        if total > LIMIT {
            return Err(invalid());
        }
    }
    let nanos = if neg {
        -i128::from(total)
    } else {
        i128::from(total)
    };
    if !neg && total > LIMIT - 1 {
        return Err(invalid());
    }
    Ok(Duration::from_nanos(nanos))
}

/// Prints a duration as Go's `time.Duration.String` does (`1h2m3.5s`, `1.5ms`, `0s`).
#[derive(Clone, Copy, Debug)]
pub struct GoDuration(pub Duration);

impl fmt::Display for GoDuration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.0.as_nanos();
        if n < 0 {
            f.write_str("-")?;
        }
        let u = n.unsigned_abs();
        if u == 0 {
            return f.write_str("0s");
        }
        if u < u128::from(NS_PER_SEC) {
            let (prec, unit) = match u {
                0..1_000 => (0, "ns"),
                1_000..1_000_000 => (3, "µs"),
                _ => (6, "ms"),
            };
            let (int, frac) = split_frac(u, prec);
            return write!(f, "{int}{frac}{unit}");
        }
        let (secs, frac) = split_frac(u, 9);
        let (mins, secs) = (secs / 60, secs % 60);
        let (hours, mins) = (mins / 60, mins % 60);
        if hours > 0 {
            write!(f, "{hours}h{mins}m")?;
        } else if mins > 0 {
            write!(f, "{mins}m")?;
        }
        write!(f, "{secs}{frac}s")
    }
}

/// `v / 10^prec` and its fraction as `.ddd` without trailing zeros (empty when zero).
fn split_frac(v: u128, prec: u32) -> (u128, String) {
    let p = 10u128.pow(prec);
    let (int, rem) = (v / p, v % p);
    if rem == 0 {
        return (int, String::new());
    }
    let digits = format!("{rem:0width$}", width = prec as usize);
    (int, format!(".{}", digits.trim_end_matches('0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(s: &str) -> Result<i128, DurationError> {
        parse_duration(s).map(Duration::as_nanos)
    }

    #[test]
    fn go_parse_duration_table() {
        let ok: &[(&str, i128)] = &[
            ("0", 0),
            ("5s", 5_000_000_000),
            ("30s", 30_000_000_000),
            ("1478s", 1_478_000_000_000),
            ("-5s", -5_000_000_000),
            ("+5s", 5_000_000_000),
            ("-0", 0),
            ("+0", 0),
            ("5.0s", 5_000_000_000),
            ("5.6s", 5_600_000_000),
            ("5.s", 5_000_000_000),
            (".5s", 500_000_000),
            ("1.0s", 1_000_000_000),
            ("1.00s", 1_000_000_000),
            ("1.004s", 1_004_000_000),
            ("1.0040s", 1_004_000_000),
            ("100.00100s", 100_001_000_000),
            ("10ns", 10),
            ("11us", 11_000),
            ("12µs", 12_000),
            ("12μs", 12_000),
            ("13ms", 13_000_000),
            ("14s", 14_000_000_000),
            ("15m", 900_000_000_000),
            ("16h", 57_600_000_000_000),
            ("3h30m", 12_600_000_000_000),
            ("10.5s4m", 250_500_000_000),
            ("-2m3.4s", -123_400_000_000),
            ("1h2m3s4ms5us6ns", 3_723_004_005_006),
            ("39h9m14.425s", 140_954_425_000_000),
            ("52763797000ns", 52_763_797_000),
            ("0.3333333333333333333h", 1_200_000_000_000),
            ("9007199254740993ns", 9_007_199_254_740_993),
            ("9223372036854775807ns", 9_223_372_036_854_775_807),
            ("9223372036854775.807us", 9_223_372_036_854_775_807),
            ("-9223372036854775808ns", -9_223_372_036_854_775_808),
            ("0.100000000000000000000h", 360_000_000_000),
            ("0ms", 0),
            ("1h2m3.5s", 3_723_500_000_000),
            ("-1.5h", -5_400_000_000_000),
        ];
        for (s, want) in ok {
            assert_eq!(ns(s), Ok(*want), "{s}");
        }
        for bad in [
            "",
            "3",
            "-",
            "s",
            ".",
            "-.",
            ".s",
            "+.s",
            "1d",
            "\u{ff}",
            "1s ",
            "9223372036854775808ns",
            "9223372036854775.808us",
            "9223372036854ms775us808ns",
            "-9223372036854775809ns",
            "3000000h",
            "1.5.s",
        ] {
            assert!(ns(bad).is_err(), "{bad:?} should fail");
        }
        assert_eq!(
            ns("3").expect_err("fails").to_string(),
            "missing unit in duration \"3\""
        );
        assert_eq!(
            ns("1d").expect_err("fails").to_string(),
            "unknown unit \"d\" in duration \"1d\""
        );
    }

    #[test]
    fn go_duration_string() {
        for (s, want) in [
            ("0", "0s"),
            ("1ns", "1ns"),
            ("1.1us", "1.1µs"),
            ("2.2ms", "2.2ms"),
            ("3.3s", "3.3s"),
            ("4m5s", "4m5s"),
            ("4m5.001s", "4m5.001s"),
            ("5h6m7.001s", "5h6m7.001s"),
            ("8m0.000000001s", "8m0.000000001s"),
            ("-1.5h", "-1h30m0s"),
            ("1h", "1h0m0s"),
        ] {
            let d = parse_duration(s).expect(s);
            assert_eq!(GoDuration(d).to_string(), want, "{s}");
        }
    }
}
