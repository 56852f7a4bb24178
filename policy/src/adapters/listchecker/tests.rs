use super::list::{entries, Cidr, List, Symbol};
use super::*;
use crate::adapters::{code, Instance};
use mixer_attributes::expr::EvalValue;
use std::borrow::Cow;
use std::net::IpAddr;
use std::time::{Duration, Instant};

fn yaml(s: &str) -> Yaml {
    serde_yaml_ng::from_str(s).expect("test yaml")
}

fn handler(params: &str) -> ListHandler {
    ListHandler::new(Params::parse(&yaml(params)).expect("valid params")).expect("builds")
}

fn string(s: &str) -> Instance<'_> {
    Instance {
        name: "v.instance.istio-system",
        value: Some(EvalValue::String(Cow::Borrowed(s))),
        dimensions: Vec::new(),
        fields: Vec::new(),
    }
}

fn ip(s: &str) -> Instance<'static> {
    Instance {
        name: "v.instance.istio-system",
        value: Some(EvalValue::IpAddress(s.parse::<IpAddr>().expect("test ip"))),
        dimensions: Vec::new(),
        fields: Vec::new(),
    }
}

fn answer(h: &ListHandler, i: &Instance<'_>) -> (i32, String) {
    let r = h.check(i, Instant::now());
    (r.status.code, r.status.message)
}

#[test]
fn whitelist_of_strings() {
    let h = handler("overrides: [v1, v2]");
    assert_eq!(answer(&h, &string("v1")), (code::OK, String::new()));
    assert_eq!(
        answer(&h, &string("v3")),
        (code::PERMISSION_DENIED, "v3 is not whitelisted".into())
    );
    assert_eq!(answer(&h, &string("V1")).0, code::PERMISSION_DENIED);
    let r = h.check(&string("v3"), Instant::now());
    assert_eq!(
        (r.valid_duration, r.valid_use_count),
        (Duration::from_secs(300), 10000)
    );
}

#[test]
fn case_insensitive_blacklist_with_caching_params() {
    let h = handler(
        "entryType: CASE_INSENSITIVE_STRINGS\nblacklist: true\noverrides: [Bad-Bot]\ncachingInterval: 10s\ncachingUseCount: 7",
    );
    assert_eq!(
        answer(&h, &string("bad-BOT")),
        (code::PERMISSION_DENIED, "bad-BOT is blacklisted".into())
    );
    let r = h.check(&string("good"), Instant::now());
    assert_eq!(r.status.code, code::OK);
    assert_eq!(
        (r.valid_duration, r.valid_use_count),
        (Duration::from_secs(10), 7)
    );
}

#[test]
fn ip_ranges_match_addresses_strings_and_mapped_forms() {
    let h = handler(
        "entry_type: IP_ADDRESSES\nblacklist: true\noverrides: ['10.0.0.0/8', '2001:db8::/32', 192.168.1.7]",
    );
    assert_eq!(
        answer(&h, &ip("10.1.2.3")),
        (code::PERMISSION_DENIED, "10.1.2.3 is blacklisted".into())
    );
    assert_eq!(
        answer(&h, &ip("::ffff:10.0.0.1")).0,
        code::PERMISSION_DENIED
    );
    assert_eq!(answer(&h, &ip("2001:db8:1::5")).0, code::PERMISSION_DENIED);
    assert_eq!(answer(&h, &ip("192.168.1.7")).0, code::PERMISSION_DENIED);
    assert_eq!(answer(&h, &ip("192.168.1.8")).0, code::OK);
    assert_eq!(answer(&h, &ip("11.0.0.1")).0, code::OK);
    assert_eq!(answer(&h, &string("10.9.9.9")).0, code::PERMISSION_DENIED);
    assert_eq!(
        answer(&h, &string("nope")),
        (
            code::INVALID_ARGUMENT,
            "nope is not a valid IP address".into()
        )
    );
}

