//! Requests to DingTalk's two API hosts, each with its own access token (cached in kv, refetched once when
//! rejected): the old API `oapi.dingtalk.com` (token in the query, `errcode` envelope), which still has most of
//! the directory and work notifications, and the new API `api.dingtalk.com` (token in a header, HTTP status
//! errors), which has approvals, DING and the OAuth2 user flow.

use qiao_sdk::http::Method;
use qiao_sdk::json_http::{self, Response};
use qiao_sdk::text::urlencode;
use qiao_sdk::token::{self, Token};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use qiao_sdk::{Error, ErrorKind, config, require_config};
use serde_json::{Value, json};

use crate::errors::{QPS_WAIT_MS, check_api, check_oapi};

pub const OAPI_HOST: &str = "oapi.dingtalk.com";
pub const API_HOST: &str = "api.dingtalk.com";

/// A base URL from the config (an override for a simulator or proxy), or DingTalk's own.
fn base(key: &str, host: &str) -> String {
    match config::get(key).filter(|v| !v.is_empty()) {
        Some(base) => base.trim_end_matches('/').to_string(),
        None => format!("https://{host}"),
    }
}

pub fn oapi_base() -> String {
    base("oapi_base", OAPI_HOST)
}

pub fn api_base() -> String {
    base("api_base", API_HOST)
}

pub fn app_key() -> Result<String, Error> {
    require_config("app_key")
}

fn credentials() -> Result<(String, String), Error> {
    Ok((app_key()?, require_config("app_secret")?))
}

/// The agent id work notifications and approvals are sent as; DingTalk wants a number.
pub fn agent_id() -> Result<i64, Error> {
    let id = require_config("agent_id")?;
    id.trim()
        .parse()
        .map_err(|_| Error::invalid_input(format!("agent_id must be a number, got {id:?}")))
}

/// `GET /gettoken?appkey=&appsecret=` on the old API.
fn fetch_oapi_token() -> Result<Token, Error> {
    let (key, secret) = credentials()?;
    let url = format!(
        "{}/gettoken?appkey={}&appsecret={}",
        oapi_base(),
        urlencode(&key),
        urlencode(&secret)
    );
    let body = check_oapi(&json_http::get(&url, &[])?).map_err(credentials_refused)?;
    Ok(Token {
        value: string(&body["access_token"], "gettoken: access_token")?,
        expires_in: body["expires_in"].as_u64().unwrap_or(7200),
    })
}

/// `POST /v1.0/oauth2/accessToken {appKey, appSecret}` on the new API.
fn fetch_api_token() -> Result<Token, Error> {
    let (key, secret) = credentials()?;
    let url = format!("{}/v1.0/oauth2/accessToken", api_base());
    let body = json!({ "appKey": key, "appSecret": secret });
    let body = check_api(&json_http::post(&url, &[], &body)?).map_err(credentials_refused)?;
    Ok(Token {
        value: string(&body["accessToken"], "accessToken")?,
        expires_in: body["expireIn"].as_u64().unwrap_or(7200),
    })
}

/// A refusal at the token endpoint is about the app's credentials, not a token: say so.
fn credentials_refused(e: Error) -> Error {
    if e.kind == qiao_sdk::ErrorKind::Unauthorized {
        Error {
            message: "DingTalk refused the app credentials: check app_key and app_secret".into(),
            ..e
        }
    } else {
        e
    }
}

fn token_key(kind: &str) -> Result<String, Error> {
    let (key, secret) = credentials()?;
    Ok(token::cache_key(kind, &[&key, &secret]))
}

/// `POST {oapi}{path}?access_token=…` with a JSON body; the body of the answer when `errcode` is 0.
pub fn oapi(path: &str, body: &Value) -> Result<Value, Error> {
    token::with_token(&token_key("oapi")?, fetch_oapi_token, |token| {
        let url = format!("{}{path}?access_token={}", oapi_base(), urlencode(token));
        check_oapi(&json_http::post(&url, &[], body)?)
    })
}

/// At most this much waiting, per call, for DingTalk's per-second QPS limit in [`oapi_paced`]: well inside the
/// host's default wall time of 30 s per call.
const MAX_QPS_WAIT_MS: u64 = 12_000;

/// How long this call has waited for QPS limits so far (each call runs in a fresh instance).
static QPS_WAITED_MS: AtomicU64 = AtomicU64::new(0);

/// [`oapi`] for the requests of a bulk read (a directory walk, a page of users read one by one, a role's members
/// page by page). DingTalk allows an app 20 requests per second per API (standard edition) and asks callers that
/// hit it (90018) to wait a second and go on: these requests do, up to [`MAX_QPS_WAIT_MS`] per call, so a large
/// read completes instead of failing half way. Single requests still report the limit to their caller, whose
/// outbox waits instead.
pub fn oapi_paced(path: &str, body: &Value) -> Result<Value, Error> {
    paced(|| oapi(path, body))
}

/// [`api`] for the requests of a bulk read (each to-do of a page read in full), paced like [`oapi_paced`].
pub fn api_paced(method: Method, path: &str, body: Option<&Value>) -> Result<Value, Error> {
    paced(|| api(method, path, body))
}

/// Runs `request`, waiting out DingTalk's per-second QPS limit within this call's allowance.
fn paced(mut request: impl FnMut() -> Result<Value, Error>) -> Result<Value, Error> {
    loop {
        match request() {
            Err(e) if e.kind == ErrorKind::RateLimited => {
                let wait = e.retry_after_ms.unwrap_or(QPS_WAIT_MS);
                let waited = QPS_WAITED_MS.load(Ordering::Relaxed);
                if wait > QPS_WAIT_MS || waited + wait > MAX_QPS_WAIT_MS {
                    return Err(e);
                }
                QPS_WAITED_MS.store(waited + wait, Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(wait));
            }
            other => return other,
        }
    }
}

/// The new API with the app token in `x-acs-dingtalk-access-token`.
pub fn api(method: Method, path: &str, body: Option<&Value>) -> Result<Value, Error> {
    token::with_token(&token_key("api")?, fetch_api_token, |token| {
        api_as(method, path, body, token)
    })
}

/// The new API as someone else (a user's OAuth token), or with no token at all (`""`).
pub fn api_as(
    method: Method,
    path: &str,
    body: Option<&Value>,
    token: &str,
) -> Result<Value, Error> {
    let url = format!("{}{path}", api_base());
    let headers: &[(&str, &str)] = if token.is_empty() {
        &[]
    } else {
        &[("x-acs-dingtalk-access-token", token)]
    };
    let response: Response = json_http::send(method, &url, headers, body)?;
    check_api(&response)
}

/// A string field DingTalk promised, or an `internal` error naming it.
pub fn string(value: &Value, what: &str) -> Result<String, Error> {
    match value {
        Value::String(s) if !s.is_empty() => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        _ => Err(Error::internal(format!("DingTalk's answer has no {what}"))),
    }
}

/// An id DingTalk gives as a number or a string, as text.
pub fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// A department id as DingTalk's number, or `invalid-input` naming the field.
pub fn dept_number(id: &str, field: &str) -> Result<i64, Error> {
    id.trim().parse().map_err(|_| {
        Error::invalid_input(format!(
            "{field} must be a DingTalk department id (a number), got {id:?}"
        ))
    })
}
