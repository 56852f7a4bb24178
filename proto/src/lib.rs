//! The `istio.mixer.v1` wire format: messages generated from the `.proto` files in `proto/`
//! (written for this project from the Mixer v1 API facts in `shared/spec/mixer-api.md`), the
//! `google.rpc.Status` they carry, and — with the `grpc` feature — tonic stubs for the
//! `istio.mixer.v1.Mixer` service (`Check`, `Report`). Also the subset of Envoy's ext_authz v3
//! API ([`ext_authz`], `envoy.service.auth.v3.Authorization/Check`) the policy service serves,
//! with generated tonic server and client under `grpc`.
//!
//! Hot paths do not decode through these structs: `mixer-attributes` reads the wire bytes
//! directly. The structs serve encoding of responses, tests and tools.

pub mod google {
    pub mod rpc {
        include!(concat!(env!("OUT_DIR"), "/google.rpc.rs"));
    }
}

pub mod istio {
    pub mod mixer {
        pub mod v1 {
            include!(concat!(env!("OUT_DIR"), "/istio.mixer.v1.rs"));
        }
    }
}

pub use istio::mixer::v1 as mixer;

/// The subset of Envoy's v3 API the ext_authz service needs (written for this project with
/// Envoy's field numbers; see the comments in `proto/envoy/`).
pub mod envoy {
    pub mod config {
        pub mod core {
            pub mod v3 {
                include!(concat!(env!("OUT_DIR"), "/envoy.config.core.v3.rs"));
            }
        }
    }
    pub mod r#type {
        pub mod v3 {
            include!(concat!(env!("OUT_DIR"), "/envoy.r#type.v3.rs"));
        }
    }
    pub mod service {
        pub mod auth {
            pub mod v3 {
                include!(concat!(env!("OUT_DIR"), "/envoy.service.auth.v3.rs"));
            }
        }
    }
}

pub use envoy::service::auth::v3 as ext_authz;

/// The gRPC method path of Envoy's ext_authz v3 `Check`.
pub const EXT_AUTHZ_CHECK_PATH: &str = "/envoy.service.auth.v3.Authorization/Check";

/// gRPC method paths, as proxies call them.
pub const CHECK_PATH: &str = "/istio.mixer.v1.Mixer/Check";
/// See [`CHECK_PATH`].
pub const REPORT_PATH: &str = "/istio.mixer.v1.Mixer/Report";

/// A Check answer as sent: a message, or a precondition kept encoded (cached answers).
pub mod check_answer;
pub use check_answer::{CheckAnswer, EncodedPrecondition};

/// A tonic codec taking requests as raw bytes (services decode them with `mixer-attributes`).
#[cfg(feature = "grpc")]
pub mod raw_codec;

/// The `istio.mixer.v1.Mixer` service routed to a handler taking raw request bytes.
#[cfg(feature = "grpc")]
pub mod server;

#[cfg(test)]
mod tests;
