//! Applies a plan through the outbox: each step becomes an outbox write (so it is stored before it is tried, and
//! retried by the outbox's policy), steps run in waves that respect the plan's dependencies (a department after
//! its parent, a user after its departments and manager), and every outcome is recorded as it happens, so a
//! restarted server resumes the run without redoing what was done.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Result;
use futures::StreamExt;
use serde_json::{Value as Json, json};

use qiao_contract::bindings::identity::{DepartmentFields, UserField, UserFields};
use qiao_contract::Capability;
use qiao_store::{LinkKind, OperationRow, Status};
use qiao_directory::plan::{Field, Value};
use qiao_directory::{Department, Directory, Person, Plan, Step, StepKind};
use qiao_contract::Call;
use crate::App;
use crate::outbox::Origin;

/// Steps of one wave in flight at once (the outbox's per-connection throttle paces the platform calls).
const IN_FLIGHT: usize = 32;
/// How long one wait on an operation lasts before the run looks again (it is retried by the outbox meanwhile).
const WAIT: Duration = Duration::from_secs(30);

/// What happened to one step.
#[derive(Debug, Clone)]
pub enum Outcome {
    Done,
    Failed(Json),
    Skipped(String),
}

/// Everything a step needs to become writes.
pub struct Context<'a> {
    pub app: &'a Arc<App>,
    pub run: i64,
    pub connection: &'a str,
    pub root: Option<String>,
    pub source: &'a Directory,
    /// Deactivate by `user-status.set-active` (else by deleting the user).
    pub can_disable: bool,
}

/// Enterprise id → platform id, for departments and people, as the run goes.
#[derive(Default)]
struct Ids {
    departments: HashMap<String, String>,
    people: HashMap<String, String>,
}

/// Applies the plan's steps not yet done (per `done`: step index → outcome recorded before a restart). Answers
/// every step's outcome, by index.
pub async fn apply(
    cx: &Context<'_>,
    plan: &Plan,
    recorded: HashMap<usize, (String, Option<i64>)>,
) -> Result<Vec<Outcome>> {
    let links = cx.app.db.links(cx.connection.to_string()).await?;
    let mut ids = Ids::default();
    ids.departments
        .extend(links.departments.into_iter().map(|l| (l.id, l.platform_id)));
    ids.people
        .extend(links.people.into_iter().map(|l| (l.id, l.platform_id)));
    let updated_later: HashSet<&str> = plan
        .steps
        .iter()
        .filter(|s| !matches!(s.kind, StepKind::LinkDepartment | StepKind::LinkUser))
        .map(|s| s.id.as_str())
        .collect();

    let records = Records::new(cx.source);
    let mut outcomes: Vec<Option<Outcome>> = vec![None; plan.steps.len()];
    // Ids whose step failed or was skipped: what depends on them is skipped.
    let mut broken: HashSet<String> = HashSet::new();
    for wave in waves(&plan.steps) {
        let mut todo = Vec::new();
        for idx in wave {
            let step = &plan.steps[idx];
            match recorded.get(&idx) {
                Some((status, _)) if status == "done" => {
                    outcomes[idx] = Some(Outcome::Done);
                    continue;
                }
                Some((status, _)) if status != "enqueued" => {
                    broken.insert(key(step));
                    outcomes[idx] = Some(Outcome::Skipped(
                        "failed or skipped before the restart".into(),
                    ));
                    continue;
                }
                _ => {}
            }
            if let Some(missing) = dependencies(step).into_iter().find(|d| broken.contains(d)) {
                let why = format!(
                    "depends on {}, whose step did not succeed",
                    missing.replace(':', " ")
                );
                cx.app
                    .db
                    .record_step(cx.run, idx, "skipped", None, Some(json!(why)))
                    .await?;
                broken.insert(key(step));
                outcomes[idx] = Some(Outcome::Skipped(why));
                continue;
            }
            todo.push(idx);
        }
        // Each step's writes are built from the ids known before the wave: no step of a wave depends on another.
        let snapshot = &ids;
        let results: Vec<(usize, Result<Ran>)> = futures::stream::iter(todo)
            .map(|idx| {
                let enqueued = recorded.get(&idx).and_then(|(_, op)| *op);
                async move {
                    (
                        idx,
                        run_step(cx, snapshot, idx, &plan.steps[idx], enqueued).await,
                    )
                }
            })
            .buffer_unordered(IN_FLIGHT)
            .collect()
            .await;
        for (idx, result) in results {
            let step = &plan.steps[idx];
            let Ran {
                outcome,
                platform_id,
                operation,
            } = result?;
            if let (Outcome::Done, Some(platform_id)) = (&outcome, platform_id) {
                let synced = (!matches!(step.kind, StepKind::LinkDepartment | StepKind::LinkUser)
                    || !updated_later.contains(step.id.as_str()))
                .then(|| records.synced(step))
                .flatten();
                // The link first, then "done": a stop in between redoes the step (finding its operation), it
                // never leaves a done step without its link.
                record_link(cx, step, &platform_id, synced).await?;
                let map = if is_department(step.kind) {
                    &mut ids.departments
                } else {
                    &mut ids.people
                };
                map.insert(step.id.clone(), platform_id);
            }
            if matches!(outcome, Outcome::Done) {
                cx.app
                    .db
                    .record_step(cx.run, idx, "done", operation, None)
                    .await?;
            }
            if !matches!(outcome, Outcome::Done) {
                broken.insert(key(step));
            }
            outcomes[idx] = Some(outcome);
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or(Outcome::Skipped("not reached".into())))
        .collect())
}

