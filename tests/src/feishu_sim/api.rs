//! The HTTP side: one handler that does what every Feishu endpoint does first (faults, QPS, token), then
//! dispatches on the path under `/open-apis/`. Successes are HTTP 200 `{"code":0,"msg":"success","data":{…}}`;
//! errors an HTTP status (400 for most, 404 when no endpoint matched, 429 for the rate limit, 500 for internal
//! failures) with `{"code":N,"msg":"…"}`. The tenant token and OAuth token endpoints answer at the top level,
//! without `data`, as Feishu's do.
//!
//! Codes marked "guessed" are not in the platform reference as we have it; they are plausible neighbours of
//! documented codes (a connector should treat them as opaque failures), and their messages say "not exist" or
//! "not found" where something is missing, so tests can match on meaning.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State as Extract};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::{Dept, Fault, Message, State, Urgent, hex_id, now_ms};

type Shared = Arc<Mutex<State>>;
pub(super) type Params = HashMap<String, String>;

// Documented in the platform reference (§3.6) or its sources.
const RATE_LIMIT: i64 = 99991400;
const TOKEN_INVALID: i64 = 99991663;
const USER_TOKEN_INVALID: i64 = 99991668;
/// Missing or malformed `Authorization` header ([U] in the reference).
const TOKEN_MISSING: i64 = 99991661;
const NO_SCOPE: i64 = 99991672;
/// `tenant_access_token/internal` with a wrong app id or secret.
const APP_SECRET_INVALID: i64 = 10014;
/// Feishu's generic "field validation failed" for a malformed or missing field.
const FIELD_INVALID: i64 = 99992402;
/// Guessed: a body that is not JSON at all.
const BAD_JSON: i64 = 9499;
/// Guessed: the code of an unexpected server-side failure.
const INTERNAL: i64 = 1;

// contact/v3: all guessed.
const DEPT_NOT_FOUND: i64 = 40011;
const PARENT_NOT_FOUND: i64 = 40013;
const DEPT_NAME_TAKEN: i64 = 43007;
const DEPT_ID_TAKEN: i64 = 43008;
/// Deleting a department that still has members or sub-departments.
const DEPT_NOT_EMPTY: i64 = 43009;
/// Deleting, moving or editing the root department, or moving a department below itself.
const DEPT_BAD_MOVE: i64 = 43010;
const USER_NOT_FOUND: i64 = 41012;
const MOBILE_TAKEN: i64 = 41014;
const EMAIL_TAKEN: i64 = 41015;
const USER_ID_TAKEN: i64 = 41016;

// contact/v3 user groups: all guessed (the 42xxx range beside the department and user codes above). A member
// `batch_add` refuses gets its code in `results`; `batch_remove` refuses the whole request.
const GROUP_NOT_FOUND: i64 = 42001;
/// Group names are unique in a tenant (documented; the code is guessed).
const GROUP_NAME_TAKEN: i64 = 42002;
const GROUP_ID_TAKEN: i64 = 42003;
/// At most 500 user groups per tenant (documented; the code is guessed).
const GROUP_LIMIT: i64 = 42004;
/// Per member in `batch_add` results: already in the group.
const MEMBER_EXISTS: i64 = 42005;
/// `batch_remove` of a user who is not in the group.
const MEMBER_NOT_IN_GROUP: i64 = 42006;
/// User groups per tenant (documented: "单租户内用户组总数上限为 500").
const MAX_GROUPS: usize = 500;

// authen/v2/oauth/token: guessed, with the OAuth `error` strings of RFC 6749 beside them.
const OAUTH_BAD_REQUEST: i64 = 20001;
const OAUTH_BAD_CLIENT: i64 = 20002;
const OAUTH_BAD_GRANT: i64 = 20003;

// im/v1.
/// The content is not a JSON string of the right shape (230001 is Feishu's "invalid request parameter" for
/// messages; its use for content is a guess).
const BAD_CONTENT: i64 = 230001;
/// Guessed: the chat does not exist or the bot is not in it.
const CHAT_NOT_FOUND: i64 = 230002;
/// The receiver is outside the bot's availability (or not a user at all).
const NO_AVAILABILITY: i64 = 230013;
/// Guessed: the message was already recalled.
const RECALLED: i64 = 230011;
/// Guessed: batch messages cannot be recalled or urged through `im/v1/messages`.
const BATCH_MESSAGE: i64 = 230020;
/// Guessed: no urgent (SMS / phone) quota left.
const URGENT_QUOTA: i64 = 230024;
/// Guessed: older than the recall window (24 h by default).
const RECALL_WINDOW: i64 = 230026;
/// Guessed: no such message.
const MESSAGE_NOT_FOUND: i64 = 231003;

// approval/v4: all guessed, in the 1390xxx range Feishu's approval errors use.
const APPROVAL_PARAM: i64 = 1390001;
const APPROVAL_NOT_FOUND: i64 = 1390002;
const INSTANCE_NOT_FOUND: i64 = 1390003;
const ALREADY_SUBSCRIBED: i64 = 1390007;
const NOT_SUBSCRIBED: i64 = 1390008;
const TASK_NOT_FOUND: i64 = 1390015;
/// The user is not the task's assignee (or, for a cancel, not the applicant).
const NOT_ASSIGNEE: i64 = 1390016;
/// The task or instance is no longer pending.
const NOT_PENDING: i64 = 1390018;

pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/ws", axum::routing::get(super::gateway::connect))
        .fallback(handle)
        .with_state(state)
}

pub(super) fn ok(data: Value) -> Response {
    axum::Json(json!({ "code": 0, "msg": "success", "data": data })).into_response()
}

fn fail(status: u16, code: i64, msg: &str) -> Response {
    let body = json!({ "code": code, "msg": msg });
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

/// An error found in a helper, turned into an answer at the end of `route`: HTTP status, code and message.
pub struct Refusal(pub(super) u16, pub(super) i64, pub(super) String);

/// A refusal with HTTP 400, as most are.
fn refuse(code: i64, msg: &str) -> Refusal {
    Refusal(400, code, msg.to_string())
}

impl From<Refusal> for Response {
    fn from(Refusal(status, code, msg): Refusal) -> Response {
        fail(status, code, &msg)
    }
}

/// HTTP 429 with Feishu's gateway headers: the limit and the seconds to wait before retrying.
fn rate_limited(qps: u32, reset: u64) -> Response {
    let mut response = fail(429, RATE_LIMIT, "request trigger frequency limit");
    let headers = response.headers_mut();
    headers.insert("x-ogw-ratelimit-limit", qps.into());
    headers.insert("x-ogw-ratelimit-reset", reset.into());
    response
}

fn bearer(headers: &HeaderMap) -> Option<String> {
    headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

async fn handle(
    Extract(shared): Extract<Shared>,
    method: Method,
    uri: Uri,
    Query(query): Query<Params>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let (fault, qps) = {
        let mut state = shared.lock().unwrap();
        state.requests.push(path.clone());
        (state.take_fault(&path), state.options.qps)
    };
    let mut late = None;
    match fault {
        Some(Fault::LateAnswer(delay)) => late = Some(delay),
        Some(Fault::Status(status)) => {
            return (
                StatusCode::from_u16(status).unwrap(),
                "<html>upstream error</html>",
            )
                .into_response();
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::RateLimit) => return rate_limited(qps, 1),
        Some(Fault::RevokeToken) => {
            if let Some(token) = bearer(&headers) {
                shared.lock().unwrap().tokens.remove(&token);
            }
        }
        Some(Fault::MissingScope(scope)) => {
            return refuse(
                NO_SCOPE,
                &format!(
                    "Access denied. One of the following scopes is required: [{scope}]. \
                     应用尚未开通所需的应用身份权限：[{scope}]"
                ),
            )
            .into();
        }
        Some(Fault::Internal) => return fail(500, INTERNAL, "internal error"),
        None => {}
    }
    // The long connection's endpoint lives outside /open-apis/ (Feishu's SDKs post it to the same domain).
    if path == super::gateway::ENDPOINT_PATH && method == Method::POST {
        let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
        return super::gateway::endpoint(&mut shared.lock().unwrap(), &headers, &body);
    }
    let Some(op) = path.strip_prefix("/open-apis/").map(str::to_string) else {
        return fail(404, 404, "404 page not found");
    };
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(_) => return refuse(BAD_JSON, "Bad Request: the body is not valid JSON").into(),
        }
    };
    // The lock is released before any late answer is awaited.
    let response = {
        let mut state = shared.lock().unwrap();
        // Token endpoints have their own limits in Feishu; keep them out of the test QPS.
        let token_endpoint = op.starts_with("auth/v3/") || op == "authen/v2/oauth/token";
        if !token_endpoint && let Err(reset) = state.within_qps(&path) {
            return rate_limited(qps, reset);
        }
        let mut user = None;
        // These act as a person: they take that person's user_access_token, not the app's.
        if op == "authen/v1/user_info" || op == "approval/v4/instances/remind" {
            match bearer(&headers).and_then(|t| state.user_of_token(&t)) {
                Some(u) => user = Some(u),
                None => {
                    return refuse(
                        USER_TOKEN_INVALID,
                        "Invalid access token for authorization. Please make a request with token attached.",
                    ).into();
                }
            }
        } else if !token_endpoint {
            match bearer(&headers) {
                None => {
                    return refuse(
                        TOKEN_MISSING,
                        "Missing access token for authorization. Please make a request with token attached.",
                    ).into();
                }
                Some(token) if !state.token_valid(&token) => {
                    return refuse(
                        TOKEN_INVALID,
                        "Invalid access token for authorization. Please make a request with token attached.",
                    ).into();
                }
                Some(_) => {}
            }
        }
        route(&mut state, &method, &op, &query, &body, user)
    };
    if let Some(delay) = late {
        tokio::time::sleep(delay).await;
    }
    response
}

