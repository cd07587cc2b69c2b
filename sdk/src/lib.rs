//! Qiao's Rust guest SDK: the host's import interfaces as Rust modules, plus the few helpers every connector
//! needs: errors ([`errors`]), JSON over the `http` import ([`json_http`]), JSON in `kv` ([`json_kv`]), logging
//! ([`logging`]), hex and URL encoding ([`text`]), cached access tokens ([`token`]) and the DingTalk/WeCom
//! callback crypto ([`msg_crypt`]).
//!
//! A connector generates bindings for its own world with [`export_bindings!`], which reuses these import
//! modules, so the SDK's helpers and the connector speak the same types:
//!
//! ```text
//! qiao_sdk::export_bindings!(
//!     "package my:connector;
//!     world connector {
//!         include qiao:connector/host@0.1.0;
//!         export qiao:connector/describe@0.1.0;
//!         export qiao:connector/messaging@0.1.0;
//!     }"
//! );
//! ```
//!
//! See `connectors/echo` for a connector using every capability.

mod bindings {
    wit_bindgen::generate!({ world: "host", path: "../wit/v0.1.0" });
}

pub mod errors;
pub mod json_http;
pub mod json_kv;
pub mod logging;
pub mod msg_crypt;
pub mod text;
pub mod token;

pub use bindings::qiao::connector::{config, crypto, http, kv, log, types};
pub use types::{Error, ErrorKind};
pub use wit_bindgen;

include!(concat!(env!("OUT_DIR"), "/export_bindings.rs"));

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
