//! The dispatcher: takes due operations connection by connection (as many as each has free call slots), and those
//! an accept already took for their first attempt (`Outbox::accept`); runs each attempt in its own task, and
//! records the outcome: success, a retry at a backoff, or a final failure.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::OwnedSemaphorePermit;
use tokio::task::{JoinHandle, JoinSet};

use super::retry::{backoff, failure_class};
use super::write::{self, stored_result};
use qiao_contract::Call;
use crate::failure::{Failure, FailureKind};
use qiao_store::{OperationRow, Status, now_ms};
use qiao_runtime::CallError;
use crate::App;

/// Longest the dispatcher sleeps without looking at the queue (a safety net: it is woken on every change).
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Starts the dispatcher. It returns once [`super::Outbox::stop`] was called and in-flight attempts finished
/// (or `grace` passed: those still running are handed back to the queue, and redone after the restart).
pub fn spawn(app: &Arc<App>, grace: Duration) -> JoinHandle<()> {
    let app = app.clone();
    tokio::spawn(async move {
        if let Err(e) = dispatch(&app, grace).await {
            tracing::error!("outbox dispatcher stopped: {e:#}");
        }
    })
}

async fn dispatch(app: &Arc<App>, grace: Duration) -> Result<()> {
    let requeued = app.db.requeue_running().await?;
    if requeued > 0 {
        tracing::warn!(requeued, "operations interrupted by the last stop are queued again");
    }
    for (connection, waiting) in app.db.waiting_by_connection().await? {
        if !app.runtime.connections.contains_key(&connection) {
            tracing::warn!(%connection, waiting, "operations wait for a connection that is not configured");
        }
    }
    let mut names: Vec<String> = app.runtime.connections.keys().cloned().collect();
    names.sort();
    let mut in_flight = JoinSet::new();
    // When the next retry falls due, as last read from the store (plus retries scheduled since); and when the
    // store was last looked at for every connection.
    let mut next_due: Option<i64> = None;
    let mut last_full: Option<Instant> = None;
    while !app.outbox.is_stopping() {
        // Attempts that ended are reaped here rather than waking the dispatcher each: one that frees a slot a
        // waiting operation needs, or schedules a retry, wakes it (`Outbox::attempt_ended`).
        while in_flight.try_join_next().is_some() {}
        for (op, slot) in app.outbox.take_started() {
            in_flight.spawn(attempt(app.clone(), op, slot));
        }
        let changes = app.outbox.take_changes();
        let now = now_ms();
        next_due = [next_due, changes.retry_at].into_iter().flatten().min();
        // Every connection when asked, when a retry is due, and at least every IDLE_CHECK (a safety net); else
        // only those with something new: an accept wakes the dispatcher, so a round is on every write's path.
        let full = changes.everything
            || next_due.is_some_and(|t| t <= now)
            || last_full.is_none_or(|at| at.elapsed() >= IDLE_CHECK);
        let look_at: Vec<&String> = names.iter().filter(|n| full || changes.connections.contains(*n)).collect();
        // A store error (disk full, a locked file) must not end delivery: it is logged and tried again.
        match start_due(app, &look_at, full, &mut in_flight).await {
            Ok(found) if full => {
                next_due = found;
                last_full = Some(Instant::now());
            }
            Ok(_) => {}
            Err(e) => {
                tracing::error!("outbox dispatcher: {e:#}; trying again in {IDLE_CHECK:?}");
                next_due = Some(now + IDLE_CHECK.as_millis() as i64);
            }
        }
        let sleep = next_due.map_or(IDLE_CHECK, |t| Duration::from_millis((t - now).max(0) as u64).min(IDLE_CHECK));
        tokio::select! {
            _ = app.outbox.wake.notified() => {}
            _ = tokio::time::sleep(sleep) => {}
        }
    }
    // Accepted and taken for an attempt just before the stop: they run (or are handed back) with the rest.
    for (op, slot) in app.outbox.take_started() {
        in_flight.spawn(attempt(app.clone(), op, slot));
    }
    let running = in_flight.len();
    if running > 0 {
        tracing::info!(running, grace_ms = grace.as_millis() as u64, "waiting for operations in flight");
    }
    let drained = tokio::time::timeout(grace, async { while in_flight.join_next().await.is_some() {} }).await;
    if drained.is_err() {
        in_flight.abort_all();
        while in_flight.join_next().await.is_some() {}
        let handed_back = app.db.requeue_running().await?;
        tracing::warn!(handed_back, "operations still in flight at shutdown are queued again");
    }
    Ok(())
}

