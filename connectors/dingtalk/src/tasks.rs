//! Tasks as DingTalk to-dos (待办, new API `/v1.0/todo/users/{unionId}/tasks`). A to-do is done or not: `open`
//! and `in-progress` both mean "not done", and completing or reopening is an update of `done`. DingTalk names
//! people by unionId and asks for one in every path (the to-do's creator, who must also be the operator of a
//! change), so each to-do's creator is remembered in kv when Qiao creates or reads it; to-dos Qiao never saw
//! are reached as the configured `operator_user_id`.
//!
//! kv keys: `todo-owner:{id}` the creator's unionId, `todo-idem:{key}` idempotency keys (also sent as DingTalk's
//! `sourceId`), `todo-seen:{id}` the last state seen, which the webhook compares update events with.

use qiao_sdk::http::Method;
use qiao_sdk::text::urlencode;
use qiao_sdk::{Error, config, json_kv, json_object, required};
use serde_json::{Map, Value, json};

use crate::DingTalk;
use crate::client::{api, api_paced, id_text, string};
use crate::exports::qiao::connector::tasks::{
    Guest, NewTask, Status, StatusCategory, Target, Task, TaskChanges, TaskComment, TaskPage,
    TaskQuery, TextChange, TimeChange,
};
use crate::people;

/// DingTalk's limits on a to-do's title and description, in characters.
const MAX_SUBJECT: usize = 1024;
const MAX_DESCRIPTION: usize = 4096;
/// DingTalk's cap on executors and participants of one update.
const MAX_PEOPLE: usize = 1000;
/// To-dos per `list` page: each is read in full (DingTalk's list has no people), one request each, which keeps a
/// page within DingTalk's 20 requests per second per API.
const MAX_PAGE: u32 = 20;
/// How long a to-do's creator and last seen state are kept: about a year, beyond which a to-do is long done.
pub const KEEP_S: u32 = 400 * 24 * 3600;
/// The platform fields a caller may set in `extra` at creation.
const EXTRA_KEYS: [&str; 5] = [
    "priority",
    "detail_url",
    "app_url",
    "pc_url",
    "is_only_show_executor",
];

fn owner_key(id: &str) -> String {
    format!("todo-owner:{id}")
}

fn idem_key(key: &str) -> String {
    format!("todo-idem:{key}")
}

pub fn seen_key(id: &str) -> String {
    format!("todo-seen:{id}")
}

fn tasks_path(owner: &str) -> String {
    format!("/v1.0/todo/users/{}/tasks", urlencode(owner))
}

fn task_path(owner: &str, id: &str) -> String {
    format!("{}/{}", tasks_path(owner), urlencode(id))
}

/// The unionId whose path reaches the to-do: its creator as remembered, else the operator.
pub fn owner_of(id: &str) -> Result<String, Error> {
    if let Some(owner) = json_kv::get::<String>(&owner_key(id)) {
        return Ok(owner);
    }
    match people::operator() {
        Some(operator) => people::unionid(&operator),
        None => Err(Error::invalid_input(format!(
            "to-do {id} was not created through this connection: set operator_user_id to the DingTalk user \
             whose to-dos it may reach"
        ))),
    }
}

fn remember_owner(id: &str, owner: &str) {
    json_kv::keep(&owner_key(id), &owner, Some(KEEP_S));
}

/// DingTalk answers an unknown to-do with its generic 400 `paramError` and the message "task not exist".
fn missing_is_not_found(e: Error) -> Error {
    let missing = e
        .platform_message
        .as_deref()
        .is_some_and(|m| m.contains("not exist"));
    if missing && e.kind != qiao_sdk::ErrorKind::NotFound {
        Error {
            kind: qiao_sdk::ErrorKind::NotFound,
            message: "no such DingTalk to-do".into(),
            ..e
        }
    } else {
        e
    }
}

/// `GET .../tasks/{id}`: the to-do in full.
pub fn fetch(owner: &str, id: &str) -> Result<Value, Error> {
    api(Method::Get, &task_path(owner, id), None).map_err(missing_is_not_found)
}

