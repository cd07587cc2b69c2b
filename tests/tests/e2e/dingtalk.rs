//! The DingTalk connector end to end: Qiao's REST API → `dingtalk.wasm` → the DingTalk simulator
//! (`qiao_tests::dingtalk_sim`), and the simulator's signed, encrypted callbacks → Qiao's webhook → the event log.

use std::time::Duration;

use qiao_tests::dingtalk_sim::{Dept, DingTalkSim, Fault, Options};
use qiao_tests::msg_crypt::MsgCrypt;
use qiao_tests::{TestServer, platform_code};
use serde_json::{Value, json};

fn config(sim: &DingTalkSim, limits: &str) -> String {
    sim.connection("dt", limits)
}

async fn setup_with(options: Options, limits: &str) -> (DingTalkSim, TestServer) {
    let sim = DingTalkSim::start(options).await.unwrap();
    let qiao = TestServer::start(&["dingtalk"], &config(&sim, limits))
        .await
        .unwrap();
    sim.set_callback_url(&qiao.url("/v1/hooks/dt"));
    (sim, qiao)
}

async fn setup() -> (DingTalkSim, TestServer) {
    setup_with(Options::default(), "").await
}

const C: &str = "/v1/connections/dt";

fn path(rest: &str) -> String {
    format!("{C}{rest}")
}

/// The error body's platform code.

/// A DING rings phones: with the connection's kv quota full, the record of it (for recall) is refused, and the
/// send still succeeds, once, saying nothing failed (it used to report the DING failed with `kv_quota` — after it
/// rang — inviting a second one).
#[tokio::test]
async fn a_full_kv_quota_does_not_report_a_ding_that_rang_as_failed() {
    // Room for the cached access tokens only.
    let (sim, qiao) = setup_with(Options::default(), "limits = { kv_max_keys = 2 }").await;
    let urgent = json!({ "to": { "users": ["bob"] }, "urgent": true, "text": "Server room flooded" });
    let (status, sent) = qiao.post(&path("/messages"), urgent).await;
    assert_eq!((status, &sent["problems"]), (200, &json!([])), "{sent}");
    assert!(sent["extra"]["ding_id"].is_string(), "{sent}");
    let counts = {
        let state = sim.state();
        (state.notifications.len(), state.dings.len())
    };
    assert_eq!(counts, (1, 1), "sent and rang once");
    let id = sent["message_id"].as_str().unwrap();
    let (status, body) = qiao.post(&path(&format!("/messages/{id}/recall")), json!({})).await;
    assert_eq!(status, 200, "{body}");
    let state = sim.state();
    assert!(state.notifications.values().all(|n| n.recalled), "the notification is recalled");
    assert!(!state.dings.values().next().unwrap().1, "the DING, unrecorded, is not");
}

