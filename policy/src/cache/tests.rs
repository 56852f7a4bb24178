//! The decision cache through the service (decode, lookup, engine, store) on a hand-moved
//! clock: hits answer what the engine answered, misses follow the referenced attributes,
//! expiry by use count and by time, reload, quotas, and the REGEX guard.

use super::*;
use crate::adapters::Kind;
use crate::clock::{Clock, ManualClock};
use crate::config_source;
use crate::engine::Engine;
use crate::self_metrics::PolicyMetrics;
use crate::service::{ready_now, PolicyService};
use mixer_attributes::decode::QuotaParams;
use mixer_attributes::encode::encode_check_request;
use mixer_attributes::{OwnedBag, OwnedValue};
use mixer_proto::mixer::referenced_attributes::{AttributeMatch, Condition};
use mixer_proto::mixer::{CheckResponse, ReferencedAttributes};

/// Denies reviews → ratings; allows the rest (Mixer's defaults: 60 s, 10000 uses).
fn deny_ratings(valid: &str, uses: i32) -> String {
    format!(
        r#"
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {{name: denyall, namespace: istio-system}}
spec:
  compiledAdapter: denier
  params: {{status: {{code: 7, message: Not allowed}}, validDuration: {valid}, validUseCount: {uses}}}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {{name: denyrequest, namespace: istio-system}}
spec: {{compiledTemplate: checknothing}}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {{name: denyratings, namespace: istio-system}}
spec:
  match: destination.labels["app"] == "ratings" && source.labels["app"] == "reviews"
  actions: [{{handler: denyall, instances: [denyrequest]}}]
"#
    )
}

const QUOTA: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: quotahandler, namespace: istio-system}
spec:
  compiledAdapter: memquota
  params:
    quotas:
    - {name: requestcount.instance.istio-system, maxAmount: 100, validDuration: 10s}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: requestcount, namespace: istio-system}
spec:
  compiledTemplate: quota
  params:
    dimensions:
      source: source.labels["app"] | "unknown"
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: quota, namespace: istio-system}
spec:
  actions: [{handler: quotahandler, instances: [requestcount]}]
"#;

fn engine(yaml: &str, generation: u64, clock: &ManualClock) -> Engine {
    let config = config_source::validate(&[("test.yaml".into(), yaml.into())])
        .unwrap_or_else(|p| panic!("config: {p}"));
    Engine::new(config, generation, clock.now()).expect("engine builds")
}

fn service(yaml: &str, entries: u64) -> (PolicyService, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new());
    let svc = PolicyService::new(
        engine(yaml, 1, &clock),
        Arc::new(PolicyMetrics::default()),
        clock.clone(),
        8,
        entries,
    );
    (svc, clock)
}

fn labels(app: &str) -> OwnedValue {
    OwnedValue::StringMap([("app".to_owned(), app.to_owned())].into_iter().collect())
}

fn bag(source: &str, destination: &str) -> OwnedBag {
    let mut b = OwnedBag::new();
    b.set(
        "destination.namespace",
        OwnedValue::String("default".into()),
    )
    .set("source.labels", labels(source))
    .set("destination.labels", labels(destination));
    b
}

fn check(svc: &PolicyService, bag: &OwnedBag) -> CheckResponse {
    ready_now(svc.check_bytes(&encode_check_request(bag.iter(), 222, "", &[])))
        .expect("no Redis quota: answered at once")
        .expect("check answers")
        .into_response()
}

fn code(r: &CheckResponse) -> i32 {
    r.precondition
        .as_ref()
        .and_then(|p| p.status.as_ref())
        .map_or(-1, |s| s.code)
}

fn valid_duration(r: &CheckResponse) -> Option<Duration> {
    let d = r.precondition.as_ref()?.valid_duration?;
    std_duration(d)
}

/// (hits, misses, denier calls).
fn counts(svc: &PolicyService) -> (u64, u64, u64) {
    let m = &svc.metrics;
    (
        m.check_cache_hits.get(),
        m.check_cache_misses.get(),
        m.adapter_calls(Kind::Denier),
    )
}

