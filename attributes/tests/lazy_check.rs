//! [`LazyCheck`] against the full [`CheckRequestView`] decode: whatever the lazy reader
//! accepts, the full decoder accepts too, with the same attributes, the same lookups and the
//! same decision-cache signature; and it reads every request an encoder writes without quotas.

use mixer_attributes::decode::{CheckRequestView, LazyCheck};
use mixer_attributes::encode::encode_check_request;
use mixer_attributes::referenced::Shape;
use mixer_attributes::{
    AttrId, AttrRef, Attributes, Bag, Duration, OwnedBag, OwnedValue, Timestamp, Vocabulary,
};
use mixer_proto::mixer::referenced_attributes::{AttributeMatch, Condition};
use mixer_proto::mixer::ReferencedAttributes;
use proptest::prelude::*;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "source.ip",
            "request.path",
            "request.headers",
            "source.labels",
            "destination.labels",
            "response.code",
            "request.time",
            "response.duration",
            "'200'",
            "origin.ip",
            "destination.service.host",
            "connection.mtls",
        ])
        .prop_map(String::from),
        "[a-z][a-z._]{0,10}",
    ]
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec!["'200'", "GET", "inbound", "", "source.ip", "app"])
            .prop_map(String::from),
        "\\PC{0,8}",
    ]
}

fn value() -> impl Strategy<Value = OwnedValue> {
    prop_oneof![
        word().prop_map(OwnedValue::String),
        any::<i64>().prop_map(OwnedValue::Int64),
        any::<f64>().prop_map(OwnedValue::Double),
        any::<bool>().prop_map(OwnedValue::Bool),
        (any::<i64>(), any::<i32>())
            .prop_map(|(seconds, nanos)| OwnedValue::Timestamp(Timestamp { seconds, nanos })),
        (any::<i64>(), any::<i32>())
            .prop_map(|(seconds, nanos)| OwnedValue::Duration(Duration { seconds, nanos })),
        prop::collection::vec(any::<u8>(), 0..6).prop_map(OwnedValue::Bytes),
        prop::collection::vec((word(), word()), 0..5).prop_map(OwnedValue::StringMap),
    ]
}

fn bag() -> impl Strategy<Value = OwnedBag> {
    prop::collection::vec((name(), value()), 0..16).prop_map(|v| v.into_iter().collect())
}

fn request() -> impl Strategy<Value = Vec<u8>> {
    (bag(), prop::sample::select(vec![111usize, 222]), word())
        .prop_map(|(b, gwc, dedup)| encode_check_request(b.iter(), gwc, &dedup, &[]))
}

/// Attributes in order, values as text (so a NaN equals itself).
fn listed<'x>(it: impl Iterator<Item = (&'x str, mixer_attributes::Value<'x>)>) -> Vec<String> {
    it.map(|(n, v)| format!("{n}={v:?}")).collect()
}

/// A shape reading every attribute of `bag` exactly (a map at its first key) and the absence
/// of one more name, as a Check answer would carry it.
fn shape_of(bag: &Bag<'_>, vocab: &Vocabulary) -> Option<Shape> {
    let mut wire = ReferencedAttributes::default();
    let mut word = |w: &str| {
        wire.words.push(w.to_owned());
        -(wire.words.len() as i32)
    };
    let mut matches = Vec::new();
    for (name, value) in bag.iter() {
        let map_key = match value {
            mixer_attributes::Value::StringMap(m) => match m.iter().next() {
                Some((k, _)) => word(k),
                None => continue,
            },
            _ => 0,
        };
        matches.push(AttributeMatch {
            name: word(name),
            condition: Condition::Exact as i32,
            map_key,
            ..AttributeMatch::default()
        });
    }
    matches.push(AttributeMatch {
        name: word("not.in.any.request"),
        condition: Condition::Absence as i32,
        ..AttributeMatch::default()
    });
    wire.attribute_matches = matches;
    Shape::from_response(&wire, vocab, bag).ok()
}

