//! Addressing by the enterprise's ids: people and departments of Qiao's directory, turned into one connection's
//! platform ids through the directory's links, with every id that cannot be reached reported (never dropped in
//! silence).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;

use qiao_contract::Capability;
use qiao_store::{Db, LinkKind};
use crate::App;

/// At most this many enterprise ids in one request.
pub const MAX_IDS: usize = 1000;

/// An enterprise id that was not turned into a platform id, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Unresolved {
    pub id: String,
    /// `person`, `department` or `role`.
    pub kind: &'static str,
    /// `unknown_person` (not in the directory), `inactive` (a person who left), `no_account` (no account on the
    /// connection, or on any of the connections asked for), `unknown_department`, `no_link` (a department not
    /// synced to the connection), `no_holder` (a role no active person holds).
    pub reason: &'static str,
}

impl Unresolved {
    fn person(id: &str, reason: &'static str) -> Unresolved {
        Unresolved {
            id: id.to_string(),
            kind: "person",
            reason,
        }
    }
}

/// Each id once, in the order first given.
fn distinct(ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    ids.iter()
        .filter(|id| seen.insert(id.as_str()))
        .cloned()
        .collect()
}

/// Appends the values not already in `to`.
pub fn merge(to: &mut Vec<String>, more: impl IntoIterator<Item = String>) {
    let mut seen: HashSet<String> = to.iter().cloned().collect();
    for item in more {
        if seen.insert(item.clone()) {
            to.push(item);
        }
    }
}

/// Puts the unresolved in the order their ids were given.
fn in_order(ids: &[String], unresolved: &mut [Unresolved]) {
    let mut position = HashMap::new();
    for (i, id) in ids.iter().enumerate() {
        position.entry(id.as_str()).or_insert(i);
    }
    unresolved.sort_by_key(|u| position.get(u.id.as_str()).copied().unwrap_or(usize::MAX));
}

/// The active directory people among `ids`; the others are reported.
async fn active_people(
    db: &Arc<Db>,
    ids: &[String],
    unresolved: &mut Vec<Unresolved>,
) -> Result<Vec<String>> {
    let mut out = Vec::new();
    for id in distinct(ids) {
        match db.person(id.clone()).await? {
            None => unresolved.push(Unresolved::person(&id, "unknown_person")),
            Some(p) if !p.active => unresolved.push(Unresolved::person(&id, "inactive")),
            Some(_) => out.push(id),
        }
    }
    Ok(out)
}

/// The active people holding any of the enterprise `roles`, in directory order; a role nobody active holds is
/// reported (`no_holder`).
pub async fn holders(db: &Arc<Db>, roles: &[String]) -> Result<(Vec<String>, Vec<Unresolved>)> {
    if roles.is_empty() {
        return Ok((Vec::new(), Vec::new()));
    }
    let directory = db.directory().await?;
    let mut held = HashSet::new();
    let people = directory
        .people
        .iter()
        .filter(|p| p.active && p.roles.iter().any(|r| roles.contains(r)))
        .inspect(|p| held.extend(p.roles.iter().cloned()))
        .map(|p| p.id.clone())
        .collect();
    let unresolved = distinct(roles)
        .into_iter()
        .filter(|r| !held.contains(r))
        .map(|id| Unresolved { id, kind: "role", reason: "no_holder" })
        .collect();
    Ok((people, unresolved))
}

/// People on one connection: each resolved person's (id, platform user id), in the order given, and the
/// unresolved ones.
pub async fn people_on(
    db: &Arc<Db>,
    connection: &str,
    ids: &[String],
) -> Result<(Vec<(String, String)>, Vec<Unresolved>)> {
    let mut unresolved = Vec::new();
    let active = active_people(db, ids, &mut unresolved).await?;
    let links = db
        .platform_ids(connection.into(), LinkKind::Person, active.clone())
        .await?;
    let mut found = Vec::new();
    for id in active {
        match links.get(&id) {
            Some(platform) => found.push((id, platform.clone())),
            None => unresolved.push(Unresolved::person(&id, "no_account")),
        }
    }
    in_order(ids, &mut unresolved);
    Ok((found, unresolved))
}

