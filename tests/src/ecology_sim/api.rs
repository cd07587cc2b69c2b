//! The HTTP side: one handler that logs the call, plays a due fault, reads the parameters (query, form body or
//! JSON body), authenticates as the endpoint family requires, then dispatches.
//!
//! Authentication answers (HTTP 200 JSON, `status:false`), ECOLOGY.md §1.3 "status:false plus msg" with the
//! texts seen in a public Python client's comments (single source) where marked "seen", else "guessed":
//! * bad `secret` on applytoken:
//!   `{"msg":"secret解密失败,请检查加密内容.","code":-1,"msgShowType":"none","status":false}` (seen);
//! * unknown or expired token: `{"msg":"token不存在或者超时：<token>","code":-1,...}` (seen);
//! * unknown appid, unregistered app, secret that decrypts to the wrong secrit: `"认证信息错误！"` (prefix seen,
//!   trigger guessed);
//! * `userid` that does not decrypt: `"userid解密失败,请检查加密内容."` (guessed, mirrors the secret message);
//! * missing `userid`, or one naming no active person: `{"msg":"登录信息超时","errorCode":"002","status":false}` (seen
//!   text, trigger guessed).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as Extract;
use axum::http::{HeaderMap, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::{Call, Fault, SsoLogin, SsoToken, State};
use super::{hr, keys, ofs, workflow};

type Shared = Arc<Mutex<State>>;

/// Bodies larger than this are refused before parsing (the simulator's bound).
const MAX_BODY: usize = 1 << 20;
/// Longest header value read (an RSA-2048 ciphertext in Base64 is 344 characters).
const MAX_HEADER: usize = 4096;

pub fn router(state: Shared) -> Router {
    Router::new()
        .fallback(handle)
        .layer(axum::extract::DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

/// The request's parameters: query string, then the form or JSON body on top. Form values are strings; a JSON
/// body's values are kept as they are (`params` may be an object there).
pub struct Params(pub BTreeMap<String, Value>);

impl Params {
    pub fn text(&self, name: &str) -> Option<String> {
        match self.0.get(name)? {
            Value::String(s) => Some(s.clone()),
            Value::Null => None,
            other => Some(other.to_string()),
        }
    }

    /// A parameter that carries JSON: a JSON string in a form field, or the value itself in a JSON body.
    /// Err when it is text that is not JSON.
    pub fn json(&self, name: &str) -> Result<Option<Value>, String> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
            Some(Value::String(s)) => serde_json::from_str(s)
                .map(Some)
                .map_err(|e| format!("{name} is not JSON: {e}")),
            Some(other) => Ok(Some(other.clone())),
        }
    }
}

pub fn json_answer(value: Value) -> Response {
    (
        [(header::CONTENT_TYPE, "application/json;charset=UTF-8")],
        value.to_string(),
    )
        .into_response()
}

fn text_answer(text: String) -> Response {
    ([(header::CONTENT_TYPE, "text/plain;charset=UTF-8")], text).into_response()
}

pub fn auth_fail(msg: &str) -> Value {
    json!({ "msg": msg, "code": -1, "msgShowType": "none", "status": false })
}

fn session_timeout() -> Value {
    json!({ "msg": "登录信息超时", "errorCode": "002", "status": false })
}

fn token_missing(token: &str) -> Value {
    auth_fail(&format!("token不存在或者超时：{token}"))
}

const AUTH_WRONG: &str = "认证信息错误！";

async fn handle(
    Extract(shared): Extract<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let fault = {
        let mut state = shared.lock().unwrap();
        state.calls.push(Call {
            method: method.to_string(),
            path: path.clone(),
            userid: None,
        });
        state.faults.take(&path)
    };
    match &fault {
        Some(Fault::Status(status)) => {
            return (
                StatusCode::from_u16(*status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                [(header::CONTENT_TYPE, "text/html")],
                format!("<html><body><h1>HTTP {status}</h1></body></html>"),
            )
                .into_response();
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(*delay).await,
        _ => {}
    }
    let headers: BTreeMap<String, String> = headers
        .iter()
        .filter(|(_, v)| v.len() <= MAX_HEADER)
        .filter_map(|(k, v)| {
            Some((
                k.as_str().to_lowercase(),
                v.to_str().ok()?.trim().to_string(),
            ))
        })
        .collect();
    let params = match read_params(&uri, &headers, &body) {
        Ok(params) => params,
        Err(message) => {
            return json_answer(
                json!({ "code": "PARAM_ERROR", "data": {}, "errMsg": { "msg": message } }),
            );
        }
    };
    let mut state = shared.lock().unwrap();
    let state = &mut *state;
    if path == "/api/ec/dev/auth/regist" && method == Method::POST {
        return json_answer(regist(state, &headers));
    }
    if path == "/api/ec/dev/auth/applytoken" && method == Method::POST {
        return json_answer(applytoken(state, &headers));
    }
    if path == "/ssologin/getToken" {
        return text_answer(sso_get_token(state, &params));
    }
    if path.starts_with("/wui/") || path.starts_with("/spa/") {
        return sso_page(state, &path, &params);
    }
    if let Some(name) = path.strip_prefix("/api/hrm/resful/") {
        if fault == Some(Fault::TokenExpired) {
            return json_answer(token_missing(
                headers.get("token").map_or("", |s| s.as_str()),
            ));
        }
        if let Err(refusal) = hr_auth(state, &headers, &params) {
            return json_answer(refusal);
        }
        if fault == Some(Fault::InnerError) {
            return json_answer(json!({ "code": "0", "data": {}, "msg": "系统内部错误" }));
        }
        return json_answer(hr::handle(state, name, &params));
    }
    if let Some(name) = path.strip_prefix("/api/workflow/paService/") {
        if fault == Some(Fault::TokenExpired) {
            return json_answer(token_missing(
                headers.get("token").map_or("", |s| s.as_str()),
            ));
        }
        let user = match rest_auth(state, &headers, true) {
            Ok(user) => user.expect("a user is required"),
            Err(refusal) => return json_answer(refusal),
        };
        if let Some(call) = state.calls.last_mut() {
            call.userid = Some(user);
        }
        if fault == Some(Fault::InnerError) {
            return json_answer(workflow::envelope_error(
                "SYSTEM_INNER_ERROR",
                "系统内部错误",
            ));
        }
        return match workflow::handle(state, &method, name, user, &params) {
            workflow::Answer::Json(value) => json_answer(value),
            workflow::Answer::Text(text) => text_answer(text),
        };
    }
    if let Some(name) = path.strip_prefix("/rest/ofs/") {
        if fault == Some(Fault::InnerError) {
            return json_answer(ofs::result("", "", "", false, "系统内部错误"));
        }
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        return json_answer(ofs::handle(state, name, &body));
    }
    (
        StatusCode::NOT_FOUND,
        [(header::CONTENT_TYPE, "text/html")],
        "<html><body><h1>404 Not Found</h1></body></html>",
    )
        .into_response()
}

fn read_params(
    uri: &Uri,
    headers: &BTreeMap<String, String>,
    body: &[u8],
) -> Result<Params, String> {
    let mut params = BTreeMap::new();
    if let Some(query) = uri.query() {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_str(query).map_err(|e| e.to_string())?;
        params.extend(pairs.into_iter().map(|(k, v)| (k, Value::String(v))));
    }
    if body.is_empty() {
        return Ok(Params(params));
    }
    let content_type = headers
        .get("content-type")
        .map_or("", |s| s.as_str())
        .to_lowercase();
    let looks_json = matches!(body.iter().find(|b| !b.is_ascii_whitespace()), Some(b'{'));
    if content_type.contains("json")
        || (looks_json && !content_type.contains("x-www-form-urlencoded"))
    {
        let value: Value =
            serde_json::from_slice(body).map_err(|e| format!("请求体不是有效的JSON: {e}"))?;
        if let Value::Object(map) = value {
            params.extend(map);
        }
    } else {
        let pairs: Vec<(String, String)> =
            serde_urlencoded::from_bytes(body).map_err(|e| e.to_string())?;
        params.extend(pairs.into_iter().map(|(k, v)| (k, Value::String(v))));
    }
    Ok(Params(params))
}

fn regist(state: &mut State, headers: &BTreeMap<String, String>) -> Value {
    let appid = headers.get("appid").map_or("", |s| s.as_str());
    if !state.options.appids.iter().any(|a| a == appid) {
        return auth_fail(AUTH_WRONG);
    }
    let secrit = state.register(appid);
    if let Some(registration) = state.registrations.get_mut(appid) {
        registration.cpk = headers.get("cpk").cloned().unwrap_or_default();
    }
    json!({ "status": true, "code": "0", "errcode": "", "msg": "ok", "msgShowType": "none",
            "secrit": secrit, "spk": state.key.spk })
}

fn applytoken(state: &mut State, headers: &BTreeMap<String, String>) -> Value {
    let appid = headers.get("appid").map_or("", |s| s.as_str());
    if !state.options.appids.iter().any(|a| a == appid) {
        return auth_fail(AUTH_WRONG);
    }
    let Some(secrit) = state.registrations.get(appid).map(|r| r.secrit.clone()) else {
        return auth_fail(AUTH_WRONG);
    };
    let Some(plain) = headers.get("secret").and_then(|s| state.key.decrypt(s)) else {
        return auth_fail("secret解密失败,请检查加密内容.");
    };
    if plain != secrit {
        return auth_fail(AUTH_WRONG);
    }
    // `time` is seconds (§1.3); anything unreadable falls back to the default, anything huge is capped.
    let ttl = headers
        .get("time")
        .and_then(|t| t.parse::<u64>().ok())
        .filter(|t| *t > 0)
        .map(Duration::from_secs);
    let token = state.issue_token(appid, ttl);
    json!({ "msg": "获取成功!", "code": 0, "msgShowType": "none", "status": true, "token": token })
}

/// §1.4: the acting person, or None for a `skipsession: 1` call without `userid` when no user is needed.
pub fn rest_auth(
    state: &State,
    headers: &BTreeMap<String, String>,
    need_user: bool,
) -> Result<Option<i64>, Value> {
    let appid = headers.get("appid").map_or("", |s| s.as_str());
    if !state.options.appids.iter().any(|a| a == appid) || !state.registrations.contains_key(appid)
    {
        return Err(auth_fail(AUTH_WRONG));
    }
    let token = headers.get("token").map_or("", |s| s.as_str());
    if !state.token_valid(appid, token) {
        return Err(token_missing(token));
    }
    let Some(cipher) = headers.get("userid").filter(|s| !s.is_empty()) else {
        let skip = headers.get("skipsession").is_some_and(|s| s == "1");
        return if skip && !need_user {
            Ok(None)
        } else {
            Err(session_timeout())
        };
    };
    let Some(plain) = state.key.decrypt(cipher) else {
        return Err(auth_fail("userid解密失败,请检查加密内容."));
    };
    match plain
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|id| state.people.get(&id))
    {
        Some(person) if person.active() => Ok(Some(person.id)),
        _ => Err(session_timeout()),
    }
}

/// §2.1: the HR `key`/`ts` token (headers, body fields, or a `token` parameter holding `{"key","ts"}`), else the
/// §1 headers when the install takes them. Refusals are HR-shaped: code other than "1" (message guessed).
fn hr_auth(
    state: &State,
    headers: &BTreeMap<String, String>,
    params: &Params,
) -> Result<(), Value> {
    let from_token = params.json("token").ok().flatten().and_then(|t| {
        Some((
            t.get("key")?.as_str()?.to_string(),
            t.get("ts")?
                .as_str()
                .map(String::from)
                .or_else(|| t.get("ts").map(|v| v.to_string()))?,
        ))
    });
    let pair = match (headers.get("key"), headers.get("ts")) {
        (Some(k), Some(ts)) => Some((k.clone(), ts.clone())),
        _ => match (params.text("key"), params.text("ts")) {
            (Some(k), Some(ts)) => Some((k, ts)),
            _ => from_token,
        },
    };
    if let Some((key, ts)) = pair {
        let fresh = ts.parse::<i64>().is_ok_and(|ts| {
            (state.now_ms() - ts).abs() <= state.options.hrm_token_window.as_millis() as i64
        });
        if !fresh {
            return Err(json!({ "code": "0", "data": {}, "msg": "token已过期" }));
        }
        if !key.eq_ignore_ascii_case(&keys::hrm_key(&state.options.hrm_key, &ts)) {
            return Err(json!({ "code": "0", "data": {}, "msg": "token验证失败" }));
        }
        return Ok(());
    }
    if state.options.hrm_accepts_rest_token && headers.contains_key("token") {
        return rest_auth(state, headers, false).map(|_| ());
    }
    Err(json!({ "code": "0", "data": {}, "msg": "没有访问权限" }))
}

/// §6: plain text, the token or "Token获取失败: <reason>".
fn sso_get_token(state: &mut State, params: &Params) -> String {
    let appid = params.text("appid").unwrap_or_default();
    if !state.options.sso_appids.contains(&appid) {
        return "Token获取失败: 认证应用未注册".into();
    }
    let loginid = params.text("loginid").unwrap_or_default();
    let Some(person) = state
        .person_by_loginid(loginid.trim())
        .filter(|p| p.active())
        .map(|p| p.id)
    else {
        return "Token获取失败: 用户不存在".into(); // guessed text
    };
    let token: String = (0..2)
        .map(|_| format!("{:032X}", rand::random::<u128>()))
        .collect();
    let expires = Instant::now() + state.options.sso_ttl;
    state.sso_tokens.insert(
        token.clone(),
        SsoToken {
            person,
            appid,
            expires,
        },
    );
    token
}

/// A page opened with `?ssoToken=`: the token is used up (guessed: one-time) and the person is signed in; without
/// a valid one the OA sends the browser to its login page.
fn sso_page(state: &mut State, path: &str, params: &Params) -> Response {
    let token = params.text("ssoToken").unwrap_or_default();
    let person = state
        .sso_tokens
        .remove(&token)
        .filter(|t| t.expires > Instant::now())
        .map(|t| t.person);
    let Some(person) = person.and_then(|id| state.people.get(&id)).cloned() else {
        return (
            StatusCode::FOUND,
            [(header::LOCATION, "/login/Login.jsp")],
            "",
        )
            .into_response();
    };
    state.sso_logins.push(SsoLogin {
        person: person.id,
        loginid: person.loginid.clone(),
        path: path.into(),
    });
    (
        [(header::CONTENT_TYPE, "text/html;charset=UTF-8")],
        format!(
            "<html><body data-userid=\"{}\" data-loginid=\"{}\">e-cology: signed in as {}</body></html>",
            person.id, person.loginid, person.lastname
        ),
    )
        .into_response()
}
