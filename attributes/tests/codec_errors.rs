//! Every way a request can be wrong gives a [`DecodeError`] with Mixer's wording and the right
//! gRPC code — and arbitrary bytes never panic.

use mixer_attributes::decode::{
    decode_attributes, CheckRequestView, DecodeError, ReportRequestView,
};
use mixer_attributes::wire::WireError;
use mixer_attributes::Vocabulary;
use proptest::prelude::*;

fn attrs_err(bytes: &[u8]) -> DecodeError {
    match decode_attributes(bytes, Vocabulary::builtin()) {
        Ok(bag) => panic!("expected an error, got {:?}", bag.to_owned_bag()),
        Err(e) => e,
    }
}

#[test]
fn index_out_of_range() {
    // strings { 222 (zigzag 444 = 0xbc 0x03) → 0 }: one past the global dictionary
    let e = attrs_err(&[0x12, 0x05, 0x08, 0xbc, 0x03, 0x10, 0x00]);
    assert_eq!(
        e.to_string(),
        "attribute index 222 is not defined in the available dictionaries"
    );
    assert_eq!(e.grpc_code(), 3);
    // strings { -1 → 0 } with no words at all
    let e = attrs_err(&[0x12, 0x04, 0x08, 0x01, 0x10, 0x00]);
    assert_eq!(
        e.to_string(),
        "attribute index -1 is not defined in the available dictionaries"
    );
    // words ["a"], strings { 0 → -2 }: a value index past the word list
    let e = attrs_err(&[0x0a, 0x01, b'a', 0x12, 0x04, 0x08, 0x00, 0x10, 0x03]);
    assert_eq!(e, DecodeError::UnknownIndex(-2));
    assert_eq!(
        e.status_message(),
        "Request could not be processed due to invalid attributes: \
         attribute index -2 is not defined in the available dictionaries"
    );
}

#[test]
fn duplicates() {
    // strings { 17 (request.path) → 0 } and int64s { 17 → 1 }
    let e = attrs_err(&[
        0x12, 0x04, 0x08, 0x22, 0x10, 0x00, 0x1a, 0x04, 0x08, 0x22, 0x10, 0x01,
    ]);
    assert_eq!(
        e.to_string(),
        "duplicate attribute request.path (type int64)"
    );
    // twice in one map, once by global index and once as the message word "request.path"
    let mut bytes = vec![0x0a, 0x0c];
    bytes.extend_from_slice(b"request.path");
    bytes.extend_from_slice(&[
        0x12, 0x04, 0x08, 0x22, 0x10, 0x00, 0x12, 0x04, 0x08, 0x01, 0x10, 0x00,
    ]);
    assert_eq!(
        attrs_err(&bytes).to_string(),
        "duplicate attribute request.path (type string)"
    );
    // an unknown name twice: words ["x"], bools { -1 → true }, bytes { -1 → "" }
    let e = attrs_err(&[
        0x0a, 0x01, b'x', 0x2a, 0x04, 0x08, 0x01, 0x10, 0x01, 0x42, 0x02, 0x08, 0x01,
    ]);
    assert_eq!(e.to_string(), "duplicate attribute x (type []uint8)");
}

#[test]
fn dictionary_mismatch() {
    // ReportRequest { global_word_count 223 }
    let e = ReportRequestView::parse(&[0x18, 0xdf, 0x01], Vocabulary::builtin())
        .expect_err("223 > 222");
    assert_eq!(
        e.to_string(),
        "inconsistent global dictionary versions used: mixer knows 222 words, caller knows 223"
    );
    assert_eq!(e.grpc_code(), 13);
    assert_eq!(e.status_message(), e.to_string());
    // CheckRequest { global_word_count 223 }: checked before the (bad) attributes
    let e = CheckRequestView::parse(
        &[0x10, 0xdf, 0x01, 0x0a, 0x02, 0x12, 0x00],
        Vocabulary::builtin(),
    )
    .expect_err("223 > 222");
    assert_eq!(e.grpc_code(), 13);
    // 222 and fewer are fine
    assert!(ReportRequestView::parse(&[0x18, 0xde, 0x01], Vocabulary::builtin()).is_ok());
}

