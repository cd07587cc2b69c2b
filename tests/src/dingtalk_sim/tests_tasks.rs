//! The simulator's to-do and scene-group APIs against plain HTTP calls: their paths, bodies, limits and codes,
//! the callbacks they cause, and fault injection.

use serde_json::{Value, json};

use super::{DingTalkSim, Fault, Options, SCENE_GROUP_TEMPLATE_ID, SCENE_ROBOT_CODE};

struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    async fn new(sim: &DingTalkSim) -> Client {
        let http = reqwest::Client::new();
        let o = &sim.options;
        let answer: Value = http
            .post(format!("{}/v1.0/oauth2/accessToken", sim.base))
            .json(&json!({ "appKey": o.app_key, "appSecret": o.app_secret }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        Client {
            base: sim.base.clone(),
            token: answer["accessToken"].as_str().unwrap().to_string(),
            http,
        }
    }

    /// A new-API call: (HTTP status, body).
    async fn api(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .header("x-acs-dingtalk-access-token", &self.token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.api(reqwest::Method::POST, path, Some(body)).await
    }

    /// An old-API call: its body.
    async fn oapi(&self, path: &str, body: Value) -> Value {
        let url = format!("{}{path}?access_token={}", self.base, self.token);
        self.http
            .post(url)
            .json(&body)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }
}

fn fast() -> Options {
    Options {
        qps: 100_000,
        ..Options::default()
    }
}

const ALICE: &str = "union-alice";
const BOB: &str = "union-bob";

fn todo(subject: &str) -> Value {
    json!({ "subject": subject, "creatorId": ALICE, "executorIds": [BOB],
            "detailUrl": { "appUrl": "https://oa.example.com/t", "pcUrl": "https://oa.example.com/t" } })
}

#[tokio::test]
async fn dingtalk_sim_todos_with_their_limits_and_codes() {
    let sim = DingTalkSim::start(fast()).await.unwrap();
    let client = Client::new(&sim).await;
    let create = format!("/v1.0/todo/users/{ALICE}/tasks?operatorId={ALICE}");

    let (status, created) = client.post(&create, todo("Prepare the Q4 plan")).await;
    assert_eq!(status, 200, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    assert_eq!(
        (created["done"].clone(), created["executorIds"][0].clone()),
        (json!(false), json!(BOB))
    );
    assert_eq!(sim.state().todos[&id].creator, ALICE);

    // DingTalk's refusals: 400 with todo.taskCreate.paramError and a message naming the parameter.
    let long = "x".repeat(1025);
    for (body, message) in [
        (
            json!({ "subject": long, "detailUrl": { "pcUrl": "https://a" } }),
            "subject is oversize",
        ),
        (json!({ "subject": "no link" }), "detailUrl is required"),
        (
            json!({ "subject": "t", "dueTime": -1, "detailUrl": { "pcUrl": "https://a" } }),
            "dueTime is invalid",
        ),
        (
            json!({ "subject": "t", "executorIds": ["union-ghost"], "detailUrl": { "pcUrl": "https://a" } }),
            "user not exist: union-ghost",
        ),
    ] {
        let (status, body) = client.post(&create, body).await;
        assert_eq!(
            (status, body["code"].as_str()),
            (400, Some("todo.taskCreate.paramError")),
            "{body}"
        );
        assert_eq!(body["message"], message);
    }
    let many: Vec<String> = (0..1001).map(|_| BOB.to_string()).collect();
    let (_, body) = client
        .post(
            &create,
            json!({ "subject": "t", "executorIds": many, "detailUrl": { "pcUrl": "https://a" } }),
        )
        .await;
    assert_eq!(body["message"], "executors is oversize");

    // A repeated sourceId is refused with the first to-do's id in the message; it is found by its sourceId.
    let mut first = todo("Once");
    first["sourceId"] = json!("qiao-key-1");
    let (_, once) = client.post(&create, first.clone()).await;
    let (status, again) = client.post(&create, first).await;
    assert_eq!(status, 400);
    let message = again["message"].as_str().unwrap();
    assert!(
        message.contains("task existed") && message.ends_with(once["id"].as_str().unwrap()),
        "{message}"
    );
    let (status, found) = client
        .api(
            reqwest::Method::GET,
            &format!("/v1.0/todo/users/{ALICE}/tasks/sources/qiao-key-1"),
            None,
        )
        .await;
    assert_eq!((status, found["id"].clone()), (200, once["id"].clone()));

    // Update as the creator; an executor may only complete; a missing to-do is "task not exist".
    let task = format!("/v1.0/todo/users/{ALICE}/tasks/{id}?operatorId={ALICE}");
    let (status, answer) = client
        .api(
            reqwest::Method::PUT,
            &task,
            Some(json!({ "subject": "Q4 plan", "done": true })),
        )
        .await;
    assert_eq!((status, answer), (200, json!({ "result": true })));
    let as_bob = format!("/v1.0/todo/users/{BOB}/tasks/{id}?operatorId={BOB}");
    let (status, body) = client
        .api(
            reqwest::Method::PUT,
            &as_bob,
            Some(json!({ "subject": "mine" })),
        )
        .await;
    assert_eq!(status, 400, "{body}");
    let (status, _) = client
        .api(
            reqwest::Method::PUT,
            &as_bob,
            Some(json!({ "done": false })),
        )
        .await;
    assert_eq!(status, 200);
    let missing = format!("/v1.0/todo/users/{ALICE}/tasks/nope?operatorId={ALICE}");
    let (status, body) = client
        .api(
            reqwest::Method::PUT,
            &missing,
            Some(json!({ "done": true })),
        )
        .await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("task not exist"))
    );
    let (_, read) = client
        .api(
            reqwest::Method::GET,
            &format!("/v1.0/todo/users/{ALICE}/tasks/{id}"),
            None,
        )
        .await;
    assert_eq!(
        (read["subject"].as_str(), read["done"].as_bool()),
        (Some("Q4 plan"), Some(false))
    );

    // The query pages by nextToken, filters by role and done.
    sim.state().todo_page_size = 2;
    let query = format!("/v1.0/todo/users/{BOB}/org/tasks/query");
    let (mut token, mut seen) = (Value::Null, 0);
    loop {
        let (status, page) = client
            .post(
                &query,
                json!({ "roleTypes": [["executor"]], "isDone": false, "nextToken": token }),
            )
            .await;
        assert_eq!(status, 200, "{page}");
        seen += page["todoCards"].as_array().unwrap().len();
        assert!(
            page["todoCards"][0]["executorIds"].is_null(),
            "cards carry no people"
        );
        match page.get("nextToken") {
            Some(next) => token = next.clone(),
            None => break,
        }
    }
    assert_eq!(seen, 2, "the two to-dos bob executes");
    let (_, page) = client
        .post(&query, json!({ "roleTypes": [["creator"]] }))
        .await;
    assert_eq!(page["todoCards"], json!([]), "bob created none");
    let (status, body) = client.post(&query, json!({ "nextToken": "bogus" })).await;
    assert_eq!(
        (status, body["message"].as_str()),
        (400, Some("nextToken is invalid"))
    );

    // Faults apply here as everywhere.
    sim.inject("/v1.0/todo/", Fault::Busy, 1);
    let (status, body) = client.post(&create, todo("busy")).await;
    assert_eq!((status, body["code"].as_str()), (503, Some("SystemBusy")));
}

#[tokio::test]
async fn dingtalk_sim_scene_groups_and_robot_messages() {
    let sim = DingTalkSim::start(fast()).await.unwrap();
    let client = Client::new(&sim).await;
    let create = |uuid: &str| {
        json!({ "title": "Q4 launch", "template_id": SCENE_GROUP_TEMPLATE_ID, "owner_user_id": "manager1",
                "user_ids": ["alice"], "uuid": uuid })
    };
    let (status, created) = client
        .post("/v1.0/im/sceneGroup/create", create("u-1"))
        .await;
    assert_eq!(status, 200, "{created}");
    let cid = created["open_conversation_id"]
        .as_str()
        .unwrap()
        .to_string();
    let (_, again) = client
        .post("/v1.0/im/sceneGroup/create", create("u-1"))
        .await;
    assert_eq!(
        again["open_conversation_id"],
        cid.as_str(),
        "the same uuid, the same group"
    );
    assert_eq!(sim.state().scene_groups.len(), 1);

    let mut bad = create("u-2");
    bad["template_id"] = json!("other");
    let (status, body) = client.post("/v1.0/im/sceneGroup/create", bad).await;
    assert_eq!(
        (status, body["code"].as_str()),
        (400, Some("groupTemplate.notFound"))
    );
    let mut bad = create("u-3");
    bad["title"] = json!("x".repeat(31));
    let (_, body) = client.post("/v1.0/im/sceneGroup/create", bad).await;
    assert_eq!(body["code"], "parameter.invalid");
    let mut bad = create("u-4");
    bad["user_ids"] = json!(["ghost"]);
    let (_, body) = client.post("/v1.0/im/sceneGroup/create", bad).await;
    assert_eq!(body["code"], "member.notFound");

    let members = json!({ "open_conversation_id": cid, "user_ids": ["bob"] });
    let (status, _) = client
        .post("/v1.0/im/sceneGroup/member/add", members.clone())
        .await;
    assert_eq!(status, 200);
    let (_, listed) = client
        .post(
            "/v1.0/im/sceneGroups/members/batchQuery",
            json!({ "openConversationId": cid, "maxResults": 100 }),
        )
        .await;
    assert_eq!(
        listed["memberUserIds"],
        json!(["alice", "bob", "manager1"]),
        "{listed}"
    );
    let (status, _) = client
        .post("/v1.0/im/sceneGroup/member/delete", members)
        .await;
    assert_eq!(status, 200);
    let (_, body) = client
        .post(
            "/v1.0/im/sceneGroup/member/delete",
            json!({ "open_conversation_id": cid, "user_ids": ["manager1"] }),
        )
        .await;
    assert_eq!(body["code"], "parameter.invalid", "the owner stays");

    let got = client
        .oapi(
            "/topapi/im/chat/scenegroup/get",
            json!({ "open_conversation_id": cid }),
        )
        .await;
    assert_eq!(
        (
            got["errcode"].clone(),
            got["result"]["owner_staff_id"].clone()
        ),
        (json!(0), json!("manager1"))
    );
    let unknown = client
        .oapi(
            "/topapi/im/chat/scenegroup/get",
            json!({ "open_conversation_id": "cidNope" }),
        )
        .await;
    assert_eq!(unknown["errcode"], 400001);

    // The template robot's message, with its @ list; its codes.
    let send = |params: Value, at: &str| {
        json!({ "target_open_conversation_id": cid, "robot_code": SCENE_ROBOT_CODE,
                "msg_template_id": "inner_app_template_text", "msg_param_map": params.to_string(), "at_users": at })
    };
    let sent = client
        .oapi(
            "/topapi/im/chat/scencegroup/message/send_v2",
            send(json!({ "content": "hi @alice" }), "alice"),
        )
        .await;
    assert_eq!(sent["errcode"], 0, "{sent}");
    {
        let state = sim.state();
        let message = state.group_messages.last().unwrap();
        assert_eq!(
            (message.text(), message.at_users.clone()),
            ("hi @alice".to_string(), vec!["alice".to_string()])
        );
    }
    let at: Vec<String> = (0..51).map(|i| format!("u{i}")).collect();
    let too_many = client
        .oapi(
            "/topapi/im/chat/scencegroup/message/send_v2",
            send(json!({ "content": "x" }), &at.join(",")),
        )
        .await;
    assert_eq!(too_many["errcode"], 40035);
    let mut no_robot = send(json!({ "content": "x" }), "");
    no_robot["robot_code"] = json!("other");
    let answer = client
        .oapi("/topapi/im/chat/scencegroup/message/send_v2", no_robot)
        .await;
    assert_eq!(answer["errcode"], 660014);
    let answer = client
        .oapi(
            "/topapi/im/chat/scencegroup/message/send_v2",
            send(json!({ "text": "wrong key" }), ""),
        )
        .await;
    assert_eq!(answer["errcode"], 660025);
}
