//! The HTTP side: one handler that does what every DingTalk endpoint does first (faults, QPS, token), then
//! dispatches on the path to the endpoint, answering in the old API's `errcode` envelope or the new API's
//! HTTP-status errors.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State as Extract};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::callbacks;
use super::state::{Fault, Notification, State};

type Shared = Arc<Mutex<State>>;

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/connect", axum::routing::get(super::gateway::connect))
        .fallback(handle)
        .with_state(state)
}

/// An old-API success: `errcode` 0 plus the fields.
pub(super) fn ok(fields: Value) -> Response {
    let mut body = json!({ "errcode": 0, "errmsg": "ok", "request_id": "sim-req" });
    body.as_object_mut()
        .unwrap()
        .extend(fields.as_object().cloned().unwrap_or_default());
    axum::Json(body).into_response()
}

/// An old-API error: HTTP 200 with a non-zero `errcode`.
pub(super) fn err(code: i64, message: &str) -> Response {
    axum::Json(json!({ "errcode": code, "errmsg": message, "request_id": "sim-req" }))
        .into_response()
}

/// A new-API error: an HTTP status with `{code, message, requestid}`.
pub(super) fn api_err(status: u16, code: &str, message: &str) -> Response {
    let body = json!({ "code": code, "message": message, "requestid": "sim-req" });
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

pub(super) fn api_ok(body: Value) -> Response {
    axum::Json(body).into_response()
}

async fn handle(
    Extract(shared): Extract<Shared>,
    method: Method,
    uri: Uri,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let new_api = path.starts_with("/v1.0/");
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
        Some(Fault::Busy) if new_api => return api_err(503, "SystemBusy", "系统繁忙"),
        Some(Fault::Busy) => return err(-1, "系统繁忙"),
        Some(Fault::RateLimit) => return rate_limited(new_api),
        Some(Fault::RevokeToken) => {
            let mut state = shared.lock().unwrap();
            if let Some(token) = token_of(&query, &headers) {
                state.tokens.remove(&token);
            }
        }
        None => {}
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(_) if new_api => return api_err(400, "InvalidParameter", "请求体不是合法的JSON"),
            Err(_) => return err(400002, "请求参数不是合法的JSON"),
        }
    };
    let mut state = shared.lock().unwrap();
    // Token endpoints are throttled too, but by DingTalk's separate gettoken limits; keep them out of the test QPS.
    // The Stream gateway's open takes the app's credentials, not a token.
    let token_endpoint = path == "/gettoken"
        || path.starts_with("/v1.0/oauth2/")
        || path == super::gateway::OPEN_PATH;
    if !token_endpoint && !state.within_qps(&path) {
        return rate_limited(new_api);
    }
    if !token_endpoint && path != "/v1.0/contact/users/me" {
        let checked = token_of(&query, &headers)
            .ok_or("unknown")
            .and_then(|token| state.token_valid(&token));
        match (checked, new_api) {
            (Ok(()), _) => {}
            (Err(_), true) => return api_err(401, "InvalidAuthentication", "不合法的access_token"),
            (Err("expired"), false) => return err(42001, "access_token超时"),
            (Err(_), false) => return err(40014, "不合法的access_token"),
        }
    }
    let options = state.options.clone();
    let (response, events) = route(&mut state, &method, &path, &query, &headers, &body);
    drop(state);
    if !events.is_empty() {
        callbacks::push_all(&shared, &options, events);
    }
    response
}

fn rate_limited(new_api: bool) -> Response {
    if new_api {
        api_err(
            403,
            "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi",
            "应用调用该接口的QPS超过限制",
        )
    } else {
        err(90018, "当前应用调用该接口的QPS超过限制")
    }
}

fn token_of(query: &HashMap<String, String>, headers: &HeaderMap) -> Option<String> {
    query.get("access_token").cloned().or_else(|| {
        headers
            .get("x-acs-dingtalk-access-token")
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    })
}

