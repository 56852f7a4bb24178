//! The check cache against spec §8.3 with a hand-held clock (every `now` is an argument), and
//! the checker's fail-open / fail-closed, retries and caching with a scripted transport.

use super::*;
use cache::code;
use mixer_attributes::dictionary::GLOBAL_WORDS;
use mixer_attributes::referenced::ShapeError;
use mixer_attributes::{OwnedBag, OwnedValue};
use mixer_proto::google::rpc::Status;
use mixer_proto::mixer::check_response::PreconditionResult;
use mixer_proto::mixer::referenced_attributes::{AttributeMatch, Condition};
use mixer_proto::mixer::{CheckResponse, ReferencedAttributes};
use std::sync::Mutex;
use std::time::Duration;

fn s(v: &str) -> OwnedValue {
    OwnedValue::String(v.to_owned())
}

/// An inbound request's bag: path, source workload and labels. The source's attributes are
/// a shared layer, as the sidecar's own side is (here the peer's, for the cache's sake).
fn bag(path: &str, workload: &str, version: &str) -> LayeredBag {
    let source: OwnedBag = [
        ("source.workload.name", s(workload)),
        (
            "source.labels",
            OwnedValue::StringMap(vec![("version".into(), version.into())]),
        ),
    ]
    .into_iter()
    .collect();
    let own: OwnedBag = [("request.path", s(path))].into_iter().collect();
    LayeredBag::new(Arc::new(source), own)
}

/// Referenced attributes as the policy service sends them: `(name, map_key, condition)` with
/// names as global words, or as message words when not global.
fn refs(matches: &[(&str, Option<&str>, Condition)]) -> ReferencedAttributes {
    let mut words: Vec<String> = Vec::new();
    let mut index = |w: &str| -> i32 {
        if let Some(i) = GLOBAL_WORDS.iter().position(|g| *g == w) {
            return i as i32;
        }
        let slot = match words.iter().position(|x| x == w) {
            Some(p) => p,
            None => {
                words.push(w.to_owned());
                words.len() - 1
            }
        };
        -(slot as i32) - 1
    };
    let attribute_matches = matches
        .iter()
        .map(|(name, key, condition)| AttributeMatch {
            name: index(name),
            condition: *condition as i32,
            regex: String::new(),
            map_key: key.map_or(0, &mut index),
        })
        .collect();
    ReferencedAttributes {
        words,
        attribute_matches,
    }
}

fn precondition(
    code: i32,
    refs: ReferencedAttributes,
    valid: Option<Duration>,
    uses: i32,
) -> PreconditionResult {
    PreconditionResult {
        status: Some(Status {
            code,
            message: if code == 0 { "" } else { "h.handler.ns:no" }.into(),
            details: vec![],
        }),
        valid_duration: valid.map(|d| prost_types::Duration {
            seconds: d.as_secs() as i64,
            nanos: d.subsec_nanos() as i32,
        }),
        valid_use_count: uses,
        referenced_attributes: Some(refs),
        route_directive: None,
    }
}

fn decision(p: &PreconditionResult) -> Arc<Decision> {
    Arc::new(Decision::from_response(
        &CheckResponse {
            precondition: Some(p.clone()),
            quotas: Default::default(),
        },
        true,
    ))
}

fn path_and_version() -> ReferencedAttributes {
    refs(&[
        ("request.path", None, Condition::Exact),
        ("source.labels", Some("version"), Condition::Exact),
        ("source.principal", None, Condition::Absence),
    ])
}

const LONG: Option<Duration> = Some(Duration::from_secs(60));

#[test]
fn an_answer_is_reused_for_requests_agreeing_on_its_exact_keys() {
    let cache = CheckCache::new(100);
    let t0 = Instant::now();
    let p = precondition(7, path_and_version(), LONG, 100);
    let first = bag("/a", "productpage-v1", "v1");
    assert_eq!(cache.lookup(&first, t0), None, "empty cache");
    cache.insert(&first, &p, decision(&p), t0).expect("cached");
    assert_eq!((cache.len(), cache.shape_count()), (1, 1));

    // Another workload: not referenced, so the same answer.
    let same = bag("/a", "reviews-v2", "v1");
    let hit = cache.lookup(&same, t0).expect("hit");
    assert_eq!(
        (hit.code, hit.status_text().as_str()),
        (7, "PERMISSION_DENIED:h.handler.ns:no")
    );
    // A referenced attribute or map key differs: a miss.
    assert_eq!(cache.lookup(&bag("/b", "productpage-v1", "v1"), t0), None);
    assert_eq!(cache.lookup(&bag("/a", "productpage-v1", "v2"), t0), None);
    // The absence key is present: the request does not fit the shape.
    let mut with_principal = bag("/a", "productpage-v1", "v1");
    with_principal.set("source.principal", s("cluster.local/ns/default/sa/x"));
    assert_eq!(cache.lookup(&with_principal, t0), None);
    // An exact map key absent from the request: does not fit either.
    let mut no_version = bag("/a", "productpage-v1", "v1");
    no_version.set("source.labels", OwnedValue::StringMap(vec![]));
    assert_eq!(cache.lookup(&no_version, t0), None);
}

