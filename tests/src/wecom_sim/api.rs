//! The HTTP side: one handler that does what every WeCom endpoint does first (faults, QPS, token), then dispatches
//! on the path under `/cgi-bin/`. Errors are HTTP 200 with a non-zero `errcode`, as WeCom sends them.
//!
//! Codes marked "guessed" are not in the platform reference or WeCom's documents as we have them; they are
//! plausible neighbours of documented codes, and a connector should treat them as opaque failures.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State as Extract};
use axum::http::{Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::{Dept, Detail, Fault, Message, Node, State, Tag, User};
use super::{appchat, todo};

type Shared = Arc<Mutex<State>>;
pub(super) type Params = HashMap<String, String>;

pub fn router(state: Shared) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// A success: `errcode` 0 plus the fields. Most reads say "ok"; contact writes say "created", "updated" or
/// "deleted", as WeCom's do (a connector must look at `errcode`, never `errmsg`).
fn done(errmsg: &str, fields: Value) -> Response {
    let mut body = json!({ "errcode": 0, "errmsg": errmsg });
    body.as_object_mut()
        .unwrap()
        .extend(fields.as_object().cloned().unwrap_or_default());
    axum::Json(body).into_response()
}

pub(super) fn ok(fields: Value) -> Response {
    done("ok", fields)
}

/// An error: HTTP 200 with a non-zero `errcode`.
pub(super) fn err(code: i64, message: &str) -> Response {
    axum::Json(json!({ "errcode": code, "errmsg": message })).into_response()
}

async fn handle(
    Extract(shared): Extract<Shared>,
    method: Method,
    uri: Uri,
    Query(query): Query<Params>,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let fault = {
        let mut state = shared.lock().unwrap();
        state.requests.push(path.clone());
        state.take_fault(&path)
    };
    match fault {
        Some(Fault::Status(status)) => {
            return (
                StatusCode::from_u16(status).unwrap(),
                "<html>upstream error</html>",
            )
                .into_response();
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::Busy) => return err(-1, "system busy"),
        Some(Fault::RateLimit) => return err(45009, "api freq out of limit"),
        Some(Fault::Concurrency) => return err(45033, "api concurrent out of limit"),
        Some(Fault::IpNotTrusted) => {
            return err(
                60020,
                "not allow to access from your ip, from ip: 127.0.0.1",
            );
        }
        Some(Fault::RevokeToken) => {
            if let Some(token) = query.get("access_token") {
                shared.lock().unwrap().tokens.remove(token);
                return err(42001, "access_token expired");
            }
        }
        None => {}
    }
    let Some(op) = path.strip_prefix("/cgi-bin/").map(str::to_string) else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(_) => return err(47001, "data format error"),
        }
    };
    let mut state = shared.lock().unwrap();
    // gettoken has its own, separate limits in WeCom; keep it out of the test QPS.
    if op != "gettoken" {
        if !state.within_qps(&path) {
            return err(45009, "api freq out of limit");
        }
        // WeCom checks the token before the parameters.
        match query.get("access_token").map(|t| state.token_valid(t)) {
            None => return err(41001, "access_token missing"),
            Some(Ok(())) => {}
            Some(Err("expired")) => return err(42001, "access_token expired"),
            Some(Err(_)) => return err(40014, "invalid access_token"),
        }
    }
    route(&mut state, &method, &op, &query, &body)
}

/// An error found in a helper, turned into an answer by its caller: (errcode, errmsg).
type Refusal = (i64, String);

fn refuse(code: i64, message: &str) -> Refusal {
    (code, message.to_string())
}

