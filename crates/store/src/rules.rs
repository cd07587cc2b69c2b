//! Rules and what they did: each rule reads the event log with its own cursor (like a subscriber), each
//! evaluation of an event is recorded (`rule_runs`), objects that rules tied together are linked
//! (`object_links`), and the echoes that Qiao's own writes are expected to cause are remembered
//! (`expected_echoes`) so the event they cause is marked, not mistaken for a change someone made.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

use super::{Db, now_ms};

#[derive(Debug, Clone, Serialize)]
pub struct RuleRow {
    pub id: String,
    pub spec: Value,
    /// `config` (from qiao.toml) or `api`.
    pub origin: String,
    pub enabled: bool,
    /// The last event sequence number the rule has seen.
    pub cursor: i64,
    pub created_ms: i64,
    pub updated_ms: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleRun {
    pub rule: String,
    pub event_seq: i64,
    /// `matched`, `not_matched`, `skipped` or `failed`.
    pub outcome: String,
    pub detail: Value,
    pub at_ms: i64,
}

/// What saving a rule found.
#[derive(Debug, PartialEq, Eq)]
pub enum Saved {
    Done,
    Exists,
    Missing,
    /// The rule comes from qiao.toml: change it there.
    FromConfig,
}

const RULE_COLUMNS: &str = "id, spec, origin, enabled, cursor, created_ms, updated_ms";

fn rule_row(r: &rusqlite::Row) -> rusqlite::Result<RuleRow> {
    let spec: String = r.get(1)?;
    Ok(RuleRow {
        id: r.get(0)?,
        spec: serde_json::from_str(&spec).unwrap_or(Value::Null),
        origin: r.get(2)?,
        enabled: r.get(3)?,
        cursor: r.get(4)?,
        created_ms: r.get(5)?,
        updated_ms: r.get(6)?,
    })
}

fn max_seq(c: &rusqlite::Connection) -> rusqlite::Result<i64> {
    c.query_row("SELECT COALESCE(MAX(seq), 0) FROM events", [], |r| r.get(0))
}

impl Db {
    pub async fn rules(self: &Arc<Self>) -> Result<Vec<RuleRow>> {
        self.run(|c| {
            let mut stmt = c.prepare_cached(&format!("SELECT {RULE_COLUMNS} FROM rules ORDER BY id"))?;
            let rows = stmt.query_map([], rule_row)?;
            rows.collect()
        })
        .await
    }

    pub async fn rule(self: &Arc<Self>, id: String) -> Result<Option<RuleRow>> {
        self.run(move |c| {
            c.query_row(&format!("SELECT {RULE_COLUMNS} FROM rules WHERE id = ?1"), [id], rule_row).optional()
        })
        .await
    }

    /// Makes the stored rules from qiao.toml what the file says now: new ones start after the last stored event
    /// (a rule added later does not fire for old events), changed ones keep their cursor and state, and ones no
    /// longer in the file are removed (their runs are kept). A rule of the API with the same id is refused.
    pub async fn load_config_rules(self: &Arc<Self>, rules: Vec<(String, Value, bool)>) -> Result<Vec<String>> {
        self.run_long(move |c| {
            let tx = crate::writer::atomic(c)?;
            let now = now_ms();
            let start = max_seq(&tx)?;
            let mut clashes = Vec::new();
            let ids: Vec<String> = rules.iter().map(|r| r.0.clone()).collect();
            for (id, spec, enabled) in rules {
                let origin: Option<String> =
                    tx.query_row("SELECT origin FROM rules WHERE id = ?1", [&id], |r| r.get(0)).optional()?;
                match origin.as_deref() {
                    None => {
                        tx.execute(
                            "INSERT INTO rules (id, spec, origin, enabled, cursor, created_ms, updated_ms)
                             VALUES (?1, ?2, 'config', ?3, ?4, ?5, ?5)",
                            params![id, spec.to_string(), enabled, start, now],
                        )?;
                    }
                    Some("config") => {
                        tx.execute(
                            "UPDATE rules SET spec = ?2, updated_ms = ?3 WHERE id = ?1 AND spec != ?2",
                            params![id, spec.to_string(), now],
                        )?;
                    }
                    Some(_) => clashes.push(id),
                }
            }
            let mut stmt = tx.prepare("SELECT id FROM rules WHERE origin = 'config'")?;
            let stored: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            drop(stmt);
            for id in stored.iter().filter(|id| !ids.contains(id)) {
                tx.execute("DELETE FROM rules WHERE id = ?1", [id])?;
            }
            tx.commit()?;
            Ok(clashes)
        })
        .await
    }

