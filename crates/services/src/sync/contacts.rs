//! Contact-change events (`contact.user_*`, `contact.department_*` from the connectors' webhooks) keep Qiao's
//! view current between runs:
//! - on the directory's source connection, the changed person or department is read and stored at once;
//! - on any other connection, a user deleted on the platform stops being an address (its link is marked gone,
//!   and the next plan reports it), and a new user matching an unlinked person by mobile, email or employee
//!   number (exactly one) is linked.

use std::collections::HashSet;
use std::sync::Arc;

use anyhow::Result;

use qiao_contract::bindings::types::Event;
use qiao_contract::calls::{Call, Reply};
use qiao_store::LinkKind;
use qiao_directory::model::{normalize_email, normalize_employee_no, normalize_mobile};
use qiao_directory::{Department, Person, PlatformDepartment, PlatformUser};
use crate::App;

/// The contact events among `events`, as (kind, platform id).
pub fn contact_changes(events: &[Event]) -> Vec<(String, String)> {
    events
        .iter()
        .filter(|e| e.kind.starts_with("contact.") && !e.subject.is_empty())
        .map(|e| (e.kind.clone(), e.subject.clone()))
        .collect()
}

/// Applies the changes; each failure is logged and the rest still applied (the next run repairs any).
pub async fn apply(app: Arc<App>, connection: String, changes: Vec<(String, String)>) {
    let source = app.directory.source.as_deref() == Some(connection.as_str());
    for (kind, id) in changes {
        let done = if source {
            source_change(&app, &connection, &kind, &id).await
        } else {
            target_change(&app, &connection, &kind, &id).await
        };
        if let Err(e) = done {
            tracing::warn!(%connection, kind, "contact event not applied to the directory: {e:#}");
        }
    }
}

async fn get_user(app: &App, connection: &str, id: &str) -> Result<PlatformUser> {
    match app.runtime.call(connection, Call::GetUser { id: id.to_string() }).await? {
        Reply::User(user) => Ok(user.into()),
        _ => anyhow::bail!("get-user answered with another kind of reply"),
    }
}

async fn target_change(app: &Arc<App>, connection: &str, kind: &str, id: &str) -> Result<()> {
    match kind {
        "contact.user_deleted" => {
            if let Some(person) = app
                .db
                .mark_link_gone(connection.into(), LinkKind::Person, id.into())
                .await?
            {
                tracing::info!(%connection, %person, "a linked account was deleted on the platform: no longer an address");
            }
        }
        "contact.department_deleted" => {
            app.db
                .mark_link_gone(connection.into(), LinkKind::Department, id.into())
                .await?;
        }
        "contact.user_created" | "contact.user_updated" => {
            if app
                .db
                .person_of_account(connection.into(), id.into())
                .await?
                .is_some()
            {
                return Ok(());
            }
            let user = get_user(app, connection, id).await?;
            let linked: HashSet<String> = app
                .db
                .links(connection.into())
                .await?
                .people
                .into_iter()
                .map(|l| l.id)
                .collect();
            let directory = app.db.directory().await?;
            let unlinked = directory
                .people
                .iter()
                .filter(|p| p.active && !linked.contains(&p.id));
            if let Some(person) = only_match(unlinked, &user) {
                app.db
                    .set_link(
                        connection.into(),
                        LinkKind::Person,
                        person.id.clone(),
                        user.id.clone(),
                        None,
                    )
                    .await?;
                tracing::info!(%connection, person = %person.id, "a new platform account was linked to its person");
            }
        }
        _ => {}
    }
    Ok(())
}

/// The one person `user` matches by mobile, else email, else employee number; none when no key matches
/// exactly one person (ambiguity is never guessed).
fn only_match<'a>(
    people: impl Iterator<Item = &'a Person> + Clone,
    user: &PlatformUser,
) -> Option<&'a Person> {
    type Normalize = fn(&str) -> std::borrow::Cow<'_, str>;
    type Of = fn(&Person) -> Option<&String>;
    let keys: [(Option<&String>, Of, Normalize); 3] = [
        (
            user.mobile.as_ref(),
            |p| p.mobile.as_ref(),
            normalize_mobile,
        ),
        (user.email.as_ref(), |p| p.email.as_ref(), normalize_email),
        (
            user.employee_no.as_ref(),
            |p| p.employee_no.as_ref(),
            normalize_employee_no,
        ),
    ];
    for (value, of, normalize) in keys {
        let Some(value) = value.filter(|v| !v.trim().is_empty()) else {
            continue;
        };
        let wanted = normalize(value);
        let mut found = people
            .clone()
            .filter(|p| of(p).is_some_and(|v| normalize(v) == wanted));
        match (found.next(), found.next()) {
            (Some(person), None) => return Some(person),
            (Some(_), Some(_)) => return None,
            _ => {}
        }
    }
    None
}

async fn source_change(app: &Arc<App>, connection: &str, kind: &str, id: &str) -> Result<()> {
    let lock = app.directory_locks.get("");
    let _held = lock.lock().await;
    let mut directory = app.db.directory().await?;
    match kind {
        "contact.user_created" | "contact.user_updated" => {
            let user = get_user(app, connection, id).await?;
            let departments: HashSet<&str> = directory
                .departments
                .iter()
                .map(|d| d.id.as_str())
                .collect();
            let people: HashSet<&str> = directory.people.iter().map(|p| p.id.as_str()).collect();
            let roles = directory
                .people
                .iter()
                .find(|p| p.id == id)
                .map(|p| p.roles.clone())
                .unwrap_or_default();
            let person = super::pull::person_of(
                &user,
                |d| departments.contains(d),
                |m| people.contains(m),
                roles,
            );
            match directory.people.iter_mut().find(|p| p.id == id) {
                Some(slot) => *slot = person,
                None => directory.people.push(person),
            }
        }
        "contact.user_deleted" => match directory.people.iter_mut().find(|p| p.id == id) {
            // Kept, inactive: the targets deactivate the accounts on their next run.
            Some(person) => person.active = false,
            None => return Ok(()),
        },
        "contact.department_created" | "contact.department_updated" => {
            let Reply::Department(found) = app
                .runtime
                .call(connection, Call::GetDepartment { id: id.to_string() })
                .await?
            else {
                anyhow::bail!("get-department answered with another kind of reply");
            };
            let found = PlatformDepartment::from(found);
            let known: HashSet<String> =
                directory.departments.iter().map(|d| d.id.clone()).collect();
            let department = Department {
                id: found.id.clone(),
                name: found.name,
                parent_id: found.parent_id.filter(|p| known.contains(p)),
                order: found.order,
            };
            match directory.departments.iter_mut().find(|d| d.id == id) {
                Some(slot) => *slot = department,
                None => directory.departments.push(department),
            }
        }
        "contact.department_deleted" => directory.departments.retain(|d| d.id != id),
        _ => return Ok(()),
    }
    directory
        .check()
        .map_err(|invalid| anyhow::anyhow!("the directory would not be valid: {invalid}"))?;
    app.db.replace_directory(directory).await?;
    tracing::info!(%connection, kind, "the directory followed a change at its source");
    Ok(())
}
