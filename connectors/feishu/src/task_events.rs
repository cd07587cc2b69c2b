//! Feishu's task events in the shared vocabulary (`task.created`, `task.updated`, `task.status_changed`,
//! `task.commented`, `task.deleted`; subject = the task guid, as `tasks.get` takes it).
//!
//! - `task.task.update_user_access_v2` `{task_guid, event_types: [...]}` names what changed but not who or to
//!   what, so the task is read again for its title, URL and completion. Its event types: `task_create`,
//!   `task_deleted`, `task_completed_update`, `task_summary_update`, `task_desc_update`,
//!   `task_start_due_update`, `task_assignees_update`, `task_followers_update`, `task_reminders_update`
//!   (FeishuNetSdk `TaskTaskUpdateUserAccessV2EventBodyDto`).
//! - `task.task.comment.updated_v1` `{task_id, comment_id, parent_id, obj_type}` (1 comment, 2 reply, 3 edit,
//!   4 delete; sent for tasks the app created): a new comment or reply is `task.commented`, its text read with
//!   `GET task/v2/comments/:id`; edits and deletes stay `feishu.task.task.comment.updated_v1`.
//!
//! A task that cannot be read again (deleted since, or out of the app's sight) still gives its events, with the
//! fields the event itself carries: the callback must not fail over it, or Feishu would resend it for nothing.

use qiao_sdk::{Error, logging, types::Event};
use serde_json::{Value, json};

use crate::client::{enc, get, user_id_type};
use crate::tasks::{fetch, is_done};

/// Feishu's event type → the contract's `changed` name.
const CHANGES: [(&str, &str); 6] = [
    ("task_summary_update", "title"),
    ("task_desc_update", "description"),
    ("task_start_due_update", "due"),
    ("task_assignees_update", "assignees"),
    ("task_followers_update", "followers"),
    ("task_reminders_update", "reminders"),
];

fn read_again<T>(what: &str, id: &str, result: Result<T, Error>) -> Option<T> {
    result
        .map_err(|e| {
            logging::warn(
                "a Feishu task event's subject could not be read again; the event goes out without its details",
                &[("what", what), ("id", id), ("error", &e.message)],
            )
        })
        .ok()
}

fn category(done: bool) -> Value {
    json!({ "category": if done { "done" } else { "open" } })
}

/// The events of one `task.task.update_user_access_v2` delivery: several when it names several kinds of change,
/// each then with the delivery id suffixed by its kind so that a redelivery de-duplicates per event.
pub fn user_access(id: &str, time_ms: Option<u64>, event: &Value) -> Vec<Event> {
    let guid = event["task_guid"].as_str().unwrap_or_default().to_string();
    let types: Vec<&str> = event["event_types"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str())
        .collect();
    let deleted = types.contains(&"task_deleted");
    let task = if deleted || guid.is_empty() {
        None
    } else {
        read_again("task", &guid, fetch(&guid))
    };
    let mut base = json!({ "task_id": guid });
    if let Some(task) = &task {
        base["title"] = task["summary"].clone();
    }
    let with = |extra: Value| {
        let mut payload = base.clone();
        for (k, v) in extra.as_object().into_iter().flatten() {
            payload[k] = v.clone();
        }
        payload["platform"] = event.clone();
        payload
    };
    let mut out: Vec<(&str, Value)> = Vec::new();
    if deleted {
        out.push(("task.deleted", with(json!({}))));
    } else {
        if types.contains(&"task_create") {
            // Where a person opens it: on the create only, as every connector's task.created has it.
            let url = task.as_ref().and_then(|t| t["url"].as_str()).filter(|u| !u.is_empty());
            let extra = url.map_or_else(|| json!({}), |url| json!({ "url": url }));
            out.push(("task.created", with(extra)));
        }
        if types.contains(&"task_completed_update") {
            // Feishu says only that completion changed: the task as it is now gives the direction. Unread (gone,
            // out of sight, a passing error), the direction is unknown and said as such, never guessed.
            let (from, to) = match &task {
                Some(task) => (category(!is_done(task)), category(is_done(task))),
                None => (json!({}), json!({})),
            };
            out.push(("task.status_changed", with(json!({ "from": from, "to": to }))));
        }
        let changed: Vec<&str> = CHANGES
            .iter()
            .filter(|(kind, _)| types.contains(kind))
            .map(|(_, name)| *name)
            .collect();
        // A create reports its initial fields as changes too; the create says it all.
        if !changed.is_empty() && !types.contains(&"task_create") {
            out.push(("task.updated", with(json!({ "changed": changed }))));
        }
    }
    let many = out.len() > 1;
    out.into_iter()
        .map(|(kind, payload)| Event {
            id: if many {
                format!("{id}/{kind}")
            } else {
                id.to_string()
            },
            kind: kind.into(),
            time_ms,
            subject: guid.clone(),
            payload: payload.to_string(),
        })
        .collect()
}

/// `task.task.comment.updated_v1`: a new comment or reply as `task.commented`; `None` for edits and deletes.
pub fn comment(id: &str, time_ms: Option<u64>, event: &Value) -> Option<Event> {
    let obj_type = event["obj_type"]
        .as_i64()
        .or_else(|| event["obj_type"].as_str().and_then(|s| s.parse().ok()));
    if !matches!(obj_type, Some(1 | 2)) {
        return None;
    }
    let guid = event["task_id"].as_str().unwrap_or_default().to_string();
    let comment_id = event["comment_id"].as_str().unwrap_or_default().to_string();
    let mut payload =
        json!({ "task_id": guid, "comment": { "id": comment_id }, "platform": event });
    let read = read_again(
        "comment",
        &comment_id,
        get(&format!(
            "task/v2/comments/{}?user_id_type={}",
            enc(&comment_id),
            user_id_type()
        )),
    );
    if let Some(data) = read {
        let comment = &data["comment"];
        payload["comment"]["text"] = comment["content"].clone();
        if comment["creator"]["type"] == "user"
            && let Some(actor) = comment["creator"]["id"].as_str()
        {
            payload["actor"] = json!(actor);
        }
    }
    Some(Event {
        id: id.to_string(),
        kind: "task.commented".into(),
        time_ms,
        subject: guid,
        payload: payload.to_string(),
    })
}
