//! HTTP/1.1 through the proxy, in one process with the real telemetry service (standard
//! config): pass-through, hop-by-hop handling, trace headers, reports counted under Istio's
//! labels, upstream failures, the admin port and the flush on shutdown.

mod common;

use common::{closed_port, get, options, send, silent_upstream, App, Proxy, Telemetry};
use std::time::Duration;

fn header<'h>(h: &'h hyper::HeaderMap, name: &str) -> Option<&'h str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inbound_requests_pass_through_and_are_reported_as_destination() {
    let app = App::start().await;
    let telemetry = Telemetry::start().await;
    let proxy = Proxy::start(options(app.addr, Some(telemetry.grpc), "ratings-v1")).await;

    let answer = send(
        proxy.bound.inbound,
        "GET /ratings/7?x=1 HTTP/1.1\r\nHost: ratings:9080\r\nUser-Agent: test/1\r\n\
         Connection: close, x-hop-req\r\nx-hop-req: drop-me\r\nKeep-Alive: timeout=5\r\n\
         Proxy-Authorization: Basic eA==\r\nTE: gzip\r\nx-custom: kept",
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body, "ok");
    assert_eq!(answer.header("x-app"), Some("yes"));
    assert_eq!(
        answer.header("x-app-hop"),
        None,
        "listed in the app's Connection"
    );

    let (path, seen) = app.last();
    assert_eq!(path, "/ratings/7?x=1");
    assert_eq!(header(&seen, "host"), Some("ratings:9080"));
    assert_eq!(header(&seen, "x-custom"), Some("kept"));
    for hop in ["x-hop-req", "keep-alive", "proxy-authorization", "te"] {
        assert_eq!(header(&seen, hop), None, "{hop} crossed the hop");
    }
    // Created because the request had none.
    assert_eq!(header(&seen, "x-request-id").map(str::len), Some(36));
    assert_eq!(header(&seen, "x-b3-traceid").map(str::len), Some(32));
    assert_eq!(header(&seen, "x-b3-spanid").map(str::len), Some(16));
    assert!(matches!(header(&seen, "x-b3-sampled"), Some("0" | "1")));
    assert_eq!(header(&seen, "x-b3-parentspanid"), None);

    let counted = telemetry
        .requests_total(
            &[
                r#"reporter="destination""#,
                r#"destination_workload="ratings-v1""#,
                r#"destination_workload_namespace="default""#,
                r#"destination_app="ratings""#,
                r#"source_workload="unknown""#,
                r#"request_protocol="http""#,
                r#"response_code="200""#,
                r#"response_flags="-""#,
            ],
            1.0,
        )
        .await;
    assert_eq!(counted, Some(1.0));
    proxy.stop().await;
    telemetry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_forward_proxy_requests_keep_the_trace_and_are_reported_as_source() {
    let app = App::start().await;
    let telemetry = Telemetry::start().await;
    let unused = closed_port().await;
    let proxy = Proxy::start(options(unused, Some(telemetry.grpc), "productpage-v1")).await;

    let target = app.addr;
    let answer = send(
        proxy.bound.outbound,
        &format!(
            "GET http://{target}/reviews HTTP/1.1\r\nHost: stale.example\r\nProxy-Connection: keep-alive\r\n\
             Connection: close\r\nx-request-id: req-1\r\n\
             x-b3-traceid: 463ac35c9f6413ad48485a3953bb6124\r\nx-b3-spanid: a2fb4a1d1a96d312\r\n\
             x-b3-sampled: 1"
        ),
    )
    .await;
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body, "ok");

    let (path, seen) = app.last();
    assert_eq!(path, "/reviews", "sent upstream in origin form");
    let authority = target.to_string();
    assert_eq!(
        header(&seen, "host"),
        Some(authority.as_str()),
        "Host from the target"
    );
    assert_eq!(header(&seen, "proxy-connection"), None);
    assert_eq!(header(&seen, "x-request-id"), Some("req-1"));
    assert_eq!(
        header(&seen, "x-b3-traceid"),
        Some("463ac35c9f6413ad48485a3953bb6124")
    );
    assert_eq!(header(&seen, "x-b3-parentspanid"), Some("a2fb4a1d1a96d312"));
    let span = header(&seen, "x-b3-spanid").expect("a span id");
    assert_eq!(span.len(), 16);
    assert_ne!(span, "a2fb4a1d1a96d312", "a new span for this hop");
    assert_eq!(header(&seen, "x-b3-sampled"), Some("1"));

    let counted = telemetry
        .requests_total(
            &[
                r#"reporter="source""#,
                r#"source_workload="productpage-v1""#,
                r#"source_principal="cluster.local/ns/default/sa/productpage-v1""#,
                r#"destination_workload="unknown""#,
                r#"response_code="200""#,
            ],
            1.0,
        )
        .await;
    assert_eq!(counted, Some(1.0));
    proxy.stop().await;
    telemetry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_upstream_is_answered_502_and_reported_with_flag_uf() {
    let telemetry = Telemetry::start().await;
    let dead = closed_port().await;
    let proxy = Proxy::start(options(dead, Some(telemetry.grpc), "reviews-v1")).await;

    let outbound = send(
        proxy.bound.outbound,
        &format!("GET http://{dead}/x HTTP/1.1\r\nHost: {dead}\r\nConnection: close"),
    )
    .await;
    assert_eq!(outbound.status, 502, "{outbound:?}");
    let inbound = send(
        proxy.bound.inbound,
        "GET /y HTTP/1.1\r\nHost: reviews\r\nConnection: close",
    )
    .await;
    assert_eq!(inbound.status, 502, "{inbound:?}");

    for reporter in ["source", "destination"] {
        let counted = telemetry
            .requests_total(
                &[
                    &format!(r#"reporter="{reporter}""#),
                    r#"response_code="502""#,
                    r#"response_flags="UF""#,
                ],
                1.0,
            )
            .await;
        assert_eq!(counted, Some(1.0), "reporter {reporter}");
    }
    let (status, _, metrics) = get(proxy.bound.admin, "/metrics").await;
    assert_eq!(status, 200);
    assert!(metrics.contains("mixer_proxy_upstream_failures_total{direction=\"outbound\"} 1"));
    assert!(
        metrics.contains("mixer_proxy_requests_total{direction=\"inbound\",code_class=\"5xx\"} 1")
    );
    proxy.stop().await;
    telemetry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_answers_health_readiness_and_self_metrics() {
    let app = App::start().await;
    let proxy = Proxy::start(options(app.addr, None, "reviews-v1")).await;
    let admin = proxy.bound.admin;
    assert_eq!(get(admin, "/healthz").await.0, 200);
    assert_eq!(get(admin, "/readyz").await.0, 200);
    let answer = send(
        proxy.bound.inbound,
        "GET / HTTP/1.1\r\nHost: a\r\nConnection: close",
    )
    .await;
    assert_eq!(answer.status, 200);
    let (status, headers, body) = get(admin, "/metrics").await;
    assert_eq!(status, 200);
    assert!(headers
        .iter()
        .any(|(n, v)| n == "content-type" && v.starts_with("text/plain")));
    for line in [
        "mixer_proxy_requests_total{direction=\"inbound\",code_class=\"2xx\"} 1",
        "mixer_proxy_ready 1",
        "mixer_proxy_report_queue_depth 0",
        "mixer_proxy_reports_dropped_total{reason=\"queue_full\"} 0",
    ] {
        assert!(body.contains(line), "{line} missing from\n{body}");
    }
    assert_eq!(get(admin, "/nope").await.0, 404);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_flushes_the_reports_still_batching() {
    let app = App::start().await;
    let telemetry = Telemetry::start().await;
    let mut opts = options(app.addr, Some(telemetry.grpc), "details-v1");
    // Batches would otherwise wait an hour: only the shutdown flush can send them.
    opts.report.batch_max_time = std::time::Duration::from_secs(3600);
    let proxy = Proxy::start(opts).await;
    for i in 0..3 {
        let answer = send(
            proxy.bound.inbound,
            &format!("GET /{i} HTTP/1.1\r\nHost: details\r\nConnection: close"),
        )
        .await;
        assert_eq!(answer.status, 200);
    }
    let metrics = proxy.metrics.clone();
    proxy.stop().await;
    assert_eq!(metrics.reports_sent_bags.get(), 3);
    assert_eq!(metrics.dropped_total(), 0);
    let counted = telemetry
        .requests_total(&[r#"destination_workload="details-v1""#], 3.0)
        .await;
    assert_eq!(counted, Some(3.0));
    telemetry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_upstream_is_answered_504_with_flag_ut() {
    let telemetry = Telemetry::start().await;
    let (silent, _, task) = silent_upstream().await;
    let mut opts = options(silent, Some(telemetry.grpc), "reviews-v1");
    opts.upstream_timeout = Duration::from_millis(200);
    let proxy = Proxy::start(opts).await;
    let answer = send(
        proxy.bound.inbound,
        "GET / HTTP/1.1\r\nHost: r\r\nConnection: close",
    )
    .await;
    assert_eq!(answer.status, 504, "{answer:?}");
    assert_eq!(answer.body, "upstream request timeout\n");
    let counted = telemetry
        .requests_total(&[r#"response_code="504""#, r#"response_flags="UT""#], 1.0)
        .await;
    assert_eq!(counted, Some(1.0));
    proxy.stop().await;
    telemetry.stop().await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_the_request_in_flight_finish_and_reports_it() {
    let app = App::start().await;
    let telemetry = Telemetry::start().await;
    let proxy = Proxy::start(options(app.addr, Some(telemetry.grpc), "details-v1")).await;
    let inbound = proxy.bound.inbound;
    let in_flight = tokio::spawn(async move {
        send(
            inbound,
            "GET /slow HTTP/1.1\r\nHost: details\r\nConnection: close",
        )
        .await
    });
    // Shut down only once the app holds the request.
    for _ in 0..400 {
        if app.count() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(app.count(), 1);
    proxy.stop().await;
    let answer = in_flight.await.expect("client task");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(answer.body, "ok");
    let counted = telemetry
        .requests_total(
            &[
                r#"destination_workload="details-v1""#,
                r#"response_code="200""#,
            ],
            1.0,
        )
        .await;
    assert_eq!(counted, Some(1.0));
    // Stopped: nothing listens any more.
    assert!(tokio::net::TcpStream::connect(inbound).await.is_err());
    telemetry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_client_leaving_before_the_answer_is_reported_with_flag_dc() {
    use tokio::io::AsyncWriteExt;
    let telemetry = Telemetry::start().await;
    let (silent, accepted, task) = silent_upstream().await;
    let proxy = Proxy::start(options(silent, Some(telemetry.grpc), "reviews-v1")).await;
    let mut s = tokio::net::TcpStream::connect(proxy.bound.inbound)
        .await
        .expect("connect");
    s.write_all(b"GET /gone HTTP/1.1\r\nHost: r\r\n\r\n")
        .await
        .expect("write");
    // Leave once the proxy is waiting on the upstream.
    for _ in 0..400 {
        if accepted.load(std::sync::atomic::Ordering::SeqCst) == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
    drop(s);
    let counted = telemetry
        .requests_total(&[r#"response_code="0""#, r#"response_flags="DC""#], 1.0)
        .await;
    assert_eq!(counted, Some(1.0));
    proxy.stop().await;
    telemetry.stop().await;
    task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbound_requests_addressed_to_the_proxy_itself_are_refused() {
    let app = App::start().await;
    let proxy = Proxy::start(options(app.addr, None, "reviews-v1")).await;
    for target in [proxy.bound.outbound, proxy.bound.inbound] {
        let answer = send(
            proxy.bound.outbound,
            &format!("GET http://{target}/ HTTP/1.1\r\nHost: {target}\r\nConnection: close"),
        )
        .await;
        assert_eq!(answer.status, 508, "{target}: {answer:?}");
    }
    assert_eq!(app.count(), 0);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_waits_for_telemetry_and_holds_early_outbound_requests() {
    let app = App::start().await;
    let telemetry = closed_port().await;
    let mut opts = options(app.addr, Some(telemetry), "early-v1");
    opts.outbound_ready_wait = Duration::from_secs(60);
    opts.report.flush_timeout = Duration::from_millis(200);
    let proxy = Proxy::start(opts).await;
    let admin = proxy.bound.admin;
    assert_eq!(get(admin, "/healthz").await.0, 200, "alive, just not ready");
    assert_eq!(get(admin, "/readyz").await.0, 503);

    // the app calls out before its sidecar is ready: the call is held, not failed
    let (outbound, target) = (proxy.bound.outbound, app.addr);
    let early = tokio::spawn(async move {
        send(
            outbound,
            &format!("GET http://{target}/early HTTP/1.1\r\nHost: {target}\r\nConnection: close"),
        )
        .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !early.is_finished(),
        "answered before the sidecar was ready"
    );
    assert_eq!(app.count(), 0);

    // the telemetry service's port starts accepting: ready, and the held call goes through
    let _telemetry = tokio::net::TcpListener::bind(telemetry)
        .await
        .expect("bind the telemetry port");
    let answer = early.await.expect("early call");
    assert_eq!(answer.status, 200, "{answer:?}");
    assert_eq!(app.last().0, "/early");
    assert_eq!(get(admin, "/readyz").await.0, 200);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_policy_service_blocks_readiness_only_when_failing_closed() {
    let app = App::start().await;
    let policy = closed_port().await;
    for (fail_closed, want) in [(false, 200), (true, 503)] {
        let mut opts = options(app.addr, None, "guarded-v1");
        opts.check.policy = Some(format!("http://{policy}"));
        opts.check.fail_closed = fail_closed;
        let proxy = Proxy::start(opts).await;
        let status = get(proxy.bound.admin, "/readyz").await.0;
        assert_eq!(status, want, "fail_closed={fail_closed}");
        proxy.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reports_take_turns_over_telemetry_replicas_and_fail_over() {
    let app = App::start().await;
    let (a, b) = (Telemetry::start().await, Telemetry::start().await);
    let mut opts = options(app.addr, None, "spread-v1");
    opts.report.telemetry = Some(format!("http://{}, http://{}", a.grpc, b.grpc));
    opts.report.batch_max_entries = 1; // one Report call per request
    let proxy = Proxy::start(opts).await;
    let request = "GET / HTTP/1.1\r\nHost: a\r\nConnection: close";
    for _ in 0..4 {
        assert_eq!(send(proxy.bound.inbound, request).await.status, 200);
    }
    let series = [r#"destination_workload="spread-v1""#];
    // four calls, taking turns: two each
    assert_eq!(a.requests_total(&series, 2.0).await, Some(2.0));
    assert_eq!(b.requests_total(&series, 2.0).await, Some(2.0));

    // one replica goes away: every bag still arrives, at the other
    b.stop().await;
    for _ in 0..4 {
        assert_eq!(send(proxy.bound.inbound, request).await.status, 200);
    }
    assert_eq!(a.requests_total(&series, 6.0).await, Some(6.0));
    proxy.stop().await;
    a.stop().await;
}
