//! HTTP/1.1 to the app for requests that run concurrently (HTTP/2 clients' streams), over the
//! native path's own connections: a pool of them, each used by one request from its head
//! until its response body ends, then kept for the next (the most recently used first), at
//! most `limit` in use at once (a request finding them all in use waits, as Envoy queues at
//! a cluster's connection limit). Unlike hyper's client, a connection has no task of its
//! own: the request's task writes the request and reads the response, and the response body
//! ([`AppBody`]) reads the socket as it is polled, decoding a chunked body into data frames.

use super::progress::Progress;
use super::wire::{self, Framing, ResponseHead, Scratch};
use super::{closed_before_head, connect_to, next_head, still_open, Failure, READ_SIZE};
use crate::body::CountingBody;
use crate::upstream::Places;
use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::{HeaderMap, CONTENT_LENGTH};
use hyper::{Request, StatusCode};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;

/// A connection to the app, with what was read from it and not yet used.
#[derive(Debug)]
struct AppConn {
    stream: TcpStream,
    buf: BytesMut,
    scratch: Scratch,
}

/// The app's connections for concurrent requests.
#[derive(Debug)]
pub struct AppConns {
    addr: SocketAddr,
    connect_timeout: Duration,
    idle: Mutex<Vec<AppConn>>,
    places: Places,
}

impl AppConns {
    /// Connections to `addr`, at most `limit` in use at once (0: no limit).
    pub fn new(addr: SocketAddr, limit: usize, connect_timeout: Duration) -> AppConns {
        AppConns {
            addr,
            connect_timeout,
            idle: Mutex::new(Vec::new()),
            places: Places::new(limit),
        }
    }

    /// Sends `req` (origin-form URI, `Host` set, hop-by-hop headers gone) and reads the
    /// response head; the body follows as the returned [`AppBody`] is polled. A kept
    /// connection found closed before it answered is replaced once, when the request is
    /// idempotent and has no body (it can be sent again as it was).
    pub async fn send(
        self: &Arc<Self>,
        req: Request<CountingBody>,
        head_request: bool,
    ) -> Result<(StatusCode, HeaderMap, AppBody), Failure> {
        let place = self.places.take().await;
        let (parts, mut body) = req.into_parts();
        let framing = if body.is_end_stream() {
            Framing::Empty
        } else {
            match parts
                .headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
            {
                Some(n) => Framing::Length(n.trim().parse().map_err(|_| Failure::Client)?),
                None => Framing::Chunked,
            }
        };
        let mut out = Vec::with_capacity(512);
        wire::write_request_head(&mut out, &parts, framing);
        let again = framing == Framing::Empty && parts.method.is_idempotent();
        let mut retried = false;
        let (head, mut conn) = loop {
            // a second try goes on a fresh connection: the others kept may be as stale
            let kept = match retried {
                false => self.idle.lock().ok().and_then(|mut idle| idle.pop()),
                true => None,
            };
            // one that already reads as closed is not worth a try
            let kept = kept.filter(|c| again || still_open(&c.stream));
            let reused = kept.is_some();
            let mut conn = match kept {
                Some(c) => c,
                None => AppConn {
                    stream: connect_to(self.addr, self.connect_timeout).await?,
                    buf: BytesMut::with_capacity(READ_SIZE),
                    scratch: Scratch::default(),
                },
            };
            let sent = match conn.stream.write_all(&out).await {
                Ok(()) => send_body(&mut conn.stream, &mut body, framing).await,
                Err(e) => Err(Failure::Exchange(e)),
            };
            let answered = match sent {
                Ok(()) => read_head(&mut conn, head_request).await,
                Err(f) => Err(f),
            };
            match answered {
                Ok(head) => break (head, conn),
                Err(Failure::Exchange(e)) if reused && again && !retried => {
                    tracing::debug!(error = %e, addr = %self.addr, "kept app connection closed");
                    retried = true;
                }
                Err(f) => return Err(f),
            }
        };
        let ResponseHead {
            status,
            headers,
            body: framing,
            reusable,
        } = head;
        let map = headers.to_map();
        headers.recycle(&mut conn.scratch);
        let map = map.ok_or(Failure::Protocol)?;
        let mut body = AppBody {
            conn: Some(conn),
            pool: self.clone(),
            place,
            progress: Progress::new(framing),
            reusable,
            ended: false,
        };
        if body.progress.is_done() {
            // no body to read: the connection goes back at once
            body.finish();
        }
        Ok((status, map, body))
    }
}

