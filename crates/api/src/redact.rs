//! A connection's secret values kept out of successful answers, as they are out of errors and logs: a connector
//! that echoes its app secret or a platform token into a reply (by mistake or on purpose) does not hand it to
//! whoever may read that connection. Applied to every route under `/v1/connections/{connection}`.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use super::AppState;
use qiao_runtime::redact::{REDACTED, secret_values};

/// Largest answer scanned; a larger one is refused rather than passed unscanned.
const MAX_SCANNED_BYTES: usize = 64 * 1024 * 1024;

pub async fn secrets_out(State(app): State<AppState>, request: Request, next: Next) -> Response {
    let connection = request
        .uri()
        .path()
        .strip_prefix("/v1/connections/")
        .and_then(|rest| rest.split('/').next())
        .and_then(|name| app.runtime.connections.get(name).cloned());
    let response = next.run(request).await;
    let Some(connection) = connection else { return response };
    let secrets = secret_values(&connection);
    if secrets.is_empty() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let Ok(bytes) = to_bytes(body, MAX_SCANNED_BYTES).await else {
        return super::ApiError::internal(anyhow::anyhow!("an answer too large to check for secrets")).into_response();
    };
    let Ok(text) = std::str::from_utf8(&bytes) else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    if !secrets.iter().any(|s| text.contains(s.as_str())) {
        return Response::from_parts(parts, Body::from(bytes));
    }
    tracing::warn!(connection = %connection.name, "a connector's answer carried one of its connection's secrets: redacted");
    let mut cleaned = text.to_string();
    for secret in &secrets {
        cleaned = cleaned.replace(secret.as_str(), REDACTED);
    }
    let mut parts = parts;
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(cleaned))
}

use axum::response::IntoResponse;