#[test]
fn absent_map_keys_and_message_words_are_part_of_the_shape() {
    let cache = CheckCache::new(100);
    let t0 = Instant::now();
    // `x-user` is not a global word: it travels in the message's words.
    let wire = refs(&[
        ("request.headers", Some("x-user"), Condition::Absence),
        ("request.path", None, Condition::Exact),
    ]);
    assert!(wire.words.contains(&"x-user".to_owned()));
    let p = precondition(0, wire, LONG, 10);
    let mut req = bag("/a", "w", "v1");
    req.set(
        "request.headers",
        OwnedValue::StringMap(vec![("accept".into(), "*/*".into())]),
    );
    cache.insert(&req, &p, decision(&p), t0).expect("cached");
    assert!(cache.lookup(&req, t0).expect("hit").is_ok());
    let mut with_user = req.clone();
    with_user.set(
        "request.headers",
        OwnedValue::StringMap(vec![("x-user".into(), "alice".into())]),
    );
    assert_eq!(
        cache.lookup(&with_user, t0),
        None,
        "the absent key is present"
    );
}

#[test]
fn entries_expire_by_valid_duration() {
    let cache = CheckCache::new(100);
    let t0 = Instant::now();
    let p = precondition(
        0,
        path_and_version(),
        Some(Duration::from_millis(1500)),
        1000,
    );
    let req = bag("/a", "w", "v1");
    cache.insert(&req, &p, decision(&p), t0).expect("cached");
    assert!(cache
        .lookup(&req, t0 + Duration::from_millis(1500))
        .is_some());
    assert_eq!(cache.lookup(&req, t0 + Duration::from_millis(1501)), None);
    assert_eq!(cache.len(), 0, "an expired entry is removed");
}

#[test]
fn no_valid_duration_never_expires() {
    let cache = CheckCache::new(100);
    let t0 = Instant::now();
    let p = precondition(0, path_and_version(), None, -1);
    let req = bag("/a", "w", "v1");
    cache.insert(&req, &p, decision(&p), t0).expect("cached");
    let much_later = t0 + Duration::from_secs(365 * 24 * 3600);
    for _ in 0..3 {
        assert!(
            cache.lookup(&req, much_later).is_some(),
            "negative use count: unlimited"
        );
    }
}

#[test]
fn entries_expire_by_use_count() {
    let cache = CheckCache::new(100);
    let t0 = Instant::now();
    let p = precondition(0, path_and_version(), LONG, 2);
    let req = bag("/a", "w", "v1");
    cache.insert(&req, &p, decision(&p), t0).expect("cached");
    assert!(cache.lookup(&req, t0).is_some());
    assert!(cache.lookup(&req, t0).is_some());
    assert_eq!(cache.lookup(&req, t0), None, "two uses, then gone");
    assert_eq!(cache.len(), 0);

    // 0 uses: stored, but never usable.
    let p0 = precondition(0, path_and_version(), LONG, 0);
    cache.insert(&req, &p0, decision(&p0), t0).expect("cached");
    assert_eq!(cache.lookup(&req, t0), None);
}

/// Whether each of `n` lookups at `now` hit and asked for a refresh: `(hit, refresh)`.
fn finds(cache: &CheckCache, req: &LayeredBag, now: Instant, n: usize) -> Vec<(bool, bool)> {
    (0..n)
        .map(|_| match cache.find(req, now) {
            Some(hit) => (true, hit.refresh),
            None => (false, false),
        })
        .collect()
}

