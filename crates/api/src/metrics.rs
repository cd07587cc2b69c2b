//! `GET /metrics`: the Prometheus text exposition (names and help in `qiao-metrics`). Readings of the store
//! (outbox depth, the oldest waiting operation, subscriber lag, sync runs, kv usage) are taken at each scrape; the
//! rest was counted as it happened. Behind the `metrics:read` scope.

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::{ApiError, AppState};

/// The statuses reported even when no operation has them, so a dashboard's series exist from the start.
const STATUSES: &[&str] = &["queued", "running", "retrying", "succeeded", "failed", "dead", "discarded"];

pub async fn scrape(State(app): State<AppState>) -> Result<Response, ApiError> {
    let readings = app.db.readings().await.map_err(ApiError::internal)?;
    for status in STATUSES {
        let count = readings.operations.iter().find(|(s, _)| s == status).map_or(0, |(_, n)| *n);
        qiao_metrics::outbox_operations(status, count as u64);
    }
    let oldest = readings.oldest_waiting_ms.unwrap_or(0);
    qiao_metrics::outbox_oldest_queued(std::time::Duration::from_millis(oldest as u64));
    for (id, lag) in readings.subscriber_lag {
        qiao_metrics::subscriber_lag(&id.to_string(), lag as u64);
    }
    for (status, count) in readings.sync_runs {
        qiao_metrics::sync_runs(&status, count as u64);
    }
    // Every configured connection, one that never wrote at 0, so an alert on the ratio has its series.
    for (name, connection) in &app.runtime.connections {
        let (bytes, keys) = readings.kv_usage.iter().find(|(c, ..)| c == name).map_or((0, 0), |(_, b, k)| (*b, *k));
        let quota = (connection.limits.kv_max_bytes, connection.limits.kv_max_keys);
        qiao_metrics::connector_kv(name, (bytes.max(0) as u64, keys.max(0) as u64), quota);
    }
    let body = qiao_metrics::render();
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], body).into_response())
}

/// Counts each request by its route's template (never the raw path: ids would make a series each).
pub async fn count_requests(request: Request, next: Next) -> Response {
    // `{connection}` written `:connection`: braces inside a label value trip simple text-format parsers.
    let route = request.extensions().get::<MatchedPath>().map(|p| p.as_str().replace('{', ":").replace('}', ""));
    let method = request.method().clone();
    let response = next.run(request).await;
    let route = route.as_deref().unwrap_or("unmatched");
    qiao_metrics::api_request(route, method.as_str(), response.status().as_u16());
    response
}