#[test]
fn a_hit_answers_exactly_what_the_engine_answered() {
    let (svc, _) = service(&deny_ratings("30s", 100), 100);
    let denied = bag("reviews", "ratings");
    let first = check(&svc, &denied);
    assert_eq!(code(&first), 7);
    assert_eq!(counts(&svc), (0, 1, 1));
    let second = check(&svc, &denied);
    assert_eq!(
        second, first,
        "status, duration, use count, referenced attributes"
    );
    assert_eq!(counts(&svc), (1, 1, 1), "served without calling the denier");
    assert_eq!(svc.cache.entries(), 1);

    // an allowed answer is cached too, under the same shape's other values
    let allowed = bag("productpage", "ratings");
    let a = check(&svc, &allowed);
    assert_eq!(code(&a), 0);
    assert_eq!(check(&svc, &allowed), a);
    assert_eq!(counts(&svc).0, 2);
}

/// `bytes` with `extra` added inside its `attributes` field (encoded first, under 128 bytes
/// in these tests' requests: one-byte key and length), at its end or its start.
fn with_attribute_bytes(bytes: &[u8], extra: &[u8], at_start: bool) -> Vec<u8> {
    assert_eq!(bytes[0], 0x0a);
    let old = &bytes[2..2 + usize::from(bytes[1])];
    let len = old.len() + extra.len();
    assert!(bytes[1] < 0x80 && len < 0x80, "short attributes");
    let mut out = vec![0x0a, len as u8];
    if at_start {
        out.extend_from_slice(extra);
        out.extend_from_slice(old);
    } else {
        out.extend_from_slice(old);
        out.extend_from_slice(extra);
    }
    out.extend_from_slice(&bytes[2 + old.len()..]);
    out
}

#[test]
fn a_miss_decided_on_the_lazy_view_answers_as_the_full_decode() {
    let (svc, clock) = service(&deny_ratings("30s", 100), 100);
    for (source, destination) in [("reviews", "ratings"), ("productpage", "ratings")] {
        let b = bag(source, destination);
        let bytes = encode_check_request(b.iter(), 222, "", &[]);
        // no cache: the request is decoded in full
        let full = svc
            .engine()
            .check(&bytes, clock.now(), &PolicyMetrics::default())
            .expect("answers")
            .into_answer()
            .into_response();
        // a miss through the cache: decided on the lazily read request
        let misses = counts(&svc).1;
        assert_eq!(check(&svc, &b), full);
        assert_eq!(counts(&svc).1, misses + 1);
    }
}

#[test]
fn a_cached_answer_never_covers_a_request_the_decoder_rejects() {
    let (svc, _) = service(&deny_ratings("30s", 100), 100);
    let denied = bag("reviews", "ratings");
    let bytes = encode_check_request(denied.iter(), 222, "", &[]);
    let first = ready_now(svc.check_bytes(&bytes))
        .expect("ready")
        .expect("answers")
        .into_response();
    assert_eq!(code(&first), 7);
    let rejected = [
        // a second destination.namespace (global word 155, zigzag 310): a duplicate
        with_attribute_bytes(&bytes, &[0x12, 0x05, 0x08, 0xb6, 0x02, 0x10, 0x00], false),
        // an int64 of an index past the global dictionary
        with_attribute_bytes(&bytes, &[0x1a, 0x05, 0x08, 0xbc, 0x03, 0x10, 0x01], false),
        // a word that is not UTF-8, read by nothing, after the maps and before the other words
        with_attribute_bytes(&bytes, &[0x0a, 0x01, 0xff], false),
        with_attribute_bytes(&bytes, &[0x0a, 0x01, 0xff], true),
        // a truncated map entry
        with_attribute_bytes(&bytes, &[0x12, 0x04, 0x08], false),
    ];
    for bad in &rejected {
        let err = ready_now(svc.check_bytes(bad))
            .expect("ready")
            .expect_err("the decoder's error, not the cached answer");
        assert_eq!(err.code(), tonic::Code::InvalidArgument, "{err:?}");
        assert!(
            err.message()
                .starts_with("Request could not be processed due to invalid attributes"),
            "{err:?}"
        );
    }
    assert_eq!(counts(&svc).0, 0, "no hit served");
    // a valid request the lazy reader leaves to the full decoder (an entry with its value
    // before its key) is still answered from the cache
    let reordered = with_attribute_bytes(&bytes, &[0x2a, 0x04, 0x10, 0x01, 0x08, 0x02], false);
    assert_eq!(
        ready_now(svc.check_bytes(&reordered))
            .expect("ready")
            .expect("answers")
            .into_response(),
        first
    );
    assert_eq!(counts(&svc).0, 1);
}

