//! Feishu Task v2 (`/open-apis/task/v2/…`) as the simulator keeps it: tasks with their members, completion,
//! comments and `client_token` idempotency, and the task events Feishu pushes once the app has called
//! `task_v2/task_subscription`: `task.task.update_user_access_v2` (`{task_guid, event_types}`) for every change
//! and `task.task.comment.updated_v1` for comments (tasks the app created, as all API-made tasks here are).
//! A test may also have a person make a task in the app (`FeishuSim::create_task_as`, e.g. in a tasklist the app
//! can read): its `task_create` event is pushed the same way, and the task reads back with that person as creator.
//!
//! Wire format from Feishu's task-v2 pages (create, get, patch, list, add_members, remove_members, comment/create,
//! overview): answers `{"code":0,"data":{"task":{…}}}`, times as millisecond strings, members
//! `{id, type: "user"|"app", role: "assignee"|"follower"}` in the query's `user_id_type`; errors 1470400 (HTTP
//! 400, bad parameter: the message says which), 1470403, 1470404 (HTTP 404, no such task or deleted), 1470422
//! (the same client_token in flight), 1470610 / 1470611 (too many assignees / followers). A `client_token` (10 to
//! 100 characters) answers the first task for 5 minutes. List (`type=my_tasks`) shows the app's tasks: with the
//! tenant token the app is the creator of each. Limits not in the pages (member caps) are guesses, marked.

use std::time::{Duration, Instant};

use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

use super::api::{Params, Refusal, ok, paged, param, text};
use super::state::{State, hex_id, now_ms};

const PARAM: i64 = 1470400;
const NOT_FOUND: i64 = 1470404;
const TOO_MANY_ASSIGNEES: i64 = 1470610;
const TOO_MANY_FOLLOWERS: i64 = 1470611;
/// Title, description and comment length (UTF-8 characters), from the create and comment pages.
const MAX_TEXT: usize = 3000;
/// Members per create (NEXT.md §2.1).
const MAX_CREATE_MEMBERS: usize = 50;
/// Guessed: assignees and followers a task may hold in all.
const MAX_ROLE: usize = 100;
/// How long a client_token answers its first task.
const TOKEN_TTL: Duration = Duration::from_secs(300);
/// The fields `update_fields` may name (patch page).
const PATCHABLE: [&str; 11] = [
    "summary",
    "description",
    "due",
    "start",
    "completed_at",
    "extra",
    "repeat_rule",
    "custom_complete",
    "mode",
    "is_milestone",
    "custom_fields",
];

#[derive(Clone, Debug)]
pub struct TaskV2 {
    pub guid: String,
    /// The short number shown in the app ("t100123").
    pub task_id: String,
    pub summary: String,
    pub description: String,
    /// Milliseconds; 0 for none.
    pub due: u64,
    pub due_all_day: bool,
    /// Milliseconds; 0 while not done.
    pub completed_at: u64,
    /// (`user_id`, role) in the order added.
    pub members: Vec<(String, String)>,
    /// Other patchable fields, as sent (`start`, `extra`, `repeat_rule`...).
    pub other: serde_json::Map<String, Value>,
    pub created_at: u64,
    pub updated_at: u64,
    pub deleted: bool,
}

#[derive(Clone, Debug)]
pub struct TaskCommentV2 {
    pub id: String,
    pub task_guid: String,
    pub content: String,
    /// The app id when made through the API with the tenant token, else a `user_id`.
    pub creator: String,
    pub creator_is_app: bool,
    pub created_at: u64,
}

/// Everything Task v2 keeps.
#[derive(Default)]
pub struct Tasks {
    pub tasks: Vec<TaskV2>,
    pub comments: Vec<TaskCommentV2>,
    /// Whether the app called `task_v2/task_subscription` (there is no unsubscribe).
    pub subscribed: bool,
    /// guid → `user_id` of the person who made the task in the Feishu app; absent: the app made it.
    pub creators: std::collections::HashMap<String, String>,
    /// client_token → (guid, first use).
    tokens: std::collections::HashMap<String, (String, Instant)>,
}

