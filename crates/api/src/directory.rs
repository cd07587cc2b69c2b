//! `/v1/directory`: the enterprise directory (pushed whole or as changes, or pulled from the source connection),
//! a person and their platform accounts; `/v1/connections/{c}/directory/runs`: directory sync runs (dry run,
//! apply, reports).

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Caller;
use super::{ApiError, AppState, Body};
use qiao_store::RunRow;
use qiao_directory::{Department, Directory, Person};
use qiao_services::sync::{self, RunRequest};

type Result<T> = std::result::Result<T, ApiError>;

/// A directory push may be this large (100,000 people fit); other bodies keep the API's 1 MiB limit.
pub const MAX_DIRECTORY_BYTES: usize = 64 * 1024 * 1024;

fn invalid(invalid: qiao_directory::Invalid) -> ApiError {
    let mut error = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_directory",
        invalid.to_string(),
    );
    error.details = Some(json!({ "problems": invalid.problems, "total": invalid.total }));
    error
}

pub async fn get(State(app): State<AppState>) -> Result<Json<Value>> {
    let directory = app.db.directory().await.map_err(ApiError::internal)?;
    Ok(Json(json!(directory)))
}

/// A full snapshot: the stored directory becomes exactly this one (a person left out is gone: the next sync
/// deactivates their accounts).
pub async fn replace(
    State(app): State<AppState>,
    Body(directory): Body<Directory>,
) -> Result<Json<Value>> {
    directory.check().map_err(invalid)?;
    let lock = app.directory_locks.get("");
    let _held = lock.lock().await;
    let changed = app
        .db
        .replace_directory(directory)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "changed": changed })))
}

/// Incremental: departments and people upserted (whole records) and ids deleted; the result must be valid.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Changes {
    #[serde(default)]
    upsert: Directory,
    #[serde(default)]
    delete: Deletions,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Deletions {
    departments: Vec<String>,
    people: Vec<String>,
}

fn merge<T: Clone>(
    stored: &mut Vec<T>,
    upsert: Vec<T>,
    delete: &[String],
    id: impl Fn(&T) -> &str,
) {
    let deleted: std::collections::HashSet<&str> = delete.iter().map(String::as_str).collect();
    let mut incoming: std::collections::HashMap<String, T> = upsert
        .into_iter()
        .map(|t| (id(&t).to_string(), t))
        .collect();
    stored.retain_mut(|t| {
        if let Some(new) = incoming.remove(id(t)) {
            *t = new;
        }
        !deleted.contains(id(t))
    });
    // New ones in the order given: the map lost it, so walk the input order again.
    let mut rest: Vec<(String, T)> = incoming.into_iter().collect();
    rest.sort_by(|a, b| a.0.cmp(&b.0));
    stored.extend(
        rest.into_iter()
            .map(|(_, t)| t)
            .filter(|t| !deleted.contains(id(t))),
    );
}

pub async fn change(
    State(app): State<AppState>,
    Body(changes): Body<Changes>,
) -> Result<Json<Value>> {
    let lock = app.directory_locks.get("");
    let _held = lock.lock().await;
    let mut directory = app.db.directory().await.map_err(ApiError::internal)?;
    merge(
        &mut directory.departments,
        changes.upsert.departments,
        &changes.delete.departments,
        |d: &Department| &d.id,
    );
    merge(
        &mut directory.people,
        changes.upsert.people,
        &changes.delete.people,
        |p: &Person| &p.id,
    );
    directory.check().map_err(invalid)?;
    let changed = app
        .db
        .replace_directory(directory)
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(json!({ "changed": changed })))
}

