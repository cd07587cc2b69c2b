//! Requests to Feishu's open API (`https://open.feishu.cn/open-apis/…`, or Lark's `open.larksuite.com`) with
//! the app's tenant access token as `Authorization: Bearer`, cached in kv and refetched once when rejected.
//! Ids in paths and answers follow the configured `user_id_type` and `department_id_type`.

use qiao_sdk::http::Method;
use qiao_sdk::json_http;
use qiao_sdk::token::{self, Token};
use qiao_sdk::{Error, config, require_config};
use serde_json::{Value, json};

use crate::errors::check;

pub const FEISHU_HOST: &str = "open.feishu.cn";
pub const LARK_HOST: &str = "open.larksuite.com";

fn lark() -> bool {
    config::get("region").is_some_and(|r| r.eq_ignore_ascii_case("lark"))
}

pub fn base() -> String {
    match config::get("api_base").filter(|v| !v.is_empty()) {
        Some(base) => base.trim_end_matches('/').to_string(),
        None => format!("https://{}", if lark() { LARK_HOST } else { FEISHU_HOST }),
    }
}

/// Where browsers sign in (never fetched by the connector).
pub fn accounts_base() -> &'static str {
    if lark() {
        "https://accounts.larksuite.com"
    } else {
        "https://accounts.feishu.cn"
    }
}

pub fn app_id() -> Result<String, Error> {
    require_config("app_id")
}

pub fn app_secret() -> Result<String, Error> {
    require_config("app_secret")
}

/// `open_id` (default: every app has it), `union_id` or `user_id` (needs the employee-id scope).
pub fn user_id_type() -> String {
    config::get("user_id_type")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "open_id".into())
}

/// `open_department_id` (default) or `department_id` (the enterprise's own ids).
pub fn department_id_type() -> String {
    config::get("department_id_type")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "open_department_id".into())
}

/// The id-type query every contact, message and approval call carries.
pub fn id_types() -> String {
    format!(
        "user_id_type={}&department_id_type={}",
        user_id_type(),
        department_id_type()
    )
}

fn fetch_token() -> Result<Token, Error> {
    let url = format!("{}/open-apis/auth/v3/tenant_access_token/internal", base());
    let body = json!({ "app_id": app_id()?, "app_secret": app_secret()? });
    let answer = check(&json_http::post(&url, &[], &body)?).map_err(|e| match e.kind {
        qiao_sdk::ErrorKind::RateLimited | qiao_sdk::ErrorKind::Unavailable => e,
        _ => Error {
            kind: qiao_sdk::ErrorKind::Unauthorized,
            message: "Feishu refused the app credentials: check app_id and app_secret".into(),
            ..e
        },
    })?;
    Ok(Token {
        value: answer["tenant_access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::internal("Feishu answered no tenant_access_token"))?
            .to_string(),
        expires_in: answer["expire"].as_u64().unwrap_or(7200),
    })
}

/// `path` after `/open-apis/`, with its query; the answer's `data` (or the whole body when it has none).
pub fn call(method: Method, path: &str, body: Option<&Value>) -> Result<Value, Error> {
    let key = token::cache_key("feishu", &[&base(), &app_id()?, &app_secret()?]);
    token::with_token(&key, fetch_token, |token| {
        call_as(method, path, body, token)
    })
}

/// As someone else: a user's access token, or none (`""`).
pub fn call_as(
    method: Method,
    path: &str,
    body: Option<&Value>,
    token: &str,
) -> Result<Value, Error> {
    let url = format!("{}/open-apis/{path}", base());
    let bearer = format!("Bearer {token}");
    let headers: &[(&str, &str)] = if token.is_empty() {
        &[]
    } else {
        &[("authorization", &bearer)]
    };
    let answer = check(&json_http::send(method, &url, headers, body)?)?;
    Ok(match answer.get("data") {
        Some(data) => data.clone(),
        None => answer,
    })
}

pub fn get(path: &str) -> Result<Value, Error> {
    call(Method::Get, path, None)
}

pub fn post(path: &str, body: &Value) -> Result<Value, Error> {
    call(Method::Post, path, Some(body))
}

/// Path segments and query values: ids may hold anything.
pub fn enc(text: &str) -> String {
    qiao_sdk::text::urlencode(text)
}

/// A string field, or an `internal` error naming it.
pub fn string(value: &Value, what: &str) -> Result<String, Error> {
    value
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from)
        .ok_or_else(|| Error::internal(format!("Feishu's answer has no {what}")))
}

/// The id of a user in the configured id type.
pub fn user_id_of(user: &Value) -> Option<String> {
    user[user_id_type().as_str()]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// The id of a department in the configured id type.
pub fn department_id_of(dept: &Value) -> Option<String> {
    dept[department_id_type().as_str()]
        .as_str()
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// `user_id_type=…`, the query every call naming users carries.
pub fn user_id_query() -> String {
    format!("user_id_type={}", user_id_type())
}

/// Milliseconds as Feishu writes them: decimal strings or numbers ("0" for none).
pub fn millis(value: &Value) -> Option<u64> {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| value.as_u64())
        .filter(|ms| *ms > 0)
}

/// Now, in milliseconds since the Unix epoch (the guest's wall clock, from WASI).
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}
