//! Where a connector call's Store is made, and with it every limit of the sandbox: memory, CPU time, outbound
//! requests, and a WASI context that grants nothing (no files, no environment, no sockets).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
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
    /// The call's CPU budget: Wasm time (epoch ticks) and host functions' time, shared with the imports that
    /// charge it.
    pub cpu: Arc<CpuMeter>,
    limits: Limiter,
    wasi: WasiCtx,
    table: ResourceTable,
    pub stdout: MemoryOutputPipe,
    pub stderr: MemoryOutputPipe,
}

impl HostState {
    pub fn cpu_exhausted(&self) -> bool {
        self.cpu.exhausted()
    }

    /// The most linear memory one of the call's memories was allowed to grow to, in bytes.
    pub fn peak_memory(&self) -> usize {
        self.limits.peak_memory
    }
}

/// One call's CPU time against its budget. Wasm is counted in epoch ticks (one per `TICK` in which it runs);
/// what host functions do on the guest's behalf (hashing, encryption, kv, log) is measured and charged here too,
/// so a guest cannot burn CPU outside its budget by handing the work to the host. Once the budget is gone, the
/// next epoch check interrupts the guest, host functions do no more work, and the call fails with the CPU limit
/// whatever the guest answered.
#[derive(Debug)]
pub struct CpuMeter {
    wasm_nanos: AtomicU64,
    host_nanos: AtomicU64,
    /// `host_nanos` at the last epoch tick: host time within a tick is not counted again as Wasm time.
    host_at_tick: AtomicU64,
    budget_nanos: u64,
    /// Set when a host function refused the call outright (an input over its bound): the call's error.
    refused: Mutex<Option<String>>,
}

impl CpuMeter {
    pub fn new(budget: Duration) -> CpuMeter {
        CpuMeter {
            wasm_nanos: AtomicU64::new(0),
            host_nanos: AtomicU64::new(0),
            host_at_tick: AtomicU64::new(0),
            budget_nanos: u64::try_from(budget.as_nanos()).unwrap_or(u64::MAX).max(TICK.as_nanos() as u64),
            refused: Mutex::new(None),
        }
    }

    /// A meter with no practical limit (for import states made outside a call, such as unit tests).
    pub fn unlimited() -> Arc<CpuMeter> {
        Arc::new(CpuMeter::new(Duration::from_secs(u32::MAX as u64)))
    }

    /// Nanoseconds used: Wasm ticks and host time.
    pub fn used_nanos(&self) -> u64 {
        let wasm = self.wasm_nanos.load(Ordering::Relaxed);
        wasm.saturating_add(self.host_nanos.load(Ordering::Relaxed))
    }

    pub fn exhausted(&self) -> bool {
        self.used_nanos() > self.budget_nanos
    }

    /// One epoch tick in which Wasm ran: a `TICK`, less the host time already charged within it.
    fn tick(&self) {
        let host = self.host_nanos.load(Ordering::Relaxed);
        let before = self.host_at_tick.swap(host, Ordering::Relaxed);
        let tick = TICK.as_nanos() as u64;
        self.wasm_nanos.fetch_add(tick.saturating_sub(host.saturating_sub(before)), Ordering::Relaxed);
    }

    /// Adds host time; whether the budget is now gone.
    pub fn charge(&self, spent: Duration) -> bool {
        let nanos = u64::try_from(spent.as_nanos()).unwrap_or(u64::MAX);
        self.host_nanos.fetch_add(nanos, Ordering::Relaxed);
        self.exhausted()
    }

    /// Runs host work on the guest's behalf and charges its time.
    pub fn measure<T>(&self, work: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let result = work();
        self.charge(started.elapsed());
        result
    }

    /// Fails the call with `why` (the first reason given is kept) and spends the budget, so the guest stops at
    /// its next epoch check and its answer, if any, is not used.
    pub fn refuse(&self, why: String) {
        let mut refused = self.refused.lock().unwrap_or_else(|e| e.into_inner());
        refused.get_or_insert(why);
        self.host_nanos.fetch_add(self.budget_nanos.saturating_add(1), Ordering::Relaxed);
    }

    pub fn refused(&self) -> Option<String> {
        self.refused.lock().unwrap_or_else(|e| e.into_inner()).clone()
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
        let cpu = Arc::new(CpuMeter::new(Duration::from_millis(limits.cpu_ms)));
        let state = HostState {
            http: HttpState {
                connection: connection.clone(),
                allow: self.allow,
                clients: self.http,
                requests: 0,
                deadline: Instant::now() + Duration::from_millis(limits.timeout_ms),
                observer: self.observer.clone(),
            },
            kv: KvState { connection: connection.clone(), store: self.kv, cpu: cpu.clone() },
            log: LogState::new(connection.clone(), self.observer.clone()).charged_to(cpu.clone()),
            config: ConfigState { connection: connection.clone() },
            crypto: CryptoState { cpu: cpu.clone() },
            connection,
            cpu,
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
            state.cpu.tick();
            if state.cpu_exhausted() {
                return Err(wasmtime::Trap::Interrupt.into());
            }
            Ok(UpdateDeadline::Yield(1))
        });
        store
    }
}
