//! The engine on whole configs and encoded requests: combining, defaults, scoping, quotas,
//! errors, and the referenced attributes of each answer.

use super::*;
use crate::config_source::{self, DEFAULT_CONFIG};
use mixer_attributes::decode::QuotaParams;
use mixer_attributes::dictionary::GLOBAL_WORDS;
use mixer_attributes::encode::encode_check_request;
use mixer_attributes::{OwnedBag, OwnedValue};
use mixer_proto::mixer::referenced_attributes::Condition;
use mixer_proto::mixer::ReferencedAttributes;

const GWC: usize = 222;

fn engine(yaml: &str) -> Engine {
    let config = config_source::validate(&[("test.yaml".into(), yaml.into())])
        .unwrap_or_else(|p| panic!("config: {p}"));
    Engine::new(config, 1, Instant::now()).expect("engine builds")
}

fn labels(pairs: &[(&str, &str)]) -> OwnedValue {
    OwnedValue::StringMap(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn request(bag: &OwnedBag, gwc: usize, dedup: &str, quotas: &[QuotaParams<'_>]) -> Vec<u8> {
    encode_check_request(bag.iter(), gwc, dedup, quotas)
}

fn check(e: &Engine, req: &[u8]) -> CheckResponse {
    let c = e
        .check(req, Instant::now(), &PolicyMetrics::default())
        .expect("check answers");
    assert!(c.is_complete(), "in-process adapters leave nothing pending");
    c.into_answer().into_response()
}

/// `name[key] CONDITION`, sorted, resolving indices as a proxy does (§8.3).
pub(crate) fn refs(r: &ReferencedAttributes) -> Vec<String> {
    let word = |i: i32| -> String {
        if i >= 0 {
            GLOBAL_WORDS[i as usize].to_owned()
        } else {
            r.words[(-i - 1) as usize].clone()
        }
    };
    let mut out: Vec<String> = r
        .attribute_matches
        .iter()
        .map(|m| {
            let key = if m.map_key == 0 {
                String::new()
            } else {
                format!("[{}]", word(m.map_key))
            };
            let cond = match Condition::try_from(m.condition) {
                Ok(Condition::Absence) => "ABSENCE",
                Ok(Condition::Exact) => "EXACT",
                _ => "OTHER",
            };
            format!("{}{key} {cond}", word(m.name))
        })
        .collect();
    out.sort();
    out
}

fn precondition(r: &CheckResponse) -> (i32, String, Duration, i32, Vec<String>) {
    let p = r
        .precondition
        .as_ref()
        .expect("precondition always present");
    let s = p.status.as_ref().expect("status");
    let d = p.valid_duration.expect("valid_duration always present");
    (
        s.code,
        s.message.clone(),
        Duration::new(d.seconds as u64, d.nanos as u32),
        p.valid_use_count,
        refs(
            p.referenced_attributes
                .as_ref()
                .expect("referenced attributes"),
        ),
    )
}

const DENY_RATINGS: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: denyall, namespace: istio-system}
spec:
  compiledAdapter: denier
  params: {status: {code: 7, message: Not allowed}, validDuration: 10s, validUseCount: 50}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: denyrequest, namespace: istio-system}
spec: {compiledTemplate: checknothing}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: denyratings, namespace: istio-system}
spec:
  match: destination.labels["app"] == "ratings"
  actions: [{handler: denyall, instances: [denyrequest]}]
"#;

