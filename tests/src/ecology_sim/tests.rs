//! The simulator against plain HTTP calls, shaped as e-cology clients send them (headers for auth, form bodies with
//! JSON strings inside). The RSA side is done here with the `rsa` crate directly, not the simulator's helper.

use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs8::DecodePublicKey;
use rsa::{Pkcs1v15Encrypt, RsaPublicKey};
use serde_json::{Value, json};

use super::*;

/// What a Java/Python client does with the spk: wrap it as PEM, PKCS#1 v1.5, standard Base64.
fn encrypt(spk: &str, text: &str) -> String {
    let wrapped: Vec<String> = spk
        .as_bytes()
        .chunks(64)
        .map(|c| String::from_utf8(c.to_vec()).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        wrapped.join("\n")
    );
    let key = RsaPublicKey::from_public_key_pem(&pem).unwrap();
    let cipher = key
        .encrypt(&mut rsa::rand_core::OsRng, Pkcs1v15Encrypt, text.as_bytes())
        .unwrap();
    STANDARD.encode(cipher)
}

struct Client {
    http: reqwest::Client,
    base: String,
    spk: String,
    secrit: String,
    token: String,
}

impl Client {
    async fn regist(sim: &EcologySim) -> Client {
        let http = reqwest::Client::new();
        let answer: Value = http
            .post(format!("{}/api/ec/dev/auth/regist", sim.base))
            .header("appid", APPID)
            .header("cpk", "unused")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["status"], true, "{answer}");
        assert_eq!(answer["code"], "0");
        let spk = answer["spk"].as_str().unwrap().to_string();
        let secrit = answer["secrit"].as_str().unwrap().to_string();
        Client {
            http,
            base: sim.base.clone(),
            spk,
            secrit,
            token: String::new(),
        }
    }

    async fn applytoken(&self, secret: &str, time: Option<&str>) -> Value {
        let mut request = self
            .http
            .post(format!("{}/api/ec/dev/auth/applytoken", self.base))
            .header("appid", APPID)
            .header("secret", secret);
        if let Some(time) = time {
            request = request.header("time", time);
        }
        request.send().await.unwrap().json().await.unwrap()
    }

    async fn login(sim: &EcologySim) -> Client {
        let mut client = Client::regist(sim).await;
        let answer = client
            .applytoken(&encrypt(&client.spk, &client.secrit), None)
            .await;
        assert_eq!(answer["status"], true, "{answer}");
        client.token = answer["token"].as_str().unwrap().to_string();
        client
    }

    /// A business call as `user`: form fields, JSON answer (or the text when it is not JSON).
    async fn post(&self, path: &str, user: i64, form: &[(&str, String)]) -> Value {
        let text = self
            .http
            .post(format!("{}{path}", self.base))
            .header("appid", APPID)
            .header("token", &self.token)
            .header("userid", encrypt(&self.spk, &user.to_string()))
            .form(form)
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        serde_json::from_str(&text).unwrap_or(Value::String(text))
    }

    async fn users(&self, params: Value) -> Value {
        self.post(
            "/api/hrm/resful/getHrmUserInfoWithPage",
            BOT,
            &[("params", params.to_string())],
        )
        .await
    }
}

async fn sim() -> EcologySim {
    EcologySim::start(Options::default()).await.unwrap()
}

#[test]
fn md5_matches_rfc_1321() {
    let hex = |b: [u8; 16]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    assert_eq!(hex(keys::md5(b"")), "d41d8cd98f00b204e9800998ecf8427e");
    assert_eq!(hex(keys::md5(b"abc")), "900150983cd24fb0d6963f7d28e17f72");
    assert_eq!(
        hex(keys::md5(
            b"12345678901234567890123456789012345678901234567890123456789012345678901234567890"
        )),
        "57edf4a22be3c955ac49da2e2107b67a"
    );
}

