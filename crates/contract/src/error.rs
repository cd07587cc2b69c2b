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
