//! Retention: deleting rows old enough to go, a small batch per transaction, and the store's size limit.
//!
//! Each table is walked in key order (the order rows were written), a window of `limit` rows per batch: rows in
//! the window that may go are deleted in the same transaction, and the walk stops at the first row too young (or,
//! for events, not yet passed by every reader). So one batch holds the store's single connection for a bounded
//! time however large the table is, and the caller can let other work in between batches.
//!
//! What is never deleted: an operation that is not final (queued, running, retrying); an event a subscriber or
//! an enabled rule has not passed (its cursor is before it), or one a subscriber's dead letter names; a sync run
//! that has not finished.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use anyhow::Result;
use rusqlite::params_from_iter;

use super::Db;

/// A kind of row retention deletes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Prune {
    /// Operations that succeeded, by when they finished.
    SucceededOperations,
    /// Operations that failed, were dead-lettered (attempts exhausted) or were discarded, by when they last changed.
    FailedOperations,
    /// Events every subscriber and every enabled rule has passed, by when they were received.
    Events,
    Audit,
    /// Finished directory sync runs (and their steps), by when they finished.
    SyncRuns,
    /// What rules did with events, by when.
    RuleRuns,
}

impl Prune {
    pub const ALL: [Prune; 6] = [
        Prune::SucceededOperations,
        Prune::FailedOperations,
        Prune::Events,
        Prune::Audit,
        Prune::SyncRuns,
        Prune::RuleRuns,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Prune::SucceededOperations => "succeeded_operations",
            Prune::FailedOperations => "failed_operations",
            Prune::Events => "events",
            Prune::Audit => "audit",
            Prune::SyncRuns => "sync_runs",
            Prune::RuleRuns => "rule_runs",
        }
    }

    /// The window (`?1` after, `?2` limit, `?3` cutoff, `?4` the events' horizon): each row's key, whether the
    /// walk stops there (the row and all after it are too young), and whether the row may go.
    fn window(self) -> &'static str {
        match self {
            Prune::SucceededOperations => {
                "SELECT id, created_ms >= ?3, status = 'succeeded' AND updated_ms < ?3
                 FROM operations WHERE id > ?1 ORDER BY id LIMIT ?2"
            }
            Prune::FailedOperations => {
                "SELECT id, created_ms >= ?3, status IN ('failed', 'dead', 'discarded') AND updated_ms < ?3
                 FROM operations WHERE id > ?1 ORDER BY id LIMIT ?2"
            }
            Prune::Events => {
                "SELECT seq, received_ms >= ?3 OR seq > ?4,
                        NOT EXISTS (SELECT 1 FROM dead_deliveries d WHERE d.event_seq = e.seq)
                 FROM events e WHERE seq > ?1 ORDER BY seq LIMIT ?2"
            }
            Prune::Audit => "SELECT seq, time_ms >= ?3, 1 FROM audit WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            Prune::SyncRuns => {
                "SELECT id, created_ms >= ?3, finished_ms IS NOT NULL AND finished_ms < ?3
                 FROM sync_runs WHERE id > ?1 ORDER BY id LIMIT ?2"
            }
            Prune::RuleRuns => {
                "SELECT rowid, at_ms >= ?3, 1 FROM rule_runs WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"
            }
        }
    }

    fn delete(self) -> &'static str {
        match self {
            Prune::SucceededOperations | Prune::FailedOperations => "DELETE FROM operations WHERE id = ?1",
            Prune::Events => "DELETE FROM events WHERE seq = ?1",
            Prune::Audit => "DELETE FROM audit WHERE seq = ?1",
            // Its steps go with it (ON DELETE CASCADE).
            Prune::SyncRuns => "DELETE FROM sync_runs WHERE id = ?1",
            Prune::RuleRuns => "DELETE FROM rule_runs WHERE rowid = ?1",
        }
    }
}

/// What one batch did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Batch {
    pub deleted: usize,
    /// Where the next batch starts (pass it as `after`).
    pub next_after: i64,
    /// Nothing more to delete now: the walk reached a row too young, or the table's end.
    pub done: bool,
}

/// Whether an error is the store (the disk, or the size limit) being full: SQLite's `SQLITE_FULL`.
pub fn is_full(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<rusqlite::Error>().and_then(rusqlite::Error::sqlite_error_code),
            Some(rusqlite::ErrorCode::DiskFull)
        ) || cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::StorageFull)
    })
}

