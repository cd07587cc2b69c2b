//! qiao-directory: directory sync's computational core: the enterprise's directory (`model`), what one platform
//! connection holds (`target`), matching unlinked objects to platform ones (`matching`), and the plan that makes
//! the platform follow the directory (`plan`). Pure: must not know about the store, connector calls or HTTP
//! (qiao-services' `sync` runs its plans).

mod matching;
pub mod model;
pub mod plan;
pub mod target;

#[cfg(test)]
mod tests;

pub use model::{Department, Directory, Invalid, ObjectKind, Person, Problem};
pub use plan::{Plan, PlanOptions, Step, StepKind, plan};
pub use target::{Link, PlatformDepartment, PlatformUser, TargetState};
