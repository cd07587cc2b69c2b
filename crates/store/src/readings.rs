//! What `GET /metrics` reads from the store at each scrape: counts and ages that are a state of the store
//! rather than events the code sees happen.

use std::sync::Arc;

use anyhow::Result;

use super::{Db, now_ms};

#[derive(Debug, Default)]
pub struct Readings {
    /// Operations per status.
    pub operations: Vec<(String, i64)>,
    /// Age of the oldest operation waiting for an attempt (`queued` or `retrying`), in milliseconds.
    pub oldest_waiting_ms: Option<i64>,
    /// Each subscription's id and how many events of the log lie past its cursor.
    pub subscriber_lag: Vec<(i64, i64)>,
    /// Directory sync runs per status.
    pub sync_runs: Vec<(String, i64)>,
    /// Each connection's kv usage, (connection, bytes, keys), for those that ever wrote.
    pub kv_usage: Vec<(String, i64, i64)>,
}

impl Db {
    pub async fn readings(self: &Arc<Self>) -> Result<Readings> {
        self.run_long(|c| {
            let pairs = |sql: &str| -> rusqlite::Result<Vec<(String, i64)>> {
                let mut stmt = c.prepare_cached(sql)?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect()
            };
            let operations = pairs("SELECT status, COUNT(*) FROM operations GROUP BY status")?;
            let sync_runs = pairs("SELECT status, COUNT(*) FROM sync_runs GROUP BY status")?;
            // The partial index on waiting rows keeps this cheap however many operations have finished.
            let oldest: Option<i64> = c.query_row(
                "SELECT MIN(created_ms) FROM operations INDEXED BY operations_next WHERE status IN ('queued', 'retrying')",
                [],
                |r| r.get(0),
            )?;
            let last_seq: i64 = c.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))?;
            let mut stmt = c.prepare_cached("SELECT id, cursor FROM subscriptions ORDER BY id")?;
            let subscriber_lag = stmt
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)))?
                .map(|row| row.map(|(id, cursor)| (id, (last_seq - cursor).max(0))))
                .collect::<rusqlite::Result<_>>()?;
            let mut stmt = c.prepare_cached("SELECT connection, bytes, keys FROM kv_usage")?;
            let kv_usage = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok(Readings {
                operations,
                oldest_waiting_ms: oldest.map(|created| (now_ms() - created).max(0)),
                subscriber_lag,
                sync_runs,
                kv_usage,
            })
        })
        .await
    }
}
