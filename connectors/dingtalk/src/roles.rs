//! DingTalk roles (角色), which the enterprise's roles map to, on the old API.
//!
//! - list: `POST /topapi/role/list {size, offset}` → `result{hasMore, list:[{groupId, name, roles:[{id, name}]}]}`,
//!   a page of role *groups*, each with its roles.
//! - create: a DingTalk role lives in a role group. Qiao makes its own group, [`GROUP_NAME`], once
//!   (`POST /role/add_role_group {name}` → `{groupId}`), remembers its id in `kv`, and creates roles in it
//!   (`POST /role/add_role {roleName, groupId}` → `{roleId}`).
//! - members: `POST /topapi/role/simplelist {role_id, size, offset}` → `result{hasMore, list:[{userid, name}]}`.
//! - add / remove: `POST /topapi/role/addrolesforemps` / `removerolesforemps` `{roleIds:"1,2", userIds:"a,b"}`,
//!   at most 20 roles and 20 (add) or 100 (remove) users a request.
//!
//! There is no `user-status` here: DingTalk offers an app no way to disable an account and enable it again
//! (only to delete it), so this connector does not export that interface, and directory sync deletes leavers.

use qiao_sdk::{Error, ErrorKind, json_kv, kv, logging, required};
use serde_json::{Value, json};

use crate::DingTalk;
use crate::client::{id_text, oapi, oapi_paced, string};
use crate::exports::qiao::connector::roles::{Guest, Role};

/// The role group Qiao creates its roles in.
const GROUP_NAME: &str = "Qiao";
/// Where the group's id is remembered.
const GROUP_KEY: &str = "roles:group-id";
/// `topapi/role/list` pages hold at most 200 groups.
const GROUP_PAGE: u64 = 200;
/// `topapi/role/simplelist` pages hold at most 100 users.
const MEMBER_PAGE: u64 = 100;
/// `addrolesforemps` takes at most 20 user ids a request; `removerolesforemps` 100.
const ADD_BATCH: usize = 20;
const REMOVE_BATCH: usize = 100;

/// Every role group with its roles, page by page.
fn groups() -> Result<Vec<Value>, Error> {
    let mut groups = Vec::new();
    let mut offset = 0;
    loop {
        let body = oapi_paced(
            "/topapi/role/list",
            &json!({ "size": GROUP_PAGE, "offset": offset }),
        )?;
        let page = body["result"]["list"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let more = body["result"]["hasMore"].as_bool().unwrap_or(false) && !page.is_empty();
        offset += page.len() as u64;
        groups.extend(page);
        if !more {
            return Ok(groups);
        }
    }
}

fn roles_of(group: &Value) -> impl Iterator<Item = Role> + '_ {
    group["roles"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|role| {
            Some(Role {
                id: id_text(&role["id"])?,
                name: role["name"].as_str().unwrap_or_default().to_string(),
            })
        })
}

/// A role id as DingTalk's number, or `invalid-input`.
fn role_number(id: &str) -> Result<i64, Error> {
    id.trim().parse().map_err(|_| {
        Error::invalid_input(format!(
            "role id must be a DingTalk role id (a number), got {id:?}"
        ))
    })
}

/// The id of Qiao's role group: remembered, else found by name (the `kv` entry may be gone), else created.
fn group_id() -> Result<i64, Error> {
    if let Some(id) = json_kv::get::<i64>(GROUP_KEY) {
        return Ok(id);
    }
    let existing = groups()?
        .iter()
        .find(|g| g["name"] == GROUP_NAME)
        .and_then(|g| id_text(&g["groupId"]));
    let id = match existing {
        Some(id) => id,
        None => {
            let body = oapi("/role/add_role_group", &json!({ "name": GROUP_NAME }))?;
            string(&body["groupId"], "add_role_group: groupId")?
        }
    };
    let id: i64 = id
        .parse()
        .map_err(|_| Error::internal(format!("DingTalk gave a role group id {id:?}")))?;
    json_kv::set(GROUP_KEY, &id, None)?;
    Ok(id)
}

fn add_role(name: &str, group: i64) -> Result<Role, Error> {
    let body = oapi(
        "/role/add_role",
        &json!({ "roleName": name, "groupId": group }),
    )?;
    Ok(Role {
        id: string(&body["roleId"], "add_role: roleId")?,
        name: name.to_string(),
    })
}

/// `addrolesforemps` or `removerolesforemps` for one batch.
fn change(path: &str, role: i64, users: &[String]) -> Result<(), Error> {
    let body = json!({ "roleIds": role.to_string(), "userIds": users.join(",") });
    oapi(path, &body).map(drop)
}

