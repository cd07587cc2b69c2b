//! The enterprise directory as Qiao keeps it (departments and people, each record as JSON), and the links from
//! its objects to each connection's platform objects with the record Qiao last applied there.

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Serialize, de::DeserializeOwned};

use super::{Db, now_ms};
use qiao_directory::{Department, Directory, Link, Person};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkKind {
    Department,
    Person,
}

impl LinkKind {
    fn as_str(self) -> &'static str {
        match self {
            LinkKind::Department => "department",
            LinkKind::Person => "person",
        }
    }
}

/// What replacing the directory changed, per kind: (added, updated, removed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Replaced {
    pub departments: Change,
    pub people: Change,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Change {
    pub added: usize,
    pub updated: usize,
    pub removed: usize,
    pub unchanged: usize,
}

/// A connection's links and synced records, as the planner takes them (`TargetState` without the platform's
/// objects).
#[derive(Debug, Clone, Default)]
pub struct Links {
    pub departments: Vec<Link>,
    pub people: Vec<Link>,
    pub synced_departments: Vec<Department>,
    pub synced_people: Vec<Person>,
}

fn records<T: DeserializeOwned>(c: &Connection, table: &str) -> rusqlite::Result<Vec<T>> {
    let mut stmt = c.prepare(&format!("SELECT record FROM {table} ORDER BY rowid"))?;
    let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
    let mut out = Vec::new();
    for row in rows {
        // Records are written by this module from checked values: one that does not parse is a bug or a
        // hand-edited file, and is skipped rather than failing every read of the directory.
        if let Ok(record) = serde_json::from_str(&row?) {
            out.push(record);
        }
    }
    Ok(out)
}

