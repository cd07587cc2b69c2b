//! Where the `kv` import keeps a connection's state. The runtime does not know the store: whoever builds the
//! [`Runtime`](crate::runtime::Runtime) hands it a [`KvStore`] (the server: the SQLite store; `qiao connectors
//! inspect` and benches: [`MemoryKv`]). Keys are always scoped by connection name here, never by the guest.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::Result;
use futures::future::BoxFuture;

/// What one connection may keep.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KvQuota {
    /// Keys and values together, in bytes (as stored).
    pub bytes: u64,
    pub keys: u64,
}

/// A write refused because it would take the connection past its [`KvQuota`]; nothing was written.
#[derive(Debug, thiserror::Error)]
#[error("kv quota exceeded: {0}")]
pub struct QuotaExceeded(pub String);

pub trait KvStore: Send + Sync + 'static {
    fn get(&self, connection: String, key: String) -> BoxFuture<'static, Result<Option<Vec<u8>>>>;
    /// Fails with [`QuotaExceeded`] (downcast it) when the write would pass `quota`.
    fn set(
        &self,
        connection: String,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u32>,
        quota: KvQuota,
    ) -> BoxFuture<'static, Result<()>>;
    fn delete(&self, connection: String, key: String) -> BoxFuture<'static, Result<()>>;
}

/// A process-local store, for runtimes that keep nothing (inspection, benches).
#[derive(Default)]
pub struct MemoryKv {
    /// (connection, key) → (value, when it expires).
    entries: Mutex<HashMap<(String, String), Entry>>,
}

type Entry = (Vec<u8>, Option<Instant>);

impl MemoryKv {
    /// How many keys a connection holds (expired ones included until read).
    pub fn len(&self, connection: &str) -> usize {
        self.entries.lock().expect("kv lock").keys().filter(|(c, _)| c == connection).count()
    }
}

impl KvStore for MemoryKv {
    fn get(&self, connection: String, key: String) -> BoxFuture<'static, Result<Option<Vec<u8>>>> {
        let mut entries = self.entries.lock().expect("kv lock");
        let found = match entries.get(&(connection.clone(), key.clone())) {
            Some((_, Some(expires))) if *expires <= Instant::now() => {
                entries.remove(&(connection, key));
                None
            }
            Some((value, _)) => Some(value.clone()),
            None => None,
        };
        Box::pin(async move { Ok(found) })
    }

    fn set(
        &self,
        connection: String,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u32>,
        quota: KvQuota,
    ) -> BoxFuture<'static, Result<()>> {
        let expires = ttl_seconds.map(|s| Instant::now() + Duration::from_secs(s.into()));
        let mut entries = self.entries.lock().expect("kv lock");
        let (mut bytes, mut keys) = (0u64, 0u64);
        for ((c, k), (v, _)) in entries.iter() {
            if *c == connection && *k != key {
                bytes += (k.len() + v.len()) as u64;
                keys += 1;
            }
        }
        if bytes + (key.len() + value.len()) as u64 > quota.bytes || keys + 1 > quota.keys {
            let refused = QuotaExceeded(format!("{} bytes in {} keys allowed", quota.bytes, quota.keys));
            return Box::pin(async move { Err(refused.into()) });
        }
        entries.insert((connection, key), (value, expires));
        Box::pin(async { Ok(()) })
    }

    fn delete(&self, connection: String, key: String) -> BoxFuture<'static, Result<()>> {
        self.entries.lock().expect("kv lock").remove(&(connection, key));
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn memory_kv_keeps_values_per_connection_until_they_expire_or_are_deleted() {
        let kv = MemoryKv::default();
        let (a, b) = (String::from("a"), String::from("b"));
        let quota = KvQuota { bytes: 100, keys: 2 };
        kv.set(a.clone(), "token".into(), b"t1".to_vec(), None, quota).await.unwrap();
        assert_eq!(kv.get(a.clone(), "token".into()).await.unwrap(), Some(b"t1".to_vec()));
        assert_eq!(kv.get(b.clone(), "token".into()).await.unwrap(), None, "another connection's key");
        kv.set(b.clone(), "gone".into(), b"x".to_vec(), Some(0), quota).await.unwrap();
        kv.set(a.clone(), "second".into(), b"x".to_vec(), None, quota).await.unwrap();
        let refused = kv.set(a.clone(), "third".into(), b"x".to_vec(), None, quota).await.unwrap_err();
        assert!(refused.downcast_ref::<QuotaExceeded>().is_some(), "{refused}");
        assert_eq!(kv.get(b, "gone".into()).await.unwrap(), None, "expired at once");
        kv.delete(a.clone(), "token".into()).await.unwrap();
        assert_eq!(kv.get(a, "token".into()).await.unwrap(), None);
    }
}
