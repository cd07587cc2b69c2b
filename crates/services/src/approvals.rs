//! The stored view of approvals: `GET` answers from it, and it is refreshed from the platform when an event or
//! a write says an approval moved, on demand, and periodically, so a missed callback is repaired.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use qiao_contract::json::extra;
use qiao_contract::bindings::approval::{Instance, Status};
use qiao_contract::calls::{Call, Reply};
use qiao_store::now_ms;
use qiao_runtime::CallError;
use crate::App;
use crate::failure::Failure;

pub fn status_name(status: Status) -> &'static str {
    match status {
        Status::Draft => "draft",
        Status::Pending => "pending",
        Status::Approved => "approved",
        Status::Rejected => "rejected",
        Status::Canceled => "canceled",
    }
}

fn instance_json(i: Instance) -> Value {
    json!({
        "id": i.id,
        "template": i.template,
        "title": i.title,
        "applicant": i.applicant,
        "status": status_name(i.status),
        "tasks": i.tasks,
        "approvers": i.approvers,
        "comments": i.comments,
        "fields": i.fields,
        "extra": extra(i.extra),
    })
}

/// Asks the platform, stores the answer, and returns it (with `synced_ms`).
pub async fn refresh(app: &App, connection: &str, id: &str, template: Option<String>) -> Result<Value, CallError> {
    let reply = app
        .runtime
        .call(connection, Call::GetApproval { id: id.to_string(), template: template.clone() })
        .await?;
    let Reply::Instance(instance) = reply else {
        return Err(CallError::Host(anyhow::anyhow!("get approval answered with another reply")));
    };
    let status = status_name(instance.status).to_string();
    let template = template.or_else(|| Some(instance.template.clone()).filter(|t| !t.is_empty()));
    let mut view = instance_json(instance);
    app.db
        .save_approval(connection.to_string(), id.to_string(), template, status, view.clone())
        .await
        .map_err(CallError::Host)?;
    view["synced_ms"] = json!(now_ms());
    Ok(view)
}

/// The approval as the API answers it. When the platform cannot be asked, a stored view is answered anyway,
/// marked `"stale": true`, rather than an error.
pub async fn read(
    app: &App,
    connection: &str,
    id: &str,
    template: Option<String>,
    force: bool,
) -> Result<Value, Failure> {
    app.runtime.check_callable(connection, qiao_contract::Capability::Approval)?;
    let stored = app
        .db
        .approval(connection.to_string(), id.to_string())
        .await
        .map_err(Failure::internal)?;
    match stored {
        Some(s) if !force && !s.stale => {
            let mut view = s.instance;
            view["synced_ms"] = json!(s.synced_ms);
            Ok(view)
        }
        stored => {
            let template = template.or_else(|| stored.as_ref().and_then(|s| s.template.clone()));
            match (refresh(app, connection, id, template).await, stored) {
                (Ok(view), _) => Ok(view),
                (Err(e), Some(s)) if s.synced_ms > 0 && unreachable(&e) => {
                    tracing::warn!(%connection, approval = %id, error = %e, "answering the stored approval: the platform could not be asked");
                    let mut view = s.instance;
                    view["synced_ms"] = json!(s.synced_ms);
                    view["stale"] = json!(true);
                    Ok(view)
                }
                (Err(e), _) => Err(e.into()),
            }
        }
    }
}

/// The platform could not be asked now (as opposed to answering, e.g. "no such approval").
fn unreachable(e: &CallError) -> bool {
    use qiao_contract::bindings::types::ErrorKind;
    match e {
        CallError::Connector(e) => matches!(e.kind, ErrorKind::Unavailable | ErrorKind::RateLimited),
        CallError::Timeout { .. } | CallError::ConnectorNotLoaded { .. } => true,
        _ => false,
    }
}

/// Every `every`: refreshes approvals an event marked as moved, and pending ones not synced for `every`
/// (a callback the platform never sent, or one lost before Qiao stored it).
pub fn spawn_reconciler(app: &Arc<App>, every: Duration) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            let due = match app.db.approvals_to_reconcile(Some(now_ms() - every.as_millis() as i64), 500).await {
                Ok(due) => due,
                Err(e) => {
                    tracing::warn!("approval reconciliation could not read the store: {e:#}");
                    continue;
                }
            };
            let (mut refreshed, mut failed) = (0, 0);
            for approval in due.into_iter().filter(|a| app.runtime.connections.contains_key(&a.connection)) {
                match refresh(&app, &approval.connection, &approval.id, approval.template).await {
                    Ok(_) => refreshed += 1,
                    Err(e) => {
                        failed += 1;
                        tracing::debug!(connection = %approval.connection, approval = %approval.id, error = %e, "approval refresh failed");
                    }
                }
            }
            if refreshed + failed > 0 {
                tracing::info!(refreshed, failed, "approvals reconciled with their platforms");
            }
        }
    })
}
