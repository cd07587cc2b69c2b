//! API keys as stored: id, name, scopes, connection limits and the hash of the secret (see `access`).

use std::sync::Arc;

use anyhow::Result;
use rusqlite::{OptionalExtension, params};

use super::{Db, now_ms};
use crate::access::{ApiKey, Scope};

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
        self.run(move |c| {
            c.prepare_cached(&format!("SELECT {COLUMNS} FROM api_keys WHERE id = ?1"))?
                .query_row([id], row)
                .optional()
        })
        .await
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