#[tokio::test]
async fn directory_departments_and_users() {
    let (sim, qiao) = setup().await;

    let (status, body) = qiao.get(&path("/departments")).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Engineering", "Sales"]);

    let (status, created) = qiao
        .post(
            &path("/departments"),
            json!({ "name": "Platform", "parent_id": "2" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let platform = created["id"].as_str().unwrap().to_string();
    let (_, body) = qiao.get(&path("/departments?recursive=true")).await;
    let all: Vec<&str> = body["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        all,
        ["Engineering", "Sales", "Platform"],
        "the subtree, breadth first"
    );
    let (status, dept) = qiao.get(&path(&format!("/departments/{platform}"))).await;
    assert_eq!(
        (status, dept["parent_id"].as_str()),
        (200, Some("2")),
        "{dept}"
    );

    // DingTalk refuses a second department of the same name under one parent: a conflict, its code kept.
    let (status, body) = qiao
        .post(
            &path("/departments"),
            json!({ "name": "Platform", "parent_id": "2" }),
        )
        .await;
    assert_eq!((status, platform_code(&body)), (409, "60008"), "{body}");
    let (status, body) = qiao
        .post(
            &path("/departments"),
            json!({ "name": "Orphan", "parent_id": "999" }),
        )
        .await;
    assert_eq!((status, platform_code(&body)), (422, "60004"), "{body}");

    let (status, body) = qiao
        .patch(
            &path(&format!("/departments/{platform}")),
            json!({ "name": "Platform Team" }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        sim.state().depts[&platform.parse::<i64>().unwrap()].name,
        "Platform Team"
    );

    // Users: create, page, get, look up, update, delete.
    let new_user = json!({ "name": "Chen Jie", "mobile": "13900000009", "department_ids": [platform], "title": "SRE" });
    let (status, user) = qiao.post(&path("/users"), new_user.clone()).await;
    assert_eq!(status, 201, "{user}");
    let chen = user["id"].as_str().unwrap().to_string();
    let (status, body) = qiao.post(&path("/users"), new_user).await;
    assert_eq!(
        (status, platform_code(&body)),
        (409, "60104"),
        "same mobile twice: {body}"
    );
    let (status, body) = qiao
        .post(
            &path("/users"),
            json!({ "name": "No Mobile", "department_ids": ["2"] }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mobile"),
        "{body}"
    );

    let (status, page) = qiao.get(&path("/departments/2/users?limit=1")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["users"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_string();
    let (_, page2) = qiao
        .get(&path(&format!(
            "/departments/2/users?limit=1&cursor={cursor}"
        )))
        .await;
    assert_eq!(page2["users"].as_array().unwrap().len(), 1);
    assert_ne!(page["users"][0]["id"], page2["users"][0]["id"]);
    assert!(
        page2["next_cursor"].is_null(),
        "Engineering has two users: {page2}"
    );

    let (status, alice) = qiao.get(&path("/users/alice")).await;
    assert_eq!(status, 200, "{alice}");
    assert_eq!(alice["mobile"], "13800000002");
    assert_eq!(alice["department_ids"], json!(["2"]));
    assert_eq!(
        alice["extra"]["unionid"], "union-alice",
        "platform fields come back as JSON: {alice}"
    );
    let (status, body) = qiao.get(&path("/users/ghost")).await;
    assert_eq!((status, platform_code(&body)), (404, "60121"), "{body}");
    assert_eq!(body["error"]["details"]["platform_message"], "找不到该用户");

    let (status, found) = qiao.get(&path("/users/lookup?mobile=13900000009")).await;
    assert_eq!(
        (status, found["user_id"].as_str()),
        (200, Some(chen.as_str())),
        "{found}"
    );
    let (status, found) = qiao.get(&path("/users/lookup?union_id=union-bob")).await;
    assert_eq!(
        (status, found["user_id"].as_str()),
        (200, Some("bob")),
        "{found}"
    );
    let (status, body) = qiao.get(&path("/users/lookup?email=bob@example.com")).await;
    assert_eq!(status, 501, "DingTalk has no lookup by email: {body}");

    let (status, _) = qiao
        .patch(
            &path(&format!("/users/{chen}")),
            json!({ "title": "Lead SRE" }),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(sim.state().users[&chen].title, "Lead SRE");
    let (status, _) = qiao.delete(&path(&format!("/users/{chen}"))).await;
    assert_eq!(status, 204);
    let (status, _) = qiao.get(&path(&format!("/users/{chen}"))).await;
    assert_eq!(status, 404);
    let (status, _) = qiao
        .delete(&path(&format!("/departments/{platform}")))
        .await;
    assert_eq!(status, 204);
}

#[tokio::test]
async fn sign_in_in_app_and_web() {
    let (sim, qiao) = setup().await;

    let (status, body) = qiao
        .post(
            &path("/sso/authorize-url"),
            json!({ "redirect_uri": "https://oa.example.com/cb?x=1", "state": "s1" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://login.dingtalk.com/oauth2/auth?"),
        "{url}"
    );
    assert!(
        url.contains("client_id=dingsimappkey")
            && url.contains("redirect_uri=https%3A%2F%2Foa.example.com%2Fcb%3Fx%3D1")
    );
    let (status, _) = qiao
        .post(
            &path("/sso/authorize-url"),
            json!({ "redirect_uri": "https://x", "state": "s", "flow": "in-app" }),
        )
        .await;
    assert_eq!(status, 422, "the in-app flow has no URL");

    let code = sim.state().code_for("alice");
    let (status, user) = qiao
        .post(&path("/sso/resolve"), json!({ "code": code }))
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(
        (user["user_id"].as_str(), user["name"].as_str()),
        (Some("alice"), Some("Li Na"))
    );
    let (status, body) = qiao
        .post(&path("/sso/resolve"), json!({ "code": code }))
        .await;
    assert_eq!(
        (status, platform_code(&body)),
        (422, "40078"),
        "a code works once: {body}"
    );

    let code = sim.state().code_for("bob");
    let (status, user) = qiao
        .post(
            &path("/sso/resolve"),
            json!({ "code": code, "flow": "web" }),
        )
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["user_id"], "bob");
    assert_eq!(user["mobile"], "13800000003");
    let (status, body) = qiao
        .post(
            &path("/sso/resolve"),
            json!({ "code": "forged", "flow": "web" }),
        )
        .await;
    assert_eq!(
        (status, platform_code(&body)),
        (422, "invalidAuthCode"),
        "{body}"
    );
}

#[tokio::test]
async fn work_notifications_ding_recall_and_read_status() {
    let (sim, qiao) = setup().await;

    let (status, sent) =
        qiao.post(&path("/messages"), json!({ "to": { "users": ["alice", "bob", "ghost"] }, "text": "Server maintenance at 22:00" })).await;
    assert_eq!(status, 200, "{sent}");
    let first: i64 = sent["message_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        sim.state().notifications[&first].msg["text"]["content"],
        "Server maintenance at 22:00"
    );

    sim.state()
        .notifications
        .get_mut(&first)
        .unwrap()
        .read
        .insert("alice".into());
    let (status, receipts) = qiao
        .get(&path(&format!("/messages/{first}/read-status")))
        .await;
    assert_eq!(status, 200, "{receipts}");
    assert_eq!(
        (receipts["read"].clone(), receipts["unread"].clone()),
        (json!(["alice"]), json!(["bob"]))
    );
    assert_eq!(
        receipts["problems"],
        json!([{ "recipient": "ghost", "code": "invalid_user", "reason": "not a user of this organisation" }])
    );

    // The same content again: DingTalk answers ok and drops it; the read status says so.
    let (_, again) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "users": ["alice"] }, "text": "Server maintenance at 22:00" }),
        )
        .await;
    let (_, receipts) = qiao
        .get(&path(&format!(
            "/messages/{}/read-status",
            again["message_id"].as_str().unwrap()
        )))
        .await;
    assert_eq!(receipts["problems"][0]["recipient"], "alice", "{receipts}");
    assert_eq!(receipts["problems"][0]["code"], "143106", "{receipts}");

    // Mentions (contract 0.2.0): a work notification is one-to-one and has no @, so each mention comes back as a
    // problem and the notification goes out as written.
    let (status, sent) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "users": ["alice"] }, "text": "Please review the Q4 plan",
                    "mentions": { "users": ["alice"], "everyone": true } }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let problems: Vec<(&str, &str)> = sent["problems"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["recipient"].as_str().unwrap(),
                p["code"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        problems,
        [
            ("alice", "mention-unsupported"),
            ("everyone", "mention-unsupported")
        ]
    );
    let mentioned: i64 = sent["message_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(
        sim.state().notifications[&mentioned].msg["text"]["content"],
        "Please review the Q4 plan"
    );

    // Markdown and an action card to a department, urgent: the DING goes to the listed users.
    let (status, _) = qiao
        .post(&path("/messages"), json!({ "to": { "departments": ["3"] }, "markdown": { "title": "Q4", "text": "# Targets" } }))
        .await;
    assert_eq!(status, 200);
    let card = json!({
        "to": { "users": ["bob"] }, "urgent": true,
        "card": { "title": "Expense claim", "markdown": "Please approve **¥1,280**", "buttons": [
            { "title": "Approve", "url": "https://oa.example.com/a" }, { "title": "Details", "url": "https://oa.example.com/d" } ] },
    });
    let (status, sent) = qiao.post(&path("/messages"), card).await;
    assert_eq!(status, 200, "{sent}");
    let card_id: i64 = sent["message_id"].as_str().unwrap().parse().unwrap();
    {
        let state = sim.state();
        let msg = &state.notifications[&card_id].msg;
        assert_eq!(msg["msgtype"], "action_card");
        assert_eq!(
            msg["action_card"]["btn_json_list"][1]["action_url"],
            "https://oa.example.com/d"
        );
        assert_eq!(state.dings.len(), 1, "urgent sends a DING");
        assert_eq!(state.dings.values().next().unwrap().0, ["bob"]);
    }
    let (status, _) = qiao
        .post(&path(&format!("/messages/{card_id}/recall")), json!({}))
        .await;
    assert_eq!(status, 200);
    assert!(sim.state().notifications[&card_id].recalled);
    assert!(
        sim.state().dings.values().next().unwrap().1,
        "the DING is recalled with the notification"
    );

    let (status, body) = qiao.post(&path("/messages/123/recall"), json!({})).await;
    assert_eq!((status, platform_code(&body)), (422, "400002"), "{body}");
    let (status, body) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "chats": ["cid1"] }, "text": "hi" }),
        )
        .await;
    assert_eq!(status, 501, "{body}");
    let (status, body) = qiao
        .post(&path("/messages"), json!({ "to": {}, "text": "hi" }))
        .await;
    assert_eq!(
        status, 400,
        "Qiao refuses a message to nobody before the connector runs: {body}"
    );
}

