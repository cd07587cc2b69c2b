//! Pulling the enterprise directory from a source connection (`[directory] source`, e.g. an HR system exporting
//! `identity`): its departments and users become Qiao's departments and people, under the source's ids.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use anyhow::Result;

use qiao_store::Replaced;
use qiao_directory::{Department, Directory, Person, PlatformUser};
use qiao_runtime::CallError;
use crate::App;

/// Replaces the stored directory with the source's. Roles are not part of `identity`: a person keeps the roles
/// stored for them (pushed through the API).
pub async fn pull(app: &Arc<App>, source: &str) -> Result<Replaced> {
    let conn = app
        .runtime
        .connections
        .get(source)
        .ok_or_else(|| CallError::UnknownConnection(source.into()))?;
    let root = super::platform::platform_root(app, conn);
    let (departments, users) = super::platform::read(app, source, root.as_deref()).await?;

    let known: HashSet<&str> = departments
        .iter()
        .map(|d| d.id.as_str())
        .filter(|id| Some(*id) != root.as_deref())
        .collect();
    let user_ids: HashSet<&str> = users.iter().map(|u| u.id.as_str()).collect();
    let lock = app.directory_locks.get("");
    let _held = lock.lock().await;
    let roles: HashMap<String, Vec<String>> = app
        .db
        .directory()
        .await?
        .people
        .into_iter()
        .map(|p| (p.id, p.roles))
        .collect();
    let directory = Directory {
        departments: departments
            .iter()
            .filter(|d| known.contains(d.id.as_str()))
            .map(|d| Department {
                id: d.id.clone(),
                name: d.name.clone(),
                parent_id: d.parent_id.clone().filter(|p| known.contains(p.as_str())),
                order: d.order,
            })
            .collect(),
        people: users
            .iter()
            .map(|u| {
                let roles = roles.get(&u.id).cloned().unwrap_or_default();
                person_of(u, |d| known.contains(d), |m| user_ids.contains(m), roles)
            })
            .collect(),
    };
    directory
        .check()
        .map_err(|invalid| anyhow::anyhow!("the source's directory is not usable: {invalid}"))?;
    app.db.replace_directory(directory).await
}

/// The person a source's user is: its departments and manager kept where the directory has them.
pub fn person_of(
    user: &PlatformUser,
    has_department: impl Fn(&str) -> bool,
    has_person: impl Fn(&str) -> bool,
    roles: Vec<String>,
) -> Person {
    Person {
        id: user.id.clone(),
        employee_no: user.employee_no.clone(),
        name: user.name.clone(),
        mobile: user.mobile.clone(),
        email: user.email.clone(),
        title: user.title.clone(),
        manager_id: user.manager_id.clone().filter(|m| has_person(m)),
        department_ids: user
            .department_ids
            .iter()
            .filter(|d| has_department(d))
            .cloned()
            .collect(),
        active: user.active,
        roles,
    }
}
