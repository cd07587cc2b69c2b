//! What a finished write leaves for the rules: the event its platform is expected to send back about it (marked
//! as its echo when it comes, so rules mirroring two platforms do not loop), and, for an object a rule created
//! from an event's object, the link between the two.

use anyhow::Result;
use serde_json::Value;

use qiao_store::{OperationRow, now_ms};

use crate::App;

/// How long after a write its echo is still expected. Platforms call back within seconds; Jira retries for a
/// while. An expectation is used up by the first matching event, so a later change by a person is never hidden.
pub const ECHO_WINDOW_MS: i64 = 10 * 60 * 1000;

/// Called by the outbox once `op` succeeded; `echo` is the object it touched and the event types that tell of it.
pub async fn after_write(app: &App, op: &OperationRow, echo: Option<(String, &'static [&'static str])>) -> Result<()> {
    let Some((object, types)) = echo else { return Ok(()) };
    let cause = op.cause.as_ref();
    let hops = cause.and_then(|c| c["hops"].as_u64()).unwrap_or(0) as u32;
    app.db
        .expect_echo(
            op.connection.clone(),
            object.clone(),
            types.iter().map(|t| t.to_string()).collect(),
            op.id,
            hops,
            now_ms() + ECHO_WINDOW_MS,
        )
        .await?;
    if let Some(cause) = cause
        && let (Some(rule), Some(link)) = (cause["rule"].as_str(), cause.get("link"))
        && let (Some(connection), Some(from)) = (link["connection"].as_str(), link["object"].as_str())
        && types.iter().any(|t| t.ends_with(".created") || *t == "approval.*")
        && !matches!(cause.get("link"), Some(Value::Null))
    {
        app.db
            .link_objects((connection.to_string(), from.to_string()), (op.connection.clone(), object), rule.to_string())
            .await?;
    }
    Ok(())
}
