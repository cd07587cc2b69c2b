//! Directory sync runs as stored: the run (its options, plan and final report) and each applied step's outcome,
//! written as it happens so a restarted server resumes a run where it stood.

use std::sync::Arc;

use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

use super::{Db, now_ms};

#[derive(Debug, Clone, Serialize)]
pub struct RunRow {
    pub id: i64,
    pub connection: String,
    pub status: String,
    pub dry_run: bool,
    pub options: Value,
    pub plan: Option<Value>,
    pub report: Option<Value>,
    pub actor: Option<String>,
    pub created_ms: i64,
    pub finished_ms: Option<i64>,
    /// How many steps the plan has, once planned.
    #[serde(skip)]
    pub steps: Option<i64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StepRow {
    pub idx: usize,
    /// `done`, `failed` or `skipped`.
    pub status: String,
    pub operation_id: Option<i64>,
    pub error: Option<Value>,
}

const COLUMNS: &str =
    "id, connection, status, dry_run, options, plan, report, actor, created_ms, finished_ms, steps";

fn json(text: Option<String>) -> Option<Value> {
    text.and_then(|t| serde_json::from_str(&t).ok())
}

fn row(r: &rusqlite::Row) -> rusqlite::Result<RunRow> {
    Ok(RunRow {
        id: r.get(0)?,
        connection: r.get(1)?,
        status: r.get(2)?,
        dry_run: r.get(3)?,
        options: json(r.get(4)?).unwrap_or(Value::Null),
        plan: json(r.get(5)?),
        report: json(r.get(6)?),
        actor: r.get(7)?,
        created_ms: r.get(8)?,
        finished_ms: r.get(9)?,
        steps: r.get(10)?,
    })
}

impl Db {
    pub async fn create_run(
        self: &Arc<Self>,
        connection: String,
        dry_run: bool,
        options: Value,
        actor: Option<String>,
    ) -> Result<i64> {
        self.run(move |c| {
            c.query_row(
                "INSERT INTO sync_runs (connection, status, dry_run, options, actor, created_ms)
                 VALUES (?1, 'planning', ?2, ?3, ?4, ?5) RETURNING id",
                params![connection, dry_run, options.to_string(), actor, now_ms()],
                |r| r.get(0),
            )
        })
        .await
    }

    /// Sets a run's status, and its plan or report when given. A final status also sets `finished_ms`.
    pub async fn update_run(
        self: &Arc<Self>,
        id: i64,
        status: &'static str,
        plan: Option<Value>,
        report: Option<Value>,
        finished: bool,
    ) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "UPDATE sync_runs SET status = ?2, plan = coalesce(?3, plan), report = coalesce(?4, report),
                     steps = coalesce(json_array_length(?3, '$.steps'), steps),
                     finished_ms = CASE WHEN ?5 THEN ?6 ELSE finished_ms END
                 WHERE id = ?1",
                params![
                    id,
                    status,
                    plan.map(|p| p.to_string()),
                    report.map(|r| r.to_string()),
                    finished,
                    now_ms()
                ],
            )
            .map(drop)
        })
        .await
    }

    /// A run, with its plan only when `with_plan` (a plan of 100,000 steps is megabytes of JSON).
    pub async fn sync_run(self: &Arc<Self>, id: i64, with_plan: bool) -> Result<Option<RunRow>> {
        let columns = if with_plan {
            COLUMNS.to_string()
        } else {
            COLUMNS.replace("plan", "NULL")
        };
        self.run(move |c| {
            c.query_row(
                &format!("SELECT {columns} FROM sync_runs WHERE id = ?1"),
                [id],
                row,
            )
            .optional()
        })
        .await
    }

    /// A run's status, and its plan's step count: cheap enough to poll.
    pub async fn sync_run_status(
        self: &Arc<Self>,
        id: i64,
    ) -> Result<Option<(String, Option<i64>)>> {
        self.run(move |c| {
            c.query_row(
                "SELECT status, steps FROM sync_runs WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
        .await
    }

    /// How many of a run's steps are in each status.
    pub async fn step_counts(self: &Arc<Self>, run: i64) -> Result<Vec<(String, i64)>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT status, count(*) FROM sync_steps WHERE run = ?1 GROUP BY status",
            )?;
            let rows = stmt.query_map([run], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    /// The newest runs first, without their plans (they can be large); `connection` None: every connection's.
    pub async fn sync_runs(
        self: &Arc<Self>,
        connection: Option<String>,
        limit: usize,
    ) -> Result<Vec<RunRow>> {
        self.run(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {} FROM sync_runs WHERE ?1 IS NULL OR connection = ?1 ORDER BY id DESC LIMIT ?2",
                COLUMNS.replace("plan", "NULL")
            ))?;
            let rows = stmt.query_map(params![connection, limit as i64], row)?;
            rows.collect()
        })
        .await
    }

    /// Runs that were applying when the server stopped.
    pub async fn unfinished_runs(self: &Arc<Self>) -> Result<Vec<i64>> {
        self.run(|c| {
            let mut stmt = c.prepare(
                "SELECT id FROM sync_runs WHERE status IN ('planning', 'applying') ORDER BY id",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
        .await
    }

    pub async fn record_step(
        self: &Arc<Self>,
        run: i64,
        idx: usize,
        status: &'static str,
        operation_id: Option<i64>,
        error: Option<Value>,
    ) -> Result<()> {
        self.run(move |c| {
            c.prepare_cached(
                "INSERT OR REPLACE INTO sync_steps (run, idx, status, operation_id, error) VALUES (?1, ?2, ?3, ?4, ?5)",
            )?
            .execute(params![run, idx as i64, status, operation_id, error.map(|e| e.to_string())])
            .map(drop)
        })
        .await
    }

    pub async fn run_steps(self: &Arc<Self>, run: i64) -> Result<Vec<StepRow>> {
        self.run_long(move |c| {
            let mut stmt =
                c.prepare("SELECT idx, status, operation_id, error FROM sync_steps WHERE run = ?1 ORDER BY idx")?;
            let rows = stmt.query_map([run], |r| {
                Ok(StepRow {
                    idx: r.get::<_, i64>(0)? as usize,
                    status: r.get(1)?,
                    operation_id: r.get(2)?,
                    error: json(r.get(3)?),
                })
            })?;
            rows.collect()
        })
        .await
    }
}
