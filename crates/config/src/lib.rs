//! qiao-config: the operator's configuration file (`qiao.toml`): default sandbox limits, the named connections
//! and every setting of the services. Data and its checks only: must not know about anything that runs.
//!
//! ```toml
//! [limits]                      # defaults for every connection
//! memory_mb = 128
//!
//! [connections.dingtalk-hq]
//! connector = "dingtalk"
//! settings = { app_key = "ding123", api_base = "http://127.0.0.1:9001" }
//! secrets = { app_secret = { env = "DINGTALK_HQ_SECRET" } }   # or "qenc:v1:…" (`qiao secrets encrypt`)
//! hosts = ["oapi.dingtalk.com", "api.dingtalk.com"]   # declared hosts it may reach; none when unset
//! limits = { timeout_ms = 10000 }
//!
//! [trust]                       # signed connectors: which publishers' files may load
//! policy = "require"            # "require" (default) | "warn" | "off"
//! publishers = { acme = "<base64 ed25519 public key>", qiao-build = { key_file = "qiao-build.pub" } }
//! ```

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use anyhow::{Context, Result, bail};
use serde::Deserialize;

use qiao_secrets::{self as secrets, MasterKey};

pub mod deadlines;
pub mod inbound;
pub mod retention;
pub use retention::{RetentionSettings, StoreSettings};
pub use inbound::{InboundLimits, InboundSettings};
pub use deadlines::{DeadlinePolicy, Via};

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
    /// `[inbound]`: the pool webhook calls run in.
    #[serde(default)]
    pub inbound: InboundSettings,
    #[serde(default)]
    pub approvals: ApprovalSettings,
    /// Working hours, weekdays, UTC offset and holiday/workday overrides: the business hours approval deadlines
    /// count in (see `deadlines`).
    #[serde(default)]
    pub calendar: qiao_calendar::Spec,
    /// The enterprise directory: where it is pulled from, and which platform a person is messaged on first.
    #[serde(default)]
    pub directory: DirectorySettings,
    /// `[[rules]]`: when an event happens, act on a connection (see qiao-rules). Checked whole at load: one bad
    /// rule refuses the file, with every problem listed.
    #[serde(default)]
    pub rules: Vec<qiao_rules::RuleSpec>,
    /// Which connector files may load: `policy` (`require` | `warn` | `off`) and the trusted publishers'
    /// ed25519 public keys, inline or as `key_file`s relative to the config file (see `trust`). The default
    /// is `require`: without this section, no connector loads (and the server says so at start).
    #[serde(default)]
    pub trust: qiao_trust::TrustConfig,
    /// `[retention]`: how long succeeded operations, passed events, audit entries, sync and rule runs are kept.
    #[serde(default)]
    pub retention: RetentionSettings,
    /// `[store]`: the database's size limit.
    #[serde(default)]
    pub store: StoreSettings,
}

/// `[directory]`: the enterprise directory as a whole.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectorySettings {
    /// A connection whose `identity` is the source of truth (e.g. an HR system), pulled into Qiao's directory.
    pub source: Option<String>,
    /// Pull the source this often, in seconds; unset: only on `POST /v1/directory/pull`.
    pub pull_every_s: Option<u64>,
    /// Connections in order of preference, for a message to a person that names no platform: the first one
    /// where the person has an account is used.
    pub preferred: Vec<String>,
}

/// `[connections.NAME.directory]`: syncing the enterprise directory into this connection's platform.
#[derive(Debug, Clone, PartialEq, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct DirectorySync {
    /// Sync on a schedule, every this many seconds (a run that needs confirmation waits for one); unset: only
    /// when asked through the API or `qiao directory sync`.
    pub sync_every_s: Option<u64>,
    /// Overwrite values changed on the platform outside Qiao (they are reported as drift either way).
    pub source_wins: bool,
    /// A run deactivating more than this share of the linked active users stops and asks for confirmation.
    pub max_deactivate_share: f64,
    /// The platform's root department; default by platform: DingTalk and WeCom `1`, Feishu `0`.
    pub platform_root: Option<String>,
    /// Fields not compared on existing objects (e.g. those this platform does not report back).
    pub ignore: Vec<qiao_directory::plan::Field>,
    /// Enterprise role → platform role (DingTalk role, WeCom tag, Feishu user group) name. Only the roles
    /// listed here are synced; a missing platform role is created.
    pub roles: BTreeMap<String, String>,
}

impl Default for DirectorySync {
    fn default() -> Self {
        DirectorySync {
            sync_every_s: None,
            source_wins: false,
            max_deactivate_share: 0.1,
            platform_root: None,
            ignore: Vec::new(),
            roles: BTreeMap::new(),
        }
    }
}

