//! Group chats (`/open-apis/im/v1/chats…`) as the simulator keeps them: create with `uuid` de-duplication (one
//! chat per uuid and owner for 10 hours), get, the paged member list, and member add / remove. Members live in
//! [`State::chats`] (the chat → `user_id`s map sends use), the rest in [`State::chat_info`].
//!
//! Codes from Feishu's chat pages (create, chat-members create / delete / get): 232001 invalid parameter,
//! 232006 invalid chat_id, 232027 no valid member in the
//! list, 232030 invalid owner, 232043 unavailable ids, 232076 the owner cannot be removed; all HTTP 400.
//! Limits: ≤ 50 users per create or member call, ≤ 5 bots, uuid ≤ 50 characters, member pages ≤ 100.

use std::time::{Duration, Instant};

use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

use super::api::{Params, Refusal, ok, paged, param, strings, text};
use super::state::{State, hex_id};

const PARAM: i64 = 232001;
const BAD_CHAT: i64 = 232006;
const NO_VALID_MEMBERS: i64 = 232027;
const BAD_OWNER: i64 = 232030;
const UNAVAILABLE_IDS: i64 = 232043;
const OWNER_STAYS: i64 = 232076;
const MAX_USERS: usize = 50;
const MAX_BOTS: usize = 5;
const UUID_TTL: Duration = Duration::from_secs(10 * 3600);

#[derive(Clone, Debug)]
pub struct ChatInfo {
    pub name: String,
    pub description: String,
    /// The owner's `user_id`; empty when the bot owns it.
    pub owner: String,
    pub chat_type: String,
    /// (uuid, owner) of the create, and when: Feishu's 10-hour de-duplication.
    pub uuid: Option<(String, String, Instant)>,
}

fn refuse(code: i64, msg: &str) -> Refusal {
    Refusal(400, code, msg.to_string())
}

fn id_type<'a>(query: &'a Params, key: &str) -> Result<&'a str, Refusal> {
    match param(query, key) {
        "" => Ok("open_id"),
        t @ ("open_id" | "union_id" | "user_id") => Ok(t),
        _ => Err(refuse(
            PARAM,
            &format!("Your request contains an invalid request parameter: {key}."),
        )),
    }
}

impl State {
    /// The chat's members (`user_id`s) and settings; `None` when there is no such chat.
    pub fn chat(&self, chat_id: &str) -> Option<(&Vec<String>, Option<&ChatInfo>)> {
        self.chats
            .get(chat_id)
            .map(|members| (members, self.chat_info.get(chat_id)))
    }

    fn chat_members(&self, chat_id: &str) -> Result<&Vec<String>, Refusal> {
        self.chats.get(chat_id).ok_or_else(|| {
            refuse(
                BAD_CHAT,
                "Your request specifies a chat_id which is invalid.",
            )
        })
    }

    fn chat_json(&self, chat_id: &str, user_type: &str) -> Result<Value, Refusal> {
        let members = self.chat_members(chat_id)?;
        let info = self.chat_info.get(chat_id);
        let owner = info.map(|i| i.owner.as_str()).unwrap_or_default();
        Ok(json!({
            "chat_id": chat_id,
            "name": info.map(|i| i.name.clone()).unwrap_or_default(),
            "description": info.map(|i| i.description.clone()).unwrap_or_default(),
            "owner_id": if owner.is_empty() { self.options.app_id.clone() } else { self.user_ref(owner, user_type) },
            "owner_id_type": if owner.is_empty() { "app_id" } else { user_type },
            "chat_mode": "group",
            "chat_type": info.map_or("private".into(), |i| i.chat_type.clone()),
            "user_count": members.len().to_string(),
            "bot_count": "1",
            "add_member_permission": "all_members",
            "at_all_permission": "all_members",
            "external": false,
            "tenant_key": self.options.tenant_key,
        }))
    }

    /// (id as given, `user_id`) for ids of a type; the ids no usable user has come back apart.
    fn users_of(&self, ids: &[String], id_type: &str) -> (Vec<(String, String)>, Vec<String>) {
        let (mut found, mut unknown) = (Vec::new(), Vec::new());
        for id in ids {
            match self.find_user(id, id_type) {
                Some(u) if u.is_activated && !u.is_resigned => {
                    found.push((id.clone(), u.user_id.clone()))
                }
                _ => unknown.push(id.clone()),
            }
        }
        (found, unknown)
    }
}

