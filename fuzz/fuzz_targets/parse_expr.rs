//! Arbitrary UTF-8 through the expression language: parse, type-check against the builtin
//! vocabulary, and, when it checks, evaluate against an empty bag and a small fixed bag (with
//! a recorder, and as a predicate). Nothing may panic; a parsed tree must print and parse back.
#![no_main]

use libfuzzer_sys::fuzz_target;
use mixer_attributes::expr::{compile, parse};
use mixer_attributes::referenced::{NoRecord, Recorder};
use mixer_attributes::{AttrRef, OwnedBag, OwnedValue, Value, Vocabulary};
use std::sync::OnceLock;

struct Count(usize);

impl Recorder for Count {
    fn attribute(&mut self, _: AttrRef<'_>, _: Option<&Value<'_>>) {
        self.0 += 1;
    }

    fn map_key(&mut self, _: AttrRef<'_>, _: &str, _: bool) {
        self.0 += 1;
    }
}

fn bags() -> &'static [OwnedBag; 2] {
    static BAGS: OnceLock<[OwnedBag; 2]> = OnceLock::new();
    BAGS.get_or_init(|| {
        let full: OwnedBag = [
            ("source.uid", OwnedValue::String("kubernetes://a.b".into())),
            ("source.ip", OwnedValue::Bytes(vec![10, 0, 0, 1])),
            ("destination.ip", OwnedValue::Bytes(vec![0; 16])),
            (
                "source.labels",
                OwnedValue::StringMap(vec![("app".into(), "x".into())]),
            ),
            ("request.headers", OwnedValue::StringMap(vec![])),
            ("request.size", OwnedValue::Int64(0)),
            ("connection.mtls", OwnedValue::Bool(true)),
            ("context.protocol", OwnedValue::String("http".into())),
            ("request.host", OwnedValue::String("Example.com".into())),
        ]
        .into_iter()
        .collect();
        [OwnedBag::new(), full]
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(ast) = parse(text) {
        let printed = ast.to_string();
        match parse(&printed) {
            Ok(back) => assert_eq!(back, ast, "{text:?} printed as {printed:?}"),
            Err(e) => panic!("{text:?} printed as {printed:?} does not parse: {e}"),
        }
    }
    let Ok(expr) = compile(text, Vocabulary::builtin()) else {
        return;
    };
    for bag in bags() {
        let plain = expr.evaluate(bag).map(|v| v.to_string());
        let recorded = expr
            .evaluate_recorded(bag, &mut Count(0))
            .map(|v| v.to_string());
        assert_eq!(plain, recorded);
        let _ = expr.evaluate_bool(bag, &mut NoRecord);
    }
});
