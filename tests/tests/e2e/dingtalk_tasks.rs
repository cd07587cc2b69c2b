//! DingTalk to-dos, scene groups and @mentions end to end: Qiao's REST API (`/tasks`, `/chats`, `/messages`) →
//! `dingtalk.wasm` → the DingTalk simulator, and the simulator's to-do callbacks → Qiao's event log.

use qiao_tests::dingtalk_sim::{
    DingTalkSim, Fault, Options, SCENE_GROUP_TEMPLATE_ID, SCENE_ROBOT_CODE, Todo,
};
use qiao_tests::{TestServer, platform_code};
use serde_json::{Value, json};

const DETAIL: &str = "https://oa.example.com/todo";

/// `dt`: configured for to-dos and scene groups. `bare`: neither a detail link nor a group template.
async fn setup() -> (DingTalkSim, TestServer) {
    let sim = DingTalkSim::start(Options::default()).await.unwrap();
    let settings = format!(
        "operator_user_id = \"manager1\", todo_detail_link = \"{DETAIL}\", \
         scene_group_template_id = \"{SCENE_GROUP_TEMPLATE_ID}\", scene_group_robot_code = \"{SCENE_ROBOT_CODE}\""
    );
    let config = sim.connection_with("dt", &settings, "") + &sim.connection("bare", "");
    let qiao = TestServer::start(&["dingtalk"], &config).await.unwrap();
    sim.set_callback_url(&qiao.url("/v1/hooks/dt"));
    (sim, qiao)
}

fn path(connection: &str, rest: &str) -> String {
    format!("/v1/connections/{connection}{rest}")
}

fn dt(rest: &str) -> String {
    path("dt", rest)
}

fn category(task: &Value) -> &str {
    task["status"]["category"].as_str().unwrap_or_default()
}

/// Every task of a listing, page after page (a page may be short or empty while the cursor goes on).
async fn list(qiao: &TestServer, query: &str) -> Vec<Value> {
    let (mut cursor, mut tasks) = (String::new(), Vec::new());
    for _ in 0..50 {
        let (status, page) = qiao
            .get(&dt(&format!("/tasks?{query}&cursor={cursor}")))
            .await;
        assert_eq!(status, 200, "{page}");
        tasks.extend(page["tasks"].as_array().unwrap().iter().cloned());
        match page["next_cursor"].as_str() {
            Some(next) => cursor = next.to_string(),
            None => return tasks,
        }
    }
    panic!("the listing never ended");
}

