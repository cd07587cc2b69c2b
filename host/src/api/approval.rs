//! `/v1/connections/{c}/approvals`: create, get, approve, reject, cancel.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::extra;
use super::operations::{WriteOptions, accept};
use super::{ApiError, AppState, Body, call, expect_reply};
use crate::bindings::approval::{
    ActRequest, Action, CancelRequest, CreateRequest, FormField, Instance, Status,
};
use crate::calls::{Call, Reply};
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
pub struct Template {
    template: Option<String>,
}

fn status_name(status: Status) -> &'static str {
    match status {
        Status::Draft => "draft",
        Status::Pending => "pending",
        Status::Approved => "approved",
        Status::Rejected => "rejected",
        Status::Canceled => "canceled",
    }
}

fn instance_json(i: Instance) -> Value {
    json!({
        "id": i.id,
        "template": i.template,
        "title": i.title,
        "applicant": i.applicant,
        "status": status_name(i.status),
        "tasks": i.tasks,
        "approvers": i.approvers,
        "comments": i.comments,
        "fields": i.fields,
        "extra": extra(i.extra),
    })
}

pub async fn get(
    State(rt): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    Query(q): Query<Template>,
) -> Result<Json<Value>> {
    let reply = call(
        &rt,
        &c,
        Call::GetApproval {
            id,
            template: q.template,
        },
    )
    .await?;
    Ok(Json(instance_json(expect_reply!(reply, Reply::Instance))))
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
