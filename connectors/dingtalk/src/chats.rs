//! Group chats as DingTalk scene groups (场景群): groups made from a group template of the app (developer
//! console → 场景群 → 群模板), the only groups an internal app can create, manage and send robot messages to.
//! Created with the new API `/v1.0/im/sceneGroup/create` (the old `topapi/im/chat/scenegroup/create` takes no
//! new apps); read with `topapi/im/chat/scenegroup/get` and `/v1.0/im/sceneGroups/members/batchQuery`. A chat's
//! id is its `open_conversation_id`.

use qiao_sdk::http::Method;
use qiao_sdk::{Error, ErrorKind, config, json_object, required};
use serde_json::{Value, json};

use crate::DingTalk;
use crate::client::{api, id_text, oapi, string};
use crate::exports::qiao::connector::chats::{Chat, Guest, NewChat};
use crate::people;

/// DingTalk's cap on a group's title, in characters.
const MAX_TITLE: usize = 30;
/// Members named at creation (DingTalk: at most 999 besides the owner).
const MAX_CREATE_MEMBERS: usize = 999;
/// Members asked for per page, and pages read at most: DingTalk answers up to 1000 members at once, and a scene
/// group holds a few thousand at most.
const MEMBERS_PAGE: u32 = 1000;
const MAX_MEMBER_PAGES: usize = 10;

/// The scene-group template: the caller's `extra.template_id`, else the `scene_group_template_id` setting.
fn template_id(extra: &serde_json::Map<String, Value>) -> Result<String, Error> {
    extra
        .get("template_id")
        .and_then(Value::as_str)
        .map(String::from)
        .or_else(|| config::get("scene_group_template_id"))
        .filter(|t| !t.trim().is_empty())
        .ok_or_else(|| {
            Error::unsupported(
                "DingTalk lets an app create only scene groups, made from a group template of the app: set \
                 the scene_group_template_id setting (developer console → 场景群 → 群模板) or give \
                 extra.template_id",
            )
        })
}

fn check_members(user_ids: &[String], field: &str) -> Result<(), Error> {
    if user_ids.iter().any(|u| u.trim().is_empty()) {
        return Err(Error::invalid_input(format!(
            "{field} has an empty user id"
        )));
    }
    Ok(())
}

/// `topapi/im/chat/scenegroup/get` answers an unknown group with 400001 ("系统错误", "first check the group
/// id"), which elsewhere means busy: for a read of one group it means the id is wrong.
fn unknown_group(id: &str, e: Error) -> Error {
    if e.platform_code.as_deref() == Some("400001") {
        Error {
            kind: ErrorKind::NotFound,
            message: format!("no such DingTalk scene group {id:?} (DingTalk answered 400001)"),
            ..e
        }
    } else {
        e
    }
}

/// Every member's userid, page by page.
pub fn members(id: &str) -> Result<Vec<String>, Error> {
    let mut members = Vec::new();
    let mut token: Option<String> = None;
    for _ in 0..MAX_MEMBER_PAGES {
        let mut body = json!({ "openConversationId": id, "maxResults": MEMBERS_PAGE });
        if let Some(token) = &token {
            body["nextToken"] = json!(token);
        }
        let page = api(
            Method::Post,
            "/v1.0/im/sceneGroups/members/batchQuery",
            Some(&body),
        )?;
        members.extend(
            page["memberUserIds"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(id_text),
        );
        token = id_text(&page["nextToken"]);
        if page["hasMore"] != true || token.is_none() {
            return Ok(members);
        }
    }
    // A cut list would make real members look absent (a mention reported as not a recipient): refuse instead.
    Err(Error::invalid_input(format!(
        "scene group {id} has more than {} members: too many to read in one call",
        MAX_MEMBER_PAGES * MEMBERS_PAGE as usize
    )))
}

fn change_members(chat_id: &str, user_ids: &[String], op: &str) -> Result<(), Error> {
    required(chat_id, "chat_id")?;
    check_members(user_ids, "user_ids")?;
    if user_ids.is_empty() {
        return Ok(());
    }
    api(
        Method::Post,
        &format!("/v1.0/im/sceneGroup/member/{op}"),
        Some(&json!({ "open_conversation_id": chat_id, "user_ids": user_ids })),
    )?;
    Ok(())
}

impl Guest for DingTalk {
    fn create(chat: NewChat, idempotency_key: Option<String>) -> Result<Chat, Error> {
        required(&chat.name, "name")?;
        if chat.name.chars().count() > MAX_TITLE {
            return Err(Error::invalid_input(format!(
                "name: DingTalk group titles are at most {MAX_TITLE} characters"
            )));
        }
        check_members(&chat.members, "members")?;
        if chat.members.len() > MAX_CREATE_MEMBERS {
            return Err(Error::invalid_input(format!(
                "members: DingTalk takes at most {MAX_CREATE_MEMBERS} members at creation; add the rest after"
            )));
        }
        let extra = json_object(chat.extra.as_deref(), "extra")?;
        let template = template_id(&extra)?;
        let owner = chat
            .owner
            .clone()
            .or_else(people::operator)
            .ok_or_else(|| {
                Error::invalid_input(
                    "DingTalk groups have an owner: give owner or set operator_user_id",
                )
            })?;
        let mut body = json!({
            "title": chat.name, "template_id": template, "owner_user_id": owner, "user_ids": chat.members,
        });
        // DingTalk's own de-duplication of group creation (建群去重的业务ID).
        if let Some(key) = idempotency_key.filter(|k| !k.is_empty()) {
            body["uuid"] = json!(key);
        }
        let answer = api(Method::Post, "/v1.0/im/sceneGroup/create", Some(&body))?;
        let id = string(&answer["open_conversation_id"], "open_conversation_id")?;
        let mut members = vec![owner.clone()];
        members.extend(chat.members.into_iter().filter(|m| *m != owner));
        Ok(Chat {
            id,
            name: chat.name,
            owner: Some(owner),
            members,
            extra: Some(
                json!({ "template_id": template, "chat_id": answer["chat_id"] }).to_string(),
            ),
        })
    }

    fn get(id: String) -> Result<Chat, Error> {
        required(&id, "id")?;
        let body = oapi(
            "/topapi/im/chat/scenegroup/get",
            &json!({ "open_conversation_id": id }),
        )
        .map_err(|e| unknown_group(&id, e))?;
        let group = &body["result"];
        let members = members(&id)?;
        Ok(Chat {
            name: group["title"].as_str().unwrap_or_default().to_string(),
            owner: id_text(&group["owner_staff_id"]),
            members,
            extra: Some(
                json!({
                    "template_id": group["template_id"], "sub_admins": group["sub_admin_staff_ids"],
                    "group_url": group["group_url"],
                })
                .to_string(),
            ),
            id,
        })
    }

    fn add_members(chat_id: String, user_ids: Vec<String>) -> Result<(), Error> {
        change_members(&chat_id, &user_ids, "add")
    }

    fn remove_members(chat_id: String, user_ids: Vec<String>) -> Result<(), Error> {
        change_members(&chat_id, &user_ids, "delete")
    }
}
