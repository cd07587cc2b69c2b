//! Contract 0.2.0 (`wit/v0.2.0`), the latest: also the crate root. Its import interfaces, and the helpers compiled against them.

mod bindings {
    // `generate!({ world: "host", path: <wit/v0.2.0> })`, with the path build.rs found.
    include!(concat!(env!("OUT_DIR"), "/host_v0_2_0.rs"));
}

pub use bindings::qiao::connector::{config, crypto, http, kv, log, types};

// The same helper sources, compiled once per contract version against its own `types`, `http`, `kv`...
#[allow(clippy::duplicate_mod)]
#[path = "helpers/mod.rs"]
mod helpers;
pub use helpers::*;

/// Hex and URL encoding: the same for every contract version, re-exported so `use qiao_sdk::vX_Y_Z as sdk` reaches it.
pub use crate::text;
