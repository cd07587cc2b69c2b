//! Calls on a connector built for contract 0.3.0: `event-stream` calls through its added interface, every other
//! call as 0.2.0 makes it (0.3.0 includes 0.2.0 unchanged).

use wasmtime::Store;
use wasmtime::component::Instance;

use qiao_contract::{Call, Reply};

use super::Outcome;
use crate::exports::v0_3_0::Indices;
use crate::sandbox::HostState;

pub async fn dispatch(
    exports: &Indices,
    store: &mut Store<HostState>,
    instance: &Instance,
    call: Call,
) -> Outcome {
    let stream = || {
        exports
            .event_stream
            .as_ref()
            .expect("capability checked before dispatch")
    };
    Ok(match call {
        Call::StreamOpen {} => stream()
            .load(&mut *store, instance)?
            .call_open(&mut *store)
            .await?
            .map(Reply::StreamEndpoint),
        Call::StreamFrame { frame } => stream()
            .load(&mut *store, instance)?
            .call_on_frame(&mut *store, &frame)
            .await?
            .map(Reply::StreamOutcome),
        other => return super::v0_2_0::dispatch(&exports.base, store, instance, other).await,
    })
}
