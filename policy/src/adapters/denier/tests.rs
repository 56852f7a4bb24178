use super::*;
use crate::adapters::code;
use std::time::Duration;

fn yaml(s: &str) -> Yaml {
    serde_yaml_ng::from_str(s).expect("test yaml")
}

#[test]
fn defaults_are_istios() {
    let h = DenierHandler::new(Params::parse(&Yaml::Null).expect("empty params are valid"));
    let r = h.check();
    assert_eq!(r.status.code, code::FAILED_PRECONDITION);
    assert_eq!(r.valid_duration, Duration::from_secs(5));
    assert_eq!(r.valid_use_count, 1000);
}

#[test]
fn configured_status_duration_and_count() {
    let p = Params::parse(&yaml(
        "status: {code: 7, message: Not allowed}\nvalidDuration: 10s\nvalid_use_count: 3",
    ))
    .expect("valid");
    let r = DenierHandler::new(p).check();
    assert_eq!(
        (r.status.code, r.status.message.as_str()),
        (7, "Not allowed")
    );
    assert_eq!(r.valid_duration, Duration::from_secs(10));
    assert_eq!(r.valid_use_count, 3);
    let p = Params::parse(&yaml("status: {code: UNAUTHENTICATED}")).expect("by name");
    assert_eq!(p.code(), 16);
}

#[test]
fn quota_grants_nothing() {
    let h = DenierHandler::new(Params::default());
    let q = h.quota();
    assert_eq!((q.granted, q.status.code), (0, 0));
}

#[test]
fn every_bad_param_is_named() {
    let p = Params::parse(&yaml(
        "status: {code: 42}\nvalid_duration: -1s\nvalidUseCount: -5",
    ))
    .expect_err("three problems");
    let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(fields, ["status.code", "valid_duration", "valid_use_count"]);
    assert_eq!(p[0].value.as_deref(), Some("42"));

    let p = Params::parse(&yaml("status: {code: NOPE}")).expect_err("unknown name");
    assert_eq!(p[0].field, "status.code");
    let p = Params::parse(&yaml("stauts: {code: 7}")).expect_err("typo");
    assert_eq!(p[0].field, "stauts");
    assert!(
        p[0].message.contains("status"),
        "lists the known fields: {p:?}"
    );
    let p = Params::parse(&yaml("valid_duration: 5")).expect_err("not a string");
    assert_eq!(p[0].field, "valid_duration");
}