fn checked_directory(name: &str, d: &DirectorySync) -> Result<DirectorySync> {
    if !(0.0..=1.0).contains(&d.max_deactivate_share) {
        bail!("connection {name}: directory.max_deactivate_share must be between 0 and 1 (0.1 is 10%)");
    }
    if d.sync_every_s == Some(0) {
        bail!("connection {name}: directory.sync_every_s must be at least 1");
    }
    Ok(d.clone())
}

/// The stored view of approvals.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ApprovalSettings {
    /// How often approvals that an event marked as moved, or that are pending and were not synced for this
    /// long, are refreshed from their platform (repairs missed callbacks). 0 turns it off.
    pub reconcile_every_s: u64,
    /// `[[approvals.deadlines]]`: reminders and escalation of approvals left pending (see `deadlines`).
    pub deadlines: Vec<DeadlinePolicy>,
}

impl Default for ApprovalSettings {
    fn default() -> Self {
        ApprovalSettings { reconcile_every_s: 300, deadlines: Vec::new() }
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
    /// Hosts this connection's connector may reach (over https), e.g. `["oapi.dingtalk.com"]`: only those the
    /// connector also declares in `describe` are granted. Unset: none (API-base settings still grant their
    /// origins).
    #[serde(default)]
    pub hosts: Vec<String>,
    #[serde(default)]
    pub directory: DirectorySync,
    /// How many callbacks per second `/v1/hooks/{connection}` accepts (a token bucket).
    #[serde(default)]
    pub inbound: InboundLimits,
}

/// A secret is written inline, encrypted (`"qenc:v1:…"`, made by `qiao secrets encrypt`, decrypted with the
/// master key at load) or in plain text, or named by the environment variable that holds it.
#[derive(Deserialize)]
#[serde(untagged)]
pub enum SecretSource {
    Inline(String),
    Env { env: String },
}

impl std::fmt::Debug for SecretSource {
    // By hand: an inline value is a secret (an encrypted one may be shown, it is what the file holds).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SecretSource::Inline(v) if qiao_secrets::is_sealed(v) => write!(f, "Inline({v:?})"),
            SecretSource::Inline(_) => f.write_str("Inline(<redacted>)"),
            SecretSource::Env { env } => write!(f, "Env({env:?})"),
        }
    }
}

/// The sandbox of one connector call.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Limits {
    /// Linear memory per instance.
    pub memory_mb: u64,
    /// CPU time of one call: Wasm (measured in epoch ticks) and the host functions it calls (crypto, kv, log).
    pub cpu_ms: u64,
    /// Wall-clock time for one call, outbound HTTP included.
    pub timeout_ms: u64,
    /// Outbound HTTP requests one call may make.
    pub max_http_requests: u32,
    /// Size of one outbound HTTP response body.
    pub max_response_bytes: u64,
    /// What the connection may keep in its kv: bytes (keys and values) and keys. A normal connector keeps a few
    /// tokens and cursors; the quota stops one that fills the disk, which would stop every connection's outbox.
    pub kv_max_bytes: u64,
    pub kv_max_keys: u64,
    /// Connector calls (reads, outbox attempts, webhooks, polls, sync steps) of this connection running at once:
    /// its bulkhead. A call beyond it waits up to `queue_wait_ms` for a place, then is refused as busy (503 with
    /// Retry-After; retried by the outbox), so one connection cannot take every worker from the others.
    pub concurrency: u32,
    pub queue_wait_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory_mb: 128,
            cpu_ms: 2_000,
            timeout_ms: 30_000,
            max_http_requests: 50,
            max_response_bytes: 10 * 1024 * 1024,
            kv_max_bytes: 64 * 1024 * 1024,
            kv_max_keys: 100_000,
            concurrency: 8,
            queue_wait_ms: 1_000,
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
    pub kv_max_bytes: Option<u64>,
    pub kv_max_keys: Option<u64>,
    pub concurrency: Option<u32>,
    pub queue_wait_ms: Option<u64>,
}