fn text(body: &Value, key: &str) -> String {
    match &body[key] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn number(body: &Value, key: &str) -> Option<i64> {
    match &body[key] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
}

/// "2,3" → [2, 3]
fn id_list(text: &str) -> Option<Vec<i64>> {
    text.split(',')
        .filter(|s| !s.is_empty())
        .map(|s| s.trim().parse().ok())
        .collect()
}

fn route(
    state: &mut State,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
    body: &Value,
) -> (Response, Vec<Value>) {
    let none = |r: Response| (r, vec![]);
    if let Some(answer) = super::todo::route(
        state,
        method.as_str(),
        path,
        query.get("operatorId").map(String::as_str),
        body,
    ) {
        return answer;
    }
    if method == Method::POST
        && let Some(answer) = super::scenegroup::route(state, path, body)
    {
        return none(answer);
    }
    match (method.as_str(), path) {
        ("GET", "/gettoken") => none(gettoken(state, query)),
        ("POST", "/v1.0/oauth2/accessToken") => none(access_token(state, body)),
        ("POST", super::gateway::OPEN_PATH) => none(super::gateway::open(state, headers, body)),
        ("POST", "/v1.0/oauth2/userAccessToken") => none(user_access_token(state, body)),
        ("GET", "/v1.0/contact/users/me") => none(users_me(state, headers)),
        ("POST", p)
            if p.starts_with("/topapi/v2/department/") || p.starts_with("/topapi/v2/user/") =>
        {
            none(directory(state, &p["/topapi/v2/".len()..], body))
        }
        ("POST", p) if p.starts_with("/topapi/role/") || p.starts_with("/role/") => {
            none(roles(state, p, body))
        }
        ("POST", "/topapi/user/getbyunionid") => {
            let unionid = text(body, "unionid");
            match state.users.values().find(|u| u.unionid == unionid) {
                Some(u) => none(ok(
                    json!({ "result": { "contact_type": 0, "userid": u.userid } }),
                )),
                None => none(err(60121, "找不到该用户")),
            }
        }
        ("POST", p) if p.starts_with("/topapi/message/corpconversation/") => none(notifications(
            state,
            &p["/topapi/message/corpconversation/".len()..],
            body,
        )),
        ("POST", "/v1.0/robot/ding/send") => none(ding_send(state, body)),
        ("POST", "/v1.0/robot/ding/recall") => match state.dings.get_mut(&text(body, "openDingId"))
        {
            Some(ding) => {
                ding.1 = true;
                none(api_ok(json!({})))
            }
            None => none(api_err(400, "invalidOpenDingId", "DING 不存在")),
        },
        (_, p) if p.starts_with("/v1.0/workflow/processInstances") => {
            workflow(state, method, p, query, body)
        }
        _ => none(api_err(
            404,
            "NotFound",
            &format!("simulator has no {method} {path}"),
        )),
    }
}

fn gettoken(state: &mut State, query: &HashMap<String, String>) -> Response {
    let (key, secret) = (query.get("appkey"), query.get("appsecret"));
    if key != Some(&state.options.app_key) || secret != Some(&state.options.app_secret) {
        return err(40089, "不合法的corpid或corpsecret");
    }
    let token = state.issue_token();
    ok(json!({ "access_token": token, "expires_in": state.options.token_ttl.as_secs() }))
}

fn access_token(state: &mut State, body: &Value) -> Response {
    if text(body, "appKey") != state.options.app_key
        || text(body, "appSecret") != state.options.app_secret
    {
        return api_err(
            400,
            "invalidClientIdOrSecret",
            "无效的clientId或者clientSecret",
        );
    }
    let token = state.issue_token();
    api_ok(json!({ "accessToken": token, "expireIn": state.options.token_ttl.as_secs() }))
}

fn user_access_token(state: &mut State, body: &Value) -> Response {
    if text(body, "clientId") != state.options.app_key
        || text(body, "clientSecret") != state.options.app_secret
    {
        return api_err(
            400,
            "invalidClientIdOrSecret",
            "无效的clientId或者clientSecret",
        );
    }
    let Some(userid) = state.codes.remove(&text(body, "code")) else {
        return api_err(400, "invalidAuthCode", "不合法的临时授权码");
    };
    let token = format!("user-token-{}", state.next_id());
    state.user_tokens.insert(token.clone(), userid);
    api_ok(json!({
        "accessToken": token, "refreshToken": "refresh", "expireIn": 7200, "corpId": state.options.corp_id,
    }))
}

fn users_me(state: &mut State, headers: &HeaderMap) -> Response {
    let token = headers
        .get("x-acs-dingtalk-access-token")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let Some(user) = state
        .user_tokens
        .get(token)
        .and_then(|id| state.users.get(id))
    else {
        return api_err(401, "InvalidAuthentication", "不合法的access_token");
    };
    api_ok(json!({
        "nick": user.name, "unionId": user.unionid, "openId": format!("open-{}", user.userid),
        "mobile": user.mobile, "email": user.email, "stateCode": "86",
    }))
}

fn directory(state: &mut State, op: &str, body: &Value) -> Response {
    match op {
        "department/listsub" => {
            let parent = number(body, "dept_id").unwrap_or(1);
            if !state.depts.contains_key(&parent) {
                return err(60003, "部门不存在");
            }
            let list: Vec<Value> = state
                .depts
                .values()
                .filter(|d| d.parent_id == parent && d.id != 1)
                .map(|d| state.dept_brief_json(d))
                .collect();
            ok(json!({ "result": list }))
        }
        "department/get" => match number(body, "dept_id").and_then(|id| state.depts.get(&id)) {
            Some(d) => ok(json!({ "result": state.dept_json(d) })),
            None => err(60003, "部门不存在"),
        },
        "department/create" => {
            let (name, parent) = (text(body, "name"), number(body, "parent_id").unwrap_or(0));
            if !valid_dept_name(&name) {
                return err(60001, "无效的部门名称");
            }
            if !state.depts.contains_key(&parent) {
                return err(60004, "父部门不存在");
            }
            if state
                .depts
                .values()
                .any(|d| d.parent_id == parent && d.name == name)
            {
                return err(60008, "父部门下该部门名称已存在");
            }
            let id = state.next_id();
            let order = number(body, "order").unwrap_or(id);
            state.depts.insert(
                id,
                super::state::Dept {
                    id,
                    name,
                    parent_id: parent,
                    order,
                },
            );
            ok(json!({ "result": { "dept_id": id } }))
        }
        "department/update" => {
            let Some(id) = number(body, "dept_id").filter(|id| state.depts.contains_key(id)) else {
                return err(60003, "未找到该部门");
            };
            if id == 1 {
                return err(60018, "根部门不能被更新");
            }
            let current = state.depts[&id].clone();
            let parent = number(body, "parent_id").unwrap_or(current.parent_id);
            if !state.depts.contains_key(&parent) {
                return err(60004, "父部门不存在");
            }
            if parent != current.parent_id && state.subtree(id).contains(&parent) {
                return err(60010, "部门id存在循环");
            }
            let name = match text(body, "name") {
                name if name.is_empty() => current.name.clone(),
                name if !valid_dept_name(&name) => return err(60001, "无效的部门名称"),
                name => name,
            };
            if state
                .depts
                .values()
                .any(|d| d.id != id && d.parent_id == parent && d.name == name)
            {
                return err(60008, "父部门下该部门名称已存在");
            }
            let dept = state.depts.get_mut(&id).unwrap();
            dept.name = name;
            dept.parent_id = parent;
            if let Some(order) = number(body, "order") {
                dept.order = order;
            }
            ok(json!({}))
        }
        "department/delete" => {
            let Some(id) =
                number(body, "dept_id").filter(|id| state.depts.contains_key(id) && *id != 1)
            else {
                return err(60003, "部门不存在");
            };
            if state.depts.values().any(|d| d.parent_id == id)
                || state.users.values().any(|u| u.dept_id_list.contains(&id))
            {
                return err(60005, "部门中存在员工或子部门，不能删除");
            }
            state.depts.remove(&id);
            ok(json!({}))
        }
        "user/list" => {
            let Some(dept) = number(body, "dept_id").filter(|id| state.depts.contains_key(id))
            else {
                return err(60003, "部门不存在");
            };
            let (cursor, size) = (
                number(body, "cursor").unwrap_or(0),
                number(body, "size").unwrap_or(0),
            );
            if !(1..=100).contains(&size) || cursor < 0 {
                return err(40035, "参数非法: cursor 或 size 不合法，size 取值 1-100");
            }
            // One pass over the users: only the page is rendered, so paging a large department stays linear.
            let (cursor, size) = (cursor as usize, size as usize);
            let mut page = Vec::new();
            let mut members = 0;
            for user in state
                .users
                .values()
                .filter(|u| u.dept_id_list.contains(&dept))
            {
                if members >= cursor && page.len() < size {
                    page.push(state.user_list_json(user));
                }
                members += 1;
            }
            let next = cursor + page.len();
            let has_more = next < members;
            let mut result = json!({ "has_more": has_more, "list": page });
            if has_more {
                result["next_cursor"] = json!(next);
            }
            ok(json!({ "result": result }))
        }
        "user/get" => match state.users.get(&text(body, "userid")) {
            Some(u) => ok(json!({ "result": state.user_json(u) })),
            None => err(60121, "找不到该用户"),
        },
        "user/getbymobile" => match state.users.values().find(|u| {
            let (code, mobile) = super::state::split_mobile(&text(body, "mobile"));
            u.mobile == mobile && (u.state_code == code || !text(body, "mobile").starts_with('+'))
        }) {
            Some(u) => ok(json!({ "result": { "userid": u.userid } })),
            None => err(60121, "找不到该用户"),
        },
        "user/getuserinfo" => match state
            .codes
            .remove(&text(body, "code"))
            .and_then(|id| state.users.get(&id))
        {
            Some(u) => ok(json!({ "result": {
                "userid": u.userid, "unionid": u.unionid, "name": u.name, "device_id": "sim-device",
                "sys": false, "sys_level": 0,
            }})),
            None => err(40078, "不存在的临时授权码"),
        },
        "user/create" => create_user(state, body),
        "user/update" => {
            let userid = text(body, "userid");
            let Some(mut user) = state.users.get(&userid).cloned() else {
                return err(60121, "找不到该用户");
            };
            if let Some(list) = body.get("dept_id_list").map(|_| text(body, "dept_id_list")) {
                match id_list(&list) {
                    Some(ids)
                        if !ids.is_empty() && ids.iter().all(|id| state.depts.contains_key(id)) =>
                    {
                        user.dept_id_list = ids
                    }
                    _ => return err(60003, "部门不存在"),
                }
            }
            // DingTalk does not let an app change a member's number (41054); the same number is no change.
            if body.get("mobile").is_some() {
                let (code, number) = super::state::split_mobile(&text(body, "mobile"));
                if (code, number) != (user.state_code.clone(), user.mobile.clone()) {
                    return err(41054, "暂时无法更换手机号，如需修改请删除用户后重试");
                }
            }
            for (key, field) in [
                ("name", &mut user.name),
                ("email", &mut user.email),
                ("title", &mut user.title),
                ("job_number", &mut user.job_number),
                ("manager_userid", &mut user.manager_userid),
            ] {
                if body.get(key).is_some() {
                    *field = text(body, key);
                }
            }
            if text(body, "force_update_fields")
                .split(',')
                .any(|f| f.trim() == "manager_userid")
                && text(body, "manager_userid").is_empty()
            {
                user.manager_userid.clear();
            }
            if user.name.is_empty() {
                return err(60112, "用户姓名不合法");
            }
            state.users.insert(userid, user);
            ok(json!({}))
        }
        "user/delete" => match state.users.remove(&text(body, "userid")) {
            Some(user) => {
                for role in state.roles.values_mut() {
                    role.members.remove(&user.userid);
                }
                ok(json!({}))
            }
            None => err(60121, "找不到该用户"),
        },
        _ => err(404, &format!("simulator has no /topapi/v2/{op}")),
    }
}

fn create_user(state: &mut State, body: &Value) -> Response {
    let (name, mobile) = (text(body, "name"), text(body, "mobile"));
    if name.is_empty() || mobile.is_empty() {
        return err(400002, "name 和 mobile 必填");
    }
    let Some(depts) = id_list(&text(body, "dept_id_list")).filter(|ids| !ids.is_empty()) else {
        return err(400002, "dept_id_list 参数不合法");
    };
    if !depts.iter().all(|id| state.depts.contains_key(id)) {
        return err(60003, "部门不存在");
    }
    let (state_code, number) = super::state::split_mobile(&mobile);
    if state
        .users
        .values()
        .any(|u| u.mobile == number && u.state_code == state_code)
    {
        return err(60104, "手机号码在公司中已存在");
    }
    let userid = match text(body, "userid") {
        id if id.is_empty() => format!("user{}", state.next_id()),
        id if state.users.contains_key(&id) => return err(60102, "UserID在公司中已存在"),
        id => id,
    };
    state.add_user(&userid, &name, &mobile, depts);
    let user = state.users.get_mut(&userid).unwrap();
    // Not activated until the person signs in to DingTalk.
    user.active = false;
    for (key, field) in [
        ("email", &mut user.email),
        ("title", &mut user.title),
        ("job_number", &mut user.job_number),
        ("manager_userid", &mut user.manager_userid),
    ] {
        *field = text(body, key);
    }
    let unionid = user.unionid.clone();
    ok(json!({ "result": { "userid": userid, "unionId": unionid } }))
}

/// DingTalk's department names: 1–64 characters, none of `-`, `,` and `，`.
fn valid_dept_name(name: &str) -> bool {
    (1..=64).contains(&name.chars().count()) && !name.contains(['-', ',', '，'])
}

/// A `"1,2,3"` list of the role APIs, with its limit: the ids, or the errcode and message refusing it.
fn role_list<'a>(body: &'a Value, key: &str, max: usize) -> Result<Vec<&'a str>, (i64, String)> {
    let ids: Vec<&str> = body[key]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if ids.is_empty() || ids.len() > max {
        return Err((
            400002,
            format!("{key} 不合法：1 到 {max} 个，以英文逗号分隔"),
        ));
    }
    Ok(ids)
}

