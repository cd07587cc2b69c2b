//! The outbox: every write to a platform is committed to the store before it is attempted, then delivered by
//! [`worker`] with retries, so a crash, a restart or a platform outage loses nothing.
//!
//! - `write`: what is stored (a serializable request) and how a reply is rendered.
//! - `retry`: which failures are retried and the backoff.
//! - `throttle`: per-connection concurrency and rate.
//! - `worker`: the dispatcher and one attempt.
//! - `waiters`: callers waiting on an attempt's result (`?wait=`).

pub mod retry;
pub mod throttle;
pub mod waiters;
pub mod worker;
pub mod write;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use sha2::{Digest, Sha256};
use tokio::sync::{Notify, OwnedSemaphorePermit, watch};

use qiao_config::Connection;
use qiao_store::{Db, Enqueued, NewOperation, OperationRow, Status};
use throttle::Throttle;
use qiao_contract::Call;

/// Who asks for a write, recorded with its operation.
#[derive(Debug, Default)]
pub struct Origin {
    /// The id of the API key that asked (or the rule's actor): it may always read the operation back.
    pub actor: Option<String>,
    /// Why a rule made it (see `NewOperation::cause`).
    pub cause: Option<serde_json::Value>,
    /// The request's audit row, written in the operation's transaction when the operation is new (see
    /// `NewOperation::audit`).
    pub audit: Option<qiao_store::NewAuditEntry>,
}

pub struct Outbox {
    /// Wakes the dispatcher: an operation was accepted, re-queued or finished an attempt.
    wake: Notify,
    /// What changed since the dispatcher last looked, so that a round looks only where something did.
    changes: std::sync::Mutex<Changes>,
    /// Operations taken for their first attempt as they were accepted (see `NewOperation::start`), each with the
    /// call slot it holds: the dispatcher's next round starts them without a store call of its own.
    started: std::sync::Mutex<Vec<(OperationRow, OwnedSemaphorePermit)>>,
    /// Connections that may have operations waiting for a call slot. An attempt that ends frees a slot, which
    /// needs a round of the dispatcher only for these: otherwise every attempt would cost a claim finding nothing.
    backlogged: std::sync::Mutex<HashSet<String>>,
    /// Callers waiting on a result, by operation: each attempt hands them its row as recorded after it.
    waiters: Arc<waiters::Waiters>,
    /// Set when the server is stopping: no new attempts start, and waiting callers get their 202 now.
    stopping: watch::Sender<bool>,
    throttles: HashMap<String, Arc<Throttle>>,
    /// For operations of a connection that is no longer configured.
    fallback: Arc<Throttle>,
}

/// What the dispatcher's next round must look at.
#[derive(Default)]
struct Changes {
    /// Connections with operations accepted, or a call slot freed.
    connections: std::collections::HashSet<String>,
    /// Everything: an operation re-queued through the API, or a store error in a round.
    everything: bool,
    /// The earliest retry an attempt scheduled.
    retry_at: Option<i64>,
}

