//! The inbound event log (webhooks and polls, de-duplicated per connection) and poll cursors.

use std::sync::Arc;

use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Db, now_ms};
use qiao_contract::bindings::types::Event;

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
    /// The operation whose echo this event is: the platform telling of a write Qiao made (rules skip these).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub echo_of: Option<i64>,
    /// How many rule-made writes led to this event.
    #[serde(skip_serializing_if = "is_zero")]
    pub hops: u32,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

impl Db {
    /// Stores events, skipping ones already stored for this connection (same event id), and with them the poll
    /// cursor that follows them, in one transaction. Returns how many events were new.
    pub async fn commit_events(
        self: &Arc<Self>,
        connection: String,
        events: Vec<Event>,
        cursor: Option<String>,
    ) -> Result<usize> {
        self.run(move |c| {
            let tx = crate::writer::atomic(c)?;
            let mut inserted = 0;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT OR IGNORE INTO events (connection, event_id, kind, subject, time_ms, payload, received_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?;
                for e in &events {
                    let new = stmt.execute(params![
                        connection,
                        e.id,
                        e.kind,
                        e.subject,
                        e.time_ms.map(|t| t as i64),
                        e.payload,
                        now_ms()
                    ])?;
                    if new == 1 && !e.subject.is_empty() {
                        super::rules::mark_echo(&tx, tx.last_insert_rowid(), &connection, &e.subject, &e.kind)?;
                    }
                    inserted += new;
                }
            }
            if let Some(cursor) = cursor {
                tx.execute(
                    "INSERT INTO poll_cursors (connection, cursor) VALUES (?1, ?2)
                     ON CONFLICT (connection) DO UPDATE SET cursor = excluded.cursor",
                    params![connection, cursor],
                )?;
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
                "SELECT seq, connection, event_id, kind, subject, time_ms, payload, received_ms, echo_of, hops FROM events
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
                    echo_of: row.get(8)?,
                    hops: row.get(9)?,
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
}
