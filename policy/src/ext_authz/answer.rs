//! A Mixer Check answer as Envoy's ext_authz `CheckResponse`: `status` is the precondition's
//! gRPC status; an OK answer is an `OkHttpResponse` carrying the route directive's header
//! operations, a denial a `DeniedHttpResponse` whose HTTP status follows the gRPC code
//! ([`http_status`]) — or the directive's `direct_response_code` — and whose body is the
//! denial message (or `direct_response_body`).

use crate::adapters::code;
use mixer_proto::envoy::config::core::v3::{HeaderValue, HeaderValueOption};
use mixer_proto::envoy::r#type::v3::{HttpStatus, StatusCode};
use mixer_proto::ext_authz::check_response::HttpResponse;
use mixer_proto::ext_authz::{CheckResponse, DeniedHttpResponse, OkHttpResponse};
use mixer_proto::google::rpc::Status;
use mixer_proto::mixer::header_operation::Operation;
use mixer_proto::mixer::{CheckResponse as MixerResponse, HeaderOperation, RouteDirective};

/// `google.rpc.Code` UNAUTHENTICATED.
const UNAUTHENTICATED: i32 = 16;

/// The HTTP status Envoy answers a denial with: 401 for UNAUTHENTICATED, 429 for
/// RESOURCE_EXHAUSTED, 403 for PERMISSION_DENIED and every other code (Envoy's own answer to
/// a denial that names no status).
pub fn http_status(grpc_code: i32) -> StatusCode {
    match grpc_code {
        UNAUTHENTICATED => StatusCode::Unauthorized,
        code::RESOURCE_EXHAUSTED => StatusCode::TooManyRequests,
        _ => StatusCode::Forbidden,
    }
}

/// The ext_authz answer for Mixer's answer `r`. A response without a precondition (never
/// produced by the engine) is a denial with INTERNAL.
pub fn answer(r: MixerResponse) -> CheckResponse {
    let p = r.precondition.unwrap_or_default();
    let status = p.status.unwrap_or_else(|| Status {
        code: code::INTERNAL,
        message: "check answered no precondition".to_owned(),
        details: Vec::new(),
    });
    let directive = p.route_directive.unwrap_or_default();
    let http = if status.code == code::OK {
        HttpResponse::OkResponse(ok(&directive))
    } else {
        HttpResponse::DeniedResponse(denied(&status, &directive))
    };
    CheckResponse {
        status: Some(Status {
            details: Vec::new(),
            ..status
        }),
        http_response: Some(http),
    }
}

fn ok(d: &RouteDirective) -> OkHttpResponse {
    let request = &d.request_header_operations;
    OkHttpResponse {
        headers: request.iter().filter_map(header_option).collect(),
        headers_to_remove: request
            .iter()
            .filter(|op| op.operation == Operation::Remove as i32)
            .map(|op| op.name.clone())
            .collect(),
        response_headers_to_add: d
            .response_header_operations
            .iter()
            .filter_map(header_option)
            .collect(),
    }
}

fn denied(status: &Status, d: &RouteDirective) -> DeniedHttpResponse {
    let code = match d.direct_response_code {
        0 => http_status(status.code) as i32,
        c => i32::try_from(c).unwrap_or(StatusCode::Forbidden as i32),
    };
    let body = if d.direct_response_body.is_empty() {
        status.message.clone()
    } else {
        d.direct_response_body.clone()
    };
    DeniedHttpResponse {
        status: Some(HttpStatus { code }),
        headers: d
            .response_header_operations
            .iter()
            .filter_map(header_option)
            .collect(),
        body,
    }
}

/// REPLACE and APPEND as Envoy header edits (`append` false / true); REMOVE has no
/// `HeaderValueOption` form.
fn header_option(op: &HeaderOperation) -> Option<HeaderValueOption> {
    let append = match Operation::try_from(op.operation) {
        Ok(Operation::Replace) => false,
        Ok(Operation::Append) => true,
        _ => return None,
    };
    Some(HeaderValueOption {
        header: Some(HeaderValue {
            key: op.name.clone(),
            value: op.value.clone(),
            raw_value: Vec::new(),
        }),
        append: Some(append),
    })
}
