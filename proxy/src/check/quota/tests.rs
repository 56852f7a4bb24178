//! The quota cache with a hand-held clock: keys, pending entries, denials, idle expiry and
//! how grants are read. The prefetch algorithm itself is tested in `prefetch`.

use super::*;
use mixer_attributes::dictionary::GLOBAL_WORDS;
use mixer_attributes::{OwnedBag, OwnedValue};
use mixer_proto::google::rpc::Status;
use mixer_proto::mixer::referenced_attributes::{AttributeMatch, Condition};
use mixer_proto::mixer::ReferencedAttributes;

fn bag(path: &str) -> OwnedBag {
    [
        ("request.path", OwnedValue::String(path.to_owned())),
        ("source.workload.name", OwnedValue::String("w".to_owned())),
    ]
    .into_iter()
    .collect()
}

fn word(name: &str) -> i32 {
    GLOBAL_WORDS
        .iter()
        .position(|w| *w == name)
        .expect("global word") as i32
}

/// A quota result granting `granted` for a minute, read from `request.path` exactly.
fn result(granted: i64, condition: Condition) -> QuotaResult {
    QuotaResult {
        valid_duration: Some(prost_types::Duration {
            seconds: 60,
            nanos: 0,
        }),
        granted_amount: granted,
        status: Some(Status::default()),
        referenced_attributes: Some(ReferencedAttributes {
            words: vec![],
            attribute_matches: vec![AttributeMatch {
                name: word("request.path"),
                condition: condition as i32,
                regex: if condition == Condition::Regex {
                    "/.*".into()
                } else {
                    String::new()
                },
                map_key: 0,
            }],
        }),
    }
}

fn response(results: &[(&str, QuotaResult)]) -> CheckResponse {
    CheckResponse {
        precondition: None,
        quotas: results
            .iter()
            .map(|(n, r)| (n.to_string(), r.clone()))
            .collect(),
    }
}

fn ok() -> Arc<Decision> {
    Arc::new(Decision::ok())
}

fn one(name: &str) -> Vec<(String, i64)> {
    vec![(name.to_owned(), 1)]
}

#[test]
fn the_pending_entry_answers_until_its_first_answer_stores_it_by_the_quota_shape() {
    let t0 = Instant::now();
    let cache = QuotaCache::new(&one("rq"), 100);
    let first = cache.check(&bag("/a"), ok(), t0);
    assert!(first.decision.is_ok(), "the advance lets the first through");
    assert_eq!(first.tickets.len(), 1);
    assert!(first.tickets[0].pending);
    let asked = cache.asked(&first.tickets);
    assert_eq!(
        (asked[0].name, asked[0].amount, asked[0].best_effort),
        ("rq", 10, true)
    );
    let meanwhile = cache.check(&bag("/b"), ok(), t0);
    assert!(meanwhile.decision.is_ok() && meanwhile.tickets.is_empty());
    assert!(cache.is_empty());

    cache.answered(
        first.tickets,
        &bag("/a"),
        Some(&response(&[("rq", result(10, Condition::Exact))])),
        t0,
    );
    assert_eq!(cache.len(), 1, "stored under /a's signature");
    // /a finds its entry (8 tokens left: no ask); /b is unknown: a new pending entry asks
    let a = cache.check(&bag("/a"), ok(), t0);
    assert!(a.decision.is_ok() && a.tickets.is_empty());
    let b = cache.check(&bag("/b"), ok(), t0);
    assert!(b.decision.is_ok());
    assert_eq!(b.tickets.len(), 1, "a fresh pending entry");
    assert!(b.tickets[0].pending);
}

#[test]
fn signatures_end_with_the_quota_name() {
    let t0 = Instant::now();
    let quotas = vec![("q1".to_owned(), 1), ("q2".to_owned(), 1)];
    let cache = QuotaCache::new(&quotas, 100);
    let first = cache.check(&bag("/a"), ok(), t0);
    assert_eq!(first.tickets.len(), 2, "one call asks for both");
    cache.answered(
        first.tickets,
        &bag("/a"),
        Some(&response(&[
            ("q1", result(10, Condition::Exact)),
            ("q2", result(10, Condition::Exact)),
        ])),
        t0,
    );
    assert_eq!(
        cache.len(),
        2,
        "same shape and attributes, two quotas: two entries"
    );
}

