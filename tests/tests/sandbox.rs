//! Hostile connectors: each limit of the sandbox stops one, with a clear error, and the host (and every other
//! connector) keeps answering.

use qiao_tests::TestServer;
use qiao_tests::echo_server::EchoServer;
use serde_json::{Value, json};

async fn server() -> (TestServer, EchoServer) {
    let echo = EchoServer::start().await;
    let config = format!(
        r#"
        [connections.evil]
        connector = "hostile"
        settings = {{ api_base = "{0}" }}
        limits = {{ memory_mb = 32, cpu_ms = 300, timeout_ms = 3000, max_http_requests = 20, max_response_bytes = 1048576 }}
        # One attempt: these tests look at how each misbehaviour is contained and reported, not at retries.
        outbox = {{ max_attempts = 1 }}

        [connections.good]
        connector = "echo"
        settings = {{ api_base = "{0}" }}
        "#,
        echo.base
    );
    (
        TestServer::start(&["hostile", "echo"], &config)
            .await
            .unwrap(),
        echo,
    )
}

/// Asks the hostile connector to misbehave in one way.
async fn attack(qiao: &TestServer, command: &str) -> (u16, Value) {
    qiao.post(
        "/v1/connections/evil/messages",
        json!({ "to": { "users": ["x"] }, "text": command }),
    )
    .await
}

/// After every attack, both connectors still work.
async fn assert_healthy(qiao: &TestServer) {
    let (status, body) = attack(qiao, "hello").await;
    assert_eq!(
        (status, body["message_id"].as_str()),
        (200, Some("ok:hello")),
        "{body}"
    );
    let (status, body) = qiao
        .post(
            "/v1/connections/good/messages",
            json!({ "to": { "users": ["u"] }, "text": "hi" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

fn error(body: &Value) -> (&str, &str) {
    (
        body["error"]["code"].as_str().unwrap_or(""),
        body["error"]["message"].as_str().unwrap_or(""),
    )
}

#[tokio::test]
async fn an_infinite_loop_is_stopped_by_the_cpu_limit() {
    let (qiao, _echo) = server().await;
    let (status, body) = attack(&qiao, "loop").await;
    let (code, message) = error(&body);
    assert_eq!((status, code), (502, "connector_cpu_limit"), "{body}");
    assert!(message.contains("300 ms"), "{message}");
    assert_healthy(&qiao).await;
}

#[tokio::test]
async fn a_memory_bomb_is_stopped_by_the_memory_limit() {
    let (qiao, _echo) = server().await;
    let (status, body) = attack(&qiao, "oom").await;
    let (code, message) = error(&body);
    assert_eq!((status, code), (502, "connector_crashed"), "{body}");
    assert!(message.contains("memory limit of 32 MiB"), "{message}");
    assert_healthy(&qiao).await;
}

#[tokio::test]
async fn a_host_not_on_the_allow_list_is_refused() {
    let (qiao, _echo) = server().await;
    let (status, body) = attack(&qiao, "forbidden-host").await;
    let (code, message) = error(&body);
    assert_eq!((status, code), (403, "forbidden"), "{body}");
    assert!(
        message.contains("https://example.com is not granted to connection evil"),
        "{message}"
    );
    assert_healthy(&qiao).await;
}

#[tokio::test]
async fn a_panic_is_an_error_not_a_crash() {
    let (qiao, _echo) = server().await;
    let (status, body) = attack(&qiao, "panic").await;
    assert_eq!(
        (status, error(&body).0),
        (502, "connector_crashed"),
        "{body}"
    );
    assert_healthy(&qiao).await;
}

#[tokio::test]
async fn a_huge_response_is_cut_at_the_limit() {
    let (qiao, _echo) = server().await;
    let (status, body) = attack(&qiao, "huge-response").await;
    let message = body.to_string();
    assert!(
        status >= 400 && message.contains("1048576"),
        "the too-large error names the limit: {status} {body}"
    );
    assert_healthy(&qiao).await;
}

#[tokio::test]
async fn outbound_requests_per_call_are_capped() {
    let (qiao, _echo) = server().await;
    let (status, body) = attack(&qiao, "many-requests").await;
    assert!(
        status >= 400 && body.to_string().contains("20"),
        "stopped at 20 requests: {status} {body}"
    );
    assert_healthy(&qiao).await;
}

#[tokio::test]
async fn a_slow_call_is_stopped_by_the_wall_clock_limit() {
    let (qiao, _echo) = server().await;
    let started = std::time::Instant::now();
    let (status, body) = attack(&qiao, "slow").await;
    assert!(status >= 400, "{body}");
    assert!(
        started.elapsed().as_secs() < 30,
        "the 60 s upstream did not hold the call"
    );
    assert_healthy(&qiao).await;
}

#[tokio::test]
async fn no_files_no_environment_no_sockets() {
    let (qiao, _echo) = server().await;
    let (status, body) = attack(&qiao, "escape").await;
    assert_eq!(status, 200, "{body}");
    let seen: Value = serde_json::from_str(body["message_id"].as_str().unwrap()).unwrap();
    assert_eq!(seen["env_vars"], 0, "{seen}");
    for probe in ["read_dir", "read", "tcp"] {
        assert!(
            seen[probe].as_str().unwrap().starts_with("err"),
            "{probe} must fail: {seen}"
        );
    }
}

#[tokio::test]
async fn a_missing_capability_answers_501_naming_connector_and_capability() {
    let (qiao, _echo) = server().await;
    let (status, body) = qiao.get("/v1/connections/evil/users/u1").await;
    let (code, message) = error(&body);
    assert_eq!((status, code), (501, "unsupported"), "{body}");
    assert!(
        message.contains("hostile") && message.contains("identity"),
        "{message}"
    );
}

#[tokio::test]
async fn concurrent_attacks_do_not_disturb_good_calls() {
    let (qiao, _echo) = server().await;
    let attacks = ["loop", "oom", "panic", "loop"].map(|c| attack(&qiao, c));
    let good = (0..8).map(|i| {
        qiao.post(
            "/v1/connections/good/messages",
            json!({ "to": { "users": ["u"] }, "text": format!("m{i}") }),
        )
    });
    let (bad, good) = tokio::join!(
        futures::future::join_all(attacks),
        futures::future::join_all(good)
    );
    assert!(bad.iter().all(|(status, _)| *status == 502), "{bad:?}");
    assert!(good.iter().all(|(status, _)| *status == 200), "{good:?}");
}
