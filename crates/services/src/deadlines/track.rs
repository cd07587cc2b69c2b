//! Which steps of an approval are pending, and keeping `approval_steps` in line with the stored approvals: new
//! steps get their timers, steps that moved or whose approval was decided stop.

use std::sync::Arc;

use anyhow::Result;
use serde_json::Value;

use qiao_store::{ApprovalStep, NewStep, StepKey};

use super::policy::Schedule;
use crate::App;

/// At most this many pending approvals are looked at in one pass.
const MAX_PENDING: u32 = 10_000;

/// The pending steps of an instance (as the stored view renders it): its pending tasks, or, where the platform
/// lists no tasks, its current approvers. A step entered pending at its task's `start_ms` when the connector
/// reports one, else now (when Qiao first sees it).
pub fn pending_steps(instance: &Value, now_ms: i64) -> Vec<NewStep> {
    let tasks = instance["tasks"].as_array().map(Vec::as_slice).unwrap_or_default();
    if !tasks.is_empty() {
        return tasks
            .iter()
            .filter(|t| t["status"].as_str().is_some_and(|s| s.eq_ignore_ascii_case("pending")))
            .filter_map(|t| {
                let approver = t["assignee"].as_str().filter(|a| !a.is_empty())?;
                let step = match t["id"].as_str() {
                    Some(id) if !id.is_empty() => id.to_string(),
                    _ => format!("approver:{approver}"),
                };
                let entered_ms = t["start_ms"].as_i64().filter(|&at| at > 0 && at <= now_ms).unwrap_or(now_ms);
                Some(NewStep { step, approver: approver.to_string(), entered_ms })
            })
            .collect();
    }
    instance["approvers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter(|a| !a.is_empty())
        .map(|a| NewStep { step: format!("approver:{a}"), approver: a.to_string(), entered_ms: now_ms })
        .collect()
}

/// Records one approval's pending steps; new ones get their timers.
pub async fn track(
    app: &Arc<App>,
    connection: &str,
    id: &str,
    template: Option<String>,
    instance: &Value,
    now_ms: i64,
) -> Result<()> {
    let steps = pending_steps(instance, now_ms);
    let entered: Vec<(String, i64)> = steps.iter().map(|s| (s.step.clone(), s.entered_ms)).collect();
    let title = instance["title"].as_str().map(str::to_string);
    let added = app
        .db
        .track_steps(connection.to_string(), id.to_string(), template.clone(), title, steps, now_ms)
        .await?;
    for key in added {
        let entered_ms = entered.iter().find(|(s, _)| *s == key.step).map_or(now_ms, |(_, at)| *at);
        schedule(app, key, template.as_deref(), entered_ms, 0, None, None).await?;
    }
    Ok(())
}

/// Sets a step's timers from its policy (none applies: no timers, the step is still tracked for the figures).
pub async fn schedule(
    app: &Arc<App>,
    key: StepKey,
    template: Option<&str>,
    entered_ms: i64,
    reminders: u32,
    escalated_ms: Option<i64>,
    problem: Option<String>,
) -> Result<()> {
    let d = &app.deadlines;
    let timers = super::policy::policy_for(&d.policies, &key.connection, template).map(|policy| {
        Schedule { policy, calendar: &d.calendar, entered_ms }.timers(reminders, escalated_ms.is_some())
    });
    app.db
        .set_step_timer(
            key,
            timers.and_then(|t| t.first_due_ms),
            timers.and_then(|t| t.next_due_ms),
            reminders,
            escalated_ms,
            problem,
        )
        .await
}

/// How far before a pass's start the next one looks again for synced approvals.
const SYNC_MARGIN_MS: i64 = 5_000;

/// Approvals refreshed from their platform in one pass, at most.
const MAX_REFRESHED: u32 = 100;

/// Follows the stored approvals: those an event or write marked as moved are refreshed first — tracked ones at
/// every pass (so their timers stop when they move, and time to decision is measured to then), others that may
/// be pending when `sweep` (so a new approval's timers start when its event arrives, not at the next
/// reconciliation); every pending one's steps are tracked; open steps of approvals decided since stop.
/// Without policies nothing is refreshed here (no platform call is made for the figures alone).
///
/// Only approvals the store synced since `synced_since_ms` (store time) are looked at; answers where the next
/// pass starts.
pub async fn follow(app: &Arc<App>, now_ms: i64, sweep: bool, synced_since_ms: i64) -> Result<i64> {
    let started = qiao_store::now_ms();
    let active = !app.deadlines.policies.is_empty();
    let mut stale = if active { app.db.stale_open_approvals(MAX_REFRESHED).await? } else { Vec::new() };
    if active && sweep {
        let more = app.db.approvals_to_reconcile(None, MAX_REFRESHED).await?;
        let new: Vec<_> = more
            .into_iter()
            .filter(|a| ["unknown", "pending", "draft"].contains(&a.status.as_str()))
            .filter(|a| !stale.iter().any(|s| s.connection == a.connection && s.id == a.id))
            .collect();
        stale.extend(new);
    }
    for a in stale {
        if !app.runtime.connections.contains_key(&a.connection) {
            continue;
        }
        if let Err(e) = crate::approvals::refresh(app, &a.connection, &a.id, a.template).await {
            tracing::debug!(connection = %a.connection, approval = %a.id, error = %e, "approval deadlines: refresh failed");
        }
    }
    let pending = app.db.pending_approvals(synced_since_ms, MAX_PENDING).await?;
    // A full batch: the next pass goes on from the last one seen (ties are looked at twice, harmlessly). Else
    // from when this pass began, less a margin for a sync committed while it read.
    let next = match pending.last() {
        Some(last) if pending.len() == MAX_PENDING as usize => last.synced_ms,
        _ => started - SYNC_MARGIN_MS,
    };
    for approval in pending {
        track(app, &approval.connection, &approval.id, approval.template, &approval.instance, now_ms).await?;
    }
    app.db.close_decided_steps(now_ms).await?;
    Ok(next)
}

/// Recomputes every open step's timers: the policies may have changed since they were set (a restart with
/// another `qiao.toml`).
pub async fn reschedule_all(app: &Arc<App>) -> Result<()> {
    let open: Vec<ApprovalStep> = app.db.open_steps(MAX_PENDING * 4).await?;
    for s in open {
        schedule(app, s.key, s.template.as_deref(), s.entered_ms, s.reminders, s.escalated_ms, None).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn pending_tasks_are_the_steps_else_the_approvers() {
        let instance = json!({ "tasks": [
            { "id": "t1", "assignee": "manager1", "status": "approved" },
            { "id": "t2", "assignee": "boss", "status": "pending", "start_ms": 5 },
            { "id": "", "assignee": "cfo", "status": "PENDING" },
            { "id": "t4", "assignee": "", "status": "pending" },
        ], "approvers": ["ignored"] });
        let steps = pending_steps(&instance, 100);
        let seen: Vec<(&str, &str, i64)> = steps.iter().map(|s| (s.step.as_str(), s.approver.as_str(), s.entered_ms)).collect();
        assert_eq!(seen, [("t2", "boss", 5), ("approver:cfo", "cfo", 100)]);
        let steps = pending_steps(&json!({ "tasks": [], "approvers": ["a", "b"] }), 7);
        assert_eq!(steps.iter().map(|s| s.step.as_str()).collect::<Vec<_>>(), ["approver:a", "approver:b"]);
        assert!(pending_steps(&json!({}), 7).is_empty());
    }
}
