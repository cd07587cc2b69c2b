//! `/v1/subscriptions`: subscribers to the event log (being written).

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::{ApiError, AppState};

pub async fn list(State(_rt): State<AppState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(json!({ "subscriptions": [] })))
}
