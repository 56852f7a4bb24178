//! `mixer policy`: binds the gRPC port (Mixer's Check and Envoy's ext_authz) and the
//! monitoring port, serves until shutdown, and keeps the config fresh (reload on change, keep
//! the running config on a bad one) and the listchecker lists fresh (each provider fetched
//! before its config goes into service, then refreshed on its own interval until the config is
//! replaced).

use crate::adapters::listchecker::provider;
use crate::clock::Clock;
use crate::config_source;
use crate::engine::Engine;
use crate::ext_authz::GrpcRoutes;
use crate::self_metrics::PolicyMetrics;
use crate::service::PolicyService;
use hyper::StatusCode;
use mixer_proto::server::{Limits, MixerServer};
use mixer_serving::config_dir::{self, Fingerprint};
use mixer_serving::http::{self, Reply, Routes};
use mixer_serving::shutdown::{drain, DRAIN_LIMIT};
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Process settings (flags and environment); mesh config comes from files.
#[derive(Debug, Clone)]
pub struct Options {
    /// gRPC API (Mixer's `--port`, 9091): istio.mixer.v1.Mixer/Check and Envoy's
    /// envoy.service.auth.v3.Authorization/Check.
    pub grpc_addr: SocketAddr,
    /// Self-monitoring: `/metrics`, `/healthz`, `/readyz`, `/version` (15014, as Mixer 1.1+).
    pub monitoring_addr: SocketAddr,
    /// Config directory; `None` serves the built-in default (no rules: allow everything).
    pub config_dir: Option<PathBuf>,
    /// How often the config directory is checked for changes.
    pub reload_interval: Duration,
    /// Largest Check accepted (Mixer's `--maxMessageSize`).
    pub max_message_size: usize,
    /// HTTP/2 streams per connection (Mixer's `--maxConcurrentStreams`).
    pub max_concurrent_streams: u32,
    /// Check calls processed at once; more are shed with UNAVAILABLE.
    pub max_in_flight: usize,
    /// Decisions kept in the decision cache (0 turns it off).
    pub check_cache_entries: u64,
    /// The time source of quotas, list expiry and cached decisions.
    pub clock: Arc<dyn Clock>,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("{0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("grpc server: {0}")]
    Grpc(String),
}

/// The addresses actually bound (port 0 picks a free port: tests use that).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub grpc: SocketAddr,
    pub monitoring: SocketAddr,
}

/// Loads the config of `dir` (or the default) into an engine of generation `generation`.
pub fn load_engine(
    dir: Option<&PathBuf>,
    generation: u64,
    clock: &dyn Clock,
) -> Result<Engine, String> {
    let config = config_source::load_dir(dir.map(PathBuf::as_path))?;
    Engine::new(config, generation, clock.now()).map_err(|e| e.to_string())
}

async fn bind(addr: SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// Fetches every list provider of `engine` once (so its lists are there when it goes into
/// service); failures are logged and counted, the list then stays empty until a refresh works.
async fn fetch_lists(engine: &Engine, clock: &dyn Clock, metrics: &PolicyMetrics) {
    for (name, list) in engine.list_providers() {
        match provider::refresh_once(&list, clock).await {
            Ok(n) => {
                metrics.list_refreshes_ok.inc();
                tracing::info!(handler = %name, entries = n, "list fetched");
            }
            Err(e) => {
                metrics.list_refreshes_failed.inc();
                tracing::warn!(handler = %name, error = %e, "list fetch failed; checks needing it answer UNAVAILABLE until a refresh works");
            }
        }
    }
}

/// Starts the refresh loops of `engine`'s list providers; they stop when `stop` flips.
fn spawn_refreshers(
    engine: &Engine,
    service: &Arc<PolicyService>,
    stop: watch::Receiver<bool>,
) -> Vec<JoinHandle<()>> {
    engine
        .list_providers()
        .into_iter()
        .map(|(name, list)| {
            let (clock, metrics, stop) = (service.clock.clone(), service.metrics.clone(), stop.clone());
            tokio::spawn(async move {
                let every = list.params().refresh_interval();
                let mut stop = stop;
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stop.changed() => return,
                    }
                    match provider::refresh_once(&list, &*clock).await {
                        Ok(n) => {
                            metrics.list_refreshes_ok.inc();
                            tracing::debug!(handler = %name, entries = n, "list refreshed");
                        }
                        Err(e) => {
                            metrics.list_refreshes_failed.inc();
                            tracing::warn!(handler = %name, error = %e, "list refresh failed; keeping the last good list");
                        }
                    }
                }
            })
        })
        .collect()
}