/// The role APIs: `/topapi/role/list|simplelist|addrolesforemps|removerolesforemps`, `/role/add_role_group` and
/// `/role/add_role`.
fn roles(state: &mut State, path: &str, body: &Value) -> Response {
    match path {
        "/topapi/role/list" => {
            let (size, offset) = (
                number(body, "size").unwrap_or(20),
                number(body, "offset").unwrap_or(0),
            );
            if !(1..=200).contains(&size) {
                return err(40069, "非法的size");
            }
            if offset < 0 {
                return err(40068, "无效的偏移量");
            }
            let groups: Vec<Value> = state
                .role_groups
                .values()
                .skip(offset as usize)
                .take(size as usize)
                .map(|g| {
                    let roles: Vec<Value> = state
                        .roles
                        .values()
                        .filter(|r| r.group_id == g.id)
                        .map(|r| json!({ "id": r.id, "name": r.name }))
                        .collect();
                    json!({ "groupId": g.id, "name": g.name, "roles": roles })
                })
                .collect();
            let has_more = (offset + size) < state.role_groups.len() as i64;
            ok(json!({ "result": { "hasMore": has_more, "list": groups } }))
        }
        "/role/add_role_group" => {
            let name = text(body, "name");
            if name.is_empty() {
                return err(400002, "name 不能为空");
            }
            let id = state.next_id() * 1000 + 577;
            state
                .role_groups
                .insert(id, super::state::RoleGroup { id, name });
            ok(json!({ "groupId": id }))
        }
        "/role/add_role" => {
            let (name, group) = (text(body, "roleName"), number(body, "groupId"));
            let Some(group) = group.filter(|_| !name.is_empty()) else {
                return err(34018, "角色不能为空");
            };
            if !state.role_groups.contains_key(&group) {
                return err(34020, "无效的groupId");
            }
            if state.roles.values().any(|r| r.name == name) {
                return err(34021, "角色名称已存在");
            }
            let id = state.next_id() * 1000 + 578;
            let role = super::state::Role {
                id,
                name,
                group_id: group,
                members: Default::default(),
            };
            state.roles.insert(id, role);
            ok(json!({ "roleId": id }))
        }
        "/topapi/role/simplelist" => {
            let Some(role) = number(body, "role_id").and_then(|id| state.roles.get(&id)) else {
                return err(33011, "无效的roleId");
            };
            let (size, offset) = (
                number(body, "size").unwrap_or(20),
                number(body, "offset").unwrap_or(0),
            );
            if !(1..=100).contains(&size) {
                return err(40069, "无效的size");
            }
            if offset < 0 {
                return err(40068, "无效的偏移量");
            }
            let list: Vec<Value> = role
                .members
                .iter()
                .skip(offset as usize)
                .take(size as usize)
                .map(|id| {
                    let name = state.users.get(id).map(|u| u.name.as_str());
                    json!({ "userid": id, "name": name.unwrap_or_default(), "manageScopes": [] })
                })
                .collect();
            let has_more = (offset + size) < role.members.len() as i64;
            ok(json!({ "result": { "hasMore": has_more, "list": list } }))
        }
        "/topapi/role/addrolesforemps" | "/topapi/role/removerolesforemps" => {
            let add = path.ends_with("addrolesforemps");
            let max_users = if add { 20 } else { 100 };
            let (role_ids, user_ids) = match (
                role_list(body, "roleIds", 20),
                role_list(body, "userIds", max_users),
            ) {
                (Ok(roles), Ok(users)) => (roles, users),
                (Err((code, message)), _) | (_, Err((code, message))) => {
                    return err(code, &message);
                }
            };
            let mut roles = Vec::new();
            for id in role_ids {
                match id
                    .parse::<i64>()
                    .ok()
                    .filter(|id| state.roles.contains_key(id))
                {
                    Some(id) => roles.push(id),
                    None => return err(33011, "无效的roleIds"),
                }
            }
            // All or nothing: one unknown user refuses the whole request, without naming it.
            if user_ids.iter().any(|u| !state.users.contains_key(*u)) {
                return err(33012, "无效的userIds");
            }
            for id in roles {
                let members = &mut state.roles.get_mut(&id).unwrap().members;
                for user in &user_ids {
                    if add {
                        members.insert(user.to_string());
                    } else {
                        members.remove(*user);
                    }
                }
            }
            ok(json!({}))
        }
        _ => err(404, &format!("simulator has no {path}")),
    }
}

