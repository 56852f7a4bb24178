//! Config, keys and the RESP2 codec without Redis; failures (nothing listening, a server that
//! never answers) without Redis too; and the scripts' algorithms against the real Redis named
//! by `MIXER_REDIS=host:port` (scripts/test starts one), with the time passed explicitly so
//! windows are crossed without sleeping. Without `MIXER_REDIS` those say so and pass.

use super::*;
use crate::adapters::{code, Instance, QuotaAnswer, QuotaArgs, QuotaResult};
use mixer_attributes::expr::EvalValue;
use std::borrow::Cow;
use std::time::Duration;

fn yaml(s: &str) -> Yaml {
    serde_yaml_ng::from_str(s).expect("test yaml")
}

const INSTANCE: &str = "requestcount.instance.istio-system";

fn inst<'a>(dims: &[(&'a str, &'a str)]) -> Instance<'a> {
    Instance {
        name: INSTANCE,
        value: None,
        dimensions: dims
            .iter()
            .map(|(k, v)| (*k, EvalValue::String(Cow::Borrowed(*v))))
            .collect(),
        fields: Vec::new(),
    }
}

fn handler_at(params: &str, name: &str, addr: &str) -> RedisQuotaHandler {
    let p =
        Params::parse(&yaml(&format!("{params}\nredisServerUrl: '{addr}'"))).expect("valid params");
    RedisQuotaHandler::new(p, name, "istio-system", &[])
}

fn args(dedup_id: &str, amount: i64, best_effort: bool) -> QuotaArgs<'_> {
    QuotaArgs {
        dedup_id,
        amount,
        best_effort,
    }
}

fn pending(answer: QuotaAnswer) -> Allocation {
    match answer {
        QuotaAnswer::Pending(a) => a,
        QuotaAnswer::Ready(r) => panic!("expected an allocation to run, got {r:?}"),
    }
}

#[test]
fn every_bad_param_is_named() {
    let p = Params::parse(&yaml(
        "redisServerUrl: localhost\nconnectionPoolSize: -1\ntimeout: 0s\nquotas:\n- {name: '', maxAmount: 0, validDuration: 500us}\n- name: q\n  maxAmount: 1\n  validDuration: 1s\n  bucketDuration: 1s\n  rateLimitAlgorithm: ROLLING_WINDOW\n  overrides: [{maxAmount: -2}]\n- {name: q, maxAmount: 1, rateLimitAlgorithm: ROLLING_WINDOW, validDuration: 1m}\n",
    ))
    .expect_err("problems");
    let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "quotas[0].name",
            "quotas[0].max_amount",
            "quotas[0].valid_duration",
            "quotas[1].bucket_duration",
            "quotas[1].overrides[0].dimensions",
            "quotas[1].overrides[0].max_amount",
            "quotas[2].name",
            "quotas[2].bucket_duration",
            "redis_server_url",
            "connection_pool_size",
            "timeout",
        ],
        "{p:#?}"
    );
    let p = Params::parse(&yaml("{}")).expect_err("no quotas");
    assert_eq!(p[0].field, "quotas");
    let p = Params::parse(&yaml(
        "quotas: [{name: q, maxAmount: 1, validDuration: 1s}]\nminDeduplicationDuration: 1s",
    ))
    .expect_err("not a redisquota field");
    assert_eq!(p[0].field, "minDeduplicationDuration");
    let p = Params::parse(&yaml("quotas: [{name: q, maxAmount: 1, validDuration: 1s, overrides: [{dimensions: {a: b}, maxAmount: 1, validDuration: 1s}]}]"))
        .expect_err("overrides have no validDuration in redisquota");
    assert_eq!(p[0].field, "quotas[0].overrides[0].validDuration");
}

