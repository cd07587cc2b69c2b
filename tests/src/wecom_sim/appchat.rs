//! App group chats (群聊会话): `appchat/create`, `appchat/get`, `appchat/update`, `appchat/send`
//! (developer.work.weixin.qq.com/document/path/90245-90248; error codes from WeCom's global list, path/90313).
//!
//! Rules kept: a name of at most 50 characters (longer ones cut, as WeCom does), 2 to 2000 members who must be
//! active members of the enterprise, an owner among them (a random member when none is given: here the first),
//! a caller-chosen chatid of at most 32 letters and digits and unique (86215), 1000 creates a day per enterprise,
//! and an app touching only its own chats (86008). `appchat/send` takes WeCom's chat message types (no template
//! cards) and answers no msgid.
//!
//! Not documented, so chosen here: adding a member already in, or removing one who is not, is ignored; removing
//! the owner without naming a new one is 86207 ("the owner is not among the members"); a change leaving fewer
//! than 2 members is 86006; the daily limit answers 45009 (guessed).

use serde_json::{Value, json};

use super::api::{Params, bad_message_body, err, ok, param, strings, text};
use super::state::{Chat, State, now_secs};
use axum::response::Response;

const MAX_NAME_CHARS: usize = 50;
const MIN_MEMBERS: usize = 2;
const MAX_MEMBERS: usize = 2000;
const MAX_CHATID_CHARS: usize = 32;
/// What `appchat/send` takes (path/90248): no template cards, unlike `message/send`.
const CHAT_MSG_TYPES: [&str; 9] = [
    "text", "image", "voice", "video", "file", "textcard", "news", "mpnews", "markdown",
];

fn cut(name: &str) -> String {
    name.chars().take(MAX_NAME_CHARS).collect()
}

/// The first userid that is not an active member, if any.
fn invalid_member<'a>(state: &State, users: &'a [String]) -> Option<&'a String> {
    users
        .iter()
        .find(|u| state.users.get(*u).is_none_or(|m| m.status != 1))
}

/// WeCom's refusal: (errcode, errmsg).
type Refusal = (i64, &'static str);

/// The chat the app may use, or WeCom's refusal.
fn own_chat<'a>(state: &'a mut State, chatid: &str) -> Result<&'a mut Chat, Refusal> {
    if chatid.is_empty() {
        return Err((86201, "invalid chatid, chatid is required"));
    }
    match state.chats.get_mut(chatid) {
        None => Err((86003, "chatid not exist")),
        Some(chat) if !chat.by_app => {
            Err((86008, "invalid operation on a chat not created by the app"))
        }
        Some(chat) => Ok(chat),
    }
}

pub fn create(state: &mut State, body: &Value) -> Response {
    let name = text(body, "name");
    if name.trim().is_empty() {
        return err(86202, "invalid chat name, name is required");
    }
    let mut userlist: Vec<String> = Vec::new();
    for u in strings(&body["userlist"]) {
        if !userlist.contains(&u) {
            userlist.push(u);
        }
    }
    if userlist.is_empty() {
        return err(86204, "userlist is required");
    }
    if !(MIN_MEMBERS..=MAX_MEMBERS).contains(&userlist.len()) {
        return err(86006, "chat member count is too small or too large");
    }
    if let Some(bad) = invalid_member(state, &userlist) {
        return err(86216, &format!("invalid chat member userid: {bad}"));
    }
    let owner = match text(body, "owner") {
        o if o.is_empty() => userlist[0].clone(),
        o if !state.users.contains_key(&o) => return err(86005, "invalid chat owner"),
        o if !userlist.contains(&o) => return err(86207, "chat owner not in userlist"),
        o => o,
    };
    let chatid = match text(body, "chatid") {
        id if id.is_empty() => {
            format!("wr{:030x}", state.next_id() as u128 * 0x2545_f491_4f6c_dd1d)
        }
        id if id.len() > MAX_CHATID_CHARS => return err(86205, "chatid is too long"),
        id if !id.chars().all(|c| c.is_ascii_alphanumeric()) => {
            return err(86001, "invalid chatid");
        }
        id if state.chats.contains_key(&id) => return err(86215, "chatid already exists"),
        id => id,
    };
    let today = now_secs() / 86_400;
    let made_today = state
        .chats
        .values()
        .filter(|c| c.by_app && c.created / 86_400 == today)
        .count();
    if made_today >= state.chat_daily_limit {
        return err(45009, "api freq out of limit: appchat/create per day");
    }
    state.chats.insert(
        chatid.clone(),
        Chat {
            chatid: chatid.clone(),
            name: cut(&name),
            owner,
            userlist,
            by_app: true,
            created: now_secs(),
        },
    );
    ok(json!({ "chatid": chatid }))
}

pub fn get(state: &mut State, query: &Params) -> Response {
    match own_chat(state, &param(query, "chatid")) {
        Ok(chat) => ok(json!({ "chat_info": {
            "chatid": chat.chatid, "name": chat.name, "owner": chat.owner, "userlist": chat.userlist,
        } })),
        Err((code, message)) => err(code, message),
    }
}

pub fn update(state: &mut State, body: &Value) -> Response {
    let chatid = text(body, "chatid");
    let add = strings(&body["add_user_list"]);
    if let Some(bad) = invalid_member(state, &add) {
        return err(86216, &format!("invalid chat member userid: {bad}"));
    }
    let new_owner = text(body, "owner");
    if !new_owner.is_empty() && !state.users.contains_key(&new_owner) {
        return err(86005, "invalid chat owner");
    }
    let chat = match own_chat(state, &chatid) {
        Ok(chat) => chat,
        Err((code, message)) => return err(code, message),
    };
    let del = strings(&body["del_user_list"]);
    let mut userlist: Vec<String> = chat
        .userlist
        .iter()
        .filter(|u| !del.contains(u))
        .cloned()
        .collect();
    for u in add {
        if !userlist.contains(&u) {
            userlist.push(u);
        }
    }
    let owner = if new_owner.is_empty() {
        chat.owner.clone()
    } else {
        new_owner
    };
    if !userlist.contains(&owner) {
        return err(86207, "chat owner not in userlist");
    }
    if !(MIN_MEMBERS..=MAX_MEMBERS).contains(&userlist.len()) {
        return err(86006, "chat member count is too small or too large");
    }
    let name = text(body, "name");
    if !name.trim().is_empty() {
        chat.name = cut(&name);
    }
    chat.owner = owner;
    chat.userlist = userlist;
    ok(json!({}))
}

pub fn send(state: &mut State, body: &Value) -> Response {
    let chatid = text(body, "chatid");
    if let Err((code, message)) = own_chat(state, &chatid) {
        return err(code, message);
    }
    let msgtype = text(body, "msgtype");
    if !CHAT_MSG_TYPES.contains(&msgtype.as_str()) {
        return err(40008, "invalid message type");
    }
    if let Some(problem) = bad_message_body(&msgtype, &body[msgtype.as_str()]) {
        return problem;
    }
    state.chat_messages.push((chatid, body.clone()));
    // No msgid: app chat messages cannot be recalled.
    ok(json!({}))
}
