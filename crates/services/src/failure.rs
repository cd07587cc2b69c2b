//! [`Failure`]: why a service could not do what it was asked, with a kind (what went wrong, not how a transport
//! says it), a stable snake_case code, a message, and details (a connector's platform code, retry-after).
//!
//! The outbox and directory sync store failures (`{status, code, message, details}`) and the API shows those
//! records as they are, so a failure's kind carries the HTTP status the API answers it with: a stored record
//! reads the same as the answer its caller got, and records stored by earlier versions read back unchanged.

use std::borrow::Cow;

use serde_json::{Value, json};

use qiao_contract::types::{self, ErrorKind};
use qiao_runtime::CallError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// The request itself is wrong (a bad id, a missing field).
    Invalid,
    Forbidden,
    NotFound,
    /// It clashes with the current state (a used sign-in code, an existing object).
    Conflict,
    /// Well-formed but refused by the platform's rules.
    Unprocessable,
    RateLimited,
    /// The connector does not offer it.
    Unsupported,
    /// The connector or platform cannot be reached or is not loaded now.
    Unavailable,
    /// The connector or platform failed (a crash, a CPU limit, a platform credential refused).
    Upstream,
    /// The connector did not answer in time.
    UpstreamTimeout,
    /// Qiao's own fault: see the server log.
    Internal,
}

impl FailureKind {
    const STATUSES: [(FailureKind, u16); 11] = [
        (FailureKind::Invalid, 400),
        (FailureKind::Forbidden, 403),
        (FailureKind::NotFound, 404),
        (FailureKind::Conflict, 409),
        (FailureKind::Unprocessable, 422),
        (FailureKind::RateLimited, 429),
        (FailureKind::Internal, 500),
        (FailureKind::Upstream, 502),
        (FailureKind::Unsupported, 501),
        (FailureKind::Unavailable, 503),
        (FailureKind::UpstreamTimeout, 504),
    ];

    /// The HTTP status the API answers a failure of this kind with.
    pub fn http_status(self) -> u16 {
        Self::STATUSES.iter().find(|(k, _)| *k == self).map_or(500, |(_, s)| *s)
    }

    fn from_http_status(status: u64) -> FailureKind {
        Self::STATUSES
            .iter()
            .find(|(_, s)| u64::from(*s) == status)
            .map_or(FailureKind::Internal, |(k, _)| *k)
    }
}

#[derive(Debug, Clone)]
pub struct Failure {
    pub kind: FailureKind,
    /// Stable, snake_case (`invalid_input`, `rate_limited`, ...). Owned only when read back from the store.
    pub code: Cow<'static, str>,
    pub message: String,
    pub details: Option<Value>,
}

impl Failure {
    pub fn new(kind: FailureKind, code: &'static str, message: impl Into<String>) -> Failure {
        Failure { kind, code: Cow::Borrowed(code), message: message.into(), details: None }
    }

    pub fn invalid(message: impl Into<String>) -> Failure {
        Failure::new(FailureKind::Invalid, "invalid_request", message)
    }

    /// Qiao's own fault: logged in full here; the caller gets no internals.
    pub fn internal(e: anyhow::Error) -> Failure {
        tracing::error!("internal error: {e:#}");
        Failure::new(FailureKind::Internal, "internal", "internal error; see the server log")
    }

    /// The failure as the outbox and sync runs store it (`{status, code, message, details}`).
    pub fn to_stored(&self) -> Value {
        json!({ "status": self.kind.http_status(), "code": self.code, "message": self.message, "details": self.details })
    }

    /// Reads back [`Failure::to_stored`]; anything unreadable becomes an internal failure.
    pub fn from_stored(stored: &Value) -> Failure {
        let text = |k: &str| stored[k].as_str().unwrap_or_default().to_string();
        Failure {
            kind: stored["status"].as_u64().map_or(FailureKind::Internal, FailureKind::from_http_status),
            code: Cow::Owned(Some(text("code")).filter(|c| !c.is_empty()).unwrap_or_else(|| "internal".into())),
            message: text("message"),
            details: Some(stored["details"].clone()).filter(|d| !d.is_null()),
        }
    }
}

