//! The HTTP side: one handler that does what every WebAPI call does first (service name from the path, faults,
//! authentication by session or signed headers), then dispatches on the service name. Every answer is HTTP 200
//! JSON, failures included (`Result.ResponseStatus.IsSuccess` false), except injected `Fault::Status` and paths that
//! are not services.
//!
//! Codes (the platform reference marks all but 1 unverified; "guess" = chosen here):
//! * `MsgCode` 0 with `ErrorCode` 500: plain failure (unknown form or service, no such row, bad request);
//! * `MsgCode` 1: session lost, expired, or the signed headers refused: log in again / fix the credentials;
//! * `MsgCode` 2: no permission (guess, per the reference's "2 无权限");
//! * `MsgCode` 4: server busy, worth a retry (guess);
//! * `MsgCode` 11: a business rule refused it: required field, unknown reference, duplicate number, wrong
//!   document status (guess: Kingdee's "验证失败").

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State as Extract;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::sign;
use super::state::{Decision, Fault, Form, State};

type Shared = Arc<Mutex<State>>;

const AUTH: &str = "Kingdee.BOS.WebApi.ServicesStub.AuthService.";
const FORMS: &str = "Kingdee.BOS.WebApi.ServicesStub.DynamicFormService.";
/// Signed requests more than this far from the server's clock are refused.
const MAX_SKEW_SECS: u64 = 300;

const SESSION_LOST: i64 = 1;
const NO_PERMISSION: i64 = 2;
const BUSY: i64 = 4;
const INVALID: i64 = 11;

pub fn router(state: Shared) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// A refused operation: `MsgCode` and the `Errors` entries (FieldName, Message, DIndex).
struct Failure {
    code: i64,
    errors: Vec<(Option<String>, String, usize)>,
}

fn fail(code: i64, message: impl Into<String>) -> Failure {
    Failure {
        code,
        errors: vec![(None, message.into(), 0)],
    }
}

impl Failure {
    fn to_json(&self) -> Value {
        let errors: Vec<Value> = self
            .errors
            .iter()
            .map(|(field, message, index)| json!({ "FieldName": field, "Message": message, "DIndex": index }))
            .collect();
        json!({ "Result": { "ResponseStatus": {
            "IsSuccess": false, "ErrorCode": 500, "Errors": errors, "SuccessEntitys": [],
            "SuccessMessages": [], "MsgCode": self.code } } })
    }
}

/// The success status with one SuccessEntitys entry per (Id, Number).
fn success(entities: &[(i64, String)]) -> Value {
    let entities: Vec<Value> = entities
        .iter()
        .enumerate()
        .map(|(i, (id, number))| json!({ "Id": id, "Number": number, "DIndex": i }))
        .collect();
    json!({ "IsSuccess": true, "ErrorCode": 0, "Errors": [], "SuccessEntitys": entities,
            "SuccessMessages": [], "MsgCode": 0 })
}

fn session_lost() -> Failure {
    fail(SESSION_LOST, "会话信息已丢失，请重新登录")
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

async fn handle(
    Extract(shared): Extract<Shared>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let path = uri.path().to_string();
    let Some(service) = path
        .strip_prefix("/k3cloud/")
        .and_then(|s| s.strip_suffix(".common.kdsvc"))
        .map(str::to_string)
    else {
        return (StatusCode::NOT_FOUND, "not found").into_response();
    };
    if method != Method::POST {
        return (StatusCode::METHOD_NOT_ALLOWED, "POST only").into_response();
    }
    let fault = {
        let mut state = shared.lock().unwrap();
        state.requests.push(service.clone());
        state.take_fault(&service)
    };
    // ExecuteBillQuery wraps every failure in a list of rows, as the real service does.
    let query = service.ends_with(".ExecuteBillQuery");
    let refuse = |failure: Failure| answer(query, failure.to_json());
    match fault {
        Some(Fault::Status(status)) => {
            return (
                StatusCode::from_u16(status).unwrap(),
                "<html><body>Server Error</body></html>",
            )
                .into_response();
        }
        Some(Fault::Delay(delay)) => tokio::time::sleep(delay).await,
        Some(Fault::SessionLost) => return refuse(session_lost()),
        Some(Fault::PermissionDenied) => return refuse(fail(NO_PERMISSION, "没有该操作权限")),
        Some(Fault::Busy) => return refuse(fail(BUSY, "服务器繁忙，请稍后再试")),
        None => {}
    }
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(value) => value,
            Err(_) => return refuse(fail(0, "请求数据不是有效的JSON格式")),
        }
    };
    let headers: HashMap<String, String> = headers
        .iter()
        .filter_map(|(k, v)| Some((k.as_str().to_lowercase(), v.to_str().ok()?.to_string())))
        .collect();
    let mut state = shared.lock().unwrap();
    if let Some(op) = service.strip_prefix(AUTH) {
        return login(&mut state, op, &body);
    }
    let user = match authenticate(&state, &headers, &path) {
        Ok(user) => user,
        Err(failure) => return refuse(failure),
    };
    let Some(op) = service.strip_prefix(FORMS) else {
        return refuse(fail(0, format!("未找到服务“{service}”")));
    };
    match operation(&mut state, op, &user, &body) {
        Ok(value) => answer(query, value),
        Err(failure) => refuse(failure),
    }
}