fn refuse(code: i64, msg: &str) -> Refusal {
    let status = if code == NOT_FOUND { 404 } else { 400 };
    Refusal(status, code, msg.to_string())
}

fn invalid(field: &str, why: &str) -> Refusal {
    refuse(PARAM, &format!("Invalid Param '{field}', {why}"))
}

fn user_type(query: &Params) -> Result<&str, Refusal> {
    match param(query, "user_id_type") {
        "" => Ok("open_id"),
        t @ ("open_id" | "union_id" | "user_id") => Ok(t),
        _ => Err(invalid("user_id_type", "value is invalid.")),
    }
}

fn millis(value: &Value) -> Option<u64> {
    match value {
        Value::String(s) => s.parse().ok(),
        Value::Number(n) => n.as_u64(),
        _ => None,
    }
}

impl State {
    pub fn task(&self, guid: &str) -> Option<&TaskV2> {
        self.todo
            .tasks
            .iter()
            .find(|t| t.guid == guid && !t.deleted)
    }

    fn task_index(&self, guid: &str) -> Result<usize, Refusal> {
        self.todo
            .tasks
            .iter()
            .position(|t| t.guid == guid && !t.deleted)
            .ok_or_else(|| refuse(NOT_FOUND, &format!("task {guid} not found or deleted")))
    }

    /// A task as Feishu answers it, ids in `id_type`.
    pub fn task_json(&self, task: &TaskV2, id_type: &str) -> Value {
        let mut json = Value::Object(task.other.clone());
        let members: Vec<Value> = task
            .members
            .iter()
            .map(|(user, role)| {
                json!({ "id": self.user_ref(user, id_type), "type": "user", "role": role,
                        "name": self.users.get(user).map(|u| u.name.clone()).unwrap_or_default() })
            })
            .collect();
        let fields = json!({
            "guid": task.guid,
            "task_id": task.task_id,
            "summary": task.summary,
            "description": task.description,
            "completed_at": task.completed_at.to_string(),
            "status": if task.completed_at > 0 { "done" } else { "todo" },
            "creator": match self.todo.creators.get(&task.guid) {
                Some(user) => json!({ "id": self.user_ref(user, id_type), "type": "user", "role": "creator" }),
                None => json!({ "id": self.options.app_id, "type": "app", "role": "creator" }),
            },
            "members": members,
            "created_at": task.created_at.to_string(),
            "updated_at": task.updated_at.to_string(),
            "url": format!("https://applink.feishu.cn/client/todo/detail?guid={}&suite_entity_num={}",
                           task.guid, task.task_id),
            "mode": task.other.get("mode").cloned().unwrap_or(json!(2)),
            "source": 6,
            "is_milestone": task.other.get("is_milestone").cloned().unwrap_or(json!(false)),
            "subtask_count": 0,
        });
        for (k, v) in fields.as_object().unwrap() {
            json[k] = v.clone();
        }
        if task.due > 0 {
            json["due"] =
                json!({ "timestamp": task.due.to_string(), "is_all_day": task.due_all_day });
        }
        json
    }

    /// Queues `task.task.update_user_access_v2` when the app subscribed.
    fn todo_event(&mut self, guid: &str, types: &[&str]) {
        if self.todo.subscribed && !types.is_empty() {
            let event = self.v2_event(
                "task.task.update_user_access_v2",
                json!({ "task_guid": guid, "event_types": types }),
            );
            self.push(event);
        }
    }

    /// A person completes (`done`) or reopens the task in the Feishu app: Feishu's event follows.
    pub fn set_task_done(&mut self, guid: &str, done: bool) -> Result<(), String> {
        let index = self.task_index(guid).map_err(|r| r.2)?;
        let now = now_ms();
        let task = &mut self.todo.tasks[index];
        task.completed_at = if done { now } else { 0 };
        task.updated_at = now;
        self.todo_event(guid, &["task_completed_update"]);
        Ok(())
    }

