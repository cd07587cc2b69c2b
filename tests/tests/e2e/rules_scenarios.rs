//! Seed 002's rules end to end, asserted at the simulators: Feishu (tasks, group chats), Jira (issues, a person's
//! transitions, signed webhooks that it may deliver twice) and DingTalk (work notices, scene groups), with the
//! enterprise's directory linking each person to their account on every platform.
//!
//! - §2.4.1: a Feishu task a person assigns to an engineer → a Jira issue in 待开发 assigned to the engineer's Jira
//!   account, and a DingTalk work notice to them; the two tasks linked; the reverse rule (Jira task.created →
//!   Feishu task) does not loop, because the Jira issue's creation event is the echo of Qiao's own write.
//! - Scenario 1: that issue moved to 测试中 by a person in Jira → one message in the Feishu group @-mentioning the
//!   test owner, and the linked Feishu task updated; the same webhook delivered again → still one message.
//! - Scenario 2: a Feishu task filed as 客户反馈 → posted to the DingTalk customer group @-mentioning the sales rep.
//!
//! Feishu tasks have no labels (the connector answers 501 for them): a team files customer feedback in a
//! tasklist (清单), which the task's `extra.tasklists` carries. The shared task events do not carry assignees or
//! tasklists either; a rule that names `event.task` gets the task as `GET …/tasks/{id}` answers it.
//!
//! Feishu sends task events only once the app subscribed (`task_v2/task_subscription`), which the connector does
//! with its first task create: each test makes one task through Qiao first, as a deployment would have.

use std::time::Duration;

use qiao_tests::TestServer;
use qiao_tests::dingtalk_sim::{self, DingTalkSim, SCENE_GROUP_TEMPLATE_ID, SCENE_ROBOT_CODE};
use qiao_tests::feishu_sim::{self, FeishuSim};
use qiao_tests::jira_sim::{self, ALICE, BOB, JiraSim};
use qiao_tests::signing::{self, PLUGIN_PUBLISHER};
use serde_json::{Value, json};

fn feishu(sim: &FeishuSim) -> String {
    let o = &sim.options;
    format!(
        r#"
        [connections.fs]
        connector = "feishu"
        settings = {{ app_id = "{}", api_base = "{}", user_id_type = "user_id", department_id_type = "department_id" }}
        secrets = {{ app_secret = "{}", verification_token = "{}", encrypt_key = "{}" }}
        limits = {{ timeout_ms = 3000 }}
        "#,
        o.app_id, sim.base, o.app_secret, o.verification_token, o.encrypt_key
    )
}

fn dingtalk(sim: &DingTalkSim) -> String {
    let settings = format!(
        "operator_user_id = \"manager1\", scene_group_template_id = \"{SCENE_GROUP_TEMPLATE_ID}\", \
         scene_group_robot_code = \"{SCENE_ROBOT_CODE}\""
    );
    sim.connection_with("dt", &settings, "")
}

fn jira(sim: &JiraSim) -> String {
    format!(
        r#"
        [connections.jira]
        connector = "jira"
        settings = {{ base_url = "{}", email = "qiao-bot@example.com", project = "OPS" }}
        secrets = {{ api_token = "{}", webhook_secret = "{}" }}
        limits = {{ timeout_ms = 5000 }}
        outbox = {{ backoff_initial_ms = 100, backoff_max_ms = 2000 }}
        "#,
        sim.base,
        jira_sim::API_TOKEN,
        sim.options.webhook_secret,
    )
}

/// A person: id, name, and (connection, platform user id) of each of their accounts.
type Person<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)]);