impl Outbox {
    pub fn new<'a>(connections: impl Iterator<Item = &'a Connection>) -> Outbox {
        Outbox {
            wake: Notify::new(),
            changes: Default::default(),
            started: Default::default(),
            backlogged: Default::default(),
            waiters: Default::default(),
            stopping: watch::Sender::new(false),
            throttles: connections
                .map(|c| (c.name.clone(), Arc::new(Throttle::new(&c.outbox))))
                .collect(),
            fallback: Arc::new(Throttle::new(&Default::default())),
        }
    }

    /// Commits a write (or finds the earlier one with the same idempotency key) and wakes the dispatcher.
    pub async fn accept(&self, db: &Arc<Db>, connection: &str, write: &Call, origin: Origin) -> Result<Enqueued> {
        self.commit(db, connection, write, write.idempotency_key().map(str::to_string), origin).await
    }

    /// [`Outbox::accept`] under `key` when the call carries no idempotency key of its own (an approval reminder
    /// is idempotent by its target on the platform, yet must not be made twice): the key is the outbox's only.
    pub async fn accept_keyed(
        &self,
        db: &Arc<Db>,
        connection: &str,
        write: &Call,
        key: String,
        origin: Origin,
    ) -> Result<Enqueued> {
        let key = write.idempotency_key().map_or(key, str::to_string);
        self.commit(db, connection, write, Some(key), origin).await
    }

    async fn commit(
        &self,
        db: &Arc<Db>,
        connection: &str,
        write: &Call,
        idempotency_key: Option<String>,
        origin: Origin,
    ) -> Result<Enqueued> {
        let request = serde_json::to_string(write)?;
        // With a call slot free, the operation can be taken for its first attempt as it is committed.
        let slot = if self.is_stopping() { None } else { self.throttle(connection).try_slot() };
        let enqueued = db
            .enqueue(NewOperation {
                connection: connection.to_string(),
                operation: write.name().to_string(),
                request_hash: hex::encode(Sha256::digest(&request)),
                request,
                idempotency_key,
                actor: origin.actor,
                cause: origin.cause,
                audit: origin.audit,
                start: slot.is_some(),
            })
            .await;
        match (&enqueued, slot) {
            (Ok(Enqueued::New(op)), Some(slot)) if op.status == Status::Running => {
                self.waiters.started(op.id);
                self.started.lock().unwrap_or_else(|p| p.into_inner()).push((op.clone(), slot));
                self.wake.notify_one();
            }
            // Queued (something of the connection was due first), found, or not committed: the slot is free again
            // before the dispatcher looks.
            (_, slot) => {
                drop(slot);
                self.mark_backlog(connection, true);
                self.changed(|c| {
                    c.connections.insert(connection.to_string());
                });
            }
        }
        enqueued
    }

    /// The operations started as they were accepted, since the last call.
    fn take_started(&self) -> Vec<(OperationRow, OwnedSemaphorePermit)> {
        std::mem::take(&mut self.started.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The operation once it is final, or as it is when `timeout` passes (or the server starts stopping).
    pub async fn wait(&self, db: &Arc<Db>, id: i64, timeout: Duration) -> Result<Option<OperationRow>> {
        let mut stopping = self.stopping.subscribe();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Registered before looking, so an attempt that ends after the look is not missed.
            let mut attempt = self.waiters.register(id);
            // While an attempt runs, the operation is not final until it ends, and its end hands the row here.
            if !attempt.in_flight() || *stopping.borrow() {
                let row = db.operation(id).await?;
                match &row {
                    Some(op) if !op.status.is_final() && !*stopping.borrow() => {}
                    _ => return Ok(row),
                }
            }
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return db.operation(id).await,
                _ = stopping.changed() => {}
                // The attempt's row, when final, is the answer; else (a retry, or a row not recorded): look again.
                ended = attempt.ended() => {
                    if let Some(row) = ended.filter(|row| row.status.is_final()) {
                        return Ok(Some(Arc::unwrap_or_clone(row)));
                    }
                }
            }
        }
    }

    /// Wakes the dispatcher to look at every connection (an operation was re-queued through the API).
    pub fn poke(&self) {
        self.changed(|c| c.everything = true);
    }

    /// Records a change for the dispatcher's next round, and wakes it.
    fn changed(&self, f: impl FnOnce(&mut Changes)) {
        f(&mut self.changes.lock().unwrap_or_else(|p| p.into_inner()));
        self.wake.notify_one();
    }

    /// An attempt of `connection` ended (its call slot is free), and scheduled a retry at `retry_at`.
    fn attempt_ended(&self, connection: String, retry_at: Option<i64>) {
        let backlogged = self.backlogged.lock().unwrap_or_else(|p| p.into_inner()).contains(&connection);
        if !backlogged && retry_at.is_none() {
            return;
        }
        self.changed(|c| {
            if backlogged {
                c.connections.insert(connection);
            }
            c.retry_at = [c.retry_at, retry_at].into_iter().flatten().min();
        });
    }

    /// Marks whether `connection` may have operations waiting for a call slot. The dispatcher clears the mark
    /// before a claim and sets it again when the claim took as many as it had slots for, so an operation queued
    /// meanwhile is never left unmarked.
    fn mark_backlog(&self, connection: &str, waiting: bool) {
        let mut backlogged = self.backlogged.lock().unwrap_or_else(|p| p.into_inner());
        if waiting {
            backlogged.insert(connection.to_string());
        } else {
            backlogged.remove(connection);
        }
    }

    /// What changed since the last call (the dispatcher's round starts with it).
    fn take_changes(&self) -> Changes {
        std::mem::take(&mut self.changes.lock().unwrap_or_else(|p| p.into_inner()))
    }

    fn throttle(&self, connection: &str) -> &Arc<Throttle> {
        self.throttles.get(connection).unwrap_or(&self.fallback)
    }

    /// Stops new attempts; callers waiting on results are answered with the operation as it stands.
    pub fn stop(&self) {
        self.stopping.send_replace(true);
        self.wake.notify_one();
    }

    pub fn is_stopping(&self) -> bool {
        *self.stopping.borrow()
    }
}
