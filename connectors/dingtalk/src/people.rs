//! userid ↔ unionId. Qiao speaks DingTalk userids (the organisation's ids), but the new API's to-dos name people
//! by unionId. Both directions are cached in kv: a person's unionId never changes within an organisation, so
//! the cache only expires to bound its size.

use qiao_sdk::{Error, ErrorKind, config, json_kv};
use serde_json::json;

use crate::client::{oapi, string};

/// A month: long enough that a busy connection rarely asks twice, short enough that leavers drop out.
const TTL_S: u32 = 30 * 24 * 3600;

fn union_key(userid: &str) -> String {
    format!("unionid:{userid}")
}

fn userid_key(unionid: &str) -> String {
    format!("userid:{unionid}")
}

/// A cache: a refused write (a full kv quota) costs a lookup next time, not this call.
fn remember(userid: &str, unionid: &str) {
    json_kv::keep(&union_key(userid), &unionid, Some(TTL_S));
    json_kv::keep(&userid_key(unionid), &userid, Some(TTL_S));
}

/// The unionId of a userid, from `topapi/v2/user/get` (`result.unionid`) the first time.
pub fn unionid(userid: &str) -> Result<String, Error> {
    if let Some(cached) = json_kv::get::<String>(&union_key(userid)) {
        return Ok(cached);
    }
    let body = oapi("/topapi/v2/user/get", &json!({ "userid": userid }))?;
    let unionid = string(&body["result"]["unionid"], "result.unionid")?;
    remember(userid, &unionid);
    Ok(unionid)
}

pub fn unionids(userids: &[String]) -> Result<Vec<String>, Error> {
    userids.iter().map(|u| unionid(u)).collect()
}

/// The userid of a unionId, from `topapi/user/getbyunionid` the first time. A unionId outside the organisation
/// (an external contact on a to-do) has none: it is answered as it is, so nobody silently disappears from a
/// to-do's people. Any other failure is the caller's error, not a wrong id.
pub fn userid(unionid: &str) -> Result<String, Error> {
    if let Some(cached) = json_kv::get::<String>(&userid_key(unionid)) {
        return Ok(cached);
    }
    match oapi("/topapi/user/getbyunionid", &json!({ "unionid": unionid }))
        .and_then(|body| string(&body["result"]["userid"], "result.userid"))
    {
        Ok(userid) => {
            remember(&userid, unionid);
            Ok(userid)
        }
        Err(e) if e.kind == ErrorKind::NotFound => Ok(unionid.to_string()),
        Err(e) => Err(e),
    }
}

pub fn userids(unionids: &[String]) -> Result<Vec<String>, Error> {
    unionids.iter().map(|u| userid(u)).collect()
}

/// The configured `operator_user_id`: whom the app acts as where DingTalk wants a person and the caller named
/// none (a to-do's creator, a scene group's owner, the user whose to-dos are listed).
pub fn operator() -> Option<String> {
    config::get("operator_user_id").filter(|v| !v.trim().is_empty())
}