#[test]
fn a_different_value_of_a_referenced_attribute_misses() {
    let (svc, _) = service(&deny_ratings("30s", 100), 100);
    assert_eq!(code(&check(&svc, &bag("reviews", "ratings"))), 7);
    // source.labels[app] was read: another value is another decision
    assert_eq!(code(&check(&svc, &bag("productpage", "ratings"))), 0);
    assert_eq!(counts(&svc), (0, 2, 1));
    // destination.namespace was read too
    let mut other_ns = bag("reviews", "ratings");
    other_ns.set("destination.namespace", OwnedValue::String("prod".into()));
    assert_eq!(code(&check(&svc, &other_ns)), 7);
    assert_eq!(counts(&svc), (0, 3, 2));
}

#[test]
fn attributes_not_referenced_do_not_matter() {
    let (svc, _) = service(&deny_ratings("30s", 100), 100);
    let first = check(&svc, &bag("reviews", "ratings"));
    let mut other = bag("reviews", "ratings");
    other
        .set("request.path", OwnedValue::String("/anything".into()))
        .set("source.labels", {
            let mut m = std::collections::BTreeMap::new();
            m.insert("app".to_owned(), "reviews".to_owned());
            m.insert("version".to_owned(), "v9".to_owned());
            OwnedValue::StringMap(m.into_iter().collect())
        });
    assert_eq!(check(&svc, &other), first);
    assert_eq!(counts(&svc), (1, 1, 1));
}

#[test]
fn a_missing_map_key_is_not_a_missing_map() {
    // reads source.labels["version"]: "" when the key is missing; without the map the match
    // cannot be evaluated and the rule is skipped (as in Mixer)
    let (svc, _) = service(
        &deny_ratings("30s", 100).replace(
            r#"source.labels["app"] == "reviews""#,
            r#"source.labels["version"] == """#,
        ),
        100,
    );
    let no_version = bag("reviews", "ratings");
    assert_eq!(code(&check(&svc, &no_version)), 7);
    let mut no_labels = no_version.clone();
    no_labels.remove("source.labels");
    assert_eq!(code(&check(&svc, &no_labels)), 0, "not the cached denial");
    assert_eq!(svc.metrics.match_errors.get(), 1);
    assert_eq!(counts(&svc), (0, 2, 1));
}

#[test]
fn an_entry_serves_valid_use_count_hits_then_is_recomputed() {
    let (svc, _) = service(&deny_ratings("30s", 2), 100);
    let b = bag("reviews", "ratings");
    let first = check(&svc, &b);
    assert_eq!(
        first.precondition.as_ref().map(|p| p.valid_use_count),
        Some(2)
    );
    assert_eq!(check(&svc, &b), first);
    assert_eq!(check(&svc, &b), first);
    assert_eq!(counts(&svc), (2, 1, 1), "two uses, one denier call");
    assert_eq!(check(&svc, &b), first, "used up: recomputed, same answer");
    assert_eq!(counts(&svc), (2, 2, 2));
    assert_eq!(check(&svc, &b), first);
    assert_eq!(
        counts(&svc),
        (3, 2, 2),
        "and the recomputed answer is stored again"
    );
}

#[test]
fn an_entry_expires_after_valid_duration_and_hits_answer_the_time_left() {
    let (svc, clock) = service(&deny_ratings("10s", 100), 100);
    let b = bag("reviews", "ratings");
    assert_eq!(
        valid_duration(&check(&svc, &b)),
        Some(Duration::from_secs(10))
    );
    clock.advance(Duration::from_millis(4_500));
    let hit = check(&svc, &b);
    assert_eq!(counts(&svc), (1, 1, 1));
    assert_eq!(valid_duration(&hit), Some(Duration::from_millis(5_500)));
    clock.advance(Duration::from_millis(5_500));
    let again = check(&svc, &b);
    assert_eq!(
        counts(&svc),
        (1, 2, 2),
        "expired at exactly 10 s: recomputed"
    );
    assert_eq!(valid_duration(&again), Some(Duration::from_secs(10)));
}

#[test]
fn a_reload_empties_the_cache() {
    let (svc, clock) = service(&deny_ratings("30s", 100), 100);
    let b = bag("reviews", "ratings");
    assert_eq!(code(&check(&svc, &b)), 7);
    assert_eq!(code(&check(&svc, &b)), 7);
    assert_eq!(counts(&svc).0, 1);
    let epoch = svc.cache.epoch();

    svc.swap(engine(config_source::DEFAULT_CONFIG, 2, &clock));
    assert_ne!(svc.cache.epoch(), epoch);
    assert_eq!(svc.cache.entries(), 0);
    assert_eq!(code(&check(&svc, &b)), 0, "the new config answers");
    assert_eq!(counts(&svc).0, 1, "not a hit");
    // an answer the old config stores while the swap happens is never served
    assert!(svc.cache.lookup(epoch, 222, &b, clock.now()).is_none());
}

