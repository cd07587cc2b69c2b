//! qiao-contract: the WIT contract between Qiao and its connectors, as Rust types.
//!
//! Owns the `bindgen!` output (`bindings`), the names of the optional exports (`Capability`), and every
//! operation the host can ask of a connector with its answer (`Call`, `Reply`).
//!
//! Must not know about: how a component is loaded or run (qiao-runtime), storage, HTTP, or the REST API.

pub mod bindings;
pub mod calls;
pub mod capability;
pub mod json;
pub mod v0_1_0;
pub mod v0_3_0;
mod error;

pub use bindings::{approval, chats, config, crypto, describe, http, identity, kv, log, messaging, poll, roles, tasks, types, user_status, webhook};
pub use calls::{Call, Reply};
pub use v0_3_0::event_stream;
pub use capability::{Capability, INTERFACE_PREFIX, LATEST_VERSION, SUPPORTED_VERSIONS, contract_version, has_since};
