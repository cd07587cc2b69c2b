//! `/v1/connections/{c}/messages`: send, recall, read status; and `/v1/messages`: to the enterprise's people,
//! each on their platform.
//!
//! Recipients may be the enterprise's ids (`to.people`, `to.enterprise_departments`): they are turned into the
//! connection's platform ids through the directory's links when the send is accepted (the outbox stores the
//! message as resolved then), and those that cannot be are answered in `unresolved` (see `addressing`).

use std::time::Duration;

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::operations::{WriteOptions, accept, accept_with, enqueue};
use super::{ApiError, AppState, Body, call, expect_reply, people};
use qiao_services::addressing::{self, MAX_IDS, Unresolved};
use qiao_contract::bindings::messaging::{Button, Card, Content, Markdown, Mentions, Message, Recipients};
use qiao_contract::calls::{Call, Reply};
use qiao_contract::Capability;
use qiao_store::{OperationRow, Status};

type Result<T> = std::result::Result<T, ApiError>;

/// `{"to": {"users": [...]}, "text": "..."}` or `"markdown": {"title","text"}` or `"card": {...}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    to: To,
    text: Option<String>,
    markdown: Option<Markdown>,
    card: Option<CardBody>,
    #[serde(default)]
    urgent: bool,
    idempotency_key: Option<String>,
    mentions: Option<MentionsBody>,
}

/// `{"users": [platform user ids], "people": [the enterprise's ids], "everyone": false}`. On a connection both
/// may be given (people are looked up on it); on `/v1/messages` only `people`, each among `to.people`.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct MentionsBody {
    users: Vec<String>,
    people: Vec<String>,
    everyone: bool,
}

impl MentionsBody {
    /// The mentions of a send on one connection, and the mentioned people without an account on it.
    async fn on_connection(self, app: &AppState, connection: &str) -> Result<(Mentions, Vec<Unresolved>)> {
        if self.users.len() > MAX_IDS {
            return Err(people::too_many("mentions.users"));
        }
        if self.users.iter().any(|u| u.trim().is_empty()) {
            return Err(ApiError::bad_request("mentions.users has an empty user id"));
        }
        let (people, unresolved) =
            people::on_connection(app, connection, Capability::Messaging, "mentions.people", &self.people).await?;
        let mut users = self.users;
        addressing::merge(&mut users, people);
        Ok((Mentions { users, everyone: self.everyone }, unresolved))
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct To {
    users: Vec<String>,
    departments: Vec<String>,
    chats: Vec<String>,
    tags: Vec<String>,
    everyone: bool,
    /// The enterprise's person ids.
    people: Vec<String>,
    /// The enterprise's department ids.
    enterprise_departments: Vec<String>,
    /// The enterprise's roles: every active person holding one.
    roles: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardBody {
    title: String,
    #[serde(default)]
    markdown: String,
    #[serde(default)]
    buttons: Vec<Button>,
    template_id: Option<String>,
    template_data: Option<Value>,
}

/// Exactly one of `text`, `markdown` or `card`.
fn content(
    text: Option<String>,
    markdown: Option<Markdown>,
    card: Option<CardBody>,
) -> Result<Content> {
    Ok(match (text, markdown, card) {
        (Some(text), None, None) => Content::Text(text),
        (None, Some(markdown), None) => Content::Markdown(markdown),
        (None, None, Some(c)) => Content::Card(Card {
            title: c.title,
            markdown: c.markdown,
            buttons: c.buttons,
            template_id: c.template_id,
            template_data: c.template_data.map(|v| v.to_string()),
        }),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of \"text\", \"markdown\" or \"card\"",
            ));
        }
    })
}

