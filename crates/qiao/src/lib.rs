//! qiao: the `qiao` binary's library half — `server` wires the crates into a running `qiao serve`
//! (config → runtime → services → API → listener); `main.rs` and `cli/*` are the command line.
//!
//! The crates, in the direction of their dependencies (each knows only those before it):
//! - `qiao-contract`: the WIT contract as Rust types, `Capability`, `Call`/`Reply`.
//! - `qiao-secrets`, `qiao-trust`, `qiao-directory`, `qiao-config`: secrets at rest, connector signatures,
//!   directory sync's pure core, and `qiao.toml`.
//! - `qiao-store` (SQL) beside `qiao-runtime` (Wasm): neither knows the other.
//! - `qiao-services`: the outbox, inbound events, subscribers, approvals, directory sync, SSO, access.
//! - `qiao-api`: the REST API.

pub mod server;
