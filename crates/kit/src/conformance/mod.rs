//! `qiao connectors test FILE`: the checks every connector must pass before an operator should load it, run
//! against the built component the way `qiao serve` runs it (same engine, linker, sandbox and limits).
//!
//! The connector talks to a platform double on loopback (`double`): every config field marked `api_base` points
//! at it, it answers from recorded fixtures (`--fixtures DIR`) or with a 404, and it records every request. Each
//! secret config field gets a distinctive value, so a leak is recognisable wherever it shows up.

mod double;
mod inputs;
pub mod record;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use qiao_config::{Connection, Limits};
use qiao_contract::capability::{Capability, contract_version};
use qiao_contract::{Call, Reply};
use qiao_runtime::connector::Connector;
use qiao_runtime::engine::{PoolSize, new_engine};
use qiao_runtime::kv::MemoryKv;
use qiao_runtime::observe::Observer;
use qiao_runtime::redact::REDACTED;
use qiao_runtime::{CallError, Runtime};
use serde::Serialize;
use serde_json::Value;
use wasmtime::component::Component;

use double::Double;
pub use double::Fixture;

pub struct Options {
    pub file: PathBuf,
    /// A qiao.toml whose connection of this connector gives real settings (e.g. pointing at a simulator).
    pub config: Option<PathBuf>,
    /// Recorded request/response pairs the platform double replays.
    pub fixtures: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Pass,
    /// Passed, with findings worth reading.
    Warn,
    Fail,
    Skip,
}

#[derive(Debug, Serialize)]
pub struct Check {
    pub name: &'static str,
    pub status: Status,
    /// One line: what was checked and what came of it.
    pub summary: String,
    /// What failed, one finding per line.
    pub findings: Vec<String>,
    /// What to change when it fails.
    pub fix: &'static str,
}

/// Measured once per run; a check fails only past the generous limits, which are printed with it.
#[derive(Debug, Default, Serialize)]
pub struct Budget {
    pub size_bytes: u64,
    pub cold_compile_ms: f64,
    pub cached_load_ms: f64,
    pub instantiate_describe_ms: f64,
    /// The largest linear memory any call grew to.
    pub peak_memory_bytes: u64,
    pub calls: u32,
    pub mean_call_ms: f64,
}

pub const MAX_SIZE_BYTES: u64 = 64 << 20;
pub const MAX_COLD_COMPILE_MS: f64 = 60_000.0;
pub const MAX_CACHED_LOAD_MS: f64 = 2_000.0;
pub const MAX_INSTANTIATE_DESCRIBE_MS: f64 = 2_000.0;
pub const MAX_PEAK_MEMORY_BYTES: u64 = 128 << 20;

#[derive(Debug, Serialize)]
pub struct Report {
    pub file: PathBuf,
    pub connector: Option<String>,
    pub contract: Option<&'static str>,
    pub capabilities: Vec<Capability>,
    pub wasi_imports: Vec<String>,
    pub checks: Vec<Check>,
    pub budget: Budget,
    pub passed: bool,
}

impl Report {
    fn add(&mut self, check: Check) {
        self.checks.push(check);
    }

    pub fn failed(&self) -> impl Iterator<Item = &Check> {
        self.checks.iter().filter(|c| c.status == Status::Fail)
    }
}

fn check(name: &'static str, findings: Vec<String>, passed: String, fix: &'static str) -> Check {
    let status = if findings.is_empty() {
        Status::Pass
    } else {
        Status::Fail
    };
    let summary = if findings.is_empty() {
        passed
    } else {
        format!(
            "{} finding{}",
            findings.len(),
            if findings.len() == 1 { "" } else { "s" }
        )
    };
    Check {
        name,
        status,
        summary,
        findings,
        fix,
    }
}

