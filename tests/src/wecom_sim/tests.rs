//! The simulator against plain HTTP calls, and its callbacks against a small receiver that checks them with
//! `MsgCrypt` the way a WeCom app's server must.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Query, State as Extract};
use serde_json::{Value, json};

use super::{Fault, Options, WeComSim};
use crate::msg_crypt::MsgCrypt;

struct Client {
    base: String,
    http: reqwest::Client,
}

impl Client {
    fn new(sim: &WeComSim) -> Client {
        Client {
            base: format!("{}/cgi-bin", sim.base),
            http: reqwest::Client::new(),
        }
    }

    async fn get(&self, path_and_query: &str) -> Value {
        let response = self.http.get(format!("{}/{path_and_query}", self.base));
        response.send().await.unwrap().json().await.unwrap()
    }

    async fn post(&self, path: &str, token: &str, body: Value) -> Value {
        let url = format!("{}/{path}?access_token={token}", self.base);
        let response = self.http.post(url).json(&body).send().await.unwrap();
        response.json().await.unwrap()
    }

    async fn token(&self, options: &Options) -> String {
        let answer = self
            .get(&format!(
                "gettoken?corpid={}&corpsecret={}",
                options.corp_id, options.corp_secret
            ))
            .await;
        assert_eq!(answer["errcode"], 0, "{answer}");
        assert_eq!(answer["expires_in"], 7200);
        answer["access_token"].as_str().unwrap().to_string()
    }
}

#[tokio::test]
async fn wecom_sim_tokens_users_and_messages() {
    let sim = WeComSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    assert_eq!(
        client.token(&sim.options).await,
        token,
        "same token while valid"
    );
    let wrong = client
        .get("gettoken?corpid=wwsimcorp0123456789&corpsecret=nope")
        .await;
    assert_eq!(wrong["errcode"], 40001);

    let alice = client
        .get(&format!("user/get?access_token={token}&userid=alice"))
        .await;
    assert_eq!(alice["errcode"], 0, "{alice}");
    assert_eq!(alice["name"], "Li Na");
    assert_eq!(alice["department"], json!([2]));
    assert_eq!(alice["direct_leader"], json!(["manager1"]));
    let bad = client
        .get("user/get?access_token=not-a-token&userid=alice")
        .await;
    assert_eq!(bad["errcode"], 40014);
    assert_eq!(bad["errmsg"], "invalid access_token");
    assert_eq!(client.get("user/get?userid=alice").await["errcode"], 41001);

    let text = json!({
        "touser": "alice|ghost", "msgtype": "text", "agentid": 1000002, "text": { "content": "hello" },
    });
    let sent = client.post("message/send", &token, text.clone()).await;
    assert_eq!(sent["errcode"], 0, "{sent}");
    assert_eq!(sent["invaliduser"], "ghost");
    assert_eq!(sim.state().messages.last().unwrap().users, vec!["alice"]);
    let nobody = json!({ "touser": "ghost", "msgtype": "text", "agentid": 1000002, "text": { "content": "x" } });
    let nobody = client.post("message/send", &token, nobody).await;
    assert_eq!(
        (nobody["errcode"].clone(), nobody["invaliduser"].clone()),
        (json!(81013), json!("ghost"))
    );
    let wrong_agent =
        json!({ "touser": "alice", "msgtype": "text", "agentid": 1, "text": { "content": "x" } });
    assert_eq!(
        client.post("message/send", &token, wrong_agent).await["errcode"],
        40056
    );

    let mut checked = text.clone();
    checked["enable_duplicate_check"] = json!(1);
    checked["duplicate_check_interval"] = json!(600);
    let first = client.post("message/send", &token, checked.clone()).await;
    let again = client.post("message/send", &token, checked).await;
    assert_eq!(again["errcode"], 0, "{again}");
    assert_eq!(first["msgid"], again["msgid"]);
    assert_ne!(first["msgid"], sent["msgid"]);
    assert_eq!(sim.state().messages.len(), 2);
    assert_eq!(sim.state().messages[1].duplicates, 1);

    let recall = client
        .post("message/recall", &token, json!({ "msgid": first["msgid"] }))
        .await;
    assert_eq!(recall["errcode"], 0);
    assert!(sim.state().messages[1].recalled);

    sim.inject("user/get", Fault::RateLimit, 1);
    let limited = client
        .get(&format!("user/get?access_token={token}&userid=bob"))
        .await;
    assert_eq!(limited["errcode"], 45009);
    sim.inject("user/get", Fault::RevokeToken, 1);
    let revoked = client
        .get(&format!("user/get?access_token={token}&userid=bob"))
        .await;
    assert_eq!(revoked["errcode"], 42001);
    assert_ne!(
        client.token(&sim.options).await,
        token,
        "a forgotten token is replaced"
    );
    assert_eq!(sim.count("user/get"), 5);
}

