//! Issue 20's rule scenario end to end: a task created in Feishu becomes an OA to-do in e-cology's unified to-do
//! centre (OFS), through a rule, and is marked done there when the Feishu task is completed, through a second rule
//! that finds the to-do by the link the first one made (`event.links.oa`).
//!
//! Feishu (`qiao_tests::feishu_sim`, its signed task callbacks) → Qiao's event log → rules → the `oa` connection
//! (`plugins/ecology`, Python, signed by `acme-labs`) → the e-cology simulator's OFS state, which is what is
//! asserted: the to-do for the right receiver (the directory's OA account of the person the rule names), then
//! done (`isremark` 0 → 2).

use std::time::Duration;

use qiao_tests::TestServer;
use qiao_tests::ecology_sim::{self, APPID, EcologySim, LI_NA, SSO_APPID, SYSCODE};
use qiao_tests::feishu_sim::{self, FeishuSim};
use qiao_tests::operations;
use qiao_tests::signing::{self, PLUGIN_PUBLISHER};
use serde_json::{Value, json};

const HOOK_SECRET: &str = "sim-ecology-hook-secret";

fn config(oa: &EcologySim, fs: &FeishuSim) -> String {
    let feishu = operations::feishu_config(fs, &[("fs", 5000, "backoff_initial_ms = 50, backoff_max_ms = 500")]);
    format!(
        r#"
        {feishu}

        [connections.oa]
        connector = "ecology"
        settings = {{ base_url = "{base}", appid = "{APPID}", user_id = "1", ofs_syscode = "{SYSCODE}", sso_appid = "{SSO_APPID}", ofs_default_link = "{base}/spa/workflow/index_form.jsp" }}
        secrets = {{ cpk = "unused-client-key", hook_secret = "{HOOK_SECRET}" }}
        limits = {{ timeout_ms = 20000 }}

        {trust}
        "#,
        base = oa.base,
        trust = signing::trust(&[PLUGIN_PUBLISHER]),
    )
}

