//! Single sign-on with Qiao keeping the CSRF `state` and refusing replayed codes, and the platform user matched
//! to the enterprise's person.
//!
//! `start` makes a random state (256 bits, URL-safe), stores its digest with the connection, redirect URI and
//! flow for [`STATE_TTL`], and asks the connector for the URL to send the browser to. `exchange` checks the state
//! the browser came back with and uses it up, records the code's digest (a code is exchanged once per
//! connection), asks the connector who the code belongs to, and finds the person: through the account's link,
//! else by the one person with that mobile, else that email. States and codes are never logged or stored in
//! clear.

use std::time::Duration;

use base64::Engine as _;
use rand::RngCore;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use qiao_contract::json::render;
use qiao_contract::bindings::identity::{SsoRequest, SsoUser};
use qiao_contract::calls::{Call, Reply};
use qiao_contract::Capability;
use qiao_store::{LinkKind, SsoCheck, SsoState, now_ms};
use qiao_directory::Person;
use qiao_directory::model::{normalize_email, normalize_mobile};
use crate::App;
use crate::failure::{Failure, FailureKind};

/// How long a state may be exchanged after it is handed out.
pub const STATE_TTL: Duration = Duration::from_secs(10 * 60);
/// Expired states are kept this long (answered `sso_state_expired` rather than unknown), then pruned.
const KEEP_EXPIRED_MS: i64 = 60 * 60 * 1000;
/// Used codes are remembered this long: every platform's codes expire within minutes.
const KEEP_CODES_MS: i64 = 24 * 60 * 60 * 1000;
pub const MAX_REDIRECT_URI_CHARS: usize = 2048;
const MAX_FLOW_CHARS: usize = 64;
const MAX_STATE_CHARS: usize = 256;
const MAX_CODE_CHARS: usize = 2048;

type Result<T> = std::result::Result<T, Failure>;

/// A state handed out: where to send the browser, the state, and until when it can be exchanged.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Started {
    pub url: String,
    pub state: String,
    pub expires_at_ms: i64,
}

/// A new state: 32 random bytes, base64url without padding (43 characters).
pub fn new_state() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// How a state or code is stored: its sha256, in hex.
pub fn digest(value: &str) -> String {
    hex::encode(Sha256::digest(value.as_bytes()))
}

