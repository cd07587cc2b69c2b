//! The HTTP side: one handler doing what Jira's gateway does before any endpoint (faults, authentication,
//! scopes, the three rate limits), then the REST v3 endpoints under `/rest/api/3/`.
//!
//! Errors are Jira's `{"errorMessages": [...], "errors": {field: message}}`. Messages marked "guessed" below
//! are plausible but not confirmed against a live site; connectors should treat them as opaque text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Query, State as Extract};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD as B64, URL_SAFE_NO_PAD as B64URL};
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use super::jql;
use super::state::{
    ChangeGroup, ChangeItem, Comment, DEFAULT_PRIORITY, Fault, FieldSelection, Issue, RateLimitHit,
    State, adf_text, format_utc_iso, is_adf, now_ms, parse_date,
};

type Shared = Arc<Mutex<State>>;
type Params = HashMap<String, String>;

const REMOVED_SEARCH: &str = "The requested API has been removed. Please migrate to the /rest/api/3/search/jql \
     API. A full migration guideline is available at https://developer.atlassian.com/changelog/#CHANGE-2046";
const ISSUE_MISSING: &str = "Issue does not exist or you do not have permission to see it.";
const NOT_ADF: &str = "Operation value must be an Atlassian Document";
const UNBOUNDED: &str =
    "Unbounded JQL queries are not allowed here. Please add a search restriction to your query.";
/// Summaries longer than this are refused.
const MAX_SUMMARY: usize = 255;
const MAX_LABEL: usize = 255;
/// Longest JQL accepted (the simulator's bound; Jira's own is not documented).
const MAX_JQL: usize = 10_000;
/// Bodies larger than this are refused before parsing (Jira's own limit is higher; tests never need more).
const MAX_BODY: usize = 1 << 20;

pub fn router(state: Shared) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// An answer built in a helper: HTTP status and Jira's error body.
pub struct Refusal(pub u16, pub Value);

impl From<Refusal> for Response {
    fn from(Refusal(status, body): Refusal) -> Response {
        (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
    }
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.0, self.1)
    }
}

fn messages(status: u16, list: &[&str]) -> Refusal {
    Refusal(status, json!({ "errorMessages": list, "errors": {} }))
}

fn field_errors(errors: Map<String, Value>) -> Refusal {
    Refusal(400, json!({ "errorMessages": [], "errors": errors }))
}

fn field_error(field: &str, message: &str) -> Refusal {
    let mut errors = Map::new();
    errors.insert(field.into(), json!(message));
    field_errors(errors)
}

fn ok(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), axum::Json(body)).into_response()
}

fn no_content() -> Response {
    StatusCode::NO_CONTENT.into_response()
}

/// Who is calling: the account and how it authenticated.
pub struct Caller {
    pub account: String,
    pub bearer: bool,
    /// OAuth scopes; empty for Basic auth (an API token carries the user's full permissions).
    pub scopes: Vec<String>,
}

#[allow(clippy::result_large_err)] // the refusal is answered at once, never carried far
fn authenticate(state: &State, headers: &HeaderMap) -> Result<Caller, Response> {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let unauthorized = |basic: bool| {
        let mut response: Response = messages(
            401,
            &["Client must be authenticated to access this resource."],
        )
        .into();
        if basic {
            response.headers_mut().insert(
                "X-Seraph-LoginReason",
                HeaderValue::from_static("AUTHENTICATED_FAILED"),
            );
        }
        response
    };
    if let Some(encoded) = header.strip_prefix("Basic ") {
        let decoded = B64
            .decode(encoded.trim())
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_default();
        let Some((email, token)) = decoded.split_once(':') else {
            return Err(unauthorized(true));
        };
        let known = state
            .options
            .api_tokens
            .iter()
            .any(|(e, t)| e.eq_ignore_ascii_case(email) && t == token);
        return match state.user_by_email(email) {
            Some(user) if known && user.active => Ok(Caller {
                account: user.account_id.clone(),
                bearer: false,
                scopes: Vec::new(),
            }),
            _ => Err(unauthorized(true)),
        };
    }
    if let Some(token) = header.strip_prefix("Bearer ") {
        let found = state
            .options
            .oauth_tokens
            .iter()
            .find(|t| t.token == token.trim());
        if let Some(t) = found
            && let Some(user) = state.users.get(&t.account_id)
        {
            return Ok(Caller {
                account: user.account_id.clone(),
                bearer: true,
                scopes: t.scopes.clone(),
            });
        }
        return Err(unauthorized(false));
    }
    Err(unauthorized(false))
}

/// The OAuth scope an endpoint needs (classic scopes).
fn scope_needed(method: &Method, segments: &[&str]) -> &'static str {
    match (method.as_str(), segments.first().copied()) {
        ("GET", Some("user" | "myself")) => "read:jira-user",
        ("GET", _) => "read:jira-work",
        // Searches are POSTs that only read.
        ("POST", Some("search")) => "read:jira-work",
        _ => "write:jira-work",
    }
}

/// The endpoint's template for the burst limit: ids and keys replaced, so every issue shares one bucket.
fn template(segments: &[&str]) -> String {
    segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let id = s.chars().all(|c| c.is_ascii_digit())
                || (i == 1 && segments[0] == "issue" && !s.is_empty());
            if id { "{id}" } else { s }
        })
        .collect::<Vec<_>>()
        .join("/")
}

/// HTTP 429 with Jira's headers: `Retry-After`, `X-RateLimit-*` and `RateLimit-Reason`.
fn rate_limited(reason: &str, limit: u64, retry_after: u64) -> Response {
    let mut response: Response = messages(429, &["Rate limit exceeded."]).into();
    let reset = format_utc_iso(now_ms() / 1000 + retry_after);
    let headers = response.headers_mut();
    headers.insert("Retry-After", retry_after.into());
    headers.insert("X-RateLimit-Limit", limit.into());
    headers.insert("X-RateLimit-Remaining", 0.into());
    headers.insert("X-RateLimit-Reset", HeaderValue::from_str(&reset).unwrap());
    headers.insert("RateLimit-Reason", HeaderValue::from_str(reason).unwrap());
    response
}

