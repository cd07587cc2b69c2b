//! Approvals kept in kv: one task, assigned to the first approver (or the applicant), acted on once.
//!
//! kv keys: `approval:{id}` records, `approval-reminders:{id}` the reminders sent for it (shown by `get` in
//! `extra` as `{"reminders": [...]}`), `approval-seq` the id counter.

use qiao_sdk::{Error, json_kv};

use crate::Echo;
use crate::exports::qiao::connector::approval::{
    ActRequest, Action, CancelRequest, Comment, CreateRequest, Created, FormField, Guest, Instance,
    RemindRequest, Status, Task,
};
use crate::store;

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    template: String,
    applicant: String,
    assignee: String,
    status: String,
    fields: Vec<(String, String)>,
    comments: Vec<(String, String)>,
}

/// A reminder as echo records it; a platform would notify the assignees instead.
#[derive(serde::Serialize, serde::Deserialize)]
struct Reminder {
    assignees: Vec<String>,
    operator: Option<String>,
    comment: Option<String>,
    time_ms: u64,
}

fn key(id: &str) -> String {
    format!("approval:{id}")
}

fn reminders_key(id: &str) -> String {
    format!("approval-reminders:{id}")
}

/// Echo's instances have a single task, named after the instance.
fn task_id(instance_id: &str) -> String {
    format!("{instance_id}-t1")
}

fn load(id: &str) -> Result<Stored, Error> {
    json_kv::get(&key(id)).ok_or_else(|| Error::not_found(format!("no approval {id}")))
}

fn status(text: &str) -> Status {
    match text {
        "approved" => Status::Approved,
        "rejected" => Status::Rejected,
        "canceled" => Status::Canceled,
        _ => Status::Pending,
    }
}

/// A pending approval; one already decided or canceled conflicts, since nothing can be done to it any more.
fn pending(id: &str) -> Result<Stored, Error> {
    let stored = load(id)?;
    if stored.status != "pending" {
        return Err(Error::conflict(format!(
            "approval {id} is {}, not pending",
            stored.status
        )));
    }
    Ok(stored)
}

/// Moves a pending approval to `to`.
fn transition(id: &str, to: &str, comment: Option<(String, String)>) -> Result<(), Error> {
    let mut stored = pending(id)?;
    stored.status = to.into();
    stored.comments.extend(comment);
    json_kv::set(&key(id), &stored, None)
}

impl Guest for Echo {
    fn create(request: CreateRequest) -> Result<Created, Error> {
        if request.template.is_empty() {
            return Err(Error::invalid_input("template is required"));
        }
        if request.applicant.is_empty() {
            return Err(Error::invalid_input("applicant is required"));
        }
        let id = format!("ap-{}", json_kv::next("approval-seq")?);
        let stored = Stored {
            assignee: request
                .approvers
                .first()
                .cloned()
                .unwrap_or_else(|| request.applicant.clone()),
            template: request.template,
            applicant: request.applicant,
            status: "pending".into(),
            fields: request
                .fields
                .into_iter()
                .map(|f| (f.name, f.value))
                .collect(),
            comments: vec![],
        };
        json_kv::set(&key(&id), &stored, None)?;
        Ok(Created { id, number: None })
    }

    fn get(id: String, _template: Option<String>) -> Result<Instance, Error> {
        let s = load(&id)?;
        let extra = reminders_extra(&id);
        Ok(Instance {
            tasks: vec![Task {
                id: task_id(&id),
                assignee: s.assignee.clone(),
                status: s.status.clone(),
            }],
            id,
            template: s.template,
            title: None,
            applicant: s.applicant,
            status: status(&s.status),
            approvers: vec![s.assignee],
            comments: s
                .comments
                .into_iter()
                .map(|(author, text)| Comment {
                    author,
                    text,
                    time_ms: None,
                })
                .collect(),
            fields: s
                .fields
                .into_iter()
                .map(|(name, value)| FormField {
                    name,
                    value,
                    kind: None,
                })
                .collect(),
            extra,
        })
    }

    fn act(request: ActRequest) -> Result<(), Error> {
        let to = match request.action {
            Action::Approve => "approved",
            Action::Reject => "rejected",
        };
        let comment = request
            .comment
            .map(|text| (request.actor.unwrap_or_default(), text));
        transition(&request.instance_id, to, comment)
    }

    fn cancel(request: CancelRequest) -> Result<(), Error> {
        let comment = request
            .reason
            .map(|text| (request.operator.unwrap_or_default(), text));
        transition(&request.instance_id, "canceled", comment)
    }

    /// Only a pending approval has anyone to remind; task ids not of this instance are `not-found`, so a caller
    /// holding a stale id learns of it.
    fn remind(request: RemindRequest) -> Result<(), Error> {
        let id = request.instance_id;
        let stored = pending(&id)?;
        if let Some(other) = request.task_ids.iter().find(|t| **t != task_id(&id)) {
            return Err(Error::not_found(format!(
                "approval {id} has no task {other}"
            )));
        }
        let mut reminders: Vec<Reminder> = json_kv::get(&reminders_key(&id)).unwrap_or_default();
        reminders.push(Reminder {
            assignees: vec![stored.assignee],
            operator: request.operator,
            comment: request.comment,
            time_ms: store::now_ms()?,
        });
        json_kv::set(&reminders_key(&id), &reminders, None)
    }
}

/// `{"reminders": [...]}` once there are any; none before, as `get` answered before reminders existed.
fn reminders_extra(id: &str) -> Option<String> {
    let reminders: Vec<serde_json::Value> = json_kv::get(&reminders_key(id)).unwrap_or_default();
    (!reminders.is_empty()).then(|| serde_json::json!({ "reminders": reminders }).to_string())
}
