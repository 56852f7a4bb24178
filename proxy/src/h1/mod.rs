//! The native HTTP/1.1 path: an HTTP/1.1 client's connection forwarded to an HTTP/1.1
//! upstream by one task that owns both sockets, as haproxy does. Heads are parsed
//! ([`wire`]) into the same parts hyper would make, so everything between — the route, the
//! hop-by-hop and tracing headers, the bag, the check and its directives — is
//! [`forward::admit`], shared with the hyper path. Bodies are forwarded as they came,
//! `Content-Length` or chunked ([`chunked`] finds their end), never re-framed.
//!
//! Against hyper's server and client this saves, per request: the client connection's own
//! task and the channel to it, the body channels, re-encoding both heads from header maps
//! kept twice, and a service future. What the path does not forward itself — HTTP/1.0,
//! `Expect`, `Upgrade`, `CONNECT`, unusual framing, a malformed head — it hands to hyper with
//! the bytes read so far ([`Rewind`]), for the rest of the connection.

mod app;
pub mod chunked;
mod progress;
mod rewind;
pub mod wire;

pub use app::{AppBody, AppConns};
pub use rewind::Rewind;

use crate::body::Completion;
use crate::check::directive;
use crate::config::Direction;
use crate::forward::{self, connect_timeout, to_origin_form, Admitted, Local, Refused, Shared};
use crate::headers::strip_hop_by_hop;
use bytes::{Buf, Bytes, BytesMut};
use hyper::header::{HeaderValue, CONTENT_LENGTH};
use hyper::Method;
use mixer_proto::mixer::HeaderOperation;
use progress::Progress;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::watch;
use wire::{Framing, Parsed, RequestHead, ResponseHead, Scratch};

/// How a connection left the native path.
#[derive(Debug)]
pub enum Ended {
    /// It is over.
    Closed,
    /// hyper takes it from here: the stream, and the bytes already read from it.
    Elsewhere(TcpStream, Bytes),
}

/// Serves `stream` (an HTTP/1.1 client of the `dir` listener) until it closes or needs hyper.
/// Once `stop` changes, the request in flight (if any) finishes within `grace` and is
/// answered with `Connection: close`.
pub async fn serve(
    stream: TcpStream,
    shared: Arc<Shared>,
    dir: Direction,
    peer: SocketAddr,
    mut stop: watch::Receiver<bool>,
    grace: Duration,
) -> Ended {
    let idle = Arc::new(AtomicBool::new(false));
    let conn = Conn {
        shared,
        dir,
        peer,
        down: stream,
        buf: BytesMut::with_capacity(READ_SIZE),
        out: Vec::with_capacity(READ_SIZE),
        up: None,
        scratch: Scratch::default(),
        idle: idle.clone(),
    };
    let run = conn.run(stop.clone());
    tokio::pin!(run);
    // stop is watched here, once, not around each read of a request head (a watch
    // registration per request cost ~1k instructions): waiting between requests, the
    // connection just closes; in the middle of one, it finishes within the grace period
    tokio::select! {
        ended = run.as_mut() => ended,
        _ = stop.changed() => {
            if idle.load(Relaxed) {
                return Ended::Closed;
            }
            tokio::time::timeout(grace, run).await.unwrap_or(Ended::Closed)
        }
    }
}

/// Bytes read at a time, and the buffers' first size.
pub(crate) const READ_SIZE: usize = 8 * 1024;

/// The upstream connection a downstream connection keeps between its requests.
#[derive(Debug)]
struct Upstream {
    authority: String,
    stream: TcpStream,
    buf: BytesMut,
}

struct Conn {
    shared: Arc<Shared>,
    dir: Direction,
    peer: SocketAddr,
    down: TcpStream,
    /// Read from downstream, not yet used.
    buf: BytesMut,
    /// What goes out next, either way.
    out: Vec<u8>,
    up: Option<Upstream>,
    scratch: Scratch,
    /// Set while waiting for a request to begin: the connection may close at once.
    idle: Arc<AtomicBool>,
}

/// Why no response head came.
#[derive(Debug)]
pub enum Failure {
    /// No connection could be made (`UF`).
    Connect(io::Error),
    /// The connection ended or failed before the head (`UC`).
    Exchange(io::Error),
    /// The head was not HTTP/1.1 (`UPE`).
    Protocol,
    /// The client left, or its request body broke off.
    Client,
}