#[test]
fn an_answer_asks_once_for_a_refresh_when_a_tenth_of_its_uses_is_left() {
    let cache = CheckCache::new(100);
    let t0 = Instant::now();
    let p = precondition(0, path_and_version(), LONG, 20);
    let req = bag("/a", "w", "v1");
    cache.insert(&req, &p, decision(&p), t0).expect("cached");
    let seen = finds(&cache, &req, t0, 21);
    // uses left after each hit: 19, 18, …; the hit leaving 2 (= 20 / 10) asks, once
    let refreshes: Vec<usize> = (0..21).filter(|&i| seen[i].1).collect();
    assert_eq!(refreshes, vec![17], "{seen:?}");
    assert!(seen[..20].iter().all(|(hit, _)| *hit), "{seen:?}");
    assert!(
        !seen[20].0,
        "20 uses, then gone: a refresh never extends an answer"
    );

    // the refreshed answer starts afresh
    cache.insert(&req, &p, decision(&p), t0).expect("cached");
    let again = finds(&cache, &req, t0, 18);
    assert_eq!(again.iter().filter(|(_, r)| *r).count(), 1, "{again:?}");
    assert!(again[17].1);

    // fewer than 10 uses: no refresh by count (a tenth of them is no use at all)
    let few = precondition(0, path_and_version(), LONG, 9);
    cache
        .insert(&req, &few, decision(&few), t0)
        .expect("cached");
    assert!(finds(&cache, &req, t0, 9).iter().all(|&(hit, r)| hit && !r));
}

#[test]
fn an_answer_asks_once_for_a_refresh_when_a_tenth_of_its_time_is_left() {
    let cache = CheckCache::new(100);
    let t0 = Instant::now();
    let p = precondition(0, path_and_version(), Some(Duration::from_secs(10)), -1);
    let req = bag("/a", "w", "v1");
    cache.insert(&req, &p, decision(&p), t0).expect("cached");
    let at = |ms: u64| t0 + Duration::from_millis(ms);
    assert_eq!(finds(&cache, &req, at(8_999), 2), vec![(true, false); 2]);
    assert_eq!(
        finds(&cache, &req, at(9_000), 2),
        vec![(true, true), (true, false)]
    );
    assert_eq!(finds(&cache, &req, at(10_000), 1), vec![(true, false)]);
    assert_eq!(finds(&cache, &req, at(10_001), 1), vec![(false, false)]);

    // no duration and unlimited uses: never refreshed
    let forever = precondition(0, path_and_version(), None, -1);
    cache
        .insert(&req, &forever, decision(&forever), t0)
        .expect("cached");
    let later = t0 + Duration::from_secs(3600);
    assert!(finds(&cache, &req, later, 3)
        .iter()
        .all(|&(hit, r)| hit && !r));
}

#[test]
fn uncachable_answers_are_refused() {
    let cache = CheckCache::new(100);
    let t0 = Instant::now();
    let req = bag("/a", "w", "v1");
    let mut regex = refs(&[("request.headers", None, Condition::Regex)]);
    regex.attribute_matches[0].regex = "x-.*".into();
    let bad_index = ReferencedAttributes {
        words: vec![],
        attribute_matches: vec![AttributeMatch {
            name: -3,
            condition: Condition::Exact as i32,
            regex: String::new(),
            map_key: 0,
        }],
    };
    let not_fitting = refs(&[("request.path", None, Condition::Absence)]);
    for (wire, why) in [
        (
            regex,
            NotCached::Shape(ShapeError::Regex("request.headers".into())),
        ),
        (bad_index, NotCached::Shape(ShapeError::BadIndex(-3))),
        (not_fitting, NotCached::Shape(ShapeError::DoesNotFit)),
    ] {
        let p = precondition(0, wire, LONG, 10);
        assert_eq!(cache.insert(&req, &p, decision(&p), t0), Err(why));
    }
    assert_eq!((cache.len(), cache.shape_count()), (0, 0));
    let off = CheckCache::new(0);
    let p = precondition(0, path_and_version(), LONG, 10);
    assert_eq!(
        off.insert(&req, &p, decision(&p), t0),
        Err(NotCached::Disabled)
    );
    assert_eq!(off.lookup(&req, t0), None);
}

#[test]
fn the_cache_is_bounded_least_recently_used_first() {
    let cache = CheckCache::new(2);
    let t0 = Instant::now();
    let p = precondition(0, path_and_version(), LONG, 100);
    for path in ["/1", "/2", "/3"] {
        let req = bag(path, "w", "v1");
        cache.insert(&req, &p, decision(&p), t0).expect("cached");
    }
    assert_eq!((cache.len(), cache.shape_count()), (2, 1));
    assert_eq!(cache.lookup(&bag("/1", "w", "v1"), t0), None, "evicted");
    assert!(cache.lookup(&bag("/3", "w", "v1"), t0).is_some());
}

