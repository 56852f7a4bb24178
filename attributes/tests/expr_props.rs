//! Properties of the expression language: random expressions from a small grammar print and
//! parse back to the same tree, and parsing, checking and evaluating never panic — on
//! grammar-shaped input or on arbitrary text.

use mixer_attributes::expr::{compile, parse, Ast, AstKind, BinaryOp, Pos, UnaryOp};
use mixer_attributes::referenced::{NoRecord, Recorder};
use mixer_attributes::{AttrRef, OwnedBag, OwnedValue, Value, Vocabulary};
use proptest::prelude::*;

const ATTRS: [&str; 10] = [
    "source.uid",
    "source.ip",
    "source.labels",
    "request.headers",
    "request.size",
    "response.duration",
    "connection.mtls",
    "request.time",
    "context.protocol",
    "no.such.attr",
];

fn at(kind: AstKind) -> Ast {
    Ast {
        pos: Pos::default(),
        kind,
    }
}

fn leaf() -> impl Strategy<Value = Ast> {
    prop_oneof![
        prop::sample::select(&ATTRS[..]).prop_map(|n| at(AstKind::Attribute(n.to_owned()))),
        (0i64..1000).prop_map(|v| at(AstKind::Int(v))),
        (0.0f64..1e6).prop_map(|v| at(AstKind::Float(v))),
        any::<bool>().prop_map(|v| at(AstKind::Bool(v))),
        prop::sample::select(&["", "x", "10s", "0", "kube*", "10.0.0.1", "a\"b\\c\n", "é"][..])
            .prop_map(|s| at(AstKind::Str(s.to_owned()))),
    ]
}

fn tree() -> impl Strategy<Value = Ast> {
    leaf().prop_recursive(5, 40, 3, |inner| {
        let ops = prop::sample::select(BinaryOp::TABLE.iter().map(|e| e.1).collect::<Vec<_>>());
        let funcs = prop::sample::select(
            &[
                "ip",
                "timestamp",
                "match",
                "toLower",
                "size",
                "conditional",
                "emptyStringMap",
                "dnsName",
                "bogus",
            ][..],
        );
        let methods = prop::sample::select(&["matches", "startsWith", "endsWith"][..]);
        prop_oneof![
            (ops, inner.clone(), inner.clone()).prop_map(|(op, a, b)| at(AstKind::Binary(
                op,
                Box::new(a),
                Box::new(b)
            ))),
            (inner.clone(), inner.clone())
                .prop_map(|(m, k)| at(AstKind::Index(Box::new(m), Box::new(k)))),
            (funcs, prop::collection::vec(inner.clone(), 0..4)).prop_map(|(f, args)| at(
                AstKind::Call {
                    name: f.to_owned(),
                    target: None,
                    args
                }
            )),
            (methods, inner.clone(), inner.clone()).prop_map(|(m, t, a)| at(AstKind::Call {
                name: m.to_owned(),
                target: Some(Box::new(t)),
                args: vec![a]
            })),
            inner.prop_map(|x| at(AstKind::Unary(UnaryOp::Not, Box::new(x)))),
        ]
    })
}

fn bags() -> Vec<OwnedBag> {
    let full: OwnedBag = [
        ("source.uid", OwnedValue::String("kube-probe".into())),
        ("source.ip", OwnedValue::Bytes(vec![10, 0, 0, 1])),
        (
            "source.labels",
            OwnedValue::StringMap(vec![("x".into(), "1".into())]),
        ),
        ("request.headers", OwnedValue::StringMap(vec![])),
        ("request.size", OwnedValue::Int64(0)),
        ("connection.mtls", OwnedValue::Bool(true)),
        ("context.protocol", OwnedValue::String("http".into())),
    ]
    .into_iter()
    .collect();
    // wrong wire kinds for declared types
    let wrong: OwnedBag = [
        ("source.ip", OwnedValue::String("10.0.0.1".into())),
        ("request.size", OwnedValue::Bool(true)),
        ("source.labels", OwnedValue::Bytes(vec![1])),
    ]
    .into_iter()
    .collect();
    vec![OwnedBag::new(), full, wrong]
}

/// Counts reads, to check evaluation reports at least one per attribute it reads.
#[derive(Default)]
struct Count(usize);

impl Recorder for Count {
    fn attribute(&mut self, _: AttrRef<'_>, _: Option<&Value<'_>>) {
        self.0 += 1;
    }

    fn map_key(&mut self, _: AttrRef<'_>, _: &str, _: bool) {
        self.0 += 1;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

    #[test]
    fn print_parse_round_trip(ast in tree()) {
        let text = ast.to_string();
        let back = parse(&text).map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
        prop_assert_eq!(&back, &ast, "{}", text);
        prop_assert_eq!(back.to_string(), text);
    }

    #[test]
    fn compile_and_evaluate_never_panic(ast in tree()) {
        let text = ast.to_string();
        if let Ok(e) = compile(&text, Vocabulary::builtin()) {
            for bag in bags() {
                let plain = e.evaluate(&bag).map(|v| (v.value_type(), v.to_string()));
                if let Ok((ty, _)) = &plain {
                    prop_assert_eq!(*ty, e.result_type(), "{}", text);
                }
                let mut count = Count::default();
                let recorded = e.evaluate_recorded(&bag, &mut count).map(|v| v.to_string());
                prop_assert_eq!(plain.map(|p| p.1), recorded);
                let _ = e.evaluate_bool(&bag, &mut NoRecord);
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,40}") {
        if let Ok(e) = compile(&text, Vocabulary::builtin()) {
            for bag in bags() {
                let _ = e.evaluate(&bag);
            }
        }
    }

    #[test]
    fn cexl_shaped_text_never_panics(text in "[a-z.\"'`()\\[\\]|&=!<>+*/,0-9 _$-]{0,40}") {
        if let Ok(e) = compile(&text, Vocabulary::builtin()) {
            for bag in bags() {
                let _ = e.evaluate(&bag);
            }
        }
    }
}