#[test]
fn an_exhausted_quota_denies_with_istios_message() {
    let t0 = Instant::now();
    let quotas = vec![("q1".to_owned(), 1), ("q2".to_owned(), 1)];
    let cache = QuotaCache::new(&quotas, 100);
    let first = cache.check(&bag("/a"), ok(), t0);
    cache.answered(
        first.tickets,
        &bag("/a"),
        Some(&response(&[
            ("q1", result(0, Condition::Exact)),
            ("q2", result(0, Condition::Exact)),
        ])),
        t0,
    );
    let denied = cache.check(&bag("/a"), ok(), t0 + Duration::from_millis(1));
    assert_eq!(
        denied.decision.status_text(),
        "RESOURCE_EXHAUSTED:Quota is exhausted for: q1,q2"
    );
    assert!(denied.tickets.is_empty(), "closed: no ask within 500 ms");
}

#[test]
fn entries_idle_for_ten_minutes_are_dropped() {
    let t0 = Instant::now();
    let cache = QuotaCache::new(&one("rq"), 100);
    let first = cache.check(&bag("/a"), ok(), t0);
    cache.answered(
        first.tickets,
        &bag("/a"),
        Some(&response(&[("rq", result(1000, Condition::Exact))])),
        t0,
    );
    let used = t0 + IDLE_EXPIRY;
    let again = cache.check(&bag("/a"), ok(), used);
    assert!(again.tickets.iter().all(|t| !t.pending), "still stored");
    assert_eq!(cache.len(), 1);
    let idle = used + IDLE_EXPIRY + Duration::from_millis(1);
    let later = cache.check(&bag("/a"), ok(), idle);
    assert_eq!(cache.len(), 0, "dropped when next found");
    assert!(
        later.tickets.iter().all(|t| t.pending),
        "a pending entry asks"
    );
}

#[test]
fn an_answer_of_an_uncachable_shape_keeps_the_pending_entry_in_use() {
    let t0 = Instant::now();
    let cache = QuotaCache::new(&one("rq"), 100);
    let first = cache.check(&bag("/a"), ok(), t0);
    cache.answered(
        first.tickets,
        &bag("/a"),
        Some(&response(&[("rq", result(10, Condition::Regex))])),
        t0,
    );
    assert!(cache.is_empty());
    // the pending entry holds the 9 tokens left, for any request
    let other = cache.check(&bag("/other"), ok(), t0);
    assert!(other.decision.is_ok() && other.tickets.is_empty());
}

#[test]
fn grants_are_read_with_istios_defaults() {
    let mut r = result(5, Condition::Exact);
    assert_eq!(
        grant(Some(&r)),
        Some(Grant {
            amount: 5,
            valid: Duration::from_secs(60)
        })
    );
    r.valid_duration = Some(prost_types::Duration {
        seconds: 1,
        nanos: 500_000_000,
    });
    assert_eq!(
        grant(Some(&r)).map(|g| g.valid),
        Some(Duration::from_millis(1500))
    );
    r.valid_duration = None;
    assert_eq!(
        grant(Some(&r)).map(|g| g.valid),
        Some(DEFAULT_VALID),
        "none: a minute"
    );
    r.valid_duration = Some(prost_types::Duration::default());
    assert_eq!(
        grant(Some(&r)).map(|g| g.valid),
        Some(DEFAULT_VALID),
        "zero too"
    );
    r.status = Some(Status {
        code: code::UNAVAILABLE,
        message: "redis down".into(),
        details: vec![],
    });
    assert_eq!(grant(Some(&r)), None, "unavailable: fail open");
    assert_eq!(grant(None), None, "no result: fail open");
}

#[test]
fn a_failed_prefetch_call_grants_in_full() {
    let t0 = Instant::now();
    let cache = QuotaCache::new(&one("rq"), 100);
    let first = cache.check(&bag("/a"), ok(), t0);
    let prefetch = first.tickets[0].prefetch.clone();
    cache.answered(first.tickets, &bag("/a"), None, t0);
    assert_eq!(lock(&prefetch).available(t0), 9);
    assert!(!lock(&prefetch).is_closed());
    assert!(cache.is_empty(), "no answer, no shape: still pending");
}
