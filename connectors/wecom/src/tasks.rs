//! Tasks are WeCom to-dos (待办), as far as WeCom's server API reaches (NEXT.md §4.4): `todo/get` reads one
//! (developer.work.weixin.qq.com/document/path/101524) and `todo/update` sets its status or its attendees
//! (path/101534), for to-dos this app created, with the root department in its visible range.
//!
//! WeCom documents no server call that creates, lists or comments on to-dos: they are created in the WeCom client,
//! by the app's page calling the JS-SDK's `ww.createTodo` (path/101530). Those operations, and changes to a
//! to-do's text or deadline (which `todo/update` does not take), answer `unsupported` with that reason.
//!
//! A to-do has one text (`content`): it is the task's title. WeCom's statuses are 0 done and 1 in progress
//! ("进行中", i.e. not done), so a task is `done` or `open`.

use qiao_sdk::{Error, required};
use serde_json::{Value, json};

use crate::WeCom;
use crate::client::{post, userids};
use crate::exports::qiao::connector::tasks::{
    Guest, NewTask, Status, StatusCategory, Target, Task, TaskChanges, TaskComment, TaskPage,
    TaskQuery, TextChange, TimeChange,
};

const DONE: i64 = 0;
const IN_PROGRESS: i64 = 1;
/// `todo/update` takes at most 20 attendees.
const MAX_ATTENDEES: usize = 20;
/// WeCom's to-do ids are 32 hexadecimal characters; anything far longer is not one.
const MAX_ID_CHARS: usize = 128;

const NO_CREATE: &str = "WeCom has no server API to create a to-do: to-dos are created in the WeCom client (the \
                         app's page calling the JS-SDK's ww.createTodo); this connector reads, completes and \
                         reopens to-dos the app created, and changes their attendees";

fn todo_id(id: &str) -> Result<&str, Error> {
    let id = id.trim();
    required(id, "task id")?;
    if id.len() > MAX_ID_CHARS || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(Error::invalid_input(format!(
            "{:?} is not a WeCom to-do id",
            id.chars().take(40).collect::<String>()
        )));
    }
    Ok(id)
}

/// WeCom's seconds as milliseconds; 0 or none is no time.
fn ms(value: &Value) -> Option<u64> {
    value.as_u64().filter(|s| *s > 0).map(|s| s * 1000)
}

fn task(id: &str, todo: &Value) -> Task {
    let attendees: Vec<&Value> = todo["attendees"].as_array().into_iter().flatten().collect();
    let userid = |a: &Value| a["userid"].as_str().unwrap_or_default().to_string();
    let category = if todo["status"].as_i64() == Some(DONE) {
        StatusCategory::Done
    } else {
        StatusCategory::Open
    };
    let extra = json!({
        "creator": todo["creator"],
        "attendees": attendees
            .iter()
            .map(|a| json!({ "userid": userid(a), "done": a["status"].as_i64() == Some(DONE) }))
            .collect::<Vec<_>>(),
        "remind_ms": todo["reminders"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|r| ms(&r["remind_time"]))
            .collect::<Vec<_>>(),
    });
    Task {
        id: id.to_string(),
        title: todo["content"].as_str().unwrap_or_default().to_string(),
        description: None,
        status: Status {
            category,
            name: None,
        },
        assignees: attendees.iter().map(|a| userid(a)).collect(),
        followers: Vec::new(),
        due_ms: ms(&todo["end_time"]),
        labels: Vec::new(),
        url: None,
        created_ms: ms(&todo["create_time"]),
        updated_ms: None,
        extra: Some(extra.to_string()),
    }
}

fn fetch(id: &str) -> Result<Value, Error> {
    post("todo/get", &json!({ "todo_id": id }))
}