/// A string field, also from a number.
pub(super) fn text(body: &Value, key: &str) -> String {
    match &body[key] {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn number(body: &Value, key: &str) -> Option<i64> {
    match &body[key] {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
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

pub(super) fn param<'a>(query: &'a Params, key: &str) -> &'a str {
    query.get(key).map(String::as_str).unwrap_or("")
}

/// `user_id_type` (open_id by default) and `department_id_type` (open_department_id by default), checked.
fn id_types(query: &Params) -> Result<(&str, &str), Refusal> {
    let user = match param(query, "user_id_type") {
        "" => "open_id",
        t @ ("open_id" | "union_id" | "user_id") => t,
        _ => {
            return Err(refuse(
                FIELD_INVALID,
                "field validation failed: user_id_type",
            ));
        }
    };
    let dept = match param(query, "department_id_type") {
        "" => "open_department_id",
        t @ ("open_department_id" | "department_id") => t,
        _ => {
            return Err(refuse(
                FIELD_INVALID,
                "field validation failed: department_id_type",
            ));
        }
    };
    Ok((user, dept))
}

/// One page of `items`: `page_size` (default and maximum per endpoint) and an opaque `page_token`.
fn page(items: Vec<Value>, query: &Params, default: usize, max: usize) -> Result<Value, Refusal> {
    paged(&items, query, default, max, "items", Value::clone)
}

/// One page of `items` under `key`, only the page's items rendered (lists of thousands stay cheap), with
/// `has_more` and, when there is more, the `page_token` of the next page.
pub(super) fn paged<T>(
    items: &[T],
    query: &Params,
    default: usize,
    max: usize,
    key: &str,
    render: impl Fn(&T) -> Value,
) -> Result<Value, Refusal> {
    let size = match param(query, "page_size") {
        "" => default,
        s => match s.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                return Err(refuse(
                    FIELD_INVALID,
                    &format!("field validation failed: page_size must be 1-{max}"),
                ));
            }
        },
    };
    let start = match param(query, "page_token") {
        "" => 0,
        token => match token.strip_prefix("sim-page-").and_then(|n| n.parse().ok()) {
            Some(n) => n,
            None => return Err(refuse(FIELD_INVALID, "field validation failed: page_token")),
        },
    };
    let total = items.len();
    let page: Vec<Value> = items.iter().skip(start).take(size).map(render).collect();
    let next = start.min(total) + page.len();
    let mut data = json!({ key: page, "has_more": next < total });
    if next < total {
        data["page_token"] = json!(format!("sim-page-{next}"));
    }
    Ok(data)
}

fn route(
    state: &mut State,
    method: &Method,
    op: &str,
    query: &Params,
    body: &Value,
    user: Option<String>,
) -> Response {
    let segments: Vec<&str> = op.trim_end_matches('/').split('/').collect();
    let answer = match (method.as_str(), segments.as_slice()) {
        ("POST", ["auth", "v3", "tenant_access_token", "internal"]) => {
            Ok(tenant_token(state, body))
        }
        ("POST", ["contact", "v3", "departments"]) => create_dept(state, query, body),
        ("GET", ["contact", "v3", "departments", id, "children"]) => children(state, query, id),
        ("GET", ["contact", "v3", "departments", id]) => {
            let (user_type, dept_type) = match id_types(query) {
                Ok(types) => types,
                Err(refusal) => return refusal.into(),
            };
            dept_of(state, id, dept_type).map(|d| {
                ok(json!({ "department": state.dept_json(&state.depts[&d], user_type, dept_type) }))
            })
        }
        ("PATCH" | "PUT", ["contact", "v3", "departments", id]) => {
            patch_dept(state, query, id, body)
        }
        ("DELETE", ["contact", "v3", "departments", id]) => delete_dept(state, query, id),
        ("POST", ["contact", "v3", "users"]) => create_user(state, query, body),
        ("GET", ["contact", "v3", "users", "find_by_department"]) => {
            find_by_department(state, query)
        }
        ("POST", ["contact", "v3", "users", "batch_get_id"]) => batch_get_id(state, query, body),
        ("GET", ["contact", "v3", "users", id]) => id_types(query).and_then(|(ut, dt)| {
            let user = user_of(state, id, ut)?;
            Ok(ok(
                json!({ "user": state.user_json(&state.users[&user], ut, dt) }),
            ))
        }),
        ("PATCH" | "PUT", ["contact", "v3", "users", id]) => patch_user(state, query, id, body),
        ("DELETE", ["contact", "v3", "users", id]) => id_types(query).and_then(|(ut, _)| {
            let user = user_of(state, id, ut)?;
            state.users.remove(&user);
            for group in state.groups.values_mut() {
                group.members.remove(&user);
            }
            Ok(ok(json!({})))
        }),
        ("POST", ["contact", "v3", "group"]) => create_group(state, query, body),
        ("GET", ["contact", "v3", "group", "simplelist"]) => list_groups(state, query),
        ("GET", ["contact", "v3", "group", id]) => {
            group_of(state, id).map(|g| ok(json!({ "group": group_json(&state.groups[&g]) })))
        }
        ("GET", ["contact", "v3", "group", id, "member", "simplelist"]) => {
            group_members(state, query, id)
        }
        (
            "POST",
            [
                "contact",
                "v3",
                "group",
                id,
                "member",
                action @ ("batch_add" | "batch_remove"),
            ],
        ) => change_members(state, id, body, *action == "batch_add"),
        ("POST", ["authen", "v2", "oauth", "token"]) => Ok(oauth_token(state, body)),
        ("GET", ["authen", "v1", "user_info"]) => Ok(user_info(state, user.as_deref())),
        ("POST", ["im", "v1", "messages"]) => send_message(state, query, body),
        ("DELETE", ["im", "v1", "messages", id]) => recall(state, id),
        ("GET", ["im", "v1", "messages", id, "read_users"]) => read_users(state, query, id),
        ("PATCH", ["im", "v1", "messages", id, kind]) if kind.starts_with("urgent_") => {
            urgent(state, query, id, &kind["urgent_".len()..], body)
        }
        ("POST", ["message", "v4", "batch_send"]) => batch_send(state, body),
        ("GET", ["im", "v1", "batch_messages", id, "read_user"]) => match state.message(id) {
            Some(m) if m.is_batch() => Ok(ok(json!({ "read_user": {
                "read_count": m.read.len().to_string(),
                "total_count": m.recipients.len().to_string(),
            }}))),
            _ => Err(refuse(
                MESSAGE_NOT_FOUND,
                &format!("batch message {id} not exist"),
            )),
        },
        ("GET", ["approval", "v4", "approvals", code]) => definition(state, code),
        (
            "POST",
            [
                "approval",
                "v4",
                "approvals",
                code,
                action @ ("subscribe" | "unsubscribe"),
            ],
        ) => subscribe(state, code, *action == "subscribe"),
        ("POST", ["approval", "v4", "instances"]) => create_instance(state, body),
        ("POST", ["approval", "v4", "instances", "cancel"]) => cancel(state, query, body),
        ("GET", ["approval", "v4", "instances", code]) => match state.instances.get(*code) {
            Some(instance) => Ok(ok(state.instance_json(instance))),
            None => Err(refuse(
                INSTANCE_NOT_FOUND,
                &format!("instance {code} not found"),
            )),
        },
        ("POST", ["approval", "v4", "tasks", action @ ("approve" | "reject")]) => {
            decide(state, query, body, *action == "approve")
        }
        ("POST", ["approval", "v4", "instances", "remind"]) => {
            remind(state, query, body, user.as_deref())
        }
        ("GET" | "POST" | "PATCH" | "DELETE", ["task", "v2", rest @ ..]) => {
            super::tasks::route(state, method, rest, query, body)
                .unwrap_or_else(|| Err(no_endpoint(method, op)))
        }
        ("GET" | "POST" | "DELETE", ["im", "v1", "chats", rest @ ..]) => {
            super::chats::route(state, method, rest, query, body)
                .unwrap_or_else(|| Err(no_endpoint(method, op)))
        }
        _ => Err(no_endpoint(method, op)),
    };
    answer.unwrap_or_else(Response::from)
}

