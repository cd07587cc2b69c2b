//! Fairness between connections: time a connector spends in host functions (hashing through the `crypto` import)
//! is charged to its CPU budget, a crypto call's input is bounded, and each connection's calls have their own
//! bulkhead: a saturated connection answers `connection_busy` (503, Retry-After) while another's calls all pass.
//! Bounded in time; nothing here asserts a duration.

use futures::future::join_all;
use qiao_tests::TestServer;
use serde_json::Value;

async fn server() -> TestServer {
    let config = r#"
        # Hashes in the host until its CPU budget, host time included, is spent.
        [connections.hasher]
        connector = "hostile"
        settings = { api_base = "http://127.0.0.1:9" }
        limits = { cpu_ms = 300, timeout_ms = 20000 }

        # Two calls at once, at most; a third waits 200 ms for a place, then is refused as busy.
        [connections.narrow]
        connector = "hostile"
        settings = { api_base = "http://127.0.0.1:9" }
        limits = { concurrency = 2, queue_wait_ms = 200, cpu_ms = 1500, timeout_ms = 20000 }

        # The neighbour: default limits.
        [connections.calm]
        connector = "hostile"
        settings = { api_base = "http://127.0.0.1:9" }
        "#;
    TestServer::start(&["hostile"], config).await.unwrap()
}

/// Runs a command as a read (`read-status`, not queued): status, the `Retry-After` header, and the body.
async fn read_command(qiao: &TestServer, connection: &str, command: &str) -> (u16, Option<String>, Value) {
    let url = qiao.url(&format!("/v1/connections/{connection}/messages/{command}/read-status"));
    let response = qiao.client.get(url).send().await.expect("request");
    let retry_after = response.headers().get("retry-after").map(|v| v.to_str().unwrap_or_default().to_string());
    let (status, body) = qiao_tests::read(response).await;
    (status, retry_after, body)
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

#[tokio::test]
async fn time_spent_hashing_in_the_host_counts_against_the_cpu_limit() {
    let qiao = server().await;
    let (status, _, body) = read_command(&qiao, "hasher", "hash-loop").await;
    assert_eq!((status, code(&body)), (502, "connector_cpu_limit"), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("300 ms"), "{message}");

    // One crypto call takes at most 4 MiB: more fails the call, naming the function and the bound.
    let (status, _, body) = read_command(&qiao, "hasher", "hash-huge").await;
    assert_eq!((status, code(&body)), (502, "connector_crashed"), "{body}");
    let message = body["error"]["message"].as_str().unwrap_or("");
    assert!(message.contains("crypto.sha256") && message.contains("4 MiB"), "{message}");

    // Bounded host work within the budget answers as before.
    let (status, _, body) = read_command(&qiao, "hasher", "hash-some").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["read"][0], "hashed: 32");
}

#[tokio::test]
async fn a_saturated_connection_answers_busy_while_another_connections_calls_all_pass() {
    let qiao = server().await;
    let narrow = join_all((0..9).map(|_| read_command(&qiao, "narrow", "hash-loop")));
    let calm = async {
        // Started while `narrow` is full, and after: every one passes.
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        let commands: Vec<String> = (0..9).map(|i| format!("hello-{i}")).collect();
        join_all(commands.iter().map(|c| read_command(&qiao, "calm", c))).await
    };
    let (narrow, calm) = tokio::join!(narrow, calm);

    let busy: Vec<&(u16, Option<String>, Value)> = narrow.iter().filter(|(_, _, b)| code(b) == "connection_busy").collect();
    assert!(!busy.is_empty(), "some calls found the connection full: {narrow:?}");
    assert!(busy.len() <= 7, "two places were in use, not fewer: {narrow:?}");
    for (status, retry_after, body) in &busy {
        assert_eq!(*status, 503, "{body}");
        assert_eq!(retry_after.as_deref(), Some("1"), "says when to come back: {body}");
        let message = body["error"]["message"].as_str().unwrap_or("");
        assert!(message.contains("narrow") && message.contains("2 concurrent"), "{message}");
    }
    for (status, _, body) in &narrow {
        assert!(
            code(body) == "connection_busy" || (*status, code(body)) == (502, "connector_cpu_limit"),
            "each call either ran (to its CPU limit) or was refused as busy: {status} {body}"
        );
    }
    for (i, (status, _, body)) in calm.iter().enumerate() {
        assert_eq!(*status, 200, "{body}");
        assert_eq!(body["read"][0], format!("ok:hello-{i}"));
    }
}
