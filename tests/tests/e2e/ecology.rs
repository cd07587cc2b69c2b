//! The Weaver e-cology connector end to end, as an operator runs a third party's connector: `plugins/ecology`
//! (Python, built with componentize-py, signed by its own publisher `acme-labs`, which the config trusts by name) →
//! Qiao's REST API → the e-cology simulator (`qiao_tests::ecology_sim`, real RSA token sign-in), and the OA-side
//! hook's signed posts → `/v1/hooks/oa` → the event log.

use qiao_tests::TestServer;
use qiao_tests::echo_server::hex_hmac;
use qiao_tests::dingtalk_sim::{DingTalkSim, Options as DtOptions};
use qiao_tests::wecom_sim::{Options as WcOptions, WeComSim};
use qiao_tests::ecology_sim::{
    APPID, BOT, CHEN_JING, EcologySim, LI_NA, Options, SSO_APPID, SYSCODE, WANG_FANG,
    WORKFLOW_EXPENSE, ZHANG_WEI,
};
use qiao_tests::signing::{self, PLUGIN_PUBLISHER};
use serde_json::{Value, json};

const HOOK_SECRET: &str = "sim-ecology-hook-secret";
const APPROVALS: &str = "/v1/connections/oa/approvals";

/// The `oa` connection (as `fixtures/qiao.toml`, pointed at this simulator), with `extra` TOML after it.
fn config(sim: &EcologySim, extra: &str) -> String {
    format!(
        r#"
        {extra}

        [connections.oa]
        connector = "ecology"
        settings = {{ base_url = "{base}", appid = "{APPID}", user_id = "1", ofs_syscode = "{SYSCODE}", sso_appid = "{SSO_APPID}", ofs_default_link = "{base}/spa/workflow/index_form.jsp" }}
        secrets = {{ cpk = "unused-client-key", hook_secret = "{HOOK_SECRET}" }}
        limits = {{ timeout_ms = 20000 }}

        {trust}
        "#,
        base = sim.base,
        trust = signing::trust(&[PLUGIN_PUBLISHER]),
    )
}

async fn setup() -> (EcologySim, TestServer) {
    let sim = EcologySim::start(Options::default()).await.unwrap();
    let qiao = TestServer::start_as_is(&["ecology"], &config(&sim, ""))
        .await
        .unwrap();
    (sim, qiao)
}