fn no_endpoint(method: &Method, op: &str) -> Refusal {
    Refusal(
        404,
        404,
        format!("404 page not found: simulator has no {method} /open-apis/{op}"),
    )
}

fn tenant_token(state: &mut State, body: &Value) -> Response {
    if text(body, "app_id") != state.options.app_id
        || text(body, "app_secret") != state.options.app_secret
    {
        return refuse(APP_SECRET_INVALID, "app secret invalid").into();
    }
    let (token, left) = state.issue_token();
    // The same token comes back with only the time it has left.
    let expire = left.as_secs() + u64::from(left.subsec_nanos() > 0);
    axum::Json(json!({
        "code": 0, "msg": "ok", "tenant_access_token": token, "expire": expire,
    }))
    .into_response()
}

/// The custom id of a department named in the path or body, or a "not exist" refusal.
fn dept_of(state: &State, id: &str, dept_type: &str) -> Result<String, Refusal> {
    state
        .find_dept(id, dept_type)
        .ok_or_else(|| refuse(DEPT_NOT_FOUND, &format!("department {id} not exist")))
}

/// The `user_id` of a user named in the path or body, or a "not exist" refusal.
fn user_of(state: &State, id: &str, user_type: &str) -> Result<String, Refusal> {
    state
        .find_user(id, user_type)
        .map(|u| u.user_id.clone())
        .ok_or_else(|| refuse(USER_NOT_FOUND, &format!("user {id} not exist")))
}

fn create_dept(state: &mut State, query: &Params, body: &Value) -> Result<Response, Refusal> {
    let (user_type, dept_type) = id_types(query)?;
    let client_token = param(query, "client_token");
    let answer = |state: &State, id: &str| {
        ok(json!({ "department": state.dept_json(&state.depts[id], user_type, dept_type) }))
    };
    // A retried create with the same client_token answers the department the first one made.
    if let Some(id) = state.client_tokens.get(&format!("dept:{client_token}"))
        && !client_token.is_empty()
        && state.depts.contains_key(id)
    {
        return Ok(answer(state, &id.clone()));
    }
    let name = text(body, "name");
    if name.is_empty() {
        return Err(refuse(
            FIELD_INVALID,
            "field validation failed: name is required",
        ));
    }
    let parent_ref = text(body, "parent_department_id");
    let parent = state.find_dept(&parent_ref, dept_type).ok_or_else(|| {
        refuse(
            PARENT_NOT_FOUND,
            &format!("parent department {parent_ref} not exist"),
        )
    })?;
    if state
        .depts
        .values()
        .any(|d| d.parent == parent && d.name == name)
    {
        return Err(refuse(
            DEPT_NAME_TAKEN,
            "department name already exists under the parent",
        ));
    }
    let id = match text(body, "department_id") {
        id if id.is_empty() => loop {
            let id = format!("d{}", state.next_id());
            if !state.depts.contains_key(&id) {
                break id;
            }
        },
        id if state.depts.contains_key(&id) => {
            return Err(refuse(DEPT_ID_TAKEN, "department_id already exists"));
        }
        id => id,
    };
    let leader = match text(body, "leader_user_id") {
        l if l.is_empty() => None,
        l => Some(user_of(state, &l, user_type)?),
    };
    state.add_dept(&id, &name, &parent, number(body, "order").unwrap_or(0));
    state.depts.get_mut(&id).unwrap().leader = leader;
    if !client_token.is_empty() {
        state
            .client_tokens
            .insert(format!("dept:{client_token}"), id.clone());
    }
    Ok(answer(state, &id))
}

fn patch_dept(
    state: &mut State,
    query: &Params,
    id: &str,
    body: &Value,
) -> Result<Response, Refusal> {
    let (user_type, dept_type) = id_types(query)?;
    let id = dept_of(state, id, dept_type)?;
    if id == "0" {
        return Err(refuse(
            DEPT_BAD_MOVE,
            "the root department can not be modified",
        ));
    }
    let mut dept: Dept = state.depts[&id].clone();
    if body.get("name").is_some() {
        dept.name = text(body, "name");
        if dept.name.is_empty() {
            return Err(refuse(FIELD_INVALID, "field validation failed: name"));
        }
    }
    if body.get("parent_department_id").is_some() {
        let parent_ref = text(body, "parent_department_id");
        let parent = state.find_dept(&parent_ref, dept_type).ok_or_else(|| {
            refuse(
                PARENT_NOT_FOUND,
                &format!("parent department {parent_ref} not exist"),
            )
        })?;
        if parent == id || state.children(&id, true).contains(&parent) {
            return Err(refuse(
                DEPT_BAD_MOVE,
                "a department can not move below itself",
            ));
        }
        dept.parent = parent;
    }
    if let Some(order) = number(body, "order") {
        dept.order = order;
    }
    if body.get("leader_user_id").is_some() {
        dept.leader = match text(body, "leader_user_id") {
            l if l.is_empty() => None,
            l => Some(user_of(state, &l, user_type)?),
        };
    }
    if state
        .depts
        .values()
        .any(|d| d.department_id != id && d.parent == dept.parent && d.name == dept.name)
    {
        return Err(refuse(
            DEPT_NAME_TAKEN,
            "department name already exists under the parent",
        ));
    }
    state.depts.insert(id.clone(), dept);
    Ok(ok(
        json!({ "department": state.dept_json(&state.depts[&id], user_type, dept_type) }),
    ))
}

