//! Constructors for the contract's error record, so connectors say what went wrong in one line.

use crate::types::{Error, ErrorKind};

impl Error {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error { kind, message: message.into(), platform_code: None, platform_message: None, retry_after_ms: None }
    }

    pub fn invalid_input(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidInput, message)
    }

    pub fn not_found(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::NotFound, message)
    }

    pub fn conflict(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Conflict, message)
    }

    pub fn unsupported(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unsupported, message)
    }

    pub fn unavailable(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::Unavailable, message)
    }

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