    /// A new rule of the API; it sees events after `from_seq` (default: from now on).
    pub async fn create_rule(self: &Arc<Self>, id: String, spec: Value, enabled: bool, from_seq: Option<i64>) -> Result<Saved> {
        self.run(move |c| {
            let cursor = match from_seq {
                Some(seq) => seq,
                None => max_seq(c)?,
            };
            let now = now_ms();
            let n = c.execute(
                "INSERT OR IGNORE INTO rules (id, spec, origin, enabled, cursor, created_ms, updated_ms)
                 VALUES (?1, ?2, 'api', ?3, ?4, ?5, ?5)",
                params![id, spec.to_string(), enabled, cursor, now],
            )?;
            Ok(if n == 1 { Saved::Done } else { Saved::Exists })
        })
        .await
    }

    /// Replaces an API rule's definition; its cursor and state are kept.
    pub async fn replace_rule(self: &Arc<Self>, id: String, spec: Value) -> Result<Saved> {
        self.run(move |c| {
            let origin: Option<String> =
                c.query_row("SELECT origin FROM rules WHERE id = ?1", [&id], |r| r.get(0)).optional()?;
            Ok(match origin.as_deref() {
                None => Saved::Missing,
                Some("config") => Saved::FromConfig,
                Some(_) => {
                    c.execute(
                        "UPDATE rules SET spec = ?2, updated_ms = ?3 WHERE id = ?1",
                        params![id, spec.to_string(), now_ms()],
                    )?;
                    Saved::Done
                }
            })
        })
        .await
    }

    pub async fn delete_rule(self: &Arc<Self>, id: String) -> Result<Saved> {
        self.run(move |c| {
            let origin: Option<String> =
                c.query_row("SELECT origin FROM rules WHERE id = ?1", [&id], |r| r.get(0)).optional()?;
            Ok(match origin.as_deref() {
                None => Saved::Missing,
                Some("config") => Saved::FromConfig,
                Some(_) => {
                    c.execute("DELETE FROM rules WHERE id = ?1", [&id])?;
                    Saved::Done
                }
            })
        })
        .await
    }

    /// Turns a rule on or off. Turned on, it sees events after `from_seq`, by default from now on: events that
    /// came while it was off are not acted on unless asked.
    pub async fn set_rule_enabled(self: &Arc<Self>, id: String, enabled: bool, from_seq: Option<i64>) -> Result<Saved> {
        self.run(move |c| {
            let tx = crate::writer::atomic(c)?;
            let was: Option<bool> =
                tx.query_row("SELECT enabled FROM rules WHERE id = ?1", [&id], |r| r.get(0)).optional()?;
            let Some(was) = was else { return Ok(Saved::Missing) };
            let cursor = match (enabled && !was, from_seq) {
                (_, Some(seq)) => Some(seq),
                (true, None) => Some(max_seq(&tx)?),
                (false, None) => None,
            };
            tx.execute(
                "UPDATE rules SET enabled = ?2, cursor = COALESCE(?3, cursor), updated_ms = ?4 WHERE id = ?1",
                params![id, enabled, cursor, now_ms()],
            )?;
            tx.commit()?;
            Ok(Saved::Done)
        })
        .await
    }

    /// Records what rules did with events and moves their cursors, in one transaction.
    pub async fn record_rule_runs(self: &Arc<Self>, runs: Vec<RuleRun>, cursors: Vec<(String, i64)>) -> Result<()> {
        self.run(move |c| {
            let tx = crate::writer::atomic(c)?;
            {
                let mut insert = tx.prepare_cached(
                    "INSERT OR REPLACE INTO rule_runs (rule, event_seq, outcome, detail, at_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                for run in &runs {
                    insert.execute(params![run.rule, run.event_seq, run.outcome, run.detail.to_string(), run.at_ms])?;
                }
                let mut cursor = tx.prepare_cached("UPDATE rules SET cursor = MAX(cursor, ?2) WHERE id = ?1")?;
                for (id, seq) in &cursors {
                    cursor.execute(params![id, seq])?;
                }
            }
            tx.commit()
        })
        .await
    }