/// An expense claim filed by 张伟, whose manager 李娜 approves first, then 王芳 (the general manager).
async fn file_claim(qiao: &TestServer, title: &str) -> String {
    let (status, created) = qiao
        .post(
            APPROVALS,
            json!({
                "template": WORKFLOW_EXPENSE.to_string(),
                "applicant": ZHANG_WEI.to_string(),
                "fields": [
                    { "name": "sqr", "value": ZHANG_WEI.to_string() },
                    { "name": "bxje", "value": "1280.00" },
                    { "name": "sy", "value": "客户拜访差旅" }
                ],
                "options": { "requestName": title, "remark": "请审批" }
            }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().expect("a request id").to_string()
}

async fn status_of(qiao: &TestServer, id: &str) -> Value {
    let (status, body) = qiao
        .get(&format!(
            "{APPROVALS}/{id}?template={WORKFLOW_EXPENSE}&refresh=true"
        ))
        .await;
    assert_eq!(status, 200, "{body}");
    body
}

async fn act(qiao: &TestServer, id: &str, action: &str, actor: i64, comment: &str) {
    let (status, body) = qiao
        .post(
            &format!("{APPROVALS}/{id}/{action}"),
            json!({ "actor": actor.to_string(), "comment": comment }),
        )
        .await;
    assert!(
        matches!(status, 200 | 204),
        "{action} as {actor}: {status} {body}"
    );
}

async fn push(qiao: &TestServer, body: &str, signature: Option<String>) -> u16 {
    let mut request = reqwest::Client::new()
        .post(qiao.url("/v1/hooks/oa"))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(signature) = signature {
        request = request.header("X-Qiao-Signature", signature);
    }
    request.send().await.expect("hook post").status().as_u16()
}

/// The connector loads only because the config trusts its publisher: with the build key alone it is refused.
#[tokio::test]
async fn the_publisher_must_be_trusted_by_name() {
    let sim = EcologySim::start(Options::default()).await.unwrap();
    let only_build = config(&sim, "").replace(
        &signing::trust(&[PLUGIN_PUBLISHER]),
        &signing::build_trust(),
    );
    let qiao = TestServer::start_as_is(&["ecology"], &only_build)
        .await
        .unwrap();
    let row = qiao.connector_row("ecology.wasm").await.expect("listed");
    assert_eq!(row["state"], "failed", "{row}");
    assert!(
        row["error"].to_string().contains(PLUGIN_PUBLISHER),
        "names the untrusted publisher: {row}"
    );
}

#[tokio::test]
async fn the_acme_labs_connector_loads_and_a_claim_is_approved_by_both_approvers() {
    let (sim, qiao) = setup().await;
    let row = qiao.connector_row("ecology.wasm").await.expect("listed");
    assert_eq!(row["trust"]["publisher"], PLUGIN_PUBLISHER, "{row}");
    assert_eq!(row["contract"], "0.2.0", "{row}");

    let id = file_claim(&qiao, "费用报销-张伟-差旅").await;
    {
        let state = sim.state();
        let request = &state.requests[&id.parse::<i64>().unwrap()];
        assert_eq!(request.creator, ZHANG_WEI);
        assert_eq!(
            request.operators,
            vec![LI_NA],
            "the applicant's manager first"
        );
        assert_eq!(request.main["bxje"], json!("1280.00"), "{:?}", request.main);
    }
    let pending = status_of(&qiao, &id).await;
    assert_eq!(pending["status"], "pending", "{pending}");
    assert_eq!(pending["applicant"], ZHANG_WEI.to_string(), "{pending}");

    // The manager approves through Qiao, acting as herself; the general manager in the OA's own pages.
    act(&qiao, &id, "approve", LI_NA, "同意").await;
    assert_eq!(
        sim.state().requests[&id.parse::<i64>().unwrap()].operators,
        vec![WANG_FANG]
    );
    assert_eq!(status_of(&qiao, &id).await["status"], "pending");
    sim.act(id.parse().unwrap(), WANG_FANG, true).unwrap();

    let done = status_of(&qiao, &id).await;
    assert_eq!(done["status"], "approved", "{done}");
    assert!(
        done["comments"].to_string().contains("同意"),
        "the manager's remark: {done}"
    );
}

#[tokio::test]
async fn a_claim_rejected_by_the_general_manager_reads_rejected() {
    let (sim, qiao) = setup().await;
    let id = file_claim(&qiao, "费用报销-张伟-超标").await;
    sim.act(id.parse().unwrap(), LI_NA, true).unwrap();
    act(&qiao, &id, "reject", WANG_FANG, "超出标准").await;
    let body = status_of(&qiao, &id).await;
    assert_eq!(body["status"], "rejected", "{body}");

    // Someone not on the request cannot act on it: refused with the OA's word, and the request stays back with
    // its creator.
    let (status, refused) = qiao
        .post(
            &format!("{APPROVALS}/{id}/approve"),
            json!({ "actor": BOT.to_string() }),
        )
        .await;
    assert_eq!(status, 403, "{refused}");
    assert_eq!(
        refused["error"]["details"]["platform_code"], "NO_PERMISSION",
        "{refused}"
    );
    assert_eq!(
        sim.state().requests[&id.parse::<i64>().unwrap()].operators,
        vec![ZHANG_WEI]
    );
}

#[tokio::test]
async fn the_oa_directory_is_read_and_synced_into_dingtalk_and_wecom() {
    let sim = EcologySim::start(Options::default()).await.unwrap();
    let dt = DingTalkSim::start(DtOptions::default()).await.unwrap();
    let wc = WeComSim::start(WcOptions::default()).await.unwrap();
    let extra = format!("[directory]\nsource = \"oa\"\n{}{}", dt.connection("dt", ""), wc.connection("wc", ""));
    let qiao = TestServer::start_as_is(&["ecology", "dingtalk", "wecom"], &config(&sim, &extra))
        .await
        .unwrap();

    let (status, departments) = qiao
        .get("/v1/connections/oa/departments?recursive=true")
        .await;
    assert_eq!(status, 200, "{departments}");
    let ids: Vec<&str> = departments["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    for id in ["sub-1", "sub-2", "11", "12", "13"] {
        assert!(
            ids.contains(&id),
            "subcompanies and departments: {departments}"
        );
    }
    assert!(
        !ids.contains(&"14"),
        "the sealed department is gone: {ids:?}"
    );

    let (status, eng) = qiao.get("/v1/connections/oa/departments/12/users").await;
    assert_eq!(status, 200, "{eng}");
    let text = eng.to_string();
    assert!(text.contains("李娜") && text.contains("张伟"), "{eng}");
    assert!(!text.contains("C0F7EE31"), "never the password hash: {eng}");

    let (status, chen) = qiao
        .get(&format!("/v1/connections/oa/users/{CHEN_JING}"))
        .await;
    assert_eq!(status, 200, "{chen}");
    assert_eq!(chen["active"], false, "status 5 (离职) is inactive: {chen}");
    let (_, li) = qiao.get(&format!("/v1/connections/oa/users/{LI_NA}")).await;
    assert_eq!(li["active"], true, "{li}");
    assert_eq!(li["mobile"], "13800000002", "{li}");

    // DingTalk requires a mobile, which the seeded integration account lacks: the OA admin fills it in first.
    sim.state().people.get_mut(&BOT).unwrap().mobile = "13800000009".into();
    let (status, pulled) = qiao.post("/v1/directory/pull", json!({})).await;
    assert_eq!(status, 200, "{pulled}");
    assert_eq!(pulled["source"], "oa", "{pulled}");
    assert_eq!(
        pulled["changed"]["people"]["added"], 5,
        "the secondary account is skipped: {pulled}"
    );

    // The DingTalk simulator already has three of them (same mobiles): linked and renamed; the account is created;
    // 陈静 (离职) gets no DingTalk account.
    let run = qiao.sync("dt", json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    assert_eq!(run["plan"]["counts"]["link_user"], 3, "{run}");
    assert_eq!(run["plan"]["counts"]["create_user"], 1, "{run}");
    let state = dt.state();
    let names: Vec<&str> = state.users.values().map(|u| u.name.as_str()).collect();
    for name in ["王芳", "李娜", "张伟", "Qiao 集成账号"] {
        assert!(names.contains(&name), "{name} in DingTalk; have {names:?}");
    }
    assert!(
        !names.contains(&"陈静"),
        "no account for a person who left: {names:?}"
    );
    assert!(
        !names.contains(&"张伟(兼)"),
        "secondary accounts are skipped: {names:?}"
    );
    let bot = state
        .users
        .values()
        .find(|u| u.name == "Qiao 集成账号")
        .unwrap();
    assert_eq!(bot.job_number, "Q0001");
    drop(state);

    // And into WeCom from the same pull: every active person has an account there afterwards.
    let run = qiao.sync("wc", json!({})).await;
    assert_eq!(run["status"], "succeeded", "{run}");
    let state = wc.state();
    let names: Vec<&str> = state.users.values().map(|u| u.name.as_str()).collect();
    for name in ["王芳", "李娜", "张伟", "Qiao 集成账号"] {
        assert!(names.contains(&name), "{name} in WeCom; have {names:?}");
    }
    assert!(!names.contains(&"陈静") && !names.contains(&"张伟(兼)"), "{names:?}");
}

#[tokio::test]
async fn a_login_url_signs_the_person_in_once() {
    let (sim, qiao) = setup().await;
    let (status, body) = qiao
        .post(
            &format!("/v1/connections/oa/users/{LI_NA}/login-url"),
            json!({}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let url = body["url"].as_str().expect("a url").to_string();
    assert!(
        url.starts_with(&format!("{}/wui/index.html?ssoToken=", sim.base)),
        "{url}"
    );
    assert!(url.ends_with("#/main"), "{url}");

    let browser = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let first = browser.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert!(
        first
            .text()
            .await
            .unwrap()
            .contains("data-loginid=\"lina\"")
    );
    assert_eq!(sim.state().sso_logins.len(), 1);
    let again = browser.get(&url).send().await.unwrap();
    assert_eq!(again.status(), 302, "an ssoToken is good once");
}

#[tokio::test]
async fn only_signed_pushes_become_events() {
    let (_sim, qiao) = setup().await;
    let event = json!({
        "id": "5074:workflow:approved:1764727200000", "type": "workflow", "time": 1764727200000i64,
        "requestId": "5074", "workflowId": "44", "requestName": "费用报销-张伟", "status": "approved",
        "from": "pending", "nodeName": "总经理审批", "operatorId": "2", "remark": "同意"
    })
    .to_string();

    assert_eq!(push(&qiao, &event, None).await, 401, "unsigned");
    let forged = hex_hmac("not-the-secret", &event);
    assert_eq!(
        push(&qiao, &event, Some(format!("sha256={forged}"))).await,
        401,
        "forged"
    );
    assert!(qiao.events("oa").await.is_empty(), "nothing stored");

    let signed = hex_hmac(HOOK_SECRET, &event);
    assert_eq!(
        push(&qiao, &event, Some(format!("sha256={signed}"))).await,
        200
    );
    let stored = qiao
        .wait_for_event("oa", |e| {
            e["type"] == "approval.status_changed" && e["subject"] == "5074"
        })
        .await;
    assert_eq!(stored["payload"]["status"], "approved", "{stored}");
    assert_eq!(stored["payload"]["actor"], "2", "{stored}");

    // Sent again (same delivery id): stored once. Signed but not an event: 400, nothing stored.
    assert_eq!(
        push(&qiao, &event, Some(format!("sha256={signed}"))).await,
        200
    );
    let junk = r#"{"id":"x","type":"meeting","requestId":"5074"}"#;
    let junk_signature = hex_hmac(HOOK_SECRET, &junk);
    assert_eq!(
        push(&qiao, junk, Some(format!("sha256={junk_signature}"))).await,
        400
    );

    // A person's OA to-do: the task vocabulary, subject wf-<request>-<user>.
    let todo = json!({
        "id": "5074:3:todo:1764727100000", "type": "todo", "time": 1764727100000i64, "requestId": "5074",
        "userId": "3", "action": "todo", "requestName": "费用报销-张伟", "nodeName": "部门经理审批", "isremark": "0"
    })
    .to_string();
    let todo_signature = hex_hmac(HOOK_SECRET, &todo);
    assert_eq!(
        push(&qiao, &todo, Some(format!("sha256={todo_signature}"))).await,
        200
    );
    qiao.wait_for_event("oa", |e| {
        e["type"] == "task.created" && e["subject"] == "wf-5074-3"
    })
    .await;
    let events = qiao.events("oa").await;
    assert_eq!(events.len(), 2, "{events:#?}");
}

#[tokio::test]
async fn an_expired_token_is_applied_for_again() {
    let (sim, qiao) = setup().await;
    let path = format!("/v1/connections/oa/users/{LI_NA}");
    let (status, body) = qiao.get(&path).await;
    assert_eq!(status, 200, "{body}");
    let applied = sim.count("/api/ec/dev/auth/applytoken");

    sim.expire_tokens();
    let (status, body) = qiao.get(&path).await;
    assert_eq!(status, 200, "transparent: {body}");
    assert_eq!(body["name"], "李娜", "{body}");
    assert!(
        sim.count("/api/ec/dev/auth/applytoken") > applied,
        "a new token was applied for"
    );
}

#[tokio::test]
async fn a_reset_registration_is_recovered_by_registering_again() {
    let (sim, qiao) = setup().await;
    let id = file_claim(&qiao, "费用报销-张伟-重置前").await;
    let registered = sim.count("/api/ec/dev/auth/regist");

    // The licence is reinstalled with a new key pair: the old secrit and spk are both useless now.
    sim.reset_registration(APPID, true).await.unwrap();
    let body = status_of(&qiao, &id).await;
    assert_eq!(body["status"], "pending", "{body}");
    assert!(
        sim.count("/api/ec/dev/auth/regist") > registered,
        "registered again"
    );
}

/// Seed 000's one-click sign-in: a person signs in through DingTalk (`sso/start` → DingTalk → `sso/exchange`, which
/// answers the enterprise's person), and `POST …/people/{person}/login-url` on the OA connection sends that same
/// person into e-cology (their OA account through the directory's link), once. A person without an OA account is
/// 422 `unresolved_person`.
#[tokio::test]
async fn signed_in_through_dingtalk_sent_into_the_oa_as_the_same_person() {
    let sim = EcologySim::start(Options::default()).await.unwrap();
    let dt = DingTalkSim::start(DtOptions::default()).await.unwrap();
    let qiao = TestServer::start_as_is(&["ecology", "dingtalk"], &config(&sim, &dt.connection("dt", "")))
        .await
        .unwrap();
    let directory = json!({
        "departments": [{ "id": "hq", "name": "HQ" }],
        "people": [
            { "id": "p-lina", "name": "李娜", "department_ids": ["hq"] },
            { "id": "p-guest", "name": "Guest", "department_ids": ["hq"] }
        ]
    });
    let (status, body) = qiao.request(reqwest::Method::PUT, "/v1/directory", Some(directory)).await;
    assert_eq!(status, 200, "{body}");
    let db = qiao.db();
    let li_na = LI_NA.to_string();
    for (connection, person, user) in [("dt", "p-lina", "alice"), ("oa", "p-lina", li_na.as_str()), ("dt", "p-guest", "bob")] {
        db.set_link(connection.into(), qiao_store::LinkKind::Person, person.into(), user.into(), None)
            .await
            .unwrap();
    }

    let redirect = "https://oa.example.com/sso/callback";
    let (status, started) = qiao
        .post("/v1/connections/dt/sso/start", json!({ "redirect_uri": redirect, "flow": "web" }))
        .await;
    assert_eq!(status, 200, "{started}");
    let code = dt.state().code_for("alice");
    let (status, signed_in) = qiao
        .post("/v1/connections/dt/sso/exchange", json!({ "code": code, "state": started["state"] }))
        .await;
    assert_eq!(status, 200, "{signed_in}");
    let person = signed_in["person"]["id"].as_str().expect("the person").to_string();
    assert_eq!(person, "p-lina");

    let (status, body) = qiao.post(&format!("/v1/connections/oa/people/{person}/login-url"), json!({})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user_id"], LI_NA.to_string(), "{body}");
    let url = body["url"].as_str().expect("a url");
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let opened = browser.get(url).send().await.unwrap();
    assert_eq!(opened.status(), 200);
    assert!(opened.text().await.unwrap().contains("data-loginid=\"lina\""), "signed in as 李娜");

    let (status, body) = qiao.post("/v1/connections/oa/people/p-guest/login-url", json!({})).await;
    assert_eq!((status, body["error"]["code"].as_str()), (422, Some("unresolved_person")), "{body}");
    assert_eq!(body["error"]["details"]["unresolved"][0]["reason"], "no_account", "{body}");
}
