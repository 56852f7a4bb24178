//! The upstream HTTP/1.1 connection of one downstream connection. A downstream HTTP/1.1
//! connection sends its requests one after the other, so it can keep one upstream connection
//! to itself: no pool to look up and lock per request, no task spawned per request to hand the
//! connection back (hyper's pooled client does both), and the request goes out in origin form
//! as it is. HTTP/2 downstream streams, which run concurrently, use the pool. The slot holds
//! the connection between requests; a request that finds it in use, or addressed elsewhere,
//! is told to use the pool instead. A connection the upstream closed is replaced, and a
//! request it refused before reading any of it is sent again once on a fresh connection, as
//! the pool does.

use crate::body::CountingBody;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// What went wrong on the way to a response head.
#[derive(Debug)]
pub enum Failure {
    /// No connection could be made (Envoy's `UF`).
    Connect(std::io::Error),
    /// The connection broke before the response head (`UC`).
    Exchange(hyper::Error),
}

#[derive(Debug)]
struct Held {
    addr: SocketAddr,
    sender: SendRequest<CountingBody>,
}

/// What the slot holds between and during requests.
#[derive(Debug, Default)]
enum Slot {
    /// Not connected yet, or the last connection was given up.
    #[default]
    Empty,
    Idle(Held),
    /// A request is using the connection.
    Busy,
}

/// One downstream connection's upstream connection, kept between its requests.
#[derive(Debug, Default)]
pub struct ConnUpstream {
    slot: Mutex<Slot>,
}

/// Marks the slot busy while a request uses it; frees it when dropped (the request failed,
/// timed out or was cancelled) unless the connection was handed back.
struct InUse<'a>(&'a ConnUpstream);

impl Drop for InUse<'_> {
    fn drop(&mut self) {
        if let Ok(mut slot) = self.0.slot.lock() {
            if matches!(*slot, Slot::Busy) {
                *slot = Slot::Empty;
            }
        }
    }
}

impl ConnUpstream {
    /// Sends `req` (origin-form URI, `Host` set) to `addr` over this downstream connection's
    /// upstream connection, connecting first when there is none. `Err(req)` when the
    /// connection is busy with another request: the caller uses the pool.
    pub async fn send(
        &self,
        addr: SocketAddr,
        connect_timeout: Duration,
        req: Request<CountingBody>,
    ) -> Result<Result<Response<Incoming>, Failure>, Request<CountingBody>> {
        let taken = match self.slot.lock() {
            Ok(mut slot) => match std::mem::replace(&mut *slot, Slot::Busy) {
                Slot::Busy => return Err(req),
                Slot::Idle(h) if h.addr != addr => {
                    // another upstream on this connection (an outbound proxy client switching
                    // hosts): keep ours for the requests that follow and use the pool
                    *slot = Slot::Idle(h);
                    return Err(req);
                }
                Slot::Idle(h) => Some(h),
                Slot::Empty => None,
            },
            Err(_) => return Err(req),
        };
        let in_use = InUse(self);
        let taken = taken.map(|h| h.sender);
        match exchange(addr, connect_timeout, taken, req).await {
            Ok((resp, sender)) => {
                if let Ok(mut slot) = in_use.0.slot.lock() {
                    *slot = Slot::Idle(Held { addr, sender });
                }
                Ok(Ok(resp))
            }
            Err(failure) => Ok(Err(failure)),
        }
    }
}

/// Sends `req` over `kept` (a connection kept from earlier requests) or, without one, a new
/// connection to `addr`. A kept connection found closed is replaced once, and a request a
/// connection refused before reading any of it is sent again once on a fresh one; gives back
/// the connection with the response head.
async fn exchange(
    addr: SocketAddr,
    connect_timeout: Duration,
    kept: Option<SendRequest<CountingBody>>,
    req: Request<CountingBody>,
) -> Result<(Response<Incoming>, SendRequest<CountingBody>), Failure> {
    let (mut sender, reused) = match kept {
        Some(s) if !s.is_closed() => (s, true),
        _ => (
            Box::pin(connect(addr, connect_timeout))
                .await
                .map_err(Failure::Connect)?,
            false,
        ),
    };
    let mut req = req;
    let mut retried = !reused;
    loop {
        let ready = sender.ready().await;
        let sent = match ready {
            Ok(()) => sender.try_send_request(req).await,
            Err(e) if !retried => {
                // the kept connection closed while idle: a fresh one, once
                tracing::debug!(error = %e, %addr, "kept upstream connection closed");
                retried = true;
                sender = Box::pin(connect(addr, connect_timeout))
                    .await
                    .map_err(Failure::Connect)?;
                continue;
            }
            Err(e) => return Err(Failure::Exchange(e)),
        };
        match sent {
            Ok(resp) => return Ok((resp, sender)),
            Err(mut e) => match e.take_message() {
                // refused before any of it was written: safe to send again
                Some(back) if !retried => {
                    retried = true;
                    req = back;
                    sender = Box::pin(connect(addr, connect_timeout))
                        .await
                        .map_err(Failure::Connect)?;
                }
                _ => return Err(Failure::Exchange(e.into_error())),
            },
        }
    }
}

