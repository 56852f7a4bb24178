//! Fetching a listchecker's list from its `provider_url` — a `file://` path or a plain
//! `http://` URL — and installing it; a fetch or parse that fails leaves the last good list in
//! place. The server refreshes each provider every `refresh_interval`.

use super::adapter::ListHandler;
use super::config::ProviderUrl;
use super::list::MAX_LIST_BYTES;
use crate::clock::Clock;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;
use std::time::Duration;

/// How long one fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a fetch failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{url}: {message}")]
    Failed { url: String, message: String },
    #[error("{url}: timed out after {FETCH_TIMEOUT:?}")]
    Timeout { url: String },
}

/// Reads the list text at `url`.
pub async fn fetch(url: &ProviderUrl) -> Result<String, FetchError> {
    let shown = match url {
        ProviderUrl::File(p) => format!("file://{p}"),
        ProviderUrl::Http(u) => u.clone(),
    };
    let fail = |message: String| FetchError::Failed {
        url: shown.clone(),
        message,
    };
    let work = async {
        match url {
            ProviderUrl::File(path) => {
                let path = path.clone();
                tokio::task::spawn_blocking(move || read_file(&path))
                    .await
                    .map_err(|e| e.to_string())?
            }
            ProviderUrl::Http(u) => get(u).await,
        }
    };
    match tokio::time::timeout(FETCH_TIMEOUT, work).await {
        Ok(r) => r.map_err(fail),
        Err(_) => Err(FetchError::Timeout { url: shown }),
    }
}

fn read_file(path: &str) -> Result<String, String> {
    use std::io::Read;
    let f = std::fs::File::open(path).map_err(|e| e.to_string())?;
    let mut text = String::new();
    f.take(MAX_LIST_BYTES as u64 + 1)
        .read_to_string(&mut text)
        .map_err(|e| e.to_string())?;
    if text.len() > MAX_LIST_BYTES {
        return Err(format!("larger than {MAX_LIST_BYTES} bytes"));
    }
    Ok(text)
}

/// One plain HTTP/1.1 GET.
async fn get(url: &str) -> Result<String, String> {
    let uri: hyper::Uri = url.parse().map_err(|e| format!("bad URL: {e}"))?;
    // an IPv6 literal comes bracketed (`[::1]`); connect wants the bare address
    let host = uri
        .host()
        .ok_or("URL has no host")?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .map_err(|e| format!("connect: {e}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("http: {e}"))?;
    let conn = tokio::spawn(conn);
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, authority)
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| format!("request: {e}"))?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("http: {e}"))?;
    let status = resp.status();
    let body = Limited::new(resp.into_body(), MAX_LIST_BYTES)
        .collect()
        .await
        .map_err(|e| format!("reading the body: {e}"))?
        .to_bytes();
    conn.abort();
    if !status.is_success() {
        return Err(format!("answered {status}"));
    }
    String::from_utf8(body.to_vec()).map_err(|_| "the list is not UTF-8".to_owned())
}

/// Fetches and installs the list once; returns the entry count.
pub async fn refresh_once(handler: &ListHandler, clock: &dyn Clock) -> Result<usize, String> {
    let Some(url) = handler.provider() else {
        return Ok(0);
    };
    let text = fetch(url).await.map_err(|e| e.to_string())?;
    handler
        .install(&text, clock.now())
        .map_err(|e| format!("list rejected, keeping the previous one: {e}"))
}