impl Conn {
    async fn run(mut self, stop: watch::Receiver<bool>) -> Ended {
        loop {
            let head = match self.read_head(&stop).await {
                Ok(Some(head)) => head,
                Ok(None) => return Ended::Closed,
                Err(()) => return Ended::Elsewhere(self.down, self.buf.freeze()),
            };
            let RequestHead {
                parts,
                body,
                keep_alive,
            } = head;
            let head_request = parts.method == Method::HEAD;
            let admitted = forward::admit(&self.shared, self.dir, self.peer, parts).await;
            let keep = match admitted {
                Ok(a) => self.forward(a, body, head_request, keep_alive, &stop).await,
                Err(refused) => {
                    // the request's body was not read: the connection cannot go on
                    let closing = !keep_alive || body != Framing::Empty || *stop.borrow();
                    self.answer(refused, head_request, closing).await && !closing
                }
            };
            if !keep {
                return Ended::Closed;
            }
        }
    }

    /// The next request head: `Ok(None)` when the client closes (or `stop` has changed)
    /// between requests, `Err(())` when hyper is to take over.
    async fn read_head(&mut self, stop: &watch::Receiver<bool>) -> Result<Option<RequestHead>, ()> {
        loop {
            if !self.buf.is_empty() {
                match wire::parse_request(&mut self.buf, &mut self.scratch) {
                    Parsed::Head(head, _) => return Ok(Some(head)),
                    Parsed::Partial => {}
                    Parsed::Elsewhere(why) => {
                        tracing::trace!(why, peer = %self.peer, "HTTP/1.1 connection handed to hyper");
                        return Err(());
                    }
                }
            } else if *stop.borrow() {
                return Ok(None);
            }
            self.buf.reserve(READ_SIZE);
            let between = self.buf.is_empty();
            self.idle.store(between, Relaxed);
            let read = self.down.read_buf(&mut self.buf).await;
            if between {
                self.idle.store(false, Relaxed);
            }
            match read {
                Ok(0) if self.buf.is_empty() => return Ok(None),
                // a head cut short: hyper answers it as it always did
                Ok(0) => return Err(()),
                Ok(_) => {}
                Err(_) => return Ok(None),
            }
        }
    }

    /// Writes the proxy's own answer; false when the client is gone.
    async fn answer(&mut self, refused: Refused, head_request: bool, closing: bool) -> bool {
        let (status, mut headers, text, mut completion) = refused.into_answer();
        headers.insert(CONTENT_LENGTH, HeaderValue::from(text.len()));
        self.out.clear();
        let framing = Framing::Length(text.len() as u64);
        wire::write_response_head(&mut self.out, status, &headers, framing, closing);
        let sent = if head_request { 0 } else { text.len() };
        self.out.extend_from_slice(&text[..sent]);
        let ok = self.down.write_all(&self.out).await.is_ok();
        completion.done(sent as u64, if ok { "" } else { "DC" });
        ok
    }

    /// Forwards an admitted request and its response; true when the connection goes on.
    async fn forward(
        &mut self,
        admitted: Admitted,
        body: Framing,
        head_request: bool,
        keep_alive: bool,
        stop: &watch::Receiver<bool>,
    ) -> bool {
        let Admitted {
            mut parts,
            authority,
            mut completion,
            request_size,
            verdict,
            ..
        } = admitted;
        let ops = forward::directive_response_ops(verdict.as_ref());
        to_origin_form(&mut parts.uri);
        self.out.clear();
        wire::write_request_head(&mut self.out, &parts, body);
        let idempotent = parts.method.is_idempotent();
        drop(parts);
        let mut sent = Progress::new(body);
        let timeout = self.shared.upstream_timeout;
        let exchange = self.exchange(&authority, &mut sent, head_request, idempotent);
        let result = tokio::time::timeout(timeout, exchange).await;
        request_size.store(sent.data(), Relaxed);
        let failure = match result {
            Ok(Ok(head)) => {
                return self
                    .respond(head, ops, completion, keep_alive && sent.is_done(), stop)
                    .await
            }
            Ok(Err(Failure::Client)) => {
                self.up = None;
                completion.done(0, "DC");
                return false;
            }
            Ok(Err(failure)) => forward::Upstream::from(failure).into_local(&authority),
            Err(_) => Local::timeout(),
        };
        self.up = None;
        self.shared.metrics.upstream_failure(self.dir);
        let closing = !keep_alive || !sent.is_done() || *stop.borrow();
        self.answer(Refused::new(failure, completion), head_request, closing)
            .await
            && !closing
    }

