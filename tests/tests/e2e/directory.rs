//! Directory sync end to end: the enterprise directory pushed to Qiao's API, planned and applied to the
//! platforms' simulators through the connectors and the outbox; change sets as minimal plans, drift, the
//! mass-deactivation guard, and identity links for addressing.

use qiao_tests::TestServer;
use qiao_tests::dingtalk_sim::{DingTalkSim, Options as DtOptions};
use serde_json::{Value, json};


/// A small directory: a tree of three departments and five people (a manager and reports).
fn small() -> Value {
    json!({
        "departments": [
            { "id": "hq", "name": "Headquarters" },
            { "id": "eng", "name": "Engineering", "parent_id": "hq" },
            { "id": "ops", "name": "Operations", "parent_id": "hq" }
        ],
        "people": [
            { "id": "p1", "name": "Li Lei", "mobile": "13900000001", "email": "li@example.com", "title": "CTO", "employee_no": "E001", "department_ids": ["eng"], "roles": ["finance-reviewer"] },
            { "id": "p2", "name": "Han Meimei", "mobile": "13900000002", "title": "Engineer", "employee_no": "E002", "department_ids": ["eng"], "manager_id": "p1" },
            { "id": "p3", "name": "Wang Wu", "mobile": "13900000003", "department_ids": ["ops"], "manager_id": "p1", "roles": ["finance-reviewer"] },
            { "id": "p4", "name": "Zhao Liu", "mobile": "13900000004", "department_ids": ["ops"] },
            { "id": "p5", "name": "Sun Qi", "mobile": "13900000005", "department_ids": ["hq"] }
        ]
    })
}

fn counts(run: &Value) -> &Value {
    &run["plan"]["counts"]
}

