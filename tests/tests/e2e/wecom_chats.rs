//! WeCom app group chats, mentions and to-dos end to end: Qiao's REST API (`/chats`, `/messages` with `to.chats`
//! and `mentions`, `/tasks`) → `wecom.wasm` → the WeCom simulator (`qiao_tests::wecom_sim`).

use qiao_tests::wecom_sim::{Fault, Options, WeComSim};
use qiao_tests::{TestServer, platform_code};
use serde_json::{Value, json};

/// Two connections of the same app: what one made, the other finds by the same idempotency key.
async fn setup() -> (WeComSim, TestServer) {
    let sim = WeComSim::start(Options::default()).await.unwrap();
    {
        let mut state = sim.state();
        state.add_user("carol", "Chen Jing", "13800000004", vec![3]);
        state.add_user("dave", "Liu Yang", "13800000005", vec![3]);
    }
    let limits = "limits = { timeout_ms = 3000 }";
    let config = format!(
        "{}{}",
        sim.connection("wc", limits),
        sim.connection("wc2", limits)
    );
    let qiao = TestServer::start(&["wecom"], &config).await.unwrap();
    (sim, qiao)
}

fn path(rest: &str) -> String {
    format!("/v1/connections/wc{rest}")
}

fn message(body: &Value) -> &str {
    body["error"]["message"].as_str().unwrap_or_default()
}

fn kind(body: &Value) -> &str {
    body["error"]["details"]["kind"]
        .as_str()
        .unwrap_or_default()
}

