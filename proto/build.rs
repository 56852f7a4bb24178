//! Compiles the project's .proto files with protox (a protobuf compiler written in Rust), so a
//! fresh machine needs no system `protoc`.

use std::io;

const PROTOS: &[&str] = &[
    "istio/mixer/v1/attributes.proto",
    "istio/mixer/v1/mixer.proto",
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