#[test]
fn shapes_are_bounded() {
    let cache = CheckCache::new(10_000);
    let t0 = Instant::now();
    let names: Vec<String> = (0..=cache::MAX_SHAPES)
        .map(|i| format!("x.attr{i}"))
        .collect();
    let mut refused = 0;
    for name in &names {
        let mut req = bag("/a", "w", "v1");
        req.set(name.clone(), s("v"));
        let p = precondition(0, refs(&[(name, None, Condition::Exact)]), LONG, 10);
        if cache.insert(&req, &p, decision(&p), t0) == Err(NotCached::TooManyShapes) {
            refused += 1;
        }
    }
    assert_eq!((cache.shape_count(), refused), (cache::MAX_SHAPES, 1));
}

#[test]
fn internal_is_ok_when_failing_open_and_a_missing_precondition_is_invalid() {
    let p = precondition(code::INTERNAL, path_and_version(), LONG, 1);
    let response = CheckResponse {
        precondition: Some(p),
        quotas: Default::default(),
    };
    assert!(Decision::from_response(&response, true).is_ok());
    assert_eq!(
        Decision::from_response(&response, false).code,
        code::INTERNAL
    );
    let none = Decision::from_response(&CheckResponse::default(), true);
    assert_eq!(
        none.status_text(),
        "INVALID_ARGUMENT:CheckResponse doesn't have PreconditionResult"
    );
    assert_eq!(Decision::denied(7, "").status_text(), "PERMISSION_DENIED");
}

/// A transport that answers from a script and counts calls and dedup ids.
struct Scripted {
    answers: Mutex<Vec<Result<CheckResponse, CallError>>>,
    seen: Mutex<Vec<String>>,
    /// Per call, the quotas asked for: name, amount, best effort.
    quotas: Mutex<Vec<Vec<(String, i64, bool)>>>,
}

fn scripted(answers: Vec<Result<CheckResponse, CallError>>) -> (CheckFn, Arc<Scripted>) {
    let script = Arc::new(Scripted {
        answers: Mutex::new(answers.into_iter().rev().collect()),
        seen: Mutex::new(Vec::new()),
        quotas: Mutex::new(Vec::new()),
    });
    let s2 = script.clone();
    let call: CheckFn = Arc::new(move |bytes: Bytes| {
        let view = mixer_attributes::decode::CheckRequestView::parse(
            &bytes,
            mixer_attributes::Vocabulary::builtin(),
        );
        let (dedup, quotas) = view
            .map(|v| {
                let q = v.quotas().iter();
                let q = q.map(|q| (q.name.to_owned(), q.amount, q.best_effort));
                (v.deduplication_id().to_owned(), q.collect())
            })
            .unwrap_or_default();
        s2.seen.lock().expect("lock").push(dedup);
        s2.quotas.lock().expect("lock").push(quotas);
        let next = s2
            .answers
            .lock()
            .expect("lock")
            .pop()
            .unwrap_or_else(|| Err(CallError::send_error()));
        Box::pin(async move { next })
    });
    (call, script)
}

fn checker(opts: CheckOptions, call: CheckFn) -> (Checker, Arc<ProxyMetrics>) {
    let metrics = Arc::new(ProxyMetrics::default());
    (Checker::new(opts, call, metrics.clone()), metrics)
}

fn allow(uses: i32) -> CheckResponse {
    CheckResponse {
        precondition: Some(precondition(0, path_and_version(), LONG, uses)),
        quotas: Default::default(),
    }
}

#[tokio::test]
async fn a_miss_calls_then_the_cache_answers() {
    let (call, script) = scripted(vec![Ok(allow(10))]);
    let (c, m) = checker(CheckOptions::default(), call);
    let req = bag("/a", "w", "v1");
    let first = c.check(&req).await;
    let second = c.check(&req).await;
    assert!(first.decision.is_ok() && !first.cache_hit);
    assert!(second.decision.is_ok() && second.cache_hit);
    let seen = script.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1, "one call reached the service");
    assert!(
        seen[0].ends_with('0') && seen[0].len() == 37,
        "uuid + counter: {seen:?}"
    );
    assert_eq!(
        (m.check_cache_hits.get(), m.check_cache_misses.get()),
        (1, 1)
    );
    assert_eq!(m.checks(CheckResult::Ok), 2);
}

