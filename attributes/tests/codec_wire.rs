//! Decoding hand-written wire bytes: every byte below is spelled out with what it means, so
//! these tests check the decoder against the protobuf encoding itself, not against our encoder.

use mixer_attributes::decode::{
    decode_attributes, CheckRequestView, QuotaParams, ReportRequestView, Semantics,
};
use mixer_attributes::{
    AttrId, AttrRef, Attributes, Duration, StringMapRef, Timestamp, Value, Vocabulary,
};

/// A `CompressedAttributes` exercising every typed map, both index kinds and unknown fields.
#[rustfmt::skip]
const COMPRESSED: &[u8] = &[
    // words[0] = "x-custom" (field 1, len 8)
    0x0a, 0x08, b'x', b'-', b'c', b'u', b's', b't', b'o', b'm',
    // words[1] = "request.path": a dictionary word (17) sent as a message word
    0x0a, 0x0c, b'r', b'e', b'q', b'u', b'e', b's', b't', b'.', b'p', b'a', b't', b'h',
    // strings (field 2): key -2 (zigzag 3) = words[1], value -1 (zigzag 1) = words[0]
    0x12, 0x04, 0x08, 0x03, 0x10, 0x01,
    // strings: key 16 (zigzag 32) = request.id, value 94 (zigzag 188) = '200' (quotes kept)
    0x12, 0x05, 0x08, 0x20, 0x10, 0xbc, 0x01,
    // strings: key 20 (zigzag 40) = request.reason, value 218 (zigzag 436) = "-" (quotes kept)
    0x12, 0x05, 0x08, 0x28, 0x10, 0xb4, 0x03,
    // unknown field 15, varint 42
    0x78, 0x2a,
    // int64s (field 3): key 30 (zigzag 60) = response.code, value 200
    0x1a, 0x05, 0x08, 0x3c, 0x10, 0xc8, 0x01,
    // doubles (field 4): key -1 = "x-custom", value fixed64 1.5
    0x22, 0x0b, 0x08, 0x01, 0x11, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f,
    // bools (field 5): key 177 (zigzag 354) = connection.mtls, value true
    0x2a, 0x05, 0x08, 0xe2, 0x02, 0x10, 0x01,
    // unknown field 16, length-delimited "zz"
    0x82, 0x01, 0x02, b'z', b'z',
    // timestamps (field 6): key 24 (zigzag 48) = request.time, {seconds 1, nanos 2}
    0x32, 0x08, 0x08, 0x30, 0x12, 0x04, 0x08, 0x01, 0x10, 0x02,
    // durations (field 7): key 29 (zigzag 58) = response.duration, {nanos -5 (10-byte varint)}
    0x3a, 0x0f, 0x08, 0x3a, 0x12, 0x0b,
    0x10, 0xfb, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    // bytes (field 8): key 0 (zigzag 0) = source.ip (global index 0), IPv4 10.0.0.1
    0x42, 0x08, 0x08, 0x00, 0x12, 0x04, 10, 0, 0, 1,
    // bytes: key 150 (zigzag 300) = destination.ip, IPv6 ::1
    0x42, 0x15, 0x08, 0xac, 0x02, 0x12, 0x10,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1,
    // unknown fields 17 (fixed32) and 18 (fixed64)
    0x8d, 0x01, 1, 2, 3, 4,
    0x91, 0x01, 1, 2, 3, 4, 5, 6, 7, 8,
    // string_maps (field 9): key 15 (zigzag 30) = request.headers, StringMap (13 bytes):
    0x4a, 0x11, 0x08, 0x1e, 0x12, 0x0d,
    //   entries: 31 (zigzag 62) = :authority → -1 = "x-custom"
    0x0a, 0x04, 0x08, 0x3e, 0x10, 0x01,
    //   entries: -1 = "x-custom" → 219 (zigzag 438) = inbound
    0x0a, 0x05, 0x08, 0x01, 0x10, 0xb6, 0x03,
    // bools: key 114 (zigzag 228) = false, no value field: proto3 default false
    0x2a, 0x03, 0x08, 0xe4, 0x01,
];

