//! The rules' loop over the event log: read a batch after the lowest cursor, evaluate each event with the rules
//! it triggers, make their writes, then record the runs and move the cursors in one transaction. A crash before
//! that commit replays the batch: evaluations are deterministic and each write's idempotency key finds the
//! operation made the first time, so every action happens exactly once.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use serde_json::{Value, json};

use qiao_contract::{Call, Reply};
use qiao_rules::{EventInput, EventScope, Evaluation, Lookups, Rule};
use qiao_store::{RuleRun, StoredEvent, now_ms};

use super::{RuleWrite, Writer, Written};
use crate::App;

/// Events read per batch.
const BATCH: u32 = 200;
/// Longest the loop sleeps without looking (a safety net: it is woken by new events and rule changes).
const IDLE_CHECK: Duration = Duration::from_secs(5);

pub fn spawn(app: &Arc<App>, writer: Arc<dyn Writer>) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    tokio::spawn(async move {
        loop {
            match run(&app, &writer).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::error!("rules: {e:#}; starting again in {IDLE_CHECK:?}");
                    tokio::time::sleep(IDLE_CHECK).await;
                }
            }
        }
    })
}

/// How old an event must be before rules see it: a platform may tell of a change Qiao made before it answers
/// Qiao's call, and the event is only known as that change's echo once the answer is in.
pub const SETTLE: Duration = Duration::from_millis(1500);

async fn run(app: &Arc<App>, writer: &Arc<dyn Writer>) -> Result<()> {
    let mut events_added = app.events_added.subscribe();
    let mut rules_changed = app.rules_changed.subscribe();
    let mut rules = Vec::new();
    let mut reload = true;
    loop {
        events_added.mark_unchanged();
        if std::mem::take(&mut reload) || rules_changed.has_changed().unwrap_or(false) {
            rules_changed.mark_unchanged();
            rules = super::compile_stored(app, &app.db.rules().await?);
        }
        let loaded = &mut rules;
        let wait = match loaded.iter().map(|(_, cursor)| *cursor).min() {
            Some(from) => batch(app, writer, loaded, from).await?,
            None => IDLE_CHECK,
        };
        if wait.is_zero() {
            continue;
        }
        tokio::select! {
            _ = events_added.changed() => {}
            _ = rules_changed.changed() => reload = true,
            _ = tokio::time::sleep(wait) => {}
        }
    }
}

/// One batch of settled events after `from`. Answers how long to wait before the next (zero: go on at once).
async fn batch(app: &Arc<App>, writer: &Arc<dyn Writer>, rules: &mut [(Rule, i64)], from: i64) -> Result<Duration> {
    let settled_before = now_ms() - SETTLE.as_millis() as i64;
    let mut events = app.db.list_events(from, None, BATCH).await?;
    let full = events.len() == BATCH as usize;
    let young = events.iter().position(|e| e.received_ms > settled_before);
    let wait_young = young.map(|i| Duration::from_millis((events[i].received_ms - settled_before).max(1) as u64));
    if let Some(i) = young {
        events.truncate(i);
    }
    let Some(last) = events.last().map(|e| e.seq) else { return Ok(wait_young.unwrap_or(IDLE_CHECK)) };
    let lookups = super::lookups(app).await?;
    let mut runs = Vec::new();
    for event in &events {
        let triggered: Vec<&Rule> = rules
            .iter()
            .filter(|(rule, cursor)| event.seq > *cursor && rule.spec.on.matches(&event.connection, &event.kind))
            .map(|(rule, _)| rule)
            .collect();
        if triggered.is_empty() {
            continue;
        }
        let reads_task = triggered.iter().any(|r| r.reads_task());
        let input = event_input(app, event, reads_task).await?;
        // Evaluated together in one scope (made once per event), then written: the scope is not held across awaits.
        let evaluations: Vec<(&Rule, Evaluation)> = match EventScope::new(&input, &lookups) {
            Ok(scope) => triggered.into_iter().map(|rule| (rule, rule.evaluate_in(&scope, &input, &lookups))).collect(),
            Err(_) => triggered.into_iter().map(|rule| (rule, rule.evaluate(&input, &lookups))).collect(),
        };
        for (rule, evaluation) in evaluations {
            runs.push(write_and_record(rule, &input, evaluation, writer).await);
        }
    }
    let cursors = rules.iter().filter(|(_, cursor)| *cursor < last).map(|(r, _)| (r.id().to_string(), last)).collect();
    app.db.record_rule_runs(runs, cursors).await?;
    for (_, cursor) in rules.iter_mut() {
        *cursor = (*cursor).max(last);
    }
    Ok(match (full && young.is_none(), wait_young) {
        (true, _) => Duration::ZERO,
        (false, Some(wait)) => wait,
        (false, None) => IDLE_CHECK,
    })
}