/// Checks `req` once (a miss answered with 10 uses), then 9 times from the cache: the ninth
/// hit leaves 1 use (a tenth) and starts the refresh, whose call this waits for (up to 0.5 s).
async fn miss_then_use_until_refresh(c: &Checker, req: &LayeredBag, script: &Scripted) {
    assert!(!c.check(req).await.cache_hit);
    for _ in 0..9 {
        assert!(c.check(req).await.cache_hit);
    }
    for _ in 0..100 {
        if script.seen.lock().expect("lock").len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_running_out_answer_is_refreshed_in_the_background() {
    let (call, script) = scripted(vec![Ok(allow(10)), Ok(allow(10))]);
    let (c, m) = checker(CheckOptions::default(), call);
    let req = bag("/a", "w", "v1");
    miss_then_use_until_refresh(&c, &req, &script).await;
    assert_eq!(
        script.seen.lock().expect("lock").len(),
        2,
        "one refresh call"
    );
    // the refreshed answer has 10 fresh uses: no request misses (8 of them: the ninth
    // would start the next refresh)
    for _ in 0..8 {
        assert!(c.check(&req).await.cache_hit);
    }
    assert_eq!(
        (
            m.check_cache_hits.get(),
            m.check_cache_misses.get(),
            m.check_refreshes.get()
        ),
        (17, 1, 1)
    );
    assert_eq!(
        m.checks(CheckResult::Ok),
        18,
        "a refresh is not a request's check"
    );
}

#[tokio::test]
async fn a_failed_refresh_leaves_the_answer_to_run_out() {
    let (call, script) = scripted(vec![Ok(allow(10))]);
    let (c, m) = checker(CheckOptions::default(), call);
    let req = bag("/a", "w", "v1");
    miss_then_use_until_refresh(&c, &req, &script).await;
    tokio::task::yield_now().await;
    assert!(c.check(&req).await.cache_hit, "the last use");
    let v = c.check(&req).await;
    assert!(!v.cache_hit && v.decision.is_ok(), "ran out; failed open");
    assert_eq!(m.check_refreshes.get(), 1);
    assert_eq!(m.checks(CheckResult::FailedOpen), 1);
}

#[tokio::test]
async fn unreachable_policy_fails_open_by_default_and_closed_when_asked() {
    let (call, _) = scripted(vec![]);
    let (open, m) = checker(CheckOptions::default(), call);
    let v = open.check(&bag("/a", "w", "v1")).await;
    assert!(v.decision.is_ok());
    assert_eq!(m.checks(CheckResult::FailedOpen), 1);

    let (call, _) = scripted(vec![]);
    let opts = CheckOptions {
        fail_closed: true,
        ..CheckOptions::default()
    };
    let (closed, m) = checker(opts, call);
    let v = closed.check(&bag("/a", "w", "v1")).await;
    assert_eq!(
        v.decision.status_text(),
        "UNAVAILABLE:upstream connect error or disconnect/reset before headers"
    );
    assert_eq!(m.checks(CheckResult::Error), 1);
    assert_eq!(closed.cache().len(), 0, "failures are not cached");
}

#[tokio::test]
async fn transport_errors_are_retried_with_the_same_dedup_id() {
    let (call, script) = scripted(vec![
        Err(CallError::send_error()),
        Err(CallError::send_error()),
        Ok(allow(10)),
    ]);
    let opts = CheckOptions {
        retries: 2,
        fail_closed: true,
        retry_base: Duration::from_millis(1),
        retry_max: Duration::from_millis(2),
        ..CheckOptions::default()
    };
    let (c, m) = checker(opts, call);
    assert!(c.check(&bag("/a", "w", "v1")).await.decision.is_ok());
    let seen = script.seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 3);
    assert!(seen.iter().all(|d| *d == seen[0]), "{seen:?}");
    assert_eq!(m.check_retries.get(), 2);

    // A timeout is not retried: the deadline was spent already.
    let (call, script) = scripted(vec![Err(CallError::timeout()), Ok(allow(1))]);
    let opts = CheckOptions {
        retries: 2,
        fail_closed: true,
        retry_base: Duration::from_millis(1),
        retry_max: Duration::from_millis(2),
        ..CheckOptions::default()
    };
    let (c, _) = checker(opts, call);
    let v = c.check(&bag("/a", "w", "v1")).await;
    assert_eq!(
        v.decision.status_text(),
        "UNAVAILABLE:upstream request timeout"
    );
    assert_eq!(script.seen.lock().expect("lock").len(), 1);
}

#[test]
fn outbound_and_skipped_paths_are_not_checked_by_default() {
    let (call, _) = scripted(vec![]);
    let opts = CheckOptions {
        skip_paths: vec!["/healthz".into()],
        ..CheckOptions::default()
    };
    let (c, _) = checker(opts, call);
    assert!(c.applies(Direction::Inbound, "/api"));
    assert!(!c.applies(Direction::Inbound, "/healthz/live"));
    assert!(!c.applies(Direction::Outbound, "/api"));
}

/// An answer allowing (cacheable, 10 uses) with `granted` of quota `requestcount`, or a
/// quota result of `status` when given.
fn allow_with_quota(granted: i64, status: Option<i32>) -> CheckResponse {
    let mut answer = allow(10);
    answer.quotas.insert(
        "requestcount".into(),
        mixer_proto::mixer::check_response::QuotaResult {
            valid_duration: None,
            granted_amount: granted,
            referenced_attributes: None,
            status: status.map(|code| Status {
                code,
                message: String::new(),
                details: vec![],
            }),
        },
    );
    answer
}

/// Quota `requestcount` charged 2, with the quota cache off: every request asks.
fn with_quota() -> CheckOptions {
    CheckOptions {
        quotas: vec![("requestcount".into(), 2)],
        quota_cache_entries: 0,
        ..CheckOptions::default()
    }
}

#[tokio::test]
async fn quotas_are_asked_on_every_request_and_exhausted_ones_deny_with_429() {
    let (call, script) = scripted(vec![
        Ok(allow_with_quota(2, Some(0))),
        Ok(allow_with_quota(1, Some(0))),
        Ok(allow_with_quota(0, Some(0))),
        Ok(allow_with_quota(0, Some(code::UNAVAILABLE))),
        Err(CallError::send_error()),
    ]);
    let (c, m) = checker(with_quota(), call);
    let req = bag("/a", "w", "v1");
    let mut verdicts = Vec::new();
    for _ in 0..5 {
        verdicts.push(c.check(&req).await);
    }
    let seen: Vec<(i32, bool, bool)> = verdicts
        .iter()
        .map(|v| (v.decision.code, v.cache_hit, v.quotas))
        .collect();
    assert_eq!(
        seen,
        [
            (code::OK, false, true),
            // the precondition is cached, the quota still asked for: a part granted passes
            (code::OK, true, true),
            (code::RESOURCE_EXHAUSTED, true, true),
            // an unavailable quota backend, or no answer at all, lets the request through
            (code::OK, true, true),
            (code::OK, true, true),
        ]
    );
    assert_eq!(
        verdicts[2].decision.message,
        "Quota is exhausted for: requestcount"
    );
    let asked = script.quotas.lock().expect("lock").clone();
    assert_eq!(asked.len(), 5, "one call per request");
    assert!(asked
        .iter()
        .all(|q| q == &[("requestcount".to_owned(), 2, false)]));
    assert_eq!(m.checks(CheckResult::Denied), 1);
    assert_eq!(m.checks(CheckResult::Ok), 4);
    assert!(verdicts.iter().all(|v| !v.quota_cache_hit));
    assert_eq!(
        (
            m.quota_cache_hits.get(),
            m.quota_cache_misses.get(),
            m.quota_prefetches.get()
        ),
        (0, 0, 0),
        "the quota cache is off"
    );
}

#[tokio::test]
async fn a_cached_denial_answers_without_asking_for_quota() {
    let denied = CheckResponse {
        precondition: Some(precondition(7, path_and_version(), LONG, 10)),
        quotas: Default::default(),
    };
    let (call, script) = scripted(vec![Ok(denied)]);
    let (c, _) = checker(with_quota(), call);
    let req = bag("/a", "w", "v1");
    let first = c.check(&req).await;
    let second = c.check(&req).await;
    assert_eq!((first.decision.code, first.cache_hit), (7, false));
    assert_eq!((second.decision.code, second.cache_hit), (7, true));
    assert_eq!(
        script.quotas.lock().expect("lock").len(),
        1,
        "no second call"
    );
}

#[tokio::test]
async fn without_quotas_none_are_asked_for() {
    let (call, script) = scripted(vec![Ok(allow(10))]);
    let (c, _) = checker(CheckOptions::default(), call);
    let v = c.check(&bag("/a", "w", "v1")).await;
    assert!(!v.quotas);
    assert_eq!(*script.quotas.lock().expect("lock"), [Vec::new()]);
}

/// A transport whose calls wait for `gate` to let them through, then allow; counts its calls.
fn gated(gate: Arc<tokio::sync::Semaphore>) -> (CheckFn, Arc<AtomicU64>) {
    let calls = Arc::new(AtomicU64::new(0));
    let counted = calls.clone();
    let call: CheckFn = Arc::new(move |_bytes: Bytes| {
        counted.fetch_add(1, Relaxed);
        let gate = gate.clone();
        Box::pin(async move {
            gate.acquire().await.expect("gate open").forget();
            Ok(allow(100))
        })
    });
    (call, calls)
}

#[tokio::test]
async fn concurrent_misses_beyond_the_slots_wait_and_are_answered_from_the_cache() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (call, calls) = gated(gate.clone());
    let opts = CheckOptions {
        max_requests: 2,
        ..CheckOptions::default()
    };
    let (c, m) = checker(opts, call);
    let c = Arc::new(c);
    let req = bag("/a", "w", "v1");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (c, req) = (c.clone(), req.clone());
            tokio::spawn(async move { c.check(&req).await })
        })
        .collect();
    // every task has run up to its call or its wait for a slot
    while calls.load(Relaxed) < 2 {
        tokio::task::yield_now().await;
    }
    for _ in 0..100 {
        tokio::task::yield_now().await;
    }
    assert_eq!(calls.load(Relaxed), 2, "two slots, two calls");
    gate.add_permits(100);
    let mut hits = 0;
    for t in tasks {
        let v = t.await.expect("check");
        assert!(v.decision.is_ok());
        hits += usize::from(v.cache_hit);
    }
    assert_eq!(
        calls.load(Relaxed),
        2,
        "the waiting six were answered by the cache"
    );
    assert_eq!(hits, 6);
    assert_eq!(
        (m.check_cache_hits.get(), m.check_cache_misses.get()),
        (6, 2)
    );
}

