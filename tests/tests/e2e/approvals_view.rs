//! The stored view of approvals: reads answer without asking the platform; callbacks, Qiao's own writes, an
//! explicit refresh and periodic reconciliation keep it current, so a missed callback is repaired.

use std::time::{Duration, Instant};

use qiao_tests::TestServer;
use qiao_tests::feishu_sim::{Fault, FeishuSim, Options};
use serde_json::{Value, json};

fn config(sim: &FeishuSim, reconcile_every_s: u64) -> String {
    let o = &sim.options;
    format!(
        r#"
        [approvals]
        reconcile_every_s = {reconcile_every_s}

        [connections.fs]
        connector = "feishu"
        settings = {{ app_id = "{}", api_base = "{}", user_id_type = "user_id" }}
        secrets = {{ app_secret = "{}", verification_token = "{}", encrypt_key = "{}" }}
        limits = {{ timeout_ms = 2000 }}
        outbox = {{ max_attempts = 1 }}
        "#,
        o.app_id, sim.base, o.app_secret, o.verification_token, o.encrypt_key
    )
}

async fn create_leave(qiao: &TestServer) -> String {
    let leave = json!({ "template": "APPROVAL-LEAVE", "applicant": "alice", "fields": [
        { "name": "widget_reason", "value": "x" }, { "name": "widget_days", "value": "1", "kind": "number" } ] });
    let (status, created) = qiao.post("/v1/connections/fs/approvals", leave).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

async fn status(qiao: &TestServer, id: &str, query: &str) -> Value {
    let (code, body) = qiao.get(&format!("/v1/connections/fs/approvals/{id}{query}")).await;
    assert_eq!(code, 200, "{body}");
    body
}

const GET_INSTANCE: &str = "approval/v4/instances/";

#[tokio::test]
async fn reads_come_from_the_view_and_refresh_when_the_platform_says_so() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let qiao = TestServer::start(&["feishu"], &config(&sim, 0)).await.unwrap();
    let id = create_leave(&qiao).await;

    assert_eq!(status(&qiao, &id, "").await["status"], "pending");
    let asked = sim.count(GET_INSTANCE);
    assert!(asked > 0, "the first read asked the platform");
    assert_eq!(status(&qiao, &id, "").await["status"], "pending");
    assert_eq!(sim.count(GET_INSTANCE), asked, "the second read did not ask the platform");

    // Approved in the Feishu app while no callback reaches Qiao: the view is behind until refreshed.
    sim.advance(&id, true).unwrap();
    assert_eq!(status(&qiao, &id, "").await["status"], "pending", "no callback yet");
    assert_eq!(status(&qiao, &id, "?refresh=true").await["status"], "approved");
    assert_eq!(status(&qiao, &id, "").await["status"], "approved", "stored");

    // With callbacks: the event marks the approval as moved, and the next read refreshes it.
    sim.set_callback_url(&qiao.url("/v1/hooks/fs"));
    let second = create_leave(&qiao).await;
    assert_eq!(status(&qiao, &second, "").await["status"], "pending");
    sim.advance(&second, false).unwrap();
    qiao.wait_for_event("fs", |e| e["subject"] == second.as_str() && e["type"].as_str().unwrap_or("").starts_with("approval."))
        .await;
    assert_eq!(status(&qiao, &second, "").await["status"], "rejected");

    // Qiao's own write (cancel) marks it too.
    let third = create_leave(&qiao).await;
    assert_eq!(status(&qiao, &third, "").await["status"], "pending");
    let (code, body) = qiao.post(&format!("/v1/connections/fs/approvals/{third}/cancel"), json!({})).await;
    assert_eq!(code, 204, "{body}");
    assert_eq!(status(&qiao, &third, "").await["status"], "canceled");

    // The platform is down: the stored view is answered, marked stale.
    sim.inject(GET_INSTANCE, Fault::Status(503), 10);
    let view = status(&qiao, &third, "?refresh=true").await;
    assert_eq!((view["status"].as_str(), view["stale"].as_bool()), (Some("canceled"), Some(true)), "{view}");
}

#[tokio::test]
async fn reconciliation_repairs_a_missed_callback() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let qiao = TestServer::start(&["feishu"], &config(&sim, 1)).await.unwrap();
    let id = create_leave(&qiao).await;
    assert_eq!(status(&qiao, &id, "").await["status"], "pending");
    sim.advance(&id, true).unwrap();
    let start = Instant::now();
    loop {
        if status(&qiao, &id, "").await["status"] == "approved" {
            break;
        }
        assert!(start.elapsed() < Duration::from_secs(15), "the reconciler did not refresh the approval");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
