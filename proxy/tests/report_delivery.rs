//! What the proxy's Report sender (`report::grpc_sender`) makes of a telemetry service that
//! goes away and comes back, against a real tonic server whose Report handler the test holds:
//! refused connections are retried and the same sender reconnects; a call in flight when the
//! server stops gracefully is finished and answered, so it is counted once and not resent; a
//! call the server counted but answered too late is resent (delivery is at least once: Mixer's
//! Report carries nothing to deduplicate on).

use bytes::Bytes;
use mixer_proto::mixer::ReportResponse;
use mixer_proto::server::{Limits, MixerHandler, MixerServer};
use mixer_proxy::report::{grpc_sender, Outcome, SendFn};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::net::TcpListener;
use tokio::sync::{oneshot, Semaphore};
use tonic::{Request, Response, Status};

/// Counts a Report on arrival, then answers once the test adds a permit to `gate`.
#[derive(Debug)]
struct Held {
    counted: AtomicU64,
    gate: Semaphore,
}

impl Held {
    fn new(open: bool) -> Arc<Held> {
        Arc::new(Held {
            counted: AtomicU64::new(0),
            gate: Semaphore::new(if open { Semaphore::MAX_PERMITS } else { 0 }),
        })
    }
}

impl MixerHandler for Held {
    async fn report(&self, _: Request<Bytes>) -> Result<Response<ReportResponse>, Status> {
        self.counted.fetch_add(1, SeqCst);
        let _permit = self
            .gate
            .acquire()
            .await
            .map_err(|_| Status::internal("gate closed"))?;
        Ok(Response::new(ReportResponse {}))
    }
}

/// A Mixer server on `listener`; stops gracefully when the sender fires.
struct Server {
    stop: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

fn serve(listener: TcpListener, handler: Arc<Held>) -> Server {
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(
        mixer_proto::server::transport(16).serve_with_incoming_shutdown(
            MixerServer::new(handler, Limits::default()),
            mixer_proto::server::incoming(listener),
            async {
                let _ = stopped.await;
            },
        ),
    );
    Server { stop, task }
}

/// A loopback address nothing listens on (bound, then closed).
async fn vacant() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    l.local_addr().expect("addr")
}

fn sender(addr: SocketAddr, rpc_timeout: Duration) -> SendFn {
    grpc_sender(&format!("http://{addr}"), rpc_timeout).expect("sender")
}

/// Waits (at most 30 s) until connecting to `addr` is refused: the listener is closed.
async fn until_refused(addr: SocketAddr) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(Instant::now() < deadline, "{addr} kept accepting");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_calls_are_retried_and_the_sender_reconnects_to_a_restarted_server() {
    let addr = vacant().await;
    let send = sender(addr, Duration::from_secs(5));
    assert_eq!(
        send(Bytes::new()).await,
        Outcome::Retry,
        "connection refused"
    );

    let first = Held::new(true);
    let server = serve(
        TcpListener::bind(addr).await.expect("rebind"),
        first.clone(),
    );
    assert_eq!(send(Bytes::new()).await, Outcome::Sent);
    assert_eq!(send(Bytes::new()).await, Outcome::Sent);
    let _ = server.stop.send(());
    server.task.await.expect("join").expect("serve");
    assert_eq!(send(Bytes::new()).await, Outcome::Retry, "stopped");

    let second = Held::new(true);
    let server = serve(
        TcpListener::bind(addr).await.expect("rebind"),
        second.clone(),
    );
    assert_eq!(send(Bytes::new()).await, Outcome::Sent, "reconnected");
    let _ = server.stop.send(());
    server.task.await.expect("join").expect("serve");
    assert_eq!(
        (first.counted.load(SeqCst), second.counted.load(SeqCst)),
        (2, 1)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_in_flight_at_a_graceful_stop_is_answered_and_counted_once() {
    let addr = vacant().await;
    let held = Held::new(false);
    let server = serve(TcpListener::bind(addr).await.expect("bind"), held.clone());
    let send = sender(addr, Duration::from_secs(60));
    let call = tokio::spawn(send(Bytes::new()));
    let deadline = Instant::now() + Duration::from_secs(30);
    while held.counted.load(SeqCst) == 0 {
        assert!(Instant::now() < deadline, "the Report never arrived");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The stop begins (the listener closes) while the call is held in the handler ...
    let _ = server.stop.send(());
    until_refused(addr).await;
    assert!(!call.is_finished());
    // ... and the draining server still answers it: no retry, so no second count.
    held.gate.add_permits(1);
    assert_eq!(call.await.expect("join"), Outcome::Sent);
    server.task.await.expect("join").expect("serve");
    assert_eq!(held.counted.load(SeqCst), 1);
    assert_eq!(send(Bytes::new()).await, Outcome::Retry, "stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_counted_but_answered_after_the_deadline_is_retried() {
    let addr = vacant().await;
    let held = Held::new(false);
    let server = serve(TcpListener::bind(addr).await.expect("bind"), held.clone());
    let send = sender(addr, Duration::from_secs(2));
    // Counted on arrival, never answered within the 2 s deadline: the proxy cannot tell this
    // from a call that was never processed, and sends the batch again (at least once).
    assert_eq!(send(Bytes::new()).await, Outcome::Retry);
    assert_eq!(held.counted.load(SeqCst), 1);
    held.gate.add_permits(Semaphore::MAX_PERMITS);
    assert_eq!(send(Bytes::new()).await, Outcome::Sent);
    assert_eq!(held.counted.load(SeqCst), 2, "the same batch counted twice");
    let _ = server.stop.send(());
    server.task.await.expect("join").expect("serve");
}
