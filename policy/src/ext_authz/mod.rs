//! Envoy's external authorization API (`envoy.service.auth.v3.Authorization/Check`), served on
//! the same gRPC port as Mixer's Check and answered by the same engine and decision cache: the
//! request's [`AttributeContext`](mixer_proto::ext_authz::AttributeContext) becomes an Istio
//! attribute bag ([`attributes`]), which is encoded as a Mixer `CheckRequest` (no quotas) and
//! answered by [`PolicyService::check_bytes`] exactly like a sidecar's Check — so rules,
//! metrics, load shedding and the cache are shared — and the answer is translated back into an
//! ext_authz `CheckResponse` ([`answer`]). A Check that fails as an RPC (an instance that
//! cannot be built) fails the ext_authz call with the same gRPC status, and Envoy applies its
//! `failure_mode_allow`. [`GrpcRoutes`] puts both services behind one port.

pub mod answer;
pub mod attributes;

#[cfg(test)]
mod tests;

use crate::self_metrics::CheckOutcome;
use crate::service::PolicyService;
use mixer_attributes::dictionary::GLOBAL_WORD_COUNT;
use mixer_attributes::encode::encode_check_request;
use mixer_proto::ext_authz::authorization_server::{Authorization, AuthorizationServer};
use mixer_proto::ext_authz::{AttributeContext, CheckRequest, CheckResponse};
use mixer_proto::server::MixerServer;
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tonic::body::Body;
use tonic::codegen::{http, Service};
use tonic::{Request, Response, Status};

/// The ext_authz service over a [`PolicyService`].
#[derive(Debug, Clone)]
pub struct ExtAuthz(pub Arc<PolicyService>);

impl ExtAuthz {
    /// Answers one ext_authz request in process (tests and benchmarks call it without gRPC).
    pub async fn answer(&self, request: &CheckRequest) -> Result<CheckResponse, Status> {
        let bytes = {
            let engine = self.0.engine();
            let none = AttributeContext::default();
            let ctx = request.attributes.as_ref().unwrap_or(&none);
            let bag = attributes::bag(ctx, &engine.config.vocabulary);
            encode_check_request(bag.iter(), GLOBAL_WORD_COUNT, "", &[])
        };
        self.0
            .check_bytes(&bytes)
            .await
            .map(|a| answer::answer(a.into_response()))
    }
}

#[tonic::async_trait]
impl Authorization for ExtAuthz {
    async fn check(
        &self,
        request: Request<CheckRequest>,
    ) -> Result<Response<CheckResponse>, Status> {
        let Some(_permit) = self.0.admit() else {
            self.0.metrics.check_done(CheckOutcome::Error);
            return Err(Status::unavailable(
                "Server is currently overloaded. Please try again.",
            ));
        };
        self.answer(request.get_ref()).await.map(Response::new)
    }
}

/// Path prefix of the ext_authz service's methods.
const EXT_AUTHZ_PREFIX: &str = "/envoy.service.auth.v3.Authorization/";

/// Mixer's service and ext_authz behind one gRPC port, routed by path (without pulling in
/// tonic's axum-based router).
#[derive(Debug, Clone)]
pub struct GrpcRoutes {
    mixer: MixerServer<PolicyService>,
    ext_authz: AuthorizationServer<ExtAuthz>,
}

impl GrpcRoutes {
    pub fn new(
        mixer: MixerServer<PolicyService>,
        service: Arc<PolicyService>,
        max_message_size: usize,
    ) -> GrpcRoutes {
        GrpcRoutes {
            mixer,
            ext_authz: AuthorizationServer::new(ExtAuthz(service))
                .max_decoding_message_size(max_message_size),
        }
    }
}

type BoxFuture = Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

impl Service<http::Request<Body>> for GrpcRoutes {
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = BoxFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: http::Request<Body>) -> BoxFuture {
        if req.uri().path().starts_with(EXT_AUTHZ_PREFIX) {
            Box::pin(self.ext_authz.call(req))
        } else {
            self.mixer.call(req)
        }
    }
}