#[tokio::test]
async fn no_free_slot_within_the_deadline_is_a_failed_call() {
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let (call, calls) = gated(gate.clone());
    let opts = CheckOptions {
        max_requests: 1,
        timeout: Duration::from_millis(20),
        fail_closed: true,
        ..CheckOptions::default()
    };
    let (c, m) = checker(opts, call);
    let c = Arc::new(c);
    let (c1, first_req) = (c.clone(), bag("/a", "w", "v1"));
    let first = tokio::spawn(async move { c1.check(&first_req).await });
    while calls.load(Relaxed) < 1 {
        tokio::task::yield_now().await;
    }
    // the one slot is held by a call that has not answered
    let v = c.check(&bag("/b", "w", "v1")).await;
    assert_eq!(
        v.decision.status_text(),
        "UNAVAILABLE:no Check call slot free within 20ms (--policy-max-requests 1)"
    );
    assert_eq!(m.check_slot_timeouts.get(), 1);
    assert_eq!(m.checks(CheckResult::Error), 1);
    gate.add_permits(1);
    assert!(first.await.expect("check").decision.is_ok());
    assert_eq!(calls.load(Relaxed), 1, "the refused request made no call");
}

/// Quota `requestcount` charged 1, with the quota cache on (the default).
fn with_quota_cache() -> CheckOptions {
    CheckOptions {
        quotas: vec![("requestcount".into(), 1)],
        ..CheckOptions::default()
    }
}

