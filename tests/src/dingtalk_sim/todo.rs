//! The to-do API (待办, new API `/v1.0/todo/users/{unionId}/...`): create, get, get by `sourceId`, update and the
//! per-user query, with DingTalk's error codes (HTTP 400 `todo.<op>.paramError` and a message saying which
//! parameter), its limits (subject 1024 and description 4096 characters, at most 1000 executors or participants,
//! a detail link required on app-created to-dos), `sourceId` de-duplication ("task existed ... taskId is X"), and the
//! `todo_task_create` / `todo_task_update` callbacks. Sources: DT-KB 0793, 0796, 0798, 0802 and the official SDK
//! (alibabacloud-go/dingtalk `todo_1_0`: get and get-by-source paths).

use axum::response::Response;
use serde_json::{Value, json};

use super::api::{api_err, api_ok};
use super::state::{State, now_ms};

pub const MAX_SUBJECT: usize = 1024;
pub const MAX_DESCRIPTION: usize = 4096;
pub const MAX_PEOPLE: usize = 1000;
/// The simulated app's `bizTag`.
const BIZ_TAG: &str = "sim_app";

#[derive(Clone, Debug)]
pub struct Todo {
    pub id: String,
    pub source_id: Option<String>,
    pub subject: String,
    pub description: String,
    pub due_time: Option<i64>,
    pub done: bool,
    /// unionIds.
    pub executors: Vec<String>,
    pub participants: Vec<String>,
    pub creator: String,
    pub modifier: String,
    pub detail_url: Value,
    pub priority: Option<i64>,
    pub created: u64,
    pub modified: u64,
    pub finish: Option<u64>,
}

impl Todo {
    pub fn json(&self) -> Value {
        let mut value = json!({
            "id": self.id, "subject": self.subject, "description": self.description, "done": self.done,
            "executorIds": self.executors, "participantIds": self.participants, "detailUrl": self.detail_url,
            "source": BIZ_TAG, "createdTime": self.created, "modifiedTime": self.modified,
            "creatorId": self.creator, "modifierId": self.modifier, "bizTag": BIZ_TAG, "requestId": "sim-req",
            "isOnlyShowExecutor": false,
        });
        for (key, v) in [
            ("sourceId", json!(self.source_id)),
            ("dueTime", json!(self.due_time)),
            ("priority", json!(self.priority)),
            ("finishTime", json!(self.finish)),
        ] {
            if !v.is_null() {
                value[key] = v;
            }
        }
        value
    }

    /// As `org/tasks/query` lists it: a card, without people.
    fn card(&self) -> Value {
        let mut card = json!({
            "taskId": self.id, "subject": self.subject, "detailUrl": self.detail_url,
            "createdTime": self.created, "modifiedTime": self.modified, "creatorId": self.creator,
            "bizTag": BIZ_TAG, "isDone": self.done, "todoType": "TODO",
        });
        for (key, v) in [
            ("dueTime", json!(self.due_time)),
            ("sourceId", json!(self.source_id)),
            ("priority", json!(self.priority)),
        ] {
            if !v.is_null() {
                card[key] = v;
            }
        }
        card
    }

    fn has_role(&self, union: &str, role: &str) -> bool {
        match role {
            "creator" => self.creator == union,
            "executor" => self.executors.iter().any(|e| e == union),
            "participant" => self.participants.iter().any(|p| p == union),
            _ => false,
        }
    }

    fn people(&self) -> Vec<String> {
        let mut all = vec![self.creator.clone()];
        for p in self.executors.iter().chain(&self.participants) {
            if !all.contains(p) {
                all.push(p.clone());
            }
        }
        all
    }
}

fn strings(value: &Value) -> Option<Vec<String>> {
    match value {
        Value::Null => Some(vec![]),
        Value::Array(items) => items.iter().map(|v| v.as_str().map(String::from)).collect(),
        _ => None,
    }
}

fn param_error(op: &str, message: &str) -> Response {
    api_err(400, &format!("todo.{op}.paramError"), message)
}

fn known_union(state: &State, union: &str) -> bool {
    state.users.values().any(|u| u.unionid == union)
}

/// unionIds given for a field, or `None` when the field was left out.
type People = Option<Vec<String>>;

/// The people of a create or update: each must be a unionId of the organisation, and at most 1000. An error is
/// the `paramError` message.
fn people(
    state: &State,
    body: &Value,
    key: &str,
    what: &str,
) -> Result<Option<Vec<String>>, String> {
    if body.get(key).is_none() {
        return Ok(None);
    }
    let ids = strings(&body[key]).ok_or_else(|| format!("{key} is invalid"))?;
    if ids.len() > MAX_PEOPLE {
        return Err(format!("{what} is oversize"));
    }
    if let Some(unknown) = ids.iter().find(|id| !known_union(state, id)) {
        return Err(format!("user not exist: {unknown}"));
    }
    Ok(Some(ids))
}

