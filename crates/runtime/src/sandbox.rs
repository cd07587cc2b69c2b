//! Where a connector call's Store is made, and with it every limit of the sandbox: memory, CPU time, outbound
//! requests, and a WASI context that grants nothing (no files, no environment, no sockets).

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use qiao_config::Connection;
use crate::engine::TICK;
use wasmtime::component::Linker;

use crate::imports::{self, config::ConfigState, crypto::CryptoState, http::{AllowList, HttpState}, kv::KvState, log::LogState};
use crate::kv::KvStore;
use crate::observe::Observer;

/// What a guest writes to stdout/stderr is kept (up to this much) and logged after the call.
const STDIO_CAPTURE_BYTES: usize = 64 * 1024;

/// A call's store data: each import's own state, the CPU budget, and WASI (which grants nothing).
pub struct HostState {
    pub connection: Arc<Connection>,
    pub http: HttpState,
    pub kv: KvState,
    /// This call's log lines: its budget used, lines dropped, secrets to redact.
    pub log: LogState,
    pub config: ConfigState,
    pub crypto: CryptoState,
    /// Epoch ticks observed while Wasm was running: the call's CPU time, in `TICK`s.
    pub cpu_ticks: u64,
    pub cpu_budget_ticks: u64,
    limits: Limiter,
    wasi: WasiCtx,
    table: ResourceTable,
    pub stdout: MemoryOutputPipe,
    pub stderr: MemoryOutputPipe,
}

impl HostState {
    pub fn cpu_exhausted(&self) -> bool {
        self.cpu_ticks > self.cpu_budget_ticks
    }

    /// The most linear memory one of the call's memories was allowed to grow to, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.limits.peak_memory
    }
}

/// The store's limits, noting the largest memory granted (the call's high-water mark).
struct Limiter {
    inner: StoreLimits,
    peak_memory: usize,
}

impl ResourceLimiter for Limiter {
    fn memory_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        let granted = self.inner.memory_growing(current, desired, maximum)?;
        if granted {
            self.peak_memory = self.peak_memory.max(desired);
        }
        Ok(granted)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(&mut self, current: usize, desired: usize, maximum: Option<usize>) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// The linker every connector is instantiated against: our interfaces in every supported contract version, each
/// projected onto its own state, plus
/// WASI p2, which components built from Rust, JavaScript or Python import even when they do no I/O.
pub fn linker(engine: &Engine) -> wasmtime::Result<Linker<HostState>> {
    let mut linker = Linker::<HostState>::new(engine);
    wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
    imports::link_types(&mut linker)?;
    imports::http::link(&mut linker, |s| &mut s.http)?;
    imports::kv::link(&mut linker, |s| &mut s.kv)?;
    imports::log::link(&mut linker, |s| &mut s.log)?;
    imports::config::link(&mut linker, |s| &mut s.config)?;
    imports::crypto::link(&mut linker, |s| &mut s.crypto)?;
    imports::v0_1_0::link(
        &mut linker,
        imports::v0_1_0::Getters {
            http: |s| &mut s.http,
            kv: |s| &mut s.kv,
            log: |s| &mut s.log,
            config: |s| &mut s.config,
            crypto: |s| &mut s.crypto,
        },
    )?;
    Ok(linker)
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

pub struct Sandbox<'a> {
    pub engine: &'a Engine,
    pub connection: Arc<Connection>,
    pub allow: Arc<AllowList>,
    pub kv: Arc<dyn KvStore>,
    pub http: crate::egress::Clients,
    pub observer: Option<Arc<Observer>>,
}

impl Sandbox<'_> {
    pub fn new_store(self) -> Store<HostState> {
        let limits = self.connection.limits.clone();
        let stdout = MemoryOutputPipe::new(STDIO_CAPTURE_BYTES);
        let stderr = MemoryOutputPipe::new(STDIO_CAPTURE_BYTES);
        let wasi = WasiCtx::builder()
            .stdout(stdout.clone())
            .stderr(stderr.clone())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        let connection = self.connection;
        let state = HostState {
            http: HttpState {
                connection: connection.clone(),
                allow: self.allow,
                clients: self.http,
                requests: 0,
                deadline: Instant::now() + Duration::from_millis(limits.timeout_ms),
                observer: self.observer.clone(),
            },
            kv: KvState { connection: connection.clone(), store: self.kv },
            log: LogState::new(connection.clone(), self.observer.clone()),
            config: ConfigState { connection: connection.clone() },
            crypto: CryptoState,
            connection,
            cpu_ticks: 0,
            cpu_budget_ticks: limits.cpu_ms.div_ceil(TICK.as_millis() as u64).max(1),
            limits: Limiter {
                inner: StoreLimitsBuilder::new()
                    .memory_size(usize::try_from(limits.memory_mb << 20).unwrap_or(usize::MAX))
                    .instances(64)
                    .tables(64)
                    .memories(8)
                    .trap_on_grow_failure(true)
                    .build(),
                peak_memory: 0,
            },
            wasi,
            table: ResourceTable::new(),
            stdout,
            stderr,
        };
        let mut store = Store::new(self.engine, state);
        store.limiter(|s| &mut s.limits);
        // The deadline fires once per tick in which Wasm runs (time spent awaiting host I/O is not counted more
        // than once), so the count is CPU time. Yielding also lets other calls on this thread make progress.
        store.set_epoch_deadline(1);
        store.epoch_deadline_callback(|mut ctx| {
            let state = ctx.data_mut();
            state.cpu_ticks += 1;
            if state.cpu_exhausted() {
                return Err(wasmtime::Trap::Interrupt.into());
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }
}
