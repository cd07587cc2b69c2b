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
//!
//! [trust]                       # signed connectors; production should use policy = "require"
//! policy = "warn"               # "require" | "warn" (default) | "off"
//! publishers = { acme = "<base64 ed25519 public key>" }
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
    /// Defaults for every connection's outbox (retries, concurrency, rate).
    #[serde(default)]
    pub outbox: OutboxOverride,
    #[serde(default)]
    pub subscribers: SubscriberSettings,
    #[serde(default)]
    pub approvals: ApprovalSettings,
    /// Which connector files may load: `policy` (`require` | `warn` | `off`) and the trusted publishers'
    /// ed25519 public keys (see `trust`). The default is `warn` (unsigned and unverified files load, with a
    /// warning); production should use `require`. The default will become `require` once the bundled
    /// connectors are signed at build time.
    #[serde(default)]
    pub trust: crate::trust::TrustConfig,
}

/// The stored view of approvals.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalSettings {
    /// How often approvals that an event marked as moved, or that are pending and were not synced for this
    /// long, are refreshed from their platform (repairs missed callbacks). 0 turns it off.
    pub reconcile_every_s: u64,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings { reconcile_every_s: 300 }
    }
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
    #[serde(default)]
    pub outbox: OutboxOverride,
    /// Poll the connector (if it exports `poll`) this often, in seconds; unset: only on `POST .../poll`.
    pub poll_every_s: Option<u64>,
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

/// How the outbox delivers one connection's writes.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct OutboxPolicy {
    /// Attempts before an operation is dead-lettered (1 = no retries).
    pub max_attempts: u32,
    /// Delay before the first retry; it doubles each attempt (with jitter) up to `backoff_max_ms`.
    pub backoff_initial_ms: u64,
    pub backoff_max_ms: u64,
    /// Failures that are retried: connector error kinds (`unauthorized`, `unavailable`, `rate-limited`,
    /// `internal`, ...) and host outcomes (`timeout`, `crashed`, `cpu-limit`, `not-loaded`). Others fail at once.
    pub retry_on: Vec<String>,
    /// Calls to the platform in flight at once for this connection.
    pub concurrency: u32,
    /// Calls started per second for this connection (keep under the platform's documented QPS).
    pub rate_per_second: f64,
}

impl Default for OutboxPolicy {
    fn default() -> Self {
        OutboxPolicy {
            max_attempts: 8,
            backoff_initial_ms: 1_000,
            backoff_max_ms: 300_000,
            retry_on: ["unauthorized", "unavailable", "rate-limited", "timeout", "not-loaded"]
                .map(String::from)
                .to_vec(),
            concurrency: 4,
            rate_per_second: 20.0,
        }
    }
}

/// The same fields, each optional, layered like [`LimitsOverride`].
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutboxOverride {
    pub max_attempts: Option<u32>,
    pub backoff_initial_ms: Option<u64>,
    pub backoff_max_ms: Option<u64>,
    pub retry_on: Option<Vec<String>>,
    pub concurrency: Option<u32>,
    pub rate_per_second: Option<f64>,
}

/// Names `retry_on` accepts.
pub const RETRY_CLASSES: &[&str] = &[
    "unauthorized", "forbidden", "not-found", "invalid-input", "conflict", "rate-limited", "unavailable",
    "unsupported", "internal", "timeout", "crashed", "cpu-limit", "not-loaded",
];

impl OutboxOverride {
    pub fn apply(&self, base: &OutboxPolicy) -> Result<OutboxPolicy> {
        let policy = OutboxPolicy {
            max_attempts: self.max_attempts.unwrap_or(base.max_attempts),
            backoff_initial_ms: self.backoff_initial_ms.unwrap_or(base.backoff_initial_ms),
            backoff_max_ms: self.backoff_max_ms.unwrap_or(base.backoff_max_ms),
            retry_on: self.retry_on.clone().unwrap_or_else(|| base.retry_on.clone()),
            concurrency: self.concurrency.unwrap_or(base.concurrency),
            rate_per_second: self.rate_per_second.unwrap_or(base.rate_per_second),
        };
        if policy.max_attempts == 0 || policy.concurrency == 0 {
            bail!("outbox max_attempts and concurrency must be at least 1");
        }
        if !(policy.rate_per_second > 0.0 && policy.rate_per_second.is_finite()) {
            bail!("outbox rate_per_second must be a positive number");
        }
        if let Some(bad) = policy.retry_on.iter().find(|c| !RETRY_CLASSES.contains(&c.as_str())) {
            bail!("outbox retry_on: unknown failure {bad:?}; known: {}", RETRY_CLASSES.join(", "));
        }
        Ok(policy)
    }
}

/// Delivery of events to subscribers (`/v1/subscriptions`).
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SubscriberSettings {
    /// Waits between attempts; after the last, the delivery is dead-lettered. The default is the Standard
    /// Webhooks schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h (8 attempts over about 27 hours).
    pub retry_schedule_ms: Vec<u64>,
    /// Time allowed for one delivery request.
    pub timeout_ms: u64,
}

impl Default for SubscriberSettings {
    fn default() -> Self {
        SubscriberSettings {
            retry_schedule_ms: vec![5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000, 36_000_000],
            timeout_ms: 15_000,
        }
    }
}

/// A connection as the runtime uses it: secrets resolved, limits merged.
#[derive(Debug, Default)]
pub struct Connection {
    pub name: String,
    pub connector: String,
    /// Settings and secrets together: the connector reads both through the `config` import.
    pub values: HashMap<String, String>,
    /// Which keys of `values` are secrets (never shown by the API, never logged).
    pub secret_keys: Vec<String>,
    pub limits: Limits,
    pub outbox: OutboxPolicy,
    pub poll_every: Option<std::time::Duration>,
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
        let outbox_defaults = self
            .outbox
            .apply(&OutboxPolicy::default())
            .context("[outbox]")?;
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
                outbox: spec
                    .outbox
                    .apply(&outbox_defaults)
                    .with_context(|| format!("connection {name}"))?,
                poll_every: match spec.poll_every_s {
                    Some(0) => bail!("connection {name}: poll_every_s must be at least 1"),
                    s => s.map(std::time::Duration::from_secs),
                },
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
