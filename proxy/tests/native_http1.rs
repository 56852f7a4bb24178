//! The native HTTP/1.1 path against a raw app that frames its answers every way HTTP/1.1
//! allows (length, chunked, to the close, interim heads, broken ones): bodies pass both ways
//! byte for byte on one kept connection, pipelined requests are answered in order, the sizes
//! reach the reports, bodies far larger than the proxy's buffers arrive whole, broken
//! upstreams get Envoy's flags, and what the path leaves to hyper (HTTP/1.0, `Expect`) is
//! still answered.

mod common;

use common::{options, Proxy, Telemetry};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The bytes of a large body: 1 MB of a pattern that shows where a byte went missing.
fn large_body() -> String {
    (0..1_000_000u32)
        .map(|i| char::from(b'a' + (i % 26) as u8))
        .collect()
}

/// The answers of the raw app, by path.
fn answer_for(method: &str, path: &str) -> (std::borrow::Cow<'static, str>, bool) {
    match path {
        "/large" => {
            let body = large_body();
            let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            return ((head + &body).into(), false);
        }
        "/large-chunked" => {
            let body = large_body();
            let mut answer = String::from("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
            for chunk in body.as_bytes().chunks(16 * 1024 + 7) {
                answer.push_str(&format!("{:x}\r\n", chunk.len()));
                answer.push_str(std::str::from_utf8(chunk).expect("ascii"));
                answer.push_str("\r\n");
            }
            answer.push_str("0\r\n\r\n");
            return (answer.into(), false);
        }
        _ => {}
    }
    let (answer, close) = match (method, path) {
        ("HEAD", _) => ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n", false),
        (_, "/cl") => ("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", false),
        (_, "/chunked") => (
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Kind: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
            false,
        ),
        (_, "/close") => ("HTTP/1.1 200 OK\r\nX-Kind: close\r\n\r\nuntil the close", true),
        (_, "/early") => (
            "HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
            false,
        ),
        (_, "/malformed") => (
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
            false,
        ),
        (_, "/cut") => (
            "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this",
            true,
        ),
        _ => ("HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n", false),
    };
    (answer.into(), close)
}

/// A raw HTTP/1.1 app: records every request as it arrived (head and body bytes) and answers
/// by [`answer_for`]; counts connections.
struct RawApp {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<String>>>,
    connections: Arc<Mutex<usize>>,
    task: tokio::task::JoinHandle<()>,
}

impl RawApp {
    async fn start() -> RawApp {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (record, count) = (seen.clone(), connections.clone());
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                *count.lock().expect("lock") += 1;
                tokio::spawn(serve_raw(stream, record.clone()));
            }
        });
        RawApp {
            addr,
            seen,
            connections,
            task,
        }
    }

    fn seen(&self) -> Vec<String> {
        self.seen.lock().expect("lock").clone()
    }

    fn connections(&self) -> usize {
        *self.connections.lock().expect("lock")
    }
}

impl Drop for RawApp {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve_raw(mut stream: TcpStream, record: Arc<Mutex<Vec<String>>>) {
    let mut buf = Vec::new();
    loop {
        let Some(request) = read_message(&mut stream, &mut buf, Kind::Request).await else {
            return;
        };
        let text = String::from_utf8_lossy(&request).into_owned();
        let mut words = text.split(' ');
        let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
        let (answer, close) = answer_for(method, path);
        record.lock().expect("lock").push(text.clone());
        if stream.write_all(answer.as_bytes()).await.is_err() || close {
            return;
        }
    }
}

/// What [`read_message`] reads.
#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Request,
    Response,
    /// The answer to a HEAD request: no body, whatever its length says.
    AnswerToHead,
}

