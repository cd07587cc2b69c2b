//! Every operation a connector can be asked to do (`Call`) and what it answers (`Reply`). The runtime's
//! `dispatch` turns a `Call` into the guest call.

use crate::Capability;
use crate::bindings::{approval, identity, messaging, poll, roles, webhook};

pub enum Call {
    ListDepartments {
        parent: Option<String>,
        recursive: bool,
    },
    GetDepartment(String),
    CreateDepartment(identity::DepartmentFields, Option<String>),
    UpdateDepartment(String, identity::DepartmentFields),
    DeleteDepartment(String),
    ListUsers {
        department: String,
        cursor: Option<String>,
        limit: u32,
    },
    GetUser(String),
    FindUser(identity::UserKey),
    CreateUser(identity::UserFields, Option<String>),
    UpdateUser(String, identity::UserFields),
    DeleteUser(String),
    SsoAuthorizeUrl {
        redirect_uri: String,
        state: String,
        flow: Option<String>,
    },
    SsoResolve(identity::SsoRequest),
    ListRoles,
    CreateRole(String),
    ListRoleMembers(String),
    AddRoleMembers(String, Vec<String>),
    RemoveRoleMembers(String, Vec<String>),
    SetUserActive(String, bool),
    Send(messaging::Message),
    Recall(String),
    ReadStatus(String),
    CreateApproval(approval::CreateRequest),
    GetApproval {
        id: String,
        template: Option<String>,
    },
    Act(approval::ActRequest),
    Cancel(approval::CancelRequest),
    Webhook(webhook::Request),
    Poll(Option<String>),
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
    Webhook(webhook::Outcome),
    Batch(poll::Batch),
}

impl Call {
    pub fn capability(&self) -> Capability {
        use Call::*;
        match self {
            ListDepartments { .. }
            | GetDepartment(_)
            | CreateDepartment(..)
            | UpdateDepartment(..)
            | DeleteDepartment(_)
            | ListUsers { .. }
            | GetUser(_)
            | FindUser(_)
            | CreateUser(..)
            | UpdateUser(..)
            | DeleteUser(_)
            | SsoAuthorizeUrl { .. }
            | SsoResolve(_) => Capability::Identity,
            ListRoles | CreateRole(_) | ListRoleMembers(_) | AddRoleMembers(..) | RemoveRoleMembers(..) => {
                Capability::Roles
            }
            SetUserActive(..) => Capability::UserStatus,
            Send(_) | Recall(_) | ReadStatus(_) => Capability::Messaging,
            CreateApproval(_) | GetApproval { .. } | Act(_) | Cancel(_) => Capability::Approval,
            Webhook(_) => Capability::Webhook,
            Poll(_) => Capability::Poll,
        }
    }

    /// The WIT function's name, for logs.
    pub fn operation(&self) -> &'static str {
        use Call::*;
        match self {
            ListDepartments { .. } => "list-departments",
            GetDepartment(_) => "get-department",
            CreateDepartment(..) => "create-department",
            UpdateDepartment(..) => "update-department",
            DeleteDepartment(_) => "delete-department",
            ListUsers { .. } => "list-users",
            GetUser(_) => "get-user",
            FindUser(_) => "find-user",
            CreateUser(..) => "create-user",
            UpdateUser(..) => "update-user",
            DeleteUser(_) => "delete-user",
            SsoAuthorizeUrl { .. } => "sso-authorize-url",
            SsoResolve(_) => "sso-resolve",
            ListRoles => "list-roles",
            CreateRole(_) => "create-role",
            ListRoleMembers(_) => "list-members",
            AddRoleMembers(..) => "add-members",
            RemoveRoleMembers(..) => "remove-members",
            SetUserActive(..) => "set-active",
            Send(_) => "send",
            Recall(_) => "recall",
            ReadStatus(_) => "read-status",
            CreateApproval(_) => "create",
            GetApproval { .. } => "get",
            Act(_) => "act",
            Cancel(_) => "cancel",
            Webhook(_) => "handle",
            Poll(_) => "poll",
        }
    }
}