/// The kind and stable code for each error kind a connector can return.
pub fn connector_kind(kind: ErrorKind) -> (FailureKind, &'static str) {
    match kind {
        ErrorKind::Unauthorized => (FailureKind::Upstream, "platform_unauthorized"),
        ErrorKind::Forbidden => (FailureKind::Forbidden, "forbidden"),
        ErrorKind::NotFound => (FailureKind::NotFound, "not_found"),
        ErrorKind::InvalidInput => (FailureKind::Unprocessable, "invalid_input"),
        ErrorKind::Conflict => (FailureKind::Conflict, "conflict"),
        ErrorKind::RateLimited => (FailureKind::RateLimited, "rate_limited"),
        ErrorKind::Unavailable => (FailureKind::Unavailable, "unavailable"),
        ErrorKind::Unsupported => (FailureKind::Unsupported, "unsupported"),
        ErrorKind::Internal => (FailureKind::Upstream, "connector_error"),
    }
}

/// The contract's name for an error kind (`retry_on` and `details.kind` use it).
pub fn kind_name(kind: ErrorKind) -> &'static str {
    kind.name()
}

fn connector_failure(e: types::Error) -> Failure {
    let (kind, code) = connector_kind(e.kind);
    Failure {
        kind,
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

/// What a caller refused with `connector_not_loaded` is asked to wait (`Retry-After`).
const NOT_LOADED_RETRY_AFTER_MS: u64 = 5_000;

impl From<CallError> for Failure {
    fn from(e: CallError) -> Failure {
        use FailureKind::*;
        let message = e.to_string();
        match e {
            CallError::UnknownConnection(_) => Failure::new(NotFound, "unknown_connection", message),
            // Still compiling at start (the call waited its bounded time), or no file provides it: worth a retry.
            CallError::ConnectorNotLoaded { .. } => {
                let mut f = Failure::new(Unavailable, "connector_not_loaded", message);
                f.details = Some(json!({ "retry_after_ms": NOT_LOADED_RETRY_AFTER_MS }));
                f
            }
            CallError::Unsupported { .. } => Failure::new(Unsupported, "unsupported", message),
            CallError::OlderContract { .. } => Failure::new(Unsupported, "older_contract", message),
            CallError::Connector(e) => connector_failure(e),
            CallError::CpuLimit { .. } => Failure::new(Upstream, "connector_cpu_limit", message),
            CallError::Timeout { .. } => Failure::new(UpstreamTimeout, "connector_timeout", message),
            CallError::Trap { .. } => Failure::new(Upstream, "connector_crashed", message),
            // The connection's bulkhead is full: 503 with Retry-After; the outbox retries it as `unavailable`.
            CallError::Busy { .. } => {
                let mut f = Failure::new(Unavailable, "connection_busy", message);
                let retry_after_ms = qiao_runtime::runtime::BUSY_RETRY_AFTER.as_millis() as u64;
                f.details = Some(json!({ "retry_after_ms": retry_after_ms }));
                f
            }
            CallError::Host(e) => Failure::internal(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_failures_read_back_with_their_kind_and_status() {
        for (kind, _) in FailureKind::STATUSES {
            let mut f = Failure::new(kind, "some_code", "why");
            f.details = Some(json!({"platform_code": "60011"}));
            let back = Failure::from_stored(&f.to_stored());
            assert_eq!((back.kind, back.code.as_ref(), back.message.as_str()), (kind, "some_code", "why"));
            assert_eq!(back.details, f.details);
        }
        let unreadable = Failure::from_stored(&json!({"status": "x"}));
        assert_eq!((unreadable.kind, unreadable.code.as_ref()), (FailureKind::Internal, "internal"));
    }
}
