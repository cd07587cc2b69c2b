//! Scene groups (场景群): created from the app's group template (new API `/v1.0/im/sceneGroup/create`, with
//! `uuid` de-duplication), members added and removed (`/v1.0/im/sceneGroup/member/add|delete`) and listed
//! (`/v1.0/im/sceneGroups/members/batchQuery`), read (old API `topapi/im/chat/scenegroup/get`), and the template
//! robot's messages (`topapi/im/chat/scencegroup/message/send_v2`, with `at_users` at most 50). Codes and limits
//! from DT-KB 0746, 0749, 0750, 0751, 0755, 0763; the member cap of a group is not documented (1000 here).

use std::collections::BTreeSet;

use axum::response::Response;
use serde_json::{Value, json};

use super::api::{api_err, api_ok, err, ok};
use super::state::State;

/// The group template and its robot the simulated app has (developer console → 场景群).
pub const TEMPLATE_ID: &str = "sim-group-template";
pub const ROBOT_CODE: &str = "sim-scene-robot";
pub const MAX_TITLE: usize = 30;
pub const MAX_MEMBERS: usize = 1000;
pub const MAX_AT: usize = 50;
const TEMPLATES: [&str; 2] = ["inner_app_template_text", "inner_app_template_markdown"];

#[derive(Clone, Debug)]
pub struct SceneGroup {
    pub id: String,
    pub chat_id: String,
    pub title: String,
    pub template_id: String,
    pub owner: String,
    /// Everyone in the group, the owner included.
    pub members: BTreeSet<String>,
    pub uuid: Option<String>,
}

/// A robot message as the group received it.
#[derive(Clone, Debug)]
pub struct GroupMessage {
    pub id: String,
    pub chat: String,
    pub template_id: String,
    /// `msg_param_map`, parsed.
    pub params: Value,
    pub at_users: Vec<String>,
    pub at_all: bool,
}

impl GroupMessage {
    /// The text people see: the text template's `content` or the markdown's `markdown_content`.
    pub fn text(&self) -> String {
        self.params["content"]
            .as_str()
            .or_else(|| self.params["markdown_content"].as_str())
            .unwrap_or_default()
            .to_string()
    }
}

fn user_list(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Null => Some(vec![]),
        Value::Array(items) => items.iter().map(|v| v.as_str().map(String::from)).collect(),
        _ => None,
    }
}

fn invalid() -> Response {
    api_err(400, "parameter.invalid", "输入参数错误")
}

/// The scene-group endpoints, or `None` for a path that is not one.
pub fn route(state: &mut State, path: &str, body: &Value) -> Option<Response> {
    Some(match path {
        "/v1.0/im/sceneGroup/create" => create(state, body),
        "/v1.0/im/sceneGroup/member/add" => members(state, body, true),
        "/v1.0/im/sceneGroup/member/delete" => members(state, body, false),
        "/v1.0/im/sceneGroups/members/batchQuery" => batch_query(state, body),
        "/topapi/im/chat/scenegroup/get" => get(state, body),
        "/topapi/im/chat/scencegroup/message/send_v2" => send(state, body),
        _ => return None,
    })
}

fn create(state: &mut State, body: &Value) -> Response {
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_string();
    let (title, template, owner) = (text("title"), text("template_id"), text("owner_user_id"));
    if title.trim().is_empty()
        || title.chars().count() > MAX_TITLE
        || owner.is_empty()
        || template.is_empty()
    {
        return invalid();
    }
    if !state.group_templates.contains(&template) {
        return api_err(400, "groupTemplate.notFound", "群模板不存在或者已下线");
    }
    let Some(users) = user_list(&body["user_ids"]) else {
        return invalid();
    };
    if !state.users.contains_key(&owner) || users.iter().any(|u| !state.users.contains_key(u)) {
        return api_err(400, "member.notFound", "不存在的员工");
    }
    let uuid = body["uuid"]
        .as_str()
        .filter(|u| !u.is_empty())
        .map(String::from);
    // 建群去重: the same uuid (and owner) answers the group made the first time.
    if let Some(uuid) = &uuid
        && let Some(group) = state
            .scene_groups
            .values()
            .find(|g| g.uuid.as_ref() == Some(uuid) && g.owner == owner)
    {
        return api_ok(json!({ "open_conversation_id": group.id, "chat_id": group.chat_id }));
    }
    let mut members: BTreeSet<String> = users.into_iter().collect();
    members.insert(owner.clone());
    if members.len() > MAX_MEMBERS {
        return api_err(400, "member.exceed", "群成员数量超出限制");
    }
    let n = state.next_id();
    let group = SceneGroup {
        id: format!("cidSim{n:08}+Q=="),
        chat_id: format!("chatsim{n:08}"),
        title,
        template_id: template,
        owner,
        members,
        uuid,
    };
    let answer = json!({ "open_conversation_id": group.id, "chat_id": group.chat_id });
    state.scene_groups.insert(group.id.clone(), group);
    api_ok(answer)
}

