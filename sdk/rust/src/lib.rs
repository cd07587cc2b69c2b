//! Qiao's Rust guest SDK: the host's import interfaces as Rust modules, plus the few helpers every connector
//! needs: errors ([`errors`]), JSON over the `http` import ([`json_http`]), JSON in `kv` ([`json_kv`]), logging
//! ([`logging`]), hex and URL encoding ([`text`]), cached access tokens ([`token`]) and the DingTalk/WeCom
//! callback crypto ([`msg_crypt`]).
//!
//! Every contract version the host supports has its own module with the same helpers (`qiao_sdk::v0_1_0`,
//! `qiao_sdk::v0_2_0`); the crate root is the latest. A connector generates bindings for its own world with
//! [`export_bindings!`], which reuses that version's import modules, so the SDK's helpers and the connector speak
//! the same types. Moving to a new contract is the connector author's choice: name the version, or leave it out
//! for the latest.
//!
//! ```text
//! qiao_sdk::export_bindings!(
//!     "package my:connector;
//!     world connector {
//!         include qiao:connector/host@0.2.0;
//!         export qiao:connector/describe@0.2.0;
//!         export qiao:connector/messaging@0.2.0;
//!     }"
//! );
//! // or, for a connector still on the frozen 0.1.0 contract (and `use qiao_sdk::v0_1_0 as sdk;`):
//! qiao_sdk::export_bindings!("0.1.0", "package my:connector; world connector { include qiao:connector/host@0.1.0; ... }");
//! ```
//!
//! See `connectors/echo` for a connector using every capability.

pub mod text;

/// Contract 0.1.0 (`wit/v0.1.0`, frozen).
pub mod v0_1_0;

/// Contract 0.2.0 (`wit/v0.2.0`), the latest: also the crate root.
pub mod v0_2_0;

pub use v0_2_0::*;
pub use wit_bindgen;

include!(concat!(env!("OUT_DIR"), "/export_bindings.rs"));

/// Writes `mod clearable` into a connector exporting `identity` (0.2.0): the user fields an update may clear,
/// by the REST API's names, and the check every connector makes first. A macro because the `identity` types are
/// generated in each connector's own bindings (`crate::exports::qiao::connector::identity`).
#[macro_export]
#[allow(clippy::crate_in_macro_def)] // `crate` here is the connector, where its bindings are.
macro_rules! user_fields {
    () => {
        pub(crate) mod clearable {
            use crate::exports::qiao::connector::identity::{UserField, UserFields};

            /// The field as Qiao's REST API names it (`employee_no`).
            pub fn name(field: UserField) -> &'static str {
                match field {
                    UserField::Mobile => "mobile",
                    UserField::Email => "email",
                    UserField::Title => "title",
                    UserField::EmployeeNo => "employee_no",
                    UserField::ManagerId => "manager_id",
                }
            }

            pub fn is_set(fields: &UserFields, field: UserField) -> bool {
                match field {
                    UserField::Mobile => fields.mobile.is_some(),
                    UserField::Email => fields.email.is_some(),
                    UserField::Title => fields.title.is_some(),
                    UserField::EmployeeNo => fields.employee_no.is_some(),
                    UserField::ManagerId => fields.manager_id.is_some(),
                }
            }

            /// Setting a field and clearing it in one call has no meaning: `invalid-input`, before anything changes.
            pub fn refuse_set_and_cleared(fields: &UserFields) -> Result<(), $crate::Error> {
                match fields.clear.iter().find(|&&f| is_set(fields, f)) {
                    Some(&field) => Err($crate::Error::invalid_input(format!("{} is both set and cleared", name(field)))),
                    None => Ok(()),
                }
            }
        }
    };
}
