//! A small HTTP/1.1 server for the scrape and monitoring endpoints (`/metrics`, `/healthz`,
//! `/readyz`, `/version`): GET only, answers built by a [`Routes`] implementation, graceful
//! shutdown when the watch channel flips.

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};

/// Prometheus' text exposition content type.
pub const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// An answer's body: whole, or chunks produced while it is sent (a large scrape).
#[derive(Debug)]
pub enum ReplyBody {
    Full(Bytes),
    Chunks(mpsc::Receiver<Bytes>),
}

/// One answer.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub content_type: &'static str,
    pub body: ReplyBody,
}

impl Reply {
    pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Reply {
        Reply {
            status,
            content_type: "text/plain; charset=utf-8",
            body: ReplyBody::Full(body.into()),
        }
    }

    pub fn metrics(body: impl Into<Bytes>) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type: PROMETHEUS_TEXT,
            body: ReplyBody::Full(body.into()),
        }
    }

    /// Prometheus text sent as it is rendered: the receiving end of a bounded channel.
    pub fn metrics_stream(chunks: mpsc::Receiver<Bytes>) -> Reply {
        Reply {
            status: StatusCode::OK,
            content_type: PROMETHEUS_TEXT,
            body: ReplyBody::Chunks(chunks),
        }
    }
}

/// A response body fed by a channel of chunks.
#[derive(Debug)]
pub struct ChunkBody(mpsc::Receiver<Bytes>);

impl Body for ChunkBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.0
            .poll_recv(cx)
            .map(|chunk| chunk.map(|b| Ok(Frame::data(b))))
    }
}

/// What a server answers for each path.
pub trait Routes: Send + Sync + 'static {
    /// `None` answers 404.
    fn get(&self, path: &str) -> Option<Reply>;
}

/// Serves `routes` on `listener` until `shutdown` becomes true; connections in flight finish.
pub async fn serve(
    listener: TcpListener,
    routes: Arc<dyn Routes>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let (stream, _) = match accepted {
            Ok(a) => a,
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let routes = routes.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let routes = routes.clone();
                async move { Ok::<_, Infallible>(answer(&*routes, &req)) }
            });
            let conn = http1::Builder::new().serve_connection(TokioIo::new(stream), service);
            tokio::pin!(conn);
            tokio::select! {
                _ = conn.as_mut() => {}
                _ = stop.changed() => {
                    conn.as_mut().graceful_shutdown();
                    let _ = conn.await;
                }
            }
        });
    }
}

fn answer(
    routes: &dyn Routes,
    req: &Request<Incoming>,
) -> Response<Either<Full<Bytes>, ChunkBody>> {
    let reply = if req.method() != Method::GET && req.method() != Method::HEAD {
        Reply::text(StatusCode::METHOD_NOT_ALLOWED, "only GET is served here\n")
    } else {
        routes
            .get(req.uri().path())
            .unwrap_or_else(|| Reply::text(StatusCode::NOT_FOUND, "not found\n"))
    };
    let body = match reply.body {
        ReplyBody::Full(b) => Either::Left(Full::new(b)),
        ReplyBody::Chunks(rx) => Either::Right(ChunkBody(rx)),
    };
    let mut resp = Response::new(body);
    *resp.status_mut() = reply.status;
    if let Ok(v) = hyper::header::HeaderValue::from_str(reply.content_type) {
        resp.headers_mut().insert(hyper::header::CONTENT_TYPE, v);
    }
    resp
}