fn is_department(kind: StepKind) -> bool {
    matches!(
        kind,
        StepKind::LinkDepartment
            | StepKind::CreateDepartment
            | StepKind::UpdateDepartment
            | StepKind::DeleteDepartment
    )
}

/// `department:ID` or `person:ID`: enterprise ids of the two kinds may be equal.
fn key(step: &Step) -> String {
    if is_department(step.kind) {
        format!("department:{}", step.id)
    } else {
        format!("person:{}", step.id)
    }
}

fn after(step: &Step, field: Field) -> Option<&Value> {
    step.changes
        .iter()
        .find(|c| c.field == field)
        .map(|c| &c.after)
}

/// The enterprise objects a step needs to exist on the platform first.
fn dependencies(step: &Step) -> Vec<String> {
    let mut deps = Vec::new();
    if let Some(Value::Text(parent)) = after(step, Field::ParentId) {
        deps.push(format!("department:{parent}"));
    }
    if let Some(Value::List(departments)) = after(step, Field::DepartmentIds) {
        deps.extend(departments.iter().map(|d| format!("department:{d}")));
    }
    if let Some(Value::Text(manager)) = after(step, Field::ManagerId) {
        deps.push(format!("person:{manager}"));
    }
    deps
}

/// Splits the steps (in plan order, where each kind is one block) into waves: within a block, a step goes one
/// wave after the latest wave holding an object it depends on, so a tree of departments takes one wave per
/// level. Department deletions go one at a time (a parent only once its children are gone).
fn waves(steps: &[Step]) -> Vec<Vec<usize>> {
    let mut waves: Vec<Vec<usize>> = Vec::new();
    // The block's first wave, and the wave of each object a step of this block touched.
    let mut block_start = 0;
    let mut wave_of: HashMap<String, usize> = HashMap::new();
    let mut kind = None;
    for (idx, step) in steps.iter().enumerate() {
        if kind != Some(step.kind) {
            kind = Some(step.kind);
            block_start = waves.len();
            wave_of.clear();
        }
        let wave = if step.kind == StepKind::DeleteDepartment {
            waves.len()
        } else {
            dependencies(step)
                .iter()
                .filter_map(|d| wave_of.get(d))
                .map(|w| w + 1)
                .max()
                .unwrap_or(block_start)
        };
        while waves.len() <= wave {
            waves.push(Vec::new());
        }
        waves[wave].push(idx);
        wave_of.insert(key(step), wave);
    }
    waves
}

