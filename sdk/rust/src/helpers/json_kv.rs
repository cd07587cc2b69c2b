//! JSON values and counters in the connection's `kv` store.

use serde::Serialize;
use serde::de::DeserializeOwned;

use super::types::Error;
use super::{kv, logging};

/// A stored value, or none if missing (or unreadable: treated as missing, to be rewritten).
pub fn get<T: DeserializeOwned>(key: &str) -> Option<T> {
    kv::get(key).and_then(|bytes| serde_json::from_slice(&bytes).ok())
}

pub fn set<T: Serialize>(key: &str, value: &T, ttl_seconds: Option<u32>) -> Result<(), Error> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::internal(e.to_string()))?;
    kv::set(key, &bytes, ttl_seconds)
}

/// [`set`] for what a call can do without once the platform has acted (a cache, a note for a later call): a refusal
/// (the connection's kv quota is full, the store unavailable) is logged as a warning, not returned. Failing a call
/// whose work is done would make the outbox retry it (a second message, a second to-do) or give up on it although
/// it happened.
pub fn keep<T: Serialize>(key: &str, value: &T, ttl_seconds: Option<u32>) {
    if let Err(e) = set(key, value, ttl_seconds) {
        logging::warn(
            "a kv value was not stored; the call goes on without it",
            &[("key", key), ("error", &e.message)],
        );
    }
}

/// Adds one to a counter and returns the new value (1 the first time). Not atomic across concurrent calls of
/// one connection: use it for ids in tests and demos, not for money.
pub fn next(key: &str) -> Result<u64, Error> {
    let n = get::<u64>(key).unwrap_or(0) + 1;
    set(key, &n, None)?;
    Ok(n)
}
