//! The helpers, compiled once per contract version against that version's import modules (`super::types`...).

use super::{config, crypto, http, kv, log, types};
pub use types::{Error, ErrorKind};

pub mod errors;
pub mod json_http;
pub mod json_kv;
pub mod logging;
pub mod msg_crypt;
pub mod token;

/// A required setting or secret, or an `invalid-input` error naming it.
pub fn require_config(key: &str) -> Result<String, Error> {
    config::get(key)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::invalid_input(format!("{key} is not configured")))
}

/// An `invalid-input` error naming `field` when a required value is blank.
pub fn required(value: &str, field: &str) -> Result<(), Error> {
    if value.trim().is_empty() {
        Err(Error::invalid_input(format!("{field} is required")))
    } else {
        Ok(())
    }
}

/// A JSON object the caller passed as text (a record's `extra`, a request's `options`), or an empty one when none
/// was given; anything else is `invalid-input` naming `what`.
pub fn json_object(
    text: Option<&str>,
    what: &str,
) -> Result<serde_json::Map<String, serde_json::Value>, Error> {
    match text.map(serde_json::from_str::<serde_json::Value>) {
        None => Ok(serde_json::Map::new()),
        Some(Ok(serde_json::Value::Object(map))) => Ok(map),
        Some(_) => Err(Error::invalid_input(format!(
            "{what} must be a JSON object"
        ))),
    }
}