fn fault_response(fault: Fault) -> Response {
    match fault {
        Fault::Status(status) => (
            StatusCode::from_u16(status).unwrap(),
            [("content-type", "text/html")],
            "<html><body>upstream error</body></html>",
        )
            .into_response(),
        Fault::Unavailable(retry_after) => {
            let mut response: Response = messages(
                503,
                &["Service Unavailable: the Jira site is temporarily unavailable."],
            )
            .into();
            if let Some(secs) = retry_after {
                response.headers_mut().insert("Retry-After", secs.into());
            }
            response
        }
        Fault::Internal => messages(500, &["Internal server error"]).into(),
        Fault::RateLimit(reason) => rate_limited(&reason, 100, 1),
        Fault::Unauthorized => messages(
            401,
            &["Client must be authenticated to access this resource."],
        )
        .into(),
        Fault::Forbidden => messages(
            403,
            &["You do not have permission to perform this operation."],
        )
        .into(),
        // Guessed wording: Jira answers 409 when two transitions race on one issue.
        Fault::Conflict => messages(
            409,
            &["The issue was changed by another request at the same time. Please try again."],
        )
        .into(),
        Fault::Delay(_) | Fault::LateAnswer(_) => unreachable!("handled by the caller"),
    }
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
    let fault = shared.lock().unwrap().faults.take(&path);
    let mut late = None;
    match fault {
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::LateAnswer(delay)) => late = Some(delay),
        Some(fault) => {
            let response = fault_response(fault);
            record(&shared, &method, &uri, &headers, response.status().as_u16());
            return response;
        }
        None => {}
    }
    let response = {
        let mut state = shared.lock().unwrap();
        answer(&mut state, &method, &path, &query, &headers, &body)
    };
    record(&shared, &method, &uri, &headers, response.status().as_u16());
    if let Some(delay) = late {
        tokio::time::sleep(delay).await;
    }
    response
}

fn record(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, status: u16) {
    let auth = match headers.get("authorization").and_then(|v| v.to_str().ok()) {
        Some(h) if h.starts_with("Basic ") => "basic",
        Some(h) if h.starts_with("Bearer ") => "bearer",
        _ => "none",
    };
    shared.lock().unwrap().calls.push(super::state::Call {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().unwrap_or("").to_string(),
        auth,
        status,
    });
}

fn answer(
    state: &mut State,
    method: &Method,
    path: &str,
    query: &Params,
    headers: &HeaderMap,
    body: &Bytes,
) -> Response {
    let Some(op) = path.strip_prefix("/rest/api/3/").or_else(|| {
        path.strip_prefix("/rest/api/2/")
            .filter(|p| p.starts_with("search"))
    }) else {
        return messages(404, &[&format!("null for uri: {}{path}", state.base)]).into();
    };
    let segments: Vec<&str> = op.trim_end_matches('/').split('/').collect();
    let caller = match authenticate(state, headers) {
        Ok(caller) => caller,
        Err(response) => return response,
    };
    if caller.bearer
        && !caller
            .scopes
            .iter()
            .any(|s| s == scope_needed(method, &segments))
    {
        return ok(
            401,
            json!({ "code": 401, "message": "Unauthorized; scope does not match" }),
        );
    }
    if let Some(response) = limit(state, method, path, &segments, &caller) {
        return response;
    }
    if body.len() > MAX_BODY {
        return messages(413, &["Request entity too large."]).into();
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(body) {
            Ok(value) => value,
            Err(_) => {
                return messages(
                    400,
                    &["Invalid request payload. Refer to the REST API documentation and try again."],
                )
                .into();
            }
        }
    };
    state.limits.reads = (0, 0);
    let response =
        route(state, method, &segments, query, &body, &caller).unwrap_or_else(Response::from);
    charge(state, method, &caller, response)
}

/// The burst, per-issue and quota limits, in that order; `Some` is the 429 to answer.
fn limit(
    state: &mut State,
    method: &Method,
    path: &str,
    segments: &[&str],
    caller: &Caller,
) -> Option<Response> {
    let hit = |state: &mut State, reason: &str| {
        state.limits.hits.push(RateLimitHit {
            reason: reason.to_string(),
            method: method.to_string(),
            path: path.to_string(),
        });
    };
    let burst = state.options.burst.for_method(method.as_str());
    let key = format!("{method} {}", template(segments));
    if !state.limits.burst.admit(&key, burst) {
        hit(state, "jira-burst-based");
        return Some(rate_limited("jira-burst-based", u64::from(burst), 1));
    }
    let write = method != Method::GET && segments.first() == Some(&"issue") && segments.len() >= 2;
    if write && let Some(id) = segments.get(1).and_then(|k| state.issue_id(k)) {
        let now = Instant::now();
        let windows = state.options.per_issue_writes.clone();
        let longest = windows.iter().map(|(_, w)| *w).max().unwrap_or_default();
        let times = state.limits.issue_writes.entry(id).or_default();
        times.retain(|t| now.duration_since(*t) < longest);
        for (max, window) in &windows {
            let inside: Vec<&Instant> = times
                .iter()
                .filter(|t| now.duration_since(**t) < *window)
                .collect();
            if inside.len() >= *max as usize {
                let oldest = inside
                    .iter()
                    .min()
                    .map(|t| now.duration_since(**t))
                    .unwrap_or_default();
                let wait = window.saturating_sub(oldest).as_secs_f64().ceil().max(1.0) as u64;
                hit(state, "jira-per-issue-on-write");
                return Some(rate_limited(
                    "jira-per-issue-on-write",
                    u64::from(*max),
                    wait,
                ));
            }
        }
        times.push(now);
    }
    // Points apply to OAuth (and Forge/Connect) apps only; API-token traffic sees the burst limits alone.
    if caller.bearer
        && let Some(quota) = state.options.quota.clone()
    {
        let secs = (now_ms() / 1000).max(1);
        let window = quota.window.as_secs().max(1);
        if state.limits.points_window != secs / window {
            state.limits.points_window = secs / window;
            state.limits.points_used = 0;
        }
        if state.limits.points_used >= quota.points {
            let reset = window - secs % window;
            hit(state, &quota.reason);
            let mut response = rate_limited(&quota.reason, quota.points, reset);
            let h = response.headers_mut();
            let policy = format!("\"global-app-quota\";q={};w={window}", quota.points);
            h.insert(
                "Beta-RateLimit-Policy",
                HeaderValue::from_str(&policy).unwrap(),
            );
            let left = format!("\"global-app-quota\";r=0;t={reset}");
            h.insert("Beta-RateLimit", HeaderValue::from_str(&left).unwrap());
            return Some(response);
        }
    }
    None
}

