//! Approval deadlines: each pending step of an approval (a task, or an approver where the platform has no task
//! ids), from when it entered pending until it left, with its next timer and what was sent for it — so timers
//! survive restarts, and time to decision can be measured.

use std::sync::Arc;

use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Db, StoredApproval};

/// Identifies one step.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct StepKey {
    pub connection: String,
    pub approval: String,
    /// The platform's task id, or `approver:<user id>`.
    pub step: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct ApprovalStep {
    #[serde(flatten)]
    pub key: StepKey,
    pub approver: String,
    pub template: Option<String>,
    pub title: Option<String>,
    pub entered_ms: i64,
    /// The step's first deadline (first reminder or escalation), when a policy applies.
    pub first_due_ms: Option<i64>,
    /// The next timer; None: nothing more to do.
    pub due_ms: Option<i64>,
    pub reminders: u32,
    pub escalated_ms: Option<i64>,
    /// Why the last reminder or escalation could not be made (no manager, no account), if it could not.
    pub problem: Option<String>,
    pub left_ms: Option<i64>,
    /// The approval's status when the step left pending, or `moved` (another step is pending now).
    pub outcome: Option<String>,
}

/// A step as first seen.
pub struct NewStep {
    pub step: String,
    pub approver: String,
    pub entered_ms: i64,
}

/// A decided approval Qiao saw enter and leave pending.
#[derive(Debug, Clone)]
pub struct Decided {
    pub template: Option<String>,
    pub entered_ms: i64,
    pub left_ms: i64,
}

const COLUMNS: &str = "connection, approval, step, approver, template, title, entered_ms, first_due_ms, due_ms, \
                       reminders, escalated_ms, problem, left_ms, outcome";

fn row(r: &rusqlite::Row) -> rusqlite::Result<ApprovalStep> {
    Ok(ApprovalStep {
        key: StepKey { connection: r.get(0)?, approval: r.get(1)?, step: r.get(2)? },
        approver: r.get(3)?,
        template: r.get(4)?,
        title: r.get(5)?,
        entered_ms: r.get(6)?,
        first_due_ms: r.get(7)?,
        due_ms: r.get(8)?,
        reminders: r.get(9)?,
        escalated_ms: r.get(10)?,
        problem: r.get(11)?,
        left_ms: r.get(12)?,
        outcome: r.get(13)?,
    })
}