/// The directory's records by id (a plan's steps name them by id).
struct Records<'a> {
    departments: HashMap<&'a str, &'a Department>,
    people: HashMap<&'a str, &'a Person>,
}

impl<'a> Records<'a> {
    fn new(source: &'a Directory) -> Records<'a> {
        Records {
            departments: source
                .departments
                .iter()
                .map(|d| (d.id.as_str(), d))
                .collect(),
            people: source.people.iter().map(|p| (p.id.as_str(), p)).collect(),
        }
    }

    /// The record Qiao applied for this object, as the planner reads it back to tell drift from change.
    fn synced(&self, step: &Step) -> Option<String> {
        if is_department(step.kind) {
            serde_json::to_string(self.departments.get(step.id.as_str())?).ok()
        } else {
            let mut person = (*self.people.get(step.id.as_str())?).clone();
            if step.kind == StepKind::DeactivateUser {
                person.active = false;
            }
            serde_json::to_string(&person).ok()
        }
    }
}

async fn record_link(
    cx: &Context<'_>,
    step: &Step,
    platform_id: &str,
    synced: Option<String>,
) -> Result<()> {
    let kind = if is_department(step.kind) {
        LinkKind::Department
    } else {
        LinkKind::Person
    };
    let gone = step.kind == StepKind::DeleteDepartment
        || (step.kind == StepKind::DeactivateUser && !cx.can_disable);
    if gone {
        cx.app
            .db
            .remove_link(cx.connection.to_string(), kind, platform_id.to_string())
            .await?;
    } else {
        cx.app
            .db
            .set_link(
                cx.connection.to_string(),
                kind,
                step.id.clone(),
                platform_id.to_string(),
                synced,
            )
            .await?;
    }
    Ok(())
}

/// What running a step came to: its outcome, the object's platform id when done, and its operation.
struct Ran {
    outcome: Outcome,
    platform_id: Option<String>,
    operation: Option<i64>,
}

impl Ran {
    fn not_done(outcome: Outcome, operation: Option<i64>) -> Ran {
        Ran {
            outcome,
            platform_id: None,
            operation,
        }
    }
}

/// Runs one step: builds its write (none for a link), puts it in the outbox (or finds the one put there before
/// a restart), and waits for its final state. A failure or skip is recorded here; "done" by the caller, once
/// the link is stored.
async fn run_step(
    cx: &Context<'_>,
    ids: &Ids,
    idx: usize,
    step: &Step,
    enqueued: Option<i64>,
) -> Result<Ran> {
    let write = match to_write(cx, ids, idx, step) {
        Ok(None) => {
            return Ok(Ran {
                outcome: Outcome::Done,
                platform_id: step.platform_id.clone(),
                operation: None,
            });
        }
        Ok(Some(write)) => write,
        Err(why) => {
            cx.app
                .db
                .record_step(cx.run, idx, "skipped", None, Some(json!(why)))
                .await?;
            return Ok(Ran::not_done(Outcome::Skipped(why), None));
        }
    };
    let op = match enqueued {
        Some(id) => id,
        None => {
            let actor = Some(format!("sync-run-{}", cx.run));
            let op = match cx
                .app
                .outbox
                .accept(&cx.app.db, cx.connection, &write, Origin { actor, ..Default::default() })
                .await?
            {
                qiao_store::Enqueued::New(row) | qiao_store::Enqueued::Existing(row) => row.id,
                qiao_store::Enqueued::Conflict(row) => {
                    let why = json!({ "code": "idempotency_conflict", "message": format!("operation {} has this step's key with another request", row.id) });
                    cx.app
                        .db
                        .record_step(cx.run, idx, "failed", Some(row.id), Some(why.clone()))
                        .await?;
                    return Ok(Ran::not_done(Outcome::Failed(why), Some(row.id)));
                }
            };
            cx.app
                .db
                .record_step(cx.run, idx, "enqueued", Some(op), None)
                .await?;
            op
        }
    };
    let row = wait_final(cx.app, op).await?;
    if row.status == Status::Succeeded {
        // A reactivation rides on the update: the flag has its own write.
        let reactivate = matches!(write, Call::UpdateUser { .. })
            && after(step, Field::Active) == Some(&Value::Bool(true));
        if let (true, Some(id)) = (reactivate && cx.can_disable, &step.platform_id) {
            let again = Call::SetUserActive {
                id: id.clone(),
                active: true,
            };
            if let qiao_store::Enqueued::New(r) | qiao_store::Enqueued::Existing(r) = cx
                .app
                .outbox
                .accept(
                    &cx.app.db,
                    cx.connection,
                    &again,
                    Origin { actor: Some(format!("sync-run-{}", cx.run)), ..Default::default() },
                )
                .await?
            {
                let r = wait_final(cx.app, r.id).await?;
                if r.status != Status::Succeeded {
                    let error = r.last_error.unwrap_or(Json::Null);
                    cx.app
                        .db
                        .record_step(cx.run, idx, "failed", Some(r.id), Some(error.clone()))
                        .await?;
                    return Ok(Ran::not_done(Outcome::Failed(error), Some(r.id)));
                }
            }
        }
        let platform_id = match step.kind {
            StepKind::CreateDepartment | StepKind::CreateUser => row
                .result
                .as_ref()
                .and_then(|r| r["body"]["id"].as_str())
                .map(str::to_string),
            _ => step.platform_id.clone(),
        };
        Ok(Ran {
            outcome: Outcome::Done,
            platform_id,
            operation: Some(op),
        })
    } else {
        let error = row.last_error.unwrap_or(Json::Null);
        cx.app
            .db
            .record_step(cx.run, idx, "failed", Some(op), Some(error.clone()))
            .await?;
        Ok(Ran::not_done(Outcome::Failed(error), Some(op)))
    }
}

/// Waits until the operation is final (retries included); the server stopping leaves the run to be resumed.
pub async fn wait_final(app: &Arc<App>, op: i64) -> Result<OperationRow> {
    loop {
        let row = app
            .outbox
            .wait(&app.db, op, WAIT)
            .await?
            .ok_or_else(|| anyhow::anyhow!("operation {op} is gone"))?;
        if row.status.is_final() {
            return Ok(row);
        }
        if app.outbox.is_stopping() {
            anyhow::bail!("the server is stopping; the run resumes at the next start");
        }
    }
}

/// The fields a step empties: removed from the enterprise's directory, so removed on the platform too.
fn cleared(step: &Step) -> Vec<UserField> {
    step.changes
        .iter()
        .filter(|c| step.kind == StepKind::UpdateUser && c.after == Value::Null)
        .filter_map(|c| match c.field {
            Field::Mobile => Some(UserField::Mobile),
            Field::Email => Some(UserField::Email),
            Field::Title => Some(UserField::Title),
            Field::EmployeeNo => Some(UserField::EmployeeNo),
            Field::ManagerId => Some(UserField::ManagerId),
            _ => None,
        })
        .collect()
}

fn text(value: Option<&Value>) -> Option<String> {
    match value {
        Some(Value::Text(t)) => Some(t.clone()),
        _ => None,
    }
}

/// The write a step makes, in the platform's ids; None for a link (no write). An error says why the step
/// cannot be written (a reference with no platform object).
fn to_write(cx: &Context<'_>, ids: &Ids, idx: usize, step: &Step) -> Result<Option<Call>, String> {
    let department = |id: &str| {
        ids.departments
            .get(id)
            .cloned()
            .ok_or_else(|| format!("department {id} has no platform department"))
    };
    let parent = |value: Option<&Value>| -> Result<Option<String>, String> {
        match value {
            None => Ok(None),
            Some(Value::Text(id)) => department(id).map(Some),
            Some(_) => Ok(cx.root.clone()),
        }
    };
    let platform_id = || {
        step.platform_id
            .clone()
            .ok_or_else(|| format!("{} has no platform id", step.id))
    };
    let idempotency_key = Some(format!("qiao-sync-{}-{idx}", cx.run));
    Ok(Some(match step.kind {
        StepKind::LinkDepartment | StepKind::LinkUser => return Ok(None),
        StepKind::CreateDepartment | StepKind::UpdateDepartment => {
            let fields = DepartmentFields {
                name: text(after(step, Field::Name)),
                parent_id: parent(after(step, Field::ParentId))?,
                order: match after(step, Field::Order) {
                    Some(Value::Int(n)) => Some(*n),
                    _ => None,
                },
                // The enterprise's department id as the platform's code where it takes one (Kingdee requires a
                // `FNumber`): the same department reads the same in both systems.
                code: (step.kind == StepKind::CreateDepartment).then(|| step.id.clone()),
                extra: None,
            };
            if step.kind == StepKind::CreateDepartment {
                let fields = DepartmentFields {
                    parent_id: fields.parent_id.or_else(|| cx.root.clone()),
                    ..fields
                };
                Call::CreateDepartment {
                    fields,
                    idempotency_key,
                }
            } else {
                Call::UpdateDepartment {
                    id: platform_id()?,
                    fields,
                }
            }
        }
        StepKind::DeleteDepartment => Call::DeleteDepartment { id: platform_id()? },
        StepKind::CreateUser | StepKind::UpdateUser => {
            let department_ids = match after(step, Field::DepartmentIds) {
                Some(Value::List(list)) => Some(
                    list.iter()
                        .map(|d| department(d))
                        .collect::<Result<Vec<_>, _>>()?,
                ),
                _ => None,
            };
            let manager_id = match text(after(step, Field::ManagerId)) {
                Some(m) => Some(
                    ids.people
                        .get(&m)
                        .cloned()
                        .ok_or_else(|| format!("manager {m} has no platform user"))?,
                ),
                None => None,
            };
            let fields = UserFields {
                // The enterprise's person id becomes the platform's user id where the platform lets the caller
                // choose: one id across systems.
                id: (step.kind == StepKind::CreateUser).then(|| step.id.clone()),
                name: text(after(step, Field::Name)),
                mobile: text(after(step, Field::Mobile)),
                email: text(after(step, Field::Email)),
                title: text(after(step, Field::Title)),
                employee_no: text(after(step, Field::EmployeeNo)),
                department_ids: department_ids.or_else(|| {
                    (step.kind == StepKind::CreateUser)
                        .then(|| cx.root.clone().into_iter().collect())
                }),
                manager_id,
                extra: None,
                clear: cleared(step),
            };
            if step.kind == StepKind::CreateUser {
                Call::CreateUser {
                    fields,
                    idempotency_key,
                }
            } else {
                let only_active = step.changes.iter().all(|c| c.field == Field::Active);
                if only_active {
                    if !cx.can_disable {
                        return Err("reactivating needs a connector with user-status".into());
                    }
                    Call::SetUserActive {
                        id: platform_id()?,
                        active: true,
                    }
                } else {
                    Call::UpdateUser {
                        id: platform_id()?,
                        fields,
                    }
                }
            }
        }
        StepKind::DeactivateUser if cx.can_disable => Call::SetUserActive {
            id: platform_id()?,
            active: false,
        },
        StepKind::DeactivateUser => Call::DeleteUser { id: platform_id()? },
    }))
}

/// Whether the connection's connector can turn accounts off without deleting them.
pub fn can_disable(app: &App, connector: &str) -> bool {
    app.runtime.connectors
        .get(connector)
        .is_some_and(|c| c.exports.has(Capability::UserStatus))
}
