//! Tasks as Feishu Task v2 (`task/v2`), with the app's tenant token:
//! - create: `POST task/v2/tasks {summary, description, due, members, client_token}`; the idempotency key becomes
//!   the `client_token` (Feishu keeps it 5 minutes; Qiao's outbox de-duplicates beyond that).
//! - change: `PATCH task/v2/tasks/:guid {task, update_fields}` (a field named in `update_fields` but absent from
//!   `task` is cleared); members are not patchable, so assignees and followers go through `add_members` /
//!   `remove_members` (members already there, or not there, are ignored by Feishu).
//! - status: Task v2 knows done and not done only. Complete sets `completed_at` to now, reopen sets it to "0";
//!   a move to done or open is the same, a move to in-progress or through a transition is `unsupported`.
//! - comments: `POST task/v2/comments {content, resource_type: "task", resource_id}`.
//! - list: `GET task/v2/tasks?type=my_tasks` (the tasks of the calling identity, here the app), filtered here by
//!   assignee, text and update time; paged with Feishu's `page_token`.
//!
//! Feishu sends task events (`task.task.update_user_access_v2`) only after the app subscribes with
//! `POST task/v2/task_v2/task_subscription`; the first create does that once (remembered in kv).
//! Errors: 1470400 bad input, 1470403 no permission on the task, 1470404 no such task, 1470422 the same
//! client_token in flight, 1470500 server (see errors.rs).

use qiao_sdk::http::Method;
use qiao_sdk::text::hex;
use qiao_sdk::{Error, crypto, json_kv, json_object, logging, required};
use serde_json::{Map, Value, json};

use crate::Feishu;
use crate::client::{call, enc, get, millis, now_ms, post, string, user_id_query};
use crate::exports::qiao::connector::tasks::{
    Guest, NewTask, Status, StatusCategory, Target, Task, TaskChanges, TaskComment, TaskPage,
    TaskQuery, TextChange, TimeChange,
};

/// Feishu's limits: title, description and comment text in UTF-8 characters; members per create.
const MAX_TEXT: usize = 3000;
const MAX_MEMBERS: usize = 50;
/// `page_size` of `GET task/v2/tasks` is 1 to 100.
const MAX_PAGE: u32 = 100;
/// Task fields the PATCH takes besides the contract's own (title, description, due): what `extra` may change.
/// Completion is left to complete / reopen, which check the state first.
const PATCHABLE: [&str; 7] = [
    "start",
    "extra",
    "repeat_rule",
    "custom_complete",
    "mode",
    "is_milestone",
    "custom_fields",
];
const SUBSCRIBED_KEY: &str = "task-subscription";

/// Done when `completed_at` is set (Feishu also says `status: "done"`).
pub fn is_done(task: &Value) -> bool {
    millis(&task["completed_at"]).is_some() || task["status"] == "done"
}

/// `client_token` must be 10 to 100 characters: a digest of the key always is, whatever the key.
fn client_token(key: &str) -> String {
    format!(
        "qiao-{}",
        &hex(&crypto::sha256(format!("task\n{key}").as_bytes()))[..40]
    )
}

fn bounded(text: &str, what: &str) -> Result<(), Error> {
    if text.chars().count() > MAX_TEXT {
        return Err(Error::invalid_input(format!(
            "{what} is longer than Feishu's {MAX_TEXT} characters"
        )));
    }
    Ok(())
}

fn no_labels(labels: &[String]) -> Result<(), Error> {
    if labels.is_empty() {
        Ok(())
    } else {
        Err(Error::unsupported(
            "Feishu tasks have no labels: leave labels empty (tasklists and custom fields go in extra)",
        ))
    }
}

