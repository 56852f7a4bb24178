//! Istio's well-known policy tasks, through the real gRPC API of an in-process policy
//! service: each checks the status code, message, valid duration and use count, and the
//! referenced attributes a proxy would cache the decision by.

mod common;

use common::*;
use mixer_attributes::decode::QuotaParams;
use mixer_attributes::OwnedValue;
use std::time::Duration;

const SECS: fn(u64) -> Duration = Duration::from_secs;

/// istio/istio 1.4 `samples/bookinfo/policy/mixer-rule-deny-label.yaml`, with a cache
/// lifetime set on the handler.
const DENY_LABEL: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata:
  name: denyreviewsv3handler
  namespace: istio-system
spec:
  compiledAdapter: denier
  params:
    status:
      code: 7
      message: Not allowed
    validDuration: 30s
    validUseCount: 100
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata:
  name: denyreviewsv3request
  namespace: istio-system
spec:
  compiledTemplate: checknothing
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata:
  name: denyreviewsv3
  namespace: istio-system
spec:
  match: destination.labels["app"] == "ratings" && source.labels["app"]=="reviews" && source.labels["version"] == "v3"
  actions:
  - handler: denyreviewsv3handler
    instances: [ denyreviewsv3request ]
"#;

#[tokio::test]
async fn deny_by_destination_label() {
    let dir = temp_dir("deny-label");
    write(&dir, "deny.yaml", DENY_LABEL);
    let srv = start(Some(dir.clone()), SECS(60)).await;

    let r = srv
        .check(&request(("reviews", "v3"), ("ratings", "v1")))
        .await;
    assert_eq!(
        verdict(&r),
        (
            7,
            "denyreviewsv3handler.handler.istio-system:Not allowed".into(),
            SECS(30),
            100
        )
    );
    assert_eq!(
        referenced(&r),
        [
            "context.reporter.kind EXACT",
            "destination.labels[app] EXACT",
            "destination.namespace EXACT",
            "source.labels[app] EXACT",
            "source.labels[version] EXACT",
        ]
    );

    // reviews v2 → ratings: allowed, Mixer's defaults, and it read the version to decide
    let r = srv
        .check(&request(("reviews", "v2"), ("ratings", "v1")))
        .await;
    assert_eq!(verdict(&r), (0, String::new(), SECS(60), 10000));
    assert!(referenced(&r).contains(&"source.labels[version] EXACT".to_owned()));

    // productpage → details: the match stops at the destination label
    let r = srv
        .check(&request(("productpage", "v1"), ("details", "v1")))
        .await;
    assert_eq!(verdict(&r).0, 0);
    assert_eq!(
        referenced(&r),
        [
            "context.reporter.kind EXACT",
            "destination.labels[app] EXACT",
            "destination.namespace EXACT",
        ]
    );
    srv.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

/// istio.io "Denials and White/Black Listing": a whitelist of reviews versions allowed to
/// call ratings (`samples/bookinfo/policy/mixer-rule-deny-whitelist.yaml`, 1.4 style).
const WHITELIST: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: whitelist, namespace: istio-system}
spec:
  compiledAdapter: listchecker
  params:
    overrides: ["v1", "v2"]
    blacklist: false
    cachingInterval: 20s
    cachingUseCount: 200
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: appversion, namespace: istio-system}
spec:
  compiledTemplate: listentry
  params:
    value: source.labels["version"]
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: checkversion, namespace: istio-system}
spec:
  match: destination.labels["app"] == "ratings"
  actions:
  - handler: whitelist
    instances: [ appversion ]
"#;