fn answer(query: bool, value: Value) -> Response {
    let value = if query && value.is_object() {
        json!([[value]])
    } else {
        value
    };
    axum::Json(value).into_response()
}

/// `kdservice-sessionid` from the Cookie header, or the header of that name (the SDK sends both).
fn session_id(headers: &HashMap<String, String>) -> Option<String> {
    let from_cookie = headers.get("cookie").and_then(|cookie| {
        cookie.split(';').find_map(|part| {
            let (name, value) = part.trim().split_once('=')?;
            (name == "kdservice-sessionid").then(|| value.to_string())
        })
    });
    from_cookie.or_else(|| headers.get("kdservice-sessionid").cloned())
}

/// The caller's user account: a live session first, then the signed headers. A refused signature answers the
/// session-lost shape (MsgCode 1) with the reason as its message (guess: the real server is reported to answer
/// bad third-party credentials with the plain "会话信息已丢失" text).
fn authenticate(
    state: &State,
    headers: &HashMap<String, String>,
    path: &str,
) -> Result<String, Failure> {
    if let Some(user) = session_id(headers).and_then(|id| state.session_user(&id)) {
        return Ok(user);
    }
    if !sign::is_signed(headers) {
        return Err(session_lost());
    }
    let o = &state.options;
    let signed = sign::verify(
        headers,
        path,
        &o.app_id,
        &o.app_secret,
        now_secs(),
        MAX_SKEW_SECS,
    )
    .map_err(|reason| fail(SESSION_LOST, reason))?;
    if signed.acct_id != o.acct_id {
        return Err(fail(
            SESSION_LOST,
            format!("数据中心“{}”不存在", signed.acct_id),
        ));
    }
    if !state.is_user(&signed.user_name) {
        return Err(fail(
            SESSION_LOST,
            format!("用户“{}”不存在", signed.user_name),
        ));
    }
    Ok(signed.user_name)
}

/// A string from a string or a number.
fn text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        _ => String::new(),
    }
}

fn int(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn truthy(value: &Value) -> bool {
    value == &json!(true)
        || value
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("true"))
}

/// A member of a JSON object named in any letter case.
fn member<'a>(object: &'a Value, key: &str) -> &'a Value {
    object
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v)
        })
        .unwrap_or(&Value::Null)
}