fn skip(name: &'static str, why: impl Into<String>) -> Check {
    Check {
        name,
        status: Status::Skip,
        summary: why.into(),
        findings: vec![],
        fix: "",
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

pub async fn run(options: &Options) -> Result<Report> {
    let file = &options.file;
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let mut report = Report {
        file: file.clone(),
        connector: None,
        contract: None,
        capabilities: vec![],
        wasi_imports: vec![],
        checks: vec![],
        budget: Budget {
            size_bytes: bytes.len() as u64,
            ..Budget::default()
        },
        passed: false,
    };
    let engine = new_engine(&PoolSize {
        instances: 16,
        ..PoolSize::default()
    })?;

    // ---- The component, its contract version and its imports.
    let started = Instant::now();
    let component = match Component::new(&engine, &bytes) {
        Ok(c) => c,
        Err(e) => {
            return Ok(refused(
                report,
                format!(
                    "not a valid WebAssembly component: {}",
                    one_line(&format!("{e:#}"))
                ),
                "build a component (wasm32-wasip2, componentize-js, componentize-py), not a core module",
            ));
        }
    };
    report.budget.cold_compile_ms = ms(started.elapsed());
    let serialized = component.serialize()?;
    let started = Instant::now();
    // SAFETY: bytes this process serialized a moment ago with the same engine.
    let _cached = unsafe { Component::deserialize(&engine, &serialized)? };
    report.budget.cached_load_ms = ms(started.elapsed());

    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(&engine).map(|(n, _)| n.to_string()).collect();
    let exports: Vec<String> = ty.exports(&engine).map(|(n, _)| n.to_string()).collect();
    report.wasi_imports = imports
        .iter()
        .filter(|n| n.starts_with("wasi:"))
        .cloned()
        .collect();
    match contract_version(imports.iter().chain(&exports).map(String::as_str)) {
        Ok(Some(v)) => report.contract = Some(v),
        Ok(None) => {
            return Ok(refused(
                report,
                "it imports and exports no qiao:connector interface",
                "export qiao:connector/describe and the capabilities it implements",
            ));
        }
        Err(e) => {
            return Ok(refused(
                report,
                e,
                "build it against a contract this Qiao supports",
            ));
        }
    }

    let kv = Arc::new(MemoryKv::default());
    let loader = Runtime::new(engine.clone(), None, PathBuf::new(), vec![], kv.clone())?;
    let started = Instant::now();
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let connector = match loader.connector_from(file, hash, &component).await {
        Ok(c) => c,
        Err(e) => {
            return Ok(refused(
                report,
                format!("{e:#}"),
                "a connector may import only qiao:connector/* and wasi:*@0.2 interfaces, and describe must answer",
            ));
        }
    };
    report.budget.instantiate_describe_ms = ms(started.elapsed());
    report.connector = Some(connector.info.id.clone());
    report.capabilities = connector.exports.capabilities();
    report.add(check(
        "component",
        vec![],
        format!(
            "a component for contract {}, exporting {}",
            connector.contract,
            names(&report.capabilities)
        ),
        "",
    ));
    report.add(imports_check(&report.wasi_imports));
    report.add(describe_check(&connector));

    // ---- Calls, through a runtime that observes them, against the platform double.
    let fixtures = match &options.fixtures {
        Some(dir) => double::load(dir)?,
        None => vec![],
    };
    let replaying = !fixtures.is_empty();
    let platform = Double::replay(fixtures).await?;
    let connection = connection(
        &connector,
        &platform.url,
        options.config.as_deref(),
        replaying,
    )?;
    let secret_values = secret_pairs(&connection);
    let secrets: Vec<String> = secret_values.iter().map(|(_, v)| v.clone()).collect();
    platform.set_secrets(secret_values);
    let origins: Vec<String> = connector
        .info
        .config
        .iter()
        .filter(|f| f.api_base)
        .filter_map(|f| connection.values.get(&f.key))
        .filter_map(|v| origin(v))
        .collect();
    let name = connection.name.clone();
    let mut runtime = Runtime::new(engine, None, PathBuf::new(), vec![connection], kv.clone())?;
    let observer = Arc::new(Observer::default());
    runtime.observer = Some(observer.clone());
    let info = connector.info.clone();
    let contract = connector.contract;
    let exports = connector.exports.capabilities();
    runtime.connectors.serve(connector);
    let mut session = Session {
        runtime: &runtime,
        connection: &name,
        messages: vec![],
        calls: 0,
        call_time: Duration::ZERO,
    };

    report.add(malformed_check(&mut session, &exports, contract).await);
    report.add(lists_check(&mut session, &exports).await);
    report.add(webhook_check(&mut session, &exports, &kv, &name).await);
    report.add(egress_check(&observer, &info.hosts, &origins));
    report.add(secrets_check(&observer, &session.messages, &secrets));
    match &options.fixtures {
        None => report.add(skip(
            "fixtures",
            "no --fixtures given: operations were answered 404 by the platform double",
        )),
        Some(dir) => report.add(replay_check(&mut session, &platform, dir).await?),
    }
    report.budget.peak_memory_bytes = observer.peak_memory() as u64;
    report.budget.calls = session.calls;
    report.budget.mean_call_ms = if session.calls == 0 {
        0.0
    } else {
        ms(session.call_time) / f64::from(session.calls)
    };
    report.add(budget_check(&report.budget));
    Ok(finish(report))
}

/// The report of a component that cannot be loaded: the one failed check, and nothing else to run.
fn refused(mut report: Report, finding: impl Into<String>, fix: &'static str) -> Report {
    report.add(check("component", vec![finding.into()], String::new(), fix));
    finish(report)
}

fn finish(mut report: Report) -> Report {
    let passed = report.failed().next().is_none();
    report.passed = passed;
    report
}

fn names(capabilities: &[Capability]) -> String {
    capabilities
        .iter()
        .map(|c| c.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The connection of this connector in a qiao.toml.
fn configured(connector: &Connector, path: &Path) -> Result<Connection> {
    let file = qiao_config::ConfigFile::load(path)?;
    // Secrets written encrypted need the server's master key: give them inline or from the environment here.
    let connections = file.connections(|name| std::env::var(name).ok(), None)?;
    connections
        .into_iter()
        .find(|c| c.connector == connector.info.id)
        .with_context(|| {
            format!(
                "{} has no connection of connector {:?}",
                path.display(),
                connector.info.id
            )
        })
}

fn secret_pairs(connection: &Connection) -> Vec<(String, String)> {
    connection
        .secret_keys
        .iter()
        .filter_map(|k| Some((k.clone(), connection.values.get(k)?.clone())))
        .collect()
}

/// The connection the calls run on: the config's (its api-base fields at the double when replaying fixtures), or
/// one made up from `describe` (api-base fields at the double, secrets distinctive, other settings a placeholder).
fn connection(
    connector: &Connector,
    double: &str,
    config: Option<&Path>,
    replaying: bool,
) -> Result<Connection> {
    if let Some(path) = config {
        let mut connection = configured(connector, path)?;
        if replaying {
            for field in connector.info.config.iter().filter(|f| f.api_base) {
                connection
                    .values
                    .insert(field.key.clone(), double.to_string());
            }
        }
        return Ok(connection);
    }
    let mut values = std::collections::HashMap::new();
    let mut secret_keys = vec![];
    for field in &connector.info.config {
        let value = if field.api_base {
            double.to_string()
        } else if field.secret {
            secret_keys.push(field.key.clone());
            format!(
                "conformance-secret-{}-{}",
                field.key,
                &hex::encode(rand::random::<[u8; 6]>())
            )
        } else {
            "conformance".to_string()
        };
        values.insert(field.key.clone(), value);
    }
    Ok(Connection {
        name: "conformance".into(),
        connector: connector.info.id.clone(),
        values,
        secret_keys,
        limits: Limits {
            timeout_ms: 10_000,
            ..Limits::default()
        },
        ..Default::default()
    })
}

/// The calls of one run: every error message is kept (for the secrets check) and every call timed.
struct Session<'a> {
    runtime: &'a Runtime,
    connection: &'a str,
    messages: Vec<String>,
    calls: u32,
    call_time: Duration,
}

impl Session<'_> {
    async fn call(&mut self, call: Call) -> Result<Reply, CallError> {
        let started = Instant::now();
        let result = self.runtime.call(self.connection, call).await;
        self.call_time += started.elapsed();
        self.calls += 1;
        if let Err(e) = &result {
            self.messages.push(e.to_string());
            if let CallError::Connector(e) = e {
                self.messages.extend(e.platform_message.clone());
            }
        }
        result
    }
}

/// A failure the host had to contain (a trap, a limit) rather than a typed error the connector answered.
fn contained(e: &CallError) -> bool {
    matches!(
        e,
        CallError::Trap { .. }
            | CallError::Timeout { .. }
            | CallError::CpuLimit { .. }
            | CallError::Host(_)
    )
}

fn imports_check(wasi: &[String]) -> Check {
    let useless: Vec<String> = wasi
        .iter()
        .filter(|n| {
            ["wasi:sockets", "wasi:filesystem/preopens", "wasi:http"]
                .iter()
                .any(|p| n.starts_with(p))
        })
        .map(|n| format!("imports {n}: the sandbox grants nothing through it (every use fails)"))
        .collect();
    let summary = if wasi.is_empty() {
        "imports no WASI interface".to_string()
    } else {
        let mut packages: Vec<&str> = wasi
            .iter()
            .map(|n| n.split('/').next().unwrap_or(n))
            .collect();
        packages.sort_unstable();
        packages.dedup();
        format!(
            "links in the sandbox; imports {} WASI interfaces ({})",
            wasi.len(),
            packages.join(", ")
        )
    };
    Check {
        name: "imports",
        status: if useless.is_empty() {
            Status::Pass
        } else {
            Status::Warn
        },
        summary,
        findings: useless,
        fix: "harmless if never used (language runtimes import them); reach the platform only through qiao:connector/http",
    }
}

fn describe_check(connector: &Connector) -> Check {
    let info = &connector.info;
    let mut findings = vec![];
    let semver = info.version.split('.').count() == 3
        && info
            .version
            .split(['-', '+'])
            .next()
            .unwrap_or("")
            .split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
    if !semver {
        findings.push(format!(
            "version {:?} is not semver (MAJOR.MINOR.PATCH)",
            info.version
        ));
    }
    for (what, value) in [
        ("name", &info.name),
        ("vendor", &info.vendor),
        ("platform", &info.platform),
    ] {
        if value.trim().is_empty() {
            findings.push(format!("{what} is empty"));
        }
    }
    for host in &info.hosts {
        if host.contains("://")
            || host.contains(':')
            || host.contains('/')
            || host.contains('*')
            || host != &host.to_ascii_lowercase()
        {
            findings.push(format!(
                "host {host:?} must be a lowercase host name: no scheme, port, path or wildcard"
            ));
        }
    }
    let mut seen = std::collections::HashSet::new();
    for field in &info.config {
        if !seen.insert(field.key.as_str()) {
            findings.push(format!("config key {:?} is declared twice", field.key));
        }
        if field.key.is_empty()
            || !field
                .key
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
        {
            findings.push(format!(
                "config key {:?}: use snake_case (a-z, 0-9, _)",
                field.key
            ));
        }
        let key = field.key.to_ascii_lowercase();
        let secretish = [
            "secret",
            "token",
            "password",
            "passwd",
            "private_key",
            "aes_key",
            "api_key",
        ]
        .iter()
        .any(|s| key.contains(s));
        if secretish && !field.secret {
            findings.push(format!("config key {:?} looks like a secret but is not marked secret (it would be shown and logged)", field.key));
        }
        let urlish = key.ends_with("_base")
            || key.ends_with("_url")
            || key == "base_url"
            || key == "server_url";
        if urlish && !field.api_base && !field.secret {
            findings.push(format!("config key {:?} looks like an API base URL but is not marked api-base (its host would need a grant)", field.key));
        }
    }
    check(
        "describe",
        findings,
        format!(
            "{} {} by {}: {} host(s), {} config field(s)",
            info.id,
            info.version,
            info.vendor,
            info.hosts.len(),
            info.config.len()
        ),
        "fix the describe() answer: semver version, plain host names, snake_case unique config keys, secrets marked secret",
    )
}

async fn malformed_check(
    session: &mut Session<'_>,
    exports: &[Capability],
    contract: &str,
) -> Check {
    let mut findings = vec![];
    let mut tried = 0;
    for sample in inputs::samples() {
        let Ok(call) = serde_json::from_value::<Call>(sample.clone()) else {
            continue;
        };
        if !exports.contains(&call.capability())
            || !qiao_contract::has_since(contract, call.since())
        {
            continue;
        }
        for (input, value) in inputs::malformed(&sample) {
            let Ok(call) = serde_json::from_value::<Call>(value) else {
                continue;
            };
            let operation = format!("{}.{}", call.capability().name(), call.operation());
            tried += 1;
            if let Err(e) = session.call(call).await
                && contained(&e)
            {
                findings.push(format!("{operation} with {input}: {e}"));
            }
        }
    }
    check(
        "malformed-input",
        findings,
        format!(
            "{tried} calls with empty, 1 MiB, odd-Unicode and absurd inputs: each answered or refused with a typed error"
        ),
        "validate input and answer invalid-input (or another typed error); never panic, loop or exhaust memory",
    )
}

/// List operations terminate and honour `limit` (needs a platform that answers: `--fixtures` or `--config`).
async fn lists_check(session: &mut Session<'_>, exports: &[Capability]) -> Check {
    const LIMIT: u32 = 10;
    const MAX_PAGES: usize = 100;
    let mut findings = vec![];
    let mut walked = vec![];
    // Users are listed in a department the platform has (its first top-level one, which on most platforms
    // holds everyone), when it answers the list of departments.
    let mut department = "d1".to_string();
    if exports.contains(&Capability::Identity) {
        let top = Call::ListDepartments {
            parent: None,
            recursive: false,
        };
        if let Ok(Reply::Departments(found)) = session.call(top).await
            && let Some(first) = found.first()
        {
            department = first.id.clone();
        }
    }
    // Each list the connector exports, as the call for one page.
    type Page<'d> = Box<dyn Fn(Option<String>) -> Call + 'd>;
    let mut lists: Vec<(&str, Page)> = vec![];
    if exports.contains(&Capability::Identity) {
        let department = &department;
        lists.push((
            "identity.list-users",
            Box::new(move |cursor| Call::ListUsers {
                department: department.clone(),
                cursor,
                limit: LIMIT,
            }),
        ));
    }
    if exports.contains(&Capability::Tasks) {
        lists.push((
            "tasks.list",
            Box::new(|cursor| Call::ListTasks {
                query: qiao_contract::tasks::TaskQuery {
                    assignee: None,
                    status: None,
                    updated_after_ms: None,
                    text: None,
                    platform_query: None,
                    cursor,
                    limit: LIMIT,
                },
            }),
        ));
    }
    for (name, page) in &lists {
        let mut cursor: Option<String> = None;
        let mut seen = std::collections::HashSet::new();
        let mut pages = 0;
        loop {
            let (items, next) = match session.call(page(cursor.clone())).await {
                Ok(Reply::UserPage(page)) => (page.users.len(), page.next_cursor),
                Ok(Reply::TaskPage(page)) => (page.tasks.len(), page.next_cursor),
                Ok(_) => break,
                Err(e) if contained(&e) => {
                    findings.push(format!("{name}: {e}"));
                    break;
                }
                Err(_) => break,
            };
            pages += 1;
            if items > LIMIT as usize {
                findings.push(format!(
                    "{name}: {items} items on a page asked for at most {LIMIT}"
                ));
            }
            match next {
                None => {
                    walked.push(format!("{name} ({pages} page(s))"));
                    break;
                }
                Some(next) if !seen.insert(next.clone()) => {
                    findings.push(format!(
                        "{name}: the cursor {next:?} came back again after {pages} pages: it would never end"
                    ));
                    break;
                }
                Some(_) if pages >= MAX_PAGES => {
                    findings.push(format!(
                        "{name}: still a next cursor after {MAX_PAGES} pages of {LIMIT}"
                    ));
                    break;
                }
                Some(next) => cursor = Some(next),
            }
        }
    }
    if walked.is_empty() && findings.is_empty() {
        return skip(
            "lists",
            "no list answered (give --fixtures or --config with a platform to list from)",
        );
    }
    check(
        "lists",
        findings,
        format!("walked to the end, within the limit: {}", walked.join(", ")),
        "honour `limit`, and end with no next cursor; never hand back a cursor already given",
    )
}

/// The calls a recording made (`calls.json` beside the fixtures), replayed: each must end as it did when recorded,
/// and every request it makes must match a fixture. Without `calls.json`, the requests of the whole run are judged.
async fn replay_check(session: &mut Session<'_>, platform: &Double, dir: &Path) -> Result<Check> {
    let path = dir.join(double::CALLS_FILE);
    let mut findings = vec![];
    let mut replayed = 0;
    if path.exists() {
        platform.reset();
        let text = std::fs::read_to_string(&path)?;
        let recorded: Vec<Value> = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a JSON array", path.display()))?;
        for entry in recorded {
            let call: Call = serde_json::from_value(entry["call"].clone())
                .with_context(|| format!("{}: not a call: {}", path.display(), entry["call"]))?;
            let label = format!("{}.{}", call.capability().name(), call.operation());
            let now = record::outcome(&session.call(call).await);
            replayed += 1;
            if entry["outcome"] != now.as_str() {
                findings.push(format!(
                    "{label}: recorded {}, replayed {now}",
                    entry["outcome"]
                ));
            }
        }
    }
    findings.extend(platform.misses());
    Ok(check(
        "fixtures",
        findings,
        format!(
            "{replayed} recorded call(s) replayed as recorded; every request matched a fixture ({} served)",
            platform.served()
        ),
        "record again with `qiao connectors record` after changing what the connector sends, or fix the request",
    ))
}

/// An unsigned and a forged callback are refused, yield no event and store nothing.
async fn webhook_check(
    session: &mut Session<'_>,
    exports: &[Capability],
    kv: &MemoryKv,
    connection: &str,
) -> Check {
    if !exports.contains(&Capability::Webhook) {
        return skip("webhook", "exports no webhook");
    }
    let mut findings = vec![];
    for (what, request) in inputs::forged_callbacks() {
        let before = kv.len(connection);
        let Ok(call) = serde_json::from_value::<Call>(
            serde_json::json!({"operation": "webhook", "request": request}),
        ) else {
            continue;
        };
        match session.call(call).await {
            Ok(Reply::Webhook(outcome)) => {
                if !outcome.events.is_empty() {
                    findings.push(format!(
                        "{what}: accepted with {} event(s)",
                        outcome.events.len()
                    ));
                } else if outcome.response.status < 400 && outcome.response.status != 200 {
                    // A 200 with no events is how some platforms' URL checks are answered; anything else odd is shown.
                    findings.push(format!(
                        "{what}: answered {} and no error",
                        outcome.response.status
                    ));
                }
            }
            Ok(_) => {}
            Err(e) if contained(&e) => findings.push(format!("{what}: {e}")),
            Err(_) => {}
        }
        if kv.len(connection) != before {
            findings.push(format!("{what}: stored something in kv before refusing it"));
        }
    }
    check(
        "webhook",
        findings,
        "an unsigned and a forged callback were refused and stored nothing".into(),
        "verify the platform's signature first, and answer unauthorized (no events, nothing stored) when it fails",
    )
}

/// `scheme://host[:port]` of a URL.
fn origin(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    Some(parsed.origin().ascii_serialization()).filter(|o| o != "null")
}

fn egress_check(observer: &Observer, hosts: &[String], origins: &[String]) -> Check {
    let mut findings = vec![];
    let requests = observer.requests();
    for request in &requests {
        let host = url::Url::parse(&request.url)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
            .unwrap_or_default();
        let declared =
            hosts.contains(&host) || origin(&request.url).is_some_and(|o| origins.contains(&o));
        if !declared {
            let finding = format!(
                "a request to {} (not a declared host, not an api-base origin)",
                request.url
            );
            if !findings.contains(&finding) {
                findings.push(finding);
            }
        }
    }
    check(
        "egress",
        findings,
        format!(
            "{} request(s), all to declared hosts or the api-base origin",
            requests.len()
        ),
        "declare every platform host in describe().hosts, or take the base URL from a config field marked api-base",
    )
}

fn secrets_check(observer: &Observer, messages: &[String], secrets: &[String]) -> Check {
    let mut findings = vec![];
    let leaked =
        |text: &str| text.contains(REDACTED) || secrets.iter().any(|s| text.contains(s.as_str()));
    for line in observer.lines() {
        if leaked(&line) && findings.len() < 5 {
            findings.push(format!(
                "logged a secret (redacted by the host): {}",
                cut(&line)
            ));
        }
    }
    for message in messages {
        if leaked(message) && findings.len() < 10 {
            findings.push(format!(
                "an error carried a secret (redacted by the host): {}",
                cut(message)
            ));
        }
    }
    check(
        "secrets",
        findings,
        if secrets.is_empty() {
            "no secret config field to watch".into()
        } else {
            format!(
                "no secret value in {} log line(s) or {} error message(s)",
                observer.lines().len(),
                messages.len()
            )
        },
        "never log, return or put in an error a config value marked secret",
    )
}

/// An error on one line: wasmtime's parse errors carry byte dumps over several.
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn cut(text: &str) -> String {
    let text = qiao_runtime::redact::truncate(text, 160);
    text.replace('\n', " ")
}

fn budget_check(b: &Budget) -> Check {
    let mut findings = vec![];
    if b.size_bytes > MAX_SIZE_BYTES {
        findings.push(format!(
            "{} bytes: over {} MiB",
            b.size_bytes,
            MAX_SIZE_BYTES >> 20
        ));
    }
    if b.cold_compile_ms > MAX_COLD_COMPILE_MS {
        findings.push(format!(
            "cold compile {:.0} ms: over {MAX_COLD_COMPILE_MS} ms",
            b.cold_compile_ms
        ));
    }
    if b.cached_load_ms > MAX_CACHED_LOAD_MS {
        findings.push(format!(
            "cached load {:.0} ms: over {MAX_CACHED_LOAD_MS} ms",
            b.cached_load_ms
        ));
    }
    if b.instantiate_describe_ms > MAX_INSTANTIATE_DESCRIBE_MS {
        findings.push(format!(
            "instantiate + describe {:.0} ms: over {MAX_INSTANTIATE_DESCRIBE_MS} ms",
            b.instantiate_describe_ms
        ));
    }
    if b.peak_memory_bytes > MAX_PEAK_MEMORY_BYTES {
        findings.push(format!(
            "memory grew to {} MiB: over {} MiB",
            b.peak_memory_bytes >> 20,
            MAX_PEAK_MEMORY_BYTES >> 20
        ));
    }
    check(
        "budget",
        findings,
        format!(
            "{:.1} MiB, cold compile {:.0} ms, cached load {:.1} ms, instantiate+describe {:.1} ms, memory {:.1} MiB, {} calls at {:.2} ms",
            b.size_bytes as f64 / 1048576.0,
            b.cold_compile_ms,
            b.cached_load_ms,
            b.instantiate_describe_ms,
            b.peak_memory_bytes as f64 / 1048576.0,
            b.calls,
            b.mean_call_ms
        ),
        "make it smaller (release build, strip, opt-level s) and keep per-call memory bounded",
    )
}

/// The report as a table: a line per check, its findings under it, and what to fix.
pub fn print(report: &Report) {
    println!(
        "{} — {} (contract {})",
        report.file.display(),
        report.connector.as_deref().unwrap_or("?"),
        report.contract.unwrap_or("?")
    );
    println!();
    for c in &report.checks {
        let mark = match c.status {
            Status::Pass => "PASS",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        };
        println!("  {mark}  {:<16} {}", c.name, c.summary);
        for f in &c.findings {
            println!("          - {f}");
        }
        if c.status != Status::Pass && !c.fix.is_empty() {
            println!("          fix: {}", c.fix);
        }
    }
    println!();
    let failed = report.failed().count();
    if failed == 0 {
        println!("passed: every check passed or was skipped");
    } else {
        println!("FAILED: {failed} check(s) failed");
    }
}

/// The report as JSON (for CI).
pub fn json(report: &Report) -> Value {
    serde_json::to_value(report).unwrap_or(Value::Null)
}
