//! Hostile connectors: each limit of the sandbox stops one, with a clear error, and the host (and every other
//! connector) keeps answering.

use qiao_tests::TestServer;
use qiao_tests::echo_server::EchoServer;
use qiao_tests::logs::logged;
use serde_json::{Value, json};

/// Connection `a`'s secret: `b` must never see it, and no log may show it.
const A_SECRET: &str = "a-secret-token-4242";

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

        # Two connections of one connector: `b` tries to read what belongs to `a`.
        [connections.a]
        connector = "hostile"
        settings = {{ api_base = "{0}" }}
        secrets = {{ token = "{A_SECRET}" }}
        outbox = {{ max_attempts = 1 }}

        [connections.b]
        connector = "hostile"
        settings = {{ api_base = "{0}" }}
        outbox = {{ max_attempts = 1 }}

        # Many requests per call, with CPU to spare so only the request cap stops them.
        [connections.busy]
        connector = "hostile"
        settings = {{ api_base = "{0}" }}
        limits = {{ cpu_ms = 10000, max_http_requests = 20 }}

        # Logs a million lines: time enough that only the log budget is in question.
        [connections.loud]
        connector = "hostile"
        settings = {{ api_base = "{0}" }}
        limits = {{ cpu_ms = 300000, timeout_ms = 300000 }}

        # A small kv quota (2 MiB, 1,000 keys), CPU to fill it.
        [connections.hoarder]
        connector = "hostile"
        settings = {{ api_base = "{0}" }}
        limits = {{ cpu_ms = 30000, kv_max_bytes = 2097152, kv_max_keys = 1000 }}
        outbox = {{ max_attempts = 1 }}

        # The connector declares localhost and hostile.invalid; this connection grants only the first (and a host
        # the connector does not declare, which stays unreachable).
        [connections.granted]
        connector = "hostile"
        settings = {{ api_base = "{0}" }}
        hosts = ["LocalHost", "unused.example"]
        outbox = {{ max_attempts = 1 }}
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
    attack_on(qiao, "evil", command).await
}

/// Runs a command on one of the hostile connector's connections, as a send (through the outbox).
async fn attack_on(qiao: &TestServer, connection: &str, command: &str) -> (u16, Value) {
    qiao.post(
        &format!("/v1/connections/{connection}/messages"),
        json!({ "to": { "users": ["x"] }, "text": command }),
    )
    .await
}

/// The text a command answered with (a send's message id), or a panic showing the answer.
fn reply(answer: &(u16, Value)) -> &str {
    let (status, body) = answer;
    assert_eq!(*status, 200, "{body}");
    body["message_id"].as_str().expect("a message id")
}

/// Runs a command as a read (`read-status`, not queued): calls start at once, however many there are.
async fn read_attack(qiao: &TestServer, connection: &str, command: &str) -> (u16, Value) {
    let id: String = command
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b':' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect();
    qiao.get(&format!(
        "/v1/connections/{connection}/messages/{id}/read-status"
    ))
    .await
}

/// Keeps what the servers log in memory from now on, for `logged` (the server log's lines containing a
/// needle); call it before the server starts.
fn capture_log() {
    qiao_tests::logs::remember();
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
    assert_eq!(seen["home"], Value::Null, "{seen}");
    assert_eq!(seen["args"], 0, "{seen}");
    for probe in ["read_dir", "read", "write", "tcp", "udp", "dns"] {
        assert!(
            seen[probe].as_str().unwrap().starts_with("err"),
            "{probe} must fail: {seen}"
        );
    }
    assert_healthy(&qiao).await;
}

#[tokio::test]
async fn one_connection_cannot_read_another_connections_kv_or_secrets() {
    let (qiao, _echo) = server().await;
    // `a` stores a value and has a secret; both are there for `a` (the control).
    assert_eq!(reply(&attack_on(&qiao, "a", "kv-write").await), "wrote");
    assert_eq!(reply(&attack_on(&qiao, "a", "kv-read").await), "value-of-a");
    assert_eq!(reply(&attack_on(&qiao, "a", "has-token").await), "true");

    // `b`, the same connector, looks for them under every name it can think of.
    assert_eq!(reply(&attack_on(&qiao, "b", "kv-read").await), "none");
    assert_eq!(reply(&attack_on(&qiao, "b", "has-token").await), "false");
    let answer = attack_on(&qiao, "b", "snoop:a").await;
    let text = reply(&answer);
    assert!(
        !text.contains("value-of-a") && !text.contains(A_SECRET),
        "b saw a's data: {text}"
    );
    let seen: Value = serde_json::from_str(text).unwrap();
    assert_eq!(seen["connection"], "b", "{seen}");
    assert_eq!(
        seen["own_api_base"], true,
        "b reads its own settings: {seen}"
    );
    let kv = seen["kv"].as_object().unwrap();
    assert!(
        kv.len() >= 10 && kv.contains_key("a:key") && kv.contains_key("../a/key"),
        "{seen}"
    );
    assert!(kv.values().all(Value::is_null), "b found a's kv: {seen}");
    let config = seen["config"].as_object().unwrap();
    assert!(
        config.contains_key("token") && config.contains_key("connections.a.secrets.token"),
        "{seen}"
    );
    assert!(
        config.values().all(Value::is_null),
        "b found a secret or an unset key: {seen}"
    );

    // Nothing of `b`'s attempts changed `a`.
    assert_eq!(reply(&attack_on(&qiao, "a", "kv-read").await), "value-of-a");
    assert_healthy(&qiao).await;
}

