//! The open webhook route under a flood: each connection's token bucket answers 429 with `Retry-After` before any
//! connector runs, another connection's callbacks still get through, and real callbacks pass once it refills.

use qiao_tests::TestServer;
use qiao_tests::feishu_sim::{FeishuSim, Options};
use serde_json::json;

fn config(sim: &FeishuSim) -> String {
    let o = &sim.options;
    let connection = |name: &str, inbound: &str| {
        format!(
            r#"
            [connections.{name}]
            connector = "feishu"
            settings = {{ app_id = "{}", api_base = "{}" }}
            secrets = {{ app_secret = "{}", verification_token = "{}", encrypt_key = "{}" }}
            {inbound}
            "#,
            o.app_id, sim.base, o.app_secret, o.verification_token, o.encrypt_key
        )
    };
    connection("flooded", "inbound = { rate_per_second = 2, burst = 3 }") + &connection("calm", "")
}

#[tokio::test]
async fn a_flood_of_forged_callbacks_is_stopped_per_connection_before_a_connector_runs() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let qiao = TestServer::start(&["feishu"], &config(&sim)).await.unwrap();
    let client = reqwest::Client::new();
    let forged = json!({ "encrypt": "bm90IHJlYWxseQ==" });
    // At once, as a flood comes: a refused callback's answer is delayed (the sender slows itself down), so sent
    // one after another they would let the bucket refill in between.
    let started = std::time::Instant::now();
    let sends = (0..20).map(|_| client.post(qiao.url("/v1/hooks/flooded")).json(&forged).send());
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for response in futures::future::join_all(sends).await {
        let response = response.unwrap();
        if response.status() == 429 {
            retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap().to_string());
        }
        statuses.push(response.status().as_u16());
    }
    assert!(started.elapsed() >= std::time::Duration::from_millis(100), "a refusal is answered after its delay");
    let refused_by_connector = statuses.iter().filter(|s| **s != 429).count();
    assert!((3..=4).contains(&refused_by_connector), "the burst reaches the connector, no more: {statuses:?}");
    assert!(statuses.iter().filter(|s| **s == 429).count() >= 16, "{statuses:?}");
    assert_eq!(retry_after.as_deref(), Some("1"), "says when to come back");

    // Another connection's bucket is its own; and a real callback (the URL check Feishu makes) still passes.
    let (status, _, _) = sim.verify_url(&qiao.url("/v1/hooks/calm")).await.unwrap();
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let (status, _, _) = sim.verify_url(&qiao.url("/v1/hooks/flooded")).await.unwrap();
    assert_eq!(status, 200, "the bucket refilled");
}
