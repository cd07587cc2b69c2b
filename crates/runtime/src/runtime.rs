//! Where a connector is loaded (`load_connector`) and called (`call`): a fresh instance per call, in its
//! connection's sandbox, with every failure turned into a [`CallError`].

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use sha2::{Digest, Sha256};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tracing::Instrument;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use qiao_config::{Connection, Limits};
use qiao_contract::{Call, Capability, Reply, types};

use crate::compile_cache::CompileCache;
use crate::connector::{self, Connector, Exports};
use crate::registry::Registry;
use crate::dispatch::dispatch;
use crate::imports::http::{AllowList, Grants};
use crate::kv::KvStore;
use crate::observe::Observer;
use crate::redact::{clean, redacted_error, secret_values};
use crate::sandbox::{HostState, Sandbox};
use crate::scheduling::CallPool;

impl CallError {
    /// The `outcome` label of `qiao_connector_calls_total`.
    fn metric_outcome(&self) -> &'static str {
        match self {
            CallError::Connector(_) => "error",
            CallError::Timeout { .. } => "timeout",
            CallError::CpuLimit { .. } => "cpu_limit",
            CallError::Trap { .. } => "trap",
            CallError::Busy { .. } => "busy",
            CallError::ConnectorNotLoaded { .. } => "not_loaded",
            CallError::UnknownConnection(_) | CallError::Unsupported { .. } | CallError::OlderContract { .. } => {
                "refused"
            }
            CallError::Host(_) => "host_error",
        }
    }
}

/// Why a call did not produce the connector's answer.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    #[error("no connection named {0:?}")]
    UnknownConnection(String),
    #[error("connection {connection:?} uses connector {connector:?}, which is not loaded")]
    ConnectorNotLoaded {
        connection: String,
        connector: String,
    },
    #[error("connector {connector:?} does not support {capability} (it does not export {export})")]
    Unsupported {
        connector: String,
        capability: &'static str,
        export: String,
    },
    #[error(
        "connector {connector:?} is built for connector contract {contract}, which has no {operation} (added in \
         {since}); a newer build of the connector may have it"
    )]
    OlderContract {
        connector: String,
        operation: &'static str,
        contract: &'static str,
        since: &'static str,
    },
    /// The connector answered with an error (usually the platform's).
    #[error("{}", .0.message)]
    Connector(types::Error),
    #[error("connector {connector:?} exceeded its CPU time limit of {limit_ms} ms")]
    CpuLimit { connector: String, limit_ms: u64 },
    #[error("connector {connector:?} did not finish within its time limit of {limit_ms} ms")]
    Timeout { connector: String, limit_ms: u64 },
    /// The connection's bulkhead stayed full for the whole wait: its own calls are using every place. Others'
    /// connections are unaffected; try again shortly.
    #[error(
        "connection {connection:?} is busy: its {concurrency} concurrent connector calls (limits.concurrency) \
         stayed in use for {waited_ms} ms; retry shortly"
    )]
    Busy { connection: String, concurrency: u32, waited_ms: u64 },
    #[error("connector {connector:?} crashed: {message}")]
    Trap { connector: String, message: String },
    #[error("internal error: {0:#}")]
    Host(anyhow::Error),
}

/// Runs connectors: the engine and linker, the compiled-code cache, the connector directory, and the configured
/// connections a call names. It knows nothing of the outbox, the store or HTTP routes (those are qiao-services
/// and qiao-api); a connection's key-value state goes through the [`KvStore`] it is given.
pub struct Runtime {
    pub engine: Arc<Engine>,
    linker: Linker<HostState>,
    /// None: compile every time (a runtime that keeps nothing, such as `qiao connectors inspect`).
    cache: Option<CompileCache>,
    kv: Arc<dyn KvStore>,
    http: crate::egress::Clients,
    pub connections: HashMap<String, Arc<Connection>>,
    /// The connector directory: what is loaded, watched for hot reload.
    pub connectors: Registry,
    /// Records what calls do (for `qiao connectors test`); None when serving.
    pub observer: Option<Arc<Observer>>,
    /// Each connection's bulkhead: places for its connector calls (`limits.concurrency`), made at first use.
    bulkheads: Mutex<HashMap<String, Arc<Semaphore>>>,
    /// Where and when calls run: each connection's lanes (how many of its calls may be running guest code, or a
    /// host function, at the same instant; held only while polled) and the pool that takes calls holding the CPU.
    calls: CallPool,
    /// Each connection's allow-list, built once per connector build it serves (it parses the API-base settings)
    /// rather than on every call.
    allow_lists: Mutex<HashMap<String, (String, Arc<AllowList>)>>,
}

