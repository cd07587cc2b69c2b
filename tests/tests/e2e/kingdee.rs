//! The Kingdee K3Cloud connector end to end: Qiao's REST API → `kingdee.wasm` → the K3Cloud simulator
//! (`qiao_tests::kingdee_sim`), with both ways of signing in, bills as approvals, and polling for changes.

use qiao_tests::TestServer;
use qiao_tests::kingdee_sim::{Fault, KingdeeSim, Options};
use serde_json::{Value, json};

fn config(sim: &KingdeeSim, auth: &str) -> String {
    let o = &sim.options;
    format!(
        r#"
        [connections.kd]
        connector = "kingdee"
        settings = {{ server_url = "{}", acct_id = "{}", user_name = "{}", app_id = "{}", auth = "{auth}",
                      poll_forms = "ER_ExpReimbursement,PUR_Requisition", workflow_forms = "PUR_Requisition" }}
        secrets = {{ app_secret = "{}" }}
        limits = {{ timeout_ms = 3000 }}
        "#,
        sim.api_base, o.acct_id, o.user_name, o.app_id, o.app_secret
    )
}

async fn setup(auth: &str) -> (KingdeeSim, TestServer) {
    let sim = KingdeeSim::start(Options::default()).await.unwrap();
    let qiao = TestServer::start(&["kingdee"], &config(&sim, auth))
        .await
        .unwrap();
    (sim, qiao)
}

fn path(rest: &str) -> String {
    format!("/v1/connections/kd{rest}")
}

fn claim(amount: &str) -> Value {
    json!({ "template": "ER_ExpReimbursement", "applicant": "E002", "options": { "applicant_field": "FProposerID" },
            "fields": [{ "name": "FCausa", "value": "客户拜访差旅" }, { "name": "FReqAmount", "value": amount }] })
}

async fn status_of(qiao: &TestServer, id: &str, form: &str) -> String {
    let (status, body) = qiao
        .get(&path(&format!("/approvals/{id}?template={form}")))
        .await;
    assert_eq!(status, 200, "{body}");
    body["status"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn bills_as_approvals_with_signed_headers() {
    let (sim, qiao) = setup("signed").await;

    let (status, created) = qiao.post(&path("/approvals"), claim("1280")).await;
    assert_eq!(status, 201, "{created}");
    assert!(
        created["number"].as_str().unwrap().starts_with("FYBX"),
        "{created}"
    );
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(status_of(&qiao, &id, "ER_ExpReimbursement").await, "draft");
    let (_, bill) = qiao
        .get(&path(&format!(
            "/approvals/{id}?template=ER_ExpReimbursement"
        )))
        .await;
    assert!(
        bill["fields"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["name"] == "FCausa" && f["value"] == "客户拜访差旅"),
        "{bill}"
    );

    // Submitted on create, then audited (approve) and un-audited (reject).
    let mut submitted = claim("300");
    submitted["options"]["submit"] = json!(true);
    let (_, created) = qiao.post(&path("/approvals"), submitted).await;
    let second = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        status_of(&qiao, &second, "ER_ExpReimbursement").await,
        "pending"
    );
    let act = json!({ "template": "ER_ExpReimbursement" });
    assert_eq!(
        qiao.post(&path(&format!("/approvals/{second}/approve")), act.clone())
            .await
            .0,
        204
    );
    assert_eq!(
        status_of(&qiao, &second, "ER_ExpReimbursement").await,
        "approved"
    );
    assert_eq!(
        qiao.post(&path(&format!("/approvals/{second}/reject")), act.clone())
            .await
            .0,
        204
    );
    assert_eq!(
        status_of(&qiao, &second, "ER_ExpReimbursement").await,
        "rejected"
    );

    // Approving a draft: K3Cloud refuses (status), a conflict.
    let (status, body) = qiao
        .post(&path(&format!("/approvals/{id}/approve")), act.clone())
        .await;
    assert!(status == 409 || status == 422, "{status} {body}");

    // Cancel = UnAudit where needed, then Delete.
    let (status, body) = qiao
        .post(&path(&format!("/approvals/{second}/cancel")), act)
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, _) = qiao
        .get(&path(&format!(
            "/approvals/{second}?template=ER_ExpReimbursement"
        )))
        .await;
    assert_eq!(status, 404);

    // A purchase request is under a workflow: approve goes through WorkflowAudit.
    let request = json!({ "template": "PUR_Requisition", "applicant": "E001", "options": { "submit": true },
        "fields": [{ "name": "FApplicantId", "value": "{\"FNumber\":\"E001\"}" },
                   { "name": "FApplicationDeptId", "value": "{\"FNumber\":\"D01\"}" }, { "name": "FNote", "value": "laptops" }] });
    let (status, created) = qiao.post(&path("/approvals"), request).await;
    assert_eq!(status, 201, "{created}");
    let pr = created["id"].as_str().unwrap().to_string();
    let (status, body) = qiao
        .post(
            &path(&format!("/approvals/{pr}/approve")),
            json!({ "template": "PUR_Requisition", "comment": "ok", "actor": "administrator" }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(status_of(&qiao, &pr, "PUR_Requisition").await, "approved");
    assert_eq!(sim.state().decisions.len(), 1, "one workflow decision");

    // Bad input names the field or the form.
    let (status, body) = qiao
        .post(&path("/approvals"), json!({ "template": "ER_ExpReimbursement", "applicant": "E002", "fields": [{ "name": "FCausa", "value": "x" }] }))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("FProposerID"),
        "names the field: {body}"
    );
    let (status, body) = qiao
        .post(&path("/approvals"), json!({ "template": "NO_SuchForm", "applicant": "E002", "fields": [{ "name": "F", "value": "x" }] }))
        .await;
    assert!(status == 404 || status == 422, "{status} {body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("NO_SuchForm"),
        "names the form: {body}"
    );
    let (status, body) = qiao.get(&path(&format!("/approvals/{id}"))).await;
    assert_eq!(status, 200, "Qiao remembers the form id of a bill it created: {body}");
    let (status, _) = qiao.get(&path("/approvals/999999")).await;
    assert_eq!(status, 422, "an unknown bill needs its form id");
    let (status, _) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "users": ["E001"] }, "text": "hi" }),
        )
        .await;
    assert_eq!(status, 501, "no messaging in K3Cloud");
}

