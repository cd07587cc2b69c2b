//! `/v1/rules`: rules made through the API (and those of qiao.toml, read-only here except enable/disable), their
//! runs and counters, and `POST /v1/rules/test`, which shows what a rule would do with an event without doing it.
//! The rules run in `qiao_services::rules`.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::subscriptions::start_seq;
use super::{ApiError, AppState, Body};
use qiao_rules::{EventInput, Problems, Rule, RuleSpec};
use qiao_services::rules::{self as engine, known};
use qiao_store::{RuleRow, Saved};

type Result<T> = std::result::Result<T, ApiError>;

const MAX_RUNS: u32 = 500;

fn refused(problems: Problems) -> ApiError {
    let mut e = ApiError::new(
        StatusCode::UNPROCESSABLE_ENTITY,
        "invalid_rule",
        format!("the rule is not valid ({} problem(s)): {}", problems.0.len(), problems.0[0]),
    );
    e.details = Some(json!({ "problems": problems.0 }));
    e
}

fn check(app: &AppState, spec: &RuleSpec) -> Result<Rule> {
    Rule::compile_all(vec![spec.clone()], &known(app)).map_err(refused).map(|mut r| r.remove(0))
}

async fn view(app: &AppState, row: RuleRow) -> Result<Value> {
    let counts = app.db.rule_counts(row.id.clone()).await.map_err(ApiError::internal)?;
    let mut v = json!(row);
    v["counts"] = json!(counts);
    Ok(v)
}

fn from_config() -> ApiError {
    ApiError::new(StatusCode::CONFLICT, "rule_from_config", "this rule is defined in qiao.toml: change it there")
}

fn no_rule(id: &str) -> ApiError {
    ApiError::not_found(format!("no rule {id:?}"))
}

/// `GET /v1/rules`.
pub async fn list(State(app): State<AppState>) -> Result<Json<Value>> {
    let mut rules = Vec::new();
    for row in app.db.rules().await.map_err(ApiError::internal)? {
        rules.push(view(&app, row).await?);
    }
    Ok(Json(json!({ "rules": rules })))
}

