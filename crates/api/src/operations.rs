//! Writes through the outbox, and `/v1/operations`: status, dead letters, retry, discard.
//!
//! A write is answered `202 Accepted` with its operation (and `Location: /v1/operations/{id}`) once committed.
//! `?wait=SECONDS` (at most 60) answers with the platform's result instead when it comes in time, as a
//! synchronous call would: the same status and body, plus `operation_id`.

use std::time::Duration;

use axum::Json;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Caller, PendingAudit};
use super::{ApiError, AppState};
use qiao_services::access::Scope;
use qiao_services::outbox::Origin;
use qiao_store::{Enqueued, NewAuditEntry, OperationRow, Status};
use qiao_contract::Call;

/// Longest a caller may ask to wait for a result.
pub const MAX_WAIT_S: u64 = 60;
const MAX_KEY_CHARS: usize = 255;

/// How the caller wants a write handled: `Idempotency-Key` header and `?wait=` seconds.
pub struct WriteOptions {
    key: Option<String>,
    wait: Option<Duration>,
    /// The API key making the write (or the rule), recorded with its operation.
    actor: Option<String>,
    /// Why a rule makes the write.
    cause: Option<Value>,
    /// The request's audit row, while not yet written (see [`PendingAudit`]).
    audit: Option<PendingAudit>,
}

impl<S: Send + Sync> FromRequestParts<S> for WriteOptions {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        let key = match parts.headers.get("idempotency-key") {
            None => None,
            Some(v) => {
                let key = v
                    .to_str()
                    .ok()
                    .filter(|k| !k.trim().is_empty() && k.chars().count() <= MAX_KEY_CHARS)
                    .ok_or_else(|| {
                        ApiError::bad_request(format!(
                            "Idempotency-Key must be 1-{MAX_KEY_CHARS} visible ASCII characters"
                        ))
                    })?;
                Some(key.to_string())
            }
        };
        let rule = parts.extensions.get::<crate::internal::RuleCaller>().cloned();
        let actor = match &rule {
            Some(rule) => Some(rule.actor.clone()),
            None => parts.extensions.get::<Caller>().map(|c| c.0.id.clone()),
        };
        let cause = rule.map(|r| r.cause);
        let audit = parts.extensions.get::<PendingAudit>().cloned();
        Ok(WriteOptions { key, wait: wait_param(parts, state).await?, actor, cause, audit })
    }
}

#[derive(Deserialize)]
struct WaitQuery {
    wait: Option<String>,
}

async fn wait_param<S: Send + Sync>(parts: &mut Parts, state: &S) -> Result<Option<Duration>, ApiError> {
    let Query(q) = Query::<WaitQuery>::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::bad_request(e.body_text()))?;
    let Some(wait) = q.wait else { return Ok(None) };
    match wait.parse::<u64>() {
        // Not waiting at all: answered as without `?wait=`.
        Ok(0) => Ok(None),
        Ok(s) if s <= MAX_WAIT_S => Ok(Some(Duration::from_secs(s))),
        _ => Err(ApiError::bad_request(format!("wait must be a whole number of seconds, 0-{MAX_WAIT_S}"))),
    }
}

/// Commits a write to the outbox and answers for it (see the module comment).
pub async fn accept(app: &AppState, connection: &str, write: Call, options: WriteOptions) -> Result<Response, ApiError> {
    accept_with(app, connection, write, options, serde_json::Map::new()).await
}

/// [`accept`], with `extra` fields added to the answer's JSON body (to the error's `details` for an error).
pub async fn accept_with(
    app: &AppState,
    connection: &str,
    write: Call,
    options: WriteOptions,
    extra: serde_json::Map<String, Value>,
) -> Result<Response, ApiError> {
    let wait = options.wait;
    // A new operation's audit row is written with it, recording it accepted (202), also when the caller waits for
    // the result: so no operation exists without its row after a crash, and the answer waits for one commit, not
    // two. How the operation ended is on the operation.
    let audit = options.audit.as_ref().and_then(|pending| pending.take().map(|entry| (pending, entry)));
    let written = audit
        .as_ref()
        .map(|(_, entry)| NewAuditEntry { status: StatusCode::ACCEPTED.as_u16(), ..entry.clone() });
    let enqueued = commit(app, connection, write, &options, written).await;
    if let Some((pending, entry)) = audit
        && !matches!(enqueued, Ok(Enqueued::New(_)))
    {
        pending.put_back(entry);
    }
    let op = match enqueued? {
        Enqueued::New(op) | Enqueued::Existing(op) => op,
        Enqueued::Conflict(earlier) => return Err(key_reused(&earlier)),
    };
    answer(app, op, wait, extra).await
}

