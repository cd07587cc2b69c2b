//! The WeCom connector end to end: Qiao's REST API → `wecom.wasm` → the WeCom simulator
//! (`qiao_tests::wecom_sim`), and the simulator's signed, encrypted XML callbacks → Qiao's webhook → the event log.

use std::time::Duration;

use qiao_tests::msg_crypt::MsgCrypt;
use qiao_tests::wecom_sim::{Fault, Options, WeComSim};
use qiao_tests::{TestServer, platform_code};
use serde_json::{Value, json};

fn config(sim: &WeComSim) -> String {
    sim.connection("wc", "limits = { timeout_ms = 3000 }")
}

async fn setup_with(options: Options) -> (WeComSim, TestServer) {
    let sim = WeComSim::start(options).await.unwrap();
    let qiao = TestServer::start(&["wecom"], &config(&sim)).await.unwrap();
    sim.set_callback_url(&qiao.url("/v1/hooks/wc"));
    (sim, qiao)
}

async fn setup() -> (WeComSim, TestServer) {
    setup_with(Options::default()).await
}

fn path(rest: &str) -> String {
    format!("/v1/connections/wc{rest}")
}

#[tokio::test]
async fn directory_departments_and_users() {
    let (sim, qiao) = setup().await;

    let (status, created) = qiao
        .post(
            &path("/departments"),
            json!({ "name": "Platform", "parent_id": "2" }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let platform = created["id"].as_str().unwrap().to_string();
    let (status, body) = qiao.get(&path("/departments")).await;
    assert_eq!(status, 200, "{body}");
    let names = |body: &Value| -> Vec<String> {
        body["departments"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["name"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        names(&body),
        ["Engineering", "Sales"],
        "direct children of the root"
    );
    let (_, body) = qiao.get(&path("/departments?recursive=true")).await;
    assert_eq!(names(&body).len(), 3, "the whole subtree: {body}");
    let (status, dept) = qiao.get(&path(&format!("/departments/{platform}"))).await;
    assert_eq!(
        (status, dept["parent_id"].as_str()),
        (200, Some("2")),
        "{dept}"
    );
    let (status, body) = qiao
        .post(
            &path("/departments"),
            json!({ "name": "Platform", "parent_id": "2" }),
        )
        .await;
    assert_eq!((status, platform_code(&body)), (409, "60008"), "{body}");
    let (status, body) = qiao.get(&path("/departments/999")).await;
    assert_eq!(status, 404, "{body}");
    // A numeric code becomes the department id, which WeCom lets the caller choose (contract 0.2.0); any other
    // code cannot be a WeCom id.
    let (status, chosen) = qiao
        .post(
            &path("/departments"),
            json!({ "name": "Chosen", "parent_id": "2", "code": "4242" }),
        )
        .await;
    assert_eq!(
        (status, chosen["id"].as_str(), chosen["code"].as_str()),
        (201, Some("4242"), Some("4242")),
        "{chosen}"
    );
    assert_eq!(sim.state().depts[&4242_i64].name, "Chosen");
    let (status, body) = qiao
        .post(
            &path("/departments"),
            json!({ "name": "Lettered", "parent_id": "2", "code": "ENG-1" }),
        )
        .await;
    // WeCom ids are numbers: a code that is not one (directory sync passes the enterprise's own ids) is left for
    // WeCom to assign the id.
    assert_eq!((status, body["code"].clone()), (201, json!(null)), "{body}");
    assert_ne!(body["id"], "ENG-1", "{body}");
    assert_eq!(qiao.delete(&path(&format!("/departments/{}", body["id"].as_str().unwrap()))).await.0, 204);
    assert_eq!(qiao.delete(&path("/departments/4242")).await.0, 204);
    let (status, _) = qiao
        .patch(
            &path(&format!("/departments/{platform}")),
            json!({ "name": "Platform Team" }),
        )
        .await;
    assert_eq!(status, 204);
    assert_eq!(
        sim.state().depts[&platform.parse::<i64>().unwrap()].name,
        "Platform Team"
    );

    let new_user = json!({ "id": "chenjie", "name": "Chen Jie", "mobile": "13900000009", "department_ids": [platform], "title": "SRE" });
    let (status, user) = qiao.post(&path("/users"), new_user.clone()).await;
    assert_eq!(status, 201, "{user}");
    let (status, body) = qiao.post(&path("/users"), new_user).await;
    assert_eq!((status, platform_code(&body)), (409, "60102"), "{body}");
    let (status, body) = qiao
        .post(
            &path("/users"),
            json!({ "name": "No Id", "mobile": "13900000010" }),
        )
        .await;
    assert_eq!(status, 422, "WeCom wants the caller's userid: {body}");

    let (status, chen) = qiao.get(&path("/users/chenjie")).await;
    assert_eq!(status, 200, "{chen}");
    assert_eq!(
        (chen["title"].as_str(), chen["department_ids"].clone()),
        (Some("SRE"), json!([platform]))
    );
    let (status, alice) = qiao.get(&path("/users/alice")).await;
    assert_eq!(
        (status, alice["manager_id"].as_str()),
        (200, Some("manager1")),
        "{alice}"
    );
    let (status, body) = qiao.get(&path("/users/ghost")).await;
    assert_eq!((status, platform_code(&body)), (404, "60111"), "{body}");

    let (status, page) = qiao.get(&path("/departments/2/users?limit=1")).await;
    assert_eq!(status, 200, "{page}");
    let cursor = page["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_string();
    let (_, page2) = qiao
        .get(&path(&format!(
            "/departments/2/users?limit=1&cursor={cursor}"
        )))
        .await;
    assert_ne!(page["users"][0]["id"], page2["users"][0]["id"]);
    assert!(page2["next_cursor"].is_null(), "{page2}");

    // Every user id of the enterprise, with WeCom's cursor.
    let mut ids = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = qiao
            .get(&path(&format!(
                "/departments/all/users?limit=2&cursor={cursor}"
            )))
            .await;
        assert_eq!(status, 200, "{page}");
        ids.extend(
            page["users"]
                .as_array()
                .unwrap()
                .iter()
                .map(|u| u["id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => break,
        }
    }
    ids.sort();
    assert_eq!(ids, ["alice", "bob", "chenjie", "manager1"]);

    let (status, found) = qiao.get(&path("/users/lookup?mobile=13800000003")).await;
    assert_eq!(
        (status, found["user_id"].as_str()),
        (200, Some("bob")),
        "{found}"
    );
    let (status, body) = qiao.get(&path("/users/lookup?mobile=10000000000")).await;
    assert_eq!(status, 404, "{body}");
    let (status, found) = qiao.get(&path("/users/lookup?email=bob@example.com")).await;
    assert_eq!(
        (status, found["user_id"].as_str()),
        (200, Some("bob")),
        "{found}"
    );
    let (status, _) = qiao.get(&path("/users/lookup?union_id=x")).await;
    assert_eq!(status, 501);

    let (status, _) = qiao
        .patch(&path("/users/chenjie"), json!({ "title": "Lead SRE" }))
        .await;
    assert_eq!(status, 204);
    assert_eq!(sim.state().users["chenjie"].position, "Lead SRE");
    let (status, _) = qiao.delete(&path("/users/chenjie")).await;
    assert_eq!(status, 204);
    assert_eq!(qiao.get(&path("/users/chenjie")).await.0, 404);
    assert_eq!(
        qiao.delete(&path(&format!("/departments/{platform}")))
            .await
            .0,
        204
    );
}

#[tokio::test]
async fn sign_in() {
    let (sim, qiao) = setup().await;
    let (status, body) = qiao
        .post(
            &path("/sso/authorize-url"),
            json!({ "redirect_uri": "https://oa.example.com/cb", "state": "s1" }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().unwrap();
    assert!(
        url.starts_with("https://open.weixin.qq.com/connect/oauth2/authorize?appid=wwsimcorp"),
        "{url}"
    );
    assert!(
        url.ends_with("#wechat_redirect") && url.contains("agentid=1000002"),
        "{url}"
    );
    let (_, body) = qiao
        .post(
            &path("/sso/authorize-url"),
            json!({ "redirect_uri": "https://oa.example.com/cb", "state": "s1", "flow": "qr" }),
        )
        .await;
    assert!(
        body["url"]
            .as_str()
            .unwrap()
            .starts_with("https://login.work.weixin.qq.com/wwlogin/sso/login?login_type=CorpApp")
    );

    let code = sim.state().code_for("alice");
    let (status, user) = qiao
        .post(&path("/sso/resolve"), json!({ "code": code }))
        .await;
    assert_eq!(status, 200, "{user}");
    assert_eq!(user["user_id"], "alice");
    assert_eq!(
        user["mobile"], "13800000002",
        "the user ticket was exchanged for the detail"
    );
    let (status, body) = qiao
        .post(&path("/sso/resolve"), json!({ "code": code }))
        .await;
    assert_eq!(
        (status, platform_code(&body)),
        (422, "40029"),
        "a code works once: {body}"
    );

    // An older WeCom answers `UserId`.
    let (sim, qiao) = setup_with(Options {
        legacy_userinfo_keys: true,
        ..Options::default()
    })
    .await;
    let code = sim.state().code_for("bob");
    let (status, user) = qiao
        .post(&path("/sso/resolve"), json!({ "code": code }))
        .await;
    assert_eq!(
        (status, user["user_id"].as_str()),
        (200, Some("bob")),
        "{user}"
    );
}

#[tokio::test]
async fn app_messages_duplicates_recall_and_what_wecom_lacks() {
    let (sim, qiao) = setup().await;

    let (status, sent) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "users": ["alice", "ghost"] }, "text": "Server maintenance at 22:00" }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["problems"][0]["recipient"], "ghost");
    assert_eq!(sent["problems"][0]["code"], "invalid_user");
    let first = sent["message_id"].as_str().unwrap().to_string();
    assert_eq!(
        sim.state().messages[0].body["text"]["content"],
        "Server maintenance at 22:00"
    );

    // With an idempotency key, WeCom's duplicate check makes a retried send a no-op.
    let keyed = json!({ "to": { "departments": ["3"] }, "markdown": { "title": "Q4", "text": "targets" }, "idempotency_key": "k1" });
    let (_, a) = qiao.post(&path("/messages"), keyed.clone()).await;
    let (_, b) = qiao.post(&path("/messages"), keyed).await;
    assert_eq!(a["message_id"], b["message_id"], "{a} {b}");
    assert_eq!(
        sim.state().messages.len(),
        2,
        "the retry was not delivered again"
    );
    assert_eq!(sim.state().messages[1].body["enable_duplicate_check"], 1);

    let card = json!({ "to": { "everyone": true }, "card": { "title": "Expense claim", "markdown": "¥1,280", "buttons": [
        { "title": "Approve", "url": "https://oa.example.com/a" }, { "title": "Details", "url": "https://oa.example.com/d" } ] } });
    let (status, _) = qiao.post(&path("/messages"), card).await;
    assert_eq!(status, 200);
    {
        let state = sim.state();
        let body = &state.messages.last().unwrap().body;
        assert_eq!(
            (body["touser"].as_str(), body["msgtype"].as_str()),
            (Some("@all"), Some("template_card"))
        );
        assert_eq!(
            body["template_card"]["jump_list"][1]["url"],
            "https://oa.example.com/d"
        );
    }

    let (status, body) = qiao
        .post(&path(&format!("/messages/{first}/recall")), json!({}))
        .await;
    assert_eq!(status, 200, "{body}");
    assert!(sim.state().messages[0].recalled);

    // Tags: WeCom resolves them; an unknown one comes back as a problem.
    let (status, sent) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "tags": ["1", "99"] }, "text": "project news" }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(
        sent["problems"],
        json!([{ "recipient": "99", "code": "invalid_tag", "reason": "no such tag" }])
    );
    assert_eq!(sim.state().messages.last().unwrap().users, ["alice", "bob"]);

    // Group chats: delivered, but WeCom gives no msgid, so a recall is refused with the reason.
    let (status, sent) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "chats": ["wrchat-eng"] }, "text": "standup" }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sim.state().chat_messages[0].1["text"]["content"], "standup");
    let chat_message = sent["message_id"].as_str().unwrap().to_string();
    let (status, body) = qiao
        .post(
            &path(&format!("/messages/{chat_message}/recall")),
            json!({}),
        )
        .await;
    assert_eq!(status, 501, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no msgid"),
        "{body}"
    );

    // Mentions (contract 0.2.0): markdown into a group chat carries WeCom's <@userid> after the text; an app
    // message (one-to-one) renders none: each is a problem, and the message goes out as written.
    let (status, sent) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "chats": ["wrchat-eng"] }, "markdown": { "title": "Review", "text": "PR 12" },
                    "mentions": { "users": ["alice"], "everyone": false } }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["problems"], json!([]), "{sent}");
    assert_eq!(
        sim.state().chat_messages.last().unwrap().1["markdown"]["content"],
        "### Review\nPR 12\n<@alice>"
    );
    let (status, sent) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "users": ["alice"] }, "text": "hi", "mentions": { "users": [], "everyone": true } }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["problems"][0]["recipient"], "everyone", "{sent}");

    let (status, body) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "users": ["ghost"] }, "text": "hi" }),
        )
        .await;
    assert_eq!((status, platform_code(&body)), (422, "81013"), "{body}");
    let (status, body) = qiao
        .get(&path(&format!("/messages/{first}/read-status")))
        .await;
    assert_eq!(status, 501, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("read receipts"),
        "{body}"
    );
    let (status, _) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "users": ["alice"] }, "text": "now", "urgent": true }),
        )
        .await;
    assert_eq!(status, 501);
}