#[test]
fn checks_asking_for_quotas_bypass_the_cache() {
    let (svc, _) = service(QUOTA, 100);
    let b = bag("reviews", "ratings");
    let q = [QuotaParams {
        name: "requestcount",
        amount: 1,
        best_effort: false,
    }];
    for _ in 0..3 {
        let req = encode_check_request(b.iter(), 222, "", &q);
        let r = ready_now(svc.check_bytes(&req))
            .expect("memquota: answered at once")
            .expect("check answers")
            .into_response();
        assert_eq!(r.quotas["requestcount"].granted_amount, 1);
    }
    let m = &svc.metrics;
    assert_eq!(
        (m.check_cache_hits.get(), m.check_cache_misses.get()),
        (0, 0)
    );
    assert_eq!(m.adapter_calls(Kind::MemQuota), 3, "every quota allocated");
    assert_eq!(svc.cache.entries(), 0);
}

#[test]
fn zero_entries_turns_the_cache_off() {
    let (svc, _) = service(&deny_ratings("30s", 100), 0);
    let b = bag("reviews", "ratings");
    let first = check(&svc, &b);
    assert_eq!(check(&svc, &b), first);
    assert_eq!(counts(&svc), (0, 0, 2));
}

fn precondition(refs: ReferencedAttributes, uses: i32, secs: i64) -> PreconditionResult {
    PreconditionResult {
        status: Some(crate::adapters::status(0, "")),
        valid_duration: Some(prost_types::Duration {
            seconds: secs,
            nanos: 0,
        }),
        valid_use_count: uses,
        referenced_attributes: Some(refs),
        route_directive: None,
    }
}

fn one_match(condition: Condition) -> ReferencedAttributes {
    let vocab = Vocabulary::builtin();
    let name = vocab
        .id("destination.namespace")
        .and_then(mixer_attributes::AttrId::global_index)
        .expect("a global word");
    ReferencedAttributes {
        words: vec![],
        attribute_matches: vec![AttributeMatch {
            name,
            condition: condition as i32,
            regex: if condition == Condition::Regex {
                "def.*".into()
            } else {
                String::new()
            },
            map_key: 0,
        }],
    }
}

#[test]
fn answers_that_cannot_be_cached_are_not_stored() {
    let vocab = Vocabulary::builtin();
    let cache = DecisionCache::new(10);
    let epoch = cache.reset();
    let b = bag("reviews", "ratings");
    let now = Instant::now();
    let cases = [
        ("regex", precondition(one_match(Condition::Regex), 5, 5)),
        ("no uses", precondition(one_match(Condition::Exact), 0, 5)),
        (
            "zero duration",
            precondition(one_match(Condition::Exact), 5, 0),
        ),
        // the bag has destination.namespace: an ABSENCE answer does not fit it
        (
            "does not fit",
            precondition(one_match(Condition::Absence), 5, 5),
        ),
    ];
    for (what, p) in &cases {
        cache.store((epoch, 222), vocab, &b, p, now);
        assert!(cache.lookup(epoch, 222, &b, now).is_none(), "{what}");
    }
    let good = precondition(one_match(Condition::Exact), 5, 5);
    cache.store((epoch, 222), vocab, &b, &good, now);
    assert!(
        cache.lookup(epoch, 100, &b, now).is_none(),
        "encoded for 222 global words, not for a client knowing 100"
    );
    assert!(
        cache.lookup(epoch, 222, &b, now).is_some(),
        "the control case is stored"
    );
}

#[test]
fn a_huge_valid_duration_never_expires_and_does_not_panic() {
    let vocab = Vocabulary::builtin();
    let cache = DecisionCache::new(10);
    let epoch = cache.reset();
    let b = bag("reviews", "ratings");
    let now = Instant::now();
    cache.store(
        (epoch, 222),
        vocab,
        &b,
        &precondition(one_match(Condition::Exact), 5, i64::MAX),
        now,
    );
    let hit = cache.lookup(epoch, 222, &b, now).expect("stored");
    assert_eq!(
        hit.to_precondition().valid_duration.map(|d| d.seconds),
        Some(i64::MAX),
        "answered as stored: no end to count down to"
    );
}