#[tokio::test]
async fn dingtalk_todos_create_complete_reopen_update_list() {
    let (sim, qiao) = setup().await;

    let (status, task) = qiao
        .post(
            &dt("/tasks"),
            json!({ "title": "Prepare the Q4 plan", "description": "Numbers by Friday", "assignees": ["bob"],
                    "followers": ["alice"], "due_ms": 1_900_000_000_000u64, "extra": { "priority": 30 } }),
        )
        .await;
    assert!(status == 200 || status == 201, "{status} {task}");
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(category(&task), "open");
    assert_eq!(
        (task["assignees"].clone(), task["followers"].clone()),
        (json!(["bob"]), json!(["alice"]))
    );
    assert_eq!(task["url"], DETAIL);
    assert_eq!(
        (
            task["extra"]["creator"].clone(),
            task["extra"]["priority"].clone()
        ),
        (json!("manager1"), json!(30))
    );
    {
        // DingTalk got unionIds, the operator as creator and in the path, and the required detail link.
        let state = sim.state();
        let todo = &state.todos[&id];
        assert_eq!(
            (todo.creator.as_str(), todo.executors.clone()),
            ("union-manager1", vec!["union-bob".to_string()])
        );
        assert_eq!(todo.detail_url["pcUrl"], DETAIL);
        assert_eq!(todo.due_time, Some(1_900_000_000_000));
    }
    let created = qiao
        .wait_for_event("dt", |e| {
            e["type"] == "task.created" && e["subject"] == id.as_str()
        })
        .await;
    assert_eq!(
        created["payload"]["title"], "Prepare the Q4 plan",
        "{created}"
    );

    // Complete (twice: a done to-do is no error), reopen, and move by category.
    let (status, done) = qiao
        .post(&dt(&format!("/tasks/{id}/complete")), json!({}))
        .await;
    assert_eq!((status, category(&done)), (200, "done"), "{done}");
    assert!(sim.state().todos[&id].done);
    let changed = qiao
        .wait_for_event("dt", |e| {
            e["type"] == "task.status_changed" && e["subject"] == id.as_str()
        })
        .await;
    assert_eq!(
        (
            changed["payload"]["from"]["category"].clone(),
            changed["payload"]["to"]["category"].clone()
        ),
        (json!("open"), json!("done")),
        "{changed}"
    );
    let puts = sim.count(&format!("/tasks/{id}"));
    let (status, again) = qiao
        .post(&dt(&format!("/tasks/{id}/complete")), json!({}))
        .await;
    assert_eq!((status, category(&again)), (200, "done"));
    assert_eq!(
        sim.count(&format!("/tasks/{id}")) - puts,
        1,
        "read once, not changed again"
    );
    let (status, open) = qiao
        .post(&dt(&format!("/tasks/{id}/reopen")), json!({}))
        .await;
    assert_eq!((status, category(&open)), (200, "open"), "{open}");
    assert!(!sim.state().todos[&id].done);
    let (_, moved) = qiao
        .post(
            &dt(&format!("/tasks/{id}/move")),
            json!({ "status": "done" }),
        )
        .await;
    assert_eq!(category(&moved), "done");
    let (_, moved) = qiao
        .post(
            &dt(&format!("/tasks/{id}/move")),
            json!({ "status": "in_progress" }),
        )
        .await;
    assert_eq!(category(&moved), "open", "DingTalk has done and not done");
    let (status, body) = qiao
        .post(
            &dt(&format!("/tasks/{id}/move")),
            json!({ "transition": "Start" }),
        )
        .await;
    assert_eq!(status, 501, "{body}");

    // Update: title, description, due time and people; labels and clearing the due time are not DingTalk's.
    let (status, updated) = qiao
        .patch(
            &dt(&format!("/tasks/{id}")),
            json!({ "title": "Q4 plan", "description": null, "due_ms": 1_900_000_100_000u64,
                    "assignees": ["alice", "bob"] }),
        )
        .await;
    assert_eq!(status, 200, "{updated}");
    assert_eq!(updated["title"], "Q4 plan");
    assert!(updated["description"].is_null(), "{updated}");
    assert_eq!(
        (updated["due_ms"].clone(), updated["assignees"].clone()),
        (json!(1_900_000_100_000u64), json!(["alice", "bob"]))
    );
    assert_eq!(
        sim.state().todos[&id].executors,
        ["union-alice", "union-bob"]
    );
    let event = qiao
        .wait_for_event("dt", |e| {
            e["type"] == "task.updated"
                && e["payload"]["changed"]
                    .as_array()
                    .is_some_and(|c| c.contains(&json!("title")))
        })
        .await;
    let changed: Vec<&str> = event["payload"]["changed"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(
        changed,
        ["title", "description", "due", "assignees"],
        "{event}"
    );
    let (status, body) = qiao
        .patch(&dt(&format!("/tasks/{id}")), json!({ "labels": ["q4"] }))
        .await;
    assert_eq!(status, 501, "{body}");
    let (status, body) = qiao
        .patch(&dt(&format!("/tasks/{id}")), json!({ "due_ms": null }))
        .await;
    assert_eq!(status, 501, "{body}");

    // Comments: DingTalk's to-do API has none.
    let (status, body) = qiao
        .post(
            &dt(&format!("/tasks/{id}/comments")),
            json!({ "text": "hi" }),
        )
        .await;
    assert_eq!(status, 501, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no comments"),
        "{body}"
    );

    // List: a user's to-dos, paged by DingTalk's nextToken (2 cards a page here), filtered by done.
    let (_, done) = qiao
        .post(&dt(&format!("/tasks/{id}/complete")), json!({}))
        .await;
    assert_eq!(category(&done), "done");
    sim.state().todo_page_size = 2;
    for n in 0..3 {
        let (status, _) = qiao
            .post(
                &dt("/tasks"),
                json!({ "title": format!("Chore {n}"), "assignees": ["alice"] }),
            )
            .await;
        assert!(status < 300);
    }
    let open = list(&qiao, "assignee=alice&status=open&limit=50").await;
    let titles: Vec<&str> = open.iter().map(|t| t["title"].as_str().unwrap()).collect();
    assert_eq!(
        titles,
        ["Chore 0", "Chore 1", "Chore 2"],
        "the done Q4 plan is not open"
    );
    assert!(
        open.iter().all(|t| t["assignees"] == json!(["alice"])),
        "read in full: {open:?}"
    );
    let done = list(&qiao, "assignee=alice&status=done").await;
    assert_eq!(
        done.iter().map(|t| t["id"].clone()).collect::<Vec<_>>(),
        [json!(id)]
    );
    let found = list(&qiao, "assignee=alice&text=chore%201").await;
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0]["title"], "Chore 1",
        "matched on the title, across pages"
    );
    assert_eq!(
        list(&qiao, "assignee=alice&status=in_progress").await,
        Vec::<Value>::new()
    );
    let everything = list(&qiao, "limit=1").await;
    assert_eq!(
        everything.len(),
        4,
        "the operator's to-dos, in every role, one a page"
    );

    let (status, body) = qiao.get(&dt("/tasks/OPJnope")).await;
    assert_eq!(status, 404, "{body}");

    // A to-do deleted in DingTalk: its event, verified and stored like every callback.
    let deleted = json!({ "EventType": "todo_task_delete", "EventTime": 1_700_000_000_000u64, "eventId": "evt-todo-del-1",
                          "taskId": id, "UnionIdList": ["union-manager1"] });
    let callback = sim.signed_callback(&deleted);
    let (status, accepted) = sim
        .deliver(&qiao.url("/v1/hooks/dt"), &callback)
        .await
        .unwrap();
    assert_eq!((status, accepted), (200, true));
    let event = qiao
        .wait_for_event("dt", |e| {
            e["type"] == "task.deleted" && e["subject"] == id.as_str()
        })
        .await;
    assert_eq!(event["payload"]["task_id"], id.as_str(), "{event}");

    // Faults: DingTalk busy is 503 on a read; a to-do write it throttled is retried by the outbox.
    sim.inject(&format!("/tasks/{id}"), Fault::Busy, 1);
    let (status, body) = qiao.get(&dt(&format!("/tasks/{id}"))).await;
    assert_eq!(
        (status, platform_code(&body)),
        (503, "SystemBusy"),
        "{body}"
    );
    let (status, _) = qiao.get(&dt(&format!("/tasks/{id}"))).await;
    assert_eq!(status, 200);
    sim.inject("/v1.0/todo/users/union-manager1/tasks", Fault::RateLimit, 1);
    let (status, retried) = qiao
        .post(&dt("/tasks"), json!({ "title": "After the limit" }))
        .await;
    assert_eq!(status, 201, "{retried}");
    assert_eq!(retried["title"], "After the limit");
}