impl WriteOptions {
    /// How long the caller asked to wait for a result (`?wait=`).
    pub fn wait(&self) -> Option<Duration> {
        self.wait
    }

    /// The `Idempotency-Key` header, taken out: for a handler that derives the keys of several writes from it.
    pub fn take_key(&mut self) -> Option<String> {
        self.key.take()
    }
}

/// Commits a write to the outbox (or finds the earlier one with its idempotency key): the `Idempotency-Key`
/// header applies to it, and the operation records the caller.
pub async fn enqueue(
    app: &AppState,
    connection: &str,
    write: Call,
    options: &WriteOptions,
) -> Result<OperationRow, ApiError> {
    match commit(app, connection, write, options, None).await? {
        Enqueued::New(op) | Enqueued::Existing(op) => Ok(op),
        Enqueued::Conflict(earlier) => Err(key_reused(&earlier)),
    }
}

fn key_reused(earlier: &OperationRow) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "idempotency_key_reused",
        format!("idempotency key already used by operation {} with a different request", earlier.id),
    )
}

/// [`enqueue`], with the request's audit row to write in the same transaction when the operation is new.
async fn commit(
    app: &AppState,
    connection: &str,
    mut write: Call,
    options: &WriteOptions,
    audit: Option<NewAuditEntry>,
) -> Result<Enqueued, ApiError> {
    // Fail fast on what no retry can fix: an unknown connection, or a connector without the capability.
    app.runtime.check_call(connection, &write)?;
    // The key of a write whose call takes none, kept by the outbox alone.
    let mut outbox_key = None;
    if let Some(header) = options.key.clone() {
        match write.idempotency_key().map(str::to_string) {
            Some(body) if body != header => {
                return Err(ApiError::bad_request(
                    "the Idempotency-Key header and the body's idempotency_key differ; give one",
                ));
            }
            Some(_) => {}
            None if write.set_idempotency_key(header.clone()) => {}
            // A rule's write (it has a cause) always carries its (rule, event, action) key, so that a replay finds
            // the operation made the first time: an update, move or completion included.
            None if options.cause.is_some() => outbox_key = Some(header),
            None => {
                return Err(ApiError::bad_request(format!(
                    "{} takes no idempotency key (it is idempotent by its target)",
                    write.name()
                )));
            }
        }
    }
    // A store near its size limit takes no new work: what is left is for delivering what it accepted.
    app.db.check_room().await.map_err(ApiError::internal)?;
    let origin = Origin { actor: options.actor.clone(), cause: options.cause.clone(), audit };
    let enqueued = match outbox_key {
        Some(key) => app.outbox.accept_keyed(&app.db, connection, &write, key, origin).await,
        None => app.outbox.accept(&app.db, connection, &write, origin).await,
    };
    enqueued.map_err(ApiError::internal)
}

/// The operation's result if it is final (or becomes final within `wait`), else 202 with the operation; `extra`
/// fields are added to the JSON body (to the error's `details`).
async fn answer(
    app: &AppState,
    op: OperationRow,
    wait: Option<Duration>,
    extra: serde_json::Map<String, Value>,
) -> Result<Response, ApiError> {
    let op = match wait {
        Some(wait) if !op.status.is_final() => app
            .outbox
            .wait(&app.db, op.id, wait)
            .await
            .map_err(ApiError::internal)?
            .unwrap_or(op),
        _ => op,
    };
    let location = HeaderValue::from_str(&format!("/v1/operations/{}", op.id)).expect("ascii");
    let mut response = match (op.status, &op.result, &op.last_error) {
        (Status::Succeeded, Some(result), _) => result_response(op.id, result, extra),
        (Status::Failed | Status::Dead, _, Some(error)) => {
            let mut e = ApiError::from_stored(error);
            let details = e.details.get_or_insert_with(|| json!({}));
            details["operation_id"] = json!(op.id);
            details["attempts"] = json!(op.attempts);
            if let Value::Object(details) = details {
                details.extend(extra);
            }
            e.into_response()
        }
        _ => {
            let mut body = view(&op);
            if let Value::Object(body) = &mut body {
                body.extend(extra);
            }
            (StatusCode::ACCEPTED, Json(body)).into_response()
        }
    };
    response.headers_mut().insert(header::LOCATION, location);
    Ok(response)
}

