//! A rule as an operator writes it, in `qiao.toml` (`[[rules]]`) or as JSON on `/v1/rules`: the same shape in
//! both, so a rule can move between them unchanged.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Longest rule id, in characters.
pub const MAX_ID_CHARS: usize = 64;
/// At most this many actions per rule.
pub const MAX_ACTIONS: usize = 10;
/// Longest condition or template, in bytes.
pub const MAX_SOURCE_BYTES: usize = 16 * 1024;
/// Default for how many rule-made writes may follow one another (event → write → echo → write...) before a chain
/// is stopped.
pub const DEFAULT_MAX_HOPS: u32 = 3;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// The rule's name: letters, digits, `-` and `_`. Part of every idempotency key its actions use, so renaming a
    /// rule makes it a new rule.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default = "yes")]
    pub enabled: bool,
    pub on: Trigger,
    /// A CEL expression over `event`, `actor`, `rule` and the lookup functions; absent: every triggering event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<String>,
    pub actions: Vec<ActionSpec>,
    /// React to events that Qiao's own writes caused (a platform echoing our update). Off by default: that is how
    /// two rules mirroring each other do not loop.
    #[serde(default, skip_serializing_if = "is_false")]
    pub echoes: bool,
    /// With `echoes`, a chain of rule-made writes longer than this stops, with the reason recorded.
    #[serde(default = "default_max_hops")]
    pub max_hops: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Trigger {
    /// The connection whose events trigger the rule; absent: any connection.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// Event types, exactly (`task.status_changed`) or by prefix (`task.*`); at least one.
    pub types: Vec<String>,
}

/// One write the rule makes: an operation of the REST API on a connection, with its body built by templates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionSpec {
    /// The operation (see [`crate::actions::ACTIONS`]): `send`, `create_task`, `update_task`...
    #[serde(rename = "do")]
    pub operation: String,
    /// The connection to write to (a template); absent only for operations across connections (`send_to_people`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub connection: Option<String>,
    /// The object the operation acts on (a template): the task of `update_task`, the approval of `remind_approval`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// The REST API body of the operation; every string in it is a template.
    #[serde(default = "empty_object")]
    pub body: Value,
    /// For operations that create an object: remember it as linked to the event's object, so later events of
    /// either can find the other (`event.links`). On by default.
    #[serde(default = "yes")]
    pub link: bool,
}

fn yes() -> bool {
    true
}

fn is_false(b: &bool) -> bool {
    !b
}

fn default_max_hops() -> u32 {
    DEFAULT_MAX_HOPS
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

impl Trigger {
    /// Whether an event of `connection` and type `kind` triggers the rule.
    pub fn matches(&self, connection: &str, kind: &str) -> bool {
        self.connection.as_deref().is_none_or(|c| c == connection)
            && self.types.iter().any(|t| match t.strip_suffix('*') {
                Some(prefix) => kind.starts_with(prefix),
                None => t == kind,
            })
    }
}
