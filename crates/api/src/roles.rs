//! `/v1/connections/{c}/roles` and `/users/{id}/active`: the platform's roles (DingTalk roles, WeCom tags,
//! Feishu user groups) and turning accounts off and on, for connectors exporting `roles` / `user-status`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::operations::{WriteOptions, accept};
use super::{ApiError, AppState, Body, call, expect_reply};
use qiao_contract::calls::{Call, Reply};

type Result<T> = std::result::Result<T, ApiError>;

/// More user ids than this in one request are refused (the connector batches what it is given).
const MAX_MEMBERS: usize = 10_000;

pub async fn list(State(app): State<AppState>, Path(c): Path<String>) -> Result<Json<Value>> {
    let reply = call(&app, &c, Call::ListRoles {}).await?;
    Ok(Json(json!({ "roles": expect_reply!(reply, Reply::Roles) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewRole {
    name: String,
}

pub async fn create(
    State(app): State<AppState>,
    Path(c): Path<String>,
    options: WriteOptions,
    Body(body): Body<NewRole>,
) -> Result<Response> {
    if body.name.trim().is_empty() {
        return Err(ApiError::bad_request("a role needs a name"));
    }
    accept(&app, &c, Call::CreateRole { name: body.name }, options).await
}

pub async fn members(
    State(app): State<AppState>,
    Path((c, role)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let reply = call(&app, &c, Call::ListRoleMembers { role_id: role }).await?;
    Ok(Json(
        json!({ "user_ids": expect_reply!(reply, Reply::Members) }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Members {
    user_ids: Vec<String>,
}

fn checked(members: Members) -> Result<Vec<String>> {
    if members.user_ids.is_empty() || members.user_ids.len() > MAX_MEMBERS {
        return Err(ApiError::bad_request(format!(
            "give 1 to {MAX_MEMBERS} user_ids"
        )));
    }
    Ok(members.user_ids)
}

pub async fn add_members(
    State(app): State<AppState>,
    Path((c, role_id)): Path<(String, String)>,
    options: WriteOptions,
    Body(body): Body<Members>,
) -> Result<Response> {
    let write = Call::AddRoleMembers {
        role_id,
        user_ids: checked(body)?,
    };
    accept(&app, &c, write, options).await
}

pub async fn remove_members(
    State(app): State<AppState>,
    Path((c, role_id)): Path<(String, String)>,
    options: WriteOptions,
    Body(body): Body<Members>,
) -> Result<Response> {
    let write = Call::RemoveRoleMembers {
        role_id,
        user_ids: checked(body)?,
    };
    accept(&app, &c, write, options).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Active {
    active: bool,
}

pub async fn set_active(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
    Body(body): Body<Active>,
) -> Result<Response> {
    accept(
        &app,
        &c,
        Call::SetUserActive {
            id,
            active: body.active,
        },
        options,
    )
    .await
}
