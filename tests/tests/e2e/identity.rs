//! The enterprise's identities end to end, against the DingTalk, WeCom and Feishu simulators at once: sign-in
//! with Qiao's CSRF states and single-use codes (`/sso/start`, `/sso/exchange`) answering the enterprise's person,
//! and messages and approvals addressed by the enterprise's person ids.

use qiao_store::{LinkKind, SsoState};
use qiao_directory::{Department, Directory, Person};
use qiao_tests::TestServer;
use qiao_tests::dingtalk_sim::{self, DingTalkSim};
use qiao_tests::feishu_sim::{self, FeishuSim};
use qiao_tests::wecom_sim::{self, WeComSim};
use serde_json::{Value, json};

struct World {
    dt: DingTalkSim,
    wc: WeComSim,
    fs: FeishuSim,
    qiao: TestServer,
}

fn config(dt: &DingTalkSim, wc: &WeComSim, fs: &FeishuSim) -> String {
    let f = &fs.options;
    let limits = "limits = { timeout_ms = 3000 }";
    format!(
        r#"
        [directory]
        preferred = ["wc", "dt"]
        {}{}
        [connections.fs]
        connector = "feishu"
        settings = {{ app_id = "{}", api_base = "{}", user_id_type = "user_id", department_id_type = "department_id" }}
        secrets = {{ app_secret = "{}", verification_token = "{}", encrypt_key = "{}" }}
        {limits}
        "#,
        dt.connection("dt", limits),
        wc.connection("wc", limits),
        f.app_id,
        fs.base,
        f.app_secret,
        f.verification_token,
        f.encrypt_key,
    )
}

fn person(id: &str, mobile: Option<&str>, email: Option<&str>, active: bool) -> Person {
    Person {
        id: id.into(),
        employee_no: None,
        name: format!("Person {id}"),
        mobile: mobile.map(Into::into),
        email: email.map(Into::into),
        title: None,
        manager_id: None,
        department_ids: vec!["eng".into()],
        active,
        roles: Vec::new(),
    }
}