/// At most so many connections in use at once (`None`: no limit): a request takes a place
/// before it takes a connection, and waits for one when there is none.
#[derive(Debug, Clone)]
pub(crate) struct Places(Option<Arc<Semaphore>>);

impl Places {
    /// `limit` places; 0: no limit.
    pub(crate) fn new(limit: usize) -> Places {
        Places((limit > 0).then(|| Arc::new(Semaphore::new(limit))))
    }

    /// A place, once one is free (always at once without a limit).
    pub(crate) async fn take(&self) -> Option<OwnedSemaphorePermit> {
        match &self.0 {
            // never closed: acquiring only waits
            Some(limit) => limit.clone().acquire_owned().await.ok(),
            None => None,
        }
    }
}

/// HTTP/1.1 connections to the app shared by the requests that cannot have one to themselves
/// (HTTP/2 downstream streams, which run concurrently): at most `limit` in use at once, each
/// used by one request from its head until its response body ends ([`AppLease`]), then kept
/// for the next (the most recently used first). A request finding them all in use waits for
/// one, as Envoy queues at a cluster's connection limit. Unlike a general pool, there is no
/// lookup by host, no lock held across a request, and no task spawned per request to hand the
/// connection back.
#[derive(Debug)]
pub struct AppPool {
    addr: SocketAddr,
    connect_timeout: Duration,
    idle: Mutex<Vec<SendRequest<CountingBody>>>,
    places: Places,
}

/// One request's use of an [`AppPool`] connection: dropped when the response body has ended
/// (or was given up), which hands the connection back and frees the place.
#[derive(Debug)]
pub struct AppLease {
    pool: Arc<AppPool>,
    sender: Option<SendRequest<CountingBody>>,
    _place: Option<OwnedSemaphorePermit>,
}

impl Drop for AppLease {
    fn drop(&mut self) {
        if let Some(sender) = self.sender.take() {
            // a connection whose response was cut short closes itself; ready() finds it
            if !sender.is_closed() {
                if let Ok(mut idle) = self.pool.idle.lock() {
                    idle.push(sender);
                }
            }
        }
    }
}

impl AppPool {
    /// Connections to `addr`, at most `limit` in use at once (0: no limit).
    pub fn new(addr: SocketAddr, limit: usize, connect_timeout: Duration) -> AppPool {
        AppPool {
            addr,
            connect_timeout,
            idle: Mutex::new(Vec::new()),
            places: Places::new(limit),
        }
    }

    /// Sends `req` (origin-form URI, `Host` set) over a kept connection, or a new one; the
    /// lease holds the connection until the response body ends.
    pub async fn send(
        self: &Arc<Self>,
        req: Request<CountingBody>,
    ) -> Result<(Response<Incoming>, AppLease), Failure> {
        let place = self.places.take().await;
        let kept = self.idle.lock().ok().and_then(|mut idle| idle.pop());
        let (resp, sender) = exchange(self.addr, self.connect_timeout, kept, req).await?;
        Ok((
            resp,
            AppLease {
                pool: self.clone(),
                sender: Some(sender),
                _place: place,
            },
        ))
    }
}

/// Callers box this future: a connection is made once per many requests, and kept inline its
/// state (the TCP connect and the HTTP/1.1 handshake) made every request's future, which
/// lives as long as the request, 360 bytes larger (3.7 KB → 3.3 KB; 320 streams in flight
/// under h2load hold 320 of them).
async fn connect(
    addr: SocketAddr,
    timeout: Duration,
) -> Result<SendRequest<CountingBody>, std::io::Error> {
    let stream = match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
        Ok(s) => s?,
        Err(_) => {
            return Err(std::io::Error::new(
                std::io::ErrorKind::TimedOut,
                "connect timed out",
            ))
        }
    };
    let _ = stream.set_nodelay(true);
    let (sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, %addr, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}
