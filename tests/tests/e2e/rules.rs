//! Rules end to end: a rule made through `/v1/rules` reacts to a platform's event with a write on a connection,
//! through the outbox, exactly once; its runs say what it did; echoes of Qiao's own writes do not trigger it.

use std::time::Duration;

use qiao_tests::TestServer;
use qiao_tests::feishu_sim::{FeishuSim, Options};
use serde_json::{Value, json};

fn config(sim: &FeishuSim) -> String {
    let o = &sim.options;
    format!(
        r#"
        [connections.fs]
        connector = "feishu"
        settings = {{ app_id = "{}", api_base = "{}", user_id_type = "user_id", department_id_type = "department_id" }}
        secrets = {{ app_secret = "{}", verification_token = "{}", encrypt_key = "{}" }}
        limits = {{ timeout_ms = 3000 }}
        "#,
        o.app_id, sim.base, o.app_secret, o.verification_token, o.encrypt_key
    )
}

fn texts(sim: &FeishuSim, chat: &str) -> Vec<String> {
    sim.state()
        .messages
        .iter()
        .filter(|m| m.chat_id == chat)
        .map(|m| m.content.as_str().map(str::to_string).unwrap_or_else(|| m.content.to_string()))
        .collect()
}

async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..200 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

#[tokio::test]
async fn a_rule_made_through_the_api_acts_once_on_a_platform_event_and_not_on_echoes() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let qiao = TestServer::start(&["feishu"], &config(&sim)).await.unwrap();
    sim.set_callback_url(&qiao.url("/v1/hooks/fs"));
    sim.state().chats.insert("oc_ops".into(), vec!["alice".into()]);

    let rule = json!({
        "id": "done-to-ops",
        "on": { "connection": "fs", "types": ["task.status_changed", "task.created"] },
        "when": "event.type == 'task.created' || event.payload.to.category == 'done'",
        "actions": [{ "do": "send", "connection": "fs", "body": {
            "to": { "chats": ["oc_ops"] },
            "text": "{{ event.type }}: {{ event.payload.title | default('(untitled)') }}"
        }}]
    });
    let (status, created) = qiao.post("/v1/rules", rule).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["enabled"], true);

    // Qiao's own write: its task.created event is an echo, which the rule does not act on.
    let (status, task) = qiao.post("/v1/connections/fs/tasks", json!({ "title": "Ship 618", "assignees": ["alice"] })).await;
    assert_eq!(status, 201, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    let echo = qiao.wait_for_event("fs", |e| e["type"] == "task.created" && e["subject"] == id.as_str()).await;
    assert!(echo["echo_of"].is_i64(), "marked as the echo of the create: {echo}");

    // A person completes it in Feishu: the rule acts.
    sim.set_task_done(&id, true).unwrap();
    let sent = until("the rule's message", || {
        let t = texts(&sim, "oc_ops");
        (!t.is_empty()).then_some(t)
    })
    .await;
    assert!(sent[0].contains("task.status_changed"), "{sent:?}");

    // The runs are recorded once the batch's writes are made.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (status, runs) = qiao.get("/v1/rules/done-to-ops/runs").await;
    assert_eq!(status, 200, "{runs}");
    let outcomes: Vec<(&str, Value)> =
        runs["runs"].as_array().unwrap().iter().map(|r| (r["outcome"].as_str().unwrap(), r["detail"].clone())).collect();
    assert!(outcomes.iter().any(|(o, d)| *o == "skipped" && d["skipped"].as_str().unwrap().contains("echo")), "{runs}");
    assert!(outcomes.iter().any(|(o, d)| *o == "matched" && d["actions"][0]["operation_id"].is_i64()), "{runs}");
    assert_eq!(texts(&sim, "oc_ops").len(), 1, "one message");
}