fn notifications(state: &mut State, op: &str, body: &Value) -> Response {
    if number(body, "agent_id") != Some(state.options.agent_id) {
        return err(400002, "agent_id 不合法");
    }
    match op {
        "asyncsend_v2" => {
            let msg = body["msg"].clone();
            let known = [
                "text",
                "markdown",
                "action_card",
                "oa",
                "link",
                "image",
                "file",
                "voice",
            ];
            if !msg["msgtype"].as_str().is_some_and(|t| known.contains(&t)) {
                return err(400002, "msg.msgtype 不合法");
            }
            let mut targets: Vec<String> = text(body, "userid_list")
                .split(',')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect();
            if let Some(depts) = id_list(&text(body, "dept_id_list")) {
                for dept in depts {
                    targets.extend(
                        state
                            .users
                            .values()
                            .filter(|u| u.dept_id_list.contains(&dept))
                            .map(|u| u.userid.clone()),
                    );
                }
            }
            if body["to_all_user"] == true {
                targets.extend(state.users.keys().cloned());
            }
            targets.sort();
            targets.dedup();
            if targets.is_empty() {
                return err(400002, "接收者不能为空");
            }
            let (users, invalid): (Vec<String>, Vec<String>) = targets
                .into_iter()
                .partition(|u| state.users.contains_key(u));
            // Same content to the same user twice a day is dropped silently (forbidden code 143106 here;
            // DingTalk's codes 143103–143206 name the limit hit).
            let mut forbidden = Vec::new();
            let mut delivered = Vec::new();
            for user in users {
                let duplicate = state
                    .notifications
                    .values()
                    .any(|n| !n.recalled && n.msg == msg && n.users.contains(&user));
                if duplicate {
                    forbidden.push((user, 143106))
                } else {
                    delivered.push(user)
                }
            }
            let task_id = state.next_id() * 1000 + 7;
            state.notifications.insert(
                task_id,
                Notification {
                    msg,
                    users: delivered,
                    read: Default::default(),
                    invalid,
                    forbidden,
                    recalled: false,
                },
            );
            ok(json!({ "task_id": task_id }))
        }
        "getsendresult" => {
            match number(body, "task_id").and_then(|id| state.notifications.get(&id)) {
                Some(n) => {
                    let read: Vec<&String> =
                        n.users.iter().filter(|u| n.read.contains(*u)).collect();
                    let unread: Vec<&String> =
                        n.users.iter().filter(|u| !n.read.contains(*u)).collect();
                    let forbidden_ids: Vec<&String> = n.forbidden.iter().map(|(u, _)| u).collect();
                    let forbidden_list: Vec<Value> =
                    n.forbidden.iter().map(|(u, code)| json!({ "code": code.to_string(), "count": 1, "userid": u })).collect();
                    ok(json!({ "send_result": {
                        "read_user_id_list": read, "unread_user_id_list": unread,
                        "invalid_user_id_list": n.invalid, "forbidden_user_id_list": forbidden_ids,
                        "failed_user_id_list": [], "invalid_dept_id_list": [], "forbidden_list": forbidden_list,
                    }}))
                }
                None => err(400002, "task_id 不存在"),
            }
        }
        "recall" => {
            match number(body, "msg_task_id").and_then(|id| state.notifications.get_mut(&id)) {
                Some(n) => {
                    n.recalled = true;
                    ok(json!({}))
                }
                None => err(400002, "msg_task_id 不存在"),
            }
        }
        _ => err(404, "no such API"),
    }
}