#[tokio::test]
async fn wecom_sim_directory_and_sso() {
    let sim = WeComSim::start(Options {
        legacy_userinfo_keys: true,
        ..Options::default()
    })
    .await
    .unwrap();
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    let created = client
        .post(
            "department/create",
            &token,
            json!({ "name": "Platform", "parentid": 2 }),
        )
        .await;
    assert_eq!(created["errcode"], 0, "{created}");
    let platform = created["id"].as_i64().unwrap();
    let clash = client
        .post(
            "department/create",
            &token,
            json!({ "name": "Platform", "parentid": 2 }),
        )
        .await;
    assert_eq!(clash["errcode"], 60008);
    let subtree = client
        .get(&format!("department/list?access_token={token}&id=2"))
        .await;
    let ids: Vec<i64> = subtree["department"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["id"].as_i64().unwrap())
        .collect();
    assert_eq!(ids, vec![2, platform]);

    let user = json!({ "userid": "carol", "name": "Carol", "mobile": "13800000004", "department": [platform] });
    assert_eq!(
        client.post("user/create", &token, user.clone()).await["errcode"],
        0
    );
    assert_eq!(
        client.post("user/create", &token, user).await["errcode"],
        60102
    );
    let deleting = client
        .get(&format!(
            "department/delete?access_token={token}&id={platform}"
        ))
        .await;
    assert_eq!(deleting["errcode"], 60005);

    // A department id chosen by the caller; fields emptied with empty values, but never both mobile and email.
    let chosen = client
        .post(
            "department/create",
            &token,
            json!({ "name": "Chosen", "parentid": 2, "id": 4242 }),
        )
        .await;
    assert_eq!(
        (chosen["errcode"].as_i64(), chosen["id"].as_i64()),
        (Some(0), Some(4242)),
        "{chosen}"
    );
    let emptied = json!({ "userid": "carol", "position": "", "direct_leader": [], "email": "" });
    assert_eq!(
        client.post("user/update", &token, emptied).await["errcode"],
        0
    );
    let nothing_left = json!({ "userid": "carol", "mobile": "" });
    assert_eq!(
        client.post("user/update", &token, nothing_left).await["errcode"],
        60129
    );
    assert_eq!(
        sim.state().users["carol"].mobile,
        "13800000004",
        "a refused update changes nothing"
    );

    let mut rows = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = client
            .post(
                "user/list_id",
                &token,
                json!({ "cursor": cursor, "limit": 3 }),
            )
            .await;
        rows.extend(page["dept_user"].as_array().unwrap().clone());
        cursor = page["next_cursor"].as_str().unwrap_or_default().to_string();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(rows.len(), 4);

    let code = sim.state().code_for("bob");
    let info = client
        .get(&format!(
            "auth/getuserinfo?access_token={token}&code={code}"
        ))
        .await;
    assert_eq!(info["UserId"], "bob", "{info}");
    let used = client
        .get(&format!(
            "auth/getuserinfo?access_token={token}&code={code}"
        ))
        .await;
    assert_eq!(used["errcode"], 40029);
    let detail = client
        .post(
            "auth/getuserdetail",
            &token,
            json!({ "user_ticket": info["user_ticket"] }),
        )
        .await;
    assert_eq!(detail["mobile"], "13800000003");
}

