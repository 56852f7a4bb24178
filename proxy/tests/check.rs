//! Policy checks through the proxy, in one process with the real policy service (denier
//! rules) and the real telemetry service: denials answered by the proxy with Istio's status
//! and body and still reported, allowed requests forwarded, the check cache's hits, misses
//! and use-count expiry counted on the policy service's side, fail-open and fail-closed when
//! the policy service is down, and route directives (from a scripted Mixer, see
//! `policy_support`).

mod common;
mod policy_support;

use common::{closed_port, options, send, App, Proxy, Telemetry};
use mixer_attributes::OwnedValue;
use mixer_policy::self_metrics::CheckOutcome;
use mixer_proxy::metrics::CheckResult;
use policy_support::{serve, Policy, ScriptedMixer};
use std::sync::atomic::Ordering::SeqCst;
use std::sync::Arc;

/// Three denier handlers, each for a path prefix; the first one's answer may be used twice.
const DENY: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: denyall, namespace: istio-system}
spec:
  compiledAdapter: denier
  params: {status: {code: 7, message: Not allowed}, validDuration: 60s, validUseCount: 2}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: overquota, namespace: istio-system}
spec: {compiledAdapter: denier, params: {status: {code: 8, message: slow down}}}
---
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: whoareyou, namespace: istio-system}
spec: {compiledAdapter: denier, params: {status: {code: 16, message: log in}}}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: denyrequest, namespace: istio-system}
spec: {compiledTemplate: checknothing}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: deny, namespace: istio-system}
spec:
  match: request.path.startsWith("/deny")
  actions: [{handler: denyall, instances: [denyrequest]}]
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: quota, namespace: istio-system}
spec:
  match: request.path.startsWith("/quota")
  actions: [{handler: overquota, instances: [denyrequest]}]
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: login, namespace: istio-system}
spec:
  match: request.path.startsWith("/login")
  actions: [{handler: whoareyou, instances: [denyrequest]}]
"#;

