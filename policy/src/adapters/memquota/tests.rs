use super::*;
use crate::adapters::{Instance, QuotaArgs};
use mixer_attributes::expr::EvalValue;
use std::borrow::Cow;
use std::time::{Duration, Instant};

fn yaml(s: &str) -> Yaml {
    serde_yaml_ng::from_str(s).expect("test yaml")
}

fn handler(params: &str, t0: Instant) -> MemQuotaHandler {
    let p = Params::parse(&yaml(params)).expect("valid params");
    MemQuotaHandler::new(p, "istio-system", &[], t0)
}

fn inst<'a>(dims: &[(&'a str, &'a str)]) -> Instance<'a> {
    Instance {
        name: "requestcount.instance.istio-system",
        value: None,
        dimensions: dims
            .iter()
            .map(|(k, v)| (*k, EvalValue::String(Cow::Borrowed(*v))))
            .collect(),
        fields: Vec::new(),
    }
}

fn ask(h: &MemQuotaHandler, i: &Instance<'_>, amount: i64, best_effort: bool, at: Instant) -> i64 {
    h.alloc(
        i,
        QuotaArgs {
            dedup_id: "",
            amount,
            best_effort,
        },
        at,
    )
    .granted
}

const MS: fn(u64) -> Duration = Duration::from_millis;

#[test]
fn rolling_window_frees_each_slot_one_window_later() {
    let t0 = Instant::now();
    let h = handler(
        "quotas: [{name: requestcount.instance.istio-system, maxAmount: 3, validDuration: 1s}]",
        t0,
    );
    let i = inst(&[]);
    assert_eq!(ask(&h, &i, 2, false, t0), 2);
    assert_eq!(ask(&h, &i, 1, false, t0 + MS(500)), 1);
    assert_eq!(ask(&h, &i, 1, false, t0 + MS(999)), 0, "window full");
    // the 2 granted at t0 leave the window at 1s, the 1 granted at 0.5s only at 1.5s
    assert_eq!(
        ask(&h, &i, 3, false, t0 + MS(1000)),
        0,
        "only 2 free: all or nothing"
    );
    assert_eq!(
        ask(&h, &i, 3, true, t0 + MS(1000)),
        2,
        "best effort takes what is left"
    );
    assert_eq!(ask(&h, &i, 1, false, t0 + MS(1499)), 0);
    assert_eq!(ask(&h, &i, 1, false, t0 + MS(1500)), 1);
    let r = h.alloc(
        &i,
        QuotaArgs {
            dedup_id: "",
            amount: 1,
            best_effort: false,
        },
        t0 + MS(1500),
    );
    assert_eq!(r.valid_duration, Duration::from_secs(1));
}

#[test]
fn fixed_window_resets_at_each_boundary() {
    let t0 = Instant::now();
    let h = handler(
        "quotas: [{name: requestcount, max_amount: 2, valid_duration: 1s, rate_limit_algorithm: FIXED_WINDOW}]",
        t0,
    );
    let i = inst(&[]);
    assert_eq!(ask(&h, &i, 1, false, t0 + MS(900)), 1);
    assert_eq!(ask(&h, &i, 1, false, t0 + MS(950)), 1);
    assert_eq!(ask(&h, &i, 1, false, t0 + MS(999)), 0);
    // unlike a rolling window, everything is free again at the boundary
    assert_eq!(ask(&h, &i, 2, false, t0 + MS(1000)), 2);
    assert_eq!(ask(&h, &i, 1, false, t0 + MS(1999)), 0);
}

#[test]
fn overrides_by_dimensions_first_match_wins() {
    let t0 = Instant::now();
    let h = handler(
        "quotas:\n- name: requestcount\n  maxAmount: 3\n  validDuration: 10s\n  overrides:\n  - {dimensions: {destination: ratings, source: reviews}, maxAmount: 1}\n  - {dimensions: {destination: ratings}, maxAmount: 2, validDuration: 2s}\n",
        t0,
    );
    let both = inst(&[("destination", "ratings"), ("source", "reviews")]);
    let ratings = inst(&[("destination", "ratings"), ("source", "productpage")]);
    let other = inst(&[("destination", "details"), ("source", "reviews")]);
    assert_eq!(ask(&h, &both, 1, false, t0), 1);
    assert_eq!(ask(&h, &both, 1, false, t0), 0, "first override: 1");
    assert_eq!(ask(&h, &ratings, 2, false, t0), 2);
    assert_eq!(ask(&h, &ratings, 1, false, t0), 0, "second override: 2");
    assert_eq!(ask(&h, &other, 3, false, t0), 3, "default: 3");
    assert_eq!(ask(&h, &other, 1, false, t0), 0);
    let r = h.alloc(
        &ratings,
        QuotaArgs {
            dedup_id: "",
            amount: 1,
            best_effort: false,
        },
        t0 + MS(2000),
    );
    assert_eq!(
        (r.granted, r.valid_duration),
        (1, Duration::from_secs(2)),
        "the override's window"
    );
}