/// Charges an OAuth call's points (a write 1; a read 1 plus 1 per issue or project and 2 per user read) and
/// shows what is left of the quota in the answer's headers.
fn charge(state: &mut State, method: &Method, caller: &Caller, mut response: Response) -> Response {
    let Some(quota) = state.options.quota.clone().filter(|_| caller.bearer) else {
        return response;
    };
    let (core, identity) = state.limits.reads;
    let cost = if *method == Method::GET || (*method == Method::POST && core > 0) {
        1 + core + 2 * identity
    } else {
        1
    };
    state.limits.points_used += cost;
    let remaining = quota.points.saturating_sub(state.limits.points_used);
    let h = response.headers_mut();
    h.insert("X-RateLimit-Limit", quota.points.into());
    h.insert("X-RateLimit-Remaining", remaining.into());
    if remaining * 5 < quota.points {
        h.insert("X-RateLimit-NearLimit", HeaderValue::from_static("true"));
    }
    response
}

fn route(
    state: &mut State,
    method: &Method,
    segments: &[&str],
    query: &Params,
    body: &Value,
    caller: &Caller,
) -> Result<Response, Refusal> {
    let me = caller.account.as_str();
    match (method.as_str(), segments) {
        (_, ["search"]) => Err(messages(410, &[REMOVED_SEARCH])),
        ("GET", ["search", "jql"]) => {
            let fields = query.get("fields").map(|f| split(f)).unwrap_or_default();
            search(
                state,
                me,
                query.get("jql").map(String::as_str).unwrap_or(""),
                query.get("maxResults").map(String::as_str),
                query.get("nextPageToken").map(String::as_str),
                &fields,
            )
        }
        ("POST", ["search", "jql"]) => {
            let fields = match &body["fields"] {
                Value::Array(list) => list
                    .iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect(),
                Value::String(s) => split(s),
                _ => Vec::new(),
            };
            let max = body["maxResults"].as_u64().map(|n| n.to_string());
            search(
                state,
                me,
                body["jql"].as_str().unwrap_or(""),
                max.as_deref(),
                body["nextPageToken"].as_str(),
                &fields,
            )
        }
        ("POST", ["search", "approximate-count"]) => {
            let query =
                jql::parse(body["jql"].as_str().unwrap_or("")).map_err(|e| messages(400, &[&e]))?;
            if !query.bounded() {
                return Err(messages(400, &[UNBOUNDED]));
            }
            let count = query
                .run(state, me)
                .map_err(|errors| Refusal(400, json!({ "errorMessages": errors, "errors": {} })))?
                .len();
            Ok(ok(200, json!({ "count": count })))
        }
        ("POST", ["issue"]) => create(state, me, body),
        ("GET", ["issue", key]) => get_issue(state, key, query),
        ("PUT", ["issue", key]) => edit(state, me, key, query, body),
        ("DELETE", ["issue", key]) => {
            let id = issue_id(state, key)?;
            delete_issue(state, me, id);
            Ok(no_content())
        }
        ("PUT", ["issue", key, "assignee"]) => {
            let id = issue_id(state, key)?;
            if !body.is_object() || !body.as_object().unwrap().contains_key("accountId") {
                return Err(field_error(
                    "assignee",
                    "Specify a valid value for assignee",
                ));
            }
            let mut fields = Map::new();
            fields.insert("assignee".into(), body.clone());
            change(state, me, id, &fields, &Value::Null, None)?;
            Ok(no_content())
        }
        ("GET", ["issue", key, "comment"]) => list_comments(state, key, query),
        ("POST", ["issue", key, "comment"]) => {
            let id = issue_id(state, key)?;
            let comment = add_comment(state, me, id, body)?;
            let issue = &state.issues[&id];
            Ok(ok(201, state.comment_json(issue, &comment)))
        }
        ("GET", ["issue", key, "comment", comment]) => {
            let issue = state
                .issue(key)
                .ok_or_else(|| messages(404, &[ISSUE_MISSING]))?;
            let c = issue
                .comments
                .iter()
                .find(|c| c.id == *comment)
                .ok_or_else(|| {
                    messages(
                        404,
                        &[&format!("Can not find a comment for the id: {comment}.")],
                    )
                })?;
            Ok(ok(200, state.comment_json(issue, c)))
        }
        ("GET", ["issue", key, "transitions"]) => {
            let issue = state
                .issue(key)
                .ok_or_else(|| messages(404, &[ISSUE_MISSING]))?;
            let only = query.get("transitionId");
            let transitions: Vec<Value> = state
                .workflow
                .available(&issue.status)
                .into_iter()
                .filter(|t| only.is_none_or(|id| *id == t.id))
                .map(|t| {
                    json!({
                        "id": t.id,
                        "name": t.name,
                        "to": state.status_json(&t.to),
                        "hasScreen": false,
                        "isGlobal": t.from.is_empty(),
                        "isInitial": false,
                        "isAvailable": true,
                        "isConditional": false,
                        "isLooped": false,
                    })
                })
                .collect();
            Ok(ok(
                200,
                json!({ "expand": "transitions", "transitions": transitions }),
            ))
        }
        ("POST", ["issue", key, "transitions"]) => {
            let id = issue_id(state, key)?;
            let transition = match &body["transition"]["id"] {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                // Guessed wording.
                _ => return Err(messages(400, &["Missing 'transition' identifier."])),
            };
            let fields = body["fields"].as_object().cloned().unwrap_or_default();
            transition_issue(state, me, id, &transition, &fields)?;
            Ok(no_content())
        }
        ("GET", ["issue", key, "watchers"]) => {
            let id = issue_id(state, key)?;
            state.limits.reads.1 += state.issues[&id].watchers.len() as u64;
            let issue = &state.issues[&id];
            Ok(ok(
                200,
                json!({
                    "self": format!("{}/rest/api/3/issue/{}/watchers", state.base, issue.key),
                    "isWatching": issue.watchers.contains(me),
                    "watchCount": issue.watchers.len(),
                    "watchers": issue.watchers.iter().map(|w| state.user_json(w)).collect::<Vec<_>>(),
                }),
            ))
        }
        ("POST", ["issue", key, "watchers"]) => {
            let id = issue_id(state, key)?;
            // The body is a bare JSON string; none means the caller.
            let account = match body {
                Value::Null => me.to_string(),
                Value::String(s) => s.clone(),
                _ => {
                    return Err(messages(
                        400,
                        &["The request body must be a JSON string with an accountId."],
                    ));
                }
            };
            watch(state, id, &account, true)?;
            Ok(no_content())
        }
        ("DELETE", ["issue", key, "watchers"]) => {
            let id = issue_id(state, key)?;
            let Some(account) = query.get("accountId") else {
                return Err(messages(
                    400,
                    &["The accountId query parameter is required."],
                ));
            };
            watch(state, id, account, false)?;
            Ok(no_content())
        }
        ("GET", ["issue", key, "changelog"]) => {
            let issue = state
                .issue(key)
                .ok_or_else(|| messages(404, &[ISSUE_MISSING]))?;
            let values: Vec<Value> = issue
                .changelog
                .iter()
                .map(|g| state.changelog_json(g))
                .collect();
            Ok(ok(200, paged_values(values, query, 100)))
        }
        ("GET", ["user"]) => {
            let Some(account) = query.get("accountId") else {
                // Guessed wording.
                return Err(messages(
                    400,
                    &["The query parameter 'accountId' is required."],
                ));
            };
            if !state.users.contains_key(account) {
                return Err(messages(
                    404,
                    &["Specified user does not exist or you do not have required permissions"],
                ));
            }
            state.limits.reads.1 += 1;
            let mut user = state.user_json(account);
            user["groups"] = json!({ "size": 0, "items": [] });
            user["applicationRoles"] = json!({ "size": 1, "items": [] });
            Ok(ok(200, user))
        }
        ("GET", ["user", "search"]) => user_search(state, query),
        ("GET", ["myself"]) => {
            state.limits.reads.1 += 1;
            Ok(ok(200, state.user_json(me)))
        }
        ("GET", ["project", key]) => {
            let project = state.project(key).map(|p| p.key.clone()).ok_or_else(|| {
                messages(
                    404,
                    &[&format!("No project could be found with key '{key}'.")],
                )
            })?;
            state.limits.reads.0 += 1;
            let mut value = state.project_json(&project);
            value["issueTypes"] = json!(
                state
                    .issue_types
                    .iter()
                    .map(|(name, id)| json!({ "id": id, "name": name, "subtask": false }))
                    .collect::<Vec<_>>()
            );
            value["lead"] = state.user_json(&state.projects[&project].lead);
            Ok(ok(200, value))
        }
        ("GET", ["priority"]) => Ok(ok(
            200,
            json!(
                state
                    .priorities
                    .iter()
                    .map(|(name, id)| json!({ "id": id, "name": name }))
                    .collect::<Vec<_>>()
            ),
        )),
        ("GET", ["serverInfo"]) => Ok(ok(
            200,
            json!({
                "baseUrl": state.base,
                "displayUrl": state.base,
                "version": "1001.0.0-SNAPSHOT",
                "deploymentType": "Cloud",
                "serverTitle": "Jira (simulator)",
            }),
        )),
        _ => Err(messages(
            404,
            &[&format!(
                "null for uri: {}/rest/api/3/{} (the Jira simulator has no {method} on it)",
                state.base,
                segments.join("/")
            )],
        )),
    }
}