#[test]
fn default_config_allows_with_mixer_defaults() {
    let e = engine(DEFAULT_CONFIG);
    let mut bag = OwnedBag::new();
    bag.set(
        "destination.namespace",
        OwnedValue::String("default".into()),
    );
    let q = [QuotaParams {
        name: "requestcount",
        amount: 5,
        best_effort: false,
    }];
    let r = check(&e, &request(&bag, GWC, "id-1", &q));
    assert_eq!(
        precondition(&r),
        (
            0,
            String::new(),
            Duration::from_secs(60),
            10000,
            vec![
                "context.reporter.kind ABSENCE".to_owned(),
                "destination.namespace EXACT".to_owned()
            ]
        )
    );
    let qr = &r.quotas["requestcount"];
    assert_eq!(qr.granted_amount, 5, "no quota rule: granted in full");
    assert_eq!(qr.valid_duration.map(|d| d.seconds), Some(60));
    assert_eq!(qr.status.as_ref().map(|s| s.code), Some(0));
}

#[test]
fn denial_by_destination_label_and_its_referenced_attributes() {
    let e = engine(DENY_RATINGS);
    let mut bag = OwnedBag::new();
    bag.set(
        "destination.labels",
        labels(&[("app", "ratings"), ("version", "v1")]),
    );
    let q = [QuotaParams {
        name: "requestcount",
        amount: 1,
        best_effort: false,
    }];
    let r = check(&e, &request(&bag, GWC, "id", &q));
    let (code, msg, d, n, refs) = precondition(&r);
    assert_eq!(
        (code, msg.as_str()),
        (7, "denyall.handler.istio-system:Not allowed")
    );
    assert_eq!((d, n), (Duration::from_secs(10), 50));
    assert_eq!(
        refs,
        [
            "context.reporter.kind ABSENCE",
            "destination.labels[app] EXACT",
            "destination.namespace ABSENCE"
        ]
    );
    assert!(
        r.quotas.is_empty(),
        "no quota is allocated for a denied request"
    );

    // another app: the rule does not match; the decision still depends on the label
    bag.set("destination.labels", labels(&[("app", "reviews")]));
    let (code, _, d, n, refs) = precondition(&check(&e, &request(&bag, GWC, "", &[])));
    assert_eq!((code, d, n), (0, Duration::from_secs(60), 10000));
    assert!(
        refs.contains(&"destination.labels[app] EXACT".to_owned()),
        "{refs:?}"
    );

    // a map without the key: ABSENCE of that key
    bag.set("destination.labels", labels(&[("version", "v1")]));
    let (code, _, _, _, refs) = precondition(&check(&e, &request(&bag, GWC, "", &[])));
    assert_eq!(code, 0);
    assert!(
        refs.contains(&"destination.labels[app] ABSENCE".to_owned()),
        "{refs:?}"
    );
}

#[test]
fn several_adapters_combine_first_denial_and_minimums() {
    let cfg = format!(
        "{DENY_RATINGS}\n---\n{}",
        r#"
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: versions, namespace: istio-system}
spec:
  compiledAdapter: listchecker
  params: {overrides: [v1, v2], cachingInterval: 3s, cachingUseCount: 500}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: sourceversion, namespace: istio-system}
spec:
  compiledTemplate: listentry
  params: {value: 'source.labels["version"] | "none"'}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: checkversion, namespace: istio-system}
spec:
  actions: [{handler: versions, instances: [sourceversion]}]
"#
    );
    let e = engine(&cfg);
    let mut bag = OwnedBag::new();
    bag.set("destination.labels", labels(&[("app", "ratings")]));
    bag.set("source.labels", labels(&[("version", "v3")]));
    let (code, msg, d, n, _) = precondition(&check(&e, &request(&bag, GWC, "", &[])));
    assert_eq!(code, 7);
    assert_eq!(
        msg,
        "denyall.handler.istio-system:Not allowed, versions.handler.istio-system:v3 is not whitelisted"
    );
    assert_eq!((d, n), (Duration::from_secs(3), 50));

    bag.set("destination.labels", labels(&[("app", "details")]));
    bag.set("source.labels", labels(&[("version", "v2")]));
    let (code, msg, d, n, refs) = precondition(&check(&e, &request(&bag, GWC, "", &[])));
    assert_eq!(
        (code, msg.as_str(), d, n),
        (0, "", Duration::from_secs(3), 500)
    );
    assert!(
        refs.contains(&"source.labels[version] EXACT".to_owned()),
        "{refs:?}"
    );
}

