use super::*;
use crate::access::AttrRef;
use crate::value::{OwnedValue, Value};
use crate::vocabulary::Vocabulary;
use crate::OwnedBag;
use mixer_proto::mixer::referenced_attributes::{AttributeMatch, Condition as WireCondition};
use mixer_proto::mixer::ReferencedAttributes;

fn attr(name: &'static str) -> AttrRef<'static> {
    let id = Vocabulary::builtin().id(name).expect("known name");
    AttrRef { id, name }
}

fn s(v: &str) -> OwnedValue {
    OwnedValue::String(v.to_owned())
}

fn headers(pairs: &[(&str, &str)]) -> OwnedValue {
    OwnedValue::StringMap(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
    )
}

fn request() -> OwnedBag {
    [
        (
            "destination.service.host",
            s("ratings.default.svc.cluster.local"),
        ),
        ("source.namespace", s("default")),
        (
            "request.headers",
            headers(&[(":authority", "ratings"), ("user-agent", "curl/8")]),
        ),
        ("request.size", OwnedValue::Int64(12)),
    ]
    .into_iter()
    .collect()
}

/// Records what an evaluation of these reads would: the host, a missing principal, the
/// `:authority` header, a missing `x-user` header.
fn record(bag: &OwnedBag) -> Referenced {
    let mut r = Referenced::new();
    for name in [
        "destination.service.host",
        "source.principal",
        "request.headers",
    ] {
        let a = attr(name);
        let v = crate::Attributes::get(bag, a);
        r.attribute(a, v.as_ref());
        if let Some(Value::StringMap(m)) = v {
            for key in [":authority", "x-user"] {
                r.map_key(a, key, m.get(key).is_some());
            }
        }
    }
    // the same read twice is kept once
    let a = attr("destination.service.host");
    r.attribute(a, crate::Attributes::get(bag, a).as_ref());
    r
}

#[test]
fn recorder_keeps_exact_absence_and_map_keys_but_not_whole_maps() {
    let r = record(&request());
    let seen: Vec<(&str, Option<&str>, Condition)> = r
        .references()
        .iter()
        .map(|x| {
            (
                Vocabulary::builtin().name(x.name),
                x.map_key.as_deref(),
                x.condition,
            )
        })
        .collect();
    assert_eq!(seen.len(), 4, "{seen:?}");
    assert!(seen.contains(&("destination.service.host", None, Condition::Exact)));
    assert!(seen.contains(&("source.principal", None, Condition::Absence)));
    assert!(seen.contains(&("request.headers", Some(":authority"), Condition::Exact)));
    assert!(seen.contains(&("request.headers", Some("x-user"), Condition::Absence)));
    assert!(!seen.contains(&("request.headers", None, Condition::Exact)));
}

#[test]
fn encoding_uses_global_words_only_below_the_callers_count() {
    let r = record(&request());
    let vocab = Vocabulary::builtin();
    let full = r.encode(vocab, 222);
    let host = vocab.id("destination.service.host").unwrap().0 as i32;
    assert!(full.attribute_matches.iter().any(|m| m.name == host));
    // "x-user" is no dictionary word
    assert_eq!(full.words, vec!["x-user".to_owned()]);

    // A caller that knows only the 111-word base gets everything past it as words.
    let base = r.encode(vocab, 111);
    assert!(base.attribute_matches.iter().all(|m| m.name < 111));
    assert!(base.words.contains(&"destination.service.host".to_owned()));
    assert!(base.words.contains(&"source.principal".to_owned()));
}

#[test]
fn a_map_key_that_is_global_word_zero_is_sent_as_a_word() {
    let mut r = Referenced::new();
    r.map_key(attr("request.headers"), "source.ip", true);
    let wire = r.encode(Vocabulary::builtin(), 222);
    assert_eq!(wire.attribute_matches[0].map_key, -1);
    assert_eq!(wire.words, vec!["source.ip".to_owned()]);
}

#[test]
fn decoding_an_answer_gives_the_recorded_shape() {
    let bag = request();
    let vocab = Vocabulary::builtin();
    let r = record(&bag);
    for gwc in [222, 111, 0] {
        let decoded = Shape::from_response(&r.encode(vocab, gwc), vocab, &bag).unwrap();
        assert_eq!(decoded, Shape::from_referenced(&r, vocab), "gwc {gwc}");
    }
}

#[test]
fn signature_depends_only_on_exact_reads() {
    let vocab = Vocabulary::builtin();
    let a = request();
    let shape = Shape::from_referenced(&record(&a), vocab);

    let mut b = a.clone();
    b.set("request.size", OwnedValue::Int64(99)); // not referenced
    b.set(
        "request.headers",
        headers(&[(":authority", "ratings"), ("accept", "*/*")]),
    );
    assert_eq!(shape.signature(&a, ""), shape.signature(&b, ""));
    assert!(shape.signature(&a, "").is_some());
    // the extra key separates a check from a quota
    assert_ne!(shape.signature(&a, ""), shape.signature(&a, "requestcount"));

    let mut c = a.clone();
    c.set(
        "destination.service.host",
        s("reviews.default.svc.cluster.local"),
    );
    assert_ne!(shape.signature(&a, ""), shape.signature(&c, ""));

    // an absence key that is now present: the bag does not fit
    let mut d = a.clone();
    d.set(
        "source.principal",
        s("spiffe://cluster.local/ns/default/sa/x"),
    );
    assert_eq!(shape.signature(&d, ""), None);
    let mut e = a.clone();
    e.set(
        "request.headers",
        headers(&[(":authority", "ratings"), ("x-user", "u")]),
    );
    assert_eq!(shape.signature(&e, ""), None);
    // an exact map key that is now absent
    let mut f = a;
    f.set("request.headers", headers(&[("user-agent", "curl/8")]));
    assert!(!shape.fits(&f));
}

#[test]
fn key_bytes_fit_and_separate_as_the_signature_does() {
    let vocab = Vocabulary::builtin();
    let a = request();
    let shape = Shape::from_referenced(&record(&a), vocab);
    let key = |bag: &OwnedBag| {
        let mut out = Vec::new();
        shape.key_bytes(bag, &mut out).then_some(out)
    };
    let mut b = a.clone();
    b.set("request.size", OwnedValue::Int64(99));
    let mut c = a.clone();
    c.set(
        "destination.service.host",
        s("reviews.default.svc.cluster.local"),
    );
    let mut d = a.clone();
    d.set(
        "source.principal",
        s("spiffe://cluster.local/ns/default/sa/x"),
    );
    let mut e = a.clone();
    e.set(
        "request.headers",
        headers(&[(":authority", "ratings"), ("x-user", "u")]),
    );
    let mut f = a.clone();
    f.set("request.headers", headers(&[("user-agent", "curl/8")]));
    let mut g = a.clone();
    g.remove("request.headers");
    let bags = [&a, &b, &c, &d, &e, &f, &g];
    for x in bags {
        assert_eq!(key(x).is_some(), shape.signature(x, "").is_some());
        assert_eq!(key(x).is_some(), shape.fits(x));
        for y in bags {
            if key(x).is_some() && key(y).is_some() {
                assert_eq!(
                    key(x) == key(y),
                    shape.signature(x, "") == shape.signature(y, "")
                );
            }
        }
    }
    assert!(key(&a).is_some());
    assert_eq!(key(&a), key(&b));
}

fn one_match(name: i32, condition: WireCondition, map_key: i32) -> ReferencedAttributes {
    ReferencedAttributes {
        words: vec!["w0".into()],
        attribute_matches: vec![AttributeMatch {
            name,
            condition: condition as i32,
            regex: String::new(),
            map_key,
        }],
    }
}

#[test]
fn answers_that_cannot_be_cached() {
    let vocab = Vocabulary::builtin();
    let bag = request();
    let host = vocab.id("destination.service.host").unwrap().0 as i32;
    let err = |wire| Shape::from_response(&wire, vocab, &bag).unwrap_err();
    assert_eq!(
        err(one_match(host, WireCondition::Regex, 0)),
        ShapeError::Regex("destination.service.host".into())
    );
    assert_eq!(
        err(one_match(222, WireCondition::Exact, 0)),
        ShapeError::BadIndex(222)
    );
    assert_eq!(
        err(one_match(-2, WireCondition::Exact, 0)),
        ShapeError::BadIndex(-2)
    );
    // "source.namespace" is present, so ABSENCE does not fit this request
    let ns = vocab.id("source.namespace").unwrap().0 as i32;
    assert_eq!(
        err(one_match(ns, WireCondition::Absence, 0)),
        ShapeError::DoesNotFit
    );
    assert!(err(one_match(ns, WireCondition::Unspecified, 0))
        .to_string()
        .contains("unspecified"));
}

#[test]
fn map_key_is_ignored_for_attributes_that_are_not_present_maps() {
    let vocab = Vocabulary::builtin();
    let bag = request();
    let ns = vocab.id("source.namespace").unwrap().0 as i32;
    // a bogus map_key on a string attribute is ignored, as the proxy does
    let shape =
        Shape::from_response(&one_match(ns, WireCondition::Exact, -1), vocab, &bag).unwrap();
    assert_eq!(shape.exact_keys()[0].map_key, None);
    // a message word naming an attribute resolves like its global index
    let wire = ReferencedAttributes {
        words: vec!["source.namespace".into()],
        ..one_match(-1, WireCondition::Exact, 0)
    };
    assert_eq!(Shape::from_response(&wire, vocab, &bag).unwrap(), shape);
}
