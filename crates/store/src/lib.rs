//! qiao-store: the embedded store (one SQLite file). All SQL lives in this crate, one file per table group:
//! `kv` (connector state), `events` (inbound log, poll cursors), `operations` (the outbox),
//! `subscriptions` (subscribers, their cursors and dead letters), `approvals` (the stored view of approvals),
//! `directory` (the enterprise directory and its links to platform objects), `sync_runs` (directory sync runs),
//! `sso` (sign-in states and used codes), `rules` (rules, their runs, linked objects and expected echoes), `deadlines` (approval steps and their timers).
//! Subscriber secrets and kv values are sealed with the master key (`sealing`).
//!
//! Calls run on the store's own thread (`writer`), in batches committed together, so a slow disk never stalls
//! the async workers and a burst of writes shares its commits. Reads of one row by its key (a kv value, an
//! operation, an API key) run on read connections of their own instead (`readers`), and a thread of its own copies
//! the WAL back into the file (`checkpoint`). The three open the file in `connections`, one function per role.
//!
//! Must not know about: connectors being run (qiao-runtime), the services' rules, or HTTP.

mod approvals;
mod audit;
mod checkpoint;
mod connections;
mod deadlines;
mod directory;
mod events;
pub mod keys;
mod kv;
mod kv_cache;
mod operations;
mod readers;
mod readings;
mod retention;
mod rules;
mod sealing;
mod sso;
mod subscriptions;
mod sync_runs;
mod writer;

pub use approvals::StoredApproval;
pub use audit::{AuditEntry, AuditQuery, NewAuditEntry};
pub use deadlines::{ApprovalStep, Decided, NewStep, StepKey};
pub use directory::{LinkKind, Links, Replaced};
pub use events::StoredEvent;
pub use operations::{Enqueued, NewOperation, OperationRow, Status};
pub use readings::Readings;
pub use retention::{Batch, Prune, is_full};
pub use rules::{RuleRow, RuleRun, Saved};
pub use sealing::Resealed;
pub use sso::{SsoCheck, SsoState};
pub use subscriptions::{DeadDelivery, Subscription};
pub use sync_runs::{RunRow, StepRow};

use std::path::Path;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use rusqlite::Connection;

use qiao_secrets::MasterKey;

