//! The simulator against plain HTTP calls: the directory's shapes at scale, department moves, and the role APIs
//! with their limits and errcodes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{DingTalkSim, Options};

struct Client {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Client {
    async fn new(sim: &DingTalkSim) -> Client {
        let http = reqwest::Client::new();
        let o = &sim.options;
        let url = format!(
            "{}/gettoken?appkey={}&appsecret={}",
            sim.base, o.app_key, o.app_secret
        );
        let answer: Value = http.get(url).send().await.unwrap().json().await.unwrap();
        assert_eq!(answer["errcode"], 0, "{answer}");
        Client {
            base: sim.base.clone(),
            token: answer["access_token"].as_str().unwrap().to_string(),
            http,
        }
    }

    async fn post(&self, path: &str, body: Value) -> Value {
        let url = format!("{}{path}?access_token={}", self.base, self.token);
        let response = self.http.post(url).json(&body).send().await.unwrap();
        response.json().await.unwrap()
    }
}

fn fast() -> Options {
    Options {
        qps: 100_000,
        ..Options::default()
    }
}

#[tokio::test]
async fn dingtalk_sim_lists_a_large_directory_in_linear_time() {
    let sim = DingTalkSim::start(fast()).await.unwrap();
    let depts = sim.state().add_directory(200, 2000);
    let client = Client::new(&sim).await;

    // A department of 2,000 users, paged 100 at a time: every user once, in a stable order.
    let big = depts[0];
    {
        let mut state = sim.state();
        for user in state
            .users
            .values_mut()
            .filter(|u| u.userid.starts_with("bulk"))
        {
            user.dept_id_list.push(big);
        }
    }
    let start = Instant::now();
    let (mut cursor, mut seen) = (json!(0), Vec::new());
    loop {
        let page = client
            .post(
                "/topapi/v2/user/list",
                json!({ "dept_id": big, "cursor": cursor, "size": 100 }),
            )
            .await;
        assert_eq!(page["errcode"], 0, "{page}");
        let list = page["result"]["list"].as_array().unwrap();
        seen.extend(
            list.iter()
                .map(|u| u["userid"].as_str().unwrap().to_string()),
        );
        if page["result"]["has_more"] != true {
            assert!(page["result"]["next_cursor"].is_null());
            break;
        }
        cursor = page["result"]["next_cursor"].clone();
    }
    assert_eq!(seen.len(), 2000);
    seen.dedup();
    assert_eq!(seen.len(), 2000, "no user twice");

    // Every department's users and children, as a directory walk reads them.
    let mut users = 0;
    for dept in std::iter::once(1).chain(depts.iter().copied()) {
        let children = client
            .post("/topapi/v2/department/listsub", json!({ "dept_id": dept }))
            .await;
        assert_eq!(children["errcode"], 0, "{children}");
        let page = client
            .post(
                "/topapi/v2/user/list",
                json!({ "dept_id": dept, "cursor": 0, "size": 100 }),
            )
            .await;
        users += page["result"]["list"].as_array().unwrap().len();
    }
    assert_eq!(
        users,
        100 + 199 * 10,
        "ten a department, the first page of 100 of the big one's 2,010"
    );
    assert!(
        start.elapsed() < Duration::from_secs(10),
        "took {:?}",
        start.elapsed()
    );

    // The list has no manager and listsub no order, as on DingTalk; user/get and department/get have them.
    let page = client
        .post(
            "/topapi/v2/user/list",
            json!({ "dept_id": depts[5], "cursor": 0, "size": 2 }),
        )
        .await;
    let listed = &page["result"]["list"][1];
    assert!(listed.get("manager_userid").is_none(), "{listed}");
    assert_eq!(listed["job_number"], "E00205");
    let user = client
        .post("/topapi/v2/user/get", json!({ "userid": listed["userid"] }))
        .await;
    assert_eq!(user["result"]["manager_userid"], "bulk00005", "{user}");
    assert_eq!(user["result"]["title"], listed["title"]);
    let children = client
        .post("/topapi/v2/department/listsub", json!({ "dept_id": 1 }))
        .await;
    assert_eq!(children["result"].as_array().unwrap().len(), 2 + 10);
    assert!(children["result"][0].get("order").is_none());
    let dept = client
        .post("/topapi/v2/department/get", json!({ "dept_id": depts[3] }))
        .await;
    assert_eq!(dept["result"]["order"], 3);

    // Size is 1 to 100.
    let refused = client
        .post(
            "/topapi/v2/user/list",
            json!({ "dept_id": big, "cursor": 0, "size": 101 }),
        )
        .await;
    assert_eq!(refused["errcode"], 40035, "{refused}");
}

#[tokio::test]
async fn dingtalk_sim_moves_and_renames_departments() {
    let sim = DingTalkSim::start(fast()).await.unwrap();
    let client = Client::new(&sim).await;
    let create = |name: &str, parent: i64| {
        client.post(
            "/topapi/v2/department/create",
            json!({ "name": name, "parent_id": parent, "order": 7 }),
        )
    };
    let a = create("A", 1).await["result"]["dept_id"].as_i64().unwrap();
    let b = create("B", a).await["result"]["dept_id"].as_i64().unwrap();
    let c = create("C", b).await["result"]["dept_id"].as_i64().unwrap();
    assert_eq!(create("R&D - Beijing", 1).await["errcode"], 60001);

    let update = |body: Value| client.post("/topapi/v2/department/update", body);
    assert_eq!(
        update(json!({ "dept_id": a, "parent_id": c })).await["errcode"],
        60010,
        "under its own grandchild: a cycle"
    );
    assert_eq!(
        update(json!({ "dept_id": a, "parent_id": a })).await["errcode"],
        60010
    );
    assert_eq!(
        update(json!({ "dept_id": 1, "name": "x" })).await["errcode"],
        60018
    );
    assert_eq!(
        update(json!({ "dept_id": c, "parent_id": 999 })).await["errcode"],
        60004
    );
    assert_eq!(
        update(json!({ "dept_id": c, "name": "Engineering", "parent_id": 1 })).await["errcode"],
        60008,
        "the root has an Engineering already"
    );
    assert_eq!(
        update(json!({ "dept_id": c, "name": "C2", "parent_id": 3 })).await["errcode"],
        0
    );
    let got = client
        .post("/topapi/v2/department/get", json!({ "dept_id": c }))
        .await;
    assert_eq!(
        (
            &got["result"]["name"],
            &got["result"]["parent_id"],
            &got["result"]["order"]
        ),
        (&json!("C2"), &json!(3), &json!(7)),
        "{got}"
    );
}

#[tokio::test]
async fn dingtalk_sim_roles_with_their_limits_and_errcodes() {
    let sim = DingTalkSim::start(fast()).await.unwrap();
    let client = Client::new(&sim).await;

    let list = client
        .post("/topapi/role/list", json!({ "size": 20, "offset": 0 }))
        .await;
    assert_eq!(list["result"]["hasMore"], false);
    assert_eq!(list["result"]["list"][0]["name"], "默认");
    assert_eq!(list["result"]["list"][0]["roles"][0]["name"], "主管理员");
    assert_eq!(
        client
            .post("/topapi/role/list", json!({ "size": 201, "offset": 0 }))
            .await["errcode"],
        40069
    );

    let group = client
        .post("/role/add_role_group", json!({ "name": "Qiao" }))
        .await["groupId"]
        .as_i64()
        .unwrap();
    let add_role = |name: &str, group: i64| {
        client.post(
            "/role/add_role",
            json!({ "roleName": name, "groupId": group }),
        )
    };
    let role = add_role("Auditor", group).await["roleId"].as_i64().unwrap();
    assert_eq!(add_role("Auditor", group).await["errcode"], 34021);
    assert_eq!(
        add_role("主管", group).await["errcode"],
        34021,
        "names are unique across groups"
    );
    assert_eq!(add_role("Other", 42).await["errcode"], 34020);
    assert_eq!(add_role("", group).await["errcode"], 34018);
    assert_eq!(
        sim.role("Auditor"),
        Some((role.to_string(), "Qiao".to_string()))
    );

    let change = |path: &'static str, roles: String, users: String| {
        client.post(path, json!({ "roleIds": roles, "userIds": users }))
    };
    let add = "/topapi/role/addrolesforemps";
    let remove = "/topapi/role/removerolesforemps";
    assert_eq!(
        change(add, role.to_string(), "alice,bob".into()).await["errcode"],
        0
    );
    assert_eq!(
        change(add, role.to_string(), "alice".into()).await["errcode"],
        0,
        "holding it already is fine"
    );
    assert_eq!(
        change(add, role.to_string(), "manager1,ghost".into()).await["errcode"],
        33012
    );
    assert_eq!(
        sim.role_members(&role.to_string()),
        ["alice", "bob"],
        "all or nothing"
    );
    assert_eq!(
        change(add, "1".into(), "alice".into()).await["errcode"],
        33011
    );
    let many: Vec<String> = (0..21).map(|i| format!("u{i}")).collect();
    assert_eq!(
        change(add, role.to_string(), many.join(",")).await["errcode"],
        400002,
        "at most 20 users a request"
    );