pub async fn send(
    State(app): State<AppState>,
    Path(c): Path<String>,
    options: WriteOptions,
    Body(body): Body<SendBody>,
) -> Result<Response> {
    let content = content(body.text, body.markdown, body.card)?;
    let mentions_body = body.mentions.unwrap_or_default();
    let mentions_by_people = !mentions_body.people.is_empty();
    let (mentions, unresolved_mentions) = mentions_body.on_connection(&app, &c).await?;
    let mut to = body.to;
    if to.users.is_empty()
        && to.departments.is_empty()
        && to.chats.is_empty()
        && to.tags.is_empty()
        && !to.everyone
        && to.people.is_empty()
        && to.enterprise_departments.is_empty()
        && to.roles.is_empty()
    {
        return Err(ApiError::bad_request(
            "\"to\" names no recipients (users, departments, chats, tags, everyone, people, \
             enterprise_departments or roles)",
        ));
    }
    let mut unresolved = Vec::new();
    if to.roles.len() > MAX_IDS {
        return Err(people::too_many("to.roles"));
    }
    let (holders, no_holder) = addressing::holders(&app.db, &to.roles).await.map_err(ApiError::internal)?;
    addressing::merge(&mut to.people, holders);
    unresolved.extend(no_holder);
    let mut recipients = Recipients {
        users: to.users,
        departments: to.departments,
        chats: to.chats,
        tags: to.tags,
        everyone: to.everyone,
    };
    let by_enterprise_ids =
        !to.people.is_empty() || !to.enterprise_departments.is_empty() || !to.roles.is_empty();
    if by_enterprise_ids {
        if to.enterprise_departments.len() > MAX_IDS {
            return Err(people::too_many("to.enterprise_departments"));
        }
        // An unknown connection is a 404, not a list of people without an account there.
        app.runtime.check_callable(&c, Capability::Messaging)?;
        let (users, missing) =
            people::on_connection(&app, &c, Capability::Messaging, "to.people", &to.people).await?;
        addressing::merge(&mut recipients.users, users);
        unresolved.extend(missing);
        let (departments, missing) =
            addressing::departments_on(&app.db, &c, &to.enterprise_departments)
                .await
                .map_err(ApiError::internal)?;
        addressing::merge(&mut recipients.departments, departments);
        unresolved.extend(missing);
        let r = &recipients;
        if r.users.is_empty()
            && r.departments.is_empty()
            && r.chats.is_empty()
            && r.tags.is_empty()
            && !r.everyone
        {
            return Err(people::nobody_found("no_recipients", "people or departments", &unresolved));
        }
    }
    let message = Message {
        to: recipients,
        content,
        urgent: body.urgent,
        idempotency_key: body.idempotency_key,
        mentions,
    };
    unresolved.extend(unresolved_mentions);
    let mut extra = serde_json::Map::new();
    if by_enterprise_ids || mentions_by_people {
        extra.insert("unresolved".into(), json!(unresolved));
    }
    accept_with(&app, &c, Call::Send { message }, options, extra).await
}

/// `POST /v1/messages`: `{to: {people}, text | markdown | card, urgent?, idempotency_key?, platforms?}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeopleSendBody {
    to: PeopleTo,
    text: Option<String>,
    markdown: Option<Markdown>,
    card: Option<CardBody>,
    #[serde(default)]
    urgent: bool,
    idempotency_key: Option<String>,
    mentions: Option<MentionsBody>,
    /// Send on each of these connections where the person has an account; unset: on the person's preferred one.
    platforms: Option<Vec<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeopleTo {
    people: Vec<String>,
}

/// One connection's share of a send to people.
fn delivery(
    connection: &str,
    people: &[(String, String)],
    op: &std::result::Result<OperationRow, ApiError>,
) -> Value {
    let mut out = json!({
        "connection": connection,
        "people": people.iter().map(|(id, _)| id).collect::<Vec<_>>(),
        "users": people.iter().map(|(_, user)| user).collect::<Vec<_>>(),
    });
    match op {
        Ok(op) => {
            out["operation_id"] = json!(op.id);
            out["status"] = json!(op.status.as_str());
            match (op.status, &op.result, &op.last_error) {
                (Status::Succeeded, Some(result), _) => out["result"] = result["body"].clone(),
                (Status::Failed | Status::Dead, _, Some(error)) => out["error"] = error.clone(),
                _ => {}
            }
        }
        Err(e) => {
            out["status"] = json!("refused");
            out["error"] =
                json!({ "status": e.status.as_u16(), "code": e.code, "message": e.message });
        }
    }
    out
}

