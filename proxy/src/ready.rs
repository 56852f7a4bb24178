//! When the sidecar says it is ready. Kubernetes routes traffic to a pod only once its
//! readiness probe passes, so `/readyz` turns 200 when the listeners are bound **and** the
//! services the sidecar cannot do without answer a TCP connect: the telemetry service when
//! reporting is on, and the policy service when checks fail closed (a fail-open sidecar can
//! serve without it). Readiness then latches: a later outage of either service is the report
//! buffer's and the fail policy's business, not a reason to pull every pod out of service.
//!
//! Outbound requests the app sends before that (an app starting faster than its sidecar) wait
//! for readiness up to a bound, then go ahead anyway.

use crate::metrics::ProxyMetrics;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// What must answer before the sidecar is ready: `(what, host:port of its replicas)`; one
/// replica answering is enough.
pub type Dependency = (&'static str, Vec<String>);

/// The `host:port` of an `http://host[:port]` service URI (port 80 when absent).
pub fn authority(uri: &str) -> Option<String> {
    let uri = uri.parse::<hyper::Uri>().ok()?;
    let host = uri.host()?;
    Some(format!("{host}:{}", uri.port_u16().unwrap_or(80)))
}

/// Readiness as a watch: `true` once every dependency answered.
#[derive(Clone, Debug)]
pub struct Ready(watch::Receiver<bool>);

impl Ready {
    /// Already ready (tests, and sidecars with nothing to wait for).
    pub fn now() -> Ready {
        Ready(watch::channel(true).1)
    }

    pub fn is_ready(&self) -> bool {
        *self.0.borrow()
    }

    /// Waits until ready, at most `bound`; true when ready.
    pub async fn wait(&self, bound: Duration) -> bool {
        if self.is_ready() {
            return true;
        }
        let mut rx = self.0.clone();
        let ready = matches!(
            tokio::time::timeout(bound, rx.wait_for(|r| *r)).await,
            Ok(Ok(_))
        );
        ready
    }
}

/// Starts waiting for `deps`: sets `metrics.ready` and the returned watch once each has
/// accepted a TCP connection, retrying every 100 ms → 1 s. With no dependencies the sidecar
/// is ready at once.
pub fn spawn(deps: Vec<Dependency>, metrics: Arc<ProxyMetrics>) -> Ready {
    let (tx, rx) = watch::channel(false);
    if deps.is_empty() {
        metrics.ready.set(1);
        let _ = tx.send(true);
        return Ready(rx);
    }
    tokio::spawn(async move {
        for (what, addrs) in deps {
            let mut delay = Duration::from_millis(100);
            let mut warned = false;
            'replicas: loop {
                for addr in &addrs {
                    let attempt = tokio::net::TcpStream::connect(addr.as_str());
                    match tokio::time::timeout(Duration::from_secs(1), attempt).await {
                        Ok(Ok(_)) => break 'replicas,
                        Ok(Err(e)) if !warned => {
                            tracing::warn!(%addr, error = %e, "not ready: waiting for the {what} service");
                            warned = true;
                        }
                        Err(_) if !warned => {
                            tracing::warn!(%addr, "not ready: the {what} service does not answer");
                            warned = true;
                        }
                        _ => {}
                    }
                }
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(1));
            }
        }
        metrics.ready.set(1);
        let _ = tx.send(true);
        tracing::info!("ready");
    });
    Ready(rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authority_defaults_the_port() {
        assert_eq!(
            authority("http://mixer-telemetry.istio-system:9091").as_deref(),
            Some("mixer-telemetry.istio-system:9091")
        );
        assert_eq!(
            authority("http://telemetry").as_deref(),
            Some("telemetry:80")
        );
        assert_eq!(authority("not a uri at all"), None);
    }

    #[tokio::test]
    async fn ready_once_one_replica_of_every_dependency_accepts_a_connection() {
        let metrics = Arc::new(ProxyMetrics::default());
        let free = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = free.local_addr().expect("addr");
        drop(free);
        let elsewhere = "127.0.0.1:1".to_owned(); // a second replica that never answers
        let ready = spawn(
            vec![("telemetry", vec![elsewhere, addr.to_string()])],
            metrics.clone(),
        );
        assert!(
            !ready.wait(Duration::from_millis(300)).await,
            "nothing listens yet"
        );
        assert_eq!(metrics.ready.get(), 0);
        let _listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
        assert!(ready.wait(Duration::from_secs(30)).await);
        assert_eq!(metrics.ready.get(), 1);
    }

    #[tokio::test]
    async fn nothing_to_wait_for_is_ready_at_once() {
        let metrics = Arc::new(ProxyMetrics::default());
        assert!(spawn(Vec::new(), metrics.clone()).is_ready());
        assert_eq!(metrics.ready.get(), 1);
    }
}
