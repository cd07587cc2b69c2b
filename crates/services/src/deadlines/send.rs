//! Acting on a due step: the stored approval is checked (refreshed from the platform when an event or write
//! marked it as moved) to be still pending on that step, then the reminder or escalation is committed to the
//! outbox under `deadline:{connection}:{approval}:{step}:{n}` (`…:escalation`), so it is made once even if
//! Qiao stops between committing it and recording it here.

use std::collections::BTreeMap;
use std::sync::Arc;

use anyhow::Result;

use qiao_config::deadlines::{DEFAULT_ESCALATION_TEXT, DEFAULT_TEXT, render};
use qiao_config::{DeadlinePolicy, Via};
use qiao_contract::Call;
use qiao_contract::bindings::approval::RemindRequest;
use qiao_contract::bindings::messaging::{Content, Mentions, Message, Recipients};
use qiao_store::{ApprovalStep, Enqueued, StepKey, StoredApproval};

use super::policy::{Schedule, policy_for};
use super::track;
use crate::App;

/// A step whose check or sending failed is looked at again after this long.
const RETRY_MS: i64 = 60_000;

/// What to send.
#[derive(Debug, Clone, Copy)]
enum Kind {
    Reminder(u32),
    Escalation,
}

/// Handles one due step.
pub async fn act(app: &Arc<App>, step: ApprovalStep, now_ms: i64) -> Result<()> {
    let Some(approval) = current(app, &step).await? else {
        return postpone(app, &step, now_ms, None).await;
    };
    if approval.status != "pending" {
        return app.db.close_steps(step.key.connection.clone(), step.key.approval.clone(), approval.status, now_ms).await;
    }
    let steps = track::pending_steps(&approval.instance, now_ms);
    if !steps.iter().any(|s| s.step == step.key.step && s.approver == step.approver) {
        // Another step is pending now: this one's timers stop, the new one's start.
        return track::track(app, &approval.connection, &approval.id, approval.template, &approval.instance, now_ms).await;
    }
    let d = &app.deadlines;
    // The stored view may have learned the template since the step was first seen (an event's placeholder).
    let template = approval.template.as_deref().or(step.template.as_deref());
    let Some(policy) = policy_for(&d.policies, &step.key.connection, template) else {
        return track::schedule(app, step.key, template, step.entered_ms, step.reminders, step.escalated_ms, None).await;
    };
    let due = Schedule { policy, calendar: &d.calendar, entered_ms: step.entered_ms }.due(
        step.reminders,
        step.escalated_ms.is_some(),
        now_ms,
    );
    let mut reminders = step.reminders;
    let mut escalated_ms = step.escalated_ms;
    let mut problems = Vec::new();
    let kinds = due.reminder.map(Kind::Reminder).into_iter().chain(due.escalate.then_some(Kind::Escalation));
    for kind in kinds {
        match send(app, &step, &approval, policy, kind, now_ms).await {
            Ok(Ok(())) => {}
            Ok(Err(problem)) => problems.push(problem),
            Err(e) => {
                // The store failed: nothing recorded, so the same key is tried again later.
                tracing::warn!(connection = %step.key.connection, approval = %step.key.approval, "approval deadline not sent: {e:#}");
                return postpone(app, &step, now_ms, None).await;
            }
        }
        match kind {
            Kind::Reminder(n) => reminders = n,
            Kind::Escalation => escalated_ms = Some(now_ms),
        }
    }
    let problem = (!problems.is_empty()).then(|| problems.join("; "));
    track::schedule(app, step.key, template, step.entered_ms, reminders, escalated_ms, problem).await
}

/// The stored approval, refreshed from the platform first when it is marked as moved; None when it could not be.
async fn current(app: &Arc<App>, step: &ApprovalStep) -> Result<Option<StoredApproval>> {
    let (connection, id) = (&step.key.connection, &step.key.approval);
    let stored = app.db.approval(connection.clone(), id.clone()).await?;
    match stored {
        Some(a) if !a.stale => Ok(Some(a)),
        stored => {
            if !app.runtime.connections.contains_key(connection) {
                return Ok(None);
            }
            let template = stored.and_then(|a| a.template).or_else(|| step.template.clone());
            match crate::approvals::refresh(app, connection, id, template).await {
                Ok(_) => app.db.approval(connection.clone(), id.clone()).await,
                Err(e) => {
                    tracing::info!(%connection, approval = %id, error = %e, "approval deadline waits: the approval could not be refreshed");
                    Ok(None)
                }
            }
        }
    }
}

