//! The operator console in a real browser: Debian's chromium, driven by playwright-core from
//! `tests/console/console.mjs` (installed by `scripts/install-chromium.sh`). A platform goes down, a write to it
//! is dead-lettered, the console shows it; a read-only key sees it without the means to retry, and the API
//! refuses that key's retry; the platform comes back and the retry made in the console succeeds.
//! Screenshots of every pane are left in `target/console-screenshots/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use qiao_tests::echo_server::{EchoServer, hex_hmac};
use qiao_tests::feishu_sim::{Fault, FeishuSim, Options};
use qiao_tests::{TestServer, client_with_key, operations, read};
use serde_json::{Value, json};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

/// One step of the browser script; panics with its output unless it printed `ok STEP` and exited 0.
async fn browser(qiao: &TestServer, step: &str, key: &str, op: i64) -> String {
    let script = root().join("tests/console/console.mjs");
    assert!(
        Path::new("/usr/bin/chromium").exists() && root().join("tests/console/node_modules/playwright-core").exists(),
        "the console test needs chromium and playwright-core: run scripts/install-chromium.sh (as root for apt-get)"
    );
    let run = tokio::process::Command::new("node")
        .arg(&script)
        .arg(step)
        .current_dir(root().join("tests/console"))
        .env("QIAO_URL", &qiao.base)
        .env("QIAO_KEY", key)
        .env("QIAO_OP", op.to_string())
        .env("QIAO_SHOTS", root().join("target/console-screenshots"))
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .unwrap_or_else(|_| panic!("the browser step {step} took over two minutes"))
        .expect("node runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.lines().any(|l| l == format!("ok {step}")),
        "browser step {step} failed ({}):\n{stdout}\n{stderr}",
        output.status
    );
    stdout
}

async fn retry_as(qiao: &TestServer, key: &str, op: i64) -> (u16, Value) {
    let client = client_with_key(key);
    read(client.post(qiao.url(&format!("/v1/operations/{op}/retry"))).send().await.unwrap()).await
}

#[tokio::test]
async fn an_operator_sees_a_dead_letter_in_the_console_and_retries_it() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let echo = EchoServer::start().await;
    let config = format!(
        "{}\n[connections.main]\nconnector = \"echo\"\nsettings = {{ api_base = \"{}\" }}\n\
         secrets = {{ token = \"s3cret-token\" }}\n",
        operations::feishu_config(&sim, &[("fs", 1000, "max_attempts = 2, backoff_initial_ms = 50, backoff_max_ms = 100")]),
        echo.base
    );
    let qiao = TestServer::start(&["feishu", "echo"], &config).await.unwrap();

    // The page itself is open and says where it may load from; the API behind it is not.
    let page = reqwest::get(qiao.url("/console")).await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-security-policy"].to_str().unwrap().contains("frame-ancestors 'none'"));
    let (status, body) = read(reqwest::get(qiao.url("/v1/auth/me")).await.unwrap()).await;
    assert_eq!((status, body["error"]["code"].as_str()), (401, Some("unauthenticated")), "{body}");
    let reader = qiao.create_key(&["status:read", "operations:read", "events:read"], None).await;
    let (status, me) = read(client_with_key(&reader).get(qiao.url("/v1/auth/me")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{me}");
    assert_eq!(me["scopes"], json!(["events:read", "operations:read", "status:read"]), "{me}");
    assert!(!me.to_string().contains(reader.rsplit('_').next().unwrap()), "the secret is not answered: {me}");

    // The platform is down: every send fails, and the write is dead after its two attempts.
    sim.chaos("im/v1/messages", 1.0, vec![Fault::Status(502)]);
    let (status, op) = qiao
        .post("/v1/connections/fs/messages?wait=0", json!({ "to": { "users": ["alice"] }, "text": "from the console" }))
        .await;
    assert_eq!(status, 202, "{op}");
    let id = op["id"].as_i64().unwrap();
    let (_, dead) = qiao.get(&format!("/v1/operations/{id}?wait=20")).await;
    assert_eq!(dead["status"], "dead", "{dead}");

    // Something in each pane: an event whose payload carries markup (shown as text), and a subscriber.
    let payload = r#"{"note":"<img src=x onerror=window.__xss=1>"}"#;
    let hook = qiao
        .client
        .post(qiao.url("/v1/hooks/main/callback"))
        .header("x-echo-signature", hex_hmac("s3cret-token", payload))
        .header("x-event-id", "console-1")
        .header("content-type", "application/json")
        .body(payload)
        .send()
        .await
        .unwrap();
    assert_eq!(hook.status(), 200);
    let (status, body) = qiao
        .post("/v1/subscriptions", json!({ "url": format!("{}/ping", echo.base), "types": ["*"] }))
        .await;
    assert_eq!(status, 201, "{body}");

    let seen = browser(&qiao, "admin-sees-dead", &qiao.api_key, id).await;
    assert!(seen.contains("unavailable") || seen.contains("502"), "the console shows the platform's failure: {seen}");

    // A read-only key sees the dead letter but no button, and the API refuses its retry anyway.
    browser(&qiao, "reader", &reader, id).await;
    let (status, body) = retry_as(&qiao, &reader, id).await;
    assert_eq!((status, body["error"]["code"].as_str()), (403, Some("insufficient_scope")), "{body}");
    let (_, still) = qiao.get(&format!("/v1/operations/{id}")).await;
    assert_eq!(still["status"], "dead", "the refused retry changed nothing: {still}");

    // A key limited to the other connection sees only panes that take one connection, and not the dead letter.
    let limited = qiao.create_key(&["admin"], Some(&["main"])).await;
    browser(&qiao, "limited", &limited, id).await;

    // The platform is back; the retry made in the console goes through.
    sim.chaos("im/v1/messages", 0.0, vec![]);
    browser(&qiao, "admin-retries", &qiao.api_key, id).await;
    let (_, done) = qiao.get(&format!("/v1/operations/{id}")).await;
    assert_eq!(done["status"], "succeeded", "{done}");
    assert!(
        sim.state().messages.iter().any(|m| format!("{m:?}").contains("from the console")),
        "the platform got the message"
    );
    let (_, audit) = qiao.get("/v1/audit?limit=1000").await;
    let retried = "POST /v1/operations/{id}/retry";
    let entries = audit["entries"].as_array().unwrap();
    assert!(
        entries.iter().any(|e| e["action"] == retried && e["status"] == 202),
        "the console's retry is in the audit log: {audit}"
    );
    assert!(
        entries.iter().any(|e| e["action"] == retried && e["status"] == 403),
        "so is the refused one: {audit}"
    );
    for pane in ["connectors", "connections", "outbox", "events", "subscribers", "directory", "approvals", "rules", "audit"] {
        assert!(root().join(format!("target/console-screenshots/{pane}.png")).exists(), "no screenshot of {pane}");
    }
}