#[tokio::test]
async fn approvals_and_their_callbacks() {
    let (sim, qiao) = setup().await;
    let leave = json!({ "template": "tpl-leave", "applicant": "alice", "fields": [
        { "name": "Text-1", "value": "家里有事" }, { "name": "Number-1", "value": "2", "kind": "Number" } ] });

    let (status, created) = qiao.post(&path("/approvals"), leave.clone()).await;
    assert_eq!(status, 201, "{created}");
    let sp_no = created["id"].as_str().unwrap().to_string();
    assert_eq!(created["number"], created["id"]);
    let (status, instance) = qiao.get(&path(&format!("/approvals/{sp_no}"))).await;
    assert_eq!(status, 200, "{instance}");
    assert_eq!(
        (
            instance["status"].as_str(),
            instance["tasks"][0]["assignee"].as_str()
        ),
        (Some("pending"), Some("manager1"))
    );
    assert_eq!(
        instance["fields"][1],
        json!({ "name": "Number-1", "value": "2", "kind": "Number" })
    );

    // WeCom's API cannot act on approvals: say so; the approver acts in the client and a callback follows.
    let (status, body) = qiao
        .post(
            &path(&format!("/approvals/{sp_no}/approve")),
            json!({ "actor": "manager1" }),
        )
        .await;
    assert_eq!(status, 501, "{body}");
    assert_eq!(
        qiao.post(&path(&format!("/approvals/{sp_no}/cancel")), json!({}))
            .await
            .0,
        501
    );
    sim.advance(&sp_no, true).unwrap();
    let event = qiao
        .wait_for_event("wc", |e| {
            e["subject"] == sp_no.as_str() && e["payload"]["status"] == "approved"
        })
        .await;
    assert_eq!(event["type"], "approval.status_changed");
    let (_, instance) = qiao.get(&path(&format!("/approvals/{sp_no}"))).await;
    assert_eq!(instance["status"], "approved");

    let (_, created) = qiao.post(&path("/approvals"), leave).await;
    let rejected = created["id"].as_str().unwrap().to_string();
    sim.advance(&rejected, false).unwrap();
    qiao.wait_for_event("wc", |e| {
        e["subject"] == rejected.as_str() && e["payload"]["status"] == "rejected"
    })
    .await;
    assert!(
        sim.pushed().iter().all(|(_, ok)| *ok),
        "every push was acknowledged"
    );

    // Listing by time range: both submissions, once, however often it polls.
    let (status, polled) = qiao.post(&path("/poll"), json!({})).await;
    assert_eq!(status, 200, "{polled}");
    let submitted: Vec<String> = qiao
        .events("wc")
        .await
        .iter()
        .filter(|e| e["type"] == "approval.submitted")
        .map(|e| e["subject"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(submitted, [sp_no.clone(), rejected.clone()]);
    let (_, again) = qiao.post(&path("/poll"), json!({})).await;
    assert_eq!(again["new"], 0, "{again}");

    let (status, body) = qiao
        .post(&path("/approvals"), json!({ "template": "tpl-leave", "applicant": "alice", "fields": [{ "name": "Text-1", "value": "x" }] }))
        .await;
    assert_eq!(status, 422, "a required control is missing: {body}");
    let (status, body) = qiao.get(&path("/approvals/000")).await;
    assert!(status == 404 || status == 422, "{status} {body}");
}

#[tokio::test]
async fn tokens_limits_and_faults() {
    let (sim, qiao) = setup().await;
    for _ in 0..3 {
        assert_eq!(qiao.get(&path("/users/alice")).await.0, 200);
    }
    assert_eq!(
        sim.count("/cgi-bin/gettoken"),
        1,
        "one token serves every call"
    );
    sim.revoke_tokens();
    assert_eq!(
        qiao.get(&path("/users/alice")).await.0,
        200,
        "40014: refetched once and retried"
    );
    assert_eq!(sim.count("/cgi-bin/gettoken"), 2);
    sim.inject("user/get", Fault::RevokeToken, 1);
    assert_eq!(
        qiao.get(&path("/users/alice")).await.0,
        200,
        "42001: refetched once and retried"
    );
    assert_eq!(sim.count("/cgi-bin/gettoken"), 3);

    sim.inject("user/get", Fault::RateLimit, 1);
    let response = qiao
        .client
        .get(qiao.url(&path("/users/alice")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 429);
    assert_eq!(response.headers()["retry-after"], "60");
    sim.inject("user/get", Fault::Concurrency, 1);
    let (status, body) = qiao.get(&path("/users/alice")).await;
    assert_eq!((status, platform_code(&body)), (429, "45033"), "{body}");
    sim.inject("user/get", Fault::Busy, 1);
    let (status, body) = qiao.get(&path("/users/alice")).await;
    assert_eq!((status, platform_code(&body)), (503, "-1"), "{body}");
    sim.inject("user/get", Fault::IpNotTrusted, 1);
    let (status, body) = qiao.get(&path("/users/alice")).await;
    assert_eq!((status, platform_code(&body)), (403, "60020"), "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("trusted IP"),
        "tells the operator what to configure: {body}"
    );
    sim.inject("user/get", Fault::Status(502), 1);
    assert_eq!(qiao.get(&path("/users/alice")).await.0, 503);
    sim.inject("user/get", Fault::Delay(Duration::from_secs(10)), 1);
    let (status, _) = qiao.get(&path("/users/alice")).await;
    assert!(status == 503 || status == 504, "{status}");
    assert_eq!(
        qiao.get(&path("/users/alice")).await.0,
        200,
        "fine afterwards"
    );

    let wrong = config(&sim).replace(&sim.options.corp_secret, "wrong-secret");
    let qiao = qiao.restart(&wrong).await.unwrap();
    let (status, body) = qiao.get(&path("/users/alice")).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("corp_secret"),
        "{body}"
    );
    assert!(!body.to_string().contains("wrong-secret"));
}

#[tokio::test]
async fn callbacks_url_check_events_stored_once_forgeries_refused() {
    let (sim, qiao) = setup().await;
    let hook = qiao.url("/v1/hooks/wc");

    let (status, body, expected) = sim.verify_url(&hook).await.unwrap();
    assert_eq!(
        (status, body),
        (200, expected),
        "the echo, decrypted, verbatim"
    );

    let xml = sim.state().contact_xml("create_user", "alice");
    let callback = sim.signed_callback(&xml);
    assert_eq!(sim.deliver(&hook, &callback).await.unwrap().0, 200);
    assert_eq!(
        sim.deliver(&hook, &callback).await.unwrap().0,
        200,
        "WeCom's retry is acknowledged too"
    );
    let stored = qiao.events("wc").await;
    assert_eq!(stored.len(), 1, "stored once: {stored:#?}");
    assert_eq!(
        (stored[0]["type"].as_str(), stored[0]["subject"].as_str()),
        (Some("contact.user_created"), Some("alice"))
    );
    let dept = sim.state().contact_xml("delete_party", "3");
    sim.deliver(&hook, &sim.signed_callback(&dept))
        .await
        .unwrap();
    qiao.wait_for_event("wc", |e| {
        e["type"] == "contact.department_deleted" && e["subject"] == "3"
    })
    .await;

    let left = sim.state().contact_xml("delete_user", "bob");
    let mut forged = sim.signed_callback(&left);
    forged.query = forged.query.replace(&forged.signature, &"0".repeat(40));
    assert_eq!(sim.deliver(&hook, &forged).await.unwrap().0, 401);
    let mut tampered = sim.signed_callback(&left);
    tampered.body = tampered
        .body
        .replace(&tampered.encrypt, &format!("A{}", &tampered.encrypt[1..]));
    if tampered.encrypt.starts_with('A') {
        tampered.body = tampered.body.replace(
            &format!("<![CDATA[A{}", &tampered.encrypt[1..]),
            &format!("<![CDATA[B{}", &tampered.encrypt[1..]),
        );
    }
    assert_eq!(sim.deliver(&hook, &tampered).await.unwrap().0, 401);
    let other = WeComSim::start(Options {
        corp_id: "wwothercorp".into(),
        ..sim.options.clone()
    })
    .await
    .unwrap();
    assert_eq!(
        sim.deliver(&hook, &other.signed_callback(&left))
            .await
            .unwrap()
            .0,
        401,
        "encrypted for another corp"
    );
    let (status, _) = qiao.post("/v1/hooks/wc", json!({})).await;
    assert!(status == 401 || status == 422, "{status}");
    assert_eq!(
        qiao.events("wc").await.len(),
        2,
        "nothing refused was stored"
    );
}

/// A message encrypted by wechatpy (`tests/vectors/make_callback_vectors.py`), not by our code.
#[tokio::test]
async fn callbacks_from_an_independent_implementation_are_accepted() {
    let vectors: Vec<Value> = serde_json::from_str(include_str!(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/vectors/callback_crypto.json"
    )))
    .unwrap();
    let v = vectors
        .iter()
        .find(|v| v["name"].as_str().unwrap().starts_with("wecom"))
        .unwrap();
    let s = |k: &str| v[k].as_str().unwrap().to_string();
    let config = format!(
        "[connections.wc]\nconnector = \"wecom\"\nsettings = {{ corp_id = \"{}\", agent_id = \"1\" }}\n\
         secrets = {{ corp_secret = \"x\", callback_token = \"{}\", callback_aes_key = \"{}\" }}\n",
        s("receive_id"),
        s("token"),
        s("encoding_aes_key")
    );
    let qiao = TestServer::start(&["wecom"], &config).await.unwrap();
    let body = format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{}]]></Encrypt><AgentID><![CDATA[1]]></AgentID></xml>",
        s("receive_id"),
        s("encrypt")
    );
    let url = format!(
        "{}?msg_signature={}&timestamp={}&nonce={}",
        qiao.url("/v1/hooks/wc"),
        s("signature"),
        s("timestamp"),
        s("nonce")
    );
    let response = qiao.client.post(url).body(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let stored = qiao.events("wc").await;
    assert_eq!(stored.len(), 1, "{stored:#?}");
    assert!(
        stored[0]["type"].as_str().unwrap().starts_with("wecom."),
        "{}",
        stored[0]
    );
    // And the URL check with an echo encrypted by the reference implementation, itself checked against wechatpy.
    let crypt = MsgCrypt::new(&s("token"), &s("encoding_aes_key"), &s("receive_id")).unwrap();
    let echo = crypt.encrypt("echo-4711");
    let signature = crypt.signature("1", "n", &echo);
    let params = [
        ("msg_signature", signature.as_str()),
        ("timestamp", "1"),
        ("nonce", "n"),
        ("echostr", &echo),
    ];
    let url = reqwest::Url::parse_with_params(&qiao.url("/v1/hooks/wc"), &params).unwrap();
    let response = qiao.client.get(url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "echo-4711");
}