    // simplelist pages at most 100.
    {
        let mut state = sim.state();
        for i in 0..150 {
            state.add_user(&format!("m{i:03}"), "M", &format!("1360000{i:04}"), vec![2]);
        }
    }
    for batch in (0..150).collect::<Vec<_>>().chunks(20) {
        let users: Vec<String> = batch.iter().map(|i| format!("m{i:03}")).collect();
        let answer = change(add, role.to_string(), users.join(",")).await;
        assert_eq!(answer["errcode"], 0, "{answer}");
    }
    let page = |offset: i64, size: i64| {
        client.post(
            "/topapi/role/simplelist",
            json!({ "role_id": role, "size": size, "offset": offset }),
        )
    };
    let first = page(0, 100).await;
    assert_eq!(first["result"]["hasMore"], true);
    assert_eq!(first["result"]["list"].as_array().unwrap().len(), 100);
    assert_eq!(first["result"]["list"][0]["userid"], "alice");
    assert_eq!(first["result"]["list"][0]["name"], "Li Na");
    let second = page(100, 100).await;
    assert_eq!(second["result"]["hasMore"], false);
    assert_eq!(second["result"]["list"].as_array().unwrap().len(), 52);
    assert_eq!(page(0, 101).await["errcode"], 40069);
    assert_eq!(
        client
            .post(
                "/topapi/role/simplelist",
                json!({ "role_id": 7, "size": 10, "offset": 0 })
            )
            .await["errcode"],
        33011
    );

