//! DingTalk's to-do events (`todo_task_create`, `todo_task_update`, `todo_task_delete`) as Qiao's task events.
//! DingTalk names only the to-do and the people concerned (`UnionIdList`), not what changed: an update is
//! compared with the state last seen (kv `todo-seen:{id}`, see `tasks.rs`), re-read from DingTalk, so a completion
//! or a reopening becomes `task.status_changed` and anything else `task.updated` naming the fields. When the
//! to-do cannot be read in time, the event still goes out, with what is known.

use qiao_sdk::json_kv;
use qiao_sdk::types::Event;
use serde_json::{Value, json};

use crate::client::id_text;
use crate::tasks::{self, KEEP_S, seen_key, snapshot};

/// The Qiao field each compared DingTalk field is.
const FIELDS: [(&str, &str); 5] = [
    ("subject", "title"),
    ("description", "description"),
    ("dueTime", "due"),
    ("executorIds", "assignees"),
    ("participantIds", "followers"),
];

fn category(done: bool) -> &'static str {
    if done { "done" } else { "open" }
}

/// The to-do as DingTalk has it now, read as its remembered creator or the first person the event names.
fn read(task_id: &str, event: &Value) -> Option<Value> {
    let named = event["UnionIdList"]
        .as_array()
        .and_then(|l| l.iter().find_map(id_text));
    let owner = tasks::owner_of(task_id).ok().or(named)?;
    tasks::fetch(&owner, task_id).ok()
}

/// Qiao's events for one to-do event; `None` when the event is not a to-do's.
pub fn events(
    event_type: &str,
    event: &Value,
    id: &str,
    time_ms: Option<u64>,
) -> Option<Vec<Event>> {
    if !event_type.starts_with("todo_task_") {
        return None;
    }
    let task_id = id_text(&event["taskId"]).unwrap_or_default();
    let to_event = |id: String, kind: &str, payload: Value| Event {
        id,
        kind: kind.into(),
        time_ms,
        subject: task_id.clone(),
        payload: payload.to_string(),
    };
    let one = |kind: &str, payload: Value| Some(vec![to_event(id.to_string(), kind, payload)]);
    let mut payload = json!({ "task_id": task_id });
    match event_type {
        "todo_task_delete" => {
            qiao_sdk::kv::delete(&seen_key(&task_id));
            one("task.deleted", payload)
        }
        "todo_task_create" => {
            if let Some(todo) = read(&task_id, event) {
                payload["title"] = todo["subject"].clone();
                let _ = json_kv::set(&seen_key(&task_id), &snapshot(&todo), Some(KEEP_S));
            }
            one("task.created", payload)
        }
        "todo_task_update" => {
            let before = json_kv::get::<Value>(&seen_key(&task_id));
            let Some(todo) = read(&task_id, event) else {
                payload["changed"] = json!([]);
                return one("task.updated", payload);
            };
            let after = snapshot(&todo);
            let _ = json_kv::set(&seen_key(&task_id), &after, Some(KEEP_S));
            payload["title"] = todo["subject"].clone();
            let Some(before) = before else {
                payload["changed"] = json!([]);
                return one("task.updated", payload);
            };
            let changed: Vec<&str> = FIELDS
                .iter()
                .filter(|(field, _)| before[*field] != after[*field])
                .map(|(_, name)| *name)
                .collect();
            if before["done"] == after["done"] {
                payload["changed"] = json!(changed);
                return one("task.updated", payload);
            }
            let done = after["done"].as_bool().unwrap_or(false);
            let mut moved = payload.clone();
            moved["from"] = json!({ "category": category(!done) });
            moved["to"] = json!({ "category": category(done) });
            let mut out = vec![to_event(id.to_string(), "task.status_changed", moved)];
            // Fields changed in the same update are told too, under their own id so a redelivery de-duplicates.
            if !changed.is_empty() {
                payload["changed"] = json!(changed);
                out.push(to_event(format!("{id}/task.updated"), "task.updated", payload));
            }
            Some(out)
        }
        // Kept under DingTalk's name: a to-do event this connector does not know yet.
        _ => None,
    }
}
