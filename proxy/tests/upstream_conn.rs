//! The upstream connection each downstream HTTP/1.1 connection keeps: reused for its requests,
//! one per downstream connection, and replaced when the upstream closes it between requests,
//! whether it says so (`Connection: close`) or just closes; and the app pool HTTP/2 streams
//! share, which replaces closed connections the same way.

mod common;

use common::{options, Proxy};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// How the backend ends its connections.
#[derive(Clone, Copy, Debug)]
enum Close {
    /// Keep-alive: answers as many requests as come.
    Never,
    /// Answers one request with `Connection: close`, then closes.
    Announced,
    /// Answers one request as if keeping the connection, then closes it anyway.
    Silently,
}

/// A raw HTTP/1.1 backend answering `ok`, counting the connections it accepted.
async fn backend(close: Close) -> (SocketAddr, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                loop {
                    // GET requests without bodies: the head ends at the blank line
                    let mut line = String::new();
                    let mut started = false;
                    loop {
                        line.clear();
                        match r.read_line(&mut line).await {
                            Ok(0) | Err(_) => return,
                            Ok(_) => {}
                        }
                        if line == "\r\n" && started {
                            break;
                        }
                        started = true;
                    }
                    let connection = match close {
                        Close::Announced => "Connection: close\r\n",
                        _ => "",
                    };
                    let answer =
                        format!("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n{connection}\r\nok");
                    if w.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                    if !matches!(close, Close::Never) {
                        let _ = w.shutdown().await;
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

/// Sends `n` keep-alive GETs one after the other on one connection; returns the statuses.
async fn keep_alive_gets(proxy: SocketAddr, n: usize, pause: Duration) -> Vec<u16> {
    keep_alive_requests(proxy, "GET", n, pause).await
}

/// Sends `n` keep-alive `method` requests without a body one after the other on one
/// connection; returns the statuses.
async fn keep_alive_requests(
    proxy: SocketAddr,
    method: &str,
    n: usize,
    pause: Duration,
) -> Vec<u16> {
    let stream = TcpStream::connect(proxy).await.expect("connect");
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut statuses = Vec::new();
    for i in 0..n {
        let req = format!("{method} /r/{i} HTTP/1.1\r\nHost: app\r\nContent-Length: 0\r\n\r\n");
        w.write_all(req.as_bytes()).await.expect("write");
        let mut status_line = String::new();
        r.read_line(&mut status_line).await.expect("status line");
        let status = status_line
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let mut length = 0usize;
        loop {
            let mut line = String::new();
            r.read_line(&mut line).await.expect("header");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            if let Some((n, v)) = line.split_once(':') {
                if n.eq_ignore_ascii_case("content-length") {
                    length = v.trim().parse().expect("length");
                }
            }
        }
        let mut body = vec![0; length];
        r.read_exact(&mut body).await.expect("body");
        statuses.push(status);
        tokio::time::sleep(pause).await;
    }
    statuses
}

/// `mixer_proxy_upstream_failures_total`, both directions.
fn upstream_failures(proxy: &Proxy) -> f64 {
    proxy
        .metrics
        .render()
        .lines()
        .filter(|l| l.starts_with("mixer_proxy_upstream_failures_total"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_downstream_connection_keeps_one_upstream_connection() {
    let (app, accepted) = backend(Close::Never).await;
    let proxy = Proxy::start(options(app, None, "app-v1")).await;

    let first = keep_alive_gets(proxy.bound.inbound, 5, Duration::ZERO).await;
    assert_eq!(first, vec![200; 5]);
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "5 requests, 1 connection"
    );

    let second = keep_alive_gets(proxy.bound.inbound, 3, Duration::ZERO).await;
    assert_eq!(second, vec![200; 3]);
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        2,
        "a second downstream connection has its own"
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_announcing_close_gets_a_fresh_connection_for_the_next_request() {
    let (app, accepted) = backend(Close::Announced).await;
    let proxy = Proxy::start(options(app, None, "app-v1")).await;
    let statuses = keep_alive_gets(proxy.bound.inbound, 4, Duration::ZERO).await;
    assert_eq!(statuses, vec![200; 4]);
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
    assert_eq!(upstream_failures(&proxy), 0.0);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upstream_closing_silently_between_requests_is_reconnected() {
    let (app, accepted) = backend(Close::Silently).await;
    let proxy = Proxy::start(options(app, None, "app-v1")).await;
    // with a pause the close is seen before the next request; without one it may race the
    // request, which is then sent again on a fresh connection
    for pause in [Duration::from_millis(50), Duration::ZERO] {
        let statuses = keep_alive_gets(proxy.bound.inbound, 4, pause).await;
        assert_eq!(statuses, vec![200; 4], "pause {pause:?}");
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 8);
    assert_eq!(upstream_failures(&proxy), 0.0);
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_goes_on_a_fresh_connection_when_the_kept_one_was_closed() {
    // a POST is never sent twice (the upstream may have acted on it): the close must be seen
    // before it is sent, which it is once the upstream's FIN has arrived
    let (app, accepted) = backend(Close::Silently).await;
    let proxy = Proxy::start(options(app, None, "app-v1")).await;
    let statuses =
        keep_alive_requests(proxy.bound.inbound, "POST", 4, Duration::from_millis(50)).await;
    assert_eq!(statuses, vec![200; 4]);
    assert_eq!(accepted.load(Ordering::SeqCst), 4);
    assert_eq!(upstream_failures(&proxy), 0.0);
    proxy.stop().await;
}

/// Sends GETs for `paths` all at once, each on its own stream of one h2c connection to
/// `proxy`; returns the statuses in `paths` order.
async fn h2_gets_at_once(proxy: SocketAddr, paths: Vec<String>) -> Vec<u16> {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Empty};
    let send = common::h2c(proxy).await;
    let mut calls = Vec::new();
    for path in paths {
        let mut send = send.clone();
        calls.push(tokio::spawn(async move {
            let req = hyper::Request::get(format!("http://{proxy}{path}"))
                .body(Empty::<Bytes>::new())
                .expect("request");
            let resp = send.send_request(req).await.expect("answer");
            let status = resp.status().as_u16();
            resp.into_body().collect().await.expect("body");
            status
        }));
    }
    let mut statuses = Vec::new();
    for c in calls {
        statuses.push(c.await.expect("stream"));
    }
    statuses
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_http2_streams_share_pooled_connections_instead_of_opening_one_each() {
    let (app, accepted) = backend(Close::Never).await;
    let mut opts = options(app, None, "app-v1");
    opts.app_protocol = mixer_proxy::AppProtocol::Http1;
    let proxy = Proxy::start(opts).await;
    // 10 streams at a time, 5 rounds
    for round in 0..5 {
        let paths = (0..10).map(|i| format!("/r/{round}/{i}")).collect();
        let statuses = h2_gets_at_once(proxy.bound.inbound, paths).await;
        assert_eq!(statuses, [200; 10]);
    }
    let opened = accepted.load(Ordering::SeqCst);
    assert!(
        (1..=10).contains(&opened),
        "50 requests, at most 10 at once: {opened} upstream connections"
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pooled_app_connections_the_app_closes_are_replaced_not_failed() {
    // HTTP/2 streams to an HTTP/1.1 app go over the app pool; a connection handed back after
    // its response may be closed by the app (announced or not) by the time the next stream
    // takes it
    // the native path's connections, and hyper's client's (--hyper-http1)
    for native in [true, false] {
        for close in [Close::Announced, Close::Silently] {
            let (app, accepted) = backend(close).await;
            let mut opts = options(app, None, "app-v1");
            opts.app_protocol = mixer_proxy::AppProtocol::Http1;
            opts.native_http1 = native;
            let proxy = Proxy::start(opts).await;
            for round in 0..4 {
                let paths = (0..5).map(|i| format!("/c/{round}/{i}")).collect();
                let statuses = h2_gets_at_once(proxy.bound.inbound, paths).await;
                assert_eq!(
                    statuses, [200; 5],
                    "{close:?} round {round}, native {native}"
                );
            }
            assert_eq!(
                accepted.load(Ordering::SeqCst),
                20,
                "{close:?}, native {native}: one connection per answer"
            );
            assert_eq!(upstream_failures(&proxy), 0.0, "{close:?}, native {native}");
            proxy.stop().await;
        }
    }
}

/// A keep-alive HTTP/1.1 backend that takes `pause` per request; it counts the connections
/// it accepted and the most requests it had in hand at once.
async fn slow_backend(pause: Duration) -> (SocketAddr, Arc<AtomicUsize>, Arc<AtomicUsize>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let (accepted, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (count, peak) = (accepted.clone(), most.clone());
    let busy = Arc::new(AtomicUsize::new(0));
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let (busy, peak) = (busy.clone(), peak.clone());
            tokio::spawn(async move {
                let (r, mut w) = stream.into_split();
                let mut r = BufReader::new(r);
                let mut line = String::new();
                loop {
                    line.clear();
                    match r.read_line(&mut line).await {
                        Ok(0) | Err(_) => return,
                        Ok(_) if line != "\r\n" => continue,
                        Ok(_) => {}
                    }
                    let now = busy.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(now, Ordering::SeqCst);
                    tokio::time::sleep(pause).await;
                    busy.fetch_sub(1, Ordering::SeqCst);
                    let answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                    if w.write_all(answer.as_bytes()).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted, most)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_beyond_the_app_pool_wait_for_a_connection_instead_of_opening_more() {
    let (app, accepted, most) = slow_backend(Duration::from_millis(20)).await;
    let mut opts = options(app, None, "app-v1");
    opts.app_protocol = mixer_proxy::AppProtocol::Http1;
    opts.app_pool_connections = 3;
    let proxy = Proxy::start(opts).await;
    // 30 streams at once: uncapped, each would hold a connection of its own for 20 ms
    let paths = (0..30).map(|i| format!("/r/{i}")).collect();
    let statuses = h2_gets_at_once(proxy.bound.inbound, paths).await;
    assert_eq!(statuses, [200; 30], "every waiting stream is answered");
    assert_eq!(
        most.load(Ordering::SeqCst),
        3,
        "the app had exactly as many requests at once as the pool allows"
    );
    // a freed place can be taken before hyper puts its connection back: a few more than 3
    let opened = accepted.load(Ordering::SeqCst);
    assert!(opened < 15, "30 streams, 3 at a time: {opened} connections");
    proxy.stop().await;
}
