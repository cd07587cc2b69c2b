//! API errors: a JSON body with a stable `code`, a `message`, and the connector's error details.

use std::borrow::Cow;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::bindings::types::{self, ErrorKind};
use crate::runtime::CallError;

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

    /// The error as the outbox stores it (`{status, code, message, details}`), to answer with it later.
    pub fn to_stored(&self) -> serde_json::Value {
        json!({ "status": self.status.as_u16(), "code": self.code, "message": self.message, "details": self.details })
    }

    /// Reads back [`ApiError::to_stored`]; anything unreadable becomes an internal error.
    pub fn from_stored(stored: &serde_json::Value) -> ApiError {
        let text = |k: &str| stored[k].as_str().unwrap_or_default().to_string();
        ApiError {
            status: stored["status"]
                .as_u64()
                .and_then(|s| StatusCode::from_u16(s as u16).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            code: Cow::Owned(Some(text("code")).filter(|c| !c.is_empty()).unwrap_or_else(|| "internal".into())),
            message: text("message"),
            details: Some(stored["details"].clone()).filter(|d| !d.is_null()),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "invalid_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    pub fn internal(e: anyhow::Error) -> ApiError {
        tracing::error!("internal error: {e:#}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error; see the server log",
        )
    }
}

/// The stable code and HTTP status for each error kind a connector can return.
pub fn kind_status(kind: ErrorKind) -> (StatusCode, &'static str) {
    match kind {
        ErrorKind::Unauthorized => (StatusCode::BAD_GATEWAY, "platform_unauthorized"),
        ErrorKind::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
        ErrorKind::NotFound => (StatusCode::NOT_FOUND, "not_found"),
        ErrorKind::InvalidInput => (StatusCode::UNPROCESSABLE_ENTITY, "invalid_input"),
        ErrorKind::Conflict => (StatusCode::CONFLICT, "conflict"),
        ErrorKind::RateLimited => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
        ErrorKind::Unavailable => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        ErrorKind::Unsupported => (StatusCode::NOT_IMPLEMENTED, "unsupported"),
        ErrorKind::Internal => (StatusCode::BAD_GATEWAY, "connector_error"),
    }
}

pub fn kind_name(kind: ErrorKind) -> &'static str {
    match kind {
        ErrorKind::Unauthorized => "unauthorized",
        ErrorKind::Forbidden => "forbidden",
        ErrorKind::NotFound => "not-found",
        ErrorKind::InvalidInput => "invalid-input",
        ErrorKind::Conflict => "conflict",
        ErrorKind::RateLimited => "rate-limited",
        ErrorKind::Unavailable => "unavailable",
        ErrorKind::Unsupported => "unsupported",
        ErrorKind::Internal => "internal",
    }
}

fn connector_error(e: types::Error) -> ApiError {
    let (status, code) = kind_status(e.kind);
    ApiError {
        status,
        code: Cow::Borrowed(code),
        message: e.message.clone(),
        details: Some(json!({
            "kind": kind_name(e.kind),
            "platform_code": e.platform_code,
            "platform_message": e.platform_message,
            "retry_after_ms": e.retry_after_ms,
        })),
    }
}

impl From<CallError> for ApiError {
    fn from(e: CallError) -> ApiError {
        let message = e.to_string();
        match e {
            CallError::UnknownConnection(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_connection", message)
            }
            CallError::ConnectorNotLoaded { .. } => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "connector_not_loaded",
                message,
            ),
            CallError::Unsupported { .. } => {
                ApiError::new(StatusCode::NOT_IMPLEMENTED, "unsupported", message)
            }
            CallError::Connector(e) => connector_error(e),
            CallError::CpuLimit { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "connector_cpu_limit", message)
            }
            CallError::Timeout { .. } => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "connector_timeout", message)
            }
            CallError::Trap { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "connector_crashed", message)
            }
            CallError::Host(e) => ApiError::internal(e),
        }
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