/// The user members of `task` with this role, in the configured id type.
fn members(task: &Value, role: &str) -> Vec<String> {
    task["members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|m| m["role"] == role && m["type"].as_str().is_none_or(|t| t == "user"))
        .filter_map(|m| m["id"].as_str().map(String::from))
        .collect()
}

fn member_list(assignees: &[String], followers: &[String]) -> Vec<Value> {
    let member = |id: &String, role: &str| json!({ "id": id, "type": "user", "role": role });
    assignees
        .iter()
        .map(|id| member(id, "assignee"))
        .chain(followers.iter().map(|id| member(id, "follower")))
        .collect()
}

fn due(ms: u64) -> Value {
    json!({ "timestamp": ms.to_string(), "is_all_day": false })
}

/// Feishu's task as the contract's.
pub fn from_feishu(task: &Value) -> Result<Task, Error> {
    let done = is_done(task);
    let extra = json!({
        "task_id": task["task_id"],
        "creator": task["creator"]["id"],
        "completed_at": task["completed_at"],
        "mode": task["mode"],
        "is_milestone": task["is_milestone"],
        "start": task["start"],
        "tasklists": task["tasklists"],
        "extra": task["extra"],
    });
    Ok(Task {
        id: string(&task["guid"], "task guid")?,
        title: task["summary"].as_str().unwrap_or_default().into(),
        description: task["description"]
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
        assignees: members(task, "assignee"),
        followers: members(task, "follower"),
        due_ms: millis(&task["due"]["timestamp"]),
        labels: Vec::new(),
        url: task["url"]
            .as_str()
            .filter(|u| !u.is_empty())
            .map(String::from),
        created_ms: millis(&task["created_at"]),
        updated_ms: millis(&task["updated_at"]),
        extra: Some(extra.to_string()),
    })
}

/// The raw Feishu task (also read by the webhook to describe an event).
pub fn fetch(guid: &str) -> Result<Value, Error> {
    required(guid, "task id")?;
    Ok(get(&format!("task/v2/tasks/{}?{}", enc(guid), user_id_query()))?["task"].clone())
}

/// Asks Feishu for the app's task events once; a failure (a missing scope, say) is logged and retried with the
/// next create, since the task itself can still be made.
fn ensure_subscribed() {
    if json_kv::get::<bool>(SUBSCRIBED_KEY).is_some() {
        return;
    }
    match post(
        &format!("task/v2/task_v2/task_subscription?{}", user_id_query()),
        &json!({}),
    ) {
        Ok(_) => {
            logging::info(
                "subscribed to Feishu task events (task.task.update_user_access_v2), so task changes arrive at \
                 the webhook",
                &[],
            );
            json_kv::set(SUBSCRIBED_KEY, &true, None).ok();
        }
        Err(e) => logging::warn(
            "could not subscribe to Feishu task events; task changes made in Feishu will not arrive as events \
             until it works",
            &[("error", &e.message)],
        ),
    }
}

fn patch(guid: &str, task: Value, fields: Vec<&str>) -> Result<Value, Error> {
    let body = json!({ "task": task, "update_fields": fields });
    Ok(call(
        Method::Patch,
        &format!("task/v2/tasks/{}?{}", enc(guid), user_id_query()),
        Some(&body),
    )?["task"]
        .clone())
}

fn set_completed(guid: &str, completed_at: u64) -> Result<Task, Error> {
    let task = patch(
        guid,
        json!({ "completed_at": completed_at.to_string() }),
        vec!["completed_at"],
    )?;
    from_feishu(&task)
}

/// Makes the role's members exactly `wanted`: adds the missing, removes the rest (one call each way).
fn set_members(guid: &str, current: &Value, role: &str, wanted: &[String]) -> Result<bool, Error> {
    let have = members(current, role);
    let add: Vec<Value> = wanted
        .iter()
        .filter(|id| !have.contains(id))
        .map(|id| json!({ "id": id, "type": "user", "role": role }))
        .collect();
    let remove: Vec<Value> = have
        .iter()
        .filter(|id| !wanted.contains(id))
        .map(|id| json!({ "id": id, "type": "user", "role": role }))
        .collect();
    for (action, list) in [("add_members", &add), ("remove_members", &remove)] {
        if !list.is_empty() {
            post(
                &format!("task/v2/tasks/{}/{action}?{}", enc(guid), user_id_query()),
                &json!({ "members": list }),
            )?;
        }
    }
    Ok(!add.is_empty() || !remove.is_empty())
}

fn matches(task: &Task, query: &TaskQuery) -> bool {
    let text = |t: &str| {
        let t = t.to_lowercase();
        task.title.to_lowercase().contains(&t)
            || task
                .description
                .as_ref()
                .is_some_and(|d| d.to_lowercase().contains(&t))
    };
    query
        .assignee
        .as_ref()
        .is_none_or(|a| task.assignees.contains(a))
        && query
            .updated_after_ms
            .is_none_or(|ms| task.updated_ms.is_some_and(|u| u > ms))
        && query.text.as_deref().is_none_or(text)
}

impl Guest for Feishu {
    /// `extra` holds Feishu's own create fields (`tasklists`, `start`, `origin`, `repeat_rule`, `mode`...),
    /// passed as they are. `creator` is not sent: with the app's token Feishu records the app as the creator.
    fn create(task: NewTask, idempotency_key: Option<String>) -> Result<Task, Error> {
        required(&task.title, "title")?;
        bounded(&task.title, "title")?;
        if let Some(description) = &task.description {
            bounded(description, "description")?;
        }
        no_labels(&task.labels)?;
        if task.assignees.len() + task.followers.len() > MAX_MEMBERS {
            return Err(Error::invalid_input(format!(
                "Feishu takes at most {MAX_MEMBERS} members (assignees and followers) when creating a task"
            )));
        }
        let mut body = Value::Object(json_object(task.extra.as_deref(), "extra")?);
        body["summary"] = json!(task.title);
        if let Some(description) = &task.description {
            body["description"] = json!(description);
        }
        if let Some(ms) = task.due_ms {
            body["due"] = due(ms);
        }
        let members = member_list(&task.assignees, &task.followers);
        if !members.is_empty() {
            body["members"] = json!(members);
        }
        if let Some(key) = &idempotency_key {
            body["client_token"] = json!(client_token(key));
        }
        ensure_subscribed();
        let data = post(&format!("task/v2/tasks?{}", user_id_query()), &body)?;
        from_feishu(&data["task"])
    }

    fn get(id: String) -> Result<Task, Error> {
        from_feishu(&fetch(&id)?)
    }

    /// One PATCH for the fields, then the member calls; answers the task as Feishu has it afterwards.
    fn update(id: String, changes: TaskChanges) -> Result<Task, Error> {
        required(&id, "task id")?;
        if let Some(labels) = &changes.labels {
            no_labels(labels)?;
        }
        let mut task = Map::new();
        let mut fields: Vec<String> = Vec::new();
        if let Some(title) = &changes.title {
            required(title, "title (Feishu cannot clear a task's title)")?;
            bounded(title, "title")?;
            task.insert("summary".into(), json!(title));
            fields.push("summary".into());
        }
        match &changes.description {
            TextChange::Keep => {}
            TextChange::Clear => fields.push("description".into()),
            TextChange::Set(text) => {
                bounded(text, "description")?;
                task.insert("description".into(), json!(text));
                fields.push("description".into());
            }
        }
        match changes.due_ms {
            TimeChange::Keep => {}
            TimeChange::Clear => fields.push("due".into()),
            TimeChange::Set(ms) => {
                task.insert("due".into(), due(ms));
                fields.push("due".into());
            }
        }
        for (key, value) in json_object(changes.extra.as_deref(), "extra")? {
            if !PATCHABLE.contains(&key.as_str()) {
                return Err(Error::invalid_input(format!(
                    "extra.{key}: Feishu's task PATCH changes only {}",
                    PATCHABLE.join(", ")
                )));
            }
            // A null names the field without a value: Feishu clears it.
            if !value.is_null() {
                task.insert(key.clone(), value);
            }
            fields.push(key);
        }
        let mut current = if fields.is_empty() {
            fetch(&id)?
        } else {
            patch(
                &id,
                Value::Object(task),
                fields.iter().map(String::as_str).collect(),
            )?
        };
        let mut members_changed = false;
        if let Some(assignees) = &changes.assignees {
            members_changed |= set_members(&id, &current, "assignee", assignees)?;
        }
        if let Some(followers) = &changes.followers {
            members_changed |= set_members(&id, &current, "follower", followers)?;
        }
        if members_changed {
            current = fetch(&id)?;
        }
        from_feishu(&current)
    }

    fn move_to(id: String, target: Target) -> Result<Task, Error> {
        match target {
            Target::Status(StatusCategory::Done) => Self::complete(id),
            Target::Status(StatusCategory::Open) => Self::reopen(id),
            Target::Status(StatusCategory::InProgress) => Err(Error::unsupported(
                "Feishu tasks are either open or done (Task v2 has no in-progress state): move to open or done",
            )),
            Target::Transition(name) => Err(Error::unsupported(format!(
                "Feishu tasks have no workflow transitions (asked for {name:?}): move to status open or done"
            ))),
        }
    }

    /// Feishu refuses to complete a done task, so a done one is answered as it is (the outbox may retry).
    fn complete(id: String) -> Result<Task, Error> {
        let task = fetch(&id)?;
        if is_done(&task) {
            return from_feishu(&task);
        }
        set_completed(&id, now_ms())
    }

    fn reopen(id: String) -> Result<Task, Error> {
        let task = fetch(&id)?;
        if !is_done(&task) {
            return from_feishu(&task);
        }
        set_completed(&id, 0)
    }

    /// Feishu records the caller (the app) as a comment's author and has no field for another, so an `author`
    /// is refused rather than silently dropped.
    fn comment(id: String, text: String, author: Option<String>) -> Result<TaskComment, Error> {
        required(&id, "task id")?;
        required(&text, "text")?;
        bounded(&text, "text")?;
        if author.is_some() {
            return Err(Error::unsupported(
                "Feishu records the app as the author of comments made through its API: leave author out",
            ));
        }
        let body = json!({ "content": text, "resource_type": "task", "resource_id": id });
        let data = post(&format!("task/v2/comments?{}", user_id_query()), &body)?;
        let comment = &data["comment"];
        Ok(TaskComment {
            id: string(&comment["id"], "comment id")?,
            author: comment["creator"]["id"].as_str().map(String::from),
            text: comment["content"].as_str().unwrap_or(&text).to_string(),
            time_ms: millis(&comment["created_at"]),
        })
    }

    /// A page of Feishu's list, filtered here: a page may hold fewer tasks than asked (even none) while
    /// `next-cursor` is set. In-progress matches nothing, as no Feishu task is in progress.
    fn list(query: TaskQuery) -> Result<TaskPage, Error> {
        if query
            .platform_query
            .as_deref()
            .is_some_and(|q| !q.trim().is_empty())
        {
            return Err(Error::invalid_input(
                "Feishu has no task query language: use the query's fields (assignee, status, text...)",
            ));
        }
        let completed = match query.status {
            None => String::new(),
            Some(StatusCategory::Done) => "&completed=true".into(),
            Some(StatusCategory::Open) => "&completed=false".into(),
            Some(StatusCategory::InProgress) => {
                return Ok(TaskPage {
                    tasks: Vec::new(),
                    next_cursor: None,
                });
            }
        };
        let size = query.limit.clamp(1, MAX_PAGE);
        let data = get(&format!(
            "task/v2/tasks?type=my_tasks&page_size={size}&page_token={}{completed}&{}",
            enc(query.cursor.as_deref().unwrap_or_default()),
            user_id_query()
        ))?;
        let mut tasks = Vec::new();
        for item in data["items"].as_array().into_iter().flatten() {
            let task = from_feishu(item)?;
            if matches(&task, &query) {
                tasks.push(task);
            }
        }
        let next_cursor = data["page_token"]
            .as_str()
            .filter(|t| !t.is_empty() && data["has_more"] == true)
            .map(String::from);
        Ok(TaskPage { tasks, next_cursor })
    }
}
