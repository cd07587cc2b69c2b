//! Feishu tasks, group chats, mentions and approval reminders end to end: Qiao's REST API → `feishu.wasm` → the
//! Feishu simulator (`qiao_tests::feishu_sim`), and the simulator's encrypted, signed task events → Qiao's
//! webhook → `/v1/events` in the shared task vocabulary.

use std::time::Duration;

use qiao_tests::TestServer;
use qiao_tests::feishu_sim::{Fault, FeishuSim, Options};
use serde_json::{Value, json};

/// Ids as the enterprise knows them (`user_id`), so the assertions read well.
fn config(sim: &FeishuSim) -> String {
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

async fn setup() -> (FeishuSim, TestServer) {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let qiao = TestServer::start(&["feishu"], &config(&sim)).await.unwrap();
    sim.set_callback_url(&qiao.url("/v1/hooks/fs"));
    (sim, qiao)
}

fn path(rest: &str) -> String {
    format!("/v1/connections/fs{rest}")
}

fn category(task: &Value) -> &str {
    task["status"]["category"].as_str().unwrap_or_default()
}

fn kind(body: &Value) -> &str {
    body["error"]["details"]["kind"]
        .as_str()
        .unwrap_or_default()
}

/// A task write answered with the task (200).
async fn task_write(qiao: &TestServer, rest: &str, body: Value) -> Value {
    let (status, task) = qiao.post(&path(rest), body.clone()).await;
    assert_eq!(status, 200, "{rest} {body} -> {task}");
    task
}

/// Waits for the task event `kind` about `id` that `check` accepts.
async fn task_event(
    qiao: &TestServer,
    kind: &str,
    id: &str,
    check: impl Fn(&Value) -> bool,
) -> Value {
    qiao.wait_for_event("fs", |e| {
        e["type"] == kind && e["subject"] == id && check(&e["payload"])
    })
    .await
}

#[tokio::test]
async fn tasks_through_task_v2_with_events() {
    let (sim, qiao) = setup().await;
    let new = json!({ "title": "Prepare the board pack", "description": "Q3 numbers", "assignees": ["alice"],
                      "followers": ["bob"], "due_ms": 1_900_000_000_000u64, "idempotency_key": "task-1" });
    let (status, task) = qiao.post(&path("/tasks"), new.clone()).await;
    assert_eq!(status, 201, "{task}");
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(category(&task), "open");
    assert_eq!(
        (task["assignees"].clone(), task["followers"].clone()),
        (json!(["alice"]), json!(["bob"]))
    );
    assert_eq!(task["due_ms"], 1_900_000_000_000u64);
    assert!(task["url"].as_str().unwrap().contains(&id), "{task}");
    assert!(
        task["extra"]["task_id"].as_str().unwrap().starts_with('t'),
        "{task}"
    );
    let (status, again) = qiao.post(&path("/tasks"), new).await;
    assert_eq!(
        (status, &again["id"]),
        (201, &task["id"]),
        "same key, same task: {again}"
    );
    assert_eq!(sim.state().todo.tasks.len(), 1, "one task at Feishu");
    assert!(
        sim.state().todo.subscribed,
        "the first create subscribed to task events"
    );
    assert_eq!(sim.count("/task_v2/task_subscription"), 1);
    let created = task_event(&qiao, "task.created", &id, |_| true).await;
    assert_eq!(
        created["payload"]["title"], "Prepare the board pack",
        "{created}"
    );

    // Done and open again, by move and by the verbs; each a status_changed event to or from done.
    let done = task_write(
        &qiao,
        &format!("/tasks/{id}/move"),
        json!({ "status": "done" }),
    )
    .await;
    assert_eq!(category(&done), "done");
    assert!(sim.task(&id).unwrap().completed_at > 0);
    let stamp = done["updated_ms"].clone();
    let again = task_write(&qiao, &format!("/tasks/{id}/complete"), json!({})).await;
    assert_eq!(
        (category(&again), &again["updated_ms"]),
        ("done", &stamp),
        "completing twice is no change"
    );
    task_event(&qiao, "task.status_changed", &id, |p| {
        p["to"]["category"] == "done" && p["from"]["category"] == "open"
    })
    .await;
    let open = task_write(&qiao, &format!("/tasks/{id}/reopen"), json!({})).await;
    assert_eq!(category(&open), "open");
    assert_eq!(sim.task(&id).unwrap().completed_at, 0);
    task_event(&qiao, "task.status_changed", &id, |p| {
        p["to"]["category"] == "open"
    })
    .await;
    let (status, refused) = qiao
        .post(
            &path(&format!("/tasks/{id}/move")),
            json!({ "status": "in_progress" }),
        )
        .await;
    assert_eq!(
        (status, kind(&refused)),
        (501, "unsupported"),
        "Task v2 has no in-progress: {refused}"
    );
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("open or done"),
        "{refused}"
    );

    // List by status.
    let (status, page) = qiao.get(&path("/tasks?status=open")).await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(page["tasks"][0]["id"], id.as_str(), "{page}");
    let (_, none) = qiao.get(&path("/tasks?status=done")).await;
    assert_eq!(none["tasks"], json!([]), "{none}");
    let (_, mine) = qiao.get(&path("/tasks?assignee=bob")).await;
    assert_eq!(mine["tasks"], json!([]), "bob only follows: {mine}");

    // Comments: Feishu records the app as author.
    let (status, comment) = qiao
        .post(
            &path(&format!("/tasks/{id}/comments")),
            json!({ "text": "draft attached" }),
        )
        .await;
    assert_eq!(status, 201, "{comment}");
    assert_eq!(comment["author"], sim.options.app_id.as_str(), "{comment}");
    let commented = task_event(&qiao, "task.commented", &id, |p| {
        p["comment"]["id"] == comment["id"]
    })
    .await;
    assert_eq!(
        commented["payload"]["comment"]["text"], "draft attached",
        "{commented}"
    );
    let (status, refused) = qiao
        .post(
            &path(&format!("/tasks/{id}/comments")),
            json!({ "text": "x", "author": "alice" }),
        )
        .await;
    assert_eq!((status, kind(&refused)), (501, "unsupported"), "{refused}");

    // Update: title set, description and due cleared, assignees replaced (Feishu's member calls).
    let (status, updated) = qiao
        .patch(
            &path(&format!("/tasks/{id}")),
            json!({ "title": "Board pack v2", "description": null, "due_ms": null, "assignees": ["manager1"] }),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(
        (
            &updated["title"],
            &updated["description"],
            &updated["due_ms"],
            &updated["assignees"],
            &updated["followers"]
        ),
        (
            &json!("Board pack v2"),
            &Value::Null,
            &Value::Null,
            &json!(["manager1"]),
            &json!(["bob"])
        ),
        "{updated}"
    );
    let held = sim.task(&id).unwrap();
    assert_eq!(
        (held.summary.as_str(), held.description.as_str(), held.due),
        ("Board pack v2", "", 0)
    );
    for changed in ["title", "assignees"] {
        task_event(&qiao, "task.updated", &id, |p| {
            p["changed"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == changed)
        })
        .await;
    }
    let (status, refused) = qiao
        .patch(&path(&format!("/tasks/{id}")), json!({ "labels": ["x"] }))
        .await;
    assert_eq!((status, kind(&refused)), (501, "unsupported"), "{refused}");

    // Someone comments in the Feishu app: the event names them as the actor.
    let in_app = sim
        .comment_on_task(&id, "alice", "numbers checked")
        .unwrap();
    let commented = task_event(&qiao, "task.commented", &id, |p| {
        p["comment"]["id"] == in_app.as_str()
    })
    .await;
    assert_eq!(
        (
            commented["payload"]["actor"].as_str(),
            commented["payload"]["comment"]["text"].as_str()
        ),
        (Some("alice"), Some("numbers checked")),
        "{commented}"
    );

    // Someone completes it in the Feishu app: Feishu's event, read again, is a status change to done.
    sim.set_task_done(&id, true).unwrap();
    task_event(&qiao, "task.status_changed", &id, |p| {
        p["to"]["category"] == "done" && p["title"] == "Board pack v2"
    })
    .await;
    let got = qiao.get(&path(&format!("/tasks/{id}"))).await.1;
    assert_eq!(category(&got), "done", "{got}");

    let ids: Vec<Value> = qiao
        .events("fs")
        .await
        .iter()
        .map(|e| e["id"].clone())
        .collect();
    let mut unique = ids.clone();
    unique.sort_by_key(|v| v.to_string());
    unique.dedup();
    assert_eq!(
        unique.len(),
        ids.len(),
        "every event has its own id: {ids:?}"
    );
}

#[tokio::test]
async fn chats_with_members_and_mentions() {
    let (sim, qiao) = setup().await;
    let new = json!({ "name": "Release war room", "owner": "manager1", "members": ["alice", "bob"],
                      "description": "2.0 launch", "idempotency_key": "chat-1" });
    let (status, chat) = qiao.post(&path("/chats"), new.clone()).await;
    assert_eq!(status, 201, "{chat}");
    let chat_id = chat["id"].as_str().unwrap().to_string();
    assert!(chat_id.starts_with("oc_"), "{chat}");
    assert_eq!(
        (chat["owner"].as_str(), chat["name"].as_str()),
        (Some("manager1"), Some("Release war room"))
    );
    assert_eq!(
        chat["members"],
        json!(["manager1", "alice", "bob"]),
        "{chat}"
    );
    let (_, again) = qiao.post(&path("/chats"), new).await;
    assert_eq!(again["id"], chat_id.as_str(), "same key, same chat");
    assert_eq!(
        sim.state().chat_info.len(),
        2,
        "the seeded chat and this one"
    );

    // Members: removing and re-adding, each idempotent.
    for _ in 0..2 {
        let (status, body) = qiao
            .post(
                &path(&format!("/chats/{chat_id}/members/remove")),
                json!({ "user_ids": ["bob"] }),
            )
            .await;
        assert!(
            status == 200 || status == 204,
            "removing (again) is no error: {status} {body}"
        );
    }
    assert_eq!(sim.chat_members(&chat_id).unwrap(), ["manager1", "alice"]);
    for _ in 0..2 {
        let (status, body) = qiao
            .post(
                &path(&format!("/chats/{chat_id}/members")),
                json!({ "user_ids": ["bob"] }),
            )
            .await;
        assert!(
            status == 200 || status == 204,
            "adding (again) is no error: {status} {body}"
        );
    }
    let (status, got) = qiao.get(&path(&format!("/chats/{chat_id}"))).await;
    assert_eq!(
        (status, got["members"].clone()),
        (200, json!(["manager1", "alice", "bob"])),
        "{got}"
    );

    // A message into the chat mentioning two users and everyone: Feishu's <at> tags in the text sent.
    let (status, sent) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "chats": [chat_id] }, "text": "Go/no-go at 18:00",
                    "mentions": { "users": ["alice", "bob"], "everyone": true } }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["problems"], json!([]), "{sent}");
    let message = sim.state().messages.last().cloned().unwrap();
    assert_eq!(
        (message.chat_id.as_str(), message.msg_type.as_str()),
        (chat_id.as_str(), "text")
    );
    let content: Value = serde_json::from_str(message.content.as_str().unwrap()).unwrap();
    let text = content["text"].as_str().unwrap();
    assert!(text.starts_with("Go/no-go at 18:00"), "{text}");
    for tag in [
        r#"<at user_id="alice"></at>"#,
        r#"<at user_id="bob"></at>"#,
        r#"<at user_id="all"></at>"#,
    ] {
        assert!(text.contains(tag), "{tag} in {text}");
    }

    // Rich text (post): a last paragraph of `at` elements; everyone is documented for text messages only.
    let (status, sent) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "chats": [chat_id] }, "markdown": { "title": "Go/no-go", "text": "**18:00**" },
                    "mentions": { "users": ["alice"], "everyone": true } }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(
        (
            sent["problems"][0]["recipient"].as_str(),
            sent["problems"][0]["code"].as_str()
        ),
        (Some("everyone"), Some("mention-unsupported")),
        "{sent}"
    );
    let message = sim.state().messages.last().cloned().unwrap();
    assert_eq!(message.msg_type, "post");
    let content: Value = serde_json::from_str(message.content.as_str().unwrap()).unwrap();
    let paragraphs = content["zh_cn"]["content"].as_array().unwrap();
    assert_eq!(
        paragraphs.last().unwrap(),
        &json!([{ "tag": "at", "user_id": "alice" }]),
        "{content}"
    );

    // To a user, everyone cannot be mentioned: reported, and the message still goes.
    let (status, sent) = qiao
        .post(&path("/messages"), json!({ "to": { "users": ["alice"] }, "text": "fyi", "mentions": { "users": ["bob"], "everyone": true } }))
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["problems"][0]["code"], "mention-unsupported", "{sent}");
    assert_eq!(sent["problems"][0]["recipient"], "everyone", "{sent}");
}