#[tokio::test]
async fn wecom_sim_tags() {
    let sim = WeComSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    let get = |path: String| {
        let client = &client;
        let token = &token;
        async move { client.get(&format!("{path}&access_token={token}")).await }
    };

    let created = client
        .post("tag/create", &token, json!({ "tagname": "Managers" }))
        .await;
    assert_eq!(
        (created["errcode"].clone(), created["errmsg"].clone()),
        (json!(0), json!("created")),
        "{created}"
    );
    let tag = created["tagid"].as_i64().unwrap();
    assert_eq!(tag, 2, "one more than the largest (the seeded tag 1)");
    let again = client
        .post("tag/create", &token, json!({ "tagname": "Managers" }))
        .await;
    assert_eq!(again["errcode"], 40071, "{again}");
    let long = client
        .post("tag/create", &token, json!({ "tagname": "x".repeat(33) }))
        .await;
    assert_eq!(long["errcode"], 40072);
    let chosen = client
        .post(
            "tag/create",
            &token,
            json!({ "tagname": "审批人", "tagid": 77 }),
        )
        .await;
    assert_eq!(chosen["tagid"], 77, "{chosen}");
    let taken = client
        .post(
            "tag/create",
            &token,
            json!({ "tagname": "Other", "tagid": 77 }),
        )
        .await;
    assert_eq!(taken["errcode"], 40068);
    let list = client.get(&format!("tag/list?access_token={token}")).await;
    assert_eq!(
        list["taglist"],
        json!([
            { "tagid": 1, "tagname": "项目组" },
            { "tagid": 2, "tagname": "Managers" },
            { "tagid": 77, "tagname": "审批人" },
        ])
    );

    let added = client
        .post(
            "tag/addtagusers",
            &token,
            json!({ "tagid": tag, "userlist": ["alice", "ghost", "bob", "alice"] }),
        )
        .await;
    assert_eq!(
        (added["errcode"].clone(), added["invalidlist"].clone()),
        (json!(0), json!("ghost")),
        "{added}"
    );
    assert_eq!(sim.tag_members(&tag.to_string()).unwrap(), ["alice", "bob"]);
    let none = client
        .post(
            "tag/addtagusers",
            &token,
            json!({ "tagid": tag, "userlist": ["ghost", "nobody"] }),
        )
        .await;
    assert_eq!(
        (none["errcode"].clone(), none["invalidlist"].clone()),
        (json!(40070), json!("ghost|nobody")),
        "{none}"
    );
    let many: Vec<String> = (0..1001).map(|i| format!("u{i}")).collect();
    let too_many = client
        .post(
            "tag/addtagusers",
            &token,
            json!({ "tagid": tag, "userlist": many }),
        )
        .await;
    assert_eq!(too_many["errcode"], 40032);
    let unknown = client
        .post(
            "tag/addtagusers",
            &token,
            json!({ "tagid": 999, "userlist": ["alice"] }),
        )
        .await;
    assert_eq!(unknown["errcode"], 40068);

    let got = get(format!("tag/get?tagid={tag}")).await;
    assert_eq!(got["errcode"], 0, "{got}");
    assert_eq!(got["tagname"], "Managers");
    assert_eq!(
        got["userlist"],
        json!([{ "userid": "alice", "name": "Li Na" }, { "userid": "bob", "name": "Zhang Wei" }])
    );
    assert_eq!(got["partylist"], json!([]));
    assert_eq!(get("tag/get?tagid=999".into()).await["errcode"], 40068);
    assert_eq!(get("tag/get?tagid=abc".into()).await["errcode"], 40068);

    let removed = client
        .post(
            "tag/deltagusers",
            &token,
            json!({ "tagid": tag, "userlist": ["alice", "manager1"] }),
        )
        .await;
    assert_eq!(
        (removed["errcode"].clone(), removed["errmsg"].clone()),
        (json!(0), json!("deleted")),
        "removing one the tag has not is no error: {removed}"
    );
    assert!(removed.get("invalidlist").is_none(), "{removed}");
    assert_eq!(sim.tag_members(&tag.to_string()).unwrap(), ["bob"]);

    // A deleted member leaves its tags; a tag of departments reaches their members.
    assert_eq!(get("user/delete?userid=bob".into()).await["errcode"], 0);
    assert_eq!(
        sim.tag_members(&tag.to_string()).unwrap(),
        Vec::<String>::new()
    );
    let party = client
        .post(
            "tag/addtagusers",
            &token,
            json!({ "tagid": tag, "partylist": [2, 404] }),
        )
        .await;
    assert_eq!(party["invalidparty"], json!([404]), "{party}");
    let sent = client
        .post(
            "message/send",
            &token,
            json!({ "totag": tag.to_string(), "msgtype": "text", "agentid": 1000002, "text": { "content": "hi" } }),
        )
        .await;
    assert_eq!(sent["errcode"], 0, "{sent}");
    assert_eq!(
        sim.state().messages.last().unwrap().users,
        ["alice", "manager1"]
    );
    let deleted = get(format!("tag/delete?tagid={tag}")).await;
    assert_eq!(deleted["errcode"], 0);
    assert_eq!(sim.tag_members(&tag.to_string()), None);
}