/// Writes the request body: as it came when its length is known, else chunked.
async fn send_body(
    stream: &mut TcpStream,
    body: &mut CountingBody,
    framing: Framing,
) -> Result<(), Failure> {
    if framing == Framing::Empty {
        return Ok(());
    }
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|_| Failure::Client)?;
        let Ok(data) = frame.into_data() else {
            // trailers: an HTTP/1.1 app gets none
            continue;
        };
        if data.is_empty() {
            continue;
        }
        let written = match framing {
            Framing::Chunked => {
                let size = format!("{:x}\r\n", data.len());
                let parts = [size.as_bytes(), &data, b"\r\n"];
                write_all_of(stream, &parts).await
            }
            _ => stream.write_all(&data).await,
        };
        written.map_err(Failure::Exchange)?;
    }
    if framing == Framing::Chunked {
        stream
            .write_all(b"0\r\n\r\n")
            .await
            .map_err(Failure::Exchange)?;
    }
    Ok(())
}

async fn write_all_of(stream: &mut TcpStream, parts: &[&[u8]]) -> io::Result<()> {
    let mut joined = Vec::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        joined.extend_from_slice(p);
    }
    stream.write_all(&joined).await
}

/// Reads the final response head (interim ones are dropped: an HTTP/2 stream here gets
/// only the final answer).
async fn read_head(conn: &mut AppConn, head_request: bool) -> Result<ResponseHead, Failure> {
    use tokio::io::AsyncReadExt;
    loop {
        if !conn.buf.is_empty() {
            match next_head(&mut conn.buf, head_request, &mut conn.scratch)? {
                Some(head) if head.is_interim() => {
                    head.headers.recycle(&mut conn.scratch);
                    continue;
                }
                Some(head) => return Ok(head),
                None => {}
            }
        }
        conn.buf.reserve(READ_SIZE);
        match conn.stream.read_buf(&mut conn.buf).await {
            Ok(0) => return Err(closed_before_head()),
            Ok(_) => {}
            Err(e) => return Err(Failure::Exchange(e)),
        }
    }
}

/// A response body read from the app's connection as it is polled. When it ends, the
/// connection goes back to the pool (if the app keeps it); dropped before, the connection is
/// closed.
#[derive(Debug)]
pub struct AppBody {
    conn: Option<AppConn>,
    pool: Arc<AppConns>,
    /// The place among the `limit` in use, freed when the body ends.
    place: Option<OwnedSemaphorePermit>,
    progress: Progress,
    reusable: bool,
    ended: bool,
}

impl AppBody {
    fn finish(&mut self) {
        self.ended = true;
        if let Some(conn) = self.conn.take() {
            if self.reusable && conn.buf.is_empty() {
                if let Ok(mut idle) = self.pool.idle.lock() {
                    idle.push(conn);
                }
            }
        }
        self.place = None;
    }

    /// The next data in the buffer, if any (`None` also when the bytes were framing only).
    fn take_data(&mut self) -> Result<Option<Bytes>, io::Error> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(None);
        };
        let bad = || io::Error::new(io::ErrorKind::InvalidData, "bad chunked framing");
        let (n, range) = self.progress.next_data(&conn.buf).map_err(|_| bad())?;
        let data = conn.buf.split_to(n).freeze().slice(range);
        if self.progress.is_done() {
            self.finish();
        }
        Ok((!data.is_empty()).then_some(data))
    }
}

impl Body for AppBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        loop {
            if this.ended {
                return Poll::Ready(None);
            }
            let has_bytes = this.conn.as_ref().is_some_and(|c| !c.buf.is_empty());
            if has_bytes {
                match this.take_data() {
                    Ok(Some(data)) => return Poll::Ready(Some(Ok(Frame::data(data)))),
                    Ok(None) => continue,
                    Err(e) => {
                        this.conn = None;
                        return Poll::Ready(Some(Err(e)));
                    }
                }
            }
            let Some(conn) = this.conn.as_mut() else {
                return Poll::Ready(None);
            };
            conn.buf.reserve(READ_SIZE);
            match conn.stream.try_read_buf(&mut conn.buf) {
                Ok(0) => {
                    let to_close = this.progress.is_close_delimited();
                    this.conn = None;
                    this.ended = true;
                    if to_close {
                        return Poll::Ready(None);
                    }
                    let cut = io::Error::new(io::ErrorKind::UnexpectedEof, "app closed mid-body");
                    return Poll::Ready(Some(Err(cut)));
                }
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    match conn.stream.poll_read_ready(cx) {
                        Poll::Pending => return Poll::Pending,
                        Poll::Ready(Ok(())) => {}
                        Poll::Ready(Err(e)) => {
                            this.conn = None;
                            return Poll::Ready(Some(Err(e)));
                        }
                    }
                }
                Err(e) => {
                    this.conn = None;
                    return Poll::Ready(Some(Err(e)));
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended
    }

    fn size_hint(&self) -> SizeHint {
        match &self.progress {
            Progress::Length { left, .. } => SizeHint::with_exact(*left),
            _ => SizeHint::default(),
        }
    }
}