async fn postpone(app: &Arc<App>, step: &ApprovalStep, now_ms: i64, problem: Option<String>) -> Result<()> {
    let retry = step.due_ms.map(|due| due.max(now_ms + RETRY_MS));
    app.db
        .set_step_timer(step.key.clone(), step.first_due_ms, retry, step.reminders, step.escalated_ms, problem)
        .await
}

/// Commits one reminder or escalation. The inner error says why it could not be made (no manager, no account),
/// recorded with the step; it is not retried.
async fn send(
    app: &Arc<App>,
    step: &ApprovalStep,
    approval: &StoredApproval,
    policy: &DeadlinePolicy,
    kind: Kind,
    now_ms: i64,
) -> Result<Result<(), String>> {
    let via_connection = policy.connection.clone().unwrap_or_else(|| step.key.connection.clone());
    let approver_person = app.db.person_of_account(step.key.connection.clone(), step.approver.clone()).await?;
    let approver_name = match &approver_person {
        Some(id) => app.db.person(id.clone()).await?.map(|p| p.name),
        None => None,
    };
    let instance = &approval.instance;
    let template = approval.template.clone().or_else(|| step.template.clone());
    let hours = app.deadlines.calendar.business_ms_between(step.entered_ms, now_ms) as f64 / 3_600_000.0;
    let mut values = BTreeMap::from([
        ("title", instance["title"].as_str().or(step.title.as_deref()).or(template.as_deref()).unwrap_or(&step.key.approval).to_string()),
        ("approver", approver_name.unwrap_or_else(|| step.approver.clone())),
        ("hours", format!("{hours:.1}")),
        ("id", step.key.approval.clone()),
        ("template", template.clone().unwrap_or_default()),
        ("url", instance["extra"]["url"].as_str().unwrap_or_default().to_string()),
    ]);
    let (recipient, text, key) = match kind {
        Kind::Reminder(n) => {
            let recipient = if via_connection == step.key.connection {
                step.approver.clone()
            } else {
                match account_on(app, approver_person.as_deref(), &step.approver, &via_connection).await? {
                    Ok(user) => user,
                    Err(why) => return Ok(Err(why)),
                }
            };
            let text = render(policy.text.as_deref().unwrap_or(DEFAULT_TEXT), &values);
            (recipient, text, n.to_string())
        }
        Kind::Escalation => {
            let Some(person) = approver_person else {
                return Ok(Err(format!("approver {} is not linked to a person in the directory: no manager to escalate to", step.approver)));
            };
            let Some(manager) = app.db.person(person.clone()).await?.and_then(|p| p.manager_id) else {
                return Ok(Err(format!("person {person} has no manager in the directory")));
            };
            let recipient = match account_on(app, Some(&manager), &manager, &via_connection).await? {
                Ok(user) => user,
                Err(why) => return Ok(Err(why)),
            };
            let name = app.db.person(manager.clone()).await?.map_or(manager, |p| p.name);
            values.insert("manager", name);
            let text = render(policy.escalation_text.as_deref().unwrap_or(DEFAULT_ESCALATION_TEXT), &values);
            (recipient, text, "escalation".to_string())
        }
    };
    let key = format!("deadline:{}:{}:{}:{key}", step.key.connection, step.key.approval, step.key.step);
    let call = write(policy, kind, &step.key, template, recipient, text, &key);
    let enqueued = app.outbox.accept_keyed(&app.db, &via_connection, &call, key.clone(), Default::default()).await?;
    let (id, how) = match enqueued {
        Enqueued::New(op) => (op.id, "committed"),
        // Committed before a restart that came before it was recorded here: the same reminder, not another.
        Enqueued::Existing(op) | Enqueued::Conflict(op) => (op.id, "already committed"),
    };
    tracing::info!(connection = %via_connection, approval = %step.key.approval, step = %step.key.step, operation = id, key = %key, "approval deadline: {how}");
    Ok(Ok(()))
}