/// ValidateUser / LoginByAppSecret. Arguments come as an object (`acctID`, `username`, `password` | `appId` +
/// `appSecret`, `lcid`), as the positional list `parameters` (also a JSON string of it, as old SDKs send), or as a
/// bare list. LoginResultType: 1 ok, 0 wrong user/password/secret, -1 unknown account set (guess).
fn login(state: &mut State, op: &str, body: &Value) -> Response {
    let keys: &[&str] = match op {
        "ValidateUser" => &["acctID", "username", "password", "lcid"],
        "LoginByAppSecret" => &["acctID", "username", "appId", "appSecret", "lcid"],
        _ => {
            return axum::Json(fail(0, format!("未找到服务“{AUTH}{op}”")).to_json())
                .into_response();
        }
    };
    let parameters = match member(body, "parameters") {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        other => other.clone(),
    };
    let args: Vec<String> = match (body, &parameters) {
        (Value::Array(list), _) | (_, Value::Array(list)) => list.iter().map(text).collect(),
        _ => keys.iter().map(|k| text(member(body, k))).collect(),
    };
    let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
    let (acct, user) = (arg(0), arg(1));
    let refused = |kind: i64, message: &str| {
        axum::Json(
            json!({ "Message": message, "MessageCode": null, "LoginResultType": kind,
            "Context": null, "KDSVCSessionId": null, "IsSuccessByAPI": false }),
        )
        .into_response()
    };
    if acct != state.options.acct_id {
        return refused(-1, &format!("数据中心“{acct}”不存在，请检查账套ID"));
    }
    let Some(user_fid) = state.find("SEC_User", &user) else {
        return refused(0, "用户名或密码错误！");
    };
    let ok = if op == "ValidateUser" {
        arg(2) == state.options.password
    } else {
        arg(2) == state.options.app_id && arg(3) == state.options.app_secret
    };
    if !ok {
        let message = if op == "ValidateUser" {
            "用户名或密码错误！"
        } else {
            "应用ID或应用密钥不正确，请检查第三方系统登录授权"
        };
        return refused(0, message);
    }
    let sid = state.new_session(&user);
    let name = text(&state.row("SEC_User", user_fid).unwrap()["FName"]);
    let o = &state.options;
    let body = json!({
        "Message": null, "MessageCode": "CheckPasswordPolicy", "LoginResultType": 1,
        "Context": { "UserLocale": "zh-CN", "LogLocale": "zh-CN", "DBid": o.acct_id, "DatabaseType": 3,
            "SessionId": sid, "UserId": user_fid, "UserName": name, "UserAccount": user,
            "CustomName": "Qiao Kingdee Demo", "DataCenterName": "Qiao Simulator", "UserToken": sid,
            "CurrentOrganizationInfo": { "ID": 1, "AcctOrgType": "1", "Name": "Qiao Kingdee Demo", "FunctionIds": [] },
            "IsCH_ZH_AutoTrans": false, "DisplayVersion": "8.2 (simulator)" },
        "KDSVCSessionId": sid, "FormId": null, "RedirectFormParam": null, "FormInputObject": null,
        "ErrorStackTrace": null, "Lcid": 0, "AccessToken": null, "KdAccessResult": null, "IsSuccessByAPI": true,
    });
    let mut response = axum::Json(body).into_response();
    for cookie in [
        format!("kdservice-sessionid={sid}; path=/"),
        format!("ASP.NET_SessionId={}; path=/; HttpOnly", &sid[..24]),
    ] {
        response
            .headers_mut()
            .append(header::SET_COOKIE, HeaderValue::from_str(&cookie).unwrap());
    }
    response
}

/// The DynamicFormService operations. Arguments come as `{"formid", "opNumber"?, "data"}` (data may be a JSON
/// string, as old SDKs send) or positional `parameters`: `[formid, data]`, `[data]`, `[formid, opNumber, data]`.
fn operation(state: &mut State, op: &str, user: &str, body: &Value) -> Result<Value, Failure> {
    let parse = |v: &Value| match v {
        Value::String(s) => serde_json::from_str(s).unwrap_or(Value::Null),
        other => other.clone(),
    };
    let (form_id, op_number, data) = match member(body, "parameters") {
        Value::Array(list) => match &list[..] {
            [data] => (String::new(), String::new(), parse(data)),
            [form, data] => (text(form), String::new(), parse(data)),
            [form, op, data, ..] => (text(form), text(op), parse(data)),
            [] => (String::new(), String::new(), Value::Null),
        },
        _ => (
            text(member(body, "formid")),
            text(member(body, "opNumber")),
            parse(member(body, "data")),
        ),
    };
    if !data.is_object() {
        return Err(fail(0, "参数 data 不能为空"));
    }
    match op {
        "Save" => save(state, user, &form_id, &data),
        "Submit" | "Audit" | "UnAudit" | "Delete" => transition(state, user, op, &form_id, &data),
        "View" => view(state, user, &form_id, &data),
        "ExecuteBillQuery" => query(state, user, &text(member(&data, "FormId")), &data),
        "WorkflowAudit" => workflow_audit(state, user, &data),
        "ExcuteOperation" | "ExecuteOperation" => forbid(state, user, &form_id, &op_number, &data),
        _ => Err(fail(0, format!("未找到服务“{FORMS}{op}”"))),
    }
}

/// The form, if it exists and the user may use it: "业务对象“X”不存在" (MsgCode 0) or no permission (MsgCode 2).
fn form_for<'a>(
    state: &'a State,
    user: &str,
    form_id: &str,
    action: &str,
) -> Result<&'a Form, Failure> {
    let form = state
        .forms
        .get(form_id)
        .ok_or_else(|| fail(0, format!("业务对象“{form_id}”不存在")))?;
    if state
        .denied
        .contains(&(user.to_string(), form_id.to_string()))
    {
        return Err(fail(
            NO_PERMISSION,
            format!("用户“{user}”没有“{}”的“{action}”权限", form.name),
        ));
    }
    Ok(form)
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Object(o) => {
            o.is_empty() || o.get("FNumber").is_some_and(|n| text(n).trim().is_empty())
        }
        _ => false,
    }
}

