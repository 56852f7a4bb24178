//! Graceful shutdown, the same for every service: once the stop signal has been sent, wait
//! for the gRPC server to finish the calls in flight and for the background tasks to end,
//! within a bound; past it, say so and exit anyway.

use std::fmt::Display;
use std::time::Duration;
use tokio::task::JoinHandle;

/// How long a service waits for calls in flight after the stop signal.
pub const DRAIN_LIMIT: Duration = Duration::from_secs(10);

/// Waits for `grpc` (the server task) and then `tasks`, at most `limit` in all. An error of
/// the server (or its task) is returned as text; running out of time is logged, not an error.
/// `Ok(true)`: everything finished, so no call is running any more; `Ok(false)`: gave up.
pub async fn drain<E: Display>(
    grpc: JoinHandle<Result<(), E>>,
    tasks: Vec<JoinHandle<()>>,
    limit: Duration,
) -> Result<bool, String> {
    let drained = tokio::time::timeout(limit, async {
        let r = grpc.await;
        for t in tasks {
            let _ = t.await;
        }
        r
    })
    .await;
    match drained {
        Ok(Ok(Ok(()))) => Ok(true),
        Ok(Ok(Err(e))) => Err(e.to_string()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => {
            tracing::warn!(
                "shutdown took longer than {}s; exiting anyway",
                limit.as_secs()
            );
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn waits_for_the_server_and_the_tasks_and_passes_errors_on() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _ = rx.await;
        });
        let grpc = tokio::spawn(async move {
            let _ = tx.send(());
            Ok::<(), String>(())
        });
        assert_eq!(drain(grpc, vec![task], DRAIN_LIMIT).await, Ok(true));
        let failed = tokio::spawn(async { Err::<(), String>("bind lost".into()) });
        assert_eq!(
            drain(failed, vec![], DRAIN_LIMIT).await,
            Err("bind lost".to_string())
        );
    }

    #[tokio::test]
    async fn gives_up_after_the_limit() {
        let stuck = tokio::spawn(std::future::pending::<Result<(), String>>());
        let limit = Duration::from_millis(20);
        assert_eq!(drain(stuck, vec![], limit).await, Ok(false));
    }
}
