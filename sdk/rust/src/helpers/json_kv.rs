//! JSON values and counters in the connection's `kv` store.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::kv;
use super::types::Error;

/// A stored value, or none if missing (or unreadable: treated as missing, to be rewritten).
pub fn get<T: DeserializeOwned>(key: &str) -> Option<T> {
    kv::get(key).and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

pub fn set<T: Serialize>(key: &str, value: &T, ttl_seconds: Option<u32>) -> Result<(), Error> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::internal(e.to_string()))?;
    kv::set(key, &bytes, ttl_seconds)
}

/// Adds one to a counter and returns the new value (1 the first time). Not atomic across concurrent calls of
/// one connection: use it for ids in tests and demos, not for money.
pub fn next(key: &str) -> Result<u64, Error> {
    let n = get::<u64>(key).unwrap_or(0) + 1;
    set(key, &n, None)?;
    Ok(n)
}
