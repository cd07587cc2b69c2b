//! Roles are WeCom tags (标签): `tag/list`, `tag/create`, `tag/get` for the members, `tag/addtagusers` and
//! `tag/deltagusers` (at most 1000 userids per call) to change them. A role's id is the tag id, as text. And
//! turning an account off and on is `user/update` with `enable` (1 on, 0 off).
//!
//! A tag may also hold departments (`partylist`); their members hold the tag too (a message to the tag reaches
//! them), but only the members named one by one (`userlist`) are listed and changed here.

use qiao_sdk::{Error, logging, required};
use serde_json::{Value, json};

use crate::WeCom;
use crate::client::{distinct, get, id_text, post};
use crate::exports::qiao::connector::roles::{Guest, Role};
use crate::exports::qiao::connector::user_status;

/// `tag/addtagusers` and `tag/deltagusers` take at most this many userids per call.
const BATCH: usize = 1000;
/// WeCom: a tag name has 1 to 32 characters (汉字 or letters), and no two tags share one.
const MAX_NAME_CHARS: usize = 32;
/// `tag/create` when the name is taken.
const NAME_EXISTS: i64 = 40071;
/// `tag/addtagusers` / `tag/deltagusers` when every userid (and department) given is invalid.
const ALL_INVALID: i64 = 40070;

/// A tag id as WeCom wants it: a positive whole number.
fn tag_id(id: &str) -> Result<i64, Error> {
    id.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            Error::invalid_input(format!(
                "role id must be a WeCom tag id (a positive number), got {id:?}"
            ))
        })
}

fn role(value: &Value) -> Result<Role, Error> {
    Ok(Role {
        id: id_text(&value["tagid"]).ok_or_else(|| Error::internal("a tag without tagid"))?,
        name: value["tagname"].as_str().unwrap_or_default().to_string(),
    })
}

fn list() -> Result<Vec<Role>, Error> {
    let body = get("tag/list")?;
    body["taglist"]
        .as_array()
        .into_iter()
        .flatten()
        .map(role)
        .collect()
}

/// Runs `tag/addtagusers` or `tag/deltagusers` over `user_ids` in batches; the userids WeCom called invalid
/// (`invalidlist`, or the whole batch with 40070), with the batches' errors kept as they were.
fn change(path: &str, role_id: &str, user_ids: Vec<String>) -> Result<Vec<String>, Error> {
    let tag = tag_id(role_id)?;
    let users = distinct(user_ids)?;
    let mut invalid = Vec::new();
    for batch in users.chunks(BATCH) {
        match post(path, &json!({ "tagid": tag, "userlist": batch })) {
            Ok(answer) => invalid.extend(
                answer["invalidlist"]
                    .as_str()
                    .unwrap_or_default()
                    .split('|')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(String::from),
            ),
            Err(e) if e.platform_code.as_deref() == Some(&ALL_INVALID.to_string()) => {
                invalid.extend(batch.iter().cloned())
            }
            Err(e) => return Err(e),
        }
    }
    Ok(invalid)
}

/// At most this many invalid user ids are named in an error.
const NAMED: usize = 20;

fn named(ids: &[String]) -> String {
    let mut text = ids
        .iter()
        .take(NAMED)
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ");
    if ids.len() > NAMED {
        text.push_str(&format!(" and {} more", ids.len() - NAMED));
    }
    text
}

impl Guest for WeCom {
    /// `tag/list`: every tag the app can see.
    fn list_roles() -> Result<Vec<Role>, Error> {
        list()
    }

    /// `tag/create`; WeCom lets no two tags share a name, so a name already taken answers the tag holding it (a
    /// retried create finds the one its first attempt made).
    fn create_role(name: String) -> Result<Role, Error> {
        let name = name.trim().to_string();
        required(&name, "name")?;
        if name.chars().count() > MAX_NAME_CHARS {
            return Err(Error::invalid_input(format!(
                "a WeCom tag name has at most {MAX_NAME_CHARS} characters; {name:?} has {}",
                name.chars().count()
            )));
        }
        match post("tag/create", &json!({ "tagname": name })) {
            Ok(answer) => Ok(Role {
                id: id_text(&answer["tagid"])
                    .ok_or_else(|| Error::internal("tag/create answered no tagid"))?,
                name,
            }),
            Err(e) if e.platform_code.as_deref() == Some(&NAME_EXISTS.to_string()) => {
                match list()?.into_iter().find(|r| r.name == name) {
                    Some(existing) => {
                        logging::info(
                            "a WeCom tag with this name exists already; using it",
                            &[("tagid", &existing.id)],
                        );
                        Ok(existing)
                    }
                    // Taken by a tag this app cannot see.
                    None => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// `tag/get`'s `userlist` (members named one by one; departments in `partylist` are not expanded).
    fn list_members(role_id: String) -> Result<Vec<String>, Error> {
        let tag = tag_id(&role_id)?;
        let body = get(&format!("tag/get?tagid={tag}"))?;
        Ok(body["userlist"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|u| id_text(&u["userid"]))
            .collect())
    }

    /// `tag/addtagusers`, 1000 userids a call. Userids WeCom does not know are an `invalid-input` error naming
    /// them, after the others were added.
    fn add_members(role_id: String, user_ids: Vec<String>) -> Result<(), Error> {
        let invalid = change("tag/addtagusers", &role_id, user_ids)?;
        if invalid.is_empty() {
            return Ok(());
        }
        Err(Error::invalid_input(format!(
            "WeCom has no member with the user id {} (tag {role_id}); the other users were added",
            named(&invalid)
        ))
        .with_platform(ALL_INVALID, format!("invalidlist: {}", invalid.join("|"))))
    }

    /// `tag/deltagusers`, 1000 userids a call. A userid WeCom does not know cannot hold the tag: like a member
    /// not holding it, that is no error (it is logged).
    fn remove_members(role_id: String, user_ids: Vec<String>) -> Result<(), Error> {
        let invalid = change("tag/deltagusers", &role_id, user_ids)?;
        if !invalid.is_empty() {
            logging::warn(
                "WeCom knows no member with these user ids; nothing to remove for them",
                &[("tagid", &role_id), ("user_ids", &named(&invalid))],
            );
        }
        Ok(())
    }
}

impl user_status::Guest for WeCom {
    /// `user/update {userid, enable}`: 1 enables the member, 0 disables it (WeCom's `status` 2) without deleting
    /// it; `user/get` then answers `enable` and `status` accordingly.
    fn set_active(user_id: String, active: bool) -> Result<(), Error> {
        required(&user_id, "user_id")?;
        post(
            "user/update",
            &json!({ "userid": user_id, "enable": i64::from(active) }),
        )
        .map(drop)
    }
}