/// Starts everything; returns the bound addresses at once and a future that runs the service
/// until `shutdown` resolves, then drains and returns.
pub async fn start(
    opts: Options,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<
    (
        Bound,
        Arc<PolicyService>,
        impl Future<Output = Result<(), StartError>>,
    ),
    StartError,
> {
    // Fingerprint before reading: a change made while we read is then seen as a change.
    let seen = opts
        .config_dir
        .as_deref()
        .map(config_dir::fingerprint)
        .and_then(Result::ok);
    let engine =
        load_engine(opts.config_dir.as_ref(), 1, &*opts.clock).map_err(StartError::Config)?;
    let metrics = Arc::new(PolicyMetrics::default());
    fetch_lists(&engine, &*opts.clock, &metrics).await;

    let grpc = bind(opts.grpc_addr).await?;
    let monitoring_l = bind(opts.monitoring_addr).await?;
    let local = |l: &TcpListener, a| l.local_addr().unwrap_or(a);
    let bound = Bound {
        grpc: local(&grpc, opts.grpc_addr),
        monitoring: local(&monitoring_l, opts.monitoring_addr),
    };
    let (stop_tx, stop_rx) = watch::channel(false);
    let service = Arc::new(PolicyService::new(
        engine,
        metrics,
        opts.clock.clone(),
        opts.max_in_flight,
        opts.check_cache_entries,
    ));
    let (gen_tx, gen_rx) = watch::channel(false);
    let first_refreshers = spawn_refreshers(&service.engine(), &service, gen_rx);

    let monitor: Arc<dyn Routes> = Arc::new(Monitor(service.clone()));
    let tasks = vec![
        tokio::spawn(http::serve(monitoring_l, monitor, stop_rx.clone())),
        tokio::spawn(reload_loop(
            service.clone(),
            opts.config_dir.clone(),
            seen.unwrap_or_default(),
            opts.reload_interval,
            stop_rx.clone(),
            (gen_tx, first_refreshers),
        )),
    ];

    let mixer = MixerServer::new(
        service.clone(),
        Limits {
            max_message_size: opts.max_message_size,
        },
    );
    let server = GrpcRoutes::new(mixer, service.clone(), opts.max_message_size);
    let mut grpc_stop = stop_rx.clone();
    let grpc_task = tokio::spawn(
        mixer_proto::server::transport(opts.max_concurrent_streams).serve_with_incoming_shutdown(
            server,
            mixer_proto::server::incoming(grpc),
            async move {
                let _ = grpc_stop.changed().await;
            },
        ),
    );
    tracing::info!(grpc = %bound.grpc, monitoring = %bound.monitoring, "policy serving");

    let run = async move {
        shutdown.await;
        tracing::info!("shutting down: draining calls in flight");
        let _ = stop_tx.send(true);
        let drained = drain(grpc_task, tasks, DRAIN_LIMIT).await;
        drained.map(|_| ()).map_err(StartError::Grpc)
    };
    Ok((bound, service, run))
}

/// Watches the config directory; a valid change is loaded, its lists fetched, and swapped in
/// (the previous config's list refreshers stopped); an invalid one is logged in full and the
/// running config kept.
async fn reload_loop(
    service: Arc<PolicyService>,
    dir: Option<PathBuf>,
    mut seen: Fingerprint,
    every: Duration,
    mut stop: watch::Receiver<bool>,
    refreshers: (watch::Sender<bool>, Vec<JoinHandle<()>>),
) {
    let (mut gen_stop, mut gen_tasks) = refreshers;
    let finish = |tx: watch::Sender<bool>, tasks: Vec<JoinHandle<()>>| async move {
        let _ = tx.send(true);
        for t in tasks {
            let _ = t.await;
        }
    };
    let Some(dir) = dir else {
        let _ = stop.changed().await;
        finish(gen_stop, gen_tasks).await;
        return;
    };
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {
                finish(gen_stop, gen_tasks).await;
                return;
            }
        }
        let now: Fingerprint = match config_dir::fingerprint(&dir) {
            Ok(f) => f,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "cannot read the config directory; keeping the running config");
                continue;
            }
        };
        if now == seen {
            continue;
        }
        seen = now;
        let generation = service.engine().generation + 1;
        match load_engine(Some(&dir), generation, &*service.clock) {
            Ok(engine) => {
                fetch_lists(&engine, &*service.clock, &service.metrics).await;
                let (tx, rx) = watch::channel(false);
                let tasks = spawn_refreshers(&engine, &service, rx);
                service.swap(engine);
                finish(
                    std::mem::replace(&mut gen_stop, tx),
                    std::mem::replace(&mut gen_tasks, tasks),
                )
                .await;
                service.metrics.config_reloads_ok.inc();
                tracing::info!(generation, "config reloaded");
            }
            Err(problems) => {
                service.metrics.config_reloads_failed.inc();
                tracing::error!("config change rejected; keeping the running config\n{problems}");
            }
        }
    }
}

/// Self-monitoring endpoints.
struct Monitor(Arc<PolicyService>);

impl Routes for Monitor {
    fn get(&self, path: &str) -> Option<Reply> {
        match path {
            "/metrics" => {
                let mut out = String::with_capacity(8 * 1024);
                let m = &self.0.metrics;
                m.check_cache_entries.set(self.0.cache.entries());
                m.render(&mut out);
                Some(Reply::metrics(out))
            }
            "/healthz" | "/readyz" => Some(Reply::text(StatusCode::OK, "ok\n")),
            "/version" => Some(Reply::text(
                StatusCode::OK,
                concat!(env!("CARGO_PKG_VERSION"), "\n"),
            )),
            _ => None,
        }
    }
}
