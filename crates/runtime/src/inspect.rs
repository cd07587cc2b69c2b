//! `qiao connectors inspect FILE`: what a component imports and exports, what its `describe` says, or why the
//! host would refuse it.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use wasmtime::component::Component;

use crate::engine::{PoolSize, new_engine};
use crate::kv::MemoryKv;
use crate::runtime::Runtime;

pub async fn inspect(file: &Path) -> Result<Value> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let engine = new_engine(&PoolSize {
        instances: 4,
        ..PoolSize::default()
    })?;
    let component = Component::new(&engine, &bytes)
        .map_err(|e| anyhow::anyhow!("not a valid WebAssembly component: {e:#}"))?;
    let ty = component.component_type();
    let imports: Vec<String> = ty
        .imports(&engine)
        .map(|(name, _)| name.to_string())
        .collect();
    let exports: Vec<String> = ty
        .exports(&engine)
        .map(|(name, _)| name.to_string())
        .collect();
    // Nothing is kept: no compile cache, no connections, state in memory.
    let runtime = Runtime::new(engine, None, PathBuf::new(), vec![], Arc::new(MemoryKv::default()))?;
    let hash = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let loaded = runtime.connector_from(file, hash, &component).await;
    let mut report = json!({ "file": file, "size": std::fs::metadata(file)?.len(), "imports": imports, "exports": exports });
    match loaded {
        Ok(c) => {
            report["valid"] = json!(true);
            report["contract"] = json!(c.contract);
            report["capabilities"] = json!(c.exports.capabilities());
            report["describe"] = serde_json::to_value(&c.info)?;
            report["sha256"] = json!(c.hash);
        }
        Err(e) => {
            report["valid"] = json!(false);
            report["error"] = json!(format!("{e:#}"));
        }
    }
    Ok(report)
}
