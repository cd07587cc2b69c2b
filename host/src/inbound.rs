//! Inbound events: storing what webhooks and polls bring in, and polling connectors on their schedule.
//!
//! Every event enters the store through [`store_events`], which is where subscribers are woken and stored
//! approvals are marked for reconciliation.

use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use crate::bindings::types::Event;
use crate::calls::{Call, Reply};
use crate::connector::Capability;
use crate::runtime::{CallError, Runtime};

/// Commits events (skipping ones already stored for the connection) and wakes whoever waits for them.
/// Returns how many were new.
pub async fn store_events(rt: &Arc<Runtime>, connection: &str, events: Vec<Event>) -> Result<usize> {
    store(rt, connection, events, None).await
}

async fn store(rt: &Arc<Runtime>, connection: &str, events: Vec<Event>, cursor: Option<String>) -> Result<usize> {
    let approvals: Vec<(String, Option<String>)> = events
        .iter()
        .filter(|e| e.kind.starts_with("approval.") && !e.subject.is_empty())
        .map(|e| (e.subject.clone(), None))
        .collect();
    let contacts = crate::sync::contacts::contact_changes(&events);
    let new = rt.db.commit_events(connection.to_string(), events, cursor).await?;
    if new > 0 {
        rt.events_added.send_modify(|n| *n += 1);
    }
    if !approvals.is_empty() {
        // The event says an approval moved: the stored view is refreshed from the platform on next read or
        // reconciliation, rather than trusting each platform's event payload shape.
        rt.db.mark_approvals_stale(connection.to_string(), approvals).await?;
    }
    if !contacts.is_empty() && new > 0 {
        // Not awaited: the platform is waiting for its acknowledgement, and this may call the connector.
        tokio::spawn(crate::sync::contacts::apply(rt.clone(), connection.to_string(), contacts));
    }
    Ok(new)
}

#[derive(Debug, Serialize)]
pub struct PollOutcome {
    /// Events the connector returned.
    pub received: usize,
    /// Of those, events not stored before.
    pub new: usize,
    pub cursor: Option<String>,
}

/// Polls the connector from the stored cursor; the events and the new cursor are committed together, so a crash
/// cannot lose events behind an advanced cursor.
pub async fn poll_once(rt: &Arc<Runtime>, connection: &str) -> Result<PollOutcome, CallError> {
    let cursor = rt.db.poll_cursor(connection.to_string()).await.map_err(CallError::Host)?;
    let Reply::Batch(batch) = rt.call(connection, Call::Poll(cursor)).await? else {
        return Err(CallError::Host(anyhow::anyhow!("poll answered with another reply")));
    };
    let received = batch.events.len();
    let cursor = batch.next_cursor.clone();
    let new = store(rt, connection, batch.events, batch.next_cursor)
        .await
        .map_err(CallError::Host)?;
    Ok(PollOutcome { received, new, cursor })
}

/// Starts one task per connection with `poll_every_s`: polls on that interval, backing off (up to 10 intervals)
/// while polls fail, so a platform outage is not hammered.
pub fn spawn_pollers(rt: &Arc<Runtime>) -> Vec<tokio::task::JoinHandle<()>> {
    rt.connections
        .values()
        .filter_map(|c| c.poll_every.map(|every| (c.name.clone(), every)))
        .map(|(name, every)| {
            let rt = rt.clone();
            tokio::spawn(async move {
                let mut failures = 0u32;
                loop {
                    let wait = every * (1 + failures.min(9));
                    tokio::time::sleep(wait).await;
                    if let Some(reason) = not_pollable(&rt, &name) {
                        tracing::debug!(connection = %name, "scheduled poll skipped: {reason}");
                        continue;
                    }
                    match poll_once(&rt, &name).await {
                        Ok(out) => {
                            failures = 0;
                            if out.new > 0 {
                                tracing::info!(connection = %name, received = out.received, new = out.new, "scheduled poll");
                            }
                        }
                        Err(e) => {
                            failures += 1;
                            tracing::warn!(connection = %name, error = %e, failures, "scheduled poll failed");
                        }
                    }
                }
            })
        })
        .collect()
}

/// Why a scheduled poll would be pointless now (connector missing or without `poll`).
fn not_pollable(rt: &Runtime, connection: &str) -> Option<&'static str> {
    let conn = rt.connections.get(connection)?;
    match rt.plugins.get(&conn.connector) {
        None => Some("connector not loaded"),
        Some(c) if !c.exports.capabilities().contains(&Capability::Poll) => Some("connector does not export poll"),
        Some(_) => None,
    }
}
