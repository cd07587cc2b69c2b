//! One enterprise, three platforms: a group chat started from the OA with the enterprise's own person ids
//! (`owner_person`, `people`) on DingTalk, WeCom and Feishu at once, each turned into that platform's accounts
//! through the directory's links; then a message into each chat @-mentioning two people by their enterprise ids,
//! rendered in each platform's own syntax (DingTalk `at_users` + `@userid`, WeCom `<@userid>`, Feishu `<at>`).

use qiao_tests::TestServer;
use qiao_tests::dingtalk_sim::{self, DingTalkSim, SCENE_GROUP_TEMPLATE_ID, SCENE_ROBOT_CODE};
use qiao_tests::feishu_sim::{self, FeishuSim};
use qiao_tests::wecom_sim::{self, WeComSim};
use serde_json::{Value, json};

#[tokio::test]
async fn a_chat_from_the_oa_on_three_platforms_mentions_people_in_each_syntax() {
    let dt = DingTalkSim::start(dingtalk_sim::Options::default()).await.unwrap();
    let wc = WeComSim::start(wecom_sim::Options::default()).await.unwrap();
    let fs = FeishuSim::start(feishu_sim::Options::default()).await.unwrap();
    let f = &fs.options;
    let dt_settings = format!(
        "scene_group_template_id = \"{SCENE_GROUP_TEMPLATE_ID}\", scene_group_robot_code = \"{SCENE_ROBOT_CODE}\""
    );
    let config = format!(
        r#"{}{}
        [connections.fs]
        connector = "feishu"
        settings = {{ app_id = "{}", api_base = "{}", user_id_type = "user_id" }}
        secrets = {{ app_secret = "{}", verification_token = "{}", encrypt_key = "{}" }}
        "#,
        dt.connection_with("dt", &dt_settings, ""),
        wc.connection("wc", ""),
        f.app_id,
        fs.base,
        f.app_secret,
        f.verification_token,
        f.encrypt_key,
    );
    let qiao = TestServer::start(&["dingtalk", "wecom", "feishu"], &config).await.unwrap();

    // The OA's people: Ann and Bob have an account on every platform (alice, bob), Cy on none.
    let directory = json!({
        "departments": [{ "id": "hq", "name": "HQ" }],
        "people": [
            { "id": "p-ann", "name": "Ann", "department_ids": ["hq"] },
            { "id": "p-bob", "name": "Bob", "department_ids": ["hq"] },
            { "id": "p-cy", "name": "Cy", "department_ids": ["hq"] }
        ]
    });
    let (status, body) = qiao.request(reqwest::Method::PUT, "/v1/directory", Some(directory)).await;
    assert_eq!(status, 200, "{body}");
    let db = qiao.db();
    for connection in ["dt", "wc", "fs"] {
        for (person, user) in [("p-ann", "alice"), ("p-bob", "bob")] {
            db.set_link(connection.into(), qiao_store::LinkKind::Person, person.into(), user.into(), None)
                .await
                .unwrap();
        }
    }

    let mut chats = Vec::new();
    for connection in ["dt", "wc", "fs"] {
        let (status, chat) = qiao
            .post(
                &format!("/v1/connections/{connection}/chats"),
                json!({ "name": "618 launch", "owner_person": "p-ann", "people": ["p-ann", "p-bob", "p-cy"],
                        "idempotency_key": "launch-618" }),
            )
            .await;
        assert!(status == 200 || status == 201, "{connection}: {status} {chat}");
        assert_eq!(chat["owner"], "alice", "{connection}: {chat}");
        let mut members: Vec<&str> = chat["members"].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        members.sort_unstable();
        assert_eq!(members, ["alice", "bob"], "{connection}: {chat}");
        assert_eq!(
            chat["unresolved"],
            json!([{ "id": "p-cy", "kind": "person", "reason": "no_account" }]),
            "{connection}: {chat}"
        );
        chats.push((connection, chat["id"].as_str().unwrap().to_string()));
    }

    for (connection, chat) in &chats {
        // WeCom renders mentions in markdown only; the others in text too.
        let content = if *connection == "wc" {
            json!({ "markdown": { "title": "Go/no-go", "text": "Launch at 10:00" } })
        } else {
            json!({ "text": "Launch at 10:00" })
        };
        let mut body = json!({ "to": { "chats": [chat] }, "mentions": { "people": ["p-ann", "p-bob"] } });
        body.as_object_mut().unwrap().extend(content.as_object().unwrap().clone());
        let (status, sent) = qiao.post(&format!("/v1/connections/{connection}/messages"), body).await;
        assert_eq!(status, 200, "{connection}: {sent}");
        assert_eq!((&sent["problems"], &sent["unresolved"]), (&json!([]), &json!([])), "{connection}: {sent}");
    }

    let group = dt.state().group_messages.last().cloned().expect("a DingTalk group message");
    assert_eq!(group.at_users, ["alice", "bob"]);
    assert_eq!(group.text(), "Launch at 10:00 @alice @bob");

    let (_, markdown) = wc.state().chat_messages.last().cloned().expect("a WeCom chat message");
    assert_eq!(markdown["markdown"]["content"], "### Go/no-go\nLaunch at 10:00\n<@alice> <@bob>");

    let message = fs.state().messages.last().cloned().expect("a Feishu message");
    let text: Value = serde_json::from_str(message.content.as_str().unwrap()).unwrap();
    let text = text["text"].as_str().unwrap();
    assert!(
        text.contains(r#"<at user_id="alice"></at>"#) && text.contains(r#"<at user_id="bob"></at>"#),
        "Feishu's <at>: {text}"
    );
}
