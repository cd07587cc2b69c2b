//! A write to a platform as the outbox stores it: the [`Call`] itself, serialized (`{"operation": "send",
//! "message": {...}}`), so it survives a restart and is the call made when attempted; and how its reply is
//! rendered for the API.

use serde_json::{Value, json};

use qiao_contract::Call;
use qiao_contract::Reply;
use qiao_contract::json::{extra, render as render_reply, task as task_view};

/// The approval this write moved (id, template), given its reply: its stored view is refreshed afterwards.
pub fn moved_approval(write: &Call, reply: &Reply) -> Option<(String, Option<String>)> {
    match (write, reply) {
        (Call::CreateApproval { request }, Reply::Created(created)) => {
            Some((created.id.clone(), Some(request.template.clone())))
        }
        (Call::ActOnApproval { request }, _) => Some((request.instance_id.clone(), request.template.clone())),
        (Call::CancelApproval { request }, _) => Some((request.instance_id.clone(), request.template.clone())),
        (Call::RemindApproval { request }, _) => Some((request.instance_id.clone(), request.template.clone())),
        _ => None,
    }
}

/// The object a write touched, and the types of event its platform tells of such a change with: the event that
/// comes back is this write's echo, not a change someone made. From the write and its answer's body.
pub fn echo(write: &Call, body: Option<&Value>) -> Option<(String, &'static [&'static str])> {
    let created = || body.and_then(|b| b.get("id")).and_then(Value::as_str).map(str::to_string);
    Some(match write {
        Call::CreateTask { .. } => (created()?, &["task.created"]),
        Call::UpdateTask { id, .. } => (id.clone(), &["task.updated"]),
        Call::MoveTask { id, .. } | Call::CompleteTask { id } | Call::ReopenTask { id } => {
            (id.clone(), &["task.status_changed", "task.updated"])
        }
        Call::CommentOnTask { id, .. } => (id.clone(), &["task.commented"]),
        Call::CreateApproval { .. } => (created()?, &["approval.*"]),
        Call::ActOnApproval { request } => (request.instance_id.clone(), &["approval.*"]),
        Call::CancelApproval { request } => (request.instance_id.clone(), &["approval.*"]),
        _ => return None,
    })
}

/// The connector's answer as the API returns it: the status a synchronous call answers with, and the
/// body (`None`: no content).
pub fn render(write: &Call, reply: Reply) -> Result<(Success, Option<Value>), &'static str> {
    Ok(match (write, reply) {
        (Call::Send { .. }, Reply::Sent(sent)) => (
            Success::Answered,
            Some(json!({ "message_id": sent.message_id, "problems": sent.problems, "extra": extra(sent.extra) })),
        ),
        (Call::Recall { message_id }, Reply::Done) => {
            (Success::Answered, Some(json!({ "message_id": message_id, "recalled": true })))
        }
        (Call::CreateApproval { .. }, Reply::Created(created)) => (Success::Created, Some(json!(created))),
        (Call::CreateDepartment { .. }, Reply::Department(d)) => (Success::Created, Some(render_reply(d))),
        (Call::CreateUser { .. }, Reply::User(u)) => (Success::Created, Some(render_reply(u))),
        (Call::CreateRole { .. }, Reply::Role(role)) => (Success::Created, Some(json!(role))),
        (Call::CreateTask { .. }, Reply::Task(task)) => (Success::Created, Some(task_view(task))),
        (
            Call::UpdateTask { .. } | Call::MoveTask { .. } | Call::CompleteTask { .. } | Call::ReopenTask { .. },
            Reply::Task(task),
        ) => (Success::Answered, Some(task_view(task))),
        (Call::CommentOnTask { .. }, Reply::TaskComment(comment)) => (Success::Created, Some(json!(comment))),
        (Call::CreateChat { .. }, Reply::Chat(chat)) => (Success::Created, Some(render_reply(chat))),
        (
            Call::ActOnApproval { .. }
            | Call::CancelApproval { .. }
            | Call::UpdateDepartment { .. }
            | Call::DeleteDepartment { .. }
            | Call::UpdateUser { .. }
            | Call::DeleteUser { .. }
            | Call::SetUserActive { .. }
            | Call::AddRoleMembers { .. }
            | Call::RemoveRoleMembers { .. }
            | Call::RemindApproval { .. }
            | Call::AddChatMembers { .. }
            | Call::RemoveChatMembers { .. },
            Reply::Done,
        ) => (Success::NoContent, None),
        _ => return Err("the connector answered with another kind of reply"),
    })
}


/// What a write that succeeded produced. Its stored result keeps the HTTP status the API answers it with, so
/// the operation record reads like the answer its caller got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Success {
    /// A body with the platform's answer.
    Answered,
    /// A new object, in the body.
    Created,
    /// Done; nothing to return.
    NoContent,
}

impl Success {
    pub fn http_status(self) -> u16 {
        match self {
            Success::Answered => 200,
            Success::Created => 201,
            Success::NoContent => 204,
        }
    }
}

/// The stored form of a result: `{"status": 201, "body": {...}}`.
pub fn stored_result(success: Success, body: Option<Value>) -> Value {
    json!({ "status": success.http_status(), "body": body })
}
