//! The simulator against plain HTTP calls, shaped as the official SDK sends them.

use std::time::Duration;

use serde_json::{Value, json};

use super::{Fault, KingdeeSim, Options};

const FORMS: &str = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.";
const VALIDATE: &str = "Kingdee.BOS.WebApi.ServicesStub.AuthService.ValidateUser";

struct Client {
    http: reqwest::Client,
    base: String,
}

impl Client {
    fn new(sim: &KingdeeSim) -> Client {
        Client {
            http: reqwest::Client::new(),
            base: sim.api_base.clone(),
        }
    }

    /// A call with extra headers: (response headers, JSON body).
    async fn call(
        &self,
        service: &str,
        headers: &[(String, String)],
        body: Value,
    ) -> (reqwest::header::HeaderMap, Value) {
        let mut request = self
            .http
            .post(format!("{}{service}.common.kdsvc", self.base))
            .json(&body);
        for (name, value) in headers {
            request = request.header(name, value);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        (response.headers().clone(), response.json().await.unwrap())
    }

    async fn login(&self, options: &Options) -> String {
        let body = json!({ "acctID": options.acct_id, "username": "wangfang", "password": options.password, "lcid": 2052 });
        let (headers, answer) = self.call(VALIDATE, &[], body).await;
        assert_eq!(answer["LoginResultType"], 1, "{answer}");
        assert_eq!(answer["IsSuccessByAPI"], true);
        let sid = answer["KDSVCSessionId"].as_str().unwrap().to_string();
        let cookies: Vec<_> = headers
            .get_all("set-cookie")
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect();
        assert!(
            cookies.contains(&format!("kdservice-sessionid={sid}; path=/")),
            "{cookies:?}"
        );
        sid
    }
}

fn cookie(sid: &str) -> Vec<(String, String)> {
    vec![(
        "Cookie".into(),
        format!("Theme=standard;kdservice-sessionid={sid}"),
    )]
}

fn status(answer: &Value) -> &Value {
    &answer["Result"]["ResponseStatus"]
}

#[tokio::test]
async fn kingdee_sim_signed_headers() {
    let sim = KingdeeSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let service = format!("{FORMS}View");
    let body = json!({ "formid": "BD_Empinfo", "data": { "Number": "E001" } });
    let (_, answer) = client
        .call(
            &service,
            &sim.signed_headers(&service, "administrator"),
            body.clone(),
        )
        .await;
    assert_eq!(answer["Result"]["ResponseStatus"], Value::Null, "{answer}");
    let result = &answer["Result"]["Result"];
    assert_eq!(result["FName"], "Wang Fang");
    assert_eq!(result["Number"], "E001");
    assert_eq!(result["FDept"], json!({ "FNumber": "D01" }));

    // Signed for another service: the path is part of the signature.
    let wrong_path = sim.signed_headers(&format!("{FORMS}Save"), "administrator");
    let (_, answer) = client.call(&service, &wrong_path, body.clone()).await;
    assert_eq!(status(&answer)["MsgCode"], 1, "{answer}");
    assert!(
        status(&answer)["Errors"][0]["Message"]
            .as_str()
            .unwrap()
            .contains("X-Api-Signature")
    );
    // Unknown user, and nothing at all.
    let (_, answer) = client
        .call(
            &service,
            &sim.signed_headers(&service, "nobody"),
            body.clone(),
        )
        .await;
    assert_eq!(status(&answer)["MsgCode"], 1);
    let (_, answer) = client.call(&service, &[], body).await;
    assert_eq!(
        answer,
        json!({ "Result": { "ResponseStatus": { "IsSuccess": false, "ErrorCode": 500, "MsgCode": 1,
            "Errors": [{ "FieldName": null, "Message": "会话信息已丢失，请重新登录", "DIndex": 0 }],
            "SuccessEntitys": [], "SuccessMessages": [] } } })
    );
    // Query failures come wrapped in rows.
    let query = format!("{FORMS}ExecuteBillQuery");
    let (_, answer) = client
        .call(
            &query,
            &[],
            json!({ "data": { "FormId": "BD_Empinfo", "FieldKeys": "FID" } }),
        )
        .await;
    assert_eq!(
        answer[0][0]["Result"]["ResponseStatus"]["MsgCode"], 1,
        "{answer}"
    );
    assert_eq!(sim.count("ExecuteBillQuery"), 1);
}

#[tokio::test]
async fn kingdee_sim_sessions_and_faults() {
    let sim = KingdeeSim::start(Options {
        session_ttl: Duration::from_millis(300),
        ..Options::default()
    })
    .await
    .unwrap();
    let client = Client::new(&sim);
    let wrong = json!({ "acctID": "sim-acct-001", "username": "wangfang", "password": "nope", "lcid": 2052 });
    let (_, answer) = client.call(VALIDATE, &[], wrong).await;
    assert_eq!(answer["LoginResultType"], 0);
    assert!(answer["Message"].as_str().unwrap().contains("密码"));
    // Positional LoginByAppSecret.
    let o = &sim.options;
    let positional =
        json!({ "parameters": [o.acct_id, "administrator", o.app_id, o.app_secret, 2052] });
    let (_, answer) = client
        .call(
            "Kingdee.BOS.WebApi.ServicesStub.AuthService.LoginByAppSecret",
            &[],
            positional,
        )
        .await;
    assert_eq!(answer["LoginResultType"], 1, "{answer}");
    assert_eq!(answer["Context"]["UserName"], "Administrator");

    let sid = client.login(&sim.options).await;
    let query = format!("{FORMS}ExecuteBillQuery");
    let data = json!({ "data": { "FormId": "BD_Empinfo", "FieldKeys": "FNumber,FName,FDept.FNumber,FDept.FName",
        "FilterString": "FDept.FNumber = 'D01'", "OrderString": "FNumber DESC" } });
    let (_, rows) = client.call(&query, &cookie(&sid), data.clone()).await;
    assert_eq!(
        rows,
        json!([
            ["E002", "Li Na", "D01", "Engineering"],
            ["E001", "Wang Fang", "D01", "Engineering"]
        ])
    );
    // The header form of the session works too.
    let (_, rows) = client
        .call(
            &query,
            &[("kdservice-sessionid".into(), sid.clone())],
            data.clone(),
        )
        .await;
    assert_eq!(rows.as_array().unwrap().len(), 2);

    sim.inject("ExecuteBillQuery", Fault::Busy, 1);
    let (_, answer) = client.call(&query, &cookie(&sid), data.clone()).await;
    assert_eq!(answer[0][0]["Result"]["ResponseStatus"]["MsgCode"], 4);
    sim.state().deny("wangfang", "BD_Empinfo");
    let (_, answer) = client.call(&query, &cookie(&sid), data.clone()).await;
    let message = answer[0][0]["Result"]["ResponseStatus"]["Errors"][0]["Message"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(answer[0][0]["Result"]["ResponseStatus"]["MsgCode"], 2);
    assert!(
        message.contains("没有") && message.contains("权限"),
        "{message}"
    );
    sim.state().denied.clear();

    tokio::time::sleep(Duration::from_millis(400)).await;
    let (_, answer) = client.call(&query, &cookie(&sid), data.clone()).await;
    assert_eq!(
        answer[0][0]["Result"]["ResponseStatus"]["MsgCode"], 1,
        "expired session: {answer}"
    );
    let sid = client.login(&sim.options).await;
    sim.expire_sessions();
    let (_, answer) = client.call(&query, &cookie(&sid), data).await;
    assert_eq!(answer[0][0]["Result"]["ResponseStatus"]["MsgCode"], 1);
}

#[tokio::test]
async fn kingdee_sim_bill_lifecycle_and_polling() {
    let sim = KingdeeSim::start(Options::default()).await.unwrap();
    let client = Client::new(&sim);
    let sid = client.login(&sim.options).await;
    let auth = cookie(&sid);
    let call = |op: &str, body: Value| {
        let (client, auth, op) = (&client, auth.clone(), format!("{FORMS}{op}"));
        async move { client.call(&op, &auth, body).await.1 }
    };
    let cursor = call(
        "ExecuteBillQuery",
        json!({ "data": { "FormId": "BD_Department", "FieldKeys": "FModifyDate",
        "OrderString": "FModifyDate DESC", "TopRowCount": 1 } }),
    )
    .await[0][0]
        .as_str()
        .unwrap()
        .to_string();

    // A required field missing names the field.
    let missing = call(
        "Save",
        json!({ "formid": "ER_ExpReimbursement", "data": { "Model": {
        "FID": 0, "FProposerID": { "FNumber": "E001" }, "FReqAmount": 120.5 } } }),
    )
    .await;
    assert_eq!(status(&missing)["IsSuccess"], false);
    assert_eq!(status(&missing)["Errors"][0]["FieldName"], "FCausa");
    assert_eq!(status(&missing)["SuccessEntitys"], json!([]));
    let unknown = call("Save", json!({ "formid": "NOPE", "data": { "Model": {} } })).await;
    assert!(
        status(&unknown)["Errors"][0]["Message"]
            .as_str()
            .unwrap()
            .contains("NOPE")
    );

    let mut numbers = Vec::new();
    for (causa, amount) in [("Taxi", 88), ("Hotel", 450), ("Train", 120)] {
        let saved = call(
            "Save",
            json!({ "formid": "ER_ExpReimbursement", "data": { "NeedUpDateFields": [],
            "IsDeleteEntry": "true", "Model": { "FID": 0, "FProposerID": { "FNumber": "E001" },
            "FRequestDeptID": { "FNumber": "D01" }, "FCausa": causa, "FReqAmount": amount } } }),
        )
        .await;
        assert_eq!(status(&saved)["IsSuccess"], true, "{saved}");
        let number = saved["Result"]["Number"].as_str().unwrap().to_string();
        assert_eq!(status(&saved)["SuccessEntitys"][0]["Number"], number);
        numbers.push(number);
    }
    assert_eq!(numbers[0], "FYBX000001");
    let fid = sim
        .state()
        .find("ER_ExpReimbursement", "FYBX000001")
        .unwrap();

    let audit_early = call(
        "Audit",
        json!({ "formid": "ER_ExpReimbursement", "data": { "Numbers": ["FYBX000001"] } }),
    )
    .await;
    assert_eq!(status(&audit_early)["IsSuccess"], false);
    for (op, expected) in [("Submit", "B"), ("Audit", "C")] {
        let answer = call(
            op,
            json!({ "formid": "ER_ExpReimbursement", "data": { "Ids": fid.to_string() } }),
        )
        .await;
        assert_eq!(status(&answer)["IsSuccess"], true, "{op}: {answer}");
        assert_eq!(
            sim.state().status("ER_ExpReimbursement", fid).as_deref(),
            Some(expected)
        );
    }
    let delete = call(
        "Delete",
        json!({ "formid": "ER_ExpReimbursement", "data": { "Numbers": ["FYBX000001"] } }),
    )
    .await;
    assert_eq!(status(&delete)["MsgCode"], 11);
    let view = call(
        "View",
        json!({ "formid": "ER_ExpReimbursement", "data": { "Id": fid } }),
    )
    .await;
    assert_eq!(view["Result"]["Result"]["DocumentStatus"], "C");
    assert_eq!(view["Result"]["Result"]["BillNo"], "FYBX000001");

    // Polling by FModifyDate, two rows a page: every change since the cursor, in change order.
    let poll = |start: i64| {
        call(
            "ExecuteBillQuery",
            json!({ "data": { "FormId": "ER_ExpReimbursement",
            "FieldKeys": "FID,FBillNo,FDocumentStatus,FModifyDate,FProposerID.FNumber",
            "FilterString": format!("FModifyDate >= '{cursor}' and FReqAmount > 50"),
            "OrderString": "FModifyDate ASC", "StartRow": start, "Limit": 2 } }),
        )
    };
    let first = poll(0).await;
    let second = poll(2).await;
    assert_eq!(first.as_array().unwrap().len(), 2, "{first}");
    assert_eq!(second.as_array().unwrap().len(), 1, "{second}");
    assert_eq!(first[0][1], "FYBX000002");
    assert_eq!(second[0][1], "FYBX000001");
    assert_eq!(second[0][2], "C");
    assert_eq!(second[0][4], "E001");
    let dates: Vec<String> = [&first[0], &first[1], &second[0]]
        .iter()
        .map(|r| r[3].as_str().unwrap().to_string())
        .collect();
    assert!(dates[0] < dates[1] && dates[1] < dates[2], "{dates:?}");

    // A workflow bill: Audit is refused, WorkflowAudit and advance decide.
    let saved = call("Save", json!({ "formid": "PUR_Requisition", "data": { "Model": {
        "FApplicantId": { "FNumber": "E002" }, "FApplicationDeptId": { "FNumber": "D01" }, "FNote": "laptops" } } }))
    .await;
    assert_eq!(saved["Result"]["Number"], "CGSQ000001", "{saved}");
    call(
        "Submit",
        json!({ "formid": "PUR_Requisition", "data": { "Numbers": ["CGSQ000001"] } }),
    )
    .await;
    let audit = call(
        "Audit",
        json!({ "formid": "PUR_Requisition", "data": { "Numbers": ["CGSQ000001"] } }),
    )
    .await;
    assert_eq!(status(&audit)["IsSuccess"], false);
    let reject = call(
        "WorkflowAudit",
        json!({ "data": { "FormId": "PUR_Requisition", "Numbers": ["CGSQ000001"],
        "UserName": "administrator", "ApprovalType": 2, "Disposition": "too expensive" } }),
    )
    .await;
    assert_eq!(status(&reject)["IsSuccess"], true, "{reject}");
    let pid = sim.state().find("PUR_Requisition", "CGSQ000001").unwrap();
    assert_eq!(
        sim.state().status("PUR_Requisition", pid).as_deref(),
        Some("D")
    );
    assert_eq!(sim.state().decisions[0].disposition, "too expensive");
    call(
        "Submit",
        json!({ "formid": "PUR_Requisition", "data": { "Ids": pid.to_string() } }),
    )
    .await;
    sim.advance("PUR_Requisition", pid, true).unwrap();
    assert_eq!(
        sim.state().status("PUR_Requisition", pid).as_deref(),
        Some("C")
    );
    assert!(sim.advance("PUR_Requisition", pid, true).is_err());

    // Base data: forbid an employee.
    let forbid = call(
        "ExcuteOperation",
        json!({ "formid": "BD_Empinfo", "opNumber": "Forbid",
        "data": { "Numbers": ["E003"] } }),
    )
    .await;
    assert_eq!(status(&forbid)["IsSuccess"], true, "{forbid}");
    let rows = call(
        "ExecuteBillQuery",
        json!({ "data": { "FormId": "BD_Empinfo", "FieldKeys": "FNumber",
        "FilterString": "FForbidStatus = 'B'" } }),
    )
    .await;
    assert_eq!(rows, json!([["E003"]]));

    // Base data: a department needs its number (编码); a field is emptied by saving it empty, named in
    // NeedUpDateFields.
    let numberless = call(
        "Save",
        json!({ "formid": "BD_Department", "data": { "Model": { "FID": 0, "FName": "Platform" } } }),
    )
    .await;
    assert_eq!(status(&numberless)["IsSuccess"], false);
    assert_eq!(status(&numberless)["Errors"][0]["FieldName"], "FNumber");
    assert_eq!(
        status(&numberless)["Errors"][0]["Message"],
        "字段“编码”是必填项"
    );
    let saved = call(
        "Save",
        json!({ "formid": "BD_Empinfo", "data": { "Model": { "FID": 0, "FNumber": "E100", "FName": "Sun Li",
        "FMobile": "13800000100", "FEmail": "sunli@example.com", "FDept": { "FNumber": "D01" } } } }),
    )
    .await;
    let fid = saved["Result"]["Id"].as_i64().unwrap();
    let emptied = call(
        "Save",
        json!({ "formid": "BD_Empinfo", "data": { "NeedUpDateFields": ["FMobile"],
        "Model": { "FID": fid, "FMobile": "" } } }),
    )
    .await;
    assert_eq!(status(&emptied)["IsSuccess"], true, "{emptied}");
    let row = sim.state().row("BD_Empinfo", fid).unwrap().clone();
    assert_eq!(
        (&row["FMobile"], &row["FEmail"]),
        (&json!(""), &json!("sunli@example.com"))
    );
}