#[tokio::test]
async fn wecom_sim_enable_and_custom_fields() {
    let sim = WeComSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    let user = |id: &str| {
        let (client, token, id) = (&client, &token, id.to_string());
        async move {
            client
                .get(&format!("user/get?access_token={token}&userid={id}"))
                .await
        }
    };
    assert_eq!(
        (
            user("bob").await["enable"].clone(),
            user("bob").await["status"].clone()
        ),
        (json!(1), json!(1))
    );
    let off = client
        .post(
            "user/update",
            &token,
            json!({ "userid": "bob", "enable": 0 }),
        )
        .await;
    assert_eq!(off["errcode"], 0, "{off}");
    let bob = user("bob").await;
    assert_eq!(
        (bob["enable"].clone(), bob["status"].clone()),
        (json!(0), json!(2))
    );
    assert_eq!(sim.user_enabled("bob"), Some(false));
    let listed = client
        .get(&format!("user/list?access_token={token}&department_id=3"))
        .await;
    assert_eq!(listed["userlist"][0]["enable"], 0, "{listed}");
    assert_eq!(listed["userlist"][0]["status"], 2);
    client
        .post(
            "user/update",
            &token,
            json!({ "userid": "bob", "enable": 1 }),
        )
        .await;
    assert_eq!(user("bob").await["status"], 1);
    assert_eq!(sim.user_enabled("bob"), Some(true));
    assert_eq!(sim.user_enabled("ghost"), None);
    // Invited, not joined yet: enabling leaves it so.
    sim.state().users.get_mut("alice").unwrap().status = 4;
    client
        .post(
            "user/update",
            &token,
            json!({ "userid": "alice", "enable": 1 }),
        )
        .await;
    assert_eq!(
        (
            user("alice").await["status"].clone(),
            user("alice").await["enable"].clone()
        ),
        (json!(4), json!(1))
    );
    let bad = client
        .post(
            "user/update",
            &token,
            json!({ "userid": "alice", "enable": 3 }),
        )
        .await;
    assert_eq!(bad["errcode"], 40058);

    // Custom fields: only those defined in the admin console are kept, text cut at 32 characters.
    let attrs = json!({ "attrs": [
        { "type": 0, "name": "工号", "text": { "value": "E-0042" } },
        { "type": 0, "name": "爱好", "text": { "value": "旅游" } },
    ] });
    let set = client
        .post(
            "user/update",
            &token,
            json!({ "userid": "bob", "extattr": attrs }),
        )
        .await;
    assert_eq!(set["errcode"], 0, "{set}");
    assert_eq!(
        user("bob").await["extattr"],
        json!({ "attrs": [{ "type": 0, "name": "工号", "value": "E-0042", "text": { "value": "E-0042" } }] })
    );
    client
        .post(
            "user/update",
            &token,
            json!({ "userid": "bob", "position": "Sales", "extattr": { "attrs": [{ "name": "工号", "value": "9".repeat(40) }] } }),
        )
        .await;
    assert_eq!(
        sim.user("bob").unwrap().attr("工号"),
        Some("9".repeat(32).as_str())
    );
    client
        .post(
            "user/update",
            &token,
            json!({ "userid": "bob", "name": "Zhang Wei 2" }),
        )
        .await;
    assert_eq!(
        sim.user("bob").unwrap().attr("工号"),
        Some("9".repeat(32).as_str()),
        "fields not named are kept"
    );
}

