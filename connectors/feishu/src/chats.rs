//! Group chats (`im/v1/chats`), created and managed by the app's bot:
//! - create: `POST im/v1/chats?user_id_type=&uuid=&set_bot_manager=` with `{name, description, owner_id,
//!   user_id_list (≤ 50), chat_mode: "group", chat_type: "private"}`; Feishu makes one chat per `uuid` (+ owner)
//!   for 10 hours, so the idempotency key becomes the uuid. More than 50 members: the rest are added after.
//! - get: `GET im/v1/chats/:chat_id` and its members, `GET im/v1/chats/:chat_id/members` (paged).
//! - members: `POST` / `DELETE im/v1/chats/:chat_id/members?member_id_type=` with `{id_list}` (≤ 50 a call),
//!   one call at a time: Feishu refuses concurrent member changes on a chat (232019). Members already in the
//!   chat are ignored by Feishu on add; ids it reports as not removable (`invalid_id_list`) are not members.

use qiao_sdk::http::Method;
use qiao_sdk::text::hex;
use qiao_sdk::{Error, crypto, json_object, required};
use serde_json::{Value, json};

use crate::Feishu;
use crate::client::{call, enc, get, post, string, user_id_type};
use crate::exports::qiao::connector::chats::{Chat, Guest, NewChat};

/// Users per create and per member call.
const BATCH: usize = 50;
/// `page_size` of the member list is at most 100.
const PAGE: u32 = 100;
/// "There are no valid members in the ID list specified in your request."
const NO_VALID_MEMBERS: &str = "232027";
/// Pages read for one member list; the host's request cap per call bounds it too.
const MAX_PAGES: usize = 40;

/// Feishu's chat uuid is at most 50 characters: a digest of the key.
fn uuid(key: &str) -> String {
    hex(&crypto::sha256(format!("chat\n{key}").as_bytes()))[..32].to_string()
}

fn members(chat_id: &str) -> Result<Vec<String>, Error> {
    let mut ids = Vec::new();
    let mut page_token = String::new();
    for _ in 0..MAX_PAGES {
        let data = get(&format!(
            "im/v1/chats/{}/members?member_id_type={}&page_size={PAGE}&page_token={}",
            enc(chat_id),
            user_id_type(),
            enc(&page_token)
        ))?;
        ids.extend(
            data["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m["member_id"].as_str().map(String::from)),
        );
        match data["page_token"]
            .as_str()
            .filter(|t| !t.is_empty() && data["has_more"] == true)
        {
            Some(next) => page_token = next.to_string(),
            None => return Ok(ids),
        }
    }
    Err(Error::invalid_input(format!(
        "chat {chat_id} has more than {} members: too many to read in one call",
        MAX_PAGES * PAGE as usize
    )))
}

fn member_path(chat_id: &str, extra: &str) -> String {
    format!(
        "im/v1/chats/{}/members?member_id_type={}{extra}",
        enc(chat_id),
        user_id_type()
    )
}

fn ids(data: &Value, key: &str) -> Vec<String> {
    data[key]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

fn add(chat_id: &str, user_ids: &[String]) -> Result<(), Error> {
    let mut refused = Vec::new();
    for batch in user_ids.chunks(BATCH) {
        // succeed_type 1: the usable ids join and the others come back listed, rather than the whole call failing.
        let data = post(
            &member_path(chat_id, "&succeed_type=1"),
            &json!({ "id_list": batch }),
        )?;
        refused.extend(ids(&data, "invalid_id_list"));
        refused.extend(ids(&data, "not_existed_id_list"));
    }
    if refused.is_empty() {
        return Ok(());
    }
    Err(Error::invalid_input(format!(
        "Feishu could not add these users to chat {chat_id} (unknown, resigned or outside the app's \
         availability); the others were added: {}",
        refused.join(", ")
    )))
}

impl Guest for Feishu {
    /// `extra` holds Feishu's own create fields (`chat_type`, `avatar`, `bot_id_list`, `group_message_type`...),
    /// passed as they are.
    fn create(chat: NewChat, idempotency_key: Option<String>) -> Result<Chat, Error> {
        required(&chat.name, "name")?;
        let mut body = Value::Object(json_object(chat.extra.as_deref(), "extra")?);
        body["name"] = json!(chat.name);
        body["chat_mode"] = json!("group");
        if body.get("chat_type").is_none() {
            body["chat_type"] = json!("private");
        }
        if let Some(description) = &chat.description {
            body["description"] = json!(description);
        }
        let mut query = format!("user_id_type={}", user_id_type());
        if let Some(owner) = &chat.owner {
            required(owner, "owner")?;
            body["owner_id"] = json!(owner);
            // The bot stays able to manage the chat (add and remove members) when a person owns it.
            query.push_str("&set_bot_manager=true");
        }
        if let Some(key) = &idempotency_key {
            query.push_str(&format!("&uuid={}", uuid(key)));
        }
        let (first, rest) = chat.members.split_at(chat.members.len().min(BATCH));
        body["user_id_list"] = json!(first);
        let data = post(&format!("im/v1/chats?{query}"), &body)?;
        let id = string(&data["chat_id"], "chat_id")?;
        if !rest.is_empty() {
            add(&id, rest)?;
        }
        Self::get(id)
    }

    fn get(id: String) -> Result<Chat, Error> {
        required(&id, "chat id")?;
        let data = get(&format!(
            "im/v1/chats/{}?user_id_type={}",
            enc(&id),
            user_id_type()
        ))?;
        let members = members(&id)?;
        Ok(Chat {
            name: data["name"].as_str().unwrap_or_default().into(),
            owner: data["owner_id"]
                .as_str()
                .filter(|o| !o.is_empty())
                .map(String::from),
            members,
            extra: Some(
                json!({
                    "description": data["description"], "chat_mode": data["chat_mode"],
                    "chat_type": data["chat_type"], "user_count": data["user_count"],
                    "bot_count": data["bot_count"], "owner_id_type": data["owner_id_type"],
                })
                .to_string(),
            ),
            id,
        })
    }

    fn add_members(chat_id: String, user_ids: Vec<String>) -> Result<(), Error> {
        required(&chat_id, "chat id")?;
        add(&chat_id, &user_ids)
    }

    fn remove_members(chat_id: String, user_ids: Vec<String>) -> Result<(), Error> {
        required(&chat_id, "chat id")?;
        for batch in user_ids.chunks(BATCH) {
            // Ids Feishu lists as invalid are not in the chat, and 232027 says none of them is: what removing
            // wanted either way.
            match call(
                Method::Delete,
                &member_path(&chat_id, ""),
                Some(&json!({ "id_list": batch })),
            ) {
                Err(e) if e.platform_code.as_deref() == Some(NO_VALID_MEMBERS) => {}
                other => drop(other?),
            }
        }
        Ok(())
    }
}