fn ids(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|l| l.iter().filter_map(id_text).collect())
        .unwrap_or_default()
}

/// What the webhook compares an update event with: the fields DingTalk's events do not name.
pub fn snapshot(todo: &Value) -> Value {
    json!({
        "done": todo["done"].as_bool().unwrap_or(false),
        "subject": todo["subject"], "description": todo["description"], "dueTime": todo["dueTime"],
        "executorIds": todo["executorIds"], "participantIds": todo["participantIds"],
    })
}

/// A to-do as the contract's task, its people as userids; its state is kept for the webhook's comparison.
pub fn to_task(todo: &Value) -> Result<Task, Error> {
    let id = string(&todo["id"], "to-do id")?;
    // Only the first sight is kept here; from then on the webhook keeps it, so a change made through Qiao still
    // shows as a change when DingTalk's event for it arrives.
    if json_kv::get::<Value>(&seen_key(&id)).is_none() {
        let _ = json_kv::set(&seen_key(&id), &snapshot(todo), Some(KEEP_S));
    }
    let done = todo["done"].as_bool().unwrap_or(false);
    let url = todo["detailUrl"]["pcUrl"]
        .as_str()
        .or_else(|| todo["detailUrl"]["appUrl"].as_str())
        .filter(|u| !u.is_empty())
        .map(String::from);
    let mut extra = Map::new();
    for (key, field) in [
        ("priority", "priority"),
        ("source_id", "sourceId"),
        ("finish_ms", "finishTime"),
        ("biz_tag", "bizTag"),
        ("is_only_show_executor", "isOnlyShowExecutor"),
    ] {
        if !todo[field].is_null() {
            extra.insert(key.into(), todo[field].clone());
        }
    }
    if let Some(creator) = id_text(&todo["creatorId"]) {
        extra.insert("creator".into(), json!(people::userid(&creator)?));
    }
    Ok(Task {
        id,
        title: todo["subject"].as_str().unwrap_or_default().to_string(),
        description: todo["description"]
            .as_str()
            .filter(|d| !d.is_empty())
            .map(String::from),
        status: Status {
            category: if done {
                StatusCategory::Done
            } else {
                StatusCategory::Open
            },
            name: None,
        },
        assignees: people::userids(&ids(&todo["executorIds"]))?,
        followers: people::userids(&ids(&todo["participantIds"]))?,
        due_ms: todo["dueTime"].as_u64(),
        labels: vec![],
        url,
        created_ms: todo["createdTime"].as_u64(),
        updated_ms: todo["modifiedTime"].as_u64(),
        extra: (!extra.is_empty()).then(|| Value::Object(extra).to_string()),
    })
}

fn check_text(text: &str, field: &str, max: usize) -> Result<(), Error> {
    if text.chars().count() > max {
        return Err(Error::invalid_input(format!(
            "{field} is longer than DingTalk's {max} characters"
        )));
    }
    Ok(())
}

fn check_people(ids: &[String], field: &str) -> Result<(), Error> {
    if ids.len() > MAX_PEOPLE {
        return Err(Error::invalid_input(format!(
            "{field}: DingTalk takes at most {MAX_PEOPLE} people on a to-do"
        )));
    }
    Ok(())
}

fn no_labels(labels: &[String]) -> Result<(), Error> {
    if labels.is_empty() {
        Ok(())
    } else {
        Err(Error::unsupported("DingTalk to-dos have no labels"))
    }
}

