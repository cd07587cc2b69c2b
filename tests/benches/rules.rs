//! Rules: how many events per second are evaluated against 100 rules, next to the plain event store's rate measured
//! in the same run on the same events, so the numbers to compare across machines are the ratios.
//!
//! 100 rules over four connections (jira, feishu, dingtalk, wecom), a directory of 2,000 people with an account on
//! each of the three chat and task platforms, and N events (a Jira status change, a Feishu task created, a DingTalk
//! message, in turn):
//!
//! - 60 rules no event triggers (other connections and types);
//! - 30 rules triggered but not matching: 15 decide on the payload alone, 15 look the assignee up by email first;
//! - 10 rules that match some events and render their writes: 4 × "a Jira issue moves to 测试中 → @ the tester in a
//!   Feishu chat, move the linked Feishu task" (one per project), 3 × "a Feishu task tagged 客户反馈 → a DingTalk
//!   chat, @ the sales rep", 3 × "a Feishu task assigned → a Jira issue and a DingTalk notice".
//!
//! Rows:
//!
//! - STORE1: `Db::commit_events` of the N events, one per transaction (one webhook delivery each, as inbound does).
//! - STORE200: the same events, 200 per transaction (a poll's page; the rules worker's batch size).
//! - EVAL: `Rule::evaluate_in` of every event with each rule it triggers, in one `EventScope` per event (what the rules worker does per event,
//!   without IO: `qiao_rules` directly, one thread), writes rendered. Compiling the 100 rules is timed apart.
//! - SERVER: a running server (`TestServer`, echo connectors) with the same 100 rules made through `/v1/rules`,
//!   the same directory (`PUT /v1/directory` and account links) and the N events committed to its event log: the
//!   time from waking the rules worker until every rule's cursor is at the last event: reading the log, the
//!   directory once per batch of 200, the links of each triggered event's object (the same links as EVAL's events
//!   carry, stored beforehand), evaluating, making the writes
//!   through the API's own routes into the outbox (delivered meanwhile to the echo connector), recording the runs.
//! - SERVER90: the same with only the 90 rules that write nothing (a fresh server): the worker's cost apart from
//!   the writes.
//!
//! Needs the connectors built and signed for SERVER (`make build`; skipped with a note otherwise). Run:
//! `cargo bench -p qiao-tests --bench rules`. Small (N = 2,000), for a smoke test, when run without `--bench` (as
//! `cargo test --benches` does), with `--test` or `--quick`, or with `QIAO_BENCH_QUICK=1`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, ensure};
use qiao_contract::bindings::types::Event;
use qiao_directory::model::{Directory, Person};
use qiao_rules::{EventInput, Known, Lookups, Rule, RuleSpec};
use qiao_secrets::MasterKey;
use qiao_store::Db;
use serde_json::{Value, json};

/// People in the directory.
const PEOPLE: usize = 2_000;
/// Events per commit for the batched store baseline (and the rules worker's batch).
const BATCH: usize = 200;
const CONNECTIONS: [&str; 4] = ["jira", "feishu", "dingtalk", "wecom"];

struct Row {
    name: String,
    count: usize,
    seconds: f64,
    label: Option<&'static str>,
    against: Vec<&'static str>,
}

