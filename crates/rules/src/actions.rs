//! What a rule can do: each operation is a route of the REST API, so a rule's write is validated, addressed
//! (people → platform ids) and queued exactly as the same request from a caller would be. Adding an operation is
//! one row here.

/// One operation a rule's action may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Operation {
    /// What the action's `do` says.
    pub name: &'static str,
    pub method: &'static str,
    /// The route, with `{connection}` and `{target}` filled from the action.
    pub path: &'static str,
    /// The connector export it needs (a capability name, as `GET /v1/connectors` lists them).
    pub capability: &'static str,
    /// It creates an object whose id its answer carries (`id`), which may be linked to the event's object.
    pub creates: bool,
}

impl Operation {
    pub fn needs_connection(&self) -> bool {
        self.path.contains("{connection}")
    }

    pub fn needs_target(&self) -> bool {
        self.path.contains("{target}")
    }

    /// The route for a connection and target (both already checked to be path-safe).
    pub fn route(&self, connection: &str, target: &str) -> String {
        self.path.replace("{connection}", connection).replace("{target}", target)
    }
}

const fn op(name: &'static str, method: &'static str, path: &'static str, capability: &'static str, creates: bool) -> Operation {
    Operation { name, method, path, capability, creates }
}

pub const ACTIONS: &[Operation] = &[
    op("send", "POST", "/v1/connections/{connection}/messages", "messaging", false),
    op("send_to_people", "POST", "/v1/messages", "messaging", false),
    op("create_task", "POST", "/v1/connections/{connection}/tasks", "tasks", true),
    op("update_task", "PATCH", "/v1/connections/{connection}/tasks/{target}", "tasks", false),
    op("move_task", "POST", "/v1/connections/{connection}/tasks/{target}/move", "tasks", false),
    op("complete_task", "POST", "/v1/connections/{connection}/tasks/{target}/complete", "tasks", false),
    op("reopen_task", "POST", "/v1/connections/{connection}/tasks/{target}/reopen", "tasks", false),
    op("comment_task", "POST", "/v1/connections/{connection}/tasks/{target}/comments", "tasks", false),
    op("create_chat", "POST", "/v1/connections/{connection}/chats", "chats", true),
    op("add_chat_members", "POST", "/v1/connections/{connection}/chats/{target}/members", "chats", false),
    op("create_approval", "POST", "/v1/connections/{connection}/approvals", "approval", true),
    op("remind_approval", "POST", "/v1/connections/{connection}/approvals/{target}/remind", "approval", false),
];

pub fn find(name: &str) -> Option<&'static Operation> {
    ACTIONS.iter().find(|a| a.name == name)
}

pub fn names() -> Vec<&'static str> {
    ACTIONS.iter().map(|a| a.name).collect()
}