/// The write for one reminder or escalation: the platform's own reminder (`remind`, reminders only), a message in
/// the policy's chat @-mentioning the recipient (`chat`), else a work notice, raised urgently for `urgent`.
fn write(policy: &DeadlinePolicy, kind: Kind, step: &StepKey, template: Option<String>, recipient: String, text: String, key: &str) -> Call {
    match (policy.via, kind) {
        (Via::Remind, Kind::Reminder(_)) => Call::RemindApproval {
            request: RemindRequest {
                instance_id: step.approval.clone(),
                task_ids: if step.step.starts_with("approver:") { vec![] } else { vec![step.step.clone()] },
                operator: None,
                comment: Some(text),
                template,
            },
        },
        (Via::Chat, _) => {
            let to = Recipients { chats: policy.chat.clone().into_iter().collect(), ..nobody() };
            message(to, text, false, Some(recipient), key)
        }
        (via, _) => message(Recipients { users: vec![recipient], ..nobody() }, text, via == Via::Urgent, None, key),
    }
}

fn nobody() -> Recipients {
    Recipients { users: vec![], departments: vec![], chats: vec![], tags: vec![], everyone: false }
}

fn message(to: Recipients, text: String, urgent: bool, mention: Option<String>, key: &str) -> Call {
    Call::Send {
        message: Message {
            to,
            content: Content::Text(text),
            urgent,
            idempotency_key: Some(key.to_string()),
            mentions: Mentions { users: mention.into_iter().collect(), everyone: false },
        },
    }
}

/// A person's account on `connection` (by their enterprise id), or why there is none.
async fn account_on(app: &Arc<App>, person: Option<&str>, shown: &str, connection: &str) -> Result<Result<String, String>> {
    let Some(person) = person else {
        return Ok(Err(format!("{shown} is not linked to a person in the directory, so has no known account on {connection}")));
    };
    Ok(crate::addressing::person_on(&app.db, connection, person)
        .await?
        .map_err(|u| format!("person {person} cannot be reached on {connection}: {}", u.reason)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(via: Via) -> DeadlinePolicy {
        DeadlinePolicy {
            templates: vec![],
            connections: vec![],
            remind_after_hours: Some(1.0),
            remind_every_hours: None,
            escalate_after_hours: Some(2.0),
            max_reminders: 3,
            via,
            chat: (via == Via::Chat).then(|| "chat-ops".to_string()),
            text: None,
            escalation_text: None,
            connection: None,
        }
    }

    fn step(step: &str) -> StepKey {
        StepKey { connection: "fs".into(), approval: "A1".into(), step: step.into() }
    }

    fn sent(call: Call) -> Message {
        match call {
            Call::Send { message } => message,
            other => panic!("a message, not {other:?}"),
        }
    }

    #[test]
    fn each_via_makes_its_write() {
        let call = |via, kind, s: &str| write(&policy(via), kind, &step(s), Some("T".into()), "u1".into(), "hi".into(), "k");

        let Call::RemindApproval { request } = call(Via::Remind, Kind::Reminder(1), "task-9") else { panic!("remind") };
        assert_eq!((request.instance_id.as_str(), request.task_ids.as_slice()), ("A1", ["task-9".to_string()].as_slice()));
        assert_eq!((request.comment.as_deref(), request.template.as_deref()), (Some("hi"), Some("T")));
        let Call::RemindApproval { request } = call(Via::Remind, Kind::Reminder(1), "approver:u1") else { panic!() };
        assert!(request.task_ids.is_empty(), "no task id: every pending task of the instance");

        // The platform's reminder goes to the approver only: the manager gets a notice.
        let escalation = sent(call(Via::Remind, Kind::Escalation, "task-9"));
        assert_eq!((escalation.to.users.as_slice(), escalation.urgent), (["u1".to_string()].as_slice(), false));
        assert_eq!(escalation.idempotency_key.as_deref(), Some("k"), "the platform is told the key too");

        let urgent = sent(call(Via::Urgent, Kind::Reminder(2), "t"));
        assert!(urgent.urgent && urgent.mentions.users.is_empty());

        let chat = sent(call(Via::Chat, Kind::Escalation, "t"));
        assert_eq!((chat.to.chats.as_slice(), chat.to.users.is_empty()), (["chat-ops".to_string()].as_slice(), true));
        assert_eq!(chat.mentions.users, ["u1"], "the recipient is @-mentioned in the chat");
        assert!(matches!(chat.content, Content::Text(ref t) if t == "hi"));
    }
}