/// How long a call made while connectors are still compiling at start waits for its own.
pub const STARTUP_PATIENCE: Duration = Duration::from_secs(10);

/// How long a busy connection's caller is told to wait before trying again.
pub const BUSY_RETRY_AFTER: Duration = Duration::from_secs(1);

impl Runtime {
    /// `cache_dir`: where compiled components are kept (None: not kept). `kv`: where connections' state lives.
    pub fn new(
        engine: Arc<Engine>,
        cache_dir: Option<PathBuf>,
        connectors_dir: PathBuf,
        connections: Vec<Connection>,
        kv: Arc<dyn KvStore>,
    ) -> Result<Runtime> {
        let http = crate::egress::Clients::new()?;
        Ok(Runtime {
            linker: crate::sandbox::linker(&engine)?,
            cache: cache_dir.map(CompileCache::new).transpose()?,
            kv,
            engine,
            http,
            connections: connections
                .into_iter()
                .map(|c| (c.name.clone(), Arc::new(c)))
                .collect(),
            connectors: Registry::new(connectors_dir),
            observer: None,
            bulkheads: Mutex::new(HashMap::new()),
            calls: CallPool::new()?,
            allow_lists: Mutex::new(HashMap::new()),
        })
    }

    /// Compiles (or loads from the cache) a component, links it, finds its capabilities and asks who it is.
    pub async fn load_connector(&self, file: &Path, bytes: Vec<u8>) -> Result<Connector> {
        let hash = hex::encode(Sha256::digest(&bytes));
        let engine = self.engine.clone();
        let started = Instant::now();
        let (component, cached) = {
            let hash = hash.clone();
            let cache = self.cache.clone();
            tokio::task::spawn_blocking(move || match cache {
                Some(cache) => cache.load(&engine, &hash, &bytes),
                None => Ok((Component::new(&engine, &bytes)?, false)),
            })
            .await??
        };
        let connector = self.connector_from(file, hash, &component).await?;
        tracing::info!(
            file = %file.display(),
            id = %connector.info.id,
            version = %connector.info.version,
            capabilities = ?connector.exports.capabilities(),
            from_cache = cached,
            elapsed_ms = started.elapsed().as_millis() as u64,
            "loaded connector"
        );
        Ok(connector)
    }

    /// Links a compiled component, finds its capabilities and asks who it is.
    pub async fn connector_from(
        &self,
        file: &Path,
        hash: String,
        component: &Component,
    ) -> Result<Connector> {
        let contract = component_contract(&self.engine, component)?;
        let pre = self.linker.instantiate_pre(component).map_err(|e| {
            anyhow::anyhow!(
                "{e:#} (a connector may import only qiao:connector/* and wasi:*@0.2 interfaces)"
            )
        })?;
        let exports = Exports::detect(&pre, contract)?;
        let mut connector = Connector {
            file: file.to_path_buf(),
            hash,
            info: connector::default_info(file),
            contract,
            exports,
            pre,
        };
        if connector.exports.has(Capability::Describe) {
            let loading = Arc::new(Connection {
                name: "(loading)".into(),
                connector: String::new(),
                values: HashMap::new(),
                ..Default::default()
            });
            let mut store = self.new_store(loading, Arc::new(AllowList::default()));
            let instance = connector.pre.instantiate_async(&mut store).await?;
            let described = crate::dispatch::describe(&connector.exports, &mut store, &instance);
            if let Some(info) = tokio::time::timeout(Duration::from_secs(10), described)
                .await
                .context("describe did not answer within 10 s")??
            {
                connector.info = info;
            }
        }
        connector::validate_info(&connector.info)?;
        Ok(connector)
    }

    fn new_store(
        &self,
        connection: Arc<Connection>,
        allow: Arc<AllowList>,
    ) -> wasmtime::Store<HostState> {
        Sandbox {
            engine: &self.engine,
            connection,
            allow,
            kv: self.kv.clone(),
            http: self.http.clone(),
            observer: self.observer.clone(),
        }
        .new_store()
    }

