//! Who may call Qiao: every route's access rule, walked from the router's own table (`qiao_api::routes`), and
//! the audit log of changes.

use qiao_services::access::Scope;
use qiao_api::{Access, Reach};
use qiao_tests::echo_server::EchoServer;
use qiao_tests::{TestServer, client_with_key, read};
use reqwest::Method;
use serde_json::{Value, json};

async fn server() -> (TestServer, EchoServer) {
    let echo = EchoServer::start().await;
    let config = format!(
        r#"
        [connections.main]
        connector = "echo"
        settings = {{ api_base = "{0}" }}

        [connections.other]
        connector = "echo"
        settings = {{ api_base = "{0}" }}
        "#,
        echo.base
    );
    (TestServer::start(&["echo"], &config).await.unwrap(), echo)
}

/// A concrete request for a route template: `{connection}` is `connection`, ids are 1.
fn concrete(path: &str, connection: &str) -> String {
    path.replace("{connection}", connection)
        .replace("{id}", "1")
        .replace("{seq}", "1")
        .replace("{*rest}", "x")
}

async fn call(client: &reqwest::Client, base: &str, method: &Method, path: &str) -> (u16, Value) {
    // Writes are told not to wait: this test is about who may ask, not about the platform's answer.
    let sep = if path.contains('?') { '&' } else { '?' };
    let url = format!("{base}{path}{sep}wait=0");
    let mut request = client.request(method.clone(), url);
    if [Method::POST, Method::PATCH].contains(method) {
        request = request.json(&json!({}));
    }
    read(request.send().await.unwrap()).await
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn key_routes() -> Vec<(Method, &'static str, Scope, Reach)> {
    qiao_api::routes()
        .into_iter()
        .filter_map(|(method, path, access)| match access {
            Access::Key { scope, reach } => Some((method, path, scope, reach)),
            Access::Open => None,
        })
        .collect()
}

/// An operation made by the admin key, so routes on an operation have one to refuse.
async fn an_operation(qiao: &TestServer) -> i64 {
    let (status, body) = qiao
        .post(
            "/v1/connections/main/messages?wait=30",
            json!({ "to": { "users": ["u1"] }, "text": "hello" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    body["operation_id"].as_i64().unwrap()
}

#[tokio::test]
async fn every_route_but_health_and_webhooks_needs_a_valid_key() {
    let (qiao, _echo) = server().await;
    let revoked = qiao.create_key(&["admin"], None).await;
    let id = revoked.split('_').nth(1).unwrap().to_string();
    qiao_services::access::revoke_key(&qiao.db(), &id).await.unwrap();
    let anonymous = reqwest::Client::new();
    let wrong: Vec<(&str, reqwest::Client)> = vec![
        ("no key", anonymous.clone()),
        ("not a key", client_with_key("hunter2")),
        ("unknown key", client_with_key("qiao_0123456789ab_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")),
        ("revoked key", client_with_key(&revoked)),
    ];
    let routes = key_routes();
    assert!(routes.len() > 30, "the table lists every route: {}", routes.len());
    for (method, path, _, _) in &routes {
        let path = concrete(path, "main");
        for (what, client) in &wrong {
            let (status, body) = call(client, &qiao.base, method, &path).await;
            assert_eq!(status, 401, "{what}: {method} {path}: {body}");
            assert_eq!(code(&body), "unauthenticated", "{what}: {method} {path}: {body}");
        }
    }
    // The answer says what to do, and the revoked key is told it was revoked.
    let (_, body) = call(&anonymous, &qiao.base, &Method::GET, "/v1/events").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("qiao keys create"), "{body}");
    let (_, body) = call(&client_with_key(&revoked), &qiao.base, &Method::GET, "/v1/events").await;
    assert!(body["error"]["message"].as_str().unwrap().contains("revoked"), "{body}");
    let response = anonymous.get(qiao.url("/v1/events")).send().await.unwrap();
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer realm=\"qiao\"",
        "a 401 names the scheme"
    );

    // Open routes need no key: health, and webhooks (which the connector verifies; echo has none: 501).
    let (status, _) = call(&anonymous, &qiao.base, &Method::GET, "/healthz").await;
    assert_eq!(status, 200);
    let (status, body) = call(&anonymous, &qiao.base, &Method::POST, "/v1/hooks/main").await;
    assert_ne!(status, 401, "{body}");
}

#[tokio::test]
async fn every_route_refuses_a_key_without_its_scope_and_serves_one_with_it() {
    let (qiao, _echo) = server().await;
    an_operation(&qiao).await;
    for (method, path, scope, _) in key_routes() {
        let path = concrete(path, "main");
        let others: Vec<&str> = Scope::ALL
            .into_iter()
            .filter(|s| *s != scope && *s != Scope::Admin)
            .map(Scope::as_str)
            .collect();
        let without = client_with_key(&qiao.create_key(&others, None).await);
        let (status, body) = call(&without, &qiao.base, &method, &path).await;
        assert_eq!(status, 403, "{method} {path} without {scope}: {body}");
        assert_eq!(code(&body), "insufficient_scope", "{method} {path}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(scope.as_str()), "{body}");

        let with = client_with_key(&qiao.create_key(&[scope.as_str()], None).await);
        let (status, body) = call(&with, &qiao.base, &method, &path).await;
        assert!(
            status != 401 && !["insufficient_scope", "connection_not_allowed"].contains(&code(&body)),
            "{method} {path} with {scope}: {status} {body}"
        );
    }
}

#[tokio::test]
async fn a_key_limited_to_a_connection_reaches_only_that_connection() {
    let (qiao, _echo) = server().await;
    let op_on_main = an_operation(&qiao).await;
    let limited = client_with_key(&qiao.create_key(&["admin"], Some(&["other"])).await);
    for (method, path, _, reach) in key_routes() {
        let target = concrete(path, "main").replace("/v1/operations/1", &format!("/v1/operations/{op_on_main}"));
        let (status, body) = call(&limited, &qiao.base, &method, &target).await;
        assert_eq!(status, 403, "{method} {target} ({reach:?}): {body}");
        assert_eq!(code(&body), "connection_not_allowed", "{method} {target}: {body}");
        match reach {
            Reach::Path => {
                let (status, body) = call(&limited, &qiao.base, &method, &concrete(path, "other")).await;
                assert!(status != 401 && status != 403 || code(&body) == "forbidden", "{method} {path}: {body}");
            }
            Reach::Query => {
                let (status, body) = call(&limited, &qiao.base, &method, &format!("{path}?connection=other")).await;
                assert_eq!(status, 200, "{method} {path}?connection=other: {body}");
                let (status, _) = call(&limited, &qiao.base, &method, &format!("{path}?connection=main")).await;
                assert_eq!(status, 403);
            }
            Reach::All | Reach::Operation => {}
        }
    }
}

#[tokio::test]
async fn a_key_reads_back_its_own_operations_but_not_others() {
    let (qiao, _echo) = server().await;
    let sender = client_with_key(&qiao.create_key(&["messages:send"], None).await);
    let response = sender
        .post(qiao.url("/v1/connections/main/messages?wait=0"))
        .json(&json!({ "to": { "users": ["u1"] }, "text": "hi" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let (status, body) = read(sender.get(qiao.url(&format!("{location}?wait=30"))).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "succeeded", "{body}");
    assert!(body["request"].is_object(), "its maker sees the request: {body}");

    let another = client_with_key(&qiao.create_key(&["messages:send"], None).await);
    let (status, body) = read(another.get(qiao.url(&location)).send().await.unwrap()).await;
    assert_eq!((status, code(&body)), (403, "insufficient_scope"), "{body}");
    let (status, body) = read(sender.get(qiao.url("/v1/operations")).send().await.unwrap()).await;
    assert_eq!((status, code(&body)), (403, "insufficient_scope"), "listing everyone's needs operations:read: {body}");
}

#[tokio::test]
async fn changes_are_in_the_audit_log_with_who_what_where_and_result() {
    let (qiao, _echo) = server().await;
    let key = qiao.create_key(&["messages:send"], Some(&["main"])).await;
    let key_id = key.split('_').nth(1).unwrap().to_string();
    let oa = client_with_key(&key);
    let send = |connection: &'static str| {
        oa.post(qiao.url(&format!("/v1/connections/{connection}/messages?wait=30")))
            .json(&json!({ "to": { "users": ["u1"] }, "text": "audited" }))
            .send()
    };
    let (status, sent) = read(send("main").await.unwrap()).await;
    assert_eq!(status, 200, "{sent}");
    let (status, _) = read(send("other").await.unwrap()).await;
    assert_eq!(status, 403);
    let (status, _) = read(oa.get(qiao.url("/v1/connections/main/messages/m1/read-status")).send().await.unwrap()).await;
    assert_eq!(status, 403, "a refused read is not a change");

    let (status, body) = qiao.get(&format!("/v1/audit?actor={key_id}")).await;
    assert_eq!(status, 200, "{body}");
    let entries = body["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 2, "the send and the refused send, not the read: {body:#}");
    let ok = &entries[0];
    assert_eq!(ok["actor"], key_id);
    assert_eq!(ok["actor_name"], "test-key");
    assert_eq!(ok["action"], "POST /v1/connections/{connection}/messages");
    assert_eq!(ok["target"], "/v1/connections/main/messages");
    assert_eq!(ok["connection"], "main");
    // Committed with its operation, as accepted, though the caller waited and was answered the result (200).
    assert_eq!(ok["status"], 202);
    assert_eq!(ok["operation_id"], sent["operation_id"]);
    let refused = &entries[1];
    assert_eq!((refused["connection"].as_str(), refused["status"].as_u64()), (Some("other"), Some(403)));
    assert_eq!(refused["error"], "connection_not_allowed");

    // Key changes made with the CLI (here: the library call behind it) are there too, by `cli`.
    let (_, body) = qiao.get("/v1/audit?actor=cli").await;
    let actions: Vec<&str> = body["entries"].as_array().unwrap().iter().map(|e| e["action"].as_str().unwrap()).collect();
    assert!(actions.iter().filter(|a| **a == "keys create").count() >= 2, "{body}");
    // The log is read with audit:read, and by connection for limited keys.
    let auditor = client_with_key(&qiao.create_key(&["audit:read"], Some(&["main"])).await);
    let (status, body) = read(auditor.get(qiao.url("/v1/audit?connection=main")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert!(body["entries"].as_array().unwrap().iter().all(|e| e["connection"] == "main"), "{body}");
}

/// A write answered 202 has its audit row written with its operation (one transaction); a repeat of it with the
/// same key, and a conflicting one, get rows of their own with what they were answered.
#[tokio::test]
async fn an_accepted_write_is_audited_with_its_operation_and_its_repeats_on_their_own() {
    let (qiao, _echo) = server().await;
    let key = qiao.create_key(&["messages:send"], None).await;
    let key_id = key.split('_').nth(1).unwrap().to_string();
    let oa = client_with_key(&key);
    let send = |text: &'static str, wait: &'static str| {
        oa.post(qiao.url(&format!("/v1/connections/main/messages{wait}")))
            .header("idempotency-key", "audit-1")
            .json(&json!({ "to": { "users": ["u1"] }, "text": text }))
            .send()
    };
    let (status, accepted) = read(send("first", "").await.unwrap()).await;
    assert_eq!(status, 202, "{accepted}");
    let (again_status, again) = read(send("first", "?wait=0").await.unwrap()).await;
    assert!(again_status == 202 || again_status == 200, "the same operation, as it stands: {again}");
    assert_eq!(again["id"].as_i64().or(again["operation_id"].as_i64()), accepted["id"].as_i64());
    let (status, conflict) = read(send("other text", "").await.unwrap()).await;
    assert_eq!(status, 409, "{conflict}");

    let (_, body) = qiao.get(&format!("/v1/audit?actor={key_id}")).await;
    let entries = body["entries"].as_array().unwrap();
    let rows: Vec<(u64, Option<i64>)> =
        entries.iter().map(|e| (e["status"].as_u64().unwrap(), e["operation_id"].as_i64())).collect();
    assert_eq!(rows.len(), 3, "{body:#}");
    assert_eq!(rows[0], (202, accepted["id"].as_i64()), "{body:#}");
    assert_eq!(rows[1], (u64::from(again_status), accepted["id"].as_i64()), "{body:#}");
    assert_eq!(rows[2].0, 409, "{body:#}");
    assert_eq!(entries[2]["error"], "idempotency_key_reused");
    assert!(entries.iter().all(|e| e["target"] == "/v1/connections/main/messages"), "{body:#}");
}

#[tokio::test]
async fn keys_made_and_revoked_with_the_cli_work_on_a_running_server() {
    let (qiao, _echo) = server().await;
    let cli = |args: &[&str]| {
        let out = std::process::Command::new(qiao_tests::child::qiao_binary())
            .args(args)
            .arg("--data-dir")
            .arg(&qiao.data_dir)
            .output()
            .unwrap();
        (out.status.success(), String::from_utf8_lossy(&out.stdout).to_string(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (ok, key, err) = cli(&["keys", "create", "--name", "oa-server", "--scope", "events:read", "--connection", "main"]);
    assert!(ok, "{err}");
    let key = key.trim().to_string();
    let client = client_with_key(&key);
    let (status, body) = read(client.get(qiao.url("/v1/events?connection=main")).send().await.unwrap()).await;
    assert_eq!(status, 200, "{body}");

    let (ok, list, err) = cli(&["keys", "list"]);
    assert!(ok, "{err}");
    assert!(list.contains("oa-server") && list.contains("events:read") && !list.contains(&key), "{list}");

    let (ok, _, err) = cli(&["keys", "create", "--name", "x", "--scope", "messages:write"]);
    assert!(!ok && err.contains("messages:send"), "an unknown scope lists the known ones: {err}");

    let id = key.split('_').nth(1).unwrap();
    let (ok, out, err) = cli(&["keys", "revoke", id]);
    assert!(ok && out.contains("revoked"), "{out}{err}");
    // A running server trusts a key it read for at most a second (`access::KEY_CACHE_TTL`).
    let revoked = std::time::Instant::now();
    let (status, body) = loop {
        let (status, body) = read(client.get(qiao.url("/v1/events?connection=main")).send().await.unwrap()).await;
        if status != 200 || revoked.elapsed() > std::time::Duration::from_secs(3) {
            break (status, body);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!((status, code(&body)), (401, "unauthenticated"), "revoked within a second: {body}");
    assert!(revoked.elapsed() < std::time::Duration::from_millis(1500), "took {:?}", revoked.elapsed());
    let (ok, _, err) = cli(&["keys", "revoke", "ffffffffffff"]);
    assert!(!ok && err.contains("no API key"), "{err}");
}