#[test]
fn ip_values_against_string_lists_use_the_dotted_form() {
    let h = handler("overrides: [10.0.0.1]");
    assert_eq!(answer(&h, &ip("10.0.0.1")).0, code::OK);
    let raw = Instance {
        name: "v",
        value: Some(EvalValue::Bytes(Cow::Owned(vec![10, 0, 0, 1]))),
        dimensions: Vec::new(),
        fields: Vec::new(),
    };
    assert_eq!(answer(&h, &raw).0, code::OK);
}

#[test]
fn regexes_are_unanchored_unless_anchored() {
    let h = handler("entryType: REGEX\noverrides: ['^v[12]$', beta]");
    assert_eq!(answer(&h, &string("v2")).0, code::OK);
    assert_eq!(answer(&h, &string("v22")).0, code::PERMISSION_DENIED);
    assert_eq!(answer(&h, &string("v3-beta.1")).0, code::OK);
}

#[test]
fn values_that_are_neither_strings_nor_ips_are_invalid() {
    let h = handler("overrides: [a]");
    let i = Instance {
        name: "v",
        value: Some(EvalValue::Int64(3)),
        dimensions: Vec::new(),
        fields: Vec::new(),
    };
    assert_eq!(answer(&h, &i).0, code::INVALID_ARGUMENT);
    let none = Instance {
        name: "v.instance.ns",
        value: None,
        dimensions: Vec::new(),
        fields: Vec::new(),
    };
    assert_eq!(
        answer(&h, &none),
        (
            code::INVALID_ARGUMENT,
            "instance v.instance.ns has no value".into()
        )
    );
}

#[test]
fn provider_list_overrides_and_ttl() {
    let h = handler(
        "providerUrl: file:///nonexistent\nrefreshInterval: 10s\nttl: 30s\noverrides: [local]",
    );
    let t0 = Instant::now();
    // overrides answer before any fetch; anything else waits for the list
    assert_eq!(h.check(&string("local"), t0).status.code, code::OK);
    assert_eq!(
        h.check(&string("fetched"), t0).status.code,
        code::UNAVAILABLE
    );
    assert_eq!(
        h.install("# comment\n\nfetched\n  spaced  \n", t0)
            .expect("good list"),
        2
    );
    assert_eq!(h.check(&string("fetched"), t0).status.code, code::OK);
    assert_eq!(h.check(&string("spaced"), t0).status.code, code::OK);
    assert_eq!(
        h.check(&string("other"), t0).status.code,
        code::PERMISSION_DENIED
    );
    // still fresh at exactly ttl, gone after it
    assert_eq!(
        h.check(&string("fetched"), t0 + Duration::from_secs(30))
            .status
            .code,
        code::OK
    );
    let late = t0 + Duration::from_secs(31);
    assert_eq!(
        h.check(&string("fetched"), late).status.code,
        code::UNAVAILABLE
    );
    assert_eq!(h.check(&string("local"), late).status.code, code::OK);
}

#[test]
fn a_bad_list_is_rejected_and_the_last_good_one_kept() {
    let h = handler("provider_url: http://lists.example/ips\nentry_type: IP_ADDRESSES");
    let t0 = Instant::now();
    h.install("10.0.0.0/8\n", t0).expect("good list");
    let e = h
        .install("10.0.0.0/8\nnot-an-ip\n", t0 + Duration::from_secs(1))
        .expect_err("bad entry");
    assert!(e.to_string().contains("entry 2: \"not-an-ip\""), "{e}");
    assert_eq!(h.check(&ip("10.2.3.4"), t0).status.code, code::OK);
}

#[test]
fn list_text_and_cidr_parsing() {
    let got: Vec<(usize, &str)> = entries("a\n#b\n\n  c \r\n").collect();
    assert_eq!(got, [(1, "a"), (4, "c")]);
    assert!(Cidr::parse("10.0.0.0/33").is_err());
    assert!(Cidr::parse("10.0.0.0/x").is_err());
    assert!(Cidr::parse("::/129").is_err());
    let all4 = Cidr::parse("0.0.0.0/0").expect("valid");
    assert!(all4.contains("1.2.3.4".parse().expect("ip")));
    assert!(!all4.contains("2001:db8::1".parse().expect("ip")));
    let l = List::build(EntryType::Strings, entries("x\ny\n")).expect("strings");
    assert_eq!(l.len(), 2);
    assert_eq!(l.contains(Symbol::Str("y")), Ok(true));
}

