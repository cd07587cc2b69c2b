//! The outbox table: each write to a platform, from acceptance to its final state.
//!
//! States: `queued` → `running` → `succeeded` | `retrying` (→ `running` …) | `failed` (not retryable) |
//! `dead` (attempts exhausted); `failed` and `dead` can be re-queued or `discarded` through the API.

use std::sync::Arc;

use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Db, now_ms};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Queued,
    Running,
    Retrying,
    Succeeded,
    Failed,
    Dead,
    Discarded,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Queued,
        Status::Running,
        Status::Retrying,
        Status::Succeeded,
        Status::Failed,
        Status::Dead,
        Status::Discarded,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Retrying => "retrying",
            Status::Succeeded => "succeeded",
            Status::Failed => "failed",
            Status::Dead => "dead",
            Status::Discarded => "discarded",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// No further attempt will be made unless someone re-queues it.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Succeeded | Status::Failed | Status::Dead | Status::Discarded)
    }
}

pub struct NewOperation {
    pub connection: String,
    pub operation: String,
    /// The request, as JSON: what the worker will send.
    pub request: String,
    /// The caller's key; operations without one are never matched to each other.
    pub idempotency_key: Option<String>,
    /// Identifies the request (operation, target, body) for comparing requests that share a key.
    pub request_hash: String,
    /// The API key that made the request (its id); it may always read the operation back.
    pub actor: Option<String>,
    /// Why a rule made it (`{"rule", "event_seq", "hops", "link"?}`).
    pub cause: Option<serde_json::Value>,
    /// The audit row of the request that makes it, written in the same transaction (with the operation's id)
    /// when the operation is new; left out when the key finds an earlier one.
    pub audit: Option<crate::NewAuditEntry>,
    /// The caller holds a free call slot of the connection: when nothing of the connection is due before it, the
    /// new operation is taken for its first attempt in the same transaction (`running`), which saves the
    /// dispatcher a round and a commit. Otherwise it is queued behind what is due, as always.
    pub start: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct OperationRow {
    pub id: i64,
    pub connection: String,
    pub operation: String,
    pub request: serde_json::Value,
    pub idempotency_key: Option<String>,
    #[serde(skip)]
    pub request_hash: String,
    pub status: Status,
    pub attempts: u32,
    pub next_attempt_ms: Option<i64>,
    /// The last failure, as the API would have answered it (`{code, message, details}`).
    pub last_error: Option<serde_json::Value>,
    /// The platform's answer, once succeeded.
    pub result: Option<serde_json::Value>,
    pub created_ms: i64,
    pub updated_ms: i64,
    /// The id of the API key that made the request.
    pub actor: Option<String>,
    /// Why a rule made it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cause: Option<serde_json::Value>,
}

impl OperationRow {
    /// This operation as [`Db::succeed`] stores it.
    pub fn succeeded(self, result: serde_json::Value, now: i64) -> OperationRow {
        OperationRow { status: Status::Succeeded, result: Some(result), next_attempt_ms: None, updated_ms: now, ..self }
    }
}

pub enum Enqueued {
    New(OperationRow),
    /// The same key with the same request: the operation it created before.
    Existing(OperationRow),
    /// The same key with a different request.
    Conflict(OperationRow),
}

const COLUMNS: &str = "id, connection, operation, request, idempotency_key, request_hash, status, attempts, \
                       next_attempt_ms, last_error, result, created_ms, updated_ms, actor, cause";

fn json(text: Option<String>) -> Option<serde_json::Value> {
    text.map(|t| serde_json::from_str(&t).unwrap_or(serde_json::Value::String(t)))
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<OperationRow> {
    let status: String = r.get(6)?;
    let status = Status::parse(&status).unwrap_or(Status::Failed);
    Ok(OperationRow {
        id: r.get(0)?,
        connection: r.get(1)?,
        operation: r.get(2)?,
        request: json(r.get(3)?).unwrap_or_default(),
        idempotency_key: r.get(4)?,
        request_hash: r.get(5)?,
        status,
        attempts: r.get(7)?,
        next_attempt_ms: matches!(status, Status::Queued | Status::Retrying)
            .then(|| r.get(8))
            .transpose()?,
        last_error: json(r.get(9)?),
        result: json(r.get(10)?),
        created_ms: r.get(11)?,
        updated_ms: r.get(12)?,
        actor: r.get(13)?,
        cause: json(r.get(14)?),
    })
}

fn by_id(c: &rusqlite::Connection, id: i64) -> rusqlite::Result<Option<OperationRow>> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM operations WHERE id = ?1"))?
        .query_row([id], row)
        .optional()
}

impl Db {
    /// Commits a new operation, or finds the one an earlier request with the same idempotency key created.
    pub async fn enqueue(self: &Arc<Self>, op: NewOperation) -> Result<Enqueued> {
        // The new row is made rather than read back, and its request parsed here, off the writer's thread (and only
        // for a new operation: a repeat answers the row it found).
        let request = op.request.clone();
        let enqueued = self.run(move |c| {
            let tx = crate::writer::atomic(c)?;
            if let Some(key) = &op.idempotency_key {
                let earlier = tx
                    .prepare_cached(&format!(
                        "SELECT {COLUMNS} FROM operations WHERE connection = ?1 AND idempotency_key = ?2"
                    ))?
                    .query_row(params![op.connection, key], row)
                    .optional()?;
                if let Some(earlier) = earlier {
                    return Ok(if earlier.request_hash == op.request_hash {
                        Enqueued::Existing(earlier)
                    } else {
                        Enqueued::Conflict(earlier)
                    });
                }
            }
            let now = now_ms();
            // First come, first started: an operation due before this one keeps its place.
            let start = op.start
                && !tx
                    .prepare_cached(
                        "SELECT EXISTS (SELECT 1 FROM operations INDEXED BY operations_due
                         WHERE connection = ?1 AND status IN ('queued', 'retrying') AND next_attempt_ms <= ?2)",
                    )?
                    .query_row(params![op.connection, now], |r| r.get::<_, bool>(0))?;
            let status = if start { Status::Running } else { Status::Queued };
            let attempts = u32::from(start);
            tx.prepare_cached(
                "INSERT INTO operations (connection, operation, request, idempotency_key, request_hash, status,
                     attempts, next_attempt_ms, created_ms, updated_ms, actor, cause)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8, ?8, ?9, ?10)",
            )?
            .execute(params![
                    op.connection,
                    op.operation,
                    op.request,
                    op.idempotency_key,
                    op.request_hash,
                    status.as_str(),
                    attempts,
                    now,
                    op.actor,
                    op.cause.as_ref().map(|c| c.to_string())
                ])?;
            let id = tx.last_insert_rowid();
            if let Some(mut entry) = op.audit {
                entry.operation_id = Some(id);
                crate::audit::insert(&tx, &entry)?;
            }
            tx.commit()?;
            Ok(Enqueued::New(OperationRow {
                id,
                connection: op.connection,
                operation: op.operation,
                request: serde_json::Value::Null,
                idempotency_key: op.idempotency_key,
                request_hash: op.request_hash,
                status,
                attempts,
                next_attempt_ms: Some(now),
                last_error: None,
                result: None,
                created_ms: now,
                updated_ms: now,
                actor: op.actor,
                cause: op.cause,
            }))
        })
        .await?;
        Ok(match enqueued {
            Enqueued::New(row) => Enqueued::New(OperationRow { request: json(Some(request)).unwrap_or_default(), ..row }),
            found => found,
        })
    }

    pub async fn operation(self: &Arc<Self>, id: i64) -> Result<Option<OperationRow>> {
        self.read(|c| by_id(c, id))
    }

    /// Operations after `after` (an id), oldest first, optionally of one status and one connection.
    pub async fn list_operations(
        self: &Arc<Self>,
        status: Option<Status>,
        connection: Option<String>,
        after: i64,
        limit: u32,
    ) -> Result<Vec<OperationRow>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM operations
                 WHERE id > ?1 AND (?2 IS NULL OR status = ?2) AND (?3 IS NULL OR connection = ?3)
                 ORDER BY id LIMIT ?4"
            ))?;
            let rows = stmt.query_map(params![after, status.map(Status::as_str), connection, limit], row)?;
            rows.collect()
        })
        .await
    }

    /// Counts per status (for `GET /v1/operations` summaries and the benchmark).
    pub async fn operation_counts(self: &Arc<Self>) -> Result<Vec<(String, i64)>> {
        self.run_long(|c| {
            let mut stmt = c.prepare_cached("SELECT status, COUNT(*) FROM operations GROUP BY status")?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    /// One round of the dispatcher in one store call: for each `(connection, free slots)`, takes up to that many
    /// of its operations whose time has come (`queued`, or `retrying` with its wait over; oldest due first) for an
    /// attempt, as [`Db::claim`] does; and, when `next` is asked for, when the next operation not yet due becomes
    /// due.
    pub async fn claim_due(
        self: &Arc<Self>,
        slots: Vec<(String, usize)>,
        now: i64,
        next: bool,
    ) -> Result<(Vec<OperationRow>, Option<i64>)> {
        self.run(move |c| {
            let mut claimed = Vec::new();
            let mut take = c.prepare_cached(&claim_due_sql())?;
            for (connection, free) in slots {
                let start = claimed.len();
                for row in take.query_map(params![connection, now, free as i64], row)? {
                    claimed.push(row?);
                }
                // RETURNING has no order; attempts start oldest first.
                claimed[start..].sort_by_key(|op: &OperationRow| op.id);
            }
            if !next {
                return Ok((claimed, None));
            }
            let next = c
                .prepare_cached(
                    // Named: the planner otherwise picks the status index and reads every waiting row on each
                    // wake (1.5 ms at 10,000 queued against a few µs; measured by the outbox bench).
                    "SELECT MIN(next_attempt_ms) FROM operations INDEXED BY operations_next
                     WHERE status IN ('queued', 'retrying') AND next_attempt_ms > ?1",
                )?
                .query_row([now], |r| r.get(0))?;
            Ok((claimed, next))
        })
        .await
    }

    /// Connections with operations waiting, and how many (to spot operations of unconfigured connections).
    pub async fn waiting_by_connection(self: &Arc<Self>) -> Result<Vec<(String, i64)>> {
        self.run_long(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT connection, COUNT(*) FROM operations WHERE status IN ('queued', 'retrying') GROUP BY connection",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    /// Takes an operation for an attempt; `None` when it is no longer waiting (discarded, or taken).
    pub async fn claim(self: &Arc<Self>, id: i64) -> Result<Option<OperationRow>> {
        self.run(move |c| {
            // One statement on the per-attempt path: the claim answers the row it took.
            c.prepare_cached(&format!(
                "UPDATE operations SET status = 'running', attempts = attempts + 1, updated_ms = ?2
                 WHERE id = ?1 AND status IN ('queued', 'retrying') RETURNING {COLUMNS}"
            ))?
            .query_row(params![id, now_ms()], row)
            .optional()
        })
        .await
    }

    /// Records success at `now`; false when there is no such operation. The caller knows the row it attempted,
    /// and makes the one now stored from it ([`OperationRow::succeeded`]).
    pub async fn succeed(self: &Arc<Self>, id: i64, result: serde_json::Value, now: i64) -> Result<bool> {
        // Serialized here, and no row read back: the writer's thread is the one every write waits on.
        let result = result.to_string();
        self.run(move |c| {
            c.prepare_cached("UPDATE operations SET status = 'succeeded', result = ?2, updated_ms = ?3 WHERE id = ?1")?
                .execute(params![id, result, now])
                .map(|changed| changed == 1)
        })
        .await
    }

    /// Records a failed attempt: `retry_at` schedules another, otherwise the operation ends in `status`.
    /// Answers the row as it now is.
    pub async fn record_failure(
        self: &Arc<Self>,
        id: i64,
        error: serde_json::Value,
        retry_at: Option<i64>,
        status: Status,
    ) -> Result<Option<OperationRow>> {
        let (status, next) = match retry_at {
            Some(at) => (Status::Retrying, at),
            None => (status, 0),
        };
        self.run(move |c| {
            c.prepare_cached(&format!(
                "UPDATE operations SET status = ?2, last_error = ?3, next_attempt_ms = ?4, updated_ms = ?5
                 WHERE id = ?1 RETURNING {COLUMNS}"
            ))?
            .query_row(params![id, status.as_str(), error.to_string(), next, now_ms()], row)
            .optional()
        })
        .await
    }

    /// Hands operations left `running` (by a crash, or a shutdown that could not wait) back to the queue. The
    /// attempt they were in counts.
    pub async fn requeue_running(self: &Arc<Self>) -> Result<usize> {
        self.run(|c| {
            c.execute(
                "UPDATE operations SET status = 'retrying', next_attempt_ms = ?1, updated_ms = ?1
                 WHERE status = 'running'",
                [now_ms()],
            )
        })
        .await
    }

    /// Re-queues a `failed` or `dead` operation with a fresh budget of attempts. `None`: no such operation;
    /// `Some(false)`: it is in another state.
    pub async fn requeue(self: &Arc<Self>, id: i64) -> Result<Option<bool>> {
        self.run(move |c| {
            if by_id(c, id)?.is_none() {
                return Ok(None);
            }
            let n = c.execute(
                "UPDATE operations SET status = 'queued', attempts = 0, next_attempt_ms = ?2, updated_ms = ?2
                 WHERE id = ?1 AND status IN ('failed', 'dead')",
                params![id, now_ms()],
            )?;
            Ok(Some(n == 1))
        })
        .await
    }

    /// Gives up on an operation that is not running or succeeded. Same answers as [`Db::requeue`].
    pub async fn discard(self: &Arc<Self>, id: i64) -> Result<Option<bool>> {
        self.run(move |c| {
            if by_id(c, id)?.is_none() {
                return Ok(None);
            }
            let n = c.execute(
                "UPDATE operations SET status = 'discarded', updated_ms = ?2
                 WHERE id = ?1 AND status IN ('queued', 'retrying', 'failed', 'dead')",
                params![id, now_ms()],
            )?;
            Ok(Some(n == 1))
        })
        .await
    }
}

/// Takes up to `?3` of connection `?1`'s operations due at `?2`. `LIMIT ?3 + 0`, not `LIMIT ?3`: SQLite plans with
/// a bound LIMIT's value and prepares the statement again whenever that value changes, and the free slots differ
/// from round to round (re-preparing was 8% of qiao's CPU in the `?wait` send benchmark).
pub(crate) fn claim_due_sql() -> String {
    format!(
        "UPDATE operations SET status = 'running', attempts = attempts + 1, updated_ms = ?2
         WHERE id IN (SELECT id FROM operations
                      WHERE connection = ?1 AND status IN ('queued', 'retrying') AND next_attempt_ms <= ?2
                      ORDER BY next_attempt_ms, id LIMIT ?3 + 0)
         RETURNING {COLUMNS}"
    )
}
