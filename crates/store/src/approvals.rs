//! The stored view of approvals: what the platform last said about each instance, and whether an event has
//! since said it moved (`stale`), so reads answer from here and reconciliation knows what to refresh.

use std::sync::Arc;

use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;

use super::{Db, now_ms};

#[derive(Debug, Clone, Serialize)]
pub struct StoredApproval {
    pub connection: String,
    pub id: String,
    pub template: Option<String>,
    pub status: String,
    /// The instance as the API renders it.
    pub instance: serde_json::Value,
    pub synced_ms: i64,
    pub stale: bool,
}

pub(crate) fn row(r: &rusqlite::Row) -> rusqlite::Result<StoredApproval> {
    let instance: String = r.get(4)?;
    Ok(StoredApproval {
        connection: r.get(0)?,
        id: r.get(1)?,
        template: r.get(2)?,
        status: r.get(3)?,
        instance: serde_json::from_str(&instance).unwrap_or_default(),
        synced_ms: r.get(5)?,
        stale: r.get(6)?,
    })
}

pub(crate) const COLUMNS: &str = "connection, id, template, status, instance, synced_ms, stale";

impl Db {
    /// Records what the platform said about an approval, now.
    pub async fn save_approval(
        self: &Arc<Self>,
        connection: String,
        id: String,
        template: Option<String>,
        status: String,
        instance: serde_json::Value,
    ) -> Result<()> {
        self.run(move |c| {
            c.execute(
                "INSERT INTO approvals (connection, id, template, status, instance, synced_ms, stale)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 0)
                 ON CONFLICT (connection, id) DO UPDATE SET template = COALESCE(excluded.template, template),
                     status = excluded.status, instance = excluded.instance, synced_ms = excluded.synced_ms, stale = 0",
                params![connection, id, template, status, instance.to_string(), now_ms()],
            )
            .map(drop)
        })
        .await
    }

    pub async fn approval(self: &Arc<Self>, connection: String, id: String) -> Result<Option<StoredApproval>> {
        self.run(move |c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM approvals WHERE connection = ?1 AND id = ?2"),
                params![connection, id],
                row,
            )
            .optional()
        })
        .await
    }

    /// Marks approvals (id, and template when known) as needing a refresh from the platform: an event or a
    /// write said they moved. Unknown ids get a placeholder row, so an approval created outside Qiao is picked
    /// up by reconciliation too.
    pub async fn mark_approvals_stale(
        self: &Arc<Self>,
        connection: String,
        approvals: Vec<(String, Option<String>)>,
    ) -> Result<()> {
        self.run(move |c| {
            let tx = crate::writer::atomic(c)?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO approvals (connection, id, template, status, instance, synced_ms, stale)
                     VALUES (?1, ?2, ?3, 'unknown', '{}', 0, 1)
                     ON CONFLICT (connection, id) DO UPDATE SET stale = 1,
                         template = COALESCE(excluded.template, template)",
                )?;
                for (id, template) in &approvals {
                    stmt.execute(params![connection, id, template])?;
                }
            }
            tx.commit()
        })
        .await
    }

    /// Approvals to refresh: stale ones, and (when `pending_synced_before_ms` is given) pending ones last synced
    /// before then, oldest first.
    pub async fn approvals_to_reconcile(
        self: &Arc<Self>,
        pending_synced_before_ms: Option<i64>,
        limit: u32,
    ) -> Result<Vec<StoredApproval>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM approvals
                 WHERE stale = 1 OR (status IN ('pending', 'draft') AND synced_ms < ?1)
                 ORDER BY synced_ms LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![pending_synced_before_ms.unwrap_or(i64::MIN), limit], row)?;
            rows.collect()
        })
        .await
    }
}
