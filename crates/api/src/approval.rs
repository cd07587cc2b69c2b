//! `/v1/connections/{c}/approvals`: create, get, approve, reject, cancel.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::operations::{WriteOptions, accept};
use super::{ApiError, AppState, Body};
use qiao_services::addressing::{self, Unresolved};
use qiao_contract::bindings::approval::{ActRequest, Action, CancelRequest, CreateRequest, FormField, RemindRequest};
use qiao_contract::Capability;
use qiao_contract::Call;

type Result<T> = std::result::Result<T, ApiError>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    template: String,
    /// The applicant's platform user id; or `applicant_person`, the enterprise's person id.
    applicant: Option<String>,
    applicant_person: Option<String>,
    department_id: Option<String>,
    #[serde(default)]
    fields: Vec<FormField>,
    /// Platform user ids, in order; or `approver_people`, the enterprise's person ids.
    #[serde(default)]
    approvers: Vec<String>,
    #[serde(default)]
    approver_people: Vec<String>,
    idempotency_key: Option<String>,
    options: Option<Value>,
}

fn unresolved_person(unresolved: Vec<Unresolved>) -> ApiError {
    let ids: Vec<&str> = unresolved.iter().map(|u| u.id.as_str()).collect();
    let mut e = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "unresolved_person",
        format!(
            "no account on this connection for person {} (see details.unresolved)",
            ids.join(", ")
        ),
    );
    e.details = Some(json!({ "unresolved": unresolved }));
    e
}

pub async fn create(
    State(app): State<AppState>,
    Path(c): Path<String>,
    options: WriteOptions,
    Body(b): Body<CreateBody>,
) -> Result<Response> {
    let by_person = b.applicant_person.is_some() || !b.approver_people.is_empty();
    if by_person {
        // An unknown connection is a 404, not a person without an account there.
        app.runtime.check_callable(&c, Capability::Approval)?;
    }
    let applicant = match (b.applicant, b.applicant_person) {
        (Some(applicant), None) => applicant,
        (None, Some(person)) => addressing::person_on(&app.db, &c, &person)
            .await
            .map_err(ApiError::internal)?
            .map_err(|u| unresolved_person(vec![u]))?,
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of \"applicant\" or \"applicant_person\"",
            ));
        }
    };
    let approvers = match (b.approvers.is_empty(), b.approver_people.is_empty()) {
        (_, true) => b.approvers,
        (true, false) => {
            if b.approver_people.len() > addressing::MAX_IDS {
                return Err(ApiError::bad_request(
                    "approver_people lists too many people",
                ));
            }
            // Every approver, in order: one left out would change who approves.
            let (found, unresolved) = addressing::people_on(&app.db, &c, &b.approver_people)
                .await
                .map_err(ApiError::internal)?;
            if !unresolved.is_empty() {
                return Err(unresolved_person(unresolved));
            }
            found.into_iter().map(|(_, user)| user).collect()
        }
        (false, false) => {
            return Err(ApiError::bad_request(
                "give \"approvers\" or \"approver_people\", not both",
            ));
        }
    };
    let request = CreateRequest {
        template: b.template,
        applicant,
        department_id: b.department_id,
        fields: b.fields,
        approvers,
        idempotency_key: b.idempotency_key,
        options: b.options.map(|v| v.to_string()),
    };
    accept(&app, &c, Call::CreateApproval { request }, options).await
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
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    Query(q): Query<GetQuery>,
) -> Result<Json<Value>> {
    Ok(Json(
        qiao_services::approvals::read(&app, &c, &id, q.template, q.refresh).await?,
    ))
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
    app: AppState,
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
    accept(&app, &c, Call::ActOnApproval { request }, options).await
}

pub async fn approve(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
    Body(b): Body<ActBody>,
) -> Result<Response> {
    act(app, c, id, Action::Approve, b, options).await
}

pub async fn reject(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
    Body(b): Body<ActBody>,
) -> Result<Response> {
    act(app, c, id, Action::Reject, b, options).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CancelBody {
    operator: Option<String>,
    reason: Option<String>,
    template: Option<String>,
}

pub async fn cancel(
    State(app): State<AppState>,
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
    accept(&app, &c, Call::CancelApproval { request }, options).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RemindBody {
    #[serde(default)]
    task_ids: Vec<String>,
    operator: Option<String>,
    comment: Option<String>,
    template: Option<String>,
}

/// `POST .../approvals/{id}/remind`: nudges the approvers of its pending tasks (all of them when `task_ids` is
/// empty).
pub async fn remind(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
    Body(b): Body<RemindBody>,
) -> Result<Response> {
    if b.task_ids.len() > addressing::MAX_IDS {
        return Err(ApiError::bad_request("task_ids lists too many tasks"));
    }
    let request = RemindRequest {
        instance_id: id,
        task_ids: b.task_ids,
        operator: b.operator,
        comment: b.comment,
        template: b.template,
    };
    accept(&app, &c, Call::RemindApproval { request }, options).await
}