#[test]
fn every_bad_param_is_named() {
    let p = Params::parse(&yaml(
        "providerUrl: https://lists.example/x\nrefreshInterval: 500ms\nttl: 100ms\ncachingUseCount: -1\ncachingInterval: -5s\nentryType: IP_ADDRESSES\noverrides: [10.0.0.1, '10.0.0.0/40', bogus]",
    ))
    .expect_err("problems");
    let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
    assert_eq!(
        fields,
        [
            "caching_interval",
            "provider_url",
            "refresh_interval",
            "ttl",
            "caching_use_count",
            "overrides[1]",
            "overrides[2]"
        ],
        "{p:#?}"
    );
    assert!(
        p[1].message.contains("https is not supported"),
        "{:?}",
        p[1]
    );
    assert_eq!(p[6].value.as_deref(), Some("\"bogus\""));

    let p = Params::parse(&yaml("entryType: WORDS")).expect_err("bad enum");
    assert_eq!(p[0].field, "entryType");
    assert!(
        p[0].message.contains("IP_ADDRESSES"),
        "lists the variants: {p:?}"
    );
    let p =
        Params::parse(&yaml("entryType: REGEX\noverrides: ['(unclosed']")).expect_err("bad regex");
    assert_eq!(p[0].field, "overrides[0]");
    let p = Params::parse(&yaml("provider: x")).expect_err("unknown field");
    assert_eq!(p[0].field, "provider");
    let p = Params::parse(&yaml("providerUrl: ftp://x")).expect_err("scheme");
    assert_eq!(p[0].field, "provider_url");
}

#[tokio::test]
async fn provider_fetch_from_a_file_and_over_http() {
    use crate::clock::Clock;
    use mixer_serving::http::{serve, Reply, Routes};
    use std::sync::Arc;

    let dir = std::env::temp_dir().join(format!("mixer-policy-list-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("versions.txt");
    std::fs::write(&file, "v1\nv2\n").expect("write list");
    let clock = crate::clock::ManualClock::new();
    let h = handler(&format!("providerUrl: file://{}", file.display()));
    assert_eq!(provider::refresh_once(&h, &clock).await, Ok(2));
    assert_eq!(h.check(&string("v2"), clock.now()).status.code, code::OK);
    // a failed fetch keeps the list
    std::fs::remove_file(&file).expect("remove");
    let e = provider::refresh_once(&h, &clock).await.expect_err("gone");
    assert!(e.contains("versions.txt"), "{e}");
    assert_eq!(h.check(&string("v2"), clock.now()).status.code, code::OK);
    let _ = std::fs::remove_dir_all(&dir);

    #[derive(Debug)]
    struct Lists;
    impl Routes for Lists {
        fn get(&self, path: &str) -> Option<Reply> {
            (path == "/blocked").then(|| Reply::text(hyper::StatusCode::OK, "10.0.0.0/8\n# x\n"))
        }
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(serve(listener, Arc::new(Lists), stop_rx));
    let h = handler(&format!(
        "providerUrl: http://{addr}/blocked\nentryType: IP_ADDRESSES\nblacklist: true"
    ));
    assert_eq!(provider::refresh_once(&h, &clock).await, Ok(1));
    assert_eq!(
        h.check(&ip("10.0.0.9"), clock.now()).status.code,
        code::PERMISSION_DENIED
    );
    let missing = handler(&format!("providerUrl: http://{addr}/nope"));
    let e = provider::refresh_once(&missing, &clock)
        .await
        .expect_err("404");
    assert!(e.contains("404"), "{e}");
    let _ = stop_tx.send(true);
    let _ = server.await;
}