#[tokio::test]
async fn dingtalk_todo_create_is_idempotent() {
    let (sim, qiao) = setup().await;
    let body = json!({ "title": "Sign the contract", "assignees": ["bob"], "idempotency_key": "contract-42" });
    let (_, first) = qiao.post(&dt("/tasks"), body.clone()).await;
    let (_, second) = qiao.post(&dt("/tasks"), body).await;
    assert_eq!(first["id"], second["id"]);
    assert_eq!(sim.state().todos.len(), 1);
    assert_eq!(
        sim.state()
            .todos
            .values()
            .next()
            .unwrap()
            .source_id
            .as_deref(),
        Some("contract-42")
    );

    // An earlier attempt reached DingTalk but its answer was lost: DingTalk refuses the repeated sourceId, and
    // the connector answers the to-do that attempt made.
    let earlier = Todo {
        id: "OPJearlier".into(),
        source_id: Some("contract-43".into()),
        subject: "Sign the NDA".into(),
        description: String::new(),
        due_time: None,
        done: false,
        executors: vec!["union-bob".into()],
        participants: vec![],
        creator: "union-manager1".into(),
        modifier: "union-manager1".into(),
        detail_url: json!({ "appUrl": DETAIL, "pcUrl": DETAIL }),
        priority: None,
        created: 1,
        modified: 1,
        finish: None,
    };
    sim.state().todos.insert(earlier.id.clone(), earlier);
    let (status, task) = qiao
        .post(
            &dt("/tasks"),
            json!({ "title": "Sign the NDA", "idempotency_key": "contract-43" }),
        )
        .await;
    assert!(status < 300, "{task}");
    assert_eq!(task["id"], "OPJearlier");
    assert_eq!(sim.state().todos.len(), 2);
    assert_eq!(sim.count("/tasks/sources/contract-43"), 1);
}