/// DingTalk requires a detail page link on every to-do an app creates (since 2024-02-01): the caller's
/// `extra.detail_url` (or `app_url` / `pc_url`), else the `todo_detail_link` setting.
fn detail_url(extra: &Map<String, Value>) -> Result<Value, Error> {
    let text = |key: &str| extra.get(key).and_then(Value::as_str).map(String::from);
    let default = text("detail_url").or_else(|| config::get("todo_detail_link"));
    let (app, pc) = (
        text("app_url").or_else(|| default.clone()),
        text("pc_url").or(default),
    );
    match (app.filter(|u| !u.is_empty()), pc.filter(|u| !u.is_empty())) {
        (Some(app), Some(pc)) => Ok(json!({ "appUrl": app, "pcUrl": pc })),
        _ => Err(Error::invalid_input(
            "DingTalk requires a detail page link on to-dos an app creates: set the todo_detail_link setting \
             or give extra.detail_url",
        )),
    }
}

fn creation_body(task: &NewTask, owner: &str, source_id: Option<&str>) -> Result<Value, Error> {
    let extra = json_object(task.extra.as_deref(), "extra")?;
    if let Some(unknown) = extra.keys().find(|k| !EXTRA_KEYS.contains(&k.as_str())) {
        return Err(Error::invalid_input(format!(
            "extra.{unknown} is not a DingTalk to-do field this connector sets; it takes {}",
            EXTRA_KEYS.join(", ")
        )));
    }
    let mut body = json!({
        "subject": task.title,
        "creatorId": owner,
        "detailUrl": detail_url(&extra)?,
        "executorIds": people::unionids(&task.assignees)?,
        "participantIds": people::unionids(&task.followers)?,
    });
    if let Some(description) = &task.description {
        body["description"] = json!(description);
    }
    if let Some(due) = task.due_ms {
        body["dueTime"] = json!(due);
    }
    if let Some(source_id) = source_id {
        body["sourceId"] = json!(source_id);
    }
    match extra.get("priority") {
        None => {}
        Some(p) if [10, 20, 30, 40].contains(&p.as_i64().unwrap_or(0)) => {
            body["priority"] = p.clone()
        }
        Some(p) => {
            return Err(Error::invalid_input(format!(
                "extra.priority must be 10 (low), 20 (normal), 30 (high) or 40 (urgent), got {p}"
            )));
        }
    }
    if let Some(only) = extra.get("is_only_show_executor") {
        body["isOnlyShowExecutor"] = json!(only.as_bool().unwrap_or(false));
    }
    Ok(body)
}

/// The to-do an earlier attempt with this idempotency key created, if DingTalk has it.
fn earlier(key: &str) -> Option<Task> {
    let id = json_kv::get::<String>(&idem_key(key))?;
    let owner = owner_of(&id).ok()?;
    fetch(&owner, &id).ok().and_then(|todo| to_task(&todo).ok())
}

/// Changes a to-do as its creator, then reads it back (the update answers only `{"result": true}`).
fn put(id: &str, body: &Value) -> Result<Task, Error> {
    let owner = owner_of(id)?;
    if body.as_object().is_some_and(|b| !b.is_empty()) {
        let path = format!("{}?operatorId={}", task_path(&owner, id), urlencode(&owner));
        api(Method::Put, &path, Some(body)).map_err(missing_is_not_found)?;
    }
    to_task(&fetch(&owner, id)?)
}

/// Done or not done, changed only when it differs: the outbox may retry a completion.
fn set_done(id: &str, done: bool) -> Result<Task, Error> {
    let owner = owner_of(id)?;
    let todo = fetch(&owner, id)?;
    if todo["done"].as_bool().unwrap_or(false) == done {
        return to_task(&todo);
    }
    put(id, &json!({ "done": done }))
}

/// A list cursor: DingTalk's `nextToken` for the page, and how many of that page were already answered.
fn parse_cursor(cursor: Option<&str>) -> Result<(String, usize), Error> {
    let Some(cursor) = cursor.filter(|c| !c.is_empty()) else {
        return Ok((String::new(), 0));
    };
    let (token, skip) = cursor
        .rsplit_once('|')
        .ok_or_else(|| Error::invalid_input("bad cursor"))?;
    let skip = skip
        .parse()
        .map_err(|_| Error::invalid_input("bad cursor"))?;
    Ok((token.to_string(), skip))
}

