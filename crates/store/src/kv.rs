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
        let now = now_ms();
        let ticket = match self.kv_cache.get(&connection, &key, now) {
            Ok(value) => return Ok(Some(value)),
            Err(ticket) => ticket,
        };
        let place = kv_place(&connection, &key);
        let stored: Option<(Value, Option<i64>)> = self.read(|c| {
            c.prepare_cached(
                "SELECT value, expires_at FROM kv
                 WHERE connection = ?1 AND key = ?2 AND (expires_at IS NULL OR expires_at > ?3)",
            )?
            .query_row(params![connection, key, now], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
        })?;
        let (value, expires_at) = match stored {
            None => return Ok(None),
            Some((Value::Text(sealed), expires_at)) => (self.key.open(&sealed, &place)?, expires_at),
            // Written in plain text by an earlier version. `Db::open` seals those: only reached if an earlier
            // version wrote to the store since.
            Some((Value::Blob(plain), expires_at)) => (plain, expires_at),
            Some(_) => bail!("the stored value is neither sealed text nor bytes"),
        };
        self.kv_cache.fill(ticket, &connection, &key, &value, expires_at);
        Ok(Some(value))
    }

    /// Stores a value unless that takes the connection past `max_bytes` (keys and stored values) or `max_keys`:
    /// then nothing is written and the answer is `Ok(Err(why))`. Usage is kept in `kv_usage`, in the same
    /// transaction, so the check does not scan the connection's keys.
    pub async fn kv_set(
        self: &Arc<Self>,
        connection: String,
        key: String,
        value: Vec<u8>,
        ttl: Option<u32>,
        max_bytes: u64,
        max_keys: u64,
    ) -> Result<std::result::Result<(), String>> {
        let expires = ttl.map(|s| now_ms() + i64::from(s) * 1000);
        // Stored as TEXT: what tells a sealed value from an earlier version's plain BLOB.
        let sealed = self.key.seal(&value, &kv_place(&connection, &key));
        let invalidate = self.kv_invalidation(&connection, &key);
        self.run_then(move |c| {
            let tx = crate::writer::atomic(c)?;
            let size = (key.len() + sealed.len()) as i64;
            let mut old = stored_size(&tx, &connection, &key)?;
            let mut refusal = over_quota(&tx, &connection, old, size, max_bytes, max_keys)?;
            if refusal.is_some() {
                // Expired keys still count until they are read or overwritten: drop them and look again.
                purge_expired(&tx, &connection)?;
                old = stored_size(&tx, &connection, &key)?;
                refusal = over_quota(&tx, &connection, old, size, max_bytes, max_keys)?;
            }
            if let Some(why) = refusal {
                return Ok(Err(why));
            }
            tx.prepare_cached(
                "INSERT INTO kv (connection, key, value, expires_at) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (connection, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
            )?
            .execute(params![connection, key, sealed, expires])?;
            add_usage(&tx, &connection, size - old.unwrap_or(0), if old.is_some() { 0 } else { 1 })?;
            tx.commit()?;
            Ok(Ok(()))
        }, invalidate)
        .await
    }

    /// What a kv write of `key` runs on the writer's thread once its transaction's fate is known (see `kv_cache`).
    fn kv_invalidation(&self, connection: &str, key: &str) -> impl FnOnce() + Send + 'static {
        let (cache, connection, key) = (self.kv_cache.clone(), connection.to_string(), key.to_string());
        move || cache.invalidate(&connection, &key)
    }

    /// A connection's kv usage: (bytes, keys), expired keys included until they are dropped.
    pub async fn kv_usage(self: &Arc<Self>, connection: String) -> Result<(i64, i64)> {
        self.run(move |c| {
            c.query_row("SELECT bytes, keys FROM kv_usage WHERE connection = ?1", [connection], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map(|u| u.unwrap_or((0, 0)))
        })
        .await
    }

    pub async fn kv_delete(self: &Arc<Self>, connection: String, key: String) -> Result<()> {
        let invalidate = self.kv_invalidation(&connection, &key);
        self.run_then(move |c| {
            let tx = crate::writer::atomic(c)?;
            if let Some(old) = stored_size(&tx, &connection, &key)? {
                tx.prepare_cached("DELETE FROM kv WHERE connection = ?1 AND key = ?2")?
                    .execute(params![connection, key])?;
                add_usage(&tx, &connection, -old, -1)?;
            }
            tx.commit()
        }, invalidate)
        .await
    }
}

/// The stored size (key and stored value, in bytes) of a key, if it is there.
fn stored_size(c: &rusqlite::Connection, connection: &str, key: &str) -> rusqlite::Result<Option<i64>> {
    c.prepare_cached(
        "SELECT length(CAST(key AS BLOB)) + length(CAST(value AS BLOB)) FROM kv WHERE connection = ?1 AND key = ?2",
    )?
    .query_row(params![connection, key], |r| r.get(0))
    .optional()
}

fn add_usage(c: &rusqlite::Connection, connection: &str, bytes: i64, keys: i64) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO kv_usage (connection, bytes, keys) VALUES (?1, ?2, ?3)
         ON CONFLICT (connection) DO UPDATE SET bytes = bytes + excluded.bytes, keys = keys + excluded.keys",
    )?
    .execute(params![connection, bytes, keys])
    .map(drop)
}

/// Why writing `size` bytes in place of a key's `old` size (`None`: a new key) would pass the quota, if it would.
fn over_quota(
    c: &rusqlite::Connection,
    connection: &str,
    old: Option<i64>,
    size: i64,
    max_bytes: u64,
    max_keys: u64,
) -> rusqlite::Result<Option<String>> {
    let (bytes, keys): (i64, i64) = c
        .prepare_cached("SELECT bytes, keys FROM kv_usage WHERE connection = ?1")?
        .query_row([connection], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?
        .unwrap_or((0, 0));
    let bytes_after = bytes - old.unwrap_or(0) + size;
    let keys_after = keys + i64::from(old.is_none());
    Ok(if bytes_after as u64 > max_bytes {
        Some(format!("{bytes_after} bytes would pass the {max_bytes}-byte quota ({keys} keys hold {bytes} bytes)"))
    } else if keys_after as u64 > max_keys {
        Some(format!("{keys_after} keys would pass the {max_keys}-key quota"))
    } else {
        None
    })
}

/// Drops a connection's expired keys and recounts its usage.
fn purge_expired(c: &rusqlite::Connection, connection: &str) -> rusqlite::Result<()> {
    c.execute("DELETE FROM kv WHERE connection = ?1 AND expires_at IS NOT NULL AND expires_at <= ?2", params![connection, now_ms()])?;
    c.execute(
        "INSERT OR REPLACE INTO kv_usage (connection, bytes, keys)
         SELECT ?1, COALESCE(SUM(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))), 0), COUNT(*) FROM kv WHERE connection = ?1",
        [connection],
    )
    .map(drop)
}