impl Db {
    /// Deletes rows of `what` older than `before_ms`, looking at no more than `limit` rows after key `after`, in
    /// one transaction.
    pub async fn prune_batch(self: &Arc<Self>, what: Prune, before_ms: i64, after: i64, limit: u32) -> Result<Batch> {
        self.run_long(move |c| {
            let tx = crate::writer::atomic(c)?;
            // The last event every reader has passed: the lowest cursor of subscribers and enabled rules.
            let horizon: i64 = if what == Prune::Events {
                tx.query_row(
                    "SELECT MIN(c) FROM (SELECT cursor AS c FROM subscriptions
                                         UNION ALL SELECT cursor FROM rules WHERE enabled = 1)",
                    [],
                    |r| r.get::<_, Option<i64>>(0),
                )?
                .unwrap_or(i64::MAX)
            } else {
                i64::MAX
            };
            let values = [after, i64::from(limit), before_ms, horizon];
            let bound = if what == Prune::Events { &values[..] } else { &values[..3] };
            let rows: Vec<(i64, bool, bool)> = tx
                .prepare_cached(what.window())?
                .query_map(params_from_iter(bound), |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let mut batch = Batch { deleted: 0, next_after: after, done: rows.len() < limit as usize };
            {
                let mut delete = tx.prepare_cached(what.delete())?;
                for (key, stop, eligible) in rows {
                    if stop {
                        batch.done = true;
                        break;
                    }
                    batch.next_after = key;
                    if eligible {
                        batch.deleted += delete.execute([key])?;
                    }
                }
            }
            tx.commit()?;
            Ok(batch)
        })
        .await
    }

    /// Limits the store's file to about `max_bytes` (SQLite's `max_page_count`); past it, every write fails with
    /// `SQLITE_FULL` (see [`is_full`]). New work is refused earlier, by [`Db::check_room`], once all but a reserve
    /// (a tenth of the limit, at least 64 pages) is in use: the reserve is for finishing work already accepted
    /// (claiming operations, recording their results), so a store full of new work still delivers it. 0 lifts the
    /// limit. A limit below the current size holds the file at its current size. Returns the limit in force, in
    /// bytes.
    pub async fn limit_size(self: &Arc<Self>, max_bytes: u64) -> Result<u64> {
        let (pages, page) = self
            .run(move |c| {
                let page: u64 = c.query_row("PRAGMA page_size", [], |r| r.get(0))?;
                // SQLite's own default maximum, i.e. no limit of ours.
                let pages = if max_bytes == 0 { 4_294_967_294 } else { (max_bytes / page).max(2) };
                let now: u64 = c.query_row(&format!("PRAGMA max_page_count = {pages}"), [], |r| r.get(0))?;
                Ok((now, page))
            })
            .await?;
        let admit = if max_bytes == 0 { 0 } else { pages - (pages / 10).max(64).min(pages / 2) };
        self.admit_pages.store(admit, Ordering::Relaxed);
        Ok(pages * page)
    }

    /// Whether there is room for new work (an operation, events): an error [`is_full`] recognises when the store
    /// is within its reserve (see [`Db::limit_size`]). Free without a size limit.
    pub async fn check_room(self: &Arc<Self>) -> Result<()> {
        let admit = self.admit_pages.load(Ordering::Relaxed);
        if admit == 0 {
            return Ok(());
        }
        // On a read connection: every accept asks, and the committed size is the one that counts.
        let used: u64 = self.read(|c| {
            let count: u64 = c.prepare_cached("PRAGMA page_count")?.query_row([], |r| r.get(0))?;
            let free: u64 = c.prepare_cached("PRAGMA freelist_count")?.query_row([], |r| r.get(0))?;
            Ok(count.saturating_sub(free))
        })?;
        if used >= admit {
            return Err(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
                Some(format!("the store is at its size limit: {used} pages in use, new work stops at {admit}")),
            )
            .into());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Enqueued, NewOperation, NewAuditEntry, Status, now_ms};
    use qiao_contract::bindings::types::Event;
    use qiao_secrets::MasterKey;

