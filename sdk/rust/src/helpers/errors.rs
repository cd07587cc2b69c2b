//! Constructors for the contract's error record, so connectors say what went wrong in one line. The kind is
//! what the host acts on (HTTP status for API callers, retry or not in the outbox); the message is for people.

use super::types::{Error, ErrorKind};

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            platform_code: None,
            platform_message: None,
            retry_after_ms: None,
        }
    }

    /// Credentials or token rejected, after the connector's own token refetch.
    pub fn unauthorized(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unauthorized, message)
    }

    /// The app lacks a permission or scope.
    pub fn forbidden(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Forbidden, message)
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotFound, message)
    }

    /// The request can never succeed as sent: the message should name the offending field.
    pub fn invalid_input(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidInput, message)
    }

    /// Clashes with the platform's current state (duplicate, wrong status).
    pub fn conflict(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Conflict, message)
    }

    /// Throttled: the host's outbox waits `retry_after_ms` before trying again.
    pub fn rate_limited(message: impl Into<String>, retry_after_ms: Option<u64>) -> Error {
        Error {
            retry_after_ms,
            ..Error::new(ErrorKind::RateLimited, message)
        }
    }

    /// Down, busy or timed out: retrying later may succeed.
    pub fn unavailable(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unavailable, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unsupported, message)
    }

    /// A bug, or an answer the connector did not expect.
    pub fn internal(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Internal, message)
    }

    /// Keeps the platform's own code and message, which the host passes on to API callers.
    pub fn with_platform(mut self, code: impl ToString, message: impl Into<String>) -> Error {
        self.platform_code = Some(code.to_string());
        self.platform_message = Some(message.into());
        self
    }

    pub fn with_retry_after_ms(mut self, ms: u64) -> Error {
        self.retry_after_ms = Some(ms);
        self
    }
}