#[tokio::test]
async fn register_and_apply_for_a_token_with_real_rsa() {
    let sim = sim().await;
    let client = Client::regist(&sim).await;
    // 2048-bit X.509 SubjectPublicKeyInfo, as e-cology's (ECOLOGY.md §1.5).
    assert!(
        client.spk.starts_with("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A"),
        "{}",
        client.spk
    );
    assert_eq!(client.secrit.len(), 36);

    let garbage = client.applytoken("bm90IGEgY2lwaGVydGV4dA==", None).await;
    assert_eq!(
        garbage,
        json!({"msg": "secret解密失败,请检查加密内容.", "code": -1, "msgShowType": "none", "status": false})
    );
    let wrong = client
        .applytoken(&encrypt(&client.spk, "not-the-secrit"), None)
        .await;
    assert_eq!(wrong["status"], false);
    assert!(
        wrong["msg"].as_str().unwrap().starts_with("认证信息错误"),
        "{wrong}"
    );

    let ok = client
        .applytoken(&encrypt(&client.spk, &client.secrit), Some("3600"))
        .await;
    assert_eq!(ok["status"], true);
    assert_eq!(ok["code"], 0);
    let token = ok["token"].as_str().unwrap().to_string();
    let client = Client { token, ..client };

    let users = client.users(json!({"loginid": "lina"})).await;
    assert_eq!(users["code"], "1", "{users}");
    assert_eq!(users["data"]["dataList"][0]["id"], "3");
    assert_eq!(
        sim.calls().last().unwrap().path,
        "/api/hrm/resful/getHrmUserInfoWithPage"
    );

    // The userid names nobody, or is not ours: refused before the endpoint runs.
    let nobody = client
        .post(
            "/api/workflow/paService/getToDoWorkflowRequestList",
            999,
            &[],
        )
        .await;
    assert_eq!(
        nobody,
        json!({"msg": "登录信息超时", "errorCode": "002", "status": false})
    );
    let resigned = client
        .post(
            "/api/workflow/paService/getToDoWorkflowRequestList",
            CHEN_JING,
            &[],
        )
        .await;
    assert_eq!(resigned["status"], false);
    let forged: Value = client
        .http
        .post(format!(
            "{}/api/workflow/paService/getToDoWorkflowRequestList",
            sim.base
        ))
        .header("appid", APPID)
        .header("token", &client.token)
        .header("userid", "Mg==")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(forged["msg"], "userid解密失败,请检查加密内容.");

    let bad_token = Client {
        token: "nope".into(),
        ..client
    };
    let refused = bad_token.users(json!({})).await;
    assert_eq!(
        refused,
        json!({"msg": "token不存在或者超时：nope", "code": -1, "msgShowType": "none", "status": false})
    );

    let unknown: Value = reqwest::Client::new()
        .post(format!("{}/api/ec/dev/auth/regist", sim.base))
        .header("appid", "someone-else")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(unknown["status"], false);
    assert!(unknown["msg"].as_str().unwrap().starts_with("认证信息错误"));
}

