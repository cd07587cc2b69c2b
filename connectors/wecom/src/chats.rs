//! Group chats are WeCom app chats (群聊会话, developer.work.weixin.qq.com/document/path/90245-90248): made by
//! this app with `appchat/create` (2 to 2000 members, a name of at most 50 characters), read with `appchat/get`,
//! members changed with `appchat/update` (`add_user_list` / `del_user_list`). An app may only touch the chats it
//! made (86008 otherwise), and needs the root department in its visible range to make any. Sending to one is
//! `messaging` with `to.chats` (`appchat/send`).
//!
//! WeCom lets the caller choose a chat's `chatid` (at most 32 letters and digits, unique in the enterprise), which
//! is what makes a create idempotent: with a key, the chatid is derived from it, so a repeated create meets 86215
//! ("chatid exists") and answers the chat made the first time.

use qiao_sdk::text::{hex, urlencode};
use qiao_sdk::{Error, crypto, json_object, required};
use serde_json::{Value, json};

use crate::WeCom;
use crate::client::{agent_id, get, post, userids};
use crate::exports::qiao::connector::chats::{Chat, Guest, NewChat};

/// `userlist` of `appchat/create`: at least 2 members, at most 2000 (the owner among them).
const MIN_MEMBERS: usize = 2;
const MAX_MEMBERS: usize = 2000;
/// WeCom cuts longer names; refused instead, so the chat is named as asked or not made.
const MAX_NAME_CHARS: usize = 50;
const MAX_CHATID_CHARS: usize = 32;
/// `appchat/create` when the chatid is taken.
const CHATID_EXISTS: &str = "86215";

/// A chatid WeCom accepts on create: 1 to 32 letters and digits.
fn valid_new_chatid(id: &str) -> bool {
    (1..=MAX_CHATID_CHARS).contains(&id.len()) && id.chars().all(|c| c.is_ascii_alphanumeric())
}

/// A chat id to look up: bounded and printable (chats WeCom named itself are not always alphanumeric, so only
/// WeCom judges the rest).
fn chat_ref(id: &str) -> Result<&str, Error> {
    let id = id.trim();
    required(id, "chat id")?;
    if id.len() > MAX_CHATID_CHARS || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::invalid_input(format!(
            "{:?} is not a WeCom chatid (at most {MAX_CHATID_CHARS} letters and digits)",
            id.chars().take(40).collect::<String>()
        )));
    }
    Ok(id)
}

/// The chatid a create with this idempotency key asks for: the same key and app, the same chatid.
fn derived_chatid(key: &str) -> Result<String, Error> {
    let seed = format!("qiao-appchat\n{}\n{key}", agent_id()?);
    Ok(hex(&crypto::sha256(seed.as_bytes()))[..MAX_CHATID_CHARS].to_string())
}

/// The chatid asked for: `extra.chatid` when the caller chose one, else one derived from the key, else none
/// (WeCom makes one up). `extra` takes no other option.
fn chosen_chatid(extra: Option<&str>, key: Option<&str>) -> Result<Option<String>, Error> {
    let mut options = json_object(extra, "extra")?;
    let chosen = options.remove("chatid");
    if let Some(unknown) = options.keys().next() {
        return Err(Error::invalid_input(format!(
            "extra.{unknown}: a WeCom app chat takes only extra.chatid"
        )));
    }
    match chosen {
        Some(Value::String(id)) if valid_new_chatid(&id) => Ok(Some(id)),
        Some(_) => Err(Error::invalid_input(format!(
            "extra.chatid must be 1-{MAX_CHATID_CHARS} letters and digits (WeCom's rule for a chatid)"
        ))),
        None => key
            .filter(|k| !k.trim().is_empty())
            .map(derived_chatid)
            .transpose(),
    }
}

