//! Approvals kept in kv: one task, assigned to the first approver (or the applicant), acted on once.

use qiao_sdk::v0_1_0::{Error, json_kv};

use crate::Echo;
use crate::exports::qiao::connector::approval::{
    ActRequest, Action, CancelRequest, Comment, CreateRequest, Created, FormField, Guest, Instance,
    Status, Task,
};

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    template: String,
    applicant: String,
    assignee: String,
    status: String,
    fields: Vec<(String, String)>,
    comments: Vec<(String, String)>,
}

fn key(id: &str) -> String {
    format!("approval:{id}")
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

/// Moves a pending approval to `to`; anything else conflicts.
fn transition(id: &str, to: &str, comment: Option<(String, String)>) -> Result<(), Error> {
    let mut stored = load(id)?;
    if stored.status != "pending" {
        return Err(Error::conflict(format!(
            "approval {id} is {}, not pending",
            stored.status
        )));
    }
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
        Ok(Instance {
            tasks: vec![Task {
                id: format!("{id}-t1"),
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
            extra: None,
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
}