    /// The connection and the connector that would serve a call of `capability` now.
    fn resolve(
        &self,
        connection: &str,
        capability: Capability,
    ) -> Result<(&Arc<Connection>, Arc<Connector>), CallError> {
        let conn = self
            .connections
            .get(connection)
            .ok_or_else(|| CallError::UnknownConnection(connection.into()))?;
        // Held for the whole call: a reload in the meantime does not affect it.
        let connector = self
            .connectors
            .get(&conn.connector)
            .ok_or_else(|| CallError::ConnectorNotLoaded {
                connection: conn.name.clone(),
                connector: conn.connector.clone(),
            })?;
        if !connector.exports.has(capability) {
            return Err(CallError::Unsupported {
                connector: connector.id().into(),
                capability: capability.name(),
                export: capability.export_name(newest(connector.contract, capability.since())),
            });
        }
        Ok((conn, connector))
    }

    /// [`Self::resolve`], and the connector's contract has the operation.
    fn resolve_call(&self, connection: &str, call: &Call) -> Result<(&Arc<Connection>, Arc<Connector>), CallError> {
        let (conn, connector) = self.resolve(connection, call.capability())?;
        if !qiao_contract::has_since(connector.contract, call.since()) {
            return Err(CallError::OlderContract {
                connector: connector.id().into(),
                operation: call.stored_name(),
                contract: connector.contract,
                since: call.since(),
            });
        }
        Ok((conn, connector))
    }

