//! Directory sync after connector contract 0.2.0: a department is created with the enterprise's department id as
//! its code (`department-fields.code`), which K3Cloud requires as the department's number (`FNumber`), and a value
//! removed from the enterprise directory is emptied on the platform (`user-fields.clear`) where the platform can
//! empty it, and fails that one step, naming the field, where it cannot.
//!
//! Each test drives the REST API (`PUT /v1/directory`, `POST /v1/directory/changes`,
//! `POST /v1/connections/{c}/directory/runs?wait=120`) against a platform simulator and checks both the run's
//! report and what the simulator holds.

use qiao_tests::TestServer;
use qiao_tests::dingtalk_sim::{DingTalkSim, Options as DtOptions};
use qiao_tests::kingdee_sim::{KingdeeSim, Options as KdOptions};
use qiao_tests::wecom_sim::{Options as WcOptions, WeComSim};
use serde_json::{Value, json};

// ---- Helpers

fn counts(run: &Value) -> &Value {
    &run["plan"]["counts"]
}

async fn put_directory(qiao: &TestServer, directory: Value) {
    let (status, body) = qiao
        .request(reqwest::Method::PUT, "/v1/directory", Some(directory))
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn change(qiao: &TestServer, changes: Value) {
    let (status, body) = qiao.post("/v1/directory/changes", changes).await;
    assert_eq!(status, 200, "{body}");
}

/// The platform user id of a person on a connection (their link), from `GET /v1/directory/people/{id}`.
async fn account(qiao: &TestServer, person: &str, connection: &str) -> String {
    let (status, body) = qiao.get(&format!("/v1/directory/people/{person}")).await;
    assert_eq!(status, 200, "{body}");
    body["accounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["connection"] == connection)
        .and_then(|a| a["user_id"].as_str())
        .unwrap_or_else(|| panic!("{person} has no account on {connection}: {body}"))
        .to_string()
}

/// The changes of the plan's one step for `id`, as `field → after`.
fn step_changes(run: &Value, id: &str) -> serde_json::Map<String, Value> {
    let steps = run["plan"]["steps"].as_array().unwrap();
    let step = steps
        .iter()
        .find(|s| s["id"] == id)
        .unwrap_or_else(|| panic!("no step for {id}: {}", run["plan"]));
    step["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| (c["field"].as_str().unwrap().to_string(), c["after"].clone()))
        .collect()
}

// ---- Kingdee

fn kingdee(sim: &KingdeeSim) -> String {
    let o = &sim.options;
    format!(
        r#"
        [connections.kd]
        connector = "kingdee"
        settings = {{ server_url = "{}", acct_id = "{}", user_name = "{}", app_id = "{}", auth = "signed" }}
        secrets = {{ app_secret = "{}" }}
        limits = {{ timeout_ms = 10000 }}
        # K3Cloud's employee form keeps no manager (the connector writes none and reads none back): without
        # this, every managed person would show manager_id drift on every plan.
        directory = {{ ignore = ["manager_id"] }}
        "#,
        sim.api_base, o.acct_id, o.user_name, o.app_id, o.app_secret
    )
}

/// A tree of three departments and five people (two of them with a manager), each with an employee number
/// (K3Cloud numbers every employee).
/// Mobiles, emails, employee numbers and names differ from the simulator's seeded account set (E001–E003,
/// 1380000000x, D00–D02), so nothing is linked: everything is created.
fn finance_directory() -> Value {
    json!({
        "departments": [
            { "id": "hq", "name": "Headquarters" },
            { "id": "fin", "name": "Finance", "parent_id": "hq" },
            { "id": "rnd", "name": "Research", "parent_id": "hq" }
        ],
        "people": [
            { "id": "k1", "name": "Zhou Min", "mobile": "13700000001", "email": "zhou@corp.example", "title": "CFO", "employee_no": "K1001", "department_ids": ["fin"] },
            { "id": "k2", "name": "Wu Lan", "mobile": "13700000002", "title": "Accountant", "employee_no": "K1002", "department_ids": ["fin"], "manager_id": "k1" },
            { "id": "k3", "name": "Zheng Hao", "mobile": "13700000003", "email": "zheng@corp.example", "employee_no": "K1003", "department_ids": ["rnd"] },
            { "id": "k4", "name": "Qian Yu", "mobile": "13700000004", "title": "Researcher", "employee_no": "K1004", "department_ids": ["rnd"], "manager_id": "k3" },
            { "id": "k5", "name": "Feng Jun", "mobile": "13700000005", "employee_no": "K1005", "department_ids": ["hq"] }
        ]
    })
}

/// Directory sync into K3Cloud end to end: every department is created with the enterprise's department id as its
/// number (`FNumber`, which K3Cloud requires: before contract 0.2.0 the create failed with `FNumber: 字段"编码"是
/// 必填项`), under its parent; every person becomes an employee in their department with their mobile, email,
/// title and employee number; and a second run finds nothing to do and no drift (every field reads back as
/// written; managers are not compared, K3Cloud's employee form has none).
#[tokio::test]
async fn a_directory_syncs_into_kingdee_with_department_numbers() {
    let sim = KingdeeSim::start(KdOptions::default()).await.unwrap();
    let qiao = TestServer::start(&["kingdee"], &kingdee(&sim)).await.unwrap();
    let directory = finance_directory();
    put_directory(&qiao, directory.clone()).await;

    let dry = qiao.sync("kd", json!({ "dry_run": true })).await;
    assert_eq!(dry["status"], "planned", "{dry}");
    let c = counts(&dry);
    assert_eq!(
        (c["create_department"].as_u64(), c["create_user"].as_u64(), c["link_user"].as_u64()),
        (Some(3), Some(5), Some(0)),
        "everything is new: {}",
        dry["plan"]
    );

    let applied = qiao.sync("kd", json!({})).await;
    let report = &applied["report"];
    assert_eq!(applied["status"], "succeeded", "{report}");
    assert_eq!(
        (report["done"].as_u64(), report["failed"].as_u64(), report["skipped"].as_u64()),
        (Some(8), Some(0), Some(0)),
        "{report}"
    );
    assert_eq!(applied["progress"]["done"], 8, "{}", applied["progress"]);

    // Each department is the K3Cloud department numbered with the enterprise's id, under its parent.
    {
        let state = sim.state();
        for d in directory["departments"].as_array().unwrap() {
            let id = d["id"].as_str().unwrap();
            let fid = state
                .find("BD_Department", id)
                .unwrap_or_else(|| panic!("no BD_Department with FNumber {id}"));
            let row = state.row("BD_Department", fid).unwrap();
            assert_eq!(row["FName"], d["name"], "{row}");
            let parent = row["FParentID"]["FNumber"].as_str().map(str::to_string);
            assert_eq!(
                parent.as_deref(),
                d["parent_id"].as_str(),
                "{id}'s parent: {row}"
            );
        }
    }
    let (status, hq) = qiao.get("/v1/connections/kd/departments/hq").await;
    assert_eq!(
        (status, hq["code"].as_str(), hq["name"].as_str()),
        (200, Some("hq"), Some("Headquarters")),
        "{hq}"
    );

    // Each person is an employee in their department, with the values of the directory.
    for p in directory["people"].as_array().unwrap() {
        let id = p["id"].as_str().unwrap();
        let user_id = account(&qiao, id, "kd").await;
        {
            let state = sim.state();
            let fid = state
                .find("BD_Empinfo", &user_id)
                .unwrap_or_else(|| panic!("{id}: no BD_Empinfo numbered {user_id}"));
            let row = state.row("BD_Empinfo", fid).unwrap();
            assert_eq!(row["FName"], p["name"], "{row}");
            assert_eq!(row["FMobile"], p["mobile"], "{row}");
            assert_eq!(row["FDept"]["FNumber"], p["department_ids"][0], "{id}'s department: {row}");
            if let Some(email) = p["email"].as_str() {
                assert_eq!(row["FEmail"], email, "{row}");
            }
            if let Some(title) = p["title"].as_str() {
                assert_eq!(row["FPost"], title, "{row}");
            }
        }
        let (status, user) = qiao.get(&format!("/v1/connections/kd/users/{user_id}")).await;
        assert_eq!(status, 200, "{user}");
        // The employee's number (FNumber) is the directory's employee number, not the person id sync also passes.
        assert_eq!(
            user["employee_no"], p["employee_no"],
            "{id}'s employee number reads back from K3Cloud: {user}"
        );
    }
    let (status, people) = qiao.get("/v1/connections/kd/departments/rnd/users").await;
    assert_eq!(status, 200, "{people}");
    assert_eq!(people["users"].as_array().unwrap().len(), 2, "{people}");

    // Nothing changed: the second run has no step and no drift.
    let again = qiao.sync("kd", json!({})).await;
    assert_eq!(again["status"], "succeeded", "{}", again["report"]);
    assert_eq!(again["plan"]["steps"], json!([]), "nothing to do: {}", again["plan"]);
    assert_eq!(again["report"]["done"], 0, "{}", again["report"]);
    assert_eq!(again["plan"]["drift"], json!([]), "no drift: {}", again["plan"]);
}

// ---- Removing a value

/// A tree of three departments and three people: Li Lei manages Han Meimei and Wang Wu.
fn team() -> Value {
    json!({
        "departments": [
            { "id": "hq", "name": "Headquarters" },
            { "id": "eng", "name": "Engineering", "parent_id": "hq" },
            { "id": "ops", "name": "Operations", "parent_id": "hq" }
        ],
        "people": [
            { "id": "p1", "name": "Li Lei", "mobile": "13900000001", "email": "li@example.com", "title": "CTO", "employee_no": "E001", "department_ids": ["eng"] },
            { "id": "p2", "name": "Han Meimei", "mobile": "13900000002", "email": "han@example.com", "title": "Engineer", "employee_no": "E002", "department_ids": ["eng"], "manager_id": "p1" },
            { "id": "p3", "name": "Wang Wu", "mobile": "13900000003", "email": "wang@example.com", "title": "Operator", "department_ids": ["ops"], "manager_id": "p1" }
        ]
    })
}

fn wecom(sim: &WeComSim) -> String {
    sim.connection("wc", "limits = { timeout_ms = 10000 }")
}

fn dingtalk(sim: &DingTalkSim) -> String {
    sim.connection("dt", "")
}

/// A value removed from the directory is removed on the platform (contract 0.2.0 `user-fields.clear`): after a
/// change set drops Han Meimei's email, title and manager, the run plans one user update whose changes empty those
/// three fields, WeCom's member has an empty email and position and no direct leader (her mobile, name and
/// department untouched), and the next plan is empty (the platform now reads as the directory).
#[tokio::test]
async fn a_value_removed_from_the_directory_is_emptied_on_wecom() {
    let sim = WeComSim::start(WcOptions::default()).await.unwrap();
    let qiao = TestServer::start(&["wecom"], &wecom(&sim)).await.unwrap();
    put_directory(&qiao, team()).await;
    let applied = qiao.sync("wc", json!({})).await;
    assert_eq!(applied["status"], "succeeded", "{}", applied["report"]);
    let han = sim.user("p2").expect("the person id is the WeCom userid");
    assert_eq!(
        (han.email.as_str(), han.position.as_str(), han.direct_leader.clone()),
        ("han@example.com", "Engineer", vec!["p1".to_string()]),
        "synced as the directory had her"
    );

    // The change set: Han Meimei without an email, a title and a manager.
    let mut p2 = team()["people"][1].clone();
    for field in ["email", "title", "manager_id"] {
        p2.as_object_mut().unwrap().remove(field);
    }
    change(&qiao, json!({ "upsert": { "people": [p2] } })).await;

    let changed = qiao.sync("wc", json!({})).await;
    assert_eq!(
        changed["plan"]["steps"].as_array().map(Vec::len),
        Some(1),
        "one update for Han Meimei: {}",
        changed["plan"]
    );
    let planned = step_changes(&changed, "p2");
    assert_eq!(
        changed["plan"]["steps"][0]["kind"], "update_user",
        "{}",
        changed["plan"]
    );
    for field in ["email", "title", "manager_id"] {
        assert_eq!(
            planned.get(field),
            Some(&Value::Null),
            "{field} is emptied: {}",
            changed["plan"]
        );
    }
    assert_eq!(planned.len(), 3, "nothing else changes: {planned:?}");
    assert_eq!(changed["status"], "succeeded", "{}", changed["report"]);
    assert_eq!(changed["report"]["done"], 1, "{}", changed["report"]);

    let han = sim.user("p2").unwrap();
    assert_eq!(
        (han.email.as_str(), han.position.as_str(), han.direct_leader.clone()),
        ("", "", Vec::<String>::new()),
        "emptied on WeCom: {han:?}"
    );
    assert_eq!(
        (han.name.as_str(), han.mobile.as_str(), han.attr("工号")),
        ("Han Meimei", "13900000002", Some("E002")),
        "what the directory still has is kept: {han:?}"
    );
    let wang = sim.user("p3").unwrap();
    assert_eq!(wang.direct_leader, vec!["p1".to_string()], "others untouched");

    let again = qiao.sync("wc", json!({ "dry_run": true })).await;
    assert_eq!(again["plan"]["steps"], json!([]), "nothing left to do: {}", again["plan"]);
    assert_eq!(again["plan"]["drift"], json!([]), "{}", again["plan"]);
}

/// DingTalk cannot empty an email (it documents emptying `manager_userid` only): a change set that drops Han
/// Meimei's email, renames a department and gives Wang Wu a new title without a manager runs as
/// `completed_with_errors`, Han's step failed with `unsupported` naming the email (and her DingTalk email kept),
/// while the rename, Wang Wu's new title and his emptied manager are done.
#[tokio::test]
async fn dingtalk_cannot_empty_an_email_so_that_step_fails_and_the_rest_completes() {
    let sim = DingTalkSim::start(DtOptions::default()).await.unwrap();
    let qiao = TestServer::start(&["dingtalk"], &dingtalk(&sim)).await.unwrap();
    put_directory(&qiao, team()).await;
    let applied = qiao.sync("dt", json!({})).await;
    assert_eq!(applied["status"], "succeeded", "{}", applied["report"]);
    assert_eq!(sim.state().users["p2"].email, "han@example.com");
    assert_eq!(sim.state().users["p3"].manager_userid, "p1");

    let mut p2 = team()["people"][1].clone();
    p2.as_object_mut().unwrap().remove("email");
    let mut p3 = team()["people"][2].clone();
    p3["title"] = json!("Ops Lead");
    p3.as_object_mut().unwrap().remove("manager_id");
    change(
        &qiao,
        json!({ "upsert": {
            "departments": [{ "id": "ops", "name": "Operations & Support", "parent_id": "hq" }],
            "people": [p2, p3]
        } }),
    )
    .await;

    let changed = qiao.sync("dt", json!({})).await;
    let report = &changed["report"];
    let c = counts(&changed);
    assert_eq!(
        (c["update_department"].as_u64(), c["update_user"].as_u64()),
        (Some(1), Some(2)),
        "the rename, Han's and Wang's updates: {}",
        changed["plan"]
    );
    assert_eq!(step_changes(&changed, "p2").get("email"), Some(&Value::Null));
    let wang = step_changes(&changed, "p3");
    assert_eq!(
        (wang.get("title"), wang.get("manager_id")),
        (Some(&json!("Ops Lead")), Some(&Value::Null)),
        "{wang:?}"
    );

    assert_eq!(changed["status"], "completed_with_errors", "{report}");
    assert_eq!(
        (report["done"].as_u64(), report["failed"].as_u64(), report["skipped"].as_u64()),
        (Some(2), Some(1), Some(0)),
        "{report}"
    );
    let error = &report["errors"][0];
    assert_eq!(
        (error["id"].as_str(), error["kind"].as_str()),
        (Some("p2"), Some("update_user")),
        "{report}"
    );
    assert_eq!(error["error"]["code"], "unsupported", "{report}");
    let message = error["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("email"), "names the field: {message}");

    let state = sim.state();
    assert_eq!(state.users["p2"].email, "han@example.com", "not emptied, nothing changed");
    assert_eq!(
        (state.users["p3"].title.as_str(), state.users["p3"].manager_userid.as_str()),
        ("Ops Lead", ""),
        "the rest of the run is done"
    );
    assert!(
        state.depts.values().any(|d| d.name == "Operations & Support"),
        "renamed"
    );
}
