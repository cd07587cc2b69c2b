//! `/v1/connections/{c}/chats`: group chats (DingTalk scene groups, WeCom app chats, Feishu chats). Sending to
//! a chat is a message (`to.chats`).

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::Value;

use super::operations::{WriteOptions, accept};
use super::{ApiError, AppState, Body, call, expect_reply};
use qiao_contract::bindings::chats::NewChat;
use qiao_contract::calls::{Call, Reply};
use qiao_contract::json::render;

type Result<T> = std::result::Result<T, ApiError>;

/// The most members one request names (platforms take 500-1000 per call and more over several).
const MAX_MEMBERS: usize = 1_000;
const MAX_NAME_CHARS: usize = 200;

fn check_members(ids: &[String]) -> Result<()> {
    if ids.len() > MAX_MEMBERS {
        return Err(ApiError::bad_request(format!("more than {MAX_MEMBERS} user ids; send in batches")));
    }
    if ids.iter().any(|id| id.trim().is_empty()) {
        return Err(ApiError::bad_request("an empty user id"));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    owner: Option<String>,
    #[serde(default)]
    members: Vec<String>,
    description: Option<String>,
    extra: Option<Value>,
    idempotency_key: Option<String>,
}

/// `POST .../chats`.
pub async fn create(
    State(app): State<AppState>,
    Path(c): Path<String>,
    options: WriteOptions,
    Body(b): Body<CreateBody>,
) -> Result<Response> {
    if b.name.trim().is_empty() || b.name.chars().count() > MAX_NAME_CHARS {
        return Err(ApiError::bad_request(format!("name must be 1-{MAX_NAME_CHARS} characters")));
    }
    check_members(&b.members)?;
    let extra = match b.extra {
        None | Some(Value::Null) => None,
        Some(object @ Value::Object(_)) => Some(object.to_string()),
        Some(_) => return Err(ApiError::bad_request("extra must be a JSON object")),
    };
    let chat = NewChat { name: b.name, owner: b.owner, members: b.members, description: b.description, extra };
    accept(&app, &c, Call::CreateChat { chat, idempotency_key: b.idempotency_key }, options).await
}

/// `GET .../chats/{id}`.
pub async fn get(State(app): State<AppState>, Path((c, id)): Path<(String, String)>) -> Result<Json<Value>> {
    let reply = call(&app, &c, Call::GetChat { id }).await?;
    Ok(Json(render(expect_reply!(reply, Reply::Chat))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersBody {
    user_ids: Vec<String>,
}

/// `POST .../chats/{id}/members`: adds; members already in the chat are no error.
pub async fn add_members(
    State(app): State<AppState>,
    Path((c, chat_id)): Path<(String, String)>,
    options: WriteOptions,
    Body(b): Body<MembersBody>,
) -> Result<Response> {
    check_members(&b.user_ids)?;
    accept(&app, &c, Call::AddChatMembers { chat_id, user_ids: b.user_ids }, options).await
}

/// `POST .../chats/{id}/members/remove`: removes; users not in the chat are no error.
pub async fn remove_members(
    State(app): State<AppState>,
    Path((c, chat_id)): Path<(String, String)>,
    options: WriteOptions,
    Body(b): Body<MembersBody>,
) -> Result<Response> {
    check_members(&b.user_ids)?;
    accept(&app, &c, Call::RemoveChatMembers { chat_id, user_ids: b.user_ids }, options).await
}