/// The delivery problems of a send result as `(recipient, code)`.
fn problems(sent: &Value) -> Vec<(String, String)> {
    sent["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no problems list: {sent}"))
        .iter()
        .map(|p| {
            (
                p["recipient"].as_str().unwrap().to_string(),
                p["code"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

/// An app chat made with members (its chatid derived from the idempotency key, so the same key finds the same
/// chat, also from another connection), members added and removed (already in / not in: no error), the owner
/// kept, a markdown message into it mentioning two members as `<@userid>`; and what WeCom cannot do, refused.
#[tokio::test]
async fn app_chats_made_changed_and_mentioned() {
    let (sim, qiao) = setup().await;
    let new = json!({
        "name": "Launch",
        "owner": "alice",
        "members": ["bob", "manager1", "alice"],
        "idempotency_key": "launch-2026-12",
    });
    let (status, chat) = qiao.post(&path("/chats"), new.clone()).await;
    assert_eq!(status, 201, "{chat}");
    let id = chat["id"].as_str().unwrap().to_string();
    assert!(
        id.len() == 32 && id.chars().all(|c| c.is_ascii_alphanumeric()),
        "a chatid within WeCom's rules: {id}"
    );
    assert_eq!(
        (&chat["name"], &chat["owner"], &chat["members"]),
        (
            &json!("Launch"),
            &json!("alice"),
            &json!(["alice", "bob", "manager1"])
        ),
        "the owner first, each once: {chat}"
    );
    let made = sim.chat(&id).expect("the simulator has the chat");
    assert_eq!(
        (made.owner.as_str(), made.userlist.clone()),
        (
            "alice",
            vec!["alice".to_string(), "bob".into(), "manager1".into()]
        )
    );

    // The same key: the same chat. Through the same connection Qiao's outbox answers the first operation; through
    // the other connection of the same app WeCom is asked again, says the chatid exists (86215), and that chat
    // is the answer.
    let (status, again) = qiao.post(&path("/chats"), new.clone()).await;
    assert_eq!((status, &again["id"]), (201, &chat["id"]), "{again}");
    assert_eq!(sim.count("appchat/create"), 1);
    let (status, other) = qiao.post("/v1/connections/wc2/chats", new.clone()).await;
    assert_eq!((status, &other["id"]), (201, &chat["id"]), "{other}");
    assert_eq!(other["members"], chat["members"]);
    assert_eq!(
        (sim.count("appchat/create"), sim.state().chats.len()),
        (2, 2),
        "one chat more than the seeded one"
    );
    // A chatid already taken by another chat is a conflict, not that chat.
    let (status, body) = qiao
        .post(
            &path("/chats"),
            json!({ "name": "Something else", "members": ["alice", "bob"], "extra": { "chatid": id } }),
        )
        .await;
    assert_eq!((status, platform_code(&body)), (409, "86215"), "{body}");
    assert!(message(&body).contains("another chat"), "{body}");

    let (status, got) = qiao.get(&path(&format!("/chats/{id}"))).await;
    assert_eq!(status, 200, "{got}");
    assert_eq!(
        (&got["name"], &got["owner"], &got["members"]),
        (&chat["name"], &chat["owner"], &chat["members"])
    );

    // Members: one already in is no error and not sent; one not in is skipped.
    let members = path(&format!("/chats/{id}/members"));
    let (status, body) = qiao
        .post(&members, json!({ "user_ids": ["bob", "carol", "dave"] }))
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        sim.chat(&id).unwrap().userlist,
        ["alice", "bob", "manager1", "carol", "dave"]
    );
    let before = sim.count("appchat/update");
    let (status, body) = qiao.post(&members, json!({ "user_ids": ["bob"] })).await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        sim.count("appchat/update"),
        before,
        "nothing to add, nothing sent"
    );
    let (status, body) = qiao
        .post(
            &format!("{members}/remove"),
            json!({ "user_ids": ["dave", "nobody"] }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    assert_eq!(
        sim.chat(&id).unwrap().userlist,
        ["alice", "bob", "manager1", "carol"]
    );
    let (status, body) = qiao
        .post(
            &format!("{members}/remove"),
            json!({ "user_ids": ["carol", "alice"] }),
        )
        .await;
    assert_eq!(
        (status, kind(&body)),
        (409, "conflict"),
        "the owner stays: {body}"
    );
    assert!(
        sim.chat(&id)
            .unwrap()
            .userlist
            .contains(&"carol".to_string()),
        "a refused removal removes no one"
    );
    // WeCom's refusal of an unknown member comes back with its code; a busy WeCom is retried by the outbox.
    let (status, body) = qiao.post(&members, json!({ "user_ids": ["ghost"] })).await;
    assert_eq!((status, platform_code(&body)), (422, "86216"), "{body}");
    sim.inject("appchat/update", Fault::Busy, 1);
    let (status, body) = qiao.post(&members, json!({ "user_ids": ["dave"] })).await;
    assert_eq!(status, 204, "retried after -1: {body}");
    assert!(
        sim.chat(&id)
            .unwrap()
            .userlist
            .contains(&"dave".to_string())
    );

    // A markdown message into the chat mentioning two members: WeCom's <@userid> after the text.
    let (status, sent) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "chats": [id] }, "markdown": { "title": "Go/no-go", "text": "Launch at 10:00" },
                    "mentions": { "users": ["bob", "carol"], "everyone": false } }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(problems(&sent), Vec::<(String, String)>::new(), "{sent}");
    let (chatid, body) = sim.state().chat_messages.last().unwrap().clone();
    assert_eq!(chatid, id);
    assert_eq!(body["msgtype"], "markdown");
    assert_eq!(
        body["markdown"]["content"],
        "### Go/no-go\nLaunch at 10:00\n<@bob> <@carol>"
    );
    // What cannot be mentioned is a problem, and the message still goes: everyone (no markdown syntax), text.
    let (status, sent) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "chats": [id] }, "markdown": { "title": "", "text": "all hands" },
                    "mentions": { "users": ["bob"], "everyone": true } }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(
        problems(&sent),
        [("everyone".to_string(), "mention-unsupported".to_string())],
        "{sent}"
    );
    assert_eq!(
        sim.state().chat_messages.last().unwrap().1["markdown"]["content"],
        "all hands\n<@bob>"
    );
    let (status, sent) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "chats": [id] }, "text": "plain", "mentions": { "users": ["bob"], "everyone": false } }),
        )
        .await;
    assert_eq!(status, 200, "{sent}");
    assert_eq!(
        problems(&sent),
        [("bob".to_string(), "mention-unsupported".to_string())],
        "{sent}"
    );
    assert!(
        sent["problems"][0]["reason"]
            .as_str()
            .unwrap()
            .contains("markdown"),
        "{sent}"
    );
    assert_eq!(
        sim.state().chat_messages.last().unwrap().1["text"]["content"],
        "plain"
    );
    // App chats take no template cards.
    let (status, body) = qiao
        .post(
            &path("/messages"),
            json!({ "to": { "chats": [id] }, "card": { "title": "Vote", "markdown": "go?", "buttons": [
                { "title": "Go", "url": "https://example.com/go" }, { "title": "Wait", "url": "https://example.com/wait" }] } }),
        )
        .await;
    assert_eq!(status, 501, "{body}");

    // Refused before WeCom is asked: WeCom's member limits, a name WeCom would cut, a description it has no place
    // for, a chatid outside its rules.
    let creates = sim.count("appchat/create");
    for (body, status) in [
        (json!({ "name": "Solo", "members": ["alice"] }), 422),
        (
            json!({ "name": "Solo", "owner": "alice", "members": ["alice"] }),
            422,
        ),
        (
            json!({ "name": "n".repeat(51), "members": ["alice", "bob"] }),
            422,
        ),
        (
            json!({ "name": "Bad id", "members": ["alice", "b<b"] }),
            422,
        ),
        (
            json!({ "name": "Bad chatid", "members": ["alice", "bob"], "extra": { "chatid": "has-dash" } }),
            422,
        ),
        (
            json!({ "name": "Other", "members": ["alice", "bob"], "extra": { "topic": "x" } }),
            422,
        ),
        (
            json!({ "name": "Described", "members": ["alice", "bob"], "description": "why" }),
            501,
        ),
    ] {
        let (got, answer) = qiao.post(&path("/chats"), body.clone()).await;
        assert_eq!(got, status, "{body}: {answer}");
    }
    assert_eq!(
        sim.count("appchat/create"),
        creates,
        "none of those reached WeCom"
    );
    let too_many: Vec<String> = (0..2001).map(|n| format!("u{n}")).collect();
    let (status, body) = qiao
        .post(
            &path("/chats"),
            json!({ "name": "Big", "members": too_many }),
        )
        .await;
    assert_eq!(status, 400, "the REST API's own bound comes first: {body}");

    // A chatid of the caller's choosing; without an owner WeCom picks one, read back.
    let (status, chosen) = qiao
        .post(&path("/chats"), json!({ "name": "Ops", "members": ["carol", "dave"], "extra": { "chatid": "ops2026" } }))
        .await;
    assert_eq!(status, 201, "{chosen}");
    assert_eq!(
        (&chosen["id"], &chosen["owner"]),
        (&json!("ops2026"), &json!("carol")),
        "{chosen}"
    );

    // An unknown chat is 404; one another app made is 403.
    let (status, body) = qiao.get(&path("/chats/nochat")).await;
    assert_eq!((status, platform_code(&body)), (404, "86003"), "{body}");
    sim.state().chats.get_mut("ops2026").unwrap().by_app = false;
    let (status, body) = qiao.get(&path("/chats/ops2026")).await;
    assert_eq!((status, platform_code(&body)), (403, "86008"), "{body}");
}

