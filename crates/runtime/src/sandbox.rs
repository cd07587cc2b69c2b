//! Where a connector call's Store is made, and with it every limit of the sandbox: memory, CPU time, outbound
//! requests, and a WASI context that grants nothing (no files, no environment, no sockets).

use std::sync::Arc;
use std::time::{Duration, Instant};

use wasmtime::component::ResourceTable;
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use qiao_config::{Connection, Limits};
use crate::engine::TICK;
use crate::imports::http::AllowList;
use crate::kv::KvStore;

/// What a guest writes to stdout/stderr is kept (up to this much) and logged after the call.
const STDIO_CAPTURE_BYTES: usize = 64 * 1024;

/// Everything one call's host functions can reach.
pub struct HostState {
    pub connection: Arc<Connection>,
    pub allow: Arc<AllowList>,
    pub kv: Arc<dyn KvStore>,
    pub http: reqwest::Client,
    /// Outbound requests made so far in this call.
    pub http_requests: u32,
    /// This call's log lines: its budget used, lines dropped, secrets to redact.
    pub log: crate::imports::log::LogState,
    /// When the call's wall-clock budget runs out.
    pub deadline: Instant,
    /// Epoch ticks observed while Wasm was running: the call's CPU time, in `TICK`s.
    pub cpu_ticks: u64,
    pub cpu_budget_ticks: u64,
    limits: StoreLimits,
    wasi: WasiCtx,
    table: ResourceTable,
    pub stdout: MemoryOutputPipe,
    pub stderr: MemoryOutputPipe,
}

impl HostState {
    pub fn limits(&self) -> &Limits {
        &self.connection.limits
    }

    pub fn cpu_exhausted(&self) -> bool {
        self.cpu_ticks > self.cpu_budget_ticks
    }
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
    pub http: reqwest::Client,
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
        let state = HostState {
            connection: self.connection,
            allow: self.allow,
            kv: self.kv,
            http: self.http,
            http_requests: 0,
            log: Default::default(),
            deadline: Instant::now() + Duration::from_millis(limits.timeout_ms),
            cpu_ticks: 0,
            cpu_budget_ticks: limits.cpu_ms.div_ceil(TICK.as_millis() as u64).max(1),
            limits: StoreLimitsBuilder::new()
                .memory_size(usize::try_from(limits.memory_mb << 20).unwrap_or(usize::MAX))
                .instances(64)
                .tables(64)
                .memories(8)
                .trap_on_grow_failure(true)
                .build(),
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