#[test]
fn malformed() {
    // strings entry says 5 bytes, 2 follow
    let e = attrs_err(&[0x12, 0x05, 0x08, 0x00]);
    assert_eq!(
        e.to_string(),
        "malformed protobuf at CompressedAttributes: message truncated"
    );
    // a truncated entry inside a report set: the path names the set and the map
    let e = report_err(&[0x0a, 0x04, 0x12, 0x02, 0x08, 0x80]);
    assert_eq!(
        e.to_string(),
        "malformed protobuf at ReportRequest.attributes[0].strings: message truncated"
    );
    // words sent as a varint
    let e = attrs_err(&[0x08, 0x01]);
    assert!(
        matches!(
            e,
            DecodeError::Malformed {
                source: WireError::WrongWireType { field: 1, .. },
                ..
            }
        ),
        "{e}"
    );
    assert!(
        e.to_string()
            .starts_with("malformed protobuf at CompressedAttributes.words"),
        "{e}"
    );
    // an 11-byte varint
    let e = attrs_err(&[
        0x78, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x01,
    ]);
    assert!(
        matches!(
            e,
            DecodeError::Malformed {
                source: WireError::VarintTooLong,
                ..
            }
        ),
        "{e}"
    );
    // a group
    assert!(matches!(
        attrs_err(&[0x7b]),
        DecodeError::Malformed {
            source: WireError::Group(3),
            ..
        }
    ));
    assert_eq!(attrs_err(&[0x12, 0x04, 0x08, 0x01, 0x10]).grpc_code(), 3);
}

fn report_err(bytes: &[u8]) -> DecodeError {
    let mut view =
        ReportRequestView::parse(bytes, Vocabulary::builtin()).expect("top level parses");
    let err = view.next_bag().expect("one set").expect_err("set is bad");
    assert!(view.next_bag().is_none(), "no bags after an error");
    err
}

#[test]
fn bad_utf8_words() {
    // words [0xff]
    let e = attrs_err(&[0x0a, 0x01, 0xff]);
    assert_eq!(e.to_string(), "invalid utf-8 in CompressedAttributes.words");
    // default_words [0xc3] (a lone lead byte)
    let e =
        ReportRequestView::parse(&[0x12, 0x01, 0xc3], Vocabulary::builtin()).expect_err("bad word");
    assert_eq!(
        e.to_string(),
        "invalid utf-8 in ReportRequest.default_words"
    );
    // among good words (checked all at once when they are all good), and a character split
    // across two words ("é" is c3 a9), with only ASCII framing between them
    for words in [
        &[&b"ok"[..], b"\xff", b"fine"][..],
        &[b"caf\xc3", b"\xa9"],
        &[b"ok", b"\xa9"],
    ] {
        let mut msg = Vec::new();
        for w in words {
            msg.extend_from_slice(&[0x12, w.len() as u8]);
            msg.extend_from_slice(w);
        }
        let e = ReportRequestView::parse(&msg, Vocabulary::builtin()).expect_err("bad word");
        assert_eq!(
            e.to_string(),
            "invalid utf-8 in ReportRequest.default_words",
            "{words:?}"
        );
    }
    // and good ones read back whole, also when a set sits between them
    let msg = [
        &[0x12, 0x05][..],
        "café".as_bytes(),
        &[0x0a, 0x02, 0x80, 0xff, 0x12, 0x02],
        b"ok",
    ]
    .concat();
    let view = ReportRequestView::parse(&msg, Vocabulary::builtin()).expect("good words");
    assert_eq!(view.default_words(), ["café", "ok"]);
    // deduplication_id
    assert!(CheckRequestView::parse(&[0x1a, 0x01, 0xff], Vocabulary::builtin()).is_err());
}

/// Reads every bag and every value, as a server would.
fn read_all(bytes: &[u8]) {
    let vocab = Vocabulary::builtin();
    if let Ok(mut view) = ReportRequestView::parse(bytes, vocab) {
        while let Some(Ok(bag)) = view.next_bag() {
            for (name, value) in bag.iter() {
                let _ = (name.len(), format!("{value:?}"), bag.get_by_name(name));
            }
        }
    }
    if let Ok(view) = CheckRequestView::parse(bytes, vocab) {
        let _ = view.attributes().to_owned_bag();
    }
    let _ = decode_attributes(bytes, vocab).map(|b| b.to_owned_bag());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        read_all(&bytes);
    }

    /// Mutations of a valid report reach deeper than random bytes.
    #[test]
    fn mutated_reports_never_panic(pos in any::<prop::sample::Index>(), byte in any::<u8>(), cut in any::<prop::sample::Index>()) {
        let mut batch = mixer_attributes::encode::ReportBatch::new();
        let bag: mixer_attributes::OwnedBag = [
            ("request.path", mixer_attributes::OwnedValue::String("/x".into())),
            ("my.map", mixer_attributes::OwnedValue::StringMap(vec![(":path".into(), "v".into())])),
            ("request.time", mixer_attributes::OwnedValue::Timestamp(Default::default())),
        ].into_iter().collect();
        batch.push(bag.iter());
        batch.push(bag.iter());
        let mut bytes = batch.finish();
        let i = pos.index(bytes.len());
        bytes[i] = byte;
        bytes.truncate(cut.index(bytes.len() + 1).max(1));
        read_all(&bytes);
    }
}
