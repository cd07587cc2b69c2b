//! What a component exports, looked up once at load time in the bindings of the contract version it is built
//! for: one table per supported version, each with `None` for an interface the component does not export.

use anyhow::Result;
use wasmtime::component::InstancePre;

use qiao_contract::Capability;

use crate::sandbox::HostState;

/// Declares a version's table: a field per exported interface, named as its bindings module.
macro_rules! export_table {
    ($version:literal; $($field:ident: $capability:ident),* $(,)?) => {
        #[derive(Default)]
        pub struct Indices {
            $(pub $field: Option<$field::GuestIndices>,)*
        }

        impl Indices {
            /// An interface exported under our name but with other functions or types is an error, not a
            /// silently missing capability.
            pub fn detect(pre: &InstancePre<HostState>) -> Result<Indices> {
                Self::detect_as(pre, $version)
            }

            /// In a component built for `contract`, which may be a later version that includes this one.
            pub fn detect_as(pre: &InstancePre<HostState>, contract: &'static str) -> Result<Indices> {
                Ok(Indices {
                    $($field: super::indices(pre, Capability::$capability, contract, $field::GuestIndices::new(pre))?,)*
                })
            }

            pub fn has(&self, capability: Capability) -> bool {
                match capability {
                    $(Capability::$capability => self.$field.is_some(),)*
                    #[allow(unreachable_patterns)]
                    _ => false,
                }
            }
        }
    };
}

pub mod v0_1_0 {
    use super::*;
    use qiao_contract::v0_1_0::{approval, describe, identity, messaging, poll, roles, user_status, webhook};

    export_table!("0.1.0"; describe: Describe, identity: Identity, roles: Roles, user_status: UserStatus,
        messaging: Messaging, approval: Approval, webhook: Webhook, poll: Poll);
}

pub mod v0_2_0 {
    use super::*;
    use qiao_contract::bindings::{approval, chats, describe, identity, messaging, poll, roles, tasks, user_status, webhook};

    export_table!("0.2.0"; describe: Describe, identity: Identity, roles: Roles, user_status: UserStatus,
        messaging: Messaging, approval: Approval, tasks: Tasks, chats: Chats, webhook: Webhook, poll: Poll);
}

pub mod v0_3_0 {
    use super::*;
    use qiao_contract::event_stream;

    /// 0.3.0 is 0.2.0 plus `event-stream`: the 0.2.0 table, and the added interface.
    pub struct Indices {
        pub base: v0_2_0::Indices,
        pub event_stream: Option<event_stream::GuestIndices>,
    }

    impl Indices {
        pub fn detect(pre: &InstancePre<HostState>) -> Result<Indices> {
            Ok(Indices {
                base: v0_2_0::Indices::detect_as(pre, "0.3.0")?,
                event_stream: super::indices(
                    pre,
                    Capability::EventStream,
                    "0.3.0",
                    event_stream::GuestIndices::new(pre),
                )?,
            })
        }

        pub fn has(&self, capability: Capability) -> bool {
            match capability {
                Capability::EventStream => self.event_stream.is_some(),
                other => self.base.has(other),
            }
        }
    }
}

/// A component's exports, in the bindings of its contract version.
pub enum Exports {
    V0_1_0(Box<v0_1_0::Indices>),
    V0_2_0(Box<v0_2_0::Indices>),
    V0_3_0(Box<v0_3_0::Indices>),
}

impl Exports {
    pub fn detect(pre: &InstancePre<HostState>, version: &str) -> Result<Exports> {
        Ok(match version {
            "0.1.0" => Exports::V0_1_0(Box::new(v0_1_0::Indices::detect(pre)?)),
            "0.2.0" => Exports::V0_2_0(Box::new(v0_2_0::Indices::detect(pre)?)),
            "0.3.0" => Exports::V0_3_0(Box::new(v0_3_0::Indices::detect(pre)?)),
            other => anyhow::bail!("no bindings for contract version {other}"),
        })
    }

    pub fn has(&self, capability: Capability) -> bool {
        match self {
            Exports::V0_1_0(e) => e.has(capability),
            Exports::V0_2_0(e) => e.has(capability),
            Exports::V0_3_0(e) => e.has(capability),
        }
    }

    pub fn capabilities(&self) -> Vec<Capability> {
        Capability::ALL.into_iter().filter(|c| self.has(*c)).collect()
    }
}

/// `None` when the component does not export the capability; an error when it exports it with the wrong shape.
fn indices<T>(
    pre: &InstancePre<HostState>,
    capability: Capability,
    version: &'static str,
    found: wasmtime::Result<T>,
) -> Result<Option<T>> {
    let name = capability.export_name(version);
    if pre.component().get_export_index(None, &name).is_none() {
        return Ok(None);
    }
    found
        .map(Some)
        .map_err(|e| anyhow::anyhow!("export {name} does not match the contract: {e}"))
}
