//! The outbox end to end: writes are accepted (202), delivered with retries through platform faults, de-duplicated
//! where the platform can, dead-lettered when exhausted, and paced per connection.

use std::time::Duration;

use futures::StreamExt;
use qiao_tests::echo_server::EchoServer;
use qiao_tests::feishu_sim::{Fault, FeishuSim, Options};
use qiao_tests::TestServer;
use qiao_tests::operations::{self, all_operations, wait_for_counts};
use serde_json::{Value, json};

/// Feishu connections on one simulator, `(name, outbox settings)`, each with a 1 s call timeout.
fn feishu_config(sim: &FeishuSim, connections: &[(&str, &str)]) -> String {
    let with_timeout: Vec<(&str, u64, &str)> = connections.iter().map(|(n, o)| (*n, 1000, *o)).collect();
    operations::feishu_config(sim, &with_timeout)
}

fn hello(text: &str) -> Value {
    json!({ "to": { "users": ["alice"] }, "text": text })
}

#[tokio::test]
async fn a_write_is_accepted_then_its_result_is_visible() {
    let echo = EchoServer::start().await;
    let config = format!(
        "[connections.main]\nconnector = \"echo\"\nsettings = {{ api_base = \"{}\" }}\n",
        echo.base
    );
    let qiao = TestServer::start(&["echo"], &config).await.unwrap();
    let response = qiao
        .client
        .post(qiao.url("/v1/connections/main/messages"))
        .json(&hello("hi"))
        .send()
        .await
        .unwrap();
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let (status, op) = qiao_tests::read(response).await;
    assert_eq!(status, 202, "{op}");
    assert_eq!(location, format!("/v1/operations/{}", op["id"]));
    assert_eq!((op["operation"].as_str(), op["connection"].as_str()), (Some("send"), Some("main")));
    assert_eq!(op["request"]["message"]["to"]["users"], json!(["alice"]));

    let (status, done) = qiao.get(&format!("{location}?wait=10")).await;
    assert_eq!((status, done["status"].as_str()), (200, Some("succeeded")), "{done}");
    assert_eq!(done["attempts"], 1);
    assert_eq!(done["result"]["status"], 200);
    assert_eq!(done["result"]["body"]["message_id"], "msg-1");
    // The connector got the operation's own key, for the platform's de-duplication.
    assert_eq!(echo.recorded.all()[0]["body"]["idempotency_key"], format!("qiao-op-{}", op["id"]));

    let (_, listed) = qiao.get("/v1/operations?status=succeeded&connection=main").await;
    assert_eq!(listed["operations"].as_array().unwrap().len(), 1, "{listed}");
    let (status, body) = qiao.get("/v1/operations?status=bogus").await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = qiao.get("/v1/operations/999").await;
    assert_eq!(status, 404);
    let (status, body) = qiao.post("/v1/connections/main/messages?wait=61", hello("x")).await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn an_idempotency_key_returns_the_same_operation_or_a_conflict() {
    let echo = EchoServer::start().await;
    let config = format!(
        "[connections.main]\nconnector = \"echo\"\nsettings = {{ api_base = \"{}\" }}\n",
        echo.base
    );
    let qiao = TestServer::start(&["echo"], &config).await.unwrap();
    let post = |body: Value, key: &str| {
        qiao.client
            .post(qiao.url("/v1/connections/main/messages?wait=10"))
            .header("idempotency-key", key)
            .json(&body)
            .send()
    };
    let (status, first) = qiao_tests::read(post(hello("pay day"), "order-42").await.unwrap()).await;
    assert_eq!(status, 200, "{first}");
    let (status, again) = qiao_tests::read(post(hello("pay day"), "order-42").await.unwrap()).await;
    assert_eq!(status, 200, "{again}");
    assert_eq!(again["operation_id"], first["operation_id"]);
    assert_eq!(again["message_id"], first["message_id"]);
    assert_eq!(echo.recorded.all().len(), 1, "sent once");
    assert_eq!(echo.recorded.all()[0]["body"]["idempotency_key"], "order-42");

    let (status, body) = qiao_tests::read(post(hello("another text"), "order-42").await.unwrap()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (409, Some("idempotency_key_reused")), "{body}");

    let mut both = hello("x");
    both["idempotency_key"] = json!("in-body");
    let (status, body) = qiao_tests::read(post(both, "in-header").await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    let (status, body) = qiao_tests::read(post(hello("x"), &"k".repeat(300)).await.unwrap()).await;
    assert_eq!(status, 400, "{body}");
    let recall = qiao
        .client
        .post(qiao.url("/v1/connections/main/messages/msg-1/recall"))
        .header("idempotency-key", "r1")
        .send()
        .await
        .unwrap();
    let (status, body) = qiao_tests::read(recall).await;
    assert_eq!(status, 400, "recall takes no key: {body}");
}

#[tokio::test]
async fn failures_are_retried_then_dead_lettered_and_can_be_retried_or_discarded() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let config = feishu_config(&sim, &[("fs", "max_attempts = 2, backoff_initial_ms = 50, backoff_max_ms = 100")]);
    let qiao = TestServer::start(&["feishu"], &config).await.unwrap();

    // Two gateway errors, then success: one operation, two attempts.
    sim.inject("im/v1/messages", Fault::Status(502), 1);
    let (status, sent) = qiao.post("/v1/connections/fs/messages", hello("retried")).await;
    assert_eq!(status, 200, "{sent}");
    let (_, op) = qiao.get(&format!("/v1/operations/{}", sent["operation_id"])).await;
    assert_eq!(op["attempts"], 2, "{op}");
    assert_eq!(op["last_error"]["code"], "unavailable", "the failure is kept: {op}");

    // Three failures exhaust two attempts: dead, listed, then retried with a fresh budget.
    sim.inject("im/v1/messages", Fault::Status(502), 3);
    let (status, op) = qiao.post("/v1/connections/fs/messages?wait=0", hello("dead")).await;
    assert_eq!(status, 202);
    let id = op["id"].clone();
    let (_, dead) = qiao.get(&format!("/v1/operations/{id}?wait=10")).await;
    assert_eq!((dead["status"].as_str(), dead["attempts"].as_u64()), (Some("dead"), Some(2)), "{dead}");
    let (_, listed) = qiao.get("/v1/operations?status=dead").await;
    assert_eq!(listed["operations"][0]["id"], id);
    let (status, requeued) = qiao.post(&format!("/v1/operations/{id}/retry"), json!({})).await;
    assert_eq!((status, requeued["status"].as_str()), (202, Some("queued")), "{requeued}");
    let (_, done) = qiao.get(&format!("/v1/operations/{id}?wait=10")).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    let (status, _) = qiao.post(&format!("/v1/operations/{id}/retry"), json!({})).await;
    assert_eq!(status, 409, "a succeeded operation is not retried");

    // A missing scope is not retried (the connector reports the refused recipient as invalid input): failed
    // after one attempt, with the platform's message; then discarded.
    sim.inject("im/v1/messages", Fault::MissingScope("im:message".into()), 1);
    let (status, body) = qiao.post("/v1/connections/fs/messages", hello("no scope")).await;
    assert_eq!(status, 422, "{body}");
    assert!(body["error"]["message"].as_str().unwrap().contains("im:message"), "{body}");
    let id = body["error"]["details"]["operation_id"].clone();
    assert_eq!(body["error"]["details"]["attempts"], 1);
    let (status, discarded) = qiao.delete(&format!("/v1/operations/{id}")).await;
    assert_eq!((status, discarded["status"].as_str()), (200, Some("discarded")), "{discarded}");
    let (status, _) = qiao.delete(&format!("/v1/operations/{id}")).await;
    assert_eq!(status, 409);
}

/// The proof: with 30% of platform calls failing (5xx, timeouts before and after the platform acted,
/// rate limits), a burst of 1,000 sends all end delivered, and none twice (Feishu de-duplicates by `uuid`).
#[tokio::test]
async fn a_thousand_sends_through_thirty_percent_faults_are_all_delivered_once() {
    let sim = FeishuSim::start(Options { qps: 10_000, ..Options::default() }).await.unwrap();
    let config = feishu_config(
        &sim,
        &[("fs", "max_attempts = 25, backoff_initial_ms = 50, backoff_max_ms = 500, concurrency = 16, rate_per_second = 1000")],
    );
    let qiao = TestServer::start(&["feishu"], &config).await.unwrap();
    let late = Duration::from_millis(1500);
    sim.chaos(
        "/open-apis/",
        0.3,
        vec![Fault::Status(502), Fault::Internal, Fault::RateLimit, Fault::Delay(late), Fault::LateAnswer(late)],
    );
    let accepted: Vec<(u16, Value)> = futures::stream::iter(0..1000)
        .map(|i| qiao.post("/v1/connections/fs/messages?wait=0", hello(&format!("burst {i}"))))
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(accepted.iter().all(|(status, _)| *status == 202), "every send accepted");
    let counts = wait_for_counts(&qiao, "the burst to settle", Duration::from_secs(240), |c| c["succeeded"] == 1000 || c["dead"].as_u64() > Some(0) || c["failed"].as_u64() > Some(0)).await;
    assert_eq!(counts["succeeded"], 1000, "{counts}");
    sim.chaos("/open-apis/", 0.0, vec![]);

    let ops = all_operations(&qiao, "&connection=fs").await;
    let attempts: u64 = ops.iter().map(|o| o["attempts"].as_u64().unwrap()).sum();
    let failed_first = |code: &str| ops.iter().filter(|o| o["last_error"]["code"] == code).count();
    let retried = ops.iter().filter(|o| o["attempts"].as_u64() > Some(1)).count();
    eprintln!("1000 sends through 30% faults: {attempts} attempts, {retried} sends retried at least once");
    assert!(attempts > 1100, "the faults were real: {attempts} attempts for 1000 sends");
    for code in ["unavailable", "rate_limited", "connector_timeout"] {
        assert!(failed_first(code) > 0, "some sends met {code}");
    }
    let state = sim.state();
    let texts: std::collections::BTreeSet<String> =
        state.messages.iter().map(|m| m.content.to_string()).collect();
    assert_eq!(state.messages.len(), 1000, "one platform message per send, none twice");
    assert_eq!(texts.len(), 1000, "each send's own text");
    for op in &ops {
        let id = op["result"]["body"]["message_id"].as_str().unwrap();
        assert!(state.messages.iter().any(|m| m.message_id == id), "{op}");
    }
}

/// One connection's burst waits behind its own pace; another connection's write goes straight through, and the
/// paced connection never meets the platform's QPS limit.
#[tokio::test]
async fn connections_are_paced_separately_and_under_the_platform_qps() {
    let sim = FeishuSim::start(Options { qps: 10, ..Options::default() }).await.unwrap();
    let config = feishu_config(
        &sim,
        &[("busy", "rate_per_second = 8, concurrency = 2, max_attempts = 1"), ("quiet", "max_attempts = 1")],
    );
    let qiao = TestServer::start(&["feishu"], &config).await.unwrap();
    for i in 0..40 {
        let (status, _) = qiao.post("/v1/connections/busy/messages?wait=0", hello(&format!("b{i}"))).await;
        assert_eq!(status, 202);
    }
    let (status, quiet) = qiao.post("/v1/connections/quiet/messages?wait=10", hello("q")).await;
    assert_eq!(status, 200, "{quiet}");
    let (_, waiting) = qiao.get("/v1/operations?connection=busy&status=queued").await;
    assert!(
        !waiting["operations"].as_array().unwrap().is_empty(),
        "the quiet connection's send finished while the busy one's burst was still queued"
    );
    let counts = wait_for_counts(&qiao, "the burst to settle", Duration::from_secs(30), |c| c["queued"] == 0 && c["running"] == 0).await;
    assert_eq!(counts["succeeded"], 41, "no send met a rate limit (one attempt each): {counts}");
}