/// Writes `items` into `table` (id, record) so it holds exactly them, touching only rows that differ.
fn replace<T: Serialize>(
    c: &Connection,
    table: &str,
    items: &[(&str, T)],
) -> rusqlite::Result<Change> {
    let mut old: HashMap<String, String> = {
        let mut stmt = c.prepare(&format!("SELECT id, record FROM {table}"))?;
        let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let now = now_ms();
    let mut change = Change::default();
    let mut upsert = c.prepare(&format!(
        "INSERT INTO {table} (id, record, updated_ms) VALUES (?1, ?2, ?3)
         ON CONFLICT (id) DO UPDATE SET record = excluded.record, updated_ms = excluded.updated_ms"
    ))?;
    for (id, item) in items {
        let record = serde_json::to_string(item).expect("directory records serialize");
        match old.remove(*id) {
            Some(was) if was == record => change.unchanged += 1,
            was => {
                upsert.execute(params![id, record, now])?;
                if was.is_some() {
                    change.updated += 1
                } else {
                    change.added += 1
                }
            }
        }
    }
    let mut delete = c.prepare(&format!("DELETE FROM {table} WHERE id = ?1"))?;
    for id in old.keys() {
        delete.execute([id])?;
        change.removed += 1;
    }
    Ok(change)
}

impl Db {
    /// The whole directory, in the order it was first stored.
    pub async fn directory(self: &Arc<Self>) -> Result<Directory> {
        self.run_long(|c| {
            Ok(Directory {
                departments: records(c, "directory_departments")?,
                people: records(c, "people")?,
            })
        })
        .await
    }

    /// Makes the stored directory this one (the caller has checked it), in one transaction.
    pub async fn replace_directory(self: &Arc<Self>, directory: Directory) -> Result<Replaced> {
        self.run_long(move |c| {
            let tx = crate::writer::atomic(c)?;
            let departments: Vec<_> = directory
                .departments
                .iter()
                .map(|d| (d.id.as_str(), d))
                .collect();
            let people: Vec<_> = directory
                .people
                .iter()
                .map(|p| (p.id.as_str(), p))
                .collect();
            let replaced = Replaced {
                departments: replace(&tx, "directory_departments", &departments)?,
                people: replace(&tx, "people", &people)?,
            };
            tx.commit()?;
            Ok(replaced)
        })
        .await
    }

    pub async fn person(self: &Arc<Self>, id: String) -> Result<Option<Person>> {
        let record: Option<String> = self
            .run(move |c| {
                c.query_row("SELECT record FROM people WHERE id = ?1", [id], |r| {
                    r.get(0)
                })
                .optional()
            })
            .await?;
        Ok(record.and_then(|r| serde_json::from_str(&r).ok()))
    }

    pub async fn links(self: &Arc<Self>, connection: String) -> Result<Links> {
        self.run_long(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT kind, id, platform_id, synced FROM directory_links WHERE connection = ?1 ORDER BY rowid",
            )?;
            let mut links = Links::default();
            let mut rows = stmt.query([connection])?;
            while let Some(r) = rows.next()? {
                let kind: String = r.get(0)?;
                let link = Link::new(r.get::<_, String>(1)?, r.get::<_, String>(2)?);
                let synced: Option<String> = r.get(3)?;
                if kind == LinkKind::Department.as_str() {
                    links.synced_departments.extend(synced.and_then(|s| serde_json::from_str(&s).ok()));
                    links.departments.push(link);
                } else {
                    links.synced_people.extend(synced.and_then(|s| serde_json::from_str(&s).ok()));
                    links.people.push(link);
                }
            }
            Ok(links)
        })
        .await
    }

    /// Links enterprise object `id` to `platform_id` (replacing either side's earlier link), with the record
    /// Qiao applied or found equal (`synced`; None keeps the one stored).
    pub async fn set_link(
        self: &Arc<Self>,
        connection: String,
        kind: LinkKind,
        id: String,
        platform_id: String,
        synced: Option<String>,
    ) -> Result<()> {
        self.run(move |c| {
            let tx = crate::writer::atomic(c)?;
            // Cached statements: a sync run sets a link per step.
            tx.prepare_cached(
                "DELETE FROM directory_links WHERE connection = ?1 AND kind = ?2 AND platform_id = ?3 AND id <> ?4",
            )?
            .execute(params![connection, kind.as_str(), platform_id, id])?;
            tx.prepare_cached(
                "INSERT INTO directory_links (connection, kind, id, platform_id, synced, updated_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT (connection, kind, id) DO UPDATE SET platform_id = excluded.platform_id,
                     synced = coalesce(excluded.synced, directory_links.synced), updated_ms = excluded.updated_ms,
                     gone_ms = NULL",
            )?
            .execute(params![connection, kind.as_str(), id, platform_id, synced, now_ms()])?;
            tx.commit()
        })
        .await
    }

    /// Forgets the link to a platform object (it was deleted there). Answers the enterprise id it linked.
    pub async fn remove_link(
        self: &Arc<Self>,
        connection: String,
        kind: LinkKind,
        platform_id: String,
    ) -> Result<Option<String>> {
        self.run(move |c| {
            c.query_row(
                "DELETE FROM directory_links WHERE connection = ?1 AND kind = ?2 AND platform_id = ?3 RETURNING id",
                params![connection, kind.as_str(), platform_id],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    /// Marks the link to a platform object the platform deleted (a contact event). Answers the enterprise id.
    pub async fn mark_link_gone(
        self: &Arc<Self>,
        connection: String,
        kind: LinkKind,
        platform_id: String,
    ) -> Result<Option<String>> {
        self.run(move |c| {
            c.query_row(
                "UPDATE directory_links SET gone_ms = ?4 WHERE connection = ?1 AND kind = ?2 AND platform_id = ?3
                 RETURNING id",
                params![connection, kind.as_str(), platform_id, now_ms()],
                |r| r.get(0),
            )
            .optional()
        })
        .await
    }

    /// The platform accounts of a person: (connection, platform user id), by connection name.
    pub async fn accounts(self: &Arc<Self>, person: String) -> Result<Vec<(String, String)>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT connection, platform_id FROM directory_links WHERE kind = 'person' AND id = ?1
                 AND gone_ms IS NULL ORDER BY connection",
            )?;
            let rows = stmt.query_map([person], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
        .await
    }

    /// The person a platform account belongs to, if it is linked.
    pub async fn person_of_account(
        self: &Arc<Self>,
        connection: String,
        platform_id: String,
    ) -> Result<Option<String>> {
        self.run(move |c| {
            c.prepare_cached(
                "SELECT id FROM directory_links WHERE connection = ?1 AND kind = 'person' AND platform_id = ?2
                 AND gone_ms IS NULL",
            )?
            .query_row(params![connection, platform_id], |r| r.get(0))
            .optional()
        })
        .await
    }

    /// The platform ids of these enterprise objects on one connection; those without a link (or whose platform
    /// object was deleted) are absent.
    pub async fn platform_ids(
        self: &Arc<Self>,
        connection: String,
        kind: LinkKind,
        ids: Vec<String>,
    ) -> Result<HashMap<String, String>> {
        self.run(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT platform_id FROM directory_links WHERE connection = ?1 AND kind = ?2 AND id = ?3
                 AND gone_ms IS NULL",
            )?;
            let mut found = HashMap::new();
            for id in ids {
                if let Some(platform_id) =
                    stmt.query_row(params![connection, kind.as_str(), id], |r| r.get::<_, String>(0)).optional()?
                {
                    found.insert(id, platform_id);
                }
            }
            Ok(found)
        })
        .await
    }
}
