//! The audit log: one row per change asked of Qiao (API writes, refused ones included, and CLI key changes).

use std::sync::Arc;

use anyhow::Result;
use rusqlite::params;
use serde::Serialize;

use super::{Db, now_ms};

/// What is recorded of one change.
#[derive(Debug, Clone, Serialize)]
pub struct NewAuditEntry {
    /// The API key id, or `cli` for the command line.
    pub actor: String,
    pub actor_name: Option<String>,
    /// e.g. `POST /v1/connections/{connection}/messages`, or `keys create`.
    pub action: String,
    /// The concrete path or object, e.g. `/v1/connections/hq/messages`, `key 3f9a…`.
    pub target: String,
    pub connection: Option<String>,
    /// The HTTP status answered (0 for CLI changes that succeeded); 202 for a write the outbox accepted, also when
    /// its caller waited for the result.
    pub status: u16,
    /// The error code, when it failed.
    pub error: Option<String>,
    /// The outbox operation it created, when it did.
    pub operation_id: Option<i64>,
}

/// A recorded change: where it is in the log, when, and what.
#[derive(Debug, Clone, Serialize)]
pub struct AuditEntry {
    pub seq: i64,
    pub time_ms: i64,
    #[serde(flatten)]
    pub entry: NewAuditEntry,
}

/// Appends `entry` to the log (also in the transaction of the operation it records, see `NewOperation::audit`).
pub(crate) fn insert(c: &rusqlite::Connection, entry: &NewAuditEntry) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO audit (time_ms, actor, actor_name, action, target, connection, status, error, operation_id)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
    )?
    .execute(params![
        now_ms(),
        entry.actor,
        entry.actor_name,
        entry.action,
        entry.target,
        entry.connection,
        entry.status,
        entry.error,
        entry.operation_id
    ])
    .map(drop)
}

#[derive(Debug, Default, Clone)]
pub struct AuditQuery {
    pub after: i64,
    pub limit: u32,
    pub connection: Option<String>,
    pub actor: Option<String>,
}

impl Db {
    pub async fn audit(self: &Arc<Self>, entry: NewAuditEntry) -> Result<()> {
        self.run(move |c| insert(c, &entry)).await
    }

    /// Entries after `after`, oldest first, optionally of one connection and/or one actor.
    pub async fn list_audit(self: &Arc<Self>, q: AuditQuery) -> Result<Vec<AuditEntry>> {
        self.run(move |c| {
            c.prepare_cached(
                "SELECT seq, time_ms, actor, actor_name, action, target, connection, status, error, operation_id
                 FROM audit
                 WHERE seq > ?1 AND (?2 IS NULL OR connection = ?2) AND (?3 IS NULL OR actor = ?3)
                 ORDER BY seq LIMIT ?4",
            )?
            .query_map(params![q.after, q.connection, q.actor, q.limit], |r| {
                Ok(AuditEntry {
                    seq: r.get(0)?,
                    time_ms: r.get(1)?,
                    entry: NewAuditEntry {
                        actor: r.get(2)?,
                        actor_name: r.get(3)?,
                        action: r.get(4)?,
                        target: r.get(5)?,
                        connection: r.get(6)?,
                        status: r.get(7)?,
                        error: r.get(8)?,
                        operation_id: r.get(9)?,
                    },
                })
            })?
            .collect()
        })
        .await
    }
}