    /// A person (`creator`, a `user_id`) makes a task in the Feishu app with these assignees (`user_id`s) and
    /// other create fields (`tasklists`: the tasklists it is filed in, which the app can read); answers its guid.
    /// Feishu's `task_create` event follows when the app subscribed (`task_v2/task_subscription`), as for the
    /// app's own tasks.
    pub fn create_task_as(
        &mut self,
        creator: &str,
        summary: &str,
        assignees: &[&str],
        other: serde_json::Map<String, Value>,
    ) -> Result<String, String> {
        for user in std::iter::once(&creator).chain(assignees) {
            if !self.users.contains_key(*user) {
                return Err(format!("no user {user}"));
            }
        }
        check_text(summary, "summary", true).map_err(|r| r.2)?;
        let now = now_ms();
        let n = self.next_id();
        let hex = hex_id(&format!("task:{n}"));
        let guid = format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..32]);
        self.todo.tasks.push(TaskV2 {
            guid: guid.clone(),
            task_id: format!("t{n}"),
            summary: summary.into(),
            description: String::new(),
            due: 0,
            due_all_day: false,
            completed_at: 0,
            members: assignees.iter().map(|u| (u.to_string(), "assignee".to_string())).collect(),
            other,
            created_at: now,
            updated_at: now,
            deleted: false,
        });
        self.todo.creators.insert(guid.clone(), creator.into());
        self.todo_event(&guid, &["task_create"]);
        Ok(guid)
    }

    /// A person comments on the task in the Feishu app; answers the comment id.
    pub fn comment_on_task(
        &mut self,
        guid: &str,
        user_id: &str,
        content: &str,
    ) -> Result<String, String> {
        self.task_index(guid).map_err(|r| r.2)?;
        Ok(self.add_comment(guid, user_id, false, content))
    }

    fn add_comment(&mut self, guid: &str, creator: &str, is_app: bool, content: &str) -> String {
        let now = now_ms();
        let id = format!("{}", 7_300_000_000_000_000_000u64 + self.next_id());
        self.todo.comments.push(TaskCommentV2 {
            id: id.clone(),
            task_guid: guid.into(),
            content: content.into(),
            creator: creator.into(),
            creator_is_app: is_app,
            created_at: now,
        });
        if let Ok(index) = self.task_index(guid) {
            self.todo.tasks[index].updated_at = now;
        }
        if self.todo.subscribed {
            let event = self.v2_event(
                "task.task.comment.updated_v1",
                json!({ "task_id": guid, "comment_id": id, "parent_id": "", "obj_type": 1 }),
            );
            self.push(event);
        }
        id
    }

    fn comment_json(&self, c: &TaskCommentV2, id_type: &str) -> Value {
        let creator = if c.creator_is_app {
            json!({ "id": c.creator, "type": "app", "role": "creator" })
        } else {
            json!({ "id": self.user_ref(&c.creator, id_type), "type": "user", "role": "creator" })
        };
        json!({
            "id": c.id, "content": c.content, "creator": creator, "reply_to_comment_id": "",
            "created_at": c.created_at.to_string(), "updated_at": c.created_at.to_string(),
            "resource_type": "task", "resource_id": c.task_guid,
        })
    }

    /// `members` of a request as (`user_id`, role), each checked.
    fn member_refs(
        &self,
        members: &Value,
        id_type: &str,
    ) -> Result<Vec<(String, String)>, Refusal> {
        let Some(list) = members.as_array() else {
            return if members.is_null() {
                Ok(Vec::new())
            } else {
                Err(invalid("members", "must be a list."))
            };
        };
        let mut out = Vec::new();
        for m in list {
            let role = text(m, "role");
            if role != "assignee" && role != "follower" {
                return Err(invalid(
                    "members",
                    "role is invalid. Only 'assignee', 'follower' are supported.",
                ));
            }
            match text(m, "type").as_str() {
                "" | "user" => {}
                "app" => continue,
                _ => return Err(invalid("members", "type is invalid.")),
            }
            let id = text(m, "id");
            let user = self
                .find_user(&id, id_type)
                .ok_or_else(|| invalid("members", &format!("member id {id} is invalid.")))?;
            out.push((user.user_id.clone(), role));
        }
        Ok(out)
    }
}