fn delete_dept(state: &mut State, query: &Params, id: &str) -> Result<Response, Refusal> {
    let (_, dept_type) = id_types(query)?;
    let id = dept_of(state, id, dept_type)?;
    if id == "0" {
        return Err(refuse(
            DEPT_BAD_MOVE,
            "the root department can not be deleted",
        ));
    }
    if state.users.values().any(|u| u.department_ids.contains(&id)) {
        return Err(refuse(DEPT_NOT_EMPTY, "department has members"));
    }
    if !state.children(&id, false).is_empty() {
        return Err(refuse(DEPT_NOT_EMPTY, "department has sub-departments"));
    }
    state.depts.remove(&id);
    Ok(ok(json!({})))
}

fn children(state: &State, query: &Params, id: &str) -> Result<Response, Refusal> {
    let (user_type, dept_type) = id_types(query)?;
    let parent = dept_of(state, id, dept_type)?;
    let recursive = param(query, "fetch_child") == "true";
    let ids = state.children(&parent, recursive);
    let counts = state.member_counts();
    let data = paged(&ids, query, 10, 50, "items", |d| {
        let count = counts.get(d.as_str()).copied().unwrap_or(0);
        state.dept_json_counted(&state.depts[d], user_type, dept_type, count)
    })?;
    Ok(ok(data))
}

/// "13800000001" and "+8613800000001" are the same Chinese number.
fn normal_mobile(mobile: &str) -> String {
    let mobile = mobile.trim();
    if mobile.is_empty() || mobile.starts_with('+') {
        mobile.to_string()
    } else {
        format!("+86{mobile}")
    }
}

/// Whether a stored mobile is the (normalised) `wanted` one, without allocating: checked against every user on
/// each create and update.
fn same_mobile(stored: &str, wanted: &str) -> bool {
    let stored = stored.trim();
    if stored.is_empty() || stored.starts_with('+') {
        stored == wanted
    } else {
        wanted.strip_prefix("+86") == Some(stored)
    }
}

