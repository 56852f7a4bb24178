//! Compiles the project's .proto files with protox (a protobuf compiler written in Rust), so a
//! fresh machine needs no system `protoc`: istio.mixer.v1 and the Envoy ext_authz v3 subset
//! (whose imports bring in envoy.config.core.v3 and envoy.type.v3).

use std::io;

const PROTOS: &[&str] = &[
    "istio/mixer/v1/attributes.proto",
    "istio/mixer/v1/mixer.proto",
    "envoy/service/auth/v3/external_auth.proto",
];

fn main() -> io::Result<()> {
    println!("cargo:rerun-if-changed=proto");
    let fds = protox::compile(PROTOS, ["proto"]).map_err(io::Error::other)?;
    let grpc = std::env::var_os("CARGO_FEATURE_GRPC").is_some();
    tonic_prost_build::configure()
        .build_server(grpc)
        .build_client(grpc)
        .build_transport(false)
        .compile_fds(fds)
}
