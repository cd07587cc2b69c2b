//! One loaded connector: its compiled component, pre-linked for fast instantiation, the capabilities it exports,
//! and what its `describe` said.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wasmtime::component::InstancePre;

use qiao_contract::Capability;
use qiao_contract::{approval, describe, identity, messaging, poll, roles, user_status, webhook};
use crate::sandbox::HostState;

/// Export lookups resolved once at load time; `None` where the component does not export the interface.
#[derive(Default)]
pub struct Exports {
    pub describe: Option<describe::GuestIndices>,
    pub identity: Option<identity::GuestIndices>,
    pub roles: Option<roles::GuestIndices>,
    pub user_status: Option<user_status::GuestIndices>,
    pub messaging: Option<messaging::GuestIndices>,
    pub approval: Option<approval::GuestIndices>,
    pub webhook: Option<webhook::GuestIndices>,
    pub poll: Option<poll::GuestIndices>,
}

impl Exports {
    /// Finds which capabilities the component exports. An interface that is exported under our name but with
    /// other functions or types is an error, not a silently missing capability.
    pub fn detect(pre: &InstancePre<HostState>) -> Result<Exports> {
        use Capability::*;
        Ok(Exports {
            describe: indices(pre, Describe, describe::GuestIndices::new(pre))?,
            identity: indices(pre, Identity, identity::GuestIndices::new(pre))?,
            roles: indices(pre, Roles, roles::GuestIndices::new(pre))?,
            user_status: indices(pre, UserStatus, user_status::GuestIndices::new(pre))?,
            messaging: indices(pre, Messaging, messaging::GuestIndices::new(pre))?,
            approval: indices(pre, Approval, approval::GuestIndices::new(pre))?,
            webhook: indices(pre, Webhook, webhook::GuestIndices::new(pre))?,
            poll: indices(pre, Poll, poll::GuestIndices::new(pre))?,
        })
    }

    pub fn has(&self, capability: Capability) -> bool {
        match capability {
            Capability::Describe => self.describe.is_some(),
            Capability::Identity => self.identity.is_some(),
            Capability::Roles => self.roles.is_some(),
            Capability::UserStatus => self.user_status.is_some(),
            Capability::Messaging => self.messaging.is_some(),
            Capability::Approval => self.approval.is_some(),
            Capability::Webhook => self.webhook.is_some(),
            Capability::Poll => self.poll.is_some(),
        }
    }

    pub fn capabilities(&self) -> Vec<Capability> {
        Capability::ALL
            .into_iter()
            .filter(|c| self.has(*c))
            .collect()
    }
}

/// `None` when the component does not export the capability; an error when it exports it with the wrong shape.
fn indices<T>(
    pre: &InstancePre<HostState>,
    cap: Capability,
    found: wasmtime::Result<T>,
) -> Result<Option<T>> {
    if pre
        .component()
        .get_export_index(None, cap.export_name())
        .is_none()
    {
        return Ok(None);
    }
    found.map(Some).map_err(|e| {
        anyhow::anyhow!(
            "export {} does not match the contract: {e}",
            cap.export_name()
        )
    })
}

pub struct Connector {
    pub file: PathBuf,
    /// Hex SHA-256 of the file.
    pub hash: String,
    pub info: describe::Info,
    /// The contract version it is built for (`0.1.0`).
    pub contract: &'static str,
    pub exports: Exports,
    pub pre: InstancePre<HostState>,
}

impl Connector {
    pub fn id(&self) -> &str {
        &self.info.id
    }
}

/// What a connector without `describe` is taken to be: named after its file, needing no hosts.
pub fn default_info(file: &Path) -> describe::Info {
    let stem = file
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    describe::Info {
        id: stem.clone(),
        name: stem,
        version: "0.0.0".into(),
        vendor: String::new(),
        platform: String::new(),
        hosts: vec![],
        config: vec![],
    }
}

/// Ids appear in URLs and config files: keep them plain.
pub fn validate_info(info: &describe::Info) -> Result<()> {
    let ok = (1..=64).contains(&info.id.len())
        && info
            .id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if !ok {
        bail!(
            "connector id {:?} must be 1-64 characters of a-z, 0-9, '-' or '_'",
            info.id
        );
    }
    for host in &info.hosts {
        url::Host::parse(host)
            .with_context(|| format!("declared host {host:?} is not a host name"))?;
    }
    Ok(())
}