impl LimitsOverride {
    pub fn apply(&self, base: &Limits) -> Limits {
        Limits {
            memory_mb: self.memory_mb.unwrap_or(base.memory_mb),
            cpu_ms: self.cpu_ms.unwrap_or(base.cpu_ms),
            timeout_ms: self.timeout_ms.unwrap_or(base.timeout_ms),
            max_http_requests: self.max_http_requests.unwrap_or(base.max_http_requests),
            max_response_bytes: self.max_response_bytes.unwrap_or(base.max_response_bytes),
            kv_max_bytes: self.kv_max_bytes.unwrap_or(base.kv_max_bytes),
            kv_max_keys: self.kv_max_keys.unwrap_or(base.kv_max_keys),
            concurrency: self.concurrency.unwrap_or(base.concurrency).max(1),
            queue_wait_ms: self.queue_wait_ms.unwrap_or(base.queue_wait_ms),
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
    /// Whether the operator set `rate_per_second` (in `[outbox]` or the connection's): then it wins over the
    /// connector's documented rate (its `*` rate hint), which otherwise paces the connection.
    pub rate_set_by_operator: bool,
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
            rate_set_by_operator: false,
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
            rate_set_by_operator: self.rate_per_second.is_some() || base.rate_set_by_operator,
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
#[derive(Default)]
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
    /// Host names the operator granted (`hosts = [...]`): lowercase, validated, without duplicates. The
    /// connector reaches those of them it declares (see `imports::http::AllowList`).
    pub hosts: Vec<String>,
    pub directory: DirectorySync,
    pub inbound: InboundLimits,
}

impl std::fmt::Debug for Connection {
    // By hand, so a stray `{:?}` cannot print a secret: secret values show as "<redacted>".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let values: std::collections::BTreeMap<&str, &str> = self
            .values
            .iter()
            .map(|(k, v)| {
                let shown = if self.secret_keys.contains(k) { "<redacted>" } else { v.as_str() };
                (k.as_str(), shown)
            })
            .collect();
        f.debug_struct("Connection")
            .field("name", &self.name)
            .field("connector", &self.connector)
            .field("values", &values)
            .field("secret_keys", &self.secret_keys)
            .field("limits", &self.limits)
            .field("outbox", &self.outbox)
            .field("poll_every", &self.poll_every)
            .field("hosts", &self.hosts)
            .field("directory", &self.directory)
            .finish()
    }
}

impl ConfigFile {
    pub fn load(path: &Path) -> Result<ConfigFile> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("cannot read config file {}", path.display()))?;
        let mut file: ConfigFile = toml::from_str(&text)
            .with_context(|| format!("invalid config file {}", path.display()))?;
        // Key files named relative to the config file's directory.
        let base_dir = path.parent().unwrap_or(Path::new(""));
        file.trust
            .read_key_files(base_dir)
            .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?;
        file.check_rules().map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?;
        file.retention.check().and_then(|()| file.store.check())
            .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))?;
        Ok(file)
    }

    /// Checks `[[rules]]` against the connections the file configures (what their connectors export is checked
    /// again when the server starts, once they are loaded).
    pub fn check_rules(&self) -> std::result::Result<(), qiao_rules::Problems> {
        let known = |name: &str| match self.connections.contains_key(name) {
            true => qiao_rules::Known::NotLoaded,
            false => qiao_rules::Known::Unknown,
        };
        qiao_rules::Rule::compile_all(self.rules.clone(), &known).map(drop)
    }

    /// Resolves every connection; `env` looks up environment variables (injected so tests need not mutate the
    /// process environment); `master_key` decrypts the secrets written encrypted (`qenc:`), which are an error
    /// without it.
    pub fn connections(
        &self,
        env: impl Fn(&str) -> Option<String>,
        master_key: Option<&MasterKey>,
    ) -> Result<Vec<Connection>> {
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
                    SecretSource::Inline(v) if secrets::is_sealed(v) => {
                        let master_key = master_key.with_context(|| {
                            format!("connection {name}: secret {key} is encrypted, but no master key was given")
                        })?;
                        master_key
                            .open_string(v, &secrets::config_place(name, key))
                            .map_err(|e| anyhow::anyhow!("connection {name}: secret {key}: {e}"))?
                    }
                    SecretSource::Inline(v) => {
                        tracing::warn!(
                            connection = %name,
                            secret = %key,
                            "a secret is written in plain text in the config: encrypt it with `qiao secrets \
                             encrypt` (or name an environment variable)"
                        );
                        v.clone()
                    }
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
                hosts: granted_hosts(&spec.hosts).map_err(|e| {
                    anyhow::anyhow!("connection {name}: hosts: {e} (write host names only, e.g. hosts = [\"oapi.dingtalk.com\"])")
                })?,
                directory: checked_directory(name, &spec.directory)?,
                inbound: spec.inbound.checked(name)?,
            });
        }
        let named = |what: &str, name: &str| -> Result<()> {
            if !self.connections.contains_key(name) {
                bail!("[directory] {what} names connection {name:?}, which is not configured");
            }
            Ok(())
        };
        if let Some(source) = &self.directory.source {
            named("source", source)?;
        }
        for name in &self.directory.preferred {
            named("preferred", name)?;
        }
        Ok(out)
    }
}