/// 2,000 members in 200 departments: made, listed and paged through WeCom's API in reasonable time.
#[tokio::test]
async fn wecom_sim_directory_at_scale() {
    let sim = WeComSim::start(Options {
        qps: 1_000_000,
        ..Options::default()
    })
    .await
    .unwrap();
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    let started = std::time::Instant::now();
    // 20 departments under the root, 4 under each, 5 under each one's first: depth 3.
    let mut depts = Vec::new();
    for i in 0..20 {
        let top = client
            .post(
                "department/create",
                &token,
                json!({ "name": format!("D{i}"), "parentid": 1, "order": i }),
            )
            .await;
        let top = top["id"].as_i64().unwrap();
        depts.push(top);
        let mut first = top;
        for j in 0..9 {
            let below = if j < 4 { top } else { first };
            let made = client
                .post(
                    "department/create",
                    &token,
                    json!({ "name": format!("D{i}-{j}"), "parentid": below }),
                )
                .await;
            assert_eq!(made["errcode"], 0, "{made}");
            depts.push(made["id"].as_i64().unwrap());
            if j == 0 {
                first = *depts.last().unwrap();
            }
        }
    }
    assert_eq!(depts.len(), 200);
    for n in 0..2000 {
        let dept = depts[n % depts.len()];
        let made = client
            .post(
                "user/create",
                &token,
                json!({ "userid": format!("u{n:04}"), "name": format!("User {n}"),
                        "mobile": format!("139{n:08}"), "department": [dept] }),
            )
            .await;
        assert_eq!(made["errcode"], 0, "{made}");
    }
    let made = started.elapsed();

    let started = std::time::Instant::now();
    let all = client
        .get(&format!("department/list?access_token={token}&id=1"))
        .await;
    assert_eq!(all["department"].as_array().unwrap().len(), 203);
    let mut seen = 0;
    for dept in &depts {
        let page = client
            .get(&format!(
                "user/list?access_token={token}&department_id={dept}"
            ))
            .await;
        let users = page["userlist"].as_array().unwrap();
        assert_eq!(users.len(), 10, "{dept}");
        assert!(users.iter().all(|u| u["department"] == json!([dept])));
        seen += users.len();
    }
    assert_eq!(seen, 2000);
    let mut rows = 0;
    let mut cursor = String::new();
    loop {
        let page = client
            .post(
                "user/list_id",
                &token,
                json!({ "cursor": cursor, "limit": 300 }),
            )
            .await;
        rows += page["dept_user"].as_array().unwrap().len();
        cursor = page["next_cursor"].as_str().unwrap().to_string();
        if cursor.is_empty() {
            break;
        }
    }
    assert_eq!(rows, 2003, "2,000 plus the three seeded members");
    let read = started.elapsed();
    assert!(
        made < Duration::from_secs(30) && read < Duration::from_secs(10),
        "made in {made:?}, read in {read:?}"
    );
}

/// What the receiver saw: decrypted pushes and URL checks.
#[derive(Default)]
struct Received {
    events: Vec<String>,
}

type Receiver = Arc<Mutex<Received>>;

async fn start_receiver(options: &Options) -> (String, Receiver) {
    let received: Receiver = Arc::default();
    let crypt = Arc::new(
        MsgCrypt::new(
            &options.callback_token,
            &options.callback_aes_key,
            &options.corp_id,
        )
        .unwrap(),
    );
    let (get_crypt, post_crypt) = (crypt.clone(), crypt);
    let app = axum::Router::new()
        .route(
            "/hook",
            axum::routing::get(move |Query(q): Query<HashMap<String, String>>| async move {
                let echostr = &q["echostr"];
                assert_eq!(
                    get_crypt.signature(&q["timestamp"], &q["nonce"], echostr),
                    q["msg_signature"]
                );
                get_crypt.decrypt(echostr).unwrap()
            })
            .post(
                move |Extract(received): Extract<Receiver>,
                      Query(q): Query<HashMap<String, String>>,
                      body: String| async move {
                    let encrypt = body
                        .split("<Encrypt><![CDATA[")
                        .nth(1)
                        .and_then(|rest| rest.split("]]>").next())
                        .unwrap();
                    assert_eq!(
                        post_crypt.signature(&q["timestamp"], &q["nonce"], encrypt),
                        q["msg_signature"]
                    );
                    received
                        .lock()
                        .unwrap()
                        .events
                        .push(post_crypt.decrypt(encrypt).unwrap());
                    "success"
                },
            ),
        )
        .with_state(received.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.ok() });
    (url, received)
}