/// The enterprise's people, each linked to their account on the named connections.
async fn directory(qiao: &TestServer, people: &[Person<'_>]) {
    let list: Vec<Value> = people.iter().map(|(id, name, _)| json!({ "id": id, "name": name, "department_ids": ["hq"] })).collect();
    let body = json!({ "departments": [{ "id": "hq", "name": "HQ" }], "people": list });
    let (status, answer) = qiao.request(reqwest::Method::PUT, "/v1/directory", Some(body)).await;
    assert_eq!(status, 200, "{answer}");
    let db = qiao.db();
    for (person, _, accounts) in people {
        for (connection, user) in *accounts {
            db.set_link(connection.to_string(), qiao_store::LinkKind::Person, person.to_string(), user.to_string(), None)
                .await
                .unwrap();
        }
    }
}

async fn add_rule(qiao: &TestServer, rule: Value) {
    let (status, created) = qiao.post("/v1/rules", rule).await;
    assert_eq!(status, 201, "{created}");
}

/// Qiao's first Feishu task, made through its API: the connector subscribes the app to task events with it. Its
/// own `task.created` comes back as the echo of that write.
async fn subscribe_feishu_tasks(qiao: &TestServer, sim: &FeishuSim) -> String {
    let (status, task) = qiao.post("/v1/connections/fs/tasks?wait=30", json!({ "title": "(setup) team board" })).await;
    assert_eq!(status, 201, "{task}");
    assert!(sim.state().todo.subscribed, "the first create subscribed the app");
    let id = task["id"].as_str().unwrap().to_string();
    let echo = qiao.wait_for_event("fs", |e| e["type"] == "task.created" && e["subject"] == id.as_str()).await;
    assert!(echo["echo_of"].is_i64(), "{echo}");
    id
}

async fn until<T>(what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    for _ in 0..300 {
        if let Some(v) = f() {
            return v;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The rule's runs, once one for the event `seq` is recorded.
async fn run_for(qiao: &TestServer, rule: &str, seq: i64) -> Value {
    for _ in 0..300 {
        let (status, runs) = qiao.get(&format!("/v1/rules/{rule}/runs")).await;
        assert_eq!(status, 200, "{runs}");
        if let Some(run) = runs["runs"].as_array().unwrap().iter().find(|r| r["event_seq"] == seq) {
            return run.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no run of {rule} for event {seq}");
}

async fn runs(qiao: &TestServer, rule: &str) -> Vec<Value> {
    let (status, runs) = qiao.get(&format!("/v1/rules/{rule}/runs")).await;
    assert_eq!(status, 200, "{runs}");
    runs["runs"].as_array().unwrap().clone()
}

/// The texts of the Feishu messages sent into `chat`.
fn feishu_texts(sim: &FeishuSim, chat: &str) -> Vec<String> {
    sim.state()
        .messages
        .iter()
        .filter(|m| m.chat_id == chat)
        .map(|m| {
            let content: Value = m.content.as_str().and_then(|c| serde_json::from_str(c).ok()).unwrap_or(m.content.clone());
            content["text"].as_str().map(str::to_string).unwrap_or_else(|| content.to_string())
        })
        .collect()
}

/// Seed 002 §2.4.1, then its scenario 1 on the issue it made.
#[tokio::test]
async fn a_feishu_task_becomes_a_jira_issue_whose_move_to_testing_tells_the_feishu_group() {
    let fs = FeishuSim::start(feishu_sim::Options::default()).await.unwrap();
    let dt = DingTalkSim::start(dingtalk_sim::Options::default()).await.unwrap();
    let js = JiraSim::start(jira_sim::Options::default()).await.unwrap();
    // The team's workflow names its first status 待开发 ("to develop"; Jira's To Do category).
    js.state().workflow.statuses.iter_mut().find(|s| s.name == "To Do").unwrap().name = "待开发".into();
    let config = format!("{}{}{}\n{}", feishu(&fs), dingtalk(&dt), jira(&js), signing::trust(&[PLUGIN_PUBLISHER]));
    let qiao = TestServer::start_as_is(&["feishu", "dingtalk", "jira"], &config).await.unwrap();
    fs.set_callback_url(&qiao.url("/v1/hooks/fs"));
    dt.set_callback_url(&qiao.url("/v1/hooks/dt"));
    js.set_callback_url(&qiao.url("/v1/hooks/jira"));
    fs.state().chats.insert("oc_qa".into(), vec!["manager1".into(), "alice".into(), "bob".into()]);

    // Li Na is the engineer, Zhang Wei the test owner: each with an account on every platform.
    directory(
        &qiao,
        &[
            ("p-engineer", "Li Na", &[("fs", "alice"), ("dt", "alice"), ("jira", ALICE)]),
            ("p-tester", "Zhang Wei", &[("fs", "bob"), ("dt", "bob"), ("jira", BOB)]),
        ],
    )
    .await;

    add_rule(
        &qiao,
        json!({
            "id": "feishu-task-to-jira",
            "description": "Seed 002 §2.4.1: a Feishu task assigned to an engineer goes to Jira (待开发), and they are told on DingTalk",
            "on": { "connection": "fs", "types": ["task.created"] },
            "when": "event.task != null && size(event.task.assignees) > 0 && account(person_of('fs', event.task.assignees[0]), 'jira') != null",
            "actions": [
                { "do": "create_task", "connection": "jira", "body": {
                    "title": "{{ event.task.title }}",
                    "description": "From Feishu: {{ event.task.url }}",
                    "assignees": ["{{ account(person_of('fs', event.task.assignees[0]), 'jira') }}"]
                }},
                { "do": "send", "connection": "dt", "body": {
                    "to": { "users": ["{{ account(person_of('fs', event.task.assignees[0]), 'dt') }}"] },
                    "text": "{{ person_of('fs', event.task.assignees[0]).name }}, a task is waiting in Jira (待开发): {{ event.task.title }}"
                }}
            ]
        }),
    )
    .await;
    add_rule(
        &qiao,
        json!({
            "id": "jira-task-to-feishu",
            "description": "The reverse: an issue made in Jira gets a Feishu task",
            "on": { "connection": "jira", "types": ["task.created"] },
            "actions": [{ "do": "create_task", "connection": "fs", "body": { "title": "{{ event.payload.title }}" } }]
        }),
    )
    .await;
    add_rule(
        &qiao,
        json!({
            "id": "jira-testing",
            "description": "Seed 002 scenario 1: an issue in 测试中 → @ the test owner in the Feishu group, and update the Feishu task",
            "on": { "connection": "jira", "types": ["task.status_changed"] },
            "when": "event.payload.to.name == '测试中'",
            "actions": [
                { "do": "send", "connection": "fs", "body": {
                    "to": { "chats": ["oc_qa"] },
                    "text": "{{ event.subject }} {{ event.payload.title }} is ready for testing (测试中)",
                    "mentions": { "people": ["{{ person('p-tester').id }}"] }
                }},
                { "do": "update_task", "connection": "fs", "target": "{{ event.links.fs }}", "body": {
                    "description": "Jira {{ event.subject }}: 测试中"
                }}
            ]
        }),
    )
    .await;

    let setup_task = subscribe_feishu_tasks(&qiao, &fs).await;
    let setup_event = qiao.wait_for_event("fs", |e| e["type"] == "task.created" && e["subject"] == setup_task.as_str()).await;
    let run = run_for(&qiao, "feishu-task-to-jira", setup_event["seq"].as_i64().unwrap()).await;
    assert_eq!(run["outcome"], "skipped", "Qiao's own task is an echo: {run}");

    // §2.4.1: a person (the manager) makes the 618 task in Feishu and assigns it to the engineer.
    let guid = fs.create_task_as("manager1", "618 campaign landing page", &["alice"], Value::Null).unwrap();
    let created = qiao.wait_for_event("fs", |e| e["type"] == "task.created" && e["subject"] == guid.as_str()).await;
    assert!(created["echo_of"].is_null(), "a person's task: {created}");
    let run = run_for(&qiao, "feishu-task-to-jira", created["seq"].as_i64().unwrap()).await;
    assert_eq!(run["outcome"], "matched", "{run}");

    // At Jira: one issue, in 待开发 (To Do category), assigned to the engineer's Jira account.
    let key = until("the Jira issue", || js.state().issues.values().next().map(|i| i.key.clone())).await;
    let issue = js.issue(&key).unwrap();
    assert_eq!(issue.summary, "618 campaign landing page");
    assert_eq!(issue.assignee.as_deref(), Some(ALICE));
    assert_eq!(js.state().workflow.status(&issue.status).unwrap().name, "待开发");
    let (status, task) = qiao.get(&format!("/v1/connections/jira/tasks/{key}")).await;
    assert_eq!(status, 200, "{task}");
    assert_eq!(task["status"], json!({ "category": "open", "name": "待开发" }), "{task}");

    // At DingTalk: one work notice, to the engineer.
    let notice = until("the DingTalk work notice", || dt.state().notifications.values().next().cloned()).await;
    assert_eq!(notice.users, ["alice"]);
    let text = notice.msg["text"]["content"].as_str().unwrap_or_default().to_string();
    assert!(text.contains("Li Na") && text.contains("618 campaign landing page"), "{text}");

    // Linked both ways.
    let db = qiao.db();
    let from_feishu = until_links(&qiao, "fs", &guid).await;
    assert_eq!(from_feishu.get("jira"), Some(&key), "{from_feishu:?}");
    let from_jira = db.object_links("jira".into(), key.clone()).await.unwrap();
    assert_eq!(from_jira.get("fs"), Some(&guid), "{from_jira:?}");

    // The issue's creation event is the echo of the rule's write: the reverse rule skips it, so nothing loops.
    let jira_created = qiao.wait_for_event("jira", |e| e["type"] == "task.created" && e["subject"] == key.as_str()).await;
    assert!(jira_created["echo_of"].is_i64(), "{jira_created}");
    let reverse = run_for(&qiao, "jira-task-to-feishu", jira_created["seq"].as_i64().unwrap()).await;
    assert_eq!(reverse["outcome"], "skipped", "{reverse}");
    assert!(reverse["detail"]["skipped"].as_str().unwrap().contains("echo"), "{reverse}");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(js.state().issues.len(), 1, "one Jira issue");
    let mut feishu_tasks: Vec<String> = fs.state().todo.tasks.iter().map(|t| t.guid.clone()).collect();
    feishu_tasks.sort();
    let mut expected = vec![setup_task.clone(), guid.clone()];
    expected.sort();
    assert_eq!(feishu_tasks, expected, "no Feishu task made back from the Jira issue");
    assert_eq!(dt.state().notifications.len(), 1, "one notice");

    // Scenario 1: the engineer moves the issue in Jira, to In Progress and then to 测试中.
    js.transition_as(&key, "In Progress", ALICE).unwrap();
    js.transition_as(&key, "测试中", ALICE).unwrap();
    let testing = qiao
        .wait_for_event("jira", |e| {
            e["type"] == "task.status_changed" && e["subject"] == key.as_str() && e["payload"]["to"]["name"] == "测试中"
        })
        .await;
    assert!(testing["echo_of"].is_null(), "a person's move: {testing}");
    let run = run_for(&qiao, "jira-testing", testing["seq"].as_i64().unwrap()).await;
    assert_eq!(run["outcome"], "matched", "{run}");

    // One message in the Feishu group, @-mentioning the test owner (bob on Feishu).
    let sent = until("the Feishu group message", || {
        let t = feishu_texts(&fs, "oc_qa");
        (!t.is_empty()).then_some(t)
    })
    .await;
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains(&key) && sent[0].contains("测试中"), "{sent:?}");
    assert!(sent[0].contains(r#"<at user_id="bob"></at>"#), "@ the test owner: {sent:?}");
    // The linked Feishu task updated.
    until("the Feishu task's update", || fs.task(&guid).filter(|t| t.description.contains("测试中"))).await;
    assert_eq!(fs.task(&guid).unwrap().description, format!("Jira {key}: 测试中"));

    // Jira delivers the same webhook again: nothing more.
    let delivery = js
        .deliveries()
        .into_iter()
        .find(|d| d.event == "jira:issue_updated" && d.body.contains("测试中") && d.body.contains(&key))
        .expect("the move's delivery");
    assert_eq!(js.redeliver(&delivery.identifier).await.unwrap(), 200);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(feishu_texts(&fs, "oc_qa").len(), 1, "still one message");
    let matched: Vec<Value> = runs(&qiao, "jira-testing").await.into_iter().filter(|r| r["outcome"] == "matched").collect();
    assert_eq!(matched.len(), 1, "{matched:?}");
    assert_eq!(js.state().issues.len(), 1);
    assert_eq!(fs.state().todo.tasks.len(), 2);
}

async fn until_links(qiao: &TestServer, connection: &str, object: &str) -> std::collections::BTreeMap<String, String> {
    for _ in 0..300 {
        let links = qiao.db().object_links(connection.into(), object.into()).await.unwrap();
        if !links.is_empty() {
            return links;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{connection}/{object} was never linked");
}

/// Seed 002 scenario 2: customer feedback filed in Feishu goes to the DingTalk customer group, @ the sales rep.
#[tokio::test]
async fn a_feishu_task_filed_as_customer_feedback_goes_to_the_dingtalk_customer_group() {
    let fs = FeishuSim::start(feishu_sim::Options::default()).await.unwrap();
    let dt = DingTalkSim::start(dingtalk_sim::Options::default()).await.unwrap();
    let config = format!("{}{}", feishu(&fs), dingtalk(&dt));
    let qiao = TestServer::start(&["feishu", "dingtalk"], &config).await.unwrap();
    fs.set_callback_url(&qiao.url("/v1/hooks/fs"));
    dt.set_callback_url(&qiao.url("/v1/hooks/dt"));
    directory(
        &qiao,
        &[("p-engineer", "Li Na", &[("fs", "alice"), ("dt", "alice")]), ("p-sales", "Zhang Wei", &[("fs", "bob"), ("dt", "bob")])],
    )
    .await;

    // The customer group: a DingTalk scene group with the sales rep in it.
    let (status, chat) = qiao
        .post("/v1/connections/dt/chats", json!({ "name": "客户群 ACME", "members": ["bob"], "idempotency_key": "acme" }))
        .await;
    assert!(status < 300, "{status} {chat}");
    let group = chat["id"].as_str().unwrap().to_string();

    add_rule(
        &qiao,
        json!({
            "id": "customer-feedback",
            "description": "Seed 002 scenario 2: customer feedback goes to the customer group, @ the sales rep",
            "on": { "connection": "fs", "types": ["task.created"] },
            "when": "event.task != null && event.task.extra.tasklists != null && event.task.extra.tasklists.exists(l, l.tasklist_guid == 'tl-customer-feedback')",
            "actions": [{ "do": "send", "connection": "dt", "body": {
                "to": { "chats": [group] },
                "text": "客户反馈: {{ event.task.title }}",
                "mentions": { "people": ["p-sales"] }
            }}]
        }),
    )
    .await;
    subscribe_feishu_tasks(&qiao, &fs).await;

    // A task in another tasklist, then one filed under 客户反馈.
    let other = fs
        .create_task_as("alice", "Refactor the cart", &["alice"], json!({ "tasklists": [{ "tasklist_guid": "tl-eng", "section_guid": "s-1" }] }))
        .unwrap();
    let feedback = fs
        .create_task_as(
            "alice",
            "ACME: the invoice PDF is blank",
            &["alice"],
            json!({ "tasklists": [{ "tasklist_guid": "tl-customer-feedback", "section_guid": "s-2" }] }),
        )
        .unwrap();
    let mut seqs = Vec::new();
    for (guid, outcome) in [(&other, "not_matched"), (&feedback, "matched")] {
        let e = qiao.wait_for_event("fs", |e| e["type"] == "task.created" && e["subject"] == guid.as_str()).await;
        let run = run_for(&qiao, "customer-feedback", e["seq"].as_i64().unwrap()).await;
        assert_eq!(run["outcome"], outcome, "{run}");
        seqs.push(e["seq"].clone());
    }

    // What the rule saw of the stored event, and would write, without writing.
    let (status, tried) = qiao.post("/v1/rules/test", json!({ "rule_id": "customer-feedback", "event_seq": seqs[1] })).await;
    assert_eq!(status, 200, "{tried}");
    assert_eq!(tried["matched"], true, "{tried}");
    assert_eq!(tried["seen"]["event"]["task"]["title"], "ACME: the invoice PDF is blank", "{tried}");
    assert_eq!(tried["writes"][0]["body"]["mentions"]["people"], json!(["p-sales"]), "{tried}");

    let message = until("the DingTalk group message", || dt.state().group_messages.last().cloned()).await;
    assert_eq!(message.chat, group);
    assert_eq!(message.at_users, ["bob"], "@ the sales rep");
    assert_eq!(message.text(), "客户反馈: ACME: the invoice PDF is blank @bob");
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(dt.state().group_messages.len(), 1, "one message");
}