#[tokio::test]
async fn approvals_and_their_callbacks() {
    let (sim, qiao) = setup().await;
    let leave = |days: &str| {
        json!({ "template": "PROC-LEAVE", "applicant": "alice",
                "fields": [{ "name": "reason", "value": "家里有事" }, { "name": "days", "value": days }] })
    };

    let (status, created) = qiao.post(&path("/approvals"), leave("2")).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (status, instance) = qiao.get(&path(&format!("/approvals/{id}"))).await;
    assert_eq!(status, 200, "{instance}");
    assert_eq!(instance["status"], "pending");
    assert_eq!(instance["tasks"][0]["assignee"], "manager1");
    assert_eq!(instance["tasks"][0]["status"], "pending");
    assert_eq!(
        instance["fields"][0],
        json!({ "name": "reason", "value": "家里有事", "kind": "TextField" })
    );

    // The approver acts through Qiao, naming no task: the connector finds theirs.
    let (status, body) = qiao
        .post(
            &path(&format!("/approvals/{id}/approve")),
            json!({ "actor": "manager1", "comment": "好的" }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, instance) = qiao.get(&path(&format!("/approvals/{id}"))).await;
    assert_eq!(instance["status"], "approved");
    assert_eq!(instance["comments"][0]["text"], "好的");
    let (status, body) = qiao
        .post(
            &path(&format!("/approvals/{id}/approve")),
            json!({ "actor": "manager1" }),
        )
        .await;
    assert_eq!(status, 409, "nothing left to approve: {body}");

    // The simulator pushed DingTalk's encrypted callbacks to Qiao, which answered the encrypted "success".
    let done = qiao
        .wait_for_event("dt", |e| {
            e["type"] == "approval.status_changed" && e["payload"]["status"] == "approved"
        })
        .await;
    assert_eq!(done["subject"], id);
    let task = qiao
        .wait_for_event("dt", |e| {
            e["type"] == "approval.task_changed" && e["payload"]["status"] == "approved"
        })
        .await;
    assert_eq!(task["payload"]["assignee"], "manager1");
    assert!(
        sim.pushed().iter().all(|(_, ok)| *ok),
        "every push answered with a valid encrypted success"
    );

    // Rejected in the DingTalk app by the approver, and terminated through Qiao.
    let (_, created) = qiao.post(&path("/approvals"), leave("5")).await;
    let rejected = created["id"].as_str().unwrap().to_string();
    sim.advance(&rejected, false).unwrap();
    let (_, instance) = qiao.get(&path(&format!("/approvals/{rejected}"))).await;
    assert_eq!(instance["status"], "rejected");
    qiao.wait_for_event("dt", |e| {
        e["subject"] == rejected.as_str() && e["payload"]["status"] == "rejected"
    })
    .await;

    let (_, created) = qiao.post(&path("/approvals"), leave("1")).await;
    let canceled = created["id"].as_str().unwrap().to_string();
    let (status, body) = qiao
        .post(
            &path(&format!("/approvals/{canceled}/cancel")),
            json!({ "operator": "alice", "reason": "plans changed" }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, instance) = qiao.get(&path(&format!("/approvals/{canceled}"))).await;
    assert_eq!(instance["status"], "canceled");

    // Bad input: DingTalk's reasons come back with its codes.
    let (status, body) = qiao
        .post(&path("/approvals"), json!({ "template": "PROC-LEAVE", "applicant": "alice", "fields": [{ "name": "reason", "value": "x" }] }))
        .await;
    assert_eq!(
        (status, platform_code(&body)),
        (422, "formComponentValuesError"),
        "{body}"
    );
    let (status, body) = qiao
        .post(&path("/approvals"), json!({ "template": "PROC-NOPE", "applicant": "alice", "fields": [{ "name": "a", "value": "b" }] }))
        .await;
    assert_eq!(
        (status, platform_code(&body)),
        (422, "processCodeError"),
        "{body}"
    );
    let (status, body) = qiao.get(&path("/approvals/proc-inst-nope")).await;
    assert_eq!(
        (status, platform_code(&body)),
        (404, "processInstanceNotExist"),
        "{body}"
    );
}

#[tokio::test]
async fn tokens_are_cached_refetched_when_rejected_and_when_expired() {
    let (sim, qiao) = setup_with(
        Options {
            token_ttl: Duration::from_secs(2),
            ..Options::default()
        },
        "",
    )
    .await;
    for _ in 0..3 {
        assert_eq!(qiao.get(&path("/users/alice")).await.0, 200);
    }
    assert_eq!(sim.count("/gettoken"), 1, "one token serves every call");

    // Revoked (e.g. the secret was reset): 40014 on the old API, refetched once, the call retried.
    sim.revoke_tokens();
    let (status, body) = qiao.get(&path("/users/alice")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sim.count("/gettoken"), 2);
    assert_eq!(
        sim.count("/topapi/v2/user/get"),
        5,
        "the rejected request was retried once"
    );

    // The new API's InvalidAuthentication, likewise.
    qiao.post(
        &path("/approvals"),
        json!({ "template": "PROC-LEAVE", "applicant": "alice",
        "fields": [{ "name": "reason", "value": "r" }, { "name": "days", "value": "1" }] }),
    )
    .await;
    sim.inject("/v1.0/workflow", Fault::RevokeToken, 1);
    let id = sim.state().instances.keys().next().unwrap().clone();
    let (status, body) = qiao.get(&path(&format!("/approvals/{id}"))).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(sim.count("/v1.0/oauth2/accessToken"), 2);

    // Expiry: a 2-second token is cached for 1 second, then fetched anew before DingTalk would refuse it.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let before = sim.count("/gettoken");
    assert_eq!(qiao.get(&path("/users/alice")).await.0, 200);
    assert_eq!(sim.count("/gettoken"), before + 1);

    // Wrong credentials: a clear 502 that names the settings, and no secret in it.
    let bad = config(&sim, "").replace(&sim.options.app_secret, "wrong-secret");
    let qiao = qiao.restart(&bad).await.unwrap();
    let (status, body) = qiao.get(&path("/users/alice")).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("app_secret"),
        "{body}"
    );
    assert!(!body.to_string().contains("wrong-secret"), "{body}");
}

#[tokio::test]
async fn rate_limits_busy_and_faults_are_clear_errors() {
    let (sim, qiao) = setup_with(
        Options {
            qps: 3,
            ..Options::default()
        },
        "limits = { timeout_ms = 3000 }",
    )
    .await;

    sim.inject("/topapi/v2/user/get", Fault::RateLimit, 1);
    let response = qiao
        .client
        .get(qiao.url(&path("/users/alice")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "1");
    let body: Value = response.json().await.unwrap();
    assert_eq!(platform_code(&body), "90018");

    qiao.post(
        &path("/approvals"),
        json!({ "template": "PROC-LEAVE", "applicant": "alice",
        "fields": [{ "name": "reason", "value": "r" }, { "name": "days", "value": "1" }] }),
    )
    .await;
    let id = sim.state().instances.keys().next().unwrap().clone();
    sim.inject("/v1.0/workflow", Fault::RateLimit, 1);
    let (status, body) = qiao.get(&path(&format!("/approvals/{id}"))).await;
    assert_eq!(
        (status, platform_code(&body)),
        (429, "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi"),
        "{body}"
    );

    sim.inject("/topapi/v2/user/get", Fault::Busy, 1);
    let (status, body) = qiao.get(&path("/users/alice")).await;
    assert_eq!((status, platform_code(&body)), (503, "-1"), "{body}");
    sim.inject("/topapi/v2/user/get", Fault::Status(502), 1);
    let (status, body) = qiao.get(&path("/users/alice")).await;
    assert_eq!(status, 503, "{body}");
    sim.inject(
        "/topapi/v2/user/get",
        Fault::Delay(Duration::from_secs(10)),
        1,
    );
    let (status, body) = qiao.get(&path("/users/alice")).await;
    assert!(
        status == 503 || status == 504,
        "a platform that hangs is a timeout: {status} {body}"
    );

    // The simulator's real QPS window: a burst past 3 per second gets DingTalk's code, not a crash.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let bob = path("/users/bob");
    let burst = (0..8).map(|_| qiao.get(&bob));
    let statuses: Vec<u16> = futures::future::join_all(burst)
        .await
        .into_iter()
        .map(|(s, _)| s)
        .collect();
    assert!(
        statuses.contains(&429) && statuses.contains(&200),
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 200 || *s == 429),
        "{statuses:?}"
    );

    // Bad input to Qiao itself, and the server is still fine.
    let big = "x".repeat(2 << 20);
    let (status, _) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "users": ["alice"] }, "text": big }),
        )
        .await;
    assert_eq!(status, 413);
    let response = qiao
        .client
        .post(qiao.url(&path("/messages")))
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(qiao.get("/healthz").await.0, 200);
    assert_eq!(qiao.get(&path("/users/alice")).await.0, 200);
}