/// Checks shared by create and update: sizes and the due time.
fn check_fields(body: &Value) -> Result<(), &'static str> {
    if body["subject"]
        .as_str()
        .is_some_and(|s| s.chars().count() > MAX_SUBJECT)
    {
        return Err("subject is oversize");
    }
    if body["description"]
        .as_str()
        .is_some_and(|s| s.chars().count() > MAX_DESCRIPTION)
    {
        return Err("description is oversize");
    }
    if !body["dueTime"].is_null() && body["dueTime"].as_i64().is_none_or(|d| d < 0) {
        return Err("dueTime is invalid");
    }
    Ok(())
}

/// Executors and participants of a create or update, checked.
fn both_people(state: &State, body: &Value) -> Result<(People, People), String> {
    check_fields(body)?;
    Ok((
        people(state, body, "executorIds", "executors")?,
        people(state, body, "participantIds", "participants")?,
    ))
}

fn event(state: &mut State, kind: &str, todo: &Todo) -> Value {
    let mut event = state.event_base(kind);
    let fields = json!({ "taskId": todo.id, "bizTag": BIZ_TAG, "UnionIdList": todo.people() });
    if let (Some(event), Value::Object(fields)) = (event.as_object_mut(), fields) {
        event.extend(fields);
    }
    event
}

/// The to-do endpoints, or `None` for a path that is not one.
pub fn route(
    state: &mut State,
    method: &str,
    path: &str,
    operator: Option<&str>,
    body: &Value,
) -> Option<(Response, Vec<Value>)> {
    let rest = path.strip_prefix("/v1.0/todo/users/")?;
    let parts: Vec<&str> = rest.split('/').collect();
    let none = |r: Response| Some((r, vec![]));
    Some(match (method, parts.as_slice()) {
        ("POST", [union, "tasks"]) => create(state, union, operator, body),
        ("GET", [union, "tasks", "sources", source]) => {
            if !known_union(state, union) {
                return none(param_error("taskGet", "unionId is invalid"));
            }
            match state
                .todos
                .values()
                .find(|t| t.source_id.as_deref() == Some(source))
            {
                Some(todo) => (api_ok(todo.json()), vec![]),
                None => (param_error("taskGet", "task not exist"), vec![]),
            }
        }
        ("GET", [union, "tasks", id]) => {
            if !known_union(state, union) {
                return none(param_error("taskGet", "unionId is invalid"));
            }
            match state.todos.get(*id) {
                Some(todo) => (api_ok(todo.json()), vec![]),
                None => (param_error("taskGet", "task not exist"), vec![]),
            }
        }
        ("PUT", [union, "tasks", id]) => update(state, union, id, operator, body),
        ("POST", [union, "org", "tasks", "query"]) => (query(state, union, body), vec![]),
        _ => return None,
    })
}

fn create(
    state: &mut State,
    union: &str,
    operator: Option<&str>,
    body: &Value,
) -> (Response, Vec<Value>) {
    const OP: &str = "taskCreate";
    let fail = |r: Response| (r, vec![]);
    if !known_union(state, union) || operator.is_some_and(|o| o != union) {
        return fail(param_error(OP, "unionId is invalid"));
    }
    let subject = body["subject"].as_str().unwrap_or_default().to_string();
    if subject.trim().is_empty() {
        return fail(param_error(OP, "subject is required"));
    }
    // The path's unionId is the creator's (DT-KB 0793).
    if body["creatorId"].as_str().is_some_and(|c| c != union) {
        return fail(param_error(OP, "creatorId must be the unionId of the path"));
    }
    // Since 2024-02-01 an app's to-do must link to its detail page (DT-KB 0793; the exact message is not documented).
    let detail = &body["detailUrl"];
    if detail["appUrl"].as_str().is_none_or(str::is_empty)
        && detail["pcUrl"].as_str().is_none_or(str::is_empty)
    {
        return fail(param_error(OP, "detailUrl is required"));
    }
    let (executors, participants) = match both_people(state, body) {
        Ok((e, p)) => (e.unwrap_or_default(), p.unwrap_or_default()),
        Err(message) => return fail(param_error(OP, &message)),
    };
    let source_id = body["sourceId"]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from);
    if let Some(source) = &source_id
        && let Some(existing) = state
            .todos
            .values()
            .find(|t| t.source_id.as_ref() == Some(source))
    {
        // DT-KB 0802: a repeated sourceId.
        let message = format!(
            "EXTRA string=call hsf service result error: task existed, string= and taskId is {}",
            existing.id
        );
        return fail(param_error(OP, &message));
    }
    let now = now_ms();
    let todo = Todo {
        id: format!("OPJsim{:08}", state.next_id()),
        source_id,
        subject,
        description: body["description"].as_str().unwrap_or_default().to_string(),
        due_time: body["dueTime"].as_i64(),
        done: false,
        executors,
        participants,
        creator: union.to_string(),
        modifier: union.to_string(),
        detail_url: detail.clone(),
        priority: body["priority"].as_i64(),
        created: now,
        modified: now,
        finish: None,
    };
    let events = vec![event(state, "todo_task_create", &todo)];
    let answer = todo.json();
    state.todos.insert(todo.id.clone(), todo);
    (api_ok(answer), events)
}

