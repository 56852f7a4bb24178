use super::*;
use hyper::header::CONTENT_LENGTH;

fn request(text: &str) -> Parsed<RequestHead> {
    let mut buf = BytesMut::from(text.as_bytes());
    parse_request(&mut buf, &mut Scratch::default())
}

fn head(text: &str) -> RequestHead {
    match request(text) {
        Parsed::Head(head, _) => head,
        other => panic!("{text:?}: {other:?}"),
    }
}

/// Why `text` is left to hyper; hyper then reads all of it.
fn elsewhere(text: &str) -> &'static str {
    let mut buf = BytesMut::from(text.as_bytes());
    match parse_request(&mut buf, &mut Scratch::default()) {
        Parsed::Elsewhere(why) => {
            assert_eq!(&buf[..], text.as_bytes(), "nothing taken");
            why
        }
        other => panic!("{text:?}: {other:?}"),
    }
}

#[test]
fn a_request_head_becomes_parts_and_leaves_the_body_behind() {
    let mut buf = BytesMut::from(
        &b"POST /a/b?x=1 HTTP/1.1\r\nHost: svc:80\r\nX-Thing:  v1 \r\nx-thing: v2\r\nContent-Length: 5\r\n\r\nhelloGET"[..],
    );
    let Parsed::Head(head, len) = parse_request(&mut buf, &mut Scratch::default()) else {
        panic!("a whole head");
    };
    assert_eq!(len, 87);
    assert_eq!(&buf[..], b"helloGET", "the body and what follows stay");
    assert_eq!(head.parts.method, Method::POST);
    assert_eq!(head.parts.uri, "/a/b?x=1");
    assert_eq!(head.parts.headers["host"], "svc:80");
    let things: Vec<_> = head.parts.headers.get_all("x-thing").iter().collect();
    assert_eq!(
        things,
        ["v1", "v2"],
        "values trimmed, repeats kept in order"
    );
    assert_eq!(head.body, Framing::Length(5));
    assert!(head.keep_alive);
}

#[test]
fn request_framing_and_keep_alive() {
    let h = head("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    assert_eq!((h.body, h.keep_alive), (Framing::Empty, true));
    let h = head(
        "POST / HTTP/1.1\r\nTransfer-Encoding: Chunked\r\nConnection: keep-alive, close\r\n\r\n",
    );
    assert_eq!((h.body, h.keep_alive), (Framing::Chunked, false));
    let h = head("POST / HTTP/1.1\r\nContent-Length: 0\r\n\r\n");
    assert_eq!(h.body, Framing::Empty);
    let h = head("GET http://svc.ns:8080/p HTTP/1.1\r\nHost: other\r\n\r\n");
    assert_eq!(
        h.parts.uri.authority().map(|a| a.as_str()),
        Some("svc.ns:8080")
    );
}

#[test]
fn what_the_native_path_does_not_forward_is_left_to_hyper() {
    assert_eq!(elsewhere("GET / HTTP/1.0\r\n\r\n"), "HTTP/1.0");
    assert_eq!(
        elsewhere("CONNECT a:443 HTTP/1.1\r\nHost: a\r\n\r\n"),
        "CONNECT"
    );
    for framing in [
        "Expect: 100-continue",
        "Upgrade: websocket\r\nConnection: upgrade",
        "Transfer-Encoding: gzip, chunked",
        "Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
        "Transfer-Encoding: chunked\r\nContent-Length: 3",
        "Content-Length: 3\r\nContent-Length: 3",
        "Content-Length: -1",
        "Content-Length: 1e3",
        "Content-Length: 99999999999999999999",
    ] {
        let text = format!("POST / HTTP/1.1\r\n{framing}\r\n\r\n");
        assert_eq!(elsewhere(&text), "framing", "{framing}");
    }
    assert_eq!(
        elsewhere("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n"),
        "malformed head"
    );
    assert_eq!(elsewhere("GET\r\n\r\n"), "malformed head");
    let long = format!("GET / HTTP/1.1\r\nx: {}\r\n", "a".repeat(MAX_HEAD));
    assert_eq!(elsewhere(&long), "head too long");
    let many: String = (0..=MAX_HEADERS).map(|i| format!("h{i}: v\r\n")).collect();
    assert_eq!(
        elsewhere(&format!("GET / HTTP/1.1\r\n{many}\r\n")),
        "malformed head"
    );
}

#[test]
fn a_head_not_yet_whole_waits_for_more() {
    for cut in [
        "",
        "GET / HT",
        "GET / HTTP/1.1\r\nHost: a\r\n",
        "GET / HTTP/1.1\r\nHost: a\r\n\r",
    ] {
        assert!(matches!(request(cut), Parsed::Partial), "{cut:?}");
    }
}

fn response(text: &str, head_request: bool) -> Result<Option<ResponseHead>, BadResponse> {
    let mut buf = BytesMut::from(text.as_bytes());
    let parsed = parse_response(&mut buf, head_request, &mut Scratch::default())?;
    if let Some(head) = &parsed {
        let taken = head.headers.raw().len();
        assert_eq!(taken + buf.len(), text.len(), "the head's bytes are taken");
    }
    Ok(parsed)
}

fn framing(text: &str) -> (Framing, bool) {
    let head = response(text, false)
        .expect("usable")
        .expect("a whole head");
    (head.body, head.reusable)
}

#[test]
fn response_framing_follows_rfc_9112() {
    use Framing::*;
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"),
        (Length(2), true)
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\ncontent-length: 2, 2\r\n\r\n"),
        (Length(2), true)
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n"),
        (Empty, true)
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 9\r\n\r\n"),
        (Chunked, true)
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n"),
        (Close, false)
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\n\r\nuntil close"),
        (Close, false)
    );
    assert_eq!(framing("HTTP/1.1 204 No Content\r\n\r\n"), (Empty, true));
    assert_eq!(
        framing("HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n"),
        (Empty, true)
    );
    assert_eq!(
        framing("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n"),
        (Length(2), false)
    );
    assert_eq!(
        framing("HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n"),
        (Length(2), false)
    );
    assert_eq!(
        framing("HTTP/1.0 200 OK\r\nContent-Length: 2\r\nConnection: Keep-Alive\r\n\r\n"),
        (Length(2), true)
    );
    let head = response("HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n", true)
        .expect("usable")
        .expect("whole");
    assert_eq!(head.body, Empty, "the answer to HEAD has no body");
    let early = response(
        "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\n",
        false,
    )
    .expect("usable")
    .expect("whole");
    assert!(early.is_interim());
}