/// Reads one HTTP/1.1 message (head and body) from `stream`, `buf` holding what was read
/// beyond the last one. Knows just enough framing for these tests: `Content-Length`,
/// chunked (to the blank line after the last chunk), or, for a response, to the close; interim
/// responses are returned as messages of their own.
async fn read_message(stream: &mut TcpStream, buf: &mut Vec<u8>, kind: Kind) -> Option<Vec<u8>> {
    let response = kind != Kind::Request;
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        if !read_more(stream, buf).await {
            return None;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_ascii_lowercase();
    let length = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse::<usize>().ok());
    let chunked = head.contains("transfer-encoding: chunked");
    let bodiless = kind == Kind::AnswerToHead
        || head.starts_with("head ")
        || head.starts_with("get ")
        || head.starts_with("http/1.1 1")
        || head.starts_with("http/1.1 204");
    let end = if chunked {
        // the last chunk's line, then trailers to a blank line (searched from the head's own
        // last CR LF, so that a body of just the last chunk is found too)
        loop {
            let from = head_end - 2;
            let last = buf[from..].windows(5).position(|w| w == b"\r\n0\r\n");
            let end = last.and_then(|i| {
                let zero = from + i + 2;
                let blank = buf[zero..].windows(4).position(|w| w == b"\r\n\r\n")?;
                Some(zero + blank + 4)
            });
            if let Some(end) = end {
                break end;
            }
            if !read_more(stream, buf).await {
                return None;
            }
        }
    } else if let Some(n) = length.filter(|_| !bodiless) {
        while buf.len() < head_end + n {
            if !read_more(stream, buf).await {
                return None;
            }
        }
        head_end + n
    } else if response && !bodiless {
        while read_more(stream, buf).await {}
        buf.len()
    } else {
        head_end
    };
    Some(buf.drain(..end).collect())
}

async fn read_more(stream: &mut TcpStream, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4096];
    match tokio::time::timeout(Duration::from_secs(10), stream.read(&mut chunk)).await {
        Ok(Ok(n)) if n > 0 => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
        _ => false,
    }
}

fn status(message: &[u8]) -> u16 {
    String::from_utf8_lossy(message)
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

fn body(message: &[u8]) -> String {
    let text = String::from_utf8_lossy(message);
    text.split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default()
}

fn has_header(message: &[u8], line: &str) -> bool {
    String::from_utf8_lossy(message)
        .to_ascii_lowercase()
        .lines()
        .any(|l| l == line)
}

/// A raw client on one connection: what it sends, byte for byte, and the answers it reads.
struct Client {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    async fn connect(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).await.expect("connect");
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    async fn send(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.expect("write");
    }

    /// The next answer.
    async fn answer(&mut self, kind: Kind) -> Vec<u8> {
        read_message(&mut self.stream, &mut self.buf, kind)
            .await
            .expect("an answer")
    }

    /// Sends `request` and reads its answer.
    async fn ask(&mut self, request: &[u8]) -> Vec<u8> {
        self.send(request).await;
        self.answer(Kind::Response).await
    }

    /// Sends `request` and reads until the proxy closes the connection.
    async fn ask_to_the_close(mut self, request: &[u8]) -> Vec<u8> {
        self.send(request).await;
        let mut all = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), self.stream.read_to_end(&mut all))
            .await
            .expect("the proxy closes")
            .expect("read");
        all
    }
}

