//! The one wasmtime `Engine` and its settings: component model, async, epoch interruption, pooling allocator.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// One epoch tick. CPU budgets are counted in ticks, so this is their resolution.
pub const TICK: Duration = Duration::from_millis(10);

/// Upper bounds of the pooling allocator. Per-connection limits (config) are enforced below these by the store's
/// limiter; these only size the pool.
pub struct PoolSize {
    /// Instances alive at once (concurrent calls, across all connectors).
    pub instances: u32,
    /// The largest memory any connection may be configured with.
    pub max_memory_bytes: usize,
}

impl Default for PoolSize {
    fn default() -> Self {
        PoolSize {
            instances: 256,
            max_memory_bytes: 1 << 30,
        }
    }
}

pub fn new_engine(pool: &PoolSize) -> Result<Arc<Engine>> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Connectors in JS or Python are big components: many core instances, tables and memories each.
    let mut pooling = PoolingAllocationConfig::new();
    pooling
        .total_component_instances(pool.instances)
        .total_core_instances(pool.instances * 8)
        .total_memories(pool.instances * 2)
        .total_tables(pool.instances * 8)
        .total_stacks(pool.instances)
        .max_core_instances_per_component(64)
        .max_memories_per_component(4)
        .max_tables_per_component(16)
        .max_component_instance_size(1 << 20)
        .max_core_instance_size(8 << 20)
        .max_memory_size(pool.max_memory_bytes)
        // A call's instance is made and dropped per call. Resetting the pages its memories and tables touched
        // with memset keeps them mapped, instead of giving them back to the kernel (madvise) and faulting them in
        // again on the next call, with the TLB shootdowns across cores that come with it. They are still reset:
        // nothing of one call is seen by the next. PAGEMAP_SCAN (Linux 6.7+; `Auto` falls back to resetting the
        // whole span elsewhere) finds which pages a call touched, so only those are reset: a Rust connector's
        // 1 MiB stack is mostly untouched, and memsetting all of it cost 11% of a read's CPU.
        .pagemap_scan(Enabled::Auto)
        .linear_memory_keep_resident(if pagemap_scan_likely() { 8 << 20 } else { 1 << 20 })
        .table_keep_resident(1 << 16);
    config.allocation_strategy(InstanceAllocationStrategy::Pooling(pooling));
    let engine = Arc::new(Engine::new(&config)?);
    start_epoch_ticker(&engine);
    Ok(engine)
}

/// Whether the kernel has PAGEMAP_SCAN (Linux 6.7+). Without it wasmtime memsets the whole kept-resident span on
/// every call, so the span stays at 1 MiB there (measured: 11% of a read's CPU at 1 MiB).
fn pagemap_scan_likely() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let mut parts = release.trim().split(|c: char| !c.is_ascii_digit()).map(|p| p.parse::<u32>().unwrap_or(0));
    let (major, minor) = (parts.next().unwrap_or(0), parts.next().unwrap_or(0));
    (major, minor) >= (6, 7)
}

/// Advances the engine's epoch every `TICK` for as long as the engine lives; this is what interrupts a guest
/// that spins (see `sandbox::new_store`).
fn start_epoch_ticker(engine: &Arc<Engine>) {
    let weak = Arc::downgrade(engine);
    std::thread::Builder::new()
        .name("qiao-epoch".into())
        .spawn(move || {
            while let Some(engine) = weak.upgrade() {
                engine.increment_epoch();
                drop(engine);
                std::thread::sleep(TICK);
            }
        })
        .expect("spawn epoch thread");
}