#[tokio::test]
async fn callbacks_verified_decrypted_stored_once() {
    let (sim, qiao) = setup().await;
    let hook = qiao.url("/v1/hooks/dt");

    // URL verification: answered with the encrypted success, no event.
    let check = sim.signed_callback(&json!({ "EventType": "check_url" }));
    assert_eq!(sim.deliver(&hook, &check).await.unwrap(), (200, true));

    let event = sim
        .state()
        .contact_event("user_add_org", json!(["alice", "bob"]));
    let callback = sim.signed_callback(&event);
    assert_eq!(sim.deliver(&hook, &callback).await.unwrap(), (200, true));
    assert_eq!(
        sim.deliver(&hook, &callback).await.unwrap(),
        (200, true),
        "a retry is acknowledged too"
    );
    let stored = qiao.events("dt").await;
    assert_eq!(
        stored.len(),
        2,
        "one event per user, stored once although delivered twice: {stored:#?}"
    );
    let event_id = event["eventId"].as_str().unwrap();
    assert_eq!(stored[0]["id"], format!("{event_id}/alice"));
    assert_eq!(
        (stored[1]["type"].as_str(), stored[1]["subject"].as_str()),
        (Some("contact.user_created"), Some("bob"))
    );

    // The older `signature` parameter name is accepted.
    let dept = sim.state().contact_event("org_dept_remove", json!([3]));
    let mut renamed = sim.signed_callback(&dept);
    renamed.query = renamed.query.replace("msg_signature=", "signature=");
    assert_eq!(sim.deliver(&hook, &renamed).await.unwrap(), (200, true));
    qiao.wait_for_event("dt", |e| {
        e["type"] == "contact.department_deleted" && e["subject"] == "3"
    })
    .await;

    // Forged signature, tampered body, another app's key: refused, nothing stored.
    let user_left = sim.state().contact_event("user_leave_org", json!(["bob"]));
    let mut forged = sim.signed_callback(&user_left);
    forged.query = forged.query.replace(&forged.signature, &"0".repeat(40));
    assert_eq!(sim.deliver(&hook, &forged).await.unwrap().0, 401);
    let mut tampered = sim.signed_callback(&user_left);
    let flipped = if tampered.encrypt.starts_with('A') {
        "B"
    } else {
        "A"
    };
    tampered.body =
        json!({ "encrypt": format!("{flipped}{}", &tampered.encrypt[1..]) }).to_string();
    assert_eq!(sim.deliver(&hook, &tampered).await.unwrap().0, 401);
    let other_app = Options {
        app_key: "dingotherapp".into(),
        ..sim.options.clone()
    };
    let foreign = DingTalkSim::start(other_app)
        .await
        .unwrap()
        .signed_callback(&user_left);
    let (status, _) = sim.deliver(&hook, &foreign).await.unwrap();
    assert_eq!(
        status, 401,
        "encrypted for another app: the owner key check refuses it"
    );
    let (status, body) = qiao
        .post("/v1/hooks/dt", json!({ "not": "dingtalk" }))
        .await;
    assert!(status == 401 || status == 422, "{status} {body}");
    assert_eq!(
        qiao.events("dt").await.len(),
        3,
        "nothing refused was stored"
    );
}

