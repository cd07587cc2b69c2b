//! What the console shows: pending approvals past their first deadline, and per-template figures (pending,
//! overdue, time to decision in business minutes).

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use qiao_store::ApprovalStep;

use crate::App;

/// At most this many open steps, and decided approvals, are read for one answer.
const MAX_ROWS: u32 = 10_000;

#[derive(Debug, Serialize)]
pub struct Overdue {
    pub connection: String,
    pub id: String,
    pub template: Option<String>,
    pub title: Option<String>,
    pub approvers: Vec<String>,
    pub entered_ms: i64,
    pub due_ms: i64,
    pub overdue_minutes: i64,
    pub reminders_sent: u32,
    pub escalated: bool,
    /// Why a reminder or escalation could not be made, when one could not.
    pub problems: Vec<String>,
}

/// Open steps grouped by approval, in (connection, approval) order.
fn by_approval(steps: Vec<ApprovalStep>) -> Vec<Vec<ApprovalStep>> {
    let mut groups: Vec<Vec<ApprovalStep>> = Vec::new();
    for s in steps {
        match groups.last_mut() {
            Some(g) if g[0].key.connection == s.key.connection && g[0].key.approval == s.key.approval => g.push(s),
            _ => groups.push(vec![s]),
        }
    }
    groups
}

fn first_due(steps: &[ApprovalStep]) -> Option<i64> {
    steps.iter().filter_map(|s| s.first_due_ms).min()
}

/// Pending approvals past their first deadline, most overdue first.
pub async fn overdue(app: &Arc<App>) -> Result<Vec<Overdue>> {
    let now = app.deadlines.clock.now_ms();
    let calendar = &app.deadlines.calendar;
    let mut out: Vec<Overdue> = by_approval(app.db.open_steps(MAX_ROWS).await?)
        .into_iter()
        .filter_map(|steps| {
            let due_ms = first_due(&steps).filter(|&due| due <= now)?;
            let first = &steps[0];
            Some(Overdue {
                connection: first.key.connection.clone(),
                id: first.key.approval.clone(),
                template: first.template.clone(),
                title: first.title.clone(),
                approvers: steps.iter().map(|s| s.approver.clone()).collect(),
                entered_ms: steps.iter().map(|s| s.entered_ms).min().unwrap_or(first.entered_ms),
                due_ms,
                overdue_minutes: calendar.business_minutes_between(due_ms, now),
                reminders_sent: steps.iter().map(|s| s.reminders).sum(),
                escalated: steps.iter().any(|s| s.escalated_ms.is_some()),
                problems: steps.iter().filter_map(|s| s.problem.clone()).collect(),
            })
        })
        .collect();
    out.sort_by_key(|o| (o.due_ms, o.connection.clone(), o.id.clone()));
    Ok(out)
}

#[derive(Debug, Default, Serialize)]
pub struct TemplateStats {
    pub template: Option<String>,
    pub pending: usize,
    pub overdue: usize,
    /// Decided approvals Qiao saw enter and leave pending (the most recent ones, at most 10,000 in all).
    pub decided: usize,
    pub median_minutes: Option<i64>,
    pub p90_minutes: Option<i64>,
}

/// The nearest-rank percentile of sorted values.
fn percentile(sorted: &[i64], p: f64) -> Option<i64> {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len().max(1));
    sorted.get(rank - 1).copied()
}

/// Per template: pending and overdue approvals, and the median and 90th percentile of time to decision in
/// business minutes.
pub async fn stats(app: &Arc<App>) -> Result<Vec<TemplateStats>> {
    let now = app.deadlines.clock.now_ms();
    let calendar = &app.deadlines.calendar;
    let mut per: BTreeMap<Option<String>, (TemplateStats, Vec<i64>)> = BTreeMap::new();
    for steps in by_approval(app.db.open_steps(MAX_ROWS).await?) {
        let (s, _) = per.entry(steps[0].template.clone()).or_default();
        s.pending += 1;
        s.overdue += usize::from(first_due(&steps).is_some_and(|due| due <= now));
    }
    for d in app.db.decided_approvals(MAX_ROWS).await? {
        per.entry(d.template).or_default().1.push(calendar.business_minutes_between(d.entered_ms, d.left_ms));
    }
    Ok(per
        .into_iter()
        .map(|(template, (mut s, mut minutes))| {
            minutes.sort_unstable();
            s.template = template;
            s.decided = minutes.len();
            s.median_minutes = percentile(&minutes, 0.5);
            s.p90_minutes = percentile(&minutes, 0.9);
            s
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_percentiles() {
        let ten: Vec<i64> = (1..=10).collect();
        assert_eq!((percentile(&ten, 0.5), percentile(&ten, 0.9)), (Some(5), Some(9)));
        assert_eq!((percentile(&[7], 0.5), percentile(&[7], 0.9)), (Some(7), Some(7)));
        assert_eq!(percentile(&[], 0.5), None);
    }
}