/// Yields until the scripted transport has seen `n` calls (a spawned prefetch runs to its
/// end, answer included, in the poll that makes its call: the runtime has one thread).
async fn until_calls(script: &Scripted, n: usize) {
    for _ in 0..10_000 {
        if script.seen.lock().expect("lock").len() >= n {
            return;
        }
        tokio::task::yield_now().await;
    }
    panic!("{n} calls never came");
}

#[tokio::test]
async fn with_the_quota_cache_a_cached_check_takes_quota_without_a_call_while_tokens_last() {
    let (call, script) = scripted(vec![
        Ok(allow_with_quota(1, Some(0))),
        Ok(allow_with_quota(10, Some(0))),
    ]);
    let (c, m) = checker(with_quota_cache(), call);
    let req = bag("/a", "w", "v1");
    let miss = c.check(&req).await;
    assert!(miss.decision.is_ok() && !miss.cache_hit && !miss.quota_cache_hit);
    // the first hit: nothing granted ahead yet, so the advance of 10 lets it through and
    // the ask goes out in the background
    let hit = c.check(&req).await;
    assert!(hit.decision.is_ok() && hit.cache_hit && hit.quota_cache_hit);
    until_calls(&script, 2).await;
    assert_eq!(c.quota_cache().map(|q| q.len()), Some(1), "stored");
    // 9 tokens left: 5 requests take from them without a call (the ask comes below 5)
    for _ in 0..5 {
        let v = c.check(&req).await;
        assert!(v.decision.is_ok() && v.quota_cache_hit);
    }
    tokio::task::yield_now().await;
    assert_eq!(script.seen.lock().expect("lock").len(), 2, "no call");
    let asked = script.quotas.lock().expect("lock").clone();
    assert_eq!(
        asked,
        [
            vec![("requestcount".to_owned(), 1, false)],
            vec![("requestcount".to_owned(), 10, true)],
        ],
        "the miss asks with its Check; the prefetch asks best effort, for the minimum"
    );
    assert_eq!(
        (
            m.quota_cache_hits.get(),
            m.quota_cache_misses.get(),
            m.quota_prefetches.get()
        ),
        (6, 1, 1)
    );
}

