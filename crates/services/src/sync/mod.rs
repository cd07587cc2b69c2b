//! Directory sync (the I/O around `directory`'s pure planner): a run reads what a connection's platform holds
//! (`platform`), plans against the enterprise directory, stops for a dry run or a tripped mass-deactivation
//! guard, and otherwise applies the plan through the outbox (`apply`), recording a report. Runs are stored, so
//! one interrupted by a restart resumes (`resume`); `schedule` starts them periodically.

pub mod apply;
pub mod contacts;
pub mod platform;
pub mod pull;
pub mod roles;
pub mod schedule;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use anyhow::Result;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use qiao_contract::Capability;
use qiao_directory::{Plan, PlanOptions, plan};
use qiao_runtime::CallError;
use crate::App;
use apply::Outcome;

/// At most this many errors and skipped steps are listed in a report (all are counted).
const LISTED: usize = 500;

/// One lock per key: a connection's runs (and the enterprise directory's writes, under `""`) go one at a time.
#[derive(Default)]
pub struct Locks(Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>);

impl Locks {
    pub fn get(&self, key: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.0.lock().unwrap_or_else(|p| p.into_inner());
        locks.entry(key.to_string()).or_default().clone()
    }
}

/// What the caller asks of a run.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RunRequest {
    /// Plan only: nothing is written.
    pub dry_run: bool,
    /// Apply even though the plan deactivates more than the connection's `max_deactivate_share`.
    pub confirm: bool,
    /// Overrides the connection's `source_wins` for this run.
    pub source_wins: Option<bool>,
}

/// Run statuses: `planning` → `planned` (dry run) | `needs_confirmation` | `applying` → `succeeded` |
/// `completed_with_errors` | `failed` (the run itself could not proceed: the platform unreadable...).
pub const FINAL: [&str; 5] = [
    "planned",
    "needs_confirmation",
    "succeeded",
    "completed_with_errors",
    "failed",
];

/// Checks the connection can be synced and records a new run; the caller then [`execute`]s it.
pub async fn create(
    app: &Arc<App>,
    connection: &str,
    request: &RunRequest,
    actor: Option<String>,
) -> Result<i64, CallError> {
    // The same checks a call makes: the connection exists, its connector is loaded and has `identity`.
    app.runtime.check_callable(connection, Capability::Identity)?;
    let options = serde_json::to_value(request).map_err(|e| CallError::Host(e.into()))?;
    app.db
        .create_run(connection.to_string(), request.dry_run, options, actor)
        .await
        .map_err(CallError::Host)
}

/// Runs (or resumes) a stored run to a final status. Errors are recorded in the run, not returned.
pub async fn execute(app: Arc<App>, run: i64) {
    if let Err(e) = execute_inner(&app, run).await {
        if app.outbox.is_stopping() {
            // Left `applying`: the next start resumes it.
            tracing::info!(
                run,
                "directory sync run interrupted by the shutdown; it resumes at the next start"
            );
            return;
        }
        tracing::warn!(run, "directory sync run failed: {e:#}");
        let report = json!({ "error": format!("{e:#}") });
        if let Err(e) = app
            .db
            .update_run(run, "failed", None, Some(report), true)
            .await
        {
            tracing::error!(run, "could not record the failure of a sync run: {e:#}");
        }
    }
}

fn plan_options(
    app: &App,
    connection: &qiao_config::Connection,
    request: &RunRequest,
) -> PlanOptions {
    PlanOptions {
        source_wins: request
            .source_wins
            .unwrap_or(connection.directory.source_wins),
        max_deactivate_share: connection.directory.max_deactivate_share,
        platform_root: platform::platform_root(app, connection),
        ignore: connection.directory.ignore.clone(),
    }
}

/// Plans a connection against the stored directory, reading its platform now.
pub async fn plan_now(app: &Arc<App>, connection: &str, request: &RunRequest) -> Result<Plan> {
    let conn = app
        .runtime
        .connections
        .get(connection)
        .ok_or_else(|| CallError::UnknownConnection(connection.into()))?
        .clone();
    let options = plan_options(app, &conn, request);
    let source = app.db.directory().await?;
    let target = platform::target_state(app, connection, options.platform_root.as_deref()).await?;
    Ok(tokio::task::spawn_blocking(move || plan(&source, &target, &options)).await?)
}

