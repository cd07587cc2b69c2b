//! Connector contract 0.2.0 end to end: every REST route it added (tasks, chats, mentions, clearing user fields,
//! department codes, approval reminders, login URLs), through real HTTP against one server running the Rust
//! `echo` (contract 0.2.0, connection `echo`) and the same connector frozen at contract 0.1.0 (`echo-v0.1.0.wasm`,
//! connection `legacy`) side by side. The 0.1.0 connection must keep working as before and answer for what its
//! contract lacks with a clear 501, a failed operation or a delivery problem, never by silently dropping it.
//!
//! Writes go through the outbox: the harness's `post`/`patch` add `?wait=30`, so a write answers with its result.
//! What echo does is in `connectors/echo/src/*.rs`: tests assert its exact behaviour.

use qiao_tests::TestServer;
use qiao_tests::echo_server::EchoServer;
use serde_json::{Value, json};

const ECHO: &str = "/v1/connections/echo";
const LEGACY: &str = "/v1/connections/legacy";

/// Qiao with `echo` (0.2.0) and `legacy` (the 0.1.0 echo), both sending to one echo server.
async fn server() -> (TestServer, EchoServer) {
    let echo = EchoServer::start().await;
    let config = format!(
        r#"
        [connections.echo]
        connector = "echo"
        settings = {{ api_base = "{base}" }}
        secrets = {{ token = "tok-echo" }}

        [connections.legacy]
        connector = "echo-v0-1-0"
        settings = {{ api_base = "{base}" }}
        secrets = {{ token = "tok-legacy" }}
        "#,
        base = echo.base
    );
    let qiao = TestServer::start(&["echo", "echo-v0.1.0"], &config).await.unwrap();
    (qiao, echo)
}

/// The API error code of an error answer (`error.code`), or "".
fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or_default()
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

/// The connector's error kind (`error.details.kind`), or "".
fn kind(body: &Value) -> &str {
    body["error"]["details"]["kind"].as_str().unwrap_or_default()
}

/// `(status, error code)` of an answer, to assert both at once.
fn refusal(answer: &(u16, Value)) -> (u16, &str) {
    (answer.0, code(&answer.1))
}

fn strings(value: &Value) -> Vec<&str> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().unwrap_or_else(|| panic!("not a string: {v}")))
        .collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Tasks

/// Creates a task on `echo` and returns it (201 through the outbox).
async fn create_task(qiao: &TestServer, body: Value) -> Value {
    let (status, task) = qiao.post(&format!("{ECHO}/tasks"), body.clone()).await;
    assert_eq!(status, 201, "{body} -> {task}");
    assert!(task["id"].is_string(), "{task}");
    task
}

/// A task write answered with the task (200), e.g. a move.
async fn task_write(qiao: &TestServer, path: &str, body: Value) -> Value {
    let (status, task) = qiao.post(&format!("{ECHO}/tasks/{path}"), body.clone()).await;
    assert_eq!(status, 200, "{path} {body} -> {task}");
    task
}

async fn get_task(qiao: &TestServer, id: &str) -> Value {
    let (status, task) = qiao.get(&format!("{ECHO}/tasks/{id}")).await;
    assert_eq!(status, 200, "{task}");
    task
}

fn category(task: &Value) -> &str {
    task["status"]["category"].as_str().unwrap_or_default()
}

/// Every task id `GET .../tasks?{query}` lists when paged `limit` at a time until the cursor runs out, and how
/// many pages that took.
async fn list_all_tasks(qiao: &TestServer, query: &str, limit: u32) -> (Vec<String>, usize) {
    let mut ids = Vec::new();
    let mut cursor: Option<String> = None;
    let mut pages = 0;
    loop {
        let mut path = format!("{ECHO}/tasks?limit={limit}");
        if !query.is_empty() {
            path += &format!("&{query}");
        }
        if let Some(c) = &cursor {
            path += &format!("&cursor={c}");
        }
        let (status, page) = qiao.get(&path).await;
        assert_eq!(status, 200, "{path}: {page}");
        let tasks = page["tasks"].as_array().unwrap();
        assert!(tasks.len() <= limit as usize, "a page holds at most limit: {page}");
        ids.extend(tasks.iter().map(|t| t["id"].as_str().unwrap().to_string()));
        pages += 1;
        assert!(pages < 50, "paging does not end: {page}");
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_string()),
            None => return (ids, pages),
        }
    }
}

