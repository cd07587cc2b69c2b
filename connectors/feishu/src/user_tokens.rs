//! Users' own Feishu access tokens, for the few calls Feishu takes only as a person (the approval reminder,
//! `approval/v4/instances/remind`). A user's token comes from their sign-in through Qiao (`sso-resolve`): it is
//! kept in the connection's kv under the user's id until its refresh token expires, refreshed when the access
//! token runs out (`authen/v2/oauth/token`, `grant_type=refresh_token`; each refresh token works once), and never
//! logged. Without a sign-in there is no token, and the call is refused saying so.

use qiao_sdk::http::Method;
use qiao_sdk::{Error, ErrorKind, json_kv};
use serde_json::{Value, json};

use crate::client::{app_id, app_secret, call_as, now_ms};

/// The setting that lets the connector keep signed-in users' tokens. Off by default: a kept token acts as that
/// person, so an operator opts in for the reminders that need it.
const SETTING: &str = "remind_as_signed_in_users";

pub fn enabled() -> bool {
    qiao_sdk::config::get(SETTING).is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// A token is used only with this much of its life left, so it does not expire on the way.
const MARGIN_MS: u64 = 60_000;
/// Feishu's default access-token lifetime, when an answer does not say.
const DEFAULT_TTL_S: u64 = 7200;

#[derive(serde::Serialize, serde::Deserialize)]
struct Stored {
    access_token: String,
    expires_at_ms: u64,
    refresh_token: Option<String>,
}

fn key(user_id: &str) -> String {
    format!("user-token:{user_id}")
}

/// Keeps the token answer (`authen/v2/oauth/token`) of this user's sign-in or refresh.
pub fn remember(user_id: &str, answer: &Value) -> Result<(), Error> {
    let Some(access_token) = answer["access_token"].as_str().filter(|t| !t.is_empty()) else {
        return Ok(());
    };
    let ttl_s = answer["expires_in"].as_u64().unwrap_or(DEFAULT_TTL_S);
    let refresh_token = answer["refresh_token"]
        .as_str()
        .filter(|t| !t.is_empty())
        .map(String::from);
    let keep_s = match &refresh_token {
        Some(_) => answer["refresh_token_expires_in"].as_u64().unwrap_or(ttl_s),
        None => ttl_s,
    };
    let stored = Stored {
        access_token: access_token.into(),
        expires_at_ms: now_ms() + ttl_s * 1000,
        refresh_token,
    };
    json_kv::set(
        &key(user_id),
        &stored,
        Some(keep_s.clamp(1, u32::MAX as u64) as u32),
    )
}

/// A valid access token of this user, refreshed if need be.
pub fn token_for(user_id: &str, why: &str) -> Result<String, Error> {
    if !enabled() {
        return Err(Error::forbidden(format!(
            "{why} must be done with the Feishu user's own access token, which this connection does not keep: set \
             {SETTING} = true, and have the reminding user sign in to Qiao with Feishu"
        )));
    }
    let missing = || {
        Error::forbidden(format!(
            "{why} must be done with the Feishu user's own access token, and {user_id} has not signed in to Qiao \
             with Feishu recently (or their sign-in has expired): have them sign in, then try again"
        ))
    };
    let stored: Stored = json_kv::get(&key(user_id)).ok_or_else(missing)?;
    if stored.expires_at_ms > now_ms() + MARGIN_MS {
        return Ok(stored.access_token);
    }
    let refresh = stored.refresh_token.ok_or_else(missing)?;
    let grant = json!({
        "grant_type": "refresh_token",
        "client_id": app_id()?,
        "client_secret": app_secret()?,
        "refresh_token": refresh,
    });
    let answer = call_as(Method::Post, "authen/v2/oauth/token", Some(&grant), "").map_err(|e| {
        match e.kind {
            // The refresh token was used, revoked or expired: only a new sign-in helps.
            ErrorKind::InvalidInput | ErrorKind::NotFound | ErrorKind::Unauthorized => missing(),
            _ => e,
        }
    })?;
    remember(user_id, &answer)?;
    answer["access_token"]
        .as_str()
        .map(String::from)
        .ok_or_else(missing)
}