/// A mobile Feishu takes: digits, with a leading `+` and country code for numbers outside the mainland.
fn valid_mobile(mobile: &str) -> bool {
    let digits = mobile.strip_prefix('+').unwrap_or(mobile);
    (5..=20).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

fn create_user(state: &mut State, query: &Params, body: &Value) -> Result<Response, Refusal> {
    let (user_type, dept_type) = id_types(query)?;
    let client_token = param(query, "client_token");
    if let Some(id) = state.client_tokens.get(&format!("user:{client_token}"))
        && !client_token.is_empty()
        && state.users.contains_key(id)
    {
        let user = &state.users[id];
        return Ok(ok(
            json!({ "user": state.user_json(user, user_type, dept_type) }),
        ));
    }
    let name = text(body, "name");
    if name.is_empty() {
        return Err(refuse(
            FIELD_INVALID,
            "field validation failed: name is required",
        ));
    }
    if text(body, "mobile").is_empty() {
        return Err(refuse(
            FIELD_INVALID,
            "field validation failed: mobile is required",
        ));
    }
    if strings(&body["department_ids"]).is_empty() {
        return Err(refuse(
            FIELD_INVALID,
            "field validation failed: department_ids is required",
        ));
    }
    let user_id = match text(body, "user_id") {
        id if id.is_empty() => loop {
            let id = format!("u{}", &hex_id(&format!("user:{}", state.next_id()))[..8]);
            if !state.users.contains_key(&id) {
                break id;
            }
        },
        id if state.users.contains_key(&id) => {
            return Err(refuse(USER_ID_TAKEN, "user_id already exists"));
        }
        id => id,
    };
    state.add_user(&user_id, &name, "", Vec::new());
    let mut user = state.users.remove(&user_id).unwrap();
    user.email = String::new();
    let outcome = apply_user_fields(state, &mut user, body, user_type, dept_type);
    match outcome {
        Ok(()) => {
            state.users.insert(user_id.clone(), user);
            if !client_token.is_empty() {
                state
                    .client_tokens
                    .insert(format!("user:{client_token}"), user_id.clone());
            }
            let user = &state.users[&user_id];
            Ok(ok(
                json!({ "user": state.user_json(user, user_type, dept_type) }),
            ))
        }
        Err(refusal) => Err(refusal),
    }
}

fn patch_user(
    state: &mut State,
    query: &Params,
    id: &str,
    body: &Value,
) -> Result<Response, Refusal> {
    let (user_type, dept_type) = id_types(query)?;
    let user_id = user_of(state, id, user_type)?;
    let mut user = state.users[&user_id].clone();
    if body.get("name").is_some() && text(body, "name").is_empty() {
        return Err(refuse(FIELD_INVALID, "field validation failed: name"));
    }
    apply_user_fields(state, &mut user, body, user_type, dept_type)?;
    state.users.insert(user_id.clone(), user);
    Ok(ok(
        json!({ "user": state.user_json(&state.users[&user_id], user_type, dept_type) }),
    ))
}

/// The fields user create and patch share, each only when present; the checks are Feishu's.
fn apply_user_fields(
    state: &State,
    user: &mut super::state::User,
    body: &Value,
    user_type: &str,
    dept_type: &str,
) -> Result<(), Refusal> {
    let others = || state.users.values().filter(|u| u.user_id != user.user_id);
    if body.get("mobile").is_some() {
        let mobile = normal_mobile(&text(body, "mobile"));
        if !valid_mobile(&mobile) {
            return Err(refuse(FIELD_INVALID, "field validation failed: mobile"));
        }
        if others().any(|u| same_mobile(&u.mobile, &mobile)) {
            return Err(refuse(MOBILE_TAKEN, "mobile already exists"));
        }
        user.mobile = mobile;
    }
    if body.get("email").is_some() {
        let email = text(body, "email");
        if !email.is_empty() && others().any(|u| u.email == email) {
            return Err(refuse(EMAIL_TAKEN, "email already exists"));
        }
        user.email = email;
    }
    if body.get("department_ids").is_some() {
        let ids = strings(&body["department_ids"]);
        if ids.is_empty() {
            return Err(refuse(
                FIELD_INVALID,
                "field validation failed: department_ids",
            ));
        }
        user.department_ids = ids
            .iter()
            .map(|d| dept_of(state, d, dept_type))
            .collect::<Result<_, _>>()?;
    }
    if body.get("leader_user_id").is_some() {
        user.leader = match text(body, "leader_user_id") {
            l if l.is_empty() => None,
            l => Some(user_of(state, &l, user_type)?),
        };
    }
    // 暂停 (frozen): `is_frozen` on the user, reported back in `status.is_frozen`.
    match body.get("is_frozen") {
        None => {}
        Some(Value::Bool(frozen)) => user.is_frozen = *frozen,
        Some(_) => return Err(refuse(FIELD_INVALID, "field validation failed: is_frozen")),
    }
    for (key, field) in [
        ("name", &mut user.name),
        ("job_title", &mut user.job_title),
        ("employee_no", &mut user.employee_no),
    ] {
        if body.get(key).is_some() {
            *field = text(body, key);
        }
    }
    Ok(())
}

fn find_by_department(state: &State, query: &Params) -> Result<Response, Refusal> {
    let (user_type, dept_type) = id_types(query)?;
    let dept = dept_of(state, param(query, "department_id"), dept_type)?;
    let members: Vec<&super::state::User> = state
        .users
        .values()
        .filter(|u| u.department_ids.contains(&dept))
        .collect();
    let data = paged(&members, query, 10, 50, "items", |u| {
        state.user_json(u, user_type, dept_type)
    })?;
    Ok(ok(data))
}

/// The id of a user group named in the path, or a "not exist" refusal.
fn group_of(state: &State, id: &str) -> Result<String, Refusal> {
    state
        .groups
        .contains_key(id)
        .then(|| id.to_string())
        .ok_or_else(|| refuse(GROUP_NOT_FOUND, &format!("group {id} not exist")))
}

/// A `Group` as `simplelist` and `GET group/:id` answer it: `id` is what paths take; `group_id` the custom id.
fn group_json(group: &super::state::Group) -> Value {
    json!({
        "id": group.id, "name": group.name, "description": group.description,
        "member_user_count": group.members.len(), "member_department_count": 0, "type": 1,
        "group_id": group.id,
    })
}

/// `POST contact/v3/group {name, description?, type?, group_id?}` → `data.group_id`.
fn create_group(state: &mut State, query: &Params, body: &Value) -> Result<Response, Refusal> {
    id_types(query)?;
    let name = text(body, "name");
    if name.trim().is_empty() || name.chars().count() > 100 {
        return Err(refuse(
            FIELD_INVALID,
            "field validation failed: name is required, at most 100 characters",
        ));
    }
    let description = text(body, "description");
    if description.chars().count() > 500 {
        return Err(refuse(
            FIELD_INVALID,
            "field validation failed: description is at most 500 characters",
        ));
    }
    // Only ordinary groups can be made through the API; dynamic ones (2) are made in the admin console.
    if !matches!(number(body, "type"), None | Some(1)) {
        return Err(refuse(FIELD_INVALID, "field validation failed: type"));
    }
    if state.groups.values().any(|g| g.name == name) {
        return Err(refuse(GROUP_NAME_TAKEN, "group name already exists"));
    }
    if state.groups.len() >= MAX_GROUPS {
        return Err(refuse(
            GROUP_LIMIT,
            "the tenant has 500 user groups already",
        ));
    }
    let id = match text(body, "group_id") {
        id if id.is_empty() => loop {
            let id = format!("g{}", &hex_id(&format!("group:{}", state.next_id()))[..6]);
            if !state.groups.contains_key(&id) {
                break id;
            }
        },
        id if id.len() > 64 || !id.bytes().all(|b| b.is_ascii_alphanumeric()) => {
            return Err(refuse(FIELD_INVALID, "field validation failed: group_id"));
        }
        id if state.groups.contains_key(&id) => {
            return Err(refuse(GROUP_ID_TAKEN, "group_id already exists"));
        }
        id => id,
    };
    state.add_group(&id, &name, &[]);
    state.groups.get_mut(&id).unwrap().description = description;
    Ok(ok(json!({ "group_id": id })))
}

/// `GET contact/v3/group/simplelist?type=&page_size=&page_token=` (50 by default, at most 100).
fn list_groups(state: &State, query: &Params) -> Result<Response, Refusal> {
    let groups: Vec<&super::state::Group> = match param(query, "type") {
        "" | "1" => state.groups.values().collect(),
        // Dynamic groups: the simulator has none.
        "2" => Vec::new(),
        _ => return Err(refuse(FIELD_INVALID, "field validation failed: type")),
    };
    let data = paged(&groups, query, 50, 100, "grouplist", |g| group_json(g))?;
    Ok(ok(data))
}

/// `member_id_type` of a member list (open_id by default), checked.
fn member_id_type(value: &str) -> Result<&str, Refusal> {
    match value {
        "" => Ok("open_id"),
        t @ ("open_id" | "union_id" | "user_id") => Ok(t),
        _ => Err(refuse(
            FIELD_INVALID,
            "field validation failed: member_id_type",
        )),
    }
}

/// `GET contact/v3/group/:id/member/simplelist?member_id_type=&member_type=&page_size=&page_token=`: user
/// members as `{member_id, member_type}` (`member_id_type` is a request field only); 50 a page, at most 100.
fn group_members(state: &State, query: &Params, id: &str) -> Result<Response, Refusal> {
    let group = &state.groups[&group_of(state, id)?];
    let id_type = member_id_type(param(query, "member_id_type"))?;
    let members: Vec<&String> = match param(query, "member_type") {
        "" | "user" => group.members.iter().collect(),
        // The simulator's groups have users only.
        "department" => Vec::new(),
        _ => {
            return Err(refuse(
                FIELD_INVALID,
                "field validation failed: member_type",
            ));
        }
    };
    let data = paged(
        &members,
        query,
        50,
        100,
        "memberlist",
        |u| json!({ "member_id": state.user_ref(u, id_type), "member_type": "user" }),
    )?;
    Ok(ok(data))
}

/// `POST contact/v3/group/:id/member/batch_add` / `batch_remove {members: [{member_id, member_type: "user",
/// member_id_type}]}`, 1 to 100 members. Adding answers a result per member (code 0 when added); removing a
/// user who is not a member (or not a user) refuses the whole request and changes nothing.
fn change_members(
    state: &mut State,
    id: &str,
    body: &Value,
    add: bool,
) -> Result<Response, Refusal> {
    let group_id = group_of(state, id)?;
    let members = body["members"].as_array().cloned().unwrap_or_default();
    if members.is_empty() || members.len() > 100 {
        return Err(refuse(
            FIELD_INVALID,
            "field validation failed: members must hold 1-100 members",
        ));
    }
    let mut wanted = Vec::new();
    for member in &members {
        if !matches!(member["member_type"].as_str(), Some("user")) {
            return Err(refuse(
                FIELD_INVALID,
                "field validation failed: member_type must be user",
            ));
        }
        let id_type = member_id_type(member["member_id_type"].as_str().unwrap_or(""))?;
        let member_id = text(member, "member_id");
        let user = state
            .find_user(&member_id, id_type)
            .map(|u| u.user_id.clone());
        wanted.push((member_id, user));
    }
    let group = state.groups.get_mut(&group_id).unwrap();
    if add {
        let results: Vec<Value> = wanted
            .into_iter()
            .map(|(member_id, user)| {
                let code = match user.map(|u| group.members.insert(u)) {
                    None => USER_NOT_FOUND,
                    Some(true) => 0,
                    Some(false) => MEMBER_EXISTS,
                };
                json!({ "member_id": member_id, "code": code })
            })
            .collect();
        return Ok(ok(json!({ "results": results })));
    }
    for (member_id, user) in &wanted {
        match user {
            None => {
                return Err(refuse(
                    USER_NOT_FOUND,
                    &format!("user {member_id} not exist"),
                ));
            }
            Some(user) if !group.members.contains(user) => {
                return Err(refuse(
                    MEMBER_NOT_IN_GROUP,
                    &format!("member {member_id} not exist in the group"),
                ));
            }
            Some(_) => {}
        }
    }
    for (_, user) in wanted {
        group.members.remove(&user.unwrap());
    }
    Ok(ok(json!({})))
}

fn batch_get_id(state: &State, query: &Params, body: &Value) -> Result<Response, Refusal> {
    let (user_type, _) = id_types(query)?;
    let (mobiles, emails) = (strings(&body["mobiles"]), strings(&body["emails"]));
    if mobiles.len() > 50 || emails.len() > 50 {
        return Err(refuse(
            FIELD_INVALID,
            "field validation failed: at most 50 mobiles and 50 emails",
        ));
    }
    // Only active members are found; unknown ones come back without a user_id.
    let active = |u: &&super::state::User| !u.is_resigned && !u.is_frozen;
    let mut list = Vec::new();
    for mobile in mobiles {
        let wanted = normal_mobile(&mobile);
        let found = state
            .users
            .values()
            .filter(active)
            .find(|u| normal_mobile(&u.mobile) == wanted);
        let mut row = json!({ "mobile": mobile });
        if let Some(u) = found {
            row["user_id"] = json!(state.user_ref(&u.user_id, user_type));
        }
        list.push(row);
    }
    for email in emails {
        let found = state
            .users
            .values()
            .filter(active)
            .find(|u| u.email == email);
        let mut row = json!({ "email": email });
        if let Some(u) = found {
            row["user_id"] = json!(state.user_ref(&u.user_id, user_type));
        }
        list.push(row);
    }
    Ok(ok(json!({ "user_list": list })))
}

/// OAuth errors are top-level, RFC 6749 style, next to Feishu's numeric code.
fn oauth_err(code: i64, error: &str, description: &str) -> Response {
    let body = json!({ "code": code, "error": error, "error_description": description });
    (StatusCode::BAD_REQUEST, axum::Json(body)).into_response()
}

fn oauth_token(state: &mut State, body: &Value) -> Response {
    if text(body, "client_id") != state.options.app_id
        || text(body, "client_secret") != state.options.app_secret
    {
        return oauth_err(
            OAUTH_BAD_CLIENT,
            "invalid_client",
            "client_id or client_secret is invalid",
        );
    }
    let user_id = match text(body, "grant_type").as_str() {
        "authorization_code" => match state.codes.remove(&text(body, "code")) {
            Some(user) => user,
            None => {
                return oauth_err(
                    OAUTH_BAD_GRANT,
                    "invalid_grant",
                    "the authorization code is not found, expired or already used",
                );
            }
        },
        "refresh_token" => match state.refresh_tokens.remove(&text(body, "refresh_token")) {
            Some(user) => user,
            None => {
                return oauth_err(
                    OAUTH_BAD_GRANT,
                    "invalid_grant",
                    "the refresh token is not found, expired or already used",
                );
            }
        },
        _ => {
            return oauth_err(
                OAUTH_BAD_REQUEST,
                "unsupported_grant_type",
                "grant_type must be authorization_code or refresh_token",
            );
        }
    };
    let n = state.next_id();
    let token = format!("u-sim{}", hex_id(&format!("user-token:{n}")));
    let refresh = format!("ur-sim{}", hex_id(&format!("refresh:{n}")));
    let ttl = state.options.token_ttl;
    state
        .user_tokens
        .insert(token.clone(), (user_id.clone(), Instant::now() + ttl));
    state.refresh_tokens.insert(refresh.clone(), user_id);
    axum::Json(json!({
        "code": 0, "access_token": token, "expires_in": ttl.as_secs(), "refresh_token": refresh,
        "refresh_token_expires_in": 604_800, "token_type": "Bearer", "scope": "",
    }))
    .into_response()
}

fn user_info(state: &State, user: Option<&str>) -> Response {
    let Some(u) = user.and_then(|id| state.users.get(id)) else {
        return refuse(USER_NOT_FOUND, "user not exist").into();
    };
    let avatar = format!("https://s1-imfile.feishucdn.com/sim/{}_72.png", u.user_id);
    ok(json!({
        "name": u.name, "en_name": "", "avatar_url": avatar, "avatar_thumb": avatar, "avatar_middle": avatar,
        "avatar_big": avatar, "open_id": u.open_id, "union_id": u.union_id, "email": u.email,
        "enterprise_email": "", "user_id": u.user_id, "mobile": u.mobile, "tenant_key": state.options.tenant_key,
        "employee_no": u.employee_no,
    }))
}

fn message_json(state: &State, m: &Message) -> Value {
    json!({
        "message_id": m.message_id, "root_id": "", "parent_id": "", "msg_type": m.msg_type,
        // Milliseconds, as decimal strings.
        "create_time": m.create_time.to_string(), "update_time": m.create_time.to_string(),
        "deleted": m.recalled, "updated": false, "chat_id": m.chat_id,
        "sender": {
            "id": state.options.app_id, "id_type": "app_id", "sender_type": "app",
            "tenant_key": state.options.tenant_key,
        },
        "body": { "content": m.content.as_str().unwrap_or_default() },
    })
}

const MSG_TYPES: [&str; 11] = [
    "text",
    "post",
    "image",
    "file",
    "audio",
    "media",
    "sticker",
    "interactive",
    "share_chat",
    "share_user",
    "system",
];

/// A user the bot can message: known, active and not resigned.
fn reachable<'a>(state: &'a State, id: &str, id_type: &str) -> Option<&'a super::state::User> {
    let user = match id_type {
        "email" => state.users.values().find(|u| u.email == id),
        _ => state.find_user(id, id_type),
    }?;
    (user.is_activated && !user.is_resigned && !user.is_frozen).then_some(user)
}