/// `GET /v1/rules/{id}`.
pub async fn get(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>> {
    let row = app.db.rule(id.clone()).await.map_err(ApiError::internal)?.ok_or_else(|| no_rule(&id))?;
    Ok(Json(view(&app, row).await?))
}

fn parse_spec(spec: Value) -> Result<RuleSpec> {
    serde_json::from_value(spec).map_err(|e| ApiError::bad_request(format!("not a rule: {e}")))
}

/// `POST /v1/rules`: a rule, plus `from`: `"now"` (default), `"start"`, or the seq of the first event the rule
/// sees (a backfill). 201 with the rule; 422 with every problem if it is not valid; 409 if the id is taken.
pub async fn create(State(app): State<AppState>, Body(body): Body<Value>) -> Result<Response> {
    let mut body = body;
    let from = body.as_object_mut().and_then(|o| o.remove("from"));
    let spec = parse_spec(body)?;
    check(&app, &spec)?;
    let cursor = start_seq(from.as_ref())?.map(|first| first - 1);
    let spec_json = serde_json::to_value(&spec).map_err(|e| ApiError::internal(e.into()))?;
    match app.db.create_rule(spec.id.clone(), spec_json, spec.enabled, cursor).await.map_err(ApiError::internal)? {
        Saved::Done => {}
        _ => return Err(ApiError::new(StatusCode::CONFLICT, "rule_exists", format!("a rule {:?} exists", spec.id))),
    }
    app.rules_changed.send_modify(|n| *n += 1);
    let row = app.db.rule(spec.id.clone()).await.map_err(ApiError::internal)?.ok_or_else(|| no_rule(&spec.id))?;
    Ok((StatusCode::CREATED, Json(view(&app, row).await?)).into_response())
}

/// `PUT /v1/rules/{id}`: replaces the rule's definition; it keeps its place in the event log.
pub async fn replace(State(app): State<AppState>, Path(id): Path<String>, Body(body): Body<Value>) -> Result<Json<Value>> {
    let mut body = body;
    if let Some(o) = body.as_object_mut() {
        o.entry("id").or_insert_with(|| json!(id));
    }
    let spec = parse_spec(body)?;
    if spec.id != id {
        return Err(ApiError::bad_request("the body's id differs from the path's; a rule cannot be renamed"));
    }
    check(&app, &spec)?;
    let spec_json = serde_json::to_value(&spec).map_err(|e| ApiError::internal(e.into()))?;
    match app.db.replace_rule(id.clone(), spec_json).await.map_err(ApiError::internal)? {
        Saved::Done => {}
        Saved::FromConfig => return Err(from_config()),
        _ => return Err(no_rule(&id)),
    }
    app.rules_changed.send_modify(|n| *n += 1);
    get(State(app), Path(id)).await
}

/// `DELETE /v1/rules/{id}`: 204. Its runs are kept.
pub async fn delete(State(app): State<AppState>, Path(id): Path<String>) -> Result<StatusCode> {
    match app.db.delete_rule(id.clone()).await.map_err(ApiError::internal)? {
        Saved::Done => {}
        Saved::FromConfig => return Err(from_config()),
        _ => return Err(no_rule(&id)),
    }
    app.rules_changed.send_modify(|n| *n += 1);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct EnableBody {
    /// `"now"` (default), `"start"`, or the seq of the first event to act on.
    from: Option<Value>,
}

async fn set_enabled(app: AppState, id: String, enabled: bool, from: Option<Value>) -> Result<Json<Value>> {
    let cursor = start_seq(from.as_ref())?.map(|first| first - 1);
    if enabled && let Some(row) = app.db.rule(id.clone()).await.map_err(ApiError::internal)? {
        // A rule stored before a connection was removed must be valid again before it runs.
        check(&app, &parse_spec(row.spec)?)?;
    }
    match app.db.set_rule_enabled(id.clone(), enabled, cursor).await.map_err(ApiError::internal)? {
        Saved::Done => {}
        _ => return Err(no_rule(&id)),
    }
    app.rules_changed.send_modify(|n| *n += 1);
    get(State(app), Path(id)).await
}

/// `POST /v1/rules/{id}/enable` (`{"from": ...}` optional).
pub async fn enable(State(app): State<AppState>, Path(id): Path<String>, body: axum::body::Bytes) -> Result<Json<Value>> {
    let body: EnableBody = match body.is_empty() {
        true => EnableBody::default(),
        false => serde_json::from_slice(&body).map_err(|e| ApiError::bad_request(format!("invalid body: {e}")))?,
    };
    set_enabled(app, id, true, body.from).await
}

/// `POST /v1/rules/{id}/disable`.
pub async fn disable(State(app): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>> {
    set_enabled(app, id, false, None).await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunsQuery {
    after: Option<i64>,
    limit: Option<u32>,
}

/// `GET /v1/rules/{id}/runs?after=SEQ&limit=N`: what the rule did with each event it was triggered by.
pub async fn runs(State(app): State<AppState>, Path(id): Path<String>, Query(q): Query<RunsQuery>) -> Result<Json<Value>> {
    if app.db.rule(id.clone()).await.map_err(ApiError::internal)?.is_none() && q.after.is_none() {
        return Err(no_rule(&id));
    }
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_RUNS);
    let runs = app.db.rule_runs(id, q.after.unwrap_or(0), limit).await.map_err(ApiError::internal)?;
    let next = (runs.len() as u32 == limit).then(|| runs.last().map(|r| r.event_seq)).flatten();
    Ok(Json(json!({ "runs": runs, "next_after": next })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestBody {
    /// A rule (not stored), or `rule_id` of a stored one.
    rule: Option<Value>,
    rule_id: Option<String>,
    /// A stored event, by its seq...
    event_seq: Option<i64>,
    /// ...or an event as it would be stored.
    event: Option<TestEvent>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestEvent {
    connection: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    subject: String,
    #[serde(default)]
    id: Option<String>,
    #[serde(default)]
    payload: Value,
}

/// `POST /v1/rules/test`: what the condition saw, whether it matched, and the exact requests the rule would make
/// (method, path, body), without making them.
pub async fn test(State(app): State<AppState>, Body(b): Body<TestBody>) -> Result<Json<Value>> {
    let spec = match (b.rule, b.rule_id) {
        (Some(rule), None) => parse_spec(rule)?,
        (None, Some(id)) => parse_spec(app.db.rule(id.clone()).await.map_err(ApiError::internal)?.ok_or_else(|| no_rule(&id))?.spec)?,
        _ => return Err(ApiError::bad_request("give exactly one of \"rule\" or \"rule_id\"")),
    };
    let rule = check(&app, &spec)?;
    let event = match (b.event_seq, b.event) {
        (Some(seq), None) => {
            let stored = app.db.event(seq).await.map_err(ApiError::internal)?;
            let stored = stored.ok_or_else(|| ApiError::not_found(format!("no stored event {seq}")))?;
            engine::worker::event_input(&app, &stored, rule.reads_task()).await.map_err(ApiError::internal)?
        }
        (None, Some(e)) => {
            let links = match e.subject.is_empty() {
                true => Default::default(),
                false => app.db.object_links(e.connection.clone(), e.subject.clone()).await.map_err(ApiError::internal)?,
            };
            let (connection, kind, subject) = (e.connection.clone(), e.kind.clone(), e.subject.clone());
            EventInput {
                seq: 0,
                connection: e.connection,
                id: e.id.unwrap_or_else(|| "test".into()),
                kind: e.kind,
                subject: e.subject,
                time_ms: None,
                received_ms: qiao_store::now_ms(),
                payload: e.payload,
                links: links.into_iter().map(|(k, v)| (k, Value::String(v))).collect(),
                echo: false,
                hops: 0,
                task: match rule.reads_task() {
                    true => engine::worker::task_of(&app, &connection, &kind, &subject).await,
                    false => Value::Null,
                },
            }
        }
        _ => return Err(ApiError::bad_request("give exactly one of \"event_seq\" or \"event\"")),
    };
    let lookups = engine::lookups(&app).await.map_err(ApiError::internal)?;
    let triggered = rule.triggered_by(&event);
    let (seen, evaluation) = engine::evaluate_one(&rule, &event, &lookups);
    let writes: Vec<Value> = evaluation
        .writes
        .iter()
        .enumerate()
        .map(|(i, w)| match w {
            Ok(w) => json!(w),
            Err(e) => json!({ "action": i, "error": e }),
        })
        .collect();
    Ok(Json(json!({
        "triggered": triggered,
        "seen": seen,
        "matched": evaluation.matched,
        "error": evaluation.error,
        "skipped": evaluation.skipped,
        "writes": writes,
    })))
}