/// The property: lazy accepted ⇒ full accepted, same attributes, lookups and signature.
fn agrees(bytes: &[u8]) -> Result<bool, TestCaseError> {
    let vocab = Vocabulary::builtin();
    let Some(lazy) = LazyCheck::scan(bytes, vocab) else {
        return Ok(false);
    };
    let full = match CheckRequestView::parse(bytes, vocab) {
        Ok(v) => v,
        Err(e) => return Err(TestCaseError::fail(format!("lazy accepted, full said {e}"))),
    };
    prop_assert!(full.quotas().is_empty());
    prop_assert_eq!(lazy.global_word_count(), full.global_word_count());
    let bag = full.attributes();
    prop_assert_eq!(listed(lazy.iter()), listed(bag.iter()));
    for (name, _) in bag.iter() {
        let attr = AttrRef {
            id: vocab.id(name).unwrap_or(AttrId(u32::MAX)),
            name,
        };
        prop_assert_eq!(
            format!("{:?}", lazy.get(attr)),
            format!("{:?}", bag.get(attr))
        );
    }
    if let Some(shape) = shape_of(bag, vocab) {
        prop_assert_eq!(shape.signature(&lazy, ""), shape.signature(bag, ""));
        prop_assert!(shape.signature(&lazy, "").is_some());
    }
    Ok(true)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1000, ..ProptestConfig::default() })]

    #[test]
    fn encoded_requests_are_read_lazily_alike(bytes in request()) {
        prop_assert!(agrees(&bytes)?, "an encoder's request without quotas is read lazily");
    }

    #[test]
    fn damaged_requests_are_never_accepted_alone(
        bytes in request(),
        at in any::<prop::sample::Index>(),
        byte in any::<u8>(),
        how in 0u8..3,
    ) {
        let mut bytes = bytes;
        if !bytes.is_empty() {
            let i = at.index(bytes.len());
            match how {
                0 => bytes[i] = byte,
                1 => bytes.truncate(i),
                _ => bytes.insert(i, byte),
            }
        }
        agrees(&bytes)?;
    }

    #[test]
    fn arbitrary_bytes_are_never_accepted_alone(bytes in prop::collection::vec(any::<u8>(), 0..64)) {
        agrees(&bytes)?;
    }
}

#[test]
fn a_duplicate_through_a_message_word_is_left_to_the_full_decoder() {
    // words ["request.path"]; strings { -1 → 0, 17 → 0 }: one attribute under two indices
    let bytes = [
        0x0a, 0x1a, 0x0a, 0x0c, b'r', b'e', b'q', b'u', b'e', b's', b't', b'.', b'p', b'a', b't',
        b'h', 0x12, 0x04, 0x08, 0x01, 0x10, 0x00, 0x12, 0x04, 0x08, 0x22, 0x10, 0x00,
    ];
    let vocab = Vocabulary::builtin();
    let err = CheckRequestView::parse(&bytes, vocab).expect_err("a duplicate");
    assert_eq!(
        err.to_string(),
        "duplicate attribute request.path (type string)"
    );
    assert!(LazyCheck::scan(&bytes, vocab).is_none());
}

#[test]
fn words_of_every_length_and_script_are_read_alike() {
    // short ASCII words (read in one run), a word of ≥ 128 bytes (a two-byte length ends the
    // run), non-ASCII words, and more short ones after them; maps of many pairs, whose last
    // pairs sit at the end of their message
    let long = "x".repeat(200);
    for order in 0..3 {
        let mut b = OwnedBag::new();
        let mut strings = vec![
            ("request.path", "/ratings/0".to_owned()),
            ("request.method", "GET".to_owned()),
            ("my.long", long.clone()),
            ("my.accented", "café ünïcode".to_owned()),
            ("source.uid", "kubernetes://reviews-v2".to_owned()),
        ];
        strings.rotate_left(order);
        for (name, value) in strings {
            b.set(name, OwnedValue::String(value));
        }
        let headers: Vec<(String, String)> = (0..12)
            .map(|i| (format!("x-h{i}"), format!("v{i}")))
            .chain([(":method".to_owned(), "GET".to_owned())])
            .collect();
        b.set("request.headers", OwnedValue::StringMap(headers));
        b.set(
            "source.labels",
            OwnedValue::StringMap(vec![("app".into(), "reviews".into())]),
        );
        b.set("destination.port", OwnedValue::Int64(9080));
        let bytes = encode_check_request(b.iter(), 222, "", &[]);
        assert!(
            agrees(&bytes).expect("agrees"),
            "order {order}: read lazily"
        );
    }
}
