//! What a write leaves for the rules: the event its platform is expected to send back about it (marked as its
//! echo when it comes, so rules mirroring two platforms do not loop), and, for an object a rule created from an
//! event's object, the link between the two.

use anyhow::Result;

use qiao_store::{OperationRow, now_ms};

use crate::App;

/// How long after a write its echo is still expected. Platforms call back within seconds; Jira retries for a
/// while. An expectation is used up by the first matching event, so a later change by a person is not hidden.
pub const ECHO_WINDOW_MS: i64 = 10 * 60 * 1000;

/// The object a write touches and the event types that tell of it.
pub type Echo = Option<(String, &'static [&'static str])>;

fn hops(op: &OperationRow) -> u32 {
    op.cause.as_ref().and_then(|c| c["hops"].as_u64()).unwrap_or(0) as u32
}

async fn expect(app: &App, op: &OperationRow, object: String, types: &[&str]) -> Result<()> {
    app.db
        .expect_echo(
            op.connection.clone(),
            object,
            types.iter().map(|t| t.to_string()).collect(),
            op.id,
            hops(op),
            op.updated_ms,
            now_ms() + ECHO_WINDOW_MS,
        )
        .await
}

/// Called by the outbox before an attempt of a write to an object whose id it names (an update, a move): the
/// platform may tell of the change before it answers.
pub async fn before_write(app: &App, op: &OperationRow, echo: Echo) -> Result<()> {
    match echo {
        Some((object, types)) => expect(app, op, object, types).await,
        None => Ok(()),
    }
}

/// Called by the outbox once a write that created an object succeeded (`created`: the new object and the event
/// types that tell of it): its echo may already be stored, and a rule's creation is linked to the event's object.
pub async fn after_write(app: &App, op: &OperationRow, created: Echo) -> Result<()> {
    let Some((object, types)) = created else { return Ok(()) };
    expect(app, op, object.clone(), types).await?;
    if let Some(cause) = &op.cause
        && let Some(rule) = cause["rule"].as_str()
        && let (Some(connection), Some(from)) = (cause["link"]["connection"].as_str(), cause["link"]["object"].as_str())
    {
        app.db
            .link_objects((connection.to_string(), from.to_string()), (op.connection.clone(), object), rule.to_string())
            .await?;
    }
    Ok(())
}
