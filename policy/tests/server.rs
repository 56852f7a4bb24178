//! The policy service's operational surface: health, self-metrics, the default config, hot
//! reload (a bad config is rejected whole and the running one kept) and errors over gRPC.

mod common;

use common::*;
use std::time::Duration;

const DENY_ALL: &str = r#"
apiVersion: config.istio.io/v1alpha2
kind: handler
metadata: {name: denyall, namespace: istio-system}
spec:
  compiledAdapter: denier
  params: {status: {code: PERMISSION_DENIED, message: closed}}
---
apiVersion: config.istio.io/v1alpha2
kind: instance
metadata: {name: everything, namespace: istio-system}
spec: {compiledTemplate: checknothing}
---
apiVersion: config.istio.io/v1alpha2
kind: rule
metadata: {name: denyeverything, namespace: istio-system}
spec:
  actions: [{handler: denyall, instances: [everything]}]
"#;

/// Waits (bounded) until the service has seen `n` reload attempts; not a timing assertion:
/// the reloader polls every 20 ms and the bound is generous.
async fn reloads(srv: &Running, n: u64) {
    let m = &srv.service.metrics;
    for _ in 0..1000 {
        if m.config_reloads_ok.get() + m.config_reloads_failed.get() >= n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("no config reload seen");
}

#[tokio::test]
async fn default_config_allows_and_monitoring_answers() {
    let srv = start(None, Duration::from_secs(60)).await;
    let r = srv.check(&request(("a", "v1"), ("b", "v1"))).await;
    assert_eq!(
        verdict(&r),
        (0, String::new(), Duration::from_secs(60), 10000)
    );
    // the same bag again: answered from the decision cache, the same answer
    assert_eq!(srv.check(&request(("a", "v1"), ("b", "v1"))).await, r);

    let e = srv
        .check_bytes(vec![0x0a, 0xff])
        .await
        .expect_err("malformed");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(e
        .message()
        .starts_with("Request could not be processed due to invalid attributes"));

    assert_eq!(
        get(srv.bound.monitoring, "/healthz").await,
        (200, "ok\n".into())
    );
    assert_eq!(get(srv.bound.monitoring, "/readyz").await.0, 200);
    assert_eq!(get(srv.bound.monitoring, "/nope").await.0, 404);
    let (code, m) = get(srv.bound.monitoring, "/metrics").await;
    assert_eq!(code, 200);
    assert_eq!(
        sample(&m, "mixer_policy_checks_total", &["result=\"ok\""]),
        Some(2.0)
    );
    assert_eq!(
        sample(&m, "mixer_policy_check_cache_hits_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "mixer_policy_check_cache_misses_total", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "mixer_policy_check_cache_entries", &[]),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "mixer_policy_checks_total", &["result=\"error\""]),
        Some(1.0)
    );
    assert_eq!(
        sample(&m, "mixer_policy_checks_total", &["result=\"denied\""]),
        Some(0.0)
    );
    assert_eq!(sample(&m, "mixer_policy_config_generation", &[]), Some(1.0));
    assert_eq!(
        sample(&m, "mixer_policy_check_duration_seconds_count", &[]),
        Some(3.0)
    );
    srv.stop().await;
}

#[tokio::test]
async fn hot_reload_swaps_good_configs_and_keeps_the_running_one_on_a_bad_one() {
    let dir = temp_dir("reload");
    write(&dir, "a-deny.yaml", DENY_ALL);
    let srv = start(Some(dir.clone()), Duration::from_millis(20)).await;
    let bag = request(("a", "v1"), ("b", "v1"));
    let r = srv.check(&bag).await;
    assert_eq!(verdict(&r).1, "denyall.handler.istio-system:closed");
    assert_eq!(verdict(&r).0, 7);

    // a broken change: bad params and an unknown field; the deny config stays in service
    write(
        &dir,
        "b-broken.yaml",
        "apiVersion: config.istio.io/v1alpha2\nkind: handler\nmetadata: {name: h2, namespace: istio-system}\nspec: {compiledAdapter: memquota, params: {quotas: [{name: nope, maxAmount: -1}]}}\n",
    );
    reloads(&srv, 1).await;
    assert_eq!(srv.service.metrics.config_reloads_failed.get(), 1);
    assert_eq!(srv.service.engine().generation, 1);
    assert_eq!(verdict(&srv.check(&bag).await).0, 7, "still the old config");

    // fixed: the broken file removed and the deny rule replaced by an empty config
    std::fs::remove_file(dir.join("b-broken.yaml")).expect("remove");
    std::fs::remove_file(dir.join("a-deny.yaml")).expect("remove");
    write(&dir, "c-empty.yaml", "# nothing\n");
    reloads(&srv, 2).await;
    assert_eq!(srv.service.metrics.config_reloads_ok.get(), 1);
    assert_eq!(srv.service.engine().generation, 2);
    assert_eq!(verdict(&srv.check(&bag).await).0, 0);
    let (_, m) = get(srv.bound.monitoring, "/metrics").await;
    assert_eq!(
        sample(
            &m,
            "mixer_policy_config_reloads_total",
            &["result=\"error\""]
        ),
        Some(1.0)
    );
    assert_eq!(sample(&m, "mixer_policy_config_generation", &[]), Some(2.0));
    srv.stop().await;
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_bad_config_at_start_names_every_problem() {
    let dir = temp_dir("bad-start");
    write(
        &dir,
        "bad.yaml",
        "apiVersion: config.istio.io/v1alpha2\nkind: handler\nmetadata: {name: h, namespace: istio-system}\nspec: {compiledAdapter: listchecker, params: {entryType: IP_ADDRESSES, overrides: [x], cachingUseCount: -1}}\n",
    );
    let opts = mixer_policy::server::Options {
        grpc_addr: "127.0.0.1:0".parse().expect("addr"),
        monitoring_addr: "127.0.0.1:0".parse().expect("addr"),
        config_dir: Some(dir.clone()),
        reload_interval: Duration::from_secs(60),
        max_message_size: 1 << 20,
        max_concurrent_streams: 16,
        max_in_flight: 4,
        check_cache_entries: 100,
        clock: std::sync::Arc::new(mixer_policy::clock::SystemClock),
    };
    let Err(e) = mixer_policy::server::start(opts, async {}).await else {
        panic!("a bad config must not start");
    };
    let msg = e.to_string();
    assert!(msg.contains("2 config problems"), "{msg}");
    assert!(msg.contains("bad.yaml: document 1"), "{msg}");
    assert!(msg.contains("spec.params.caching_use_count"), "{msg}");
    assert!(msg.contains("spec.params.overrides[0]"), "{msg}");
    let _ = std::fs::remove_dir_all(dir);
}
