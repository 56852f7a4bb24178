//! Serves [`super::query`] over HTTP/1.1 (Jaeger's query port, 16686, by default): GET only,
//! JSON answers, graceful shutdown when the watch channel flips.

use super::backend::TraceSink;
use super::query;
use bytes::Bytes;
use http_body_util::Full;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use std::convert::Infallible;
use std::time::{SystemTime, UNIX_EPOCH};
use tokio::net::TcpListener;
use tokio::sync::watch;

/// Serves the query API over `sink`'s store until `shutdown` becomes true.
pub async fn serve(listener: TcpListener, sink: TraceSink, mut shutdown: watch::Receiver<bool>) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = shutdown.changed() => break,
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!(error = %e, "traces query: accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let sink = sink.clone();
        let mut stop = shutdown.clone();
        tokio::spawn(async move {
            let service = service_fn(move |req: Request<hyper::body::Incoming>| {
                let sink = sink.clone();
                async move { Ok::<_, Infallible>(respond(&sink, &req)) }
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

fn respond<B>(sink: &TraceSink, req: &Request<B>) -> Response<Full<Bytes>> {
    let (status, body) = if req.method() != Method::GET && req.method() != Method::HEAD {
        (405, r#"{"data":null,"total":0,"limit":0,"offset":0,"errors":[{"code":405,"msg":"only GET is served here"}]}"#.to_owned())
    } else {
        let now_us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_micros() as i64);
        query::answer(
            sink.memory().map(|m| &**m),
            req.uri().path(),
            req.uri().query().unwrap_or(""),
            now_us,
        )
    };
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}