/// The approval reminder goes with the applicant's own token, kept from their sign-in through Qiao; before it,
/// the reminder is refused (403) saying why.
#[tokio::test]
async fn approval_remind_as_the_signed_in_applicant() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let opted_in = config(&sim).replace("user_id_type = \"user_id\"", "user_id_type = \"user_id\", remind_as_signed_in_users = \"true\"");
    let qiao = TestServer::start(&["feishu"], &opted_in).await.unwrap();
    let (status, created) = qiao
        .post(
            &path("/approvals"),
            json!({ "template": "APPROVAL-LEAVE", "applicant": "alice", "fields": [
                { "name": "widget_reason", "value": "trip" }, { "name": "widget_days", "value": "1", "kind": "number" } ] }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let remind = path(&format!("/approvals/{id}/remind"));
    let (status, refused) = qiao.post(&remind, json!({ "comment": "please" })).await;
    assert_eq!((status, kind(&refused)), (403, "forbidden"), "{refused}");
    assert!(
        refused["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sign"),
        "{refused}"
    );

    let code = sim.state().code_for("alice");
    let (status, user) = qiao
        .post(&path("/sso/resolve"), json!({ "code": code }))
        .await;
    assert_eq!(status, 200, "{user}");
    let (status, body) = qiao.post(&remind, json!({ "comment": "please" })).await;
    assert!(status == 200 || status == 204, "{status} {body}");
    let reminders = sim.state().instances[&id].reminders.clone();
    assert_eq!(reminders.len(), 1, "{reminders:?}");
    assert_eq!(
        (
            reminders[0].0.as_str(),
            reminders[0].1.len(),
            reminders[0].2.as_str()
        ),
        ("alice", 1, "please")
    );
}

/// Keeping users' tokens is opt-in: by default a sign-in keeps nothing, and a reminder is refused naming the
/// setting.
#[tokio::test]
async fn user_tokens_are_kept_only_when_the_operator_opts_in() {
    let (sim, qiao) = setup().await;
    let (status, created) = qiao
        .post(
            &path("/approvals"),
            json!({ "template": "APPROVAL-LEAVE", "applicant": "alice", "fields": [
                { "name": "widget_reason", "value": "trip" }, { "name": "widget_days", "value": "1", "kind": "number" } ] }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let code = sim.state().code_for("alice");
    let (status, user) = qiao.post(&path("/sso/resolve"), json!({ "code": code })).await;
    assert_eq!(status, 200, "{user}");
    let id = created["id"].as_str().unwrap();
    let (status, refused) = qiao.post(&path(&format!("/approvals/{id}/remind")), json!({})).await;
    assert_eq!((status, kind(&refused)), (403, "forbidden"), "{refused}");
    assert!(refused.to_string().contains("remind_as_signed_in_users"), "{refused}");
    assert!(sim.state().instances[id].reminders.is_empty());
}

/// A create that Feishu carries out but answers too late for the connector is retried by the outbox with the same
/// key: Feishu's `client_token` (tasks) and `uuid` (chats) make the retry answer the first task and chat, so each
/// exists once.
#[tokio::test]
async fn creates_retried_after_a_late_answer_make_one_task_and_one_chat() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let config = qiao_tests::operations::feishu_config(
        &sim,
        &[(
            "fs",
            1000,
            "max_attempts = 5, backoff_initial_ms = 50, backoff_max_ms = 200",
        )],
    );
    let qiao = TestServer::start(&["feishu"], &config).await.unwrap();
    let late = Fault::LateAnswer(Duration::from_millis(1500));

    sim.inject("/open-apis/task/v2/tasks", late.clone(), 1);
    let (status, task) = qiao
        .post(
            &path("/tasks"),
            json!({ "title": "Once", "assignees": ["alice"], "idempotency_key": "late-task" }),
        )
        .await;
    assert_eq!(status, 201, "{task}");
    assert_eq!(
        sim.state().todo.tasks.len(),
        1,
        "one task, though created twice"
    );
    assert_eq!(sim.state().todo.tasks[0].guid, task["id"].as_str().unwrap());
    assert_eq!(
        sim.count("/open-apis/task/v2/tasks"),
        2,
        "the create was sent twice"
    );

    sim.inject("/open-apis/im/v1/chats", late, 1);
    let (status, chat) = qiao
        .post(
            &path("/chats"),
            json!({ "name": "Once", "members": ["alice"], "idempotency_key": "late-chat" }),
        )
        .await;
    assert_eq!(status, 201, "{chat}");
    assert_eq!(
        sim.state().chat_info.len(),
        2,
        "the seeded chat and one more"
    );
    assert_eq!(chat["members"], json!(["alice"]), "{chat}");
}
