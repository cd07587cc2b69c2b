//! Where a [`Call`] becomes the guest call, through the bindings of the contract version the connector is built
//! for: the latest as is (`v0_2_0`), older versions converting only what changed (`v0_1_0`), and a later
//! version that includes the latest adding only its new interfaces (`v0_3_0`).

mod v0_1_0;
mod v0_2_0;
mod v0_3_0;

use wasmtime::Store;
use wasmtime::component::Instance;

use qiao_contract::{Call, Reply, describe, types};

use crate::exports::Exports;
use crate::sandbox::HostState;

pub type Outcome = wasmtime::Result<Result<Reply, types::Error>>;

/// Calls the guest. The caller has checked that the component exports `call.capability()` and that its contract
/// has `call`'s operation.
pub async fn dispatch(exports: &Exports, store: &mut Store<HostState>, instance: &Instance, call: Call) -> Outcome {
    match exports {
        Exports::V0_1_0(e) => v0_1_0::dispatch(e, store, instance, call).await,
        Exports::V0_2_0(e) => v0_2_0::dispatch(e, store, instance, call).await,
        Exports::V0_3_0(e) => v0_3_0::dispatch(e, store, instance, call).await,
    }
}

/// Who the connector says it is, or `None` when it does not export `describe`.
pub async fn describe(
    exports: &Exports,
    store: &mut Store<HostState>,
    instance: &Instance,
) -> wasmtime::Result<Option<describe::Info>> {
    match exports {
        Exports::V0_1_0(e) => v0_1_0::describe(e, store, instance).await,
        Exports::V0_2_0(e) => v0_2_0::describe(e, store, instance).await,
        Exports::V0_3_0(e) => v0_2_0::describe(&e.base, store, instance).await,
    }
}
