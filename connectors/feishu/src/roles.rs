//! Roles as Feishu user groups (用户组, `contact/v3/group`): ordinary groups (`type` 1) only, whose members the
//! app can add and remove; dynamic groups (`type` 2) follow rules set in the admin console.
//!
//! Shapes as in the official SDKs (lark-oapi `lark_oapi/api/contact/v3/model/`, FeishuNetSdk `src/Contact/`):
//! - create: `POST contact/v3/group` with a `Group` body (`name`, `description`, `type`, optional custom
//!   `group_id`) → `data.group_id` (`create_group_request.py`, `create_group_response_body.py`). Names are unique
//!   in a tenant ("用户组名称企业内唯一，如重复设置则会创建失败"); at most 500 groups per tenant.
//! - list: `GET contact/v3/group/simplelist?page_size=&page_token=&type=` → `data{grouplist[Group{id, name,
//!   description, member_user_count, member_department_count, type, group_id}], page_token, has_more}`
//!   (`simplelist_group_request.py`, `simplelist_group_response_body.py`, `group.py`); `id` is what the member
//!   paths take.
//! - members: `GET contact/v3/group/:group_id/member/simplelist?member_id_type=&member_type=user&page_size=
//!   &page_token=` → `data{memberlist[{member_id, member_type}], page_token, has_more}` (page size ≤ 100;
//!   `simplelist_group_member_request.py`, `simplelist_group_member_response_body.py`, `memberlist.py`).
//! - add: `POST contact/v3/group/:group_id/member/batch_add {members[Memberlist{member_id, member_type: "user",
//!   member_id_type}]}` (1 to 100 members) → `data.results[MemberResult{member_id, code}]`, a non-zero code per
//!   refused member (`batch_add_group_member_request_body.py`, `batch_add_group_member_response_body.py`,
//!   `member_result.py`).
//! - remove: `POST contact/v3/group/:group_id/member/batch_remove {members[Memberlist]}` (1 to 100), no `data`
//!   (`batch_remove_group_member_request_body.py`).
//!
//! Feishu's codes for "already a member" and "not a member" are not pinned down in what we could confirm, so the
//! connector does not rely on them: a member `batch_add` refused counts as added when the group's member list has
//! them, and a refused `batch_remove` is retried with only the members the list has.

use std::collections::{BTreeSet, HashSet};

use qiao_sdk::{Error, ErrorKind, required};
use serde_json::{Value, json};

use crate::Feishu;
use crate::client::{enc, get, post, string, user_id_type};
use crate::exports::qiao::connector::roles::{Guest, Role};

/// `batch_add` / `batch_remove` take at most this many members.
const BATCH: usize = 100;
/// The page size limit of both simple lists.
const PAGE: u32 = 100;
/// Pages read for one list; the host's request cap per call (50 by default) bounds it too.
const MAX_PAGES: usize = 45;
/// Ordinary user groups: the ones whose members can be set through the API.
const ORDINARY: u32 = 1;

/// Every item of a paged simple list under `key`.
fn all_pages(path: &str, key: &str, what: &str) -> Result<Vec<Value>, Error> {
    let mut items = Vec::new();
    let mut page_token = String::new();
    for _ in 0..MAX_PAGES {
        let data = get(&format!(
            "{path}&page_size={PAGE}&page_token={}",
            enc(&page_token)
        ))?;
        items.extend(data[key].as_array().into_iter().flatten().cloned());
        match data["page_token"]
            .as_str()
            .filter(|t| !t.is_empty() && data["has_more"] == true)
        {
            Some(next) => page_token = next.to_string(),
            None => return Ok(items),
        }
    }
    Err(Error::invalid_input(format!(
        "more than {} {what}: too many to read in one call (raise the connection's limits.max_http_requests)",
        MAX_PAGES * PAGE as usize
    )))
}

fn groups() -> Result<Vec<Role>, Error> {
    all_pages(
        &format!("contact/v3/group/simplelist?type={ORDINARY}"),
        "grouplist",
        "user groups",
    )?
    .iter()
    .map(|g| {
        Ok(Role {
            id: string(&g["id"], "user group id")?,
            name: g["name"].as_str().unwrap_or_default().to_string(),
        })
    })
    .collect()
}

/// The group's user members, in the configured user id type.
fn members(group_id: &str) -> Result<Vec<String>, Error> {
    let path = format!(
        "contact/v3/group/{}/member/simplelist?member_id_type={}&member_type=user",
        enc(group_id),
        enc(&user_id_type())
    );
    Ok(all_pages(&path, "memberlist", "members in the user group")?
        .iter()
        .filter(|m| m["member_type"].as_str().is_none_or(|t| t == "user"))
        .filter_map(|m| m["member_id"].as_str().map(String::from))
        .collect())
}

