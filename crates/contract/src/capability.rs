//! The contract's optional exports, by name: what a connector can do.

use serde::Serialize;

pub const INTERFACE_PREFIX: &str = "qiao:connector/";
/// The contract version of [`crate::bindings`], the types the host speaks (`wit/v0.2.0`).
pub const LATEST_VERSION: &str = "0.2.0";
/// Every contract version this host loads connectors for, oldest first. A released version is never dropped
/// within a major version (see "Compatibility" in README.md).
pub const SUPPORTED_VERSIONS: &[&str] = &["0.1.0", "0.2.0"];

/// The contract version a component is built for, from the names of what it imports and exports
/// (`qiao:connector/messaging@0.1.0`): no custom section needed, so it works for every guest language. `None`
/// when it names no `qiao:connector` interface at all.
pub fn contract_version<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Option<&'static str>, String> {
    let mut found: Vec<&str> = Vec::new();
    for name in names {
        let Some(rest) = name.strip_prefix(INTERFACE_PREFIX) else {
            continue;
        };
        let version = rest.split_once('@').map_or("", |(_, v)| v);
        if !found.contains(&version) {
            found.push(version);
        }
    }
    found.sort_unstable();
    match found.as_slice() {
        [] => Ok(None),
        [version] => SUPPORTED_VERSIONS.iter().find(|v| *v == version).map(|v| Some(*v)).ok_or_else(|| {
            format!(
                "it is built for the connector contract qiao:connector@{}, which this host does not support; \
                 it supports {} (build the connector against one of those, or run a Qiao that supports it)",
                if version.is_empty() { "(no version)" } else { version },
                SUPPORTED_VERSIONS.join(", ")
            )
        }),
        many => Err(format!(
            "it mixes connector contract versions ({}); a connector is built for one version",
            many.join(", ")
        )),
    }
}

/// Whether contract `version` has what came in `since` ("0.1.0" < "0.2.0" < "0.10.0").
pub fn has_since(version: &str, since: &str) -> bool {
    let key = |v: &str| -> Vec<u64> { v.split('.').map(|n| n.parse().unwrap_or(0)).collect() };
    key(version) >= key(since)
}

/// The optional exports of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    Describe,
    Identity,
    Roles,
    UserStatus,
    Messaging,
    Approval,
    Tasks,
    Chats,
    Webhook,
    Poll,
}

impl Capability {
    pub const ALL: [Capability; 10] = [
        Capability::Describe,
        Capability::Identity,
        Capability::Roles,
        Capability::UserStatus,
        Capability::Messaging,
        Capability::Approval,
        Capability::Tasks,
        Capability::Chats,
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
            Capability::Tasks => "tasks",
            Capability::Chats => "chats",
            Capability::Webhook => "webhook",
            Capability::Poll => "poll",
        }
    }

    /// The first contract version that has it.
    pub fn since(self) -> &'static str {
        match self {
            Capability::Tasks | Capability::Chats => "0.2.0",
            _ => "0.1.0",
        }
    }

    /// Its interface's name in a component built for `version` (`qiao:connector/messaging@0.1.0`).
    pub fn export_name(self, version: &str) -> String {
        format!("{INTERFACE_PREFIX}{}@{version}", self.name())
    }
}


#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_components_contract_version_comes_from_its_interface_names() {
        let v010 = ["wasi:io/streams@0.2.0", "qiao:connector/http@0.1.0", "qiao:connector/messaging@0.1.0"];
        assert_eq!(contract_version(v010), Ok(Some("0.1.0")));
        assert_eq!(contract_version(["wasi:cli/stdout@0.2.0"]), Ok(None));
        let newer = contract_version(["qiao:connector/http@0.3.0"]).unwrap_err();
        assert!(newer.contains("qiao:connector@0.3.0") && newer.contains("supports 0.1.0, 0.2.0"), "{newer}");
        assert_eq!(contract_version(["qiao:connector/tasks@0.2.0"]), Ok(Some("0.2.0")));
        assert!(has_since("0.2.0", "0.1.0") && has_since("0.10.0", "0.2.0") && !has_since("0.1.0", "0.2.0"));
        let mixed = contract_version(["qiao:connector/http@0.1.0", "qiao:connector/tasks@1.0.0"]).unwrap_err();
        assert!(mixed.contains("0.1.0, 1.0.0"), "{mixed}");
    }
}
