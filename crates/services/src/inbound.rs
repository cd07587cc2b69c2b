//! Inbound events: storing what webhooks and polls bring in, and polling connectors on their schedule.
//!
//! Every event enters the store through [`store_events`], which is where subscribers are woken and stored
//! approvals are marked for reconciliation.

use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use qiao_contract::bindings::types::Event;
use qiao_contract::calls::{Call, Reply};
use qiao_contract::Capability;
use qiao_runtime::CallError;
use crate::App;

/// Commits events (skipping ones already stored for the connection) and wakes whoever waits for them.
/// Returns how many were new.
pub async fn store_events(app: &Arc<App>, connection: &str, events: Vec<Event>) -> Result<usize> {
    store(app, connection, events, None).await
}

async fn store(app: &Arc<App>, connection: &str, events: Vec<Event>, cursor: Option<String>) -> Result<usize> {
    // A full store refuses new events (the platform retries a 503) and keeps its last room for delivering the
    // writes it accepted.
    app.db.check_room().await?;
    let approvals: Vec<(String, Option<String>)> = events
        .iter()
        .filter(|e| e.kind.starts_with("approval.") && !e.subject.is_empty())
        .map(|e| (e.subject.clone(), None))
        .collect();
    let contacts = crate::sync::contacts::contact_changes(&events);
    if !approvals.is_empty() {
        // The event says an approval moved: the stored view is refreshed from the platform on next read or
        // reconciliation, rather than trusting each platform's event payload shape. Marked before the events are
        // committed, so whoever reads the event and then the approval never sees the view from before it (a mark
        // whose events then fail to commit costs one needless refresh).
        app.db.mark_approvals_stale(connection.to_string(), approvals).await?;
    }
    let received = events.len();
    let new = app.db.commit_events(connection.to_string(), events, cursor).await?;
    qiao_metrics::events_stored(connection, received, new);
    if new > 0 {
        app.events_added.send_modify(|n| *n += 1);
    }
    if !contacts.is_empty() && new > 0 {
        // Not awaited: the platform is waiting for its acknowledgement, and this may call the connector.
        tokio::spawn(crate::sync::contacts::apply(app.clone(), connection.to_string(), contacts));
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
pub async fn poll_once(app: &Arc<App>, connection: &str) -> Result<PollOutcome, CallError> {
    let cursor = app.db.poll_cursor(connection.to_string()).await.map_err(CallError::Host)?;
    let Reply::Batch(batch) = app.runtime.call(connection, Call::Poll { cursor }).await? else {
        return Err(CallError::Host(anyhow::anyhow!("poll answered with another reply")));
    };
    let received = batch.events.len();
    let cursor = batch.next_cursor.clone();
    let new = store(app, connection, batch.events, batch.next_cursor)
        .await
        .map_err(CallError::Host)?;
    Ok(PollOutcome { received, new, cursor })
}

/// Starts one task per connection with `poll_every_s`: polls on that interval, backing off (up to 10 intervals)
/// while polls fail, so a platform outage is not hammered.
pub fn spawn_pollers(app: &Arc<App>) -> Vec<tokio::task::JoinHandle<()>> {
    app.runtime.connections
        .values()
        .filter_map(|c| c.poll_every.map(|every| (c.name.clone(), every)))
        .map(|(name, every)| {
            let app = app.clone();
            tokio::spawn(async move {
                let mut failures = 0u32;
                loop {
                    let wait = every * (1 + failures.min(9));
                    tokio::time::sleep(wait).await;
                    if let Some(reason) = not_pollable(&app, &name) {
                        tracing::debug!(connection = %name, "scheduled poll skipped: {reason}");
                        continue;
                    }
                    match poll_once(&app, &name).await {
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
fn not_pollable(app: &App, connection: &str) -> Option<&'static str> {
    let conn = app.runtime.connections.get(connection)?;
    match app.runtime.connectors.get(&conn.connector) {
        None => Some("connector not loaded"),
        Some(c) if !c.exports.capabilities().contains(&Capability::Poll) => Some("connector does not export poll"),
        Some(_) => None,
    }
}
