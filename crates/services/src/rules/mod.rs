//! Rules over the event log: each rule reads it with its own cursor, evaluates every event it is triggered by,
//! and makes its writes through the REST API's own routes (a [`Writer`]), so they are checked, addressed and
//! queued exactly as a caller's would be, each with an idempotency key derived from (rule, event, action):
//! replaying an event after a crash finds the operations it made before instead of making them again.
//!
//! - `worker`: the loop over the event log. `load`: rules from qiao.toml and the store, compiled.
//! - `echo`: what a finished write leaves behind: the echo it is expected to cause, the objects it links.
//! - `lookups`: the directory as rules see it.

mod echo;
pub mod load;
mod lookups;
pub mod worker;

use futures::future::BoxFuture;
use serde::Serialize;
use serde_json::Value;

pub use echo::{ECHO_WINDOW_MS, after_write, before_write};
pub use load::{compile_stored, known, load_config};
pub use lookups::lookups;
pub use worker::{evaluate_one, spawn};

/// One write a rule makes, as a request to the REST API.
#[derive(Debug, Clone, Serialize)]
pub struct RuleWrite {
    pub method: &'static str,
    pub path: String,
    pub body: Value,
    /// `rule:{rule}:{event seq}:{action}`: the same on every replay of the event.
    pub idempotency_key: String,
    /// Recorded as the operation's actor: `rule:{rule}`.
    pub actor: String,
    /// Recorded as the operation's cause (see `qiao_store::NewOperation::cause`).
    pub cause: Value,
}

/// What the API answered a rule's write.
#[derive(Debug, Clone)]
pub enum Written {
    /// Committed to the outbox (or found committed by an earlier replay).
    Accepted { operation_id: Option<i64>, status: u16 },
    /// Refused: the same answer a caller would have had.
    Refused { status: u16, error: Value },
}

/// Makes a rule's writes: implemented by the API over its own router.
pub trait Writer: Send + Sync + 'static {
    fn write(&self, write: RuleWrite) -> BoxFuture<'static, Written>;
}
