//! Platform access tokens, cached in the connection's `kv` until shortly before they expire. Each call runs in
//! a fresh instance, so the cache in `kv` is what lets concurrent and later calls share one token instead of
//! fetching their own (platforms rate-limit their token endpoints).

use super::types::{Error, ErrorKind};
use super::{crypto, json_kv, kv, logging};
use crate::text::hex;

pub struct Token {
    pub value: String,
    /// Lifetime the platform announced, in seconds.
    pub expires_in: u64,
}

/// A kv key for a token of `kind` issued to these credentials: changing a secret in the config must not reuse
/// the old secret's token. The credentials are hashed, so nothing secret is stored as a key.
pub fn cache_key(kind: &str, credentials: &[&str]) -> String {
    let digest = crypto::sha256(credentials.join("\n").as_bytes());
    format!("token:{kind}:{}", hex(&digest[..12]))
}

/// The cached token, or a fresh one from `fetch` (then cached for its lifetime minus a safety margin).
pub fn get(key: &str, fetch: impl FnOnce() -> Result<Token, Error>) -> Result<String, Error> {
    if let Some(token) = json_kv::get::<String>(key) {
        return Ok(token);
    }
    let token = fetch()?;
    // Refresh 5 minutes early (or at half-life for short-lived tokens), so a token never expires mid-call.
    let ttl = token.expires_in - (token.expires_in / 2).min(300);
    if ttl > 0 {
        // A token that cannot be cached (a full kv quota) still serves this call; the next fetches its own.
        json_kv::keep(key, &token.value, Some(ttl.min(u32::MAX as u64) as u32));
    }
    Ok(token.value)
}

/// Runs `call` with a token. When the platform rejects the token (`unauthorized`: expired early, revoked,
/// rotated), the cached one is dropped and `call` runs once more with a fresh token.
pub fn with_token<T>(
    key: &str,
    fetch: impl Fn() -> Result<Token, Error>,
    call: impl Fn(&str) -> Result<T, Error>,
) -> Result<T, Error> {
    match call(&get(key, &fetch)?) {
        Err(e) if e.kind == ErrorKind::Unauthorized => {
            logging::info(
                "access token rejected; fetching a new one and retrying once",
                &[("platform_code", e.platform_code.as_deref().unwrap_or(""))],
            );
            kv::delete(key);
            call(&get(key, &fetch)?)
        }
        other => other,
    }
}