fn create(state: &mut State, query: &Params, body: &Value) -> Result<Response, Refusal> {
    let user_type = id_type(query, "user_id_type")?;
    let uuid = param(query, "uuid").to_string();
    if uuid.len() > 50 {
        return Err(refuse(
            PARAM,
            "Your request contains an invalid request parameter: uuid.",
        ));
    }
    let owner = match text(body, "owner_id").as_str() {
        "" => String::new(),
        id => state
            .find_user(id, user_type)
            .map(|u| u.user_id.clone())
            .ok_or_else(|| {
                refuse(
                    BAD_OWNER,
                    "Your request specifies a user_id which is invalid.",
                )
            })?,
    };
    if !uuid.is_empty() {
        let now = Instant::now();
        let earlier = state.chat_info.iter().find(|(_, info)| {
            info.uuid.as_ref().is_some_and(|(u, o, at)| {
                *u == uuid && *o == owner && now.duration_since(*at) < UUID_TTL
            })
        });
        if let Some((chat_id, _)) = earlier {
            let chat_id = chat_id.clone();
            return Ok(ok(state.chat_json(&chat_id, user_type)?));
        }
    }
    let listed = strings(&body["user_id_list"]);
    if listed.len() > MAX_USERS || strings(&body["bot_id_list"]).len() > MAX_BOTS {
        return Err(refuse(
            PARAM,
            "Your request contains an invalid request parameter: too many ids.",
        ));
    }
    let (found, unknown) = state.users_of(&listed, user_type);
    let mut members: Vec<String> = found.into_iter().map(|(_, user)| user).collect();
    if !unknown.is_empty() {
        return Err(refuse(
            UNAVAILABLE_IDS,
            "Your request contains unavailable ids.",
        ));
    }
    let chat_type = match text(body, "chat_type").as_str() {
        "" | "private" => "private",
        "public" => "public",
        _ => {
            return Err(refuse(
                PARAM,
                "Your request contains an invalid request parameter: chat_type.",
            ));
        }
    };
    let name = text(body, "name");
    if chat_type == "public" && name.chars().count() < 2 {
        return Err(refuse(
            232020,
            "Name can NOT be less than two characters for public chats.",
        ));
    }
    if !owner.is_empty() && !members.contains(&owner) {
        members.insert(0, owner.clone());
    }
    let mut seen = std::collections::HashSet::new();
    members.retain(|m| seen.insert(m.clone()));
    let chat_id = format!("oc_{}", hex_id(&format!("chat:{}", state.next_id())));
    state.chats.insert(chat_id.clone(), members);
    state.chat_info.insert(
        chat_id.clone(),
        ChatInfo {
            name,
            description: text(body, "description"),
            owner: owner.clone(),
            chat_type: chat_type.into(),
            uuid: (!uuid.is_empty()).then(|| (uuid, owner, Instant::now())),
        },
    );
    Ok(ok(state.chat_json(&chat_id, user_type)?))
}

fn members(state: &State, query: &Params, chat_id: &str) -> Result<Response, Refusal> {
    let member_type = id_type(query, "member_id_type")?;
    let members = state.chat_members(chat_id)?;
    let mut data = paged(members, query, 20, 100, "items", |user_id| {
        json!({
            "member_id_type": member_type,
            "member_id": state.user_ref(user_id, member_type),
            "name": state.users.get(user_id).map(|u| u.name.clone()).unwrap_or_default(),
            "tenant_key": state.options.tenant_key,
        })
    })
    .map_err(|_| {
        refuse(
            PARAM,
            "Your request contains an invalid request parameter: page_size or page_token.",
        )
    })?;
    data["member_total"] = json!(members.len());
    if data.get("page_token").is_none() {
        data["page_token"] = json!("");
    }
    Ok(ok(data))
}

/// Adds (`succeed_type` 0: unknown ids fail the call; 1: the rest join and unknown ids are listed; 2: any
/// unknown id fails the call) or removes users. Members already in (or not in) are ignored.
fn change(
    state: &mut State,
    query: &Params,
    chat_id: &str,
    body: &Value,
    add: bool,
) -> Result<Response, Refusal> {
    let member_type = id_type(query, "member_id_type")?;
    state.chat_members(chat_id)?;
    let ids = strings(&body["id_list"]);
    if ids.is_empty() || ids.len() > MAX_USERS {
        return Err(refuse(
            PARAM,
            "Your request contains an invalid request parameter: id_list.",
        ));
    }
    let (users, unknown) = state.users_of(&ids, member_type);
    let owner = state
        .chat_info
        .get(chat_id)
        .map(|i| i.owner.clone())
        .unwrap_or_default();
    let members = state.chats.get_mut(chat_id).unwrap();
    if add {
        match param(query, "succeed_type") {
            "" | "0" | "2" if !unknown.is_empty() => {
                return Err(refuse(
                    UNAVAILABLE_IDS,
                    "Your request contains unavailable ids.",
                ));
            }
            "" | "0" | "1" | "2" => {}
            _ => {
                return Err(refuse(
                    PARAM,
                    "Your request contains an invalid request parameter: succeed_type.",
                ));
            }
        }
        if users.is_empty() {
            return Err(refuse(
                NO_VALID_MEMBERS,
                "There are no valid members in the ID list specified in your request.",
            ));
        }
        for (_, user) in users {
            if !members.contains(&user) {
                members.push(user);
            }
        }
        return Ok(ok(
            json!({ "invalid_id_list": [], "not_existed_id_list": unknown,
                             "pending_approval_id_list": [] }),
        ));
    }
    if users.iter().any(|(_, u)| *u == owner) {
        return Err(refuse(OWNER_STAYS, "Can't kick chat owner."));
    }
    let mut invalid = unknown;
    for (id, user) in &users {
        if members.contains(user) {
            members.retain(|m| m != user);
        } else {
            invalid.push(id.clone());
        }
    }
    if invalid.len() == ids.len() {
        return Err(refuse(
            NO_VALID_MEMBERS,
            "There are no valid members in the ID list specified in your request.",
        ));
    }
    Ok(ok(json!({ "invalid_id_list": invalid })))
}

/// Everything under `/open-apis/im/v1/chats`; `path` is what follows `chats`, split at `/`.
pub(super) fn route(
    state: &mut State,
    method: &Method,
    path: &[&str],
    query: &Params,
    body: &Value,
) -> Option<Result<Response, Refusal>> {
    Some(match (method.as_str(), path) {
        ("POST", []) => create(state, query, body),
        ("GET", [chat_id]) => id_type(query, "user_id_type")
            .and_then(|t| state.chat_json(chat_id, t))
            .map(ok),
        ("GET", [chat_id, "members"]) => members(state, query, chat_id),
        ("POST", [chat_id, "members"]) => change(state, query, chat_id, body, true),
        ("DELETE", [chat_id, "members"]) => change(state, query, chat_id, body, false),
        _ => return None,
    })
}