/// Save: `data.Model` with FID 0/absent (new, status A) or FID > 0 (update, only from A, D or Z);
/// `NeedUpDateFields` limits an update to those fields; `IsAutoSubmitAndAudit` "true" submits and audits (only
/// submits on a workflow form); `NeedReturnFields` fills `NeedReturnData`.
fn save(state: &mut State, user: &str, form_id: &str, data: &Value) -> Result<Value, Failure> {
    let form = form_for(state, user, form_id, "保存")?;
    let Some(model) = member(data, "Model").as_object() else {
        return Err(fail(0, "参数 Model 不能为空"));
    };
    let fid = int(member(&Value::Object(model.clone()), "FID")).unwrap_or(0);
    let only: Vec<String> = member(data, "NeedUpDateFields")
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let system = [
        "FID",
        "FDocumentStatus",
        "FForbidStatus",
        "FCreateDate",
        "FModifyDate",
    ];
    let mut fields = Map::new();
    for (key, value) in model {
        let key = form.canonical(key).unwrap_or_else(|| key.clone());
        if system.iter().any(|s| s.eq_ignore_ascii_case(&key))
            || (fid > 0 && !only.is_empty() && !only.iter().any(|f| f.eq_ignore_ascii_case(&key)))
        {
            continue;
        }
        // A reference given as a bare number string is taken as {"FNumber": ...}.
        let value = match (form.referenced_form(&key), value) {
            (Some(_), Value::String(s)) => json!({ "FNumber": s }),
            _ => value.clone(),
        };
        fields.insert(key, value);
    }
    let mut merged = Map::new();
    if fid > 0 {
        let Some(row) = form.rows.get(&fid) else {
            return Err(fail(0, format!("Id为“{fid}”的{}不存在", form.name)));
        };
        let status = text(&row["FDocumentStatus"]);
        if !matches!(status.as_str(), "A" | "D" | "Z") {
            return Err(Failure {
                code: INVALID,
                errors: vec![(
                    None,
                    format!(
                        "“{}”的数据状态为“{}”，不允许修改",
                        text(&row[&form.number_field]),
                        status_name(&status)
                    ),
                    0,
                )],
            });
        }
        merged = row.as_object().unwrap().clone();
    }
    merged.extend(fields.clone());
    let mut errors = Vec::new();
    for (field, label) in &form.required {
        if is_empty(merged.get(field).unwrap_or(&Value::Null)) {
            errors.push((Some(field.clone()), format!("字段“{label}”是必填项"), 0));
        }
    }
    for (field, target) in &form.refs {
        let Some(value) = merged.get(field).filter(|v| !is_empty(v)) else {
            continue;
        };
        let number = text(member(value, "FNumber"));
        if state.find(target, &number).is_none() {
            let label = form
                .required
                .iter()
                .find(|(f, _)| f == field)
                .map_or(field.as_str(), |(_, l)| l);
            errors.push((
                Some(field.clone()),
                format!("字段“{label}”的值“{number}”在系统中不存在"),
                0,
            ));
        }
    }
    let number = text(merged.get(&form.number_field).unwrap_or(&Value::Null));
    if !number.is_empty() && form.find_number(&number).is_some_and(|other| other != fid) {
        errors.push((
            Some(form.number_field.clone()),
            format!("编码“{number}”已存在，编码必须唯一"),
            0,
        ));
    }
    if !errors.is_empty() {
        return Err(Failure {
            code: INVALID,
            errors,
        });
    }
    let auto = truthy(member(data, "IsAutoSubmitAndAudit"));
    let auto_status = if form.workflow { "B" } else { "C" };
    let fid = if fid > 0 {
        if auto {
            fields.insert("FDocumentStatus".into(), json!(auto_status));
        }
        state.update(form_id, fid, fields);
        fid
    } else {
        state.insert(
            form_id,
            Value::Object(fields),
            if auto { auto_status } else { "A" },
        )
    };
    let form = &state.forms[form_id];
    let row = &form.rows[&fid];
    let number = text(&row[&form.number_field]);
    let wanted: Vec<String> = member(data, "NeedReturnFields")
        .as_array()
        .into_iter()
        .flatten()
        .map(text)
        .collect();
    let returned: Map<String, Value> = wanted
        .iter()
        .map(|f| {
            (
                f.clone(),
                row.get(form.canonical(f).unwrap_or_default())
                    .cloned()
                    .unwrap_or(Value::Null),
            )
        })
        .collect();
    Ok(
        json!({ "Result": { "ResponseStatus": success(&[(fid, number.clone())]), "Id": fid, "Number": number,
        "NeedReturnData": [returned] } }),
    )
}