fn check_text(value: &str, field: &str, required: bool) -> Result<(), Refusal> {
    if required && value.trim().is_empty() {
        return Err(invalid(field, "param is required."));
    }
    if value.chars().count() > MAX_TEXT {
        return Err(invalid(field, &format!("exceeds {MAX_TEXT} characters.")));
    }
    Ok(())
}

/// `due` as (ms, all day); `Ok(None)` for no due.
fn due_of(value: &Value) -> Result<Option<(u64, bool)>, Refusal> {
    if value.is_null() {
        return Ok(None);
    }
    let ms = millis(&value["timestamp"])
        .ok_or_else(|| invalid("due.timestamp", "param is required."))?;
    Ok(Some((ms, value["is_all_day"] == true)))
}

fn count_role(members: &[(String, String)], role: &str) -> usize {
    members.iter().filter(|(_, r)| r == role).count()
}

fn role_limits(members: &[(String, String)]) -> Result<(), Refusal> {
    if count_role(members, "assignee") > MAX_ROLE {
        return Err(refuse(
            TOO_MANY_ASSIGNEES,
            "the number of assignees exceeds the limit",
        ));
    }
    if count_role(members, "follower") > MAX_ROLE {
        return Err(refuse(
            TOO_MANY_FOLLOWERS,
            "the number of followers exceeds the limit",
        ));
    }
    Ok(())
}

fn create(state: &mut State, query: &Params, body: &Value) -> Result<Response, Refusal> {
    let id_type = user_type(query)?;
    let token = text(body, "client_token");
    if !token.is_empty() && !(10..=100).contains(&token.len()) {
        return Err(invalid(
            "client_token",
            "length must be between 10 and 100.",
        ));
    }
    state
        .todo
        .tokens
        .retain(|_, (_, at)| at.elapsed() < TOKEN_TTL);
    if let Some((guid, _)) = state.todo.tokens.get(&token)
        && let Some(task) = state.task(guid)
    {
        return Ok(ok(json!({ "task": state.task_json(task, id_type) })));
    }
    let summary = text(body, "summary");
    check_text(&summary, "summary", true)?;
    let description = text(body, "description");
    check_text(&description, "description", false)?;
    let due = due_of(&body["due"])?;
    let list = body["members"].as_array().map_or(0, Vec::len);
    if list > MAX_CREATE_MEMBERS {
        return Err(invalid(
            "members",
            &format!("at most {MAX_CREATE_MEMBERS} members."),
        ));
    }
    let mut members = Vec::new();
    for member in state.member_refs(&body["members"], id_type)? {
        if !members.contains(&member) {
            members.push(member);
        }
    }
    role_limits(&members)?;
    let mut other = serde_json::Map::new();
    for key in [
        "start",
        "extra",
        "repeat_rule",
        "custom_complete",
        "mode",
        "is_milestone",
        "origin",
        "tasklists",
    ] {
        if let Some(v) = body.get(key).filter(|v| !v.is_null()) {
            other.insert(key.into(), v.clone());
        }
    }
    if other.get("repeat_rule").is_some() && due.is_none() {
        return Err(invalid(
            "repeat_rule",
            "cannot set repeat_rule without setting due.",
        ));
    }
    let now = now_ms();
    let n = state.next_id();
    let hex = hex_id(&format!("task:{n}"));
    let guid = format!(
        "{}-{}-{}-{}-{}",
        &hex[..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    );
    let task = TaskV2 {
        guid: guid.clone(),
        task_id: format!("t{n}"),
        summary,
        description,
        due: due.map_or(0, |d| d.0),
        due_all_day: due.is_some_and(|d| d.1),
        completed_at: millis(&body["completed_at"]).unwrap_or(0),
        members,
        other,
        created_at: now,
        updated_at: now,
        deleted: false,
    };
    let answer = state.task_json(&task, id_type);
    state.todo.tasks.push(task);
    if !token.is_empty() {
        state
            .todo
            .tokens
            .insert(token, (guid.clone(), Instant::now()));
    }
    state.todo_event(&guid, &["task_create"]);
    Ok(ok(json!({ "task": answer })))
}

/// Which event type a patched field reports.
fn event_type(field: &str) -> Option<&'static str> {
    Some(match field {
        "summary" => "task_summary_update",
        "description" => "task_desc_update",
        "due" | "start" => "task_start_due_update",
        "completed_at" => "task_completed_update",
        _ => return None,
    })
}