/// To-dos: WeCom's server API reads them and sets their status and attendees, for the ones the app made (from
/// its page, with the JS-SDK); creating, listing, commenting and changing the text or deadline are refused as
/// unsupported, saying why.
#[tokio::test]
async fn todos_read_completed_and_reopened_but_not_created() {
    let (sim, qiao) = setup().await;
    let id = sim.state().create_todo(
        "manager1",
        "Quarterly review",
        &["alice", "bob"],
        1_900_000_000,
        true,
    );

    let (status, task) = qiao.get(&path(&format!("/tasks/{id}"))).await;
    assert_eq!(status, 200, "{task}");
    assert_eq!(
        (
            &task["id"],
            &task["title"],
            &task["status"]["category"],
            &task["assignees"],
            &task["due_ms"]
        ),
        (
            &json!(id),
            &json!("Quarterly review"),
            &json!("open"),
            &json!(["alice", "bob"]),
            &json!(1_900_000_000_000u64)
        ),
        "{task}"
    );
    assert_eq!(task["extra"]["creator"], "manager1", "{task}");

    let (status, done) = qiao
        .post(&path(&format!("/tasks/{id}/complete")), json!({}))
        .await;
    assert_eq!(
        (status, &done["status"]["category"]),
        (200, &json!("done")),
        "{done}"
    );
    assert_eq!(sim.todo(&id).unwrap().status, 0);
    let (status, open) = qiao
        .post(&path(&format!("/tasks/{id}/reopen")), json!({}))
        .await;
    assert_eq!(
        (status, &open["status"]["category"]),
        (200, &json!("open")),
        "{open}"
    );
    assert_eq!(sim.todo(&id).unwrap().status, 1);
    let (status, moved) = qiao
        .post(
            &path(&format!("/tasks/{id}/move")),
            json!({ "status": "done" }),
        )
        .await;
    assert_eq!(
        (status, &moved["status"]["category"]),
        (200, &json!("done")),
        "{moved}"
    );

    // The attendees (assignees) change as a whole list; each kept one keeps their own status.
    sim.state().todos.get_mut(&id).unwrap().attendees[0].1 = 0;
    let (status, changed) = qiao
        .patch(
            &path(&format!("/tasks/{id}")),
            json!({ "assignees": ["alice", "carol"] }),
        )
        .await;
    assert_eq!(status, 200, "{changed}");
    assert_eq!(changed["assignees"], json!(["alice", "carol"]));
    assert_eq!(
        sim.todo(&id).unwrap().attendees,
        [("alice".to_string(), 0), ("carol".to_string(), 1)]
    );
    let over: Vec<String> = (0..21).map(|n| format!("u{n}")).collect();
    let (status, body) = qiao
        .patch(&path(&format!("/tasks/{id}")), json!({ "assignees": over }))
        .await;
    assert_eq!(status, 422, "at most 20 attendees: {body}");

    // What WeCom's API cannot do: refused with the reason, nothing changed.
    let (status, body) = qiao
        .patch(
            &path(&format!("/tasks/{id}")),
            json!({ "title": "New", "assignees": ["bob"] }),
        )
        .await;
    assert_eq!((status, kind(&body)), (501, "unsupported"), "{body}");
    assert!(message(&body).contains("title"), "{body}");
    assert_eq!(sim.todo(&id).unwrap().attendees.len(), 2, "nothing changed");
    let (status, body) = qiao
        .post(
            &path("/tasks"),
            json!({ "title": "Write the plan", "assignees": ["alice"] }),
        )
        .await;
    assert_eq!((status, kind(&body)), (501, "unsupported"), "{body}");
    assert!(message(&body).contains("ww.createTodo"), "{body}");
    for (status, body) in [
        qiao.get(&path("/tasks")).await,
        qiao.post(
            &path(&format!("/tasks/{id}/comments")),
            json!({ "text": "done?" }),
        )
        .await,
        qiao.post(
            &path(&format!("/tasks/{id}/move")),
            json!({ "transition": "Start" }),
        )
        .await,
    ] {
        assert_eq!((status, kind(&body)), (501, "unsupported"), "{body}");
    }

    // A to-do another app made is refused by WeCom (403); a retried busy WeCom still answers.
    let foreign = sim
        .state()
        .create_todo("bob", "Not ours", &["bob"], 0, false);
    let (status, body) = qiao.get(&path(&format!("/tasks/{foreign}"))).await;
    assert_eq!((status, platform_code(&body)), (403, "48002"), "{body}");
    sim.inject("todo/update", Fault::Busy, 1);
    let (status, body) = qiao
        .post(&path(&format!("/tasks/{id}/reopen")), json!({}))
        .await;
    assert_eq!(status, 200, "retried after -1: {body}");
    assert_eq!(sim.todo(&id).unwrap().status, 1);
}
