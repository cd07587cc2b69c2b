//! The operator's configuration file (`qiao.toml`): default sandbox limits and the named connections.
//!
//! ```toml
//! [limits]                      # defaults for every connection
//! memory_mb = 128
//!
//! [connections.dingtalk-hq]
//! connector = "dingtalk"
//! settings = { app_key = "ding123", api_base = "http://127.0.0.1:9001" }
//! secrets = { app_secret = { env = "DINGTALK_HQ_SECRET" } }
//! limits = { timeout_ms = 10000 }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    #[serde(default)]
    pub limits: LimitsOverride,
    #[serde(default)]
    pub connections: BTreeMap<String, ConnectionSpec>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectionSpec {
    /// The connector id (from its `describe`, or its file name without `.wasm`).
    pub connector: String,
    #[serde(default)]
    pub settings: BTreeMap<String, String>,
    #[serde(default)]
    pub secrets: BTreeMap<String, SecretSource>,
    #[serde(default)]
    pub limits: LimitsOverride,
}

/// A secret is written inline, or (better) named by the environment variable that holds it.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    Inline(String),
    Env { env: String },
}

/// The sandbox of one connector call.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Limits {
    /// Linear memory per instance.
    pub memory_mb: u64,
    /// CPU time spent running Wasm in one call (measured in 10 ms epoch ticks).
    pub cpu_ms: u64,
    /// Wall-clock time for one call, outbound HTTP included.
    pub timeout_ms: u64,
    /// Outbound HTTP requests one call may make.
    pub max_http_requests: u32,
    /// Size of one outbound HTTP response body.
    pub max_response_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: 128,
            cpu_ms: 2_000,
            timeout_ms: 30_000,
            max_http_requests: 50,
            max_response_bytes: 10 * 1024 * 1024,
        }
    }
}

/// The same fields, each optional: a connection's overrides apply on top of the file's, which apply on top of the
/// built-in defaults.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsOverride {
    pub memory_mb: Option<u64>,
    pub cpu_ms: Option<u64>,
    pub timeout_ms: Option<u64>,
    pub max_http_requests: Option<u32>,
    pub max_response_bytes: Option<u64>,
}

impl LimitsOverride {
    pub fn apply(&self, base: &Limits) -> Limits {
        Limits {
            memory_mb: self.memory_mb.unwrap_or(base.memory_mb),
            cpu_ms: self.cpu_ms.unwrap_or(base.cpu_ms),
            timeout_ms: self.timeout_ms.unwrap_or(base.timeout_ms),
            max_http_requests: self.max_http_requests.unwrap_or(base.max_http_requests),
            max_response_bytes: self.max_response_bytes.unwrap_or(base.max_response_bytes),
        }
    }
}

/// A connection as the runtime uses it: secrets resolved, limits merged.
#[derive(Debug)]
pub struct Connection {
    pub name: String,
    pub connector: String,
    /// Settings and secrets together: the connector reads both through the `config` import.
    pub values: HashMap<String, String>,
    /// Which keys of `values` are secrets (never shown by the API, never logged).
    pub secret_keys: Vec<String>,
    pub limits: Limits,
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        toml::from_str(&text).with_context(|| format!("invalid config file {}", path.display()))
    }

    /// Resolves every connection; `env` looks up environment variables (injected so tests need not mutate the
    /// process environment).
    pub fn connections(&self, env: impl Fn(&str) -> Option<String>) -> Result<Vec<Connection>> {
        let defaults = self.limits.apply(&Limits::default());
        let mut out = Vec::new();
        for (name, spec) in &self.connections {
            if !valid_name(name) {
                bail!("connection name {name:?} must be 1-64 characters of a-z, 0-9, '-' or '_'");
            }
            let mut values: HashMap<String, String> = spec.settings.clone().into_iter().collect();
            let mut secret_keys = Vec::new();
            for (key, source) in &spec.secrets {
                let value = match source {
                    SecretSource::Inline(v) => v.clone(),
                    SecretSource::Env { env: var } => env(var).with_context(|| {
                        format!("connection {name}: secret {key} names environment variable {var}, which is not set")
                    })?,
                };
                if values.insert(key.clone(), value).is_some() {
                    bail!("connection {name}: {key} is both a setting and a secret");
                }
                secret_keys.push(key.clone());
            }
            out.push(Connection {
                name: name.clone(),
                connector: spec.connector.clone(),
                values,
                secret_keys,
                limits: spec.limits.apply(&defaults),
            });
        }
        Ok(out)
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merges_limits_and_resolves_secrets() {
        let file: ConfigFile = toml::from_str(
            r#"
            [limits]
            memory_mb = 64
            [connections.hq]
            connector = "dingtalk"
            settings = { app_key = "k" }
            secrets = { app_secret = { env = "HQ_SECRET" }, aes = "inline" }
            limits = { timeout_ms = 5000 }
            "#,
        )
        .unwrap();
        let conns = file
            .connections(|v| (v == "HQ_SECRET").then(|| "s3cret".to_string()))
            .unwrap();
        let hq = &conns[0];
        assert_eq!(hq.values["app_secret"], "s3cret");
        assert_eq!(hq.values["aes"], "inline");
        assert_eq!(hq.limits.memory_mb, 64);
        assert_eq!(hq.limits.timeout_ms, 5000);
        assert_eq!(hq.limits.cpu_ms, Limits::default().cpu_ms);
    }

    #[test]
    fn missing_env_secret_is_a_clear_error() {
        let file: ConfigFile = toml::from_str(
            "[connections.hq]\nconnector = \"x\"\nsecrets = { s = { env = \"NOPE\" } }",
        )
        .unwrap();
        let err = file.connections(|_| None).unwrap_err().to_string();
        assert!(err.contains("NOPE") && err.contains("hq"), "{err}");
    }

    #[test]
    fn rejects_unknown_keys_and_bad_names() {
        assert!(
            toml::from_str::<ConfigFile>("[connections.a]\nconnector = \"x\"\ntypo = 1").is_err()
        );
        let file: ConfigFile =
            toml::from_str("[connections.\"Bad Name\"]\nconnector = \"x\"").unwrap();
        assert!(file.connections(|_| None).is_err());
    }
}
