//! The small app `mixer up` puts behind the sidecar, and the traffic it can send to it.
//!
//! The app answers `GET /` and any other path with `ok`, and `GET /status/{code}` with that
//! status (as httpbin does), so error rates show on the dashboards. The traffic generator
//! sends a steady rate of requests through the sidecar's inbound listener, mostly successes
//! with a few 404s and 503s, over one keep-alive connection.

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use mixer_serving::http::{Reply, Routes};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::watch;

/// The demo app's answers.
#[derive(Debug)]
pub struct DemoApp;

impl Routes for DemoApp {
    fn get(&self, path: &str) -> Option<Reply> {
        let status = match path.strip_prefix("/status/") {
            Some(code) => match code
                .parse::<u16>()
                .ok()
                .and_then(|c| StatusCode::from_u16(c).ok())
            {
                Some(s) => s,
                None => return Some(Reply::text(StatusCode::BAD_REQUEST, "not a status code\n")),
            },
            None => StatusCode::OK,
        };
        let body = if status == StatusCode::OK {
            "ok\n".to_owned()
        } else {
            format!("{status}\n")
        };
        Some(Reply::text(status, body))
    }
}

/// The paths the generator cycles through: 18 of 20 succeed.
const PATHS: [&str; 20] = [
    "/productpage",
    "/reviews/1",
    "/ratings/1",
    "/details/1",
    "/productpage",
    "/reviews/2",
    "/ratings/2",
    "/details/2",
    "/productpage",
    "/status/404",
    "/productpage",
    "/reviews/3",
    "/ratings/3",
    "/details/3",
    "/productpage",
    "/reviews/4",
    "/ratings/4",
    "/details/4",
    "/productpage",
    "/status/503",
];

/// Sends `per_second` requests a second to `target` until `stop` flips; reconnects (after a
/// pause) when the connection fails.
pub async fn traffic(target: SocketAddr, per_second: u32, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second.max(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut next = 0usize;
    'connect: loop {
        let sender = tokio::select! {
            s = connect(target) => s,
            _ = stop.changed() => return,
        };
        let Some(mut sender) = sender else {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => continue 'connect,
                _ = stop.changed() => return,
            }
        };
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.changed() => return,
            }
            let path = PATHS[next % PATHS.len()];
            next += 1;
            let req = Request::get(path)
                .header("host", "demo-app.default.svc.cluster.local")
                .header("user-agent", "mixer-up-traffic")
                .body(Empty::<Bytes>::new());
            let Ok(req) = req else { continue };
            match sender.send_request(req).await {
                Ok(resp) => {
                    // read the body so the connection can be reused
                    let _ = resp.into_body().collect().await;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "demo traffic: request failed; reconnecting");
                    continue 'connect;
                }
            }
        }
    }
}

async fn connect(
    target: SocketAddr,
) -> Option<hyper::client::conn::http1::SendRequest<Empty<Bytes>>> {
    let stream = TcpStream::connect(target).await.ok()?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Some(sender)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(path: &str) -> StatusCode {
        DemoApp
            .get(path)
            .map(|r| r.status)
            .unwrap_or(StatusCode::NOT_FOUND)
    }

    #[test]
    fn answers_ok_or_the_status_asked_for() {
        assert_eq!(status("/"), StatusCode::OK);
        assert_eq!(status("/productpage"), StatusCode::OK);
        assert_eq!(status("/status/503"), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(status("/status/404"), StatusCode::NOT_FOUND);
        assert_eq!(status("/status/nope"), StatusCode::BAD_REQUEST);
        assert_eq!(status("/status/1000"), StatusCode::BAD_REQUEST);
    }
}
