//! Qiao's Rust guest SDK: the host's import interfaces as Rust modules, plus the few helpers every connector
//! needs (errors, JSON over the `http` import, JSON in `kv`, hex and URL encoding).
//!
//! A connector generates bindings for its own world and reuses these imports, so the SDK's helpers and the
//! connector speak the same types:
//!
//! ```ignore
//! wit_bindgen::generate!({
//!     inline: "package my:connector; world connector {
//!         include qiao:connector/host@0.1.0;
//!         export qiao:connector/describe@0.1.0;
//!         export qiao:connector/messaging@0.1.0;
//!     }",
//!     path: "path/to/qiao/wit",
//!     with: {
//!         "qiao:connector/types@0.1.0": qiao_sdk::types,
//!         "qiao:connector/http@0.1.0": qiao_sdk::http,
//!         "qiao:connector/kv@0.1.0": qiao_sdk::kv,
//!         "qiao:connector/config@0.1.0": qiao_sdk::config,
//!         "qiao:connector/log@0.1.0": qiao_sdk::log,
//!         "qiao:connector/crypto@0.1.0": qiao_sdk::crypto,
//!     },
//! });
//! ```

mod bindings {
    wit_bindgen::generate!({ world: "host", path: "../wit" });
}

pub mod errors;
pub mod json_http;
pub mod json_kv;
pub mod text;

pub use bindings::qiao::connector::{config, crypto, http, kv, log, types};
pub use types::{Error, ErrorKind};
pub use wit_bindgen;

/// A required setting or secret, or an `invalid-input` error naming it.
pub fn require_config(key: &str) -> Result<String, Error> {
    config::get(key)
        .filter(|v| !v.is_empty())
        .ok_or_else(|| Error::invalid_input(format!("{key} is not configured")))
}