#[test]
fn every_map_both_index_kinds_and_unknown_fields() {
    let vocab = Vocabulary::builtin();
    let bag = decode_attributes(COMPRESSED, vocab).expect("decodes");
    // the message word "request.path" resolved to the dictionary id 17
    let path = AttrRef {
        id: AttrId(17),
        name: "request.path",
    };
    assert_eq!(bag.get(path), Some(Value::String("x-custom")));
    assert_eq!(bag.get_by_name("request.id"), Some(Value::String("'200'")));
    assert_eq!(
        bag.get_by_name("request.reason"),
        Some(Value::String("\"-\""))
    );
    assert_eq!(bag.get_by_name("response.code"), Some(Value::Int64(200)));
    assert_eq!(bag.get_by_name("x-custom"), Some(Value::Double(1.5)));
    assert_eq!(bag.get_by_name("connection.mtls"), Some(Value::Bool(true)));
    assert_eq!(bag.get_by_name("false"), Some(Value::Bool(false)));
    assert_eq!(
        bag.get_by_name("request.time"),
        Some(Value::Timestamp(Timestamp {
            seconds: 1,
            nanos: 2
        }))
    );
    assert_eq!(
        bag.get_by_name("response.duration"),
        Some(Value::Duration(Duration {
            seconds: 0,
            nanos: -5
        }))
    );
    assert_eq!(
        bag.get(AttrRef {
            id: AttrId(0),
            name: "source.ip"
        }),
        Some(Value::Bytes(&[10, 0, 0, 1]))
    );
    let mut v6 = [0u8; 16];
    v6[15] = 1;
    assert_eq!(bag.get_by_name("destination.ip"), Some(Value::Bytes(&v6)));
    let pairs = [(":authority", "x-custom"), ("x-custom", "inbound")];
    assert_eq!(
        bag.get_by_name("request.headers"),
        Some(Value::StringMap(StringMapRef::Pairs(&pairs)))
    );
    assert_eq!(bag.len(), 12);
    assert_eq!(bag.get_by_name("source.name"), None);
}

/// Two sets: set 0 has no words and falls back to `default_words`, set 1 has its own.
#[rustfmt::skip]
fn report(semantics: u8) -> Vec<u8> {
    let mut r = vec![
        // attributes[0] (7 bytes): strings { -1 → 113 (zigzag 226) = "true" }
        0x0a, 0x07, 0x12, 0x05, 0x08, 0x01, 0x10, 0xe2, 0x01,
        // attributes[1] (13 bytes): words ["other"], strings { -1 → -1 }
        0x0a, 0x0d, 0x0a, 0x05, b'o', b't', b'h', b'e', b'r', 0x12, 0x04, 0x08, 0x01, 0x10, 0x01,
        // default_words ["my.attr"] (field 2), after the sets, as prost writes it
        0x12, 0x07, b'm', b'y', b'.', b'a', b't', b't', b'r',
        // global_word_count 222 (field 3)
        0x18, 0xde, 0x01,
    ];
    // repeated_attributes_semantics (field 4)
    r.extend_from_slice(&[0x20, semantics]);
    r
}

#[test]
fn report_default_words_independent_and_delta() {
    let vocab = Vocabulary::builtin();
    let bytes = report(1);
    let mut view = ReportRequestView::parse(&bytes, vocab).expect("parses");
    assert_eq!(
        (view.len(), view.global_word_count(), view.semantics()),
        (2, 222, Semantics::Independent)
    );
    assert_eq!(view.default_words(), ["my.attr"]);
    let bag = view.next_bag().expect("set 0").expect("decodes");
    assert_eq!(
        bag.iter().collect::<Vec<_>>(),
        [("my.attr", Value::String("true"))]
    );
    let bag = view.next_bag().expect("set 1").expect("decodes");
    assert_eq!(
        bag.iter().collect::<Vec<_>>(),
        [("other", Value::String("other"))]
    );
    assert!(view.next_bag().is_none());

    let bytes = report(0);
    let mut view = ReportRequestView::parse(&bytes, vocab).expect("parses");
    assert_eq!(view.semantics(), Semantics::Delta);
    let _ = view.next_bag();
    let bag = view.next_bag().expect("set 1").expect("decodes");
    let expected = [
        ("my.attr", Value::String("true")),
        ("other", Value::String("other")),
    ];
    assert_eq!(bag.iter().collect::<Vec<_>>(), expected);

    // an unknown semantics value is decoded as delta, as Go Mixer does
    let bytes = report(7);
    let view = ReportRequestView::parse(&bytes, vocab).expect("parses");
    assert_eq!(
        (view.semantics(), view.raw_semantics()),
        (Semantics::Delta, 7)
    );
}

#[test]
fn check_request_view() {
    #[rustfmt::skip]
    let bytes = [
        // attributes: strings { 19 (zigzag 38) = request.method → 90 (zigzag 180) = GET }
        0x0a, 0x07, 0x12, 0x05, 0x08, 0x26, 0x10, 0xb4, 0x01,
        // global_word_count 111 (field 2)
        0x10, 0x6f,
        // deduplication_id "abc" (field 3)
        0x1a, 0x03, b'a', b'b', b'c',
        // quotas (field 4): "rq" → { amount 5, best_effort true }
        0x22, 0x0a, 0x0a, 0x02, b'r', b'q', 0x12, 0x04, 0x08, 0x05, 0x10, 0x01,
    ];
    let view = CheckRequestView::parse(&bytes, Vocabulary::builtin()).expect("parses");
    assert_eq!(
        view.attributes().get_by_name("request.method"),
        Some(Value::String("GET"))
    );
    assert_eq!(view.global_word_count(), 111);
    assert_eq!(view.deduplication_id(), "abc");
    assert_eq!(
        view.quotas(),
        [QuotaParams {
            name: "rq",
            amount: 5,
            best_effort: true
        }]
    );
}
