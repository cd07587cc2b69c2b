//! What a connection's platform holds now: its departments and users, read through the connector's `identity`,
//! joined with Qiao's links into the planner's [`TargetState`].

use std::collections::HashSet;
use std::sync::Arc;

use futures::{StreamExt, TryStreamExt};

use qiao_contract::calls::{Call, Reply};
use qiao_config::Connection;
use qiao_directory::{PlatformDepartment, PlatformUser, TargetState};
use qiao_runtime::CallError;
use crate::App;

/// Users asked for per page (the connectors cap it at what their platform allows).
const PAGE: u32 = 100;
/// Departments whose users are read at the same time.
const PARALLEL_DEPARTMENTS: usize = 4;

/// The platform's root department when the connection does not name one: where its connector's platform keeps
/// the whole organisation.
pub fn platform_root(app: &App, connection: &Connection) -> Option<String> {
    if let Some(root) = &connection.directory.platform_root {
        return Some(root.clone());
    }
    let platform = app
        .runtime
        .connectors
        .get(&connection.connector)
        .map(|c| c.info.platform.clone())?;
    match platform.as_str() {
        "dingtalk" | "wecom" => Some("1".into()),
        "feishu" => Some("0".into()),
        _ => None,
    }
}

/// Reads every department under the root and every user in them (each user once).
pub async fn read(
    app: &Arc<App>,
    connection: &str,
    root: Option<&str>,
) -> Result<(Vec<PlatformDepartment>, Vec<PlatformUser>), CallError> {
    let reply = app
        .runtime
        .call(
            connection,
            Call::ListDepartments {
                parent: root.map(str::to_string),
                recursive: true,
            },
        )
        .await?;
    let Reply::Departments(found) = reply else {
        return Err(CallError::Host(anyhow::anyhow!(
            "list-departments answered with another kind of reply"
        )));
    };
    let departments: Vec<PlatformDepartment> = found.into_iter().map(Into::into).collect();
    let mut listed: Vec<String> = root.map(str::to_string).into_iter().collect();
    listed.extend(
        departments
            .iter()
            .map(|d| d.id.clone())
            .filter(|id| Some(id.as_str()) != root),
    );

    let pages: Vec<Vec<PlatformUser>> = futures::stream::iter(listed)
        .map(|department| users_of(app, connection, department))
        .buffered(PARALLEL_DEPARTMENTS)
        .try_collect()
        .await?;
    let mut seen = HashSet::new();
    let users = pages
        .into_iter()
        .flatten()
        .filter(|u| seen.insert(u.id.clone()))
        .collect();
    Ok((departments, users))
}

async fn users_of(
    app: &Arc<App>,
    connection: &str,
    department: String,
) -> Result<Vec<PlatformUser>, CallError> {
    let mut users = Vec::new();
    let mut cursor = None;
    loop {
        let call = Call::ListUsers {
            department: department.clone(),
            cursor,
            limit: PAGE,
        };
        let Reply::UserPage(page) = app.runtime.call(connection, call).await? else {
            return Err(CallError::Host(anyhow::anyhow!(
                "list-users answered with another kind of reply"
            )));
        };
        users.extend(page.users.into_iter().map(PlatformUser::from));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return Ok(users),
        }
    }
}

/// The planner's view of a connection: what the platform holds, and Qiao's links and synced records.
pub async fn target_state(
    app: &Arc<App>,
    connection: &str,
    root: Option<&str>,
) -> anyhow::Result<TargetState> {
    let (departments, users) = read(app, connection, root).await?;
    let links = app.db.links(connection.to_string()).await?;
    Ok(TargetState {
        departments,
        users,
        department_links: links.departments,
        person_links: links.people,
        synced_departments: links.synced_departments,
        synced_people: links.synced_people,
    })
}
