//! The Jira connector end to end, as an operator runs a third party's connector: `plugins/jira` (TypeScript, built
//! with the connector kit, signed by its own publisher `acme-labs`, which the config trusts by name) → Qiao's REST
//! API → the Jira Cloud simulator (`qiao_tests::jira_sim`), and the simulator's signed webhooks → `/v1/hooks/jira` →
//! the event log in the shared task vocabulary.

use std::time::Duration;

use qiao_tests::jira_sim::{ALICE, API_TOKEN, BOB, DeliveryKind, Fault, JiraSim, Options, Outcome};
use qiao_tests::signing::{self, PLUGIN_PUBLISHER};
use qiao_tests::TestServer;
use serde_json::{Value, json};

const TASKS: &str = "/v1/connections/jira/tasks";

fn config(sim: &JiraSim) -> String {
    format!(
        r#"
        [connections.jira]
        connector = "jira"
        settings = {{ base_url = "{}", email = "qiao-bot@example.com", project = "OPS" }}
        secrets = {{ api_token = "{API_TOKEN}", webhook_secret = "{}" }}
        limits = {{ timeout_ms = 5000 }}
        outbox = {{ backoff_initial_ms = 100, backoff_max_ms = 2000 }}

        {}
        "#,
        sim.base,
        sim.options.webhook_secret,
        signing::trust(&[PLUGIN_PUBLISHER]),
    )
}

async fn setup_with(options: Options) -> (JiraSim, TestServer) {
    let sim = JiraSim::start(options).await.unwrap();
    let qiao = TestServer::start_as_is(&["jira"], &config(&sim)).await.unwrap();
    sim.set_callback_url(&qiao.url("/v1/hooks/jira"));
    (sim, qiao)
}

async fn setup() -> (JiraSim, TestServer) {
    setup_with(Options::default()).await
}

fn error_code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

async fn create(qiao: &TestServer, body: Value) -> Value {
    let (status, task) = qiao.post(&format!("{TASKS}?wait=30"), body).await;
    assert_eq!(status, 201, "{task}");
    task
}

/// The connector loads only because the config trusts its publisher: with the build key alone it is refused.
#[tokio::test]
async fn the_third_party_publisher_must_be_trusted_by_name() {
    let sim = JiraSim::start(Options::default()).await.unwrap();
    let only_build = config(&sim).replace(&signing::trust(&[PLUGIN_PUBLISHER]), &signing::build_trust());
    let qiao = TestServer::start_as_is(&["jira"], &only_build).await.unwrap();
    let row = qiao.connector_row("jira.wasm").await.expect("listed");
    assert_eq!(row["state"], "failed", "{row}");
    assert!(row["error"].to_string().contains(PLUGIN_PUBLISHER), "names the untrusted publisher: {row}");

    let qiao = TestServer::start_as_is(&["jira"], &config(&sim)).await.unwrap();
    let row = qiao.connector_row("jira.wasm").await.expect("listed");
    assert_eq!(row["trust"]["publisher"], PLUGIN_PUBLISHER, "{row}");
    assert_eq!(row["contract"], "0.2.0", "{row}");
}

