//! Who may call Qiao: API keys, their scopes and the connections they are limited to.
//!
//! A key reads `qiao_<id>_<secret>`. The id is public (it names the key in lists and the audit log); only the
//! sha256 of the secret is stored, so the store cannot give a key away. Keys are made, listed and revoked with
//! `qiao keys`, and checked on every request by qiao-api's `auth`.

use anyhow::{Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use sha2::{Digest, Sha256};

pub use qiao_store::keys::{ApiKey, Scope};

/// A key as the caller presents it: the id to look up and the hash of the secret to compare.
pub struct Presented {
    pub id: String,
    pub secret_hash: [u8; 32],
}

const PREFIX: &str = "qiao_";
const ID_BYTES: usize = 6;
const SECRET_BYTES: usize = 32;

/// A new key: its id, the full key to hand to the caller (once), and the hash to store.
pub fn generate() -> (String, String, [u8; 32]) {
    let mut id = [0u8; ID_BYTES];
    let mut secret = [0u8; SECRET_BYTES];
    rand::rng().fill_bytes(&mut id);
    rand::rng().fill_bytes(&mut secret);
    let id = hex::encode(id);
    let secret = URL_SAFE_NO_PAD.encode(secret);
    let key = format!("{PREFIX}{id}_{secret}");
    (id, key, hash(&secret))
}

/// Splits a presented key; `None` when it is not one of ours (the caller answers 401 either way).
pub fn parse(key: &str) -> Option<Presented> {
    let rest = key.strip_prefix(PREFIX)?;
    let (id, secret) = rest.split_once('_')?;
    let well_formed = id.len() == ID_BYTES * 2
        && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        && (40..=64).contains(&secret.len());
    well_formed.then(|| Presented {
        id: id.to_string(),
        secret_hash: hash(secret),
    })
}

fn hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Compares in constant time, so response timing does not tell how much of a guess was right.
pub fn same_hash(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// Connection names a key is limited to must look like connection names (the config checks the same shape).
pub fn check_connection_names(names: &[String]) -> Result<()> {
    for name in names {
        if !qiao_config::valid_name(name) {
            bail!("connection name {name:?} must be 1-64 characters of a-z, 0-9, '-' or '_'");
        }
    }
    Ok(())
}

/// Makes a key: validates what it is for, stores its hash and records the change. Returns the key as stored
/// and the full key, which is shown to the caller once and cannot be recovered.
pub async fn create_key(
    db: &std::sync::Arc<qiao_store::Db>,
    name: &str,
    scopes: Vec<Scope>,
    connections: Option<Vec<String>>,
    expires_ms: Option<i64>,
) -> Result<(ApiKey, String)> {
    if name.trim().is_empty() || name.chars().count() > 100 {
        bail!("a key's name must be 1-100 characters (say who or what uses it, e.g. \"oa-server\")");
    }
    if scopes.is_empty() {
        bail!("a key needs at least one --scope; known: {}", Scope::ALL.map(Scope::as_str).join(", "));
    }
    if let Some(names) = &connections {
        check_connection_names(names)?;
    }
    let (id, full, secret_hash) = generate();
    let mut scopes = scopes;
    scopes.sort();
    scopes.dedup();
    let key = ApiKey {
        id,
        name: name.to_string(),
        scopes,
        connections,
        created_ms: qiao_store::now_ms(),
        expires_ms,
        revoked_ms: None,
    };
    db.create_key(key.clone(), secret_hash).await?;
    db.audit(cli_entry("keys create", &key.id, &key.name)).await?;
    Ok((key, full))
}

/// Revokes a key by id; from then on it answers 401. An unknown id is an error; revoking twice is not.
pub async fn revoke_key(db: &std::sync::Arc<qiao_store::Db>, id: &str) -> Result<ApiKey> {
    let Some(_) = db.revoke_key(id.to_string()).await? else {
        bail!("no API key {id:?}; `qiao keys list` shows them");
    };
    let (key, _) = db.key(id.to_string()).await?.expect("key just revoked");
    db.audit(cli_entry("keys revoke", &key.id, &key.name)).await?;
    Ok(key)
}

fn cli_entry(action: &str, id: &str, name: &str) -> qiao_store::NewAuditEntry {
    qiao_store::NewAuditEntry {
        actor: "cli".into(),
        actor_name: std::env::var("USER").ok(),
        action: action.into(),
        target: format!("key {id} ({name})"),
        connection: None,
        status: 0,
        error: None,
        operation_id: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_key_parses_back_to_its_id_and_hash() {
        let (id, key, stored) = generate();
        assert!(key.starts_with("qiao_"));
        let presented = parse(&key).unwrap();
        assert_eq!(presented.id, id);
        assert!(same_hash(&presented.secret_hash, &stored));
        let (_, other, _) = generate();
        assert!(!same_hash(&parse(&other).unwrap().secret_hash, &stored));
    }

    #[test]
    fn malformed_keys_are_not_parsed() {
        for bad in ["", "qiao_", "qiao_abc_def", "Bearer x", "qiao_ABCDEF012345_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"] {
            assert!(parse(bad).is_none(), "{bad}");
        }
    }

    #[test]
    fn admin_has_every_scope_and_limits_are_by_name() {
        let key = ApiKey {
            id: "x".into(),
            name: "x".into(),
            scopes: vec![Scope::Admin],
            connections: Some(vec!["hq".into()]),
            created_ms: 0,
            expires_ms: Some(10),
            revoked_ms: None,
        };
        assert!(Scope::ALL.iter().all(|s| key.has(*s)));
        assert!(key.reaches("hq") && !key.reaches("hq2"));
        assert_eq!(key.unusable(5), None);
        assert_eq!(key.unusable(10), Some("the API key has expired"));
        assert_eq!("messages:send".parse::<Scope>().unwrap(), Scope::MessagesSend);
        assert!("messages:write".parse::<Scope>().unwrap_err().to_string().contains("messages:send"));
    }
}

/// How long a key read from the store is trusted without reading it again: a key revoked (`qiao keys revoke`, a
/// separate process) stops working within this long. Expiry is checked on every request, so it is exact.
pub const KEY_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(1);
/// Keys kept at most; beyond, the cache starts over (a flood of distinct valid keys cannot grow it).
const KEY_CACHE_MAX: usize = 10_000;

/// Keys as last read from the store, for [`KEY_CACHE_TTL`]: a client's every request would otherwise wait for
/// the store's one connection to look its key up. Only keys that exist are kept (an unknown id is read each time,
/// as before, and answered alike), with their secret's hash, which is compared on every request.
#[derive(Default)]
pub struct KeyCache {
    entries: std::sync::Mutex<std::collections::HashMap<String, (ApiKey, Vec<u8>, std::time::Instant)>>,
}

impl KeyCache {
    /// The key with this id and the hash of its secret, from the cache while fresh, else from the store.
    pub async fn find(&self, db: &std::sync::Arc<qiao_store::Db>, id: &str) -> Result<Option<(ApiKey, Vec<u8>)>> {
        if let Some((key, hash, read)) = self.entries().get(id)
            && read.elapsed() < KEY_CACHE_TTL
        {
            return Ok(Some((key.clone(), hash.clone())));
        }
        let found = db.key(id.to_string()).await?;
        let mut entries = self.entries();
        match &found {
            Some((key, hash)) => {
                if entries.len() >= KEY_CACHE_MAX {
                    entries.clear();
                }
                entries.insert(id.to_string(), (key.clone(), hash.clone(), std::time::Instant::now()));
            }
            None => {
                entries.remove(id);
            }
        }
        Ok(found)
    }

    fn entries(
        &self,
    ) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, (ApiKey, Vec<u8>, std::time::Instant)>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }
}