#[tokio::test]
async fn with_the_quota_cache_a_refused_prefetch_denies_with_429_without_asking_again() {
    let (call, script) = scripted(vec![
        Ok(allow_with_quota(1, Some(0))),
        Ok(allow_with_quota(0, Some(0))),
    ]);
    let (c, m) = checker(with_quota_cache(), call);
    let req = bag("/a", "w", "v1");
    assert!(c.check(&req).await.decision.is_ok());
    assert!(c.check(&req).await.decision.is_ok(), "the advance");
    until_calls(&script, 2).await;
    // nothing granted: the advance is taken back and the entry waits 500 ms to ask again
    for _ in 0..3 {
        let v = c.check(&req).await;
        assert_eq!(
            (v.decision.status_text().as_str(), v.quota_cache_hit),
            (
                "RESOURCE_EXHAUSTED:Quota is exhausted for: requestcount",
                true
            )
        );
        assert_eq!(crate::check::status::http_status(v.decision.code), 429);
    }
    tokio::task::yield_now().await;
    assert_eq!(
        script.seen.lock().expect("lock").len(),
        2,
        "no ask in close-wait"
    );
    assert_eq!(m.checks(CheckResult::Denied), 3);
    assert_eq!(m.quota_prefetches.get(), 1);
}

#[tokio::test]
async fn a_prefetch_holds_a_call_slot_and_no_request_waits_for_it() {
    let gate = Arc::new(tokio::sync::Semaphore::new(1));
    let (call, calls) = gated(gate.clone());
    let opts = CheckOptions {
        max_requests: 1,
        timeout: Duration::from_millis(20),
        fail_closed: true,
        ..with_quota_cache()
    };
    let (c, m) = checker(opts, call);
    let req = bag("/a", "w", "v1");
    // the miss passes the gate; its answer carries no quota result, which passes
    assert!(c.check(&req).await.decision.is_ok());
    // the hit is answered at once while its prefetch waits at the gate, holding the slot
    assert!(c.check(&req).await.decision.is_ok());
    while calls.load(Relaxed) < 2 {
        tokio::task::yield_now().await;
    }
    let other = c.check(&bag("/b", "w", "v1")).await;
    assert_eq!(
        other.decision.status_text(),
        "UNAVAILABLE:no Check call slot free within 20ms (--policy-max-requests 1)",
        "the prefetch holds the one slot"
    );
    // while it is out: the advance's 9 tokens, then a second advance, whose prefetch waits
    // for the slot the first holds (and, not getting it in time, counts as granted)
    let mut allowed = 0;
    for _ in 0..12 {
        allowed += usize::from(c.check(&req).await.decision.is_ok());
    }
    assert_eq!(allowed, 12, "open: no request waits or is refused");
    assert_eq!(
        calls.load(Relaxed),
        2,
        "the second prefetch never got the slot"
    );
    // the answer names no quota: counted as granted in full (fail open)
    gate.add_permits(1);
    for _ in 0..10_000 {
        if c.check(&req).await.decision.is_ok() {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(c.check(&req).await.decision.is_ok(), "tokens again");
    assert!(m.quota_prefetches.get() >= 1);
    gate.add_permits(100);
}