    /// Whether a write of `capability` could ever succeed on this connection, for refusing it before it is
    /// queued. A connector that is not loaded yet may be soon: that is not refused.
    pub fn check_callable(&self, connection: &str, capability: Capability) -> Result<(), CallError> {
        match self.resolve(connection, capability) {
            Ok(_) | Err(CallError::ConnectorNotLoaded { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Warns about each connection whose connector is not loaded after the first scan: its calls answer 503.
    pub fn warn_unserved_connections(&self) {
        let mut unserved: Vec<&Arc<Connection>> =
            self.connections.values().filter(|c| self.connectors.get(&c.connector).is_none()).collect();
        unserved.sort_by(|a, b| a.name.cmp(&b.name));
        for connection in unserved {
            tracing::warn!(
                connection = %connection.name,
                connector = %connection.connector,
                "connection's connector is not loaded: its calls answer 503 until a file providing it is loaded"
            );
        }
    }

    /// During startup a call waits, at most [`STARTUP_PATIENCE`], for its connector to finish compiling instead of
    /// being refused; once the first scan has ended, nothing waits.
    async fn await_connector(&self, connection: &str) {
        if self.connectors.is_ready() {
            return;
        }
        if let Some(conn) = self.connections.get(connection) {
            self.connectors.get_or_wait(&conn.connector, STARTUP_PATIENCE).await;
        }
    }

    /// Warns, once per connection of this connector, about hosts the connector declares that the connection
    /// does not grant (at start, and whenever the connector is (re)loaded).
    pub fn warn_missing_grants(&self, connector: &Connector) {
        let mut connections: Vec<&Arc<Connection>> = self
            .connections
            .values()
            .filter(|c| c.connector == connector.info.id)
            .collect();
        connections.sort_by(|a, b| a.name.cmp(&b.name));
        for connection in connections {
            Grants::new(&connector.info.hosts, connection).warn_missing(connection);
        }
    }

    /// [`Self::check_callable`] for one operation: also refused when the connector's contract is older than it.
    pub fn check_call(&self, connection: &str, call: &Call) -> Result<(), CallError> {
        match self.resolve_call(connection, call) {
            Ok(_) | Err(CallError::ConnectorNotLoaded { .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A place in the connection's bulkhead, waiting up to `limits.queue_wait_ms` for one; held for the call.
    async fn bulkhead(&self, conn: &Connection) -> Result<OwnedSemaphorePermit, CallError> {
        let slots = {
            let mut bulkheads = self.bulkheads.lock().unwrap_or_else(|e| e.into_inner());
            bulkheads
                .entry(conn.name.clone())
                .or_insert_with(|| Arc::new(Semaphore::new(conn.limits.concurrency.max(1) as usize)))
                .clone()
        };
        if let Ok(permit) = slots.clone().try_acquire_owned() {
            return Ok(permit);
        }
        let wait = Duration::from_millis(conn.limits.queue_wait_ms);
        match tokio::time::timeout(wait, slots.acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                tracing::warn!(connection = %conn.name, concurrency = conn.limits.concurrency, "connection busy: call refused");
                Err(CallError::Busy {
                    connection: conn.name.clone(),
                    concurrency: conn.limits.concurrency,
                    waited_ms: conn.limits.queue_wait_ms,
                })
            }
        }
    }

    /// Calls of a connection running now (for tests and status).
    /// Where an event stream of `connection` may connect: the URL its connector's `open` answered, checked like
    /// its HTTP requests. `Ok(true)`: an origin of one of the connection's API-base settings (the operator's, so
    /// anywhere; `ws://` only on loopback); `Ok(false)`: a declared and granted host over `wss://` on the default
    /// port, to be reached on public addresses only.
    pub fn stream_egress(&self, connection: &str, url: &url::Url) -> Result<bool, String> {
        let conn = self.connections.get(connection).ok_or_else(|| format!("no connection named {connection:?}"))?;
        let connector = self
            .connectors
            .get(&conn.connector)
            .ok_or_else(|| format!("connector {:?} is not loaded", conn.connector))?;
        crate::imports::http::websocket_route(&AllowList::new(&connector.info, conn), url, connection)
    }

    pub fn calls_running(&self, connection: &str) -> usize {
        let Some(conn) = self.connections.get(connection) else { return 0 };
        let bulkheads = self.bulkheads.lock().unwrap_or_else(|e| e.into_inner());
        bulkheads
            .get(connection)
            .map_or(0, |s| (conn.limits.concurrency.max(1) as usize).saturating_sub(s.available_permits()))
    }

    /// `conn`'s allow-list for the connector build serving it now.
    fn allow_list(&self, conn: &Connection, connector: &Connector) -> Arc<AllowList> {
        let mut lists = self.allow_lists.lock().unwrap_or_else(|e| e.into_inner());
        match lists.get(&conn.name) {
            Some((hash, list)) if *hash == connector.hash => list.clone(),
            _ => {
                let list = Arc::new(AllowList::new(&connector.info, conn));
                lists.insert(conn.name.clone(), (connector.hash.clone(), list.clone()));
                list
            }
        }
    }

    /// Runs one operation on a connection's connector, in a fresh instance with the connection's limits, once
    /// it has a place in the connection's bulkhead.
    pub async fn call(&self, connection: &str, call: Call) -> Result<Reply, CallError> {
        let operation = call.operation();
        let started = Instant::now();
        let outcome = self.call_measured(connection, call).await;
        let took = started.elapsed();
        match &outcome {
            Ok(_) => qiao_metrics::connector_call(connection, operation, "ok", took),
            Err(e) => {
                qiao_metrics::connector_call(connection, operation, e.metric_outcome(), took);
                if let CallError::Connector(e) = e {
                    qiao_metrics::connector_error(connection, operation, e.kind.name(), e.platform_code.as_deref());
                }
            }
        }
        outcome
    }

    async fn call_measured(&self, connection: &str, call: Call) -> Result<Reply, CallError> {
        let capability = call.capability();
        self.await_connector(connection).await;
        let (conn, connector) = self.resolve_call(connection, &call)?;
        let _place = self.bulkhead(conn).await?;
        let operation = call.operation();
        let allow = self.allow_list(conn, &connector);
        let mut store = self.new_store(conn.clone(), allow);
        let limits = conn.limits.clone();
        let span = tracing::info_span!(
            "connector_call",
            connection = %conn.name,
            connector = %connector.id(),
            version = %connector.info.version,
            capability = capability.name(),
            operation,
            dropped_log_lines = tracing::field::Empty
        );
        let started = Instant::now();
        let seat = self.calls.seat(&conn.name);
        // The call owns its store (it may be moved to the call pool), and hands it back for what follows.
        let guest = connector.clone();
        let timeout = Duration::from_millis(limits.timeout_ms);
        let laned_seat = seat.clone();
        let run = async move {
            let laned = laned_seat.laned(async {
                let instance = guest.pre.instantiate_async(&mut store).await?;
                dispatch(&guest.exports, &mut store, &instance, call).await
            });
            let result = tokio::time::timeout(timeout, laned).await;
            (result, store)
        };
        let Some((result, store)) = self.calls.run(&seat, run.instrument(span.clone())).await else {
            let connector = connector.id().to_string();
            return Err(CallError::Trap { connector, message: "the server is stopping".into() });
        };
        let elapsed_ms = started.elapsed().as_millis() as u64;
        let state = store.data();
        log_stdio(&span, state, self.observer.as_deref());
        if let Some(observer) = &self.observer {
            observer.memory(state.peak_memory());
        }
        if state.log.dropped > 0 {
            span.record("dropped_log_lines", state.log.dropped);
        }
        let id = connector.id().to_string();
        // A host function that refused (an input over its bound) or a budget spent in host calls fails the call
        // even when the guest finished before its next epoch check.
        let refused = state.cpu.refused();
        let outcome = match result {
            Err(_) => Err(CallError::Timeout {
                connector: id,
                limit_ms: limits.timeout_ms,
            }),
            _ if refused.is_some() => Err(CallError::Trap {
                connector: id,
                message: refused.unwrap_or_default(),
            }),
            _ if state.cpu_exhausted() => Err(CallError::CpuLimit {
                connector: id,
                limit_ms: limits.cpu_ms,
            }),
            Ok(Err(trap)) => Err(CallError::Trap {
                connector: id,
                message: describe_trap(&trap, &limits),
            }),
            Ok(Ok(Err(e))) => Err(CallError::Connector(redacted_error(e, conn))),
            Ok(Ok(Ok(reply))) => Ok(reply),
        };
        // A success is logged at debug: a line per call cost a fifth of a read's CPU, and the metrics count them.
        span.in_scope(|| match &outcome {
            Ok(_) => tracing::debug!(elapsed_ms, outcome = "ok", "connector call"),
            Err(CallError::Connector(e)) => {
                tracing::info!(elapsed_ms, outcome = "error", kind = ?e.kind, code = e.platform_code, "connector call")
            }
            Err(e) => tracing::warn!(elapsed_ms, outcome = "failed", error = %e, "connector call"),
        });
        outcome
    }
}

fn newest(a: &'static str, b: &'static str) -> &'static str {
    if qiao_contract::has_since(a, b) { a } else { b }
}

/// The contract version a component is built for (the latest supported when it names no `qiao:connector`
/// interface, so a bare component still loads with no capabilities), or why it cannot load here.
pub fn component_contract(engine: &Engine, component: &Component) -> Result<&'static str> {
    let ty = component.component_type();
    let imports: Vec<String> = ty.imports(engine).map(|(name, _)| name.to_string()).collect();
    let exports: Vec<String> = ty.exports(engine).map(|(name, _)| name.to_string()).collect();
    let names = imports.iter().chain(&exports).map(String::as_str);
    match qiao_contract::contract_version(names) {
        Ok(Some(version)) => Ok(version),
        Ok(None) => Ok(qiao_contract::SUPPORTED_VERSIONS.last().expect("a supported version")),
        Err(why) => anyhow::bail!("{why}"),
    }
}

/// A trap's message, with the limit it hit spelled out when it was the memory limit.
fn describe_trap(trap: &wasmtime::Error, limits: &Limits) -> String {
    let text = format!("{trap:#}");
    let mut first = text.lines().next().unwrap_or_default().trim_end_matches(':').to_string();
    // The first line is often only "error while executing at wasm backtrace"; the trap code says what happened.
    if let Some(code) = trap.downcast_ref::<wasmtime::Trap>() {
        first = format!("{code} ({first})");
    }
    if text.contains("growing memory")
        || text.contains("memory.grow")
        || text.contains("memory limit")
    {
        format!(
            "memory limit of {} MiB exceeded ({first})",
            limits.memory_mb
        )
    } else {
        first
    }
}

fn log_stdio(span: &tracing::Span, state: &HostState, observer: Option<&Observer>) {
    let mut secrets = None;
    for (stream, pipe) in [("stdout", &state.stdout), ("stderr", &state.stderr)] {
        let bytes = pipe.contents();
        if !bytes.is_empty() {
            let text = String::from_utf8_lossy(&bytes);
            let secrets = secrets
                .get_or_insert_with(|| secret_values(&state.connection));
            let text = clean(&text, usize::MAX, secrets);
            if let Some(observer) = observer {
                observer.line(format!("{stream}: {}", text.trim_end()));
            }
            span.in_scope(|| tracing::info!(target: "connector", stream, "{}", text.trim_end()));
        }
    }
}