/// Ciphertexts made by wechatpy (`tests/vectors/make_callback_vectors.py`), not by any of our code: the
/// connector must accept them with the vector's token, key and receive id, and store what they carry.
#[tokio::test]
async fn callbacks_from_an_independent_implementation_are_accepted() {
    let vectors: Vec<Value> = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/vectors/callback_crypto.json"
    )))
    .unwrap();
    let dingtalk: Vec<&Value> = vectors
        .iter()
        .filter(|v| {
            v["name"].as_str().unwrap().starts_with("dingtalk")
                && v["plaintext"].as_str().unwrap().starts_with('{')
        })
        .collect();
    assert!(dingtalk.len() >= 3);
    let mut config = String::new();
    for (i, v) in dingtalk.iter().enumerate() {
        config += &format!(
            "[connections.v{i}]\nconnector = \"dingtalk\"\nsettings = {{ app_key = \"{}\", agent_id = \"1\" }}\n\
             secrets = {{ app_secret = \"x\", callback_token = \"{}\", callback_aes_key = \"{}\" }}\n",
            v["receive_id"].as_str().unwrap(),
            v["token"].as_str().unwrap(),
            v["encoding_aes_key"].as_str().unwrap()
        );
    }
    let qiao = TestServer::start(&["dingtalk"], &config).await.unwrap();
    for (i, v) in dingtalk.iter().enumerate() {
        let s = |k: &str| v[k].as_str().unwrap().to_string();
        let url = format!(
            "{}?msg_signature={}&timestamp={}&nonce={}",
            qiao.url(&format!("/v1/hooks/v{i}")),
            s("signature"),
            s("timestamp"),
            s("nonce")
        );
        let response = qiao
            .client
            .post(url)
            .body(json!({ "encrypt": s("encrypt") }).to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "vector {}", s("name"));
        let answer: Value = response.json().await.unwrap();
        // The answer decrypts, with the reference implementation, to "success" and is correctly signed.
        let crypt = MsgCrypt::new(&s("token"), &s("encoding_aes_key"), &s("receive_id")).unwrap();
        let field = |k: &str| answer[k].as_str().unwrap().to_string();
        assert_eq!(crypt.decrypt(&field("encrypt")).unwrap(), "success");
        assert_eq!(
            crypt.signature(&field("timeStamp"), &field("nonce"), &field("encrypt")),
            field("msg_signature")
        );
        let plaintext: Value = serde_json::from_str(&s("plaintext")).unwrap();
        let (_, stored) = qiao.get(&format!("/v1/events?connection=v{i}")).await;
        let stored = stored["events"].as_array().unwrap();
        match plaintext["EventType"].as_str().unwrap() {
            "check_url" => assert!(stored.is_empty()),
            "bpms_instance_change" => {
                assert_eq!(stored[0]["subject"], plaintext["processInstanceId"]);
                assert_eq!(stored[0]["type"], "approval.status_changed");
            }
            "user_add_org" => assert_eq!(stored[0]["subject"], "user001"),
            other => panic!("no expectation for {other}"),
        }
    }
}