impl ConfigFile {
    /// The business calendar and the deadline policies, checked together: every problem of both is listed.
    pub fn deadlines(&self) -> Result<(qiao_calendar::Calendar, Vec<DeadlinePolicy>)> {
        let connections: Vec<&str> = self.connections.keys().map(String::as_str).collect();
        let calendar = qiao_calendar::Calendar::new(&self.calendar);
        let policies = deadlines::check(&self.approvals.deadlines, &connections);
        match (calendar, policies) {
            (Ok(calendar), Ok(())) => Ok((calendar, self.approvals.deadlines.clone())),
            (calendar, policies) => {
                let mut problems: Vec<String> = calendar
                    .err()
                    .map(|e| e.0.into_iter().map(|p| format!("[calendar]: {p}")).collect())
                    .unwrap_or_default();
                problems.extend(policies.err().map(|e| e.to_string()));
                bail!("{}", problems.join("\n"))
            }
        }
    }
}

/// A connection's `hosts` entries, normalised (lowercase, IDNA) and without duplicates.
fn granted_hosts(entries: &[String]) -> Result<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for entry in entries {
        let host = host_name(entry)?;
        if !out.contains(&host) {
            out.push(host);
        }
    }
    Ok(out)
}

/// One granted host: a bare host name (or IP address), as a URL's host compares to it. No scheme, port, path,
/// user or wildcard: a grant names exactly one host, reached over https on the default port.
pub fn host_name(entry: &str) -> Result<String> {
    let refuse = |why: &str| anyhow::anyhow!("{entry:?} is not a host name: {why}");
    if entry.is_empty() {
        return Err(refuse("it is empty"));
    }
    if entry.contains("://") {
        return Err(refuse("no scheme (https:// is implied)"));
    }
    if entry.contains('*') {
        return Err(refuse("wildcards are not allowed; name each host"));
    }
    if entry.contains(['/', '?', '#']) {
        return Err(refuse("no path or query"));
    }
    if entry.contains('@') {
        return Err(refuse("no user name"));
    }
    if entry.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(refuse("no spaces"));
    }
    if let Some((_, port)) = entry.rsplit_once(':')
        && !entry.starts_with('[')
        && !port.is_empty()
        && port.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(refuse(
            "no port (granted hosts are reached over https on the default port)",
        ));
    }
    if entry.starts_with('.') || entry.ends_with('.') || entry.contains("..") {
        return Err(refuse("empty label"));
    }
    let host = url::Host::parse(&entry.to_lowercase()).map_err(|e| refuse(&e.to_string()))?;
    Ok(host.to_string())
}

