//! Retention and a full store, end to end: old rows are pruned while what is still needed stays; a store at its
//! size limit (`[store] max_size_mb`, SQLite's `max_page_count`) refuses new work with 503 `store_full`, keeps
//! everything it accepted, and delivers it all once space returns.

use std::time::Duration;

use qiao_config::RetentionSettings;
use qiao_tests::TestServer;
use qiao_tests::echo_server::EchoServer;
use qiao_tests::feishu_sim::{FeishuSim, Options};
use serde_json::{Value, json};

const DAY_MS: i64 = 86_400_000;

fn config(echo: &EchoServer, extra: &str) -> String {
    format!("{extra}\n[connections.main]\nconnector = \"echo\"\nsettings = {{ api_base = \"{}\" }}\n", echo.base)
}

fn message(text: &str) -> Value {
    json!({ "to": { "users": ["alice"] }, "text": text })
}

async fn hook(qiao: &TestServer, id: &str, body: &str) -> reqwest::Response {
    qiao.client
        .post(qiao.url("/v1/hooks/main/thing"))
        .header("x-event-id", id)
        .header("content-type", "application/json")
        .body(json!({ "pad": body }).to_string())
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn retention_a_full_store_refuses_new_work_with_503_and_delivers_everything_accepted_once_space_returns() {
    // Writes go to a Feishu simulator (whose answers are small, as platforms' are); events come in on an echo
    // connection.
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let config = |max_size_mb: u64| {
        format!(
            "[store]\nmax_size_mb = {max_size_mb}\n{}\n[connections.main]\nconnector = \"echo\"\n",
            qiao_tests::operations::feishu_config(&sim, &[("fs", 5_000, "")])
        )
    };
    let qiao = TestServer::start(&["feishu", "echo"], &config(1)).await.unwrap();
    let pad = "x".repeat(16_000);
    let mut accepted = vec![];
    let refused = loop {
        assert!(accepted.len() < 200, "a 1 MiB store never filled");
        let response = qiao
            .client
            .post(qiao.url("/v1/connections/fs/messages"))
            .json(&message(&format!("{} {pad}", accepted.len())))
            .send()
            .await
            .unwrap();
        let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        let (status, body) = qiao_tests::read(response).await;
        match status {
            202 | 200 => accepted.push(body["id"].as_i64().unwrap()),
            _ => break (status, body, retry_after),
        }
    };
    let (status, body, retry_after) = refused;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("store_full")), "{body}");
    assert_eq!(retry_after.as_deref(), Some("30"));
    assert!(accepted.len() >= 5, "some work was accepted first: {}", accepted.len());
    // Reads still work; and what was accepted is delivered even now, from the room kept back for it.
    for id in &accepted {
        let (status, op) = qiao.get(&format!("/v1/operations/{id}?wait=20")).await;
        assert_eq!((status, op["status"].as_str()), (200, Some("succeeded")), "{op}");
    }
    let (status, body) = qiao.post("/v1/connections/fs/messages", message("still full")).await;
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("store_full")), "{body}");

    // Webhook events are new work too: refused the same way once they no longer fit (the platform retries them).
    let mut stored = 0;
    let (status, body) = loop {
        let (status, body) = qiao_tests::read(hook(&qiao, &format!("big-{stored}"), &pad).await).await;
        if status != 200 || stored == 100 {
            break (status, body);
        }
        stored += 1;
    };
    assert_eq!((status, body["error"]["code"].as_str()), (503, Some("store_full")), "after {stored} events");

    // Space returns (the operator raises the limit): new work is accepted again, and everything accepted before
    // has reached the platform.
    let qiao = qiao.restart(&config(64)).await.unwrap();
    for id in &accepted {
        let (status, op) = qiao.get(&format!("/v1/operations/{id}")).await;
        assert_eq!((status, op["status"].as_str()), (200, Some("succeeded")), "{op}");
    }
    let (status, body) = qiao.post("/v1/connections/fs/messages", message("after")).await;
    assert!(status == 202 || status == 200, "{body}");
    assert_eq!(hook(&qiao, "small", "ok").await.status(), 200);
}

#[tokio::test]
async fn retention_prunes_succeeded_operations_and_passed_events_and_keeps_the_rest() {
    let echo = EchoServer::start().await;
    let qiao = TestServer::start(&["echo"], &config(&echo, "[retention]\nevents_days = 7\nevery_s = 1")).await.unwrap();
    let mut ops = vec![];
    for i in 0..3 {
        let (status, op) = qiao.post("/v1/connections/main/messages?wait=10", message(&format!("m{i}"))).await;
        assert_eq!(status, 200, "{op}");
        ops.push(op["operation_id"].as_i64().unwrap());
    }
    for id in ["e1", "e2"] {
        assert_eq!(hook(&qiao, id, "p").await.status(), 200);
    }
    // A subscriber that cannot be reached: it has not passed the events.
    let (status, sub) = qiao
        .post("/v1/subscriptions", json!({ "url": "http://127.0.0.1:9/hook", "types": ["*"], "from": "start" }))
        .await;
    assert_eq!(status, 201, "{sub}");

    // The server's own pruner ran (at start, then every second) and found nothing old enough.
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let (_, events) = qiao.get("/v1/events").await;
    assert_eq!(events["events"].as_array().unwrap().len(), 2, "{events}");

    let settings = RetentionSettings { events_days: 7, ..RetentionSettings::default() };
    let later = qiao_store::now_ms() + 31 * DAY_MS;
    let pruned = qiao_services::retention::prune_once(&qiao.db(), &settings, later).await;
    assert_eq!(pruned.get("succeeded_operations"), Some(&3), "{pruned:?}");
    assert_eq!(pruned.get("events"), None, "the subscriber holds them: {pruned:?}");
    for id in &ops {
        let (status, _) = qiao.get(&format!("/v1/operations/{id}")).await;
        assert_eq!(status, 404);
    }
    let (_, events) = qiao.get("/v1/events").await;
    assert_eq!(events["events"].as_array().unwrap().len(), 2);
    let (_, audit) = qiao.get("/v1/audit").await;
    assert!(!audit["entries"].as_array().unwrap().is_empty(), "audit is kept a year: {audit}");

    let (status, _) = qiao.delete(&format!("/v1/subscriptions/{}", sub["id"])).await;
    assert_eq!(status, 204);
    let pruned = qiao_services::retention::prune_once(&qiao.db(), &settings, later).await;
    assert_eq!(pruned.get("events"), Some(&2), "{pruned:?}");
    let (_, events) = qiao.get("/v1/events").await;
    assert!(events["events"].as_array().unwrap().is_empty(), "{events}");
    // New work still gets new ids, never a pruned one's.
    let (_, op) = qiao.post("/v1/connections/main/messages?wait=10", message("again")).await;
    assert!(op["operation_id"].as_i64().unwrap() > *ops.last().unwrap(), "{op}");
}

#[tokio::test]
async fn retention_settings_out_of_range_refuse_to_start_with_a_clear_error() {
    let echo = EchoServer::start().await;
    let err = TestServer::start(&["echo"], &config(&echo, "[retention]\naudit_days = 99999"))
        .await
        .err()
        .expect("refused");
    let err = format!("{err:#}");
    assert!(err.contains("audit_days = 99999") && err.contains("0 keeps forever"), "{err}");
}