async fn started() -> (RawApp, Telemetry, Proxy) {
    let app = RawApp::start().await;
    let telemetry = Telemetry::start().await;
    let proxy = Proxy::start(options(app.addr, Some(telemetry.grpc), "raw-v1")).await;
    (app, telemetry, proxy)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bodies_pass_both_ways_on_one_kept_connection() {
    let (app, telemetry, proxy) = started().await;
    let mut c = Client::connect(proxy.bound.inbound).await;
    let requests: [&[u8]; 4] = [
        b"POST /cl HTTP/1.1\r\nHost: raw\r\nContent-Length: 5\r\n\r\nabcde",
        b"POST /chunked HTTP/1.1\r\nHost: raw\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n8;x=y\r\ndefghijk\r\n0\r\nx-trailer: t\r\n\r\n",
        b"HEAD /cl HTTP/1.1\r\nHost: raw\r\n\r\n",
        b"GET /early HTTP/1.1\r\nHost: raw\r\n\r\n",
    ];
    let mut answers = Vec::new();
    for r in requests {
        c.send(r).await;
        let kind = match r.starts_with(b"HEAD") {
            true => Kind::AnswerToHead,
            false => Kind::Response,
        };
        let mut answer = c.answer(kind).await;
        if status(&answer) == 103 {
            assert!(
                has_header(&answer, "link: </s.css>"),
                "the interim head is forwarded"
            );
            answer = c.answer(Kind::Response).await;
        }
        answers.push(answer);
    }
    assert_eq!(body(&answers[0]), "hello");
    assert_eq!(
        body(&answers[1]),
        "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
        "chunks forwarded as they came"
    );
    assert!(has_header(&answers[1], "transfer-encoding: chunked"));
    assert!(has_header(&answers[2], "content-length: 5"));
    assert_eq!(body(&answers[2]), "", "no body after HEAD");
    assert_eq!(body(&answers[3]), "ok");
    assert!(answers.iter().all(|a| status(a) == 200));

    let seen = app.seen();
    assert_eq!(seen.len(), 4);
    assert!(seen[0].ends_with("\r\n\r\nabcde"), "{:?}", seen[0]);
    assert!(seen[0]
        .to_ascii_lowercase()
        .contains("content-length: 5\r\n"));
    assert!(
        seen[1].ends_with("\r\n\r\n3\r\nabc\r\n8;x=y\r\ndefghijk\r\n0\r\nx-trailer: t\r\n\r\n"),
        "{:?}",
        seen[1]
    );
    assert!(seen[1].contains("transfer-encoding: chunked\r\n"));
    assert!(seen.iter().all(|r| r.contains("x-request-id: ")));
    assert_eq!(
        app.connections(),
        1,
        "one upstream connection for the client's"
    );

    // request.size: 5 + 11 data bytes; response.size: 5 + 11 + 0 + 2
    assert_eq!(
        histogram_sum(&telemetry, "istio_request_bytes_sum{").await,
        16.0
    );
    assert_eq!(
        histogram_sum(&telemetry, "istio_response_bytes_sum{").await,
        18.0
    );
    proxy.stop().await;
    telemetry.stop().await;
}

/// The sum of the `raw-v1` samples of a histogram's `_sum` (`prefix`), once there is one.
async fn histogram_sum(telemetry: &Telemetry, prefix: &str) -> f64 {
    for _ in 0..200 {
        let (_, _, text) = common::get(telemetry.metrics, "/metrics").await;
        let total: f64 = text
            .lines()
            .filter(|l| l.starts_with(prefix) && l.contains(r#"destination_workload="raw-v1""#))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum();
        if total > 0.0 {
            return total;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    0.0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pipelined_requests_are_answered_in_order() {
    let (app, telemetry, proxy) = started().await;
    let mut c = Client::connect(proxy.bound.inbound).await;
    c.send(
        b"GET /cl HTTP/1.1\r\nHost: raw\r\n\r\nPOST /chunked HTTP/1.1\r\nHost: raw\r\nContent-Length: 2\r\n\r\nhiGET /nothing HTTP/1.1\r\nHost: raw\r\n\r\n",
    )
    .await;
    let mut statuses = Vec::new();
    for _ in 0..3 {
        statuses.push(status(&c.answer(Kind::Response).await));
    }
    assert_eq!(statuses, [200, 200, 404]);
    let paths: Vec<String> = app
        .seen()
        .iter()
        .map(|r| r.split(' ').nth(1).unwrap_or("").to_owned())
        .collect();
    assert_eq!(paths, ["/cl", "/chunked", "/nothing"]);
    assert!(app.seen()[1].ends_with("\r\n\r\nhi"));
    proxy.stop().await;
    telemetry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_response_to_the_close_is_forwarded_and_the_connection_closed() {
    let (_app, telemetry, proxy) = started().await;
    let c = Client::connect(proxy.bound.inbound).await;
    let all = c
        .ask_to_the_close(b"GET /close HTTP/1.1\r\nHost: raw\r\n\r\n")
        .await;
    assert_eq!(status(&all), 200);
    assert!(has_header(&all, "connection: close"));
    assert_eq!(body(&all), "until the close");
    proxy.stop().await;
    telemetry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broken_upstream_answers_get_envoys_flags() {
    let (_app, telemetry, proxy) = started().await;
    // a malformed head: 502 UPE, and the client's connection goes on
    let mut c = Client::connect(proxy.bound.inbound).await;
    let a = c.ask(b"GET /malformed HTTP/1.1\r\nHost: raw\r\n\r\n").await;
    assert_eq!(status(&a), 502);
    assert!(body(&a).contains("protocol error"), "{}", body(&a));
    let a = c.ask(b"GET /cl HTTP/1.1\r\nHost: raw\r\n\r\n").await;
    assert_eq!((status(&a), body(&a).as_str()), (200, "hello"));

    // a body cut short: what came is forwarded, then the client's connection is closed
    let c = Client::connect(proxy.bound.inbound).await;
    let all = c
        .ask_to_the_close(b"GET /cut HTTP/1.1\r\nHost: raw\r\n\r\n")
        .await;
    assert_eq!(body(&all), "only this");

    for (code, flag) in [("502", "UPE"), ("200", "UR")] {
        let counted = telemetry
            .requests_total(
                &[
                    &format!(r#"response_code="{code}""#),
                    &format!(r#"response_flags="{flag}""#),
                ],
                1.0,
            )
            .await;
        assert_eq!(counted, Some(1.0), "{code} {flag}");
    }
    proxy.stop().await;
    telemetry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_the_native_path_leaves_to_hyper_are_answered() {
    let (app, telemetry, proxy) = started().await;
    // HTTP/1.0 after an HTTP/1.1 request on the same connection: hyper takes over mid-way
    let mut c = Client::connect(proxy.bound.inbound).await;
    let a = c.ask(b"GET /cl HTTP/1.1\r\nHost: raw\r\n\r\n").await;
    assert_eq!(body(&a), "hello");
    let a = c.ask(b"GET /cl HTTP/1.0\r\nHost: raw\r\n\r\n").await;
    assert_eq!((status(&a), body(&a).as_str()), (200, "hello"));

    // Expect: 100-continue
    let mut c = Client::connect(proxy.bound.inbound).await;
    let mut a = c
        .ask(b"POST /cl HTTP/1.1\r\nHost: raw\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n")
        .await;
    if status(&a) == 100 {
        a = c.ask(b"abc").await;
    }
    assert_eq!((status(&a), body(&a).as_str()), (200, "hello"));
    assert!(app.seen().last().is_some_and(|r| r.ends_with("abc")));

    // a malformed request: hyper's 400
    let mut c = Client::connect(proxy.bound.inbound).await;
    let a = c.ask(b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n").await;
    assert_eq!(status(&a), 400);
    proxy.stop().await;
    telemetry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_hyper_path_stays_available_behind_a_flag() {
    let app = RawApp::start().await;
    let mut opts = options(app.addr, None, "raw-v1");
    opts.native_http1 = false;
    let proxy = Proxy::start(opts).await;
    let mut c = Client::connect(proxy.bound.inbound).await;
    let a = c
        .ask(b"POST /chunked HTTP/1.1\r\nHost: raw\r\nContent-Length: 2\r\n\r\nhi")
        .await;
    assert_eq!(status(&a), 200);
    assert!(
        body(&a).contains("hello") && body(&a).contains(" world"),
        "{}",
        body(&a)
    );
    proxy.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_bodies_stream_through_both_ways_whole() {
    let (app, telemetry, proxy) = started().await;
    let body = large_body();
    let mut c = Client::connect(proxy.bound.inbound).await;
    // a request body far larger than the proxy's buffers, sent in pieces
    let head = format!(
        "POST /cl HTTP/1.1\r\nHost: raw\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    c.send(head.as_bytes()).await;
    for piece in body.as_bytes().chunks(100_003) {
        c.send(piece).await;
    }
    assert_eq!(body_of(&c.answer(Kind::Response).await), b"hello");
    let seen = app.seen();
    let arrived = seen.last().expect("the app saw it");
    assert!(arrived.ends_with(&body), "the request body arrived whole");

    // and chunked, in chunks that do not line up with the proxy's reads
    let mut chunked =
        String::from("POST /cl HTTP/1.1\r\nHost: raw\r\nTransfer-Encoding: chunked\r\n\r\n");
    for chunk in body.as_bytes().chunks(9_999) {
        chunked.push_str(&format!("{:x}\r\n", chunk.len()));
        chunked.push_str(std::str::from_utf8(chunk).expect("ascii"));
        chunked.push_str("\r\n");
    }
    chunked.push_str("0\r\n\r\n");
    assert_eq!(body_of(&c.ask(chunked.as_bytes()).await), b"hello");
    let seen = app.seen();
    assert!(seen
        .last()
        .is_some_and(|r| r.ends_with(&chunked[chunked.find("\r\n\r\n").map_or(0, |i| i + 4)..])));

    // large answers, by length and chunked, on the same connection
    let a = c.ask(b"GET /large HTTP/1.1\r\nHost: raw\r\n\r\n").await;
    assert!(
        body_of(&a) == body.as_bytes(),
        "the response body arrived whole"
    );
    let a = c
        .ask(b"GET /large-chunked HTTP/1.1\r\nHost: raw\r\n\r\n")
        .await;
    assert_eq!(status(&a), 200);
    let decoded = dechunk(body_of(&a));
    assert!(
        decoded == body.as_bytes(),
        "the chunked response arrived whole"
    );
    assert_eq!(app.connections(), 1);
    proxy.stop().await;
    telemetry.stop().await;
}

/// The body of a message (after its head).
fn body_of(message: &[u8]) -> &[u8] {
    let at = message
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(message.len(), |i| i + 4);
    &message[at..]
}

/// The data of a chunked body (no extensions or trailers).
fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut data = Vec::new();
    loop {
        let line = body
            .windows(2)
            .position(|w| w == b"\r\n")
            .expect("size line");
        let size = usize::from_str_radix(std::str::from_utf8(&body[..line]).expect("hex"), 16)
            .expect("size");
        body = &body[line + 2..];
        if size == 0 {
            return data;
        }
        data.extend_from_slice(&body[..size]);
        body = &body[size + 2..];
    }
}

/// A request body in pieces, of no announced length (so no `content-length` goes with it).
struct Pieces(std::collections::VecDeque<bytes::Bytes>);

impl hyper::body::Body for Pieces {
    type Data = bytes::Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<bytes::Bytes>, Self::Error>>> {
        std::task::Poll::Ready(self.0.pop_front().map(|b| Ok(hyper::body::Frame::data(b))))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http2_streams_reach_an_http1_app_over_the_native_connections() {
    use http_body_util::BodyExt;
    let app = RawApp::start().await;
    let telemetry = Telemetry::start().await;
    let mut opts = options(app.addr, Some(telemetry.grpc), "raw-v1");
    // the app's port says HTTP/1.1 (`auto` would speak HTTP/2 to it, as the client does)
    opts.app_protocol = mixer_proxy::AppProtocol::Http1;
    let proxy = Proxy::start(opts).await;
    let send = common::h2c(proxy.bound.inbound).await;
    let ask = |path: &str, pieces: &[&'static str]| {
        let mut send = send.clone();
        let req = hyper::Request::post(format!("http://raw{path}"))
            .body(Pieces(
                pieces
                    .iter()
                    .map(|p| bytes::Bytes::from_static(p.as_bytes()))
                    .collect(),
            ))
            .expect("request");
        async move {
            let resp = send.send_request(req).await.expect("answer");
            let status = resp.status().as_u16();
            let chunked = resp.headers().contains_key("transfer-encoding");
            let body = resp.into_body().collect().await.expect("body").to_bytes();
            (status, chunked, body)
        }
    };
    // a streamed body goes chunked; a chunked answer comes back as its data
    let (status, chunked, body) = ask("/chunked", &["abc", "defgh"]).await;
    assert_eq!((status, chunked), (200, false), "{body:?}");
    assert_eq!(&body[..], b"hello world");
    let seen = app.seen();
    let arrived = seen.last().expect("the app saw it");
    assert!(
        arrived.contains("transfer-encoding: chunked\r\n"),
        "{arrived:?}"
    );
    assert!(
        arrived.ends_with("\r\n\r\n3\r\nabc\r\n5\r\ndefgh\r\n0\r\n\r\n"),
        "{arrived:?}"
    );
    // a large answer by length, and one chunked, whole
    let (_, _, body) = ask("/large", &[]).await;
    assert!(
        body == large_body().as_bytes(),
        "the large answer arrived whole"
    );
    let (_, _, body) = ask("/large-chunked", &[]).await;
    assert!(
        body == large_body().as_bytes(),
        "the large chunked answer arrived whole"
    );
    let (status, _, _) = ask("/malformed", &[]).await;
    assert_eq!(status, 502);
    proxy.stop().await;
    telemetry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_a_connection_waiting_between_requests_at_once() {
    let app = RawApp::start().await;
    let mut opts = options(app.addr, None, "raw-v1");
    // were idle connections given the grace period, stopping would take ten minutes
    opts.drain_grace = Duration::from_secs(600);
    let proxy = Proxy::start(opts).await;
    let mut c = Client::connect(proxy.bound.inbound).await;
    let a = c.ask(b"GET /cl HTTP/1.1\r\nHost: raw\r\n\r\n").await;
    assert_eq!(body(&a), "hello");
    // the client keeps its connection open, and sends nothing more
    tokio::time::timeout(Duration::from_secs(60), proxy.stop())
        .await
        .expect("the proxy stops without waiting for the idle connection");
    let mut rest = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), c.stream.read_to_end(&mut rest))
        .await
        .expect("closed");
    assert!(read.is_ok_and(|n| n == 0), "closed without a word");
}
