//! Arbitrary bytes as the `ReferencedAttributes` of a Check answer, through the sidecar's
//! check cache: decode the shape against a request (global and message words, map keys,
//! ABSENCE / EXACT / REGEX), store the answer, look it up again. Never a panic; and an answer
//! the cache accepted is found again for the very request it answered.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mixer_attributes::{Duration, OwnedBag, OwnedValue, Timestamp};
use mixer_proto::mixer::check_response::PreconditionResult;
use mixer_proto::mixer::ReferencedAttributes;
use mixer_proxy::check::{CheckCache, Decision};
use prost::Message;
use std::sync::Arc;
use std::time::Instant;

fn request(variant: u8) -> OwnedBag {
    let map = |pairs: &[(&str, &str)]| {
        OwnedValue::StringMap(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        )
    };
    let mut bag: OwnedBag = [
        ("request.path", OwnedValue::String("/api/v1".into())),
        ("source.labels", map(&[("app", "reviews"), ("version", "v3")])),
        ("request.headers", map(&[("user-agent", "curl"), ("x-user", "")])),
        ("source.ip", OwnedValue::Bytes(vec![10, 0, 0, 7])),
        ("request.size", OwnedValue::Int64(7)),
        ("connection.mtls", OwnedValue::Bool(true)),
        ("request.time", OwnedValue::Timestamp(Timestamp { seconds: 1, nanos: 2 })),
        ("response.duration", OwnedValue::Duration(Duration { seconds: 0, nanos: 5 })),
        ("x.score", OwnedValue::Double(0.5)),
    ]
    .into_iter()
    .collect();
    if variant & 1 == 1 {
        bag.remove("source.ip");
    }
    if variant & 2 == 2 {
        bag.set("request.path", OwnedValue::String("/other".into()));
    }
    bag
}

fuzz_target!(|data: &[u8]| {
    let Some((&variant, wire)) = data.split_first() else {
        return;
    };
    let Ok(refs) = ReferencedAttributes::decode(wire) else {
        return;
    };
    let cache = CheckCache::new(8);
    let now = Instant::now();
    let bag = request(variant);
    let precondition = PreconditionResult {
        status: None,
        valid_duration: Some(prost_types::Duration { seconds: 60, nanos: 0 }),
        valid_use_count: 5,
        referenced_attributes: Some(refs),
        route_directive: None,
    };
    let cached = cache.insert(&bag, &precondition, Arc::new(Decision::ok()), now);
    if cached.is_ok() {
        assert!(
            cache.lookup(&bag, now).is_some(),
            "an accepted answer is found for its own request"
        );
    }
    let _ = cache.lookup(&request(variant ^ 3), now);
});