/// Starts an attempt for each due operation of `names` that its connection has a free call slot for, in one
/// store call; with `next`, answers when the next operation not yet due becomes due.
async fn start_due(
    app: &Arc<App>,
    names: &[&String],
    next: bool,
    in_flight: &mut JoinSet<()>,
) -> Result<Option<i64>> {
    // The slots are taken before the claim: an accept may take one for its own operation meanwhile (see
    // `Outbox::accept`). Those the claim finds no operation for are freed when this returns.
    let mut slots: HashMap<&str, Vec<OwnedSemaphorePermit>> = HashMap::new();
    for name in names {
        let throttle = app.outbox.throttle(name);
        let free: Vec<_> = std::iter::from_fn(|| throttle.try_slot()).collect();
        // A connection without a free slot may have operations waiting for one (its ended attempts will look);
        // one with slots is unmarked until its claim shows it may still have more.
        app.outbox.mark_backlog(name, free.is_empty());
        if !free.is_empty() {
            slots.insert(name.as_str(), free);
        }
    }
    if slots.is_empty() && !next {
        return Ok(None);
    }
    let wanted = slots.iter().map(|(name, slots)| (name.to_string(), slots.len())).collect();
    let (claimed, next_due) = app.db.claim_due(wanted, now_ms(), next).await.inspect_err(|_| {
        // Nothing is known of what waits: every connection looked at may have a backlog.
        names.iter().for_each(|name| app.outbox.mark_backlog(name, true));
    })?;
    for (name, free) in &slots {
        if claimed.iter().filter(|op| op.connection == *name).count() == free.len() {
            app.outbox.mark_backlog(name, true);
        }
    }
    for op in claimed {
        let Some(slot) = slots.get_mut(op.connection.as_str()).and_then(Vec::pop) else {
            // Not possible: no more are claimed than slots were taken. Left `running`; the next start re-queues it.
            tracing::error!(operation = op.id, "claimed an operation without a free call slot");
            continue;
        };
        app.outbox.waiters.started(op.id);
        in_flight.spawn(attempt(app.clone(), op, slot));
    }
    Ok(next_due)
}

/// One attempt of one operation, holding one of its connection's call slots.
async fn attempt(app: Arc<App>, op: OperationRow, slot: OwnedSemaphorePermit) {
    let id = op.id;
    let connection = op.connection.clone();
    let row = match run(&app, op).await {
        Ok(row) => row.map(Arc::new),
        Err(e) => {
            // The row stays `running`; the next start re-queues it.
            tracing::error!(operation = id, "could not record the outcome of an attempt: {e:#}");
            None
        }
    };
    // The slot is free before the dispatcher hears of it, so its round finds it free.
    drop(slot);
    let retry_at = row.as_ref().filter(|r| r.status == Status::Retrying).and_then(|r| r.next_attempt_ms);
    app.outbox.waiters.ended(id, &row);
    app.outbox.attempt_ended(connection, retry_at);
}

