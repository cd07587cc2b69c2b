//! The pruner: deletes what `[retention]` no longer keeps, at start and every `every_s`.
//!
//! It never holds the store for long: each transaction looks at no more than [`BATCH`] rows (see
//! `qiao_store::Prune`), and it yields between batches, so accepting writes and storing events (which share the
//! store's single connection) wait at most one small batch. What it may never delete (unfinished operations,
//! events a subscriber or enabled rule has not passed, dead letters) is decided in the store.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use qiao_config::RetentionSettings;
use qiao_store::{Db, Prune, now_ms};

use crate::App;

/// Rows looked at per transaction.
pub const BATCH: u32 = 500;
/// The pause between batches, letting the hot path at the store.
const BETWEEN_BATCHES: Duration = Duration::from_millis(20);
const DAY_MS: i64 = 86_400_000;

/// How many days `settings` keeps rows of `what` (0: forever).
fn days(settings: &RetentionSettings, what: Prune) -> u64 {
    match what {
        Prune::SucceededOperations => settings.succeeded_operations_days,
        Prune::FailedOperations => settings.failed_operations_days,
        Prune::Events => settings.events_days,
        Prune::Audit => settings.audit_days,
        Prune::SyncRuns => settings.sync_runs_days,
        Prune::RuleRuns => settings.rule_runs_days,
    }
}

/// Prunes everything `settings` no longer keeps as of `now_ms`; returns how many rows went, by kind (kinds
/// with nothing pruned left out). A kind that fails is logged and skipped; the others still run.
pub async fn prune_once(db: &Arc<Db>, settings: &RetentionSettings, now_ms: i64) -> BTreeMap<&'static str, usize> {
    let mut pruned = BTreeMap::new();
    for what in Prune::ALL {
        let days = days(settings, what);
        if days == 0 {
            continue;
        }
        let before_ms = now_ms.saturating_sub(days as i64 * DAY_MS);
        match prune_kind(db, what, before_ms).await {
            Ok(0) => {}
            Ok(n) => {
                pruned.insert(what.name(), n);
            }
            Err((n, e)) => {
                tracing::warn!(kind = what.name(), pruned = n, "retention: pruning stopped: {e:#}");
                if n > 0 {
                    pruned.insert(what.name(), n);
                }
            }
        }
    }
    pruned
}

async fn prune_kind(db: &Arc<Db>, what: Prune, before_ms: i64) -> Result<usize, (usize, anyhow::Error)> {
    let (mut after, mut deleted) = (0, 0);
    loop {
        let batch = db.prune_batch(what, before_ms, after, BATCH).await.map_err(|e| (deleted, e))?;
        deleted += batch.deleted;
        if batch.done {
            return Ok(deleted);
        }
        after = batch.next_after;
        tokio::time::sleep(BETWEEN_BATCHES).await;
    }
}

/// Starts the pruner: once now, then every `settings.every_s`. Without anything to prune (every setting 0) it
/// does nothing.
pub fn spawn(app: &Arc<App>, settings: RetentionSettings) -> tokio::task::JoinHandle<()> {
    let db = app.db.clone();
    tokio::spawn(async move {
        if settings.days().iter().all(|(_, d)| *d == 0) {
            tracing::info!("retention: every [retention] setting is 0, nothing is pruned");
            return;
        }
        let mut every = tokio::time::interval(Duration::from_secs(settings.every_s.max(1)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            let started = std::time::Instant::now();
            let pruned = prune_once(&db, &settings, now_ms()).await;
            if !pruned.is_empty() {
                tracing::info!(?pruned, took_ms = started.elapsed().as_millis() as u64, "retention: pruned old rows");
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use qiao_contract::bindings::types::Event;
    use qiao_secrets::MasterKey;
    use qiao_store::{Enqueued, NewAuditEntry, NewOperation, Status};

    #[tokio::test]
    async fn retention_prunes_by_kind_in_batches_and_keeps_what_is_still_needed() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("q.db"), MasterKey::generate()).unwrap();
        // More than a batch of succeeded operations, one failed and one still queued.
        let mut ids = vec![];
        for i in 0..(BATCH + 20) {
            let Enqueued::New(op) = db
                .enqueue(NewOperation {
                    connection: "c".into(),
                    operation: "send".into(),
                    request: "{}".into(),
                    idempotency_key: None,
                    request_hash: i.to_string(),
                    actor: None,
                    cause: None,
                    audit: None,
                    start: false,
                })
                .await
                .unwrap()
            else {
                panic!("new")
            };
            ids.push(op.id);
        }
        let (failed, queued) = (ids[1], ids[2]);
        for &id in ids.iter().filter(|&&id| id != queued) {
            db.claim(id).await.unwrap().unwrap();
            if id == failed {
                db.record_failure(id, serde_json::json!({}), None, Status::Failed).await.unwrap();
            } else {
                db.succeed(id, serde_json::json!({}), now_ms()).await.unwrap();
            }
        }
        let events = (0..3)
            .map(|i| Event { id: i.to_string(), kind: "t".into(), time_ms: None, subject: String::new(), payload: "{}".into() })
            .collect();
        db.commit_events("c".into(), events, None).await.unwrap();
        let seqs: Vec<i64> = db.list_events(0, None, 10).await.unwrap().iter().map(|e| e.seq).collect();
        // A subscriber that has handled the first event only.
        let sub = db.create_subscription("http://x".into(), "s".into(), vec!["*".into()], None, Some(1)).await.unwrap();
        db.advance_cursor(sub.id, seqs[0]).await.unwrap();
        db.audit(NewAuditEntry {
            actor: "cli".into(),
            actor_name: None,
            action: "keys create".into(),
            target: "key".into(),
            connection: None,
            status: 0,
            error: None,
            operation_id: None,
        })
        .await
        .unwrap();

        let settings = RetentionSettings::default();
        assert!(prune_once(&db, &settings, now_ms()).await.is_empty(), "nothing is old enough yet");
        // 31 days later: succeeded operations and passed events go; audit (365 days) stays.
        let later = now_ms() + 31 * DAY_MS;
        let pruned = prune_once(&db, &settings, later).await;
        assert_eq!(pruned, BTreeMap::from([("succeeded_operations", ids.len() - 2), ("events", 1)]));
        assert_eq!(db.operation(failed).await.unwrap().unwrap().status, Status::Failed, "kept forever by default");
        assert_eq!(db.operation(queued).await.unwrap().unwrap().status, Status::Queued);
        assert_eq!(db.list_events(0, None, 10).await.unwrap().len(), 2, "the subscriber has not passed them");
        let everything = RetentionSettings { failed_operations_days: 1, ..RetentionSettings::default() };
        let pruned = prune_once(&db, &everything, now_ms() + 400 * DAY_MS).await;
        assert_eq!(pruned, BTreeMap::from([("failed_operations", 1), ("audit", 1)]));
        assert_eq!(db.operation(queued).await.unwrap().unwrap().status, Status::Queued, "never a queued one");
    }
}