fn status_name(status: &str) -> &'static str {
    match status {
        "Z" => "暂存",
        "A" => "创建",
        "B" => "审核中",
        "C" => "已审核",
        "D" => "重新审核",
        _ => "未知",
    }
}

/// The rows `data.Numbers` (a list) or `data.Ids` ("1,2", a number or a list) name: (FID, number), or one error
/// per missing one (DIndex = its position).
fn targets(form: &Form, data: &Value) -> Result<Vec<(i64, String)>, Failure> {
    let numbers = member(data, "Numbers");
    let ids = member(data, "Ids");
    let wanted: Vec<(bool, String)> =
        if let Some(list) = numbers.as_array().filter(|l| !l.is_empty()) {
            list.iter().map(|n| (true, text(n))).collect()
        } else {
            let list: Vec<String> = match ids {
                Value::Array(items) => items.iter().map(text).collect(),
                other => text(other)
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            };
            list.into_iter().map(|id| (false, id)).collect()
        };
    if wanted.is_empty() {
        return Err(fail(0, "参数 Numbers 和 Ids 不能同时为空"));
    }
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for (index, (by_number, key)) in wanted.into_iter().enumerate() {
        let fid = if by_number {
            form.find_number(&key)
        } else {
            key.parse().ok().filter(|id| form.rows.contains_key(id))
        };
        match fid {
            Some(fid) => found.push((fid, text(&form.rows[&fid][&form.number_field]))),
            None if by_number => {
                errors.push((None, format!("编码为“{key}”的{}不存在", form.name), index))
            }
            None => errors.push((None, format!("Id为“{key}”的{}不存在", form.name), index)),
        }
    }
    if errors.is_empty() {
        Ok(found)
    } else {
        Err(Failure { code: 0, errors })
    }
}

/// Submit (A/D/Z → B), Audit (B → C), UnAudit (B or C → D; from B it is a simplification of withdrawing),
/// Delete (A/D/Z only). All or nothing: one refused row refuses the call.
fn transition(
    state: &mut State,
    user: &str,
    op: &str,
    form_id: &str,
    data: &Value,
) -> Result<Value, Failure> {
    let action = match op {
        "Submit" => "提交",
        "Audit" => "审核",
        "UnAudit" => "反审核",
        _ => "删除",
    };
    let form = form_for(state, user, form_id, action)?;
    let rows = targets(form, data)?;
    // Guess: with a BOS workflow attached, a direct Audit is refused unless IsVerifyProcInst is "false".
    let verify_workflow = form.workflow
        && !member(data, "IsVerifyProcInst")
            .as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("false"))
        && member(data, "IsVerifyProcInst") != &json!(false);
    let mut errors = Vec::new();
    for (index, (fid, number)) in rows.iter().enumerate() {
        let status = text(&form.rows[fid]["FDocumentStatus"]);
        let allowed = match op {
            "Submit" => matches!(status.as_str(), "A" | "D" | "Z"),
            "Audit" => status == "B",
            "UnAudit" => matches!(status.as_str(), "B" | "C"),
            _ => matches!(status.as_str(), "A" | "D" | "Z"),
        };
        if !allowed {
            let message = format!(
                "“{number}”的数据状态为“{}”，不能{action}",
                status_name(&status)
            );
            errors.push((None, message, index));
        } else if op == "Audit" && verify_workflow {
            errors.push((
                None,
                format!("“{number}”已启用工作流，请通过工作流审批(WorkflowAudit)"),
                index,
            ));
        }
    }
    if !errors.is_empty() {
        return Err(Failure {
            code: INVALID,
            errors,
        });
    }
    for (fid, _) in &rows {
        match op {
            "Delete" => {
                state.forms.get_mut(form_id).unwrap().rows.remove(fid);
                state.touch();
            }
            _ => {
                let status = match op {
                    "Submit" => "B",
                    "Audit" => "C",
                    _ => "D",
                };
                state.update(
                    form_id,
                    *fid,
                    Map::from_iter([("FDocumentStatus".into(), json!(status))]),
                );
            }
        }
    }
    Ok(json!({ "Result": { "ResponseStatus": success(&rows) } }))
}

