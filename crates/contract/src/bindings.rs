//! The one place the WIT contract becomes Rust types: `wit/` compiled by wasmtime's `bindgen!`.
//!
//! Exports are generated per interface so the host can load whichever subset a component has
//! (`GuestIndices::new` fails for an interface the component does not export).

wasmtime::component::bindgen!({
    path: "../../wit/v0.1.0",
    world: "connector",
    imports: {
        "qiao:connector/http": async,
        "qiao:connector/kv": async,
    },
    exports: { default: async },
    additional_derives: [serde::Serialize, serde::Deserialize],
});

pub use exports::qiao::connector::{approval, describe, identity, messaging, poll, roles, user_status, webhook};
pub use qiao::connector::{config, crypto, http, kv, log, types};