    // user/get lists the user's roles.
    let user = client
        .post("/topapi/v2/user/get", json!({ "userid": "alice" }))
        .await;
    assert_eq!(
        user["result"]["role_list"],
        json!([{ "id": role, "name": "Auditor", "group_name": "Qiao" }])
    );

    // Remove takes up to 100; a deleted user leaves every role.
    assert_eq!(
        change(remove, role.to_string(), "bob,alice".into()).await["errcode"],
        0
    );
    assert_eq!(
        client
            .post("/topapi/v2/user/delete", json!({ "userid": "m000" }))
            .await["errcode"],
        0
    );
    let members = sim.role_members(&role.to_string());
    assert_eq!(members.len(), 149);
    assert!(!members.contains(&"m000".to_string()));
}

#[tokio::test]
async fn dingtalk_sim_reports_users_as_dingtalk_does() {
    let sim = DingTalkSim::start(fast()).await.unwrap();
    let client = Client::new(&sim).await;
    let created = client
        .post(
            "/topapi/v2/user/create",
            json!({
                "userid": "lintao", "name": "Lin Tao", "mobile": "+852-51234567", "dept_id_list": "2,3",
                "title": "Lead", "job_number": "E-2", "email": "lin@example.com", "manager_userid": "manager1",
            }),
        )
        .await;
    assert_eq!(created["result"]["userid"], "lintao", "{created}");

    // The number and its country code apart; not activated; the manager in user/get only.
    let got = client
        .post("/topapi/v2/user/get", json!({ "userid": "lintao" }))
        .await;
    let user = &got["result"];
    assert_eq!(
        (&user["mobile"], &user["state_code"], &user["active"]),
        (&json!("51234567"), &json!("852"), &json!(false))
    );
    assert_eq!(user["manager_userid"], "manager1");
    assert_eq!(user["dept_id_list"], json!([2, 3]));
    let listed = client
        .post(
            "/topapi/v2/user/list",
            json!({ "dept_id": 3, "cursor": 0, "size": 10 }),
        )
        .await;
    let listed = &listed["result"]["list"][1];
    assert_eq!(listed["userid"], "lintao");
    assert!(listed.get("manager_userid").is_none(), "{listed}");
    assert_eq!(
        (&listed["title"], &listed["job_number"], &listed["email"]),
        (&json!("Lead"), &json!("E-2"), &json!("lin@example.com"))
    );

    // The mobile cannot change (41054); the same one is no change. The manager is cleared only when forced.
    let update = |body: Value| client.post("/topapi/v2/user/update", body);
    assert_eq!(
        update(json!({ "userid": "lintao", "mobile": "13700000000" })).await["errcode"],
        41054
    );
    assert_eq!(
        update(json!({ "userid": "lintao", "mobile": "+852-51234567", "title": "Lead 2" })).await["errcode"],
        0
    );
    assert_eq!(
        update(json!({ "userid": "lintao", "dept_id_list": "999" })).await["errcode"],
        60003
    );
    assert_eq!(
        update(json!({ "userid": "lintao", "force_update_fields": "manager_userid" })).await["errcode"],
        0
    );
    let state = sim.state();
    let user = &state.users["lintao"];
    assert_eq!(
        (user.title.as_str(), user.manager_userid.as_str()),
        ("Lead 2", "")
    );
    assert_eq!(
        user.dept_id_list,
        [2, 3],
        "a refused update changes nothing"
    );
}
