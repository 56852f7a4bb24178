//! Bodies streamed through the proxy: the request body counted on its way up, and the response
//! body counted on its way down, finishing and reporting the request's bag when it ends (or is
//! abandoned by the client, flag `DC`; or broken by the upstream, flag `UR`).

use crate::access_log::AccessLog;
use crate::attrs::{self, Outcome};
use crate::config::Direction;
use crate::h1::AppBody;
use crate::headers::unpin_values;
use crate::metrics::ProxyMetrics;
use crate::report::Reporter;
use crate::upstream::AppLease;
use bytes::Bytes;
use http_body_util::Full;
use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper::header::{HeaderMap, HeaderName};
use mixer_attributes::LayeredBag;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Instant, SystemTime};

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The downstream request body, bytes counted as they pass.
#[derive(Debug)]
pub struct CountingBody {
    inner: Incoming,
    count: Arc<AtomicU64>,
}

impl CountingBody {
    pub fn new(inner: Incoming, count: Arc<AtomicU64>) -> CountingBody {
        CountingBody { inner, count }
    }
}

impl Body for CountingBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let this = self.get_mut();
        let polled = Pin::new(&mut this.inner).poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled {
            if let Some(data) = frame.data_ref() {
                this.count.fetch_add(data.len() as u64, Relaxed);
            }
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A header name in lower case (names are tokens: the lossy reading is for what is not).
fn lower_case(name: &[u8]) -> String {
    match std::str::from_utf8(name) {
        Ok(name) => name.to_ascii_lowercase(),
        Err(_) => String::from_utf8_lossy(name).to_ascii_lowercase(),
    }
}

/// Everything needed to finish a request's bag once its response ends. Dropped before that
/// (the downstream went away while the upstream was still answering), it reports the request
/// with flag `DC`, so no request goes unreported.
#[derive(Debug)]
pub struct Completion {
    bag: LayeredBag,
    dir: Direction,
    pub code: u16,
    response_headers: Vec<(String, String)>,
    /// Header bytes for `request.total_size` / `response.total_size` ([`attrs::header_bytes`]).
    pub request_header_bytes: u64,
    response_header_bytes: u64,
    pub flags: &'static str,
    started: Instant,
    request_size: Arc<AtomicU64>,
    grpc_status: Option<String>,
    grpc_message: Option<String>,
    reporter: Reporter,
    metrics: Arc<ProxyMetrics>,
    access_log: Option<AccessLog>,
    reported: bool,
}

impl Completion {
    pub fn new(
        bag: LayeredBag,
        dir: Direction,
        started: Instant,
        request_size: Arc<AtomicU64>,
        reporter: Reporter,
        metrics: Arc<ProxyMetrics>,
    ) -> Completion {
        Completion {
            bag,
            dir,
            code: 0,
            response_headers: Vec::new(),
            request_header_bytes: 0,
            response_header_bytes: 0,
            flags: "",
            started,
            request_size,
            grpc_status: None,
            grpc_message: None,
            reporter,
            metrics,
            access_log: None,
            reported: false,
        }
    }

    /// Logs the request's line when it finishes.
    pub fn with_access_log(mut self, log: Option<AccessLog>) -> Completion {
        self.access_log = log;
        self
    }

    /// The request's bag (the check reads it and adds `check.*`).
    pub fn bag(&self) -> &LayeredBag {
        &self.bag
    }

    pub fn bag_mut(&mut self) -> &mut LayeredBag {
        &mut self.bag
    }

    /// Takes the response's headers: their map and their size, for the bag.
    pub fn response_head(&mut self, headers: &HeaderMap) {
        self.response_headers = attrs::header_map(headers);
        self.response_header_bytes = attrs::header_bytes(headers);
    }

    /// Takes the response's headers as they came (names in any case, hop-by-hop ones left
    /// out), as [`Completion::response_head`] and [`Completion::grpc_from`] take a map's:
    /// lower-case names, a repeated header's values joined by `,`.
    pub fn response_pairs<'a>(&mut self, pairs: impl Iterator<Item = (&'a [u8], &'a [u8])>) {
        let mut map: Vec<(String, String)> = Vec::with_capacity(pairs.size_hint().0.max(8));
        let mut bytes = 0;
        for (name, value) in pairs {
            bytes += (name.len() + value.len()) as u64;
            let value = match std::str::from_utf8(value) {
                Ok(text) => std::borrow::Cow::Borrowed(text),
                Err(_) => String::from_utf8_lossy(value),
            };
            match map
                .iter_mut()
                .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
            {
                Some((_, joined)) => {
                    joined.push(',');
                    joined.push_str(&value);
                }
                None => map.push((lower_case(name), value.into_owned())),
            }
        }
        for (name, value) in &map {
            match name.as_str() {
                "grpc-status" => self.grpc_status = Some(value.clone()),
                "grpc-message" => self.grpc_message = Some(value.clone()),
                _ => {}
            }
        }
        self.response_headers = map;
        self.response_header_bytes = bytes;
    }

    /// Takes gRPC status and message from response headers or trailers.
    pub fn grpc_from(&mut self, headers: &HeaderMap) {
        const GRPC_STATUS: HeaderName = HeaderName::from_static("grpc-status");
        const GRPC_MESSAGE: HeaderName = HeaderName::from_static("grpc-message");
        let text = |n| {
            headers
                .get(n)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        if let Some(s) = text(GRPC_STATUS) {
            self.grpc_status = Some(s);
        }
        if let Some(m) = text(GRPC_MESSAGE) {
            self.grpc_message = Some(m);
        }
    }

    /// Whether the finished bag goes anywhere (reports, the access log); when not, the
    /// response half is not built.
    pub fn records(&self) -> bool {
        self.reporter.is_enabled() || self.access_log.is_some()
    }

    /// Adds the response attributes and reports the bag (once).
    pub(crate) fn done(&mut self, response_size: u64, flags: &'static str) {
        if std::mem::replace(&mut self.reported, true) {
            return;
        }
        let flags = if self.flags.is_empty() {
            flags
        } else {
            self.flags
        };
        self.metrics.request(self.dir, self.code);
        if !self.records() {
            return;
        }
        let mut bag = std::mem::take(&mut self.bag);
        attrs::finish(
            &mut bag,
            Outcome {
                code: self.code,
                response_headers: std::mem::take(&mut self.response_headers),
                request_size: self.request_size.load(Relaxed),
                response_size,
                request_header_bytes: self.request_header_bytes,
                response_header_bytes: self.response_header_bytes,
                duration: self.started.elapsed(),
                flags,
                grpc_status: self.grpc_status.take(),
                grpc_message: self.grpc_message.take(),
            },
            SystemTime::now(),
        );
        if let Some(log) = &self.access_log {
            log.log(&bag);
        }
        self.reporter.submit(bag);
    }
}

impl Drop for Completion {
    fn drop(&mut self) {
        self.done(0, "DC");
    }
}

#[derive(Debug)]
enum Inner {
    Upstream(Incoming),
    /// From the app's connection, read by the native path ([`AppBody`]).
    App(AppBody),
    Local(Full<Bytes>),
}

/// The response body sent downstream.
#[derive(Debug)]
pub struct ResponseBody {
    inner: Inner,
    size: u64,
    completion: Option<Completion>,
    /// The app pool's connection this response comes over, given back when it ends.
    lease: Option<AppLease>,
}

impl ResponseBody {
    pub fn upstream(
        inner: Incoming,
        completion: Completion,
        lease: Option<AppLease>,
    ) -> ResponseBody {
        ResponseBody {
            inner: Inner::Upstream(inner),
            size: 0,
            completion: Some(completion),
            lease,
        }
    }

    /// A response the app sent over one of the native path's connections ([`AppBody`]).
    pub fn app(inner: AppBody, completion: Completion) -> ResponseBody {
        ResponseBody {
            inner: Inner::App(inner),
            size: 0,
            completion: Some(completion),
            lease: None,
        }
    }

    /// An answer the proxy makes itself (an upstream failure, a bad request, a denial).
    pub fn local(text: Bytes, completion: Completion) -> ResponseBody {
        ResponseBody {
            inner: Inner::Local(Full::new(text)),
            size: 0,
            completion: Some(completion),
            lease: None,
        }
    }

    fn finish(&mut self, flags: &'static str) {
        self.lease = None;
        if let Some(mut c) = self.completion.take() {
            c.done(self.size, flags);
        }
    }
}

/// Trailers with values of their own ([`unpin_values`]: they may go out over HTTP/2, as a
/// gRPC response's do); a trailer frame is one per response at most, so always.
fn unpin_trailers(frame: Frame<Bytes>) -> Frame<Bytes> {
    match frame.into_trailers() {
        Ok(mut trailers) => {
            unpin_values(&mut trailers);
            Frame::trailers(trailers)
        }
        Err(frame) => frame,
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.get_mut();
        let polled: Poll<Option<Result<Frame<Bytes>, BoxError>>> = match &mut this.inner {
            Inner::Upstream(b) => Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map(unpin_trailers).map_err(BoxError::from))),
            Inner::App(b) => Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(BoxError::from))),
            Inner::Local(b) => Pin::new(b)
                .poll_frame(cx)
                .map(|f| f.map(|r| r.map_err(|never| match never {}))),
        };
        match &polled {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.size += data.len() as u64;
                }
                if let (Some(trailers), Some(c)) = (frame.trailers_ref(), &mut this.completion) {
                    c.grpc_from(trailers);
                }
                if this.is_end_stream() {
                    this.finish("");
                }
            }
            Poll::Ready(Some(Err(_))) => this.finish("UR"),
            Poll::Ready(None) => this.finish(""),
            Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        match &self.inner {
            Inner::Upstream(b) => b.is_end_stream(),
            Inner::App(b) => b.is_end_stream(),
            Inner::Local(b) => b.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.inner {
            Inner::Upstream(b) => b.size_hint(),
            Inner::App(b) => b.size_hint(),
            Inner::Local(b) => b.size_hint(),
        }
    }
}

