//! HTTP/2 cleartext (prior knowledge) and gRPC through the inbound listener: the app behind the
//! proxy is the telemetry service itself, so a Report crosses the proxy (unary gRPC, status in
//! trailers) and the proxy then reports that call to the same service.

mod common;

use common::{options, Proxy, Telemetry};
use mixer_attributes::encode::ReportBatch;
use mixer_attributes::{OwnedBag, OwnedValue};
use mixer_proto::mixer::ReportResponse;
use mixer_proto::raw_codec::PreEncodedCodec;
use mixer_proxy::AppProtocol;
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

/// GET `path` over h2c (prior knowledge) from `addr`: status and body.
async fn h2_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use http_body_util::{BodyExt, Empty};
    let mut send = common::h2c(addr).await;
    let req = hyper::Request::get(format!("http://{addr}{path}"))
        .body(Empty::<Bytes>::new())
        .expect("request");
    let resp = send.send_request(req).await.expect("answer");
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await.expect("body").to_bytes();
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_protocol_http_serves_http2_clients_from_an_http1_only_app() {
    let app = common::App::start().await; // speaks HTTP/1.1 only

    // auto (the client's protocol): HTTP/2 towards an HTTP/1.1-only app fails
    let proxy = Proxy::start(options(app.addr, None, "plain-app")).await;
    let (status, _) = h2_get(proxy.bound.inbound, "/auto").await;
    assert_eq!(
        status, 503,
        "HTTP/2 to an HTTP/1.1-only app: the connection fails"
    );
    proxy.stop().await;

    // http (Istio's port name `http`): HTTP/1.1 towards the app, HTTP/2 towards the client
    let mut opts = options(app.addr, None, "plain-app");
    opts.app_protocol = AppProtocol::Http1;
    let proxy = Proxy::start(opts).await;
    let (status, body) = h2_get(proxy.bound.inbound, "/translated?x=1").await;
    assert_eq!((status, body.as_str()), (200, "ok"));
    let (path, headers) = app.last();
    assert_eq!(path, "/translated?x=1");
    let host = headers.get("host").and_then(|h| h.to_str().ok());
    assert_eq!(
        host,
        Some(proxy.bound.inbound.to_string().as_str()),
        "{headers:?}"
    );
    proxy.stop().await;
}