#[tokio::test]
async fn many_calls_at_the_request_cap_do_not_starve_another_connection() {
    let (qiao, _echo) = server().await;
    // Reads are not queued by the outbox: all of these run at once, each making its 20 requests.
    let floods = (0..24).map(|_| read_attack(&qiao, "busy", "many-requests"));
    let good = async {
        let mut answers = Vec::new();
        for i in 0..4 {
            answers.push(
                qiao.post(
                    "/v1/connections/good/messages",
                    json!({ "to": { "users": ["u"] }, "text": format!("m{i}") }),
                )
                .await,
            );
        }
        answers
    };
    let (floods, good) = tokio::join!(futures::future::join_all(floods), good);
    for (status, body) in &floods {
        assert!(
            *status >= 400 && body.to_string().contains("20"),
            "each stopped at its 20 requests: {status} {body}"
        );
    }
    for (status, body) in &good {
        assert_eq!(*status, 200, "{body}");
    }
    assert_healthy(&qiao).await;
}

#[tokio::test]
async fn a_million_log_lines_are_cut_at_the_call_budget() {
    capture_log();
    let (qiao, _echo) = server().await;
    let answer = read_attack(&qiao, "loud", "log-flood:1000000:4096").await;
    assert_eq!(answer.0, 200, "the call finishes: {}", answer.1);
    assert_eq!(answer.1["read"], json!(["logged 1000000 lines"]));

    // 4 KiB lines: the 1 MiB budget runs out first, after 256 of them.
    let lines = logged("hostile-flood xxx");
    let bytes: usize = lines.iter().map(String::len).sum();
    assert!(
        !lines.is_empty() && lines.len() <= 1_000,
        "{} lines logged",
        lines.len()
    );
    assert!(
        bytes <= 1024 * 1024 + lines.len() * 512,
        "{bytes} bytes logged (the budget counts messages, a line adds its span and fields)"
    );
    let warned = logged("loud's connector exceeded its log budget");
    assert_eq!(warned.len(), 1, "one warning: {warned:?}");
    let dropped = 1_000_000 - lines.len();
    let summary = logged("dropped_log_lines=");
    assert!(
        summary.iter().any(|l| l.contains("connection=loud")
            && l.contains(&format!("dropped_log_lines={dropped}"))),
        "the call's log line counts the {dropped} dropped: {summary:?}"
    );
    assert_healthy(&qiao).await;
    // The budget is per call: the next call logs again.
    let before = logged("hostile-flood xxx").len();
    let answer = read_attack(&qiao, "loud", "log-flood:3:100").await;
    assert_eq!(answer.0, 200, "{}", answer.1);
    assert_eq!(logged("hostile-flood xxx").len(), before + 3);
}

#[tokio::test]
async fn secrets_are_redacted_from_what_a_connector_logs() {
    capture_log();
    let (qiao, _echo) = server().await;
    assert_eq!(reply(&attack_on(&qiao, "a", "log-secret").await), "logged");
    let lines = logged("hostile secret in the message");
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("message: [redacted]")
            && lines[0].contains("token=[redacted]")
            && lines[0].contains("key-[redacted]=v"),
        "{}",
        lines[0]
    );
    assert!(logged(A_SECRET).is_empty(), "the secret was logged");

    // Nor does a secret in the connector's error reach the caller (or the outbox's store, or the log).
    let (status, body) = attack_on(&qiao, "a", "error-secret").await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["message"], "bad token [redacted]", "{body}");
    assert_eq!(body["error"]["details"]["platform_message"], "platform says: [redacted] is wrong", "{body}");
    assert!(!body.to_string().contains(A_SECRET), "{body}");
    assert_healthy(&qiao).await;
}