/// A task's life through Qiao: created with a Markdown description (stored in Jira as ADF), assigned, moved through
/// the workflow by target status, completed, listed by JQL page by page, commented; each change comes back from
/// Jira's signed webhooks as one event of the shared vocabulary.
#[tokio::test]
async fn a_jira_issue_lives_its_life_through_qiao() {
    let (sim, qiao) = setup().await;
    let task = create(
        &qiao,
        json!({
            "title": "Checkout fails on 618 coupons",
            "description": "Steps:\n\n- add a coupon\n- pay\n\n**Expected**: paid",
            "assignees": [ALICE],
            "labels": ["618"],
            "idempotency_key": "618-checkout"
        }),
    )
    .await;
    let key = task["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("OPS-"), "{task}");
    assert_eq!(task["status"], json!({ "category": "open", "name": "To Do" }), "{task}");
    assert_eq!(task["assignees"], json!([ALICE]));
    assert_eq!(task["url"], format!("{}/browse/{key}", sim.base));
    let stored = sim.issue(&key).expect("in Jira");
    let adf = serde_json::to_string(&stored.description).unwrap();
    assert!(adf.contains(r#""type":"doc""#) && adf.contains(r#""type":"bulletList""#), "ADF in Jira: {adf}");

    let (status, got) = qiao.get(&format!("{TASKS}/{key}")).await;
    assert_eq!(status, 200, "{got}");
    assert!(got["description"].as_str().unwrap().contains("- add a coupon"), "Markdown back: {got}");

    // Moved by target status name: Jira's transitions are named otherwise ("Send to Test" leads to 测试中).
    let (status, moved) = qiao.post(&format!("{TASKS}/{key}/move?wait=30"), json!({ "status": "in_progress" })).await;
    assert_eq!((status, &moved["status"]["name"]), (200, &json!("In Progress")), "{moved}");
    let (status, moved) = qiao.post(&format!("{TASKS}/{key}/move?wait=30"), json!({ "transition": "测试中" })).await;
    assert_eq!(status, 200, "{moved}");
    assert_eq!(moved["status"], json!({ "category": "in_progress", "name": "测试中" }), "{moved}");
    qiao.wait_for_event("jira", |e| {
        e["type"] == "task.status_changed"
            && e["subject"] == key.as_str()
            && e["payload"]["from"]["name"] == "In Progress"
            && e["payload"]["to"]["name"] == "测试中"
    })
    .await;

    // A status no transition leads to from here: refused with the ones that exist, nothing changed.
    let (status, refused) = qiao.post(&format!("{TASKS}/{key}/move?wait=30"), json!({ "transition": "Archived" })).await;
    assert!(matches!(status, 409 | 422), "{status} {refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("Done"), "names the allowed: {refused}");
    assert_eq!(status_name(&sim, &key), "测试中", "not moved");

    let (status, done) = qiao.post(&format!("{TASKS}/{key}/complete?wait=30"), json!({})).await;
    assert_eq!((status, &done["status"]["category"]), (200, &json!("done")), "{done}");
    let (status, again) = qiao.post(&format!("{TASKS}/{key}/complete?wait=30"), json!({})).await;
    assert_eq!((status, &again["status"]["category"]), (200, &json!("done")), "a done task is no error: {again}");

    let (status, comment) = qiao
        .post(&format!("{TASKS}/{key}/comments?wait=30"), json!({ "text": "Verified on **staging**" }))
        .await;
    assert_eq!(status, 201, "{comment}");
    qiao.wait_for_event("jira", |e| {
        e["type"] == "task.commented" && e["subject"] == key.as_str() && e["payload"]["comment"]["id"] == comment["id"]
    })
    .await;

    // Listed by JQL, three pages of two.
    for n in 0..4 {
        create(&qiao, json!({ "title": format!("batch {n}"), "assignees": [BOB] })).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("{TASKS}?limit=2&query={}", urlencode(&format!("assignee = \"{BOB}\" ORDER BY created ASC")));
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={}", urlencode(c)));
        }
        let (status, page) = qiao.get(&path).await;
        assert_eq!(status, 200, "{page}");
        for t in page["tasks"].as_array().unwrap() {
            seen.push(t["title"].as_str().unwrap().to_string());
        }
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => break,
        }
        assert!(seen.len() <= 4, "paging ends: {seen:?}");
    }
    assert_eq!(seen, ["batch 0", "batch 1", "batch 2", "batch 3"]);
    assert!(sim.count("/rest/api/3/search/jql") >= 2, "searched with search/jql");
    assert_eq!(sim.count("/rest/api/3/search?"), 0, "never the removed /search");

    let created = qiao.events("jira").await;
    let types: Vec<&str> = created.iter().filter(|e| e["subject"] == key.as_str()).filter_map(|e| e["type"].as_str()).collect();
    assert!(types.contains(&"task.created"), "{types:?}");
    assert!(!types.iter().any(|t| t.starts_with("jira.")), "every event has a shared name: {types:?}");
}

/// Webhooks: a forged or unsigned one is refused (401) and stores nothing; a delivery Jira sends again (same
/// `X-Atlassian-Webhook-Identifier`) is stored once; a change made by a person in Jira arrives as an event.
#[tokio::test]
async fn forged_webhooks_are_refused_and_redeliveries_stored_once() {
    let (sim, qiao) = setup().await;
    let key = sim.create_as(ALICE, json!({ "project": { "key": "OPS" }, "summary": "From Jira", "issuetype": { "name": "Task" } })).unwrap();
    sim.transition_as(&key, "In Progress", ALICE).unwrap();
    let moved = qiao
        .wait_for_event("jira", |e| e["type"] == "task.status_changed" && e["subject"] == key.as_str())
        .await;
    assert_eq!(moved["payload"]["actor"], ALICE, "{moved}");
    assert_eq!(moved["payload"]["to"], json!({ "category": "in_progress", "name": "In Progress" }), "{moved}");
    sim.wait_for_deliveries(2, Duration::from_secs(10)).await.unwrap();
    let before = qiao.events("jira").await.len();

    let delivered = sim.deliveries();
    let transition = delivered.iter().find(|d| d.event == "jira:issue_updated").expect("the transition's delivery");
    assert_eq!(sim.redeliver(&transition.identifier).await.unwrap(), 200, "a redelivery is acknowledged");
    let payload = transition.payload();
    assert_eq!(sim.send_forged(&payload, Some("not-the-secret")).await.unwrap(), 401);
    assert_eq!(sim.send_forged(&payload, None).await.unwrap(), 401);
    let forged: Vec<_> = sim.deliveries().into_iter().filter(|d| d.kind == DeliveryKind::Forged).collect();
    assert!(forged.iter().all(|d| d.outcome == Outcome::Failed), "Jira does not retry a 401");

    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(qiao.events("jira").await.len(), before, "nothing more stored");
}

/// Jira's per-issue write limit holds back only that issue's writes: a write to another issue goes straight on,
/// and the throttled one is retried after Jira's `Retry-After` and succeeds.
#[tokio::test]
async fn a_per_issue_rate_limit_holds_back_only_that_issue() {
    let (sim, qiao) = setup().await;
    let hot = create(&qiao, json!({ "title": "hot" })).await["id"].as_str().unwrap().to_string();
    let cold = create(&qiao, json!({ "title": "cold" })).await["id"].as_str().unwrap().to_string();
    sim.inject(&format!("/rest/api/3/issue/{hot}"), Fault::RateLimit("jira-per-issue-on-write".into()), 1);

    let (status, queued) = qiao.patch(&format!("{TASKS}/{hot}?wait=0"), json!({ "title": "hot, renamed" })).await;
    assert_eq!(status, 202, "{queued}");
    let (status, other) = qiao.patch(&format!("{TASKS}/{cold}?wait=30"), json!({ "title": "cold, renamed" })).await;
    assert_eq!((status, &other["title"]), (200, &json!("cold, renamed")), "another issue is not held: {other}");

    let op = queued["id"].as_i64().unwrap();
    let done = wait_for_operation(&qiao, op).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(done["attempts"].as_i64().unwrap() >= 2, "{done}");
    assert_eq!(sim.issue(&hot).unwrap().summary, "hot, renamed");
    let refused: Vec<_> = sim.calls().into_iter().filter(|c| c.status == 429).map(|c| c.path).collect();
    assert_eq!(refused, [format!("/rest/api/3/issue/{hot}")], "one 429, for the hot issue");
}

/// Jira's field errors keep Jira's words and field names: a description given as plain text where Jira takes only
/// ADF, an unknown assignee, an issue that does not exist.
#[tokio::test]
async fn jira_errors_keep_its_messages_and_field_names() {
    let (_sim, qiao) = setup().await;
    let (status, body) = qiao
        .post(&format!("{TASKS}?wait=30"), json!({ "title": "plain", "extra": { "description": "plain text, not ADF" } }))
        .await;
    assert!(matches!(status, 400 | 422), "{status} {body}");
    let text = body.to_string();
    assert!(text.contains("description") && text.contains("Atlassian Document"), "Jira's field and words: {body}");

    let (status, body) = qiao.get(&format!("{TASKS}/OPS-9999")).await;
    assert_eq!((status, error_code(&body)), (404, "not_found"), "{body}");
    assert!(body.to_string().contains("Issue does not exist"), "{body}");
}

fn status_name(sim: &JiraSim, key: &str) -> String {
    let status = sim.issue(key).expect("in Jira").status;
    sim.state().workflow.status(&status).expect("a workflow status").name.clone()
}

async fn wait_for_operation(qiao: &TestServer, id: i64) -> Value {
    let start = std::time::Instant::now();
    loop {
        let (_, op) = qiao.get(&format!("/v1/operations/{id}")).await;
        if matches!(op["status"].as_str(), Some("succeeded" | "failed" | "dead")) {
            return op;
        }
        assert!(start.elapsed() < Duration::from_secs(20), "operation {id} did not finish: {op}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn urlencode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}