#[test]
fn dedup_returns_the_earlier_answer_for_one_to_two_periods() {
    let t0 = Instant::now();
    let h = handler("quotas: [{name: requestcount, maxAmount: 2, validDuration: 1m}]\nminDeduplicationDuration: 1s", t0);
    let i = inst(&[]);
    let args = |id| QuotaArgs {
        dedup_id: id,
        amount: 1,
        best_effort: false,
    };
    assert_eq!(h.alloc(&i, args("call-1q"), t0).granted, 1);
    assert_eq!(
        h.alloc(&i, args("call-1q"), t0 + MS(1500)).granted,
        1,
        "retry: same answer"
    );
    assert_eq!(
        h.alloc(&i, args("call-2q"), t0 + MS(1600)).granted,
        1,
        "the retry used nothing"
    );
    assert_eq!(
        h.alloc(&i, args("call-3q"), t0 + MS(1700)).granted,
        0,
        "limit reached"
    );
    // two periods after the rotation the first answer is forgotten: a real new allocation
    assert_eq!(h.alloc(&i, args("call-1q"), t0 + MS(3600)).granted, 0);
}

#[test]
fn plain_counter_never_expires_and_frees_with_negative_amounts() {
    let t0 = Instant::now();
    let h = handler("quotas: [{name: requestcount, maxAmount: 2}]", t0);
    let i = inst(&[]);
    assert_eq!(ask(&h, &i, 2, false, t0), 2);
    assert_eq!(ask(&h, &i, 1, false, t0 + Duration::from_secs(3600)), 0);
    assert_eq!(ask(&h, &i, -1, false, t0), 1, "freed one");
    assert_eq!(ask(&h, &i, 1, false, t0), 1);
}

#[test]
fn counters_are_per_dimension_values_and_unknown_quotas_get_nothing() {
    let t0 = Instant::now();
    let h = handler(
        "quotas: [{name: requestcount, maxAmount: 1, validDuration: 1s}]",
        t0,
    );
    assert_eq!(ask(&h, &inst(&[("user", "a")]), 1, false, t0), 1);
    assert_eq!(ask(&h, &inst(&[("user", "b")]), 1, false, t0), 1);
    assert_eq!(ask(&h, &inst(&[("user", "a")]), 1, false, t0), 0);
    let other = Instance {
        name: "other.instance.istio-system",
        value: None,
        dimensions: Vec::new(),
        fields: Vec::new(),
    };
    let r = h.alloc(
        &other,
        QuotaArgs {
            dedup_id: "",
            amount: 1,
            best_effort: false,
        },
        t0,
    );
    assert_eq!(
        (r.granted, r.status.code),
        (0, crate::adapters::code::INVALID_ARGUMENT)
    );
}

#[test]
fn every_bad_param_is_named() {
    let p = Params::parse(&yaml(
        "minDeduplicationDuration: 0s\nquotas:\n- {name: '', maxAmount: -1, validDuration: -1s}\n- name: q\n  maxAmount: 1\n  rateLimitAlgorithm: FIXED_WINDOW\n  overrides: [{maxAmount: -2}]\n- {name: q, maxAmount: 1}\n",
    ))
    .expect_err("problems");
    let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "min_deduplication_duration",
            "quotas[0].name",
            "quotas[0].max_amount",
            "quotas[0].valid_duration",
            "quotas[1].valid_duration",
            "quotas[1].overrides[0].dimensions",
            "quotas[1].overrides[0].max_amount",
            "quotas[2].name",
        ],
        "{p:#?}"
    );
    let p = Params::parse(&yaml("quotas: [{name: q, maxAmount: 1, windowSize: 1s}]"))
        .expect_err("unknown");
    assert_eq!(p[0].field, "quotas[0].windowSize");
    let p = Params::parse(&yaml("quotas: [{name: q, maxAmount: many}]")).expect_err("type");
    assert_eq!(p[0].field, "quotas[0].maxAmount");
    let p = Params::parse(&yaml("quotas: [{name: q}]")).expect_err("missing");
    assert_eq!(p[0].field, "quotas[0].max_amount");
    let p = Params::parse(&yaml(
        "quotas: [{name: q, maxAmount: 1, rateLimitAlgorithm: LEAKY}]",
    ))
    .expect_err("enum");
    assert_eq!(p[0].field, "quotas[0].rateLimitAlgorithm");
}

#[test]
fn window_slots_are_100ms() {
    let mut w = Window::new(1, Duration::from_millis(250), Algorithm::Rolling);
    // 250 ms rounds up to a 1 s window (Istio: ceil(valid / 1 s) × 10 slots)
    assert_eq!(w.alloc(1, false, MS(0)), 1);
    assert_eq!(w.alloc(1, false, MS(999)), 0);
    assert_eq!(w.alloc(1, false, MS(1000)), 1);
    assert_eq!(TICK, MS(100));
}