fn members(state: &mut State, body: &Value, add: bool) -> Response {
    let id = body["open_conversation_id"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let Some(users) = user_list(&body["user_ids"]) else {
        return invalid();
    };
    if users.iter().any(|u| !state.users.contains_key(u)) {
        return api_err(400, "member.notFound", "不存在的员工");
    }
    let Some(group) = state.scene_groups.get_mut(&id) else {
        return invalid();
    };
    if add {
        let after: BTreeSet<&String> = group.members.iter().chain(&users).collect();
        if after.len() > MAX_MEMBERS {
            return api_err(400, "member.exceed", "群成员数量超出限制");
        }
        group.members.extend(users);
    } else {
        // The owner stays: a group is handed over before its owner leaves (behaviour assumed, not documented).
        if users.contains(&group.owner) {
            return api_err(400, "parameter.invalid", "不能移除群主");
        }
        for user in &users {
            group.members.remove(user);
        }
    }
    api_ok(json!({ "success": true }))
}

fn batch_query(state: &State, body: &Value) -> Response {
    let id = body["openConversationId"].as_str().unwrap_or_default();
    let Some(size) = body["maxResults"].as_u64().filter(|n| *n > 0) else {
        return api_err(400, "paramBlank", "请求参数为空");
    };
    if id.is_empty() {
        return api_err(400, "paramBlank", "请求参数为空");
    }
    let Some(group) = state.scene_groups.get(id) else {
        return api_err(400, "cidEncryptError", "群ID解析错误");
    };
    let start: usize = match body["nextToken"].as_str().filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => match token.parse() {
            Ok(n) => n,
            Err(_) => return api_err(400, "paramIllegal", "请求参数非法"),
        },
    };
    // Up to 1000 members come back at once whatever the page size (DT-KB 0751).
    let size = if group.members.len() <= 1000 {
        1000
    } else {
        size as usize
    };
    let page: Vec<&String> = group.members.iter().skip(start).take(size).collect();
    let next = start + page.len();
    let has_more = next < group.members.len();
    let nicks: serde_json::Map<String, Value> = page
        .iter()
        .filter_map(|u| {
            state
                .users
                .get(*u)
                .map(|user| ((*u).clone(), json!(user.name)))
        })
        .collect();
    let mut answer = json!({
        "success": true, "memberUserIds": page, "hasMore": has_more, "unionIdList": [], "staffIdNickMap": nicks,
    });
    if has_more {
        answer["nextToken"] = json!(next.to_string());
    }
    api_ok(answer)
}

fn get(state: &State, body: &Value) -> Response {
    let id = body["open_conversation_id"].as_str().unwrap_or_default();
    if id.is_empty() {
        return err(40035, "无效的请求参数");
    }
    // DT-KB 0755: a wrong group id answers 400001 ("first check the group id").
    let Some(group) = state.scene_groups.get(id) else {
        return err(400001, "系统错误");
    };
    ok(json!({ "success": true, "result": {
        "open_conversation_id": group.id, "title": group.title, "template_id": group.template_id,
        "owner_staff_id": group.owner, "sub_admin_staff_ids": [], "icon": "",
        "group_url": format!("https://qr.dingtalk.com/sim/{}", group.chat_id),
        "management_options": { "chat_banned_type": "0", "validation_type": "0", "mention_all_authority": "0",
                                "management_type": "0", "searchable": "0", "show_history_type": "0" },
    }}))
}

fn send(state: &mut State, body: &Value) -> Response {
    let text = |k: &str| body[k].as_str().unwrap_or_default().to_string();
    let (chat, robot, template) = (
        text("target_open_conversation_id"),
        text("robot_code"),
        text("msg_template_id"),
    );
    if chat.is_empty() {
        return err(660001, "群编码为空");
    }
    if robot.is_empty() {
        return err(660002, "机器人编码为空");
    }
    if template.is_empty() {
        return err(660027, "消息模板ID为空");
    }
    if !state.scene_groups.contains_key(&chat) {
        return err(660015, "查无此场景群");
    }
    if !state.scene_robots.contains(&robot) {
        return err(660014, "查无此机器人");
    }
    if !TEMPLATES.contains(&template.as_str()) {
        return err(660024, "查无此消息模板");
    }
    // `msg_param_map` is a JSON string holding the template's parameters.
    let params: Value = match body["msg_param_map"].as_str().map(serde_json::from_str) {
        Some(Ok(params @ Value::Object(_))) => params,
        _ => return err(660025, "消息模板渲染失败"),
    };
    let required = if template == "inner_app_template_text" {
        &["content"][..]
    } else {
        &["title", "markdown_content"][..]
    };
    if required
        .iter()
        .any(|k| params[*k].as_str().is_none_or(str::is_empty))
    {
        return err(660025, "消息模板渲染失败");
    }
    let at_users: Vec<String> = text("at_users")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect();
    if at_users.len() > MAX_AT {
        return err(40035, "at_users 一次最多50人");
    }
    let id = format!("msg{}", state.next_id());
    state.group_messages.push(GroupMessage {
        id: id.clone(),
        chat,
        template_id: template,
        params,
        at_users,
        at_all: body["is_at_all"] == true,
    });
    ok(json!({ "success": true, "open_msg_id": id }))
}