#[tokio::test]
async fn wecom_sim_approvals_push_callbacks() {
    let sim = WeComSim::start(Options::default()).await.unwrap();
    let (url, received) = start_receiver(&sim.options).await;
    let (status, body, echo) = sim.verify_url(&url).await.unwrap();
    assert_eq!((status, body), (200, echo));
    sim.set_callback_url(&url);
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;

    let mut apply = json!({
        "creator_userid": "alice", "template_id": "tpl-leave", "use_template_approver": 1,
        "apply_data": { "contents": [
            { "control": "Text", "id": "Text-1", "value": { "text": "family" } },
            { "control": "Number", "id": "Number-1", "value": { "new_number": "2" } },
        ]},
        "summary_list": [{ "summary_info": [{ "text": "Leave: 2 days", "lang": "zh_CN" }] }],
    });
    let created = client.post("oa/applyevent", &token, apply.clone()).await;
    assert_eq!(created["errcode"], 0, "{created}");
    let sp_no = created["sp_no"].as_str().unwrap().to_string();
    apply["apply_data"]["contents"][1]["value"]["new_number"] = json!("");
    assert_eq!(
        client.post("oa/applyevent", &token, apply).await["errcode"],
        301025
    );

    sim.advance(&sp_no, true).unwrap();
    assert!(sim.advance(&sp_no, true).is_err(), "already approved");
    for _ in 0..100 {
        if sim.pushed().len() == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let pushed = sim.pushed();
    assert_eq!(pushed.len(), 2);
    assert!(pushed.iter().all(|(_, ok)| *ok));
    assert!(
        pushed[0]
            .0
            .contains("<StatuChangeEvent>1</StatuChangeEvent>")
    );
    assert!(pushed[1].0.contains("<SpStatus>2</SpStatus>"));
    assert!(
        pushed[1]
            .0
            .contains("<StatuChangeEvent>2</StatuChangeEvent>")
    );
    assert!(pushed[1].0.contains(&format!("<SpNo>{sp_no}</SpNo>")));
    assert_eq!(
        received.lock().unwrap().events,
        vec![pushed[0].0.clone(), pushed[1].0.clone()]
    );

    let detail = client
        .post("oa/getapprovaldetail", &token, json!({ "sp_no": sp_no }))
        .await;
    assert_eq!(detail["info"]["sp_status"], 2, "{detail}");
    assert_eq!(
        detail["info"]["sp_record"][0]["details"][0]["approver"]["userid"],
        "manager1"
    );
    let now = super::state::now_secs();
    let list = client
        .post(
            "oa/getapprovalinfo",
            &token,
            json!({ "starttime": (now - 60).to_string(), "endtime": (now + 60).to_string(), "new_cursor": "", "size": 100 }),
        )
        .await;
    assert_eq!(list["sp_no_list"], json!([sp_no]));
    assert!(list.get("new_next_cursor").is_none());

    let contact = sim.state().contact_xml("update_user", "alice");
    let (status, _) = sim
        .deliver(&url, &sim.signed_callback(&contact))
        .await
        .unwrap();
    assert_eq!(status, 200);
    assert!(
        received.lock().unwrap().events[2]
            .contains("<ChangeType><![CDATA[update_user]]></ChangeType>")
    );
}

#[tokio::test]
async fn wecom_sim_app_chats() {
    let sim = WeComSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    let get = |chatid: &str| {
        let url = format!("appchat/get?access_token={token}&chatid={chatid}");
        let client = &client;
        async move { client.get(&url).await }
    };

    let made = client
        .post(
            "appchat/create",
            &token,
            json!({ "name": "Launch", "owner": "alice", "userlist": ["alice", "bob"], "chatid": "launch1" }),
        )
        .await;
    assert_eq!(
        (made["errcode"].as_i64(), made["chatid"].as_str()),
        (Some(0), Some("launch1")),
        "{made}"
    );
    let info = get("launch1").await;
    assert_eq!(
        info["chat_info"],
        json!({ "chatid": "launch1", "name": "Launch", "owner": "alice", "userlist": ["alice", "bob"] })
    );
    // Without a chatid WeCom makes one; without an owner it picks a member; a long name is cut to 50.
    let made = client
        .post(
            "appchat/create",
            &token,
            json!({ "name": "x".repeat(60), "userlist": ["bob", "manager1"] }),
        )
        .await;
    let id = made["chatid"].as_str().unwrap().to_string();
    assert!(
        id.len() <= 32 && id.chars().all(|c| c.is_ascii_alphanumeric()),
        "{made}"
    );
    let chat = sim.chat(&id).unwrap();
    assert_eq!(
        (chat.name.chars().count(), chat.owner.as_str()),
        (50, "bob")
    );

    // WeCom's refusals, each with its code.
    for (body, code) in [
        (
            json!({ "name": "L", "userlist": ["alice", "bob"], "chatid": "launch1" }),
            86215,
        ),
        (
            json!({ "name": "L", "userlist": ["alice", "bob"], "chatid": "no-dash" }),
            86001,
        ),
        (
            json!({ "name": "L", "userlist": ["alice", "bob"], "chatid": "x".repeat(33) }),
            86205,
        ),
        (json!({ "name": "L", "userlist": ["alice"] }), 86006),
        (json!({ "name": "L", "userlist": [] }), 86204),
        (json!({ "name": "", "userlist": ["alice", "bob"] }), 86202),
        (
            json!({ "name": "L", "userlist": ["alice", "ghost"] }),
            86216,
        ),
        (
            json!({ "name": "L", "owner": "manager1", "userlist": ["alice", "bob"] }),
            86207,
        ),
        (
            json!({ "name": "L", "owner": "ghost", "userlist": ["alice", "bob"] }),
            86005,
        ),
    ] {
        let answer = client.post("appchat/create", &token, body.clone()).await;
        assert_eq!(answer["errcode"], code, "{body}: {answer}");
    }
    let many: Vec<String> = (0..2001).map(|n| format!("u{n}")).collect();
    let answer = client
        .post(
            "appchat/create",
            &token,
            json!({ "name": "L", "userlist": many }),
        )
        .await;
    assert_eq!(answer["errcode"], 86006, "over 2000 members");

    // Members: added (one already in is ignored), removed (one not in is ignored); the owner stays.
    let update = |body: Value| client.post("appchat/update", &token, body);
    let answer = update(json!({ "chatid": "launch1", "add_user_list": ["manager1", "bob"] })).await;
    assert_eq!(answer["errcode"], 0, "{answer}");
    assert_eq!(
        sim.chat("launch1").unwrap().userlist,
        ["alice", "bob", "manager1"]
    );
    let answer = update(json!({ "chatid": "launch1", "del_user_list": ["bob", "nobody"] })).await;
    assert_eq!(answer["errcode"], 0, "{answer}");
    assert_eq!(sim.chat("launch1").unwrap().userlist, ["alice", "manager1"]);
    for (body, code) in [
        (
            json!({ "chatid": "launch1", "del_user_list": ["alice"] }),
            86207,
        ),
        (
            json!({ "chatid": "launch1", "del_user_list": ["manager1"] }),
            86006,
        ),
        (
            json!({ "chatid": "launch1", "add_user_list": ["ghost"] }),
            86216,
        ),
        (
            json!({ "chatid": "nochat", "add_user_list": ["bob"] }),
            86003,
        ),
        (json!({ "add_user_list": ["bob"] }), 86201),
    ] {
        let answer = update(body.clone()).await;
        assert_eq!(answer["errcode"], code, "{body}: {answer}");
    }
    assert_eq!(
        sim.chat("launch1").unwrap().userlist,
        ["alice", "manager1"],
        "refused changes change nothing"
    );
    let answer = update(json!({ "chatid": "launch1", "owner": "manager1", "del_user_list": ["alice"], "add_user_list": ["bob"] })).await;
    assert_eq!(
        answer["errcode"], 0,
        "a new owner, then the old one can go: {answer}"
    );
    assert_eq!(sim.chat("launch1").unwrap().owner, "manager1");

    // Another app's chat is out of reach; an unknown one does not exist.
    sim.state().chats.get_mut("launch1").unwrap().by_app = false;
    assert_eq!(get("launch1").await["errcode"], 86008);
    assert_eq!(get("nochat").await["errcode"], 86003);
    sim.state().chats.get_mut("launch1").unwrap().by_app = true;

    // Sending: WeCom's chat message types, no msgid, no template cards.
    let send = |body: Value| client.post("appchat/send", &token, body);
    let answer = send(json!({ "chatid": "launch1", "msgtype": "markdown", "markdown": { "content": "hi <@bob>" } })).await;
    assert_eq!(answer["errcode"], 0, "{answer}");
    assert!(answer.get("msgid").is_none(), "{answer}");
    assert_eq!(
        sim.state().chat_messages.last().unwrap().1["markdown"]["content"],
        "hi <@bob>"
    );
    let answer = send(json!({ "chatid": "launch1", "msgtype": "template_card", "template_card": { "card_type": "text_notice" } })).await;
    assert_eq!(answer["errcode"], 40008, "{answer}");
    let answer =
        send(json!({ "chatid": "nochat", "msgtype": "text", "text": { "content": "x" } })).await;
    assert_eq!(answer["errcode"], 86003, "{answer}");

    // 1000 creates a day per enterprise; faults as everywhere.
    sim.state().chat_daily_limit = 3;
    let answer = client
        .post(
            "appchat/create",
            &token,
            json!({ "name": "L", "userlist": ["alice", "bob"] }),
        )
        .await;
    assert_eq!(answer["errcode"], 45009, "{answer}");
    sim.inject("appchat/get", Fault::Busy, 1);
    assert_eq!(get("launch1").await["errcode"], -1);
    assert_eq!(get("launch1").await["errcode"], 0);
}

#[tokio::test]
async fn wecom_sim_todos() {
    let sim = WeComSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let token = client.token(&sim.options).await;
    let id = sim.state().create_todo(
        "manager1",
        "Quarterly review",
        &["alice", "bob"],
        1_900_000_000,
        true,
    );
    let foreign = sim
        .state()
        .create_todo("bob", "Someone else's", &["bob"], 0, false);

    let todo = client
        .post("todo/get", &token, json!({ "todo_id": id }))
        .await;
    assert_eq!(todo["errcode"], 0, "{todo}");
    assert_eq!(
        (
            &todo["content"],
            &todo["creator"],
            &todo["status"],
            &todo["end_time"]
        ),
        (
            &json!("Quarterly review"),
            &json!("manager1"),
            &json!(1),
            &json!(1_900_000_000)
        )
    );
    assert_eq!(
        todo["attendees"],
        json!([{ "userid": "alice", "status": 1 }, { "userid": "bob", "status": 1 }])
    );
    assert_eq!(todo["reminders"], json!([{ "remind_time": 1_899_996_400 }]));

    let update = |body: Value| client.post("todo/update", &token, body);
    assert_eq!(
        update(json!({ "todo_id": id, "status": 0 })).await["errcode"],
        0
    );
    assert_eq!(sim.todo(&id).unwrap().status, 0);
    let answer = update(json!({ "todo_id": id, "attendees": [{ "userid": "alice", "status": 0 }, { "userid": "manager1" }] })).await;
    assert_eq!(answer["errcode"], 0, "{answer}");
    assert_eq!(
        sim.todo(&id).unwrap().attendees,
        [("alice".to_string(), 0), ("manager1".to_string(), 1)]
    );

    let twenty_one: Vec<Value> = (0..21).map(|_| json!({ "userid": "alice" })).collect();
    for (body, code) in [
        (json!({ "todo_id": id }), 40058),
        (json!({ "todo_id": id, "status": 2 }), 40058),
        (json!({ "todo_id": id, "attendees": twenty_one }), 40058),
        (
            json!({ "todo_id": id, "attendees": [{ "userid": "ghost" }] }),
            40003,
        ),
        (json!({ "todo_id": "nope", "status": 0 }), 40058),
        (json!({ "todo_id": foreign, "status": 0 }), 48002),
    ] {
        let answer = update(body.clone()).await;
        assert_eq!(answer["errcode"], code, "{body}: {answer}");
    }
    let answer = client
        .post("todo/get", &token, json!({ "todo_id": foreign }))
        .await;
    assert_eq!(answer["errcode"], 48002, "{answer}");
    // No server-side create: WeCom has no such path.
    let answer = client
        .post("todo/add", &token, json!({ "content": "x" }))
        .await;
    assert_eq!(answer["errcode"], 404, "{answer}");
}