fn send_message(state: &mut State, query: &Params, body: &Value) -> Result<Response, Refusal> {
    let id_type = param(query, "receive_id_type");
    if !["open_id", "user_id", "union_id", "email", "chat_id"].contains(&id_type) {
        return Err(refuse(
            FIELD_INVALID,
            "field validation failed: receive_id_type",
        ));
    }
    let msg_type = text(body, "msg_type");
    if !MSG_TYPES.contains(&msg_type.as_str()) {
        return Err(refuse(FIELD_INVALID, "field validation failed: msg_type"));
    }
    let uuid = Some(text(body, "uuid")).filter(|u| !u.is_empty());
    if uuid.as_ref().is_some_and(|u| u.len() > 50) {
        return Err(refuse(
            FIELD_INVALID,
            "field validation failed: uuid is at most 50 characters",
        ));
    }
    // The same uuid within an hour sends nothing new and answers the first message.
    if let Some(uuid) = &uuid {
        let hour = Duration::from_secs(3600);
        let now = SystemTime::now();
        if let Some(first) = state.messages.iter().find(|m| {
            m.uuid.as_ref() == Some(uuid)
                && now.duration_since(m.sent_at).unwrap_or_default() < hour
        }) {
            return Ok(ok(message_json(state, first)));
        }
    }
    let Value::String(content) = &body["content"] else {
        return Err(refuse(
            BAD_CONTENT,
            "invalid message content: content must be a JSON string",
        ));
    };
    let parsed: Value = serde_json::from_str(content).map_err(|_| {
        refuse(
            BAD_CONTENT,
            "invalid message content: content is not valid JSON",
        )
    })?;
    if !parsed.is_object() || (msg_type == "text" && !parsed["text"].is_string()) {
        return Err(refuse(BAD_CONTENT, "invalid message content"));
    }
    let receive_id = text(body, "receive_id");
    let (chat_id, recipients) = if id_type == "chat_id" {
        let members = state.chats.get(&receive_id).cloned().ok_or_else(|| {
            refuse(
                CHAT_NOT_FOUND,
                &format!("chat {receive_id} not found or the bot is not in it"),
            )
        })?;
        (receive_id.clone(), members)
    } else {
        let user = reachable(state, &receive_id, id_type)
            .ok_or_else(|| refuse(NO_AVAILABILITY, "Bot has NO availability to this user."))?;
        (
            format!("oc_{}", hex_id(&format!("p2p:{}", user.user_id))),
            vec![user.user_id.clone()],
        )
    };
    let message = Message {
        message_id: format!("om_{:032x}", rand::random::<u128>()),
        chat_id,
        msg_type,
        content: Value::String(content.clone()),
        uuid,
        recipients,
        read: Default::default(),
        recalled: false,
        urgent: Vec::new(),
        sent_at: SystemTime::now(),
        create_time: now_ms(),
    };
    let answer = message_json(state, &message);
    state.messages.push(message);
    Ok(ok(answer))
}

/// The index of a single (not batch) message, or why not.
fn single_message(state: &State, id: &str) -> Result<usize, Refusal> {
    match state.messages.iter().position(|m| m.message_id == id) {
        Some(i) if state.messages[i].is_batch() => Err(refuse(
            BATCH_MESSAGE,
            "batch messages are not supported by this API",
        )),
        Some(i) => Ok(i),
        None => Err(refuse(
            MESSAGE_NOT_FOUND,
            &format!("message {id} not exist"),
        )),
    }
}

