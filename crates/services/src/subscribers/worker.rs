//! One subscription's delivery loop: its events strictly in seq order, one at a time, each retried on the
//! published schedule and then dead-lettered, so the ones after it can flow.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::deliver::Sender;
use super::filter;
use qiao_store::{StoredEvent, Subscription, now_ms};
use crate::App;

/// Longest the loop waits without looking for new events (a safety net: it is woken when events are stored).
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// Events read from the log at a time (and so held in memory per subscription, at most).
const BATCH: u32 = 32;

/// What the loop does after a step.
enum Next {
    /// Go on at once: events were handled (or an attempt failed; its retry time is read next).
    Go,
    /// Wait for new events.
    Idle,
    /// A retry is due after this long.
    Wait(Duration),
    /// The subscription is gone.
    Stop,
}

/// Runs until the subscription is deleted (or the task is aborted: the cursor only moves once an event is
/// handled, so an attempt cut short is made again).
pub async fn run(app: Arc<App>, sender: Arc<Sender>, id: i64) {
    let mut added = app.events_added.subscribe();
    let mut worker = Worker {
        app,
        sender,
        id,
        ahead: VecDeque::new(),
    };
    loop {
        // Marked seen before reading the log, so an event stored while we read still wakes us.
        added.borrow_and_update();
        let next = worker.step().await.unwrap_or_else(|e| {
            tracing::warn!(subscription = id, "delivery loop: {e:#}");
            Next::Wait(IDLE_CHECK)
        });
        match next {
            Next::Go => {}
            Next::Stop => return,
            Next::Wait(wait) => tokio::time::sleep(wait).await,
            Next::Idle => {
                if let Ok(Err(_)) = tokio::time::timeout(IDLE_CHECK, added.changed()).await {
                    // No sender any more (cannot happen while the runtime lives): fall back to polling.
                    tokio::time::sleep(IDLE_CHECK).await;
                }
            }
        }
    }
}

struct Worker {
    app: Arc<App>,
    sender: Arc<Sender>,
    id: i64,
    /// Events after the cursor, read ahead, oldest first. They stay valid: seqs are given out in commit order,
    /// so new events only ever come after them.
    ahead: VecDeque<StoredEvent>,
}

impl Worker {
    /// Handles the next event after the cursor, if there is one and its time has come.
    async fn step(&mut self) -> Result<Next> {
        let Some(sub) = self.app.db.subscription(self.id).await? else {
            return Ok(Next::Stop);
        };
        let now = now_ms();
        if let Some(due) = sub.next_attempt_ms.filter(|&due| due > now) {
            return Ok(Next::Wait(Duration::from_millis((due - now) as u64)));
        }
        self.read_ahead(sub.cursor).await?;
        if self.skip_unwanted(&sub).await? {
            return Ok(Next::Go);
        }
        let Some(event) = self.ahead.front() else {
            return Ok(Next::Idle);
        };
        let delivered = self.sender.deliver(&sub, event).await;
        qiao_metrics::subscriber_delivery(&sub.id.to_string(), delivered.is_ok());
        match delivered {
            Ok(()) => {
                tracing::debug!(
                    subscription = sub.id,
                    seq = event.seq,
                    attempts = sub.attempts + 1,
                    "event delivered"
                );
                self.app.db.advance_cursor(sub.id, event.seq).await?;
            }
            Err(reason) => record_failure(&self.app, &sub, event.seq, reason).await?,
        }
        Ok(Next::Go)
    }

    /// Drops what the cursor has passed and, when nothing is left, reads the next batch from the log.
    async fn read_ahead(&mut self, cursor: i64) -> Result<()> {
        while self.ahead.front().is_some_and(|e| e.seq <= cursor) {
            self.ahead.pop_front();
        }
        if self.ahead.is_empty() {
            self.ahead = self.app.db.list_events(cursor, None, BATCH).await?.into();
        }
        Ok(())
    }

    /// Moves the cursor over the events at the front that the subscriber does not want, in one write, so the
    /// cursor (and its `attempts`) are about the event attempted next. True if any were skipped.
    async fn skip_unwanted(&mut self, sub: &Subscription) -> Result<bool> {
        let mut skipped = None;
        while let Some(event) = self.ahead.front()
            && !filter::matches(sub, event)
        {
            skipped = Some(event.seq);
            self.ahead.pop_front();
        }
        if let Some(seq) = skipped {
            self.app.db.advance_cursor(sub.id, seq).await?;
        }
        Ok(skipped.is_some())
    }
}

/// Schedules the next attempt at event `seq`, or dead-letters it once the schedule is spent
/// (`1 + retry_schedule_ms.len()` attempts in all).
async fn record_failure(app: &App, sub: &Subscription, seq: i64, reason: String) -> Result<()> {
    let attempts = sub.attempts + 1;
    let schedule = &app.subscriber_settings.retry_schedule_ms;
    match schedule.get(attempts as usize - 1) {
        Some(&wait_ms) => {
            tracing::info!(
                subscription = sub.id,
                seq,
                attempts,
                retry_in_ms = wait_ms,
                "delivery failed; will retry: {reason}"
            );
            let next = now_ms().saturating_add(i64::try_from(wait_ms).unwrap_or(i64::MAX));
            app.db
                .record_delivery_failure(sub.id, attempts, reason, next)
                .await
        }
        None => {
            tracing::warn!(
                subscription = sub.id,
                seq,
                attempts,
                "delivery failed; dead-lettered: {reason}"
            );
            app.db.dead_letter(sub.id, seq, attempts, reason).await
        }
    }
}