fn update(
    state: &mut State,
    union: &str,
    id: &str,
    operator: Option<&str>,
    body: &Value,
) -> (Response, Vec<Value>) {
    const OP: &str = "taskUpdate";
    let fail = |r: Response| (r, vec![]);
    // The path's unionId must be the operator's (DT-KB 0796).
    if !known_union(state, union) || operator.is_some_and(|o| o != union) {
        return fail(param_error(OP, "unionId is invalid"));
    }
    let Some(mut todo) = state.todos.get(id).cloned() else {
        return fail(param_error(OP, "task not exist"));
    };
    // The creator changes a to-do; an executor may only complete or reopen it (DT-KB 0792, 待办角色).
    let only_done = body
        .as_object()
        .is_some_and(|b| b.keys().all(|k| k == "done"));
    if todo.creator != union && !(only_done && todo.has_role(union, "executor")) {
        return fail(param_error(OP, "operator has no permission on the task"));
    }
    let (executors, participants) = match both_people(state, body) {
        Ok(people) => people,
        Err(message) => return fail(param_error(OP, &message)),
    };
    let before = todo.clone();
    if let Some(subject) = body["subject"].as_str() {
        todo.subject = subject.to_string();
    }
    if let Some(description) = body["description"].as_str() {
        todo.description = description.to_string();
    }
    if let Some(due) = body["dueTime"].as_i64() {
        todo.due_time = Some(due);
    }
    if let Some(done) = body["done"].as_bool() {
        todo.finish = if done {
            Some(todo.finish.unwrap_or_else(now_ms))
        } else {
            None
        };
        todo.done = done;
    }
    if let Some(executors) = executors {
        todo.executors = executors;
    }
    if let Some(participants) = participants {
        todo.participants = participants;
    }
    let changed = todo.subject != before.subject
        || todo.description != before.description
        || todo.due_time != before.due_time
        || todo.done != before.done
        || todo.executors != before.executors
        || todo.participants != before.participants;
    let mut events = vec![];
    if changed {
        todo.modified = now_ms().max(before.modified + 1);
        todo.modifier = union.to_string();
        events.push(event(state, "todo_task_update", &todo));
        state.todos.insert(id.to_string(), todo);
    }
    (api_ok(json!({ "result": true })), events)
}

/// `org/tasks/query`: the user's to-dos in the roles asked (outer list OR, inner list AND), paged by an opaque
/// `nextToken` (an offset here), oldest first.
fn query(state: &State, union: &str, body: &Value) -> Response {
    const OP: &str = "orgTaskQuery";
    if !known_union(state, union) {
        return param_error(OP, "unionId is invalid");
    }
    let start = match &body["nextToken"] {
        Value::Null => 0,
        Value::String(s) if s.is_empty() => 0,
        token => match token
            .as_str()
            .and_then(|s| s.parse::<usize>().ok())
            .or(token.as_u64().map(|n| n as usize))
        {
            Some(n) => n,
            None => return param_error(OP, "nextToken is invalid"),
        },
    };
    let roles: Vec<Vec<String>> = match &body["roleTypes"] {
        Value::Null => vec![
            vec!["executor".into()],
            vec!["creator".into()],
            vec!["participant".into()],
        ],
        value => match serde_json::from_value(value.clone()) {
            Ok(roles) => roles,
            Err(_) => return param_error(OP, "roleTypes is invalid"),
        },
    };
    let done = body["isDone"].as_bool();
    let mut matching: Vec<&Todo> = state
        .todos
        .values()
        .filter(|t| done.is_none_or(|d| t.done == d))
        .filter(|t| {
            roles
                .iter()
                .any(|all| !all.is_empty() && all.iter().all(|r| t.has_role(union, r)))
        })
        .collect();
    matching.sort_by_key(|t| (t.created, t.id.clone()));
    let page: Vec<Value> = matching
        .iter()
        .skip(start)
        .take(state.todo_page_size)
        .map(|t| t.card())
        .collect();
    let next = start + page.len();
    let mut answer = json!({ "todoCards": page });
    if next < matching.len() {
        answer["nextToken"] = json!(next.to_string());
    }
    api_ok(answer)
}
