//! Requests to WeCom's API (`https://qyapi.weixin.qq.com/cgi-bin/`), every one with `?access_token=`. A token
//! belongs to one (corpid, app secret) pair and is cached in kv under both; a rejected one is refetched once.

use qiao_sdk::json_http;
use qiao_sdk::text::urlencode;
use qiao_sdk::token::{self, Token};
use qiao_sdk::{Error, config, require_config};
use serde_json::Value;

use crate::errors::check;

pub const HOST: &str = "qyapi.weixin.qq.com";

pub fn base() -> String {
    match config::get("api_base").filter(|v| !v.is_empty()) {
        Some(base) => base.trim_end_matches('/').to_string(),
        None => format!("https://{HOST}"),
    }
}

pub fn corp_id() -> Result<String, Error> {
    require_config("corp_id")
}

pub fn agent_id() -> Result<i64, Error> {
    let id = require_config("agent_id")?;
    id.trim()
        .parse()
        .map_err(|_| Error::invalid_input(format!("agent_id must be a number, got {id:?}")))
}

fn credentials() -> Result<(String, String), Error> {
    Ok((corp_id()?, require_config("corp_secret")?))
}

/// `GET /cgi-bin/gettoken?corpid=&corpsecret=`
fn fetch_token() -> Result<Token, Error> {
    let (corp, secret) = credentials()?;
    let url = format!(
        "{}/cgi-bin/gettoken?corpid={}&corpsecret={}",
        base(),
        urlencode(&corp),
        urlencode(&secret)
    );
    let body = check(&json_http::get(&url, &[])?)?;
    Ok(Token {
        value: body["access_token"]
            .as_str()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Error::internal("gettoken answered no access_token"))?
            .to_string(),
        expires_in: body["expires_in"].as_u64().unwrap_or(7200),
    })
}

/// `path` is relative to `/cgi-bin/` and may carry its own query (`user/get?userid=...`).
fn call(path: &str, body: Option<&Value>) -> Result<Value, Error> {
    let (corp, secret) = credentials()?;
    token::with_token(
        &token::cache_key("wecom", &[&corp, &secret]),
        fetch_token,
        |token| {
            let separator = if path.contains('?') { '&' } else { '?' };
            let url = format!(
                "{}/cgi-bin/{path}{separator}access_token={}",
                base(),
                urlencode(token)
            );
            let response = match body {
                Some(body) => json_http::post(&url, &[], body)?,
                None => json_http::get(&url, &[])?,
            };
            check(&response)
        },
    )
}

pub fn get(path: &str) -> Result<Value, Error> {
    call(path, None)
}

pub fn post(path: &str, body: &Value) -> Result<Value, Error> {
    call(path, Some(body))
}

/// A number WeCom wants (department ids), or `invalid-input` naming the field.
pub fn number(id: &str, field: &str) -> Result<i64, Error> {
    id.trim().parse().map_err(|_| {
        Error::invalid_input(format!(
            "{field} must be a WeCom department id (a number), got {id:?}"
        ))
    })
}

/// An id WeCom gives as a number or a string, as text.
pub fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// WeCom's rule for a userid: 1 to 64 characters, each a letter, a digit or one of `_-@.`. Checked where an id
/// is written into a request's text (a mention) or a long list, so a bad one is named before anything is sent.
pub fn is_userid(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '@' | '.'))
}

/// The userids, trimmed, in order and without repeats (WeCom counts a repeated one against its limits); a blank
/// one is `invalid-input`.
pub fn distinct(user_ids: Vec<String>) -> Result<Vec<String>, Error> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    for id in user_ids {
        let id = id.trim().to_string();
        qiao_sdk::required(&id, "user_ids (a blank user id)")?;
        if seen.insert(id.clone()) {
            out.push(id);
        }
    }
    Ok(out)
}

/// [`distinct`], each also a well-formed userid ([`is_userid`]).
pub fn userids(user_ids: Vec<String>, field: &str) -> Result<Vec<String>, Error> {
    let ids = distinct(user_ids)?;
    match ids.iter().find(|id| !is_userid(id)) {
        Some(bad) => Err(Error::invalid_input(format!(
            "{field}: {:?} is not a WeCom userid (1-64 letters, digits or _-@.)",
            bad.chars().take(80).collect::<String>()
        ))),
        None => Ok(ids),
    }
}