/// The attempt; answers the operation's row as recorded after it.
async fn run(app: &App, op: OperationRow) -> Result<Option<OperationRow>> {
    let mut write: Call = match Call::from_stored(op.request.clone()) {
        Ok(write) if write.is_write() => write,
        Ok(read) => return unreadable(app, &op, format!("{} is not a write", read.name())).await,
        Err(e) => return unreadable(app, &op, e.to_string()).await,
    };
    // Without the caller's key, the operation's own id keys the platform's de-duplication, so an attempt
    // repeated after a crash or a timeout does not send twice where the platform can tell.
    if write.idempotency_key().is_none() {
        write.set_idempotency_key(format!("qiao-op-{}", op.id));
    }
    let throttle = app.outbox.throttle(&op.connection).clone();
    throttle.pace(app.pacing(&op.connection)).await;
    // Registered before the call: a platform may send the event about the change before answering the call.
    crate::rules::before_write(app, &op, write::echo(&write, None)).await?;
    let outcome = app.runtime.call(&op.connection, write.clone()).await;
    let error = match outcome {
        Ok(reply) => match (write::moved_approval(&write, &reply), write::render(&write, reply)) {
            (moved, Ok((status, body))) => {
                let body = match app.runtime.connections.get(&op.connection) {
                    Some(conn) => body.map(|b| qiao_runtime::redact::redacted_json(b, conn)),
                    None => body,
                };
                let created = write::echo(&write, None).is_none().then(|| write::echo(&write, body.as_ref())).flatten();
                // Before the success is recorded: a crash in between repeats the attempt (the platform de-duplicates
                // by key) rather than leave a created object without its link.
                crate::rules::after_write(app, &op, created).await?;
                let result = stored_result(status, body);
                let now = now_ms();
                let stored = app.db.succeed(op.id, result.clone(), now).await?;
                if let Some(moved) = moved {
                    app.db.mark_approvals_stale(op.connection.clone(), vec![moved]).await?;
                }
                // Debug, as a connector call's success is (see `Runtime::call`): failures and retries are info.
                tracing::debug!(operation = op.id, connection = %op.connection, op = write.name(), attempts = op.attempts, "operation succeeded");
                qiao_metrics::outbox_attempt(&op.connection, write.name(), "succeeded");
                return Ok(stored.then(|| op.succeeded(result, now)));
            }
            (_, Err(why)) => CallError::Host(anyhow::anyhow!(why)),
        },
        Err(e) => e,
    };
    app.db.forget_echoes(op.id).await?;
    let policy = app.runtime.connections.get(&op.connection).map(|c| c.outbox.clone()).unwrap_or_default();
    let class = failure_class(&error);
    let retry_after = match &error {
        CallError::Connector(e) => e.retry_after_ms.map(Duration::from_millis),
        _ => None,
    };
    if class == "rate-limited" {
        throttle.hold_off(retry_after.unwrap_or(Duration::from_secs(1))).await;
    }
    let message = error.to_string();
    let stored = Failure::from(error).to_stored();
    let retryable = policy.retry_on.iter().any(|c| c == class);
    if retryable && op.attempts < policy.max_attempts {
        let wait = backoff(&policy, op.attempts, retry_after);
        tracing::info!(operation = op.id, connection = %op.connection, attempts = op.attempts, failure = class, retry_in_ms = wait.as_millis() as u64, "attempt failed; will retry: {message}");
        qiao_metrics::outbox_attempt(&op.connection, write.name(), "retrying");
        app.db.record_failure(op.id, stored, Some(now_ms() + wait.as_millis() as i64), Status::Retrying).await
    } else {
        let status = if retryable { Status::Dead } else { Status::Failed };
        tracing::warn!(operation = op.id, connection = %op.connection, attempts = op.attempts, failure = class, status = status.as_str(), "operation failed: {message}");
        qiao_metrics::outbox_attempt(&op.connection, write.name(), status.as_str());
        if status == Status::Dead {
            qiao_metrics::dead_letter(&op.connection);
        }
        app.db.record_failure(op.id, stored, None, status).await
    }
}

/// A stored request that is not a write this version can make fails at once: retrying cannot help.
async fn unreadable(app: &App, op: &OperationRow, why: String) -> Result<Option<OperationRow>> {
    let failure = Failure::new(FailureKind::Internal, "internal", format!("stored request is unreadable: {why}"));
    app.db.record_failure(op.id, failure.to_stored(), None, Status::Failed).await
}