/// The event as rules see it, with the objects linked to its subject and, when `read_task`, the task it is about.
pub async fn event_input(app: &App, event: &StoredEvent, read_task: bool) -> Result<EventInput> {
    let links = if event.subject.is_empty() {
        Default::default()
    } else {
        app.db.object_links(event.connection.clone(), event.subject.clone()).await?
    };
    Ok(EventInput {
        seq: event.seq,
        connection: event.connection.clone(),
        id: event.id.clone(),
        kind: event.kind.clone(),
        subject: event.subject.clone(),
        time_ms: event.time_ms,
        received_ms: event.received_ms,
        payload: event.payload.clone(),
        links: links.into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
        echo: event.echo_of.is_some(),
        hops: event.hops,
        task: if read_task { task_of(app, &event.connection, &event.kind, &event.subject).await } else { Value::Null },
    })
}

/// The task a task event is about, as `GET …/tasks/{id}` answers it now: the shared task events carry no
/// assignees or labels, which rules need ("a task assigned to...", "labelled..."). Null for other events, a
/// deleted task, or one that cannot be read (logged): the rule then sees `event.task == null`. Read when the event
/// is evaluated, so a replay after a crash may see a later state; its writes' idempotency keys still find the
/// operations made the first time.
pub async fn task_of(app: &App, connection: &str, kind: &str, subject: &str) -> Value {
    if !kind.starts_with("task.") || kind == "task.deleted" || subject.is_empty() {
        return Value::Null;
    }
    match app.runtime.call(connection, Call::GetTask { id: subject.to_string() }).await {
        Ok(Reply::Task(task)) => qiao_contract::json::task(task),
        Ok(_) => Value::Null,
        Err(e) => {
            tracing::warn!(connection, task = subject, "rules: the event's task could not be read: {e}");
            Value::Null
        }
    }
}

/// Evaluates a rule on an event (what `POST /v1/rules/test` shows, without writing).
pub fn evaluate_one(rule: &Rule, event: &EventInput, lookups: &Arc<Lookups>) -> (Value, Evaluation) {
    let seen = rule.input(event, lookups);
    (seen, rule.evaluate(event, lookups))
}

async fn write_and_record(rule: &Rule, event: &EventInput, evaluation: Evaluation, writer: &Arc<dyn Writer>) -> RuleRun {
    let mut actions = Vec::new();
    let mut failed = evaluation.error.is_some();
    for (i, planned) in evaluation.writes.iter().enumerate() {
        let write = match planned {
            Ok(write) => write,
            Err(e) => {
                failed = true;
                actions.push(json!({ "action": i, "error": e }));
                continue;
            }
        };
        let mut cause = json!({ "rule": rule.id(), "event_seq": event.seq, "hops": event.hops + 1 });
        if write.link && !event.subject.is_empty() {
            cause["link"] = json!({ "connection": event.connection, "object": event.subject });
        }
        let outcome = writer
            .write(RuleWrite {
                method: write.method,
                path: write.path.clone(),
                body: write.body.clone(),
                idempotency_key: format!("rule:{}:{}:{i}", rule.id(), event.seq),
                actor: format!("rule:{}", rule.id()),
                cause,
            })
            .await;
        actions.push(match outcome {
            Written::Accepted { operation_id, status } => {
                json!({ "action": i, "do": write.operation, "path": write.path, "status": status, "operation_id": operation_id })
            }
            Written::Refused { status, error } => {
                failed = true;
                json!({ "action": i, "do": write.operation, "path": write.path, "status": status, "error": error })
            }
        });
    }
    let outcome = match (&evaluation.skipped, evaluation.matched, failed) {
        (Some(_), _, _) => "skipped",
        (_, _, true) => "failed",
        (_, true, false) => "matched",
        (_, false, false) => "not_matched",
    };
    let mut detail = json!({ "event_id": event.id, "event_type": event.kind, "connection": event.connection, "actions": actions });
    if let Some(e) = &evaluation.error {
        detail["error"] = json!(e);
    }
    if let Some(s) = &evaluation.skipped {
        detail["skipped"] = json!(s);
    }
    RuleRun { rule: rule.id().to_string(), event_seq: event.seq, outcome: outcome.to_string(), detail, at_ms: now_ms() }
}