/// The ids of a role's members through Qiao, sorted.
async fn members(qiao: &TestServer, role: &str) -> Vec<String> {
    let (status, body) = qiao.get(&path(&format!("/roles/{role}/members"))).await;
    assert_eq!(status, 200, "{body}");
    let mut ids: Vec<String> = body["user_ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|id| id.as_str().unwrap().to_string())
        .collect();
    ids.sort();
    ids
}

#[tokio::test]
async fn roles_created_listed_and_their_members_changed() {
    let (sim, qiao) = setup().await;

    // DingTalk's default group's roles, by name.
    let (status, body) = qiao.get(&path("/roles")).await;
    assert_eq!(status, 200, "{body}");
    let names: Vec<&str> = body["roles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["主管理员", "子管理员", "负责人", "主管"]);

    // Created in Qiao's own role group, made once.
    let (status, role) = qiao
        .post(&path("/roles"), json!({ "name": "Finance Approver" }))
        .await;
    assert_eq!(status, 201, "{role}");
    assert_eq!(role["name"], "Finance Approver");
    let id = role["id"].as_str().unwrap().to_string();
    assert_eq!(
        sim.role("Finance Approver"),
        Some((id.clone(), "Qiao".to_string()))
    );
    let (status, auditor) = qiao
        .post(&path("/roles"), json!({ "name": "Auditor" }))
        .await;
    assert_eq!(status, 201, "{auditor}");
    assert_eq!(sim.role("Auditor").unwrap().1, "Qiao");
    assert_eq!(sim.count("/role/add_role_group"), 1, "one group for Qiao");
    // A create retried (its first answer lost) finds the role it made; a name DingTalk's own group has is a
    // conflict that says where.
    let (status, again) = qiao
        .post(&path("/roles"), json!({ "name": "Auditor" }))
        .await;
    assert_eq!((status, &again["id"]), (201, &auditor["id"]), "{again}");
    let (status, body) = qiao.post(&path("/roles"), json!({ "name": "主管" })).await;
    assert_eq!((status, platform_code(&body)), (409, "34021"), "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("默认"),
        "{body}"
    );
    let (_, body) = qiao.get(&path("/roles")).await;
    assert!(
        body["roles"]
            .as_array()
            .unwrap()
            .contains(&json!({ "id": id, "name": "Finance Approver" })),
        "{body}"
    );

    // Three users get it, one loses it.
    let (status, body) = qiao
        .post(
            &path(&format!("/roles/{id}/members")),
            json!({ "user_ids": ["alice", "bob", "manager1"] }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(members(&qiao, &id).await, ["alice", "bob", "manager1"]);
    assert_eq!(sim.role_members(&id), ["alice", "bob", "manager1"]);
    let (status, body) = qiao
        .post(
            &path(&format!("/roles/{id}/members/remove")),
            json!({ "user_ids": ["bob"] }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(members(&qiao, &id).await, ["alice", "manager1"]);
    assert_eq!(sim.role_members(&id), ["alice", "manager1"]);
    let (_, alice) = qiao.get(&path("/users/alice")).await;
    assert_eq!(
        alice["extra"]["role_list"][0]["name"], "Finance Approver",
        "{alice}"
    );

    // An unknown user: DingTalk refuses the whole request without naming it; the connector names it, and the
    // others of the request get the role.
    let (status, body) = qiao
        .post(
            &path(&format!("/roles/{id}/members")),
            json!({ "user_ids": ["bob", "ghost"] }),
        )
        .await;
    assert_eq!((status, platform_code(&body)), (404, "33012"), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("ghost") && !message.contains("bob"),
        "{body}"
    );
    assert_eq!(sim.role_members(&id), ["alice", "bob", "manager1"]);
    // Taking it from users who do not hold it (or do not exist) is no error.
    let (status, body) = qiao
        .post(
            &path(&format!("/roles/{id}/members/remove")),
            json!({ "user_ids": ["ghost", "bob"] }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(sim.role_members(&id), ["alice", "manager1"]);

    // Unknown and malformed role ids.
    let (status, body) = qiao.get(&path("/roles/424242/members")).await;
    assert_eq!((status, platform_code(&body)), (404, "33011"), "{body}");
    let (status, body) = qiao
        .post(
            &path("/roles/not-a-number/members"),
            json!({ "user_ids": ["alice"] }),
        )
        .await;
    assert_eq!(status, 422, "{body}");

    // Long lists go in DingTalk's batches: 20 users per add, 100 per remove; members are paged 100 at a time.
    let many: Vec<String> = (0..130).map(|i| format!("staff{i:03}")).collect();
    {
        let mut state = sim.state();
        for (i, user) in many.iter().enumerate() {
            state.add_user(user, "Staff", &format!("1350000{i:04}"), vec![3]);
        }
    }
    let adds = sim.count("/topapi/role/addrolesforemps");
    let (status, body) = qiao
        .post(
            &path(&format!("/roles/{id}/members")),
            json!({ "user_ids": many }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(sim.count("/topapi/role/addrolesforemps") - adds, 7);
    let listed = members(&qiao, &id).await;
    assert_eq!(listed.len(), 132);
    assert_eq!(listed, sim.role_members(&id));
    let (status, body) = qiao
        .post(
            &path(&format!("/roles/{id}/members/remove")),
            json!({ "user_ids": many }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(sim.role_members(&id), ["alice", "manager1"]);

    // DingTalk cannot disable an account: the connector has no user-status.
    let (status, body) = qiao
        .request(
            reqwest::Method::PUT,
            &path("/users/alice/active"),
            Some(json!({ "active": false })),
        )
        .await;
    assert_eq!(status, 501, "{body}");
}

/// A user as Qiao's API shows it, for the fields Qiao writes.
fn written(user: &Value) -> Value {
    json!({
        "id": user["id"], "name": user["name"], "mobile": user["mobile"], "email": user["email"],
        "title": user["title"], "employee_no": user["employee_no"], "department_ids": user["department_ids"],
        "manager_id": user["manager_id"], "active": user["active"],
    })
}

/// Every department under the root, by id.
async fn departments(qiao: &TestServer) -> std::collections::HashMap<String, Value> {
    let (status, body) = qiao
        .get(&path("/departments?parent=1&recursive=true"))
        .await;
    assert_eq!(status, 200, "{body}");
    body["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["id"].as_str().unwrap().to_string(), d.clone()))
        .collect()
}

/// Every user of a department, page by page.
async fn users_of(qiao: &TestServer, department: &str, limit: u32) -> Vec<Value> {
    let mut users = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = qiao
            .get(&path(&format!(
                "/departments/{department}/users?limit={limit}&cursor={cursor}"
            )))
            .await;
        assert_eq!(status, 200, "{page}");
        users.extend(page["users"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => return users,
        }
    }
}

#[tokio::test]
async fn directory_fields_round_trip_and_moves() {
    let (sim, qiao) = setup().await;

    // A tree three deep, and a second branch.
    let mut ids = Vec::new();
    for (name, parent, order) in [
        ("Headquarters", None, 10),
        ("Operations", Some(0), 20),
        ("Night Shift", Some(1), 30),
        ("Branch", None, 40),
    ] {
        let mut body = json!({ "name": name, "order": order });
        if let Some(parent) = parent {
            body["parent_id"] = json!(ids[parent]);
        }
        let (status, created) = qiao.post(&path("/departments"), body).await;
        assert_eq!(status, 201, "{created}");
        ids.push(created["id"].as_str().unwrap().to_string());
    }
    let (hq, ops, night, branch) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    let tree = departments(&qiao).await;
    for (id, name, parent, order) in [
        (hq, "Headquarters", "1", 10),
        (ops, "Operations", hq.as_str(), 20),
        (night, "Night Shift", ops.as_str(), 30),
        (branch, "Branch", "1", 40),
    ] {
        let dept = &tree[id];
        assert_eq!(
            (&dept["name"], &dept["parent_id"], &dept["order"]),
            (&json!(name), &json!(parent), &json!(order)),
            "{dept}"
        );
    }

    // Users with every field Qiao writes, one reporting to another, one with a Hong Kong mobile and two
    // departments, one with only what DingTalk requires.
    let boss = json!({
        "id": "zhoumin", "name": "Zhou Min", "mobile": "13700000001", "email": "zhou.min@example.com",
        "title": "COO", "employee_no": "E-0001", "department_ids": [hq], "manager_id": null, "active": true,
    });
    let lead = json!({
        "id": "lintao", "name": "Lin Tao", "mobile": "+852-51234567", "email": "lin.tao@example.com",
        "title": "Night Lead", "employee_no": "E-0002", "department_ids": [night, ops], "manager_id": "zhoumin",
        "active": true,
    });
    let plain = json!({
        "id": "wujing", "name": "Wu Jing", "mobile": "13700000003", "email": null, "title": null,
        "employee_no": null, "department_ids": [night], "manager_id": null, "active": true,
    });
    for user in [&boss, &lead, &plain] {
        let mut fields = user.clone();
        fields.as_object_mut().unwrap().remove("active");
        let (status, created) = qiao.post(&path("/users"), fields).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(written(&created), *user, "as created");
    }
    let night_users = users_of(&qiao, night, 100).await;
    let listed: Vec<Value> = night_users.iter().map(written).collect();
    assert_eq!(listed, [lead.clone(), plain.clone()], "as listed");
    for user in [&boss, &lead, &plain] {
        let (status, got) = qiao
            .get(&path(&format!("/users/{}", user["id"].as_str().unwrap())))
            .await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(written(&got), *user, "as read one by one");
    }
    // Not yet signed in to DingTalk (`active` there) is still an active account: the flag is kept apart.
    assert_eq!(night_users[0]["extra"]["activated"], false);
    assert_eq!(night_users[0]["extra"]["state_code"], "852");
    assert_eq!(sim.state().users["lintao"].mobile, "51234567");

    // A move: only department_ids given, every other field stays.
    let (status, body) = qiao
        .patch(
            &path("/users/lintao"),
            json!({ "department_ids": [branch] }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let mut moved = lead.clone();
    moved["department_ids"] = json!([branch]);
    let (_, got) = qiao.get(&path("/users/lintao")).await;
    assert_eq!(written(&got), moved);
    let ids_in = |users: Vec<Value>| -> Vec<String> {
        users
            .iter()
            .map(|u| u["id"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(ids_in(users_of(&qiao, night, 100).await), ["wujing"]);
    assert_eq!(ids_in(users_of(&qiao, branch, 100).await), ["lintao"]);

    // Every other field changed, the manager too.
    let changes = json!({
        "name": "Lin Tao (Branch)", "email": "tao.lin@example.com", "title": "Branch Lead",
        "employee_no": "E-0002B", "manager_id": "wujing",
    });
    let (status, body) = qiao.patch(&path("/users/lintao"), changes.clone()).await;
    assert_eq!(status, 204, "{body}");
    for (key, value) in changes.as_object().unwrap() {
        moved[key] = value.clone();
    }
    let (_, got) = qiao.get(&path("/users/lintao")).await;
    assert_eq!(written(&got), moved);
    assert_eq!(
        written(&users_of(&qiao, branch, 100).await[0]),
        moved,
        "the list reports the manager too"
    );

    // Clearing (contract 0.2.0): the manager through DingTalk's force_update_fields, the one field it documents a
    // way to empty; the others are refused before anything changes, and a field both set and cleared is invalid.
    let (status, body) = qiao
        .patch(&path("/users/lintao"), json!({ "clear": ["manager_id"] }))
        .await;
    assert_eq!(status, 204, "{body}");
    moved["manager_id"] = Value::Null;
    let (_, got) = qiao.get(&path("/users/lintao")).await;
    assert_eq!(written(&got), moved, "the manager is gone, the rest stays");
    assert_eq!(sim.state().users["lintao"].manager_userid, "");
    let (status, body) = qiao
        .patch(
            &path("/users/lintao"),
            json!({ "title": "Lead", "clear": ["email"] }),
        )
        .await;
    assert_eq!(status, 501, "{body}");
    assert!(
        body["error"]["message"].as_str().unwrap().contains("email"),
        "{body}"
    );
    let (status, body) = qiao
        .patch(
            &path("/users/lintao"),
            json!({ "manager_id": "wujing", "clear": ["manager_id"] }),
        )
        .await;
    assert_eq!(status, 400, "set and cleared at once is refused before it is queued: {body}");
    let (_, got) = qiao.get(&path("/users/lintao")).await;
    assert_eq!(written(&got), moved, "refused clears change nothing");

    // DingTalk's API cannot change a mobile number (41054): the same one is no change, another is refused after
    // the other fields are updated.
    let (status, body) = qiao
        .patch(
            &path("/users/lintao"),
            json!({ "mobile": "+852-51234567", "title": "Lead" }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = qiao
        .patch(
            &path("/users/lintao"),
            json!({ "mobile": "13799999999", "title": "Branch Lead" }),
        )
        .await;
    assert_eq!((status, platform_code(&body)), (501, "41054"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("mobile"),
        "{body}"
    );
    let (_, got) = qiao.get(&path("/users/lintao")).await;
    assert_eq!(
        written(&got),
        moved,
        "the title was updated, the mobile not"
    );

    // A department moved and renamed keeps its order; then reordered.
    let (status, body) = qiao
        .patch(
            &path(&format!("/departments/{night}")),
            json!({ "parent_id": branch, "name": "Night Crew" }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let tree = departments(&qiao).await;
    assert_eq!(
        (
            &tree[night]["name"],
            &tree[night]["parent_id"],
            &tree[night]["order"]
        ),
        (&json!("Night Crew"), &json!(branch), &json!(30))
    );
    let (status, _) = qiao
        .patch(
            &path(&format!("/departments/{night}")),
            json!({ "order": 5 }),
        )
        .await;
    assert_eq!(status, 204);
    let (_, dept) = qiao.get(&path(&format!("/departments/{night}"))).await;
    assert_eq!(
        (&dept["name"], &dept["parent_id"], &dept["order"]),
        (&json!("Night Crew"), &json!(branch), &json!(5))
    );

    // What DingTalk refuses: a move under its own subtree, a name with `-`.
    let (status, body) = qiao
        .patch(
            &path(&format!("/departments/{hq}")),
            json!({ "parent_id": ops }),
        )
        .await;
    assert_eq!((status, platform_code(&body)), (422, "60010"), "{body}");
    let (status, body) = qiao
        .post(
            &path("/departments"),
            json!({ "name": "R&D - Beijing", "parent_id": hq }),
        )
        .await;
    assert_eq!((status, platform_code(&body)), (422, "60001"), "{body}");
}

/// 2,000 users in 200 departments read back through Qiao, as directory sync reads them: the tree in one call
/// (two requests a department, so the connection allows more than the default 50), users page by page.
#[tokio::test]
async fn a_large_directory_reads_back_whole() {
    let (sim, qiao) = setup_with(
        Options {
            qps: 100_000,
            ..Options::default()
        },
        "limits = { max_http_requests = 1000 }",
    )
    .await;
    let created = sim.state().add_directory(200, 2000);

    let started = std::time::Instant::now();
    let tree = departments(&qiao).await;
    assert_eq!(tree.len(), 202, "200 and Engineering and Sales");
    for (i, id) in created.iter().enumerate() {
        assert_eq!(tree[&id.to_string()]["order"], i as i64);
        assert_eq!(tree[&id.to_string()]["name"], format!("Dept {i:03}"));
    }
    let mut users = 0;
    let mut managed = 0;
    for id in tree.keys() {
        for user in users_of(&qiao, id, 100).await {
            users += 1;
            let expected = &sim.state().users[user["id"].as_str().unwrap()];
            let text = |s: &str| if s.is_empty() { Value::Null } else { json!(s) };
            assert_eq!(user["employee_no"], text(&expected.job_number));
            assert_eq!(user["title"], text(&expected.title));
            if !expected.manager_userid.is_empty() {
                assert_eq!(user["manager_id"], expected.manager_userid);
                managed += 1;
            }
        }
    }
    assert_eq!(users, 2003);
    assert_eq!(managed, 2000 - 200);
    eprintln!(
        "read 202 departments and 2,003 users in {:?}",
        started.elapsed()
    );
}

/// A directory walk waits out DingTalk's per-second QPS limit (90018) and completes; a single read still
/// reports it (see `rate_limits_busy_and_faults_are_clear_errors`).
#[tokio::test]
async fn a_directory_walk_waits_out_the_qps_limit() {
    let (sim, qiao) = setup_with(
        Options {
            qps: 4,
            ..Options::default()
        },
        "",
    )
    .await;
    {
        let mut state = sim.state();
        for i in 0..10 {
            let id = state.next_id();
            let name = format!("Team {i}");
            state.depts.insert(
                id,
                Dept {
                    id,
                    name,
                    parent_id: 2,
                    order: i,
                },
            );
        }
    }
    let started = std::time::Instant::now();
    let tree = departments(&qiao).await;
    assert_eq!(tree.len(), 12);
    assert!(
        started.elapsed() >= std::time::Duration::from_secs(2),
        "12 department/get at 4 a second: {:?}",
        started.elapsed()
    );
}