/// `todo/update` with `fields`, then the to-do as WeCom has it afterwards.
fn update(id: &str, fields: Value) -> Result<Task, Error> {
    let mut body = json!({ "todo_id": id });
    body.as_object_mut()
        .expect("an object")
        .extend(fields.as_object().cloned().unwrap_or_default());
    post("todo/update", &body)?;
    Ok(task(id, &fetch(id)?))
}

/// The fields a change names that `todo/update` cannot take (lists given empty ask for nothing WeCom has).
fn untakeable(changes: &TaskChanges) -> Vec<&'static str> {
    let mut fields = Vec::new();
    if changes.title.is_some() {
        fields.push("title");
    }
    if !matches!(changes.description, TextChange::Keep) {
        fields.push("description");
    }
    if !matches!(changes.due_ms, TimeChange::Keep) {
        fields.push("due_ms");
    }
    if changes.followers.as_ref().is_some_and(|f| !f.is_empty()) {
        fields.push("followers");
    }
    if changes.labels.as_ref().is_some_and(|l| !l.is_empty()) {
        fields.push("labels");
    }
    if changes.extra.is_some() {
        fields.push("extra");
    }
    fields
}

impl Guest for WeCom {
    fn create(_task: NewTask, _idempotency_key: Option<String>) -> Result<Task, Error> {
        Err(Error::unsupported(NO_CREATE))
    }

    fn get(id: String) -> Result<Task, Error> {
        let id = todo_id(&id)?;
        Ok(task(id, &fetch(id)?))
    }

    /// Only the attendees can change (`assignees`, the whole list): each keeps their own done/not-done, a new
    /// one starts not done. Anything else named is refused before anything changes.
    fn update(id: String, changes: TaskChanges) -> Result<Task, Error> {
        let id = todo_id(&id)?;
        let refused = untakeable(&changes);
        if !refused.is_empty() {
            return Err(Error::unsupported(format!(
                "WeCom's todo/update changes only a to-do's status and attendees (assignees), not its {}; \
                 nothing was changed",
                refused.join(", ")
            )));
        }
        let Some(assignees) = changes.assignees else {
            return Ok(task(id, &fetch(id)?));
        };
        let wanted = userids(assignees, "assignees")?;
        if wanted.len() > MAX_ATTENDEES {
            return Err(Error::invalid_input(format!(
                "a WeCom to-do has at most {MAX_ATTENDEES} attendees, got {}",
                wanted.len()
            )));
        }
        let current = fetch(id)?;
        let status_of = |userid: &str| {
            current["attendees"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|a| a["userid"] == userid)
                .and_then(|a| a["status"].as_i64())
                .unwrap_or(IN_PROGRESS)
        };
        let attendees: Vec<Value> = wanted
            .iter()
            .map(|u| json!({ "userid": u, "status": status_of(u) }))
            .collect();
        update(id, json!({ "attendees": attendees }))
    }

    fn move_to(id: String, target: Target) -> Result<Task, Error> {
        let id = todo_id(&id)?;
        match target {
            Target::Status(StatusCategory::Done) => update(id, json!({ "status": DONE })),
            Target::Status(StatusCategory::Open | StatusCategory::InProgress) => {
                update(id, json!({ "status": IN_PROGRESS }))
            }
            Target::Transition(_) => Err(Error::unsupported(
                "WeCom to-dos have no workflow transitions, only done and not done: move to a status",
            )),
        }
    }

    fn complete(id: String) -> Result<Task, Error> {
        update(todo_id(&id)?, json!({ "status": DONE }))
    }

    fn reopen(id: String) -> Result<Task, Error> {
        update(todo_id(&id)?, json!({ "status": IN_PROGRESS }))
    }

    fn comment(_id: String, _text: String, _author: Option<String>) -> Result<TaskComment, Error> {
        Err(Error::unsupported("WeCom's to-do API has no comments"))
    }

    fn list(_query: TaskQuery) -> Result<TaskPage, Error> {
        Err(Error::unsupported(
            "WeCom documents no server API that lists to-dos: read each by its id",
        ))
    }
}
