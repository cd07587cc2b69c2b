//! `/v1/connections/{c}/approvals`: create, get, approve, reject, cancel.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::operations::{WriteOptions, accept};
use super::{ApiError, AppState, Body};
use crate::bindings::approval::{
    ActRequest, Action, CancelRequest, CreateRequest, FormField,
};
use crate::outbox::write::Write;

type Result<T> = std::result::Result<T, ApiError>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    template: String,
    applicant: String,
    department_id: Option<String>,
    #[serde(default)]
    fields: Vec<FormField>,
    #[serde(default)]
    approvers: Vec<String>,
    idempotency_key: Option<String>,
    options: Option<Value>,
}

pub async fn create(
    State(rt): State<AppState>,
    Path(c): Path<String>,
    options: WriteOptions,
    Body(b): Body<CreateBody>,
) -> Result<Response> {
    let request = CreateRequest {
        template: b.template,
        applicant: b.applicant,
        department_id: b.department_id,
        fields: b.fields,
        approvers: b.approvers,
        idempotency_key: b.idempotency_key,
        options: b.options.map(|v| v.to_string()),
    };
    accept(&rt, &c, Write::CreateApproval { request }, options).await
}

#[derive(Deserialize)]
pub struct GetQuery {
    template: Option<String>,
    #[serde(default)]
    refresh: bool,
}

/// `GET .../approvals/{id}?template=&refresh=`: from the stored view when it is current; from the platform
/// (and stored) when it is not known, an event or write has moved it since, or `refresh=true` asks.
pub async fn get(
    State(rt): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    Query(q): Query<GetQuery>,
) -> Result<Json<Value>> {
    Ok(Json(crate::approvals::read(&rt, &c, &id, q.template, q.refresh).await?))
}
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ActBody {
    task_id: Option<String>,
    actor: Option<String>,
    comment: Option<String>,
    template: Option<String>,
}

async fn act(
    rt: AppState,
    c: String,
    id: String,
    action: Action,
    b: ActBody,
    options: WriteOptions,
) -> Result<Response> {
    let request = ActRequest {
        instance_id: id,
        task_id: b.task_id,
        actor: b.actor,
        action,
        comment: b.comment,
        template: b.template,
    };
    accept(&rt, &c, Write::ActOnApproval { request }, options).await
}

pub async fn approve(
    State(rt): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
    Body(b): Body<ActBody>,
) -> Result<Response> {
    act(rt, c, id, Action::Approve, b, options).await
}

pub async fn reject(
    State(rt): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
    Body(b): Body<ActBody>,
) -> Result<Response> {
    act(rt, c, id, Action::Reject, b, options).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    operator: Option<String>,
    reason: Option<String>,
    template: Option<String>,
}

pub async fn cancel(
    State(rt): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
    Body(b): Body<CancelBody>,
) -> Result<Response> {
    let request = CancelRequest {
        instance_id: id,
        operator: b.operator,
        reason: b.reason,
        template: b.template,
    };
    accept(&rt, &c, Write::CancelApproval { request }, options).await
}
