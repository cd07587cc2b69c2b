//! API errors: a JSON body with a stable `code`, a `message`, and the connector's error details. The only
//! place an HTTP error is made: services answer a [`Failure`], which becomes one here.

use std::borrow::Cow;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use qiao_runtime::CallError;
use qiao_services::Failure;

/// How long a caller refused with `store_full` is asked to wait (`Retry-After`).
const STORE_FULL_RETRY_MS: u64 = 30_000;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    /// Stable, snake_case (`invalid_input`, `rate_limited`, ...). Owned only when read back from the store.
    pub code: Cow<'static, str>,
    pub message: String,
    pub details: Option<serde_json::Value>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code: Cow::Borrowed(code),
            message: message.into(),
            details: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// Qiao's own fault, or the store being full: then 503 `store_full` with a `Retry-After`, since nothing was
    /// accepted and the same request can be sent again once space is freed.
    pub fn internal(e: anyhow::Error) -> ApiError {
        if qiao_store::is_full(&e) {
            return ApiError::store_full(&e);
        }
        Failure::internal(e).into()
    }

    /// The store (the disk, or `[store] max_size_mb`) is full: new work is refused, what was accepted before is
    /// kept and still delivered.
    pub fn store_full(e: &anyhow::Error) -> ApiError {
        tracing::error!("the store is full, refusing new work: {e:#}");
        let mut error = ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store_full",
            "the store is full: nothing was accepted; try again later (work accepted before is kept and delivered)",
        );
        error.details = Some(json!({ "retry_after_ms": STORE_FULL_RETRY_MS }));
        error
    }

    /// A failure the outbox or a sync run stored, as the answer it was.
    pub fn from_stored(stored: &serde_json::Value) -> ApiError {
        Failure::from_stored(stored).into()
    }
}

impl From<Failure> for ApiError {
    fn from(f: Failure) -> ApiError {
        ApiError {
            status: StatusCode::from_u16(f.kind.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: f.code,
            message: f.message,
            details: f.details,
        }
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> ApiError {
        Failure::from(e).into()
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let retry_after_ms = self
            .details
            .as_ref()
            .and_then(|d| d["retry_after_ms"].as_u64());
        let mut body = json!({ "error": { "code": self.code, "message": self.message } });
        if let Some(details) = self.details {
            body["error"]["details"] = details;
        }
        let code = ErrorCode(self.code.clone());
        let mut response = (self.status, Json(body)).into_response();
        response.extensions_mut().insert(code);
        if let Some(ms) = retry_after_ms {
            response
                .headers_mut()
                .insert("retry-after", ms.div_ceil(1000).into());
        }
        response
    }
}

/// The error code of an error response, kept on it for the audit log.
#[derive(Clone, Debug)]
pub struct ErrorCode(pub Cow<'static, str>);

/// Marks a response as the connector's own answer to a platform (webhooks), which is passed on verbatim.
#[derive(Clone, Copy)]
pub struct Verbatim;

/// Gives the framework's own refusals (a malformed query or path, a method a route lacks, a body over the
/// limit) our error shape, so every error a caller sees is `{"error": {"code", "message"}}`.
pub async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json = response
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error())
        || is_json
        || response.extensions().get::<Verbatim>().is_some()
    {
        return response;
    }
    let allow = response.headers().get(axum::http::header::ALLOW).cloned();
    let text = axum::body::to_bytes(response.into_body(), 4096)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let code = match status {
        StatusCode::BAD_REQUEST => "invalid_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        _ if status.is_server_error() => "internal",
        _ => "invalid_request",
    };
    let message = match (text.is_empty(), status.canonical_reason()) {
        (false, _) => text,
        (true, Some(reason)) => reason.to_string(),
        (true, None) => status.to_string(),
    };
    let mut out = ApiError::new(status, code, message).into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    out
}