/// A redirect URI Qiao hands out a state for: an absolute http(s) URL with a host and no fragment, at most
/// [`MAX_REDIRECT_URI_CHARS`] long.
pub fn check_redirect_uri(uri: &str) -> Result<()> {
    let refuse = |why: &str| Failure::invalid(format!("redirect_uri {why}"));
    if uri.is_empty() || uri.chars().count() > MAX_REDIRECT_URI_CHARS {
        return Err(refuse(&format!(
            "must be 1-{MAX_REDIRECT_URI_CHARS} characters"
        )));
    }
    let url = url::Url::parse(uri).map_err(|e| refuse(&format!("is not an absolute URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(refuse("must be an http or https URL"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(refuse("must name a host"));
    }
    if url.fragment().is_some() {
        return Err(refuse("must not have a fragment (#…)"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(refuse("must not carry a user name or password"));
    }
    Ok(())
}

/// Hands out a state for `connection` and answers the platform's sign-in URL carrying it.
pub async fn start(
    app: &App,
    connection: &str,
    redirect_uri: String,
    flow: Option<String>,
) -> Result<Started> {
    check_redirect_uri(&redirect_uri)?;
    if flow
        .as_ref()
        .is_some_and(|f| f.is_empty() || f.chars().count() > MAX_FLOW_CHARS)
    {
        return Err(Failure::invalid(format!(
            "flow must be 1-{MAX_FLOW_CHARS} characters"
        )));
    }
    let state = new_state();
    let call = Call::SsoAuthorizeUrl {
        redirect_uri: redirect_uri.clone(),
        state: state.clone(),
        flow: flow.clone(),
    };
    // The connector first: a flow without a URL (DingTalk in-app) is refused before a state is stored.
    let url = match app.runtime.call(connection, call).await? {
        Reply::Url(url) => url,
        _ => {
            return Err(Failure::internal(anyhow::anyhow!(
                "unexpected reply variant"
            )));
        }
    };
    let now = now_ms();
    let expires_at_ms = now + STATE_TTL.as_millis() as i64;
    let stored = SsoState {
        connection: connection.to_string(),
        redirect_uri,
        flow,
        created_ms: now,
        expires_ms: expires_at_ms,
    };
    app.db
        .sso_add_state(
            digest(&state),
            stored,
            now - KEEP_EXPIRED_MS,
            now - KEEP_CODES_MS,
        )
        .await
        .map_err(Failure::internal)?;
    Ok(Started {
        url,
        state,
        expires_at_ms,
    })
}

fn state_error(check: &SsoCheck) -> Failure {
    match check {
        SsoCheck::Unknown => Failure::new(
            FailureKind::Invalid,
            "sso_state_invalid",
            "the state is not one Qiao handed out (start sign-in with POST …/sso/start)",
        ),
        SsoCheck::OtherConnection => Failure::new(
            FailureKind::Invalid,
            "sso_state_invalid",
            "the state was handed out for another connection",
        ),
        SsoCheck::OtherRedirect => Failure::new(
            FailureKind::Invalid,
            "sso_state_invalid",
            "the state was handed out for another redirect_uri",
        ),
        SsoCheck::Expired => Failure::new(
            FailureKind::Invalid,
            "sso_state_expired",
            format!(
                "the state has expired (states can be exchanged for {} minutes); start sign-in again",
                STATE_TTL.as_secs() / 60
            ),
        ),
        SsoCheck::Used => Failure::new(
            FailureKind::Conflict,
            "sso_state_used",
            "the state was already exchanged; each state signs in once",
        ),
        SsoCheck::CodeUsed => Failure::new(
            FailureKind::Conflict,
            "sso_code_used",
            "this code was already exchanged on this connection",
        ),
        SsoCheck::Valid(_) => Failure::internal(anyhow::anyhow!("a valid state is no error")),
    }
}

/// Checks and uses up the state, then resolves the code and finds the person (see the module comment). The
/// answer: `{connection, platform_user, person, matched_by, note?}`.
pub async fn exchange(
    app: &App,
    connection: &str,
    code: String,
    state: String,
    redirect_uri: Option<String>,
) -> Result<Value> {
    app.runtime.check_callable(connection, Capability::Identity)?;
    if code.is_empty() || code.chars().count() > MAX_CODE_CHARS {
        return Err(Failure::invalid(format!(
            "code must be 1-{MAX_CODE_CHARS} characters"
        )));
    }
    if state.is_empty() || state.chars().count() > MAX_STATE_CHARS {
        return Err(state_error(&SsoCheck::Unknown));
    }
    let check = app
        .db
        .sso_use_state(
            digest(&state),
            connection.to_string(),
            redirect_uri,
            digest(&code),
            now_ms(),
        )
        .await
        .map_err(Failure::internal)?;
    let SsoCheck::Valid(stored) = check else {
        return Err(state_error(&check));
    };
    let request = SsoRequest {
        code,
        flow: stored.flow,
        redirect_uri: Some(stored.redirect_uri),
    };
    let user = match app.runtime.call(connection, Call::SsoResolve { request }).await? {
        Reply::SsoUser(user) => user,
        _ => {
            return Err(Failure::internal(anyhow::anyhow!(
                "unexpected reply variant"
            )));
        }
    };
    let found = find_person(app, connection, &user)
        .await
        .map_err(Failure::internal)?;
    let mut answer = json!({
        "connection": connection,
        "platform_user": render(&user),
        "person": found.person,
        "matched_by": found.matched_by,
    });
    if let Some(note) = found.note {
        answer["note"] = json!(note);
    }
    Ok(answer)
}

/// The person a platform user is, and how that was found.
#[derive(Debug, Default)]
pub struct Found {
    pub person: Option<Person>,
    /// `link`, `mobile` or `email`.
    pub matched_by: Option<&'static str>,
    /// Why none was found where one might have been (several people share the mobile or email).
    pub note: Option<String>,
}

/// A person's matching key (normalised mobile or email).
type KeyOf = fn(&Person) -> Option<String>;

/// The account's linked person; else the one person with the account's mobile, else its email (by the
/// directory's normalisation). Among several, only active ones count; people linked to another account on this
/// connection do not count at all.
pub async fn find_person(app: &App, connection: &str, user: &SsoUser) -> anyhow::Result<Found> {
    if let Some(id) = app
        .db
        .person_of_account(connection.into(), user.user_id.clone())
        .await?
        && let Some(person) = app.db.person(id).await?
    {
        return Ok(Found {
            person: Some(person),
            matched_by: Some("link"),
            note: None,
        });
    }
    let keys: [(&'static str, Option<String>, KeyOf); 2] = [
        (
            "mobile",
            user.mobile
                .as_deref()
                .map(|m| normalize_mobile(m).into_owned()),
            |p| {
                p.mobile
                    .as_deref()
                    .map(|m| normalize_mobile(m).into_owned())
            },
        ),
        (
            "email",
            user.email
                .as_deref()
                .map(|e| normalize_email(e).into_owned()),
            |p| p.email.as_deref().map(|e| normalize_email(e).into_owned()),
        ),
    ];
    if keys
        .iter()
        .all(|(_, key, _)| key.as_deref().is_none_or(str::is_empty))
    {
        return Ok(Found::default());
    }
    let people = app.db.directory().await?.people;
    let mut notes = Vec::new();
    for (by, key, of) in keys {
        let Some(key) = key.filter(|k| !k.is_empty()) else {
            continue;
        };
        let mut candidates: Vec<&Person> = people
            .iter()
            .filter(|p| of(p).as_deref() == Some(key.as_str()))
            .collect();
        if candidates.is_empty() {
            continue;
        }
        // Someone already linked to another account here is not this account.
        let ids = candidates.iter().map(|p| p.id.clone()).collect();
        let linked = app
            .db
            .platform_ids(connection.into(), LinkKind::Person, ids)
            .await?;
        candidates.retain(|p| {
            linked
                .get(&p.id)
                .is_none_or(|platform| *platform == user.user_id)
        });
        if candidates.len() > 1 && candidates.iter().any(|p| p.active) {
            candidates.retain(|p| p.active);
        }
        match candidates.as_slice() {
            [] => {}
            [one] => {
                let note = (!notes.is_empty()).then(|| notes.join("; "));
                return Ok(Found {
                    person: Some((*one).clone()),
                    matched_by: Some(by),
                    note,
                });
            }
            several => {
                let mut ids: Vec<&str> = several.iter().map(|p| p.id.as_str()).collect();
                ids.truncate(qiao_directory::model::MAX_IDS);
                notes.push(format!(
                    "{} people share this {by} ({}): none was chosen",
                    several.len(),
                    ids.join(", ")
                ));
            }
        }
    }
    Ok(Found {
        person: None,
        matched_by: None,
        note: (!notes.is_empty()).then(|| notes.join("; ")),
    })
}
