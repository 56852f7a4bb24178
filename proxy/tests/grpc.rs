//! HTTP/2 cleartext (prior knowledge) and gRPC through the inbound listener: the app behind the
//! proxy is the telemetry service itself, so a Report crosses the proxy (unary gRPC, status in
//! trailers) and the proxy then reports that call to the same service.

mod common;

use common::{options, Proxy, Telemetry};
use mixer_attributes::encode::ReportBatch;
use mixer_attributes::{OwnedBag, OwnedValue};
use mixer_proto::mixer::ReportResponse;
use mixer_proto::raw_codec::PreEncodedCodec;
use std::net::SocketAddr;
use tonic::codegen::http::uri::PathAndQuery;
use tonic::codegen::Bytes;

async fn report(addr: SocketAddr, bytes: Vec<u8>) -> Result<ReportResponse, tonic::Status> {
    let channel = tonic::transport::Channel::from_shared(format!("http://{addr}"))
        .expect("uri")
        .connect()
        .await
        .expect("connect to the proxy");
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await.expect("ready");
    grpc.unary(
        tonic::Request::new(Bytes::from(bytes)),
        PathAndQuery::from_static(mixer_proto::REPORT_PATH),
        PreEncodedCodec::<ReportResponse>::default(),
    )
    .await
    .map(tonic::Response::into_inner)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_over_h2c_crosses_the_proxy_with_its_trailers_and_is_reported() {
    let telemetry = Telemetry::start().await;
    let proxy = Proxy::start(options(
        telemetry.grpc,
        Some(telemetry.grpc),
        "mixer-telemetry",
    ))
    .await;

    // A bag of our own inside the proxied call: counted only if the body arrived intact.
    let bag: OwnedBag = [
        (
            "context.reporter.kind",
            OwnedValue::String("inbound".into()),
        ),
        ("context.protocol", OwnedValue::String("http".into())),
        (
            "destination.workload.name",
            OwnedValue::String("payload-check".into()),
        ),
        ("response.code", OwnedValue::Int64(201)),
    ]
    .into_iter()
    .collect();
    let mut batch = ReportBatch::new();
    batch.push(bag.iter());
    report(proxy.bound.inbound, batch.finish())
        .await
        .expect("Report through the proxy succeeds (grpc-status 0 came in the trailers)");
    let payload = telemetry
        .requests_total(
            &[
                r#"destination_workload="payload-check""#,
                r#"response_code="201""#,
            ],
            1.0,
        )
        .await;
    assert_eq!(payload, Some(1.0));

    // The proxy's own report of that call.
    let call = telemetry
        .requests_total(
            &[
                r#"reporter="destination""#,
                r#"destination_workload="mixer-telemetry""#,
                r#"request_protocol="grpc""#,
                r#"response_code="200""#,
                r#"grpc_response_status="0""#,
            ],
            1.0,
        )
        .await;
    assert_eq!(call, Some(1.0));

    // A refused call: the error status reaches the client unchanged.
    let refused = report(proxy.bound.inbound, vec![0xff, 0xff, 0xff])
        .await
        .expect_err("garbage is refused");
    assert_eq!(refused.code(), tonic::Code::InvalidArgument, "{refused:?}");

    proxy.stop().await;
    telemetry.stop().await;
}