    /// A rule's runs after `after` (an event sequence number), oldest first.
    pub async fn rule_runs(self: &Arc<Self>, rule: String, after: i64, limit: u32) -> Result<Vec<RuleRun>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT rule, event_seq, outcome, detail, at_ms FROM rule_runs WHERE rule = ?1 AND event_seq > ?2
                 ORDER BY event_seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![rule, after, limit], |r| {
                let detail: String = r.get(3)?;
                Ok(RuleRun {
                    rule: r.get(0)?,
                    event_seq: r.get(1)?,
                    outcome: r.get(2)?,
                    detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
                    at_ms: r.get(4)?,
                })
            })?;
            rows.collect()
        })
        .await
    }

    /// How many of a rule's runs ended each way.
    pub async fn rule_counts(self: &Arc<Self>, rule: String) -> Result<BTreeMap<String, i64>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached("SELECT outcome, COUNT(*) FROM rule_runs WHERE rule = ?1 GROUP BY outcome")?;
            let rows = stmt.query_map([rule], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    /// The objects linked to `object` of `connection`: other connection → its object.
    pub async fn object_links(self: &Arc<Self>, connection: String, object: String) -> Result<BTreeMap<String, String>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT other_connection, other_object FROM object_links WHERE connection = ?1 AND object = ?2",
            )?;
            let rows = stmt.query_map(params![connection, object], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    /// Links two objects both ways (a rule made one from the other).
    pub async fn link_objects(self: &Arc<Self>, a: (String, String), b: (String, String), rule: String) -> Result<()> {
        self.run(move |c| {
            let tx = crate::writer::atomic(c)?;
            for (from, to) in [(&a, &b), (&b, &a)] {
                tx.execute(
                    "INSERT OR REPLACE INTO object_links (connection, object, other_connection, other_object, rule, created_ms)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![from.0, from.1, to.0, to.1, rule, now_ms()],
                )?;
            }
            tx.commit()
        })
        .await
    }

    /// Remembers that a write to `object` is expected to come back as an event of one of `types` (`task.*`
    /// allowed) until `expires_ms`; the first such event is marked as its echo. An event already stored since
    /// `since_ms` (the platform told of the change before it answered the call) is marked at once instead.
    #[allow(clippy::too_many_arguments)]
    pub async fn expect_echo(
        self: &Arc<Self>,
        connection: String,
        object: String,
        types: Vec<String>,
        operation: i64,
        hops: u32,
        since_ms: i64,
        expires_ms: i64,
    ) -> Result<()> {
        self.run(move |c| {
            let tx = crate::writer::atomic(c)?;
            tx.prepare_cached("DELETE FROM expected_echoes WHERE expires_ms < ?1")?.execute([now_ms()])?;
            let mut stmt = tx.prepare_cached(
                "SELECT seq, kind FROM events WHERE connection = ?1 AND subject = ?2 AND received_ms >= ?3
                 AND echo_of IS NULL ORDER BY seq",
            )?;
            let stored: Vec<(i64, String)> = stmt
                .query_map(params![connection, object, since_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            drop(stmt);
            match stored.into_iter().find(|(_, kind)| types.iter().any(|t| type_matches(t, kind))) {
                Some((seq, _)) => {
                    tx.execute("UPDATE events SET echo_of = ?2, hops = ?3 WHERE seq = ?1", params![seq, operation, hops])?;
                }
                None => {
                    // An attempt repeated after a crash expects its echo once, not once per attempt.
                    tx.execute(
                        "DELETE FROM expected_echoes WHERE operation = ?1 AND connection = ?2 AND object = ?3",
                        params![operation, connection, object],
                    )?;
                    tx.execute(
                        "INSERT INTO expected_echoes (connection, object, types, operation, hops, expires_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        params![connection, object, types.join(","), operation, hops, expires_ms],
                    )?;
                }
            }
            tx.commit()
        })
        .await
    }

    /// Drops what an operation expected: it failed, so no echo is coming.
    pub async fn forget_echoes(self: &Arc<Self>, operation: i64) -> Result<()> {
        self.run(move |c| c.execute("DELETE FROM expected_echoes WHERE operation = ?1", [operation]).map(drop)).await
    }
}

fn type_matches(pattern: &str, kind: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => kind.starts_with(prefix),
        None => pattern == kind,
    }
}

/// Marks a just-stored event as the echo of one of Qiao's writes, if one is expected: the expectation is used up,
/// so a later change by someone else to the same object is not mistaken for an echo.
pub(crate) fn mark_echo(tx: &Connection, seq: i64, connection: &str, subject: &str, kind: &str) -> rusqlite::Result<()> {
    let mut stmt = tx.prepare_cached(
        "SELECT id, types, operation, hops FROM expected_echoes WHERE connection = ?1 AND object = ?2 AND expires_ms >= ?3
         ORDER BY id",
    )?;
    let candidates: Vec<(i64, String, i64, i64)> = stmt
        .query_map(params![connection, subject, now_ms()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let matching = candidates.into_iter().find(|(_, types, _, _)| types.split(',').any(|t| type_matches(t, kind)));
    if let Some((id, _, operation, hops)) = matching {
        tx.execute("DELETE FROM expected_echoes WHERE id = ?1", [id])?;
        tx.execute("UPDATE events SET echo_of = ?2, hops = ?3 WHERE seq = ?1", params![seq, operation, hops])?;
    }
    Ok(())
}

impl Db {
    /// Every person's account on every connection: (person id, connection, platform user id), for rules' lookups.
    pub async fn person_accounts(self: &Arc<Self>) -> Result<Vec<(String, String, String)>> {
        self.run_long(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, connection, platform_id FROM directory_links WHERE kind = 'person' AND gone_ms IS NULL",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            rows.collect()
        })
        .await
    }

    /// The stored event with sequence number `seq`.
    pub async fn event(self: &Arc<Self>, seq: i64) -> Result<Option<super::StoredEvent>> {
        Ok(self.list_events(seq - 1, None, 1).await?.into_iter().find(|e| e.seq == seq))
    }
}
