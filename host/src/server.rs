//! `qiao serve`: config, runtime, plugin watcher and HTTP listener, wired together.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::ConfigFile;
use crate::engine::{PoolSize, new_engine};
use crate::runtime::Runtime;

#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// None: no connections (connectors can still be listed and inspected).
    pub config: Option<PathBuf>,
    pub listen: SocketAddr,
    pub plugins_dir: PathBuf,
    pub data_dir: PathBuf,
    /// Compiled-code cache; default `<data_dir>/compiled`.
    pub cache_dir: Option<PathBuf>,
    /// The master key file (secrets at rest, see `secrets`). `QIAO_MASTER_KEY`, when set, comes first; with
    /// neither, `<data_dir>/master.key`, created on first start.
    pub master_key_file: Option<PathBuf>,
}

pub struct Server {
    pub addr: SocketAddr,
    pub runtime: Arc<Runtime>,
    shutdown: oneshot::Sender<()>,
    task: JoinHandle<std::io::Result<()>>,
    /// Background work (pollers, deliveries to subscribers): stopped at shutdown. Each keeps its progress in
    /// the store, so work cut short is redone, never lost.
    workers: Vec<JoinHandle<()>>,
    /// The outbox dispatcher: stopped first, and given [`SHUTDOWN_GRACE`] to finish what is in flight.
    outbox: JoinHandle<()>,
}

/// How long a shutdown waits for platform calls in flight before handing them back to the queue.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

pub async fn start(options: ServeOptions) -> Result<Server> {
    let config = match &options.config {
        Some(path) => ConfigFile::load(path)?,
        None => ConfigFile::default(),
    };
    let (master_key, key_source) = crate::secrets::load_master_key(
        options.master_key_file.as_deref(),
        &options.data_dir,
        true,
    )?;
    tracing::info!(key_id = %master_key.id(), source = %key_source, "master key loaded");
    let connections = config.connections(|var| std::env::var(var).ok(), Some(&master_key))?;
    let engine = new_engine(&PoolSize::default())?;
    let mut runtime = Runtime::new(
        engine,
        &options.data_dir,
        options.cache_dir.clone(),
        options.plugins_dir.clone(),
        connections,
        master_key,
    )?;
    runtime.subscriber_settings = config.subscribers.clone();
    runtime.directory = config.directory.clone();
    runtime.plugins.trust = config.trust.clone();
    let runtime = Arc::new(runtime);
    crate::plugins::watch(runtime.clone())
        .await
        .with_context(|| {
            format!(
                "cannot watch plugins directory {}",
                options.plugins_dir.display()
            )
        })?;
    for connection in runtime.connections.values() {
        if runtime.plugins.get(&connection.connector).is_none() {
            tracing::warn!(
                connection = %connection.name,
                connector = %connection.connector,
                "connection's connector is not loaded (yet): its calls answer 503 until it is"
            );
        }
    }
    let outbox = crate::outbox::worker::spawn(&runtime, SHUTDOWN_GRACE);
    let mut workers = crate::inbound::spawn_pollers(&runtime);
    workers.push(crate::subscribers::spawn(&runtime));
    crate::sync::resume(&runtime).await?;
    workers.extend(crate::sync::schedule::spawn(&runtime));
    if config.approvals.reconcile_every_s > 0 {
        workers.push(crate::approvals::spawn_reconciler(
            &runtime,
            Duration::from_secs(config.approvals.reconcile_every_s),
        ));
    }
    let listener = tokio::net::TcpListener::bind(options.listen)
        .await
        .with_context(|| format!("cannot listen on {}", options.listen))?;
    let addr = listener.local_addr()?;
    let app =
        crate::api::router(runtime.clone()).layer(tower_http::trace::TraceLayer::new_for_http());
    let (shutdown, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await
    });
    tracing::info!(%addr, plugins_dir = %options.plugins_dir.display(), data_dir = %options.data_dir.display(), "qiao is serving");
    Ok(Server {
        addr,
        runtime,
        shutdown,
        task,
        outbox,
        workers,
    })
}

impl Server {
    /// Stops accepting requests and starting attempts; lets in-flight requests and attempts finish (attempts for
    /// up to [`SHUTDOWN_GRACE`], then they are handed back to the queue), and returns.
    pub async fn shutdown(self) -> Result<()> {
        // Callers waiting on results are answered 202 now rather than holding the listener open.
        self.runtime.outbox.stop();
        let _ = self.shutdown.send(());
        self.task.await??;
        self.outbox.await?;
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
