//! Qiao: a host for WebAssembly connector components that join an enterprise's systems to DingTalk, WeCom,
//! Feishu/Lark and Kingdee, offered as one REST API.
//!
//! Where things are:
//! - `bindings`: the WIT contract as Rust types (the one `bindgen!`).
//! - `engine`, `compile_cache`: the wasmtime engine and compiled-code cache.
//! - `sandbox`: the per-call Store and every limit on it.
//! - `imports/*`: what the host provides to connectors (http allow-list, kv, config, log, crypto).
//! - `connector`: one loaded component, its capabilities and `describe`.
//! - `plugins`: the plugins directory, watched for hot reload. `trust`: connector signatures (`NAME.wasm.sig`).
//! - `runtime`: connections, and a call from the API into a connector.
//! - `outbox/*`: writes to platforms, committed then delivered with retries (`worker`), paced per connection.
//! - `inbound`: storing webhook and polled events; scheduled polls. `subscribers/*`: signed delivery of events.
//! - `approvals`: the stored view of approvals and its reconciliation with the platforms.
//! - `db/*`: the SQLite store, one file per table group. `api/*`: the REST API. `server`: wiring for `qiao serve`.
//! - `directory/*`: directory sync's pure core: the enterprise's directory, matching, and the plan per platform;
//!   `sync/*`: its runs: reading a platform, applying a plan through the outbox, schedules.
//! - `secrets`: the master key and sealing of secrets at rest (config `qenc:` values, the store's secrets);
//!   `rotate`: `qiao secrets rotate`.
//! - `sso`: sign-in with Qiao's CSRF states and single-use codes; `addressing`: the enterprise's person and
//!   department ids turned into a connection's platform ids.

pub mod access;
pub mod addressing;
pub mod api;
pub mod approvals;
pub mod bindings;
pub mod calls;
pub mod compile_cache;
pub mod config;
pub mod connector;
pub mod db;
pub mod directory;
pub mod engine;
pub mod imports;
pub mod inbound;
pub mod inspect;
pub mod outbox;
pub mod plugins;
pub mod rotate;
pub mod runtime;
pub mod sandbox;
pub mod secrets;
pub mod server;
pub mod sso;
pub mod subscribers;
pub mod sync;
pub mod trust;
