//! Group chats kept in kv. Sending to one stays in `messaging` (`recipients.chats`).
//!
//! kv keys: `chat:{id}` records, `chat-seq` the id counter, `idem:chat:{key}` idempotency keys.

use qiao_sdk::{Error, json_kv, json_object, required};
use serde_json::{Map, Value};

use crate::Echo;
use crate::exports::qiao::connector::chats::{Chat, Guest, NewChat};
use crate::store;

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredChat {
    id: String,
    name: String,
    owner: Option<String>,
    /// The owner first, then the others in the order they joined; each once.
    members: Vec<String>,
    description: Option<String>,
    extra: Map<String, Value>,
}

impl From<StoredChat> for Chat {
    fn from(c: StoredChat) -> Chat {
        Chat {
            extra: store::extra_json(c.extra, &[("description", c.description.as_deref())]),
            id: c.id,
            name: c.name,
            owner: c.owner,
            members: c.members,
        }
    }
}

fn key(id: &str) -> String {
    format!("chat:{id}")
}

fn load(id: &str) -> Result<StoredChat, Error> {
    store::load(&key(id), &format!("chat {id}"))
}

/// A blank user id is a caller's bug, refused before anything changes rather than stored as a member.
fn check_users<'a>(ids: impl IntoIterator<Item = &'a String>) -> Result<(), Error> {
    ids.into_iter().try_for_each(|id| required(id, "user id"))
}

/// Adds the ids not in `members` yet, so adding someone twice is no error and no duplicate.
fn add_unique(members: &mut Vec<String>, ids: impl IntoIterator<Item = String>) {
    for id in ids {
        if !members.contains(&id) {
            members.push(id);
        }
    }
}

impl Guest for Echo {
    /// The owner is always a member, as on every chat platform, even when the caller's list leaves them out.
    fn create(chat: NewChat, idempotency_key: Option<String>) -> Result<Chat, Error> {
        required(&chat.name, "name")?;
        check_users(chat.owner.iter().chain(&chat.members))?;
        let idem = idempotency_key.as_deref();
        if let Some(id) = store::recall_idempotent("chat", idem, |id| load(id).is_ok()) {
            return load(&id).map(Into::into);
        }
        let extra = json_object(chat.extra.as_deref(), "extra")?;
        let mut members = Vec::new();
        add_unique(&mut members, chat.owner.iter().cloned().chain(chat.members));
        let id = format!("chat-{}", json_kv::next("chat-seq")?);
        let stored = StoredChat {
            id: id.clone(),
            name: chat.name,
            owner: chat.owner,
            members,
            description: chat.description,
            extra,
        };
        store::save(&key(&id), &stored)?;
        store::remember_idempotent("chat", idem, &id)?;
        Ok(stored.into())
    }

    fn get(id: String) -> Result<Chat, Error> {
        load(&id).map(Into::into)
    }

    fn add_members(chat_id: String, user_ids: Vec<String>) -> Result<(), Error> {
        check_users(&user_ids)?;
        let mut chat = load(&chat_id)?;
        add_unique(&mut chat.members, user_ids);
        store::save(&key(&chat_id), &chat)
    }

    /// The owner cannot be removed (platforms refuse it too: ownership has to move first, which the contract
    /// has no call for), so that is a conflict; users not in the chat are simply skipped.
    fn remove_members(chat_id: String, user_ids: Vec<String>) -> Result<(), Error> {
        check_users(&user_ids)?;
        let mut chat = load(&chat_id)?;
        if let Some(owner) = chat.owner.as_ref().filter(|o| user_ids.contains(o)) {
            return Err(Error::conflict(format!(
                "{owner} owns chat {chat_id} and cannot be removed from it"
            )));
        }
        chat.members.retain(|m| !user_ids.contains(m));
        store::save(&key(&chat_id), &chat)
    }
}