#[tokio::test]
async fn allow_only_listed_source_versions() {
    let dir = temp_dir("whitelist");
    write(&dir, "whitelist.yaml", WHITELIST);
    let srv = start(Some(dir.clone()), SECS(60)).await;

    let r = srv
        .check(&request(("reviews", "v3"), ("ratings", "v1")))
        .await;
    assert_eq!(
        verdict(&r),
        (
            7,
            "whitelist.handler.istio-system:v3 is not whitelisted".into(),
            SECS(20),
            200
        )
    );
    let expected = [
        "context.reporter.kind EXACT",
        "destination.labels[app] EXACT",
        "destination.namespace EXACT",
        "source.labels[version] EXACT",
    ];
    assert_eq!(referenced(&r), expected);

    let r = srv
        .check(&request(("reviews", "v2"), ("ratings", "v1")))
        .await;
    assert_eq!(verdict(&r), (0, String::new(), SECS(20), 200));
    assert_eq!(referenced(&r), expected);

    // not ratings: no adapter ran
    let r = srv
        .check(&request(("reviews", "v3"), ("details", "v1")))
        .await;
    assert_eq!(verdict(&r), (0, String::new(), SECS(60), 10000));

    // a source without the version label: as in Mixer, a missing key reads as ""
    let mut bag = request(("reviews", "v3"), ("ratings", "v1"));
    bag.set("source.labels", labels(&[("app", "reviews")]));
    let r = srv.check(&bag).await;
    assert_eq!(
        verdict(&r).1,
        "whitelist.handler.istio-system: is not whitelisted"
    );
    assert!(referenced(&r).contains(&"source.labels[version] ABSENCE".to_owned()));

    // no source labels at all: the instance cannot be built → INTERNAL
    bag.remove("source.labels");
    let e = srv
        .check_bytes(mixer_attributes::encode::encode_check_request(
            bag.iter(),
            222,
            "",
            &[],
        ))
        .await
        .expect_err("missing label");
    assert_eq!(e.code(), tonic::Code::Internal);
    assert!(
        e.message().contains("appversion.instance.istio-system"),
        "{}",
        e.message()
    );
    srv.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn deny_ip_ranges_from_overrides_and_a_provider_file() {
    let dir = temp_dir("ip-blacklist");
    let lists = temp_dir("ip-blacklist-lists");
    std::fs::write(
        lists.join("blocked.txt"),
        "# ranges published by the security team\n203.0.113.0/24\n2001:db8:bad::/48\n",
    )
    .expect("list");
    write(
        &dir,
        "ip.yaml",
        &format!(
            r#"
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {{name: blockedips, namespace: istio-system}}
spec:
  compiledAdapter: listchecker
  params:
    providerUrl: file://{}
    refreshInterval: 60s
    ttl: 600s
    overrides: ["10.57.0.0/16", "192.168.7.7"]
    entryType: IP_ADDRESSES
    blacklist: true
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {{name: sourceip, namespace: istio-system}}
spec:
  compiledTemplate: listentry
  params:
    value: source.ip | ip("0.0.0.0")
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {{name: checkip, namespace: istio-system}}
spec:
  actions:
  - handler: blockedips
    instances: [sourceip]
"#,
            lists.join("blocked.txt").display()
        ),
    );
    let srv = start(Some(dir.clone()), SECS(60)).await;
    let from = |ip: &str| {
        let mut bag = request(("client", "v1"), ("ratings", "v1"));
        bag.set("source.ip", OwnedValue::ip(ip.parse().expect("ip")));
        bag
    };
    let expected_refs = [
        "context.reporter.kind EXACT",
        "destination.namespace EXACT",
        "source.ip EXACT",
    ];
    for (ip, denied) in [
        ("10.57.3.4", true),
        ("192.168.7.7", true),
        ("203.0.113.200", true),
        ("2001:db8:bad::1", true),
        ("10.58.0.1", false),
        ("192.168.7.8", false),
        ("2001:db8:900d::1", false),
    ] {
        let r = srv.check(&from(ip)).await;
        let want = if denied {
            (
                7,
                format!("blockedips.handler.istio-system:{ip} is blacklisted"),
                SECS(300),
                10000,
            )
        } else {
            (0, String::new(), SECS(300), 10000)
        };
        assert_eq!(verdict(&r), want, "{ip}");
        assert_eq!(referenced(&r), expected_refs, "{ip}");
    }
    // no source.ip at all: the fallback 0.0.0.0 is allowed, and the answer depends on the absence
    let r = srv
        .check(&request(("client", "v1"), ("ratings", "v1")))
        .await;
    assert_eq!(verdict(&r).0, 0);
    assert!(referenced(&r).contains(&"source.ip ABSENCE".to_owned()));
    srv.stop().await;
    let _ = std::fs::remove_dir_all(dir);
    let _ = std::fs::remove_dir_all(lists);
}

/// istio.io "Enabling Rate Limits" with memquota: ratings limited to 2 requests per second
/// (and to 1 from reviews v3), everything else to 5.
const RATE_LIMIT: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: quotahandler, namespace: istio-system}
spec:
  compiledAdapter: memquota
  params:
    quotas:
    - name: requestcountquota.instance.istio-system
      maxAmount: 5
      validDuration: 1s
      overrides:
      - dimensions: {destination: ratings, source: reviews, sourceVersion: v3}
        maxAmount: 1
      - dimensions: {destination: ratings}
        maxAmount: 2
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: requestcountquota, namespace: istio-system}
spec:
  compiledTemplate: quota
  params:
    dimensions:
      source: source.labels["app"] | source.workload.name | "unknown"
      sourceVersion: source.labels["version"] | "unknown"
      destination: destination.labels["app"] | destination.service.name | "unknown"
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: quota, namespace: istio-system}
spec:
  actions:
  - handler: quotahandler
    instances: [requestcountquota]
