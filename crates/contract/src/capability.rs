//! The contract's optional exports, by name: what a connector can do.

use serde::Serialize;

pub const INTERFACE_PREFIX: &str = "qiao:connector/";
/// The contract version of [`crate::bindings`], the types the host speaks (`wit/v0.2.0`).
pub const LATEST_VERSION: &str = "0.2.0";
/// Every contract version this host loads connectors for, oldest first. A released version is never dropped
/// within a major version (see "Compatibility" in README.md).
pub const SUPPORTED_VERSIONS: &[&str] = &["0.1.0", "0.2.0", "0.3.0"];

/// Contract versions made of an earlier one plus new interfaces (`wit/v0.3.0` includes the whole of 0.2.0 under its
/// 0.2.0 names and adds `event-stream`): a component built for the later one names both versions.
const INCLUDES: &[(&str, &str)] = &[("0.3.0", "0.2.0")];

/// The version an interface has in a component built for `contract`: its own, unless `contract` took it unchanged
/// from the version it includes.
fn interface_version(contract: &'static str, since: &str) -> &'static str {
    match INCLUDES.iter().find(|(v, _)| *v == contract) {
        Some((_, base)) if has_since(base, since) => base,
        _ => contract,
    }
}

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
    // A later version that includes an earlier one names both: it is the later one.
    if let [base, later] = found.as_slice()
        && INCLUDES.contains(&(*later, *base))
    {
        found.remove(0);
    }
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
    /// Events over a connection the host holds open to the platform (contract 0.3.0).
    EventStream,
}

impl Capability {
    pub const ALL: [Capability; 11] = [
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
        Capability::EventStream,
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
            Capability::EventStream => "event-stream",
        }
    }

    /// The first contract version that has it.
    pub fn since(self) -> &'static str {
        match self {
            Capability::Tasks | Capability::Chats => "0.2.0",
            Capability::EventStream => "0.3.0",
            _ => "0.1.0",
        }
    }

    /// Its interface's name in a component built for `version` (`qiao:connector/messaging@0.1.0`; in a 0.3.0
    /// component `messaging@0.2.0`, which 0.3.0 includes, and `event-stream@0.3.0`).
    pub fn export_name(self, version: &'static str) -> String {
        format!("{INTERFACE_PREFIX}{}@{}", self.name(), interface_version(version, self.since()))
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
        let newer = contract_version(["qiao:connector/http@0.4.0"]).unwrap_err();
        assert!(newer.contains("qiao:connector@0.4.0") && newer.contains("supports 0.1.0, 0.2.0, 0.3.0"), "{newer}");
        let v030 = ["qiao:connector/http@0.2.0", "qiao:connector/messaging@0.2.0", "qiao:connector/event-stream@0.3.0"];
        assert_eq!(contract_version(v030), Ok(Some("0.3.0")));
        assert!(contract_version(["qiao:connector/http@0.1.0", "qiao:connector/event-stream@0.3.0"]).is_err());
        assert_eq!(Capability::Messaging.export_name("0.3.0"), "qiao:connector/messaging@0.2.0");
        assert_eq!(Capability::EventStream.export_name("0.3.0"), "qiao:connector/event-stream@0.3.0");
        assert_eq!(Capability::Messaging.export_name("0.1.0"), "qiao:connector/messaging@0.1.0");
        assert_eq!(contract_version(["qiao:connector/tasks@0.2.0"]), Ok(Some("0.2.0")));
        assert!(has_since("0.2.0", "0.1.0") && has_since("0.10.0", "0.2.0") && !has_since("0.1.0", "0.2.0"));
        let mixed = contract_version(["qiao:connector/http@0.1.0", "qiao:connector/tasks@1.0.0"]).unwrap_err();
        assert!(mixed.contains("0.1.0, 1.0.0"), "{mixed}");
    }
}
