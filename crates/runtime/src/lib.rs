//! qiao-runtime: runs connector components in their sandbox.
//!
//! Owns the wasmtime engine (`engine`) and compiled-code cache (`compile_cache`); the one place a call's Store
//! is made, with every limit (`sandbox`); the host imports, one module per WIT interface (`imports/*`); a
//! loaded component and its exports (`connector`); the connector directory, watched for hot reload, where a
//! connector is loaded and its signature checked (`connectors`); turning a `Call` into a guest call
//! (`dispatch`); a call with its limits and errors (`runtime`); where and when a call's guest runs, its
//! connection's lanes and the call pool that takes calls holding the CPU off the serving threads
//! (`scheduling`); keeping secrets out of what leaves a call (`redact`); where a granted host's resolved addresses
//! are checked (`egress`); `qiao connectors inspect` (`inspect`); and what calls did, for the conformance suite
//! (`observe`).
//!
//! Must not know about: the store (a connection's kv goes through the [`kv::KvStore`] it is given), the outbox
//! and other services, HTTP routes. It depends on neither rusqlite nor axum.

pub mod compile_cache;
pub mod connector;
pub mod connectors;
pub mod dispatch;
pub mod egress;
pub mod engine;
pub mod exports;
pub mod imports;
pub mod inspect;
pub mod kv;
pub mod observe;
pub mod redact;
pub mod registry;
pub mod runtime;
pub mod sandbox;
pub mod scheduling;

pub use runtime::{CallError, Runtime};