pub async fn person(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>> {
    let person = app
        .db
        .person(id.clone())
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no person {id}")))?;
    let accounts: Vec<Value> = app
        .db
        .accounts(id)
        .await
        .map_err(ApiError::internal)?
        .into_iter()
        .map(|(connection, user_id)| json!({ "connection": connection, "user_id": user_id }))
        .collect();
    Ok(Json(json!({ "person": person, "accounts": accounts })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct Pull {
    /// The connection to pull from; default `[directory] source`.
    connection: Option<String>,
}

pub async fn pull(State(app): State<AppState>, Body(body): Body<Pull>) -> Result<Json<Value>> {
    let source = body
        .connection
        .or_else(|| app.directory.source.clone())
        .ok_or_else(|| {
            ApiError::bad_request(
                "no source to pull from: give {\"connection\": …} or set [directory] source",
            )
        })?;
    app.runtime.check_callable(&source, qiao_contract::Capability::Identity)?;
    let changed = sync::pull::pull(&app, &source).await.map_err(|e| match e
        .downcast::<qiao_runtime::CallError>()
    {
        Ok(call) => ApiError::from(call),
        Err(e) => ApiError::new(StatusCode::BAD_GATEWAY, "pull_failed", format!("{e:#}")),
    })?;
    Ok(Json(json!({ "source": source, "changed": changed })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RunQuery {
    /// Seconds to wait for the run to finish before answering (at most 300); a dry run waits by default.
    wait: Option<u64>,
}

const MAX_RUN_WAIT_S: u64 = 300;

/// Starts a run. Answers 202 with the run as it stands, or 200 with the finished run when it finished within
/// `?wait=` (a dry run waits up to a minute unless told otherwise).
pub async fn start(
    State(app): State<AppState>,
    Path(c): Path<String>,
    Query(q): Query<RunQuery>,
    caller: Caller,
    Body(request): Body<RunRequest>,
) -> Result<Response> {
    let run = sync::create(&app, &c, &request, Some(caller.0.id.clone())).await?;
    tokio::spawn(sync::execute(app.clone(), run));
    let wait = q
        .wait
        .unwrap_or(if request.dry_run { 60 } else { 0 })
        .min(MAX_RUN_WAIT_S);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(wait);
    loop {
        let (status, _) = app
            .db
            .sync_run_status(run)
            .await
            .map_err(ApiError::internal)?
            .ok_or_else(|| ApiError::not_found(format!("no run {run}")))?;
        let done = sync::FINAL.contains(&status.as_str());
        if done || tokio::time::Instant::now() >= deadline {
            let row = app
                .db
                .sync_run(run, true)
                .await
                .map_err(ApiError::internal)?
                .ok_or_else(|| ApiError::not_found(format!("no run {run}")))?;
            let status = if done {
                StatusCode::OK
            } else {
                StatusCode::ACCEPTED
            };
            return Ok((status, Json(render(&app, row).await?)).into_response());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A run with its progress (steps done, failed, skipped so far); the plan is there when the row has it.
async fn render(app: &AppState, row: RunRow) -> Result<Value> {
    let counts = app
        .db
        .step_counts(row.id)
        .await
        .map_err(ApiError::internal)?;
    let count = |status: &str| {
        counts
            .iter()
            .find(|(s, _)| s == status)
            .map_or(0, |(_, n)| *n)
    };
    let total = row.steps;
    let mut value = json!(row);
    value["progress"] = json!({ "total": total, "done": count("done"), "failed": count("failed"), "skipped": count("skipped") });
    if value["plan"].is_null() {
        value
            .as_object_mut()
            .expect("a run is an object")
            .remove("plan");
    }
    Ok(value)
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RunsQuery {
    limit: Option<usize>,
}

pub async fn runs(
    State(app): State<AppState>,
    Path(c): Path<String>,
    Query(q): Query<RunsQuery>,
) -> Result<Json<Value>> {
    let rows = app
        .db
        .sync_runs(Some(c), q.limit.unwrap_or(20).clamp(1, 200))
        .await
        .map_err(ApiError::internal)?;
    let mut runs = Vec::new();
    for row in rows {
        runs.push(render(&app, row).await?);
    }
    Ok(Json(json!({ "runs": runs })))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct RunGet {
    /// Include the plan (default true).
    plan: Option<bool>,
}

pub async fn run(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, i64)>,
    Query(q): Query<RunGet>,
) -> Result<Json<Value>> {
    let row = app
        .db
        .sync_run(id, q.plan.unwrap_or(true))
        .await
        .map_err(ApiError::internal)?
        .filter(|r| r.connection == c)
        .ok_or_else(|| {
            ApiError::not_found(format!("no directory sync run {id} on connection {c}"))
        })?;
    Ok(Json(render(&app, row).await?))
}
