//! `GET /v1/audit`: the audit log of changes, read with a cursor.

use axum::Json;
use axum::extract::{Query, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use qiao_store::AuditQuery;

#[derive(Deserialize)]
pub struct ListQuery {
    /// Entries after this `seq`; 0 for the start.
    #[serde(default)]
    after: i64,
    connection: Option<String>,
    /// An API key id, or `cli`.
    actor: Option<String>,
    limit: Option<u32>,
}

pub async fn list(State(app): State<AppState>, Query(q): Query<ListQuery>) -> Result<Json<Value>, ApiError> {
    let entries = app
        .db
        .list_audit(AuditQuery {
            after: q.after,
            limit: q.limit.unwrap_or(100).clamp(1, 1000),
            connection: q.connection,
            actor: q.actor,
        })
        .await
        .map_err(ApiError::internal)?;
    let next = entries.last().map_or(q.after, |e| e.seq);
    Ok(Json(json!({ "entries": entries, "next_after": next })))
}