#[test]
fn namespace_rules_apply_only_to_their_namespace() {
    let cfg = DENY_RATINGS.replace(
        "namespace: istio-system}\nspec:\n  match",
        "namespace: bookinfo}\nspec:\n  match",
    );
    let cfg = cfg
        .replace("handler: denyall,", "handler: denyall.istio-system,")
        .replace(
            "instances: [denyrequest]",
            "instances: [denyrequest.istio-system]",
        );
    let e = engine(&cfg);
    let mut bag = OwnedBag::new();
    bag.set("destination.labels", labels(&[("app", "ratings")]));
    bag.set("destination.namespace", OwnedValue::String("other".into()));
    assert_eq!(precondition(&check(&e, &request(&bag, GWC, "", &[]))).0, 0);
    bag.set(
        "destination.namespace",
        OwnedValue::String("bookinfo".into()),
    );
    assert_eq!(precondition(&check(&e, &request(&bag, GWC, "", &[]))).0, 7);
    // an outbound reporter picks the source's namespace
    bag.set(
        "context.reporter.kind",
        OwnedValue::String("outbound".into()),
    );
    let (code, _, _, _, refs) = precondition(&check(&e, &request(&bag, GWC, "", &[])));
    assert_eq!(code, 0);
    assert!(
        refs.contains(&"source.namespace ABSENCE".to_owned()),
        "{refs:?}"
    );
    assert!(
        refs.contains(&"context.reporter.kind EXACT".to_owned()),
        "{refs:?}"
    );
}

#[test]
fn words_beyond_the_callers_dictionary_go_in_the_message() {
    let e = engine(DENY_RATINGS);
    let mut bag = OwnedBag::new();
    bag.set("destination.labels", labels(&[("app", "ratings")]));
    let r = check(&e, &request(&bag, 0, "", &[]));
    let p = r.precondition.expect("precondition");
    let ra = p.referenced_attributes.expect("refs");
    assert!(
        ra.attribute_matches.iter().all(|m| m.name < 0),
        "gwc 0: no global index"
    );
    assert!(ra.words.contains(&"destination.labels".to_owned()));
    assert_eq!(refs(&ra).len(), 3);
}

#[test]
fn errors_are_rpc_failures_with_mixers_codes() {
    let e = engine(DEFAULT_CONFIG);
    let m = PolicyMetrics::default();
    let err = e
        .check(&[0xff, 0xff], Instant::now(), &m)
        .expect_err("malformed");
    assert_eq!(err.grpc_code(), 3);
    assert!(err
        .status_message()
        .starts_with("Request could not be processed due to invalid"));
    let mut big = Vec::new();
    big.extend_from_slice(&[0x10, 0xe8, 0x07]); // global_word_count = 1000
    let err = e.check(&big, Instant::now(), &m).expect_err("dictionary");
    assert_eq!(err.grpc_code(), 13);

    // an instance field that cannot be evaluated: INTERNAL
    let cfg = r#"
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: versions, namespace: istio-system}
spec: {compiledAdapter: listchecker, params: {overrides: [v1]}}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: sourceversion, namespace: istio-system}
spec: {compiledTemplate: listentry, params: {value: 'source.labels["version"]'}}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: checkversion, namespace: istio-system}
spec: {actions: [{handler: versions, instances: [sourceversion]}]}
"#;
    let e = engine(cfg);
    let err = e
        .check(&request(&OwnedBag::new(), GWC, "", &[]), Instant::now(), &m)
        .expect_err("missing attribute");
    assert_eq!(err.grpc_code(), 13);
    assert!(
        err.status_message().starts_with("performing check operation failed: instance sourceversion.instance.istio-system: value:"),
        "{}",
        err.status_message()
    );
}
