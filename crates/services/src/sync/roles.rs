//! Role mapping: the enterprise's roles (a person's `roles`) held by the platform's roles, tags or user groups
//! named in the connection's `directory.roles`. Qiao creates a missing platform role, gives it to the linked
//! active people holding the enterprise role, and takes it from linked people who no longer hold it; platform
//! users Qiao has no link for keep whatever roles they have.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use anyhow::Result;
use serde::Serialize;
use serde_json::Value;

use qiao_contract::calls::{Call, Reply};
use qiao_contract::Capability;
use qiao_store::{Enqueued, LinkKind, Status};
use qiao_directory::Directory;
use qiao_runtime::CallError;
use crate::App;
use crate::outbox::Origin;

/// One mapped role: what to change on the platform, and what happened.
#[derive(Debug, Clone, Serialize)]
pub struct RoleChange {
    /// The enterprise role.
    pub role: String,
    /// The platform role's name and id (none until created).
    pub platform_role: String,
    pub platform_role_id: Option<String>,
    pub create: bool,
    /// Platform user ids to give the role to, and to take it from.
    pub add: Vec<String>,
    pub remove: Vec<String>,
    /// People holding the role without an account on this platform.
    pub unresolved: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
}

fn unexpected() -> CallError {
    CallError::Host(anyhow::anyhow!(
        "the connector answered with another kind of reply"
    ))
}

/// What the platform's mapped roles need, reading the platform's roles and members now.
pub async fn plan(
    app: &Arc<App>,
    connection: &str,
    mapping: &std::collections::BTreeMap<String, String>,
    source: &Directory,
) -> Result<Vec<RoleChange>, CallError> {
    if mapping.is_empty() {
        return Ok(Vec::new());
    }
    app.runtime.check_callable(connection, Capability::Roles)?;
    let Reply::Roles(existing) = app.runtime.call(connection, Call::ListRoles {}).await? else {
        return Err(unexpected());
    };
    let by_name: HashMap<String, String> = existing.into_iter().map(|r| (r.name, r.id)).collect();
    let people: Vec<String> = source.people.iter().map(|p| p.id.clone()).collect();
    let links = app
        .db
        .platform_ids(connection.to_string(), LinkKind::Person, people)
        .await
        .map_err(CallError::Host)?;
    let managed: BTreeSet<&str> = links.values().map(String::as_str).collect();

    let mut changes = Vec::new();
    for (role, platform_role) in mapping {
        let mut desired = BTreeSet::new();
        let mut unresolved = Vec::new();
        for person in source
            .people
            .iter()
            .filter(|p| p.active && p.roles.contains(role))
        {
            match links.get(&person.id) {
                Some(user) => {
                    desired.insert(user.clone());
                }
                None => unresolved.push(person.id.clone()),
            }
        }
        let id = by_name.get(platform_role).cloned();
        let current: BTreeSet<String> = match &id {
            Some(id) => match app
                .runtime
                .call(connection, Call::ListRoleMembers { role_id: id.clone() })
                .await?
            {
                Reply::Members(members) => members.into_iter().collect(),
                _ => return Err(unexpected()),
            },
            None => BTreeSet::new(),
        };
        changes.push(RoleChange {
            role: role.clone(),
            platform_role: platform_role.clone(),
            create: id.is_none(),
            platform_role_id: id,
            add: desired.difference(&current).cloned().collect(),
            remove: current
                .iter()
                .filter(|u| managed.contains(u.as_str()) && !desired.contains(*u))
                .cloned()
                .collect(),
            unresolved,
            error: None,
        });
    }
    Ok(changes)
}

/// Applies the changes through the outbox, one role after another; a failure is recorded on its role.
pub async fn apply(
    app: &Arc<App>,
    connection: &str,
    run: i64,
    changes: &mut [RoleChange],
) -> Result<()> {
    let actor = Some(format!("sync-run-{run}"));
    for change in changes.iter_mut() {
        if change.create {
            match write(
                app,
                connection,
                Call::CreateRole {
                    name: change.platform_role.clone(),
                },
                &actor,
            )
            .await?
            {
                Ok(result) => {
                    change.platform_role_id = result["body"]["id"].as_str().map(str::to_string)
                }
                Err(error) => {
                    change.error = Some(error);
                    continue;
                }
            }
        }
        let Some(role_id) = change.platform_role_id.clone() else {
            continue;
        };
        let writes = [
            (!change.add.is_empty()).then(|| Call::AddRoleMembers {
                role_id: role_id.clone(),
                user_ids: change.add.clone(),
            }),
            (!change.remove.is_empty()).then(|| Call::RemoveRoleMembers {
                role_id: role_id.clone(),
                user_ids: change.remove.clone(),
            }),
        ];
        for w in writes.into_iter().flatten() {
            if let Err(error) = write(app, connection, w, &actor).await? {
                change.error = Some(error);
                break;
            }
        }
    }
    Ok(())
}

/// One write through the outbox, waited for: its stored result, or its error.
async fn write(
    app: &Arc<App>,
    connection: &str,
    write: Call,
    actor: &Option<String>,
) -> Result<Result<Value, Value>> {
    let op = match app
        .outbox
        .accept(&app.db, connection, &write, Origin { actor: actor.clone(), ..Default::default() })
        .await?
    {
        Enqueued::New(row) | Enqueued::Existing(row) | Enqueued::Conflict(row) => row.id,
    };
    let row = super::apply::wait_final(app, op).await?;
    Ok(if row.status == Status::Succeeded {
        Ok(row.result.unwrap_or(Value::Null))
    } else {
        Err(row.last_error.unwrap_or(Value::Null))
    })
}
