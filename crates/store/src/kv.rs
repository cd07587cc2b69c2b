//! Connector key-value state, scoped per connection, with optional expiry. Values are sealed with the master key
//! (connectors cache platform access tokens here), each bound to its connection and key; see `sealing`.

use std::sync::Arc;

use anyhow::{Result, bail};
use rusqlite::types::Value;
use rusqlite::{OptionalExtension, params};

use super::{Db, now_ms};
use qiao_secrets::kv_place;

impl Db {
    pub async fn kv_get(
        self: &Arc<Self>,
        connection: String,
        key: String,
    ) -> Result<Option<Vec<u8>>> {
        let place = kv_place(&connection, &key);
        let stored: Option<Value> = self
            .run(move |c| {
                c.query_row(
                    "SELECT value FROM kv WHERE connection = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
                    params![connection, key, now_ms()],
                    |row| row.get(0),
                )
                .optional()
            })
            .await?;
        match stored {
            None => Ok(None),
            Some(Value::Text(sealed)) => Ok(Some(self.key.open(&sealed, &place)?)),
            // Written in plain text by an earlier version. `Db::open` seals those: only reached if an earlier
            // version wrote to the store since.
            Some(Value::Blob(plain)) => Ok(Some(plain)),
            Some(_) => bail!("the stored value is neither sealed text nor bytes"),
        }
    }

    pub async fn kv_set(
        self: &Arc<Self>,
        connection: String,
        key: String,
        value: Vec<u8>,
        ttl: Option<u32>,
    ) -> Result<()> {
        let expires = ttl.map(|s| now_ms() + i64::from(s) * 1000);
        // Stored as TEXT: what tells a sealed value from an earlier version's plain BLOB.
        let sealed = self.key.seal(&value, &kv_place(&connection, &key));
        self.run(move |c| {
            c.execute(
                "INSERT INTO kv (connection, key, value, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (connection, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                params![connection, key, sealed, expires],
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
