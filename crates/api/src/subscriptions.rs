//! `/v1/subscriptions`: subscribers to the event log, and their dead letters.
//!
//! A subscription's secret is shown once, in the answer to its creation; it signs every delivery (Standard
//! Webhooks). Deliveries themselves are made by `qiao_services::subscribers`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState, Body};
use qiao_store::Subscription;
use qiao_services::subscribers::{self, MAX_TYPE_CHARS, MAX_TYPES, Sender};

const MAX_URL_CHARS: usize = 2048;
const MAX_CONNECTIONS: usize = 50;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateRequest {
    url: String,
    types: Vec<String>,
    /// Only these connections' events; absent: every connection's.
    connections: Option<Vec<String>>,
    /// `"now"` (default), `"start"`, or the seq of the first event to deliver.
    from: Option<Value>,
}

/// `POST /v1/subscriptions`: 201 with the subscription and its secret.
pub async fn create(
    State(app): State<AppState>,
    Body(req): Body<CreateRequest>,
) -> Result<Response, ApiError> {
    check_url(&req.url)?;
    check_types(&req.types)?;
    check_connections(&app, req.connections.as_deref())?;
    let from_seq = start_seq(req.from.as_ref())?;
    let secret = subscribers::generate_secret();
    let sub = app
        .db
        .create_subscription(
            req.url,
            secret.clone(),
            req.types,
            req.connections,
            from_seq,
        )
        .await
        .map_err(ApiError::internal)?;
    subscribers::subscriptions_changed(&app);
    tracing::info!(
        subscription = sub.id,
        cursor = sub.cursor,
        "subscription created"
    );
    let body = json!({
        "id": sub.id,
        "url": sub.url,
        "types": sub.types,
        "connections": sub.connections,
        "cursor": sub.cursor,
        "secret": secret,
    });
    let location = [(header::LOCATION, format!("/v1/subscriptions/{}", sub.id))];
    Ok((StatusCode::CREATED, location, Json(body)).into_response())
}

fn check_url(url: &str) -> Result<(), ApiError> {
    if url.chars().count() > MAX_URL_CHARS {
        return Err(ApiError::bad_request(format!(
            "url is longer than {MAX_URL_CHARS} characters"
        )));
    }
    let parsed = url::Url::parse(url)
        .map_err(|e| ApiError::bad_request(format!("url is not a valid URL: {e}")))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none_or(str::is_empty) {
        return Err(ApiError::bad_request(
            "url must be an http:// or https:// URL with a host",
        ));
    }
    Ok(())
}

fn check_types(types: &[String]) -> Result<(), ApiError> {
    if types.is_empty() || types.len() > MAX_TYPES {
        return Err(ApiError::bad_request(format!(
            "types must list 1-{MAX_TYPES} event types (`approval.status_changed`), prefixes (`approval.*`) or `*`"
        )));
    }
    for pattern in types {
        subscribers::check_pattern(pattern).map_err(ApiError::bad_request)?;
    }
    Ok(())
}

/// Connections must be configured ones: a misspelt name would otherwise silently deliver nothing.
fn check_connections(app: &AppState, connections: Option<&[String]>) -> Result<(), ApiError> {
    let Some(names) = connections else {
        return Ok(());
    };
    if names.is_empty() || names.len() > MAX_CONNECTIONS {
        return Err(ApiError::bad_request(format!(
            "connections must list 1-{MAX_CONNECTIONS} connections (leave it out for all)"
        )));
    }
    match names
        .iter()
        .find(|n| !app.runtime.connections.contains_key(n.as_str()))
    {
        Some(unknown) => Err(ApiError::bad_request(format!(
            "connections: no connection named {:?}",
            unknown.chars().take(MAX_TYPE_CHARS).collect::<String>()
        ))),
        None => Ok(()),
    }
}

/// `from` as the first seq to deliver; `None` for "now".
pub(crate) fn start_seq(from: Option<&Value>) -> Result<Option<i64>, ApiError> {
    match from {
        None => Ok(None),
        Some(Value::String(s)) if s == "now" => Ok(None),
        Some(Value::String(s)) if s == "start" => Ok(Some(1)),
        Some(Value::Number(n)) if n.as_i64().is_some_and(|n| n >= 0) => Ok(n.as_i64()),
        Some(_) => Err(ApiError::bad_request(
            r#"from must be "now", "start", or the seq of the first event to deliver (a whole number)"#,
        )),
    }
}

