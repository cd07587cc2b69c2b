//! Compiled components on disk, keyed by the component's content hash and the engine's compatibility hash, so a
//! restart or a reload of an unchanged file loads machine code in milliseconds instead of compiling again
//! (seconds for JavaScript and Python components).

use std::hash::{Hash, Hasher};
use std::path::PathBuf;

use anyhow::{Context, Result};
use wasmtime::Engine;
use wasmtime::component::Component;

#[derive(Clone)]
pub struct CompileCache {
    dir: PathBuf,
}

impl CompileCache {
    pub fn new(dir: PathBuf) -> Result<CompileCache> {
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create cache dir {}", dir.display()))?;
        Ok(CompileCache { dir })
    }

    /// `hash` is the hex SHA-256 of `bytes`. Returns the component and whether it came from the cache.
    pub fn load(&self, engine: &Engine, hash: &str, bytes: &[u8]) -> Result<(Component, bool)> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let path = self.dir.join(format!("{hash}-{:016x}.cwasm", h.finish()));
        if path.exists() {
            // SAFETY: files in the cache dir are written only by `Component::serialize` below, from our own data
            // dir; the engine hash in the name rejects code from another wasmtime build or configuration.
            match unsafe { Component::deserialize_file(engine, &path) } {
                Ok(component) => return Ok((component, true)),
                Err(e) => {
                    tracing::warn!(path = %path.display(), "ignoring unusable compile cache entry: {e:#}")
                }
            }
        }
        let component = Component::new(engine, bytes)?;
        // Unique per writer: servers (or tests in one process) may share a cache dir.
        let tmp = path.with_extension(format!(
            "tmp{}-{}",
            std::process::id(),
            rand::random::<u64>()
        ));
        let written = component
            .serialize()
            .and_then(|code| Ok(std::fs::write(&tmp, code)?))
            .and_then(|()| Ok(std::fs::rename(&tmp, &path)?));
        if let Err(e) = written {
            tracing::warn!(path = %path.display(), "could not write compile cache: {e:#}");
        }
        Ok((component, false))
    }
}
