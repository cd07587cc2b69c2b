//! The REST API end to end, through the Rust reference connector (`connectors/echo`), against real HTTP and a real
//! SQLite file.

use qiao_tests::echo_server::hex_hmac;
use qiao_tests::TestServer;
use qiao_tests::echo_server::EchoServer;
use serde_json::{Value, json};

fn config(echo_base: &str) -> String {
    format!(
        r#"
        [connections.main]
        connector = "echo"
        settings = {{ api_base = "{echo_base}", greeting = "hi" }}
        secrets = {{ token = "s3cret-token" }}

        [connections.second]
        connector = "echo"
        settings = {{ api_base = "{echo_base}" }}

        [connections.orphan]
        connector = "not-installed"
        "#
    )
}

async fn server() -> (TestServer, EchoServer) {
    let echo = EchoServer::start().await;
    let qiao = TestServer::start(&["echo"], &config(&echo.base))
        .await
        .unwrap();
    (qiao, echo)
}

#[tokio::test]
async fn status_routes_show_connectors_and_hide_secrets() {
    let (qiao, _echo) = server().await;
    let (status, body) = qiao.get("/healthz").await;
    assert_eq!((status, body["status"].as_str()), (200, Some("ok")));

    let row = qiao.connector_row("echo.wasm").await.expect("echo listed");
    assert_eq!(row["id"], "echo");
    assert_eq!(row["state"], "loaded");
    assert_eq!(row["version"], "1.0.0");
    assert_eq!(
        row["capabilities"],
        json!([
            "describe",
            "identity",
            "messaging",
            "approval",
            "tasks",
            "chats",
            "webhook",
            "poll"
        ])
    );

    let (status, body) = qiao.get("/v1/connections").await;
    assert_eq!(status, 200);
    let text = body.to_string();
    assert!(!text.contains("s3cret-token"), "a secret leaked: {text}");
    let main = body["connections"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "main")
        .unwrap();
    assert_eq!(main["secrets"], json!(["token"]));
    assert_eq!(main["settings"]["greeting"], "hi");
    assert_eq!(main["connector_loaded"], true);
    // No rate in the config: the connector's documented rate (echo's `*` hint) paces its writes.
    assert_eq!(main["pacing"], json!({"per_second": 50.0, "from": "connector"}), "{main}");
    assert_eq!(row["rate_hints"][0]["operation"], "*", "{row}");
}

#[tokio::test]
async fn messages_go_through_the_http_import_with_secrets_and_kv_state() {
    let (qiao, echo) = server().await;
    let msg = json!({ "to": { "users": ["alice", "bad-bob"] }, "text": "hello", "idempotency_key": "k1" });
    let (status, first) = qiao
        .post("/v1/connections/main/messages", msg.clone())
        .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["message_id"], "msg-1");
    assert_eq!(
        first["problems"],
        json!([{ "recipient": "bad-bob", "code": "invalid-user", "reason": "unknown user" }])
    );
    // The connector's `extra` is the echo server's answer: the platform saw the secret and only the good user.
    assert_eq!(first["extra"]["token_sha256"], qiao_tests::echo_server::sha256_hex("s3cret-token"));
    assert_eq!(first["extra"]["echo"]["to"], json!(["alice"]));

    // The same idempotency key and message: the same operation and result, not a second send.
    let (status, again) = qiao.post("/v1/connections/main/messages", msg.clone()).await;
    assert_eq!((status, &again["message_id"]), (200, &json!("msg-1")), "{again}");
    assert_eq!(again["operation_id"], first["operation_id"]);
    assert_eq!(echo.recorded.all().len(), 1);

    // kv state survives between calls (each call is a fresh instance).
    let mut msg = msg;
    msg["idempotency_key"] = json!("k2");
    let (_, second) = qiao.post("/v1/connections/main/messages", msg).await;
    assert_eq!(second["message_id"], "msg-2");
    assert_eq!(echo.recorded.all().len(), 2);

    let (status, receipts) = qiao
        .get("/v1/connections/main/messages/msg-1/read-status")
        .await;
    assert_eq!(status, 200, "{receipts}");
    assert!(
        receipts["unread"]
            .as_array()
            .unwrap()
            .contains(&json!("alice")),
        "{receipts}"
    );
    assert_eq!(receipts["read"], json!([]));

    let (status, _) = qiao
        .post("/v1/connections/main/messages/msg-1/recall", json!({}))
        .await;
    assert_eq!(status, 200);
    let (status, body) = qiao
        .post("/v1/connections/main/messages/msg-1/recall", json!({}))
        .await;
    assert_eq!(status, 404, "a recalled message is gone: {body}");
    assert_eq!(body["error"]["code"], "not_found");
    assert_eq!(body["error"]["details"]["kind"], "not-found");
}

