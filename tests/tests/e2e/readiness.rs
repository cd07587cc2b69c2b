//! Starting: the port opens at once and connectors compile in the background. `/readyz` answers 503 until the
//! first scan of the connector directory has ended, then 200; a call made meanwhile waits for its own connector;
//! after it, a connection whose connector no file provides answers 503 `connector_not_loaded` with `Retry-After`.

use std::time::{Duration, Instant};

use qiao_tests::child::QiaoChild;
use qiao_tests::echo_server::EchoServer;

#[tokio::test]
async fn readiness_the_port_opens_before_connectors_compile_and_a_call_waits_for_its_own() {
    // A cold cache compiles the Python connector for seconds on every core it gets.
    let _heavy = qiao_tests::one_heavy_test_at_a_time().await;
    let echo = EchoServer::start().await;
    let config = format!(
        "[connections.main]\nconnector = \"echo\"\nsettings = {{ api_base = \"{}\" }}\n\n\
         [connections.orphan]\nconnector = \"nothing-provides-this\"\n",
        echo.base
    );
    let qiao = QiaoChild::start_cold(&["echo", "echo-py"], &config).await.unwrap();
    let (status, body) = qiao.get("/readyz").await;
    assert_eq!((status, body["ready"].as_bool()), (503, Some(false)), "{body}");

    // Served once echo has compiled, without waiting for the rest of the directory.
    let (status, body) = qiao.get("/v1/connections/main/messages/m-1/read-status").await;
    assert_ne!(body["error"]["code"], "connector_not_loaded", "{status} {body}");

    let started = Instant::now();
    loop {
        let (status, body) = qiao.get("/readyz").await;
        if status == 200 {
            assert_eq!((body["connector_files"].as_u64(), body["failed"].as_u64()), (Some(2), Some(0)), "{body}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(180), "not ready after 3 minutes: {body}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    let refused = qiao.client.get(qiao.url("/v1/connections/orphan/messages/m-1/read-status")).send().await.unwrap();
    assert_eq!(refused.status(), 503);
    assert!(refused.headers().contains_key("retry-after"), "{:?}", refused.headers());
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(body["error"]["code"], "connector_not_loaded", "{body}");
}
