//! Contract 0.3.0 (`wit/v0.3.0`): the whole of 0.2.0, whose bindings are [`crate::bindings`], plus
//! `event-stream`. Only the added interface is generated here; its `types` are the 0.2.0 ones (`with:`), since
//! 0.3.0 uses them by their 0.2.0 name.

wasmtime::component::bindgen!({
    inline: "
        package qiao:host-v030;
        world added {
            export qiao:connector/event-stream@0.3.0;
        }
    ",
    path: ["../../wit/v0.2.0", "../../wit/v0.3.0"],
    world: "qiao:host-v030/added",
    exports: { default: async },
    with: {
        "qiao:connector/types@0.2.0": crate::bindings::types,
    },
    additional_derives: [serde::Serialize, serde::Deserialize],
});

// Two versions of the package meet here, so bindgen names the module by its version.
pub use exports::qiao::connector0_3_0::event_stream;