    /// Sends the request (head and body; `self.out` holds the head) and reads the response
    /// head, forwarding interim (1xx) heads. A kept connection that turns out closed before
    /// answering anything is replaced once when the request can be sent again: whole, and
    /// `idempotent` (RFC 9110 §9.2.2; a POST the upstream may have acted on is not sent
    /// twice). Other requests are sent on a kept connection only when it does not already
    /// read as closed.
    async fn exchange(
        &mut self,
        authority: &str,
        sent: &mut Progress,
        head_request: bool,
        idempotent: bool,
    ) -> Result<ResponseHead, Failure> {
        let Conn {
            shared,
            down,
            buf,
            out,
            up,
            scratch,
            ..
        } = self;
        // the body's bytes already read go out with the head
        let n = sent.take(buf).map_err(|_| Failure::Client)?;
        out.extend_from_slice(&buf[..n]);
        buf.advance(n);
        let whole = sent.is_done();
        let mut retried = false;
        loop {
            let kept = up.as_ref().is_some_and(|u| u.authority == authority);
            let u = match up {
                Some(u) if kept => u,
                _ => {
                    *up = None;
                    let stream = connect(shared, authority).await?;
                    up.insert(Upstream {
                        authority: authority.to_owned(),
                        stream,
                        buf: BytesMut::with_capacity(READ_SIZE),
                    })
                }
            };
            let again = kept && !retried && whole && idempotent;
            // a kept connection that is already readable is closing (or broken): replace it
            if kept && !again && !still_open(&u.stream) {
                *up = None;
                continue;
            }
            if let Err(e) = u.stream.write_all(out).await {
                *up = None;
                if again {
                    retried = true;
                    continue;
                }
                return Err(Failure::Exchange(e));
            }
            if !whole {
                copy_request_body(down, buf, &mut u.stream, sent).await?;
            }
            match read_response_head(down, buf, u, head_request, scratch).await {
                Ok(head) => return Ok(head),
                Err(Failure::Exchange(e)) if again && u.buf.is_empty() => {
                    tracing::debug!(error = %e, authority, "kept upstream connection closed");
                    *up = None;
                    retried = true;
                }
                Err(f) => return Err(f),
            }
        }
    }

    /// Forwards the response head and body; true when the connection goes on.
    async fn respond(
        &mut self,
        head: ResponseHead,
        ops: &[HeaderOperation],
        mut completion: Completion,
        keep_alive: bool,
        stop: &watch::Receiver<bool>,
    ) -> bool {
        let ResponseHead {
            status,
            headers,
            body,
            reusable,
        } = head;
        completion.code = status.as_u16();
        let closing = !keep_alive || body == Framing::Close || *stop.borrow();
        self.out.clear();
        if ops.is_empty() {
            // as it came, less its hop-by-hop headers
            let keep = headers.end_to_end(body);
            let crossing = || {
                headers
                    .iter()
                    .enumerate()
                    .filter(move |(i, _)| keep & (1 << i) != 0)
                    .map(|(_, h)| h)
            };
            if completion.records() {
                completion.response_pairs(crossing());
            }
            wire::write_raw_response_head(&mut self.out, status, &headers, keep, body, closing);
        } else {
            // a route directive edits the headers: as a map
            let Some(mut map) = headers.to_map() else {
                headers.recycle(&mut self.scratch);
                self.up = None;
                self.shared.metrics.upstream_failure(self.dir);
                // the connection closes after it (a HEAD request's answer gets the body too)
                let refused = Refused::new(Local::protocol_error(), completion);
                self.answer(refused, false, true).await;
                return false;
            };
            strip_hop_by_hop(&mut map);
            directive::apply(&mut map, ops);
            if completion.records() {
                completion.response_head(&map);
                completion.grpc_from(&map);
            }
            wire::write_response_head(&mut self.out, status, &map, body, closing);
        }
        headers.recycle(&mut self.scratch);
        let Some(up) = self.up.as_mut() else {
            completion.done(0, "UR");
            return false;
        };
        let mut received = Progress::new(body);
        let flags = match copy_response_body(&mut self.down, &mut self.out, up, &mut received).await
        {
            Ok(()) => "",
            Err(Broke::Downstream) => "DC",
            Err(Broke::Upstream) => "UR",
        };
        completion.done(received.data(), flags);
        if !flags.is_empty() || !reusable || !up.buf.is_empty() {
            self.up = None;
        }
        flags.is_empty() && !closing
    }
}

/// Connects to `authority` (an address, or a host name resolved here) within the connect
/// timeout.
async fn connect(shared: &Shared, authority: &str) -> Result<TcpStream, Failure> {
    let limit = connect_timeout(shared.upstream_timeout);
    match authority.parse::<SocketAddr>() {
        Ok(addr) => connect_to(addr, limit).await,
        Err(_) if authority.contains(':') => connect_to(authority, limit).await,
        Err(_) => connect_to((authority, 80), limit).await,
    }
}

/// Connects to `addr` within `limit`.
async fn connect_to(
    addr: impl tokio::net::ToSocketAddrs,
    limit: Duration,
) -> Result<TcpStream, Failure> {
    match tokio::time::timeout(limit, TcpStream::connect(addr)).await {
        Ok(Ok(stream)) => {
            let _ = stream.set_nodelay(true);
            Ok(stream)
        }
        Ok(Err(e)) => Err(Failure::Connect(e)),
        Err(_) => Err(Failure::Connect(io::Error::new(
            io::ErrorKind::TimedOut,
            "connect timed out",
        ))),
    }
}

