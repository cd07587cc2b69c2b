//! The two ways K3Cloud lets a caller in. `signed` (the default, the current SDK's "third-party system login"):
//! every request carries `X-Api-*` headers signed with a client secret hidden in the app id, and `X-Kd-*`
//! headers signed with the app secret. `session`: log in once (`ValidateUser` with a password, or
//! `LoginByAppSecret`), keep the session id in kv, and log in again when a result says the session is lost.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use qiao_sdk::json_http::{self, Response};
use qiao_sdk::text::{hex, urlencode};
use qiao_sdk::token::{self, Token};
use qiao_sdk::{Error, config, crypto, require_config};
use serde_json::json;

/// How long a session id is reused before logging in again; K3Cloud's own timeout is about 20 minutes.
const SESSION_TTL_S: u64 = 15 * 60;
/// The key the SDK XORs the client secret with (`DecodeAppSecret`).
const XOR_KEY: &[u8; 32] = b"0054f397c6234378b09ca7d3e5debce7";

pub fn session_mode() -> Result<bool, Error> {
    match config::get("auth").filter(|v| !v.is_empty()).as_deref() {
        None | Some("signed") => Ok(false),
        Some("session") => Ok(true),
        Some(other) => Err(Error::invalid_input(format!(
            "auth must be signed or session, not {other:?}"
        ))),
    }
}

pub fn lcid() -> String {
    config::get("lcid")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "2052".into())
}

/// HMAC-SHA256, hex, then base64: the SDK's `HmacSHA256`.
fn sign(key: &str, content: &str) -> String {
    STANDARD.encode(hex(&crypto::hmac_sha256(
        key.as_bytes(),
        content.as_bytes(),
    )))
}

/// The client secret inside an app id `<clientId>_<32 base64 chars>`: decoded, XORed with the SDK's key,
/// encoded again (used as text, not bytes, as the key of the signature).
fn client_secret(encoded: &str) -> String {
    match STANDARD.decode(encoded) {
        Ok(bytes) if encoded.len() == 32 => STANDARD.encode(
            bytes
                .iter()
                .zip(XOR_KEY.iter())
                .map(|(b, k)| b ^ k)
                .collect::<Vec<u8>>(),
        ),
        _ => String::new(),
    }
}

/// The signed headers for a POST to `url` (`https://host/k3cloud/Service.common.kdsvc`).
pub fn signed_headers(url: &str) -> Result<Vec<(String, String)>, Error> {
    let app_id = require_config("app_id")?;
    let app_secret = require_config("app_secret")?;
    let (client_id, encoded) = app_id.split_once('_').unwrap_or(("", ""));
    let path = url
        .find("://")
        .and_then(|i| url[i + 3..].find('/').map(|j| &url[i + 3 + j..]))
        .unwrap_or(url);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs().to_string())
        .unwrap_or_default();
    let api_sign = format!(
        "POST\n{}\n\nx-api-nonce:{now}\nx-api-timestamp:{now}\n",
        urlencode(path)
    );
    let org = config::get("org_num")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "0".into());
    let app_data = format!(
        "{},{},{},{org}",
        require_config("acct_id")?,
        require_config("user_name")?,
        lcid()
    );
    Ok(vec![
        ("X-Api-ClientID".into(), client_id.into()),
        ("X-Api-Auth-Version".into(), "2.0".into()),
        ("x-api-timestamp".into(), now.clone()),
        ("x-api-nonce".into(), now),
        (
            "x-api-signheaders".into(),
            "x-api-timestamp,x-api-nonce".into(),
        ),
        (
            "X-Api-Signature".into(),
            sign(&client_secret(encoded), &api_sign),
        ),
        ("X-Kd-Appkey".into(), app_id.clone()),
        ("X-Kd-Appdata".into(), STANDARD.encode(app_data.as_bytes())),
        (
            "X-Kd-Signature".into(),
            sign(&app_secret, &format!("{app_id}{app_data}")),
        ),
    ])
}

pub fn session_key() -> Result<String, Error> {
    // Every credential is part of the key: a changed password or secret must log in afresh.
    let setting = |key: &str| config::get(key).unwrap_or_default();
    let parts = [
        "server_url",
        "acct_id",
        "user_name",
        "password",
        "app_id",
        "app_secret",
    ]
    .map(setting);
    Ok(token::cache_key(
        "kingdee-session",
        &parts.each_ref().map(String::as_str),
    ))
}

/// Logs in: with `password` when configured (`ValidateUser`), else with the app id and secret.
pub fn login() -> Result<Token, Error> {
    let (acct, user) = (require_config("acct_id")?, require_config("user_name")?);
    let lcid: i64 = lcid().parse().unwrap_or(2052);
    let (service, body) = match config::get("password").filter(|v| !v.is_empty()) {
        Some(password) => (
            "Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser",
            json!({ "acctID": acct, "username": user, "password": password, "lcid": lcid }),
        ),
        None => (
            "Kingdee.BOS.WebApi.ServicesStub.AuthService.LoginByAppSecret",
            json!({ "acctID": acct, "username": user, "appId": require_config("app_id")?,
                    "appSecret": require_config("app_secret")?, "lcid": lcid }),
        ),
    };
    let response: Response = json_http::post(&crate::client::service_url(service)?, &[], &body)?;
    let answer = response.json()?;
    if answer["LoginResultType"].as_i64() != Some(1) {
        let message = answer["Message"]
            .as_str()
            .unwrap_or("login refused")
            .to_string();
        return Err(Error::unauthorized(format!(
            "K3Cloud refused the login of {user} to account set {acct}: {message} (check user_name, password or \
             app_id/app_secret, acct_id)"
        ))
        .with_platform(answer["LoginResultType"].to_string(), message));
    }
    // The session id comes as a cookie; older servers also put it in the body.
    let from_cookie = response
        .headers
        .iter()
        .filter(|(k, _)| k == "set-cookie")
        .flat_map(|(_, v)| v.split(';'))
        .find_map(|part| {
            part.trim()
                .strip_prefix("kdservice-sessionid=")
                .map(String::from)
        });
    let sid = from_cookie
        .or_else(|| answer["KDSVCSessionId"].as_str().map(String::from))
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::internal("K3Cloud's login answered no session id"))?;
    Ok(Token {
        value: sid,
        expires_in: SESSION_TTL_S,
    })
}