/// Each user of a batch DingTalk refused with "invalid userIds" (33012) on their own, which names the unknown
/// ones and still changes the role of the others. Returns the unknown users.
fn one_by_one(path: &str, role: i64, users: &[String]) -> Result<Vec<String>, Error> {
    let mut unknown = Vec::new();
    for user in users {
        match change(path, role, std::slice::from_ref(user)) {
            Ok(()) => {}
            Err(e) if e.kind == ErrorKind::NotFound && is_user_error(&e) => {
                unknown.push(user.clone())
            }
            Err(e) => return Err(e),
        }
    }
    Ok(unknown)
}

/// 33012 (invalid user ids), as opposed to 33011 (invalid role id), which is also `not-found`.
fn is_user_error(e: &Error) -> bool {
    e.platform_code.as_deref() == Some("33012")
}

/// Distinct, non-blank user ids, in the caller's order.
fn distinct(user_ids: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    user_ids
        .into_iter()
        .map(|id| id.trim().to_string())
        .filter(|id| !id.is_empty() && seen.insert(id.clone()))
        .collect()
}

impl Guest for DingTalk {
    /// Every role of every group (DingTalk's own, such as 默认 / 主管, and Qiao's), by its role name.
    fn list_roles() -> Result<Vec<Role>, Error> {
        Ok(groups()?.iter().flat_map(roles_of).collect())
    }

    /// A role in Qiao's group. Creating a name Qiao's group has already answers that role (a retried create
    /// finds its first attempt's role); a name taken in another group is a `conflict`.
    fn create_role(name: String) -> Result<Role, Error> {
        required(&name, "name")?;
        let name = name.trim().to_string();
        let group = group_id()?;
        let created = match add_role(&name, group) {
            // The group was deleted in the admin console: find or make it again, once.
            Err(e) if e.platform_code.as_deref() == Some("34020") => {
                kv::delete(GROUP_KEY);
                let group = group_id()?;
                add_role(&name, group).map(|role| (role, group))
            }
            other => other.map(|role| (role, group)),
        };
        match created {
            Ok((role, _)) => Ok(role),
            Err(e) if e.kind == ErrorKind::Conflict => {
                let group = json_kv::get::<i64>(GROUP_KEY).unwrap_or(group);
                let holder = groups()?.into_iter().find_map(|g| {
                    let role = roles_of(&g).find(|r| r.name == name)?;
                    Some((g, role))
                });
                match holder {
                    Some((g, role)) if id_text(&g["groupId"]) == Some(group.to_string()) => {
                        Ok(role)
                    }
                    Some((g, role)) => Err(Error {
                        message: format!(
                            "DingTalk has a role named {name:?} already (id {}, in role group {:?}): use it, or \
                             choose another name",
                            role.id,
                            g["name"].as_str().unwrap_or_default()
                        ),
                        ..e
                    }),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn list_members(role_id: String) -> Result<Vec<String>, Error> {
        let role = role_number(&role_id)?;
        let mut members = Vec::new();
        let mut offset = 0;
        loop {
            let body = oapi_paced(
                "/topapi/role/simplelist",
                &json!({ "role_id": role, "size": MEMBER_PAGE, "offset": offset }),
            )?;
            let page = body["result"]["list"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let more = body["result"]["hasMore"].as_bool().unwrap_or(false);
            offset += page.len() as u64;
            for user in &page {
                members.push(string(&user["userid"], "simplelist: userid")?);
            }
            if !more || page.is_empty() {
                return Ok(members);
            }
        }
    }

    /// In batches of 20. When DingTalk refuses a batch for an unknown user id (33012, which names none), its users
    /// are added one by one: the known ones get the role, and the error names the unknown ones.
    fn add_members(role_id: String, user_ids: Vec<String>) -> Result<(), Error> {
        let role = role_number(&role_id)?;
        let path = "/topapi/role/addrolesforemps";
        let mut unknown = Vec::new();
        let mut refusal = None;
        for batch in distinct(user_ids).chunks(ADD_BATCH) {
            match change(path, role, batch) {
                Ok(()) => {}
                Err(e) if is_user_error(&e) => {
                    unknown.extend(one_by_one(path, role, batch)?);
                    refusal = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        match refusal {
            Some(e) if !unknown.is_empty() => Err(Error {
                message: format!(
                    "not users of this DingTalk organisation: {}; the role was given to the others",
                    unknown.join(", ")
                ),
                ..e
            }),
            _ => Ok(()),
        }
    }

    /// In batches of 100. A user id DingTalk does not know holds no role, so it is no error (as the contract
    /// has it for users not holding the role): such a batch is retried user by user, skipping the unknown ones.
    fn remove_members(role_id: String, user_ids: Vec<String>) -> Result<(), Error> {
        let role = role_number(&role_id)?;
        let path = "/topapi/role/removerolesforemps";
        for batch in distinct(user_ids).chunks(REMOVE_BATCH) {
            match change(path, role, batch) {
                Ok(()) => {}
                Err(e) if is_user_error(&e) => {
                    let unknown = one_by_one(path, role, batch)?;
                    logging::info(
                        "role not taken from unknown users",
                        &[("users", &unknown.join(","))],
                    );
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
