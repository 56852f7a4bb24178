//! The `istio.mixer.v1.Mixer` gRPC service as a tower service: routes `Check` and `Report` to
//! a [`MixerHandler`] with the request message still in wire form (see [`RawRequestCodec`]),
//! answers every other path with UNIMPLEMENTED. Services implement only the method they serve.

use crate::check_answer::CheckAnswer;
use crate::mixer::{CheckResponse, ReportResponse};
use crate::raw_codec::RawRequestCodec;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::body::Body;
use tonic::codegen::{http, Bytes, Service};
use tonic::server::{Grpc, NamedService, UnaryService};

/// The first receive buffer of a Report call: a proxy's batch of 100 bags is ~40 KB, which
/// tonic's 8 KiB start would reach by growing (and copying) it several times.
const REPORT_BUFFER: usize = 64 * 1024;
use tonic::{Request, Response, Status};

/// What a Mixer service does with each method. The defaults answer UNIMPLEMENTED.
pub trait MixerHandler: Send + Sync + 'static {
    fn check(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<CheckResponse>, Status>> + Send {
        let _ = request;
        async {
            Err(Status::unimplemented(
                "Check is served by the policy service",
            ))
        }
    }

    /// What the server sends for a Check: [`MixerHandler::check`]'s answer unless a handler
    /// answers in encoded form itself.
    fn check_answer(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<CheckAnswer>, Status>> + Send {
        let answer = self.check(request);
        async move { answer.await.map(|r| r.map(CheckAnswer::from)) }
    }

    fn report(
        &self,
        request: Request<Bytes>,
    ) -> impl Future<Output = Result<Response<ReportResponse>, Status>> + Send {
        let _ = request;
        async {
            Err(Status::unimplemented(
                "Report is served by the telemetry service",
            ))
        }
    }
}

/// Limits applied to every call.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Largest request message accepted (Mixer's `--maxMessageSize`, 1 MiB by default).
    pub max_message_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_message_size: 1024 * 1024,
        }
    }
}

/// HTTP/2 flow-control window per stream: room for the largest Report (1 MiB by default), so
/// a ~70 KB 100-bag Report does not wait for a WINDOW_UPDATE round trip, as it would with
/// HTTP/2's default 64 KiB window.
pub const STREAM_WINDOW: u32 = 2 * 1024 * 1024;

/// A tonic server builder with the transport settings every Mixer service uses: HTTP/2
/// stream and connection windows sized for Reports, and `max_concurrent_streams` per
/// connection (Mixer's `--maxConcurrentStreams`, 1024 by default).
pub fn transport(max_concurrent_streams: u32) -> tonic::transport::Server {
    tonic::transport::Server::builder()
        .max_concurrent_streams(max_concurrent_streams)
        .initial_stream_window_size(Some(STREAM_WINDOW))
        .initial_connection_window_size(Some(4 * STREAM_WINDOW))
}

/// The connections `listener` accepts, with `TCP_NODELAY` on. `TcpIncoming::from` leaves
/// Nagle's algorithm on, which holds a small answer back until the client acknowledges the
/// previous segment; at a few thousand Checks a second that put milliseconds on the p99.
pub fn incoming(listener: tokio::net::TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true))
}

/// The tower service to hand to `tonic::transport::Server`.
#[derive(Debug)]
pub struct MixerServer<H> {
    handler: Arc<H>,
    limits: Limits,
}

impl<H> Clone for MixerServer<H> {
    fn clone(&self) -> Self {
        MixerServer {
            handler: self.handler.clone(),
            limits: self.limits,
        }
    }
}

impl<H: MixerHandler> MixerServer<H> {
    pub fn new(handler: Arc<H>, limits: Limits) -> Self {
        MixerServer { handler, limits }
    }
}

impl<H> NamedService for MixerServer<H> {
    const NAME: &'static str = "istio.mixer.v1.Mixer";
}

struct CheckCall<H>(Arc<H>);
struct ReportCall<H>(Arc<H>);

impl<H: MixerHandler> UnaryService<Bytes> for CheckCall<H> {
    type Response = CheckAnswer;
    type Future = Pin<Box<dyn Future<Output = Result<Response<CheckAnswer>, Status>> + Send>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let h = self.0.clone();
        Box::pin(async move { h.check_answer(request).await })
    }
}

impl<H: MixerHandler> UnaryService<Bytes> for ReportCall<H> {
    type Response = ReportResponse;
    type Future = Pin<Box<dyn Future<Output = Result<Response<ReportResponse>, Status>> + Send>>;

    fn call(&mut self, request: Request<Bytes>) -> Self::Future {
        let h = self.0.clone();
        Box::pin(async move { h.report(request).await })
    }
}

impl<H: MixerHandler> Service<http::Request<Body>> for MixerServer<H> {
    type Response = http::Response<Body>;
    type Error = std::convert::Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Self::Error>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> Self::Future {
        let handler = self.handler.clone();
        let max = self.limits.max_message_size;
        match req.uri().path() {
            crate::CHECK_PATH => Box::pin(async move {
                let mut grpc = Grpc::new(RawRequestCodec::<CheckAnswer>::default())
                    .max_decoding_message_size(max);
                Ok(grpc.unary(CheckCall(handler), req).await)
            }),
            crate::REPORT_PATH => Box::pin(async move {
                let codec = RawRequestCodec::<ReportResponse>::with_buffer_size(REPORT_BUFFER);
                let mut grpc = Grpc::new(codec).max_decoding_message_size(max);
                Ok(grpc.unary(ReportCall(handler), req).await)
            }),
            other => {
                let status = Status::unimplemented(format!("unknown method {other}"));
                Box::pin(async move { Ok(status.into_http()) })
            }
        }
    }
}