/// The three platforms and one Qiao, with the enterprise directory:
/// - `p-alice` (mobile 13800000002): DingTalk `alice`, WeCom `alice`; not linked on Feishu.
/// - `p-bob` (no mobile, email `BOB@example.com`): Feishu `bob` only.
/// - `p-carol`: no account anywhere. `p-left`: left the company (inactive), WeCom `bob`.
/// - `p-m1a`, `p-m1b`: both with manager1's mobile (13800000001), written differently; not linked.
/// - `p-boss`: DingTalk `manager1`... only where a test links it.
/// - departments `eng` (DingTalk 2), `sales` (DingTalk 3), `hr` (not linked).
async fn world() -> World {
    let dt = DingTalkSim::start(dingtalk_sim::Options::default())
        .await
        .unwrap();
    let wc = WeComSim::start(wecom_sim::Options::default())
        .await
        .unwrap();
    let fs = FeishuSim::start(feishu_sim::Options::default())
        .await
        .unwrap();
    let qiao = TestServer::start(&["dingtalk", "wecom", "feishu"], &config(&dt, &wc, &fs))
        .await
        .unwrap();
    dt.set_callback_url(&qiao.url("/v1/hooks/dt"));
    wc.set_callback_url(&qiao.url("/v1/hooks/wc"));
    fs.set_callback_url(&qiao.url("/v1/hooks/fs"));
    let db = qiao.db();
    let department = |id: &str| Department {
        id: id.into(),
        name: id.to_uppercase(),
        parent_id: None,
        order: None,
    };
    db.replace_directory(Directory {
        departments: vec![department("eng"), department("sales"), department("hr")],
        people: vec![
            person(
                "p-alice",
                Some("13800000002"),
                Some("alice@corp.example"),
                true,
            ),
            person("p-bob", None, Some(" BOB@example.com"), true),
            person("p-carol", Some("13900000009"), None, true),
            person("p-left", None, None, false),
            person("p-m1a", Some("138 0000 0001"), None, true),
            person("p-m1b", Some("+86 13800000001"), None, true),
            person("p-boss", None, None, true),
        ],
    })
    .await
    .unwrap();
    for (connection, kind, id, platform) in [
        ("dt", LinkKind::Person, "p-alice", "alice"),
        ("wc", LinkKind::Person, "p-alice", "alice"),
        ("fs", LinkKind::Person, "p-bob", "bob"),
        ("wc", LinkKind::Person, "p-left", "bob"),
        ("dt", LinkKind::Department, "eng", "2"),
        ("dt", LinkKind::Department, "sales", "3"),
    ] {
        db.set_link(connection.into(), kind, id.into(), platform.into(), None)
            .await
            .unwrap();
    }
    World { dt, wc, fs, qiao }
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

const REDIRECT: &str = "https://oa.example.com/sso/callback";

/// `POST …/sso/start` for a connection: the state, after checking the URL carries it.
async fn start(qiao: &TestServer, connection: &str, body: Value) -> String {
    let (status, started) = qiao
        .post(&format!("/v1/connections/{connection}/sso/start"), body)
        .await;
    assert_eq!(status, 200, "{started}");
    let state = started["state"].as_str().unwrap().to_string();
    assert!(
        state.len() >= 22
            && state
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
        "at least 128 bits, URL-safe: {state}"
    );
    let url = started["url"].as_str().unwrap();
    assert!(url.contains(&format!("state={state}")), "{url}");
    let expires = started["expires_at_ms"].as_i64().unwrap();
    let now = qiao_store::now_ms();
    assert!(
        (now + 9 * 60_000..=now + 10 * 60_000).contains(&expires),
        "ten minutes: {started}"
    );
    state
}

async fn exchange(qiao: &TestServer, connection: &str, body: Value) -> (u16, Value) {
    qiao.post(&format!("/v1/connections/{connection}/sso/exchange"), body)
        .await
}

#[tokio::test]
async fn sign_in_with_a_state_on_each_platform_answers_the_person() {
    let World { dt, wc, fs, qiao } = world().await;

    // DingTalk: the web flow (the one with a sign-in URL), alice linked.
    let state = start(
        &qiao,
        "dt",
        json!({ "redirect_uri": REDIRECT, "flow": "web" }),
    )
    .await;
    let code = dt.state().code_for("alice");
    let (status, body) = exchange(&qiao, "dt", json!({ "code": code, "state": state })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["connection"], "dt");
    assert_eq!(body["platform_user"]["user_id"], "alice", "{body}");
    assert_eq!(
        (body["person"]["id"].as_str(), body["matched_by"].as_str()),
        (Some("p-alice"), Some("link")),
        "{body}"
    );
    assert_eq!(body["person"]["name"], "Person p-alice");

    // WeCom: alice linked.
    let state = start(&qiao, "wc", json!({ "redirect_uri": REDIRECT })).await;
    let code = wc.state().code_for("alice");
    let (status, body) = exchange(
        &qiao,
        "wc",
        json!({ "code": code, "state": state, "redirect_uri": REDIRECT }),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["platform_user"]["user_id"], "alice");
    assert_eq!(
        (body["person"]["id"].as_str(), body["matched_by"].as_str()),
        (Some("p-alice"), Some("link")),
        "{body}"
    );

    // Feishu: alice has no link there; her mobile (+8613800000002 on Feishu) is p-alice's.
    let state = start(&qiao, "fs", json!({ "redirect_uri": REDIRECT })).await;
    let code = fs.state().code_for("alice");
    let (status, body) = exchange(&qiao, "fs", json!({ "code": code, "state": state })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["platform_user"]["user_id"], "alice");
    assert_eq!(
        (body["person"]["id"].as_str(), body["matched_by"].as_str()),
        (Some("p-alice"), Some("mobile")),
        "{body}"
    );

    // Feishu bob: linked.
    let state = start(&qiao, "fs", json!({ "redirect_uri": REDIRECT })).await;
    let code = fs.state().code_for("bob");
    let (_, body) = exchange(&qiao, "fs", json!({ "code": code, "state": state })).await;
    assert_eq!(
        (body["person"]["id"].as_str(), body["matched_by"].as_str()),
        (Some("p-bob"), Some("link")),
        "{body}"
    );
}

#[tokio::test]
async fn the_person_is_matched_by_link_mobile_or_email_and_never_guessed() {
    let World { dt, qiao, .. } = world().await;
    let sign_in = |user: &'static str| {
        let qiao = &qiao;
        let code = dt.state().code_for(user);
        async move {
            let state = start(
                qiao,
                "dt",
                json!({ "redirect_uri": REDIRECT, "flow": "web" }),
            )
            .await;
            let (status, body) =
                exchange(qiao, "dt", json!({ "code": code, "state": state })).await;
            assert_eq!(status, 200, "{body}");
            body
        }
    };

    // bob (13800000003, bob@example.com) has no link on DingTalk and no person has his mobile: by email,
    // normalised (" BOB@example.com" in the directory).
    let body = sign_in("bob").await;
    assert_eq!(
        (body["person"]["id"].as_str(), body["matched_by"].as_str()),
        (Some("p-bob"), Some("email")),
        "{body}"
    );

    // manager1's mobile is two people's: nobody is chosen, and the answer says why.
    let body = sign_in("manager1").await;
    assert_eq!(
        (body["person"].clone(), body["matched_by"].clone()),
        (Value::Null, Value::Null),
        "{body}"
    );
    let note = body["note"].as_str().unwrap();
    assert!(
        note.contains("p-m1a") && note.contains("p-m1b") && note.contains("mobile"),
        "{note}"
    );
    assert_eq!(body["platform_user"]["user_id"], "manager1");

    // Once one of them leaves, the active one is the match.
    let db = qiao.db();
    let mut directory = db.directory().await.unwrap();
    directory
        .people
        .iter_mut()
        .find(|p| p.id == "p-m1b")
        .unwrap()
        .active = false;
    db.replace_directory(directory).await.unwrap();
    let body = sign_in("manager1").await;
    assert_eq!(
        (body["person"]["id"].as_str(), body["matched_by"].as_str()),
        (Some("p-m1a"), Some("mobile")),
        "{body}"
    );

    // A person already linked to another DingTalk account is not this one: p-alice is DingTalk alice, so a
    // DingTalk account with her mobile is nobody.
    dt.state()
        .add_user("alice2", "Li Na (2)", "13800000002", vec![2]);
    let body = sign_in("alice2").await;
    assert_eq!(body["person"], Value::Null, "{body}");

    // A link wins over everything.
    db.set_link(
        "dt".into(),
        LinkKind::Person,
        "p-boss".into(),
        "manager1".into(),
        None,
    )
    .await
    .unwrap();
    let body = sign_in("manager1").await;
    assert_eq!(
        (body["person"]["id"].as_str(), body["matched_by"].as_str()),
        (Some("p-boss"), Some("link")),
        "{body}"
    );
}