#[tokio::test]
async fn tokens_expire_and_a_reset_key_pair_needs_a_new_registration() {
    let sim = sim().await;
    let mut client = Client::regist(&sim).await;
    let short = client
        .applytoken(&encrypt(&client.spk, &client.secrit), Some("1"))
        .await;
    client.token = short["token"].as_str().unwrap().to_string();
    assert_eq!(client.users(json!({})).await["code"], "1");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let expired = client.users(json!({})).await;
    assert!(
        expired["msg"]
            .as_str()
            .unwrap()
            .starts_with("token不存在或者超时"),
        "{expired}"
    );

    // Default lifetime, then expired from the test.
    let fresh = client
        .applytoken(&encrypt(&client.spk, &client.secrit), None)
        .await;
    client.token = fresh["token"].as_str().unwrap().to_string();
    assert_eq!(client.users(json!({})).await["code"], "1");
    sim.expire_tokens();
    assert_eq!(client.users(json!({})).await["code"], -1);

    // A fault plays the same answer once.
    let fresh = client
        .applytoken(&encrypt(&client.spk, &client.secrit), None)
        .await;
    client.token = fresh["token"].as_str().unwrap().to_string();
    sim.inject("getHrmUserInfoWithPage", Fault::TokenExpired, 1);
    assert_eq!(client.users(json!({})).await["status"], false);
    assert_eq!(client.users(json!({})).await["code"], "1");

    // The admin resets the licence with a new key pair: the old secret no longer decrypts, the old token is gone.
    let old_spk = client.spk.clone();
    sim.reset_registration(APPID, true).await.unwrap();
    assert_eq!(client.users(json!({})).await["status"], false);
    let stale = client
        .applytoken(&encrypt(&old_spk, &client.secrit), None)
        .await;
    assert_eq!(stale["status"], false);
    let again = Client::login(&sim).await;
    assert_ne!(again.spk, old_spk);
    assert_ne!(again.secrit, client.secrit);
    assert_eq!(again.users(json!({})).await["code"], "1");
}