impl Drop for ResponseBody {
    fn drop(&mut self) {
        // Not read to the end: a body with nothing left (HEAD, empty) ended normally;
        // otherwise the downstream went away first.
        let flags = if self.is_end_stream() { "" } else { "DC" };
        self.finish(flags);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::header::HeaderValue;

    fn completion(metrics: &Arc<ProxyMetrics>) -> Completion {
        Completion::new(
            LayeredBag::default(),
            Direction::Inbound,
            Instant::now(),
            Arc::default(),
            Reporter::disabled(metrics.clone()),
            metrics.clone(),
        )
    }

    #[test]
    fn headers_as_they_came_give_the_attributes_a_map_gives() {
        let raw = [
            ("Content-Type", "text/plain; name=\u{e9}"),
            ("X-Multi", "a"),
            ("grpc-status", "7"),
            ("x-multi", "b"),
            ("Grpc-Message", "denied"),
        ];
        let mut map = HeaderMap::new();
        for (n, v) in raw {
            let name = HeaderName::from_bytes(n.as_bytes()).expect("name");
            map.append(name, HeaderValue::from_str(v).expect("value"));
        }
        let metrics = Arc::new(ProxyMetrics::default());
        let mut from_map = completion(&metrics);
        from_map.response_head(&map);
        from_map.grpc_from(&map);
        let mut from_raw = completion(&metrics);
        from_raw.response_pairs(raw.iter().map(|(n, v)| (n.as_bytes(), v.as_bytes())));
        assert_eq!(from_raw.response_headers, from_map.response_headers);
        assert_eq!(
            from_raw.response_headers[1],
            ("x-multi".into(), "a,b".into())
        );
        assert_eq!(
            from_raw.response_header_bytes,
            from_map.response_header_bytes
        );
        assert_eq!(from_raw.grpc_status.as_deref(), Some("7"));
        assert_eq!(from_raw.grpc_message, from_map.grpc_message);
    }
}
