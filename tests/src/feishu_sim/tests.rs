//! The simulator against plain HTTP calls, and its callbacks against a small receiver that checks them with
//! `FeishuCrypt` the way a Feishu app's server must (signature over the raw body bytes, then decryption).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use serde_json::{Value, json};

use super::{Fault, FeishuSim, Options};
use crate::feishu_crypt::FeishuCrypt;

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    fn new(sim: &FeishuSim) -> Client {
        Client {
            base: format!("{}/open-apis", sim.base),
            http: reqwest::Client::new(),
        }
    }

    /// (HTTP status, JSON body, headers).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (u16, Value, HeaderMap) {
        let mut request = self.http.request(method, format!("{}/{path}", self.base));
        if !token.is_empty() {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status().as_u16(), response.headers().clone());
        let text = response.text().await.unwrap();
        let body = serde_json::from_str(&text).unwrap_or(json!({ "raw": text }));
        (status, body, headers)
    }

    async fn get(&self, path: &str, token: &str) -> (u16, Value) {
        let (status, body, _) = self.call(reqwest::Method::GET, path, token, None).await;
        (status, body)
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let (status, body, _) = self
            .call(reqwest::Method::POST, path, token, Some(body))
            .await;
        (status, body)
    }

    async fn patch(&self, path: &str, token: &str, body: Value) -> (u16, Value) {
        let (status, body, _) = self
            .call(reqwest::Method::PATCH, path, token, Some(body))
            .await;
        (status, body)
    }

    async fn token_answer(&self, options: &Options) -> Value {
        let body = json!({ "app_id": options.app_id, "app_secret": options.app_secret });
        let (status, answer) = self
            .post("auth/v3/tenant_access_token/internal", "", body)
            .await;
        assert_eq!((status, &answer["code"]), (200, &json!(0)), "{answer}");
        answer
    }

    async fn token(&self, options: &Options) -> String {
        let answer = self.token_answer(options).await;
        answer["tenant_access_token"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn feishu_sim_tokens_and_faults() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let first = client.token_answer(&sim.options).await;
    assert_eq!(first["msg"], "ok");
    assert_eq!(first["expire"], 7200);
    assert!(first.get("data").is_none(), "the token is at the top level");
    let token = first["tenant_access_token"].as_str().unwrap().to_string();
    assert!(token.starts_with("t-"));
    assert_eq!(
        client.token(&sim.options).await,
        token,
        "same token while more than 30 min remain"
    );
    let (status, wrong) = client
        .post(
            "auth/v3/tenant_access_token/internal",
            "",
            json!({ "app_id": "cli_simapp0001", "app_secret": "nope" }),
        )
        .await;
    assert_eq!((status, wrong["code"].clone()), (400, json!(10014)));

    // Less than 30 minutes left: a new token, while the old one keeps working until it expires.
    sim.state()
        .tokens
        .insert(token.clone(), Instant::now() + Duration::from_secs(600));
    let renewed = client.token_answer(&sim.options).await;
    let new_token = renewed["tenant_access_token"].as_str().unwrap();
    assert_ne!(new_token, token);
    assert_eq!(renewed["expire"], 7200);
    assert_eq!(client.token(&sim.options).await, new_token);
    let (status, _) = client
        .get("contact/v3/users/alice?user_id_type=user_id", &token)
        .await;
    assert_eq!(status, 200, "the old token is still valid");

    let (status, bad) = client
        .get("contact/v3/users/alice?user_id_type=user_id", "t-nope")
        .await;
    assert_eq!((status, bad["code"].clone()), (400, json!(99991663)));
    assert!(
        bad["msg"]
            .as_str()
            .unwrap()
            .contains("Invalid access token for authorization")
    );
    let (status, missing) = client.get("contact/v3/users/alice", "").await;
    assert_eq!((status, missing["code"].clone()), (400, json!(99991661)));

    sim.inject("contact/v3/users", Fault::RevokeToken, 1);
    let (_, revoked) = client
        .get("contact/v3/users/alice?user_id_type=user_id", &token)
        .await;
    assert_eq!(revoked["code"], 99991663);
    sim.inject(
        "contact/v3/users",
        Fault::MissingScope("contact:user.base:readonly".into()),
        1,
    );
    let (status, scope) = client
        .get("contact/v3/users/alice?user_id_type=user_id", new_token)
        .await;
    assert_eq!((status, scope["code"].clone()), (400, json!(99991672)));
    assert!(
        scope["msg"]
            .as_str()
            .unwrap()
            .contains("[contact:user.base:readonly]")
    );
    sim.inject("contact/v3/users", Fault::Internal, 1);
    let (status, _) = client
        .get("contact/v3/users/alice?user_id_type=user_id", new_token)
        .await;
    assert_eq!(status, 500);
    sim.inject("contact/v3/users", Fault::Status(502), 1);
    let (status, raw) = client
        .get("contact/v3/users/alice?user_id_type=user_id", new_token)
        .await;
    assert_eq!(status, 502);
    assert!(raw["raw"].is_string());
    let (status, nothing) = client.get("contact/v3/nothing", new_token).await;
    assert_eq!((status, nothing["code"].clone()), (404, json!(404)));
    sim.revoke_tokens();
    let (_, revoked) = client
        .get("contact/v3/users/alice?user_id_type=user_id", new_token)
        .await;
    assert_eq!(revoked["code"], 99991663);
}

#[tokio::test]
async fn feishu_sim_rate_limit_answers_429_with_headers() {
    let sim = FeishuSim::start(Options {
        qps: 2,
        ..Options::default()
    })
    .await
    .unwrap();
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    let path = "contact/v3/users/bob?user_id_type=user_id";
    for _ in 0..2 {
        assert_eq!(client.get(path, &token).await.0, 200);
    }
    let (status, body, headers) = client.call(reqwest::Method::GET, path, &token, None).await;
    assert_eq!(status, 429);
    assert_eq!(
        body,
        json!({ "code": 99991400, "msg": "request trigger frequency limit" })
    );
    assert_eq!(headers["x-ogw-ratelimit-limit"], "2");
    assert_eq!(headers["x-ogw-ratelimit-reset"], "1");
    // Another path has its own window, and an injected limit answers the same way.
    sim.inject("users/alice", Fault::RateLimit, 1);
    let (status, body, headers) = client
        .call(
            reqwest::Method::GET,
            "contact/v3/users/alice?user_id_type=user_id",
            &token,
            None,
        )
        .await;
    assert_eq!((status, body["code"].clone()), (429, json!(99991400)));
    assert!(headers.contains_key("x-ogw-ratelimit-reset"));
    assert_eq!(sim.count("contact/v3/users"), 4);
}

#[tokio::test]
async fn feishu_sim_contacts_by_id_type_and_sso() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    let (manager_open, alice_open, eng_open) = {
        let state = sim.state();
        (
            state.users["manager1"].open_id.clone(),
            state.users["alice"].open_id.clone(),
            state.depts["eng"].open_department_id.clone(),
        )
    };
    assert!(alice_open.starts_with("ou_") && eng_open.starts_with("od-"));

    let (_, by_user_id) = client
        .get(
            "contact/v3/users/alice?user_id_type=user_id&department_id_type=department_id",
            &token,
        )
        .await;
    let user = &by_user_id["data"]["user"];
    assert_eq!(by_user_id["code"], 0, "{by_user_id}");
    assert_eq!(user["user_id"], "alice");
    assert_eq!(user["open_id"], alice_open.as_str());
    assert!(user["union_id"].as_str().unwrap().starts_with("on_"));
    assert_eq!(user["department_ids"], json!(["eng"]));
    assert_eq!(user["leader_user_id"], "manager1");
    // Default types: open_id in the path and answer, open_department_id for departments.
    let (_, by_open_id) = client
        .get(&format!("contact/v3/users/{alice_open}"), &token)
        .await;
    assert_eq!(
        by_open_id["data"]["user"]["leader_user_id"],
        manager_open.as_str()
    );
    assert_eq!(
        by_open_id["data"]["user"]["department_ids"],
        json!([eng_open])
    );
    let (status, unknown) = client.get("contact/v3/users/alice", &token).await;
    assert_eq!(status, 400, "alice is a user_id, not an open_id");
    assert!(unknown["msg"].as_str().unwrap().contains("not exist"));

    let create = json!({ "name": "Platform", "parent_department_id": "eng", "order": 5 });
    let path = "departments?client_token=tok-1&department_id_type=department_id";
    let (_, first) = client
        .post(&format!("contact/v3/{path}"), &token, create.clone())
        .await;
    let (_, again) = client
        .post(&format!("contact/v3/{path}"), &token, create.clone())
        .await;
    assert_eq!(first["code"], 0, "{first}");
    let dept = first["data"]["department"].clone();
    assert_eq!(dept["parent_department_id"], "eng");
    assert_eq!(
        again["data"]["department"]["department_id"],
        dept["department_id"]
    );
    assert_eq!(
        sim.state().depts.len(),
        4,
        "a retried create makes one department"
    );
    let (status, clash) = client
        .post(
            "contact/v3/departments?department_id_type=department_id",
            &token,
            create,
        )
        .await;
    assert_eq!((status, clash["code"].clone()), (400, json!(43007)));
    let platform = dept["department_id"].as_str().unwrap().to_string();

    let carol = json!({
        "name": "Carol", "mobile": "13800000004", "department_ids": [platform],
        "user_id": "carol", "leader_user_id": "manager1", "job_title": "Engineer",
    });
    let users =
        "contact/v3/users?client_token=u-1&user_id_type=user_id&department_id_type=department_id";
    let (_, created) = client.post(users, &token, carol.clone()).await;
    assert_eq!(created["code"], 0, "{created}");
    assert_eq!(created["data"]["user"]["mobile"], "+8613800000004");
    let (_, retried) = client.post(users, &token, carol.clone()).await;
    assert_eq!(retried["data"]["user"]["user_id"], "carol");
    let mut taken = carol.clone();
    taken["user_id"] = json!("carol2");
    let (status, taken) = client
        .post(
            "contact/v3/users?user_id_type=user_id&department_id_type=department_id",
            &token,
            taken,
        )
        .await;
    assert_eq!((status, taken["code"].clone()), (400, json!(41014)));
    let (_, patched) = client
        .patch(
            "contact/v3/users/carol?user_id_type=user_id",
            &token,
            json!({ "job_title": "Senior Engineer" }),
        )
        .await;
    assert_eq!(patched["data"]["user"]["job_title"], "Senior Engineer");
    let (status, refused) = client
        .call(
            reqwest::Method::DELETE,
            &format!("contact/v3/departments/{platform}?department_id_type=department_id"),
            &token,
            None,
        )
        .await
        .into_parts();
    assert_eq!((status, refused["code"].clone()), (400, json!(43009)));

    let mut ids = Vec::new();
    let mut page_token = String::new();
    loop {
        let (_, page) = client
            .get(
                &format!(
                    "contact/v3/users/find_by_department?department_id=eng&department_id_type=department_id\
                     &user_id_type=user_id&page_size=1&page_token={page_token}"
                ),
                &token,
            )
            .await;
        let data = &page["data"];
        ids.extend(
            data["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["user_id"].clone()),
        );
        if data["has_more"] != true {
            break;
        }
        page_token = data["page_token"].as_str().unwrap().to_string();
    }
    assert_eq!(ids, vec![json!("alice"), json!("manager1")]);
    let (_, children) = client
        .get(
            "contact/v3/departments/0/children?department_id_type=department_id&fetch_child=true",
            &token,
        )
        .await;
    let names: Vec<&str> = children["data"]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["Engineering", "Sales", "Platform"]);

    let (_, found) = client
        .post(
            "contact/v3/users/batch_get_id?user_id_type=user_id",
            &token,
            json!({ "mobiles": ["13800000002", "13900000000"], "emails": ["bob@example.com"] }),
        )
        .await;
    assert_eq!(
        found["data"]["user_list"],
        json!([
            { "user_id": "alice", "mobile": "13800000002" },
            { "mobile": "13900000000" },
            { "user_id": "bob", "email": "bob@example.com" },
        ])
    );

    // SSO: a one-time code for a user token, then the user's identity.
    let code = sim.state().code_for("bob");
    let grant = json!({
        "grant_type": "authorization_code", "client_id": "cli_simapp0001",
        "client_secret": "sim-feishu-secret", "code": code, "redirect_uri": "http://localhost/cb",
    });
    let (status, tokens) = client
        .post("authen/v2/oauth/token", "", grant.clone())
        .await;
    assert_eq!(
        (status, tokens["code"].clone()),
        (200, json!(0)),
        "{tokens}"
    );
    assert_eq!(tokens["token_type"], "Bearer");
    let user_token = tokens["access_token"].as_str().unwrap();
    assert!(user_token.starts_with("u-"));
    let (_, info) = client.get("authen/v1/user_info", user_token).await;
    assert_eq!(info["data"]["user_id"], "bob");
    assert_eq!(info["data"]["tenant_key"], "sim-tenant-key");
    let (status, used) = client.post("authen/v2/oauth/token", "", grant).await;
    assert_eq!(
        (status, used["error"].clone()),
        (400, json!("invalid_grant"))
    );
    let (_, wrong_kind) = client.get("authen/v1/user_info", &token).await;
    assert_eq!(wrong_kind["code"], 99991668);
}

