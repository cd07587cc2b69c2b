//! `qiao serve`: config → store → runtime (and its connector watcher) → services → API → listener, wired together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use qiao_config::ConfigFile;
use qiao_runtime::Runtime;
use qiao_runtime::engine::{PoolSize, new_engine};
use qiao_services::App;
use qiao_services::app::StoreKv;
use qiao_store::{DB_FILE, Db};

#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// None: no connections (connectors can still be listed and inspected).
    pub config: Option<PathBuf>,
    pub listen: SocketAddr,
    /// The connector directory: every `*.wasm` in it is loaded, and it is watched for changes.
    pub connectors_dir: PathBuf,
    pub data_dir: PathBuf,
    /// Compiled-code cache; default `<data_dir>/compiled`.
    pub cache_dir: Option<PathBuf>,
    /// The master key file (secrets at rest, see `secrets`). `QIAO_MASTER_KEY`, when set, comes first; with
    /// neither, `<data_dir>/master.key`, created on first start.
    pub master_key_file: Option<PathBuf>,
}

pub struct Server {
    pub addr: SocketAddr,
    pub app: Arc<App>,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    /// Background work (pollers, deliveries to subscribers): stopped at shutdown. Each keeps its progress in
    /// the store, so work cut short is redone, never lost.
    workers: Vec<JoinHandle<()>>,
    /// The outbox dispatcher: stopped first, and given [`SHUTDOWN_GRACE`] to finish what is in flight.
    outbox: JoinHandle<()>,
    /// The event streams' supervisor: told to stop, it closes every stream with a close frame.
    streams: JoinHandle<()>,
}

/// How long a shutdown waits for platform calls in flight before handing them back to the queue.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// `--workers` when not given: a quarter of the cores, at least one (so one thread on up to 7 cores).
pub fn default_workers() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 4).max(1))
}

/// The runtime a server runs on: one thread, or a work-stealing pool of `workers` threads.
pub fn runtime(workers: usize) -> Result<tokio::runtime::Runtime> {
    let mut builder = if workers <= 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(workers);
        builder
    };
    Ok(builder.enable_all().build()?)
}

pub async fn start(options: ServeOptions) -> Result<Server> {
    // Before anything runs, so every count from the first connector load on is kept.
    qiao_metrics::install();
    let config = match &options.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let (master_key, key_source) = qiao_secrets::load_master_key(
        options.master_key_file.as_deref(),
        &options.data_dir,
        true,
    )?;
    tracing::info!(key_id = %master_key.id(), source = %key_source, "master key loaded");
    let connections = config.connections(|var| std::env::var(var).ok(), Some(&master_key))?;
    let (calendar, deadline_policies) = config.deadlines().context("invalid approval deadlines")?;
    let engine = new_engine(&PoolSize::default())?;
    std::fs::create_dir_all(&options.data_dir)
        .with_context(|| format!("cannot create data dir {}", options.data_dir.display()))?;
    let db = Db::open(&options.data_dir.join(DB_FILE), master_key)?;
    db.limit_size(config.store.max_bytes()).await.context("[store] max_size_mb")?;
    let mut runtime = Runtime::new(
        engine,
        Some(options.cache_dir.clone().unwrap_or_else(|| options.data_dir.join("compiled"))),
        options.connectors_dir.clone(),
        connections,
        Arc::new(StoreKv(db.clone())),
    )?;
    runtime.connectors.trust = config.trust.clone();
    let runtime = Arc::new(runtime);
    qiao_runtime::connectors::watch(runtime.clone())
        .await
        .with_context(|| {
            format!(
                "cannot watch the connector directory {}",
                options.connectors_dir.display()
            )
        })?;
    let mut app = App::new(runtime, db);
    app.subscriber_settings = config.subscribers.clone();
    app.directory = config.directory.clone();
    app.gate = qiao_services::gate::Gate::new(app.runtime.connections.values().map(|c| &**c), config.inbound);
    app.deadlines = qiao_services::deadlines::Deadlines::new(calendar, deadline_policies);
    let app = Arc::new(app);
    let outbox = qiao_services::outbox::worker::spawn(&app, SHUTDOWN_GRACE);
    let mut workers = qiao_services::inbound::spawn_pollers(&app);
    workers.push(qiao_services::subscribers::spawn(&app));
    qiao_services::sync::resume(&app).await?;
    workers.extend(qiao_services::sync::schedule::spawn(&app));
    if config.approvals.reconcile_every_s > 0 {
        workers.push(qiao_services::approvals::spawn_reconciler(
            &app,
            Duration::from_secs(config.approvals.reconcile_every_s),
        ));
    }
    workers.push(qiao_services::deadlines::spawn(&app));
    workers.push(qiao_services::retention::spawn(&app, config.retention.clone()));
    let streams = qiao_services::streams::spawn(&app);
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let addr = listener.local_addr()?;
    let router = qiao_api::router(app.clone());
    let writer = Arc::new(qiao_api::internal::RouterWriter(router.clone()));
    let router = router.layer(tower_http::trace::TraceLayer::new_for_http());
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(%addr, connectors_dir = %options.connectors_dir.display(), data_dir = %options.data_dir.display(), "qiao is serving");
    // A rule is checked against the capabilities of the connectors it writes through, so the rules of the config
    // wait for the first scan (the port is open meanwhile; `/readyz` says 503). A bad rule still stops the start.
    if !config.rules.is_empty() {
        app.runtime.connectors.ready().await;
    }
    if let Err(e) = qiao_services::rules::load_config(&app, &config.rules).await {
        let _ = shutdown.send(());
        let _ = task.await;
        return Err(e);
    }
    workers.push(qiao_services::rules::spawn(&app, writer));
    Ok(Server {
        addr,
        app,
        shutdown,
        task,
        outbox,
        streams,
        workers,
    })
}

impl Server {
    /// Stops accepting requests and starting attempts; lets in-flight requests and attempts finish (attempts for
    /// up to [`SHUTDOWN_GRACE`], then they are handed back to the queue), and returns.
    pub async fn shutdown(self) -> Result<()> {
        // Callers waiting on results are answered 202 now rather than holding the listener open.
        self.app.outbox.stop();
        let _ = self.shutdown.send(());
        self.app.streams.stop();
        self.task.await??;
        self.outbox.await?;
        let _ = tokio::time::timeout(qiao_services::streams::CLOSE_GRACE * 2, self.streams).await;
        for worker in &self.workers {
            worker.abort();
        }
        Ok(())
    }

    /// Serves until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn run_until_signal(self) -> Result<()> {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
        tracing::info!("shutting down");
        self.shutdown().await
    }
}

#[cfg(test)]
mod tests {
    use tokio::runtime::RuntimeFlavor;

    #[test]
    fn one_worker_serves_on_one_thread_and_more_steal_work() {
        let flavor = |workers| {
            let runtime = super::runtime(workers).unwrap();
            runtime.block_on(async { tokio::runtime::Handle::current().runtime_flavor() })
        };
        assert_eq!(flavor(1), RuntimeFlavor::CurrentThread);
        assert_eq!(flavor(3), RuntimeFlavor::MultiThread);
        assert!(super::default_workers() >= 1);
    }
}