fn patch(state: &mut State, query: &Params, guid: &str, body: &Value) -> Result<Response, Refusal> {
    let id_type = user_type(query)?;
    let index = state.task_index(guid)?;
    let fields: Vec<String> = body["update_fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f.as_str().map(String::from))
        .collect();
    if fields.is_empty() {
        return Err(invalid("update_fields", "param is required."));
    }
    if let Some(bad) = fields.iter().find(|f| !PATCHABLE.contains(&f.as_str())) {
        return Err(invalid(
            "update_fields",
            &format!("field '{bad}' cannot be updated."),
        ));
    }
    let input = &body["task"];
    let mut task = state.todo.tasks[index].clone();
    let mut types = Vec::new();
    for field in &fields {
        let value = &input[field.as_str()];
        match field.as_str() {
            "summary" => {
                let summary = text(input, "summary");
                check_text(&summary, "summary", true)?;
                task.summary = summary;
            }
            "description" => {
                let description = text(input, "description");
                check_text(&description, "description", false)?;
                task.description = description;
            }
            "due" => match due_of(value)? {
                Some((ms, all_day)) => (task.due, task.due_all_day) = (ms, all_day),
                None => (task.due, task.due_all_day) = (0, false),
            },
            "completed_at" => {
                let at = millis(value).unwrap_or(0);
                if at > 0 && task.completed_at > 0 {
                    return Err(invalid("completed_at", "task is already completed."));
                }
                task.completed_at = at;
            }
            other => {
                if value.is_null() {
                    task.other.remove(other);
                } else {
                    task.other.insert(other.into(), value.clone());
                }
            }
        }
        if let Some(kind) = event_type(field)
            && !types.contains(&kind)
        {
            types.push(kind);
        }
    }
    if task.other.get("repeat_rule").is_some() && task.due == 0 {
        return Err(invalid(
            "repeat_rule",
            "cannot set repeat_rule without setting due.",
        ));
    }
    task.updated_at = now_ms();
    let answer = state.task_json(&task, id_type);
    state.todo.tasks[index] = task;
    state.todo_event(guid, &types);
    Ok(ok(json!({ "task": answer })))
}

fn change_members(
    state: &mut State,
    query: &Params,
    guid: &str,
    body: &Value,
    add: bool,
) -> Result<Response, Refusal> {
    let id_type = user_type(query)?;
    let index = state.task_index(guid)?;
    let wanted = state.member_refs(&body["members"], id_type)?;
    if wanted.is_empty() {
        return Err(invalid("members", "param is required."));
    }
    let mut task = state.todo.tasks[index].clone();
    let mut types = Vec::new();
    for member in wanted {
        let present = task.members.contains(&member);
        // Feishu ignores members already there (add) or not there (remove).
        if add && !present {
            task.members.push(member.clone());
        } else if !add && present {
            task.members.retain(|m| *m != member);
        } else {
            continue;
        }
        let kind = if member.1 == "assignee" {
            "task_assignees_update"
        } else {
            "task_followers_update"
        };
        if !types.contains(&kind) {
            types.push(kind);
        }
    }
    role_limits(&task.members)?;
    if !types.is_empty() {
        task.updated_at = now_ms();
    }
    let answer = state.task_json(&task, id_type);
    state.todo.tasks[index] = task;
    state.todo_event(guid, &types);
    Ok(ok(json!({ "task": answer })))
}

fn list(state: &State, query: &Params) -> Result<Response, Refusal> {
    let id_type = user_type(query)?;
    match param(query, "type") {
        "" | "my_tasks" => {}
        _ => return Err(invalid("type", "only my_tasks is supported.")),
    }
    let completed = match param(query, "completed") {
        "" => None,
        "true" => Some(true),
        "false" => Some(false),
        _ => return Err(invalid("completed", "must be true or false.")),
    };
    let tasks: Vec<&TaskV2> = state
        .todo
        .tasks
        .iter()
        .filter(|t| !t.deleted && completed.is_none_or(|c| c == (t.completed_at > 0)))
        .collect();
    let data = paged(&tasks, query, 50, 100, "items", |t| {
        state.task_json(t, id_type)
    })
    .map_err(|_| {
        invalid(
            "page_size",
            "must be between 1 and 100, or page_token is invalid.",
        )
    })?;
    Ok(ok(data))
}

fn create_comment(state: &mut State, query: &Params, body: &Value) -> Result<Response, Refusal> {
    let id_type = user_type(query)?;
    let content = text(body, "content");
    check_text(&content, "content", true)?;
    match text(body, "resource_type").as_str() {
        "" | "task" => {}
        _ => return Err(invalid("resource_type", "only task is supported.")),
    }
    let guid = text(body, "resource_id");
    state.task_index(&guid)?;
    let app = state.options.app_id.clone();
    let id = state.add_comment(&guid, &app, true, &content);
    let comment = state.todo.comments.iter().find(|c| c.id == id).unwrap();
    Ok(ok(
        json!({ "comment": state.comment_json(comment, id_type) }),
    ))
}

/// Everything under `/open-apis/task/v2/`; `path` is the rest, split at `/`.
pub(super) fn route(
    state: &mut State,
    method: &Method,
    path: &[&str],
    query: &Params,
    body: &Value,
) -> Option<Result<Response, Refusal>> {
    Some(match (method.as_str(), path) {
        ("POST", ["tasks"]) => create(state, query, body),
        ("GET", ["tasks"]) => list(state, query),
        ("GET", ["tasks", guid]) => user_type(query).and_then(|t| {
            let index = state.task_index(guid)?;
            Ok(ok(
                json!({ "task": state.task_json(&state.todo.tasks[index], t) }),
            ))
        }),
        ("PATCH", ["tasks", guid]) => patch(state, query, guid, body),
        ("DELETE", ["tasks", guid]) => state.task_index(guid).map(|index| {
            state.todo.tasks[index].deleted = true;
            state.todo_event(guid, &["task_deleted"]);
            ok(json!({}))
        }),
        ("POST", ["tasks", guid, action @ ("add_members" | "remove_members")]) => {
            change_members(state, query, guid, body, *action == "add_members")
        }
        ("POST", ["comments"]) => create_comment(state, query, body),
        ("GET", ["comments", id]) => user_type(query).and_then(|t| {
            let comment = state
                .todo
                .comments
                .iter()
                .find(|c| c.id == *id)
                .ok_or_else(|| refuse(NOT_FOUND, &format!("comment {id} not found")))?;
            Ok(ok(json!({ "comment": state.comment_json(comment, t) })))
        }),
        ("POST", ["task_v2", "task_subscription"]) => user_type(query).map(|_| {
            state.todo.subscribed = true;
            ok(json!({}))
        }),
        _ => return None,
    })
}
