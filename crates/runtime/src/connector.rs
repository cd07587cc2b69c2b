//! One loaded connector: its compiled component, pre-linked for fast instantiation, the capabilities it exports,
//! and what its `describe` said.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use wasmtime::component::InstancePre;

use qiao_contract::describe;

pub use crate::exports::Exports;
use crate::sandbox::HostState;

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
        rate_hints: vec![],
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