/// A string field, also from a number (WeCom is loose about `"1"` versus `1`).
pub(super) fn text(body: &Value, key: &str) -> String {
    match &body[key] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

pub(super) fn number(body: &Value, key: &str) -> Option<i64> {
    match &body[key] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

pub(super) fn param(query: &Params, key: &str) -> String {
    query.get(key).cloned().unwrap_or_default()
}

/// `[2, "3"]` → [2, 3]; None when an element is not a number.
fn numbers(value: &Value) -> Option<Vec<i64>> {
    match value {
        Value::Null => Some(vec![]),
        Value::Array(items) => items
            .iter()
            .map(|v| match v {
                Value::Number(n) => n.as_i64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            })
            .collect(),
        Value::Number(n) => n.as_i64().map(|n| vec![n]),
        _ => None,
    }
}

pub(super) fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect()
}

/// "a|b" → ["a", "b"]
fn bar_list(text: &str) -> Vec<String> {
    text.split('|')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
        .collect()
}

fn route(state: &mut State, method: &Method, op: &str, query: &Params, body: &Value) -> Response {
    match (method.as_str(), op) {
        ("GET", "gettoken") => gettoken(state, query),
        ("POST", "department/create") => create_dept(state, body),
        ("POST", "department/update") => update_dept(state, body),
        ("GET", "department/delete") => delete_dept(state, query),
        ("GET", "department/list" | "department/simplelist") => list_depts(state, op, query),
        ("GET", "department/get") => {
            match param(query, "id")
                .parse()
                .ok()
                .and_then(|id: i64| state.depts.get(&id))
            {
                Some(d) => ok(json!({ "department": state.dept_json(d) })),
                None => err(60123, "invalid party id"),
            }
        }
        ("POST", "user/create") => create_user(state, body),
        ("POST", "user/update") => update_user(state, body),
        ("GET", "user/get") => match state.users.get(&param(query, "userid")) {
            Some(u) => ok(state.user_json(u)),
            None => err(60111, "userid not found"),
        },
        ("GET", "user/delete") => match state.users.remove(&param(query, "userid")) {
            Some(user) => {
                // A deleted member leaves its tags.
                for tag in state.tags.values_mut() {
                    tag.users.retain(|u| *u != user.userid);
                }
                done("deleted", json!({}))
            }
            None => err(60111, "userid not found"),
        },
        ("POST", "user/list_id") => list_ids(state, body),
        ("POST", "tag/create") => create_tag(state, body),
        ("POST", "tag/update") => update_tag(state, body),
        ("GET", "tag/delete") => match tag_of(state, &param(query, "tagid")) {
            Some(id) => {
                state.tags.remove(&id);
                done("deleted", json!({}))
            }
            None => no_tag(),
        },
        ("GET", "tag/get") => match tag_of(state, &param(query, "tagid")) {
            Some(id) => {
                let tag = &state.tags[&id];
                let users: Vec<Value> = tag
                    .users
                    .iter()
                    .map(|u| {
                        let name = state.users.get(u).map(|m| m.name.as_str()).unwrap_or("");
                        json!({ "userid": u, "name": name })
                    })
                    .collect();
                ok(json!({ "tagname": tag.name, "userlist": users, "partylist": tag.parties }))
            }
            None => no_tag(),
        },
        ("GET", "tag/list") => {
            let list: Vec<Value> = state
                .tags
                .values()
                .map(|t| json!({ "tagid": t.id, "tagname": t.name }))
                .collect();
            ok(json!({ "taglist": list }))
        }
        ("POST", "tag/addtagusers") => change_tag(state, body, true),
        ("POST", "tag/deltagusers") => change_tag(state, body, false),
        ("GET", "user/list" | "user/simplelist") => list_users(state, op, query),
        ("POST", "user/getuserid") => {
            let mobile = text(body, "mobile");
            if mobile.is_empty() {
                return err(40058, "invalid Request Parameter: mobile is required");
            }
            match state.users.values().find(|u| u.mobile == mobile) {
                Some(u) => ok(json!({ "userid": u.userid })),
                None => err(46004, "user no exist"),
            }
        }
        ("POST", "user/get_userid_by_email") => {
            let email = text(body, "email");
            match state
                .users
                .values()
                .find(|u| !email.is_empty() && u.email == email)
            {
                Some(u) => ok(json!({ "userid": u.userid })),
                None => err(46004, "user no exist"),
            }
        }
        ("POST", "appchat/create") => appchat::create(state, body),
        ("GET", "appchat/get") => appchat::get(state, query),
        ("POST", "appchat/update") => appchat::update(state, body),
        ("POST", "appchat/send") => appchat::send(state, body),
        ("POST", "todo/get") => todo::get(state, body),
        ("POST", "todo/update") => todo::update(state, body),
        // `user/getuserinfo` is the old path of `auth/getuserinfo`, and always had the old keys.
        ("GET", "auth/getuserinfo" | "user/getuserinfo") => {
            let legacy = op == "user/getuserinfo" || state.options.legacy_userinfo_keys;
            getuserinfo(state, query, legacy)
        }
        ("POST", "auth/getuserdetail") => {
            match state
                .tickets
                .get(&text(body, "user_ticket"))
                .and_then(|id| state.users.get(id))
            {
                Some(u) => ok(json!({
                    "userid": u.userid, "gender": u.gender, "avatar": u.avatar, "qr_code": "",
                    "mobile": u.mobile, "email": u.email, "biz_mail": "", "address": "",
                })),
                None => err(40029, "invalid code"),
            }
        }
        ("POST", "message/send") => send_message(state, body),
        ("POST", "message/recall") => recall_message(state, body),
        ("POST", "oa/gettemplatedetail") => template_detail(state, body),
        ("POST", "oa/applyevent") => apply_event(state, body),
        ("POST", "oa/getapprovaldetail") => match state.approvals.get(&text(body, "sp_no")) {
            Some(a) => ok(json!({ "info": state.approval_json(a) })),
            // Guessed: WeCom documents 301026 as "failed to fetch the detail".
            None => err(301026, "sp_no not found"),
        },
        ("POST", "oa/getapprovalinfo") => approval_info(state, body),
        _ => (
            StatusCode::NOT_FOUND,
            axum::Json(json!({
                "errcode": 404, "errmsg": format!("simulator has no {method} /cgi-bin/{op}"),
            })),
        )
            .into_response(),
    }
}

fn gettoken(state: &mut State, query: &Params) -> Response {
    let (corpid, secret) = (param(query, "corpid"), param(query, "corpsecret"));
    if corpid.is_empty() {
        return err(41002, "corpid missing");
    }
    if secret.is_empty() {
        return err(41004, "corpsecret missing");
    }
    if corpid != state.options.corp_id {
        return err(40013, "invalid corpid");
    }
    if secret != state.options.corp_secret {
        return err(40001, "invalid credential");
    }
    let (token, left) = state.issue_token();
    // A re-fetch gets the same token and only the time it has left.
    let expires_in = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    ok(json!({ "access_token": token, "expires_in": expires_in }))
}

fn create_dept(state: &mut State, body: &Value) -> Response {
    let name = text(body, "name");
    if let Some(problem) = bad_dept_name(&name) {
        return problem;
    }
    let Some(parent) = number(body, "parentid") else {
        return err(40058, "invalid Request Parameter: parentid is required");
    };
    if !state.depts.contains_key(&parent) {
        return err(60004, "parent department not found");
    }
    if state
        .depts
        .values()
        .any(|d| d.parent_id == parent && d.name == name)
    {
        return err(60008, "department name existed");
    }
    let id = match number(body, "id") {
        // Guessed: an id already taken answers like a name already taken.
        Some(id) if state.depts.contains_key(&id) => return err(60008, "department id existed"),
        Some(id) if id > 1 => id,
        Some(_) => return err(40058, "invalid Request Parameter: id"),
        None => loop {
            let id = state.next_id();
            if !state.depts.contains_key(&id) {
                break id;
            }
        },
    };
    let dept = Dept {
        id,
        name_en: text(body, "name_en"),
        name,
        parent_id: parent,
        order: number(body, "order").unwrap_or(0),
    };
    state.depts.insert(id, dept);
    done("created", json!({ "id": id }))
}

/// WeCom: 1–64 characters, none of `\:*?"<>|`.
fn bad_dept_name(name: &str) -> Option<Response> {
    let length = name.chars().count();
    if !(1..=64).contains(&length) {
        return Some(err(60001, "department name length invalid"));
    }
    if name.chars().any(|c| "\\:*?\"<>|".contains(c)) {
        return Some(err(60009, "department name contains invalid characters"));
    }
    None
}

fn update_dept(state: &mut State, body: &Value) -> Response {
    let Some(id) = number(body, "id").filter(|id| state.depts.contains_key(id)) else {
        return err(60123, "invalid party id");
    };
    let current = state.depts[&id].clone();
    let parent = number(body, "parentid").unwrap_or(current.parent_id);
    let name = match body.get("name") {
        Some(_) => text(body, "name"),
        None => current.name.clone(),
    };
    if let Some(problem) = body.get("name").and(bad_dept_name(&name)) {
        return problem;
    }
    if parent != current.parent_id {
        if !state.depts.contains_key(&parent) {
            return err(60004, "parent department not found");
        }
        if state.subtree(id).contains(&parent) {
            return err(60010, "department has a loop");
        }
    }
    if state
        .depts
        .values()
        .any(|d| d.id != id && d.parent_id == parent && d.name == name)
    {
        return err(60008, "department name existed");
    }
    let dept = state.depts.get_mut(&id).unwrap();
    dept.name = name;
    dept.parent_id = parent;
    if body.get("name_en").is_some() {
        dept.name_en = text(body, "name_en");
    }
    if let Some(order) = number(body, "order") {
        dept.order = order;
    }
    done("updated", json!({}))
}

fn delete_dept(state: &mut State, query: &Params) -> Response {
    let Some(id) = param(query, "id")
        .parse()
        .ok()
        .filter(|id| state.depts.contains_key(id))
    else {
        return err(60123, "invalid party id");
    };
    if id == 1 {
        return err(60007, "not allow to delete root department");
    }
    if state.users.values().any(|u| u.department.contains(&id)) {
        return err(60005, "not allow to delete department with members");
    }
    if state.depts.values().any(|d| d.parent_id == id) {
        return err(60006, "not allow to delete department with sub departments");
    }
    state.depts.remove(&id);
    for tag in state.tags.values_mut() {
        tag.parties.retain(|p| *p != id);
    }
    done("deleted", json!({}))
}

fn list_depts(state: &State, op: &str, query: &Params) -> Response {
    let ids = match query.get("id").filter(|s| !s.is_empty()) {
        None => state.depts.keys().copied().collect(),
        Some(id) => match id.parse().ok().filter(|id| state.depts.contains_key(id)) {
            Some(id) => state.subtree(id),
            None => return err(60123, "invalid party id"),
        },
    };
    let depts = ids.iter().map(|id| &state.depts[id]);
    if op == "department/simplelist" {
        let list: Vec<Value> = depts
            .map(|d| json!({ "id": d.id, "parentid": d.parent_id, "order": d.order }))
            .collect();
        ok(json!({ "department_id": list }))
    } else {
        let leaders = state.leaders();
        let list: Vec<Value> = depts.map(|d| state.dept_json_with(d, &leaders)).collect();
        ok(json!({ "department": list }))
    }
}

fn create_user(state: &mut State, body: &Value) -> Response {
    let userid = text(body, "userid");
    if userid.is_empty() {
        return err(41009, "missing userid");
    }
    if text(body, "name").is_empty() {
        return err(60112, "invalid name");
    }
    if text(body, "mobile").is_empty() && text(body, "email").is_empty() {
        return err(60129, "mobile and email can not be both empty");
    }
    if state.users.contains_key(&userid) {
        return err(60102, "userid existed");
    }
    let mut user = User {
        userid: userid.clone(),
        name: String::new(),
        mobile: String::new(),
        email: String::new(),
        department: vec![1],
        order: vec![0],
        is_leader_in_dept: vec![0],
        main_department: 1,
        position: String::new(),
        gender: "0".into(),
        direct_leader: Vec::new(),
        status: 1,
        avatar: format!("https://wework.qpic.cn/sim/{userid}/0"),
        extattr: Vec::new(),
    };
    if let Err((code, message)) = apply_user_fields(state, &mut user, body) {
        return err(code, &message);
    }
    state.users.insert(userid, user);
    done("created", json!({}))
}

fn update_user(state: &mut State, body: &Value) -> Response {
    let userid = text(body, "userid");
    if userid.is_empty() {
        return err(41009, "missing userid");
    }
    let Some(mut user) = state.users.get(&userid).cloned() else {
        return err(60111, "userid not found");
    };
    if body.get("name").is_some() && text(body, "name").is_empty() {
        return err(60112, "invalid name");
    }
    if let Err((code, message)) = apply_user_fields(state, &mut user, body) {
        return err(code, &message);
    }
    // Fields are emptied with an empty value (`"mobile": ""`); a member keeps a mobile or an email all the same,
    // as on create.
    if user.mobile.is_empty() && user.email.is_empty() {
        return err(60129, "mobile and email can not be both empty");
    }
    state.users.insert(userid, user);
    done("updated", json!({}))
}

/// The fields `user/create` and `user/update` share, each only when present; the checks are WeCom's.
fn apply_user_fields(state: &State, user: &mut User, body: &Value) -> Result<(), Refusal> {
    let other = |f: &dyn Fn(&User) -> bool| {
        state
            .users
            .values()
            .any(|u| u.userid != user.userid && f(u))
    };
    let mobile = text(body, "mobile");
    if !mobile.is_empty() && other(&|u| u.mobile == mobile) {
        return Err(refuse(60104, "mobile existed"));
    }
    let email = text(body, "email");
    if !email.is_empty() && other(&|u| u.email == email) {
        return Err(refuse(60106, "email existed"));
    }
    if let Some(value) = body.get("department") {
        match numbers(value) {
            Some(ids) if !ids.is_empty() && ids.iter().all(|id| state.depts.contains_key(id)) => {
                user.department = ids;
            }
            // Guessed: 60003 "department not found" (the reference lists no code for this case).
            _ => return Err(refuse(60003, "department not found")),
        }
    }
    let count = user.department.len();
    let parallel = |key: &str, current: &[i64]| -> Result<Vec<i64>, Refusal> {
        match body.get(key).map(numbers) {
            None => Ok(current
                .iter()
                .copied()
                .chain(std::iter::repeat(0))
                .take(count)
                .collect()),
            Some(Some(values)) if values.len() == count => Ok(values),
            Some(_) => Err(refuse(
                40058,
                &format!("invalid Request Parameter: {key} must match department"),
            )),
        }
    };
    user.order = parallel("order", &user.order)?;
    user.is_leader_in_dept = parallel("is_leader_in_dept", &user.is_leader_in_dept)?;
    if let Some(leaders) = body.get("direct_leader") {
        let leaders = strings(leaders);
        if let Some(unknown) = leaders.iter().find(|l| !state.users.contains_key(*l)) {
            return Err(refuse(
                60111,
                &format!("userid not found: direct_leader {unknown}"),
            ));
        }
        user.direct_leader = leaders;
    }
    match number(body, "main_department") {
        Some(main) if user.department.contains(&main) => user.main_department = main,
        Some(_) => {
            return Err(refuse(
                40058,
                "invalid Request Parameter: main_department not in department",
            ));
        }
        None if !user.department.contains(&user.main_department) => {
            user.main_department = user.department[0]
        }
        None => {}
    }
    for (key, field) in [
        ("name", &mut user.name),
        ("mobile", &mut user.mobile),
        ("email", &mut user.email),
        ("position", &mut user.position),
        ("gender", &mut user.gender),
    ] {
        if body.get(key).is_some() {
            *field = text(body, key);
        }
    }
    // enable 0 disables (status 2); 1 enables a disabled member again: one invited but not yet joined (4)
    // stays so.
    match body
        .get("enable")
        .filter(|v| !v.is_null())
        .map(|_| number(body, "enable"))
    {
        None => {}
        Some(Some(1)) if user.status == 2 => user.status = 1,
        Some(Some(1)) => {}
        Some(Some(0)) => user.status = 2,
        // Guessed: 40058, WeCom's generic invalid-parameter code.
        Some(_) => {
            return Err(refuse(
                40058,
                "invalid Request Parameter: enable must be 0 or 1",
            ));
        }
    }
    set_custom_fields(state, user, &body["extattr"]);
    Ok(())
}

/// WeCom keeps at most this many characters of a custom field's text, and cuts the rest.
const MAX_ATTR_CHARS: usize = 32;

/// `extattr.attrs`: values for the custom fields defined in the admin console are set (text type: `text.value`,
/// or the older flat `value`), others ignored, as WeCom's documentation says; fields not named are kept.
fn set_custom_fields(state: &State, user: &mut User, extattr: &Value) {
    for attr in extattr["attrs"].as_array().into_iter().flatten() {
        let name = text(attr, "name");
        if !state.options.custom_fields.contains(&name) {
            continue;
        }
        let value = match &attr["text"]["value"] {
            Value::String(v) => v.clone(),
            _ => text(attr, "value"),
        };
        let value: String = value.chars().take(MAX_ATTR_CHARS).collect();
        match user.extattr.iter_mut().find(|(n, _)| *n == name) {
            Some(field) => field.1 = value,
            None => user.extattr.push((name, value)),
        }
    }
}

/// WeCom: a tag name has 1 to 32 characters, and no two tags share one.
const MAX_TAG_NAME_CHARS: usize = 32;

/// The tag a `tagid` names; else WeCom answers 40068 ([`no_tag`]: missing, not a number, or no such tag).
fn tag_of(state: &State, tagid: &str) -> Option<i64> {
    tagid
        .trim()
        .parse()
        .ok()
        .filter(|id| state.tags.contains_key(id))
}

fn no_tag() -> Response {
    err(40068, "invalid tagid")
}

fn check_tag_name(state: &State, name: &str, except: Option<i64>) -> Option<Response> {
    if !(1..=MAX_TAG_NAME_CHARS).contains(&name.chars().count()) {
        return Some(err(40072, "invalid tagname length"));
    }
    if state
        .tags
        .values()
        .any(|t| t.name == name && Some(t.id) != except)
    {
        return Some(err(40071, "invalid tagname, tagname existed"));
    }
    None
}

/// `tag/create {tagname, tagid?}`: without a tagid, one more than the largest.
fn create_tag(state: &mut State, body: &Value) -> Response {
    let name = text(body, "tagname");
    if let Some(problem) = check_tag_name(state, &name, None) {
        return problem;
    }
    let id = match body.get("tagid").filter(|v| !v.is_null()) {
        None => state.tags.keys().next_back().copied().unwrap_or(0) + 1,
        Some(_) => match number(body, "tagid").filter(|id| *id > 0) {
            // Guessed: an id already taken answers 40068 too.
            Some(id) if state.tags.contains_key(&id) => {
                return err(40068, "invalid tagid, tagid existed");
            }
            Some(id) => id,
            None => return err(40068, "invalid tagid"),
        },
    };
    state.tags.insert(
        id,
        Tag {
            id,
            name,
            users: Vec::new(),
            parties: Vec::new(),
        },
    );
    done("created", json!({ "tagid": id }))
}

fn update_tag(state: &mut State, body: &Value) -> Response {
    let Some(id) = tag_of(state, &text(body, "tagid")) else {
        return no_tag();
    };
    let name = text(body, "tagname");
    if let Some(problem) = check_tag_name(state, &name, Some(id)) {
        return problem;
    }
    state.tags.get_mut(&id).unwrap().name = name;
    done("updated", json!({}))
}

/// `tag/addtagusers` / `tag/deltagusers {tagid, userlist, partylist}`: at most 1000 userids and 100 departments;
/// members and departments WeCom does not know come back in `invalidlist` ("a|b") and `invalidparty`, and when
/// nothing given is valid the answer is 40070 and nothing changes. Adding a member the tag has, or removing one
/// it has not, is no error.
fn change_tag(state: &mut State, body: &Value, add: bool) -> Response {
    let Some(id) = tag_of(state, &text(body, "tagid")) else {
        return no_tag();
    };
    let users = strings(&body["userlist"]);
    let Some(parties) = numbers(&body["partylist"]) else {
        return err(40066, "invalid partylist");
    };
    if users.len() > 1000 {
        return err(40032, "invalid userid list size: at most 1000");
    }
    // Guessed: 40066 for too many departments (WeCom documents the limit, not the code).
    if parties.len() > 100 {
        return err(40066, "invalid partylist size: at most 100");
    }
    let (valid_users, invalid_users): (Vec<String>, Vec<String>) =
        users.into_iter().partition(|u| state.users.contains_key(u));
    let (valid_parties, invalid_parties): (Vec<i64>, Vec<i64>) = parties
        .into_iter()
        .partition(|p| state.depts.contains_key(p));
    if valid_users.is_empty() && valid_parties.is_empty() {
        let mut answer = json!({ "errcode": 40070, "errmsg": "all list invalid" });
        if !invalid_users.is_empty() {
            answer["invalidlist"] = json!(invalid_users.join("|"));
        }
        if !invalid_parties.is_empty() {
            answer["invalidparty"] = json!(invalid_parties);
        }
        return axum::Json(answer).into_response();
    }
    let tag = state.tags.get_mut(&id).unwrap();
    if add {
        let mut have: HashSet<String> = tag.users.iter().cloned().collect();
        for user in valid_users {
            if have.insert(user.clone()) {
                tag.users.push(user);
            }
        }
        for party in valid_parties {
            if !tag.parties.contains(&party) {
                tag.parties.push(party);
            }
        }
    } else {
        let gone: HashSet<String> = valid_users.into_iter().collect();
        tag.users.retain(|u| !gone.contains(u));
        tag.parties.retain(|p| !valid_parties.contains(p));
    }
    let mut answer = json!({});
    if !invalid_users.is_empty() {
        answer["invalidlist"] = json!(invalid_users.join("|"));
    }
    if !invalid_parties.is_empty() {
        answer["invalidparty"] = json!(invalid_parties);
    }
    done(if add { "ok" } else { "deleted" }, answer)
}

/// One row per member and department, in a stable order; the cursor is an offset dressed as an opaque string.
fn list_ids(state: &State, body: &Value) -> Response {
    let limit = number(body, "limit").unwrap_or(1000);
    if !(1..=10_000).contains(&limit) {
        return err(40058, "invalid Request Parameter: limit must be 1-10000");
    }
    let start = match text(body, "cursor").as_str() {
        "" => 0,
        cursor => match cursor
            .strip_prefix("sim-cursor-")
            .and_then(|n| n.parse().ok())
        {
            Some(n) => n,
            // Guessed: 40058, WeCom's generic invalid-parameter code.
            None => return err(40058, "invalid Request Parameter: cursor"),
        },
    };
    let rows = state
        .users
        .values()
        .flat_map(|u| u.department.iter().map(move |d| (&u.userid, d)));
    let mut rows = rows.skip(start);
    let page: Vec<Value> = rows
        .by_ref()
        .take(limit as usize)
        .map(|(userid, d)| json!({ "userid": userid, "department": d }))
        .collect();
    let next = start + page.len();
    // The documentation: an empty next_cursor means there is nothing more.
    let next_cursor = if rows.next().is_some() {
        format!("sim-cursor-{next}")
    } else {
        String::new()
    };
    ok(json!({ "next_cursor": next_cursor, "dept_user": page }))
}

fn list_users(state: &State, op: &str, query: &Params) -> Response {
    let Some(dept) = param(query, "department_id")
        .parse()
        .ok()
        .filter(|id| state.depts.contains_key(id))
    else {
        return err(60123, "invalid party id");
    };
    // fetch_child=1 (deprecated but still accepted) includes the whole subtree.
    let depts: HashSet<i64> = if param(query, "fetch_child") == "1" {
        state.subtree(dept).into_iter().collect()
    } else {
        HashSet::from([dept])
    };
    let members = state
        .users
        .values()
        .filter(|u| u.department.iter().any(|d| depts.contains(d)));
    let list: Vec<Value> = if op == "user/simplelist" {
        members
            .map(|u| json!({ "userid": u.userid, "name": u.name, "department": u.department }))
            .collect()
    } else {
        members.map(|u| state.user_json(u)).collect()
    };
    ok(json!({ "userlist": list }))
}

fn getuserinfo(state: &mut State, query: &Params, legacy: bool) -> Response {
    let code = param(query, "code");
    if code.is_empty() {
        return err(41008, "missing code");
    }
    let Some(userid) = state.codes.remove(&code) else {
        return err(40029, "invalid code");
    };
    let ticket = format!("sim-ticket-{:x}", state.next_id() * 65_537);
    state.tickets.insert(ticket.clone(), userid.clone());
    if legacy {
        ok(json!({
            "UserId": userid, "DeviceId": "sim-device", "user_ticket": ticket, "expires_in": 1800,
        }))
    } else {
        ok(json!({ "userid": userid, "user_ticket": ticket, "expires_in": 1800 }))
    }
}

const MSG_TYPES: [&str; 11] = [
    "text",
    "image",
    "voice",
    "video",
    "file",
    "textcard",
    "news",
    "mpnews",
    "markdown",
    "miniprogram_notice",
    "template_card",
];

fn send_message(state: &mut State, body: &Value) -> Response {
    match number(body, "agentid") {
        None => return err(41011, "missing agentid"),
        Some(id) if id != state.options.agent_id => return err(40056, "invalid agentid"),
        Some(_) => {}
    }
    let msgtype = text(body, "msgtype");
    if !MSG_TYPES.contains(&msgtype.as_str()) {
        return err(40008, "invalid message type");
    }
    if let Some(problem) = bad_message_body(&msgtype, &body[msgtype.as_str()]) {
        return problem;
    }
    let (touser, toparty, totag) = (
        bar_list(&text(body, "touser")),
        bar_list(&text(body, "toparty")),
        bar_list(&text(body, "totag")),
    );
    if touser.is_empty() && toparty.is_empty() && totag.is_empty() {
        return err(
            40058,
            "invalid Request Parameter: touser, toparty and totag are all empty",
        );
    }
    if number(body, "enable_duplicate_check") == Some(1) {
        // Default 1800 s, at most 4 h.
        let interval = number(body, "duplicate_check_interval")
            .unwrap_or(1800)
            .clamp(0, 14_400) as u64;
        let now = SystemTime::now();
        if let Some(first) = state.messages.iter_mut().find(|m| {
            m.body == *body
                && now.duration_since(m.sent_at).unwrap_or_default() < Duration::from_secs(interval)
        }) {
            first.duplicates += 1;
            let first = first.clone();
            return ok(send_result(body, &first));
        }
    }
    let mut users = Vec::new();
    let mut invalid_users = Vec::new();
    for userid in &touser {
        if userid == "@all" {
            users.extend(
                state
                    .users
                    .values()
                    .filter(|u| u.status == 1)
                    .map(|u| u.userid.clone()),
            );
        } else if state.users.get(userid).is_some_and(|u| u.status == 1) {
            users.push(userid.clone());
        } else {
            invalid_users.push(userid.clone());
        }
    }
    let mut invalid_parties = Vec::new();
    for party in &toparty {
        match party.parse().ok().filter(|id| state.depts.contains_key(id)) {
            Some(id) => {
                let depts = state.subtree(id);
                users.extend(
                    state
                        .users
                        .values()
                        .filter(|u| u.status == 1 && u.department.iter().any(|d| depts.contains(d)))
                        .map(|u| u.userid.clone()),
                );
            }
            None => invalid_parties.push(party.clone()),
        }
    }
    let mut invalid_tags = Vec::new();
    for tag in totag {
        match tag.parse().ok().and_then(|id: i64| state.tags.get(&id)) {
            Some(t) => users.extend(state.tag_users(t)),
            None => invalid_tags.push(tag),
        }
    }
    users.sort();
    users.dedup();
    let msgid = format!("sim-msg-{:x}", state.next_id() * 1_000_003);
    let message = Message {
        msgid,
        body: body.clone(),
        users,
        invalid_users,
        invalid_parties,
        invalid_tags,
        sent_at: SystemTime::now(),
        recalled: false,
        duplicates: 0,
    };
    if message.users.is_empty() {
        let mut answer = json!({ "errcode": 81013, "errmsg": "user & party & tag all invalid" });
        merge(&mut answer, send_result(body, &message));
        answer.as_object_mut().unwrap().remove("msgid");
        answer.as_object_mut().unwrap().remove("response_code");
        return axum::Json(answer).into_response();
    }
    let answer = send_result(body, &message);
    state.messages.push(message);
    ok(answer)
}

/// The fields of a `message/send` answer for `message`.
fn send_result(body: &Value, message: &Message) -> Value {
    let mut answer = json!({
        "invaliduser": message.invalid_users.join("|"),
        "invalidparty": message.invalid_parties.join("|"),
        "invalidtag": message.invalid_tags.join("|"),
        "unlicenseduser": "",
        "msgid": message.msgid,
    });
    // Interactive template cards get a code for message/update_template_card.
    let card_type = body["template_card"]["card_type"].as_str().unwrap_or("");
    if body["msgtype"] == "template_card"
        && card_type != "text_notice"
        && card_type != "news_notice"
    {
        answer["response_code"] = json!(format!("sim-response-{}", message.msgid));
    }
    answer
}

/// The checks WeCom makes on each message type's content (only the types a connector is likely to send).
pub(super) fn bad_message_body(msgtype: &str, content: &Value) -> Option<Response> {
    match msgtype {
        "text" | "markdown" if text(content, "content").is_empty() => {
            Some(err(44004, "empty content"))
        }
        "textcard" if text(content, "title").is_empty() => Some(err(41016, "missing title")),
        "textcard" if text(content, "description").is_empty() => {
            Some(err(41033, "missing description"))
        }
        "textcard" if text(content, "url").is_empty() => Some(err(41010, "missing url")),
        "template_card" if text(content, "card_type").is_empty() => Some(err(
            40058,
            "invalid Request Parameter: template_card.card_type",
        )),
        _ => None,
    }
}

fn recall_message(state: &mut State, body: &Value) -> Response {
    let msgid = text(body, "msgid");
    let day = Duration::from_secs(24 * 3600);
    match state.messages.iter_mut().find(|m| m.msgid == msgid) {
        Some(m)
            if SystemTime::now()
                .duration_since(m.sent_at)
                .unwrap_or_default()
                < day =>
        {
            // Recalling twice succeeds again: the recall is idempotent here (WeCom's answer is not documented).
            m.recalled = true;
            ok(json!({}))
        }
        // Guessed: 81016 for an unknown msgid or one older than 24 h; WeCom's exact code is not documented.
        _ => err(81016, "invalid msgid or message can not be recalled"),
    }
}

fn template_detail(state: &State, body: &Value) -> Response {
    let Some(template) = state.templates.get(&text(body, "template_id")) else {
        return err(301025, "invalid template_id");
    };
    let controls: Vec<Value> = template
        .controls
        .iter()
        .map(|c| {
            json!({
                "property": {
                    "control": c.control, "id": c.id, "title": [{ "text": c.title, "lang": "zh_CN" }],
                    "placeholder": [], "require": i64::from(c.required), "un_print": 0,
                },
                "config": {},
            })
        })
        .collect();
    ok(json!({
        "template_names": [{ "text": template.name, "lang": "zh_CN" }],
        "template_content": { "controls": controls },
    }))
}

/// Whether a control's value holds anything (`{"text": ""}` or `{"new_number": ""}` do not).
fn filled(value: &Value) -> bool {
    match value {
        Value::String(s) => !s.is_empty(),
        Value::Number(_) => true,
        Value::Bool(b) => *b,
        Value::Array(items) => items.iter().any(filled),
        Value::Object(map) => map.values().any(filled),
        Value::Null => false,
    }
}

fn apply_event(state: &mut State, body: &Value) -> Response {
    let creator = text(body, "creator_userid");
    if creator.is_empty() {
        return err(
            40058,
            "invalid Request Parameter: creator_userid is required",
        );
    }
    let Some(template) = state.templates.get(&text(body, "template_id")).cloned() else {
        return err(301025, "invalid template_id");
    };
    // Guessed: 60111 for an unknown creator (WeCom may answer 301055, "not in the app's visible range").
    if !state.users.contains_key(&creator) {
        return err(60111, "userid not found: creator_userid");
    }
    let contents = body["apply_data"]["contents"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    for content in &contents {
        let known = template
            .controls
            .iter()
            .any(|c| content["id"] == c.id.as_str() && content["control"] == c.control.as_str());
        if !known {
            return err(
                301025,
                &format!(
                    "apply_data does not match the template: control {} {}",
                    content["control"], content["id"]
                ),
            );
        }
    }
    // 301025 is WeCom's documented code for an empty value or data not matching the template.
    if let Some(missing) = template.controls.iter().find(|c| {
        c.required
            && !contents
                .iter()
                .any(|v| v["id"] == c.id.as_str() && filled(&v["value"]))
    }) {
        return err(
            301025,
            &format!(
                "required control {} ({}) has no value",
                missing.id, missing.title
            ),
        );
    }
    // summary_list is required: 1–3 lines, each with text of at most 20 characters (the documented limit;
    // whether WeCom rejects or truncates a longer line is unverified, so the simulator is strict).
    let summary = body["summary_list"].clone();
    let lines = summary.as_array().cloned().unwrap_or_default();
    let line_ok = |line: &Value| {
        let infos = line["summary_info"].as_array().cloned().unwrap_or_default();
        !infos.is_empty()
            && infos.iter().all(|i| {
                let n = text(i, "text").chars().count();
                (1..=20).contains(&n)
            })
    };
    if lines.is_empty() || lines.len() > 3 || !lines.iter().all(line_ok) {
        return err(
            301025,
            "summary_list must have 1-3 lines of summary_info text (at most 20 characters)",
        );
    }
    let (nodes, notifyer) = match number(body, "use_template_approver") {
        Some(1) => {
            let nodes = template
                .approvers
                .iter()
                .map(|u| node(1, vec![u.clone()]))
                .collect();
            (nodes, Vec::new())
        }
        _ => match approvers_of(body) {
            Ok(flow) => flow,
            Err((code, message)) => return err(code, &message),
        },
    };
    if nodes.is_empty() {
        return err(301025, "no approver: pass approver or process.node_list");
    }
    let users = nodes
        .iter()
        .flat_map(|n| n.details.iter().map(|d| &d.userid))
        .chain(&notifyer);
    if let Some(unknown) = users.into_iter().find(|u| !state.users.contains_key(*u)) {
        return err(60111, &format!("userid not found: {unknown}"));
    }
    // choose_department: the applicant's department the application is filed under (default: the main one).
    let party = match number(body, "choose_department") {
        Some(dept) if state.users[&creator].department.contains(&dept) => dept,
        Some(_) => {
            return err(
                301025,
                "choose_department is not one of the creator's departments",
            );
        }
        None => state.users[&creator].main_department,
    };
    let sp_no = state.create_approval(
        &template.id,
        &creator,
        party,
        nodes,
        notifyer,
        contents,
        summary,
    );
    ok(json!({ "sp_no": sp_no }))
}

fn node(attr: i64, users: Vec<String>) -> Node {
    Node {
        attr,
        status: 1,
        details: users
            .into_iter()
            .map(|userid| Detail {
                userid,
                speech: String::new(),
                status: 1,
                time: 0,
            })
            .collect(),
    }
}

/// The flow a request names itself (`use_template_approver` 0): the older `approver[{attr, userid[]}]` with
/// `notifyer[]` (attr 1 或签, 2 会签), or the newer `process.node_list[{type, apv_rel, userid[]}]` (type 1
/// approver, 2 cc, 3 handler; apv_rel 1 会签, 2 或签, 3 one after another).
fn approvers_of(body: &Value) -> Result<(Vec<Node>, Vec<String>), Refusal> {
    let mut nodes = Vec::new();
    let mut notifyer = strings(&body["notifyer"]);
    if let Some(list) = body["process"]["node_list"].as_array() {
        for entry in list {
            let users = strings(&entry["userid"]);
            match (number(entry, "type"), number(entry, "apv_rel")) {
                (Some(2), _) => notifyer.extend(users),
                (Some(1 | 3), Some(3)) => nodes.extend(users.into_iter().map(|u| node(1, vec![u]))),
                (Some(1 | 3), Some(1)) => nodes.push(node(2, users)),
                (Some(1 | 3), Some(2)) => nodes.push(node(1, users)),
                _ => return Err(refuse(301025, "invalid process.node_list entry")),
            }
        }
    } else {
        for entry in body["approver"].as_array().into_iter().flatten() {
            let attr = number(entry, "attr").unwrap_or(1);
            if !(1..=2).contains(&attr) {
                return Err(refuse(301025, "approver.attr must be 1 or 2"));
            }
            nodes.push(node(attr, strings(&entry["userid"])));
        }
    }
    if nodes.iter().any(|n| n.details.is_empty()) {
        return Err(refuse(301025, "an approval node has no userid"));
    }
    Ok((nodes, notifyer))
}

fn approval_info(state: &State, body: &Value) -> Response {
    let (Some(start), Some(end)) = (number(body, "starttime"), number(body, "endtime")) else {
        return err(301025, "starttime and endtime are required");
    };
    if end <= start {
        return err(301025, "endtime must be after starttime");
    }
    if end - start > 31 * 86_400 {
        return err(301112, "time range too large, narrow it and retry");
    }
    let size = number(body, "size").unwrap_or(100);
    if !(1..=100).contains(&size) {
        return err(301025, "size must be 1-100");
    }
    let offset = match text(body, "new_cursor").as_str() {
        "" => 0,
        cursor => match cursor
            .strip_prefix("sim-cursor-")
            .and_then(|n| n.parse().ok())
        {
            Some(n) => n,
            None => return err(301025, "invalid new_cursor"),
        },
    };
    // Filters of one key are or-ed, different keys and-ed.
    let mut filters: HashMap<String, Vec<String>> = HashMap::new();
    for filter in body["filters"].as_array().into_iter().flatten() {
        filters
            .entry(text(filter, "key"))
            .or_default()
            .push(text(filter, "value"));
    }
    let mut matching: Vec<_> = state
        .approvals
        .values()
        .filter(|a| (start..=end).contains(&(a.apply_time as i64)))
        .filter(|a| {
            filters.iter().all(|(key, values)| {
                let actual = match key.as_str() {
                    "template_id" => a.template_id.clone(),
                    "creator" => a.applyer.clone(),
                    "department" => a.party.to_string(),
                    "sp_status" => a.status.to_string(),
                    // record_type 1 is leave, the simulator's only template kind.
                    "record_type" => "1".into(),
                    _ => return true,
                };
                values.contains(&actual)
            })
        })
        .collect();
    matching.sort_by(|a, b| (a.apply_time, &a.sp_no).cmp(&(b.apply_time, &b.sp_no)));
    let page: Vec<&String> = matching
        .iter()
        .skip(offset)
        .take(size as usize)
        .map(|a| &a.sp_no)
        .collect();
    let next = offset + page.len();
    let mut answer = json!({ "sp_no_list": page });
    // The documentation: no new_next_cursor means everything has been fetched.
    if next < matching.len() {
        answer["new_next_cursor"] = json!(format!("sim-cursor-{next}"));
    }
    ok(answer)
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}
