//! Approval deadlines: reminders to the approvers of approvals left pending, and escalation to their manager,
//! counted in business time (`[calendar]`) per `[[approvals.deadlines]]` policy.
//!
//! - `policy`: which policy applies and when each reminder and the escalation fall due (pure).
//! - `track`: the pending steps of each stored approval, kept in the store with their timers (`approval_steps`),
//!   stopped when the approval is decided or another step is pending.
//! - `send`: a due step checked against the platform and its reminder or escalation committed to the outbox
//!   under a key per step and reminder, so it is never made twice.
//! - `report`: overdue approvals and per-template figures for the API.
//! - `clock`: the time the worker reads (movable by end-to-end tests only).
//!
//! The worker wakes at the next timer, when events arrive (an approval may have moved), when poked, and at
//! least every [`TICK`] to pick up approvals the stored view learned of by reads or reconciliation.

pub mod clock;
pub mod policy;
pub mod report;
pub mod send;
pub mod track;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::Notify;

use qiao_calendar::Calendar;
use qiao_config::DeadlinePolicy;

use crate::App;
use clock::Clock;

/// The worker looks at the stored approvals at least this often.
pub const TICK: Duration = Duration::from_secs(30);
/// Due steps handled per pass (the rest in the next, at once).
const BATCH: u32 = 100;
/// Approvals marked as moved that are not tracked yet are refreshed at most this often (a platform that is down
/// is not asked again at every event).
const SWEEP_EVERY: Duration = Duration::from_secs(5);

/// The deadline settings of one server, and its worker's clock and wake-up.
#[derive(Debug, Default)]
pub struct Deadlines {
    pub calendar: Calendar,
    pub policies: Vec<DeadlinePolicy>,
    pub clock: Clock,
    wake: Notify,
}

impl Deadlines {
    pub fn new(calendar: Calendar, policies: Vec<DeadlinePolicy>) -> Deadlines {
        Deadlines { calendar, policies, ..Deadlines::default() }
    }

    /// Has the worker look again now (an approval changed, or a test moved the clock).
    pub fn poke(&self) {
        self.wake.notify_one();
    }
}

/// One pass: follow the stored approvals, then act on every due step.
/// Answers where the next pass's look at the stored approvals starts (see [`track::follow`]).
async fn pass(app: &Arc<App>, sweep: bool, synced_since_ms: i64) -> anyhow::Result<i64> {
    let now = app.deadlines.clock.now_ms();
    let next = track::follow(app, now, sweep, synced_since_ms).await?;
    loop {
        let due = app.db.due_steps(now, BATCH).await?;
        let full = due.len() == BATCH as usize;
        for step in due {
            send::act(app, step, now).await?;
        }
        if !full {
            return Ok(next);
        }
    }
}

/// Starts the worker (even without policies: the steps it tracks give the per-template figures).
pub fn spawn(app: &Arc<App>) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    tokio::spawn(async move {
        if let Err(e) = track::reschedule_all(&app).await {
            tracing::warn!("approval deadlines could not be rescheduled: {e:#}");
        }
        let mut events = app.events_added.subscribe();
        let mut last_sweep: Option<tokio::time::Instant> = None;
        // The first pass looks at every stored approval; later ones at those synced since.
        let mut synced_since = i64::MIN;
        loop {
            let sweep = last_sweep.is_none_or(|at| at.elapsed() >= SWEEP_EVERY);
            if sweep {
                last_sweep = Some(tokio::time::Instant::now());
            }
            match pass(&app, sweep, synced_since).await {
                Ok(next) => synced_since = next,
                Err(e) => tracing::warn!("approval deadlines: {e:#}"),
            }
            let now = app.deadlines.clock.now_ms();
            let next = app.db.next_step_due().await.ok().flatten();
            let wait = next.map_or(TICK, |due| Duration::from_millis((due - now).max(0) as u64).min(TICK));
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = events.changed() => {}
                _ = app.deadlines.wake.notified() => {}
            }
            // Events come in bursts: one pass for the burst.
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    })
}