/// `user_ids` without blanks and repeats, in their order.
fn distinct(user_ids: &[String]) -> Vec<String> {
    let mut seen = HashSet::new();
    user_ids
        .iter()
        .map(|u| u.trim())
        .filter(|u| !u.is_empty() && seen.insert(*u))
        .map(String::from)
        .collect()
}

fn member_list(user_ids: &[String]) -> Value {
    let id_type = user_id_type();
    let members: Vec<Value> = user_ids
        .iter()
        .map(|id| json!({ "member_id": id, "member_type": "user", "member_id_type": id_type }))
        .collect();
    json!({ "members": members })
}

impl Guest for Feishu {
    fn list_roles() -> Result<Vec<Role>, Error> {
        groups()
    }

    /// A retried create (the first answer lost) finds the group by its name, which is unique in a tenant.
    fn create_role(name: String) -> Result<Role, Error> {
        required(&name, "name")?;
        let name = name.trim().to_string();
        if name.chars().count() > 100 {
            return Err(Error::invalid_input(
                "a Feishu user group name has at most 100 characters",
            ));
        }
        match post(
            "contact/v3/group",
            &json!({ "name": name, "type": ORDINARY }),
        ) {
            Ok(data) => Ok(Role {
                id: string(&data["group_id"], "group_id")?,
                name,
            }),
            Err(e) if matches!(e.kind, ErrorKind::InvalidInput | ErrorKind::Conflict) => {
                match groups()?.into_iter().find(|g| g.name == name) {
                    Some(existing) => Ok(existing),
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    fn list_members(role_id: String) -> Result<Vec<String>, Error> {
        required(&role_id, "role id")?;
        members(&role_id)
    }

    fn add_members(role_id: String, user_ids: Vec<String>) -> Result<(), Error> {
        required(&role_id, "role id")?;
        let path = format!("contact/v3/group/{}/member/batch_add", enc(&role_id));
        let mut refused: Vec<(String, i64)> = Vec::new();
        for chunk in distinct(&user_ids).chunks(BATCH) {
            let data = post(&path, &member_list(chunk))?;
            for result in data["results"].as_array().into_iter().flatten() {
                let code = result["code"].as_i64().unwrap_or(0);
                if code != 0 {
                    let id = result["member_id"].as_str().unwrap_or_default();
                    refused.push((id.to_string(), code));
                }
            }
        }
        if refused.is_empty() {
            return Ok(());
        }
        // Members already in the group are no error, whatever code Feishu gave them.
        let present: HashSet<String> = members(&role_id)?.into_iter().collect();
        refused.retain(|(id, _)| !present.contains(id));
        if refused.is_empty() {
            return Ok(());
        }
        let listed: Vec<String> = refused
            .iter()
            .map(|(id, code)| format!("{id} (code {code})"))
            .collect();
        let first = refused[0].1;
        Err(Error::invalid_input(format!(
            "Feishu did not add {} of the users to user group {role_id}: {} (not users the app can see, \
             in the {} id type); the others were added",
            refused.len(),
            listed.join(", "),
            user_id_type()
        ))
        .with_platform(first, "batch_add refused members"))
    }

    fn remove_members(role_id: String, user_ids: Vec<String>) -> Result<(), Error> {
        required(&role_id, "role id")?;
        let path = format!("contact/v3/group/{}/member/batch_remove", enc(&role_id));
        let mut present: Option<BTreeSet<String>> = None;
        for chunk in distinct(&user_ids).chunks(BATCH) {
            if let Some(present) = &present {
                let holding: Vec<String> = chunk
                    .iter()
                    .filter(|u| present.contains(*u))
                    .cloned()
                    .collect();
                if !holding.is_empty() {
                    post(&path, &member_list(&holding))?;
                }
                continue;
            }
            match post(&path, &member_list(chunk)) {
                Ok(_) => {}
                // Refused, perhaps for a user not in the group (or not a user at all): those are no error, so
                // retry with only the members the group has, and use the list for the chunks after this one.
                Err(e) if matches!(e.kind, ErrorKind::InvalidInput | ErrorKind::NotFound) => {
                    let listed: BTreeSet<String> = members(&role_id)?.into_iter().collect();
                    let holding: Vec<String> = chunk
                        .iter()
                        .filter(|u| listed.contains(*u))
                        .cloned()
                        .collect();
                    if !holding.is_empty() {
                        post(&path, &member_list(&holding))?;
                    }
                    present = Some(listed);
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }
}
