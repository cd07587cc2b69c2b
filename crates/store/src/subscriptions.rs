//! Subscribers: their endpoints, secrets, cursors over the event log, and dead-lettered deliveries.
//!
//! A subscription's `cursor` is the seq of the last event it has handled (delivered, skipped by its filters, or
//! dead-lettered); `attempts` counts failed attempts at the next matching event after it. The cursor only moves
//! once an event is handled, so a delivery cut short by a crash or a shutdown is simply made again.
//!
//! Secrets are stored sealed with the master key, bound to their subscription's id (see `sealing`), and opened
//! when a subscription is read.

use std::sync::Arc;

use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::events::StoredEvent;
use super::{Db, now_ms};
use qiao_secrets::subscription_place;

/// A subscriber as stored. Its secret is never serialized (the API shows it once, at creation) nor printed.
#[derive(Clone, Serialize)]
pub struct Subscription {
    pub id: i64,
    pub url: String,
    #[serde(skip)]
    pub secret: String,
    /// Event type patterns: exact (`approval.status_changed`), prefix (`approval.*`) or `*`.
    pub types: Vec<String>,
    /// Connections whose events are delivered; `None`: all.
    pub connections: Option<Vec<String>>,
    pub cursor: i64,
    /// Failed attempts at the event after `cursor`.
    #[serde(rename = "pending_attempts")]
    pub attempts: u32,
    /// When the next attempt is due; `None` while nothing is being retried.
    pub next_attempt_ms: Option<i64>,
    pub last_error: Option<String>,
    /// How many deliveries wait in the dead letters.
    pub dead_letters: i64,
    pub created_ms: i64,
}

impl std::fmt::Debug for Subscription {
    // By hand, so a stray `{:?}` in a log line cannot leak the secret.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Subscription")
            .field("id", &self.id)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .field("types", &self.types)
            .field("connections", &self.connections)
            .field("cursor", &self.cursor)
            .field("attempts", &self.attempts)
            .field("next_attempt_ms", &self.next_attempt_ms)
            .field("last_error", &self.last_error)
            .field("dead_letters", &self.dead_letters)
            .field("created_ms", &self.created_ms)
            .finish()
    }
}

/// A delivery given up on after its last scheduled attempt, kept until retried or discarded.
#[derive(Debug, Clone, Serialize)]
pub struct DeadDelivery {
    pub event_seq: i64,
    pub attempts: u32,
    pub last_error: String,
    pub dead_ms: i64,
    /// The event itself; `None` only if it is no longer in the log.
    pub event: Option<StoredEvent>,
}

const COLUMNS: &str = "s.id, s.url, s.secret, s.types, s.connections, s.cursor, s.attempts, s.next_attempt_ms, \
     s.last_error, s.created_ms, (SELECT COUNT(*) FROM dead_deliveries d WHERE d.subscription = s.id)";