/// `GET /v1/subscriptions`.
pub async fn list(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let subscriptions = app.db.subscriptions().await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "subscriptions": subscriptions })))
}

/// `GET /v1/subscriptions/{id}`.
pub async fn get(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(find(&app, &id).await?)))
}

/// `DELETE /v1/subscriptions/{id}`: 204; its deliveries stop and its dead letters go with it.
pub async fn delete(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    if !app
        .db
        .delete_subscription(id)
        .await
        .map_err(ApiError::internal)?
    {
        return Err(no_subscription(id));
    }
    subscribers::subscriptions_changed(&app);
    tracing::info!(subscription = id, "subscription deleted");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
pub struct DeadLettersQuery {
    /// Dead letters of events after this seq; 0 for the first.
    #[serde(default)]
    after: i64,
    limit: Option<u32>,
}

/// `GET /v1/subscriptions/{id}/dead-letters?after=&limit=`: oldest first, each with its event.
pub async fn dead_letters(
    State(app): State<AppState>,
    Path(id): Path<String>,
    Query(q): Query<DeadLettersQuery>,
) -> Result<Json<Value>, ApiError> {
    let sub = find(&app, &id).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let dead = app
        .db
        .dead_deliveries(sub.id, q.after, limit)
        .await
        .map_err(ApiError::internal)?;
    let next = dead.last().map_or(q.after, |d| d.event_seq);
    Ok(Json(json!({ "dead_letters": dead, "next_after": next })))
}

/// `POST /v1/subscriptions/{id}/dead-letters/{seq}/retry`: one attempt now. 200 `{"delivered": true}` (and the
/// dead letter is gone), or 502 `delivery_failed` (and it stays, its attempts counted).
pub async fn retry(
    State(app): State<AppState>,
    Path((id, seq)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let sub = find(&app, &id).await?;
    let seq = parse_seq(&seq, sub.id)?;
    let dead = app
        .db
        .dead_delivery(sub.id, seq)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| no_dead_letter(sub.id, seq))?;
    let event = dead.event.ok_or_else(|| {
        ApiError::new(
            StatusCode::GONE,
            "event_gone",
            format!("event {seq} is no longer in the log; discard it"),
        )
    })?;
    let sender = Sender::new(app.subscriber_settings.timeout_ms).map_err(ApiError::internal)?;
    match sender.deliver(&sub, &event).await {
        Ok(()) => {
            app.db
                .remove_dead_delivery(sub.id, seq)
                .await
                .map_err(ApiError::internal)?;
            tracing::info!(subscription = sub.id, seq, "dead letter delivered on retry");
            Ok(Json(json!({ "delivered": true })))
        }
        Err(reason) => {
            app.db
                .record_dead_retry_failure(sub.id, seq, reason.clone())
                .await
                .map_err(ApiError::internal)?;
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                "delivery_failed",
                format!("the subscriber did not accept the event: {reason}"),
            ))
        }
    }
}

/// `DELETE /v1/subscriptions/{id}/dead-letters/{seq}`: 204.
pub async fn discard(
    State(app): State<AppState>,
    Path((id, seq)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id = parse_id(&id)?;
    let seq = parse_seq(&seq, id)?;
    if !app
        .db
        .remove_dead_delivery(id, seq)
        .await
        .map_err(ApiError::internal)?
    {
        return Err(no_dead_letter(id, seq));
    }
    tracing::info!(subscription = id, seq, "dead letter discarded");
    Ok(StatusCode::NO_CONTENT)
}

async fn find(app: &AppState, id: &str) -> Result<Subscription, ApiError> {
    let id = parse_id(id)?;
    app.db
        .subscription(id)
        .await
        .map_err(ApiError::internal)?
        .ok_or_else(|| no_subscription(id))
}

/// Ids are numbers; anything else names no subscription (answered in our error shape, unlike `Path<i64>`).
fn parse_id(text: &str) -> Result<i64, ApiError> {
    text.parse()
        .map_err(|_| ApiError::not_found("no such subscription (ids are numbers)"))
}

fn parse_seq(text: &str, id: i64) -> Result<i64, ApiError> {
    text.parse().map_err(|_| {
        ApiError::not_found(format!(
            "subscription {id} has no such dead letter (event seqs are numbers)"
        ))
    })
}

fn no_subscription(id: i64) -> ApiError {
    ApiError::not_found(format!("no subscription {id}"))
}

fn no_dead_letter(id: i64, seq: i64) -> ApiError {
    ApiError::not_found(format!(
        "subscription {id} has no dead letter for event {seq}"
    ))
}