/// View by `Id` or `Number`: the row's fields plus `Id`, `Number` (base data) or `BillNo` (bills),
/// `DocumentStatus`, `ForbidStatus` (base data), `CreateDate`, `ModifyDate`. Simplified: real View answers nested
/// objects without the F prefix; here the saved F-fields are returned as saved, references as `{"FNumber"}`.
fn view(state: &State, user: &str, form_id: &str, data: &Value) -> Result<Value, Failure> {
    let form = form_for(state, user, form_id, "查看")?;
    let id = int(member(data, "Id")).filter(|id| *id != 0);
    let number = text(member(data, "Number"));
    let fid = match id {
        Some(id) => form.rows.contains_key(&id).then_some(id),
        None => form.find_number(&number),
    };
    let Some(fid) = fid else {
        let key = id.map_or(format!("编码为“{number}”"), |id| {
            format!("Id为“{id}”")
        });
        return Err(fail(0, format!("{key}的{}不存在", form.name)));
    };
    let mut result = form.rows[&fid].as_object().unwrap().clone();
    result.insert("Id".into(), json!(fid));
    let number_key = if form.bill { "BillNo" } else { "Number" };
    result.insert(number_key.into(), result[&form.number_field].clone());
    for (alias, field) in [
        ("DocumentStatus", "FDocumentStatus"),
        ("ForbidStatus", "FForbidStatus"),
        ("CreateDate", "FCreateDate"),
        ("ModifyDate", "FModifyDate"),
    ] {
        if let Some(value) = result.get(field).cloned() {
            result.insert(alias.into(), value);
        }
    }
    Ok(json!({ "Result": { "ResponseStatus": null, "Result": result } }))
}

/// How a FieldKeys / FilterString / OrderString key reads a row.
enum Key {
    /// A field of the row itself (a reference field reads as the referenced row's FID, 0 when empty).
    Plain(String),
    /// `FRef.FSub`: a field of the referenced row (`FNumber` straight from the reference).
    Sub(String, String, String),
}

fn resolve_key(state: &State, form: &Form, key: &str) -> Result<Key, String> {
    let unknown = || format!("字段“{key}”在业务对象“{}”中不存在", form.id);
    match key.split_once('.') {
        Some((head, sub)) => {
            let target = form.referenced_form(head).ok_or_else(unknown)?;
            let head = form.canonical(head).ok_or_else(unknown)?;
            let sub = state.forms[target].canonical(sub).ok_or_else(unknown)?;
            Ok(Key::Sub(head, target.to_string(), sub))
        }
        None => form.canonical(key).map(Key::Plain).ok_or_else(unknown),
    }
}

fn read_key(state: &State, form: &Form, row: &Value, key: &Key) -> Value {
    match key {
        Key::Plain(field) => match form.referenced_form(field) {
            Some(target) => {
                let number = text(member(&row[field.as_str()], "FNumber"));
                json!(state.find(target, &number).unwrap_or(0))
            }
            None => row.get(field).cloned().unwrap_or(Value::Null),
        },
        Key::Sub(field, target, sub) => {
            let number = text(member(&row[field.as_str()], "FNumber"));
            let referenced = &state.forms[target];
            if sub == &referenced.number_field {
                return if number.is_empty() {
                    Value::Null
                } else {
                    json!(number)
                };
            }
            referenced
                .find_number(&number)
                .and_then(|fid| referenced.rows[&fid].get(sub).cloned())
                .unwrap_or(Value::Null)
        }
    }
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

enum Literal {
    Text(String),
    Number(f64),
}

/// The supported FilterString grammar: `Field op 'text'` or `Field op number` clauses, op one of
/// `= <> != > >= < <=`, joined by `and` (any case). Anything else is refused with a message.
fn parse_filter(filter: &str) -> Result<Vec<(String, Op, Literal)>, String> {
    let chars: Vec<char> = filter.chars().collect();
    let mut i = 0;
    let mut clauses = Vec::new();
    let unsupported = |at: usize| {
        format!(
            "过滤条件“{filter}”在第{}个字符处无法解析(模拟器只支持 and 连接的比较)",
            at + 1
        )
    };
    let skip = |i: &mut usize| {
        while *i < chars.len() && chars[*i].is_whitespace() {
            *i += 1;
        }
    };
    loop {
        skip(&mut i);
        if i == chars.len() && clauses.is_empty() {
            return Ok(clauses);
        }
        let start = i;
        while i < chars.len() && (chars[i].is_alphanumeric() || chars[i] == '_' || chars[i] == '.')
        {
            i += 1;
        }
        if start == i {
            return Err(unsupported(i));
        }
        let field: String = chars[start..i].iter().collect();
        skip(&mut i);
        let two: String = chars[i..chars.len().min(i + 2)].iter().collect();
        let (op, width) = match (two.as_str(), chars.get(i)) {
            (">=", _) => (Op::Ge, 2),
            ("<=", _) => (Op::Le, 2),
            ("<>" | "!=", _) => (Op::Ne, 2),
            (_, Some('=')) => (Op::Eq, 1),
            (_, Some('>')) => (Op::Gt, 1),
            (_, Some('<')) => (Op::Lt, 1),
            _ => return Err(unsupported(i)),
        };
        i += width;
        skip(&mut i);
        let literal = if chars.get(i) == Some(&'\'') {
            i += 1;
            let mut value = String::new();
            loop {
                match chars.get(i) {
                    None => return Err(unsupported(i)),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        value.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(c) => {
                        value.push(*c);
                        i += 1;
                    }
                }
            }
            Literal::Text(value)
        } else {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || "+-.".contains(chars[i])) {
                i += 1;
            }
            let number: String = chars[start..i].iter().collect();
            Literal::Number(number.parse().map_err(|_| unsupported(start))?)
        };
        clauses.push((field, op, literal));
        skip(&mut i);
        if i == chars.len() {
            return Ok(clauses);
        }
        let word: String = chars[i..chars.len().min(i + 3)].iter().collect();
        if !word.eq_ignore_ascii_case("and") || !chars.get(i + 3).is_some_and(|c| c.is_whitespace())
        {
            return Err(unsupported(i));
        }
        i += 3;
    }
}

