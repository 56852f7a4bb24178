//! Property tests: random bags → encode → decode is the identity, as one
//! `CompressedAttributes`, as an INDEPENDENT report batch with shared `default_words`, as a
//! DELTA report (each set holding only what changed), and through prost's re-encoding.

use mixer_attributes::decode::{
    decode_attributes, AttributesDecoder, ReportRequestView, Semantics,
};
use mixer_attributes::encode::{encode_attributes, ReportBatch};
use mixer_attributes::{
    AttrId, Attributes, Bag, Duration, LayeredBag, OwnedBag, OwnedValue, Timestamp, Vocabulary,
};
use mixer_proto::mixer::{CompressedAttributes, ReportRequest};
use proptest::prelude::*;
use prost::Message;

fn name() -> impl Strategy<Value = String> {
    prop_oneof![
        // global dictionary words (attribute names and not)
        prop::sample::select(vec![
            "source.ip",
            "destination.ip",
            "request.path",
            "request.headers",
            "source.labels",
            "response.code",
            "request.time",
            "response.duration",
            ":authority",
            "'200'",
            "context.proxy_version",
            "request.size",
        ]),
        // vocabulary attributes that are not dictionary words
        prop::sample::select(vec![
            "origin.ip",
            "source.workload.name",
            "destination.service.host",
            "connection.mtls",
            "request.total_size",
            "api.protocol",
        ]),
    ]
    .prop_map(String::from)
    .boxed()
    .prop_union("[a-z][a-z._]{0,10}".boxed())
    .or(Just(String::new()).boxed())
}

fn word() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            "'200'",
            "\"-\"",
            "GET",
            "200",
            "inbound",
            "",
            "source.ip",
            "true",
            "'0'",
        ])
        .prop_map(String::from),
        "\\PC{0,8}",
    ]
}

fn map_key() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(vec![
            ":authority",
            ":path",
            "user-agent",
            "x-request-id",
            "app"
        ])
        .prop_map(String::from),
        "[a-z-]{0,8}",
    ]
}

fn value() -> impl Strategy<Value = OwnedValue> {
    prop_oneof![
        word().prop_map(OwnedValue::String),
        any::<i64>().prop_map(OwnedValue::Int64),
        any::<f64>()
            .prop_filter("NaN is not equal to itself", |f| !f.is_nan())
            .prop_map(OwnedValue::Double),
        any::<bool>().prop_map(OwnedValue::Bool),
        (any::<i64>(), any::<i32>())
            .prop_map(|(seconds, nanos)| OwnedValue::Timestamp(Timestamp { seconds, nanos })),
        (-100_000i64..100_000, -999_999_999i32..999_999_999)
            .prop_map(|(seconds, nanos)| OwnedValue::Duration(Duration { seconds, nanos })),
        any::<[u8; 4]>().prop_map(|b| OwnedValue::Bytes(b.to_vec())),
        any::<[u8; 16]>().prop_map(|b| OwnedValue::Bytes(b.to_vec())),
        prop::collection::vec(any::<u8>(), 0..6).prop_map(OwnedValue::Bytes),
        prop::collection::vec((map_key(), word()), 0..5).prop_map(OwnedValue::StringMap),
    ]
}

/// A value, or one whose entry is too long for a short field.
fn edit_value() -> impl Strategy<Value = OwnedValue> {
    prop_oneof![
        4 => value(),
        1 => prop::collection::vec(any::<u8>(), 120..140).prop_map(OwnedValue::Bytes),
    ]
}

fn bag() -> impl Strategy<Value = OwnedBag> {
    prop::collection::vec((name(), value()), 0..12).prop_map(|v| v.into_iter().collect())
}

fn owned(bag: &Bag<'_>) -> OwnedBag {
    bag.to_owned_bag().sorted()
}

/// An INDEPENDENT `ReportRequest` of `bags`, as a batching client encodes it.
fn batch_of(bags: &[OwnedBag]) -> Vec<u8> {
    let mut batch = ReportBatch::new();
    for b in bags {
        batch.push(b.iter());
    }
    batch.finish()
}

