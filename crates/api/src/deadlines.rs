//! `/v1/approvals/overdue` and `/v1/approvals/stats`: approval deadlines as the console shows them.

use axum::Json;
use axum::extract::State;
use serde_json::{Value, json};

use super::{ApiError, AppState};
use qiao_services::deadlines::report;

/// `GET /v1/approvals/overdue`: pending approvals past their first deadline, most overdue first, with their
/// approvers, when they entered pending, the deadline, business minutes since, reminders sent and escalation.
pub async fn overdue(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let approvals = report::overdue(&app).await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "approvals": approvals, "now_ms": app.deadlines.clock.now_ms() })))
}

/// `GET /v1/approvals/stats`: per template, pending and overdue approvals and the median and 90th percentile of
/// time to decision in business minutes.
pub async fn stats(State(app): State<AppState>) -> Result<Json<Value>, ApiError> {
    let templates = report::stats(&app).await.map_err(ApiError::internal)?;
    Ok(Json(json!({ "templates": templates })))
}
