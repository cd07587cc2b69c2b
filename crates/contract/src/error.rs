//! Constructing the contract's error record.

use crate::types;

impl types::Error {
    pub fn new(kind: types::ErrorKind, message: impl Into<String>) -> types::Error {
        types::Error {
            kind,
            message: message.into(),
            platform_code: None,
            platform_message: None,
            retry_after_ms: None,
        }
    }
}

impl types::ErrorKind {
    /// The contract's name for the kind (`retry_on`, `details.kind` and the metrics use it).
    pub fn name(self) -> &'static str {
        use types::ErrorKind::*;
        match self {
            Unauthorized => "unauthorized",
            Forbidden => "forbidden",
            NotFound => "not-found",
            InvalidInput => "invalid-input",
            Conflict => "conflict",
            RateLimited => "rate-limited",
            Unavailable => "unavailable",
            Unsupported => "unsupported",
            Internal => "internal",
        }
    }
}