fn recall(state: &mut State, id: &str) -> Result<Response, Refusal> {
    let index = single_message(state, id)?;
    let message = &mut state.messages[index];
    if message.recalled {
        return Err(refuse(RECALLED, "the message has been recalled"));
    }
    let age = SystemTime::now()
        .duration_since(message.sent_at)
        .unwrap_or_default();
    if age > Duration::from_secs(24 * 3600) {
        return Err(refuse(RECALL_WINDOW, "the message is too old to recall"));
    }
    message.recalled = true;
    Ok(ok(json!({})))
}

fn read_users(state: &State, query: &Params, id: &str) -> Result<Response, Refusal> {
    let (user_type, _) = id_types(query)?;
    let message = &state.messages[single_message(state, id)?];
    let mut reads: Vec<(&String, &u64)> = message.read.iter().collect();
    reads.sort_by_key(|(user, time)| (**time, (*user).clone()));
    let items = reads
        .into_iter()
        .map(|(user, time)| {
            json!({
                "user_id_type": user_type, "user_id": state.user_ref(user, user_type),
                "timestamp": time.to_string(), "tenant_key": state.options.tenant_key,
            })
        })
        .collect();
    Ok(ok(page(items, query, 20, 100)?))
}

fn urgent(
    state: &mut State,
    query: &Params,
    id: &str,
    kind: &str,
    body: &Value,
) -> Result<Response, Refusal> {
    if !["app", "sms", "phone"].contains(&kind) {
        return Err(Refusal(404, 404, "404 page not found".into()));
    }
    let (user_type, _) = id_types(query)?;
    let index = single_message(state, id)?;
    if state.messages[index].recalled {
        return Err(refuse(RECALLED, "the message has been recalled"));
    }
    let ids = strings(&body["user_id_list"]);
    if ids.is_empty() {
        return Err(refuse(
            FIELD_INVALID,
            "field validation failed: user_id_list",
        ));
    }
    if kind != "app" && !state.options.urgent_quota {
        return Err(refuse(URGENT_QUOTA, "urgent quota exceeded"));
    }
    // Only the message's recipients can be urged; anyone else is listed as invalid.
    let mut valid = Vec::new();
    let mut invalid = Vec::new();
    for user_ref in ids {
        match state.find_user(&user_ref, user_type) {
            Some(u) if state.messages[index].recipients.contains(&u.user_id) => {
                valid.push(u.user_id.clone())
            }
            _ => invalid.push(user_ref),
        }
    }
    if !valid.is_empty() {
        state.messages[index].urgent.push(Urgent {
            kind: kind.into(),
            user_ids: valid,
        });
    }
    Ok(ok(json!({ "invalid_user_id_list": invalid })))
}

fn batch_send(state: &mut State, body: &Value) -> Result<Response, Refusal> {
    let msg_type = text(body, "msg_type");
    let content = match msg_type.as_str() {
        "interactive" => body["card"].clone(),
        "text" | "post" | "image" | "share_chat" => body["content"].clone(),
        _ => return Err(refuse(FIELD_INVALID, "field validation failed: msg_type")),
    };
    if !content.is_object() || (msg_type == "text" && !content["text"].is_string()) {
        return Err(refuse(
            BAD_CONTENT,
            "invalid message content: content (or card) must be an object of the message type",
        ));
    }
    let lists = ["department_ids", "open_ids", "user_ids", "union_ids"].map(|k| strings(&body[k]));
    if lists.iter().all(Vec::is_empty) {
        return Err(refuse(
            FIELD_INVALID,
            "field validation failed: no recipients",
        ));
    }
    let mut recipients: Vec<String> = Vec::new();
    let mut invalid_depts = Vec::new();
    for dept in &lists[0] {
        // Batch sends take custom or open department ids, and reach the whole subtree.
        match state
            .find_dept(dept, "department_id")
            .or_else(|| state.find_dept(dept, "open_department_id"))
        {
            Some(d) => {
                let mut depts = state.children(&d, true);
                depts.push(d);
                recipients.extend(
                    state
                        .users
                        .values()
                        .filter(|u| u.department_ids.iter().any(|x| depts.contains(x)))
                        .filter(|u| u.is_activated && !u.is_resigned)
                        .map(|u| u.user_id.clone()),
                );
            }
            None => invalid_depts.push(dept.clone()),
        }
    }
    let mut invalid = [Vec::new(), Vec::new(), Vec::new()];
    for (i, id_type) in ["open_id", "user_id", "union_id"].iter().enumerate() {
        for id in &lists[i + 1] {
            match reachable(state, id, id_type) {
                Some(u) => recipients.push(u.user_id.clone()),
                None => invalid[i].push(id.clone()),
            }
        }
    }
    recipients.sort();
    recipients.dedup();
    let message_id = format!("bm_{:032x}", rand::random::<u128>());
    state.messages.push(Message {
        message_id: message_id.clone(),
        chat_id: String::new(),
        msg_type,
        content,
        uuid: None,
        recipients,
        read: Default::default(),
        recalled: false,
        urgent: Vec::new(),
        sent_at: SystemTime::now(),
        create_time: now_ms(),
    });
    let [open, user, union] = invalid;
    Ok(ok(json!({
        "message_id": message_id, "invalid_department_ids": invalid_depts, "invalid_open_ids": open,
        "invalid_user_ids": user, "invalid_union_ids": union,
    })))
}

fn definition(state: &State, code: &str) -> Result<Response, Refusal> {
    let def = state.definitions.get(code).ok_or_else(|| {
        refuse(
            APPROVAL_NOT_FOUND,
            &format!("approval code {code} not found"),
        )
    })?;
    let form: Vec<Value> = def
        .widgets
        .iter()
        .map(|w| json!({ "id": w.id, "name": w.name, "type": w.kind, "required": w.required }))
        .collect();
    let nodes: Vec<Value> = def
        .approvers
        .iter()
        .enumerate()
        .map(|(i, _)| {
            let name = format!("审批 {}", i + 1);
            json!({ "name": name, "need_approver": false, "node_id": format!("node-{}", hex_id(&name)),
                    "node_type": "AND", "approver_chosen_multi": false })
        })
        .collect();
    Ok(ok(json!({
        "approval_name": def.name, "status": "ACTIVE", "form": Value::Array(form).to_string(),
        "node_list": nodes, "viewers": [],
    })))
}

fn subscribe(state: &mut State, code: &str, on: bool) -> Result<Response, Refusal> {
    if !state.definitions.contains_key(code) {
        return Err(refuse(
            APPROVAL_NOT_FOUND,
            &format!("approval code {code} not found"),
        ));
    }
    match (on, state.subscriptions.contains(code)) {
        (true, true) => Err(refuse(ALREADY_SUBSCRIBED, "subscription existed")),
        (false, false) => Err(refuse(NOT_SUBSCRIBED, "subscription not found")),
        (true, false) => {
            state.subscriptions.insert(code.into());
            Ok(ok(json!({})))
        }
        (false, true) => {
            state.subscriptions.remove(code);
            Ok(ok(json!({})))
        }
    }
}

/// Whether a form value holds anything.
fn filled(value: &Value) -> bool {
    match value {
        Value::String(s) => !s.trim().is_empty(),
        Value::Number(_) | Value::Bool(_) => true,
        Value::Array(items) => !items.is_empty(),
        Value::Object(map) => !map.is_empty(),
        Value::Null => false,
    }
}