/// Dates compare as text once "YYYY-MM-DD HH:MM:SS" and "YYYY-MM-DD" are brought to the stored
/// "YYYY-MM-DDTHH:MM:SS.fff" form.
fn normalize(text: String) -> String {
    let bytes = text.as_bytes();
    if bytes.len() < 10 || bytes[4] != b'-' || bytes[7] != b'-' {
        return text;
    }
    let mut out = text.replacen(' ', "T", 1);
    match out.len() {
        10 => out.push_str("T00:00:00.000"),
        16 => out.push_str(":00.000"),
        19 => out.push_str(".000"),
        _ => {}
    }
    out
}

fn compare(value: &Value, op: Op, literal: &Literal) -> bool {
    let ordering = match literal {
        Literal::Text(expected) => Some(normalize(text(value)).cmp(&normalize(expected.clone()))),
        Literal::Number(expected) => {
            let actual = match value {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse().ok(),
                _ => None,
            };
            actual.and_then(|a| a.partial_cmp(expected))
        }
    };
    let Some(ordering) = ordering else {
        return false;
    };
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => ordering == Equal,
        Op::Ne => ordering != Equal,
        Op::Gt => ordering == Greater,
        Op::Ge => ordering != Less,
        Op::Lt => ordering == Less,
        Op::Le => ordering != Greater,
    }
}

fn order_values(a: &Value, b: &Value) -> std::cmp::Ordering {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x.total_cmp(&y),
        _ => normalize(text(a)).cmp(&normalize(text(b))),
    }
}