impl Row {
    fn rate(&self) -> f64 {
        self.count as f64 / self.seconds
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = std::env::var("QIAO_BENCH_QUICK").is_ok_and(|v| v == "1")
        || args.iter().any(|a| a == "--test" || a == "--quick")
        || !args.iter().any(|a| a == "--bench");
    let events = if quick { 2_000 } else { 20_000 };
    println!(
        "rules bench ({} mode): {events} events, 100 rules, a directory of {PEOPLE} people",
        if quick { "quick" } else { "full" }
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let specs = rules();
    let inputs: Vec<EventInput> = (0..events).map(event).collect();
    let mut rows = Vec::new();

    rt.block_on(store(&inputs, &mut rows))?;
    evaluate(&specs, &inputs, &mut rows)?;
    // The same server work without the 10 rules that write: what the worker costs apart from the writes.
    let quiet: Vec<RuleSpec> = specs
        .iter()
        .filter(|s| s.id.starts_with("idle-") || s.id.starts_with("miss-"))
        .cloned()
        .collect();
    for (label, specs) in [("SERVER", &specs), ("SERVER90", &quiet)] {
        if let Err(e) = rt.block_on(server(label, specs, &inputs, &mut rows)) {
            println!("\n{label} failed (are the connectors built and signed? `make build`): {e:#}");
        }
    }
    print_table(&rows);
    println!(
        "\nRatios are per-second rates over the named baseline's: EVAL/STORE1 above 1 means the rules keep up with \
         events arriving one per webhook on one core."
    );
    println!("total wall time {:.1} s", started.elapsed().as_secs_f64());
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

// ---- the data ----

fn person_id(i: usize) -> String {
    format!("p{:04}", i % PEOPLE)
}

fn email(i: usize) -> String {
    format!("user{:04}@example.com", i % PEOPLE)
}

fn directory() -> Directory {
    let people = (0..PEOPLE)
        .map(|i| {
            let manager = (i >= 20).then(|| person_id(i / 20));
            serde_json::from_value::<Person>(json!({
                "id": person_id(i), "name": format!("员工 {i}"), "email": email(i),
                "mobile": format!("+86 138{:08}", i), "employee_no": format!("E{i:05}"),
                "title": "工程师", "manager_id": manager, "department_ids": [format!("d{}", i % 40)],
            }))
            .expect("a person")
        })
        .collect();
    let departments = (0..40)
        .map(|d| {
            serde_json::from_value(json!({ "id": format!("d{d}"), "name": format!("部门 {d}") }))
                .expect("a department")
        })
        .collect();
    Directory {
        departments,
        people,
    }
}

/// (person, connection, user id): each person on jira, feishu and dingtalk.
fn accounts() -> Vec<(String, String, String)> {
    (0..PEOPLE)
        .flat_map(|i| {
            [
                ("jira", format!("acc-{i}")),
                ("feishu", format!("ou_{i}")),
                ("dingtalk", format!("ding{i}")),
            ]
            .map(|(c, u)| (person_id(i), c.to_string(), u))
        })
        .collect()
}

fn spec(v: Value) -> RuleSpec {
    serde_json::from_value(v).expect("a rule")
}

/// The 100 rules (see the module's doc).
fn rules() -> Vec<RuleSpec> {
    let mut rules = Vec::new();
    for i in 0..60 {
        let (connection, kind) = match i % 3 {
            0 => ("wecom", "approval.*"),
            1 => ("dingtalk", "approval.status_changed"),
            _ => ("jira", "calendar.event_changed"),
        };
        rules.push(spec(json!({
            "id": format!("idle-{i:02}"),
            "on": { "connection": connection, "types": [kind] },
            "when": format!("event.payload.stage == 'S{i}' && manager(actor) != null"),
            "actions": [{ "do": "send_to_people", "body": { "to": { "people": ["{{ actor.id }}"] }, "text": "{{ event.type }}" } }]
        })));
    }
    for i in 0..30 {
        let when = match i % 2 {
            0 => format!(
                "event.type == 'task.status_changed' && event.payload.to.name == 'Stage {i}'"
            ),
            _ => format!("person_by_email(event.payload.assignee_email).name == 'Nobody {i}'"),
        };
        let on = match i % 3 {
            0 => json!({ "types": ["task.*"] }),
            _ => json!({ "connection": "jira", "types": ["task.status_changed"] }),
        };
        rules.push(spec(json!({
            "id": format!("miss-{i:02}"), "on": on, "when": when,
            "actions": [{ "do": "comment_task", "connection": "jira", "target": "{{ event.subject }}", "body": { "text": "{{ event.payload.title }}" } }]
        })));
    }
    for k in 0..4 {
        rules.push(spec(json!({
            "id": format!("testing-p{k}"),
            "on": { "connection": "jira", "types": ["task.status_changed"] },
            "when": format!("event.payload.to.name == '测试中' && event.payload.project == 'P{k}'"),
            "actions": [
                { "do": "send", "connection": "feishu", "body": {
                    "to": { "chats": ["oc_qa_p{k}"] },
                    "text": "{{ event.subject }} {{ event.payload.title }} 进入测试，请 {{ person_by_email(event.payload.tester_email).name }} 跟进（经理：{{ manager(person_by_email(event.payload.tester_email)).name | default('无') }}）",
                    "mentions": { "users": ["{{ account(person_by_email(event.payload.tester_email), 'feishu') }}"] }
                }},
                { "do": "move_task", "connection": "feishu", "target": "{{ event.links.feishu }}", "body": { "status": "in_progress" } }
            ]
        })));
    }
    for k in 0..3 {
        rules.push(spec(json!({
            "id": format!("feedback-{k}"),
            "on": { "connection": "feishu", "types": ["task.created", "task.updated"] },
            "when": format!("'客户反馈' in event.payload.labels && event.payload.region == 'R{k}'"),
            "actions": [{ "do": "send", "connection": "dingtalk", "body": {
                "to": { "chats": ["cid_customers_{k}"] },
                "markdown": { "title": "客户反馈", "text": "### {{ event.payload.title }}\n{% for l in event.payload.labels %}- {{ l }}\n{% endfor %}销售：{{ person(event.payload.sales_rep).name }}" },
                "mentions": { "users": ["{{ account(event.payload.sales_rep, 'dingtalk') }}"] }
            }}]
        })));
    }
    for k in 0..3 {
        rules.push(spec(json!({
            "id": format!("assigned-{k}"),
            "on": { "connection": "feishu", "types": ["task.created"] },
            "when": format!("size(event.payload.assignees) > 0 && event.payload.region == 'R{k}' && person_of('feishu', event.payload.assignees[0]) != null"),
            "actions": [
                { "do": "create_task", "connection": "jira", "body": {
                    "title": "{{ event.payload.title }}", "description": "来自飞书任务 {{ event.subject }}",
                    "assignees": ["{{ account(person_of('feishu', event.payload.assignees[0]), 'jira') }}"],
                    "extra": { "status": "待开发" }
                }},
                { "do": "send_to_people", "body": {
                    "to": { "people": ["{{ person_of('feishu', event.payload.assignees[0]).id }}"] },
                    "text": "新任务：{{ event.payload.title }}"
                }}
            ]
        })));
    }
    assert_eq!(rules.len(), 100);
    rules
}

/// Event `i`: a Jira status change (1 in 10 to 测试中), a Feishu task created (1 in 2 tagged 客户反馈), or a
/// DingTalk message, in turn.
fn event(i: usize) -> EventInput {
    let (connection, kind, payload) = match i % 3 {
        0 => (
            "jira",
            "task.status_changed",
            json!({
                "title": format!("结算页改版 {i}"), "project": format!("P{}", i % 4), "actor": format!("acc-{}", i % PEOPLE),
                "from": { "name": "开发中", "category": "in_progress" },
                "to": { "name": if i.is_multiple_of(10) { "测试中" } else { "代码评审" }, "category": "in_progress" },
                "assignee_email": email(i + 1), "tester_email": email(i + 2),
            }),
        ),
        1 => (
            "feishu",
            "task.created",
            json!({
                "title": format!("618 活动 {i}"), "region": format!("R{}", i % 5), "actor": format!("ou_{}", i % PEOPLE),
                "labels": if i.is_multiple_of(2) { json!(["客户反馈", "P1"]) } else { json!(["内部"]) },
                "assignees": [format!("ou_{}", (i + 3) % PEOPLE)], "sales_rep": person_id(i + 4),
                "assignee_email": email(i + 3),
            }),
        ),
        _ => (
            "dingtalk",
            "message.received",
            json!({ "text": format!("收到 {i}"), "chat_id": "cid_ops", "actor": format!("ding{}", i % PEOPLE) }),
        ),
    };
    EventInput {
        seq: i as i64 + 1,
        connection: connection.into(),
        id: format!("ev-{i}"),
        kind: kind.into(),
        subject: format!("{connection}-{i}"),
        time_ms: None,
        received_ms: 1_700_000_000_000 + i as i64,
        payload,
        links: match connection {
            "jira" => [("feishu".to_string(), json!(format!("t-{i}")))]
                .into_iter()
                .collect(),
            _ => Default::default(),
        },
        echo: false,
        hops: 0,
        task: Value::Null,
    }
}

fn stored(e: &EventInput) -> Event {
    Event {
        id: e.id.clone(),
        kind: e.kind.clone(),
        subject: e.subject.clone(),
        time_ms: None,
        payload: e.payload.to_string(),
    }
}

// ---- the rows ----

async fn store(inputs: &[EventInput], rows: &mut Vec<Row>) -> Result<()> {
    for (label, per_commit) in [("STORE1", 1), ("STORE200", BATCH)] {
        let dir = tempfile::tempdir()?;
        let db = Db::open(&dir.path().join("q.db"), MasterKey::generate())?;
        let events: Vec<Event> = inputs.iter().map(stored).collect();
        let started = Instant::now();
        let mut committed = 0;
        for (connection, chunk) in chunks(inputs, &events, per_commit) {
            committed += db.commit_events(connection, chunk, None).await?;
        }
        let seconds = started.elapsed().as_secs_f64();
        ensure!(
            committed == inputs.len(),
            "{committed} of {} events stored",
            inputs.len()
        );
        rows.push(Row {
            name: format!("{label}: Db::commit_events, {per_commit} per commit"),
            count: inputs.len(),
            seconds,
            label: Some(label),
            against: vec![],
        });
    }
    Ok(())
}

/// The events in commits of at most `size`, each of one connection (as a webhook or a poll brings them).
fn chunks(inputs: &[EventInput], events: &[Event], size: usize) -> Vec<(String, Vec<Event>)> {
    let mut out: Vec<(String, Vec<Event>)> = Vec::new();
    for (input, event) in inputs.iter().zip(events) {
        match out.last_mut() {
            Some((c, chunk)) if *c == input.connection && chunk.len() < size => {
                chunk.push(event.clone())
            }
            _ => out.push((input.connection.clone(), vec![event.clone()])),
        }
    }
    if size > 1 {
        // Events of one connection together, as a poll's page is.
        out.clear();
        for connection in ["jira", "feishu", "dingtalk"] {
            let mine: Vec<Event> = inputs
                .iter()
                .zip(events)
                .filter(|(i, _)| i.connection == connection)
                .map(|(_, e)| e.clone())
                .collect();
            for chunk in mine.chunks(size) {
                out.push((connection.to_string(), chunk.to_vec()));
            }
        }
    }
    out
}

fn known(c: &str) -> Known {
    match CONNECTIONS.contains(&c) {
        true => Known::Exports(
            ["messaging", "tasks", "chats", "approval", "webhook"]
                .map(String::from)
                .to_vec(),
        ),
        false => Known::Unknown,
    }
}

fn evaluate(specs: &[RuleSpec], inputs: &[EventInput], rows: &mut Vec<Row>) -> Result<()> {
    let started = Instant::now();
    let rules = Rule::compile_all(specs.to_vec(), &known).map_err(|p| anyhow::anyhow!("{p}"))?;
    let compile = started.elapsed();
    let started = Instant::now();
    let lookups = Arc::new(Lookups::new(directory(), accounts()));
    let index = started.elapsed();
    println!(
        "\ncompiling the 100 rules: {:.1} ms; indexing the directory ({PEOPLE} people, {} accounts): {:.1} ms",
        compile.as_secs_f64() * 1e3,
        PEOPLE * 3,
        index.as_secs_f64() * 1e3
    );
    let (mut triggered, mut matched, mut writes, mut failed) = (0usize, 0usize, 0usize, Vec::new());
    let started = Instant::now();
    for event in inputs {
        // As the worker does: one scope per event, shared by the rules it triggers.
        let scope = qiao_rules::EventScope::new(event, &lookups).map_err(anyhow::Error::msg)?;
        for rule in rules
            .iter()
            .filter(|r| r.spec.on.matches(&event.connection, &event.kind))
        {
            triggered += 1;
            let out = rule.evaluate_in(&scope, event, &lookups);
            if let Some(e) = out.error {
                failed.push(format!("{}: {e}", rule.id()));
            }
            matched += usize::from(out.matched);
            for w in out.writes {
                match w {
                    Ok(_) => writes += 1,
                    Err(e) => failed.push(format!("{}: {e}", rule.id())),
                }
            }
        }
    }
    let seconds = started.elapsed().as_secs_f64();
    ensure!(
        failed.is_empty(),
        "{} evaluations failed, first: {}",
        failed.len(),
        failed[0]
    );
    ensure!(matched > 0 && writes > 0, "nothing matched");
    // Of that, what building each evaluation's input costs (the event as JSON, the actor looked up): done again
    // for every rule an event triggers.
    let started = Instant::now();
    for event in inputs {
        for rule in rules
            .iter()
            .filter(|r| r.spec.on.matches(&event.connection, &event.kind))
        {
            std::hint::black_box(rule.input(event, &lookups));
        }
    }
    let input = started.elapsed().as_secs_f64();
    println!(
        "EVAL: {triggered} evaluations ({:.1} rules triggered per event), {matched} matched, {writes} writes rendered; \
         {:.1} us per evaluation, of which {:.1} us building its input (rule.input)",
        triggered as f64 / inputs.len() as f64,
        seconds * 1e6 / triggered as f64,
        input * 1e6 / triggered as f64
    );
    rows.push(Row {
        name: "EVAL: qiao_rules evaluate, 100 rules, 1 thread".into(),
        count: inputs.len(),
        seconds,
        label: Some("EVAL"),
        against: vec!["STORE1", "STORE200"],
    });
    Ok(())
}

async fn server(
    label: &'static str,
    specs: &[RuleSpec],
    inputs: &[EventInput],
    rows: &mut Vec<Row>,
) -> Result<()> {
    let echo = qiao_tests::echo_server::EchoServer::start().await;
    let config: String = CONNECTIONS
        .iter()
        .map(|c| format!("[connections.{c}]\nconnector = \"echo\"\nsettings = {{ api_base = \"{}\" }}\noutbox = {{ rate_per_second = 100000.0, concurrency = 8 }}\n", echo.base))
        .collect();
    // The server's own log at warn, not at the tests' debug level: logging is not what is measured.
    if std::env::var_os("QIAO_LOG").is_none() {
        unsafe { std::env::set_var("QIAO_LOG", "warn") };
    }
    let qiao = qiao_tests::TestServer::start(&["echo"], &config).await?;
    let d = directory();
    let (status, answer) = qiao
        .request(reqwest::Method::PUT, "/v1/directory", Some(json!(d)))
        .await;
    ensure!(
        status == 200,
        "PUT /v1/directory: {status} {}",
        answer.to_string().chars().take(500).collect::<String>()
    );
    let db = qiao.db();
    for (person, connection, user) in accounts() {
        db.set_link(connection, qiao_store::LinkKind::Person, person, user, None)
            .await?;
    }
    for spec in specs {
        let mut body = serde_json::to_value(spec)?;
        body["from"] = json!("start");
        let (status, answer) = qiao.post("/v1/rules", body).await;
        ensure!(
            status == 201,
            "POST /v1/rules {}: {status} {answer}",
            spec.id
        );
    }
    // The links EVAL's events carry (a Jira issue to its Feishu task), as a rule's create would have made them.
    for input in inputs {
        for (connection, object) in &input.links {
            let other = (
                connection.clone(),
                object.as_str().unwrap_or_default().to_string(),
            );
            db.link_objects(
                (input.connection.clone(), input.subject.clone()),
                other,
                "bench".into(),
            )
            .await?;
        }
    }
    let events: Vec<Event> = inputs.iter().map(stored).collect();
    for (connection, chunk) in chunks(inputs, &events, BATCH) {
        db.commit_events(connection, chunk, None).await?;
    }
    let last = db
        .list_events(0, None, u32::MAX)
        .await?
        .last()
        .map(|e| e.seq)
        .context("no events")?;
    // Rules see an event once it is settled (qiao_services::rules::worker::SETTLE, 1.5 s): waited out before the
    // clock starts, so the row measures the work and not that delay.
    tokio::time::sleep(Duration::from_millis(1600)).await;
    let started = Instant::now();
    qiao.app().events_added.send_modify(|n| *n += 1);
    // Watched through the store's rules table (cheap), not `GET /v1/rules`, whose counters count every run and
    // would compete with the worker for the store.
    while db.rules().await?.iter().any(|r| r.cursor < last) {
        ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "the rules worker did not finish"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (_, answer) = qiao.get("/v1/rules").await;
    let mut totals = std::collections::BTreeMap::<String, i64>::new();
    for rule in answer["rules"].as_array().into_iter().flatten() {
        for (outcome, n) in rule["counts"].as_object().into_iter().flatten() {
            *totals.entry(outcome.clone()).or_default() += n.as_i64().unwrap_or(0);
        }
    }
    let (_, ops) = qiao.get("/v1/operations/counts").await;
    println!("{label}: runs by outcome {totals:?}; operations {ops}");
    // Why runs failed, one example per rule (a refused write is the API's answer, kept in the run).
    for rule in answer["rules"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|r| r["counts"]["failed"].as_i64() > Some(0))
    {
        let id = rule["id"].as_str().unwrap_or("");
        let (_, runs) = qiao.get(&format!("/v1/rules/{id}/runs?limit=500")).await;
        if let Some(run) = runs["runs"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|r| r["outcome"] == "failed")
        {
            let detail: String = run["detail"].to_string().chars().take(300).collect();
            println!("  {id}: {} failed, e.g. {detail}", rule["counts"]["failed"]);
        }
    }
    rows.push(Row {
        name: match label {
            "SERVER" => format!(
                "{label}: rules worker of a running server, {} rules",
                specs.len()
            ),
            _ => format!(
                "{label}: the same, the {} rules that write nothing",
                specs.len()
            ),
        },
        count: inputs.len(),
        seconds,
        label: Some(label),
        against: vec!["STORE1", "STORE200", "EVAL"],
    });
    Ok(())
}

fn print_table(rows: &[Row]) {
    let rate_of = |label: &str| rows.iter().find(|r| r.label == Some(label)).map(Row::rate);
    let width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4);
    println!(
        "\n{:<width$}  {:>6}  {:>8}  {:>10}  {:>8}  ratio vs baseline",
        "name", "events", "seconds", "per second", "us/event"
    );
    println!("{}", "-".repeat(width + 70));
    for row in rows {
        let ratios: Vec<String> = row
            .against
            .iter()
            .filter_map(|b| rate_of(b).map(|base| format!("{:.3}x {b}", row.rate() / base)))
            .collect();
        let ratio = if ratios.is_empty() {
            "(baseline)".to_string()
        } else {
            ratios.join(", ")
        };
        println!(
            "{:<width$}  {:>6}  {:>8.3}  {:>10.0}  {:>8.1}  {ratio}",
            row.name,
            row.count,
            row.seconds,
            row.rate(),
            row.seconds * 1e6 / row.count as f64
        );
    }
}