fn create_instance(state: &mut State, body: &Value) -> Result<Response, Refusal> {
    let code = text(body, "approval_code");
    let def = state.definitions.get(&code).cloned().ok_or_else(|| {
        refuse(
            APPROVAL_NOT_FOUND,
            &format!("approval code {code} not found"),
        )
    })?;
    let uuid = Some(text(body, "uuid")).filter(|u| !u.is_empty());
    // The same uuid answers the instance the first request made.
    if let Some(existing) = state
        .instances
        .values()
        .find(|i| uuid.is_some() && i.uuid == uuid)
    {
        return Ok(ok(json!({ "instance_code": existing.instance_code })));
    }
    let applicant = match (text(body, "user_id"), text(body, "open_id")) {
        (u, _) if !u.is_empty() => state.users.get(&u).map(|u| u.user_id.clone()),
        (_, o) if !o.is_empty() => state.find_user(&o, "open_id").map(|u| u.user_id.clone()),
        _ => return Err(refuse(APPROVAL_PARAM, "user_id or open_id is required")),
    }
    .ok_or_else(|| refuse(APPROVAL_PARAM, "the applicant does not exist"))?;
    let Value::String(form) = &body["form"] else {
        return Err(refuse(APPROVAL_PARAM, "form must be a JSON string"));
    };
    let values: Vec<Value> = serde_json::from_str(form)
        .map_err(|_| refuse(APPROVAL_PARAM, "form is not a JSON array of widgets"))?;
    for value in &values {
        let id = text(value, "id");
        if !def.widgets.iter().any(|w| w.id == id) {
            return Err(refuse(
                APPROVAL_PARAM,
                &format!("form widget {id} not exist"),
            ));
        }
    }
    if let Some(missing) = def.widgets.iter().find(|w| {
        w.required
            && !values
                .iter()
                .any(|v| v["id"] == w.id.as_str() && filled(&v["value"]))
    }) {
        return Err(refuse(
            APPROVAL_PARAM,
            &format!(
                "required widget {} ({}) has no value",
                missing.id, missing.name
            ),
        ));
    }
    let user = &state.users[&applicant];
    let department = match text(body, "department_id") {
        d if d.is_empty() => user.department_ids.first().cloned().unwrap_or("0".into()),
        d => match state
            .find_dept(&d, "department_id")
            .or_else(|| state.find_dept(&d, "open_department_id"))
        {
            Some(d) if user.department_ids.contains(&d) => d,
            _ => {
                return Err(refuse(
                    APPROVAL_PARAM,
                    "department_id is not one of the applicant's departments",
                ));
            }
        },
    };
    // Approvers chosen by the applicant (`[{key: node, value: [user_id]}]`) replace the configured flow.
    let mut chosen: Vec<String> = body["node_approver_user_id_list"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|n| strings(&n["value"]))
        .collect();
    for node in body["node_approver_open_id_list"]
        .as_array()
        .into_iter()
        .flatten()
    {
        for open_id in strings(&node["value"]) {
            let user = state
                .find_user(&open_id, "open_id")
                .ok_or_else(|| refuse(APPROVAL_PARAM, &format!("approver {open_id} not exist")))?;
            chosen.push(user.user_id.clone());
        }
    }
    if let Some(unknown) = chosen.iter().find(|u| !state.users.contains_key(*u)) {
        return Err(refuse(
            APPROVAL_PARAM,
            &format!("approver {unknown} not exist"),
        ));
    }
    let approvers = if chosen.is_empty() {
        def.approvers
    } else {
        chosen
    };
    let instance_code = state.create_instance(
        &code,
        &applicant,
        &department,
        form.clone(),
        approvers,
        uuid,
    );
    Ok(ok(json!({ "instance_code": instance_code })))
}

/// The instance named in an approve / reject / cancel body, checked against its approval code.
fn instance_of(state: &State, body: &Value) -> Result<String, Refusal> {
    let code = text(body, "instance_code");
    let instance = state
        .instances
        .get(&code)
        .ok_or_else(|| refuse(INSTANCE_NOT_FOUND, &format!("instance {code} not found")))?;
    if instance.approval_code != text(body, "approval_code") {
        return Err(refuse(
            APPROVAL_NOT_FOUND,
            "approval code not found for this instance",
        ));
    }
    Ok(code)
}

fn decide(
    state: &mut State,
    query: &Params,
    body: &Value,
    approve: bool,
) -> Result<Response, Refusal> {
    let (user_type, _) = id_types(query)?;
    let code = instance_of(state, body)?;
    let actor = state
        .find_user(&text(body, "user_id"), user_type)
        .map(|u| u.user_id.clone())
        .ok_or_else(|| refuse(APPROVAL_PARAM, "user not exist"))?;
    let task_id = text(body, "task_id");
    let instance = &state.instances[&code];
    let task = instance
        .tasks
        .iter()
        .find(|t| t.id == task_id)
        .ok_or_else(|| refuse(TASK_NOT_FOUND, &format!("task {task_id} not found")))?;
    if task.user_id != actor {
        return Err(refuse(NOT_ASSIGNEE, "the user is not the task's approver"));
    }
    if task.status != "PENDING" || instance.status != "PENDING" {
        return Err(refuse(NOT_PENDING, "the task is not pending"));
    }
    state
        .decide(&code, &task_id, approve, &text(body, "comment"))
        .map_err(|e| refuse(NOT_PENDING, &e))?;
    Ok(ok(json!({})))
}

fn cancel(state: &mut State, query: &Params, body: &Value) -> Result<Response, Refusal> {
    let (user_type, _) = id_types(query)?;
    let code = instance_of(state, body)?;
    let actor = state
        .find_user(&text(body, "user_id"), user_type)
        .map(|u| u.user_id.clone())
        .ok_or_else(|| refuse(APPROVAL_PARAM, "user not exist"))?;
    if state.instances[&code].user_id != actor {
        return Err(refuse(
            NOT_ASSIGNEE,
            "only the applicant can cancel the instance",
        ));
    }
    state.cancel(&code).map_err(|e| refuse(NOT_PENDING, &e))?;
    Ok(ok(json!({})))
}

/// `POST approval/v4/instances/remind {instance_code, task_ids, comment?}` with a user's token (NEXT.md §6): the
/// reminding user must be the applicant, and each task a pending task of the pending instance. Codes guessed as
/// the other approval ones.
fn remind(
    state: &mut State,
    query: &Params,
    body: &Value,
    user: Option<&str>,
) -> Result<Response, Refusal> {
    id_types(query)?;
    let user = user.ok_or_else(|| refuse(USER_TOKEN_INVALID, "a user_access_token is required"))?;
    let code = text(body, "instance_code");
    let instance = state
        .instances
        .get(&code)
        .ok_or_else(|| refuse(INSTANCE_NOT_FOUND, &format!("instance {code} not found")))?;
    if instance.user_id != user {
        return Err(refuse(
            NOT_ASSIGNEE,
            "only the applicant can remind the approvers",
        ));
    }
    if instance.status != "PENDING" {
        return Err(refuse(NOT_PENDING, "the instance is not pending"));
    }
    let task_ids = strings(&body["task_ids"]);
    if task_ids.is_empty() {
        return Err(refuse(APPROVAL_PARAM, "task_ids is required"));
    }
    for id in &task_ids {
        if !instance
            .tasks
            .iter()
            .any(|t| t.id == *id && t.status == "PENDING")
        {
            return Err(refuse(
                NOT_PENDING,
                &format!("task {id} is not a pending task of {code}"),
            ));
        }
    }
    let comment = text(body, "comment");
    if comment.chars().count() > 500 {
        return Err(refuse(APPROVAL_PARAM, "comment is at most 500 characters"));
    }
    let instance = state.instances.get_mut(&code).unwrap();
    instance
        .reminders
        .push((user.to_string(), task_ids, comment));
    Ok(ok(json!({})))
}
