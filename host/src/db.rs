//! The embedded store (one SQLite file): connector kv, received events, poll cursors. All SQL lives here.
//!
//! Calls run on tokio's blocking pool so a slow disk never stalls the async workers.

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;

use crate::bindings::types::Event;

/// Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
const MIGRATIONS: &[&str] = &[r#"
    CREATE TABLE kv (
        connection TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        expires_at INTEGER,
        PRIMARY KEY (connection, key)
    );
    CREATE TABLE events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        connection TEXT NOT NULL,
        event_id TEXT NOT NULL,
        kind TEXT NOT NULL,
        subject TEXT NOT NULL,
        time_ms INTEGER,
        payload TEXT NOT NULL,
        received_ms INTEGER NOT NULL,
        UNIQUE (connection, event_id)
    );
    CREATE TABLE poll_cursors (
        connection TEXT PRIMARY KEY,
        cursor TEXT NOT NULL
    );
"#];

pub struct Db {
    conn: Mutex<Connection>,
}

/// An event as stored and served by `GET /v1/events`.
#[derive(Debug, Clone, Serialize)]
pub struct StoredEvent {
    /// Position in the log: pass it as `after` to read on.
    pub seq: i64,
    pub connection: String,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub subject: String,
    pub time_ms: Option<i64>,
    pub payload: serde_json::Value,
    pub received_ms: i64,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Db {
    pub fn open(path: &Path) -> Result<Arc<Db>> {
        let conn = Connection::open(path)
            .with_context(|| format!("cannot open database {}", path.display()))?;
        // WAL: readers don't block the writer; NORMAL sync is durable across process crashes (not power loss of
        // the last transaction), which is the trade-off SQLite recommends for WAL.
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
        )?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrate(&conn)?;
        Ok(Arc::new(Db {
            conn: Mutex::new(conn),
        }))
    }

    async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R> {
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            let conn = db
                .conn
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            f(&conn)
        })
        .await?
        .map_err(Into::into)
    }

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

    /// Stores events, skipping ones already stored for this connection (same event id). Returns how many were new.
    pub async fn insert_events(
        self: &Arc<Self>,
        connection: String,
        events: Vec<Event>,
    ) -> Result<usize> {
        self.run(move |c| {
            let tx = c.unchecked_transaction()?;
            let mut inserted = 0;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO events (connection, event_id, kind, subject, time_ms, payload, received_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for e in &events {
                    inserted += stmt.execute(params![
                        connection,
                        e.id,
                        e.kind,
                        e.subject,
                        e.time_ms.map(|t| t as i64),
                        e.payload,
                        now_ms()
                    ])?;
                }
            }
            tx.commit()?;
            Ok(inserted)
        })
        .await
    }

    pub async fn list_events(
        self: &Arc<Self>,
        after: i64,
        connection: Option<String>,
        limit: u32,
    ) -> Result<Vec<StoredEvent>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT seq, connection, event_id, kind, subject, time_ms, payload, received_ms FROM events
                 WHERE seq > ?1 AND (?2 IS NULL OR connection = ?2) ORDER BY seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![after, connection, limit], |row| {
                let payload: String = row.get(6)?;
                Ok(StoredEvent {
                    seq: row.get(0)?,
                    connection: row.get(1)?,
                    id: row.get(2)?,
                    kind: row.get(3)?,
                    subject: row.get(4)?,
                    time_ms: row.get(5)?,
                    // Connectors are meant to send JSON; anything else is kept, as a string.
                    payload: serde_json::from_str(&payload).unwrap_or(serde_json::Value::String(payload)),
                    received_ms: row.get(7)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    pub async fn poll_cursor(self: &Arc<Self>, connection: String) -> Result<Option<String>> {
        self.run(move |c| {
            c.query_row(
                "SELECT cursor FROM poll_cursors WHERE connection = ?1",
                [connection],
                |row| row.get(0),
            )
            .optional()
        })
        .await
    }

    /// Stores the events of one poll and the cursor after them in one transaction, so a crash cannot lose events
    /// behind an advanced cursor.
    pub async fn commit_poll(
        self: &Arc<Self>,
        connection: String,
        events: Vec<Event>,
        cursor: Option<String>,
    ) -> Result<usize> {
        let inserted = self.insert_events(connection.clone(), events).await?;
        if let Some(cursor) = cursor {
            self.run(move |c| {
                c.execute(
                    "INSERT INTO poll_cursors (connection, cursor) VALUES (?1, ?2)
                     ON CONFLICT (connection) DO UPDATE SET cursor = excluded.cursor",
                    params![connection, cursor],
                )
                .map(drop)
            })
            .await?;
        }
        Ok(inserted)
    }
}

fn migrate(conn: &Connection) -> Result<()> {
    let done: usize = conn.query_row("PRAGMA user_version", [], |row| row.get(0))?;
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.unchecked_transaction()?;
        tx.execute_batch(sql)
            .with_context(|| format!("schema migration {} failed", i + 1))?;
        tx.pragma_update(None, "user_version", i + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str) -> Event {
        Event {
            id: id.into(),
            kind: "t".into(),
            time_ms: None,
            subject: "s".into(),
            payload: "{\"a\":1}".into(),
        }
    }

    #[tokio::test]
    async fn kv_is_scoped_per_connection_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("q.db")).unwrap();
        db.kv_set("a".into(), "k".into(), b"1".to_vec(), None)
            .await
            .unwrap();
        assert_eq!(
            db.kv_get("a".into(), "k".into()).await.unwrap(),
            Some(b"1".to_vec())
        );
        assert_eq!(db.kv_get("b".into(), "k".into()).await.unwrap(), None);
        db.kv_set("a".into(), "t".into(), b"x".to_vec(), Some(0))
            .await
            .unwrap();
        assert_eq!(db.kv_get("a".into(), "t".into()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn events_are_deduplicated_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let db = Db::open(&path).unwrap();
        assert_eq!(
            db.insert_events("a".into(), vec![event("1"), event("2")])
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            db.insert_events("a".into(), vec![event("2"), event("3")])
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            db.insert_events("b".into(), vec![event("1")])
                .await
                .unwrap(),
            1
        );
        drop(db);
        let db = Db::open(&path).unwrap();
        let all = db.list_events(0, Some("a".into()), 10).await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["1", "2", "3"]
        );
        let after = db.list_events(all[0].seq, None, 10).await.unwrap();
        assert_eq!(after.len(), 3);
        assert_eq!(after[0].payload["a"], 1);
    }
}