/// The store's file name in the data directory.
pub const DB_FILE: &str = "qiao.db";

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
"#, r#"
    -- The outbox: every write to a platform, committed before it is attempted.
    CREATE TABLE operations (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        connection TEXT NOT NULL,
        operation TEXT NOT NULL,
        request TEXT NOT NULL,
        idempotency_key TEXT,
        request_hash TEXT NOT NULL,
        status TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL,
        last_error TEXT,
        result TEXT,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE UNIQUE INDEX operations_by_key ON operations (connection, idempotency_key)
        WHERE idempotency_key IS NOT NULL;
    CREATE INDEX operations_due ON operations (connection, next_attempt_ms) WHERE status IN ('queued', 'retrying');
    CREATE INDEX operations_next ON operations (next_attempt_ms) WHERE status IN ('queued', 'retrying');
    CREATE INDEX operations_by_status ON operations (status, id);

    -- Subscribers: each reads the event log from its cursor, in order.
    CREATE TABLE subscriptions (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        url TEXT NOT NULL,
        secret TEXT NOT NULL,
        types TEXT NOT NULL,
        connections TEXT,
        cursor INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0,
        next_attempt_ms INTEGER NOT NULL DEFAULT 0,
        last_error TEXT,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE dead_deliveries (
        subscription INTEGER NOT NULL REFERENCES subscriptions (id) ON DELETE CASCADE,
        event_seq INTEGER NOT NULL,
        attempts INTEGER NOT NULL,
        last_error TEXT NOT NULL,
        dead_ms INTEGER NOT NULL,
        PRIMARY KEY (subscription, event_seq)
    );

    -- What Qiao knows of each approval, so reads need not ask the platform.
    CREATE TABLE approvals (
        connection TEXT NOT NULL,
        id TEXT NOT NULL,
        template TEXT,
        status TEXT NOT NULL,
        instance TEXT NOT NULL,
        synced_ms INTEGER NOT NULL,
        stale INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (connection, id)
    );
"#, r#"
    -- Who may call the API: only the sha256 of each key's secret is kept.
    CREATE TABLE api_keys (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        secret_hash BLOB NOT NULL,
        scopes TEXT NOT NULL,
        connections TEXT,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER,
        revoked_ms INTEGER
    );
    -- Every change made through the API or the CLI: who, what, where, with what result.
    CREATE TABLE audit (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        time_ms INTEGER NOT NULL,
        actor TEXT NOT NULL,
        actor_name TEXT,
        action TEXT NOT NULL,
        target TEXT NOT NULL,
        connection TEXT,
        status INTEGER NOT NULL,
        error TEXT,
        operation_id INTEGER
    );
    CREATE INDEX audit_by_connection ON audit (connection, seq);
    ALTER TABLE operations ADD COLUMN actor TEXT;
"#, r#"
    -- The enterprise's directory as last pushed or pulled: each record as JSON under the enterprise's id.
    CREATE TABLE directory_departments (
        id TEXT PRIMARY KEY,
        record TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    CREATE TABLE people (
        id TEXT PRIMARY KEY,
        record TEXT NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    -- Which platform object is which enterprise object, per connection, and the record Qiao last applied to it
    -- (what tells a change made outside Qiao from one of the source).
    CREATE TABLE directory_links (
        connection TEXT NOT NULL,
        kind TEXT NOT NULL,
        id TEXT NOT NULL,
        platform_id TEXT NOT NULL,
        synced TEXT,
        updated_ms INTEGER NOT NULL,
        -- Set when the platform said the object was deleted (a contact event): kept for the planner to report,
        -- but no longer an address.
        gone_ms INTEGER,
        PRIMARY KEY (connection, kind, id),
        UNIQUE (connection, kind, platform_id)
    );
    -- Directory sync runs: the plan, then one row per step as it is applied, so a restart resumes the run.
    CREATE TABLE sync_runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        connection TEXT NOT NULL,
        status TEXT NOT NULL,
        dry_run INTEGER NOT NULL,
        options TEXT NOT NULL,
        plan TEXT,
        -- The plan's step count, kept apart so polling a run does not parse its plan.
        steps INTEGER,
        report TEXT,
        actor TEXT,
        created_ms INTEGER NOT NULL,
        finished_ms INTEGER
    );
    CREATE INDEX sync_runs_by_connection ON sync_runs (connection, id);
    CREATE TABLE sync_steps (
        run INTEGER NOT NULL REFERENCES sync_runs (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        status TEXT NOT NULL,
        operation_id INTEGER,
        error TEXT,
        PRIMARY KEY (run, idx)
    );
    -- Single sign-on: each `state` handed out, used at most once; each code exchanged, never again.
    CREATE TABLE sso_states (
        state TEXT PRIMARY KEY,
        connection TEXT NOT NULL,
        redirect_uri TEXT NOT NULL,
        flow TEXT,
        created_ms INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL,
        used_ms INTEGER
    );
    CREATE TABLE sso_codes (
        connection TEXT NOT NULL,
        code_hash TEXT NOT NULL,
        used_ms INTEGER NOT NULL,
        PRIMARY KEY (connection, code_hash)
    );
"#, r#"
    -- Approval deadlines: each pending step of an approval (a task, or an approver where the platform has no task
    -- ids) from when Qiao saw it enter pending until it left, its next timer and what was sent for it.
    CREATE TABLE approval_steps (
        connection TEXT NOT NULL,
        approval TEXT NOT NULL,
        step TEXT NOT NULL,
        approver TEXT NOT NULL,
        template TEXT,
        title TEXT,
        entered_ms INTEGER NOT NULL,
        first_due_ms INTEGER,
        due_ms INTEGER,
        reminders INTEGER NOT NULL DEFAULT 0,
        escalated_ms INTEGER,
        problem TEXT,
        left_ms INTEGER,
        outcome TEXT,
        PRIMARY KEY (connection, approval, step)
    );
    CREATE INDEX approval_steps_due ON approval_steps (due_ms) WHERE left_ms IS NULL;
"#, r#"
    -- Rules: each reads the event log with its own cursor, like a subscriber.
    CREATE TABLE rules (
        id TEXT PRIMARY KEY,
        spec TEXT NOT NULL,
        origin TEXT NOT NULL,
        enabled INTEGER NOT NULL,
        cursor INTEGER NOT NULL,
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL
    );
    -- What a rule did with an event it was triggered by.
    CREATE TABLE rule_runs (
        rule TEXT NOT NULL,
        event_seq INTEGER NOT NULL,
        outcome TEXT NOT NULL,
        detail TEXT NOT NULL,
        at_ms INTEGER NOT NULL,
        PRIMARY KEY (rule, event_seq)
    );
    -- Objects on two connections that a rule tied together (a Feishu task and the Jira issue made from it).
    CREATE TABLE object_links (
        connection TEXT NOT NULL,
        object TEXT NOT NULL,
        other_connection TEXT NOT NULL,
        other_object TEXT NOT NULL,
        rule TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        PRIMARY KEY (connection, object, other_connection)
    );
    -- Writes Qiao made whose echo (the platform's event about them) is still expected.
    CREATE TABLE expected_echoes (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        connection TEXT NOT NULL,
        object TEXT NOT NULL,
        types TEXT NOT NULL,
        operation INTEGER NOT NULL,
        hops INTEGER NOT NULL,
        expires_ms INTEGER NOT NULL
    );
    CREATE INDEX expected_echoes_by_object ON expected_echoes (connection, object);
    -- The operation whose echo an event is, and how many rule-made writes led to it.
    ALTER TABLE events ADD COLUMN echo_of INTEGER;
    ALTER TABLE events ADD COLUMN hops INTEGER NOT NULL DEFAULT 0;
    -- Why a rule made an operation: {"rule", "event_seq", "hops", "link": {"connection", "object"}?}.
    ALTER TABLE operations ADD COLUMN cause TEXT;
"#, r#"
    -- What each connection keeps in kv, kept with every write so the quota check does not scan its keys.
    CREATE TABLE kv_usage (
        connection TEXT PRIMARY KEY,
        bytes INTEGER NOT NULL,
        keys INTEGER NOT NULL
    );
    INSERT INTO kv_usage (connection, bytes, keys)
        SELECT connection, SUM(length(CAST(key AS BLOB)) + length(CAST(value AS BLOB))), COUNT(*) FROM kv GROUP BY connection;
"#, r#"
    -- Every write that expects an echo first deletes the expired expectations: by time, not a scan of them all.
    CREATE INDEX expected_echoes_by_expiry ON expected_echoes (expires_ms);
"#];

pub struct Db {
    /// The one connection that writes: every call but a point read goes through it (see `writer`).
    writer: writer::Writer,
    /// Point reads, beside the writer (see `readers`).
    readers: readers::Readers,
    /// Copies the WAL into the database file, beside the writer (see `checkpoint`); dropped after it.
    _checkpointer: checkpoint::Checkpointer,
    /// Seals subscriber secrets and connector kv values (see `sealing`).
    key: MasterKey,
    /// Connector kv values as last read, opened (see `kv_cache`).
    kv_cache: Arc<kv_cache::KvCache>,
    /// Pages in use past which new work is refused (0: no limit); the rest up to the size limit is kept for
    /// finishing accepted work (see `retention`).
    admit_pages: std::sync::atomic::AtomicU64,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl Db {
    /// Opens (or creates) the store. Secrets in it are sealed with `key`: the store refuses to open when they
    /// were sealed with another key, and seals those an earlier version stored in plain text.
    pub fn open(path: &Path, key: MasterKey) -> Result<Arc<Db>> {
        let conn = connections::writer(path)?;
        sealing::check_and_seal(&conn, &key)
            .with_context(|| format!("database {}", path.display()))?;
        Ok(Arc::new(Db {
            writer: writer::Writer::start(conn)?,
            readers: readers::Readers::new(path),
            _checkpointer: checkpoint::Checkpointer::start(path)?,
            key,
            kv_cache: Default::default(),
            admit_pages: Default::default(),
        }))
    }

    async fn run<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R> {
        self.writer.call(f).await
    }

    /// [`Db::run`] for work that may take long: a scan of a table that grows, a bulk write. It runs on a blocking
    /// thread, so requests are served meanwhile (see `writer`).
    async fn run_long<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R> {
        self.writer.call_long(f).await
    }

    /// [`Db::run`], then `after` where the batch ran, once the transaction's fate is known (see
    /// `Writer::call_then`).
    async fn run_then<R: Send + 'static>(
        self: &Arc<Self>,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
        after: impl FnOnce() + Send + 'static,
    ) -> Result<R> {
        self.writer.call_then(f, after).await
    }

    /// A read of rows found by their key, on a read connection (see `readers`): not for scans.
    fn read<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R> {
        self.readers.read(f)
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
    use qiao_contract::bindings::types::Event;

    fn event(id: &str) -> Event {
        Event {
            id: id.into(),
            kind: "t".into(),
            time_ms: None,
            subject: "s".into(),
            payload: "{\"a\":1}".into(),
        }
    }

    fn send(connection: &str, start: bool) -> NewOperation {
        NewOperation {
            connection: connection.into(),
            operation: "send".into(),
            request: "{}".into(),
            idempotency_key: None,
            request_hash: "h".into(),
            actor: None,
            cause: None,
            audit: None,
            start,
        }
    }

    #[tokio::test]
    async fn an_operation_accepted_with_a_free_slot_starts_at_once_unless_one_is_due_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(&dir.path().join("q.db"), MasterKey::generate()).unwrap());
        let new = |e| match e {
            Enqueued::New(op) => op,
            _ => panic!("a new operation"),
        };
        let first = new(db.enqueue(send("a", true)).await.unwrap());
        assert_eq!((first.status, first.attempts), (Status::Running, 1));
        assert_eq!(db.operation(first.id).await.unwrap().unwrap().status, Status::Running);
        // Without a slot it queues; then one due before it keeps its place, on its connection only.
        let queued = new(db.enqueue(send("a", false)).await.unwrap());
        assert_eq!((queued.status, queued.attempts), (Status::Queued, 0));
        let behind = new(db.enqueue(send("a", true)).await.unwrap());
        assert_eq!(behind.status, Status::Queued);
        let elsewhere = new(db.enqueue(send("b", true)).await.unwrap());
        assert_eq!(elsewhere.status, Status::Running);
        let (claimed, _) = db.claim_due(vec![("a".into(), 5)], now_ms() + 1, false).await.unwrap();
        assert_eq!(claimed.iter().map(|op| op.id).collect::<Vec<_>>(), vec![queued.id, behind.id]);
    }

    #[tokio::test]
    async fn claiming_with_a_different_number_of_free_slots_does_not_prepare_the_statement_again() {
        let dir = tempfile::tempdir().unwrap();
        let db = Arc::new(Db::open(&dir.path().join("q.db"), MasterKey::generate()).unwrap());
        for _ in 0..20 {
            db.enqueue(send("a", false)).await.unwrap();
        }
        for free in [1, 2, 3, 1, 4] {
            let (claimed, _) = db.claim_due(vec![("a".into(), free)], now_ms() + 1, false).await.unwrap();
            assert_eq!(claimed.len(), free);
        }
        let reprepared = db
            .run(|c| Ok(c.prepare_cached(&operations::claim_due_sql())?.get_status(rusqlite::StatementStatus::RePrepare)))
            .await
            .unwrap();
        assert_eq!(reprepared, 0);
    }

    #[tokio::test]
    async fn a_kv_read_after_a_write_or_delete_sees_it_though_the_value_was_cached() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("q.db"), MasterKey::generate()).unwrap();
        let get = || db.kv_get("c".into(), "k".into());
        let set = |v: &[u8]| db.kv_set("c".into(), "k".into(), v.to_vec(), None, u64::MAX, u64::MAX);
        set(b"1").await.unwrap().unwrap();
        assert_eq!(get().await.unwrap(), Some(b"1".to_vec()));
        assert_eq!(get().await.unwrap(), Some(b"1".to_vec()), "from the cache");
        set(b"2").await.unwrap().unwrap();
        assert_eq!(get().await.unwrap(), Some(b"2".to_vec()));
        // A write refused by the quota leaves the value as it was.
        assert!(db.kv_set("c".into(), "k".into(), b"3".to_vec(), None, 1, u64::MAX).await.unwrap().is_err());
        assert_eq!(get().await.unwrap(), Some(b"2".to_vec()));
        db.kv_delete("c".into(), "k".into()).await.unwrap();
        assert_eq!(get().await.unwrap(), None);
    }

    #[tokio::test]
    async fn kv_is_scoped_per_connection_and_expires() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("q.db"), MasterKey::generate()).unwrap();
        db.kv_set("a".into(), "k".into(), b"1".to_vec(), None, u64::MAX, u64::MAX)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            db.kv_get("a".into(), "k".into()).await.unwrap(),
            Some(b"1".to_vec())
        );
        assert_eq!(db.kv_get("b".into(), "k".into()).await.unwrap(), None);
        db.kv_set("a".into(), "t".into(), b"x".to_vec(), Some(0), u64::MAX, u64::MAX)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(db.kv_get("a".into(), "t".into()).await.unwrap(), None);
    }

    #[tokio::test]
    async fn kv_stops_at_the_quota_and_counts_overwrites_and_deletes() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("q.db"), MasterKey::generate()).unwrap();
        let set = |key: &str, len: usize, ttl: Option<u32>| {
            db.kv_set("a".into(), key.into(), vec![7; len], ttl, 4_000, 3)
        };
        set("one", 1_000, None).await.unwrap().unwrap();
        set("one", 1_000, None).await.unwrap().unwrap();
        let (bytes, keys) = db.kv_usage("a".into()).await.unwrap();
        assert_eq!(keys, 1, "an overwrite is not a new key");
        assert!(bytes > 1_000 && bytes < 1_500, "sealed size counted once: {bytes}");
        set("two", 1_000, None).await.unwrap().unwrap();
        let refused = set("three", 3_000, None).await.unwrap().unwrap_err();
        assert!(refused.contains("4000-byte quota"), "{refused}");
        assert_eq!(db.kv_get("a".into(), "three".into()).await.unwrap(), None, "nothing written");
        set("three", 10, None).await.unwrap().unwrap();
        assert!(set("four", 10, None).await.unwrap().unwrap_err().contains("3-key quota"));
        db.kv_delete("a".into(), "two".into()).await.unwrap();
        set("four", 10, None).await.unwrap().unwrap();
        // An expired key no longer counts once the quota is reached.
        db.kv_delete("a".into(), "four".into()).await.unwrap();
        set("gone", 10, Some(0)).await.unwrap().unwrap();
        set("five", 10, None).await.unwrap().unwrap();
        assert_eq!(db.kv_usage("a".into()).await.unwrap().1, 3);
    }

    #[tokio::test]
    async fn what_the_writer_commits_reaches_the_database_file_without_the_writer_checkpointing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let db = Db::open(&path, MasterKey::generate()).unwrap();
        let before = std::fs::metadata(&path).unwrap().len();
        // ~2 MB, far below the writer's own threshold (connections::WRITER_BACKSTOP_PAGES).
        for i in 0..64 {
            let value = vec![7; 32 * 1024];
            db.kv_set("a".into(), format!("k{i}"), value, None, u64::MAX, u64::MAX).await.unwrap().unwrap();
        }
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while std::fs::metadata(&path).unwrap().len() < before + 2_000_000 {
            assert!(std::time::Instant::now() < deadline, "the WAL was not copied into {}", path.display());
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    #[tokio::test]
    async fn events_are_deduplicated_and_survive_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let key = MasterKey::generate();
        let db = Db::open(&path, key.clone()).unwrap();
        assert_eq!(
            db.commit_events("a".into(), vec![event("1"), event("2")], None)
                .await
                .unwrap(),
            2
        );
        assert_eq!(
            db.commit_events("a".into(), vec![event("2"), event("3")], None)
                .await
                .unwrap(),
            1
        );
        assert_eq!(
            db.commit_events("b".into(), vec![event("1")], None)
                .await
                .unwrap(),
            1
        );
        drop(db);
        let db = Db::open(&path, key).unwrap();
        let all = db.list_events(0, Some("a".into()), 10).await.unwrap();
        assert_eq!(
            all.iter().map(|e| e.id.as_str()).collect::<Vec<_>>(),
            ["1", "2", "3"]
        );
        let after = db.list_events(all[0].seq, None, 10).await.unwrap();
        assert_eq!(after.len(), 3);
        assert_eq!(after[0].payload["a"], 1);
    }

    #[tokio::test]
    async fn operations_are_claimed_once_and_the_next_retry_is_found() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("q.db"), MasterKey::generate()).unwrap();
        let new = |key: Option<&str>, body: &str| NewOperation {
            request: body.into(),
            idempotency_key: key.map(str::to_string),
            request_hash: body.into(),
            ..send("c", false)
        };
        let Enqueued::New(op) = db.enqueue(new(Some("k"), "{}")).await.unwrap() else { panic!("new") };
        assert!(matches!(db.enqueue(new(Some("k"), "{}")).await.unwrap(), Enqueued::Existing(o) if o.id == op.id));
        assert!(matches!(db.enqueue(new(Some("k"), "{\"x\":1}")).await.unwrap(), Enqueued::Conflict(_)));
        let Enqueued::New(second) = db.enqueue(new(None, "{}")).await.unwrap() else { panic!("new") };
        let ids = |claimed: &[OperationRow]| claimed.iter().map(|op| op.id).collect::<Vec<_>>();
        let (claimed, _) = db.claim_due(vec![("c".into(), 1), ("other".into(), 5)], now_ms(), false).await.unwrap();
        assert_eq!(ids(&claimed), [op.id], "no more than the free slots, oldest first");
        assert_eq!(claimed[0].attempts, 1);
        assert!(db.claim(op.id).await.unwrap().is_none(), "claimed once");
        let (claimed, _) = db.claim_due(vec![("c".into(), 5)], now_ms(), false).await.unwrap();
        assert_eq!(ids(&claimed), [second.id]);
        let later = now_ms() + 60_000;
        db.record_failure(op.id, serde_json::json!({}), Some(later), Status::Retrying).await.unwrap();
        let (claimed, next) = db.claim_due(vec![("c".into(), 5)], now_ms(), true).await.unwrap();
        assert!(claimed.is_empty(), "the retry is not due yet");
        assert_eq!(next, Some(later));
    }
}