#[test]
fn defaults_are_istios() {
    let p = Params::parse(&yaml(
        "quotas: [{name: q, max_amount: 5, valid_duration: 1s}]",
    ))
    .expect("valid");
    assert_eq!(p.quotas[0].rate_limit_algorithm, Algorithm::Fixed);
    assert_eq!(p.address(), DEFAULT_REDIS_SERVER_URL);
    assert_eq!(p.pool_size(), DEFAULT_CONNECTION_POOL_SIZE);
    assert_eq!(p.timeout(), DEFAULT_TIMEOUT);
    let p = Params::parse(&yaml(
        "quotas: [{name: q, maxAmount: 5, validDuration: 1m, bucketDuration: 1s, rateLimitAlgorithm: ROLLING_WINDOW}]\nredis_server_url: '10.0.0.1:7000'\nconnection_pool_size: 3\ntimeout: 250ms",
    ))
    .expect("valid");
    assert_eq!(p.quotas[0].rate_limit_algorithm, Algorithm::Rolling);
    assert_eq!(
        (p.address(), p.pool_size(), p.timeout()),
        ("10.0.0.1:7000", 3, Duration::from_millis(250))
    );
}

#[test]
fn keys_are_deterministic_escaped_and_per_dimension_values() {
    let k = |dims: &[(&'static str, &str)]| {
        let d: Vec<(&str, String)> = dims.iter().map(|(k, v)| (*k, (*v).to_owned())).collect();
        base_key("rq.handler.istio-system", INSTANCE, &d)
    };
    assert_eq!(
        k(&[("destination", "ratings"), ("source", "reviews")]),
        "mixer:rq:{rq.handler.istio-system|requestcount.instance.istio-system;destination=ratings;source=reviews}"
    );
    assert_eq!(k(&[("a", "1")]), k(&[("a", "1")]), "stable");
    // a value that looks like two dimensions is not two dimensions
    assert_ne!(k(&[("a", "1;b=2")]), k(&[("a", "1"), ("b", "2")]));
    assert_eq!(
        k(&[("a", "{%}|")]),
        "mixer:rq:{rq.handler.istio-system|requestcount.instance.istio-system;a=%7B%25%7D%7C}"
    );

    let h = handler_at(
        "quotas:\n- name: requestcount\n  maxAmount: 10\n  validDuration: 2s\n  bucketDuration: 100ms\n  rateLimitAlgorithm: ROLLING_WINDOW\n  overrides:\n  - {dimensions: {destination: ratings, source: reviews}, maxAmount: 1}\n  - {dimensions: {destination: ratings}, maxAmount: 2}\n",
        "h.handler.istio-system",
        "127.0.0.1:1",
    );
    let a = pending(h.alloc(
        &inst(&[("destination", "ratings"), ("source", "reviews")]),
        args("call-1requestcount", 3, true),
    ));
    let base = "mixer:rq:{h.handler.istio-system|requestcount.instance.istio-system;destination=ratings;source=reviews}";
    assert_eq!(
        a.keys(),
        [
            format!("{base}:rolling"),
            format!("{base}:rolling:buckets"),
            format!("{base}:dedup:call-1requestcount"),
        ]
    );
    assert_eq!(
        a.args(),
        ["1", "2000", "100", "3", "1", ""],
        "first override"
    );
    let a = pending(h.alloc(
        &inst(&[("destination", "ratings"), ("source", "productpage")]),
        args("", 1, false),
    ));
    assert_eq!(a.keys().len(), 2, "no dedup id, no dedup key");
    assert_eq!(a.args()[0], "2", "second override");
    let a = pending(h.alloc(&inst(&[("destination", "details")]), args("", 1, false)));
    assert_eq!(a.args()[0], "10", "the quota's own limit");
}

#[test]
fn unknown_quotas_and_non_positive_amounts_are_answered_at_once() {
    let h = handler_at(
        "quotas: [{name: requestcount, maxAmount: 1, validDuration: 1s}]",
        "h",
        "127.0.0.1:1",
    );
    let other = Instance {
        name: "other.instance.istio-system",
        value: None,
        dimensions: Vec::new(),
        fields: Vec::new(),
    };
    let QuotaAnswer::Ready(r) = h.alloc(&other, args("", 1, false)) else {
        panic!("answered at once");
    };
    assert_eq!((r.granted, r.status.code), (0, code::INVALID_ARGUMENT));
    let QuotaAnswer::Ready(r) = h.alloc(&inst(&[]), args("", 0, false)) else {
        panic!("answered at once");
    };
    assert_eq!((r.granted, r.status.code), (0, code::OK));
}

#[test]
fn resp_codec() {
    let mut out = Vec::new();
    resp::encode(&[b"EVALSHA", b"ab", b"0"], &mut out);
    assert_eq!(out, b"*3\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n0\r\n");
    let reply = b"*3\r\n:2\r\n:1000\r\n$-1\r\n+OK\r\n";
    assert_eq!(
        parse_reply(reply),
        Ok(Some((
            Reply::Array(Some(vec![
                Reply::Int(2),
                Reply::Int(1000),
                Reply::Bulk(None)
            ])),
            20
        )))
    );
    assert_eq!(parse_reply(&reply[..19]), Ok(None), "incomplete");
    assert_eq!(
        parse_reply(b"-NOSCRIPT No matching script\r\n"),
        Ok(Some((
            Reply::Error("NOSCRIPT No matching script".into()),
            30
        )))
    );
    assert_eq!(
        parse_reply(b"$3\r\nabc\r\n"),
        Ok(Some((Reply::Bulk(Some(b"abc".to_vec())), 9)))
    );
    assert_eq!(parse_reply(b"$3\r\nab"), Ok(None));
    assert!(parse_reply(b"$3\r\nabcd\r\n").is_err(), "bulk without CRLF");
    assert!(parse_reply(b"?x\r\n").is_err());
    assert!(parse_reply(b":x\r\n").is_err());
    assert!(parse_reply(b"*99999999\r\n").is_err(), "bounded arrays");
    assert!(
        parse_reply(b"$99999999\r\n").is_err(),
        "bounded bulk strings"
    );
    assert!(
        parse_reply(b"*1\r\n*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n").is_err(),
        "bounded nesting"
    );
}

#[tokio::test]
async fn nothing_listening_is_unavailable() {
    // a port nothing listens on: bind one, learn it, close it
    let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    drop(l);
    let h = handler_at(
        "quotas: [{name: requestcount, maxAmount: 1, validDuration: 1s}]",
        "h",
        &addr,
    );
    let e = pending(h.alloc(&inst(&[]), args("", 1, false)))
        .run()
        .await
        .expect_err("nothing listens");
    assert_eq!(Failure::of(&e), Failure::Connection, "{e}");
    let r: QuotaResult = failed(&e);
    assert_eq!((r.status.code, r.granted), (code::UNAVAILABLE, 0));
    assert!(r.status.message.contains(&addr), "{}", r.status.message);
}

#[tokio::test]
async fn a_server_that_never_answers_times_out() {
    // stands in for a hung Redis (the e2e test pauses a real one): accepts, reads, never replies
    let l = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = l.local_addr().expect("addr").to_string();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = l.accept().await {
            held.push(s);
        }
    });
    let h = handler_at(
        "quotas: [{name: requestcount, maxAmount: 1, validDuration: 1s}]\ntimeout: 50ms\nconnectionPoolSize: 1",
        "h",
        &addr,
    );
    let e = pending(h.alloc(&inst(&[]), args("", 1, false)))
        .run()
        .await
        .expect_err("no answer");
    assert_eq!(Failure::of(&e), Failure::Timeout, "{e}");
    assert_eq!(failed(&e).status.code, code::UNAVAILABLE);
    assert_eq!(
        h.pool().idle(),
        0,
        "a connection that timed out is not reused"
    );
    silent.abort();
}

#[path = "tests_live.rs"]
mod live;
