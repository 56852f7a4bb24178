//! The Report service end to end in one process: real gRPC in, Prometheus text out.

mod common;

use common::*;
use std::time::Duration;
use tonic::Code;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_become_istio_metrics() {
    let srv = start(None, Duration::from_secs(60)).await;
    let bags: Vec<_> = (0..10)
        .map(|i| {
            http_bag(
                "productpage-v1",
                "reviews-v2",
                if i < 9 { 200 } else { 503 },
                7,
            )
        })
        .collect();
    report(srv.bound.grpc, batch(&bags))
        .await
        .expect("report accepted");

    let (status, text) = get(srv.bound.metrics, "/metrics").await;
    assert_eq!(status, 200);
    let ok = [
        "source_workload=\"productpage-v1\"",
        "destination_workload=\"reviews-v2\"",
        "response_code=\"200\"",
        "reporter=\"destination\"",
    ];
    assert_eq!(
        sample(&text, "istio_requests_total{", &ok),
        Some(9.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "istio_requests_total{", &["response_code=\"503\""]),
        Some(1.0)
    );
    // 7 ms lands in the (5, 10] bucket of the millisecond histogram
    assert_eq!(
        sample(
            &text,
            "istio_request_duration_milliseconds_bucket{",
            &["response_code=\"200\"", "le=\"5\""]
        ),
        Some(0.0)
    );
    assert_eq!(
        sample(
            &text,
            "istio_request_duration_milliseconds_bucket{",
            &["response_code=\"200\"", "le=\"10\""]
        ),
        Some(9.0)
    );
    assert_eq!(
        sample(
            &text,
            "istio_request_duration_milliseconds_sum{",
            &["response_code=\"200\""]
        ),
        Some(63.0)
    );
    assert_eq!(
        sample(
            &text,
            "istio_response_bytes_sum{",
            &["response_code=\"200\""]
        ),
        Some(1080.0)
    );
    assert!(text.contains("connection_security_policy=\"mutual_tls\""));

    let (status, own) = get(srv.bound.monitoring, "/metrics").await;
    assert_eq!(status, 200);
    assert_eq!(
        sample(
            &own,
            "mixer_telemetry_reports_total{",
            &["grpc_code=\"OK\""]
        ),
        Some(1.0)
    );
    assert_eq!(sample(&own, "mixer_telemetry_bags_total", &[]), Some(10.0));
    assert_eq!(
        sample(
            &own,
            "mixer_prometheus_series{",
            &["metric=\"istio_requests_total\""]
        ),
        Some(2.0)
    );
    assert_eq!(get(srv.bound.monitoring, "/healthz").await.0, 200);
    assert_eq!(get(srv.bound.monitoring, "/nope").await.0, 404);
    // the shutdown summary's figures: counters summed, histograms' observations counted
    let totals = srv.service.pipeline().totals();
    let total = |m: &str| totals.iter().find(|t| t.metric == m).map(|t| t.total);
    assert_eq!(total("istio_requests_total"), Some(10.0), "{totals:?}");
    assert_eq!(total("istio_request_duration_milliseconds"), Some(10.0));
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_reports_get_mixers_statuses_and_leave_no_partial_counts() {
    let srv = start(None, Duration::from_secs(60)).await;

    // garbage bytes
    let err = report(srv.bound.grpc, vec![0x0a, 0xff, 0xff])
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message()
            .starts_with("Request could not be processed due to invalid attributes: "),
        "{}",
        err.message()
    );

    // a caller whose dictionary is larger than ours
    let mut big = batch(&[http_bag("a", "b", 200, 1)]);
    big.extend_from_slice(&[0x18, 0xac, 0x02]); // global_word_count = 300 (last one wins)
    let err = report(srv.bound.grpc, big).await.unwrap_err();
    assert_eq!(err.code(), Code::Internal);
    assert_eq!(
        err.message(),
        "inconsistent global dictionary versions used: mixer knows 222 words, caller knows 300"
    );

    // a good bag followed by one with an undefined index: nothing may be counted
    let mut req = batch(&[http_bag("a", "b", 200, 1)]);
    // attributes[1] = CompressedAttributes { strings: { 999 => 0 } }
    req.extend_from_slice(&[0x0a, 0x07, 0x12, 0x05, 0x08, 0xce, 0x0f, 0x10, 0x00]);
    let err = report(srv.bound.grpc, req).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().contains("attribute index 999 is not defined"),
        "{}",
        err.message()
    );
    let (_, text) = get(srv.bound.metrics, "/metrics").await;
    assert!(
        !text.contains("istio_requests_total{"),
        "partial counts leaked:\n{text}"
    );

    let (_, own) = get(srv.bound.monitoring, "/metrics").await;
    assert_eq!(
        sample(
            &own,
            "mixer_telemetry_reports_total{",
            &["grpc_code=\"InvalidArgument\""]
        ),
        Some(2.0)
    );
    assert_eq!(
        sample(
            &own,
            "mixer_telemetry_reports_total{",
            &["grpc_code=\"Internal\""]
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(
            &own,
            "mixer_telemetry_errors_total{",
            &["reason=\"dictionary\""]
        ),
        Some(1.0)
    );
    srv.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_reload_keeps_the_running_config() {
    let dir = std::env::temp_dir().join(format!("mixer-reload-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let standard = mixer_telemetry::config_source::STANDARD_CONFIG;
    std::fs::write(dir.join("config.yaml"), standard).unwrap();
    let srv = start(Some(dir.clone()), Duration::from_millis(100)).await;
    let generation = |srv: &Running| srv.service.pipeline().generation;
    assert_eq!(generation(&srv), 1);

    std::fs::write(
        dir.join("config.yaml"),
        standard.replace(
            "source.workload.name | \"unknown\"",
            "source.workload.nme | \"unknown\"",
        ),
    )
    .unwrap();
    wait_for(|| srv.service.metrics.config_reloads_failed.get() == 1).await;
    assert_eq!(generation(&srv), 1, "the bad config must not be used");
    report(srv.bound.grpc, batch(&[http_bag("a", "b", 200, 1)]))
        .await
        .expect("still serving");

    std::fs::write(
        dir.join("config.yaml"),
        standard.replace("requests_total", "requests_seen_total"),
    )
    .unwrap();
    wait_for(|| generation(&srv) == 2).await;
    report(srv.bound.grpc, batch(&[http_bag("a", "b", 200, 1)]))
        .await
        .expect("serving the new config");
    let (_, text) = get(srv.bound.metrics, "/metrics").await;
    assert!(text.contains("istio_requests_seen_total{"), "{text}");
    srv.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_keeps_the_series_of_unchanged_metrics() {
    let dir = std::env::temp_dir().join(format!("mixer-inherit-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let standard = mixer_telemetry::config_source::STANDARD_CONFIG;
    std::fs::write(dir.join("config.yaml"), standard).unwrap();
    let srv = start(Some(dir.clone()), Duration::from_millis(100)).await;
    let generation = |srv: &Running| srv.service.pipeline().generation;
    let one = || batch(&[http_bag("a", "b", 200, 1)]);
    let ok = ["source_workload=\"a\"", "response_code=\"200\""];
    report(srv.bound.grpc, one()).await.expect("accepted");

    // another rule: the metrics are unchanged, their series go on counting
    let extra = "---\napiVersion: config.istio.io/v1alpha2\nkind: rule\n\
                 metadata: {name: never, namespace: istio-system}\n\
                 spec:\n  match: context.protocol == \"never\"\n  actions:\n\
                 \x20 - {handler: prometheus, instances: [requestcount]}\n";
    std::fs::write(dir.join("config.yaml"), format!("{standard}{extra}")).unwrap();
    wait_for(|| generation(&srv) == 2).await;
    report(srv.bound.grpc, one()).await.expect("accepted");
    let (_, text) = get(srv.bound.metrics, "/metrics").await;
    assert_eq!(
        sample(&text, "istio_requests_total{", &ok),
        Some(2.0),
        "{text}"
    );

    // a renamed metric is a new metric: it starts from zero, the old name is gone
    std::fs::write(
        dir.join("config.yaml"),
        standard.replace("requests_total", "requests_seen_total"),
    )
    .unwrap();
    wait_for(|| generation(&srv) == 3).await;
    report(srv.bound.grpc, one()).await.expect("accepted");
    let (_, text) = get(srv.bound.metrics, "/metrics").await;
    assert_eq!(
        sample(&text, "istio_requests_seen_total{", &ok),
        Some(1.0),
        "{text}"
    );
    assert!(!text.contains("istio_requests_total{"), "{text}");
    srv.stop().await;
    let _ = std::fs::remove_dir_all(&dir);
}

/// The shipped accesslog.yaml through the real server: lines in a rotated file, the
/// monitoring port's counts, a reload that moves the log to another file, and the queued lines
/// written at shutdown.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn access_logs_go_to_a_file_and_follow_a_reload() {
    let dir = std::env::temp_dir().join(format!("mixer-accesslog-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let conf = dir.join("config");
    std::fs::create_dir_all(&conf).unwrap();
    let (a, b) = (dir.join("logs/a.log"), dir.join("logs/b.log"));
    let accesslog = |path: &std::path::Path| {
        mixer_telemetry::config_source::ACCESSLOG_CONFIG.replace(
            "outputAsJson: true",
            &format!(
                "logStream: ROTATED_FILE\n    outputPath: '{}'",
                path.display()
            ),
        )
    };
    std::fs::write(
        conf.join("standard.yaml"),
        mixer_telemetry::config_source::STANDARD_CONFIG,
    )
    .unwrap();
    std::fs::write(conf.join("accesslog.yaml"), accesslog(&a)).unwrap();
    let srv = start(Some(conf.clone()), Duration::from_millis(100)).await;
    let lines = |p: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(p)
            .unwrap_or_default()
            .lines()
            .map(str::to_owned)
            .collect()
    };
    report(
        srv.bound.grpc,
        batch(&[http_bag("a", "b", 200, 3), http_bag("a", "b", 503, 7)]),
    )
    .await
    .expect("accepted");
    wait_for(|| lines(&a).len() == 2).await;
    let first: serde_json::Value = serde_json::from_str(&lines(&a)[0]).expect("json");
    assert_eq!(first["instance"], "accesslog.instance.istio-system");
    assert_eq!(first["destinationWorkload"], "b");
    assert_eq!(first["latency"], "3ms");
    assert_eq!(first["responseCode"], 200);
    let (_, text) = get(srv.bound.monitoring, "/metrics").await;
    let sink = format!("sink=\"{}\"", a.display());
    assert_eq!(
        sample(
            &text,
            "mixer_telemetry_accesslog_entries_total{",
            &[&sink, "result=\"written\""]
        ),
        Some(2.0),
        "{text}"
    );

    std::fs::write(conf.join("accesslog.yaml"), accesslog(&b)).unwrap();
    wait_for(|| srv.service.pipeline().generation == 2).await;
    report(srv.bound.grpc, batch(&[http_bag("c", "d", 200, 1)]))
        .await
        .expect("accepted");
    srv.stop().await;
    // written by the shutdown flush at the latest
    assert_eq!(lines(&a).len(), 2);
    let [line] = lines(&b).try_into().expect("one line in b");
    assert!(line.contains("\"sourceWorkload\":\"c\""), "{line}");
    let _ = std::fs::remove_dir_all(&dir);
}

async fn wait_for(cond: impl Fn() -> bool) {
    for _ in 0..200 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("condition not met within 10 s");
}