/// A connection name: 1-64 characters of a-z, 0-9, '-' or '_'.
pub fn valid_name(name: &str) -> bool {
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
            .connections(|v| (v == "HQ_SECRET").then(|| "s3cret".to_string()), None)
            .unwrap();
        let hq = &conns[0];
        assert_eq!(hq.values["app_secret"], "s3cret");
        assert_eq!(hq.values["aes"], "inline");
        assert_eq!(hq.limits.memory_mb, 64);
        assert_eq!(hq.limits.timeout_ms, 5000);
        assert_eq!(hq.limits.cpu_ms, Limits::default().cpu_ms);
    }

    #[test]
    fn directory_settings_are_checked() {
        let load = |extra: &str| {
            let text = format!("{extra}\n[connections.hq]\nconnector = \"dingtalk\"\n");
            toml::from_str::<ConfigFile>(&text).unwrap().connections(|_| None, None).map(|_| ())
        };
        assert!(load("[directory]\nsource = \"hq\"\npreferred = [\"hq\"]").is_ok());
        let err = load("[directory]\npreferred = [\"hr\"]").unwrap_err().to_string();
        assert!(err.contains("preferred names connection \"hr\""), "{err}");
        let text = "[connections.hq]\nconnector = \"dingtalk\"\ndirectory = { max_deactivate_share = 2.0 }";
        let err = toml::from_str::<ConfigFile>(text).unwrap().connections(|_| None, None).unwrap_err().to_string();
        assert!(err.contains("max_deactivate_share must be between 0 and 1"), "{err}");
    }

    #[test]
    fn debug_output_never_shows_a_secret() {
        let file: ConfigFile = toml::from_str(
            "[connections.hq]\nconnector = \"x\"\nsettings = { app_key = \"visible\" }\nsecrets = { app_secret = \"hush-hush-123\" }",
        )
        .unwrap();
        assert!(!format!("{file:?}").contains("hush-hush-123"), "{file:?}");
        let shown = format!("{:?}", file.connections(|_| None, None).unwrap());
        assert!(shown.contains("visible") && shown.contains("<redacted>"), "{shown}");
        assert!(!shown.contains("hush-hush-123"), "{shown}");
    }

    #[test]
    fn missing_env_secret_is_a_clear_error() {
        let file: ConfigFile = toml::from_str(
            "[connections.hq]\nconnector = \"x\"\nsecrets = { s = { env = \"NOPE\" } }",
        )
        .unwrap();
        let err = file.connections(|_| None, None).unwrap_err().to_string();
        assert!(err.contains("NOPE") && err.contains("hq"), "{err}");
    }

    #[test]
    fn granted_hosts_are_lowercased_validated_and_deduplicated() {
        let file: ConfigFile = toml::from_str(
            r#"
            [connections.hq]
            connector = "dingtalk"
            hosts = ["OAPI.DingTalk.com", "api.dingtalk.com", "oapi.dingtalk.com", "127.0.0.1", "例子.cn"]
            [connections.none]
            connector = "dingtalk"
            "#,
        )
        .unwrap();
        let conns = file.connections(|_| None, None).unwrap();
        assert_eq!(
            conns[0].hosts,
            [
                "oapi.dingtalk.com",
                "api.dingtalk.com",
                "127.0.0.1",
                "xn--fsqu00a.cn"
            ]
        );
        assert!(conns[1].hosts.is_empty(), "shut by default");
    }

    #[test]
    fn bad_granted_hosts_are_clear_errors() {
        for (entry, why) in [
            ("https://oapi.dingtalk.com", "no scheme"),
            ("oapi.dingtalk.com/v1", "no path"),
            ("*.dingtalk.com", "wildcards"),
            ("oapi.dingtalk.com:443", "no port"),
            ("user@oapi.dingtalk.com", "no user"),
            ("", "empty"),
            ("oapi dingtalk.com", "no spaces"),
            ("oapi..dingtalk.com", "empty label"),
            ("bad_%host", "not a host name"),
        ] {
            let text = format!("[connections.hq]\nconnector = \"x\"\nhosts = [{entry:?}]");
            let file: ConfigFile = toml::from_str(&text).unwrap();
            let err = format!("{:#}", file.connections(|_| None, None).unwrap_err());
            assert!(
                err.contains("connection hq: hosts:")
                    && err.contains(why)
                    && err.contains("not a host name"),
                "{entry}: {err}"
            );
        }
    }

    #[test]
    fn encrypted_secrets_are_decrypted_with_the_master_key() {
        let key = MasterKey::generate();
        let sealed = key.seal(b"s3cret", &secrets::config_place("hq", "app_secret"));
        let text = format!(
            "[connections.hq]\nconnector = \"x\"\nsecrets = {{ app_secret = \"{sealed}\", plain = \"p\" }}"
        );
        let file: ConfigFile = toml::from_str(&text).unwrap();
        let conns = file.connections(|_| None, Some(&key)).unwrap();
        assert_eq!(conns[0].values["app_secret"], "s3cret");
        assert_eq!(conns[0].values["plain"], "p");

        let other = MasterKey::generate();
        let err = format!("{:#}", file.connections(|_| None, Some(&other)).unwrap_err());
        assert!(
            err.contains("connection hq: secret app_secret: encrypted with master key")
                && err.contains(key.id())
                && err.contains(other.id()),
            "{err}"
        );
        let err = format!("{:#}", file.connections(|_| None, None).unwrap_err());
        assert!(err.contains("connection hq: secret app_secret is encrypted"), "{err}");

        // Bound to its place: pasted under another key or connection, it does not decrypt.
        let moved = text.replace("[connections.hq]", "[connections.branch]");
        let file: ConfigFile = toml::from_str(&moved).unwrap();
        let err = format!("{:#}", file.connections(|_| None, Some(&key)).unwrap_err());
        assert!(err.contains("connection branch: secret app_secret") && err.contains("another place"), "{err}");
    }

    #[test]
    fn rejects_unknown_keys_and_bad_names() {
        assert!(
            toml::from_str::<ConfigFile>("[connections.a]\nconnector = \"x\"\ntypo = 1").is_err()
        );
        let file: ConfigFile =
            toml::from_str("[connections.\"Bad Name\"]\nconnector = \"x\"").unwrap();
        assert!(file.connections(|_| None, None).is_err());
    }
}