async fn until<T>(what: &str, secs: u64, mut f: impl AsyncFnMut() -> Option<T>) -> T {
    for _ in 0..secs * 10 {
        if let Some(v) = f().await {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out after {secs} s waiting for {what}");
}

/// The OFS to-dos the simulator holds for a flowid.
fn todos(oa: &EcologySim, flowid: &str) -> Vec<ecology_sim::OfsItem> {
    oa.state().ofs.values().filter(|i| i.flowid == flowid).cloned().collect()
}

/// Both simulators and Qiao with `fs` and `oa`; the directory: 李娜 (her OA account is HrmResource 3) leads the 618
/// campaign, Alice works in Feishu.
async fn setup() -> (EcologySim, FeishuSim, TestServer) {
    let oa = EcologySim::start(ecology_sim::Options::default()).await.unwrap();
    let fs = FeishuSim::start(feishu_sim::Options::default()).await.unwrap();
    let qiao = TestServer::start_as_is(&["feishu", "ecology"], &config(&oa, &fs)).await.unwrap();
    fs.set_callback_url(&qiao.url("/v1/hooks/fs"));
    // The app's task event subscription (the Feishu console's, or the first task create's).
    fs.state().todo.subscribed = true;
    let directory = json!({
        "departments": [{ "id": "hq", "name": "HQ" }],
        "people": [
            { "id": "p-lina", "name": "李娜", "email": "lina@example.com", "department_ids": ["hq"] },
            { "id": "p-alice", "name": "Alice", "email": "alice@example.com", "department_ids": ["hq"] }
        ]
    });
    let (status, body) = qiao.request(reqwest::Method::PUT, "/v1/directory", Some(directory)).await;
    assert_eq!(status, 200, "{body}");
    let db = qiao.db();
    for (connection, person, user) in [("oa", "p-lina", LI_NA.to_string()), ("fs", "p-alice", "alice".to_string())] {
        db.set_link(connection.into(), qiao_store::LinkKind::Person, person.into(), user, None).await.unwrap();
    }
    (oa, fs, qiao)
}

/// Rule B: a Feishu task completed → its linked OA to-do done.
fn done_in_oa() -> Value {
    json!({
        "id": "feishu-done-to-oa",
        "on": { "connection": "fs", "types": ["task.status_changed"] },
        "when": "event.payload.to.category == 'done' && 'oa' in event.links",
        "actions": [{ "do": "complete_task", "connection": "oa", "target": "{{ event.links.oa }}" }]
    })
}

/// Rule A: a 618 task made in Feishu → a to-do in the campaign lead's OA list, linked to the Feishu task; with
/// `echoes`, also for a Feishu task that one of Qiao's own writes made (another rule's).
fn to_oa(echoes: bool) -> Value {
    json!({
        "id": "feishu-task-to-oa",
        "description": "618 campaign tasks made in Feishu appear in the campaign lead's OA to-do list",
        "on": { "connection": "fs", "types": ["task.created"] },
        "when": "event.payload.title.startsWith('618')",
        "echoes": echoes,
        "actions": [{ "do": "create_task", "connection": "oa", "link": true, "body": {
            "title": "[飞书] {{ event.payload.title }}",
            "assignees": ["{{ account(person_by_email('lina@example.com'), 'oa') }}"],
            "extra": { "pcurl": "{{ event.payload.url }}", "workflowname": "飞书任务", "nodename": "待处理" }
        } }]
    })
}

#[tokio::test]
async fn a_feishu_task_becomes_an_oa_todo_and_is_done_when_the_feishu_task_completes() {
    let (oa, fs, qiao) = setup().await;
    for rule in [to_oa(false), done_in_oa()] {
        let (status, body) = qiao.post("/v1/rules", rule).await;
        assert_eq!(status, 201, "{body}");
    }

    // Two tasks made by people in Feishu: only the campaign's becomes an OA to-do.
    fs.create_task_as("alice", "整理会议纪要", &["alice"], Value::Null).unwrap();
    let guid = fs.create_task_as("alice", "618 大促首页改版", &["alice"], Value::Null).unwrap();
    let created = qiao
        .wait_for_event("fs", |e| e["type"] == "task.created" && e["subject"] == guid.as_str())
        .await;
    assert!(created["echo_of"].is_null(), "made by a person, not an echo: {created}");
    let seq = created["seq"].as_i64().unwrap();
    let flowid = format!("q-rule:feishu-task-to-oa:{seq}:0");

    let todo = until("the OA to-do", 60, async || todos(&oa, &flowid).into_iter().next()).await;
    assert_eq!(todo.syscode, SYSCODE);
    assert_eq!(todo.receiver, LI_NA, "李娜's to-do, found through the directory");
    assert_eq!(todo.requestname, "[飞书] 618 大促首页改版");
    assert_eq!(todo.workflowname, "飞书任务");
    assert_eq!(todo.isremark, 0, "a to-do (待办)");
    assert!(todo.pcurl.contains(&format!("guid={guid}")), "opens the Feishu task: {}", todo.pcurl);
    assert_eq!(oa.state().ofs.len(), 1, "the other task made no to-do");

    // The link the rule made: the Feishu task's event now sees its OA to-do, so the second rule would complete it.
    let probe = json!({ "connection": "fs", "type": "task.status_changed", "subject": guid,
                        "payload": { "task_id": guid, "to": { "category": "done" } } });
    let planned = until("the link to the OA to-do", 30, async || {
        let (status, tested) = qiao.post("/v1/rules/test", json!({ "rule_id": "feishu-done-to-oa", "event": probe })).await;
        assert_eq!(status, 200, "{tested}");
        (tested["matched"] == true).then_some(tested)
    })
    .await;
    assert_eq!(planned["seen"]["event"]["links"]["oa"], flowid, "{planned}");
    assert_eq!(
        planned["writes"][0]["path"],
        format!("/v1/connections/oa/tasks/{flowid}/complete"),
        "{planned}"
    );
    assert_eq!(todos(&oa, &flowid)[0].isremark, 0, "testing the rule made nothing");

    // Someone completes the Feishu task: the OA to-do is done.
    fs.set_task_done(&guid, true).unwrap();
    let done = until("the OA to-do to be done", 60, async || {
        todos(&oa, &flowid).into_iter().find(|t| t.isremark == 2)
    })
    .await;
    assert_eq!(done.receiver, LI_NA);
    assert_eq!(oa.state().ofs.len(), 1, "the same to-do, done: not another");
    assert_eq!(oa.count("ProcessDoneRequestByJson"), 1, "marked done once");

    // What the rules say they did.
    let runs = |rule: &'static str| {
        let qiao = &qiao;
        async move {
            let (status, body) = qiao.get(&format!("/v1/rules/{rule}/runs")).await;
            assert_eq!(status, 200, "{body}");
            body["runs"].as_array().unwrap().clone()
        }
    };
    let created_runs = runs("feishu-task-to-oa").await;
    let outcomes: Vec<(&str, &str)> = created_runs
        .iter()
        .map(|r| (r["detail"]["event_type"].as_str().unwrap(), r["outcome"].as_str().unwrap()))
        .collect();
    assert!(outcomes.contains(&("task.created", "matched")) && outcomes.contains(&("task.created", "not_matched")), "{created_runs:#?}");
    let done_runs = until("the completing rule's run", 30, async || {
        let r = runs("feishu-done-to-oa").await;
        r.iter().any(|r| r["outcome"] == "matched").then_some(r)
    })
    .await;
    let matched: Vec<&Value> = done_runs.iter().filter(|r| r["outcome"] == "matched").collect();
    assert_eq!(matched.len(), 1, "{done_runs:#?}");
    let op = matched[0]["detail"]["actions"][0]["operation_id"].as_i64().expect("its operation");
    let (status, op) = qiao.get(&format!("/v1/operations/{op}")).await;
    assert_eq!(status, 200, "{op}");
    assert_eq!(op["status"], "succeeded", "{op}");
    assert_eq!(op["actor"], "rule:feishu-done-to-oa", "{op}");
    assert_eq!(op["cause"]["rule"], "feishu-done-to-oa", "{op}");

    // Asked to act again on the events since the 618 task's create (a backfill from before it): the same events
    // give the same (rule, event, action) keys, which find the operations made the first time. Nothing new in the
    // OA, and the runs name those operations.
    let (_, before) = qiao.get("/v1/operations?connection=oa").await;
    let first_create = matched_op(&created_runs);
    for rule in ["feishu-task-to-oa", "feishu-done-to-oa"] {
        let (status, body) = qiao.post(&format!("/v1/rules/{rule}/enable"), json!({ "from": seq })).await;
        assert_eq!(status, 200, "{body}");
    }
    let replayed = until("the replayed runs", 30, async || {
        let r = runs("feishu-task-to-oa").await;
        r.iter().any(|r| r["event_seq"] == seq && r["at_ms"].as_i64() > created_runs.iter().find(|c| c["event_seq"] == seq).and_then(|c| c["at_ms"].as_i64())).then_some(r)
    })
    .await;
    let again = replayed.iter().find(|r| r["event_seq"] == seq).unwrap();
    assert_eq!(again["outcome"], "matched", "{again}");
    assert_eq!(again["detail"]["actions"][0]["operation_id"], json!(first_create), "the operation made the first time: {again}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let (_, after) = qiao.get("/v1/operations?connection=oa").await;
    assert_eq!(after["operations"].as_array().unwrap().len(), before["operations"].as_array().unwrap().len(), "{after}");
    assert_eq!(oa.state().ofs.len(), 1);
    assert_eq!(oa.count("ReceiveTodoRequestByJson"), 1, "pushed once");
    assert_eq!(oa.count("ProcessDoneRequestByJson"), 1, "marked done once");
}

/// The operation id of a run's first action in the one matched run of `runs`.
fn matched_op(runs: &[Value]) -> i64 {
    let matched: Vec<&Value> = runs.iter().filter(|r| r["outcome"] == "matched").collect();
    assert_eq!(matched.len(), 1, "{runs:#?}");
    matched[0]["detail"]["actions"][0]["operation_id"].as_i64().expect("the run names its operation")
}

/// Issue 20's wording: "a task created on Feishu by a rule becomes an OA to-do". An OA expense claim approved
/// (the OA-side hook's signed push) → rule 0 creates the follow-up task in Feishu (Qiao's own write); Feishu's
/// `task.created` for it is that write's echo, which rule A, set to react to echoes, turns into the campaign lead's
/// OA to-do (two hops); Alice completes the Feishu task → rule B marks the to-do done.
#[tokio::test]
async fn a_feishu_task_made_by_a_rule_becomes_an_oa_todo_two_hops_on() {
    let (oa, fs, qiao) = setup().await;
    let follow_up = json!({
        "id": "oa-approved-to-feishu",
        "on": { "connection": "oa", "types": ["approval.status_changed"] },
        "when": "event.payload.status == 'approved'",
        "actions": [{ "do": "create_task", "connection": "fs", "body": {
            "title": "618 跟进: {{ event.payload.title }}",
            "assignees": ["{{ account(person_by_email('alice@example.com'), 'fs') }}"]
        } }]
    });
    for rule in [follow_up, to_oa(true), done_in_oa()] {
        let (status, body) = qiao.post("/v1/rules", rule).await;
        assert_eq!(status, 201, "{body}");
    }

    let push = json!({
        "id": "5074:workflow:approved:1764727200000", "type": "workflow", "time": 1764727200000i64,
        "requestId": "5074", "workflowId": "44", "requestName": "费用报销-张伟", "status": "approved",
        "from": "pending", "nodeName": "总经理审批", "operatorId": "2", "remark": "同意"
    })
    .to_string();
    let signature = qiao_tests::echo_server::hex_hmac(HOOK_SECRET, &push);
    let status = reqwest::Client::new()
        .post(qiao.url("/v1/hooks/oa"))
        .header("content-type", "application/json")
        .header("X-Qiao-Signature", format!("sha256={signature}"))
        .body(push)
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 200);

    // The Feishu task the first rule made, and its echo.
    let task = until("the Feishu follow-up task", 30, async || {
        fs.state().todo.tasks.iter().find(|t| t.summary == "618 跟进: 费用报销-张伟").cloned()
    })
    .await;
    assert_eq!(task.members, vec![("alice".to_string(), "assignee".to_string())]);
    let echo = qiao.wait_for_event("fs", |e| e["type"] == "task.created" && e["subject"] == task.guid.as_str()).await;
    assert!(echo["echo_of"].is_i64(), "the echo of the rule's create: {echo}");
    let flowid = format!("q-rule:feishu-task-to-oa:{}:0", echo["seq"]);

    let todo = until("the OA to-do", 60, async || todos(&oa, &flowid).into_iter().next()).await;
    assert_eq!((todo.receiver, todo.isremark), (LI_NA, 0));
    assert_eq!(todo.requestname, "[飞书] 618 跟进: 费用报销-张伟");
    let (_, ops) = qiao.get("/v1/operations?connection=oa").await;
    let create = ops["operations"].as_array().unwrap().iter().find(|o| o["operation"] == "create_task").cloned().unwrap();
    assert_eq!(create["cause"]["hops"], 2, "two rule-made writes led here: {create}");

    // Alice completes it in Feishu.
    fs.set_task_done(&task.guid, true).unwrap();
    let done = until("the OA to-do to be done", 60, async || todos(&oa, &flowid).into_iter().find(|t| t.isremark == 2)).await;
    assert_eq!(done.receiver, LI_NA);
    assert_eq!(oa.state().ofs.len(), 1, "{:?}", oa.state().ofs);
    // One Feishu task, however many rules ran.
    assert_eq!(fs.state().todo.tasks.len(), 1);
}
