//! Values and lines as zap writes them, one by one.

use super::super::format::{push_str, push_value, Line};
use super::super::Level;
use mixer_attributes::expr::EvalValue;
use mixer_attributes::{Duration as PbDuration, Timestamp};

#[test]
fn values_are_encoded_as_zap_encodes_them() {
    let enc = |v: EvalValue<'_>| {
        let mut out = Vec::new();
        push_value(&mut out, &v);
        String::from_utf8(out).expect("utf-8")
    };
    assert_eq!(enc(EvalValue::Double(0.25)), "0.25");
    assert_eq!(enc(EvalValue::Double(1e21)), "1000000000000000000000");
    assert_eq!(enc(EvalValue::Double(f64::NAN)), "\"NaN\"");
    assert_eq!(enc(EvalValue::Double(f64::NEG_INFINITY)), "\"-Inf\"");
    assert_eq!(enc(EvalValue::Int64(-3)), "-3");
    assert_eq!(
        enc(EvalValue::Bytes(b"\x0a\x01\x02"[..].into())),
        "\"CgEC\""
    );
    assert_eq!(enc(EvalValue::Bytes(b"ab"[..].into())), "\"YWI=\"");
    assert_eq!(
        enc(EvalValue::IpAddress("2001:db8::1".parse().expect("ip"))),
        "\"2001:db8::1\""
    );
    assert_eq!(
        enc(EvalValue::Duration(PbDuration {
            seconds: 90,
            nanos: 0
        })),
        "\"1m30s\""
    );
    let mut out = Vec::new();
    push_str(&mut out, "a\u{1}b\tc\\d<e>");
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        r#""a\u0001b\tc\\d<e>""#
    );
    // a line with no variables, in both formats
    let time = Timestamp {
        seconds: 0,
        nanos: 5_000,
    };
    let mut out = Vec::new();
    Line::start(&mut out, true, Level::Error, time, "\"x\"").finish();
    Line::start(&mut out, false, Level::Warning, time, "\"x\"").finish();
    assert_eq!(
        String::from_utf8(out).expect("utf-8"),
        "{\"level\":\"error\",\"time\":\"1970-01-01T00:00:00.000005Z\",\"instance\":\"x\"}\n\
         1970-01-01T00:00:00.000005Z\twarn\tx\n"
    );
}