fn get(path: &str) -> String {
    format!("GET {path} HTTP/1.1\r\nHost: ratings:9080\r\nConnection: close")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denials_are_answered_by_the_proxy_and_still_reported() {
    let app = App::start().await;
    let telemetry = Telemetry::start().await;
    let policy = Policy::start("deny", DENY).await;
    let mut opts = options(app.addr, Some(telemetry.grpc), "ratings-v1");
    opts.check.policy = Some(policy.uri());
    let proxy = Proxy::start(opts).await;

    let denied = send(proxy.bound.inbound, &get("/deny/me")).await;
    assert_eq!(denied.status, 403, "{denied:?}");
    assert_eq!(
        denied.body,
        "PERMISSION_DENIED:denyall.handler.istio-system:Not allowed"
    );
    assert_eq!(denied.header("content-type"), Some("text/plain"));
    for (path, status, body) in [
        (
            "/quota",
            429,
            "RESOURCE_EXHAUSTED:overquota.handler.istio-system:slow down",
        ),
        (
            "/login",
            401,
            "UNAUTHENTICATED:whoareyou.handler.istio-system:log in",
        ),
    ] {
        let a = send(proxy.bound.inbound, &get(path)).await;
        assert_eq!((a.status, a.body.as_str()), (status, body));
    }
    assert_eq!(app.count(), 0, "no denied request reached the app");

    let allowed = send(proxy.bound.inbound, &get("/ratings/1")).await;
    assert_eq!((allowed.status, allowed.body.as_str()), (200, "ok"));
    assert_eq!(app.count(), 1);

    let m = &proxy.metrics;
    assert_eq!(m.checks(CheckResult::Denied), 3);
    assert_eq!(m.checks(CheckResult::Ok), 1);
    let reported = telemetry
        .requests_total(
            &[
                r#"reporter="destination""#,
                r#"response_code="403""#,
                r#"response_flags="UAEX""#,
            ],
            1.0,
        )
        .await;
    assert_eq!(reported, Some(1.0), "the denial was reported");
    let ok = telemetry
        .requests_total(&[r#"response_code="200""#, r#"response_flags="-""#], 1.0)
        .await;
    assert_eq!(ok, Some(1.0));
    proxy.stop().await;
    policy.stop().await;
    telemetry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cache_answers_repeats_misses_on_referenced_changes_and_honours_use_counts() {
    let app = App::start().await;
    let policy = Policy::start("cache", DENY).await;
    let mut opts = options(app.addr, None, "ratings-v1");
    opts.check.policy = Some(policy.uri());
    let proxy = Proxy::start(opts).await;
    let served = |outcome| policy.service.metrics.checks(outcome);

    // Allowed: the second identical request never reaches the policy service, although its
    // x-request-id, trace ids and time differ (the rules do not read them).
    for _ in 0..2 {
        let a = send(proxy.bound.inbound, &get("/ratings/1")).await;
        assert_eq!(a.status, 200);
    }
    assert_eq!(served(CheckOutcome::Ok), 1, "one Check for two requests");
    assert_eq!(app.count(), 2);
    // A different request.path, which every rule reads: a miss.
    assert_eq!(
        send(proxy.bound.inbound, &get("/ratings/2")).await.status,
        200
    );
    assert_eq!(served(CheckOutcome::Ok), 2);

    // The denial may be used twice after it is fetched: 1 call, 2 hits, then a new call.
    for _ in 0..4 {
        let a = send(proxy.bound.inbound, &get("/deny/x")).await;
        assert_eq!(a.status, 403);
    }
    assert_eq!(
        served(CheckOutcome::Denied),
        2,
        "fetched, used twice, fetched again"
    );

    let m = &proxy.metrics;
    assert_eq!(
        (m.check_cache_hits.get(), m.check_cache_misses.get()),
        (3, 4)
    );
    assert_eq!(m.check_duration.count(), 4, "one timing per remote call");
    let (_, _, text) = common::get(proxy.bound.admin, "/metrics").await;
    assert!(
        text.contains("mixer_proxy_check_cache_hits_total 3"),
        "{text}"
    );
    assert!(text.contains(r#"mixer_proxy_checks_total{result="denied"} 4"#));
    proxy.stop().await;
    policy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_policy_service_fails_open_by_default_and_closed_when_asked() {
    let app = App::start().await;
    let nowhere = closed_port().await;

    let mut opts = options(app.addr, None, "ratings-v1");
    opts.check.policy = Some(format!("http://{nowhere}"));
    let open = Proxy::start(opts.clone()).await;
    let a = send(open.bound.inbound, &get("/ratings/1")).await;
    assert_eq!((a.status, a.body.as_str()), (200, "ok"));
    assert_eq!(app.count(), 1, "forwarded");
    assert_eq!(open.metrics.checks(CheckResult::FailedOpen), 1);
    open.stop().await;

    opts.check.fail_closed = true;
    let closed = Proxy::start(opts).await;
    let a = send(closed.bound.inbound, &get("/ratings/1")).await;
    assert_eq!(a.status, 503, "{a:?}");
    assert_eq!(
        a.body,
        "UNAVAILABLE:upstream connect error or disconnect/reset before headers"
    );
    assert_eq!(app.count(), 1, "not forwarded");
    assert_eq!(closed.metrics.checks(CheckResult::Error), 1);
    closed.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_directives_edit_headers_or_answer_directly_and_the_bag_says_how_it_was_checked() {
    let app = App::start().await;
    let mixer = Arc::new(ScriptedMixer::default());
    let (addr, _stop) = serve(mixer.clone()).await;
    let mut opts = options(app.addr, Some(addr), "ratings-v1");
    opts.check.policy = Some(format!("http://{addr}"));
    let proxy = Proxy::start(opts).await;

    let head = "GET /ratings/1 HTTP/1.1\r\nHost: ratings:9080\r\nx-user: mallory\r\n\
                x-drop-me: 1\r\nConnection: close";
    for _ in 0..2 {
        let a = send(proxy.bound.inbound, head).await;
        assert_eq!(a.status, 200);
        assert_eq!(a.header("x-policy"), Some("checked"), "response edited");
        assert_eq!(a.header("x-app"), Some("yes"));
        let (_, seen) = app.last();
        assert_eq!(
            seen.get("x-user").map(|v| v.as_bytes()),
            Some(&b"alice"[..])
        );
        assert!(seen.get("x-drop-me").is_none());
    }
    assert_eq!(
        mixer.checks.load(SeqCst),
        1,
        "the directive came from the cache too"
    );

    let direct = send(proxy.bound.inbound, &get("/direct")).await;
    assert_eq!(direct.status, 302);
    assert_eq!(direct.body, "see /elsewhere");
    assert_eq!(direct.header("location"), Some("/elsewhere"));
    assert_eq!(app.count(), 2, "a direct response is not forwarded");

    let empty = send(proxy.bound.inbound, &get("/direct-empty")).await;
    assert_eq!((empty.status, empty.body.as_str()), (204, ""));

    let bags = mixer.bags(4).await;
    assert_eq!(bags.len(), 4);
    let get = |i: usize, n: &str| bags[i].get_by_name(n).cloned();
    assert_eq!(get(0, "check.cache_hit"), Some(OwnedValue::Bool(false)));
    assert_eq!(get(1, "check.cache_hit"), Some(OwnedValue::Bool(true)));
    assert_eq!(get(2, "response.code"), Some(OwnedValue::Int64(302)));
    assert_eq!(get(0, "check.error_code"), None, "allowed");
    assert_eq!(get(0, "quota.cache_hit"), None, "no quota asked for");
    let flags = |i: usize| get(i, "context.proxy_error_code");
    assert_eq!(flags(2), Some(OwnedValue::String("-".into())));
    assert_eq!(
        flags(3),
        Some(OwnedValue::String("-".into())),
        "empty, not DC"
    );
    assert_eq!(get(3, "response.code"), Some(OwnedValue::Int64(204)));
    // the total sizes add the headers (as Envoy counts them) to the bodies
    let int = |i: usize, n: &str| match get(i, n) {
        Some(OwnedValue::Int64(v)) => v,
        other => panic!("{n}: {other:?}"),
    };
    assert_eq!(int(2, "response.size"), "see /elsewhere".len() as i64);
    assert!(
        int(2, "response.total_size") > int(2, "response.size") + "location/elsewhere".len() as i64
    );
    // at least :method GET, :path /direct and :authority
    assert!(int(2, "request.total_size") >= int(2, "request.size") + (7 + 3 + 5 + 7 + 10) as i64);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_denial_carries_its_error_into_the_report() {
    let app = App::start().await;
    let policy = Policy::start("report", DENY).await;
    let mixer = Arc::new(ScriptedMixer::default());
    let (telemetry, _stop) = serve(mixer.clone()).await;
    let mut opts = options(app.addr, Some(telemetry), "ratings-v1");
    opts.check.policy = Some(policy.uri());
    let proxy = Proxy::start(opts).await;

    assert_eq!(send(proxy.bound.inbound, &get("/deny/1")).await.status, 403);
    let bags = mixer.bags(1).await;
    let get = |n: &str| bags[0].get_by_name(n).cloned();
    assert_eq!(get("response.code"), Some(OwnedValue::Int64(403)));
    assert_eq!(get("check.error_code"), Some(OwnedValue::Int64(7)));
    assert_eq!(
        get("check.error_message"),
        Some(OwnedValue::String(
            "PERMISSION_DENIED:denyall.handler.istio-system:Not allowed".into()
        ))
    );
    assert_eq!(get("check.cache_hit"), Some(OwnedValue::Bool(false)));
    assert_eq!(
        get("context.proxy_error_code"),
        Some(OwnedValue::String("UAEX".into()))
    );
    proxy.stop().await;
    policy.stop().await;
}

/// istio.io "Enabling Rate Limits" through the sidecar: a memquota of 3 requests a window
/// for the destination, and the proxy asking for `requestcountquota` on every request. The
/// policy service's clock stands still, so the window never rolls: 3 is all it ever grants.
const RATE_LIMIT: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: quotahandler, namespace: istio-system}
spec:
  compiledAdapter: memquota
  params:
    quotas:
    - {name: requestcountquota.instance.istio-system, maxAmount: 3, validDuration: 60s}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: requestcountquota, namespace: istio-system}
spec:
  compiledTemplate: quota
  params:
    dimensions:
      destination: destination.labels["app"] | destination.service.name | "unknown"
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: quota, namespace: istio-system}
spec:
  actions: [{handler: quotahandler, instances: [requestcountquota]}]
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quotas_the_sidecar_asks_for_rate_limit_the_destination() {
    let app = App::start().await;
    let policy = Policy::start("rate-limit", RATE_LIMIT).await;
    let mut opts = options(app.addr, None, "ratings-v1");
    opts.check.policy = Some(policy.uri());
    opts.check.quotas = vec![("requestcountquota".into(), 1)];
    // the quota cache off (Istio's disable_quota_cache): every request asks, exactly
    opts.check.quota_cache_entries = 0;
    let proxy = Proxy::start(opts).await;

    let mut answers = Vec::new();
    for i in 0..5 {
        let a = send(proxy.bound.inbound, &get(&format!("/ratings/{i}"))).await;
        answers.push((a.status, a.body));
    }
    let limited = (
        429,
        "RESOURCE_EXHAUSTED:Quota is exhausted for: requestcountquota".to_owned(),
    );
    let ok = (200, "ok".to_owned());
    assert_eq!(
        answers,
        [ok.clone(), ok.clone(), ok, limited.clone(), limited],
        "3 a window (the policy service's clock stands still)"
    );
    assert_eq!(app.count(), 3, "limited requests never reach the app");
    assert_eq!(proxy.metrics.checks(CheckResult::Denied), 2);
    assert_eq!(proxy.metrics.quota_cache_hits.get(), 0, "off");
    proxy.stop().await;
    policy.stop().await;
}

/// The same limit with the quota cache on (the default): requests whose precondition is
/// cached take their quota from tokens prefetched in the background, and the limit holds
/// within the prefetch's known overshoot.
///
/// What is asserted, and why it is honest: the service grants at most 3 in all (its clock
/// stands still). The first request misses the check cache and is granted 1 with its Check.
/// The next find no tokens and are let through on *advances* (10, the minimum prefetch,
/// then the usage so far whenever one is spent) while the best-effort asks are out, as
/// Istio's client does; each answer takes back what it did not grant, and a short grant
/// closes the entry. How much the advances let through depends on how fast the answers
/// come, so the first 20 requests are only checked to be answered 200 or 429 with Istio's
/// message. Once the answers are back the entry is closed and empty, every later ask is
/// granted 0 so it never reopens, and within the close-wait window nothing gets through and
/// nothing is asked; after it, one ask, refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_quota_cache_still_enforces_a_memquota_limit() {
    let app = App::start().await;
    let policy = Policy::start("rate-limit-cached", RATE_LIMIT).await;
    let mut opts = options(app.addr, None, "ratings-v1");
    opts.check.policy = Some(policy.uri());
    opts.check.quotas = vec![("requestcountquota".into(), 1)];
    let proxy = Proxy::start(opts).await;

    let limited = (
        429,
        "RESOURCE_EXHAUSTED:Quota is exhausted for: requestcountquota".to_owned(),
    );
    let mut allowed = 0;
    for i in 0..20 {
        let a = send(proxy.bound.inbound, &get(&format!("/ratings/{i}"))).await;
        match a.status {
            200 => allowed += 1,
            _ => assert_eq!((a.status, a.body), limited.clone(), "request {i}"),
        }
    }
    // the 3 granted, plus what the advances let through before the short grants came back
    // (one advance of 10 when the answers are quick; more when they are slow, as in Istio)
    assert!(allowed >= 3, "{allowed} allowed");
    assert_eq!(app.count(), allowed, "limited requests never reach the app");
    // the grants are back: the entry is closed and empty, and within the close-wait window
    // it asks nothing and lets nothing through
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let m = &proxy.metrics;
    let prefetches = m.quota_prefetches.get();
    assert!(prefetches >= 1);
    for i in 0..10 {
        let a = send(proxy.bound.inbound, &get(&format!("/ratings/closed/{i}"))).await;
        assert_eq!((a.status, a.body), limited.clone(), "closed: request {i}");
    }
    assert_eq!(app.count(), allowed);
    assert_eq!(m.quota_prefetches.get(), prefetches, "no ask in close-wait");
    assert_eq!(
        (m.quota_cache_misses.get(), m.quota_cache_hits.get()),
        (1, 29),
        "only the first request asked with its Check"
    );

    // past the close-wait window the entry asks again (and is refused: still 3 in all)
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let again = send(proxy.bound.inbound, &get("/ratings/again")).await;
    assert_eq!((again.status, again.body), limited);
    assert_eq!(m.quota_prefetches.get(), prefetches + 1, "asked again");
    assert_eq!(app.count(), allowed);
    proxy.stop().await;
    policy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_that_asked_for_quota_says_so_in_its_bag() {
    let app = App::start().await;
    let mixer = Arc::new(ScriptedMixer::default());
    let (addr, _stop) = serve(mixer.clone()).await;
    let mut opts = options(app.addr, Some(addr), "ratings-v1");
    opts.check.policy = Some(format!("http://{addr}"));
    opts.check.quotas = vec![("requestcountquota".into(), 1)];
    let proxy = Proxy::start(opts).await;
    for _ in 0..2 {
        // the scripted Mixer answers no quota: a missing result lets the request through
        let a = send(proxy.bound.inbound, &get("/ratings/1")).await;
        assert_eq!(a.status, 200);
    }
    let bags = mixer.bags(2).await;
    for (i, hit) in [(0, false), (1, true)] {
        assert_eq!(
            bags[i].get_by_name("check.cache_hit"),
            Some(&OwnedValue::Bool(hit))
        );
        assert_eq!(
            bags[i].get_by_name("quota.cache_hit"),
            Some(&OwnedValue::Bool(hit)),
            "a cached OK takes its quota from the quota cache"
        );
    }
    // the miss's Check, and the quota cache's first prefetch in the background
    assert_eq!(mixer.checks.load(SeqCst), 2);
    proxy.stop().await;
}
