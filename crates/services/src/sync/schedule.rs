//! Scheduled directory work: pulling the source connection into the enterprise directory (`[directory]
//! pull_every_s`) and syncing each connection that asks for it (`directory.sync_every_s`).

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;

use super::RunRequest;
use crate::App;

/// Starts one task per schedule; the caller aborts them at shutdown.
pub fn spawn(app: &Arc<App>) -> Vec<JoinHandle<()>> {
    let mut tasks = Vec::new();
    if let (Some(source), Some(every)) = (app.directory.source.clone(), app.directory.pull_every_s) {
        let app = app.clone();
        tasks.push(tokio::spawn(async move {
            every_period(Duration::from_secs(every), || async {
                match super::pull::pull(&app, &source).await {
                    Ok(changed) => {
                        tracing::info!(%source, ?changed, "scheduled directory pull done")
                    }
                    Err(e) => tracing::warn!(%source, "scheduled directory pull failed: {e:#}"),
                }
            })
            .await
        }));
    }
    for connection in app.runtime.connections.values() {
        let Some(every) = connection.directory.sync_every_s else {
            continue;
        };
        let (app, name) = (app.clone(), connection.name.clone());
        tasks.push(tokio::spawn(async move {
            every_period(Duration::from_secs(every), || async {
                match super::create(&app, &name, &RunRequest::default(), Some("schedule".into())).await {
                    Ok(run) => super::execute(app.clone(), run).await,
                    Err(e) => tracing::warn!(connection = %name, "scheduled directory sync not started: {e}"),
                }
            })
            .await
        }));
    }
    tasks
}

/// Runs `job` every `period`, the first time one period after start (the server has just loaded its
/// connectors; an operator wanting a run now asks for one).
async fn every_period<F: std::future::Future<Output = ()>>(
    period: Duration,
    mut job: impl FnMut() -> F,
) {
    let mut ticks = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        job().await;
    }
}