#[tokio::test]
async fn dingtalk_scene_group_members_and_mentions() {
    let (sim, qiao) = setup().await;

    let (status, chat) = qiao
        .post(
            &dt("/chats"),
            json!({ "name": "Q4 launch", "members": ["alice"], "idempotency_key": "launch-q4" }),
        )
        .await;
    assert!(status < 300, "{status} {chat}");
    let cid = chat["id"].as_str().unwrap().to_string();
    assert_eq!(
        (chat["owner"].clone(), chat["members"].clone()),
        (json!("manager1"), json!(["manager1", "alice"]))
    );
    {
        let state = sim.state();
        let group = &state.scene_groups[&cid];
        assert_eq!(
            (group.template_id.as_str(), group.uuid.as_deref()),
            (SCENE_GROUP_TEMPLATE_ID, Some("launch-q4"))
        );
    }
    let (status, _) = qiao
        .post(
            &dt(&format!("/chats/{cid}/members")),
            json!({ "user_ids": ["bob"] }),
        )
        .await;
    assert!(status < 300);
    let (status, got) = qiao.get(&dt(&format!("/chats/{cid}"))).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        (got["name"].clone(), got["owner"].clone()),
        (json!("Q4 launch"), json!("manager1"))
    );
    assert_eq!(got["members"], json!(["alice", "bob", "manager1"]));

    // A message into the group @-mentioning two members: DingTalk's at_users, and @userid in the text.
    let (status, sent) = qiao
        .post(
            &dt("/messages"),
            json!({ "to": { "chats": [cid] }, "text": "Launch at 10:00",
                    "mentions": { "users": ["alice", "bob"] } }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["problems"], json!([]), "{sent}");
    assert!(sent["message_id"].as_str().unwrap().starts_with("group:"));
    {
        let state = sim.state();
        let message = state.group_messages.last().unwrap();
        assert_eq!(message.chat, cid);
        assert_eq!(message.template_id, "inner_app_template_text");
        assert_eq!(message.at_users, ["alice", "bob"]);
        assert_eq!(message.text(), "Launch at 10:00 @alice @bob");
    }

    // Markdown, after a member left: the leaver is not mentioned, and says so.
    let (status, _) = qiao
        .post(
            &dt(&format!("/chats/{cid}/members/remove")),
            json!({ "user_ids": ["bob"] }),
        )
        .await;
    assert!(status < 300);
    let (status, sent) = qiao
        .post(
            &dt("/messages"),
            json!({ "to": { "chats": [cid] }, "markdown": { "title": "Launch", "text": "**Go** at 10:00" },
                    "mentions": { "users": ["alice", "bob"], "everyone": true } }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["problems"][0]["recipient"], "bob", "{sent}");
    assert_eq!(sent["problems"][0]["code"], "mention-not-recipient");
    {
        let state = sim.state();
        let message = state.group_messages.last().unwrap();
        assert_eq!(
            (message.at_users.clone(), message.at_all),
            (vec!["alice".to_string()], true)
        );
        assert_eq!(
            message.params["markdown_content"],
            "**Go** at 10:00\n\n@alice"
        );
    }

    // A work notification still cannot @: the mention comes back as a problem.
    let (_, sent) = qiao
        .post(&dt("/messages"), json!({ "to": { "users": ["alice"] }, "text": "1:1", "mentions": { "users": ["alice"] } }))
        .await;
    assert_eq!(sent["problems"][0]["code"], "mention-unsupported", "{sent}");

    let (status, body) = qiao.get(&dt("/chats/cidNope")).await;
    assert_eq!((status, platform_code(&body)), (404, "400001"), "{body}");
}

#[tokio::test]
async fn dingtalk_without_template_or_detail_link_says_which_setting() {
    let (_sim, qiao) = setup().await;
    let (status, body) = qiao
        .post(
            &path("bare", "/chats"),
            json!({ "name": "No template", "owner": "manager1" }),
        )
        .await;
    assert_eq!(status, 501, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("scene_group_template_id"),
        "{body}"
    );

    let (status, body) = qiao
        .post(
            &path("bare", "/tasks"),
            json!({ "title": "No link", "creator": "alice" }),
        )
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("todo_detail_link"),
        "{body}"
    );

    // Sending into a group needs the group template's robot.
    let (status, body) = qiao
        .post(
            &path("bare", "/messages"),
            json!({ "to": { "chats": ["cidAny"] }, "text": "hi" }),
        )
        .await;
    assert_eq!(status, 501, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("scene_group_robot_code"),
        "{body}"
    );

    // Without operator_user_id, a to-do needs a creator.
    let (status, body) = qiao
        .post(&path("bare", "/tasks"), json!({ "title": "Whose?" }))
        .await;
    assert_eq!(status, 422, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("operator_user_id"),
        "{body}"
    );
}