/// Sends to the enterprise's people, each on their platform(s): one outbox operation per connection, its
/// idempotency key derived from the caller's (`KEY:CONNECTION`). Answers `202` (`200` when `?wait=` saw every
/// operation finish) with `{deliveries: [{connection, people, users, operation_id, status, result?, error?}],
/// unresolved}`.
pub async fn send_to_people(
    State(app): State<AppState>,
    mut options: WriteOptions,
    Body(body): Body<PeopleSendBody>,
) -> Result<Response> {
    let content = content(body.text, body.markdown, body.card)?;
    let people = body.to.people;
    if people.is_empty() {
        return Err(ApiError::bad_request("\"to.people\" names no one"));
    }
    let mentioned = body.mentions.unwrap_or_default();
    if !mentioned.users.is_empty() {
        return Err(ApiError::bad_request(
            "on POST /v1/messages mention the enterprise's people (mentions.people), not platform user ids",
        ));
    }
    if let Some(outsider) = mentioned.people.iter().find(|p| !people.contains(p)) {
        return Err(ApiError::bad_request(format!(
            "mentions.people names {outsider:?}, who is not in to.people: a mention is of a recipient"
        )));
    }
    if people.len() > MAX_IDS {
        return Err(people::too_many("to.people"));
    }
    if let Some(platforms) = &body.platforms {
        if platforms.is_empty() {
            return Err(ApiError::bad_request(
                "\"platforms\" is empty; leave it out to use each person's preferred one",
            ));
        }
        for connection in platforms {
            app.runtime.check_callable(connection, Capability::Messaging)?;
        }
    }
    let key = match (options.take_key(), body.idempotency_key) {
        (Some(header), Some(body)) if header != body => {
            return Err(ApiError::bad_request(
                "the Idempotency-Key header and the body's idempotency_key differ; give one",
            ));
        }
        (header, body) => header.or(body),
    };
    let (plan, unresolved) = addressing::people_across(
        &app,
        &people,
        body.platforms.as_deref(),
        Capability::Messaging,
    )
    .await
    .map_err(ApiError::internal)?;
    if plan.is_empty() {
        return Err(people::nobody_found("no_recipients", "people or departments", &unresolved));
    }
    let mut ops = Vec::new();
    for (connection, reached) in &plan {
        let message = Message {
            to: Recipients {
                users: reached.iter().map(|(_, user)| user.clone()).collect(),
                departments: Vec::new(),
                chats: Vec::new(),
                tags: Vec::new(),
                everyone: false,
            },
            content: content.clone(),
            urgent: body.urgent,
            idempotency_key: key.as_ref().map(|k| format!("{k}:{connection}")),
            // Each mentioned person by their account on this connection.
            mentions: Mentions {
                users: reached
                    .iter()
                    .filter(|(person, _)| mentioned.people.contains(person))
                    .map(|(_, user)| user.clone())
                    .collect(),
                everyone: mentioned.everyone,
            },
        };
        ops.push(enqueue(&app, connection, Call::Send { message }, &options).await);
    }
    let mut all_final = true;
    if let Some(wait) = options.wait() {
        let deadline = tokio::time::Instant::now() + wait;
        for op in ops.iter_mut().flatten() {
            if !op.status.is_final() {
                let left = deadline
                    .saturating_duration_since(tokio::time::Instant::now())
                    .max(Duration::ZERO);
                if let Some(now) = app
                    .outbox
                    .wait(&app.db, op.id, left)
                    .await
                    .map_err(ApiError::internal)?
                {
                    *op = now;
                }
            }
            all_final &= op.status.is_final();
        }
    } else {
        all_final = false;
    }
    let deliveries: Vec<Value> = plan
        .iter()
        .zip(&ops)
        .map(|((connection, reached), op)| delivery(connection, reached, op))
        .collect();
    if ops.iter().all(|op| op.is_err()) {
        // Nothing was accepted: the first refusal is the answer (with every delivery in its details).
        let first = ops
            .into_iter()
            .find_map(|op| op.err())
            .expect("at least one delivery");
        let mut e = first;
        e.details = Some(json!({ "deliveries": deliveries, "unresolved": unresolved }));
        return Err(e);
    }
    let status = if all_final {
        StatusCode::OK
    } else {
        StatusCode::ACCEPTED
    };
    let mut response = (
        status,
        Json(json!({ "deliveries": deliveries, "unresolved": unresolved })),
    )
        .into_response();
    // One operation: its place, as a single send answers (and the audit log records it).
    if let [Ok(op)] = ops.as_slice() {
        let location = HeaderValue::from_str(&format!("/v1/operations/{}", op.id)).expect("ascii");
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}

pub async fn recall(
    State(app): State<AppState>,
    Path((c, message_id)): Path<(String, String)>,
    options: WriteOptions,
) -> Result<Response> {
    accept(&app, &c, Call::Recall { message_id }, options).await
}

pub async fn read_status(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let reply = call(&app, &c, Call::ReadStatus { message_id: id }).await?;
    Ok(Json(json!(expect_reply!(reply, Reply::ReadReceipts))))
}