fn decode_report(bytes: &[u8]) -> Result<Vec<OwnedBag>, TestCaseError> {
    let fail = |e: mixer_attributes::decode::DecodeError| TestCaseError::fail(e.to_string());
    let mut view = ReportRequestView::parse(bytes, Vocabulary::builtin()).map_err(fail)?;
    let mut out = Vec::new();
    view.for_each_bag(|b| out.push(owned(b))).map_err(fail)?;
    Ok(out)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn single_message_round_trips(bag in bag(), small in any::<bool>()) {
        let gwc = if small { 111 } else { 222 };
        let bytes = encode_attributes(bag.iter(), gwc);
        let decoded = decode_attributes(&bytes, Vocabulary::builtin()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(owned(&decoded), bag.clone().sorted());
        // prost reads it too, and only indices below the client's word count are global
        let msg = CompressedAttributes::decode(&bytes[..]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let keys = msg.strings.keys().chain(msg.strings.values()).chain(msg.int64s.keys()).chain(msg.bytes.keys());
        for k in keys {
            prop_assert!(*k < gwc as i32, "index {} with gwc {}", k, gwc);
        }
        // prost's re-encoding (map order, default keys and values left out) decodes the same
        let again = msg.encode_to_vec();
        let decoded = decode_attributes(&again, Vocabulary::builtin()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(owned(&decoded), bag.sorted());
    }

    #[test]
    fn independent_batch_round_trips(bags in prop::collection::vec(bag(), 0..6)) {
        let mut batch = ReportBatch::new();
        for b in &bags {
            batch.push(b.iter());
        }
        let bytes = batch.finish();
        let req = ReportRequest::decode(&bytes[..]).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(req.repeated_attributes_semantics, 1);
        prop_assert_eq!(req.global_word_count, 222);
        prop_assert!(req.attributes.iter().all(|a| a.words.is_empty()));
        let expected: Vec<OwnedBag> = bags.iter().cloned().map(OwnedBag::sorted).collect();
        prop_assert_eq!(decode_report(&bytes)?, expected.clone());
        prop_assert_eq!(decode_report(&req.encode_to_vec())?, expected);
    }

    #[test]
    fn batches_of_similar_bags_round_trip(
        base in bag(),
        edits in prop::collection::vec(prop::collection::vec((any::<prop::sample::Index>(), value()), 0..3), 1..8),
    ) {
        // a batch's bags mostly repeat one another (the encoder remembers where each word
        // was): the base bag again and again, with a few values replaced in place
        let mut bags = Vec::new();
        for edit in &edits {
            let mut entries: Vec<(String, OwnedValue)> =
                base.iter().map(|(n, v)| (n.to_owned(), v.to_owned_value())).collect();
            if !entries.is_empty() {
                for (at, v) in edit {
                    let i = at.index(entries.len());
                    entries[i].1 = v.clone();
                }
            }
            bags.push(entries.into_iter().collect::<OwnedBag>());
            bags.push(base.clone());
        }
        let bytes = batch_of(&bags);
        let expected: Vec<OwnedBag> = bags.iter().cloned().map(OwnedBag::sorted).collect();
        prop_assert_eq!(decode_report(&bytes)?, expected);
    }

    #[test]
    fn layered_bags_round_trip_like_flat_ones(
        layers in prop::collection::vec(bag(), 1..6),
        owns in prop::collection::vec((any::<prop::sample::Index>(), bag()), 0..12),
    ) {
        // shared layers met in any order (more of them than the batch remembers), each bag's
        // own layer possibly naming a shared attribute again
        let layers: Vec<std::sync::Arc<OwnedBag>> =
            layers.into_iter().map(std::sync::Arc::new).collect();
        let bags: Vec<LayeredBag> = owns
            .into_iter()
            .map(|(at, own)| LayeredBag::new(layers[at.index(layers.len())].clone(), own))
            .collect();
        let mut batch = ReportBatch::new();
        for b in &bags {
            batch.push_layered(b);
        }
        prop_assert_eq!(batch.len(), bags.len());
        let bytes = batch.finish();
        let expected: Vec<OwnedBag> = bags.iter().map(|b| b.flatten().sorted()).collect();
        prop_assert_eq!(decode_report(&bytes)?, expected);
    }

    #[test]
    fn what_a_bag_says_repeats_the_bag_before_it_does(
        base in bag(),
        edits in prop::collection::vec(
            prop::collection::vec((any::<prop::sample::Index>(), edit_value(), any::<bool>()), 0..3),
            1..8,
        ),
    ) {
        // similar bags (values replaced, attributes dropped, entries framed longer than a
        // short field): every attribute a bag says is the same as in the bag before it is
        // indeed the same, or absent from both
        let mut bags = vec![base.clone()];
        for edit in &edits {
            let mut entries: Vec<(String, OwnedValue)> =
                base.iter().map(|(n, v)| (n.to_owned(), v.to_owned_value())).collect();
            for (at, v, drop) in edit {
                if entries.is_empty() {
                    break;
                }
                let i = at.index(entries.len());
                if *drop {
                    entries.remove(i);
                } else {
                    entries[i].1 = v.clone();
                }
            }
            bags.push(entries.into_iter().collect::<OwnedBag>());
            bags.push(base.clone());
        }
        let bytes = batch_of(&bags);
        let vocab = Vocabulary::builtin();
        let mut view = ReportRequestView::parse(&bytes, vocab).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let mut before: Option<Vec<Option<OwnedValue>>> = None;
        while let Some(bag) = view.next_bag() {
            let bag = bag.map_err(|e| TestCaseError::fail(e.to_string()))?;
            let now: Vec<Option<OwnedValue>> = (0..vocab.len())
                .map(|i| bag.get_id(AttrId(i as u32)).map(|v| v.to_owned_value()))
                .collect();
            for (i, value) in now.iter().enumerate() {
                if bag.same_as_before(AttrId(i as u32)) {
                    let before = before.as_ref().expect("the first bag follows none");
                    prop_assert_eq!(value, &before[i], "attribute {}", i);
                }
            }
            before = Some(now);
        }
    }

    #[test]
    fn delta_report_accumulates(bags in prop::collection::vec(bag(), 1..6), shared in any::<bool>()) {
        // each set holds only the attributes that differ from the accumulated bag
        let mut acc = OwnedBag::new();
        let mut expected = Vec::new();
        let mut req = ReportRequest { global_word_count: 222, ..ReportRequest::default() };
        for b in &bags {
            let changed: OwnedBag = b
                .iter()
                .filter(|(n, v)| acc.get_by_name(n).map(OwnedValue::as_value) != Some(*v))
                .map(|(n, v)| (n.to_owned(), v.to_owned_value()))
                .collect();
            for (n, v) in changed.iter() {
                acc.set(n.to_owned(), v.to_owned_value());
            }
            expected.push(acc.clone().sorted());
            let set = encode_attributes(changed.iter(), 222);
            let set = CompressedAttributes::decode(&set[..]).map_err(|e| TestCaseError::fail(e.to_string()))?;
            req.attributes.push(set);
        }
        if shared {
            // move the first set's words to default_words: sets without words fall back to them
            req.default_words = std::mem::take(&mut req.attributes[0].words);
        }
        let bytes = req.encode_to_vec();
        // (later sets keep their own words; set 0, now without words, uses the defaults)
        let view = ReportRequestView::parse(&bytes, Vocabulary::builtin()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        prop_assert_eq!(view.semantics(), Semantics::Delta);
        prop_assert_eq!(decode_report(&bytes)?, expected);
    }
}

#[test]
fn one_decoder_serves_many_bags() {
    let vocab = Vocabulary::builtin();
    let a: OwnedBag = [("request.path", OwnedValue::String("/a".into()))]
        .into_iter()
        .collect();
    let b: OwnedBag = [("my.thing", OwnedValue::Int64(3))].into_iter().collect();
    let (ea, eb) = (
        encode_attributes(a.iter(), 222),
        encode_attributes(b.iter(), 222),
    );
    let mut dec = AttributesDecoder::new();
    let mut bag = Bag::new(vocab);
    dec.decode_into(&ea, &mut bag).expect("decodes");
    assert_eq!(bag.to_owned_bag(), a);
    dec.decode_into(&eb, &mut bag).expect("decodes");
    assert_eq!(bag.to_owned_bag(), b);
    let bag = bag.recycle(vocab);
    assert!(bag.is_empty());
}

#[test]
fn static_names_are_told_apart_by_address_and_length() {
    // The batch knows a `&'static str` name by its address and length after the first bag;
    // the same place may hold another static name next time, a shorter slice of the same
    // bytes, or a name that is not static at all.
    const PATH: &str = "request.path";
    const HOST: &str = "request.host";
    let prefix: &'static str = &PATH[..7]; // "request": same address as PATH
    let shared = std::sync::Arc::new(
        [("source.workload.name", OwnedValue::String("w".into()))]
            .into_iter()
            .collect::<OwnedBag>(),
    );
    let own = |names: &[&'static str]| {
        let mut bag = LayeredBag::with_capacity(shared.clone(), names.len() + 1);
        for (i, n) in names.iter().enumerate() {
            bag.push_new(n, OwnedValue::String(format!("v{i}")));
        }
        bag
    };
    let mut bags = vec![
        own(&[PATH, HOST]),
        own(&[PATH, HOST]),
        own(&[HOST, PATH]),
        own(&[prefix, PATH]),
        own(&[PATH, prefix]),
    ];
    let mut owned_name = own(&[PATH]);
    owned_name.set(
        String::from("request.method"),
        OwnedValue::String("GET".into()),
    );
    bags.push(owned_name);
    bags.push(own(&[PATH, HOST]));
    let mut batch = ReportBatch::new();
    for b in &bags {
        batch.push_layered(b);
    }
    let bytes = batch.finish();
    let expected: Vec<OwnedBag> = bags.iter().map(|b| b.flatten().sorted()).collect();
    assert_eq!(decode_report(&bytes).expect("decodes"), expected);
}

#[test]
fn recycled_buffers_read_each_report_with_its_own_words() {
    // Two Reports whose sets are the same bytes and whose default_words differ: the second,
    // decoded with the first one's recycled buffers (where the decoder remembers entries by
    // their bytes), reads its own words.
    let vocab = Vocabulary::builtin();
    let report = |path: &str| {
        let bag: OwnedBag = [("request.path", OwnedValue::String(path.into()))]
            .into_iter()
            .collect();
        let mut batch = ReportBatch::new();
        batch.push(bag.iter());
        batch.push(bag.iter());
        batch.finish()
    };
    let (first, second) = (report("/first"), report("/second"));
    let sets = |bytes: &[u8]| {
        ReportRequest::decode(bytes)
            .expect("prost reads it")
            .attributes
    };
    assert_eq!(sets(&first), sets(&second));
    let paths = |view: &mut ReportRequestView<'_>| {
        let mut out = Vec::new();
        view.for_each_bag(|b| out.push(b.to_owned_bag().get_by_name("request.path").cloned()))
            .expect("decodes");
        out
    };
    let mut view = ReportRequestView::parse(&first, vocab).expect("parses");
    let path = |p: &str| Some(OwnedValue::String(p.into()));
    assert_eq!(paths(&mut view), [path("/first"), path("/first")]);
    let buffers = view.recycle();
    let mut view = ReportRequestView::parse_with(&second, vocab, buffers).expect("parses");
    assert_eq!(paths(&mut view), [path("/second"), path("/second")]);
}

#[test]
fn string_maps_past_what_the_decoder_remembers_still_read_right() {
    // The decoder remembers the string maps of a Report's sets up to a fixed number of
    // entries; a Report with more (each set's map different, then the first maps again)
    // reads the same as one decoded without remembering.
    let map = |i: usize| {
        let pairs = (0..40)
            .map(|k| (format!("k{k}"), format!("v{i}-{k}")))
            .collect();
        OwnedValue::StringMap(pairs)
    };
    let bags: Vec<OwnedBag> = (0..150)
        .chain(0..10)
        .map(|i| {
            [
                ("request.headers", map(i)),
                ("response.headers", map(i % 3)),
                (
                    "source.ip",
                    OwnedValue::Bytes(vec![10, 0, 0, (i % 2) as u8]),
                ),
            ]
            .into_iter()
            .collect()
        })
        .collect();
    let mut batch = ReportBatch::new();
    for b in &bags {
        batch.push(b.iter());
    }
    let expected: Vec<OwnedBag> = bags.into_iter().map(OwnedBag::sorted).collect();
    assert_eq!(decode_report(&batch.finish()).expect("decodes"), expected);
}

#[test]
fn a_repeated_bag_says_it_repeats_the_one_before() {
    // the claim the test above checks is made at all: identical bags from a proxy
    let bag: OwnedBag = [
        ("request.path", OwnedValue::String("/a".into())),
        ("response.code", OwnedValue::Int64(200)),
        ("source.ip", OwnedValue::Bytes(vec![10, 0, 0, 1])),
        (
            "request.headers",
            OwnedValue::StringMap(vec![(":authority".into(), "x".into())]),
        ),
    ]
    .into_iter()
    .collect();
    let mut batch = ReportBatch::new();
    for _ in 0..3 {
        batch.push(bag.iter());
    }
    let bytes = batch.finish();
    let vocab = Vocabulary::builtin();
    let mut view = ReportRequestView::parse(&bytes, vocab).expect("parses");
    let mut says = Vec::new();
    while let Some(b) = view.next_bag() {
        let b = b.expect("decodes");
        let id = |n: &str| vocab.id(n).expect("a vocabulary attribute");
        says.push(
            [
                "request.path",
                "response.code",
                "source.ip",
                "request.headers",
            ]
            .iter()
            .all(|n| b.same_as_before(id(n))),
        );
    }
    assert_eq!(says, [false, true, true]);
}
