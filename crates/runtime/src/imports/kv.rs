//! The connection-scoped key-value store: every key is stored under the connection's name, so one connection
//! can never read another's tokens or cursors. Each operation's time (the store's work: encoding, SQLite) is
//! charged to the calling guest's CPU budget.

use std::sync::Arc;
use std::time::Instant;

use wasmtime::component::{HasSelf, Linker};

use qiao_config::Connection;
use qiao_contract::bindings::kv;
use qiao_contract::bindings::types::{Error, ErrorKind};

use crate::kv::{KvQuota, KvStore, QuotaExceeded};
use crate::sandbox::CpuMeter;

pub const MAX_KEY_BYTES: usize = 512;
pub const MAX_VALUE_BYTES: usize = 1024 * 1024;

/// One call's key-value access: the store, the connection every key is kept under, and the CPU budget each
/// operation's time is charged to.
pub struct KvState {
    pub connection: Arc<Connection>,
    pub store: Arc<dyn KvStore>,
    pub cpu: Arc<CpuMeter>,
}

/// Refused once the call's CPU budget is gone (the call fails with the CPU limit in any case).
fn out_of_cpu() -> Error {
    Error::new(ErrorKind::Unavailable, "the call's CPU time limit is reached")
}

/// Adds `qiao:connector/kv` to a linker whose store data holds a [`KvState`].
pub fn link<T: Send + 'static>(linker: &mut Linker<T>, get: fn(&mut T) -> &mut KvState) -> wasmtime::Result<()> {
    kv::add_to_linker::<T, HasSelf<KvState>>(linker, get)
}

impl kv::Host for KvState {
    async fn get(&mut self, key: String) -> Option<Vec<u8>> {
        if self.cpu.exhausted() {
            return None;
        }
        let connection = self.connection.name.clone();
        let started = Instant::now();
        let got = self.store.get(connection, key).await;
        self.cpu.charge(started.elapsed());
        match got {
            Ok(value) => value,
            Err(e) => {
                // To the connector a store failure looks like a miss; it will refetch (e.g. a token).
                tracing::error!(connection = %self.connection.name, "kv get failed: {e:#}");
                None
            }
        }
    }

    async fn set(
        &mut self,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u32>,
    ) -> Result<(), Error> {
        if key.len() > MAX_KEY_BYTES || value.len() > MAX_VALUE_BYTES {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                format!(
                    "kv keys are limited to {MAX_KEY_BYTES} bytes and values to {MAX_VALUE_BYTES} bytes"
                ),
            ));
        }
        if self.cpu.exhausted() {
            return Err(out_of_cpu());
        }
        let connection = self.connection.name.clone();
        let limits = &self.connection.limits;
        let quota = KvQuota { bytes: limits.kv_max_bytes, keys: limits.kv_max_keys };
        let started = Instant::now();
        let set = self.store.set(connection, key, value, ttl_seconds, quota).await;
        self.cpu.charge(started.elapsed());
        set.map_err(|e| match e.downcast_ref::<QuotaExceeded>() {
            // The connector's own doing: no retry helps until it deletes keys or the operator raises the quota.
            Some(quota) => {
                tracing::warn!(connection = %self.connection.name, "{quota}");
                let mut error = Error::new(
                    ErrorKind::InvalidInput,
                    format!("{quota} (limits.kv_max_bytes / kv_max_keys of [connections.{}])", self.connection.name),
                );
                error.platform_code = Some("kv_quota".into());
                error
            }
            None => Error::new(ErrorKind::Unavailable, format!("kv store failed: {e:#}")),
        })
    }

    async fn delete(&mut self, key: String) {
        if self.cpu.exhausted() {
            return;
        }
        let connection = self.connection.name.clone();
        let started = Instant::now();
        let deleted = self.store.delete(connection, key).await;
        self.cpu.charge(started.elapsed());
        if let Err(e) = deleted {
            tracing::error!(connection = %self.connection.name, "kv delete failed: {e:#}");
        }
    }
}