/// One person on one connection: the platform user id, or why there is none.
pub async fn person_on(
    db: &Arc<Db>,
    connection: &str,
    id: &str,
) -> Result<Result<String, Unresolved>> {
    let (found, mut unresolved) = people_on(db, connection, &[id.to_string()]).await?;
    Ok(match found.into_iter().next() {
        Some((_, platform)) => Ok(platform),
        None => Err(unresolved
            .pop()
            .unwrap_or_else(|| Unresolved::person(id, "unknown_person"))),
    })
}

/// Enterprise departments on one connection: the platform department ids, in the order given, and the
/// unresolved ones.
pub async fn departments_on(
    db: &Arc<Db>,
    connection: &str,
    ids: &[String],
) -> Result<(Vec<String>, Vec<Unresolved>)> {
    let ids = distinct(ids);
    let links = db
        .platform_ids(connection.into(), LinkKind::Department, ids.clone())
        .await?;
    let mut found = Vec::new();
    let mut missing = Vec::new();
    for id in ids {
        match links.get(&id) {
            Some(platform) => found.push(platform.clone()),
            None => missing.push(id),
        }
    }
    let mut unresolved = Vec::new();
    if !missing.is_empty() {
        // Only now is the directory read, to tell a department never heard of from one not synced here.
        let known: HashSet<String> = db
            .directory()
            .await?
            .departments
            .into_iter()
            .map(|d| d.id)
            .collect();
        for id in missing {
            let reason = if known.contains(&id) {
                "no_link"
            } else {
                "unknown_department"
            };
            unresolved.push(Unresolved {
                id,
                kind: "department",
                reason,
            });
        }
    }
    Ok((found, unresolved))
}

/// People across connections: which of `connections` (configured, able to `capability`) each active person is
/// reached on.
///
/// `named`: the caller's connections; every one of them where the person has an account. None: the person's
/// preferred one, the first of `preferred` where the person has an account, else the first by name.
/// Answers, per connection in the order first used, the (person id, platform user id) pairs; and the unresolved.
pub async fn people_across(
    app: &App,
    ids: &[String],
    named: Option<&[String]>,
    capability: Capability,
) -> Result<(Vec<(String, Vec<(String, String)>)>, Vec<Unresolved>)> {
    let mut unresolved = Vec::new();
    let active = active_people(&app.db, ids, &mut unresolved).await?;
    let usable = |c: &str| app.runtime.check_callable(c, capability).is_ok();
    let mut plan: Vec<(String, Vec<(String, String)>)> = Vec::new();
    let mut index: HashMap<String, usize> = HashMap::new();
    for id in active {
        let accounts: Vec<(String, String)> = app
            .db
            .accounts(id.clone())
            .await?
            .into_iter()
            .filter(|(c, _)| usable(c))
            .collect();
        let chosen: Vec<&(String, String)> = match named {
            Some(named) => accounts.iter().filter(|(c, _)| named.contains(c)).collect(),
            None => app
                .directory
                .preferred
                .iter()
                .find_map(|p| accounts.iter().find(|(c, _)| c == p))
                .or(accounts.first())
                .into_iter()
                .collect(),
        };
        if chosen.is_empty() {
            unresolved.push(Unresolved::person(&id, "no_account"));
        }
        for (connection, platform) in chosen {
            let at = *index.entry(connection.clone()).or_insert_with(|| {
                plan.push((connection.clone(), Vec::new()));
                plan.len() - 1
            });
            plan[at].1.push((id.clone(), platform.clone()));
        }
    }
    in_order(ids, &mut unresolved);
    Ok((plan, unresolved))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn merge_and_distinct_keep_the_first_order() {
        let mut users = vec!["a".to_string(), "b".to_string()];
        merge(&mut users, ["b", "c", "a", "d"].map(String::from));
        assert_eq!(users, ["a", "b", "c", "d"]);
        assert_eq!(distinct(&["x", "y", "x"].map(String::from)), ["x", "y"]);
    }
}