fn ding_send(state: &mut State, body: &Value) -> Response {
    if text(body, "robotCode") != state.options.app_key {
        return api_err(400, "invalidRobotCode", "robotCode 不合法");
    }
    let receivers: Vec<String> = body["receiverUserIdList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(String::from))
        .collect();
    if receivers.is_empty() || text(body, "content").is_empty() {
        return api_err(
            400,
            "InvalidParameter",
            "receiverUserIdList 和 content 必填",
        );
    }
    let (known, unknown): (Vec<String>, Vec<String>) = receivers
        .into_iter()
        .partition(|u| state.users.contains_key(u));
    let id = format!("ding-{}", state.next_id());
    state.dings.insert(id.clone(), (known, false));
    let failed: Vec<Value> = unknown
        .iter()
        .map(|u| json!({ "userId": u, "reason": "用户不存在" }))
        .collect();
    api_ok(json!({ "openDingId": id, "failedList": failed }))
}

fn workflow(
    state: &mut State,
    method: &Method,
    path: &str,
    query: &HashMap<String, String>,
    body: &Value,
) -> (Response, Vec<Value>) {
    match (method.as_str(), path) {
        ("POST", "/v1.0/workflow/processInstances") => {
            let code = text(body, "processCode");
            let Some((required, _)) = state.processes.get(&code).cloned() else {
                return (
                    api_err(400, "processCodeError", "processCode 不存在"),
                    vec![],
                );
            };
            let originator = text(body, "originatorUserId");
            if !state.users.contains_key(&originator) {
                return (
                    api_err(400, "userNotExist", &format!("发起人 {originator} 不存在")),
                    vec![],
                );
            }
            let form: Vec<(String, String)> = body["formComponentValues"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| (text(f, "name"), text(f, "value")))
                .collect();
            if let Some(missing) = required
                .iter()
                .find(|r| !form.iter().any(|(n, v)| n == *r && !v.is_empty()))
            {
                return (
                    api_err(
                        400,
                        "formComponentValuesError",
                        &format!("表单项 {missing} 必填"),
                    ),
                    vec![],
                );
            }
            let approvers: Vec<String> = body["approvers"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|a| a["userIds"].as_array().cloned().unwrap_or_default())
                .filter_map(|u| u.as_str().map(String::from))
                .collect();
            if let Some(unknown) = approvers.iter().find(|u| !state.users.contains_key(*u)) {
                return (
                    api_err(400, "userNotExist", &format!("审批人 {unknown} 不存在")),
                    vec![],
                );
            }
            let (id, events) = state.create_instance(&code, &originator, form, approvers);
            (api_ok(json!({ "instanceId": id })), events)
        }
        ("GET", "/v1.0/workflow/processInstances") => {
            let id = query.get("processInstanceId").cloned().unwrap_or_default();
            match state.instances.get(&id) {
                Some(instance) => (
                    api_ok(json!({ "success": true, "result": state.instance_json(instance) })),
                    vec![],
                ),
                None => (
                    api_err(400, "processInstanceNotExist", "审批实例不存在"),
                    vec![],
                ),
            }
        }
        ("POST", "/v1.0/workflow/processInstances/execute") => {
            let agree = match text(body, "result").as_str() {
                "agree" => true,
                "refuse" => false,
                _ => {
                    return (
                        api_err(400, "InvalidParameter", "result 只能是 agree 或 refuse"),
                        vec![],
                    );
                }
            };
            let task = number(body, "taskId").unwrap_or(-1);
            match state.execute(
                &text(body, "processInstanceId"),
                task,
                &text(body, "actionerUserId"),
                agree,
                &text(body, "remark"),
            ) {
                Ok(events) => (api_ok(json!({ "result": true, "success": true })), events),
                Err((code, message)) => (api_err(400, code, &message), vec![]),
            }
        }
        ("POST", "/v1.0/workflow/processInstances/terminate") => {
            match state.terminate(
                &text(body, "processInstanceId"),
                &text(body, "operatingUserId"),
            ) {
                Ok(events) => (api_ok(json!({ "result": true, "success": true })), events),
                Err((code, message)) => (api_err(400, code, &message), vec![]),
            }
        }
        _ => (api_err(404, "NotFound", "no such API"), vec![]),
    }
}