#[tokio::test]
async fn states_and_codes_work_once_and_only_where_they_were_issued() {
    let World { dt, wc, qiao, .. } = world().await;
    let web = json!({ "redirect_uri": REDIRECT, "flow": "web" });

    // A state signs in once.
    let state = start(&qiao, "dt", web.clone()).await;
    let first = dt.state().code_for("alice");
    let (status, body) = exchange(&qiao, "dt", json!({ "code": first, "state": state })).await;
    assert_eq!(status, 200, "{body}");
    let again = dt.state().code_for("alice");
    let (status, body) = exchange(&qiao, "dt", json!({ "code": again, "state": state })).await;
    assert_eq!((status, code(&body)), (409, "sso_state_used"), "{body}");

    // A code is exchanged once: refused by Qiao before DingTalk is asked (which would answer 40078).
    let fresh = start(&qiao, "dt", web.clone()).await;
    let requests = dt.state().requests.len();
    let (status, body) = exchange(&qiao, "dt", json!({ "code": first, "state": fresh })).await;
    assert_eq!((status, code(&body)), (409, "sso_code_used"), "{body}");
    assert_eq!(
        dt.state().requests.len(),
        requests,
        "the platform was not asked"
    );
    // ... and that attempt used the state up.
    let (status, body) = exchange(&qiao, "dt", json!({ "code": again, "state": fresh })).await;
    assert_eq!((status, code(&body)), (409, "sso_state_used"), "{body}");

    // A state Qiao never handed out, or handed out for another connection.
    let (status, body) = exchange(
        &qiao,
        "dt",
        json!({ "code": again, "state": "made-up-by-an-attacker" }),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "sso_state_invalid"), "{body}");
    let wecom_state = start(&qiao, "wc", json!({ "redirect_uri": REDIRECT })).await;
    let (status, body) =
        exchange(&qiao, "dt", json!({ "code": again, "state": wecom_state })).await;
    assert_eq!((status, code(&body)), (400, "sso_state_invalid"), "{body}");
    let wecom_code = wc.state().code_for("alice");
    let (status, body) = exchange(
        &qiao,
        "wc",
        json!({ "code": wecom_code, "state": wecom_state }),
    )
    .await;
    assert_eq!(status, 200, "still good where it was issued: {body}");

    // Another redirect URI than the state's.
    let state = start(&qiao, "dt", web.clone()).await;
    let (status, body) = exchange(
        &qiao,
        "dt",
        json!({ "code": again, "state": state, "redirect_uri": "https://evil.example/cb" }),
    )
    .await;
    assert_eq!((status, code(&body)), (400, "sso_state_invalid"), "{body}");
    let (status, body) = exchange(
        &qiao,
        "dt",
        json!({ "code": again, "state": state, "redirect_uri": REDIRECT }),
    )
    .await;
    assert_eq!(status, 200, "the refusal did not use it up: {body}");

    // An expired state (stored as Qiao stores one, ten minutes and a second ago).
    let expired = qiao_services::sso::new_state();
    let now = qiao_store::now_ms();
    let stored = SsoState {
        connection: "dt".into(),
        redirect_uri: REDIRECT.into(),
        flow: Some("web".into()),
        created_ms: now - 601_000,
        expires_ms: now - 1_000,
    };
    qiao.db()
        .sso_add_state(qiao_services::sso::digest(&expired), stored, 0, 0)
        .await
        .unwrap();
    let code_ = dt.state().code_for("alice");
    let (status, body) = exchange(&qiao, "dt", json!({ "code": code_, "state": expired })).await;
    assert_eq!((status, code(&body)), (400, "sso_state_expired"), "{body}");

    // Neither states nor codes are kept in clear.
    let path = qiao.data_dir.join("qiao.db");
    let stored = rusqlite::Connection::open(path).unwrap();
    let states: Vec<String> = stored
        .prepare("SELECT state FROM sso_states")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert!(
        !states.is_empty() && !states.contains(&fresh) && !states.contains(&expired),
        "{states:?}"
    );
    let codes: i64 = stored
        .query_row(
            "SELECT count(*) FROM sso_codes WHERE code_hash = ?1",
            [&first],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(codes, 0);

    // What start refuses: a redirect URI that is not an absolute http(s) URL, or too long; a connector's own
    // refusal (DingTalk's in-app flow has no URL) stores no state.
    for bad in [
        "/relative/callback",
        "javascript:alert(1)",
        "ftp://oa.example.com/cb",
        "https://oa.example.com/cb#fragment",
        "https://user:pw@oa.example.com/cb",
        &format!("https://oa.example.com/{}", "x".repeat(3000)),
    ] {
        let (status, body) = qiao
            .post(
                "/v1/connections/dt/sso/start",
                json!({ "redirect_uri": bad }),
            )
            .await;
        assert_eq!(
            (status, code(&body)),
            (400, "invalid_request"),
            "{bad}: {body}"
        );
    }
    let (status, body) = qiao
        .post(
            "/v1/connections/dt/sso/start",
            json!({ "redirect_uri": REDIRECT, "flow": "in-app" }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    let (status, body) = qiao
        .post(
            "/v1/connections/nope/sso/start",
            json!({ "redirect_uri": REDIRECT }),
        )
        .await;
    assert_eq!((status, code(&body)), (404, "unknown_connection"), "{body}");
    let (status, body) = exchange(&qiao, "nope", json!({ "code": "c", "state": "s" })).await;
    assert_eq!((status, code(&body)), (404, "unknown_connection"), "{body}");
    let (status, body) = exchange(&qiao, "dt", json!({ "code": "", "state": "s" })).await;
    assert_eq!((status, code(&body)), (400, "invalid_request"), "{body}");
}

#[tokio::test]
async fn a_message_to_people_lands_on_their_accounts_and_the_rest_is_reported() {
    let World { dt, wc, qiao, .. } = world().await;

    let (status, sent) = qiao
        .post(
            "/v1/connections/dt/messages",
            json!({ "to": { "people": ["p-alice", "p-carol", "p-gone", "p-left", "p-alice"] }, "text": "to people" }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let id: i64 = sent["message_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(dt.state().notifications[&id].users, ["alice"]);
    assert_eq!(
        sent["unresolved"],
        json!([
            { "id": "p-carol", "kind": "person", "reason": "no_account" },
            { "id": "p-gone", "kind": "person", "reason": "unknown_person" },
            { "id": "p-left", "kind": "person", "reason": "inactive" },
        ]),
        "{sent}"
    );
    // The outbox keeps the message as resolved.
    let (_, op) = qiao
        .get(&format!("/v1/operations/{}", sent["operation_id"]))
        .await;
    assert_eq!(
        op["request"]["message"]["to"]["users"],
        json!(["alice"]),
        "{op}"
    );

    // Platform ids and the enterprise's together; departments through their links.
    let (status, sent) = qiao
        .post(
            "/v1/connections/dt/messages",
            json!({ "to": { "users": ["manager1"], "people": ["p-alice"], "enterprise_departments": ["sales", "hr", "nope"] },
                    "text": "to departments" }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let id: i64 = sent["message_id"].as_str().unwrap().parse().unwrap();
    let mut users = dt.state().notifications[&id].users.clone();
    users.sort();
    assert_eq!(
        users,
        ["alice", "bob", "manager1"],
        "sales is bob's department"
    );
    assert_eq!(
        sent["unresolved"],
        json!([
            { "id": "hr", "kind": "department", "reason": "no_link" },
            { "id": "nope", "kind": "department", "reason": "unknown_department" },
        ])
    );

    // On WeCom, p-alice is alice too.
    let (status, sent) = qiao
        .post(
            "/v1/connections/wc/messages",
            json!({ "to": { "people": ["p-alice"] }, "text": "on WeCom" }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(wc.state().messages.last().unwrap().users, ["alice"]);
    assert_eq!(sent["unresolved"], json!([]));

    // Nobody reachable: 422, listing why; nothing is queued.
    let (status, body) = qiao
        .post(
            "/v1/connections/dt/messages",
            json!({ "to": { "people": ["p-carol", "p-left"] }, "text": "x" }),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "no_recipients"), "{body}");
    assert_eq!(
        body["error"]["details"]["unresolved"]
            .as_array()
            .unwrap()
            .len(),
        2,
        "{body}"
    );
    let (status, body) = qiao
        .post(
            "/v1/connections/nope/messages",
            json!({ "to": { "people": ["p-alice"] }, "text": "x" }),
        )
        .await;
    assert_eq!((status, code(&body)), (404, "unknown_connection"), "{body}");

    // A message addressed only by platform ids is answered as before (no `unresolved`).
    let (status, sent) = qiao
        .post(
            "/v1/connections/dt/messages",
            json!({ "to": { "users": ["bob"] }, "text": "plain" }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert!(sent.get("unresolved").is_none(), "{sent}");
    // Accepted without waiting: the 202 carries it too.
    let (status, accepted) = qiao
        .post(
            "/v1/connections/dt/messages?wait=0",
            json!({ "to": { "people": ["p-alice", "p-carol"] }, "text": "later" }),
        )
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["unresolved"][0]["id"], "p-carol", "{accepted}");
}

#[tokio::test]
async fn a_message_to_people_across_platforms_goes_to_each_persons_preferred_one() {
    let World { dt, wc, fs, qiao } = world().await;
    let body = json!({ "to": { "people": ["p-alice", "p-bob", "p-carol"] }, "text": "everywhere", "idempotency_key": "notice-1" });

    // preferred = ["wc", "dt"]: p-alice is on both, so WeCom; p-bob is on Feishu only.
    let (status, sent) = qiao.post("/v1/messages?wait=30", body.clone()).await;
    assert_eq!(status, 200, "{sent}");
    let deliveries = sent["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "{sent}");
    assert_eq!(
        (
            deliveries[0]["connection"].as_str(),
            deliveries[0]["users"].clone(),
            deliveries[0]["people"].clone()
        ),
        (Some("wc"), json!(["alice"]), json!(["p-alice"])),
        "{sent}"
    );
    assert_eq!(
        (
            deliveries[1]["connection"].as_str(),
            deliveries[1]["users"].clone()
        ),
        (Some("fs"), json!(["bob"]))
    );
    assert!(
        deliveries
            .iter()
            .all(|d| d["status"] == "succeeded" && d["result"]["message_id"].is_string()),
        "{sent}"
    );
    assert_eq!(
        sent["unresolved"],
        json!([{ "id": "p-carol", "kind": "person", "reason": "no_account" }])
    );
    assert_eq!(wc.state().messages.last().unwrap().users, ["alice"]);
    assert!(
        fs.state().messages.iter().any(|m| m.recipients == ["bob"]),
        "Feishu got it for bob"
    );
    let dt_sent = dt.state().notifications.len();

    // One operation per connection, its key derived from the caller's; the same request is the same operations.
    let (_, op) = qiao
        .get(&format!("/v1/operations/{}", deliveries[0]["operation_id"]))
        .await;
    assert_eq!(
        (op["connection"].as_str(), op["idempotency_key"].as_str()),
        (Some("wc"), Some("notice-1:wc")),
        "{op}"
    );
    let (status, again) = qiao.post("/v1/messages?wait=30", body).await;
    assert_eq!(status, 200, "{again}");
    let ids = |v: &Value| -> Vec<Value> {
        v["deliveries"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| d["operation_id"].clone())
            .collect()
    };
    assert_eq!(ids(&again), ids(&sent));

    // Named platforms: every one of them where the person has an account.
    let (status, sent) = qiao
        .post(
            "/v1/messages?wait=30",
            json!({ "to": { "people": ["p-alice", "p-bob"] }, "markdown": { "title": "t", "text": "**named**" }, "platforms": ["dt", "fs"] }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let got: Vec<(&str, Value)> = sent["deliveries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| (d["connection"].as_str().unwrap(), d["users"].clone()))
        .collect();
    assert_eq!(
        got,
        [("dt", json!(["alice"])), ("fs", json!(["bob"]))],
        "{sent}"
    );
    assert_eq!(dt.state().notifications.len(), dt_sent + 1);

    // Without ?wait: accepted.
    let (status, sent) = qiao
        .post(
            "/v1/messages",
            json!({ "to": { "people": ["p-alice"] }, "text": "queued", "platforms": ["wc"] }),
        )
        .await;
    assert_eq!(status, 202, "{sent}");
    assert!(sent["deliveries"][0]["operation_id"].is_i64(), "{sent}");

    // Nobody reachable, an unknown platform, nobody named.
    let (status, body) = qiao
        .post(
            "/v1/messages",
            json!({ "to": { "people": ["p-carol", "p-bob"] }, "text": "x", "platforms": ["dt"] }),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "no_recipients"), "{body}");
    let (status, body) = qiao
        .post(
            "/v1/messages",
            json!({ "to": { "people": ["p-alice"] }, "text": "x", "platforms": ["nope"] }),
        )
        .await;
    assert_eq!((status, code(&body)), (404, "unknown_connection"), "{body}");
    let (status, body) = qiao
        .post(
            "/v1/messages",
            json!({ "to": { "people": [] }, "text": "x" }),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}

#[tokio::test]
async fn approvals_name_the_applicant_and_approvers_by_person() {
    let World { dt, qiao, .. } = world().await;
    qiao.db()
        .set_link(
            "dt".into(),
            LinkKind::Person,
            "p-boss".into(),
            "manager1".into(),
            None,
        )
        .await
        .unwrap();
    let fields =
        json!([{ "name": "reason", "value": "家里有事" }, { "name": "days", "value": "2" }]);

    let (status, created) = qiao
        .post(
            "/v1/connections/dt/approvals",
            json!({ "template": "PROC-LEAVE", "applicant_person": "p-alice", "approver_people": ["p-boss"], "fields": fields }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap();
    let instance = dt.state().instances[id].clone();
    assert_eq!(instance.originator, "alice");
    assert_eq!(
        instance
            .tasks
            .iter()
            .map(|t| t.user.as_str())
            .collect::<Vec<_>>(),
        ["manager1"]
    );

    // An applicant or approver without an account here: 422, nothing created.
    let before = dt.state().instances.len();
    let (status, body) = qiao
        .post(
            "/v1/connections/dt/approvals",
            json!({ "template": "PROC-LEAVE", "applicant_person": "p-carol", "fields": fields }),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "unresolved_person"), "{body}");
    assert_eq!(
        body["error"]["details"]["unresolved"][0],
        json!({ "id": "p-carol", "kind": "person", "reason": "no_account" })
    );
    let (status, body) = qiao
        .post(
            "/v1/connections/dt/approvals",
            json!({ "template": "PROC-LEAVE", "applicant": "alice", "approver_people": ["p-boss", "p-left"], "fields": fields }),
        )
        .await;
    assert_eq!((status, code(&body)), (422, "unresolved_person"), "{body}");
    assert_eq!(dt.state().instances.len(), before);

    // One way of naming each.
    let (status, _) = qiao
        .post(
            "/v1/connections/dt/approvals",
            json!({ "template": "PROC-LEAVE", "applicant": "alice", "applicant_person": "p-alice", "fields": fields }),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = qiao
        .post(
            "/v1/connections/dt/approvals",
            json!({ "template": "PROC-LEAVE", "applicant": "alice", "approvers": ["manager1"], "approver_people": ["p-boss"], "fields": fields }),
        )
        .await;
    assert_eq!(status, 400);
}