async fn execute_inner(app: &Arc<App>, run: i64) -> Result<()> {
    let row = app
        .db
        .sync_run(run, true)
        .await?
        .ok_or_else(|| anyhow::anyhow!("run {run} is gone"))?;
    let request: RunRequest = serde_json::from_value(row.options.clone()).unwrap_or_default();
    let lock = app.directory_locks.get(&row.connection);
    let _held = lock.lock().await;
    let started = Instant::now();

    let plan: Plan = match row.plan.clone().filter(|_| row.status == "applying") {
        // Resuming: the plan made before the restart, so step indexes keep their meaning.
        Some(stored) => serde_json::from_value(stored)?,
        None => {
            let plan = plan_now(app, &row.connection, &request).await?;
            let stored = Some(serde_json::to_value(&plan)?);
            if request.dry_run {
                let mut report = summary(&plan, &[], started);
                report["roles"] = role_plan(app, &row.connection).await;
                app.db
                    .update_run(run, "planned", stored, Some(report), true)
                    .await?;
                return Ok(());
            }
            if plan.needs_confirmation && !request.confirm {
                let report = summary(&plan, &[], started);
                app.db
                    .update_run(run, "needs_confirmation", stored, Some(report), true)
                    .await?;
                tracing::warn!(run, connection = %row.connection, deactivate = plan.deactivation.deactivate, linked_active = plan.deactivation.linked_active, "directory sync stopped: it would deactivate more than the allowed share; confirm to apply");
                return Ok(());
            }
            app.db
                .update_run(run, "applying", stored, None, false)
                .await?;
            plan
        }
    };
    let recorded = app
        .db
        .run_steps(run)
        .await?
        .into_iter()
        .map(|s| (s.idx, (s.status, s.operation_id)))
        .collect();
    let conn = app
        .runtime
        .connections
        .get(&row.connection)
        .ok_or_else(|| CallError::UnknownConnection(row.connection.clone()))?;
    let source = app.db.directory().await?;
    let cx = apply::Context {
        app,
        run,
        connection: &row.connection,
        root: platform::platform_root(app, conn),
        source: &source,
        can_disable: apply::can_disable(app, &conn.connector),
    };
    let outcomes = apply::apply(&cx, &plan, recorded).await?;
    // Roles last: they are given to accounts the steps above may have just created.
    let (roles, roles_failed) =
        match roles::plan(app, &row.connection, &conn.directory.roles, &source).await {
            Ok(mut changes) => {
                roles::apply(app, &row.connection, run, &mut changes).await?;
                let failed = changes.iter().any(|c| c.error.is_some());
                (json!(changes), failed)
            }
            Err(e) => (
                json!({ "error": crate::Failure::from(e).to_stored() }),
                true,
            ),
        };
    let mut report = summary(&plan, &outcomes, started);
    report["roles"] = roles;
    let failed = roles_failed || outcomes.iter().any(|o| !matches!(o, Outcome::Done));
    let status = if failed {
        "completed_with_errors"
    } else {
        "succeeded"
    };
    tracing::info!(run, connection = %row.connection, status, steps = plan.steps.len(), "directory sync run finished");
    app.db
        .update_run(run, status, None, Some(report), true)
        .await
}

/// The role changes a run would make (for a dry run's report), or why they cannot be known.
async fn role_plan(app: &Arc<App>, connection: &str) -> Value {
    let Some(conn) = app.runtime.connections.get(connection) else {
        return Value::Null;
    };
    let source = match app.db.directory().await {
        Ok(source) => source,
        Err(e) => return json!({ "error": format!("{e:#}") }),
    };
    match roles::plan(app, connection, &conn.directory.roles, &source).await {
        Ok(changes) => json!(changes),
        Err(e) => json!({ "error": crate::Failure::from(e).to_stored() }),
    }
}

/// The run's report: what was planned, what happened to each step, and how long it took.
fn summary(plan: &Plan, outcomes: &[Outcome], started: Instant) -> Value {
    let mut done = 0;
    let mut errors = Vec::new();
    let mut skipped = Vec::new();
    let (mut failed, mut not_done) = (0, 0);
    for (idx, outcome) in outcomes.iter().enumerate() {
        let step = &plan.steps[idx];
        match outcome {
            Outcome::Done => done += 1,
            Outcome::Failed(error) => {
                failed += 1;
                if errors.len() < LISTED {
                    errors.push(json!({ "step": idx, "kind": step.kind, "id": step.id, "name": step.name, "error": error }));
                }
            }
            Outcome::Skipped(reason) => {
                not_done += 1;
                if skipped.len() < LISTED {
                    skipped.push(json!({ "step": idx, "kind": step.kind, "id": step.id, "name": step.name, "reason": reason }));
                }
            }
        }
    }
    json!({
        "planned": plan.counts,
        "steps": plan.steps.len(),
        "done": done,
        "failed": failed,
        "skipped": not_done,
        "errors": errors,
        "skipped_steps": skipped,
        "drift": plan.drift.len(),
        "ambiguous": plan.ambiguous.len(),
        "not_planned": plan.skipped.len(),
        "needs_confirmation": plan.needs_confirmation,
        "deactivation": plan.deactivation,
        "duration_ms": started.elapsed().as_millis() as u64,
    })
}

/// Resumes the runs a stop interrupted (called once at start).
pub async fn resume(app: &Arc<App>) -> Result<()> {
    for run in app.db.unfinished_runs().await? {
        tracing::info!(
            run,
            "resuming a directory sync run interrupted by the last stop"
        );
        tokio::spawn(execute(app.clone(), run));
    }
    Ok(())
}