"#;

#[tokio::test]
async fn rate_limit_a_destination_with_a_per_dimension_override() {
    let dir = temp_dir("rate-limit");
    write(&dir, "quota.yaml", RATE_LIMIT);
    let srv = start(Some(dir.clone()), SECS(60)).await;
    let one = [QuotaParams {
        name: "requestcountquota",
        amount: 1,
        best_effort: false,
    }];
    let mut n = 0;
    let mut next_id = || {
        n += 1;
        format!("proxy-a-{n}")
    };
    let granted = |r: &mixer_proto::mixer::CheckResponse| {
        let q = &r.quotas["requestcountquota"];
        assert_eq!(q.status.as_ref().map(|s| s.code), Some(0));
        (q.granted_amount, q.valid_duration.map(|d| d.seconds))
    };

    let to_ratings = request(("productpage", "v1"), ("ratings", "v1"));
    let mut got = Vec::new();
    for _ in 0..3 {
        let r = srv.check_quotas(&to_ratings, &next_id(), &one).await;
        assert_eq!(
            verdict(&r),
            (0, String::new(), SECS(60), 10000),
            "no check rule: allowed"
        );
        got.push(granted(&r));
    }
    assert_eq!(got, [(1, Some(1)), (1, Some(1)), (0, Some(1))]);

    // the quota's referenced attributes: what its dimensions read
    let r = srv.check_quotas(&to_ratings, &next_id(), &one).await;
    let q = &r.quotas["requestcountquota"];
    assert_eq!(
        decode_refs(q.referenced_attributes.as_ref().expect("quota refs")),
        [
            "context.reporter.kind EXACT",
            "destination.labels[app] EXACT",
            "destination.namespace EXACT",
            "source.labels[app] EXACT",
            "source.labels[version] EXACT",
        ]
    );

    // a retry of a granted call (same dedup id) gets its grant again without using quota
    srv.clock.advance(SECS(1));
    let r = srv.check_quotas(&to_ratings, "retried-call", &one).await;
    assert_eq!(granted(&r).0, 1);
    let r = srv.check_quotas(&to_ratings, "retried-call", &one).await;
    assert_eq!(granted(&r).0, 1, "deduplicated");
    let r = srv.check_quotas(&to_ratings, &next_id(), &one).await;
    assert_eq!(granted(&r).0, 1, "the retry did not count: 2 per second");
    let r = srv.check_quotas(&to_ratings, &next_id(), &one).await;
    assert_eq!(granted(&r).0, 0);

    // reviews v3 has its own, smaller override; its count is separate
    let v3 = request(("reviews", "v3"), ("ratings", "v1"));
    assert_eq!(granted(&srv.check_quotas(&v3, &next_id(), &one).await).0, 1);
    assert_eq!(granted(&srv.check_quotas(&v3, &next_id(), &one).await).0, 0);

    // other destinations get the default 5; best effort takes what is left
    let details = request(("productpage", "v1"), ("details", "v1"));
    let three = [QuotaParams {
        name: "requestcountquota",
        amount: 3,
        best_effort: false,
    }];
    let three_best = [QuotaParams {
        name: "requestcountquota",
        amount: 3,
        best_effort: true,
    }];
    assert_eq!(
        granted(&srv.check_quotas(&details, &next_id(), &three).await).0,
        3
    );
    assert_eq!(
        granted(&srv.check_quotas(&details, &next_id(), &three).await).0,
        0
    );
    assert_eq!(
        granted(&srv.check_quotas(&details, &next_id(), &three_best).await).0,
        2
    );

    // a quota no rule handles is granted in full for a minute
    let other = [QuotaParams {
        name: "unconfigured",
        amount: 7,
        best_effort: false,
    }];
    let r = srv.check_quotas(&details, &next_id(), &other).await;
    assert_eq!(r.quotas["unconfigured"].granted_amount, 7);
    assert_eq!(
        r.quotas["unconfigured"].valid_duration.map(|d| d.seconds),
        Some(60)
    );

    // one window later ratings has room again
    srv.clock.advance(SECS(1));
    assert_eq!(
        granted(&srv.check_quotas(&to_ratings, &next_id(), &one).await).0,
        1
    );

    let (_, metrics) = get(srv.bound.monitoring, "/metrics").await;
    assert!(
        sample(
            &metrics,
            "mixer_policy_quota_allocations_total",
            &["result=\"exhausted\""]
        ) >= Some(4.0)
    );
    assert!(
        sample(
            &metrics,
            "mixer_policy_quota_allocations_total",
            &["result=\"partial\""]
        ) == Some(1.0)
    );
    srv.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}