/// False when a kept connection has something to read before a request was sent: the
/// upstream closed it (or broke it) while it was idle.
fn still_open(stream: &TcpStream) -> bool {
    let mut probe = [0u8; 1];
    matches!(stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
}

/// Streams the rest of a request body from the client to the upstream.
async fn copy_request_body(
    down: &mut TcpStream,
    buf: &mut BytesMut,
    up: &mut TcpStream,
    sent: &mut Progress,
) -> Result<(), Failure> {
    while !sent.is_done() {
        if buf.is_empty() {
            buf.reserve(READ_SIZE);
            match down.read_buf(buf).await {
                Ok(0) | Err(_) => return Err(Failure::Client),
                Ok(_) => {}
            }
        }
        let n = sent.take(buf).map_err(|_| Failure::Client)?;
        up.write_all(&buf[..n]).await.map_err(Failure::Exchange)?;
        buf.advance(n);
    }
    Ok(())
}

/// Reads the response head from the upstream, forwarding interim heads to the client, and
/// watching the client meanwhile: a client that closes is [`Failure::Client`] (bytes it
/// sends are kept for its next request).
async fn read_response_head(
    down: &mut TcpStream,
    buf: &mut BytesMut,
    up: &mut Upstream,
    head_request: bool,
    scratch: &mut Scratch,
) -> Result<ResponseHead, Failure> {
    loop {
        if !up.buf.is_empty() {
            match next_head(&mut up.buf, head_request, scratch)? {
                Some(head) if head.is_interim() => {
                    let sent = down.write_all(head.headers.raw()).await;
                    head.headers.recycle(scratch);
                    sent.map_err(|_| Failure::Client)?;
                    continue;
                }
                Some(head) => return Ok(head),
                None => {}
            }
        }
        up.buf.reserve(READ_SIZE);
        let watching = buf.len() < wire::MAX_HEAD;
        tokio::select! {
            r = up.stream.read_buf(&mut up.buf) => match r {
                Ok(0) => return Err(closed_before_head()),
                Ok(_) => {}
                Err(e) => return Err(Failure::Exchange(e)),
            },
            left = client_left(down, buf), if watching => {
                if left {
                    return Err(Failure::Client);
                }
            }
        }
    }
}

/// The next response head (final or interim) at the start of `buf`; `Ok(None)` when more
/// must be read.
fn next_head(
    buf: &mut BytesMut,
    head_request: bool,
    scratch: &mut Scratch,
) -> Result<Option<ResponseHead>, Failure> {
    wire::parse_response(buf, head_request, scratch).map_err(|bad| {
        tracing::debug!(?bad, "upstream response head");
        Failure::Protocol
    })
}

fn closed_before_head() -> Failure {
    Failure::Exchange(io::Error::new(
        io::ErrorKind::UnexpectedEof,
        "closed before the response head",
    ))
}

/// Waits until the client sends something: true when it closed (or failed), false when it
/// sent bytes (kept in `buf`: a pipelined request).
async fn client_left(down: &TcpStream, buf: &mut BytesMut) -> bool {
    loop {
        if down.readable().await.is_err() {
            return true;
        }
        buf.reserve(READ_SIZE);
        match down.try_read_buf(buf) {
            Ok(0) => return true,
            Ok(_) => return false,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
            Err(_) => return true,
        }
    }
}

/// Which side broke a response body off.
enum Broke {
    Downstream,
    Upstream,
}

/// Sends `out` (the response head) with the body bytes already read, then the rest of the
/// body as it arrives.
async fn copy_response_body(
    down: &mut TcpStream,
    out: &mut Vec<u8>,
    up: &mut Upstream,
    received: &mut Progress,
) -> Result<(), Broke> {
    let n = received.take(&up.buf).map_err(|_| Broke::Upstream)?;
    out.extend_from_slice(&up.buf[..n]);
    up.buf.advance(n);
    down.write_all(out).await.map_err(|_| Broke::Downstream)?;
    while !received.is_done() {
        up.buf.reserve(READ_SIZE);
        match up.stream.read_buf(&mut up.buf).await {
            Ok(0) if received.is_close_delimited() => return Ok(()),
            Ok(0) | Err(_) => return Err(Broke::Upstream),
            Ok(_) => {}
        }
        let n = received.take(&up.buf).map_err(|_| Broke::Upstream)?;
        down.write_all(&up.buf[..n])
            .await
            .map_err(|_| Broke::Downstream)?;
        up.buf.advance(n);
    }
    Ok(())
}