#[tokio::test]
async fn connections_of_one_connector_are_isolated() {
    let (qiao, echo) = server().await;
    let msg = json!({ "to": { "users": ["u"] }, "text": "x" });
    for _ in 0..3 {
        qiao.post("/v1/connections/main/messages", msg.clone())
            .await;
    }
    let (_, other) = qiao
        .post("/v1/connections/second/messages", msg.clone())
        .await;
    assert_eq!(
        other["message_id"], "msg-1",
        "the second connection has its own kv"
    );
    assert_eq!(
        other["extra"]["token_sha256"],
        Value::Null,
        "and does not see the first one's secret"
    );
    let (status, _) = qiao
        .post("/v1/connections/second/messages/msg-3/recall", json!({}))
        .await;
    assert_eq!(status, 404, "msg-3 belongs to the other connection");
    assert_eq!(echo.recorded.all().len(), 4);
}

#[tokio::test]
async fn identity_directory_round_trip() {
    let (qiao, _echo) = server().await;
    let (status, dept) = qiao
        .post(
            "/v1/connections/main/departments",
            json!({ "name": "Finance", "parent_id": "1" }),
        )
        .await;
    assert_eq!(status, 201, "{dept}");
    let dept_id = dept["id"].as_str().unwrap().to_string();

    let (_, list) = qiao.get("/v1/connections/main/departments?parent=1").await;
    assert!(
        list["departments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["name"] == "Finance"),
        "{list}"
    );

    for (id, name) in [("u1", "Ann"), ("u2", "Bo"), ("u3", "Cy")] {
        let body = json!({ "id": id, "name": name, "mobile": format!("1380000{id}"), "department_ids": [dept_id] });
        let (status, user) = qiao.post("/v1/connections/main/users", body).await;
        assert_eq!(status, 201, "{user}");
    }
    let (status, body) = qiao
        .post("/v1/connections/main/users", json!({ "mobile": "1" }))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("name"),
        "the error names the field: {body}"
    );

    let (_, page1) = qiao
        .get(&format!(
            "/v1/connections/main/departments/{dept_id}/users?limit=2"
        ))
        .await;
    assert_eq!(page1["users"].as_array().unwrap().len(), 2, "{page1}");
    let cursor = page1["next_cursor"].as_str().expect("a next page");
    let (_, page2) = qiao
        .get(&format!(
            "/v1/connections/main/departments/{dept_id}/users?limit=2&cursor={cursor}"
        ))
        .await;
    assert_eq!(page2["users"].as_array().unwrap().len(), 1);
    assert_eq!(page2["next_cursor"], Value::Null);

    let (_, found) = qiao
        .get("/v1/connections/main/users/lookup?mobile=1380000u2")
        .await;
    assert_eq!(found["user_id"], "u2");
    let (status, _) = qiao
        .get("/v1/connections/main/users/lookup?mobile=1&email=2")
        .await;
    assert_eq!(status, 400);

    let (status, _) = qiao
        .patch("/v1/connections/main/users/u2", json!({ "title": "CFO" }))
        .await;
    assert_eq!(status, 204);
    let (_, user) = qiao.get("/v1/connections/main/users/u2").await;
    assert_eq!(
        (user["name"].as_str(), user["title"].as_str()),
        (Some("Bo"), Some("CFO"))
    );

    let (status, _) = qiao.delete("/v1/connections/main/users/u2").await;
    assert_eq!(status, 204);
    let (status, _) = qiao.get("/v1/connections/main/users/u2").await;
    assert_eq!(status, 404);

    let (_, url) = qiao
        .post(
            "/v1/connections/main/sso/authorize-url",
            json!({ "redirect_uri": "https://oa.example/cb", "state": "xyz" }),
        )
        .await;
    assert!(url["url"].as_str().unwrap().contains("state=xyz"), "{url}");
    let (status, sso) = qiao
        .post(
            "/v1/connections/main/sso/resolve",
            json!({ "code": "code-u1" }),
        )
        .await;
    assert_eq!(status, 200, "{sso}");
    assert_eq!(
        (sso["user_id"].as_str(), sso["name"].as_str()),
        (Some("u1"), Some("Ann"))
    );
    let (status, _) = qiao
        .post(
            "/v1/connections/main/sso/resolve",
            json!({ "code": "forged" }),
        )
        .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn approval_lifecycle() {
    let (qiao, _echo) = server().await;
    let create = json!({
        "template": "leave", "applicant": "u1", "approvers": ["boss"],
        "fields": [{ "name": "days", "value": "3" }]
    });
    let (status, created) = qiao
        .post("/v1/connections/main/approvals", create.clone())
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();

    let (_, instance) = qiao
        .get(&format!("/v1/connections/main/approvals/{id}"))
        .await;
    assert_eq!(instance["status"], "pending", "{instance}");
    assert_eq!(instance["tasks"][0]["assignee"], "boss");
    let task = instance["tasks"][0]["id"].as_str().unwrap().to_string();

    let act = json!({ "task_id": task, "actor": "boss", "comment": "enjoy" });
    let (status, body) = qiao
        .post(
            &format!("/v1/connections/main/approvals/{id}/approve"),
            act.clone(),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, instance) = qiao
        .get(&format!("/v1/connections/main/approvals/{id}"))
        .await;
    assert_eq!(instance["status"], "approved");
    let (status, body) = qiao
        .post(&format!("/v1/connections/main/approvals/{id}/reject"), act)
        .await;
    assert_eq!(status, 409, "acting twice conflicts: {body}");

    let (_, second) = qiao.post("/v1/connections/main/approvals", create).await;
    let second = second["id"].as_str().unwrap();
    let (status, _) = qiao
        .post(
            &format!("/v1/connections/main/approvals/{second}/cancel"),
            json!({ "reason": "oops" }),
        )
        .await;
    assert_eq!(status, 204);
    let (_, instance) = qiao
        .get(&format!("/v1/connections/main/approvals/{second}"))
        .await;
    assert_eq!(instance["status"], "canceled");

    let (status, body) = qiao
        .post(
            "/v1/connections/main/approvals",
            json!({ "template": "", "applicant": "u1" }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("template")
    );
}

#[tokio::test]
async fn webhook_events_are_stored_once_and_readable_with_a_cursor() {
    let (qiao, _echo) = server().await;
    // Signed with HMAC-SHA256 of the connection's token, as the echo connector requires once it has a token.
    let send = |id: &'static str, body: &'static str| {
        qiao.client
            .post(qiao.url("/v1/hooks/main/callback?x=1"))
            .header("x-echo-signature", hex_hmac("s3cret-token", body))
            .header("x-event-id", id)
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let response = send("ev-1", r#"{"n":1}"#).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.text().await.unwrap(),
        r#"{"n":1}"#,
        "the connector's response is returned verbatim"
    );
    send("ev-1", r#"{"n":1}"#).await.unwrap(); // the platform redelivers
    send("ev-2", r#"{"n":2}"#).await.unwrap();

    let (_, page) = qiao.get("/v1/events?connection=main").await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 2, "{page}");
    assert_eq!(events[0]["id"], "ev-1");
    assert_eq!(events[0]["type"], "echo.received");
    assert_eq!(events[0]["subject"], "/callback");
    assert_eq!(events[0]["payload"]["query"], "x=1");
    let (_, rest) = qiao
        .get(&format!("/v1/events?after={}", events[0]["seq"]))
        .await;
    assert_eq!(rest["events"].as_array().unwrap().len(), 1);
    assert_eq!(rest["events"][0]["id"], "ev-2");

    // A signature that does not verify is refused and nothing is stored.
    let forged = qiao
        .client
        .post(qiao.url("/v1/hooks/main"))
        .header("x-echo-signature", "00ff")
        .body("tampered")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let unsigned = qiao.client.post(qiao.url("/v1/hooks/main")).body("unsigned").send().await.unwrap();
    assert_eq!(unsigned.status(), 401, "a callback without a signature is refused too");
    let (_, page) = qiao.get("/v1/events?connection=main").await;
    assert_eq!(page["events"].as_array().unwrap().len(), 2);
}

#[tokio::test]
async fn poll_resumes_from_its_stored_cursor_across_restarts() {
    let (qiao, echo) = server().await;
    let (status, first) = qiao.post("/v1/connections/main/poll", json!({})).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        (first["received"].as_u64(), first["cursor"].as_str()),
        (Some(2), Some("2"))
    );
    let qiao = qiao.restart(&config(&echo.base)).await.unwrap();
    let (_, second) = qiao.post("/v1/connections/main/poll", json!({})).await;
    assert_eq!(
        (second["new"].as_u64(), second["cursor"].as_str()),
        (Some(2), Some("4")),
        "{second}"
    );
    let (_, page) = qiao.get("/v1/events?connection=main").await;
    let ids: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["tick-1", "tick-2", "tick-3", "tick-4"]);
}

#[tokio::test]
async fn bad_requests_get_clear_errors_and_the_server_stays_up() {
    let (qiao, _echo) = server().await;
    let cases: Vec<(&str, Value, u16, &str)> = vec![
        (
            "/v1/connections/nope/messages",
            json!({ "to": { "users": ["a"] }, "text": "x" }),
            404,
            "unknown_connection",
        ),
        (
            "/v1/connections/main/messages",
            json!({ "to": { "users": ["a"] } }),
            400,
            "invalid_request",
        ),
        (
            "/v1/connections/main/messages",
            json!({ "to": {}, "text": "x" }),
            400,
            "invalid_request",
        ),
        (
            "/v1/connections/main/messages",
            json!({ "to": { "users": ["a"] }, "text": "x", "bogus": 1 }),
            400,
            "invalid_request",
        ),
        (
            "/v1/connections/main/messages",
            json!("not an object"),
            400,
            "invalid_request",
        ),
    ];
    for (path, body, status, code) in cases {
        let (got, response) = qiao.post(path, body.clone()).await;
        assert_eq!(
            (got, response["error"]["code"].as_str()),
            (status, Some(code)),
            "{path} {body}: {response}"
        );
        assert!(
            !response["error"]["message"]
                .as_str()
                .unwrap_or("")
                .is_empty()
        );
    }
    // A connection whose connector is not loaded yet: the write is kept, and retried until it is.
    let (status, op) = qiao
        .post(
            "/v1/connections/orphan/messages?wait=1",
            json!({ "to": { "users": ["a"] }, "text": "x" }),
        )
        .await;
    assert_eq!(status, 202, "{op}");
    assert_eq!(op["status"], "retrying", "{op}");
    assert_eq!(op["last_error"]["code"], "connector_not_loaded", "{op}");
    let big = "x".repeat(2 * 1024 * 1024);
    let (status, body) = qiao
        .post(
            "/v1/connections/main/messages",
            json!({ "to": { "users": ["a"] }, "text": big }),
        )
        .await;
    assert_eq!(status, 413, "{body}");
    let (status, body) = qiao.get("/v1/nowhere").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (404, Some("not_found"))
    );
    let (status, _) = qiao
        .post(
            "/v1/connections/main/messages",
            json!({ "to": { "users": ["a"] }, "text": "fine" }),
        )
        .await;
    assert_eq!(status, 200, "still serving");
}

#[tokio::test]
async fn a_connection_with_a_poll_schedule_is_polled_without_being_asked() {
    let echo = EchoServer::start().await;
    let config = format!(
        "[connections.ticker]\nconnector = \"echo\"\nsettings = {{ api_base = \"{}\" }}\npoll_every_s = 1\n",
        echo.base
    );
    let qiao = TestServer::start(&["echo"], &config).await.unwrap();
    let event = qiao.wait_for_event("ticker", |e| e["id"] == "tick-4").await;
    assert_eq!(event["connection"], "ticker");
    let ids: Vec<Value> = qiao.events("ticker").await.iter().map(|e| e["id"].clone()).collect();
    assert_eq!(ids[..4], [json!("tick-1"), json!("tick-2"), json!("tick-3"), json!("tick-4")], "in order, once each");
}

/// A platform that cannot be reached is named in the error: host and port, the cause in an operator's words,
/// and the setting that decides where the connection's requests go.
#[tokio::test]
async fn an_unreachable_platform_is_named_with_the_cause_and_the_setting_to_check() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let config = format!(
        "[connections.main]\nconnector = \"echo\"\nsettings = {{ api_base = \"http://127.0.0.1:{port}\" }}\n\
         outbox = {{ max_attempts = 1 }}\n"
    );
    let qiao = TestServer::start(&["echo"], &config).await.unwrap();
    let message = json!({ "to": { "users": ["u1"] }, "text": "hi" });
    let (_, body) = qiao.post("/v1/connections/main/messages?wait=10", message).await;
    let message = body.to_string();
    for part in [format!("127.0.0.1:{port}").as_str(), "connection refused", "api_base"] {
        assert!(message.contains(part), "{part:?} is not in: {message}");
    }
}