#[tokio::test]
async fn sync_dry_run_apply_change_set_drift_and_guard() {
    let sim = DingTalkSim::start(DtOptions::default()).await.unwrap();
    let roles = r#"directory = { roles = { finance-reviewer = "Finance reviewers" } }"#;
    let qiao = TestServer::start(&["dingtalk"], &sim.connection("dt", roles))
        .await
        .unwrap();
    let users_before = sim.state().users.len();

    // An invalid directory is refused whole, with every problem listed.
    let (status, body) = qiao
        .request(reqwest::Method::PUT, "/v1/directory", Some(json!({ "departments": [{ "id": "a", "name": "A", "parent_id": "nowhere" }], "people": [{ "id": "x", "name": "X", "department_ids": ["missing"] }] })))
        .await;
    assert_eq!(status, 422, "{body}");
    assert_eq!(body["error"]["code"], "invalid_directory");
    assert_eq!(body["error"]["details"]["total"], 2, "{body}");

    let (status, body) = qiao
        .request(reqwest::Method::PUT, "/v1/directory", Some(small()))
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"]["people"]["added"], 5);

    // Dry run: the plan, nothing written.
    let dry = qiao.sync("dt", json!({ "dry_run": true })).await;
    assert_eq!(dry["status"], "planned", "{dry}");
    assert_eq!(counts(&dry)["create_department"], 3, "{dry}");
    assert_eq!(counts(&dry)["create_user"], 5, "{dry}");
    assert_eq!(
        sim.state().users.len(),
        users_before,
        "a dry run writes nothing"
    );

    // Apply: every department and person lands, managers and departments mapped to the platform's ids.
    let applied = qiao.sync("dt", json!({})).await;
    assert_eq!(applied["status"], "succeeded", "{applied}");
    assert_eq!(applied["report"]["done"], 8, "{applied}");
    assert_eq!(applied["progress"]["done"], 8, "{applied}");
    {
        let state = sim.state();
        let han = state
            .users
            .get("p2")
            .expect("the person id is the DingTalk userid");
        assert_eq!(han.manager_userid, "p1");
        assert_eq!(han.title, "Engineer");
        assert_eq!(han.job_number, "E002");
        let hq = state
            .depts
            .values()
            .find(|d| d.name == "Headquarters")
            .unwrap();
        assert_eq!(
            hq.parent_id, 1,
            "top-level departments go under DingTalk's root"
        );
        // The simulator has an Engineering of its own (not Qiao's): ours is the one under Headquarters.
        let eng = state
            .depts
            .values()
            .find(|d| d.name == "Engineering" && d.parent_id == hq.id)
            .unwrap();
        assert_eq!(han.dept_id_list, vec![eng.id]);
    }
    // Role mapping: the enterprise role's holders hold the DingTalk role, created under Qiao's role group.
    let (role_id, group) = sim
        .role("Finance reviewers")
        .expect("the mapped role is created");
    assert_eq!(group, "Qiao");
    assert_eq!(sim.role_members(&role_id), vec!["p1", "p3"]);
    assert_eq!(
        applied["report"]["roles"][0]["add"],
        json!(["p1", "p3"]),
        "{applied}"
    );

    // A message to an enterprise role reaches its holders' DingTalk accounts.
    let (status, sent) = qiao
        .post("/v1/connections/dt/messages", json!({ "to": { "roles": ["finance-reviewer", "auditor"] }, "text": "close the books" }))
        .await;
    assert_eq!(status, 200, "{sent}");
    let id: i64 = sent["message_id"].as_str().unwrap().parse().unwrap();
    assert_eq!(sim.state().notifications[&id].users, ["p1", "p3"]);
    assert_eq!(
        sent["unresolved"],
        json!([{ "id": "auditor", "kind": "role", "reason": "no_holder" }]),
        "{sent}"
    );

    let (status, person) = qiao.get("/v1/directory/people/p2").await;
    assert_eq!(status, 200, "{person}");
    assert_eq!(
        person["accounts"],
        json!([{ "connection": "dt", "user_id": "p2" }])
    );

    // Nothing changed: the next plan is empty.
    let again = qiao.sync("dt", json!({ "dry_run": true })).await;
    assert_eq!(again["plan"]["steps"], json!([]), "{again}");

    // A change set: a rename, a move, a new person; the plan holds exactly those.
    let (status, body) = qiao
        .post(
            "/v1/directory/changes",
            json!({ "upsert": {
                "departments": [{ "id": "ops", "name": "Operations & Support", "parent_id": "hq" }],
                "people": [
                    { "id": "p4", "name": "Zhao Liu", "mobile": "13900000004", "department_ids": ["eng"] },
                    { "id": "p6", "name": "Zhou Ba", "mobile": "13900000006", "department_ids": ["ops"] }
                ]
            } }),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let changed = qiao.sync("dt", json!({})).await;
    assert_eq!(changed["status"], "succeeded", "{changed}");
    let c = counts(&changed);
    assert_eq!(
        (
            c["update_department"].as_u64(),
            c["update_user"].as_u64(),
            c["create_user"].as_u64()
        ),
        (Some(1), Some(1), Some(1)),
        "{changed}"
    );
    assert_eq!(
        changed["plan"]["steps"].as_array().unwrap().len(),
        3,
        "{changed}"
    );
    assert_eq!(
        changed["report"]["roles"][0]["add"],
        json!([]),
        "roles unchanged: {changed}"
    );

    // Membership follows the directory: p3 loses the role.
    let mut p3 = small()["people"][2].clone();
    p3["roles"] = json!([]);
    let (status, _) = qiao
        .post(
            "/v1/directory/changes",
            json!({ "upsert": { "people": [p3] } }),
        )
        .await;
    assert_eq!(status, 200);
    let dry = qiao.sync("dt", json!({ "dry_run": true })).await;
    assert_eq!(dry["report"]["roles"][0]["remove"], json!(["p3"]), "{dry}");
    assert_eq!(
        sim.role_members(&role_id),
        vec!["p1", "p3"],
        "a dry run changes no role"
    );
    let applied = qiao.sync("dt", json!({})).await;
    assert_eq!(applied["status"], "succeeded", "{applied}");
    assert_eq!(sim.role_members(&role_id), vec!["p1"]);

    // Drift: a title changed in DingTalk is reported, not overwritten ...
    sim.state().users.get_mut("p1").unwrap().title = "Chief Architect".into();
    let drift = qiao.sync("dt", json!({ "dry_run": true })).await;
    assert_eq!(drift["plan"]["steps"], json!([]), "{drift}");
    assert_eq!(drift["plan"]["drift"][0]["field"], "title", "{drift}");
    assert_eq!(
        drift["plan"]["drift"][0]["platform"], "Chief Architect",
        "{drift}"
    );
    assert_eq!(drift["plan"]["drift"][0]["overwritten"], false, "{drift}");
    // ... unless the source wins.
    let wins = qiao.sync("dt", json!({ "source_wins": true })).await;
    assert_eq!(wins["status"], "succeeded", "{wins}");
    assert_eq!(sim.state().users["p1"].title, "CTO");

    // The guard: leaving out four of six people stops the run for confirmation; confirming applies it.
    let mut fewer = small();
    fewer["people"] = json!([fewer["people"][0], fewer["people"][1]]);
    let (status, _) = qiao
        .request(reqwest::Method::PUT, "/v1/directory", Some(fewer))
        .await;
    assert_eq!(status, 200);
    let stopped = qiao.sync("dt", json!({})).await;
    assert_eq!(stopped["status"], "needs_confirmation", "{stopped}");
    assert_eq!(
        stopped["report"]["deactivation"]["deactivate"], 4,
        "{stopped}"
    );
    assert!(
        sim.state().users.contains_key("p3"),
        "nothing deactivated without confirmation"
    );
    let confirmed = qiao.sync("dt", json!({ "confirm": true })).await;
    assert_eq!(confirmed["status"], "succeeded", "{confirmed}");
    assert_eq!(counts(&confirmed)["deactivate_user"], 4, "{confirmed}");
    assert!(
        !sim.state().users.contains_key("p3"),
        "DingTalk cannot disable: a leaver is deleted"
    );
    let (_, person) = qiao.get("/v1/directory/people/p1").await;
    assert_eq!(person["accounts"][0]["user_id"], "p1");

    // Runs are listed with their reports.
    let (status, runs) = qiao.get("/v1/connections/dt/directory/runs").await;
    assert_eq!(status, 200);
    assert_eq!(runs["runs"].as_array().unwrap().len(), 10, "{runs}");
}

/// Polls `GET path` until `check` holds (contact events are applied in the background).
async fn eventually(qiao: &TestServer, path: &str, check: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..100 {
        let (_, body) = qiao.get(path).await;
        if check(&body) {
            return body;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!(
        "{path} never reached the expected state: {}",
        qiao.get(path).await.1
    );
}

#[tokio::test]
async fn source_pull_and_contact_events_keep_the_view_current() {
    // `hr` is the source of truth (an identity connector), `dt` a target; both simulate the same seeded company.
    let hr = DingTalkSim::start(DtOptions::default()).await.unwrap();
    let dt = DingTalkSim::start(DtOptions::default()).await.unwrap();
    let config = format!(
        "[directory]\nsource = \"hr\"\n{}{}",
        hr.connection("hr", ""),
        dt.connection("dt", "")
    );
    let qiao = TestServer::start(&["dingtalk"], &config).await.unwrap();
    hr.set_callback_url(&qiao.url("/v1/hooks/hr"));

    let (status, pulled) = qiao.post("/v1/directory/pull", json!({})).await;
    assert_eq!(status, 200, "{pulled}");
    assert_eq!(pulled["source"], "hr");
    let seeded = hr.state().users.len() as u64;
    assert_eq!(pulled["changed"]["people"]["added"], seeded, "{pulled}");
    let (_, alice) = qiao.get("/v1/directory/people/alice").await;
    assert_eq!(
        alice["person"]["name"],
        hr.state().users["alice"].name,
        "{alice}"
    );

    // A change at the source reaches the directory through its event, without another pull.
    hr.state().users.get_mut("alice").unwrap().title = "Head of Finance".into();
    let event = hr
        .state()
        .contact_event("user_modify_org", json!(["alice"]));
    assert_eq!(
        hr.deliver(&qiao.url("/v1/hooks/hr"), &hr.signed_callback(&event))
            .await
            .unwrap(),
        (200, true)
    );
    eventually(&qiao, "/v1/directory/people/alice", |b| {
        b["person"]["title"] == "Head of Finance"
    })
    .await;

    // The target's existing accounts are linked by mobile (nothing created: they are the same people).
    let linked = qiao.sync("dt", json!({})).await;
    assert_eq!(linked["status"], "succeeded", "{linked}");
    assert_eq!(counts(&linked)["link_user"], seeded, "{linked}");
    assert_eq!(counts(&linked)["create_user"], 0, "{linked}");
    let (_, bob) = qiao.get("/v1/directory/people/bob").await;
    assert_eq!(
        bob["accounts"],
        json!([{ "connection": "dt", "user_id": "bob" }]),
        "{bob}"
    );

    // Deleted on the target platform: no longer an address, and the next plan reports it as drift.
    dt.state().users.remove("bob");
    let event = dt.state().contact_event("user_leave_org", json!(["bob"]));
    assert_eq!(
        dt.deliver(&qiao.url("/v1/hooks/dt"), &dt.signed_callback(&event))
            .await
            .unwrap(),
        (200, true)
    );
    eventually(&qiao, "/v1/directory/people/bob", |b| {
        b["accounts"] == json!([])
    })
    .await;
    let dry = qiao.sync("dt", json!({ "dry_run": true })).await;
    assert_eq!(dry["plan"]["drift"][0]["id"], "bob", "{dry}");
    assert_eq!(dry["plan"]["drift"][0]["field"], "active", "{dry}");
    assert_eq!(dry["plan"]["drift"][0]["platform"], false, "{dry}");
}

/// 2,000 people in 200 departments: ten top-level departments, each the parent of ten, and so on (three
/// levels); each department's head (p0000–p0199) manages the others in it.
fn large() -> Value {
    let departments: Vec<Value> = (0..200)
        .map(|i| {
            let parent = if i < 10 { Value::Null } else { json!(format!("d{:03}", (i - 10) / 10)) };
            json!({ "id": format!("d{i:03}"), "name": format!("Department {i}"), "parent_id": parent })
        })
        .collect();
    let people: Vec<Value> = (0..2000)
        .map(|i| {
            let mut person = json!({
                "id": format!("p{i:04}"),
                "name": format!("Person {i}"),
                "mobile": format!("1370000{i:04}"),
                "email": format!("p{i}@corp.example"),
                "employee_no": format!("E{i:05}"),
                "title": if i < 200 { "Head" } else { "Staff" },
                "department_ids": [format!("d{:03}", i % 200)],
            });
            if i >= 200 {
                person["manager_id"] = json!(format!("p{:04}", i % 200));
            }
            person
        })
        .collect();
    json!({ "departments": departments, "people": people })
}

/// The change set: 10 departments renamed, 20 people moved, 20 leavers, and a new tree (a top-level department
/// with five children) that 10 people move into. None of the leavers manages anyone.
fn change_set(mut directory: Value) -> Value {
    for i in 0..10 {
        directory["departments"][i * 7]["name"] = json!(format!("Renamed {i}"));
    }
    let departments = directory["departments"].as_array_mut().unwrap();
    departments.push(json!({ "id": "new-top", "name": "New Business" }));
    for k in 0..5 {
        departments.push(json!({ "id": format!("new-{k}"), "name": format!("New Team {k}"), "parent_id": "new-top" }));
    }
    let people = directory["people"].as_array_mut().unwrap();
    for i in 0..20 {
        let p = &mut people[300 + i * 13];
        p["department_ids"] = json!([format!("d{:03}", (300 + i * 13 + 1) % 200)]);
    }
    for k in 0..10 {
        people[1500 + k]["department_ids"] = json!([format!("new-{}", k % 5)]);
    }
    let leavers: Vec<String> = (0..20).map(|i| format!("p{:04}", 1700 + i * 7)).collect();
    people.retain(|p| !leavers.contains(&p["id"].as_str().unwrap().to_string()));
    directory
}

#[tokio::test]
async fn two_thousand_people_into_three_platforms_then_a_minimal_change_set() {
    let _heavy = qiao_tests::one_heavy_test_at_a_time().await;
    use qiao_tests::feishu_sim::{FeishuSim, Options as FsOptions};
    use qiao_tests::wecom_sim::{Options as WcOptions, WeComSim};

    let dt = DingTalkSim::start(DtOptions {
        qps: 100_000,
        ..DtOptions::default()
    })
    .await
    .unwrap();
    let wc = WeComSim::start(WcOptions {
        qps: 100_000,
        ..WcOptions::default()
    })
    .await
    .unwrap();
    let fs = FeishuSim::start(FsOptions {
        qps: 100_000,
        ..FsOptions::default()
    })
    .await
    .unwrap();
    // Listing a platform's directory takes many requests in one call (DingTalk reads each user), and its guest
    // time (counted in wall-clock ticks while the guest runs) grows with a loaded machine: CI's 2 cores ran it past
    // the default 2 s. The outbox paces each connection at 20 writes/s by default (the platforms' own limits):
    // raised here.
    let limits = "limits = { max_http_requests = 5000, timeout_ms = 120000, cpu_ms = 30000 }\n        outbox = { rate_per_second = 1000.0, concurrency = 8 }";
    let f = &fs.options;
    let config = format!(
        r#"{}{}
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
    );
    let qiao = TestServer::start(&["dingtalk", "wecom", "feishu"], &config)
        .await
        .unwrap();
    let connections = ["dt", "wc", "fs"];

    let (status, body) = qiao
        .request(reqwest::Method::PUT, "/v1/directory", Some(large()))
        .await;
    assert_eq!(status, 200, "{body}");

    // From empty: every department and person created on all three platforms at once.
    let runs = futures::future::join_all(connections.map(|c| qiao.sync(c, json!({})))).await;
    for (c, applied) in connections.iter().zip(&runs) {
        assert_eq!(applied["status"], "succeeded", "{c}: {}", applied["report"]);
        assert_eq!(counts(applied)["create_department"], 200, "{c}");
        assert_eq!(counts(applied)["create_user"], 2000, "{c}");
        assert_eq!(applied["report"]["done"], 2200, "{c}");
        eprintln!(
            "{c}: 2,200 steps from empty in {} ms",
            applied["report"]["duration_ms"]
        );
    }
    assert_eq!(dt.state().users["p0345"].manager_userid, "p0145");

    // Nothing changed: nothing planned anywhere (every field reads back as written).
    for c in connections {
        let again = qiao.sync(c, json!({ "dry_run": true })).await;
        assert_eq!(again["plan"]["steps"], json!([]), "{c}: {}", again["plan"]);
        assert_eq!(again["plan"]["drift"], json!([]), "{c}");
    }

    // The change set becomes exactly its steps on each platform.
    let (status, body) = qiao
        .request(
            reqwest::Method::PUT,
            "/v1/directory",
            Some(change_set(large())),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["changed"]["people"]["removed"], 20, "{body}");
    let runs = futures::future::join_all(connections.map(|c| qiao.sync(c, json!({})))).await;
    for (c, changed) in connections.iter().zip(&runs) {
        assert_eq!(changed["status"], "succeeded", "{c}: {}", changed["report"]);
        let n = counts(changed);
        let got = [
            n["create_department"].as_u64(),
            n["update_department"].as_u64(),
            n["create_user"].as_u64(),
            n["update_user"].as_u64(),
            n["deactivate_user"].as_u64(),
            n["delete_department"].as_u64(),
        ];
        assert_eq!(
            got,
            [Some(6), Some(10), Some(0), Some(30), Some(20), Some(0)],
            "{c}: {n}"
        );
        assert_eq!(
            changed["plan"]["steps"].as_array().unwrap().len(),
            66,
            "{c}"
        );
    }
    // Leavers: deleted in DingTalk (no disabling there), disabled in WeCom, frozen in Feishu.
    assert!(!dt.state().users.contains_key("p1700"));
    assert_eq!(wc.user_enabled("p1700"), Some(false));
    let again =
        futures::future::join_all(connections.map(|c| qiao.sync(c, json!({ "dry_run": true }))))
            .await;
    for (c, again) in connections.iter().zip(&again) {
        assert_eq!(again["plan"]["steps"], json!([]), "{c}: {}", again["plan"]);
    }
    let (_, person) = qiao.get("/v1/directory/people/p1500").await;
    assert_eq!(person["accounts"].as_array().unwrap().len(), 3, "{person}");
}

#[tokio::test]
async fn a_failed_step_skips_what_needs_it_and_a_stopped_run_resumes() {
    let sim = DingTalkSim::start(DtOptions::default()).await.unwrap();
    // One attempt per write, so a platform failure is final at once.
    let once = "outbox = { max_attempts = 1, concurrency = 1 }";
    let qiao = TestServer::start(&["dingtalk"], &sim.connection("dt", once))
        .await
        .unwrap();
    let (status, _) = qiao
        .request(reqwest::Method::PUT, "/v1/directory", Some(small()))
        .await;
    assert_eq!(status, 200);

    // The first department create fails: its sub-departments and everyone in them are skipped, not guessed.
    sim.inject(
        "/topapi/v2/department/create",
        qiao_tests::dingtalk_sim::Fault::Busy,
        1,
    );
    let failed = qiao.sync("dt", json!({})).await;
    assert_eq!(
        failed["status"], "completed_with_errors",
        "{}",
        failed["report"]
    );
    let report = &failed["report"];
    assert_eq!(report["failed"], 1, "{report}");
    assert_eq!(report["errors"][0]["id"], "hq", "{report}");
    assert_eq!(
        report["skipped"], 7,
        "eng, ops and the five people under them: {report}"
    );
    assert!(
        report["skipped_steps"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("department hq"),
        "{report}"
    );
    assert!(!sim.state().users.contains_key("p1"));

    // The next run picks up what is missing. It is stopped half way (each user create is slow) ...
    sim.inject(
        "/topapi/v2/user/create",
        qiao_tests::dingtalk_sim::Fault::Delay(std::time::Duration::from_millis(400)),
        5,
    );
    let (status, started) = qiao
        .post("/v1/connections/dt/directory/runs?wait=0", json!({}))
        .await;
    assert_eq!(status, 202, "{started}");
    let id = started["id"].as_i64().unwrap();
    let path = format!("/v1/connections/dt/directory/runs/{id}?plan=false");
    eventually(&qiao, &path, |r| {
        r["progress"]["done"].as_u64().unwrap_or(0) >= 4
    })
    .await;
    let config = sim.connection("dt", once);
    let qiao = qiao.restart(&config).await.unwrap();
    let (_, stopped) = qiao.get(&path).await;
    assert!(
        ["applying", "succeeded"].contains(&stopped["status"].as_str().unwrap()),
        "{stopped}"
    );
    // ... and resumes at the next start: every step done once, nobody created twice.
    let finished = eventually(&qiao, &path, |r| r["status"] == "succeeded").await;
    assert_eq!(finished["report"]["done"], 8, "{finished}");
    let state = sim.state();
    for p in ["p1", "p2", "p3", "p4", "p5"] {
        assert!(state.users.contains_key(p), "{p} exists");
    }
    assert_eq!(
        state
            .users
            .values()
            .filter(|u| u.mobile.starts_with("139"))
            .count(),
        5,
        "no one created twice"
    );
}

// Multi-threaded: the CLI is run (and waited for) synchronously while the in-process server answers it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_pushes_plans_and_syncs_through_a_running_server() {
    let sim = DingTalkSim::start(DtOptions::default()).await.unwrap();
    let qiao = TestServer::start(&["dingtalk"], &sim.connection("dt", ""))
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("directory.json");
    std::fs::write(&file, small().to_string()).unwrap();
    let key = qiao
        .create_key(&["identity:write", "identity:read"], None)
        .await;
    qiao_tests::logs::secret(&key);
    let cli = |args: &[&str]| {
        let output = std::process::Command::new(qiao_tests::child::qiao_binary())
            .arg("directory")
            .args(args)
            .env("QIAO_URL", &qiao.base)
            .env("QIAO_API_KEY", &key)
            .output()
            .unwrap();
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        (
            output.status.code(),
            text(&output.stdout),
            text(&output.stderr),
        )
    };

    let (code, out, err) = cli(&["push", file.to_str().unwrap()]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(out.contains("people       5 added"), "{out}");

    let (code, out, err) = cli(&["sync", "dt", "--dry-run"]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.contains("planned: ") && out.contains("create_user 5"),
        "{out}"
    );
    assert!(
        !sim.state().users.contains_key("p1"),
        "a dry run writes nothing"
    );

    let (code, out, err) = cli(&["sync", "dt", "--json"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let run: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(run["status"], "succeeded", "{run}");
    assert!(sim.state().users.contains_key("p5"));

    // The guard's exit status, and a clear error for a directory with problems.
    let mut fewer = small();
    fewer["people"] = json!([fewer["people"][0]]);
    std::fs::write(&file, fewer.to_string()).unwrap();
    assert_eq!(cli(&["push", file.to_str().unwrap()]).0, Some(0));
    let (code, out, _) = cli(&["sync", "dt"]);
    assert_eq!(code, Some(3), "{out}");
    assert!(out.contains("--confirm"), "{out}");
    std::fs::write(
        &file,
        json!({ "people": [{ "id": "x", "name": "X", "manager_id": "nobody" }] }).to_string(),
    )
    .unwrap();
    let (code, _, err) = cli(&["push", file.to_str().unwrap()]);
    assert_eq!(code, Some(1));
    assert!(err.contains("manager nobody does not exist"), "{err}");

    let (code, out, _) = cli(&["runs", "dt"]);
    assert_eq!(code, Some(0));
    assert!(
        out.contains("needs_confirmation") && out.contains("succeeded"),
        "{out}"
    );
    let (code, _, err) = std::process::Command::new(qiao_tests::child::qiao_binary())
        .args(["directory", "runs", "dt", "--url", &qiao.base])
        .env_remove("QIAO_API_KEY")
        .output()
        .map(|o| {
            (
                o.status.code(),
                (),
                String::from_utf8_lossy(&o.stderr).into_owned(),
            )
        })
        .unwrap();
    assert_eq!(code, Some(1));
    assert!(err.contains("QIAO_API_KEY"), "{err}");
}

#[tokio::test]
async fn a_connection_with_a_schedule_syncs_by_itself() {
    let sim = DingTalkSim::start(DtOptions::default()).await.unwrap();
    let qiao = TestServer::start(
        &["dingtalk"],
        &sim.connection("dt", "directory = { sync_every_s = 1 }"),
    )
    .await
    .unwrap();
    let (status, _) = qiao
        .request(reqwest::Method::PUT, "/v1/directory", Some(small()))
        .await;
    assert_eq!(status, 200);
    let runs = eventually(&qiao, "/v1/connections/dt/directory/runs", |b| {
        b["runs"].as_array().is_some_and(|runs| {
            runs.iter()
                .any(|r| r["status"] == "succeeded" && r["report"]["done"] == 8)
        })
    })
    .await;
    assert_eq!(runs["runs"][0]["actor"], "schedule", "{runs}");
    assert!(sim.state().users.contains_key("p5"));
}