#[tokio::test]
async fn polling_sees_every_change_once() {
    let (sim, qiao) = setup("signed").await;
    let (_, a) = qiao.post(&path("/approvals"), claim("100")).await;
    let (_, b) = qiao.post(&path("/approvals"), claim("200")).await;
    let (status, polled) = qiao.post(&path("/poll"), json!({})).await;
    assert_eq!(status, 200, "{polled}");
    assert_eq!(polled["new"], 2, "{polled}");
    let (_, again) = qiao.post(&path("/poll"), json!({})).await;
    assert_eq!(again["new"], 0, "nothing changed: {again}");

    // Edited in the Kingdee client: one change, one event.
    let a_id: i64 = a["id"].as_str().unwrap().parse().unwrap();
    let edit = json!({ "FRemark": "edited" }).as_object().unwrap().clone();
    sim.state().update("ER_ExpReimbursement", a_id, edit);
    let (_, polled) = qiao.post(&path("/poll"), json!({})).await;
    assert_eq!(polled["new"], 1, "{polled}");

    // Submitted through Qiao, then audited by a person in the client: each state seen once.
    let mut submitted = claim("300");
    submitted["options"]["submit"] = json!(true);
    let (_, c) = qiao.post(&path("/approvals"), submitted).await;
    let c_id: i64 = c["id"].as_str().unwrap().parse().unwrap();
    assert_eq!(qiao.post(&path("/poll"), json!({})).await.1["new"], 1);
    sim.advance("ER_ExpReimbursement", c_id, true).unwrap();
    assert_eq!(qiao.post(&path("/poll"), json!({})).await.1["new"], 1);
    assert_eq!(qiao.post(&path("/poll"), json!({})).await.1["new"], 0);

    let (_, events) = qiao.get("/v1/events?connection=kd").await;
    let c_states: Vec<&str> = events["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["subject"] == c_id.to_string().as_str())
        .map(|e| e["payload"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(c_states, ["pending", "approved"]);
    let _ = b;
}

#[tokio::test]
async fn session_login_and_relogin_when_lost() {
    let (sim, qiao) = setup("session").await;
    assert_eq!(qiao.get(&path("/users/E001")).await.0, 200);
    assert_eq!(qiao.get(&path("/users/E002")).await.0, 200);
    assert_eq!(
        sim.count("LoginByAppSecret"),
        1,
        "one login serves the calls"
    );
    sim.expire_sessions();
    let (status, body) = qiao.get(&path("/users/E003")).await;
    assert_eq!(
        status, 200,
        "logged in again after the session was lost: {body}"
    );
    assert_eq!(sim.count("LoginByAppSecret"), 2);
    sim.inject("ExecuteBillQuery", Fault::SessionLost, 1);
    assert_eq!(qiao.get(&path("/users/E003")).await.0, 200);
    assert_eq!(sim.count("LoginByAppSecret"), 3);

    // With a password, ValidateUser; a wrong one is a clear 502 naming the settings.
    let password =
        config(&sim, "session").replace("secrets = {", "secrets = { password = \"wrong\",");
    let qiao = qiao.restart(&password).await.unwrap();
    let (status, body) = qiao.get(&path("/users/E001")).await;
    assert_eq!(status, 502, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("password"),
        "{body}"
    );
    assert!(!body.to_string().contains("\"wrong\""));
}

#[tokio::test]
async fn employees_and_departments() {
    let (sim, qiao) = setup("signed").await;
    let (status, body) = qiao.get(&path("/departments")).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["departments"][0]["id"], "D00", "the top level: {body}");
    let (_, body) = qiao.get(&path("/departments?parent=D00")).await;
    let ids: Vec<&str> = body["departments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["D01", "D02"]);

    let (status, created) = qiao
        .post(
            &path("/departments"),
            json!({ "name": "Platform", "parent_id": "D01", "extra": { "FNumber": "D03" } }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (_, dept) = qiao.get(&path("/departments/D03")).await;
    assert_eq!(dept["parent_id"], "D01");
    assert_eq!(
        qiao.patch(
            &path("/departments/D03"),
            json!({ "name": "Platform Team" })
        )
        .await
        .0,
        204
    );
    assert_eq!(
        qiao.get(&path("/departments/D03")).await.1["name"],
        "Platform Team"
    );
    // The code is the department's number (编码, FNumber), which K3Cloud requires (contract 0.2.0): it reads back
    // as the code, and a department without one is refused saying what to pass.
    let (status, created) = qiao
        .post(
            &path("/departments"),
            json!({ "name": "Data", "parent_id": "D01", "code": "D04" }),
        )
        .await;
    assert_eq!(
        (status, created["id"].as_str(), created["code"].as_str()),
        (201, Some("D04"), Some("D04")),
        "{created}"
    );
    let (_, dept) = qiao.get(&path("/departments/D04")).await;
    assert_eq!(
        (&dept["code"], &dept["parent_id"]),
        (&json!("D04"), &json!("D01")),
        "{dept}"
    );
    let (status, body) = qiao
        .post(&path("/departments"), json!({ "name": "Numberless" }))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("pass code"),
        "{body}"
    );

    let (status, user) = qiao
        .post(&path("/users"), json!({ "id": "E009", "name": "Chen Jie", "mobile": "13900000009", "department_ids": ["D03"], "title": "SRE" }))
        .await;
    assert_eq!(status, 201, "{user}");
    assert_eq!(
        (user["id"].as_str(), user["department_ids"].clone()),
        (Some("E009"), json!(["D03"]))
    );
    let (status, page) = qiao.get(&path("/departments/D01/users?limit=1")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["users"].as_array().unwrap().len(), 1);
    let cursor = page["next_cursor"].as_str().unwrap().to_string();
    let (_, page2) = qiao
        .get(&path(&format!(
            "/departments/D01/users?limit=1&cursor={cursor}"
        )))
        .await;
    assert_ne!(page["users"][0]["id"], page2["users"][0]["id"]);
    let (status, found) = qiao.get(&path("/users/lookup?mobile=13900000009")).await;
    assert_eq!(
        (status, found["user_id"].as_str()),
        (200, Some("E009")),
        "{found}"
    );
    assert_eq!(
        qiao.patch(&path("/users/E009"), json!({ "title": "Lead SRE" }))
            .await
            .0,
        204
    );
    assert_eq!(qiao.get(&path("/users/E009")).await.1["title"], "Lead SRE");
    // Clearing (contract 0.2.0): saved empty, named in NeedUpDateFields; the employee number is the row's
    // FNumber, which K3Cloud requires.
    let (status, body) = qiao
        .patch(
            &path("/users/E009"),
            json!({ "clear": ["mobile", "title"] }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, user) = qiao.get(&path("/users/E009")).await;
    assert_eq!(
        (&user["mobile"], &user["title"], &user["name"]),
        (&Value::Null, &Value::Null, &json!("Chen Jie")),
        "{user}"
    );
    let (status, body) = qiao
        .patch(&path("/users/E009"), json!({ "clear": ["employee_no"] }))
        .await;
    assert_eq!(status, 501, "{body}");

    // "Delete" disables: the employee stays, inactive.
    assert_eq!(qiao.delete(&path("/users/E009")).await.0, 204);
    let (_, user) = qiao.get(&path("/users/E009")).await;
    assert_eq!(user["active"], false, "{user}");
    let (status, body) = qiao.get(&path("/users/E404")).await;
    assert_eq!(status, 404, "{body}");
    let (status, _) = qiao
        .post(&path("/sso/resolve"), json!({ "code": "x" }))
        .await;
    assert_eq!(status, 501);

    sim.inject("ExecuteBillQuery", Fault::PermissionDenied, 1);
    let (status, body) = qiao.get(&path("/users/E001")).await;
    assert_eq!(status, 403, "{body}");
    sim.inject("ExecuteBillQuery", Fault::Busy, 1);
    assert_eq!(qiao.get(&path("/users/E001")).await.0, 503);
    sim.inject("ExecuteBillQuery", Fault::Status(502), 1);
    assert_eq!(qiao.get(&path("/users/E001")).await.0, 503);
    assert_eq!(qiao.get(&path("/users/E001")).await.0, 200);
}
