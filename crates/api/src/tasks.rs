//! `/v1/connections/{c}/tasks`: tasks and to-dos (Feishu tasks, DingTalk to-dos, Jira issues...). Reads go to
//! the connector at once; every change is a write through the outbox.
//!
//! In a PATCH a field left out is kept, `null` removes it, and a value sets it; lists replace the whole list;
//! `extra` is merged key by key (a key set to `null` removes that platform field).

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::{Deserialize, Deserializer};
use serde_json::Value;

use super::operations::{WriteOptions, accept};
use super::{ApiError, AppState, Body, call, expect_reply};
use qiao_contract::bindings::tasks::{NewTask, Target, TaskChanges, TaskQuery, TextChange, TimeChange};
use qiao_contract::calls::{Call, Reply};
use qiao_contract::json;

type Result<T> = std::result::Result<T, ApiError>;

/// Longest title and description accepted, in characters: far above any platform's, below abuse.
const MAX_TITLE_CHARS: usize = 1_000;
const MAX_TEXT_CHARS: usize = 100_000;
const MAX_PEOPLE: usize = 500;

/// `Some(value)` for a field that is present, even as `null`: with `#[serde(default)]`, a missing field stays
/// `None`, so a PATCH can tell "left out" from "null".
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> std::result::Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

fn check_title(title: &str) -> Result<()> {
    if title.trim().is_empty() {
        return Err(ApiError::bad_request("title must not be empty"));
    }
    if title.chars().count() > MAX_TITLE_CHARS {
        return Err(ApiError::bad_request(format!("title is longer than {MAX_TITLE_CHARS} characters")));
    }
    Ok(())
}

fn check_text(what: &str, text: Option<&str>) -> Result<()> {
    match text {
        Some(text) if text.chars().count() > MAX_TEXT_CHARS => {
            Err(ApiError::bad_request(format!("{what} is longer than {MAX_TEXT_CHARS} characters")))
        }
        _ => Ok(()),
    }
}

fn check_people(what: &str, ids: &[String]) -> Result<()> {
    if ids.len() > MAX_PEOPLE {
        return Err(ApiError::bad_request(format!("{what} lists more than {MAX_PEOPLE} users")));
    }
    if ids.iter().any(|id| id.trim().is_empty()) {
        return Err(ApiError::bad_request(format!("{what} has an empty user id")));
    }
    Ok(())
}

/// Platform fields as the contract carries them: a JSON object, as text.
fn extra(value: Option<Value>) -> Result<Option<String>> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(object @ Value::Object(_)) => Ok(Some(object.to_string())),
        Some(_) => Err(ApiError::bad_request("extra must be a JSON object")),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    title: String,
    description: Option<String>,
    #[serde(default)]
    assignees: Vec<String>,
    #[serde(default)]
    followers: Vec<String>,
    due_ms: Option<u64>,
    #[serde(default)]
    labels: Vec<String>,
    creator: Option<String>,
    extra: Option<Value>,
    idempotency_key: Option<String>,
}

/// `POST .../tasks`.
pub async fn create(
    State(app): State<AppState>,
    Path(c): Path<String>,
    options: WriteOptions,
    Body(b): Body<CreateBody>,
) -> Result<Response> {
    check_title(&b.title)?;
    check_text("description", b.description.as_deref())?;
    check_people("assignees", &b.assignees)?;
    check_people("followers", &b.followers)?;
    let task = NewTask {
        title: b.title,
        description: b.description,
        assignees: b.assignees,
        followers: b.followers,
        due_ms: b.due_ms,
        labels: b.labels,
        creator: b.creator,
        extra: extra(b.extra)?,
    };
    accept(&app, &c, Call::CreateTask { task, idempotency_key: b.idempotency_key }, options).await
}