/// ExecuteBillQuery: rows of `FormId` matching `FilterString`, sorted by `OrderString` (then FID), cut to
/// `TopRowCount` (0 = all), then paged by `StartRow` and `Limit` (0 = all); each row a list in `FieldKeys` order.
fn query(state: &State, user: &str, form_id: &str, data: &Value) -> Result<Value, Failure> {
    let form = form_for(state, user, form_id, "查看")?;
    let bad = |message: String| Failure {
        code: 0,
        errors: vec![(None, message, 0)],
    };
    let field_keys = text(member(data, "FieldKeys"));
    let keys: Vec<Key> = field_keys
        .split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(|k| resolve_key(state, form, k))
        .collect::<Result<_, _>>()
        .map_err(bad)?;
    if keys.is_empty() {
        return Err(bad("参数 FieldKeys 不能为空".into()));
    }
    let filters: Vec<(Key, Op, Literal)> = parse_filter(&text(member(data, "FilterString")))
        .map_err(bad)?
        .into_iter()
        .map(|(field, op, literal)| Ok((resolve_key(state, form, &field)?, op, literal)))
        .collect::<Result<_, String>>()
        .map_err(bad)?;
    let mut order = Vec::new();
    for part in text(member(data, "OrderString"))
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let mut words = part.split_whitespace();
        let key = resolve_key(state, form, words.next().unwrap()).map_err(bad)?;
        let descending = match words.next().map(str::to_ascii_uppercase).as_deref() {
            None | Some("ASC") => false,
            Some("DESC") => true,
            Some(_) => return Err(bad(format!("排序条件“{part}”无法解析"))),
        };
        order.push((key, descending));
    }
    let mut rows: Vec<&Value> = form
        .rows
        .values()
        .filter(|row| {
            filters
                .iter()
                .all(|(key, op, literal)| compare(&read_key(state, form, row, key), *op, literal))
        })
        .collect();
    rows.sort_by(|a, b| {
        order
            .iter()
            .map(|(key, descending)| {
                let ordering = order_values(
                    &read_key(state, form, a, key),
                    &read_key(state, form, b, key),
                );
                if *descending {
                    ordering.reverse()
                } else {
                    ordering
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or_else(|| order_values(&a["FID"], &b["FID"]))
    });
    let top = int(member(data, "TopRowCount")).unwrap_or(0).max(0) as usize;
    if top > 0 {
        rows.truncate(top);
    }
    let start = int(member(data, "StartRow")).unwrap_or(0).max(0) as usize;
    let limit = int(member(data, "Limit")).unwrap_or(0).max(0) as usize;
    let page = rows
        .into_iter()
        .skip(start)
        .take(if limit == 0 { usize::MAX } else { limit })
        .map(|row| {
            Value::Array(
                keys.iter()
                    .map(|key| read_key(state, form, row, key))
                    .collect(),
            )
        })
        .collect();
    Ok(Value::Array(page))
}

/// WorkflowAudit: `{"FormId", "Numbers" | "Ids", "UserName"?, "ApprovalType": 1 approve | 2 reject,
/// "Disposition"}` on bills of a workflow form in status B: approve → C, reject → D (the bill goes back to its
/// applicant, who may submit it again).
fn workflow_audit(state: &mut State, user: &str, data: &Value) -> Result<Value, Failure> {
    let form_id = text(member(data, "FormId"));
    let form = form_for(state, user, &form_id, "审批")?;
    if !form.workflow {
        return Err(fail(
            INVALID,
            format!("业务对象“{}”未启用工作流，请使用 Audit", form.name),
        ));
    }
    let approve = match int(member(data, "ApprovalType")) {
        Some(1) => true,
        Some(2) => false,
        _ => return Err(fail(0, "参数 ApprovalType 无效(1 同意，2 驳回)")),
    };
    let approver = match text(member(data, "UserName")) {
        name if name.is_empty() => user.to_string(),
        name if state.is_user(&name) => name,
        name => return Err(fail(0, format!("用户“{name}”不存在"))),
    };
    let rows = targets(form, data)?;
    let errors: Vec<_> = rows
        .iter()
        .enumerate()
        .filter(|(_, (fid, _))| form.rows[fid]["FDocumentStatus"] != "B")
        .map(|(index, (_, number))| (None, format!("“{number}”当前没有待处理的工作流任务"), index))
        .collect();
    if !errors.is_empty() {
        return Err(Failure {
            code: INVALID,
            errors,
        });
    }
    let disposition = text(member(data, "Disposition"));
    for (fid, number) in &rows {
        let status = if approve { "C" } else { "D" };
        state.update(
            &form_id,
            *fid,
            Map::from_iter([("FDocumentStatus".into(), json!(status))]),
        );
        state.decisions.push(Decision {
            form_id: form_id.clone(),
            number: number.clone(),
            user: approver.clone(),
            approve,
            disposition: disposition.clone(),
        });
    }
    Ok(json!({ "Result": { "ResponseStatus": success(&rows) } }))
}

/// ExcuteOperation `Forbid` (FForbidStatus B) / `Enable` (A) on base data, by `Numbers` or `Ids`; idempotent.
fn forbid(
    state: &mut State,
    user: &str,
    form_id: &str,
    op_number: &str,
    data: &Value,
) -> Result<Value, Failure> {
    let form = form_for(state, user, form_id, "禁用")?;
    let status = match op_number.to_ascii_lowercase().as_str() {
        "forbid" if !form.bill => "B",
        "enable" if !form.bill => "A",
        _ => {
            return Err(fail(
                0,
                format!("业务对象“{}”不存在操作“{op_number}”", form.name),
            ));
        }
    };
    let rows = targets(form, data)?;
    for (fid, _) in &rows {
        state.update(
            form_id,
            *fid,
            Map::from_iter([("FForbidStatus".into(), json!(status))]),
        );
    }
    Ok(json!({ "Result": { "ResponseStatus": success(&rows) } }))
}