fn chat(info: &Value) -> Result<Chat, Error> {
    let text = |key: &str| {
        info[key]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    Ok(Chat {
        id: text("chatid").ok_or_else(|| Error::internal("appchat/get answered no chatid"))?,
        name: text("name").unwrap_or_default(),
        owner: text("owner"),
        members: info["userlist"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| u.as_str().map(String::from))
            .collect(),
        extra: None,
    })
}

/// `appchat/get?chatid=`: the chat as WeCom has it now.
fn fetch(id: &str) -> Result<Chat, Error> {
    let body = get(&format!("appchat/get?chatid={}", urlencode(id)))?;
    chat(&body["chat_info"])
}

impl Guest for WeCom {
    /// The owner leads the members (WeCom wants the owner among them). Without an owner WeCom picks one of the
    /// members, so the chat is read back to tell who.
    fn create(new: NewChat, idempotency_key: Option<String>) -> Result<Chat, Error> {
        let name = new.name.trim();
        required(name, "name")?;
        let chars = name.chars().count();
        if chars > MAX_NAME_CHARS {
            return Err(Error::invalid_input(format!(
                "a WeCom chat name has at most {MAX_NAME_CHARS} characters (WeCom would cut it), got {chars}"
            )));
        }
        if new
            .description
            .as_deref()
            .is_some_and(|d| !d.trim().is_empty())
        {
            return Err(Error::unsupported(
                "WeCom app chats have no description: leave it out",
            ));
        }
        let owner = new
            .owner
            .as_deref()
            .map(str::trim)
            .filter(|o| !o.is_empty());
        let members = userids(
            owner
                .map(String::from)
                .into_iter()
                .chain(new.members)
                .collect(),
            "members",
        )?;
        if !(MIN_MEMBERS..=MAX_MEMBERS).contains(&members.len()) {
            return Err(Error::invalid_input(format!(
                "a WeCom app chat has {MIN_MEMBERS} to {MAX_MEMBERS} members, the owner counted; got {}",
                members.len()
            )));
        }
        let chatid = chosen_chatid(new.extra.as_deref(), idempotency_key.as_deref())?;
        let mut body = json!({ "name": name, "userlist": members });
        if let Some(owner) = owner {
            body["owner"] = json!(owner);
        }
        if let Some(id) = &chatid {
            body["chatid"] = json!(id);
        }
        match post("appchat/create", &body) {
            Ok(answer) => {
                let id = answer["chatid"]
                    .as_str()
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .or(chatid)
                    .ok_or_else(|| Error::internal("appchat/create answered no chatid"))?;
                match owner {
                    Some(owner) => Ok(Chat {
                        id,
                        name: name.to_string(),
                        owner: Some(owner.to_string()),
                        members,
                        extra: None,
                    }),
                    None => fetch(&id),
                }
            }
            // Made before, by this request's earlier attempt or an earlier request with the same key: that chat,
            // unless it is plainly another one (a key or chatid reused for a different chat).
            Err(e) if chatid.is_some() && e.platform_code.as_deref() == Some(CHATID_EXISTS) => {
                let id = chatid.unwrap_or_default();
                let existing = fetch(&id)?;
                if existing.name != name {
                    return Err(Error::conflict(format!(
                        "chat {id} exists already, named {:?}, not {name:?}: the idempotency key or chatid was \
                         used for another chat",
                        existing.name
                    ))
                    .with_platform(CHATID_EXISTS, e.platform_message.unwrap_or_default()));
                }
                Ok(existing)
            }
            Err(e) => Err(e),
        }
    }

    fn get(id: String) -> Result<Chat, Error> {
        fetch(chat_ref(&id)?)
    }

    /// Only the users not in the chat yet are sent: WeCom does not say what it does with one already in, and the
    /// contract wants no error.
    fn add_members(chat_id: String, user_ids: Vec<String>) -> Result<(), Error> {
        let id = chat_ref(&chat_id)?;
        let ids = userids(user_ids, "user_ids")?;
        let current = fetch(id)?.members;
        let new: Vec<String> = ids.into_iter().filter(|u| !current.contains(u)).collect();
        if new.is_empty() {
            return Ok(());
        }
        if current.len() + new.len() > MAX_MEMBERS {
            return Err(Error::invalid_input(format!(
                "chat {id} has {} members; {} more would pass WeCom's {MAX_MEMBERS}",
                current.len(),
                new.len()
            )));
        }
        post(
            "appchat/update",
            &json!({ "chatid": id, "add_user_list": new }),
        )
        .map(drop)
    }

    /// Only the users in the chat are sent. The owner cannot be removed (ownership would have to move first,
    /// which the contract has no call for): a conflict, and no one is removed.
    fn remove_members(chat_id: String, user_ids: Vec<String>) -> Result<(), Error> {
        let id = chat_ref(&chat_id)?;
        let ids = userids(user_ids, "user_ids")?;
        let chat = fetch(id)?;
        if let Some(owner) = chat.owner.as_ref().filter(|o| ids.contains(o)) {
            return Err(Error::conflict(format!(
                "{owner} owns chat {id} and cannot be removed from it"
            )));
        }
        let gone: Vec<String> = ids
            .into_iter()
            .filter(|u| chat.members.contains(u))
            .collect();
        if gone.is_empty() {
            return Ok(());
        }
        post(
            "appchat/update",
            &json!({ "chatid": id, "del_user_list": gone }),
        )
        .map(drop)
    }
}
