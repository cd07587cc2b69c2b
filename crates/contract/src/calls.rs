//! Every operation a connector can be asked to do (`Call`) and what it answers (`Reply`), declared once in the
//! table below: its stored name, its fields, the capability (optional export) it needs, the WIT function it
//! calls, and whether it is a write. The runtime's `dispatch` turns a `Call` into the guest call; the outbox
//! stores a write as this `Call`'s JSON (`{"operation": "send", "message": {...}}`), so a stored write and the
//! call it makes cannot drift apart.
//!
//! Adding an operation: a row here, its arm in `qiao_runtime::dispatch`, and its route in qiao-api (plus, for a
//! write, how its reply is rendered in `qiao_services::outbox::write`).

use serde::{Deserialize, Serialize};

use crate::Capability;
use crate::bindings::{approval, chats, identity, messaging, poll, roles, tasks, webhook};
use crate::event_stream;

/// Declares `Call` and the facts each operation carries.
macro_rules! operations {
    ($(
        $(#[$meta:meta])*
        $variant:ident = $name:literal { $($field:ident : $ty:ty),* $(,)? } => $capability:ident, $wit:literal, $kind:ident;
    )*) => {
        /// One operation on a connector, with its arguments. Serialized with its `operation` name and its fields:
        /// the form the outbox stores writes in.
        #[derive(Debug, Clone, Serialize, Deserialize)]
        #[serde(tag = "operation", deny_unknown_fields)]
        pub enum Call {
            $( $(#[$meta])* #[serde(rename = $name)] $variant { $($field: $ty),* }, )*
        }

        impl Call {
            /// Every operation's stored name.
            pub const OPERATIONS: &[&str] = &[$($name),*];

            /// The optional export a connector needs for this call.
            pub fn capability(&self) -> Capability {
                match self { $( Call::$variant { .. } => Capability::$capability, )* }
            }

            /// The WIT function's name, for logs.
            pub fn operation(&self) -> &'static str {
                match self { $( Call::$variant { .. } => $wit, )* }
            }

            /// The `operation` it is stored under.
            pub fn stored_name(&self) -> &'static str {
                match self { $( Call::$variant { .. } => $name, )* }
            }

            /// Whether it changes the platform: writes go through the outbox (committed first, then retried);
            /// reads are answered at once.
            pub fn is_write(&self) -> bool {
                match self { $( Call::$variant { .. } => operations!(@write $kind), )* }
            }
        }
    };
    (@write write) => { true };
    (@write read) => { false };
}

operations! {
    // identity
    ListDepartments = "list_departments" { parent: Option<String>, recursive: bool } => Identity, "list-departments", read;
    GetDepartment = "get_department" { id: String } => Identity, "get-department", read;
    /// `idempotency_key`: passed to the platform where it takes one, so a retry finds what the first try made.
    CreateDepartment = "create_department" { fields: identity::DepartmentFields, idempotency_key: Option<String> } => Identity, "create-department", write;
    UpdateDepartment = "update_department" { id: String, fields: identity::DepartmentFields } => Identity, "update-department", write;
    DeleteDepartment = "delete_department" { id: String } => Identity, "delete-department", write;
    ListUsers = "list_users" { department: String, cursor: Option<String>, limit: u32 } => Identity, "list-users", read;
    GetUser = "get_user" { id: String } => Identity, "get-user", read;
    FindUser = "find_user" { key: identity::UserKey } => Identity, "find-user", read;
    CreateUser = "create_user" { fields: identity::UserFields, idempotency_key: Option<String> } => Identity, "create-user", write;
    UpdateUser = "update_user" { id: String, fields: identity::UserFields } => Identity, "update-user", write;
    DeleteUser = "delete_user" { id: String } => Identity, "delete-user", write;
    SsoAuthorizeUrl = "sso_authorize_url" { redirect_uri: String, state: String, flow: Option<String> } => Identity, "sso-authorize-url", read;
    SsoResolve = "sso_resolve" { request: identity::SsoRequest } => Identity, "sso-resolve", read;
    /// A read: the URL is a short-lived credential, handed to the caller and never stored.
    LoginUrl = "login_url" { user_id: String, target: Option<String> } => Identity, "login-url", read;
    // roles
    ListRoles = "list_roles" {} => Roles, "list-roles", read;
    CreateRole = "create_role" { name: String } => Roles, "create-role", write;
    ListRoleMembers = "list_role_members" { role_id: String } => Roles, "list-members", read;
    AddRoleMembers = "add_role_members" { role_id: String, user_ids: Vec<String> } => Roles, "add-members", write;
    RemoveRoleMembers = "remove_role_members" { role_id: String, user_ids: Vec<String> } => Roles, "remove-members", write;
    // user-status
    SetUserActive = "set_user_active" { id: String, active: bool } => UserStatus, "set-active", write;
    // messaging
    Send = "send" { message: messaging::Message } => Messaging, "send", write;
    Recall = "recall" { message_id: String } => Messaging, "recall", write;
    ReadStatus = "read_status" { message_id: String } => Messaging, "read-status", read;
    // approval
    CreateApproval = "create_approval" { request: approval::CreateRequest } => Approval, "create", write;
    GetApproval = "get_approval" { id: String, template: Option<String> } => Approval, "get", read;
    ActOnApproval = "act_on_approval" { request: approval::ActRequest } => Approval, "act", write;
    CancelApproval = "cancel_approval" { request: approval::CancelRequest } => Approval, "cancel", write;
    RemindApproval = "remind_approval" { request: approval::RemindRequest } => Approval, "remind", write;
    // tasks
    CreateTask = "create_task" { task: tasks::NewTask, idempotency_key: Option<String> } => Tasks, "create", write;
    GetTask = "get_task" { id: String } => Tasks, "get", read;
    UpdateTask = "update_task" { id: String, changes: tasks::TaskChanges } => Tasks, "update", write;
    MoveTask = "move_task" { id: String, target: tasks::Target } => Tasks, "move-to", write;
    CompleteTask = "complete_task" { id: String } => Tasks, "complete", write;
    ReopenTask = "reopen_task" { id: String } => Tasks, "reopen", write;
    CommentOnTask = "comment_task" { id: String, text: String, author: Option<String> } => Tasks, "comment", write;
    ListTasks = "list_tasks" { query: tasks::TaskQuery } => Tasks, "list", read;
    // chats
    CreateChat = "create_chat" { chat: chats::NewChat, idempotency_key: Option<String> } => Chats, "create", write;
    GetChat = "get_chat" { id: String } => Chats, "get", read;
    AddChatMembers = "add_chat_members" { chat_id: String, user_ids: Vec<String> } => Chats, "add-members", write;
    RemoveChatMembers = "remove_chat_members" { chat_id: String, user_ids: Vec<String> } => Chats, "remove-members", write;
    // webhook, poll
    Webhook = "webhook" { request: webhook::Request } => Webhook, "handle", read;
    // event-stream (0.3.0): not offered through the REST API; the host's stream supervisor makes these calls.
    StreamOpen = "stream_open" {} => EventStream, "open", read;
    StreamFrame = "stream_frame" { frame: event_stream::Frame } => EventStream, "on-frame", read;
    Poll = "poll" { cursor: Option<String> } => Poll, "poll", read;
}

/// Fields added to the contract's records since 0.1.0 that serde cannot default by itself (it does `Option`s):
/// where each sits in a stored call, and what a call stored before it was added means.
type AddedField = (&'static str, &'static [&'static str], fn() -> serde_json::Value);

const ADDED_SINCE_V0_1_0: &[AddedField] = &[
    ("create_user", &["fields", "clear"], || serde_json::json!([])),
    ("update_user", &["fields", "clear"], || serde_json::json!([])),
    ("send", &["message", "mentions"], || serde_json::json!({"users": [], "everyone": false})),
];

impl Call {
    /// A write as the outbox stored it, by this version of Qiao or an earlier one.
    pub fn from_stored(mut stored: serde_json::Value) -> serde_json::Result<Call> {
        let operation = stored.get("operation").and_then(|o| o.as_str()).unwrap_or_default().to_string();
        for (_, path, default) in ADDED_SINCE_V0_1_0.iter().filter(|(op, ..)| *op == operation) {
            let (field, parents) = path.split_last().expect("a path");
            let parent = parents.iter().try_fold(&mut stored, |v, key| v.get_mut(*key));
            if let Some(serde_json::Value::Object(parent)) = parent {
                parent.entry(*field).or_insert_with(default);
            }
        }
        serde_json::from_value(stored)
    }

    /// The operation's name in the API and the outbox's list (`send`, `create_user`, `approve`, ...): the stored
    /// name, but for the two writes whose name says which way they went.
    pub fn name(&self) -> &'static str {
        match self {
            Call::ActOnApproval { request } => match request.action {
                approval::Action::Approve => "approve",
                approval::Action::Reject => "reject",
            },
            Call::SetUserActive { active: true, .. } => "activate_user",
            Call::SetUserActive { active: false, .. } => "deactivate_user",
            _ => self.stored_name(),
        }
    }

    /// The first contract version with this operation: a connector built for an older one cannot be asked it.
    pub fn since(&self) -> &'static str {
        match self {
            Call::LoginUrl { .. } | Call::RemindApproval { .. } => "0.2.0",
            _ => self.capability().since(),
        }
    }

    /// The caller's idempotency key, for the operations whose contract carries one.
    pub fn idempotency_key(&self) -> Option<&str> {
        match self {
            Call::Send { message } => message.idempotency_key.as_deref(),
            Call::CreateApproval { request } => request.idempotency_key.as_deref(),
            Call::CreateDepartment { idempotency_key, .. }
            | Call::CreateUser { idempotency_key, .. }
            | Call::CreateTask { idempotency_key, .. }
            | Call::CreateChat { idempotency_key, .. } => idempotency_key.as_deref(),
            _ => None,
        }
    }

    /// Sets the key passed to the platform. Returns false for operations that take none (those are idempotent
    /// by their target, or the platform offers nothing).
    pub fn set_idempotency_key(&mut self, key: String) -> bool {
        let slot = match self {
            Call::Send { message } => &mut message.idempotency_key,
            Call::CreateApproval { request } => &mut request.idempotency_key,
            Call::CreateDepartment { idempotency_key, .. }
            | Call::CreateUser { idempotency_key, .. }
            | Call::CreateTask { idempotency_key, .. }
            | Call::CreateChat { idempotency_key, .. } => idempotency_key,
            _ => return false,
        };
        *slot = Some(key);
        true
    }
}

pub enum Reply {
    Done,
    Departments(Vec<identity::Department>),
    Department(identity::Department),
    UserPage(identity::UserPage),
    User(identity::User),
    UserId(String),
    Url(String),
    SsoUser(identity::SsoUser),
    Roles(Vec<roles::Role>),
    Role(roles::Role),
    Members(Vec<String>),
    Sent(messaging::SendResult),
    ReadReceipts(messaging::ReadReceipts),
    Created(approval::Created),
    Instance(approval::Instance),
    Task(tasks::Task),
    TaskComment(tasks::TaskComment),
    TaskPage(tasks::TaskPage),
    Chat(chats::Chat),
    Webhook(webhook::Outcome),
    Batch(poll::Batch),
    StreamEndpoint(event_stream::Endpoint),
    StreamOutcome(event_stream::Outcome),
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Writes the outbox stored before `Call` was its stored form (as the `Write` enum) read back as the same
    /// operation, and a call stores as it reads.
    #[test]
    fn writes_stored_by_earlier_versions_read_back() {
        let stored = [
            (json!({"operation": "recall", "message_id": "m1"}), "recall"),
            (json!({"operation": "delete_department", "id": "d1"}), "delete_department"),
            (json!({"operation": "set_user_active", "id": "u1", "active": false}), "deactivate_user"),
            (json!({"operation": "create_role", "name": "ops"}), "create_role"),
            (json!({"operation": "add_role_members", "role_id": "r", "user_ids": ["u1"]}), "add_role_members"),
            (json!({"operation": "remove_role_members", "role_id": "r", "user_ids": []}), "remove_role_members"),
            (json!({"operation": "delete_user", "id": "u1"}), "delete_user"),
        ];
        for (json, name) in stored {
            let call = Call::from_stored(json.clone()).unwrap_or_else(|e| panic!("{json}: {e}"));
            assert_eq!(call.name(), name);
            assert!(call.is_write(), "{json}");
            assert_eq!(serde_json::to_value(&call).unwrap(), json, "stores as it read");
        }
        assert!(serde_json::from_value::<Call>(json!({"operation": "recall", "id": "x"})).is_err());

        // Stored before contract 0.2.0 added `clear` and `mentions`: read as "nothing cleared", "no one mentioned".
        let before = json!({"operation": "update_user", "id": "u1", "fields": {"id": null, "name": "A", "mobile": null,
            "email": null, "title": null, "employee_no": null, "department_ids": null, "manager_id": null, "extra": null}});
        let Call::UpdateUser { fields, .. } = Call::from_stored(before).unwrap() else { panic!() };
        assert!(fields.clear.is_empty());
        let before = json!({"operation": "send", "message": {"to": {"users": ["u"], "departments": [], "chats": [],
            "tags": [], "everyone": false}, "content": {"Text": "hi"}, "urgent": false, "idempotency_key": null}});
        let Call::Send { message } = Call::from_stored(before).unwrap() else { panic!() };
        assert!(message.mentions.users.is_empty() && !message.mentions.everyone);
        assert!(!Call::ListRoles {}.is_write());
        assert_eq!(Call::ListRoles {}.capability(), Capability::Roles);
        assert_eq!(Call::Poll { cursor: None }.operation(), "poll");
    }
}
