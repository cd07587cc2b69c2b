//! The contract's optional exports, by name: what a connector can do.

use serde::Serialize;

pub const INTERFACE_PREFIX: &str = "qiao:connector/";
pub const INTERFACE_VERSION: &str = "@0.1.0";

/// The optional exports of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Capability {
    Describe,
    Identity,
    Roles,
    UserStatus,
    Messaging,
    Approval,
    Webhook,
    Poll,
}

impl Capability {
    pub const ALL: [Capability; 8] = [
        Capability::Describe,
        Capability::Identity,
        Capability::Roles,
        Capability::UserStatus,
        Capability::Messaging,
        Capability::Approval,
        Capability::Webhook,
        Capability::Poll,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Capability::Describe => "describe",
            Capability::Identity => "identity",
            Capability::Roles => "roles",
            Capability::UserStatus => "user-status",
            Capability::Messaging => "messaging",
            Capability::Approval => "approval",
            Capability::Webhook => "webhook",
            Capability::Poll => "poll",
        }
    }

    pub fn export_name(self) -> String {
        format!("{INTERFACE_PREFIX}{}{INTERFACE_VERSION}", self.name())
    }
}