fn split(list: &str) -> Vec<String> {
    list.split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect()
}

fn issue_id(state: &State, key: &str) -> Result<u64, Refusal> {
    state
        .issue_id(key)
        .ok_or_else(|| messages(404, &[ISSUE_MISSING]))
}

/// `startAt`/`maxResults` paging as Jira's older list endpoints do it.
fn paged_values(values: Vec<Value>, query: &Params, default: usize) -> Value {
    let start: usize = query
        .get("startAt")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let max: usize = query
        .get("maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
        .clamp(1, default.max(1));
    let total = values.len();
    let page: Vec<Value> = values.into_iter().skip(start).take(max).collect();
    json!({
        "startAt": start,
        "maxResults": max,
        "total": total,
        "isLast": start + page.len() >= total,
        "values": page,
    })
}

fn get_issue(state: &mut State, key: &str, query: &Params) -> Result<Response, Refusal> {
    let id = issue_id(state, key)?;
    let fields = query.get("fields").map(|f| split(f)).unwrap_or_default();
    let selection = FieldSelection::parse(&fields, FieldSelection::All);
    state.limits.reads.0 += 1;
    let issue = &state.issues[&id];
    let mut value = state.issue_json(issue, &selection);
    let expand = split(query.get("expand").map(String::as_str).unwrap_or(""));
    if expand.iter().any(|e| e == "changelog") {
        let histories: Vec<Value> = issue
            .changelog
            .iter()
            .map(|g| state.changelog_json(g))
            .collect();
        value["changelog"] = json!({
            "startAt": 0,
            "maxResults": histories.len(),
            "total": histories.len(),
            "histories": histories,
        });
    }
    if expand.iter().any(|e| e == "renderedFields") {
        value["renderedFields"] = json!({
            "description": issue.description.as_ref().map(|d| format!("<p>{}</p>", adf_text(d))),
        });
    }
    Ok(ok(200, value))
}

/// The search token: the offset and a hash of the query, so a token is refused with another query.
fn page_token(jql: &str, offset: usize) -> String {
    let hash: String = Sha256::digest(jql.as_bytes())[..6]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    B64URL.encode(format!("{hash}:{offset}"))
}

fn token_offset(jql: &str, token: &str) -> Option<usize> {
    let text = String::from_utf8(B64URL.decode(token).ok()?).ok()?;
    let (hash, offset) = text.split_once(':')?;
    let expected = page_token(jql, 0);
    let expected = String::from_utf8(B64URL.decode(expected).ok()?).ok()?;
    (expected.split_once(':')?.0 == hash).then(|| offset.parse().ok())?
}

fn search(
    state: &mut State,
    me: &str,
    jql: &str,
    max_results: Option<&str>,
    next_page_token: Option<&str>,
    fields: &[String],
) -> Result<Response, Refusal> {
    if jql.len() > MAX_JQL {
        return Err(messages(400, &["The JQL query is too long."]));
    }
    let query = jql::parse(jql).map_err(|e| messages(400, &[&e]))?;
    if !query.bounded() {
        return Err(messages(400, &[UNBOUNDED]));
    }
    let selection = FieldSelection::parse(fields, FieldSelection::Only(vec!["id".into()]));
    let cap = if selection.ids_only() {
        state.options.max_results_ids
    } else {
        state.options.max_results
    };
    let max = match max_results {
        None => 50,
        Some(text) => match text.parse::<i64>() {
            Ok(n) if n >= 0 => n as usize,
            _ => {
                return Err(messages(
                    400,
                    &[&format!("Invalid maxResults value: '{text}'.")],
                ));
            }
        },
    }
    .clamp(1, cap);
    let offset = match next_page_token.filter(|t| !t.is_empty()) {
        None => 0,
        Some(token) => token_offset(jql, token)
            // Guessed wording.
            .ok_or_else(|| {
                messages(
                    400,
                    &["The provided next page token is invalid or expired."],
                )
            })?,
    };
    let issues = query
        .run(state, me)
        .map_err(|errors| Refusal(400, json!({ "errorMessages": errors, "errors": {} })))?;
    let total = issues.len();
    let page: Vec<Value> = issues
        .iter()
        .skip(offset)
        .take(max)
        .map(|issue| {
            if selection.ids_only() {
                json!({ "id": issue.id.to_string() })
            } else {
                state.issue_json(issue, &selection)
            }
        })
        .collect();
    let next = offset.min(total) + page.len();
    state.limits.reads.0 += page.len() as u64;
    let mut answer = json!({ "issues": page, "isLast": next >= total });
    if next < total {
        answer["nextPageToken"] = json!(page_token(jql, next));
    }
    Ok(ok(200, answer))
}

fn user_search(state: &mut State, query: &Params) -> Result<Response, Refusal> {
    let text = query.get("query").map(|q| q.trim().to_lowercase());
    let account = query.get("accountId");
    if text.as_deref().is_none_or(str::is_empty) && account.is_none() {
        // Guessed wording.
        return Err(messages(
            400,
            &["The query parameter 'query' or 'accountId' is required."],
        ));
    }
    let start: usize = query
        .get("startAt")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let max: usize = query
        .get("maxResults")
        .and_then(|s| s.parse().ok())
        .unwrap_or(50)
        .clamp(1, 1000);
    let found: Vec<String> = state
        .users
        .values()
        .filter(|u| account.is_none_or(|a| *a == u.account_id))
        .filter(|u| {
            let Some(q) = &text else { return true };
            let name = u.display_name.to_lowercase();
            name.starts_with(q.as_str())
                || name.split_whitespace().any(|w| w.starts_with(q.as_str()))
                || (u.email_visible && u.email.to_lowercase().starts_with(q.as_str()))
        })
        .skip(start)
        .take(max)
        .map(|u| u.account_id.clone())
        .collect();
    state.limits.reads.1 += found.len() as u64;
    Ok(ok(
        200,
        json!(found.iter().map(|a| state.user_json(a)).collect::<Vec<_>>()),
    ))
}

fn list_comments(state: &mut State, key: &str, query: &Params) -> Result<Response, Refusal> {
    let issue = state
        .issue(key)
        .ok_or_else(|| messages(404, &[ISSUE_MISSING]))?;
    let mut comments: Vec<&Comment> = issue.comments.iter().collect();
    if query.get("orderBy").is_some_and(|o| o == "-created") {
        comments.reverse();
    }
    let values: Vec<Value> = comments
        .iter()
        .map(|c| state.comment_json(issue, c))
        .collect();
    let mut page = paged_values(values, query, 5000);
    let map = page.as_object_mut().unwrap();
    let comments = map.remove("values").unwrap();
    map.remove("isLast");
    map.insert("comments".into(), comments);
    state.limits.reads.0 += 1;
    Ok(ok(200, page))
}

/// Checks one user field's value (`{"accountId": …}`, `null`, or `"-1"` for the project's default assignee):
/// the account it names, or none.
fn user_value(
    state: &State,
    field: &str,
    value: &Value,
    project: &str,
) -> Result<Option<String>, String> {
    let account = match value {
        Value::Null => return Ok(None),
        Value::Object(o) => match o.get("accountId").or_else(|| o.get("id")) {
            None | Some(Value::Null) => return Ok(None),
            Some(Value::String(s)) => s.clone(),
            Some(_) => return Err(format!("Specify a valid value for {field}")),
        },
        _ => return Err(format!("Specify a valid value for {field}")),
    };
    if account == "-1" {
        return Ok(state.projects.get(project).map(|p| p.lead.clone()));
    }
    match state.users.get(&account) {
        Some(u) if u.active => Ok(Some(account)),
        Some(u) if field == "assignee" => Err(format!(
            "User '{}' cannot be assigned issues.",
            u.display_name
        )),
        Some(_) => Ok(Some(account)),
        // Guessed wording.
        None => Err(format!("Specify a valid value for {field}")),
    }
}

fn name_or_id(value: &Value) -> Option<&str> {
    value["name"].as_str().or_else(|| value["id"].as_str())
}

/// Applies `fields` (and the `update` operations on labels) to `issue`, collecting Jira's per-field errors and
/// the changelog items. Nothing is changed when there is an error.
fn apply(
    state: &State,
    issue: &mut Issue,
    fields: &Map<String, Value>,
    update: &Value,
    creating: bool,
) -> Result<Vec<ChangeItem>, Map<String, Value>> {
    let mut errors = Map::new();
    let mut next = issue.clone();
    for (name, value) in fields {
        let result: Result<(), String> = match name.as_str() {
            "project" | "issuetype" if creating => Ok(()),
            "summary" => match value.as_str().map(str::trim) {
                Some("") | None => Err("You must specify a summary of the issue.".into()),
                Some(s) if s.chars().count() > MAX_SUMMARY => {
                    Err("Summary must be less than 255 characters.".into())
                }
                Some(s) if s.contains('\n') => {
                    Err("The summary is invalid because it contains newline characters.".into())
                }
                Some(s) => {
                    next.summary = s.to_string();
                    Ok(())
                }
            },
            "description" => match value {
                Value::Null => {
                    next.description = None;
                    Ok(())
                }
                v if is_adf(v) => {
                    next.description = Some(v.clone());
                    Ok(())
                }
                _ => Err(NOT_ADF.into()),
            },
            "assignee" | "reporter" => match user_value(state, name, value, &issue.project) {
                Ok(account) if name == "assignee" => {
                    next.assignee = account;
                    Ok(())
                }
                Ok(Some(account)) => {
                    next.reporter = account;
                    Ok(())
                }
                Ok(None) => Err("Reporter is required.".into()),
                Err(e) => Err(e),
            },
            "labels" => match value {
                Value::Null => {
                    next.labels.clear();
                    Ok(())
                }
                Value::Array(list) => labels(list).map(|l| next.labels = l),
                _ => Err("Specify the value for labels in an array".into()),
            },
            "duedate" => match value {
                Value::Null => {
                    next.duedate = None;
                    Ok(())
                }
                Value::String(s) if s.len() == 10 && parse_date(s).is_some() && s.contains('-') => {
                    next.duedate = Some(s.clone());
                    Ok(())
                }
                _ => Err(format!(
                    "Error parsing date string: {}",
                    value.as_str().unwrap_or(&value.to_string())
                )),
            },
            "priority" => match name_or_id(value).and_then(|p| state.priority(p)) {
                Some((p, _)) => {
                    next.priority = p;
                    Ok(())
                }
                // Guessed wording.
                None => Err("Specify a valid priority".into()),
            },
            "issuetype" => match name_or_id(value).and_then(|t| state.issue_type(t)) {
                Some((t, _)) => {
                    next.issuetype = t;
                    Ok(())
                }
                None => Err("Specify a valid issue type".into()),
            },
            // Accepted on a transition screen; the workflow sets it anyway.
            "resolution" if !creating => Ok(()),
            other => Err(format!(
                "Field '{other}' cannot be set. It is not on the appropriate screen, or unknown."
            )),
        };
        if let Err(message) = result {
            errors.insert(name.clone(), json!(message));
        }
    }
    if let Some(ops) = update.as_object() {
        for (name, list) in ops {
            if name != "labels" {
                errors.insert(
                    name.clone(),
                    json!(format!("Field '{name}' cannot be set. It is not on the appropriate screen, or unknown.")),
                );
                continue;
            }
            for op in list.as_array().into_iter().flatten() {
                if let Some(label) = op["add"].as_str() {
                    match labels(&[json!(label)]) {
                        Ok(_) if !next.labels.iter().any(|l| l == label) => {
                            next.labels.push(label.into())
                        }
                        Ok(_) => {}
                        Err(e) => {
                            errors.insert("labels".into(), json!(e));
                        }
                    }
                } else if let Some(label) = op["remove"].as_str() {
                    next.labels.retain(|l| l != label);
                } else if let Some(list) = op["set"].as_array() {
                    match labels(list) {
                        Ok(l) => next.labels = l,
                        Err(e) => {
                            errors.insert("labels".into(), json!(e));
                        }
                    }
                }
            }
        }
    }
    if !errors.is_empty() {
        return Err(errors);
    }
    let items = diff(state, issue, &next);
    *issue = next;
    Ok(items)
}

fn labels(list: &[Value]) -> Result<Vec<String>, String> {
    let mut out: Vec<String> = Vec::new();
    for value in list {
        let Some(label) = value.as_str() else {
            return Err("Specify the value for labels in an array of strings".into());
        };
        // Guessed wording for both.
        if label.is_empty() || label.chars().any(char::is_whitespace) {
            return Err(format!(
                "The label '{label}' contains spaces which is invalid."
            ));
        }
        if label.chars().count() > MAX_LABEL {
            return Err("The label must not exceed 255 characters.".into());
        }
        if !out.iter().any(|l| l == label) {
            out.push(label.into());
        }
    }
    Ok(out)
}

/// Changelog items between two versions of an issue, as Jira writes them.
fn diff(state: &State, before: &Issue, after: &Issue) -> Vec<ChangeItem> {
    let mut items = Vec::new();
    let mut text = |field: &str, from: Option<String>, to: Option<String>| {
        if from != to {
            items.push(ChangeItem {
                field: field.into(),
                from: None,
                from_string: from,
                to: None,
                to_string: to,
            });
        }
    };
    text(
        "summary",
        Some(before.summary.clone()),
        Some(after.summary.clone()),
    );
    text(
        "description",
        before.description.as_ref().map(adf_text),
        after.description.as_ref().map(adf_text),
    );
    let labels = |l: &[String]| (!l.is_empty()).then(|| l.join(" "));
    text("labels", labels(&before.labels), labels(&after.labels));
    let user = |a: &Option<String>| {
        a.as_ref()
            .and_then(|a| state.users.get(a))
            .map(|u| u.display_name.clone())
    };
    let mut item = |field: &str,
                    from: Option<String>,
                    fs: Option<String>,
                    to: Option<String>,
                    ts: Option<String>| {
        if from != to {
            items.push(ChangeItem {
                field: field.into(),
                from,
                from_string: fs,
                to,
                to_string: ts,
            });
        }
    };
    item(
        "assignee",
        before.assignee.clone(),
        user(&before.assignee),
        after.assignee.clone(),
        user(&after.assignee),
    );
    let reporter = |a: &String| Some(a.clone());
    item(
        "reporter",
        reporter(&before.reporter),
        user(&reporter(&before.reporter)),
        reporter(&after.reporter),
        user(&reporter(&after.reporter)),
    );
    let due = |d: &Option<String>| d.as_ref().map(|d| format!("{d} 00:00:00.0"));
    item(
        "duedate",
        before.duedate.clone(),
        due(&before.duedate),
        after.duedate.clone(),
        due(&after.duedate),
    );
    let priority = |p: &str| state.priority(p).map(|(_, id)| id);
    item(
        "priority",
        priority(&before.priority),
        Some(before.priority.clone()),
        priority(&after.priority),
        Some(after.priority.clone()),
    );
    let issuetype = |t: &str| state.issue_type(t).map(|(_, id)| id);
    item(
        "issuetype",
        issuetype(&before.issuetype),
        Some(before.issuetype.clone()),
        issuetype(&after.issuetype),
        Some(after.issuetype.clone()),
    );
    items
}

fn create(state: &mut State, me: &str, body: &Value) -> Result<Response, Refusal> {
    let key = create_for(state, me, body)?;
    let issue = state.issue(&key).expect("just created");
    Ok(ok(
        201,
        json!({
            "id": issue.id.to_string(),
            "key": issue.key,
            "self": format!("{}/rest/api/3/issue/{}", state.base, issue.id),
        }),
    ))
}

/// Creates an issue as `me` from a `POST /issue` body; answers its key.
pub fn create_for(state: &mut State, me: &str, body: &Value) -> Result<String, Refusal> {
    let Some(fields) = body["fields"].as_object() else {
        return Err(messages(400, &["Issue must have fields set."]));
    };
    let mut errors = Map::new();
    let project = match name_or_key(&fields.get("project").cloned().unwrap_or_default()) {
        Some(p) => state.project(&p).map(|p| p.key.clone()),
        None => None,
    };
    if project.is_none() {
        errors.insert("project".into(), json!("Specify a valid project ID or key"));
    }
    let issuetype = fields
        .get("issuetype")
        .and_then(|t| name_or_id(t).map(str::to_string))
        .and_then(|t| state.issue_type(&t));
    if issuetype.is_none() {
        errors.insert("issuetype".into(), json!("Specify an issue type"));
    }
    if !fields.contains_key("summary") {
        errors.insert(
            "summary".into(),
            json!("You must specify a summary of the issue."),
        );
    }
    let project = project.unwrap_or_default();
    let now = now_ms();
    let mut issue = Issue {
        id: 0,
        key: String::new(),
        project: project.clone(),
        issuetype: issuetype.map(|t| t.0).unwrap_or_default(),
        summary: String::new(),
        description: None,
        status: state.workflow.initial.clone(),
        assignee: None,
        reporter: me.to_string(),
        creator: me.to_string(),
        labels: Vec::new(),
        duedate: None,
        priority: DEFAULT_PRIORITY.into(),
        resolution: None,
        resolution_date: None,
        created: now,
        updated: now,
        status_changed: now,
        watchers: [me.to_string()].into(),
        comments: Vec::new(),
        changelog: Vec::new(),
    };
    if let Err(more) = apply(state, &mut issue, fields, &body["update"], true) {
        for (k, v) in more {
            errors.entry(k).or_insert(v);
        }
    }
    if !errors.is_empty() {
        return Err(field_errors(errors));
    }
    issue.id = state.next_id();
    let p = state.projects.get_mut(&project).expect("checked");
    issue.key = format!("{}-{}", p.key, p.next_number);
    p.next_number += 1;
    let key = issue.key.clone();
    state.issue_event(
        "jira:issue_created",
        "issue_created",
        &issue,
        me,
        None,
        None,
    );
    state.issues.insert(issue.id, issue);
    Ok(key)
}

fn name_or_key(value: &Value) -> Option<String> {
    value["key"]
        .as_str()
        .or_else(|| value["id"].as_str())
        .map(str::to_string)
        .or_else(|| value["id"].as_u64().map(|n| n.to_string()))
}

fn edit(
    state: &mut State,
    me: &str,
    key: &str,
    query: &Params,
    body: &Value,
) -> Result<Response, Refusal> {
    let id = issue_id(state, key)?;
    let fields = body["fields"].as_object().cloned().unwrap_or_default();
    change(state, me, id, &fields, &body["update"], None)?;
    if query.get("returnIssue").is_some_and(|v| v == "true") {
        let issue = &state.issues[&id];
        return Ok(ok(200, state.issue_json(issue, &FieldSelection::All)));
    }
    Ok(no_content())
}

/// Changes an issue's fields (and, with `to_status`, its status) as `actor`; records one changelog entry and
/// sends `jira:issue_updated` when anything changed.
pub fn change(
    state: &mut State,
    actor: &str,
    id: u64,
    fields: &Map<String, Value>,
    update: &Value,
    to_status: Option<&str>,
) -> Result<(), Refusal> {
    let mut issue = state.issues[&id].clone();
    let mut items = apply(state, &mut issue, fields, update, false).map_err(field_errors)?;
    let now = now_ms();
    let mut type_name = if items.iter().all(|i| i.field == "assignee") {
        "issue_assigned"
    } else {
        "issue_updated"
    };
    if let Some(to) = to_status {
        let from = state
            .workflow
            .status(&issue.status)
            .cloned()
            .expect("known status");
        let target = state.workflow.status(to).cloned().expect("known status");
        let done = |c| c == super::state::Category::Done;
        items.insert(
            0,
            ChangeItem {
                field: "status".into(),
                from: Some(from.id.clone()),
                from_string: Some(from.name.clone()),
                to: Some(target.id.clone()),
                to_string: Some(target.name.clone()),
            },
        );
        type_name = "issue_generic";
        if done(target.category) && issue.resolution.is_none() {
            issue.resolution = Some("Done".into());
            issue.resolution_date = Some(now);
            items.push(ChangeItem {
                field: "resolution".into(),
                from: None,
                from_string: None,
                to: Some("10000".into()),
                to_string: Some("Done".into()),
            });
            type_name = "issue_resolved";
        } else if !done(target.category) && issue.resolution.is_some() {
            issue.resolution = None;
            issue.resolution_date = None;
            items.push(ChangeItem {
                field: "resolution".into(),
                from: Some("10000".into()),
                from_string: Some("Done".into()),
                to: None,
                to_string: None,
            });
            if done(from.category) {
                type_name = "issue_reopened";
            }
        }
        issue.status = target.id;
        issue.status_changed = now;
    }
    if items.is_empty() {
        return Ok(());
    }
    issue.updated = now;
    let group = ChangeGroup {
        id: state.next_id().to_string(),
        author: actor.to_string(),
        created: now,
        items,
    };
    issue.changelog.push(group.clone());
    state.issue_event(
        "jira:issue_updated",
        type_name,
        &issue,
        actor,
        Some(&group),
        None,
    );
    state.issues.insert(id, issue);
    Ok(())
}

pub fn transition_issue(
    state: &mut State,
    actor: &str,
    id: u64,
    transition: &str,
    fields: &Map<String, Value>,
) -> Result<(), Refusal> {
    let status = state.issues[&id].status.clone();
    let target = state
        .workflow
        .available(&status)
        .into_iter()
        .find(|t| t.id == transition)
        .map(|t| t.to.clone())
        .ok_or_else(|| {
            messages(
                400,
                &[&format!(
                    "Transition id '{transition}' is not valid for this issue."
                )],
            )
        })?;
    change(state, actor, id, fields, &Value::Null, Some(&target))
}

pub fn add_comment(
    state: &mut State,
    actor: &str,
    id: u64,
    body: &Value,
) -> Result<Comment, Refusal> {
    match &body["body"] {
        Value::Null => return Err(field_error("comment", "Comment body can not be empty!")),
        b if is_adf(b) => {}
        _ => return Err(field_error("comment", "Comment body is not valid!")),
    }
    let now = now_ms();
    let comment = Comment {
        id: state.next_id().to_string(),
        author: actor.to_string(),
        body: body["body"].clone(),
        created: now,
        updated: now,
    };
    let mut issue = state.issues[&id].clone();
    issue.comments.push(comment.clone());
    issue.updated = now;
    state.comment_event(&issue, &comment);
    // Jira also reports a comment as an issue update (no changelog), to webhooks listening to updates.
    state.issue_event(
        "jira:issue_updated",
        "issue_commented",
        &issue,
        actor,
        None,
        Some(&comment),
    );
    state.issues.insert(id, issue);
    Ok(comment)
}

pub fn delete_issue(state: &mut State, actor: &str, id: u64) {
    let issue = state.issues.remove(&id).expect("resolved");
    state.limits.issue_writes.remove(&id);
    state.issue_event(
        "jira:issue_deleted",
        "issue_deleted",
        &issue,
        actor,
        None,
        None,
    );
}

fn watch(state: &mut State, id: u64, account: &str, on: bool) -> Result<(), Refusal> {
    if !state.users.contains_key(account) {
        return Err(messages(
            404,
            &["Specified user does not exist or you do not have required permissions"],
        ));
    }
    let issue = state.issues.get_mut(&id).expect("resolved");
    if on {
        issue.watchers.insert(account.to_string());
    } else {
        issue.watchers.remove(account);
    }
    Ok(())
}