#[tokio::test]
async fn a_connection_reaches_only_the_declared_hosts_it_was_granted() {
    capture_log();
    let (qiao, echo) = server().await;
    // The start-up warns about the grant that is missing (other tests' servers may have warned too).
    let warned = logged("connection granted does not grant hosts its connector declares");
    assert!(
        warned.iter().any(|l| l.contains(
            r#"hosts = ["localhost", "unused.example", "hostile.invalid"] in [connections.granted]"#
        )),
        "{warned:?}"
    );
    // Declared and granted, but the name resolves to this machine: refused after resolution, naming the address
    // class, so a granted name cannot reach the host's own services (its API base on loopback still works, below).
    let granted = reply(&attack_on(&qiao, "granted", "fetch:https://localhost/").await).to_string();
    assert!(
        granted.contains("NotAllowed") && granted.contains("resolves to") && granted.contains("loopback")
            && !granted.contains("not granted"),
        "{granted}"
    );

    // Declared, not granted: refused, saying how to grant it.
    let refused =
        reply(&attack_on(&qiao, "granted", "fetch:https://hostile.invalid/").await).to_string();
    assert!(
        refused.contains("NotAllowed")
            && refused.contains("https://hostile.invalid is not granted to connection granted")
            && refused
                .contains(r#"hosts = [\"localhost\", \"unused.example\", \"hostile.invalid\"] in [connections.granted]"#),
        "{refused}"
    );
    // Granted, not declared: still refused.
    let undeclared =
        reply(&attack_on(&qiao, "granted", "fetch:https://unused.example/").await).to_string();
    assert!(
        undeclared.contains("NotAllowed") && undeclared.contains("does not declare unused.example"),
        "{undeclared}"
    );
    // Shut by default: a connection without `hosts` reaches no declared host (its API base still works).
    let shut = reply(&attack_on(&qiao, "evil", "fetch:https://localhost/").await).to_string();
    assert!(
        shut.contains("https://localhost is not granted to connection evil"),
        "{shut}"
    );
    let base =
        reply(&attack_on(&qiao, "evil", &format!("fetch:{}/ping", echo.base)).await).to_string();
    assert_eq!(base, "ok: 200");

    // The difference is shown.
    let (status, body) = qiao.get("/v1/connections").await;
    assert_eq!(status, 200, "{body}");
    let hosts = |name: &str| {
        body["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap()["hosts"]
            .clone()
    };
    assert_eq!(
        hosts("granted"),
        json!({
            "declared": ["localhost", "hostile.invalid"],
            "granted": ["localhost", "unused.example"],
            "missing": ["hostile.invalid"],
            "unused": ["unused.example"],
        })
    );
    assert_eq!(
        hosts("evil")["missing"],
        json!(["localhost", "hostile.invalid"])
    );
    assert_eq!(hosts("evil")["granted"], json!([]));
    assert_healthy(&qiao).await;
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

/// A connector filling its kv stops at the connection's quota with a typed error (`kv_quota`); the store holds no
/// more than the quota, the usage is shown, and another connection's kv still works.
#[tokio::test]
async fn kv_stops_at_the_connections_quota() {
    let (qiao, _echo) = server().await;
    let filled = reply(&attack_on(&qiao, "hoarder", "kv-fill").await).to_string();
    assert!(filled.contains("refused") && filled.contains("kv quota exceeded") && filled.contains("kv_quota"), "{filled}");
    let written: u64 = filled.split_whitespace().nth(1).unwrap().trim_end_matches(';').parse().unwrap();
    assert!((20..=32).contains(&written), "about 2 MiB of 64 KiB values: {filled}");
    let (_, connections) = qiao.get("/v1/connections").await;
    let hoarder = connections["connections"].as_array().unwrap().iter().find(|c| c["name"] == "hoarder").unwrap();
    let bytes = hoarder["kv"]["bytes"].as_u64().unwrap();
    assert!(bytes <= 2_097_152 && bytes > 1_500_000, "{hoarder}");
    assert_eq!(hoarder["limits"]["kv_max_bytes"], 2_097_152);
    assert_eq!(reply(&attack_on(&qiao, "a", "kv-write").await), "wrote");
}

/// A connector answering with its connection's secret: the caller, the stored operation and a read all get
/// `[redacted]` instead.
#[tokio::test]
async fn a_secret_in_a_successful_answer_is_redacted() {
    let (qiao, _echo) = server().await;
    let answer = attack_on(&qiao, "a", "reply-secret").await;
    let text = reply(&answer).to_string();
    assert_eq!(text, "here it is: [redacted]", "{answer:?}");
    let id = answer.1["operation_id"].as_i64().unwrap();
    let (_, op) = qiao.get(&format!("/v1/operations/{id}")).await;
    assert!(!op.to_string().contains(A_SECRET) && op.to_string().contains("[redacted]"), "{op}");
    let (status, read) = read_attack(&qiao, "a", "reply-secret").await;
    assert_eq!(status, 200, "{read}");
    assert!(!read.to_string().contains(A_SECRET) && read.to_string().contains("[redacted]"), "{read}");
}