/// A task's whole lifecycle on a 0.2.0 connector through REST and the outbox: create (idempotent on its key),
/// get, patch (set, clear, replace a list, keep what is left out, merge `extra`), move by status and by
/// transition, complete, reopen and comment; each answer is the task as it now is and GET agrees.
#[tokio::test]
async fn a_task_lives_its_whole_lifecycle() {
    let (qiao, echo) = server().await;
    let new = json!({
        "title": "Quarterly report",
        "description": "numbers for Q3",
        "assignees": ["ann"],
        "followers": ["bob"],
        "due_ms": 1_900_000_000_000u64,
        "labels": ["finance", "q3"],
        "creator": "cy",
        "extra": { "source": "crm" },
        "idempotency_key": "task-key-1"
    });
    let task = create_task(&qiao, new.clone()).await;
    let id = task["id"].as_str().unwrap().to_string();
    assert_eq!(id, "task-1");
    assert_eq!(task["title"], "Quarterly report");
    assert_eq!(task["status"], json!({ "category": "open", "name": null }), "{task}");
    assert_eq!(task["assignees"], json!(["ann"]));
    assert_eq!(task["followers"], json!(["bob"]));
    assert_eq!(task["due_ms"], 1_900_000_000_000u64);
    assert_eq!(task["labels"], json!(["finance", "q3"]));
    assert_eq!(
        task["extra"],
        json!({ "source": "crm", "creator": "cy" }),
        "creator shows in extra"
    );
    assert_eq!(task["url"], format!("{}/tasks/{id}", echo.base));
    assert!(task["operation_id"].is_i64(), "{task}");
    let created_ms = task["created_ms"].as_u64().expect("created_ms");
    assert_eq!(task["updated_ms"].as_u64(), Some(created_ms));

    // The same request again: the same operation and the same task, not a second one.
    let again = create_task(&qiao, new.clone()).await;
    assert_eq!(
        (&again["id"], &again["operation_id"]),
        (&task["id"], &task["operation_id"]),
        "{again}"
    );
    // The key with another request is refused: it names a different task.
    let mut other = new.clone();
    other["title"] = json!("Another");
    let reused = qiao.post(&format!("{ECHO}/tasks"), other).await;
    assert_eq!(refusal(&reused), (409, "idempotency_key_reused"), "{}", reused.1);
    let (_, page) = qiao.get(&format!("{ECHO}/tasks")).await;
    assert_eq!(page["tasks"].as_array().unwrap().len(), 1, "one task only: {page}");

    let got = get_task(&qiao, &id).await;
    let mut expected = task.clone();
    expected.as_object_mut().unwrap().remove("operation_id");
    assert_eq!(got, expected, "GET shows the task as created");

    // PATCH: a value sets, null clears, a list replaces the whole list, a field left out is kept.
    let (status, patched) = qiao
        .patch(
            &format!("{ECHO}/tasks/{id}"),
            json!({ "description": "numbers for Q3, with charts", "due_ms": null, "labels": ["board"] }),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(patched["description"], "numbers for Q3, with charts");
    assert_eq!(patched["due_ms"], Value::Null, "cleared");
    assert_eq!(patched["labels"], json!(["board"]), "replaced");
    assert_eq!(patched["title"], "Quarterly report", "kept");
    assert_eq!(patched["assignees"], json!(["ann"]), "kept");
    assert_eq!(patched["followers"], json!(["bob"]), "kept");
    let updated_ms = patched["updated_ms"].as_u64().unwrap();
    assert!(updated_ms > created_ms, "a change moves updated_ms: {patched}");
    let got = get_task(&qiao, &id).await;
    assert_eq!(
        (&got["description"], &got["due_ms"], &got["labels"], &got["assignees"]),
        (
            &patched["description"],
            &Value::Null,
            &json!(["board"]),
            &json!(["ann"])
        ),
        "GET agrees with the PATCH answer: {got}"
    );

    // `extra` in a PATCH names only the keys to change (null removes one); an empty PATCH changes nothing.
    let (status, patched) = qiao
        .patch(
            &format!("{ECHO}/tasks/{id}"),
            json!({ "extra": { "source": null, "priority": "high" }, "assignees": [], "description": null }),
        )
        .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        patched["extra"],
        json!({ "priority": "high", "creator": "cy" }),
        "{patched}"
    );
    assert_eq!(patched["assignees"], json!([]), "an empty list replaces too");
    assert_eq!(patched["description"], Value::Null, "description cleared");
    let (status, refused) = qiao.patch(&format!("{ECHO}/tasks/{id}"), json!({ "extra": null })).await;
    assert_eq!(status, 400, "extra: null would drop every platform field: {refused}");
    let before = patched["updated_ms"].as_u64().unwrap();
    let (status, same) = qiao.patch(&format!("{ECHO}/tasks/{id}"), json!({})).await;
    assert_eq!(status, 200, "{same}");
    assert_eq!(
        same["updated_ms"].as_u64(),
        Some(before),
        "nothing changed, so updated_ms stays: {same}"
    );

    // Moves by status and by transition name (echo's: start, finish, done, reopen; any case).
    let moved = task_write(&qiao, &format!("{id}/move"), json!({ "status": "in_progress" })).await;
    assert_eq!(
        moved["status"],
        json!({ "category": "in_progress", "name": null }),
        "{moved}"
    );
    assert_eq!(category(&get_task(&qiao, &id).await), "in_progress");
    let moved = task_write(&qiao, &format!("{id}/move"), json!({ "transition": "finish" })).await;
    assert_eq!(category(&moved), "done");
    let moved = task_write(&qiao, &format!("{id}/move"), json!({ "transition": "reopen" })).await;
    assert_eq!(category(&moved), "open");
    let moved = task_write(&qiao, &format!("{id}/move"), json!({ "transition": " Start " })).await;
    assert_eq!(
        category(&moved),
        "in_progress",
        "transition names ignore case and spaces"
    );
    let unknown = qiao
        .post(&format!("{ECHO}/tasks/{id}/move"), json!({ "transition": "launch" }))
        .await;
    assert_eq!(refusal(&unknown), (422, "invalid_input"), "{}", unknown.1);
    assert_eq!(kind(&unknown.1), "invalid-input");
    for name in ["start", "finish", "done", "reopen"] {
        assert!(
            message(&unknown.1).contains(name),
            "the error names the valid transitions: {}",
            unknown.1
        );
    }
    assert_eq!(
        category(&get_task(&qiao, &id).await),
        "in_progress",
        "a refused move changes nothing"
    );

    // Complete and reopen; each is idempotent.
    let done = task_write(&qiao, &format!("{id}/complete"), json!({})).await;
    assert_eq!(category(&done), "done");
    let stamp = done["updated_ms"].as_u64().unwrap();
    let done = task_write(&qiao, &format!("{id}/complete"), json!({})).await;
    assert_eq!(
        (category(&done), done["updated_ms"].as_u64()),
        ("done", Some(stamp)),
        "completing twice is no change"
    );
    let open = task_write(&qiao, &format!("{id}/reopen"), json!({})).await;
    assert_eq!(category(&open), "open");
    let open = task_write(&qiao, &format!("{id}/reopen"), json!({})).await;
    assert_eq!(category(&open), "open", "reopening an open task is no error");
    assert_eq!(category(&get_task(&qiao, &id).await), "open");

    // Comments: 201 with the comment; a comment counts as a change to the task.
    let before = get_task(&qiao, &id).await["updated_ms"].as_u64().unwrap();
    let (status, comment) = qiao
        .post(
            &format!("{ECHO}/tasks/{id}/comments"),
            json!({ "text": "looks good", "author": "bob" }),
        )
        .await;
    assert_eq!(status, 201, "{comment}");
    assert_eq!(
        (
            comment["id"].as_str(),
            comment["author"].as_str(),
            comment["text"].as_str()
        ),
        (Some("task-1-c1"), Some("bob"), Some("looks good")),
        "{comment}"
    );
    let time_ms = comment["time_ms"].as_u64().expect("time_ms");
    assert!(time_ms > before, "{comment}");
    assert_eq!(
        get_task(&qiao, &id).await["updated_ms"].as_u64(),
        Some(time_ms),
        "the comment moved updated_ms"
    );
    let (status, second) = qiao
        .post(&format!("{ECHO}/tasks/{id}/comments"), json!({ "text": "anonymous" }))
        .await;
    assert_eq!(
        (status, second["id"].as_str(), &second["author"]),
        (201, Some("task-1-c2"), &Value::Null),
        "{second}"
    );

    // Without waiting, a task write is accepted (202) as its operation, whose result is the task.
    let (status, accepted) = qiao
        .post(&format!("{ECHO}/tasks/{id}/move?wait=0"), json!({ "status": "done" }))
        .await;
    assert_eq!(status, 202, "{accepted}");
    assert_eq!(accepted["operation"], "move_task", "{accepted}");
    let (status, op) = qiao.get(&format!("/v1/operations/{}?wait=10", accepted["id"])).await;
    assert_eq!((status, op["status"].as_str()), (200, Some("succeeded")), "{op}");
    assert_eq!(op["result"]["status"], 200, "{op}");
    assert_eq!(
        (op["result"]["body"]["id"].as_str(), category(&op["result"]["body"])),
        (Some("task-1"), "done"),
        "{op}"
    );
    assert_eq!(category(&get_task(&qiao, &id).await), "done");

    // Every write above went through the outbox and is recorded as its operation.
    let (_, ops) = qiao.get("/v1/operations?connection=echo&limit=1000").await;
    let names: Vec<&str> = ops["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["operation"].as_str().unwrap())
        .collect();
    for name in [
        "create_task",
        "update_task",
        "move_task",
        "complete_task",
        "reopen_task",
        "comment_task",
    ] {
        assert!(names.contains(&name), "no {name} operation in {names:?}");
    }
}

/// `GET .../tasks` with each filter (assignee, status, text, updated_after_ms) and cursor paging over more tasks
/// than one page holds: pages never exceed `limit`, paging until the cursor is null visits every match once, in
/// creation order; echo has no query language, so `query=` is its invalid-input (422).
#[tokio::test]
async fn tasks_list_with_filters_and_a_cursor() {
    let (qiao, _echo) = server().await;
    let mut all = Vec::new();
    for i in 0..7 {
        let assignee = if i % 2 == 0 { "ann" } else { "bob" };
        let title = if i % 3 == 0 {
            format!("Weekly REPORT {i}")
        } else {
            format!("Chore {i}")
        };
        let description = (i == 4).then(|| "attach the report".to_string());
        let task = create_task(
            &qiao,
            json!({ "title": title, "description": description, "assignees": [assignee] }),
        )
        .await;
        all.push(task["id"].as_str().unwrap().to_string());
    }
    assert_eq!(all, (1..=7).map(|n| format!("task-{n}")).collect::<Vec<_>>());

    // Everything, three at a time: pages 3 + 3 + 1.
    let (ids, pages) = list_all_tasks(&qiao, "", 3).await;
    assert_eq!((ids.clone(), pages), (all.clone(), 3), "every task once, in order");
    let (status, first) = qiao.get(&format!("{ECHO}/tasks?limit=3")).await;
    assert_eq!((status, first["next_cursor"].as_str()), (200, Some("3")), "{first}");
    let (_, last) = qiao.get(&format!("{ECHO}/tasks?limit=3&cursor=6")).await;
    assert_eq!(
        (last["tasks"].as_array().unwrap().len(), &last["next_cursor"]),
        (1, &Value::Null),
        "{last}"
    );
    // Default limit (50) takes them all in one page.
    let (_, whole) = qiao.get(&format!("{ECHO}/tasks")).await;
    assert_eq!(
        (whole["tasks"].as_array().unwrap().len(), &whole["next_cursor"]),
        (7, &Value::Null)
    );

    // Filters, paged two at a time.
    let ann: Vec<String> = all.iter().step_by(2).cloned().collect();
    assert_eq!(list_all_tasks(&qiao, "assignee=ann", 2).await.0, ann);
    let (bob, _) = list_all_tasks(&qiao, "assignee=bob", 2).await;
    assert_eq!(bob, ["task-2", "task-4", "task-6"]);
    let (report, _) = list_all_tasks(&qiao, "text=report", 2).await;
    assert_eq!(
        report,
        ["task-1", "task-4", "task-5", "task-7"],
        "title or description, any case"
    );
    assert_eq!(
        list_all_tasks(&qiao, "assignee=nobody", 2).await.0,
        Vec::<String>::new()
    );

    // Status and updated_after_ms: only what changed after a moment is listed.
    let newest = whole["tasks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["updated_ms"].as_u64().unwrap())
        .max()
        .unwrap();
    task_write(&qiao, "task-2/complete", json!({})).await;
    task_write(&qiao, "task-5/move", json!({ "status": "in_progress" })).await;
    assert_eq!(list_all_tasks(&qiao, "status=done", 2).await.0, ["task-2"]);
    assert_eq!(list_all_tasks(&qiao, "status=in_progress", 2).await.0, ["task-5"]);
    assert_eq!(list_all_tasks(&qiao, "status=open", 2).await.0.len(), 5);
    assert_eq!(
        list_all_tasks(&qiao, &format!("updated_after_ms={newest}"), 2).await.0,
        ["task-2", "task-5"]
    );
    assert_eq!(
        list_all_tasks(&qiao, "status=open&assignee=bob", 1).await.0,
        ["task-4", "task-6"],
        "filters combine"
    );

    // Refusals: a status the API does not know (400), a query language echo has not (422).
    let bad = qiao.get(&format!("{ECHO}/tasks?status=closed")).await;
    assert_eq!(refusal(&bad), (400, "invalid_request"), "{}", bad.1);
    let jql = qiao.get(&format!("{ECHO}/tasks?query=assignee%3Dann")).await;
    assert_eq!(refusal(&jql), (422, "invalid_input"), "{}", jql.1);
    let cursor = qiao.get(&format!("{ECHO}/tasks?cursor=not-a-number")).await;
    assert_eq!(refusal(&cursor), (422, "invalid_input"), "{}", cursor.1);
    let unknown = qiao.get(&format!("{ECHO}/tasks?sort=title")).await;
    assert_eq!(unknown.0, 400, "an unknown parameter is refused: {}", unknown.1);
}

/// What the API refuses before a task write is queued (400, nothing in the outbox) and what echo refuses after
/// (404 for a task that does not exist, for reads and writes alike); and a 0.1.0 connector, which has no tasks
/// export, answers 501 `unsupported` for every task route.
#[tokio::test]
async fn task_requests_that_are_refused() {
    let (qiao, _echo) = server().await;
    let task = create_task(&qiao, json!({ "title": "Real" })).await;
    let id = task["id"].as_str().unwrap();
    let cases: Vec<(&str, Value)> = vec![
        ("tasks", json!({ "title": "" })),
        ("tasks", json!({ "title": "   " })),
        ("tasks", json!({ "description": "no title" })),
        ("tasks", json!({ "title": "x", "extra": "not an object" })),
        ("tasks", json!({ "title": "x", "assignees": ["ann", " "] })),
        ("tasks", json!({ "title": "x", "bogus": true })),
        ("tasks", json!({ "title": "x".repeat(1001) })),
        ("tasks/task-1/move", json!({ "status": "closed" })),
        ("tasks/task-1/move", json!({ "status": "done", "transition": "finish" })),
        ("tasks/task-1/move", json!({})),
        ("tasks/task-1/move", json!({ "transition": "  " })),
        ("tasks/task-1/comments", json!({ "text": " " })),
        ("tasks/task-1/comments", json!({})),
    ];
    let (_, before) = qiao.get("/v1/operations/counts").await;
    for (path, body) in &cases {
        let answer = qiao.post(&format!("{ECHO}/{path}"), body.clone()).await;
        assert_eq!(
            refusal(&answer),
            (400, "invalid_request"),
            "{path} {body}: {}",
            answer.1
        );
        assert!(!message(&answer.1).is_empty());
    }
    for body in [
        json!({ "title": "" }),
        json!({ "due_ms": "tomorrow" }),
        json!({ "labels": "one" }),
    ] {
        let answer = qiao.patch(&format!("{ECHO}/tasks/{id}"), body.clone()).await;
        assert_eq!(refusal(&answer), (400, "invalid_request"), "PATCH {body}: {}", answer.1);
    }
    let (_, after) = qiao.get("/v1/operations/counts").await;
    assert_eq!(before, after, "nothing refused by the API was queued");
    assert_eq!(get_task(&qiao, id).await["title"], "Real");

    // Unknown task: 404 from a read, and from each write (the connector's not-found, not retried).
    let missing = qiao.get(&format!("{ECHO}/tasks/task-99")).await;
    assert_eq!(refusal(&missing), (404, "not_found"), "{}", missing.1);
    assert_eq!(kind(&missing.1), "not-found");
    for (path, body) in [
        ("move", json!({ "status": "done" })),
        ("complete", json!({})),
        ("reopen", json!({})),
        ("comments", json!({ "text": "hi" })),
    ] {
        let answer = qiao.post(&format!("{ECHO}/tasks/task-99/{path}"), body).await;
        assert_eq!(refusal(&answer), (404, "not_found"), "{path}: {}", answer.1);
        assert_eq!(answer.1["error"]["details"]["attempts"], 1, "not retried: {}", answer.1);
    }
    let answer = qiao
        .patch(&format!("{ECHO}/tasks/task-99"), json!({ "title": "x" }))
        .await;
    assert_eq!(refusal(&answer), (404, "not_found"), "{}", answer.1);

    // The 0.1.0 connector has no tasks: 501 at once, for reads and writes, nothing queued.
    let (_, before) = qiao.get("/v1/operations/counts").await;
    let legacy = [
        qiao.get(&format!("{LEGACY}/tasks")).await,
        qiao.get(&format!("{LEGACY}/tasks/task-1")).await,
        qiao.post(&format!("{LEGACY}/tasks"), json!({ "title": "x" })).await,
        qiao.patch(&format!("{LEGACY}/tasks/task-1"), json!({ "title": "x" }))
            .await,
        qiao.post(&format!("{LEGACY}/tasks/task-1/move"), json!({ "status": "done" }))
            .await,
        qiao.post(&format!("{LEGACY}/tasks/task-1/complete"), json!({})).await,
        qiao.post(&format!("{LEGACY}/tasks/task-1/reopen"), json!({})).await,
        qiao.post(&format!("{LEGACY}/tasks/task-1/comments"), json!({ "text": "x" }))
            .await,
    ];
    for answer in &legacy {
        assert_eq!(refusal(answer), (501, "unsupported"), "{}", answer.1);
        assert!(message(&answer.1).contains("tasks"), "{}", answer.1);
    }
    let (_, after) = qiao.get("/v1/operations/counts").await;
    assert_eq!(before, after, "nothing queued for the 0.1.0 connector");
    // And an unknown connection is still a 404, not a 501.
    let nowhere = qiao.get("/v1/connections/nowhere/tasks").await;
    assert_eq!(refusal(&nowhere), (404, "unknown_connection"), "{}", nowhere.1);
}

// ---------------------------------------------------------------------------------------------------------------
// Chats

async fn get_chat(qiao: &TestServer, id: &str) -> Value {
    let (status, chat) = qiao.get(&format!("{ECHO}/chats/{id}")).await;
    assert_eq!(status, 200, "{chat}");
    chat
}

async fn change_members(qiao: &TestServer, id: &str, path: &str, users: &[&str]) {
    let (status, body) = qiao
        .post(&format!("{ECHO}/chats/{id}/{path}"), json!({ "user_ids": users }))
        .await;
    assert_eq!(status, 204, "{path} {users:?}: {body}");
}

/// A group chat on a 0.2.0 connector: created with its owner first among the members (each once), read back,
/// members added (twice is no error and no duplicate) and removed (an absent one is skipped; the owner cannot be
/// removed: 409); a blank name or member is refused (400), an unknown chat is 404, and the 0.1.0 connector has no
/// chats (501).
#[tokio::test]
async fn chats_are_created_and_their_members_changed() {
    let (qiao, _echo) = server().await;
    let new = json!({
        "name": "Launch",
        "owner": "ann",
        "members": ["bob", "ann", "cy", "bob"],
        "description": "the launch team",
        "extra": { "topic": "release" },
        "idempotency_key": "chat-key-1"
    });
    let (status, chat) = qiao.post(&format!("{ECHO}/chats"), new.clone()).await;
    assert_eq!(status, 201, "{chat}");
    let id = chat["id"].as_str().unwrap().to_string();
    assert_eq!(id, "chat-1");
    assert_eq!(chat["name"], "Launch");
    assert_eq!(chat["owner"], "ann");
    assert_eq!(
        chat["members"],
        json!(["ann", "bob", "cy"]),
        "owner first, each once: {chat}"
    );
    assert_eq!(
        chat["extra"],
        json!({ "topic": "release", "description": "the launch team" })
    );
    let (status, again) = qiao.post(&format!("{ECHO}/chats"), new).await;
    assert_eq!(
        (status, &again["id"]),
        (201, &chat["id"]),
        "the same key, the same chat: {again}"
    );

    let got = get_chat(&qiao, &id).await;
    assert_eq!(
        (&got["name"], &got["owner"], &got["members"]),
        (&chat["name"], &chat["owner"], &chat["members"])
    );

    change_members(&qiao, &id, "members", &["dee", "bob"]).await;
    assert_eq!(
        get_chat(&qiao, &id).await["members"],
        json!(["ann", "bob", "cy", "dee"])
    );
    change_members(&qiao, &id, "members", &["dee", "eve"]).await;
    assert_eq!(
        get_chat(&qiao, &id).await["members"],
        json!(["ann", "bob", "cy", "dee", "eve"]),
        "adding a member twice is no error and no duplicate"
    );
    change_members(&qiao, &id, "members/remove", &["bob", "nobody"]).await;
    assert_eq!(
        get_chat(&qiao, &id).await["members"],
        json!(["ann", "cy", "dee", "eve"])
    );
    let owner = qiao
        .post(
            &format!("{ECHO}/chats/{id}/members/remove"),
            json!({ "user_ids": ["cy", "ann"] }),
        )
        .await;
    assert_eq!(refusal(&owner), (409, "conflict"), "{}", owner.1);
    assert_eq!(
        get_chat(&qiao, &id).await["members"],
        json!(["ann", "cy", "dee", "eve"]),
        "a refused removal removes no one"
    );

    // A chat without an owner keeps its members in order.
    let (status, plain) = qiao
        .post(
            &format!("{ECHO}/chats"),
            json!({ "name": "Ops", "members": ["zed", "amy"] }),
        )
        .await;
    assert_eq!(status, 201, "{plain}");
    assert_eq!(
        (plain["id"].as_str(), &plain["owner"], &plain["members"]),
        (Some("chat-2"), &Value::Null, &json!(["zed", "amy"]))
    );
    assert_eq!(plain["extra"], Value::Null);

    for body in [
        json!({ "name": "" }),
        json!({ "name": "   ", "members": ["a"] }),
        json!({ "name": "x".repeat(201) }),
        json!({ "name": "Ok", "members": ["a", ""] }),
        json!({ "name": "Ok", "extra": [1] }),
        json!({ "members": ["a"] }),
    ] {
        let answer = qiao.post(&format!("{ECHO}/chats"), body.clone()).await;
        assert_eq!(refusal(&answer), (400, "invalid_request"), "{body}: {}", answer.1);
    }
    let answer = qiao
        .post(&format!("{ECHO}/chats/{id}/members"), json!({ "user_ids": [" "] }))
        .await;
    assert_eq!(refusal(&answer), (400, "invalid_request"), "{}", answer.1);

    let missing = qiao.get(&format!("{ECHO}/chats/chat-99")).await;
    assert_eq!(refusal(&missing), (404, "not_found"), "{}", missing.1);
    let missing = qiao
        .post(&format!("{ECHO}/chats/chat-99/members"), json!({ "user_ids": ["a"] }))
        .await;
    assert_eq!(refusal(&missing), (404, "not_found"), "{}", missing.1);

    for answer in [
        qiao.post(&format!("{LEGACY}/chats"), json!({ "name": "Launch" })).await,
        qiao.get(&format!("{LEGACY}/chats/chat-1")).await,
        qiao.post(&format!("{LEGACY}/chats/chat-1/members"), json!({ "user_ids": ["a"] }))
            .await,
        qiao.post(
            &format!("{LEGACY}/chats/chat-1/members/remove"),
            json!({ "user_ids": ["a"] }),
        )
        .await,
    ] {
        assert_eq!(refusal(&answer), (501, "unsupported"), "{}", answer.1);
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Mentions

/// What the echo server received for a message id from one connection (told apart by its token).
fn received(echo: &EchoServer, token: &str, message_id: &str) -> Value {
    echo.recorded
        .all()
        .into_iter()
        .find(|r| r["token"] == token && r["body"]["id"] == message_id)
        .unwrap_or_else(|| {
            panic!(
                "echo server got no {message_id} with {token}: {:#?}",
                echo.recorded.all()
            )
        })["body"]
        .clone()
}

/// The delivery problems of a send result as `(recipient, code)`, in order.
fn problems(result: &Value) -> Vec<(String, String)> {
    result["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems list: {result}"))
        .iter()
        .map(|p| {
            (
                p["recipient"].as_str().unwrap().into(),
                p["code"].as_str().unwrap().into(),
            )
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

/// Mentions on `POST .../messages`: echo (0.2.0) renders a mentioned recipient (and `everyone`) in what it
/// sends, reports a mentioned non-recipient as `mention-not-recipient` and still sends; the 0.1.0 echo sends the
/// message unmentioned and every mention comes back as a `mention-unsupported` problem. Platform ids only here:
/// `mentions.people` is for `/v1/messages` (400).
#[tokio::test]
async fn mentions_are_rendered_or_reported_per_contract() {
    let (qiao, echo) = server().await;
    let message = json!({
        "to": { "users": ["ann", "bob", "bad-x"] },
        "text": "standup in 5",
        "mentions": { "users": ["ann", "carol", "bad-x"], "everyone": true }
    });

    let (status, sent) = qiao.post(&format!("{ECHO}/messages"), message.clone()).await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["message_id"], "msg-1");
    assert_eq!(
        problems(&sent),
        pairs(&[("bad-x", "invalid-user"), ("carol", "mention-not-recipient")]),
        "a refused recipient is reported once, as such: {sent}"
    );
    let body = received(&echo, "tok-echo", "msg-1");
    assert_eq!(body["to"], json!(["ann", "bob"]), "{body}");
    assert_eq!(
        body["mentions"],
        json!(["ann"]),
        "only the mentioned recipient is rendered: {body}"
    );
    assert_eq!(body["content"], "@ann @all standup in 5", "{body}");

    // Only a non-recipient mentioned: still sent, unmentioned.
    let (status, sent) = qiao
        .post(
            &format!("{ECHO}/messages"),
            json!({ "to": { "users": ["bob"] }, "text": "fyi", "mentions": { "users": ["carol"] } }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(problems(&sent), pairs(&[("carol", "mention-not-recipient")]));
    let body = received(&echo, "tok-echo", "msg-2");
    assert_eq!(
        (&body["content"], &body["mentions"], &body["to"]),
        (&json!("fyi"), &json!([]), &json!(["bob"]))
    );
    // No mentions: no problems and no change to the text.
    let (_, sent) = qiao
        .post(
            &format!("{ECHO}/messages"),
            json!({ "to": { "users": ["bob"] }, "text": "plain" }),
        )
        .await;
    assert_eq!(
        (
            sent["problems"].clone(),
            received(&echo, "tok-echo", "msg-3")["content"].clone()
        ),
        (json!([]), json!("plain"))
    );

    // The 0.1.0 echo: sent, and each mention (and everyone) reported as unsupported.
    let (status, sent) = qiao.post(&format!("{LEGACY}/messages"), message).await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["message_id"], "msg-1");
    assert_eq!(
        problems(&sent),
        pairs(&[
            ("bad-x", "invalid-user"),
            ("ann", "mention-unsupported"),
            ("carol", "mention-unsupported"),
            ("bad-x", "mention-unsupported"),
            ("everyone", "mention-unsupported"),
        ]),
        "{sent}"
    );
    assert!(
        sent["problems"][1]["reason"].as_str().unwrap().contains("0.1.0"),
        "the reason says why: {sent}"
    );
    let body = received(&echo, "tok-legacy", "msg-1");
    assert_eq!(
        (&body["to"], &body["content"]),
        (&json!(["ann", "bob"]), &json!("standup in 5")),
        "{body}"
    );
    assert!(
        body.get("mentions").is_none(),
        "the 0.1.0 connector knows nothing of mentions: {body}"
    );
    let (status, receipts) = qiao.get(&format!("{LEGACY}/messages/msg-1/read-status")).await;
    assert_eq!(
        (status, &receipts["unread"]),
        (200, &json!(["ann", "bob"])),
        "{receipts}"
    );

    // Refused before queueing.
    for body in [
        json!({ "to": { "users": ["ann"] }, "text": "x", "mentions": { "users": [" "] } }),
        json!({ "to": { "users": ["ann"] }, "text": "x", "mentions": { "people": [""] } }),
        json!({ "to": { "users": ["ann"] }, "text": "x", "mentions": { "groups": ["g"] } }),
    ] {
        let answer = qiao.post(&format!("{ECHO}/messages"), body.clone()).await;
        assert_eq!(refusal(&answer), (400, "invalid_request"), "{body}: {}", answer.1);
    }
    assert_eq!(echo.recorded.all().len(), 4, "nothing else was sent");
}

/// Mentions on `POST /v1/messages` name the enterprise's people, each of whom must be among `to.people` (else
/// 400, nothing sent); each mentioned person is mentioned by their account on every connection the message goes
/// to: rendered by echo, reported `mention-unsupported` by the 0.1.0 echo.
#[tokio::test]
async fn mentions_of_people_follow_them_to_each_platform() {
    let (qiao, echo) = server().await;
    people_with_accounts(&qiao).await;

    // A mention of someone not among the recipients: 400, nothing queued or sent.
    for mentions in [
        json!({ "people": ["p-cy"] }),
        json!({ "people": ["p-ann", "p-zed"] }),
        json!({ "users": ["ann"] }),
    ] {
        let answer = qiao
            .post(
                "/v1/messages?wait=30",
                json!({ "to": { "people": ["p-ann", "p-bob"] }, "text": "x", "mentions": mentions, "platforms": ["echo"] }),
            )
            .await;
        assert_eq!(refusal(&answer), (400, "invalid_request"), "{mentions}: {}", answer.1);
    }
    assert!(echo.recorded.all().is_empty());

    let (status, sent) = qiao
        .post(
            "/v1/messages?wait=30",
            json!({
                "to": { "people": ["p-ann", "p-bob"] },
                "text": "review please",
                "mentions": { "people": ["p-bob"] },
                "platforms": ["echo", "legacy"]
            }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    let deliveries = sent["deliveries"].as_array().unwrap();
    assert_eq!(deliveries.len(), 2, "{sent}");
    let on = |c: &str| {
        deliveries
            .iter()
            .find(|d| d["connection"] == c)
            .unwrap_or_else(|| panic!("{c}: {sent}"))
    };
    let (echo_delivery, legacy_delivery) = (on("echo"), on("legacy"));
    assert_eq!(echo_delivery["status"], "succeeded", "{sent}");
    assert_eq!(echo_delivery["users"], json!(["ann", "bob"]));
    assert_eq!(echo_delivery["result"]["problems"], json!([]), "{sent}");
    let id = echo_delivery["result"]["message_id"].as_str().unwrap();
    let body = received(&echo, "tok-echo", id);
    assert_eq!(
        (&body["mentions"], &body["content"]),
        (&json!(["bob"]), &json!("@bob review please")),
        "{body}"
    );

    assert_eq!(legacy_delivery["status"], "succeeded", "{sent}");
    assert_eq!(legacy_delivery["users"], json!(["ann-legacy", "bob-legacy"]));
    assert_eq!(
        problems(&legacy_delivery["result"]),
        pairs(&[("bob-legacy", "mention-unsupported")]),
        "mentioned by the account on that connection: {sent}"
    );
    let id = legacy_delivery["result"]["message_id"].as_str().unwrap();
    assert_eq!(received(&echo, "tok-legacy", id)["content"], "review please");
    assert_eq!(sent["unresolved"], json!([]));
}

/// Ann, Bob and Cy in the directory; Ann and Bob with accounts on `echo` (`ann`, `bob`) and on `legacy`.
async fn people_with_accounts(qiao: &TestServer) {
    let directory = json!({
        "departments": [{ "id": "hq", "name": "HQ" }],
        "people": [
            { "id": "p-ann", "name": "Ann", "department_ids": ["hq"] },
            { "id": "p-bob", "name": "Bob", "department_ids": ["hq"] },
            { "id": "p-cy", "name": "Cy", "department_ids": ["hq"] }
        ]
    });
    let (status, body) = qiao
        .request(reqwest::Method::PUT, "/v1/directory", Some(directory))
        .await;
    assert_eq!(status, 200, "{body}");
    let db = qiao.db();
    for (connection, person, user) in [
        ("echo", "p-ann", "ann"),
        ("echo", "p-bob", "bob"),
        ("legacy", "p-ann", "ann-legacy"),
        ("legacy", "p-bob", "bob-legacy"),
    ] {
        db.set_link(
            connection.into(),
            qiao_store::LinkKind::Person,
            person.into(),
            user.into(),
            None,
        )
        .await
        .unwrap();
    }
}

/// On one connection the enterprise's people may be a chat's members and owner and a message's mentions: each
/// is looked up on that connection when the write is accepted, and those without an account there come back in
/// `unresolved` (nobody found at all: 422 `no_members`; an owner not found: 422 `no_owner`; nothing queued).
#[tokio::test]
async fn people_become_chat_members_and_mentions_on_a_connection() {
    let (qiao, echo) = server().await;
    people_with_accounts(&qiao).await;

    let (status, chat) = qiao
        .post(
            &format!("{ECHO}/chats?wait=30"),
            json!({ "name": "Launch", "owner_person": "p-ann", "people": ["p-bob", "p-cy", "p-zed"], "idempotency_key": "launch" }),
        )
        .await;
    assert_eq!(status, 201, "{chat}");
    assert_eq!((&chat["owner"], &chat["members"]), (&json!("ann"), &json!(["ann", "bob"])), "{chat}");
    assert_eq!(
        chat["unresolved"],
        json!([
            { "id": "p-cy", "kind": "person", "reason": "no_account" },
            { "id": "p-zed", "kind": "person", "reason": "unknown_person" }
        ]),
        "{chat}"
    );
    let id = chat["id"].as_str().unwrap();

    let (_, before) = qiao.get("/v1/operations/counts").await;
    for (path, body, code) in [
        ("/chats", json!({ "name": "Nobody", "people": ["p-cy"] }), "no_members"),
        ("/chats", json!({ "name": "Nobody", "owner_person": "p-zed", "members": ["ann"] }), "no_owner"),
        (&format!("/chats/{id}/members") as &str, json!({ "people": ["p-cy", "p-zed"] }), "no_members"),
    ] {
        let answer = qiao.post(&format!("{ECHO}{path}"), body.clone()).await;
        assert_eq!(refusal(&answer), (422, code), "{body}: {}", answer.1);
        let unresolved = answer.1["error"]["details"]["unresolved"].as_array();
        assert!(unresolved.is_some_and(|u| !u.is_empty()), "{}", answer.1);
    }
    for body in [
        json!({ "name": "Twice", "owner": "ann", "owner_person": "p-ann" }),
        json!({ "name": "Blank", "people": [" "] }),
    ] {
        let answer = qiao.post(&format!("{ECHO}/chats"), body.clone()).await;
        assert_eq!(refusal(&answer), (400, "invalid_request"), "{body}: {}", answer.1);
    }
    let (_, after) = qiao.get("/v1/operations/counts").await;
    assert_eq!(before, after, "nothing refused was queued");

    let (status, removed) = qiao
        .post(&format!("{ECHO}/chats/{id}/members/remove?wait=30"), json!({ "people": ["p-bob", "p-cy"] }))
        .await;
    assert_eq!(status, 200, "{removed}");
    assert_eq!(removed["unresolved"], json!([{ "id": "p-cy", "kind": "person", "reason": "no_account" }]));
    assert_eq!(get_chat(&qiao, id).await["members"], json!(["ann"]));

    // A message into the chat mentions people by their ids on this connection.
    let (status, sent) = qiao
        .post(
            &format!("{ECHO}/messages?wait=30"),
            json!({ "to": { "users": ["ann", "bob"] }, "text": "ship it", "mentions": { "people": ["p-bob", "p-zed"], "users": ["ann"] } }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["unresolved"], json!([{ "id": "p-zed", "kind": "person", "reason": "unknown_person" }]), "{sent}");
    let body = received(&echo, "tok-echo", sent["message_id"].as_str().unwrap());
    assert_eq!(body["mentions"], json!(["ann", "bob"]), "{body}");
}

// ---------------------------------------------------------------------------------------------------------------
// Clearing user fields, department codes

async fn get_user(qiao: &TestServer, connection: &str, id: &str) -> Value {
    let (status, user) = qiao.get(&format!("{connection}/users/{id}")).await;
    assert_eq!(status, 200, "{user}");
    user
}

/// `clear` on a user PATCH empties fields a plain PATCH can only keep or set (the rest are kept, and the
/// email index follows); setting and clearing a field at once, clearing on create, or an unknown field name is
/// 400 before anything is queued. Departments take a caller-chosen `code` on create, show it, and a taken one
/// conflicts. The 0.1.0 connector fails a clear with `unsupported` (a failed operation, nothing changed) and
/// creates a department given a code without one.
#[tokio::test]
async fn user_fields_clear_and_departments_carry_a_code() {
    let (qiao, _echo) = server().await;
    let user = json!({ "id": "u-clr", "name": "Clara", "email": "clara@example.com", "title": "CFO", "mobile": "13900000001" });
    let (status, created) = qiao.post(&format!("{ECHO}/users"), user.clone()).await;
    assert_eq!(status, 201, "{created}");
    let (status, found) = qiao.get(&format!("{ECHO}/users/lookup?email=clara@example.com")).await;
    assert_eq!((status, found["user_id"].as_str()), (200, Some("u-clr")));

    let (status, body) = qiao
        .patch(&format!("{ECHO}/users/u-clr"), json!({ "clear": ["email"] }))
        .await;
    assert_eq!(status, 204, "{body}");
    let got = get_user(&qiao, ECHO, "u-clr").await;
    assert_eq!(got["email"], Value::Null, "cleared: {got}");
    assert_eq!(
        (got["title"].as_str(), got["mobile"].as_str(), got["name"].as_str()),
        (Some("CFO"), Some("13900000001"), Some("Clara")),
        "kept"
    );
    let lookup = qiao.get(&format!("{ECHO}/users/lookup?email=clara@example.com")).await;
    assert_eq!(lookup.0, 404, "the cleared email no longer finds her: {}", lookup.1);

    // Clear one field and set another in one call.
    let (status, body) = qiao
        .patch(
            &format!("{ECHO}/users/u-clr"),
            json!({ "clear": ["title", "mobile"], "employee_no": "E7" }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let got = get_user(&qiao, ECHO, "u-clr").await;
    assert_eq!(
        (&got["title"], &got["mobile"], got["employee_no"].as_str()),
        (&Value::Null, &Value::Null, Some("E7")),
        "{got}"
    );

    // Refused by the API before anything is queued.
    let (_, before) = qiao.get("/v1/operations/counts").await;
    for (method, path, body) in [
        (
            reqwest::Method::PATCH,
            "users/u-clr",
            json!({ "email": "new@example.com", "clear": ["email"] }),
        ),
        (reqwest::Method::PATCH, "users/u-clr", json!({ "clear": ["name"] })),
        (reqwest::Method::PATCH, "users/u-clr", json!({ "clear": "email" })),
        (
            reqwest::Method::POST,
            "users",
            json!({ "id": "u-new", "name": "New", "clear": ["email"] }),
        ),
    ] {
        let answer = qiao
            .request(method.clone(), &format!("{ECHO}/{path}"), Some(body.clone()))
            .await;
        assert_eq!(
            refusal(&answer),
            (400, "invalid_request"),
            "{method} {body}: {}",
            answer.1
        );
    }
    let (_, after) = qiao.get("/v1/operations/counts").await;
    assert_eq!(before, after, "nothing queued");
    assert_eq!(get_user(&qiao, ECHO, "u-clr").await["employee_no"], "E7");
    let missing = qiao.get(&format!("{ECHO}/users/u-new")).await;
    assert_eq!(missing.0, 404);

    // Department codes.
    let (status, dept) = qiao
        .post(
            &format!("{ECHO}/departments"),
            json!({ "name": "Finance", "code": "FIN-01" }),
        )
        .await;
    assert_eq!(status, 201, "{dept}");
    assert_eq!(dept["code"], "FIN-01", "{dept}");
    let dept_id = dept["id"].as_str().unwrap();
    let (status, got) = qiao.get(&format!("{ECHO}/departments/{dept_id}")).await;
    assert_eq!(
        (status, &got["code"], &got["name"]),
        (200, &json!("FIN-01"), &json!("Finance")),
        "{got}"
    );
    let (_, list) = qiao.get(&format!("{ECHO}/departments")).await;
    assert_eq!(list["departments"][0]["code"], "FIN-01", "{list}");
    let taken = qiao
        .post(
            &format!("{ECHO}/departments"),
            json!({ "name": "Fin 2", "code": "FIN-01" }),
        )
        .await;
    assert_eq!(refusal(&taken), (409, "conflict"), "{}", taken.1);
    let (status, plain) = qiao
        .post(&format!("{ECHO}/departments"), json!({ "name": "Ops" }))
        .await;
    assert_eq!((status, &plain["code"]), (201, &Value::Null), "{plain}");

    // The 0.1.0 connector: a clear fails as unsupported (not retried), and the user is unchanged.
    let (status, body) = qiao.post(&format!("{LEGACY}/users"), user).await;
    assert_eq!(status, 201, "{body}");
    let answer = qiao
        .patch(&format!("{LEGACY}/users/u-clr"), json!({ "clear": ["email"] }))
        .await;
    assert_eq!(refusal(&answer), (501, "unsupported"), "{}", answer.1);
    assert_eq!(kind(&answer.1), "unsupported");
    assert!(
        message(&answer.1).contains("0.2.0"),
        "says which contract it needs: {}",
        answer.1
    );
    let op_id = answer.1["error"]["details"]["operation_id"]
        .as_i64()
        .expect("the operation");
    let (status, op) = qiao.get(&format!("/v1/operations/{op_id}")).await;
    assert_eq!(status, 200, "{op}");
    assert_eq!(
        (
            op["status"].as_str(),
            op["operation"].as_str(),
            op["attempts"].as_u64(),
            op["last_error"]["code"].as_str()
        ),
        (Some("failed"), Some("update_user"), Some(1), Some("unsupported")),
        "{op}"
    );
    assert_eq!(
        get_user(&qiao, LEGACY, "u-clr").await["email"],
        "clara@example.com",
        "nothing cleared"
    );
    // A plain update still works there.
    let (status, _) = qiao
        .patch(&format!("{LEGACY}/users/u-clr"), json!({ "title": "CEO" }))
        .await;
    assert_eq!(status, 204);
    assert_eq!(get_user(&qiao, LEGACY, "u-clr").await["title"], "CEO");

    let (status, dept) = qiao
        .post(
            &format!("{LEGACY}/departments"),
            json!({ "name": "Finance", "code": "FIN-01" }),
        )
        .await;
    assert_eq!(status, 201, "{dept}");
    assert_eq!(
        (&dept["code"], &dept["name"]),
        (&Value::Null, &json!("Finance")),
        "0.1.0 has no codes: {dept}"
    );
    let (_, got) = qiao
        .get(&format!("{LEGACY}/departments/{}", dept["id"].as_str().unwrap()))
        .await;
    assert_eq!((&got["code"], &got["name"]), (&Value::Null, &json!("Finance")), "{got}");
}

// ---------------------------------------------------------------------------------------------------------------
// Approval reminders

async fn create_approval(qiao: &TestServer, connection: &str) -> String {
    let (status, created) = qiao
        .post(
            &format!("{connection}/approvals"),
            json!({ "template": "leave", "applicant": "u1", "approvers": ["boss"], "fields": [{ "name": "days", "value": "2" }] }),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

/// `POST .../approvals/{id}/remind` on echo: 204, and the approval then shows the reminder (to its assignee, with
/// the operator and comment) in `extra`; a task id not of the instance or an unknown instance is 404, a decided
/// approval conflicts (409); on the 0.1.0 connector, whose contract has no remind, 501 `older_contract`.
#[tokio::test]
async fn approvals_can_be_reminded_on_0_2_0_only() {
    let (qiao, _echo) = server().await;
    let id = create_approval(&qiao, ECHO).await;
    let (_, before) = qiao.get(&format!("{ECHO}/approvals/{id}")).await;
    assert_eq!(
        (before["status"].as_str(), &before["extra"]),
        (Some("pending"), &Value::Null),
        "{before}"
    );
    let task = before["tasks"][0]["id"].as_str().unwrap().to_string();

    let (status, body) = qiao
        .post(
            &format!("{ECHO}/approvals/{id}/remind"),
            json!({ "task_ids": [task], "operator": "u1", "comment": "please look" }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (status, body) = qiao.post(&format!("{ECHO}/approvals/{id}/remind"), json!({})).await;
    assert_eq!(status, 204, "all pending tasks when none named: {body}");

    // A remind moves the approval's stored view out of date, so a plain GET asks the connector again and agrees
    // with `refresh=true`.
    let (_, cached) = qiao.get(&format!("{ECHO}/approvals/{id}")).await;
    let (status, after) = qiao.get(&format!("{ECHO}/approvals/{id}?refresh=true")).await;
    assert_eq!(status, 200, "{after}");
    let reminders = after["extra"]["reminders"]
        .as_array()
        .unwrap_or_else(|| panic!("no reminders: {after}"));
    assert_eq!(reminders.len(), 2, "{after}");
    assert_eq!(
        (
            &reminders[0]["assignees"],
            &reminders[0]["operator"],
            &reminders[0]["comment"]
        ),
        (&json!(["boss"]), &json!("u1"), &json!("please look")),
        "{after}"
    );
    assert!(reminders[0]["time_ms"].as_u64().is_some());
    assert_eq!(
        (&reminders[1]["operator"], &reminders[1]["comment"]),
        (&Value::Null, &Value::Null)
    );
    assert_eq!(after["status"], "pending", "a reminder decides nothing");
    assert_eq!(
        cached["extra"], after["extra"],
        "after a remind, GET (without refresh) shows the reminders: the remind marks the stored view stale"
    );

    let answer = qiao
        .post(
            &format!("{ECHO}/approvals/{id}/remind"),
            json!({ "task_ids": ["someone-elses-task"] }),
        )
        .await;
    assert_eq!(refusal(&answer), (404, "not_found"), "{}", answer.1);
    let answer = qiao.post(&format!("{ECHO}/approvals/ap-99/remind"), json!({})).await;
    assert_eq!(refusal(&answer), (404, "not_found"), "{}", answer.1);
    let answer = qiao
        .post(&format!("{ECHO}/approvals/{id}/remind"), json!({ "nudge": true }))
        .await;
    assert_eq!(refusal(&answer), (400, "invalid_request"), "{}", answer.1);

    let (status, _) = qiao
        .post(&format!("{ECHO}/approvals/{id}/approve"), json!({ "actor": "boss" }))
        .await;
    assert_eq!(status, 204);
    let answer = qiao.post(&format!("{ECHO}/approvals/{id}/remind"), json!({})).await;
    assert_eq!(
        refusal(&answer),
        (409, "conflict"),
        "nobody to remind once decided: {}",
        answer.1
    );

    // The 0.1.0 connector has approvals but no remind.
    let legacy_id = create_approval(&qiao, LEGACY).await;
    let answer = qiao
        .post(
            &format!("{LEGACY}/approvals/{legacy_id}/remind"),
            json!({ "comment": "x" }),
        )
        .await;
    assert_eq!(refusal(&answer), (501, "older_contract"), "{}", answer.1);
    assert!(message(&answer.1).contains("0.1.0"), "{}", answer.1);
    // Refused before it is queued, as tasks and chats are.
    let (status, queued) = qiao
        .post(
            &format!("{LEGACY}/approvals/{legacy_id}/remind?wait=0"),
            json!({ "comment": "y" }),
        )
        .await;
    assert_eq!((status, code(&queued)), (501, "older_contract"), "{queued}");
}

// ---------------------------------------------------------------------------------------------------------------
// Login URLs

/// `POST .../users/{id}/login-url` on echo answers a URL for that user (with the target when given, and a fresh
/// token each time); an unknown user is 404; the 0.1.0 connector, whose identity export has no login-url,
/// answers 501 `older_contract`.
#[tokio::test]
async fn login_urls_sign_a_user_in_on_0_2_0_only() {
    let (qiao, echo) = server().await;
    let (status, _) = qiao
        .post(&format!("{ECHO}/users"), json!({ "id": "u-log", "name": "Lu" }))
        .await;
    assert_eq!(status, 201);

    let (status, answer) = qiao
        .post(
            &format!("{ECHO}/users/u-log/login-url"),
            json!({ "target": "/approvals?tab=todo" }),
        )
        .await;
    assert_eq!(status, 200, "{answer}");
    let url = answer["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{}/login?", echo.base)), "{url}");
    assert!(url.contains("user=u-log"), "{url}");
    assert!(
        url.contains("target=%2Fapprovals%3Ftab%3Dtodo"),
        "the target, URL-encoded: {url}"
    );
    let token = |url: &str| -> String {
        url.split(['?', '&'])
            .find_map(|p| p.strip_prefix("token="))
            .unwrap_or_else(|| panic!("no token in {url}"))
            .to_string()
    };
    assert_eq!(token(url).len(), 32, "16 random bytes, hex: {url}");

    let (status, plain) = qiao.post(&format!("{ECHO}/users/u-log/login-url"), json!({})).await;
    assert_eq!(status, 200, "{plain}");
    let plain = plain["url"].as_str().unwrap();
    assert!(!plain.contains("target="), "{plain}");
    assert_ne!(token(plain), token(url), "a fresh token each time");
    // A login URL is a credential: it is not an outbox write, so no operation keeps it.
    let (_, ops) = qiao.get("/v1/operations?connection=echo&limit=1000").await;
    assert!(!ops.to_string().contains(&token(url)), "{ops}");

    let missing = qiao.post(&format!("{ECHO}/users/u-nobody/login-url"), json!({})).await;
    assert_eq!(refusal(&missing), (404, "not_found"), "{}", missing.1);
    let bad = qiao
        .post(
            &format!("{ECHO}/users/u-log/login-url"),
            json!({ "target": "/", "ttl": 5 }),
        )
        .await;
    assert_eq!(bad.0, 400, "{}", bad.1);

    let (status, _) = qiao
        .post(&format!("{LEGACY}/users"), json!({ "id": "u-log", "name": "Lu" }))
        .await;
    assert_eq!(status, 201);
    let legacy = qiao
        .post(&format!("{LEGACY}/users/u-log/login-url"), json!({ "target": "/" }))
        .await;
    assert_eq!(refusal(&legacy), (501, "older_contract"), "{}", legacy.1);
    assert!(
        message(&legacy.1).contains("login_url") || message(&legacy.1).contains("login-url"),
        "{}",
        legacy.1
    );
}

// ---------------------------------------------------------------------------------------------------------------
// Compatibility: the 0.1.0 connector as before

use qiao_tests::echo_server::hex_hmac;

/// Both contract versions load side by side (`/v1/connectors` shows each one's contract and capabilities), and on
/// the 0.1.0 connector everything it had still works as it did: send with delivery problems, read status and
/// recall; departments and users created, read, listed, looked up and updated; approvals created, read and
/// approved; signed webhooks turned into events (a bad signature refused).
#[tokio::test]
async fn the_0_1_0_connector_works_as_before_beside_0_2_0() {
    let (qiao, echo) = server().await;
    let (_, health) = qiao.get("/healthz").await;
    assert_eq!(health["contract_versions"], json!(["0.1.0", "0.2.0", "0.3.0"]));
    let row = qiao.connector_row("echo.wasm").await.expect("echo listed");
    assert_eq!(
        (row["id"].as_str(), row["state"].as_str(), row["contract"].as_str()),
        (Some("echo"), Some("loaded"), Some("0.2.0")),
        "{row}"
    );
    let legacy = qiao
        .connector_row("echo-v0.1.0.wasm")
        .await
        .expect("echo-v0.1.0 listed");
    assert_eq!(
        (
            legacy["id"].as_str(),
            legacy["state"].as_str(),
            legacy["contract"].as_str()
        ),
        (Some("echo-v0-1-0"), Some("loaded"), Some("0.1.0")),
        "{legacy}"
    );
    let caps = strings(&legacy["capabilities"]);
    assert_eq!(
        caps,
        ["describe", "identity", "messaging", "approval", "webhook", "poll"],
        "{legacy}"
    );
    assert!(strings(&row["capabilities"]).contains(&"tasks") && strings(&row["capabilities"]).contains(&"chats"));
    assert_eq!(legacy["rate_hints"], json!([]), "0.1.0 has no rate hints");

    // Messaging.
    let (status, sent) = qiao
        .post(
            &format!("{LEGACY}/messages"),
            json!({ "to": { "users": ["ann", "bad-bo"] }, "text": "hello", "idempotency_key": "k1" }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(sent["message_id"], "msg-1");
    assert_eq!(
        sent["problems"],
        json!([{ "recipient": "bad-bo", "code": "invalid-user", "reason": "unknown user" }])
    );
    assert_eq!(
        sent["extra"]["token_sha256"],
        qiao_tests::echo_server::sha256_hex("tok-legacy")
    );
    assert_eq!(sent["extra"]["echo"]["to"], json!(["ann"]));
    let (_, again) = qiao
        .post(
            &format!("{LEGACY}/messages"),
            json!({ "to": { "users": ["ann", "bad-bo"] }, "text": "hello", "idempotency_key": "k1" }),
        )
        .await;
    assert_eq!(
        (&again["message_id"], &again["operation_id"]),
        (&sent["message_id"], &sent["operation_id"])
    );
    assert_eq!(echo.recorded.all().len(), 1, "sent once");
    let (status, receipts) = qiao.get(&format!("{LEGACY}/messages/msg-1/read-status")).await;
    assert_eq!(
        (status, &receipts["unread"], &receipts["read"]),
        (200, &json!(["ann"]), &json!([])),
        "{receipts}"
    );
    let (status, _) = qiao.post(&format!("{LEGACY}/messages/msg-1/recall"), json!({})).await;
    assert_eq!(status, 200);
    let gone = qiao.post(&format!("{LEGACY}/messages/msg-1/recall"), json!({})).await;
    assert_eq!(
        (refusal(&gone), kind(&gone.1)),
        ((404, "not_found"), "not-found"),
        "{}",
        gone.1
    );

    // Directory.
    let (status, dept) = qiao
        .post(
            &format!("{LEGACY}/departments"),
            json!({ "name": "Finance", "parent_id": "1" }),
        )
        .await;
    assert_eq!(status, 201, "{dept}");
    let dept_id = dept["id"].as_str().unwrap().to_string();
    let (status, got) = qiao.get(&format!("{LEGACY}/departments/{dept_id}")).await;
    assert_eq!(
        (status, got["name"].as_str(), got["parent_id"].as_str()),
        (200, Some("Finance"), Some("1")),
        "{got}"
    );
    let (_, list) = qiao.get(&format!("{LEGACY}/departments?parent=1")).await;
    assert!(
        list["departments"]
            .as_array()
            .unwrap()
            .iter()
            .any(|d| d["id"] == dept_id.as_str()),
        "{list}"
    );
    for (id, name) in [("u1", "Ann"), ("u2", "Bo")] {
        let body = json!({ "id": id, "name": name, "mobile": format!("1380000{id}"), "email": format!("{id}@example.com"), "department_ids": [dept_id] });
        let (status, user) = qiao.post(&format!("{LEGACY}/users"), body).await;
        assert_eq!(status, 201, "{user}");
        assert_eq!(user["department_ids"], json!([dept_id]));
    }
    let (_, page) = qiao.get(&format!("{LEGACY}/departments/{dept_id}/users?limit=1")).await;
    assert_eq!(
        (page["users"].as_array().unwrap().len(), page["next_cursor"].as_str()),
        (1, Some("1")),
        "{page}"
    );
    let (_, found) = qiao.get(&format!("{LEGACY}/users/lookup?mobile=1380000u2")).await;
    assert_eq!(found["user_id"], "u2");
    let (status, _) = qiao
        .patch(&format!("{LEGACY}/users/u2"), json!({ "title": "CFO" }))
        .await;
    assert_eq!(status, 204);
    let user = get_user(&qiao, LEGACY, "u2").await;
    assert_eq!(
        (user["name"].as_str(), user["title"].as_str(), user["email"].as_str()),
        (Some("Bo"), Some("CFO"), Some("u2@example.com"))
    );
    let invalid = qiao.post(&format!("{LEGACY}/users"), json!({ "mobile": "1" })).await;
    assert_eq!(refusal(&invalid), (422, "invalid_input"), "{}", invalid.1);
    let (status, sso) = qiao
        .post(&format!("{LEGACY}/sso/resolve"), json!({ "code": "code-u1" }))
        .await;
    assert_eq!((status, sso["user_id"].as_str()), (200, Some("u1")), "{sso}");

    // Approvals.
    let id = create_approval(&qiao, LEGACY).await;
    let (status, instance) = qiao.get(&format!("{LEGACY}/approvals/{id}")).await;
    assert_eq!(status, 200, "{instance}");
    assert_eq!(
        (instance["status"].as_str(), instance["tasks"][0]["assignee"].as_str()),
        (Some("pending"), Some("boss")),
        "{instance}"
    );
    assert_eq!(instance["fields"][0]["name"], "days");
    let task = instance["tasks"][0]["id"].as_str().unwrap();
    let (status, body) = qiao
        .post(
            &format!("{LEGACY}/approvals/{id}/approve"),
            json!({ "task_id": task, "actor": "boss", "comment": "ok" }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let (_, instance) = qiao.get(&format!("{LEGACY}/approvals/{id}")).await;
    assert_eq!(instance["status"], "approved", "{instance}");
    assert_eq!(instance["comments"][0]["text"], "ok");
    let twice = qiao.post(&format!("{LEGACY}/approvals/{id}/reject"), json!({})).await;
    assert_eq!(refusal(&twice), (409, "conflict"), "{}", twice.1);

    // Webhooks: signed with HMAC-SHA256 of the token; a bad signature is refused and stores nothing.
    let body = r#"{"from":"legacy"}"#;
    let response = qiao
        .client
        .post(qiao.url("/v1/hooks/legacy/in?x=1"))
        .header("x-echo-signature", hex_hmac("tok-legacy", body))
        .header("x-event-id", "ev-1")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), body, "answered verbatim");
    let forged = qiao
        .client
        .post(qiao.url("/v1/hooks/legacy/in"))
        .header("x-echo-signature", hex_hmac("tok-echo", body))
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), 401);
    let events = qiao.events("legacy").await;
    assert_eq!(events.len(), 1, "{events:#?}");
    assert_eq!(
        (
            events[0]["id"].as_str(),
            events[0]["type"].as_str(),
            events[0]["subject"].as_str(),
            events[0]["payload"]["query"].as_str()
        ),
        (Some("ev-1"), Some("echo.received"), Some("/in"), Some("x=1"))
    );
    assert!(qiao.events("echo").await.is_empty(), "the other connection saw nothing");

    // Poll resumes from its cursor as before.
    let (status, polled) = qiao.post(&format!("{LEGACY}/poll"), json!({})).await;
    assert_eq!(
        (status, polled["received"].as_u64(), polled["cursor"].as_str()),
        (200, Some(2), Some("2")),
        "{polled}"
    );
}
