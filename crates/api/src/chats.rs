//! `/v1/connections/{c}/chats`: group chats (DingTalk scene groups, WeCom app chats, Feishu chats). Sending to
//! a chat is a message (`to.chats`).
//!
//! Members and the owner may be the enterprise's person ids (`people`, `owner_person`), looked up on the
//! connection when the write is accepted; those without an account there are answered in `unresolved`.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::operations::{WriteOptions, accept_with};
use super::{ApiError, AppState, Body, call, expect_reply, people};
use qiao_contract::Capability;
use qiao_services::addressing::{self, Unresolved};
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
    /// The enterprise's person ids, added to `members`.
    #[serde(default)]
    people: Vec<String>,
    /// The owner as the enterprise's person id, instead of `owner`.
    owner_person: Option<String>,
    description: Option<String>,
    extra: Option<Value>,
    idempotency_key: Option<String>,
}

/// The answer's `unresolved`, present when people were named.
fn unresolved_extra(named_people: bool, unresolved: Vec<Unresolved>) -> serde_json::Map<String, Value> {
    let mut extra = serde_json::Map::new();
    if named_people {
        extra.insert("unresolved".into(), json!(unresolved));
    }
    extra
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
    if b.owner.is_some() && b.owner_person.is_some() {
        return Err(ApiError::bad_request("give the owner once: \"owner\" (a platform user id) or \"owner_person\""));
    }
    let named_people = !b.people.is_empty() || b.owner_person.is_some();
    let (found, unresolved) = people::on_connection(&app, &c, Capability::Chats, "people", &b.people).await?;
    if !b.people.is_empty() && found.is_empty() && b.members.is_empty() {
        return Err(people::nobody_found("no_members", "people", &unresolved));
    }
    let mut members = b.members;
    addressing::merge(&mut members, found);
    check_members(&members)?;
    let owner = match b.owner_person {
        None => b.owner,
        Some(person) => {
            let (owner, missing) =
                people::on_connection(&app, &c, Capability::Chats, "owner_person", &[person]).await?;
            if owner.is_empty() {
                return Err(people::nobody_found("no_owner", "owner", &missing));
            }
            owner.into_iter().next()
        }
    };
    let extra = match b.extra {
        None | Some(Value::Null) => None,
        Some(object @ Value::Object(_)) => Some(object.to_string()),
        Some(_) => return Err(ApiError::bad_request("extra must be a JSON object")),
    };
    let chat = NewChat { name: b.name, owner, members, description: b.description, extra };
    let call = Call::CreateChat { chat, idempotency_key: b.idempotency_key };
    accept_with(&app, &c, call, options, unresolved_extra(named_people, unresolved)).await
}

/// `GET .../chats/{id}`.
pub async fn get(State(app): State<AppState>, Path((c, id)): Path<(String, String)>) -> Result<Json<Value>> {
    let reply = call(&app, &c, Call::GetChat { id }).await?;
    Ok(Json(render(expect_reply!(reply, Reply::Chat))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MembersBody {
    #[serde(default)]
    user_ids: Vec<String>,
    /// The enterprise's person ids, looked up on the connection.
    #[serde(default)]
    people: Vec<String>,
}

impl MembersBody {
    /// Every platform user id named, and the people without one; refused when nobody is named or found.
    async fn resolve(self, app: &AppState, c: &str) -> Result<(Vec<String>, serde_json::Map<String, Value>)> {
        check_members(&self.user_ids)?;
        if self.user_ids.is_empty() && self.people.is_empty() {
            return Err(ApiError::bad_request("name the members: user_ids (platform ids) or people"));
        }
        let (found, unresolved) = people::on_connection(app, c, Capability::Chats, "people", &self.people).await?;
        if self.user_ids.is_empty() && found.is_empty() {
            return Err(people::nobody_found("no_members", "people", &unresolved));
        }
        let mut ids = self.user_ids;
        addressing::merge(&mut ids, found);
        check_members(&ids)?;
        Ok((ids, unresolved_extra(!self.people.is_empty(), unresolved)))
    }
}

/// `POST .../chats/{id}/members`: adds; members already in the chat are no error.
pub async fn add_members(
    State(app): State<AppState>,
    Path((c, chat_id)): Path<(String, String)>,
    options: WriteOptions,
    Body(b): Body<MembersBody>,
) -> Result<Response> {
    let (user_ids, extra) = b.resolve(&app, &c).await?;
    accept_with(&app, &c, Call::AddChatMembers { chat_id, user_ids }, options, extra).await
}

/// `POST .../chats/{id}/members/remove`: removes; users not in the chat are no error.
pub async fn remove_members(
    State(app): State<AppState>,
    Path((c, chat_id)): Path<(String, String)>,
    options: WriteOptions,
    Body(b): Body<MembersBody>,
) -> Result<Response> {
    let (user_ids, extra) = b.resolve(&app, &c).await?;
    accept_with(&app, &c, Call::RemoveChatMembers { chat_id, user_ids }, options, extra).await
}
