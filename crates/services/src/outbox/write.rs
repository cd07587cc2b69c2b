//! A write to a platform as the outbox stores it: serializable, so it survives a restart, and turned into a
//! connector call only when attempted.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use qiao_contract::json::{extra, render};
use qiao_contract::bindings::approval::{ActRequest, Action, CancelRequest, CreateRequest};
use qiao_contract::bindings::identity::{DepartmentFields, UserFields};
use qiao_contract::bindings::messaging::Message;
use qiao_contract::calls::{Call, Reply};
use qiao_contract::Capability;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(tag = "operation", rename_all = "snake_case", deny_unknown_fields)]
pub enum Write {
    Send { message: Message },
    Recall { message_id: String },
    CreateApproval { request: CreateRequest },
    ActOnApproval { request: ActRequest },
    CancelApproval { request: CancelRequest },
    CreateDepartment { fields: DepartmentFields, idempotency_key: Option<String> },
    UpdateDepartment { id: String, fields: DepartmentFields },
    DeleteDepartment { id: String },
    CreateUser { fields: UserFields, idempotency_key: Option<String> },
    UpdateUser { id: String, fields: UserFields },
    DeleteUser { id: String },
    SetUserActive { id: String, active: bool },
    CreateRole { name: String },
    AddRoleMembers { role_id: String, user_ids: Vec<String> },
    RemoveRoleMembers { role_id: String, user_ids: Vec<String> },
}

impl Write {
    /// The operation's name in the API and the store.
    pub fn name(&self) -> &'static str {
        match self {
            Write::Send { .. } => "send",
            Write::Recall { .. } => "recall",
            Write::CreateApproval { .. } => "create_approval",
            Write::ActOnApproval { request } => match request.action {
                Action::Approve => "approve",
                Action::Reject => "reject",
            },
            Write::CancelApproval { .. } => "cancel_approval",
            Write::CreateDepartment { .. } => "create_department",
            Write::UpdateDepartment { .. } => "update_department",
            Write::DeleteDepartment { .. } => "delete_department",
            Write::CreateUser { .. } => "create_user",
            Write::UpdateUser { .. } => "update_user",
            Write::DeleteUser { .. } => "delete_user",
            Write::SetUserActive { active: true, .. } => "activate_user",
            Write::SetUserActive { active: false, .. } => "deactivate_user",
            Write::CreateRole { .. } => "create_role",
            Write::AddRoleMembers { .. } => "add_role_members",
            Write::RemoveRoleMembers { .. } => "remove_role_members",
        }
    }

    pub fn capability(&self) -> Capability {
        match self {
            Write::Send { .. } | Write::Recall { .. } => Capability::Messaging,
            Write::CreateApproval { .. } | Write::ActOnApproval { .. } | Write::CancelApproval { .. } => {
                Capability::Approval
            }
            Write::SetUserActive { .. } => Capability::UserStatus,
            Write::CreateRole { .. } | Write::AddRoleMembers { .. } | Write::RemoveRoleMembers { .. } => {
                Capability::Roles
            }
            _ => Capability::Identity,
        }
    }

    /// The caller's idempotency key, for the operations whose contract carries one.
    pub fn idempotency_key(&self) -> Option<&str> {
        match self {
            Write::Send { message } => message.idempotency_key.as_deref(),
            Write::CreateApproval { request } => request.idempotency_key.as_deref(),
            Write::CreateDepartment { idempotency_key, .. } | Write::CreateUser { idempotency_key, .. } => {
                idempotency_key.as_deref()
            }
            _ => None,
        }
    }

    /// Sets the key passed to the platform. Returns false for operations that take none (those are
    /// idempotent by their target, or the platform offers nothing).
    pub fn set_idempotency_key(&mut self, key: String) -> bool {
        let slot = match self {
            Write::Send { message } => &mut message.idempotency_key,
            Write::CreateApproval { request } => &mut request.idempotency_key,
            Write::CreateDepartment { idempotency_key, .. } | Write::CreateUser { idempotency_key, .. } => {
                idempotency_key
            }
            _ => return false,
        };
        *slot = Some(key);
        true
    }

    /// The approval this write moved (id, template), given its reply: its stored view is refreshed afterwards.
    pub fn moved_approval(&self, reply: &Reply) -> Option<(String, Option<String>)> {
        match (self, reply) {
            (Write::CreateApproval { request }, Reply::Created(created)) => {
                Some((created.id.clone(), Some(request.template.clone())))
            }
            (Write::ActOnApproval { request }, _) => Some((request.instance_id.clone(), request.template.clone())),
            (Write::CancelApproval { request }, _) => Some((request.instance_id.clone(), request.template.clone())),
            _ => None,
        }
    }

    pub fn into_call(self) -> Call {
        match self {
            Write::Send { message } => Call::Send(message),
            Write::Recall { message_id } => Call::Recall(message_id),
            Write::CreateApproval { request } => Call::CreateApproval(request),
            Write::ActOnApproval { request } => Call::Act(request),
            Write::CancelApproval { request } => Call::Cancel(request),
            Write::CreateDepartment { fields, idempotency_key } => Call::CreateDepartment(fields, idempotency_key),
            Write::UpdateDepartment { id, fields } => Call::UpdateDepartment(id, fields),
            Write::DeleteDepartment { id } => Call::DeleteDepartment(id),
            Write::CreateUser { fields, idempotency_key } => Call::CreateUser(fields, idempotency_key),
            Write::UpdateUser { id, fields } => Call::UpdateUser(id, fields),
            Write::DeleteUser { id } => Call::DeleteUser(id),
            Write::SetUserActive { id, active } => Call::SetUserActive(id, active),
            Write::CreateRole { name } => Call::CreateRole(name),
            Write::AddRoleMembers { role_id, user_ids } => Call::AddRoleMembers(role_id, user_ids),
            Write::RemoveRoleMembers { role_id, user_ids } => Call::RemoveRoleMembers(role_id, user_ids),
        }
    }

    /// The connector's answer as the API returns it: the status a synchronous call answers with, and the
    /// body (`None`: no content).
    pub fn render(&self, reply: Reply) -> Result<(Success, Option<Value>), &'static str> {
        Ok(match (self, reply) {
            (Write::Send { .. }, Reply::Sent(sent)) => (
                Success::Answered,
                Some(json!({ "message_id": sent.message_id, "problems": sent.problems, "extra": extra(sent.extra) })),
            ),
            (Write::Recall { message_id }, Reply::Done) => {
                (Success::Answered, Some(json!({ "message_id": message_id, "recalled": true })))
            }
            (Write::CreateApproval { .. }, Reply::Created(created)) => (Success::Created, Some(json!(created))),
            (Write::CreateDepartment { .. }, Reply::Department(d)) => (Success::Created, Some(render(d))),
            (Write::CreateUser { .. }, Reply::User(u)) => (Success::Created, Some(render(u))),
            (Write::CreateRole { .. }, Reply::Role(role)) => (Success::Created, Some(json!(role))),
            (
                Write::ActOnApproval { .. }
                | Write::CancelApproval { .. }
                | Write::UpdateDepartment { .. }
                | Write::DeleteDepartment { .. }
                | Write::UpdateUser { .. }
                | Write::DeleteUser { .. }
                | Write::SetUserActive { .. }
                | Write::AddRoleMembers { .. }
                | Write::RemoveRoleMembers { .. },
                Reply::Done,
            ) => (Success::NoContent, None),
            _ => return Err("the connector answered with another kind of reply"),
        })
    }
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
