//! Connector key-value state, scoped per connection, with optional expiry.

use std::sync::Arc;

use anyhow::Result;
use rusqlite::{OptionalExtension, params};

use super::{Db, now_ms};

impl Db {
    pub async fn kv_get(
        self: &Arc<Self>,
        connection: String,
        key: String,
    ) -> Result<Option<Vec<u8>>> {
        self.run(move |c| {
            c.query_row(
                "SELECT value FROM kv WHERE connection = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
                params![connection, key, now_ms()],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    pub async fn kv_set(
        self: &Arc<Self>,
        connection: String,
        key: String,
        value: Vec<u8>,
        ttl: Option<u32>,
    ) -> Result<()> {
        let expires = ttl.map(|s| now_ms() + i64::from(s) * 1000);
        self.run(move |c| {
            c.execute(
                "INSERT INTO kv (connection, key, value, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (connection, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                params![connection, key, value, expires],
            )
            .map(drop)
        })
        .await
    }

    pub async fn kv_delete(self: &Arc<Self>, connection: String, key: String) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "DELETE FROM kv WHERE connection = ?1 AND key = ?2",
                params![connection, key],
            )
            .map(drop)
        })
        .await
    }
}