fn result_response(id: i64, result: &Value, extra: serde_json::Map<String, Value>) -> Response {
    let status = result["status"]
        .as_u64()
        .and_then(|s| StatusCode::from_u16(s as u16).ok())
        .unwrap_or(StatusCode::OK);
    match &result["body"] {
        Value::Object(body) => {
            let mut body = body.clone();
            body.insert("operation_id".into(), json!(id));
            body.extend(extra);
            (status, Json(Value::Object(body))).into_response()
        }
        // A write with no result of its own (204) still answers what the request resolved (`unresolved`).
        _ if !extra.is_empty() => {
            let mut body = extra;
            body.insert("operation_id".into(), json!(id));
            (StatusCode::OK, Json(Value::Object(body))).into_response()
        }
        _ => status.into_response(),
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    status: Option<String>,
    connection: Option<String>,
    #[serde(default)]
    after: i64,
    limit: Option<u32>,
}

/// `GET /v1/operations?status=&connection=&after=&limit=`: `status=dead` lists the dead letters.
pub async fn list(State(app): State<AppState>, Query(q): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    let status = match q.status.as_deref() {
        None => None,
        Some(s) => Some(Status::parse(s).ok_or_else(|| {
            ApiError::bad_request(format!(
                "unknown status {s:?}; one of {}",
                Status::ALL.map(Status::as_str).join(", ")
            ))
        })?),
    };
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let operations = app
        .db
        .list_operations(status, q.connection, q.after, limit)
        .await
        .map_err(ApiError::internal)?;
    let next = operations.last().map_or(q.after, |o| o.id);
    let operations: Vec<Value> = operations.iter().map(view).collect();
    Ok(Json(json!({ "operations": operations, "next_after": next })))
}

/// `GET /v1/operations/counts`: how many operations are in each state.
pub async fn counts(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let counts = app.db.operation_counts().await.map_err(ApiError::internal)?;
    let mut out = serde_json::Map::new();
    for status in Status::ALL {
        let n = counts.iter().find(|(s, _)| s == status.as_str()).map_or(0, |(_, n)| *n);
        out.insert(status.as_str().into(), json!(n));
    }
    Ok(Json(Value::Object(out)))
}

/// The operation, if the caller may see it (or change it, with `scope`).
async fn find(app: &AppState, caller: &Caller, id: i64, scope: Scope) -> Result<OperationRow, ApiError> {
    let op = app
        .db
        .operation(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| ApiError::not_found(format!("no operation {id}")))?;
    caller.check_operation(&op, scope)?;
    Ok(op)
}

/// `GET /v1/operations/{id}?wait=`: the operation, waiting for it to become final if asked.
pub async fn get(
    State(app): State<AppState>,
    caller: Caller,
    Path(id): Path<i64>,
    mut parts: Parts,
) -> Result<Json<Value>, ApiError> {
    let wait = wait_param(&mut parts, &()).await?;
    let mut op = find(&app, &caller, id, Scope::OperationsRead).await?;
    if let Some(wait) = wait.filter(|_| !op.status.is_final()) {
        op = app.outbox.wait(&app.db, id, wait).await.map_err(ApiError::internal)?.unwrap_or(op);
    }
    Ok(Json(view(&op)))
}

/// `POST /v1/operations/{id}/retry`: a failed or dead operation gets a fresh budget of attempts.
pub async fn retry(State(app): State<AppState>, caller: Caller, Path(id): Path<i64>) -> Result<Response, ApiError> {
    change(&app, &caller, id, true).await
}

/// `DELETE /v1/operations/{id}`: give up on an operation that has not succeeded and is not running.
pub async fn discard(State(app): State<AppState>, caller: Caller, Path(id): Path<i64>) -> Result<Response, ApiError> {
    change(&app, &caller, id, false).await
}

async fn change(app: &AppState, caller: &Caller, id: i64, requeue: bool) -> Result<Response, ApiError> {
    find(app, caller, id, Scope::OperationsWrite).await?;
    let changed = if requeue { app.db.requeue(id).await } else { app.db.discard(id).await }.map_err(ApiError::internal)?;
    let op = find(app, caller, id, Scope::OperationsWrite).await?;
    match changed {
        Some(true) => {
            app.outbox.poke();
            let status = if requeue { StatusCode::ACCEPTED } else { StatusCode::OK };
            Ok((status, Json(view(&op))).into_response())
        }
        _ => Err(ApiError::new(
            StatusCode::CONFLICT,
            "wrong_state",
            format!(
                "operation {id} is {}; only {} operations can be {}",
                op.status.as_str(),
                if requeue { "failed or dead" } else { "queued, retrying, failed or dead" },
                if requeue { "retried" } else { "discarded" }
            ),
        )),
    }
}

/// An operation as the API shows it: its request reads like the REST body that made it.
fn view(op: &OperationRow) -> Value {
    let mut out = json!(op);
    qiao_contract::json::as_written(&mut out["request"]);
    out
}
