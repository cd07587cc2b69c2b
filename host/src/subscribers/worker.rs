//! One subscription's delivery loop: its events strictly in seq order, one at a time, each retried on the
//! published schedule and then dead-lettered, so the ones after it can flow.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;

use super::deliver::Sender;
use super::filter;
use crate::db::{Subscription, now_ms};
use crate::runtime::Runtime;

/// Longest the loop waits without looking for new events (a safety net: it is woken when events are stored).
const IDLE_CHECK: Duration = Duration::from_secs(1);
/// Events read from the log at a time.
const BATCH: u32 = 100;

/// What the loop does after a step.
enum Next {
    /// Go on at once: an event was handled (or an attempt failed; its retry time is read next).
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
pub async fn run(rt: Arc<Runtime>, sender: Arc<Sender>, id: i64) {
    let mut added = rt.events_added.subscribe();
    loop {
        // Marked seen before reading the log, so an event stored while we read still wakes us.
        added.borrow_and_update();
        let next = step(&rt, &sender, id).await.unwrap_or_else(|e| {
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

/// Handles the next event after the cursor, if there is one and its time has come.
async fn step(rt: &Runtime, sender: &Sender, id: i64) -> Result<Next> {
    let Some(sub) = rt.db.subscription(id).await? else {
        return Ok(Next::Stop);
    };
    let now = now_ms();
    if let Some(due) = sub.next_attempt_ms.filter(|&due| due > now) {
        return Ok(Next::Wait(Duration::from_millis((due - now) as u64)));
    }
    let events = rt.db.list_events(sub.cursor, None, BATCH).await?;
    let Some(last) = events.last() else {
        return Ok(Next::Idle);
    };
    let Some(index) = events.iter().position(|e| filter::matches(&sub, e)) else {
        // Nothing here for this subscriber: step over the whole batch at once.
        rt.db.advance_cursor(id, last.seq).await?;
        return Ok(Next::Go);
    };
    if index > 0 {
        // Step over the events it does not want first, so the cursor (and its `attempts`) are about the event
        // being attempted.
        rt.db.advance_cursor(id, events[index - 1].seq).await?;
    }
    let event = &events[index];
    match sender.deliver(&sub, event).await {
        Ok(()) => {
            tracing::debug!(
                subscription = id,
                seq = event.seq,
                attempts = sub.attempts + 1,
                "event delivered"
            );
            rt.db.advance_cursor(id, event.seq).await?;
        }
        Err(reason) => record_failure(rt, &sub, event.seq, reason).await?,
    }
    Ok(Next::Go)
}

/// Schedules the next attempt at event `seq`, or dead-letters it once the schedule is spent
/// (`1 + retry_schedule_ms.len()` attempts in all).
async fn record_failure(rt: &Runtime, sub: &Subscription, seq: i64, reason: String) -> Result<()> {
    let attempts = sub.attempts + 1;
    let schedule = &rt.subscriber_settings.retry_schedule_ms;
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
            rt.db
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
            rt.db.dead_letter(sub.id, seq, attempts, reason).await
        }
    }
}
