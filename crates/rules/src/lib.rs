//! qiao-rules: when something happens on one platform, act on another. A rule is a trigger (connection, event
//! types), a condition in CEL and actions whose REST API bodies are minijinja templates.
//!
//! - `spec`: the rule as written (TOML or JSON). `actions`: the operations a rule may make, one row each.
//! - `rule`: a rule checked and compiled (every problem with its position), and its evaluation on an event.
//! - `condition` (CEL) and `template` (minijinja, strict, with fuel). `lookup`: the directory as rules see it.
//!
//! Must not know about: the store, the outbox, HTTP or connectors. qiao-services runs rules over the event log
//! and makes their writes; this crate decides what they are.

pub mod actions;
mod condition;
pub mod lookup;
pub mod problems;
pub mod rule;
pub mod spec;
mod template;

#[cfg(test)]
mod tests;

pub use lookup::Lookups;
pub use problems::{Problem, Problems};
pub use rule::{EventInput, EventScope, Evaluation, Known, Planned, PlannedWrite, Rule};
pub use spec::{ActionSpec, RuleSpec, Trigger};