trait IntoParts {
    fn into_parts(self) -> (u16, Value);
}

impl IntoParts for (u16, Value, HeaderMap) {
    fn into_parts(self) -> (u16, Value) {
        (self.0, self.1)
    }
}

#[tokio::test]
async fn feishu_sim_messages_dedupe_read_urgent_recall() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    let text = json!({
        "receive_id": "alice", "msg_type": "text", "content": "{\"text\":\"hello\"}", "uuid": "req-1",
    });
    let send = "im/v1/messages?receive_id_type=user_id";
    let (_, first) = client.post(send, &token, text.clone()).await;
    let (_, again) = client.post(send, &token, text.clone()).await;
    assert_eq!(first["code"], 0, "{first}");
    let message_id = first["data"]["message_id"].as_str().unwrap().to_string();
    assert!(message_id.starts_with("om_"));
    assert_eq!(again["data"]["message_id"], message_id.as_str());
    assert_eq!(sim.state().messages.len(), 1, "the same uuid sends once");

    let mut bad = text.clone();
    bad["uuid"] = json!("req-2");
    bad["content"] = json!({ "text": "not a string" });
    let (status, bad_content) = client.post(send, &token, bad).await;
    assert_eq!((status, bad_content["code"].clone()), (400, json!(230001)));
    let ghost = json!({ "receive_id": "ghost", "msg_type": "text", "content": "{\"text\":\"x\"}" });
    let (_, ghost) = client.post(send, &token, ghost).await;
    assert_eq!(ghost["code"], 230013);

    assert!(sim.state().mark_read(&message_id, "alice"));
    assert!(
        !sim.state().mark_read(&message_id, "bob"),
        "bob is not a recipient"
    );
    let (_, reads) = client
        .get(
            &format!("im/v1/messages/{message_id}/read_users?user_id_type=user_id"),
            &token,
        )
        .await;
    assert_eq!(reads["data"]["items"][0]["user_id"], "alice");
    assert_eq!(reads["data"]["has_more"], false);

    let urge = json!({ "user_id_list": ["alice", "bob"] });
    let (_, urged) = client
        .patch(
            &format!("im/v1/messages/{message_id}/urgent_app?user_id_type=user_id"),
            &token,
            urge.clone(),
        )
        .await;
    assert_eq!(urged["data"]["invalid_user_id_list"], json!(["bob"]));
    let (_, sms) = client
        .patch(
            &format!("im/v1/messages/{message_id}/urgent_sms?user_id_type=user_id"),
            &token,
            urge,
        )
        .await;
    assert_eq!(sms["code"], 230024);
    assert_eq!(sim.state().messages[0].urgent.len(), 1);

    let (status, recalled) = client
        .call(
            reqwest::Method::DELETE,
            &format!("im/v1/messages/{message_id}"),
            &token,
            None,
        )
        .await
        .into_parts();
    assert_eq!((status, recalled["code"].clone()), (200, json!(0)));
    assert!(sim.state().messages[0].recalled);

    let batch = json!({
        "msg_type": "text", "content": { "text": "all hands" }, "department_ids": ["eng", "nope"],
        "user_ids": ["bob", "ghost"],
    });
    let (_, sent) = client.post("message/v4/batch_send/", &token, batch).await;
    assert_eq!(sent["code"], 0, "{sent}");
    assert_eq!(sent["data"]["invalid_department_ids"], json!(["nope"]));
    assert_eq!(sent["data"]["invalid_user_ids"], json!(["ghost"]));
    let batch_id = sent["data"]["message_id"].as_str().unwrap().to_string();
    assert!(batch_id.starts_with("bm_"));
    sim.state().mark_read(&batch_id, "bob");
    let (_, read) = client
        .get(
            &format!("im/v1/batch_messages/{batch_id}/read_user"),
            &token,
        )
        .await;
    assert_eq!(
        read["data"]["read_user"],
        json!({ "read_count": "1", "total_count": "3" })
    );
}

