//! The latest contract (`wit/v0.2.0`) as Rust types: what the host's calls, replies, REST API and outbox speak.
//! Older contracts a connector may be built for have their own bindings (`v0_1_0`) converting to and from these.
//!
//! Exports are generated per interface so the host can load whichever subset a component has
//! (`GuestIndices::new` fails for an interface the component does not export).

wasmtime::component::bindgen!({
    path: "../../wit/v0.2.0",
    world: "connector",
    imports: {
        "qiao:connector/http": async,
        "qiao:connector/kv": async,
    },
    exports: { default: async },
    additional_derives: [serde::Serialize, serde::Deserialize],
});

pub use exports::qiao::connector::{approval, chats, describe, identity, messaging, poll, roles, tasks, user_status, webhook};
pub use qiao::connector::{config, crypto, http, kv, log, types};
