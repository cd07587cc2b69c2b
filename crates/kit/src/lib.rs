//! The connector kit, for people who write connectors: `qiao connectors new` ([`scaffold`]) writes a standalone
//! project in Rust, TypeScript or Python with its SDK and the contract; `qiao connectors test` ([`conformance`])
//! checks a built component the way an operator would want before loading it.

pub mod conformance;
pub mod embedded;
pub mod scaffold;
