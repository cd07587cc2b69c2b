//! `GET /v1/events`: the stored event log, read with a cursor; `POST .../poll`: one poll of a connector.

use axum::Json;
use axum::extract::{Path, Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState};

#[derive(Deserialize)]
pub struct ListQuery {
    /// Return events after this position (`seq` of the last one seen); 0 for the start.
    #[serde(default)]
    after: i64,
    connection: Option<String>,
    limit: Option<u32>,
}

pub async fn list(
    State(app): State<AppState>,
    Query(q): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let events = app
        .db
        .list_events(q.after, q.connection, limit)
        .await
        .map_err(ApiError::internal)?;
    let next = events.last().map_or(q.after, |e| e.seq);
    Ok(Json(json!({ "events": events, "next_after": next })))
}

/// One poll of the connector, now: its events stored, its cursor kept.
pub async fn poll(
    State(app): State<AppState>,
    Path(connection): Path<String>,
) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!(qiao_services::inbound::poll_once(&app, &connection).await?)))
}
