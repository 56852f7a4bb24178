//! One Check call to the policy service over gRPC: the pre-encoded `CheckRequest` out, the
//! `CheckResponse` back, within a deadline. Failures come back as the status Envoy's gRPC
//! client gave Istio's proxy: UNAVAILABLE "upstream connect error or disconnect/reset before
//! headers" when the service cannot be reached, UNAVAILABLE "upstream request timeout" past the
//! deadline, and otherwise the status the service answered with.

use bytes::Bytes;
use mixer_proto::mixer::CheckResponse;
use mixer_proto::raw_codec::PreEncodedCodec;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

/// Envoy's message for a call that never reached the service.
pub const SEND_ERROR_MESSAGE: &str = "upstream connect error or disconnect/reset before headers";
/// Envoy's message for a call past its deadline.
pub const TIMEOUT_MESSAGE: &str = "upstream request timeout";

/// Why a Check call brought no `CheckResponse`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallError {
    /// gRPC code.
    pub code: i32,
    pub message: String,
    /// The service was not reached, or did not answer in time: worth a retry.
    pub transient: bool,
}

impl CallError {
    pub fn send_error() -> CallError {
        CallError {
            code: super::cache::code::UNAVAILABLE,
            message: SEND_ERROR_MESSAGE.to_owned(),
            transient: true,
        }
    }

    pub fn timeout() -> CallError {
        CallError {
            code: super::cache::code::UNAVAILABLE,
            message: TIMEOUT_MESSAGE.to_owned(),
            transient: false,
        }
    }
}

/// Sends one encoded `CheckRequest`.
pub type CheckFn = Arc<
    dyn Fn(Bytes) -> Pin<Box<dyn Future<Output = Result<CheckResponse, CallError>> + Send>>
        + Send
        + Sync,
>;

/// A Check caller over gRPC to `uri` (connected lazily, reconnecting on demand); each call
/// ends within `timeout`.
pub fn grpc(uri: &str, timeout: Duration) -> Result<CheckFn, String> {
    let channel = tonic::transport::Endpoint::from_shared(uri.to_owned())
        .map_err(|e| format!("policy {uri:?}: {e}"))?
        .tcp_nodelay(true)
        .connect_timeout(timeout.min(Duration::from_secs(1)))
        .connect_lazy();
    Ok(Arc::new(move |bytes: Bytes| {
        let channel = channel.clone();
        Box::pin(async move {
            let call = async move {
                let mut grpc = tonic::client::Grpc::new(channel);
                if grpc.ready().await.is_err() {
                    return Err(CallError::send_error());
                }
                let path =
                    tonic::codegen::http::uri::PathAndQuery::from_static(mixer_proto::CHECK_PATH);
                grpc.unary(
                    tonic::Request::new(bytes),
                    path,
                    PreEncodedCodec::<CheckResponse>::default(),
                )
                .await
                .map(tonic::Response::into_inner)
                .map_err(|status| classify(&status))
            };
            match tokio::time::timeout(timeout, call).await {
                Ok(answer) => answer,
                Err(_) => Err(CallError::timeout()),
            }
        })
    }))
}

/// A failed call's status: a transport failure (the status carries the transport error as
/// its source) is Envoy's send error; a status the service sent is kept as it is.
fn classify(status: &tonic::Status) -> CallError {
    use std::error::Error;
    if status.code() == tonic::Code::Unavailable && status.source().is_some() {
        return CallError::send_error();
    }
    CallError {
        code: status.code() as i32,
        message: status.message().to_owned(),
        transient: status.code() == tonic::Code::Unavailable,
    }
}