/// What the receiver saw: decrypted, signature-checked events.
type Received = Arc<Mutex<Vec<Value>>>;

async fn start_receiver(options: &Options) -> (String, Received) {
    let received: Received = Arc::default();
    let key = options.encrypt_key.clone();
    let token = options.verification_token.clone();
    let crypt = Arc::new(FeishuCrypt::new(&key));
    let store = received.clone();
    let app = axum::Router::new().route(
        "/hook",
        axum::routing::post(
            move |headers: HeaderMap, body: axum::body::Bytes| async move {
                let header = |name: &str| headers[name].to_str().unwrap().to_string();
                let outer: Value = serde_json::from_slice(&body).unwrap();
                let plain: Value = serde_json::from_str(
                    &crypt.decrypt(outer["encrypt"].as_str().unwrap()).unwrap(),
                )
                .unwrap();
                if plain["type"] == "url_verification" {
                    // Feishu does not sign the URL check's meaning into anything but the token.
                    assert_eq!(plain["token"], token.as_str());
                    return axum::Json(json!({ "challenge": plain["challenge"] }));
                }
                let expected = crypt.signature(
                    &header("x-lark-request-timestamp"),
                    &header("x-lark-request-nonce"),
                    &body,
                );
                assert_eq!(
                    header("x-lark-signature"),
                    expected,
                    "signature over the raw body"
                );
                store.lock().unwrap().push(plain);
                axum::Json(json!({ "msg": "success" }))
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, received)
}

async fn wait_pushed(sim: &FeishuSim, count: usize) -> Vec<(Value, bool)> {
    for _ in 0..200 {
        if sim.pushed().len() >= count {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    sim.pushed()
}

#[tokio::test]
async fn feishu_sim_approvals_push_only_when_subscribed() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let (url, received) = start_receiver(&sim.options).await;
    let (status, body, challenge) = sim.verify_url(&url).await.unwrap();
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["challenge"],
        challenge.as_str()
    );
    sim.set_callback_url(&url);
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;

    let form = json!([
        { "id": "widget_reason", "type": "input", "value": "family" },
        { "id": "widget_days", "type": "number", "value": 2 },
    ])
    .to_string();
    let apply = json!({ "approval_code": "APPROVAL-LEAVE", "user_id": "alice", "form": form, "uuid": "apply-1" });
    let (_, unsubscribed) = client
        .post("approval/v4/instances", &token, apply.clone())
        .await;
    assert_eq!(unsubscribed["code"], 0, "{unsubscribed}");
    let quiet = unsubscribed["data"]["instance_code"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, same) = client.post("approval/v4/instances", &token, apply).await;
    assert_eq!(
        same["data"]["instance_code"],
        quiet.as_str(),
        "same uuid, same instance"
    );
    sim.advance(&quiet, true).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(sim.pushed().is_empty(), "no events before subscribing");

    let subscribe = "approval/v4/approvals/APPROVAL-LEAVE/subscribe";
    assert_eq!(client.post(subscribe, &token, json!({})).await.1["code"], 0);
    let (status, twice) = client.post(subscribe, &token, json!({})).await;
    assert_eq!((status, twice["code"].clone()), (400, json!(1390007)));

    let missing = json!([{ "id": "widget_reason", "type": "input", "value": "x" }]).to_string();
    let (_, refused) = client
        .post(
            "approval/v4/instances",
            &token,
            json!({ "approval_code": "APPROVAL-LEAVE", "user_id": "alice", "form": missing }),
        )
        .await;
    assert_eq!(refused["code"], 1390001);
    let (_, unknown) = client
        .post(
            "approval/v4/instances",
            &token,
            json!({ "approval_code": "NOPE", "user_id": "alice", "form": "[]" }),
        )
        .await;
    assert_eq!(unknown["code"], 1390002);

    let apply = json!({ "approval_code": "APPROVAL-LEAVE", "user_id": "alice", "form": form });
    let (_, created) = client.post("approval/v4/instances", &token, apply).await;
    let code = created["data"]["instance_code"]
        .as_str()
        .unwrap()
        .to_string();
    let path = format!("approval/v4/instances/{code}?user_id_type=user_id");
    let (_, detail) = client.get(&path, &token).await;
    let task_id = detail["data"]["task_list"][0]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(detail["data"]["status"], "PENDING");
    assert_eq!(detail["data"]["task_list"][0]["user_id"], "manager1");
    let decision = |user: &str| {
        json!({
            "approval_code": "APPROVAL-LEAVE", "instance_code": code, "user_id": user,
            "task_id": task_id, "comment": "ok",
        })
    };
    let approve = "approval/v4/tasks/approve?user_id_type=user_id";
    let (_, wrong) = client.post(approve, &token, decision("bob")).await;
    assert_eq!(wrong["code"], 1390016);
    let (_, approved) = client.post(approve, &token, decision("manager1")).await;
    assert_eq!(approved["code"], 0, "{approved}");
    let (_, twice) = client.post(approve, &token, decision("manager1")).await;
    assert_eq!(twice["code"], 1390018);
    let (_, detail) = client.get(&path, &token).await;
    assert_eq!(detail["data"]["status"], "APPROVED");
    assert_eq!(detail["data"]["comment_list"][0]["comment"], "ok");

    let pushed = wait_pushed(&sim, 4).await;
    let kinds: Vec<(String, String)> = pushed
        .iter()
        .map(|(e, ok)| {
            assert!(ok);
            assert_eq!(e["type"], "event_callback");
            assert_eq!(e["token"], "sim-verify-token");
            assert_eq!(e["event"]["instance_code"], code.as_str());
            (
                e["event"]["type"].as_str().unwrap().to_string(),
                e["event"]["status"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let expected = [
        ("approval_instance", "PENDING"),
        ("approval_task", "PENDING"),
        ("approval_task", "APPROVED"),
        ("approval_instance", "APPROVED"),
    ]
    .map(|(a, b)| (a.to_string(), b.to_string()));
    assert_eq!(kinds, expected);
    assert_eq!(pushed[1].0["event"]["user_id"], "manager1");
    let events: Vec<Value> = pushed.iter().map(|(e, _)| e.clone()).collect();
    assert_eq!(*received.lock().unwrap(), events);

    // A contact event, signed by hand and delivered: the receiver checks it the same way.
    let object = {
        let state = sim.state();
        state.user_json(&state.users["bob"], "open_id", "open_department_id")
    };
    let event = sim.state().contact_event("contact.user.created_v3", object);
    let callback = sim.signed_callback(&event);
    assert!(callback.body.starts_with("{\"encrypt\":"));
    assert_eq!(
        FeishuCrypt::new("sim-encrypt-key")
            .decrypt(&callback.encrypt)
            .unwrap(),
        event.to_string()
    );
    let (status, _) = sim.deliver(&url, &callback).await.unwrap();
    assert_eq!(status, 200);
    let last = received.lock().unwrap().last().cloned().unwrap();
    assert_eq!(last["schema"], "2.0");
    assert_eq!(last["header"]["event_type"], "contact.user.created_v3");
    assert_eq!(last["event"]["object"]["user_id"], "bob");
    let read = sim.state().message_read_event("ou_x", vec!["om_1".into()]);
    assert_eq!(read["header"]["event_type"], "im.message.message_read_v1");
}

#[tokio::test]
async fn feishu_sim_user_groups() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;

    let (status, created) = client
        .post(
            "contact/v3/group",
            &token,
            json!({ "name": "Approvers", "description": "who approves", "type": 1 }),
        )
        .await;
    assert_eq!(
        (status, created["code"].clone()),
        (200, json!(0)),
        "{created}"
    );
    let id = created["data"]["group_id"].as_str().unwrap().to_string();
    let (status, clash) = client
        .post("contact/v3/group", &token, json!({ "name": "Approvers" }))
        .await;
    assert_eq!(
        (status, clash["code"].clone()),
        (400, json!(42002)),
        "names are unique: {clash}"
    );
    let (status, custom) = client
        .post(
            "contact/v3/group",
            &token,
            json!({ "name": "Auditors", "group_id": "auditors01" }),
        )
        .await;
    assert_eq!(
        (status, custom["data"]["group_id"].clone()),
        (200, json!("auditors01"))
    );
    let (_, list) = client
        .get("contact/v3/group/simplelist?type=1&page_size=1", &token)
        .await;
    assert_eq!(
        list["data"]["grouplist"].as_array().unwrap().len(),
        1,
        "{list}"
    );
    assert_eq!(list["data"]["has_more"], true);
    let next = list["data"]["page_token"].as_str().unwrap();
    let (_, rest) = client
        .get(
            &format!("contact/v3/group/simplelist?type=1&page_size=1&page_token={next}"),
            &token,
        )
        .await;
    let names: Vec<&str> = [&list, &rest]
        .iter()
        .map(|l| l["data"]["grouplist"][0]["name"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 2);
    assert!(names.contains(&"Approvers") && names.contains(&"Auditors"));
    assert_eq!(rest["data"]["has_more"], false);

    let member = |id: &str, id_type: &str| json!({ "member_id": id, "member_type": "user", "member_id_type": id_type });
    let alice_open = sim.state().users["alice"].open_id.clone();
    let add = format!("contact/v3/group/{id}/member/batch_add");
    let (status, added) = client
        .post(
            &add,
            &token,
            json!({ "members": [member("manager1", "user_id"), member(&alice_open, "open_id"),
                                member("ghost", "user_id")] }),
        )
        .await;
    assert_eq!(status, 200, "{added}");
    assert_eq!(
        added["data"]["results"],
        json!([{ "member_id": "manager1", "code": 0 }, { "member_id": alice_open, "code": 0 },
               { "member_id": "ghost", "code": 41012 }])
    );
    let (_, again) = client
        .post(
            &add,
            &token,
            json!({ "members": [member("alice", "user_id")] }),
        )
        .await;
    assert_eq!(
        again["data"]["results"][0]["code"], 42005,
        "already a member"
    );
    assert_eq!(
        sim.group_members(&id).unwrap(),
        ["alice", "manager1"],
        "the refused member was not added"
    );

    let list = format!("contact/v3/group/{id}/member/simplelist");
    let (_, page) = client
        .get(
            &format!("{list}?member_id_type=user_id&member_type=user&page_size=1"),
            &token,
        )
        .await;
    assert_eq!(
        page["data"]["memberlist"],
        json!([{ "member_id": "alice", "member_type": "user" }])
    );
    let next = page["data"]["page_token"].as_str().unwrap();
    let (_, page2) = client
        .get(
            &format!("{list}?member_id_type=user_id&page_size=1&page_token={next}"),
            &token,
        )
        .await;
    assert_eq!(page2["data"]["memberlist"][0]["member_id"], "manager1");
    assert_eq!(page2["data"]["has_more"], false);
    let (_, by_open_id) = client.get(&list, &token).await;
    assert_eq!(
        by_open_id["data"]["memberlist"][0]["member_id"],
        alice_open.as_str(),
        "open_id by default"
    );

    let remove = format!("contact/v3/group/{id}/member/batch_remove");
    let (status, refused) = client
        .post(
            &remove,
            &token,
            json!({ "members": [member("alice", "user_id"), member("bob", "user_id")] }),
        )
        .await;
    assert_eq!(
        (status, refused["code"].clone()),
        (400, json!(42006)),
        "bob is not a member: {refused}"
    );
    assert_eq!(sim.group_members(&id).unwrap().len(), 2, "nothing removed");
    let (status, removed) = client
        .post(
            &remove,
            &token,
            json!({ "members": [member("alice", "user_id")] }),
        )
        .await;
    assert_eq!((status, removed["code"].clone()), (200, json!(0)));
    assert_eq!(sim.group_members(&id).unwrap(), ["manager1"]);

    let (status, missing) = client
        .get("contact/v3/group/nope/member/simplelist", &token)
        .await;
    assert_eq!((status, missing["code"].clone()), (400, json!(42001)));
    assert!(missing["msg"].as_str().unwrap().contains("not exist"));
    let too_many: Vec<Value> = (0..101)
        .map(|i| member(&format!("u{i}"), "user_id"))
        .collect();
    let (status, big) = client
        .post(&add, &token, json!({ "members": too_many }))
        .await;
    assert_eq!((status, big["code"].clone()), (400, json!(99992402)));
    let (status, _) = client
        .get(&format!("{list}?member_id_type=email"), &token)
        .await;
    assert_eq!(status, 400);

    // A deleted user leaves their groups.
    client
        .call(
            reqwest::Method::DELETE,
            "contact/v3/users/manager1?user_id_type=user_id",
            &token,
            None,
        )
        .await;
    assert_eq!(sim.group_members(&id).unwrap(), Vec::<String>::new());
    assert_eq!(sim.group_named("Auditors").unwrap().id, "auditors01");
}

#[tokio::test]
async fn feishu_sim_frozen_users() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    let path = "contact/v3/users/bob?user_id_type=user_id";
    let (status, _) = client
        .patch(path, &token, json!({ "is_frozen": true }))
        .await;
    assert_eq!(status, 200);
    assert!(sim.state().users["bob"].is_frozen);
    let (_, got) = client.get(path, &token).await;
    assert_eq!(got["data"]["user"]["status"]["is_frozen"], true, "{got}");
    let (_, found) = client
        .post(
            "contact/v3/users/batch_get_id?user_id_type=user_id",
            &token,
            json!({ "emails": ["bob@example.com"] }),
        )
        .await;
    assert!(
        found["data"]["user_list"][0].get("user_id").is_none(),
        "a frozen user is not found: {found}"
    );
    let (status, bad) = client
        .patch(path, &token, json!({ "is_frozen": "yes" }))
        .await;
    assert_eq!((status, bad["code"].clone()), (400, json!(99992402)));
    client
        .patch(path, &token, json!({ "is_frozen": false }))
        .await;
    let (_, got) = client.get(path, &token).await;
    assert_eq!(got["data"]["user"]["status"]["is_frozen"], false);

    let (status, bad) = client
        .patch(path, &token, json!({ "mobile": "138 0000 0003x" }))
        .await;
    assert_eq!(
        (status, bad["code"].clone()),
        (400, json!(99992402)),
        "not a number: {bad}"
    );
}

/// A directory the size directory sync is built for: 200 departments three deep and 2,000 users, created and
/// then read back page by page, in seconds (every list renders only its page; no per-user scans per item).
#[tokio::test]
async fn feishu_sim_two_thousand_users_in_two_hundred_departments() {
    let sim = FeishuSim::start(Options {
        qps: 1_000_000,
        ..Options::default()
    })
    .await
    .unwrap();
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    let started = Instant::now();
    let types = "user_id_type=user_id&department_id_type=department_id";
    let mut depts = Vec::new();
    for top in 0..10 {
        let parent = format!("t{top}");
        depts.push((parent.clone(), "0".to_string()));
        for mid in 0..4 {
            let child = format!("t{top}m{mid}");
            depts.push((child.clone(), parent.clone()));
            for leaf in 0..4 {
                depts.push((format!("t{top}m{mid}l{leaf}"), child.clone()));
            }
        }
    }
    // 10 + 40 + 160 = 210: every level has more than a page.
    assert_eq!(depts.len(), 210);
    for (i, (id, parent)) in depts.iter().enumerate() {
        let (status, body) = client
            .post(
                &format!("contact/v3/departments?{types}"),
                &token,
                json!({ "department_id": id, "name": format!("Dept {id}"), "parent_department_id": parent,
                        "order": (i % 7).to_string() }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let leaves: Vec<&String> = depts
        .iter()
        .map(|(id, _)| id)
        .filter(|id| id.contains('l'))
        .collect();
    for n in 0..2000 {
        let dept = leaves[n % leaves.len()];
        let (status, body) = client
            .post(
                &format!("contact/v3/users?{types}"),
                &token,
                json!({ "user_id": format!("bulk{n:04}"), "name": format!("User {n}"),
                        "mobile": format!("139{n:08}"), "email": format!("bulk{n}@example.com"),
                        "department_ids": [dept, "t0"], "employee_no": format!("E{n:05}") }),
            )
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let created = started.elapsed();

    let started = Instant::now();
    let mut seen_depts = Vec::new();
    let mut page_token = String::new();
    loop {
        let (status, page) = client
            .get(
                &format!(
                    "contact/v3/departments/0/children?{types}&fetch_child=true&page_size=50&page_token={page_token}"
                ),
                &token,
            )
            .await;
        assert_eq!(status, 200, "{page}");
        for item in page["data"]["items"].as_array().unwrap() {
            seen_depts.push(item["department_id"].as_str().unwrap().to_string());
        }
        match page["data"]["page_token"].as_str() {
            Some(next) => page_token = next.to_string(),
            None => break,
        }
    }
    seen_depts.retain(|d| d.starts_with('t'));
    assert_eq!(seen_depts.len(), 210, "and eng and sales");
    let position = |id: &str| seen_depts.iter().position(|d| d == id).unwrap();
    assert!(
        depts
            .iter()
            .all(|(id, parent)| parent == "0" || position(parent) < position(id)),
        "parents before children"
    );
    let mut seen_users = std::collections::BTreeSet::new();
    for dept in &leaves {
        let mut page_token = String::new();
        loop {
            let (status, page) = client
                .get(
                    &format!(
                        "contact/v3/users/find_by_department?department_id={dept}&{types}&page_size=7&page_token={page_token}"
                    ),
                    &token,
                )
                .await;
            assert_eq!(status, 200, "{page}");
            for user in page["data"]["items"].as_array().unwrap() {
                assert!(seen_users.insert(user["user_id"].as_str().unwrap().to_string()));
            }
            match page["data"]["page_token"].as_str() {
                Some(next) => page_token = next.to_string(),
                None => break,
            }
        }
    }
    assert_eq!(seen_users.len(), 2000, "every user once, over the pages");
    // And all 2,000 in one department, 50 a page.
    let mut in_t0 = 0;
    let mut page_token = String::new();
    loop {
        let (_, page) = client
            .get(
                &format!(
                    "contact/v3/users/find_by_department?department_id=t0&{types}&page_size=50&page_token={page_token}"
                ),
                &token,
            )
            .await;
        in_t0 += page["data"]["items"].as_array().unwrap().len();
        match page["data"]["page_token"].as_str() {
            Some(next) => page_token = next.to_string(),
            None => break,
        }
    }
    assert_eq!(in_t0, 2000);
    let read = started.elapsed();
    eprintln!("2,000 users in 210 departments: created in {created:?}, read in {read:?}");
    assert!(
        created < Duration::from_secs(60) && read < Duration::from_secs(30),
        "created in {created:?}, read in {read:?}"
    );
}

/// Task v2: create with a client_token (one task per token), the documented 1470400 refusals, PATCH with
/// update_fields (set, clear, complete once, reopen), members added and removed (ids already there or not there
/// ignored), comments, list by completion with page tokens, and 1470404 for unknown or deleted tasks. Events
/// (`task.task.update_user_access_v2`, `task.task.comment.updated_v1`) go out only after `task_subscription`.
#[tokio::test]
async fn feishu_sim_tasks_v2() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let (url, received) = start_receiver(&sim.options).await;
    sim.set_callback_url(&url);
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    let q = "user_id_type=user_id";

    let new = json!({ "summary": "Ship the release", "description": "notes first", "client_token": "release-0001",
                      "due": { "timestamp": "1900000000000", "is_all_day": false },
                      "members": [{ "id": "alice", "type": "user", "role": "assignee" },
                                  { "id": "bob", "type": "user", "role": "follower" }] });
    let (status, created) = client
        .post(&format!("task/v2/tasks?{q}"), &token, new.clone())
        .await;
    assert_eq!((status, &created["code"]), (200, &json!(0)), "{created}");
    let task = &created["data"]["task"];
    let guid = task["guid"].as_str().unwrap().to_string();
    assert_eq!(
        (task["completed_at"].as_str(), task["status"].as_str()),
        (Some("0"), Some("todo"))
    );
    assert_eq!(task["due"]["timestamp"], "1900000000000");
    assert_eq!(task["members"][0]["id"], "alice");
    let (_, again) = client
        .post(&format!("task/v2/tasks?{q}"), &token, new)
        .await;
    assert_eq!(
        again["data"]["task"]["guid"],
        guid.as_str(),
        "same client_token, same task"
    );
    assert!(
        received.lock().unwrap().is_empty(),
        "no events before task_subscription"
    );

    for (body, needle) in [
        (json!({ "summary": "" }), "summary"),
        (
            json!({ "summary": "x", "client_token": "short" }),
            "client_token",
        ),
        (json!({ "summary": "x".repeat(3001) }), "summary"),
        (
            json!({ "summary": "x", "members": [{ "id": "alice", "role": "owner" }] }),
            "role is invalid",
        ),
        (
            json!({ "summary": "x", "members": [{ "id": "ghost", "role": "assignee" }] }),
            "members",
        ),
        (
            json!({ "summary": "x", "due": { "is_all_day": true } }),
            "due.timestamp",
        ),
    ] {
        let (status, refused) = client
            .post(&format!("task/v2/tasks?{q}"), &token, body)
            .await;
        assert_eq!(
            (status, &refused["code"]),
            (400, &json!(1470400)),
            "{refused}"
        );
        assert!(
            refused["msg"].as_str().unwrap().contains(needle),
            "{refused}"
        );
    }

    let (_, subscribed) = client
        .post(
            &format!("task/v2/task_v2/task_subscription?{q}"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(subscribed["code"], 0, "{subscribed}");

    let path = format!("task/v2/tasks/{guid}?{q}");
    let (_, patched) = client
        .patch(&path, &token, json!({ "task": { "summary": "Ship 2.0" }, "update_fields": ["summary", "description", "due"] }))
        .await;
    let task = &patched["data"]["task"];
    assert_eq!(
        (task["summary"].as_str(), task["description"].as_str()),
        (Some("Ship 2.0"), Some("")),
        "{patched}"
    );
    assert!(
        task.get("due").is_none(),
        "named without a value: cleared: {patched}"
    );
    let (status, refused) = client
        .patch(
            &path,
            &token,
            json!({ "task": { "members": [] }, "update_fields": ["members"] }),
        )
        .await;
    assert_eq!(
        (status, &refused["code"]),
        (400, &json!(1470400)),
        "members are not patchable: {refused}"
    );
    let complete =
        json!({ "task": { "completed_at": "1800000000000" }, "update_fields": ["completed_at"] });
    let (_, done) = client.patch(&path, &token, complete.clone()).await;
    assert_eq!(done["data"]["task"]["status"], "done", "{done}");
    let (status, twice) = client.patch(&path, &token, complete).await;
    assert_eq!(
        (status, &twice["code"]),
        (400, &json!(1470400)),
        "a done task cannot be completed again: {twice}"
    );

    let (_, listed) = client
        .get(
            &format!("task/v2/tasks?type=my_tasks&completed=true&{q}"),
            &token,
        )
        .await;
    assert_eq!(
        listed["data"]["items"].as_array().unwrap().len(),
        1,
        "{listed}"
    );
    let (_, open) = client
        .get(&format!("task/v2/tasks?completed=false&{q}"), &token)
        .await;
    assert_eq!(open["data"]["items"], json!([]), "{open}");
    let reopen = json!({ "task": { "completed_at": "0" }, "update_fields": ["completed_at"] });
    let (_, reopened) = client.patch(&path, &token, reopen).await;
    assert_eq!(reopened["data"]["task"]["status"], "todo");

    let members = format!("task/v2/tasks/{guid}/add_members?{q}");
    let (_, added) = client
        .post(&members, &token, json!({ "members": [{ "id": "alice", "role": "assignee" }, { "id": "manager1", "role": "assignee" }] }))
        .await;
    let ids: Vec<&str> = added["data"]["task"]["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        ["alice", "bob", "manager1"],
        "alice was there already: {added}"
    );
    let (_, removed) = client
        .post(&members.replace("add_members", "remove_members"), &token,
              json!({ "members": [{ "id": "bob", "role": "follower" }, { "id": "alice", "role": "follower" }] }))
        .await;
    assert_eq!(
        removed["data"]["task"]["members"].as_array().unwrap().len(),
        2,
        "alice is no follower: {removed}"
    );

    let (_, comment) = client
        .post(
            &format!("task/v2/comments?{q}"),
            &token,
            json!({ "content": "on it", "resource_type": "task", "resource_id": guid }),
        )
        .await;
    let comment_id = comment["data"]["comment"]["id"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        comment["data"]["comment"]["creator"]["type"], "app",
        "{comment}"
    );
    let (_, read) = client
        .get(&format!("task/v2/comments/{comment_id}?{q}"), &token)
        .await;
    assert_eq!(read["data"]["comment"]["content"], "on it");
    sim.set_task_done(&guid, true).unwrap();

    for page_size in ["0", "101"] {
        let (status, refused) = client
            .get(&format!("task/v2/tasks?page_size={page_size}"), &token)
            .await;
        assert_eq!(
            (status, &refused["code"]),
            (400, &json!(1470400)),
            "{refused}"
        );
    }
    let (status, _, _) = client
        .call(reqwest::Method::DELETE, &path, &token, None)
        .await;
    assert_eq!(status, 200);
    let (status, gone) = client.get(&path, &token).await;
    assert_eq!((status, &gone["code"]), (404, &json!(1470404)), "{gone}");

    let events = wait_pushed(&sim, 8).await;
    let kinds: Vec<String> = events
        .iter()
        .map(|(e, _)| match e["header"]["event_type"].as_str().unwrap() {
            "task.task.update_user_access_v2" => e["event"]["event_types"].to_string(),
            other => other.to_string(),
        })
        .collect();
    assert_eq!(
        kinds,
        [
            r#"["task_summary_update","task_desc_update","task_start_due_update"]"#,
            r#"["task_completed_update"]"#,
            r#"["task_completed_update"]"#,
            r#"["task_assignees_update"]"#,
            r#"["task_followers_update"]"#,
            "task.task.comment.updated_v1",
            r#"["task_completed_update"]"#,
            r#"["task_deleted"]"#,
        ],
        "{events:?}"
    );
    assert_eq!(events[0].0["event"]["task_guid"], guid.as_str());
    assert!(
        events.iter().all(|(_, ok)| *ok),
        "the receiver took every push"
    );
}

/// Group chats: create (members, owner, uuid de-duplication), get, the member list paged, adding (already there:
/// ignored; unknown ids with succeed_type 1 listed, with 0 refused) and removing (not there: listed; none there:
/// 232027; the owner: 232076).
#[tokio::test]
async fn feishu_sim_chats() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    let create = json!({ "name": "Release war room", "owner_id": "manager1", "user_id_list": ["alice"],
                         "chat_mode": "group", "chat_type": "private" });
    let (status, chat) = client
        .post(
            "im/v1/chats?user_id_type=user_id&uuid=war-room-1",
            &token,
            create.clone(),
        )
        .await;
    assert_eq!((status, &chat["code"]), (200, &json!(0)), "{chat}");
    let chat_id = chat["data"]["chat_id"].as_str().unwrap().to_string();
    assert_eq!(
        (
            chat["data"]["owner_id"].as_str(),
            chat["data"]["user_count"].as_str()
        ),
        (Some("manager1"), Some("2"))
    );
    let (_, again) = client
        .post(
            "im/v1/chats?user_id_type=user_id&uuid=war-room-1",
            &token,
            create.clone(),
        )
        .await;
    assert_eq!(
        again["data"]["chat_id"],
        chat_id.as_str(),
        "same uuid and owner: same chat"
    );
    let (_, other) = client
        .post("im/v1/chats?user_id_type=user_id", &token, create)
        .await;
    assert_ne!(
        other["data"]["chat_id"],
        chat_id.as_str(),
        "no uuid: a new chat every time"
    );
    let (status, refused) = client
        .post(
            "im/v1/chats?user_id_type=user_id",
            &token,
            json!({ "name": "x", "user_id_list": ["ghost"] }),
        )
        .await;
    assert_eq!(
        (status, &refused["code"]),
        (400, &json!(232043)),
        "{refused}"
    );

    let members = format!("im/v1/chats/{chat_id}/members?member_id_type=user_id");
    let (_, added) = client
        .post(
            &format!("{members}&succeed_type=1"),
            &token,
            json!({ "id_list": ["alice", "bob", "ghost"] }),
        )
        .await;
    assert_eq!(
        added["data"]["not_existed_id_list"],
        json!(["ghost"]),
        "{added}"
    );
    assert_eq!(
        sim.chat_members(&chat_id).unwrap(),
        ["manager1", "alice", "bob"]
    );
    let (status, refused) = client
        .post(&members, &token, json!({ "id_list": ["ghost"] }))
        .await;
    assert_eq!(
        (status, &refused["code"]),
        (400, &json!(232043)),
        "{refused}"
    );
    let (_, page) = client.get(&format!("{members}&page_size=2"), &token).await;
    assert_eq!(
        (
            page["data"]["items"].as_array().unwrap().len(),
            &page["data"]["has_more"]
        ),
        (2, &json!(true))
    );
    assert_eq!(page["data"]["member_total"], 3);
    let (_, got) = client
        .get(
            &format!("im/v1/chats/{chat_id}?user_id_type=user_id"),
            &token,
        )
        .await;
    assert_eq!(got["data"]["name"], "Release war room", "{got}");

    let delete = |ids: Value| {
        client.call(
            reqwest::Method::DELETE,
            &members,
            &token,
            Some(json!({ "id_list": ids })),
        )
    };
    let (status, removed, _) = delete(json!(["bob", "ghost"])).await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["data"]["invalid_id_list"], json!(["ghost"]));
    let (status, none, _) = delete(json!(["bob"])).await;
    assert_eq!((status, &none["code"]), (400, &json!(232027)), "{none}");
    let (status, owner, _) = delete(json!(["manager1"])).await;
    assert_eq!((status, &owner["code"]), (400, &json!(232076)), "{owner}");
    let (status, missing) = client
        .get("im/v1/chats/oc_nope?user_id_type=user_id", &token)
        .await;
    assert_eq!(
        (status, &missing["code"]),
        (400, &json!(232006)),
        "{missing}"
    );
}

/// `approval/v4/instances/remind` takes the applicant's user token (a tenant token is refused), pending task ids
/// of a pending instance, and a comment of at most 500 characters; reminders are recorded on the instance.
#[tokio::test]
async fn feishu_sim_approval_remind_needs_the_applicants_token() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    let form = json!([{ "id": "widget_reason", "type": "input", "value": "trip" },
                      { "id": "widget_days", "type": "number", "value": 1 }])
    .to_string();
    let (_, created) = client
        .post(
            "approval/v4/instances",
            &token,
            json!({ "approval_code": "APPROVAL-LEAVE", "user_id": "alice", "form": form }),
        )
        .await;
    let code = created["data"]["instance_code"]
        .as_str()
        .unwrap()
        .to_string();
    let task_id = sim.state().instances[&code].tasks[0].id.clone();
    let remind = json!({ "instance_code": code, "task_ids": [task_id], "comment": "please" });
    let path = "approval/v4/instances/remind?user_id_type=user_id";
    let (status, refused) = client.post(path, &token, remind.clone()).await;
    assert_eq!(
        (status, &refused["code"]),
        (400, &json!(99991668)),
        "a tenant token is no user's: {refused}"
    );

    let login = |user: &str| {
        let code = sim.state().code_for(user);
        let client = &client;
        let options = sim.options.clone();
        async move {
            let grant = json!({ "grant_type": "authorization_code", "client_id": options.app_id,
                                "client_secret": options.app_secret, "code": code });
            let (_, answer) = client.post("authen/v2/oauth/token", "", grant).await;
            answer["access_token"].as_str().unwrap().to_string()
        }
    };
    let bob = login("bob").await;
    let (status, refused) = client.post(path, &bob, remind.clone()).await;
    assert_eq!(
        (status, &refused["code"]),
        (400, &json!(1390016)),
        "only the applicant reminds: {refused}"
    );
    let alice = login("alice").await;
    let (status, reminded) = client.post(path, &alice, remind).await;
    assert_eq!((status, &reminded["code"]), (200, &json!(0)), "{reminded}");
    let long = json!({ "instance_code": code, "task_ids": [task_id], "comment": "x".repeat(501) });
    let (status, _) = client.post(path, &alice, long).await;
    assert_eq!(status, 400);
    let reminders = sim.state().instances[&code].reminders.clone();
    assert_eq!(
        reminders,
        [("alice".to_string(), vec![task_id], "please".to_string())]
    );
}

/// A person's task in the Feishu app: it reads back with the person as creator, and its `task_create` event is
/// pushed only once the app subscribed.
#[tokio::test]
async fn feishu_sim_a_persons_task_pushes_its_create_once_subscribed() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let (url, _received) = start_receiver(&sim.options).await;
    sim.set_callback_url(&url);
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    let quiet = sim.create_task_as("alice", "Before the subscription", &["bob"], Value::Null).unwrap();
    assert!(sim.create_task_as("ghost", "x", &[], Value::Null).is_err());
    let (_, subscribed) = client
        .post("task/v2/task_v2/task_subscription?user_id_type=user_id", &token, json!({}))
        .await;
    assert_eq!(subscribed["code"], 0, "{subscribed}");
    let lists = json!({ "tasklists": [{ "tasklist_guid": "tl-1", "section_guid": "s-1" }] });
    let guid = sim.create_task_as("alice", "Customer asks for an invoice", &["bob"], lists).unwrap();
    let pushed = wait_pushed(&sim, 1).await;
    assert_eq!(pushed.len(), 1, "nothing for the task made before: {pushed:?}");
    assert_eq!(pushed[0].0["event"], json!({ "task_guid": guid, "event_types": ["task_create"] }));
    assert_ne!(quiet, guid);
    let (_, got) = client.get(&format!("task/v2/tasks/{guid}?user_id_type=user_id"), &token).await;
    let task = &got["data"]["task"];
    assert_eq!(task["creator"], json!({ "id": "alice", "type": "user", "role": "creator" }), "{got}");
    assert_eq!(task["members"][0]["id"], "bob", "{got}");
    assert_eq!(task["tasklists"][0]["tasklist_guid"], "tl-1", "{got}");
}