async fn put(qiao: &TestServer, path: &str, body: Value) -> (u16, Value) {
    qiao.request(reqwest::Method::PUT, path, Some(body)).await
}

/// The ids in a `{"user_ids": [...]}` answer.
fn ids(body: &Value) -> Vec<String> {
    body["user_ids"]
        .as_array()
        .unwrap_or_else(|| panic!("no user_ids: {body}"))
        .iter()
        .map(|u| u.as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn roles_are_wecom_tags() {
    let (sim, qiao) = setup().await;

    let (status, role) = qiao
        .post(&path("/roles"), json!({ "name": "Approvers" }))
        .await;
    assert_eq!(status, 201, "{role}");
    assert_eq!(role["name"], "Approvers");
    let id = role["id"].as_str().unwrap().to_string();
    assert_eq!(
        sim.tag_id("Approvers").map(|t| t.to_string()),
        Some(id.clone())
    );
    // WeCom tag names are unique: creating it again (a retry) answers the same tag.
    let (status, again) = qiao
        .post(&path("/roles"), json!({ "name": "Approvers" }))
        .await;
    assert_eq!(
        (status, again["id"].as_str()),
        (201, Some(id.as_str())),
        "{again}"
    );
    let (status, body) = qiao
        .post(&path("/roles"), json!({ "name": "标".repeat(33) }))
        .await;
    assert_eq!(status, 422, "at most 32 characters: {body}");
    let (status, roles) = qiao.get(&path("/roles")).await;
    assert_eq!(status, 200, "{roles}");
    assert_eq!(
        roles["roles"],
        json!([{ "id": "1", "name": "项目组" }, { "id": id, "name": "Approvers" }])
    );

    let members = path(&format!("/roles/{id}/members"));
    let (status, body) = qiao
        .post(
            &members,
            json!({ "user_ids": ["alice", "bob", "manager1"] }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = qiao.get(&members).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(ids(&body), ["alice", "bob", "manager1"]);
    assert_eq!(sim.tag_members(&id).unwrap(), ["alice", "bob", "manager1"]);
    let (status, body) = qiao.post(&members, json!({ "user_ids": ["alice"] })).await;
    assert_eq!(status, 204, "holding it already is no error: {body}");

    let remove = path(&format!("/roles/{id}/members/remove"));
    let (status, body) = qiao.post(&remove, json!({ "user_ids": ["bob"] })).await;
    assert_eq!(status, 204, "{body}");
    let (_, body) = qiao.get(&members).await;
    assert_eq!(ids(&body), ["alice", "manager1"]);
    assert_eq!(sim.tag_members(&id).unwrap(), ["alice", "manager1"]);
    let (status, body) = qiao
        .post(&remove, json!({ "user_ids": ["bob", "ghost"] }))
        .await;
    assert_eq!(
        status, 204,
        "not holding it (or not existing) is no error: {body}"
    );

    // Unknown users: WeCom's 40070 (or its invalidlist), with the users named.
    let (status, body) = qiao.post(&members, json!({ "user_ids": ["ghost"] })).await;
    assert_eq!((status, platform_code(&body)), (422, "40070"), "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("ghost"), "{body}");
    let (status, body) = qiao
        .post(&members, json!({ "user_ids": ["bob", "ghost2"] }))
        .await;
    assert_eq!(status, 422, "{body}");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("ghost2") && !message.contains("bob"),
        "{body}"
    );
    assert_eq!(
        sim.tag_members(&id).unwrap(),
        ["alice", "manager1", "bob"],
        "the valid user was added"
    );
    let (status, body) = qiao.get(&path("/roles/999/members")).await;
    assert_eq!((status, platform_code(&body)), (404, "40068"), "{body}");
    let (status, body) = qiao.get(&path("/roles/not-a-tag/members")).await;
    assert_eq!(status, 422, "{body}");

    // The tag endpoints behave like every other: a busy WeCom is retried by the outbox, a dropped token refetched.
    sim.inject("tag/addtagusers", Fault::Busy, 1);
    let (status, body) = qiao.post(&members, json!({ "user_ids": ["bob"] })).await;
    assert_eq!(status, 204, "retried after -1: {body}");
    sim.inject("tag/get", Fault::RevokeToken, 1);
    let (status, body) = qiao.get(&members).await;
    assert_eq!(status, 200, "{body}");

    // Long lists go in batches of 1000, WeCom's limit.
    let many: Vec<String> = (0..1500).map(|n| format!("staff{n:04}")).collect();
    {
        let mut state = sim.state();
        for (n, userid) in many.iter().enumerate() {
            state.add_user(
                userid,
                &format!("Staff {n}"),
                &format!("137{n:08}"),
                vec![3],
            );
        }
    }
    let before = sim.count("tag/addtagusers");
    let (status, body) = qiao.post(&members, json!({ "user_ids": many })).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(sim.count("tag/addtagusers") - before, 2);
    let (_, body) = qiao.get(&members).await;
    assert_eq!(ids(&body).len(), 1503);
}

#[tokio::test]
async fn deactivate_and_reactivate_users() {
    let (sim, qiao) = setup().await;
    let (status, body) = put(
        &qiao,
        &path("/users/bob/active"),
        json!({ "active": false }),
    )
    .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(sim.user_enabled("bob"), Some(false));
    assert_eq!(sim.user("bob").unwrap().status, 2);
    let (status, bob) = qiao.get(&path("/users/bob")).await;
    assert_eq!(
        (status, bob["active"].as_bool()),
        (200, Some(false)),
        "{bob}"
    );
    let (_, page) = qiao.get(&path("/departments/3/users")).await;
    assert_eq!(page["users"][0]["active"], false, "{page}");

    let (status, body) = put(&qiao, &path("/users/bob/active"), json!({ "active": true })).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(sim.user_enabled("bob"), Some(true));
    let (_, bob) = qiao.get(&path("/users/bob")).await;
    assert_eq!(bob["active"], true, "{bob}");
    assert_eq!(bob["name"], "Zhang Wei", "nothing else changed");

    // Invited and not yet joined (status 4) is enabled; left the enterprise (5) is not.
    sim.state().users.get_mut("alice").unwrap().status = 4;
    assert_eq!(qiao.get(&path("/users/alice")).await.1["active"], true);
    sim.state().users.get_mut("alice").unwrap().status = 5;
    assert_eq!(qiao.get(&path("/users/alice")).await.1["active"], false);

    let (status, body) = put(
        &qiao,
        &path("/users/ghost/active"),
        json!({ "active": false }),
    )
    .await;
    assert_eq!((status, platform_code(&body)), (404, "60111"), "{body}");
}

/// The fields directory sync compares, from a user as Qiao's API answers it.
fn synced_fields(user: &Value) -> Value {
    let keys = [
        "id",
        "name",
        "mobile",
        "email",
        "title",
        "employee_no",
        "department_ids",
        "manager_id",
        "active",
    ];
    Value::Object(
        keys.iter()
            .map(|k| (k.to_string(), user[*k].clone()))
            .collect(),
    )
}

/// One department as `list-departments` answers it: (name, parent_id, order).
fn department_in(body: &Value, id: &str) -> Value {
    let d = body["departments"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["id"] == id)
        .unwrap_or_else(|| panic!("no department {id} in {body}"));
    json!({ "name": d["name"], "parent_id": d["parent_id"], "order": d["order"] })
}

/// Every user of a department, page by page.
async fn users_of(qiao: &TestServer, dept: &str, limit: u32) -> Vec<Value> {
    let mut users = Vec::new();
    let mut cursor = String::new();
    loop {
        let (status, page) = qiao
            .get(&path(&format!(
                "/departments/{dept}/users?limit={limit}&cursor={cursor}"
            )))
            .await;
        assert_eq!(status, 200, "{page}");
        let rows = page["users"].as_array().unwrap();
        assert!(rows.len() <= limit as usize);
        users.extend(rows.iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => return users,
        }
    }
}

/// What directory sync writes through `identity` comes back identically from `list-departments`, `list-users`
/// and `get-user`: every field, after creating, moving and renaming.
#[tokio::test]
async fn directory_round_trip() {
    let (sim, qiao) = setup().await;
    let mut depts: Vec<(String, Value)> = Vec::new();
    let mut parent = "1".to_string();
    for (name, order) in [("华东区", 30), ("上海分公司", 20), ("研发部", 10)] {
        let fields = json!({ "name": name, "parent_id": parent, "order": order });
        let (status, created) = qiao.post(&path("/departments"), fields.clone()).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(
            json!({ "name": created["name"], "parent_id": created["parent_id"], "order": created["order"] }),
            fields
        );
        parent = created["id"].as_str().unwrap().to_string();
        depts.push((parent.clone(), fields));
    }
    let [(a, _), (b, _), (c, _)] = [depts[0].clone(), depts[1].clone(), depts[2].clone()];
    let (status, tree) = qiao
        .get(&path("/departments?parent=1&recursive=true"))
        .await;
    assert_eq!(status, 200, "{tree}");
    for (id, fields) in &depts {
        assert_eq!(department_in(&tree, id), *fields);
    }
    let (_, below_a) = qiao
        .get(&path(&format!("/departments?parent={a}&recursive=true")))
        .await;
    assert_eq!(
        below_a["departments"].as_array().unwrap().len(),
        2,
        "{below_a}"
    );
    let (_, children) = qiao.get(&path(&format!("/departments?parent={a}"))).await;
    assert_eq!(department_in(&children, &b), depts[1].1);
    let (_, got) = qiao.get(&path(&format!("/departments/{c}"))).await;
    assert_eq!(
        json!({ "name": got["name"], "parent_id": got["parent_id"], "order": got["order"] }),
        depts[2].1
    );

    let lead = json!({ "id": "zhoulei", "name": "周磊", "mobile": "13900000100", "email": "zhoulei@example.com",
        "title": "总监", "employee_no": "E-0001", "department_ids": [a], "manager_id": null, "active": true });
    // Two departments, the main one first (WeCom's main_department).
    let dev = json!({ "id": "wuxia", "name": "吴霞", "mobile": "13900000101", "email": "wuxia@example.com",
        "title": "Engineer", "employee_no": "E-0002", "department_ids": [c, b], "manager_id": "zhoulei",
        "active": true });
    for user in [&lead, &dev] {
        let mut fields = user.clone();
        fields.as_object_mut().unwrap().remove("active");
        if fields["manager_id"].is_null() {
            fields.as_object_mut().unwrap().remove("manager_id");
        }
        let (status, created) = qiao.post(&path("/users"), fields).await;
        assert_eq!(status, 201, "{created}");
        assert_eq!(synced_fields(&created), *user);
    }
    {
        let wuxia = sim.user("wuxia").unwrap();
        assert_eq!(
            wuxia.attr("工号"),
            Some("E-0002"),
            "kept in the custom field 工号"
        );
        assert_eq!(wuxia.main_department.to_string(), c);
        assert_eq!(wuxia.position, "Engineer");
        assert_eq!(wuxia.direct_leader, ["zhoulei"]);
    }
    let find = |users: &[Value], id: &str| {
        users
            .iter()
            .find(|u| u["id"] == id)
            .map(synced_fields)
            .unwrap_or_else(|| panic!("no {id} in {users:?}"))
    };
    assert_eq!(find(&users_of(&qiao, &a, 1).await, "zhoulei"), lead);
    assert_eq!(find(&users_of(&qiao, &c, 1).await, "wuxia"), dev);
    assert_eq!(find(&users_of(&qiao, &b, 1).await, "wuxia"), dev);
    for user in [&lead, &dev] {
        let (status, got) = qiao
            .get(&path(&format!("/users/{}", user["id"].as_str().unwrap())))
            .await;
        assert_eq!(status, 200, "{got}");
        assert_eq!(synced_fields(&got), *user);
    }

    // Moving a user: only the field given changes.
    let (status, body) = qiao
        .patch(&path("/users/wuxia"), json!({ "department_ids": [b] }))
        .await;
    assert_eq!(status, 204, "{body}");
    let mut moved = dev.clone();
    moved["department_ids"] = json!([b]);
    assert_eq!(find(&users_of(&qiao, &b, 100).await, "wuxia"), moved);
    assert!(users_of(&qiao, &c, 100).await.is_empty());
    let (status, body) = qiao
        .patch(
            &path("/users/wuxia"),
            json!({ "department_ids": [a, c], "title": "Lead", "employee_no": "E-1002" }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    moved["department_ids"] = json!([a, c]);
    moved["title"] = json!("Lead");
    moved["employee_no"] = json!("E-1002");
    assert_eq!(
        synced_fields(&qiao.get(&path("/users/wuxia")).await.1),
        moved
    );
    assert_eq!(find(&users_of(&qiao, &a, 100).await, "wuxia"), moved);

    // Clearing (contract 0.2.0): empty values, an empty leader list, an empty 工号; WeCom keeps a mobile or an
    // email on every member, and a field both set and cleared is invalid.
    let (status, body) = qiao
        .patch(
            &path("/users/wuxia"),
            json!({ "clear": ["email", "title", "employee_no", "manager_id"] }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    for key in ["email", "title", "employee_no", "manager_id"] {
        moved[key] = Value::Null;
    }
    assert_eq!(
        synced_fields(&qiao.get(&path("/users/wuxia")).await.1),
        moved
    );
    {
        let wuxia = sim.user("wuxia").unwrap();
        assert_eq!(
            (wuxia.position.as_str(), wuxia.attr("工号")),
            ("", Some(""))
        );
        assert!(wuxia.direct_leader.is_empty());
    }
    let (status, body) = qiao
        .patch(&path("/users/wuxia"), json!({ "clear": ["mobile"] }))
        .await;
    assert_eq!(
        (status, platform_code(&body)),
        (422, "60129"),
        "neither mobile nor email: {body}"
    );
    let (status, body) = qiao
        .patch(
            &path("/users/wuxia"),
            json!({ "email": "wuxia@example.com", "clear": ["email"] }),
        )
        .await;
    assert_eq!(status, 400, "set and cleared at once is refused before it is queued: {body}");
    assert_eq!(
        synced_fields(&qiao.get(&path("/users/wuxia")).await.1),
        moved
    );

    // Moving and renaming a department; then its order alone.
    let (status, body) = qiao
        .patch(
            &path(&format!("/departments/{c}")),
            json!({ "parent_id": a, "name": "研发中心" }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, tree) = qiao.get(&path("/departments?recursive=true")).await;
    assert_eq!(
        department_in(&tree, &c),
        json!({ "name": "研发中心", "parent_id": a, "order": 10 })
    );
    let (status, _) = qiao
        .patch(&path(&format!("/departments/{c}")), json!({ "order": 5 }))
        .await;
    assert_eq!(status, 204);
    let (_, tree) = qiao.get(&path("/departments?recursive=true")).await;
    assert_eq!(
        department_in(&tree, &c),
        json!({ "name": "研发中心", "parent_id": a, "order": 5 })
    );
    assert_eq!(department_in(&tree, &b), depts[1].1, "untouched");
    let (status, body) = qiao
        .patch(
            &path(&format!("/departments/{a}")),
            json!({ "parent_id": c }),
        )
        .await;
    assert_eq!(
        (status, platform_code(&body)),
        (422, "60010"),
        "a loop: {body}"
    );

    // Paging through a big department: every member once.
    {
        let mut state = sim.state();
        for n in 0..250 {
            state.add_user(
                &format!("big{n:03}"),
                &format!("Big {n}"),
                &format!("136{n:08}"),
                vec![c.parse().unwrap()],
            );
        }
    }
    let mut paged: Vec<String> = users_of(&qiao, &c, 100)
        .await
        .iter()
        .map(|u| u["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(paged.len(), 251, "250 and wuxia");
    paged.sort();
    paged.dedup();
    assert_eq!(paged.len(), 251);
}

/// Directory sync's read of a large WeCom: 200 departments (depth 3) and 2,000 members, every department's
/// members paged through `list-users`, each member once with its departments.
#[tokio::test]
async fn directory_read_at_scale() {
    let (sim, qiao) = setup_with(Options {
        qps: 100_000,
        ..Options::default()
    })
    .await;
    let mut depts = Vec::new();
    {
        let mut state = sim.state();
        let add = |state: &mut qiao_tests::wecom_sim::State, name: String, parent: i64| {
            let id = state.next_id();
            state.depts.insert(
                id,
                qiao_tests::wecom_sim::Dept {
                    id,
                    name,
                    name_en: String::new(),
                    parent_id: parent,
                    order: id,
                },
            );
            id
        };
        for i in 0..20 {
            let top = add(&mut state, format!("Region {i}"), 1);
            depts.push(top);
            let first = add(&mut state, format!("Region {i} HQ"), top);
            depts.push(first);
            for j in 0..8 {
                let parent = if j < 3 { top } else { first };
                depts.push(add(&mut state, format!("Team {i}-{j}"), parent));
            }
        }
        for n in 0..2000 {
            let dept = depts[n % depts.len()];
            // Every tenth member is also in a second department.
            let mut member_of = vec![dept];
            if n % 10 == 0 {
                member_of.push(depts[(n + 1) % depts.len()]);
            }
            state.add_user(
                &format!("m{n:04}"),
                &format!("Member {n}"),
                &format!("135{n:08}"),
                member_of,
            );
        }
    }
    assert_eq!(depts.len(), 200);
    let started = std::time::Instant::now();
    let (status, tree) = qiao
        .get(&path("/departments?parent=1&recursive=true"))
        .await;
    assert_eq!(status, 200);
    let listed: Vec<String> = tree["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(listed.len(), 202, "200 and the two seeded");
    let mut users = std::collections::BTreeMap::new();
    let mut rows = 0;
    for dept in std::iter::once("1".to_string()).chain(listed) {
        for user in users_of(&qiao, &dept, 100).await {
            rows += 1;
            users.insert(user["id"].as_str().unwrap().to_string(), user);
        }
    }
    assert_eq!(users.len(), 2003);
    assert_eq!(
        rows,
        2003 + 200,
        "members of two departments are listed in both"
    );
    let m10 = &users["m0010"];
    assert_eq!(
        m10["department_ids"],
        json!([depts[10].to_string(), depts[11].to_string()])
    );
    eprintln!(
        "read 202 departments and 2,003 users through Qiao in {:?}",
        started.elapsed()
    );
}
