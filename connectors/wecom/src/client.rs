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