    fn db() -> (tempfile::TempDir, Arc<Db>) {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("q.db"), MasterKey::generate()).unwrap();
        (dir, db)
    }

    async fn enqueue(db: &Arc<Db>, body: &str) -> i64 {
        let op = NewOperation {
            connection: "c".into(),
            operation: "send".into(),
            request: body.into(),
            idempotency_key: None,
            request_hash: body.into(),
            actor: None,
            cause: None,
            audit: None,
            start: false,
        };
        let Enqueued::New(op) = db.enqueue(op).await.unwrap() else { panic!("new") };
        op.id
    }

    /// Runs batches of `what` until done; returns how many rows went and how many batches it took.
    async fn prune_all(db: &Arc<Db>, what: Prune, before_ms: i64, limit: u32) -> (usize, usize) {
        let (mut after, mut deleted, mut batches) = (0, 0, 0);
        loop {
            let b = db.prune_batch(what, before_ms, after, limit).await.unwrap();
            deleted += b.deleted;
            batches += 1;
            if b.done {
                return (deleted, batches);
            }
            after = b.next_after;
        }
    }

    async fn status(db: &Arc<Db>, id: i64) -> Option<Status> {
        db.operation(id).await.unwrap().map(|o| o.status)
    }

    #[tokio::test]
    async fn retention_prunes_final_operations_of_the_class_and_never_unfinished_ones() {
        let (_dir, db) = db();
        let ok = enqueue(&db, "ok").await;
        let failed = enqueue(&db, "failed").await;
        let dead = enqueue(&db, "dead").await;
        let queued = enqueue(&db, "queued").await;
        let running = enqueue(&db, "running").await;
        let retrying = enqueue(&db, "retrying").await;
        for id in [ok, failed, dead, running, retrying] {
            db.claim(id).await.unwrap().unwrap();
        }
        db.succeed(ok, serde_json::json!({}), now_ms()).await.unwrap();
        db.record_failure(failed, serde_json::json!({}), None, Status::Failed).await.unwrap();
        db.record_failure(dead, serde_json::json!({}), None, Status::Dead).await.unwrap();
        db.record_failure(retrying, serde_json::json!({}), Some(now_ms()), Status::Retrying).await.unwrap();

        let future = now_ms() + 1_000;
        // Too young: nothing goes, and the walk stops at the first row.
        assert_eq!(prune_all(&db, Prune::SucceededOperations, now_ms() - 60_000, 2).await, (0, 1));
        assert_eq!(prune_all(&db, Prune::SucceededOperations, future, 2).await.0, 1);
        assert_eq!(status(&db, ok).await, None);
        assert_eq!(status(&db, failed).await, Some(Status::Failed), "another class");
        assert_eq!(prune_all(&db, Prune::FailedOperations, future, 2).await.0, 2);
        assert_eq!(status(&db, dead).await, None);
        for (id, s) in [(queued, Status::Queued), (running, Status::Running), (retrying, Status::Retrying)] {
            assert_eq!(status(&db, id).await, Some(s), "not final: kept");
        }
        // Ids are never reused, so a pruned operation's id never names another.
        assert!(enqueue(&db, "later").await > retrying);
    }

    fn event(id: &str) -> Event {
        Event { id: id.into(), kind: "t".into(), time_ms: None, subject: String::new(), payload: "{}".into() }
    }

    #[tokio::test]
    async fn retention_keeps_events_a_subscriber_or_an_enabled_rule_has_not_passed() {
        let (_dir, db) = db();
        let ids: Vec<String> = (1..=10).map(|i| i.to_string()).collect();
        db.commit_events("a".into(), ids.iter().map(|i| event(i)).collect(), None).await.unwrap();
        let seqs: Vec<i64> = db.list_events(0, None, 100).await.unwrap().iter().map(|e| e.seq).collect();
        let sub = db
            .create_subscription("http://x".into(), "s".into(), vec!["*".into()], None, Some(1))
            .await
            .unwrap();
        db.dead_letter(sub.id, seqs[1], 3, "gone".into()).await.unwrap();
        db.advance_cursor(sub.id, seqs[5]).await.unwrap();
        db.create_rule("r".into(), serde_json::json!({}), true, Some(seqs[3])).await.unwrap();
        db.create_rule("off".into(), serde_json::json!({}), false, Some(0)).await.unwrap();
        let future = now_ms() + 1_000;

        // The rule has passed only 4 events; of those, the dead letter's event stays.
        assert_eq!(prune_all(&db, Prune::Events, future, 3).await.0, 3);
        let left = |db: Arc<Db>| async move {
            db.list_events(0, None, 100).await.unwrap().iter().map(|e| e.seq).collect::<Vec<_>>()
        };
        assert_eq!(left(db.clone()).await[..2], [seqs[1], seqs[4]]);
        db.record_rule_runs(vec![], vec![("r".into(), seqs[9])]).await.unwrap();
        assert_eq!(prune_all(&db, Prune::Events, future, 3).await.0, 2, "now the subscriber holds them");
        db.delete_subscription(sub.id).await.unwrap();
        assert_eq!(prune_all(&db, Prune::Events, future, 3).await.0, 5);
        assert!(left(db.clone()).await.is_empty(), "the disabled rule holds none back");
        // Not old enough: kept whatever the cursors.
        db.commit_events("a".into(), vec![event("11")], None).await.unwrap();
        db.record_rule_runs(vec![], vec![("r".into(), i64::MAX)]).await.unwrap();
        assert_eq!(prune_all(&db, Prune::Events, now_ms() - 60_000, 3).await.0, 0);
    }

    #[tokio::test]
    async fn retention_prunes_audit_in_bounded_batches() {
        let (_dir, db) = db();
        for i in 0..25 {
            db.audit(NewAuditEntry {
                actor: "cli".into(),
                actor_name: None,
                action: "keys create".into(),
                target: format!("key {i}"),
                connection: None,
                status: 0,
                error: None,
                operation_id: None,
            })
            .await
            .unwrap();
        }
        assert_eq!(prune_all(&db, Prune::Audit, now_ms() - 60_000, 10).await, (0, 1));
        assert_eq!(prune_all(&db, Prune::Audit, now_ms() + 1_000, 10).await, (25, 3));
        for what in [Prune::SyncRuns, Prune::RuleRuns] {
            assert_eq!(prune_all(&db, what, now_ms() + 1_000, 10).await, (0, 1), "{what:?}");
        }
    }

    #[tokio::test]
    async fn retention_reserve_lets_accepted_work_finish_once_new_work_is_refused() {
        let (_dir, db) = db();
        db.limit_size(1 << 20).await.unwrap();
        let body = "x".repeat(8_000);
        let mut accepted = vec![];
        while db.check_room().await.is_ok() {
            accepted.push(enqueue(&db, &body).await);
            assert!(accepted.len() < 200, "the limit never came");
        }
        for id in &accepted {
            db.claim(*id).await.unwrap().unwrap();
            db.succeed(*id, serde_json::json!({ "message_id": "m".repeat(300) }), now_ms()).await.unwrap();
        }
    }

    #[tokio::test]
    async fn retention_size_limit_answers_full_and_keeps_what_was_committed() {
        let (_dir, db) = db();
        let limit = db.limit_size(1 << 20).await.unwrap();
        assert!(limit <= 1 << 20 && limit > 900_000, "{limit}");
        db.check_room().await.unwrap();
        let body = "x".repeat(20_000);
        let done = enqueue(&db, &body).await;
        db.claim(done).await.unwrap().unwrap();
        db.succeed(done, serde_json::json!({}), now_ms()).await.unwrap();
        let mut accepted = vec![];
        let err = loop {
            match db.enqueue(NewOperation {
                connection: "c".into(),
                operation: "send".into(),
                request: body.clone(),
                idempotency_key: None,
                request_hash: accepted.len().to_string(),
                actor: None,
                cause: None,
                audit: None,
                start: false,
            })
            .await
            {
                Ok(Enqueued::New(op)) => accepted.push(op.id),
                Ok(_) => panic!("new"),
                Err(e) => break e,
            }
            assert!(accepted.len() < 200, "the limit never came");
        };
        assert!(is_full(&err), "{err:#}");
        assert!(!is_full(&anyhow::anyhow!("other")));
        let no_room = db.check_room().await.unwrap_err();
        assert!(is_full(&no_room) && no_room.to_string().contains("size limit"), "{no_room:#}");
        // Everything accepted is intact; freeing space (pruning) lets writes in again.
        for id in &accepted {
            assert_eq!(status(&db, *id).await, Some(Status::Queued));
        }
        assert_eq!(prune_all(&db, Prune::SucceededOperations, now_ms() + 1_000, 500).await.0, 1);
        enqueue(&db, "fits again").await;
        db.limit_size(0).await.unwrap();
        db.check_room().await.unwrap();
        enqueue(&db, &body).await;
    }
}