impl Db {
    /// Approvals the store last saw pending (and not since marked as moved), synced at or after
    /// `synced_since_ms`, oldest sync first.
    pub async fn pending_approvals(self: &Arc<Self>, synced_since_ms: i64, limit: u32) -> Result<Vec<StoredApproval>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {} FROM approvals WHERE status = 'pending' AND stale = 0 AND synced_ms >= ?1
                 ORDER BY synced_ms LIMIT ?2",
                super::approvals::COLUMNS
            ))?;
            let rows = stmt.query_map(params![synced_since_ms, limit], super::approvals::row)?;
            rows.collect()
        })
        .await
    }

    /// Approvals an event or a write has marked as moved since they were read, that have open steps or were last
    /// seen pending: refreshed first, so timers stop when an approval moves rather than when next due, and start
    /// for one whose creation event came after it was read (it is left out of the pending ones while stale).
    pub async fn stale_open_approvals(self: &Arc<Self>, limit: u32) -> Result<Vec<StoredApproval>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {} FROM approvals a WHERE a.stale = 1 AND (a.status IN ('pending', 'draft')
                     OR EXISTS (SELECT 1 FROM approval_steps s
                                WHERE s.connection = a.connection AND s.approval = a.id AND s.left_ms IS NULL))
                 ORDER BY a.synced_ms LIMIT ?1",
                super::approvals::COLUMNS
            ))?;
            let rows = stmt.query_map([limit], super::approvals::row)?;
            rows.collect()
        })
        .await
    }

    /// Records an approval's pending steps as they are now: steps not seen before are added (their timers are
    /// set by the caller with [`Db::set_step_timer`]), open steps no longer pending leave as `moved`. Returns
    /// the keys of the added steps.
    pub async fn track_steps(
        self: &Arc<Self>,
        connection: String,
        approval: String,
        template: Option<String>,
        title: Option<String>,
        steps: Vec<NewStep>,
        now_ms: i64,
    ) -> Result<Vec<StepKey>> {
        self.run(move |c| {
            let tx = crate::writer::atomic(c)?;
            let mut added = Vec::new();
            {
                let mut open = tx.prepare_cached(
                    "SELECT step, approver FROM approval_steps WHERE connection = ?1 AND approval = ?2 AND left_ms IS NULL",
                )?;
                let open: Vec<(String, String)> = open
                    .query_map(params![connection, approval], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<_>>()?;
                let mut leave = tx.prepare_cached(
                    "UPDATE approval_steps SET left_ms = ?4, outcome = 'moved', due_ms = NULL
                     WHERE connection = ?1 AND approval = ?2 AND step = ?3",
                )?;
                // A step handed to another approver under the same task id leaves too (its successor is not
                // tracked: platforms make a new task when an approval is transferred).
                for (step, _) in open.iter().filter(|(s, a)| !steps.iter().any(|n| &n.step == s && &n.approver == a)) {
                    leave.execute(params![connection, approval, step, now_ms])?;
                }
                let mut insert = tx.prepare_cached(
                    "INSERT INTO approval_steps (connection, approval, step, approver, template, title, entered_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING",
                )?;
                for s in &steps {
                    if insert.execute(params![connection, approval, s.step, s.approver, template, title, s.entered_ms])? > 0 {
                        added.push(StepKey { connection: connection.clone(), approval: approval.clone(), step: s.step.clone() });
                    }
                }
            }
            tx.commit()?;
            Ok(added)
        })
        .await
    }

    /// Closes the open steps of approvals the store now knows are no longer pending (and not marked as moved
    /// since): their outcome is the approval's status. Returns how many closed.
    pub async fn close_decided_steps(self: &Arc<Self>, now_ms: i64) -> Result<usize> {
        self.run(move |c| {
            c.prepare_cached(
                "UPDATE approval_steps AS s SET left_ms = ?1, due_ms = NULL,
                     outcome = (SELECT a.status FROM approvals a WHERE a.connection = s.connection AND a.id = s.approval)
                 WHERE s.left_ms IS NULL AND EXISTS (SELECT 1 FROM approvals a WHERE a.connection = s.connection
                     AND a.id = s.approval AND a.stale = 0 AND a.status NOT IN ('pending', 'draft', 'unknown'))",
            )?
            .execute([now_ms])
        })
        .await
    }

    /// Closes every open step of one approval with `outcome`.
    pub async fn close_steps(self: &Arc<Self>, connection: String, approval: String, outcome: String, now_ms: i64) -> Result<()> {
        self.run(move |c| {
            c.prepare_cached(
                "UPDATE approval_steps SET left_ms = ?3, outcome = ?4, due_ms = NULL
                 WHERE connection = ?1 AND approval = ?2 AND left_ms IS NULL",
            )?
            .execute(params![connection, approval, now_ms, outcome])
            .map(drop)
        })
        .await
    }

    /// Sets a step's deadlines (and what was sent so far), as its policy computes them.
    pub async fn set_step_timer(
        self: &Arc<Self>,
        key: StepKey,
        first_due_ms: Option<i64>,
        due_ms: Option<i64>,
        reminders: u32,
        escalated_ms: Option<i64>,
        problem: Option<String>,
    ) -> Result<()> {
        self.run(move |c| {
            c.prepare_cached(
                "UPDATE approval_steps SET first_due_ms = ?4, due_ms = ?5, reminders = ?6, escalated_ms = ?7,
                     problem = COALESCE(?8, problem)
                 WHERE connection = ?1 AND approval = ?2 AND step = ?3 AND left_ms IS NULL",
            )?
            .execute(params![key.connection, key.approval, key.step, first_due_ms, due_ms, reminders, escalated_ms, problem])
            .map(drop)
        })
        .await
    }

    /// Open steps whose timer is due at `now_ms`, earliest first.
    pub async fn due_steps(self: &Arc<Self>, now_ms: i64, limit: u32) -> Result<Vec<ApprovalStep>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM approval_steps WHERE left_ms IS NULL AND due_ms <= ?1 ORDER BY due_ms LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![now_ms, limit], row)?;
            rows.collect()
        })
        .await
    }

    /// The earliest timer of an open step.
    pub async fn next_step_due(self: &Arc<Self>) -> Result<Option<i64>> {
        self.run(|c| {
            c.query_row("SELECT MIN(due_ms) FROM approval_steps WHERE left_ms IS NULL", [], |r| r.get(0))
                .optional()
                .map(Option::flatten)
        })
        .await
    }

    /// Open steps (at most `limit`), by connection and approval.
    pub async fn open_steps(self: &Arc<Self>, limit: u32) -> Result<Vec<ApprovalStep>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM approval_steps WHERE left_ms IS NULL ORDER BY connection, approval, step LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit], row)?;
            rows.collect()
        })
        .await
    }

    /// Approvals decided (approved or rejected) whose whole time in pending Qiao saw, most recent first: when the
    /// first step entered and the last left.
    pub async fn decided_approvals(self: &Arc<Self>, limit: u32) -> Result<Vec<Decided>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT MAX(template), MIN(entered_ms), MAX(left_ms) FROM approval_steps
                 GROUP BY connection, approval
                 HAVING COUNT(*) = COUNT(left_ms) AND SUM(outcome IN ('approved', 'rejected')) > 0
                 ORDER BY MAX(left_ms) DESC LIMIT ?1",
            )?;
            let rows = stmt.query_map([limit], |r| Ok(Decided { template: r.get(0)?, entered_ms: r.get(1)?, left_ms: r.get(2)? }))?;
            rows.collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use qiao_secrets::MasterKey;

    fn step(id: &str, at: i64) -> NewStep {
        NewStep { step: id.into(), approver: format!("u-{id}"), entered_ms: at }
    }

    #[tokio::test]
    async fn steps_enter_move_and_leave() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("q.db"), MasterKey::generate()).unwrap();
        let (c, a) = ("c".to_string(), "a1".to_string());
        let added = db.track_steps(c.clone(), a.clone(), Some("T".into()), None, vec![step("t1", 10)], 10).await.unwrap();
        assert_eq!(added.len(), 1);
        db.set_step_timer(added[0].clone(), Some(50), Some(50), 0, None, None).await.unwrap();
        assert!(db.track_steps(c.clone(), a.clone(), None, None, vec![step("t1", 99)], 20).await.unwrap().is_empty(), "known");
        assert_eq!(db.next_step_due().await.unwrap(), Some(50));
        assert!(db.due_steps(49, 10).await.unwrap().is_empty());
        assert_eq!(db.due_steps(50, 10).await.unwrap()[0].entered_ms, 10, "entered when first seen");

        // The next task is pending now: the first step moved, its timer gone.
        db.track_steps(c.clone(), a.clone(), Some("T".into()), None, vec![step("t2", 30)], 30).await.unwrap();
        let open = db.open_steps(10).await.unwrap();
        assert_eq!(open.iter().map(|s| s.key.step.as_str()).collect::<Vec<_>>(), ["t2"]);
        assert_eq!(db.next_step_due().await.unwrap(), None);
        assert!(db.decided_approvals(10).await.unwrap().is_empty(), "still pending");

        // Pending approvals are found by when they were synced.
        db.save_approval(c.clone(), "p1".into(), None, "pending".into(), serde_json::json!({})).await.unwrap();
        let since = |ms| db.pending_approvals(ms, 10);
        assert_eq!(since(0).await.unwrap().iter().map(|a| a.id.as_str()).collect::<Vec<_>>(), ["p1"]);
        assert!(since(crate::now_ms() + 60_000).await.unwrap().is_empty());

        // An event says it moved: it is to be refreshed.
        db.mark_approvals_stale(c.clone(), vec![(a.clone(), None)]).await.unwrap();
        assert_eq!(db.stale_open_approvals(10).await.unwrap()[0].id, a);
        // One that moved while still untracked (its creation event came after it was read) is refreshed too.
        db.mark_approvals_stale(c.clone(), vec![("p1".into(), None)]).await.unwrap();
        let stale: Vec<String> = db.stale_open_approvals(10).await.unwrap().into_iter().map(|a| a.id).collect();
        assert!(stale.contains(&"p1".to_string()), "{stale:?}");
        // Approved: the approvals view says so, and the open step closes with that outcome.
        db.save_approval(c.clone(), a.clone(), Some("T".into()), "approved".into(), serde_json::json!({})).await.unwrap();
        assert_eq!(db.close_decided_steps(70).await.unwrap(), 1);
        let decided = db.decided_approvals(10).await.unwrap();
        assert_eq!((decided[0].entered_ms, decided[0].left_ms, decided[0].template.as_deref()), (10, 70, Some("T")));
    }
}