#[test]
fn unusable_response_heads_are_errors() {
    for (text, bad) in [
        (
            "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n",
            BadResponse::Malformed,
        ),
        (
            "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
            BadResponse::Malformed,
        ),
        ("HTTP/1.1 2000 OK\r\n\r\n", BadResponse::Malformed),
        (
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: h2c\r\n\r\n",
            BadResponse::Switching,
        ),
        ("SSH-2.0-OpenSSH\r\n\r\n", BadResponse::Malformed),
    ] {
        assert_eq!(response(text, false).err(), Some(bad), "{text:?}");
    }
    let long = format!("HTTP/1.1 200 OK\r\nx: {}", "a".repeat(MAX_HEAD));
    assert_eq!(response(&long, false).err(), Some(BadResponse::TooLong));
    assert!(matches!(response("HTTP/1.1 200 OK\r\n", false), Ok(None)));
}

#[test]
fn heads_are_written_in_origin_form_with_their_framing() {
    let h = head("POST /p?q HTTP/1.1\r\nHost: a\r\nX-One: 1\r\n\r\n");
    let mut out = Vec::new();
    write_request_head(&mut out, &h.parts, Framing::Chunked);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "POST /p?q HTTP/1.1\r\nhost: a\r\nx-one: 1\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let mut headers = HeaderMap::new();
    headers.insert(CONTENT_LENGTH, HeaderValue::from_static("2"));
    out.clear();
    write_response_head(
        &mut out,
        StatusCode::NOT_FOUND,
        &headers,
        Framing::Length(2),
        true,
    );
    assert_eq!(
        String::from_utf8_lossy(&out),
        "HTTP/1.1 404 Not Found\r\ncontent-length: 2\r\nconnection: close\r\n\r\n"
    );
}

#[test]
fn a_response_head_crosses_as_it_came_less_its_hop_by_hop_headers() {
    let text = "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Hop\r\nX-Hop: 1\r\nServer: s\r\n\
                Keep-Alive: timeout=5\r\nTE: gzip\r\nTransfer-Encoding: chunked\r\nX-Kept: 2\r\n\
                Proxy-Authenticate: Basic\r\n\r\n";
    let head = response(text, false).expect("usable").expect("whole");
    let keep = head.headers.end_to_end(head.body);
    let kept: Vec<_> = head
        .headers
        .iter()
        .enumerate()
        .filter(|(i, _)| keep & (1 << i) != 0)
        .map(|(_, (n, _))| String::from_utf8_lossy(n).into_owned())
        .collect();
    assert_eq!(kept, ["Server", "X-Kept"]);
    let mut out = Vec::new();
    write_raw_response_head(&mut out, head.status, &head.headers, keep, head.body, false);
    assert_eq!(
        String::from_utf8_lossy(&out),
        "HTTP/1.1 200 OK\r\nServer: s\r\nX-Kept: 2\r\ntransfer-encoding: chunked\r\n\r\n"
    );
    let trailers = response(
        "HTTP/1.1 200 OK\r\nTE: trailers\r\nContent-Length: 0\r\n\r\n",
        false,
    )
    .expect("usable")
    .expect("whole");
    assert_eq!(
        trailers.headers.end_to_end(trailers.body),
        0b11,
        "TE: trailers crosses"
    );
    let both = "HTTP/1.1 200 OK\r\nContent-Length: 9\r\nTransfer-Encoding: chunked\r\n\r\n";
    let both = response(both, false).expect("usable").expect("whole");
    assert_eq!(both.body, Framing::Chunked);
    assert_eq!(
        both.headers.end_to_end(both.body),
        0,
        "the length is dropped"
    );
    let coded = "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n";
    let coded = response(coded, false).expect("usable").expect("whole");
    assert_eq!(coded.body, Framing::Close);
    assert_eq!(
        coded.headers.end_to_end(coded.body),
        1,
        "the coding stays for the client"
    );
}