/// A JSON array of strings as stored; anything unreadable reads as empty (it was written by us).
fn string_list(text: &str) -> Vec<String> {
    serde_json::from_str(text).unwrap_or_default()
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<Subscription> {
    let types: String = r.get(3)?;
    let connections: Option<String> = r.get(4)?;
    let attempts: u32 = r.get(6)?;
    Ok(Subscription {
        id: r.get(0)?,
        url: r.get(1)?,
        secret: r.get(2)?,
        types: string_list(&types),
        connections: connections.as_deref().map(string_list),
        cursor: r.get(5)?,
        attempts,
        next_attempt_ms: (attempts > 0).then(|| r.get(7)).transpose()?,
        last_error: r.get(8)?,
        created_ms: r.get(9)?,
        dead_letters: r.get(10)?,
    })
}

fn by_id(c: &rusqlite::Connection, id: i64) -> rusqlite::Result<Option<Subscription>> {
    c.query_row(
        &format!("SELECT {COLUMNS} FROM subscriptions s WHERE s.id = ?1"),
        [id],
        row,
    )
    .optional()
}

const DEAD_COLUMNS: &str = "d.event_seq, d.attempts, d.last_error, d.dead_ms, \
     e.seq, e.connection, e.event_id, e.kind, e.subject, e.time_ms, e.payload, e.received_ms, e.echo_of, e.hops";

fn dead_row(r: &rusqlite::Row) -> rusqlite::Result<DeadDelivery> {
    let event = match r.get::<_, Option<i64>>(4)? {
        None => None,
        Some(seq) => {
            let payload: String = r.get(10)?;
            Some(StoredEvent {
                seq,
                connection: r.get(5)?,
                id: r.get(6)?,
                kind: r.get(7)?,
                subject: r.get(8)?,
                time_ms: r.get(9)?,
                // As `list_events` reads it: JSON, or kept as a string.
                payload: serde_json::from_str(&payload)
                    .unwrap_or(serde_json::Value::String(payload)),
                received_ms: r.get(11)?,
                echo_of: r.get(12)?,
                hops: r.get(13)?,
            })
        }
    };
    Ok(DeadDelivery {
        event_seq: r.get(0)?,
        attempts: r.get(1)?,
        last_error: r.get(2)?,
        dead_ms: r.get(3)?,
        event,
    })
}

impl Db {
    /// Stores a subscription that starts reading the log at event `from_seq` (inclusive), or with the events
    /// stored from now on when `None`. "Now" is read in the same transaction, so no event falls between.
    pub async fn create_subscription(
        self: &Arc<Self>,
        url: String,
        secret: String,
        types: Vec<String>,
        connections: Option<Vec<String>>,
        from_seq: Option<i64>,
    ) -> Result<Subscription> {
        let types = serde_json::to_string(&types)?;
        let connections = connections.map(|c| serde_json::to_string(&c)).transpose()?;
        let key = self.key.clone();
        let created = self
            .run(move |c| {
                let tx = crate::writer::atomic(c)?;
                let cursor: i64 = match from_seq {
                    None => {
                        tx.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?
                    }
                    Some(seq) => seq.saturating_sub(1).max(0),
                };
                // The secret is sealed for the row's id, known once it is inserted: in the same transaction, so
                // only the sealed secret is ever committed.
                tx.execute(
                "INSERT INTO subscriptions (url, secret, types, connections, cursor, created_ms)
                 VALUES (?1, '', ?2, ?3, ?4, ?5)",
                params![url, types, connections, cursor, now_ms()],
            )?;
                let id = tx.last_insert_rowid();
                let sealed = key.seal(secret.as_bytes(), &subscription_place(id));
                tx.execute(
                    "UPDATE subscriptions SET secret = ?2 WHERE id = ?1",
                    params![id, sealed],
                )?;
                let created = by_id(&tx, id)?.expect("row just inserted");
                tx.commit()?;
                Ok(created)
            })
            .await?;
        self.unseal(created)
    }

    /// A subscription as read, with its secret opened.
    fn unseal(&self, mut sub: Subscription) -> Result<Subscription> {
        sub.secret = self
            .key
            .open_string(&sub.secret, &subscription_place(sub.id))
            .map_err(|e| anyhow::anyhow!("subscription {}'s secret: {e}", sub.id))?;
        Ok(sub)
    }

    pub async fn subscription(self: &Arc<Self>, id: i64) -> Result<Option<Subscription>> {
        self.run(move |c| by_id(c, id))
            .await?
            .map(|sub| self.unseal(sub))
            .transpose()
    }

    pub async fn subscriptions(self: &Arc<Self>) -> Result<Vec<Subscription>> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM subscriptions s ORDER BY s.id"
            ))?;
            let rows = stmt.query_map([], row)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })
        .await?
        .into_iter()
        .map(|sub| self.unseal(sub))
        .collect()
    }

    /// The ids of every subscription (what the delivery supervisor runs loops for).
    pub async fn subscription_ids(self: &Arc<Self>) -> Result<Vec<i64>> {
        self.run(|c| {
            let mut stmt = c.prepare_cached("SELECT id FROM subscriptions ORDER BY id")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
        .await
    }

    /// Deletes a subscription and its dead letters; false if there was none.
    pub async fn delete_subscription(self: &Arc<Self>, id: i64) -> Result<bool> {
        self.run(move |c| {
            c.execute("DELETE FROM subscriptions WHERE id = ?1", [id])
                .map(|n| n > 0)
        })
        .await
    }

    /// Moves the cursor forward to `seq` (an event handled) and clears the retry state, which was about an
    /// event at or before it. Never moves it back.
    pub async fn advance_cursor(self: &Arc<Self>, id: i64, seq: i64) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "UPDATE subscriptions SET cursor = ?2, attempts = 0, next_attempt_ms = 0, last_error = NULL
                 WHERE id = ?1 AND cursor < ?2",
                params![id, seq],
            )
            .map(drop)
        })
        .await
    }

    /// Records a failed attempt at the event after the cursor, and when to try again.
    pub async fn record_delivery_failure(
        self: &Arc<Self>,
        id: i64,
        attempts: u32,
        error: String,
        next_attempt_ms: i64,
    ) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "UPDATE subscriptions SET attempts = ?2, last_error = ?3, next_attempt_ms = ?4 WHERE id = ?1",
                params![id, attempts, error, next_attempt_ms],
            )
            .map(drop)
        })
        .await
    }

    /// Gives up on event `seq`: it goes to the dead letters and the cursor moves past it, in one transaction.
    pub async fn dead_letter(
        self: &Arc<Self>,
        id: i64,
        seq: i64,
        attempts: u32,
        error: String,
    ) -> Result<()> {
        self.run(move |c| {
            let tx = crate::writer::atomic(c)?;
            let moved = tx.execute(
                "UPDATE subscriptions SET cursor = ?2, attempts = 0, next_attempt_ms = 0, last_error = NULL
                 WHERE id = ?1 AND cursor < ?2",
                params![id, seq],
            )?;
            // Nothing moved: the subscription was deleted (or the event handled) meanwhile.
            if moved == 1 {
                tx.execute(
                    "INSERT OR REPLACE INTO dead_deliveries (subscription, event_seq, attempts, last_error, dead_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![id, seq, attempts, error, now_ms()],
                )?;
            }
            tx.commit()
        })
        .await
    }

    /// A subscription's dead letters after event `after`, oldest first, with their events.
    pub async fn dead_deliveries(
        self: &Arc<Self>,
        id: i64,
        after: i64,
        limit: u32,
    ) -> Result<Vec<DeadDelivery>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {DEAD_COLUMNS} FROM dead_deliveries d LEFT JOIN events e ON e.seq = d.event_seq
                 WHERE d.subscription = ?1 AND d.event_seq > ?2 ORDER BY d.event_seq LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![id, after, limit], dead_row)?;
            rows.collect()
        })
        .await
    }

    pub async fn dead_delivery(
        self: &Arc<Self>,
        id: i64,
        seq: i64,
    ) -> Result<Option<DeadDelivery>> {
        self.run(move |c| {
            c.query_row(
                &format!(
                    "SELECT {DEAD_COLUMNS} FROM dead_deliveries d LEFT JOIN events e ON e.seq = d.event_seq
                     WHERE d.subscription = ?1 AND d.event_seq = ?2"
                ),
                params![id, seq],
                dead_row,
            )
            .optional()
        })
        .await
    }

    /// Records another failed (manual) attempt at a dead letter.
    pub async fn record_dead_retry_failure(
        self: &Arc<Self>,
        id: i64,
        seq: i64,
        error: String,
    ) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "UPDATE dead_deliveries SET attempts = attempts + 1, last_error = ?3
                 WHERE subscription = ?1 AND event_seq = ?2",
                params![id, seq, error],
            )
            .map(drop)
        })
        .await
    }

    /// Removes a dead letter (delivered by a retry, or discarded); false if there was none.
    pub async fn remove_dead_delivery(self: &Arc<Self>, id: i64, seq: i64) -> Result<bool> {
        self.run(move |c| {
            c.execute(
                "DELETE FROM dead_deliveries WHERE subscription = ?1 AND event_seq = ?2",
                params![id, seq],
            )
            .map(|n| n > 0)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qiao_contract::bindings::types::Event;

    async fn db_with_events(n: usize) -> (tempfile::TempDir, Arc<Db>) {
        let dir = tempfile::tempdir().unwrap();
        let key = qiao_secrets::MasterKey::generate();
        let db = Db::open(&dir.path().join("q.db"), key).unwrap();
        let events = (0..n)
            .map(|i| Event {
                id: format!("e{i}"),
                kind: "t".into(),
                time_ms: None,
                subject: "s".into(),
                payload: "{}".into(),
            })
            .collect();
        db.commit_events("c".into(), events, None).await.unwrap();
        (dir, db)
    }

    async fn create(db: &Arc<Db>, from_seq: Option<i64>) -> Subscription {
        db.create_subscription(
            "http://x/".into(),
            "whsec_AAAA".into(),
            vec!["*".into()],
            None,
            from_seq,
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn the_starting_point_places_the_cursor() {
        let (_dir, db) = db_with_events(3).await;
        assert_eq!(
            create(&db, None).await.cursor,
            3,
            "now: after the last stored event"
        );
        assert_eq!(create(&db, Some(1)).await.cursor, 0, "from the start");
        assert_eq!(create(&db, Some(0)).await.cursor, 0);
        assert_eq!(
            create(&db, Some(3)).await.cursor,
            2,
            "from seq 3, inclusive"
        );
    }

    #[tokio::test]
    async fn failures_then_dead_letter_move_the_cursor_and_reset_the_retry_state() {
        let (_dir, db) = db_with_events(2).await;
        let sub = create(&db, Some(1)).await;
        db.record_delivery_failure(sub.id, 2, "HTTP 503".into(), 1234)
            .await
            .unwrap();
        let failing = db.subscription(sub.id).await.unwrap().unwrap();
        assert_eq!((failing.attempts, failing.next_attempt_ms), (2, Some(1234)));
        assert_eq!(failing.last_error.as_deref(), Some("HTTP 503"));

        db.dead_letter(sub.id, 1, 3, "HTTP 503".into())
            .await
            .unwrap();
        let moved = db.subscription(sub.id).await.unwrap().unwrap();
        assert_eq!(
            (
                moved.cursor,
                moved.attempts,
                moved.next_attempt_ms,
                moved.dead_letters
            ),
            (1, 0, None, 1)
        );
        let dead = db.dead_deliveries(sub.id, 0, 10).await.unwrap();
        assert_eq!((dead[0].event_seq, dead[0].attempts), (1, 3));
        assert_eq!(dead[0].event.as_ref().map(|e| e.id.as_str()), Some("e0"));

        db.advance_cursor(sub.id, 0).await.unwrap();
        assert_eq!(
            db.subscription(sub.id).await.unwrap().unwrap().cursor,
            1,
            "never moves back"
        );
        db.record_dead_retry_failure(sub.id, 1, "timeout".into())
            .await
            .unwrap();
        assert_eq!(
            db.dead_delivery(sub.id, 1).await.unwrap().unwrap().attempts,
            4
        );
        assert!(db.remove_dead_delivery(sub.id, 1).await.unwrap());
        assert!(!db.remove_dead_delivery(sub.id, 1).await.unwrap());
    }

    #[tokio::test]
    async fn deleting_a_subscription_takes_its_dead_letters_and_stops_late_dead_letters() {
        let (_dir, db) = db_with_events(2).await;
        let sub = create(&db, Some(1)).await;
        db.dead_letter(sub.id, 1, 3, "x".into()).await.unwrap();
        assert!(db.delete_subscription(sub.id).await.unwrap());
        assert!(!db.delete_subscription(sub.id).await.unwrap());
        assert!(db.dead_deliveries(sub.id, 0, 10).await.unwrap().is_empty());
        // A loop finishing an attempt after the deletion records nothing (and does not fail).
        db.dead_letter(sub.id, 2, 3, "x".into()).await.unwrap();
        assert!(db.dead_deliveries(sub.id, 0, 10).await.unwrap().is_empty());
    }

    #[test]
    fn the_secret_is_neither_serialized_nor_printed() {
        let sub = Subscription {
            id: 1,
            url: "http://x/".into(),
            secret: "whsec_TOPSECRET".into(),
            types: vec!["*".into()],
            connections: None,
            cursor: 0,
            attempts: 0,
            next_attempt_ms: None,
            last_error: None,
            dead_letters: 0,
            created_ms: 0,
        };
        assert!(!serde_json::to_string(&sub).unwrap().contains("TOPSECRET"));
        assert!(!format!("{sub:?}").contains("TOPSECRET"));
    }
}