impl Guest for DingTalk {
    fn create(task: NewTask, idempotency_key: Option<String>) -> Result<Task, Error> {
        required(&task.title, "title")?;
        check_text(&task.title, "title", MAX_SUBJECT)?;
        check_text(
            task.description.as_deref().unwrap_or_default(),
            "description",
            MAX_DESCRIPTION,
        )?;
        check_people(&task.assignees, "assignees")?;
        check_people(&task.followers, "followers")?;
        no_labels(&task.labels)?;
        let key = idempotency_key.as_deref().filter(|k| !k.is_empty());
        if let Some(done) = key.and_then(earlier) {
            return Ok(done);
        }
        let creator = task
            .creator
            .clone()
            .or_else(people::operator)
            .ok_or_else(|| {
                Error::invalid_input(
                    "DingTalk records who creates a to-do: give creator or set operator_user_id",
                )
            })?;
        let owner = people::unionid(&creator)?;
        let body = creation_body(&task, &owner, key)?;
        let path = format!("{}?operatorId={}", tasks_path(&owner), urlencode(&owner));
        let todo = match api(Method::Post, &path, Some(&body)) {
            Ok(todo) => todo,
            // An earlier attempt created it but its answer was lost: DingTalk refuses a second to-do with the
            // same sourceId ("task existed"), and finds the first by it.
            Err(e)
                if key.is_some()
                    && e.platform_message
                        .as_deref()
                        .is_some_and(|m| m.contains("task exist")) =>
            {
                let source = format!(
                    "{}/sources/{}",
                    tasks_path(&owner),
                    urlencode(key.unwrap_or_default())
                );
                api(Method::Get, &source, None)?
            }
            Err(e) => return Err(e),
        };
        let id = string(&todo["id"], "id")?;
        // The to-do exists now: what is remembered of it must not fail its creation (a retry would make another).
        remember_owner(&id, &owner);
        if let Some(key) = key {
            json_kv::keep(&idem_key(key), &id, Some(KEEP_S));
        }
        to_task(&todo)
    }

    fn get(id: String) -> Result<Task, Error> {
        required(&id, "id")?;
        to_task(&fetch(&owner_of(&id)?, &id)?)
    }

    fn update(id: String, changes: TaskChanges) -> Result<Task, Error> {
        required(&id, "id")?;
        let mut body = Map::new();
        if let Some(title) = &changes.title {
            required(title, "title")?;
            check_text(title, "title", MAX_SUBJECT)?;
            body.insert("subject".into(), json!(title));
        }
        match &changes.description {
            TextChange::Keep => {}
            // DingTalk keeps a field left out of an update: an empty description is how one is removed.
            TextChange::Clear => {
                body.insert("description".into(), json!(""));
            }
            TextChange::Set(text) => {
                check_text(text, "description", MAX_DESCRIPTION)?;
                body.insert("description".into(), json!(text));
            }
        }
        match changes.due_ms {
            TimeChange::Keep => {}
            TimeChange::Clear => {
                return Err(Error::unsupported(
                    "DingTalk cannot remove a to-do's due time once set; set another one",
                ));
            }
            TimeChange::Set(ms) => {
                body.insert("dueTime".into(), json!(ms));
            }
        }
        if let Some(assignees) = &changes.assignees {
            check_people(assignees, "assignees")?;
            body.insert("executorIds".into(), json!(people::unionids(assignees)?));
        }
        if let Some(followers) = &changes.followers {
            check_people(followers, "followers")?;
            body.insert("participantIds".into(), json!(people::unionids(followers)?));
        }
        no_labels(changes.labels.as_deref().unwrap_or_default())?;
        if let Some(key) = json_object(changes.extra.as_deref(), "extra")?
            .keys()
            .next()
        {
            return Err(Error::unsupported(format!(
                "DingTalk's to-do update cannot change extra.{key}; only title, description, due time and people"
            )));
        }
        put(&id, &Value::Object(body))
    }

