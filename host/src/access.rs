//! Who may call Qiao: API keys, their scopes and the connections they are limited to.
//!
//! A key reads `qiao_<id>_<secret>`. The id is public (it names the key in lists and the audit log); only the
//! sha256 of the secret is stored, so the store cannot give a key away. Keys are made, listed and revoked with
//! `qiao keys`, and checked on every request by `api::auth`.

use std::fmt;
use std::str::FromStr;

use anyhow::{Result, bail};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore;
use serde::{Serialize, Serializer};
use sha2::{Digest, Sha256};

/// What a key may do. `admin` may do everything.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Scope {
    /// Read departments and users; SSO (authorize URL, resolve a login code).
    IdentityRead,
    /// Create, update and delete departments and users on the platforms.
    IdentityWrite,
    /// Send and recall messages.
    MessagesSend,
    /// Read status of messages.
    MessagesRead,
    ApprovalsRead,
    /// Create, approve, reject and cancel approvals.
    ApprovalsWrite,
    /// Read the event log; ask a connector to poll; list subscriptions.
    EventsRead,
    /// Create and delete subscriptions; retry and discard their dead letters.
    SubscriptionsWrite,
    /// Read every operation in the outbox (a key can always read the operations it made itself).
    OperationsRead,
    /// Retry and discard operations.
    OperationsWrite,
    /// List connectors and connections.
    StatusRead,
    AuditRead,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 13] = [
        Scope::IdentityRead,
        Scope::IdentityWrite,
        Scope::MessagesSend,
        Scope::MessagesRead,
        Scope::ApprovalsRead,
        Scope::ApprovalsWrite,
        Scope::EventsRead,
        Scope::SubscriptionsWrite,
        Scope::OperationsRead,
        Scope::OperationsWrite,
        Scope::StatusRead,
        Scope::AuditRead,
        Scope::Admin,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::IdentityRead => "identity:read",
            Scope::IdentityWrite => "identity:write",
            Scope::MessagesSend => "messages:send",
            Scope::MessagesRead => "messages:read",
            Scope::ApprovalsRead => "approvals:read",
            Scope::ApprovalsWrite => "approvals:write",
            Scope::EventsRead => "events:read",
            Scope::SubscriptionsWrite => "subscriptions:write",
            Scope::OperationsRead => "operations:read",
            Scope::OperationsWrite => "operations:write",
            Scope::StatusRead => "status:read",
            Scope::AuditRead => "audit:read",
            Scope::Admin => "admin",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Scope {
    type Err = anyhow::Error;

    fn from_str(s: &str) -> Result<Scope> {
        match Scope::ALL.into_iter().find(|scope| scope.as_str() == s) {
            Some(scope) => Ok(scope),
            None => bail!(
                "unknown scope {s:?}; known: {}",
                Scope::ALL.map(Scope::as_str).join(", ")
            ),
        }
    }
}

impl Serialize for Scope {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A key as stored (never its secret).
#[derive(Debug, Clone, Serialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub scopes: Vec<Scope>,
    /// The connections it may reach; `None`: all.
    pub connections: Option<Vec<String>>,
    pub created_ms: i64,
    pub expires_ms: Option<i64>,
    pub revoked_ms: Option<i64>,
}

impl ApiKey {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.iter().any(|s| *s == scope || *s == Scope::Admin)
    }

    pub fn reaches(&self, connection: &str) -> bool {
        self.connections
            .as_ref()
            .is_none_or(|names| names.iter().any(|n| n == connection))
    }

    /// Why the key cannot be used now, if it cannot.
    pub fn unusable(&self, now_ms: i64) -> Option<&'static str> {
        if self.revoked_ms.is_some() {
            Some("the API key was revoked")
        } else if self.expires_ms.is_some_and(|e| e <= now_ms) {
            Some("the API key has expired")
        } else {
            None
        }
    }
}

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
        if !crate::config::valid_name(name) {
            bail!("connection name {name:?} must be 1-64 characters of a-z, 0-9, '-' or '_'");
        }
    }
    Ok(())
}

/// Makes a key: validates what it is for, stores its hash and records the change. Returns the key as stored
/// and the full key, which is shown to the caller once and cannot be recovered.
pub async fn create_key(
    db: &std::sync::Arc<crate::db::Db>,
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
        created_ms: crate::db::now_ms(),
        expires_ms,
        revoked_ms: None,
    };
    db.create_key(key.clone(), secret_hash).await?;
    db.audit(cli_entry("keys create", &key.id, &key.name)).await?;
    Ok((key, full))
}

/// Revokes a key by id; from then on it answers 401. An unknown id is an error; revoking twice is not.
pub async fn revoke_key(db: &std::sync::Arc<crate::db::Db>, id: &str) -> Result<ApiKey> {
    let Some(_) = db.revoke_key(id.to_string()).await? else {
        bail!("no API key {id:?}; `qiao keys list` shows them");
    };
    let (key, _) = db.key(id.to_string()).await?.expect("key just revoked");
    db.audit(cli_entry("keys revoke", &key.id, &key.name)).await?;
    Ok(key)
}

fn cli_entry(action: &str, id: &str, name: &str) -> crate::db::NewAuditEntry {
    crate::db::NewAuditEntry {
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
