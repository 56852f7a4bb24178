//! The expression language end to end: every example of spec §4.5, the `|` and map-key rules
//! of §4.4, the rejected operators, error messages, typed values and recorded reads.

use mixer_attributes::expr::{compile, compile_as, EvalError, EvalValue, Expression};
use mixer_attributes::referenced::{NoRecord, Recorder};
use mixer_attributes::{
    AttrRef, Duration, OwnedBag, OwnedValue, Timestamp, Value, ValueType, Vocabulary,
};
use std::net::IpAddr;

fn s(v: &str) -> OwnedValue {
    OwnedValue::String(v.to_owned())
}

fn map(pairs: &[(&str, &str)]) -> OwnedValue {
    OwnedValue::StringMap(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn vocab() -> Vocabulary {
    Vocabulary::builtin()
        .extended([
            ("service.name", ValueType::String),
            ("service.user", ValueType::String),
            ("request.user", ValueType::String),
            ("request.user2", ValueType::String),
            ("$out.source_labels", ValueType::StringMap),
        ])
        .expect("extends")
}

fn expr(text: &str) -> Expression {
    compile(text, &vocab()).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn eval(text: &str, bag: &OwnedBag) -> Result<String, EvalError> {
    expr(text).evaluate(bag).map(|v| v.to_string())
}

fn ok(text: &str, bag: &OwnedBag) -> String {
    eval(text, bag).unwrap_or_else(|e| panic!("{text}: {e}"))
}

fn check_err(text: &str) -> String {
    match compile(text, &vocab()) {
        Ok(_) => panic!("{text} should not compile"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn helm_examples() {
    let empty = OwnedBag::new();
    let reporter = r#"conditional((context.reporter.kind | "inbound") == "outbound", "source", "destination")"#;
    assert_eq!(ok(reporter, &empty), "destination");
    let outbound: OwnedBag = [("context.reporter.kind", s("outbound"))]
        .into_iter()
        .collect();
    assert_eq!(ok(reporter, &outbound), "source");

    let security = r#"conditional((context.reporter.kind | "inbound") == "outbound", "unknown", conditional(connection.mtls | false, "mutual_tls", "none"))"#;
    assert_eq!(ok(security, &empty), "none");
    assert_eq!(ok(security, &outbound), "unknown");
    let mtls: OwnedBag = [("connection.mtls", OwnedValue::Bool(true))]
        .into_iter()
        .collect();
    assert_eq!(ok(security, &mtls), "mutual_tls");

    assert_eq!(ok(r#"source.ip | ip("0.0.0.0")"#, &empty), "0.0.0.0");
    let ip: OwnedBag = [("source.ip", OwnedValue::ip("10.1.2.3".parse().expect("ip")))]
        .into_iter()
        .collect();
    assert_eq!(ok(r#"source.ip | ip("0.0.0.0")"#, &ip), "10.1.2.3");

    let d = expr(r#"response.duration | "0ms""#);
    assert_eq!(d.result_type(), ValueType::Duration);
    assert_eq!(
        d.evaluate(&empty),
        Ok(EvalValue::Duration(Duration::default()))
    );
    let dur: OwnedBag = [(
        "response.duration",
        OwnedValue::Duration(Duration {
            seconds: 1,
            nanos: 500_000_000,
        }),
    )]
    .into_iter()
    .collect();
    assert_eq!(ok(r#"response.duration | "0ms""#, &dur), "1.5s");

    let proto = r#"api.protocol | context.protocol | "unknown""#;
    assert_eq!(ok(proto, &empty), "unknown");
    let http: OwnedBag = [("context.protocol", s("http"))].into_iter().collect();
    assert_eq!(ok(proto, &http), "http");

    let authority = r#"request.headers[":authority"] | request.host | """#;
    assert_eq!(ok(authority, &empty), "");
    let host: OwnedBag = [("request.host", s("h")), ("request.headers", map(&[]))]
        .into_iter()
        .collect();
    assert_eq!(ok(authority, &host), "h");
    let both: OwnedBag = [
        ("request.host", s("h")),
        ("request.headers", map(&[(":authority", "a")])),
    ]
    .into_iter()
    .collect();
    assert_eq!(ok(authority, &both), "a");

    let t = expr(r#"context.time | timestamp("2017-01-01T00:00:00Z")"#);
    assert_eq!(
        t.evaluate(&empty),
        Ok(EvalValue::Timestamp(Timestamp {
            seconds: 1_483_228_800,
            nanos: 0
        }))
    );
    assert_eq!(
        t.evaluate(&empty).expect("ts").to_string(),
        "2017-01-01T00:00:00Z"
    );

    let labels = expr(r#"$out.source_labels | emptyStringMap()"#);
    assert_eq!(labels.result_type(), ValueType::StringMap);
    assert_eq!(labels.evaluate(&empty).expect("map").to_string(), "{}");

    let promhttp = r#"(context.protocol == "http" || context.protocol == "grpc") && (match((request.useragent | "-"), "kube-probe*") == false) && (match((request.useragent | "-"), "Prometheus*") == false)"#;
    let e = compile_as(promhttp, &vocab(), ValueType::Bool).expect("bool");
    assert_eq!(e.evaluate_bool(&http, &mut NoRecord), Ok(true));
    let probe: OwnedBag = [
        ("context.protocol", s("http")),
        ("request.useragent", s("kube-probe/1.15")),
    ]
    .into_iter()
    .collect();
    assert_eq!(e.evaluate_bool(&probe, &mut NoRecord), Ok(false));
    let tcp: OwnedBag = [("context.protocol", s("tcp"))].into_iter().collect();
    assert_eq!(e.evaluate_bool(&tcp, &mut NoRecord), Ok(false));
    assert_eq!(
        e.evaluate(&empty),
        Err(EvalError::LookupFailed("context.protocol".into()))
    );

    let open = r#"context.protocol == "tcp" && ((connection.event | "na") == "open")"#;
    assert_eq!(ok(open, &tcp), "false");
    let opened: OwnedBag = [
        ("context.protocol", s("tcp")),
        ("connection.event", s("open")),
    ]
    .into_iter()
    .collect();
    assert_eq!(ok(open, &opened), "true");

    let svc = r#"destination.service.host | conditional((destination.service.name | "unknown") == "unknown", "unknown", request.host)"#;
    assert_eq!(ok(svc, &empty), "unknown");
    let named: OwnedBag = [
        ("destination.service.name", s("r")),
        ("request.host", s("h:80")),
    ]
    .into_iter()
    .collect();
    assert_eq!(ok(svc, &named), "h:80");
    // the taken branch reads request.host: missing is an error
    let named_only: OwnedBag = [("destination.service.name", s("r"))].into_iter().collect();
    assert_eq!(
        eval(svc, &named_only),
        Err(EvalError::LookupFailed("request.host".into()))
    );
}

#[test]
fn test_and_doc_examples() {
    let empty = OwnedBag::new();
    assert_eq!(
        ok(r#"request.user2| request.user | "user1""#, &empty),
        "user1"
    );
    let u: OwnedBag = [("request.user", s("u"))].into_iter().collect();
    assert_eq!(ok(r#"request.user2| request.user | "user1""#, &u), "u");

    let svc: OwnedBag = [
        ("service.name", s("a.ns1.cluster")),
        ("service.user", s("admin")),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        ok(
            r#"match(service.name, "*.ns1.cluster") && service.user == "admin""#,
            &svc
        ),
        "true"
    );

    let ua: OwnedBag = [("request.headers", map(&[("user-agent", "curlish")]))]
        .into_iter()
        .collect();
    assert_eq!(
        ok(
            r#"request.headers[toLower("USER-AGENT")] == "curlish""#,
            &ua
        ),
        "true"
    );

    let deny = r#"destination.labels["app"] == "ratings" && source.labels["app"]=="reviews" && source.labels["version"] == "v3""#;
    let bag: OwnedBag = [
        ("destination.labels", map(&[("app", "ratings")])),
        (
            "source.labels",
            map(&[("app", "reviews"), ("version", "v3")]),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(ok(deny, &bag), "true");
    let v2: OwnedBag = [
        ("destination.labels", map(&[("app", "ratings")])),
        (
            "source.labels",
            map(&[("app", "reviews"), ("version", "v2")]),
        ),
    ]
    .into_iter()
    .collect();
    assert_eq!(ok(deny, &v2), "false");

    let old = Vocabulary::builtin();
    let m = compile(r#""svc.*".matches(destination.service)"#, old).expect("compiles");
    let d: OwnedBag = [("destination.service", s("my-svc.ns"))]
        .into_iter()
        .collect();
    assert_eq!(m.evaluate(&d).map(|v| v.to_string()), Ok("true".into()));
    let d2: OwnedBag = [("destination.service", s("other"))].into_iter().collect();
    assert_eq!(m.evaluate(&d2).map(|v| v.to_string()), Ok("false".into()));
    assert_eq!(ok(r#"destination.service.startsWith("acme")"#, &d), "false");
    assert_eq!(ok(r#"destination.service.endsWith(".ns")"#, &d), "true");
    assert_eq!(
        ok(r#"(request.auth.principal | "nobody" ) == "user1""#, &empty),
        "false"
    );
}

#[test]
fn or_tests_presence_not_emptiness() {
    let zero: OwnedBag = [("request.size", OwnedValue::Int64(0))]
        .into_iter()
        .collect();
    assert_eq!(ok("request.size | 200", &zero), "0");
    assert_eq!(ok("request.size | 200", &OwnedBag::new()), "200");
    let empty_str: OwnedBag = [("source.principal", s(""))].into_iter().collect();
    assert_eq!(ok(r#"source.principal | "x""#, &empty_str), "");
    // a function call on the left always has a value
    assert_eq!(ok(r#"toLower(source.principal) | "x""#, &empty_str), "");
    assert_eq!(
        eval(r#"toLower(source.principal) | "x""#, &OwnedBag::new()),
        Err(EvalError::LookupFailed("source.principal".into()))
    );
}

#[test]
fn map_keys_and_missing_maps() {
    let empty_map: OwnedBag = [("request.headers", map(&[]))].into_iter().collect();
    assert_eq!(ok(r#"request.headers["x"]"#, &empty_map), "");
    assert_eq!(
        ok(
            r#"match(request.headers["user-agent"], "curl*")"#,
            &empty_map
        ),
        "false"
    );
    assert_eq!(ok(r#"request.headers["x"] | "d""#, &empty_map), "d");
    assert_eq!(
        eval(r#"request.headers["x"]"#, &OwnedBag::new()),
        Err(EvalError::LookupFailed("request.headers".into()))
    );
    assert_eq!(
        EvalError::LookupFailed("request.headers".into()).to_string(),
        "lookup failed: 'request.headers'"
    );
    // on the left of `|` a missing map falls through too
    assert_eq!(ok(r#"request.headers["x"] | "d""#, &OwnedBag::new()), "d");
    let h: OwnedBag = [
        ("request.headers", map(&[("kubernetes://a.b", "yes")])),
        ("source.uid", s("Kubernetes://A.b")),
    ]
    .into_iter()
    .collect();
    assert_eq!(ok("request.headers[toLower(source.uid)]", &h), "yes");
    assert_eq!(
        ok(r#"(source.labels | emptyStringMap())["app"] | "none""#, &h),
        "none"
    );
}

#[test]
fn unsupported_operators_are_rejected() {
    assert_eq!(
        check_err("!connection.mtls"),
        "unknown function: NOT at 1:1 (unary \"!\" is not supported)"
    );
    assert_eq!(
        check_err("request.size - response.size"),
        "unknown function: SUB at 1:14 (\"-\" is not supported)"
    );
    assert_eq!(
        check_err("(request.size/response.size) == 30"),
        "unknown function: QUO at 1:14 (\"/\" is not supported)"
    );
    assert!(check_err("request.size * 2").starts_with("unknown function: MUL"));
    assert!(check_err("request.size % 2").starts_with("unknown function: REM"));
    assert!(check_err("-1").starts_with("unknown function: SUB at 1:1"));
    assert!(check_err("nope(1)").starts_with("unknown function: nope at 1:1"));
}

#[test]
fn check_errors_name_what_and_where() {
    assert_eq!(
        check_err("destination.servce"),
        "unknown attribute \"destination.servce\" at 1:1 — did you mean \"destination.service\"?"
    );
    assert_eq!(
        check_err("a == zzzzzzzzzzzz").split(" at ").next(),
        Some("unknown attribute \"a\"")
    );
    assert_eq!(
        check_err(r#"request.size == "x""#),
        "\"==\" (EQ): argument 2 at 1:17: expected INT64, found STRING"
    );
    assert_eq!(
        check_err(r#"request.size | "x""#),
        "\"|\" (OR): argument 2 at 1:16: expected INT64, found STRING"
    );
    assert_eq!(
        check_err(r#"ip(1)"#),
        "ip: argument 1 at 1:4: expected STRING, found INT64"
    );
    assert_eq!(
        check_err(r#"ip("a", "b")"#),
        "ip at 1:1: expected 1 argument, found 2"
    );
    assert_eq!(
        check_err(r#"match(source.uid)"#),
        "match at 1:1: expected 2 arguments, found 1"
    );
    assert_eq!(
        check_err(r#"conditional(true, "a", 1)"#),
        "conditional: argument 3 at 1:24: expected STRING, found INT64"
    );
    assert_eq!(
        check_err(r#"connection.mtls < true"#),
        "\"<\" (LT): argument 1 at 1:1: expected STRING, INT64, DOUBLE or TIMESTAMP, found BOOL"
    );
    assert_eq!(
        check_err(r#"request.size.startsWith("x")"#),
        "startsWith: target at 1:1: expected STRING, found INT64"
    );
    assert!(check_err(r#"ip("not an ip")"#)
        .starts_with("invalid constant at 1:1: could not convert \"not an ip\""));
    assert!(check_err(r#""(".matches(source.uid)"#)
        .starts_with("invalid constant at 1:1: invalid regular expression"));
    assert!(check_err("source.uid ==").ends_with("found end of input at 1:14"));
    // "10s" is a DURATION literal: comparing it with a STRING is a type error, as in Mixer
    assert!(check_err(r#"source.uid == "10s""#).ends_with("expected STRING, found DURATION"));
    let e = compile_as(r#"source.uid | "x""#, &vocab(), ValueType::Bool).expect_err("string");
    assert_eq!(e.to_string(), "expected BOOL, found STRING");
}

#[test]
fn typed_values_and_equality() {
    let bag: OwnedBag = [
        ("source.ip", OwnedValue::Bytes(vec![10, 0, 0, 1])),
        (
            "destination.ip",
            OwnedValue::ip("::ffff:10.0.0.1".parse::<IpAddr>().expect("ip")),
        ),
        (
            "request.time",
            OwnedValue::Timestamp(Timestamp {
                seconds: 1_483_228_800,
                nanos: 5,
            }),
        ),
        ("request.host", s("Example.COM.")),
        ("request.size", OwnedValue::Int64(10)),
    ]
    .into_iter()
    .collect();
    assert_eq!(ok(r#"source.ip == ip("10.0.0.1")"#, &bag), "true");
    assert_eq!(ok(r#"source.ip == destination.ip"#, &bag), "true");
    assert_eq!(ok(r#"destination.ip != ip("10.0.0.2")"#, &bag), "true");
    assert_eq!(
        ok(r#"request.time > timestamp("2017-01-01T00:00:00Z")"#, &bag),
        "true"
    );
    assert_eq!(
        ok(
            r#"request.time == timestamp("2017-01-01T00:00:00.000000005Z")"#,
            &bag
        ),
        "true"
    );
    assert_eq!(
        ok(r#"dnsName(request.host) == dnsName("example.com")"#, &bag),
        "true"
    );
    assert_eq!(
        ok(
            r#"email("Ab@Example.com") == email("Ab@example.COM")"#,
            &bag
        ),
        "true"
    );
    assert_eq!(
        ok(
            r#"email("ab@example.com") == email("AB@example.com")"#,
            &bag
        ),
        "false"
    );
    assert_eq!(
        ok(
            r#"uri("HTTP://Example.com/a") == uri("http://example.com/a")"#,
            &bag
        ),
        "true"
    );
    assert_eq!(
        ok(
            r#"uri("http://example.com/A") == uri("http://example.com/a")"#,
            &bag
        ),
        "false"
    );
    assert!(check_err(r#"email("Joe <joe@example.com>")"#).contains("display names"));
    assert!(check_err(r#"uri("")"#).contains("empty string"));
    assert_eq!(ok(r#"size(request.host) + request.size"#, &bag), "22");
    assert_eq!(ok(r#"request.host + "/x""#, &bag), "Example.COM./x");
    assert_eq!(ok(r#"toLower(request.host)"#, &bag), "example.com.");
    assert_eq!(
        ok(
            r#"conditionalString(request.size >= 10, "big", "small")"#,
            &bag
        ),
        "big"
    );
    assert_eq!(ok(r#""b" > "a" && 1.5 <= 2.0"#, &bag), "true");
    assert_eq!(ok(r#"TRUE == True"#, &bag), "true");
    assert_eq!(ok(r#"'x' + `raw\n`"#, &bag), "xraw\\n");
    // declared IP but the bag holds a string: an error, not a panic
    let wrong: OwnedBag = [("source.ip", s("10.0.0.1"))].into_iter().collect();
    assert_eq!(
        eval("source.ip", &wrong).expect_err("fails").to_string(),
        "attribute 'source.ip' is declared IP_ADDRESS but the bag holds a String value"
    );
    let short: OwnedBag = [("source.ip", OwnedValue::Bytes(vec![1, 2, 3]))]
        .into_iter()
        .collect();
    assert!(eval("source.ip", &short)
        .expect_err("fails")
        .to_string()
        .contains("3 bytes"));
    let bad_ts: OwnedBag = [("source.uid", s("yesterday"))].into_iter().collect();
    assert!(eval("timestamp(source.uid)", &bad_ts)
        .expect_err("fails")
        .to_string()
        .contains("TIMESTAMP"));
}

#[test]
fn short_circuits_and_conditional_evaluate_only_what_they_need() {
    let bag: OwnedBag = [("connection.mtls", OwnedValue::Bool(false))]
        .into_iter()
        .collect();
    assert_eq!(ok(r#"connection.mtls && source.uid == "x""#, &bag), "false");
    assert_eq!(
        ok(r#"connection.mtls == false || source.uid == "x""#, &bag),
        "true"
    );
    assert_eq!(
        ok(r#"conditional(connection.mtls, source.uid, "plain")"#, &bag),
        "plain"
    );
}

/// Records reads as text.
#[derive(Default)]
struct Log(Vec<String>);

impl Recorder for Log {
    fn attribute(&mut self, attr: AttrRef<'_>, value: Option<&Value<'_>>) {
        self.0.push(format!(
            "{}={}",
            attr.name,
            if value.is_some() { "present" } else { "absent" }
        ));
    }

    fn map_key(&mut self, attr: AttrRef<'_>, key: &str, present: bool) {
        self.0.push(format!(
            "{}[{key}]={}",
            attr.name,
            if present { "present" } else { "absent" }
        ));
    }
}

fn reads(text: &str, bag: &OwnedBag) -> Vec<String> {
    let mut log = Log::default();
    let _ = expr(text).evaluate_recorded(bag, &mut log);
    log.0
}

#[test]
fn recorder_sees_every_read() {
    let bag: OwnedBag = [
        ("request.headers", map(&[("a", "1")])),
        ("request.host", s("h")),
    ]
    .into_iter()
    .collect();
    assert_eq!(
        reads(r#"request.headers[":authority"] | request.host | """#, &bag),
        [
            "request.headers=present",
            "request.headers[:authority]=absent",
            "request.host=present"
        ]
    );
    assert_eq!(
        reads(r#"request.headers["a"] == "1""#, &bag),
        ["request.headers=present", "request.headers[a]=present"]
    );
    assert_eq!(reads(r#"source.uid | "x""#, &bag), ["source.uid=absent"]);
    assert_eq!(reads(r#"source.uid == "x""#, &bag), ["source.uid=absent"]);
    // short-circuit: the right side is never read
    assert_eq!(
        reads(r#"request.host == "z" && source.uid == "x""#, &bag),
        ["request.host=present"]
    );
    assert_eq!(
        reads(r#"(source.labels | request.headers)["a"]"#, &bag),
        [
            "source.labels=absent",
            "request.headers=present",
            "request.headers[a]=present"
        ]
    );
}

#[test]
fn the_largest_expressions_fit_the_stack() {
    // a flat chain is as deep as it is long, and every pass recurses over the tree: the limit
    // is 100 levels, which a debug build on a 2 MiB test thread evaluates comfortably
    let chain = vec!["source.uid"; 100].join(" | ");
    assert_eq!(
        eval(&chain, &OwnedBag::new()),
        Err(EvalError::LookupFailed("source.uid".into()))
    );
    let too_deep = vec!["source.uid"; 101].join(" | ");
    assert_eq!(
        check_err(&too_deep),
        "expression is more than 100 operators deep; split it at 1:1"
    );
    let ands = vec!["connection.mtls"; 100].join(" && ");
    let bag: OwnedBag = [("connection.mtls", OwnedValue::Bool(true))]
        .into_iter()
        .collect();
    assert_eq!(ok(&ands, &bag), "true");
    assert_eq!(expr(&ands).to_string(), ands);
    let nested = "toLower(".repeat(99) + "source.uid" + &")".repeat(99);
    let upper: OwnedBag = [("source.uid", s("A"))].into_iter().collect();
    assert_eq!(ok(&nested, &upper), "a");
    // 119 operators, 32 deep
    let wide = vec!["(source.uid == \"a\" || source.uid == \"b\")"; 30].join(" && ");
    assert!(compile(&wide, &vocab()).is_ok());
}

#[test]
fn guard_is_a_necessary_condition_that_fails_alike() {
    let v = Vocabulary::builtin();
    let guard = |text: &str| {
        let e = compile(text, v).expect("compiles");
        e.guard().map(|(a, k)| (a.text().to_owned(), k.to_owned()))
    };
    let tcp = Some(("context.protocol".to_owned(), "tcp".to_owned()));
    assert_eq!(guard(r#"context.protocol == "tcp""#), tcp);
    assert_eq!(
        guard(r#"context.protocol == "tcp" && (connection.mtls | false) && request.size > 3"#),
        tcp
    );
    for none in [
        r#"context.protocol != "tcp""#,
        r#""tcp" == context.protocol"#,
        r#"(context.protocol | "x") == "tcp""#,
        r#"context.protocol == "tcp" || true"#,
        r#"request.size == 3"#,
        r#"connection.mtls && context.protocol == "tcp""#,
    ] {
        assert_eq!(guard(none), None, "{none}");
    }
    // wherever the guard rules a bag out, the expression is false or fails with its error
    let e = compile(r#"context.protocol == "tcp" && request.size > 3"#, v).expect("compiles");
    let (attr, k) = e.guard().expect("guarded");
    let bags = [
        OwnedBag::default(),
        [("context.protocol", s("http"))].into_iter().collect(),
        [("context.protocol", OwnedValue::Int64(1))]
            .into_iter()
            .collect(),
        [("context.protocol", s("tcp"))]
            .into_iter()
            .collect::<OwnedBag>(),
    ];
    for b in &bags {
        let full = e.evaluate_bool(b, &mut NoRecord);
        match attr.evaluate(b) {
            Err(err) => assert_eq!(full, Err(err)),
            Ok(EvalValue::String(s)) if *s != *k => assert_eq!(full, Ok(false)),
            Ok(_) => assert!(matches!(full, Err(EvalError::LookupFailed(_)))),
        }
    }
}
