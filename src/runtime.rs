//! What every long-running subcommand needs: a tokio runtime and the shutdown signal.

/// A runtime with `worker_threads` workers (0: one per available CPU). One worker means the
/// current-thread scheduler: the same single thread without the work-stealing machinery
/// (cross-thread queues, atomics on every wake), which a one-core sidecar pays per request.
pub fn build(worker_threads: usize) -> Result<tokio::runtime::Runtime, String> {
    let mut rt = if worker_threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut rt = tokio::runtime::Builder::new_multi_thread();
        if worker_threads > 0 {
            rt.worker_threads(worker_threads);
        }
        rt
    };
    rt.enable_all()
        .build()
        .map_err(|e| format!("cannot start the runtime: {e}"))
}

/// Resolves on SIGINT (Ctrl-C) or SIGTERM (what Kubernetes sends).
pub async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