    /// DingTalk has done and not done: `done` completes, `open` and `in-progress` reopen.
    fn move_to(id: String, target: Target) -> Result<Task, Error> {
        match target {
            Target::Status(StatusCategory::Done) => set_done(&id, true),
            Target::Status(_) => set_done(&id, false),
            Target::Transition(name) => Err(Error::unsupported(format!(
                "DingTalk to-dos have no workflow transitions (asked for {name:?}); move to a status instead"
            ))),
        }
    }

    fn complete(id: String) -> Result<Task, Error> {
        set_done(&id, true)
    }

    fn reopen(id: String) -> Result<Task, Error> {
        set_done(&id, false)
    }

    fn comment(_id: String, _text: String, _author: Option<String>) -> Result<TaskComment, Error> {
        Err(Error::unsupported(
            "DingTalk's to-do API has no comments: people comment in the DingTalk app, and no API adds or \
             reads them",
        ))
    }

    /// One user's to-dos (`org/tasks/query`): the assignee's as executor, else the operator's in every role.
    /// DingTalk has no in-progress, so asking for it finds nothing; `updated-after-ms` and `text` (matched
    /// against the title) are applied here, so a page may be short or empty while the cursor goes on.
    fn list(query: TaskQuery) -> Result<TaskPage, Error> {
        if query.platform_query.is_some() {
            return Err(Error::invalid_input(
                "DingTalk has no query language for to-dos: use assignee, status, updated_after_ms and text",
            ));
        }
        let empty = TaskPage {
            tasks: vec![],
            next_cursor: None,
        };
        let done = match query.status {
            Some(StatusCategory::InProgress) => return Ok(empty),
            Some(StatusCategory::Done) => Some(true),
            Some(StatusCategory::Open) => Some(false),
            None => None,
        };
        let (user, roles) = match &query.assignee {
            Some(assignee) => (assignee.clone(), json!([["executor"]])),
            None => (
                people::operator().ok_or_else(|| {
                    Error::invalid_input(
                        "DingTalk lists to-dos per user: give assignee or set operator_user_id",
                    )
                })?,
                json!([["creator"], ["executor"], ["participant"]]),
            ),
        };
        let owner = people::unionid(&user)?;
        let (token, skip) = parse_cursor(query.cursor.as_deref())?;
        let mut body = json!({ "roleTypes": roles });
        if !token.is_empty() {
            body["nextToken"] = json!(token);
        }
        if let Some(done) = done {
            body["isDone"] = json!(done);
        }
        let path = format!("/v1.0/todo/users/{}/org/tasks/query", urlencode(&owner));
        let page = api(Method::Post, &path, Some(&body))?;
        let cards = page["todoCards"].as_array().cloned().unwrap_or_default();
        let limit = query.limit.clamp(1, MAX_PAGE) as usize;
        let text = query.text.as_deref().map(str::to_lowercase);
        let mut tasks = Vec::new();
        let mut at = skip.min(cards.len());
        while at < cards.len() && tasks.len() < limit {
            let card = &cards[at];
            at += 1;
            let fresh = query
                .updated_after_ms
                .is_none_or(|ms| card["modifiedTime"].as_u64().is_some_and(|m| m > ms));
            let matches = text.as_deref().is_none_or(|t| {
                card["subject"]
                    .as_str()
                    .is_some_and(|s| s.to_lowercase().contains(t))
            });
            if !(fresh && matches) {
                continue;
            }
            let id = string(&card["taskId"], "todoCards[].taskId")?;
            let creator = id_text(&card["creatorId"]).unwrap_or_else(|| owner.clone());
            let todo = api_paced(Method::Get, &task_path(&creator, &id), None)?;
            remember_owner(&id, &creator);
            tasks.push(to_task(&todo)?);
        }
        let next_cursor = if at < cards.len() {
            Some(format!("{token}|{at}"))
        } else {
            id_text(&page["nextToken"]).map(|next| format!("{next}|0"))
        };
        Ok(TaskPage { tasks, next_cursor })
    }
}