/// `GET .../tasks/{id}`.
pub async fn get(State(app): State<AppState>, Path((c, id)): Path<(String, String)>) -> Result<Json<Value>> {
    let reply = call(&app, &c, Call::GetTask { id }).await?;
    Ok(Json(json::task(expect_reply!(reply, Reply::Task))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    title: Option<String>,
    #[serde(default, deserialize_with = "present")]
    description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    due_ms: Option<Option<u64>>,
    assignees: Option<Vec<String>>,
    followers: Option<Vec<String>>,
    labels: Option<Vec<String>>,
    /// Merged key by key into the platform fields; a key set to `null` removes that field.
    #[serde(default, deserialize_with = "present")]
    extra: Option<Value>,
}

/// `PATCH .../tasks/{id}`.
pub async fn update(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
    Body(b): Body<UpdateBody>,
) -> Result<Response> {
    if let Some(title) = &b.title {
        check_title(title)?;
    }
    check_text("description", b.description.as_ref().and_then(|d| d.as_deref()))?;
    check_people("assignees", b.assignees.as_deref().unwrap_or_default())?;
    check_people("followers", b.followers.as_deref().unwrap_or_default())?;
    if b.extra == Some(Value::Null) {
        return Err(ApiError::bad_request(
            "extra: null would remove every platform field; set each key to remove to null instead",
        ));
    }
    let changes = TaskChanges {
        title: b.title,
        description: match b.description {
            None => TextChange::Keep,
            Some(None) => TextChange::Clear,
            Some(Some(text)) => TextChange::Set(text),
        },
        due_ms: match b.due_ms {
            None => TimeChange::Keep,
            Some(None) => TimeChange::Clear,
            Some(Some(ms)) => TimeChange::Set(ms),
        },
        assignees: b.assignees,
        followers: b.followers,
        labels: b.labels,
        extra: extra(b.extra)?,
    };
    accept(&app, &c, Call::UpdateTask { id, changes }, options).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveBody {
    status: Option<String>,
    transition: Option<String>,
}

/// `POST .../tasks/{id}/move`: `{"status": "open" | "in_progress" | "done"}` or `{"transition": "Start"}`.
pub async fn move_to(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
    Body(b): Body<MoveBody>,
) -> Result<Response> {
    let target = match (b.status, b.transition) {
        (Some(status), None) => Target::Status(json::status_category(&status).ok_or_else(|| {
            ApiError::bad_request(format!("unknown status {status:?}; use open, in_progress or done"))
        })?),
        (None, Some(transition)) if !transition.trim().is_empty() => Target::Transition(transition),
        _ => return Err(ApiError::bad_request("give exactly one of \"status\" or \"transition\"")),
    };
    accept(&app, &c, Call::MoveTask { id, target }, options).await
}

/// `POST .../tasks/{id}/complete`.
pub async fn complete(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
) -> Result<Response> {
    accept(&app, &c, Call::CompleteTask { id }, options).await
}

/// `POST .../tasks/{id}/reopen`.
pub async fn reopen(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
) -> Result<Response> {
    accept(&app, &c, Call::ReopenTask { id }, options).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommentBody {
    text: String,
    author: Option<String>,
}

/// `POST .../tasks/{id}/comments`.
pub async fn comment(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
    Body(b): Body<CommentBody>,
) -> Result<Response> {
    if b.text.trim().is_empty() {
        return Err(ApiError::bad_request("text must not be empty"));
    }
    check_text("text", Some(&b.text))?;
    accept(&app, &c, Call::CommentOnTask { id, text: b.text, author: b.author }, options).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListQuery {
    assignee: Option<String>,
    status: Option<String>,
    updated_after_ms: Option<u64>,
    text: Option<String>,
    /// The platform's own query language (Jira JQL).
    query: Option<String>,
    cursor: Option<String>,
    limit: Option<u32>,
}

/// `GET .../tasks?assignee=&status=&updated_after_ms=&text=&query=&cursor=&limit=`.
pub async fn list(
    State(app): State<AppState>,
    Path(c): Path<String>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>> {
    let status = match q.status.as_deref() {
        None => None,
        Some(name) => Some(json::status_category(name).ok_or_else(|| {
            ApiError::bad_request(format!("unknown status {name:?}; use open, in_progress or done"))
        })?),
    };
    let query = TaskQuery {
        assignee: q.assignee,
        status,
        updated_after_ms: q.updated_after_ms,
        text: q.text,
        platform_query: q.query,
        cursor: q.cursor,
        limit: q.limit.unwrap_or(50).clamp(1, 500),
    };
    let page = expect_reply!(call(&app, &c, Call::ListTasks { query }).await?, Reply::TaskPage);
    let tasks: Vec<Value> = page.tasks.into_iter().map(json::task).collect();
    Ok(Json(serde_json::json!({ "tasks": tasks, "next_cursor": page.next_cursor })))
}