#[tokio::test]
async fn hr_pages_and_filters_by_modified() {
    let sim = sim().await;
    let client = Client::login(&sim).await;
    let mut ids = Vec::new();
    for page in 1..=4 {
        let answer = client.users(json!({"curpage": page, "pagesize": 2})).await;
        assert_eq!(answer["data"]["totalSize"], 6);
        assert_eq!(answer["data"]["page"], page);
        let list = answer["data"]["dataList"].as_array().unwrap();
        ids.extend(list.iter().map(|p| p["id"].as_str().unwrap().to_string()));
    }
    assert_eq!(ids, ["1", "2", "3", "4", "5", "6"]);
    let zhang = &client.users(json!({"workcode": "E1003"})).await["data"]["dataList"][0];
    assert_eq!(zhang["loginid"], "zhangwei");
    assert_eq!(zhang["managerid"], "3");
    assert_eq!(zhang["departmentid"], "12");
    assert_eq!(zhang["mobile"], "13800000003");
    assert_eq!(zhang["status"], "0");
    let sub = &client.users(json!({"id": "6"})).await["data"]["dataList"][0];
    assert_eq!(
        (sub["accounttype"].as_str(), sub["belongto"].as_str()),
        (Some("1"), Some("4"))
    );

    let depts = |params: Value| {
        let client = &client;
        async move {
            let answer = client
                .post(
                    "/api/hrm/resful/getHrmdepartmentWithPage",
                    BOT,
                    &[("params", params.to_string())],
                )
                .await;
            answer["data"]["dataList"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| d["id"].as_str().unwrap().to_string())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(depts(json!({})).await, ["11", "12", "13"]);
    assert_eq!(depts(json!({"canceled": "1"})).await, ["14"]);
    assert_eq!(depts(json!({"canceled": "2"})).await.len(), 4);
    let subs = client
        .post(
            "/api/hrm/resful/getHrmsubcompanyWithPage",
            BOT,
            &[("params", "{}".into())],
        )
        .await;
    assert_eq!(subs["data"]["dataList"][1]["supsubcomid"], "1");

    // Nothing changed since the seed; then two writes through syn* and one edit in the OA.
    let cursor = "2025-01-01 00:00:00";
    assert_eq!(
        client.users(json!({"modified": cursor})).await["data"]["totalSize"],
        0
    );
    let people = json!([
        {"workcode": "E2001", "lastname": "赵六", "loginid": "zhaoliu", "department": "{JSON}{\"departmentcode\":\"D-SALES\"}",
         "managerid": "E1001", "mobile": "13900000001", "email": "zhaoliu@example.com", "status": "1", "password": "x"},
        {"workcode": "E1003", "status": "5"},
        {"workcode": "E2002", "lastname": "No Dept", "department": "{JSON}{\"departmentcode\":\"NOPE\"}"},
    ]);
    let synced = client
        .post(
            "/api/hrm/resful/synHrmresource",
            BOT,
            &[("data", people.to_string())],
        )
        .await;
    assert_eq!(synced["code"], "1");
    assert_eq!(synced["result"]["E2001"]["code"], "1");
    assert_eq!(synced["result"]["E1003"]["msg"], "E1003|张伟|更新|成功|");
    assert_eq!(synced["result"]["E2002"]["code"], "0");
    sim.state().touch_person(LI_NA);
    let changed = client.users(json!({"modified": cursor})).await;
    let list = changed["data"]["dataList"].as_array().unwrap();
    let mut logins: Vec<&str> = list
        .iter()
        .map(|p| p["loginid"].as_str().unwrap())
        .collect();
    logins.sort();
    assert_eq!(logins, ["lina", "zhangwei", "zhaoliu"]);
    let zhao = list.iter().find(|p| p["loginid"] == "zhaoliu").unwrap();
    assert_eq!(
        (zhao["departmentid"].as_str(), zhao["managerid"].as_str()),
        (Some("13"), Some("2"))
    );
    assert_ne!(zhao["password"], "x");
    assert_eq!(
        list.iter().find(|p| p["loginid"] == "zhangwei").unwrap()["status"],
        "5"
    );

    let sealed = json!([{"@action": "delete", "code": "D-SALES"}]);
    let answer = client
        .post(
            "/api/hrm/resful/synDepartment",
            BOT,
            &[("data", sealed.to_string())],
        )
        .await;
    assert_eq!(answer["result"]["D-SALES"]["code"], "1");
    assert_eq!(
        depts(json!({"modified": cursor, "canceled": "1"})).await,
        ["13"]
    );

    // §2.1: the HR key/ts token instead of the REST headers; a JSON body works as well as a form.
    let ts = sim.state().now_ms().to_string();
    let key = hrm_key(HRM_KEY, &ts);
    let hr = |key: String, ts: String| {
        let base = sim.base.clone();
        async move {
            reqwest::Client::new()
                .post(format!("{base}/api/hrm/resful/getHrmsubcompanyWithPage"))
                .header("key", key)
                .header("ts", ts)
                .json(&json!({"params": {"subcompanycode": "SH"}}))
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let answer = hr(key.clone(), ts.clone()).await;
    assert_eq!(answer["data"]["dataList"][0]["id"], "2", "{answer}");
    assert_eq!(hr("00".repeat(16), ts).await["code"], "0");
    let old = (sim.state().now_ms() - 10 * 60_000).to_string();
    assert_eq!(hr(hrm_key(HRM_KEY, &old), old).await["code"], "0");
}

#[tokio::test]
async fn a_workflow_goes_through_two_approvers_and_back_on_reject() {
    let sim = sim().await;
    let client = Client::login(&sim).await;
    let pa = |name: &str| format!("/api/workflow/paService/{name}");
    let main = json!([{"fieldName": "sqr", "fieldValue": "1"}, {"fieldName": "bxje", "fieldValue": "128.50"},
                      {"fieldName": "sy", "fieldValue": "出差"}]);
    let detail = json!([{"tableDBName": EXPENSE_DETAIL_TABLE, "workflowRequestTableRecords": [
        {"recordOrder": 0, "workflowRequestTableFields": [{"fieldName": "fylx", "fieldValue": "交通"}, {"fieldName": "je", "fieldValue": "100"}]},
        {"recordOrder": 1, "workflowRequestTableFields": [{"fieldName": "fylx", "fieldValue": "餐费"}, {"fieldName": "je", "fieldValue": "28.5"}]}]}]);
    let created = client
        .post(
            &pa("doCreateRequest"),
            BOT,
            &[
                ("workflowId", WORKFLOW_EXPENSE.to_string()),
                ("requestName", "差旅报销".into()),
                ("mainData", main.to_string()),
                ("detailData", detail.to_string()),
            ],
        )
        .await;
    assert_eq!(created["code"], "SUCCESS", "{created}");
    let id = created["data"]["requestid"].as_i64().unwrap();
    let rid = || [("requestId", id.to_string())];

    // Bad input and wrong people.
    let bad = json!([{"fieldName": "nope", "fieldValue": "1"}]).to_string();
    let unknown_field = client
        .post(
            &pa("doCreateRequest"),
            BOT,
            &[
                ("workflowId", "44".into()),
                ("requestName", "x".into()),
                ("mainData", bad),
            ],
        )
        .await;
    assert_eq!(unknown_field["code"], "PARAM_ERROR");
    let no_flow = client
        .post(&pa("doCreateRequest"), BOT, &[("requestName", "x".into())])
        .await;
    assert_eq!(no_flow["code"], "PARAM_ERROR");
    assert_eq!(
        client.post(&pa("submitRequest"), ZHANG_WEI, &rid()).await["code"],
        "NO_PERMISSION"
    );
    assert_eq!(
        client
            .post(&pa("getWorkflowRequest"), ZHANG_WEI, &rid())
            .await["code"],
        "NO_PERMISSION"
    );

    // Step one: the creator's manager (Li Na) has it to do.
    let todo = client
        .post(
            &pa("getToDoWorkflowRequestList"),
            LI_NA,
            &[("pageNo", "1".into()), ("pageSize", "10".into())],
        )
        .await;
    assert_eq!(todo[0]["requestId"], id.to_string(), "{todo}");
    assert_eq!(todo[0]["currentNodeName"], "部门经理审批");
    let count = client
        .post(&pa("getToDoWorkflowRequestCount"), LI_NA, &[])
        .await;
    assert_eq!(count, json!(1), "a bare number");
    let submitted = client
        .post(
            &pa("submitRequest"),
            LI_NA,
            &[("requestId", id.to_string()), ("remark", "同意".into())],
        )
        .await;
    assert_eq!(submitted["code"], "SUCCESS");

    // Step two: the general manager rejects; it is back with the creator.
    let status = client
        .post(&pa("getRequestStatus"), WANG_FANG, &rid())
        .await;
    assert_eq!(status["data"]["currentNodeName"], "总经理审批");
    assert_eq!(status["data"]["isremark"], "0");
    let rejected = client
        .post(
            &pa("rejectRequest"),
            WANG_FANG,
            &[("requestId", id.to_string()), ("remark", "金额不对".into())],
        )
        .await;
    assert_eq!(rejected["code"], "SUCCESS");
    let status = client.post(&pa("getRequestStatus"), BOT, &rid()).await;
    assert_eq!(
        (
            status["data"]["status"].as_str(),
            status["data"]["currentNodeType"].as_str()
        ),
        (Some("退回"), Some("0"))
    );
    let mine = client
        .post(&pa("getToDoWorkflowRequestList"), BOT, &[])
        .await;
    assert_eq!(mine[0]["requestId"], id.to_string());
    assert_eq!(
        client
            .post(&pa("getHandledWorkflowRequestList"), WANG_FANG, &[])
            .await[0]["requestId"],
        id.to_string()
    );

    // Resubmitted, approved twice, archived.
    for user in [BOT, LI_NA, WANG_FANG] {
        let answer = client.post(&pa("submitRequest"), user, &rid()).await;
        assert_eq!(answer["code"], "SUCCESS", "{user}: {answer}");
    }
    let done = client.post(&pa("getWorkflowRequest"), BOT, &rid()).await;
    let data = &done["data"];
    assert_eq!(
        (data["status"].as_str(), data["currentNodeType"].as_str()),
        (Some("归档"), Some("3"))
    );
    assert_eq!(
        data["workflowDetailTableInfos"][0]["workflowRequestTableRecords"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    assert_eq!(data["workflowRequestLogs"].as_array().unwrap().len(), 6);
    assert_eq!(data["workflowBaseInfo"]["workflowId"], "44");
    assert_eq!(
        client
            .post(&pa("getToDoWorkflowRequestList"), WANG_FANG, &[])
            .await,
        json!([])
    );
    assert_eq!(
        client.post(&pa("submitRequest"), WANG_FANG, &rid()).await["code"],
        "NO_PERMISSION"
    );

    // Day-granular polling on the integration account's own requests, and an injected failure.
    let today = sim.state().now_text()[..10].to_string();
    let conditions =
        json!({"operatedateselect": "6", "operatedatefrom": today, "operatedateto": today});
    let polled = client
        .post(
            &pa("getMyWorkflowRequestList"),
            BOT,
            &[("conditions", conditions.to_string())],
        )
        .await;
    assert_eq!(polled.as_array().unwrap().len(), 1);
    let past = json!({"operatedateselect": "6", "operatedatefrom": "2020-01-01", "operatedateto": "2020-01-02"});
    assert_eq!(
        client
            .post(
                &pa("getMyWorkflowRequestList"),
                BOT,
                &[("conditions", past.to_string())]
            )
            .await,
        json!([])
    );
    sim.inject("submitRequest", Fault::InnerError, 1);
    assert_eq!(
        client.post(&pa("submitRequest"), BOT, &rid()).await["code"],
        "SYSTEM_INNER_ERROR"
    );
    sim.inject("getRequestStatus", Fault::Status(502), 1);
    let http = client
        .http
        .get(format!(
            "{}{}?requestId={id}",
            sim.base,
            pa("getRequestStatus")
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(http.status(), 502);
}

#[tokio::test]
async fn ofs_to_dos_follow_receivets_order() {
    let sim = sim().await;
    let http = reqwest::Client::new();
    let ofs = |name: &str, body: Value| {
        let url = format!("{}/rest/ofs/{name}", sim.base);
        let http = http.clone();
        async move {
            http.post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let todo = json!({"syscode": SYSCODE, "flowid": "feishu-task-1", "requestname": "Review the contract",
        "workflowname": "Feishu tasks", "nodename": "待办", "pcurl": "https://example.com/t/1", "appurl": "https://example.com/m/1",
        "creator": "wangfang", "createdatetime": "2026-12-01 10:00:00", "receiver": "lina",
        "receivedatetime": "2026-12-01 10:00:00", "receivets": "2000"});
    let answer = ofs("ReceiveTodoRequestByJson", todo.clone()).await;
    assert_eq!(answer["operResult"], "1", "{answer}");
    assert_eq!(answer["operType"], "AutoNew");
    let item = sim
        .state()
        .ofs_item(SYSCODE, "feishu-task-1", LI_NA)
        .cloned()
        .unwrap();
    assert_eq!(
        (item.isremark, item.creator, item.requestname.as_str()),
        (0, Some(WANG_FANG), "Review the contract")
    );

    // The OA integration account sees it with isNeedOs; the to-do list of Li Na is what matters.
    let client = Client::login(&sim).await;
    let list = client
        .post(
            "/api/workflow/paService/getToDoWorkflowRequestList",
            LI_NA,
            &[("isNeedOs", "1".into())],
        )
        .await;
    assert_eq!(list[0]["sysName"], SYSCODE);

    // An older update is dropped, a newer one applies.
    let mut done = json!({"syscode": SYSCODE, "flowid": "feishu-task-1", "requestname": "Review the contract",
        "workflowname": "Feishu tasks", "nodename": "已办", "receiver": "lina", "receivets": "1000"});
    assert_eq!(
        ofs("ProcessDoneRequestByJson", done.clone()).await["operResult"],
        "1"
    );
    assert_eq!(
        sim.state()
            .ofs_item(SYSCODE, "feishu-task-1", LI_NA)
            .unwrap()
            .isremark,
        0
    );
    assert_eq!(sim.state().ofs_stale, 1);
    done["receivets"] = json!("3000");
    assert_eq!(
        ofs("ProcessDoneRequestByJson", done).await["operResult"],
        "1"
    );
    assert_eq!(
        sim.state()
            .ofs_item(SYSCODE, "feishu-task-1", LI_NA)
            .unwrap()
            .isremark,
        2
    );
    let mut late = todo.clone();
    late["receivets"] = json!("2500");
    ofs("ReceiveTodoRequestByJson", late).await;
    assert_eq!(
        sim.state()
            .ofs_item(SYSCODE, "feishu-task-1", LI_NA)
            .unwrap()
            .isremark,
        2
    );

    // Refusals: unknown system, unknown receiver.
    let mut stranger = todo.clone();
    stranger["syscode"] = json!("other");
    assert_eq!(
        ofs("ReceiveTodoRequestByJson", stranger).await["operResult"],
        "0"
    );
    let mut nobody = todo.clone();
    nobody["receiver"] = json!("nobody");
    assert_eq!(
        ofs("ReceiveTodoRequestByJson", nobody).await["operResult"],
        "0"
    );

    // Generic isremark, then delete one receiver's item and the whole flow.
    let mut cc = todo.clone();
    cc["receiver"] = json!("zhangwei");
    cc["isremark"] = json!("8");
    assert_eq!(ofs("ReceiveRequestInfoByJson", cc).await["operResult"], "1");
    assert_eq!(
        sim.state()
            .ofs_item(SYSCODE, "feishu-task-1", ZHANG_WEI)
            .unwrap()
            .isremark,
        8
    );
    let gone = ofs(
        "deleteUserRequestInfoByJson",
        json!({"syscode": SYSCODE, "flowid": "feishu-task-1", "userid": "lina"}),
    )
    .await;
    assert_eq!(gone["operResult"], "1");
    assert!(
        sim.state()
            .ofs_item(SYSCODE, "feishu-task-1", LI_NA)
            .is_none()
    );
    ofs(
        "deleteRequestInfoByJson",
        json!({"syscode": SYSCODE, "flowid": "feishu-task-1"}),
    )
    .await;
    assert!(sim.state().ofs.is_empty());
}

#[tokio::test]
async fn sso_tokens_sign_a_person_in_once() {
    let sim = sim().await;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get_token = |appid: &str, loginid: &str| {
        let request = http
            .post(format!("{}/ssologin/getToken", sim.base))
            .form(&[("appid", appid), ("loginid", loginid)]);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let token = get_token(SSO_APPID, "zhangwei").await;
    assert_eq!(token.len(), 64);
    assert!(
        token
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()),
        "{token}"
    );
    let page = http.get(sim.sso_url(&token)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.text()
            .await
            .unwrap()
            .contains("data-loginid=\"zhangwei\"")
    );
    assert_eq!(
        sim.state().sso_logins,
        vec![SsoLogin {
            person: ZHANG_WEI,
            loginid: "zhangwei".into(),
            path: "/wui/index.html".into()
        }]
    );
    let again = http.get(sim.sso_url(&token)).send().await.unwrap();
    assert_eq!(again.status(), 302);

    assert_eq!(
        get_token("nope", "zhangwei").await,
        "Token获取失败: 认证应用未注册"
    );
    assert!(
        get_token(SSO_APPID, "chenjing")
            .await
            .starts_with("Token获取失败")
    );
    let form = get_token(SSO_APPID, "lina").await;
    let deep = format!(
        "{}/spa/workflow/index_form.jsp?ssoToken={form}#/main/workflow/req?requestid=5074",
        sim.base
    );
    assert_eq!(http.get(deep).send().await.unwrap().status(), 200);
}
