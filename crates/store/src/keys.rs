//! API keys as stored: id, name, scopes, connection limits and the hash of the secret (see `access`).

use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use anyhow::{Result, bail};
use rusqlite::{OptionalExtension, params};
use serde::{Serialize, Serializer};

use super::{Db, now_ms};

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
    /// Create, approve, reject, cancel and remind approvals.
    ApprovalsWrite,
    /// Read and list tasks.
    TasksRead,
    /// Create, change, move, complete, reopen and comment on tasks.
    TasksWrite,
    /// Read group chats.
    ChatsRead,
    /// Create group chats and change their members.
    ChatsWrite,
    /// Read the event log; ask a connector to poll; list subscriptions.
    EventsRead,
    /// Create and delete subscriptions; retry and discard their dead letters.
    SubscriptionsWrite,
    /// Read every operation in the outbox (a key can always read the operations it made itself).
    OperationsRead,
    /// Retry and discard operations.
    OperationsWrite,
    /// List rules, their runs and counters; try a rule on an event.
    RulesRead,
    /// Create, change, enable, disable and delete rules. A rule writes to any connection, so this is as strong as
    /// every write scope together: grant it like admin.
    RulesWrite,
    /// List connectors and connections.
    StatusRead,
    AuditRead,
    /// Scrape `GET /metrics`.
    MetricsRead,
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 20] = [
        Scope::IdentityRead,
        Scope::IdentityWrite,
        Scope::MessagesSend,
        Scope::MessagesRead,
        Scope::ApprovalsRead,
        Scope::ApprovalsWrite,
        Scope::TasksRead,
        Scope::TasksWrite,
        Scope::ChatsRead,
        Scope::ChatsWrite,
        Scope::EventsRead,
        Scope::SubscriptionsWrite,
        Scope::OperationsRead,
        Scope::OperationsWrite,
        Scope::RulesRead,
        Scope::RulesWrite,
        Scope::StatusRead,
        Scope::AuditRead,
        Scope::MetricsRead,
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
            Scope::TasksRead => "tasks:read",
            Scope::TasksWrite => "tasks:write",
            Scope::ChatsRead => "chats:read",
            Scope::ChatsWrite => "chats:write",
            Scope::EventsRead => "events:read",
            Scope::SubscriptionsWrite => "subscriptions:write",
            Scope::OperationsRead => "operations:read",
            Scope::OperationsWrite => "operations:write",
            Scope::RulesRead => "rules:read",
            Scope::RulesWrite => "rules:write",
            Scope::StatusRead => "status:read",
            Scope::AuditRead => "audit:read",
            Scope::MetricsRead => "metrics:read",
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

const COLUMNS: &str = "id, name, scopes, connections, created_ms, expires_ms, revoked_ms, secret_hash";

fn row(r: &rusqlite::Row) -> rusqlite::Result<(ApiKey, Vec<u8>)> {
    let scopes: String = r.get(2)?;
    let connections: Option<String> = r.get(3)?;
    let key = ApiKey {
        id: r.get(0)?,
        name: r.get(1)?,
        // Unknown names (a newer version's scopes, after a downgrade) grant nothing.
        scopes: serde_json::from_str::<Vec<String>>(&scopes)
            .unwrap_or_default()
            .iter()
            .filter_map(|s| s.parse::<Scope>().ok())
            .collect(),
        connections: connections.map(|c| serde_json::from_str(&c).unwrap_or_default()),
        created_ms: r.get(4)?,
        expires_ms: r.get(5)?,
        revoked_ms: r.get(6)?,
    };
    Ok((key, r.get(7)?))
}

impl Db {
    pub async fn create_key(self: &Arc<Self>, key: ApiKey, secret_hash: [u8; 32]) -> Result<()> {
        let scopes = serde_json::to_string(&key.scopes)?;
        let connections = key.connections.as_ref().map(serde_json::to_string).transpose()?;
        self.run(move |c| {
            c.execute(
                &format!("INSERT INTO api_keys ({COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    key.id, key.name, scopes, connections, key.created_ms, key.expires_ms, key.revoked_ms,
                    &secret_hash[..]
                ],
            )
            .map(drop)
        })
        .await
    }

    /// The key with this id and its stored secret hash. Looked up on every request, so the statement is cached.
    pub async fn key(self: &Arc<Self>, id: String) -> Result<Option<(ApiKey, Vec<u8>)>> {
        self.read(|c| {
            c.prepare_cached(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"))?
                .query_row([id], row)
                .optional()
        })
    }

    pub async fn list_keys(self: &Arc<Self>) -> Result<Vec<ApiKey>> {
        self.run(|c| {
            c.prepare(&format!("SELECT {COLUMNS} FROM api_keys ORDER BY created_ms, id"))?
                .query_map([], row)?
                .map(|r| r.map(|(key, _)| key))
                .collect()
        })
        .await
    }

    /// Revokes a key: `None` when there is no such key, `Some(false)` when it was revoked before.
    pub async fn revoke_key(self: &Arc<Self>, id: String) -> Result<Option<bool>> {
        self.run(move |c| {
            let changed = c.execute(
                "UPDATE api_keys SET revoked_ms = ?2 WHERE id = ?1 AND revoked_ms IS NULL",
                params![id, now_ms()],
            )?;
            if changed > 0 {
                return Ok(Some(true));
            }
            let exists = c
                .query_row("SELECT 1 FROM api_keys WHERE id = ?1", [&id], |_| Ok(()))
                .optional()?;
            Ok(exists.map(|_| false))
        })
        .await
    }
}
