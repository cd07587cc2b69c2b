//! The kv conventions every module shares. kv is a flat key → bytes store private to the connection, so echo
//! keeps one JSON record per object (`task:{id}`), JSON lists of ids as indexes (`tasks`), and `idem:{kind}:{key}`
//! entries that map an idempotency key to the object it created.

use qiao_sdk::{Error, config, json_kv};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// How long an idempotency key is remembered: platforms keep theirs for about a day, and the host's outbox
/// retries well within that.
const IDEMPOTENCY_TTL_SECONDS: u32 = 24 * 60 * 60;

/// The base of every URL echo hands out (sign-in, task links): the configured `api_base`, or a placeholder that
/// never resolves, so the URL's shape can still be checked without a server.
pub fn base_url() -> String {
    let base = config::get("api_base").unwrap_or_else(|| "https://echo.invalid".into());
    base.trim_end_matches('/').to_string()
}

/// A stored record, or `not-found` naming `what` (e.g. "task t-1").
pub fn load<T: DeserializeOwned>(key: &str, what: &str) -> Result<T, Error> {
    json_kv::get(key).ok_or_else(|| Error::not_found(format!("no {what}")))
}

pub fn save<T: Serialize>(key: &str, value: &T) -> Result<(), Error> {
    json_kv::set(key, value, None)
}

/// The ids in an index, oldest first; a missing index is an empty one.
pub fn ids(key: &str) -> Vec<String> {
    json_kv::get(key).unwrap_or_default()
}

/// Adds `id` once: adding twice is no error, so a retried call cannot duplicate an entry.
pub fn add_id(key: &str, id: &str) -> Result<(), Error> {
    let mut ids = ids(key);
    if !ids.iter().any(|x| x == id) {
        ids.push(id.to_string());
    }
    json_kv::set(key, &ids, None)
}

pub fn remove_id(key: &str, id: &str) -> Result<(), Error> {
    let mut ids = ids(key);
    ids.retain(|x| x != id);
    json_kv::set(key, &ids, None)
}

/// The id an earlier call with this idempotency key created, if it still exists: a retry after a lost answer
/// must return that object rather than make a second one. `exists` checks the object was not removed since.
pub fn recall_idempotent(
    kind: &str,
    key: Option<&str>,
    exists: impl Fn(&str) -> bool,
) -> Option<String> {
    let id: String = json_kv::get(&idempotency_key(kind, key?))?;
    exists(&id).then_some(id)
}

pub fn remember_idempotent(kind: &str, key: Option<&str>, id: &str) -> Result<(), Error> {
    match key {
        Some(key) => json_kv::set(
            &idempotency_key(kind, key),
            &id,
            Some(IDEMPOTENCY_TTL_SECONDS),
        ),
        None => Ok(()),
    }
}

fn idempotency_key(kind: &str, key: &str) -> String {
    format!("idem:{kind}:{key}")
}

/// A timestamp for `created-ms` / `updated-ms`, milliseconds since the Unix epoch.
///
/// The contract has no clock import. Rust's `SystemTime` reads WASI's wall clock, which the host links for every
/// component (the JavaScript and Python runtimes need it too), but a host may pin or virtualise it. So the value is
/// also forced past the last one this connection handed out (kept in kv under `clock`): a later change always
/// has a later stamp, which `updated-after-ms` filtering relies on, and with a stopped clock they degrade to a
/// plain counter.
pub fn now_ms() -> Result<u64, Error> {
    let wall = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0);
    let last: u64 = json_kv::get("clock").unwrap_or(0);
    let now = wall.max(last + 1);
    json_kv::set("clock", &now, None)?;
    Ok(now)
}

/// The caller's `extra` object with `additions` merged in, as the record's `extra` text (none when empty): echo
/// shows there the inputs that have no field of their own in the contract's record (a task's creator, a chat's
/// description), as a platform connector shows platform fields.
pub fn extra_json(
    mut extra: Map<String, Value>,
    additions: &[(&str, Option<&str>)],
) -> Option<String> {
    for (key, value) in additions {
        if let Some(value) = value {
            extra.insert(key.to_string(), (*value).into());
        }
    }
    (!extra.is_empty()).then(|| Value::Object(extra).to_string())
}
