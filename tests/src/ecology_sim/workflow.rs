//! §3 workflow: `/api/workflow/paService/*`, acting as the person in the `userid` header.
//!
//! The seeded workflow has four nodes: 创建 (creator) → 部门经理审批 (the creator's manager, or a fallback) →
//! 总经理审批 (a fixed person) → 归档. `doCreateRequest` submits to the first approval unless
//! `otherParams.isnextflow` is 0; `submitRequest` moves one node on (or only saves with `src: save`);
//! `rejectRequest` sends it back to the creator (or to `RejectToNodeid` when that is an earlier node).
//!
//! Envelope `{code, data, errMsg}` as documented; `errMsg` is `{"msg": text}` (guessed: its keys are not
//! documented). Lists answer a bare JSON array and the `...Count` endpoints a bare number, as documented.
//! The `status` text (node name, "退回" after a reject, "归档" at the end) is guessed.

use std::collections::BTreeMap;

use axum::http::Method;
use serde_json::{Value, json};

use super::api::Params;
use super::state::{LogEntry, Request, State};

/// Longest requestName accepted (the simulator's bound; e-cology's column is a few hundred characters).
const MAX_NAME: usize = 500;
const MAX_PAGE_SIZE: usize = 1000;
const MAX_DETAIL_ROWS: usize = 1000;

pub enum Answer {
    Json(Value),
    Text(String),
}

pub fn envelope_error(code: &str, msg: &str) -> Value {
    json!({ "code": code, "data": {}, "errMsg": { "msg": msg } })
}

fn success(data: Value) -> Answer {
    Answer::Json(json!({ "code": "SUCCESS", "data": data, "errMsg": {} }))
}

fn error(code: &str, msg: impl Into<String>) -> Answer {
    Answer::Json(envelope_error(code, &msg.into()))
}

fn param_error(msg: impl Into<String>) -> Answer {
    error("PARAM_ERROR", msg)
}

pub fn handle(
    state: &mut State,
    method: &Method,
    name: &str,
    user: i64,
    params: &Params,
) -> Answer {
    let post_only = matches!(name, "doCreateRequest" | "submitRequest" | "rejectRequest");
    if post_only && method != Method::POST {
        return param_error("请使用POST请求");
    }
    match name {
        "doCreateRequest" => create(state, user, params),
        "submitRequest" => submit(state, user, params),
        "rejectRequest" => reject(state, user, params),
        "getWorkflowRequest" => with_request(state, user, params, detail),
        "getRequestStatus" => with_request(state, user, params, status),
        "getRequestLog" => with_request(state, user, params, |s, r, _| json!(logs_json(s, r))),
        "getToDoWorkflowRequestList" => list(state, user, params, List::ToDo, false),
        "getToDoWorkflowRequestCount" => list(state, user, params, List::ToDo, true),
        "getHandledWorkflowRequestList" => list(state, user, params, List::Handled, false),
        "getHandledWorkflowRequestCount" => list(state, user, params, List::Handled, true),
        "getMyWorkflowRequestList" => list(state, user, params, List::Mine, false),
        "getMyWorkflowRequestCount" => list(state, user, params, List::Mine, true),
        _ => error("SYSTEM_INNER_ERROR", format!("接口不存在: {name}")),
    }
}

fn other_params(params: &Params) -> Result<serde_json::Map<String, Value>, Answer> {
    match params.json("otherParams") {
        Ok(Some(Value::Object(map))) => Ok(map),
        Ok(None) => Ok(Default::default()),
        Ok(Some(_)) | Err(_) => Err(param_error("otherParams 格式错误")),
    }
}

fn text_of(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// `[{"fieldName","fieldValue"}]` against the form's fields.
fn fields(
    value: &Value,
    allowed: &[String],
    table: &str,
) -> Result<BTreeMap<String, Value>, String> {
    let Some(items) = value.as_array() else {
        return Err(format!("{table} 的字段必须是数组"));
    };
    let mut out = BTreeMap::new();
    for item in items {
        let name = item.get("fieldName").map(text_of).unwrap_or_default();
        if !allowed.iter().any(|f| f.eq_ignore_ascii_case(&name)) {
            return Err(format!("字段 {name} 在表 {table} 中不存在"));
        }
        out.insert(
            name.to_lowercase(),
            item.get("fieldValue").cloned().unwrap_or(Value::Null),
        );
    }
    Ok(out)
}

type Details = BTreeMap<String, Vec<BTreeMap<String, Value>>>;

fn detail_data(value: &Value, tables: &BTreeMap<String, Vec<String>>) -> Result<Details, String> {
    let Some(items) = value.as_array() else {
        return Err("detailData 必须是数组".into());
    };
    let mut out = BTreeMap::new();
    for table in items {
        let table_name = table.get("tableDBName").map(text_of).unwrap_or_default();
        let Some(allowed) = tables.get(&table_name) else {
            return Err(format!("明细表 {table_name} 不存在"));
        };
        let records = table
            .get("workflowRequestTableRecords")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if records.len() > MAX_DETAIL_ROWS {
            return Err(format!("明细表 {table_name} 最多 {MAX_DETAIL_ROWS} 行"));
        }
        let mut rows = Vec::new();
        for record in &records {
            let row_fields = record
                .get("workflowRequestTableFields")
                .cloned()
                .unwrap_or(json!([]));
            rows.push(fields(&row_fields, allowed, &table_name)?);
        }
        out.insert(table_name, rows);
    }
    Ok(out)
}

fn create(state: &mut State, user: i64, params: &Params) -> Answer {
    // Malformed input is famously reported as "workflowId 为 0" (ECOLOGY.md §3).
    let workflow_id = params
        .text("workflowId")
        .and_then(|s| s.trim().parse::<i64>().ok())
        .unwrap_or(0);
    if workflow_id == 0 {
        return param_error("workflowId 为 0");
    }
    let Some(def) = state.workflows.get(&workflow_id).cloned() else {
        return param_error(format!("流程 {workflow_id} 不存在"));
    };
    if state.denied_create.contains(&(user, workflow_id)) {
        return error("NO_PERMISSION", "没有创建该流程的权限");
    }
    let name = params
        .text("requestName")
        .unwrap_or_default()
        .trim()
        .to_string();
    if name.is_empty() {
        return param_error("requestName 不能为空");
    }
    if name.chars().count() > MAX_NAME {
        return param_error(format!("requestName 最多 {MAX_NAME} 字"));
    }
    let main = match params.json("mainData") {
        Ok(Some(value)) => match fields(&value, &def.main_fields, &def.main_table) {
            Ok(main) => main,
            Err(e) => return param_error(e),
        },
        Ok(None) => return param_error("mainData 不能为空"),
        Err(_) => return param_error("workflowId 为 0"),
    };
    let details = match params.json("detailData") {
        Ok(Some(value)) => match detail_data(&value, &def.detail_tables) {
            Ok(d) => d,
            Err(e) => return param_error(e),
        },
        Ok(None) => BTreeMap::new(),
        Err(_) => return param_error("detailData 格式错误"),
    };
    let other = match other_params(params) {
        Ok(o) => o,
        Err(answer) => return answer,
    };
    let next = other
        .get("isnextflow")
        .map(text_of)
        .is_none_or(|v| v != "0");
    let level = params
        .text("requestLevel")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let now = state.now_text();
    let id = state.next_id();
    let mut request = Request {
        id,
        workflow_id,
        name,
        level,
        creator: user,
        main,
        details,
        node: 0,
        operators: vec![user],
        receive_time: now.clone(),
        handled: Default::default(),
        rejected: false,
        created: now.clone(),
        last_operate_time: now.clone(),
        last_operator: user,
        logs: Vec::new(),
    };
    let remark = params.text("remark").unwrap_or_default();
    if next {
        advance(state, &mut request, user, "2", &remark);
    }
    state.requests.insert(id, request);
    success(json!({ "requestid": id }))
}

/// Who acts at `node` of the request.
fn operators_at(state: &State, request: &Request, node: usize) -> Vec<i64> {
    let def = &state.workflows[&request.workflow_id];
    match node {
        0 => vec![request.creator],
        1 => vec![
            state
                .people
                .get(&request.creator)
                .and_then(|p| p.manager)
                .filter(|m| state.people.get(m).is_some_and(|p| p.active()))
                .unwrap_or(def.first_approver_fallback),
        ],
        n if n + 1 < def.nodes.len() => vec![def.second_approver],
        _ => Vec::new(),
    }
}

/// `user` passes the request on from its current node.
fn advance(state: &State, request: &mut Request, user: i64, log_type: &str, remark: &str) {
    let now = state.now_text();
    let from = state.node_of(request).clone();
    request.logs.push(LogEntry {
        operator: user,
        node_id: from.id,
        node_name: from.name,
        log_type: log_type.into(),
        remark: remark.into(),
        time: now.clone(),
    });
    request.handled.insert(user);
    request.node += 1;
    request.operators = operators_at(state, request, request.node);
    request.rejected = false;
    request.receive_time = now.clone();
    request.last_operate_time = now;
    request.last_operator = user;
}

fn request_id(params: &Params) -> Option<i64> {
    params.text("requestId").and_then(|s| s.trim().parse().ok())
}

fn submit(state: &mut State, user: i64, params: &Params) -> Answer {
    let Some(id) = request_id(params) else {
        return param_error("requestId 不能为空");
    };
    let Some(mut request) = state.requests.get(&id).cloned() else {
        return param_error(format!("流程 {id} 不存在"));
    };
    if !request.operators.contains(&user) {
        return error("NO_PERMISSION", "没有权限操作该流程");
    }
    let def = state.workflows[&request.workflow_id].clone();
    if let Ok(Some(value)) = params.json("mainData") {
        match fields(&value, &def.main_fields, &def.main_table) {
            Ok(main) => request.main.extend(main),
            Err(e) => return param_error(e),
        }
    }
    let other = match other_params(params) {
        Ok(o) => o,
        Err(answer) => return answer,
    };
    let remark = params.text("remark").unwrap_or_default();
    if other.get("src").map(text_of).as_deref() == Some("save") {
        request.last_operate_time = state.now_text();
        request.last_operator = user;
    } else {
        let log_type = if request.node == 0 { "2" } else { "0" };
        advance(state, &mut request, user, log_type, &remark);
    }
    state.requests.insert(id, request);
    success(json!({}))
}

fn reject(state: &mut State, user: i64, params: &Params) -> Answer {
    let Some(id) = request_id(params) else {
        return param_error("requestId 不能为空");
    };
    let Some(mut request) = state.requests.get(&id).cloned() else {
        return param_error(format!("流程 {id} 不存在"));
    };
    if !request.operators.contains(&user) {
        return error("NO_PERMISSION", "没有权限操作该流程");
    }
    if request.node == 0 {
        return param_error("创建节点不能退回");
    }
    let other = match other_params(params) {
        Ok(o) => o,
        Err(answer) => return answer,
    };
    let def = state.workflows[&request.workflow_id].clone();
    let to = other
        .get("RejectToNodeid")
        .map(text_of)
        .and_then(|s| s.parse::<i64>().ok())
        .and_then(|node_id| def.nodes.iter().position(|n| n.id == node_id))
        .filter(|index| *index < request.node)
        .unwrap_or(0);
    let now = state.now_text();
    let from = &def.nodes[request.node];
    request.logs.push(LogEntry {
        operator: user,
        node_id: from.id,
        node_name: from.name.clone(),
        log_type: "3".into(),
        remark: params.text("remark").unwrap_or_default(),
        time: now.clone(),
    });
    request.handled.insert(user);
    request.node = to;
    request.operators = operators_at(state, &request, to);
    request.rejected = true;
    request.receive_time = now.clone();
    request.last_operate_time = now;
    request.last_operator = user;
    state.requests.insert(id, request);
    success(json!({}))
}

fn with_request(
    state: &mut State,
    user: i64,
    params: &Params,
    render: fn(&State, &Request, i64) -> Value,
) -> Answer {
    let Some(id) = request_id(params) else {
        return param_error("requestId 不能为空");
    };
    let Some(request) = state.requests.get(&id) else {
        return param_error(format!("流程 {id} 不存在"));
    };
    let can_see = request.creator == user
        || request.handled.contains(&user)
        || request.operators.contains(&user);
    if !can_see {
        return error("NO_PERMISSION", "没有查看该流程的权限");
    }
    success(render(state, request, user))
}

pub fn status_text(state: &State, request: &Request) -> String {
    let node = state.node_of(request);
    match (node.node_type, request.rejected) {
        (0, true) => "退回".into(),
        (3, _) => "归档".into(),
        _ => node.name.clone(),
    }
}

fn name_of(state: &State, id: i64) -> String {
    state
        .people
        .get(&id)
        .map(|p| p.lastname.clone())
        .unwrap_or_default()
}

fn base_info(state: &State, request: &Request) -> Value {
    let def = &state.workflows[&request.workflow_id];
    json!({ "workflowId": def.id.to_string(), "workflowName": def.name, "workflowTypeId": def.type_id.to_string(),
            "workflowTypeName": def.type_name, "formId": def.form_id.to_string() })
}

fn table_fields(fields: &BTreeMap<String, Value>) -> Value {
    json!(
        fields
            .iter()
            .map(|(k, v)| json!({ "fieldName": k, "fieldValue": text_of(v) }))
            .collect::<Vec<_>>()
    )
}

fn logs_json(state: &State, request: &Request) -> Vec<Value> {
    request
        .logs
        .iter()
        .map(|l| {
            json!({ "operatorId": l.operator.to_string(), "operatorName": name_of(state, l.operator),
                    "nodeId": l.node_id.to_string(), "nodeName": l.node_name, "operateType": l.log_type,
                    "remark": l.remark, "operateDate": &l.time[..10], "operateTime": &l.time[11..] })
        })
        .collect()
}

fn detail(state: &State, request: &Request, _user: i64) -> Value {
    let def = &state.workflows[&request.workflow_id];
    let node = state.node_of(request);
    let details: Vec<Value> = request
        .details
        .iter()
        .map(|(table, rows)| {
            let records: Vec<Value> = rows
                .iter()
                .enumerate()
                .map(|(i, row)| json!({ "recordOrder": i, "workflowRequestTableFields": table_fields(row) }))
                .collect();
            json!({ "tableDBName": table, "workflowRequestTableRecords": records })
        })
        .collect();
    json!({
        "requestId": request.id.to_string(), "requestName": request.name,
        "requestLevel": request.level.to_string(), "creatorId": request.creator.to_string(),
        "creatorName": name_of(state, request.creator), "createTime": request.created,
        "currentNodeId": node.id.to_string(), "currentNodeName": node.name,
        "currentNodeType": node.node_type.to_string(), "status": status_text(state, request),
        "lastOperateTime": request.last_operate_time, "lastOperatorId": request.last_operator.to_string(),
        "lastOperatorName": name_of(state, request.last_operator),
        "currentOperatorIds": request.operators.iter().map(|o| o.to_string()).collect::<Vec<_>>(),
        "workflowBaseInfo": base_info(state, request),
        "workflowMainTableInfo": { "tableDBName": def.main_table,
            "requestRecords": [{ "recordOrder": 0, "workflowRequestTableFields": table_fields(&request.main) }] },
        "workflowDetailTableInfos": details,
        "workflowRequestLogs": logs_json(state, request),
    })
}

fn status(state: &State, request: &Request, user: i64) -> Value {
    let node = state.node_of(request);
    let isremark = if request.operators.contains(&user) {
        "0"
    } else if request.handled.contains(&user) {
        "2"
    } else {
        ""
    };
    json!({ "requestId": request.id.to_string(), "currentNodeId": node.id.to_string(),
            "currentNodeName": node.name, "currentNodeType": node.node_type.to_string(), "isremark": isremark,
            "status": status_text(state, request), "creatorId": request.creator.to_string(),
            "lastOperateTime": request.last_operate_time, "workflowBaseInfo": base_info(state, request) })
}

#[derive(Clone, Copy, PartialEq)]
enum List {
    ToDo,
    Handled,
    Mine,
}

/// A `...dateselect` = 6 range on a `yyyy-MM-dd HH:mm:ss` time (dates inclusive); other select values are not
/// modelled and match everything.
fn in_range(conditions: &serde_json::Map<String, Value>, prefix: &str, time: &str) -> bool {
    let select = conditions
        .get(&format!("{prefix}dateselect"))
        .map(text_of)
        .unwrap_or_default();
    if select != "6" {
        return true;
    }
    let day = &time[..10.min(time.len())];
    let from = conditions
        .get(&format!("{prefix}datefrom"))
        .map(text_of)
        .unwrap_or_default();
    let to = conditions
        .get(&format!("{prefix}dateto"))
        .map(text_of)
        .unwrap_or_default();
    (from.is_empty() || day >= from.as_str()) && (to.is_empty() || day <= to.as_str())
}

fn list(state: &State, user: i64, params: &Params, which: List, count: bool) -> Answer {
    let conditions = match params.json("conditions") {
        Ok(Some(Value::Object(map))) => map,
        Ok(_) => Default::default(),
        Err(e) => return param_error(e),
    };
    let name_filter = conditions
        .get("requestname")
        .map(text_of)
        .unwrap_or_default();
    let workflow_ids: Vec<String> = conditions
        .get("workflowIds")
        .map(text_of)
        .unwrap_or_default()
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let mut items: Vec<(String, i64, Value)> = state
        .requests
        .values()
        .filter(|r| match which {
            List::ToDo => r.operators.contains(&user),
            List::Handled => r.handled.contains(&user) && !r.operators.contains(&user),
            List::Mine => r.creator == user,
        })
        .filter(|r| name_filter.is_empty() || r.name.contains(&name_filter))
        .filter(|r| workflow_ids.is_empty() || workflow_ids.contains(&r.workflow_id.to_string()))
        .filter(|r| {
            in_range(&conditions, "create", &r.created)
                && in_range(&conditions, "operate", &r.last_operate_time)
                && in_range(&conditions, "recieve", &r.receive_time)
        })
        .map(|r| (r.receive_time.clone(), r.id, list_item(state, r)))
        .collect();
    let need_os = params
        .text("isNeedOs")
        .is_some_and(|v| v == "1" || v == "true");
    if which == List::ToDo && need_os {
        for item in state
            .ofs
            .values()
            .filter(|i| i.receiver == user && i.isremark == 0)
        {
            if !name_filter.is_empty() && !item.requestname.contains(&name_filter) {
                continue;
            }
            let value = json!({
                "requestId": item.flowid, "requestName": item.requestname, "requestLevel": "0",
                "creatorId": item.creator.map(|c| c.to_string()).unwrap_or_default(),
                "creatorName": item.creator.map(|c| name_of(state, c)).unwrap_or_default(),
                "createTime": item.createdatetime, "receiveTime": item.receivedatetime,
                "lastOperateTime": item.receivedatetime, "currentNodeName": item.nodename, "status": "",
                "sysName": item.syscode, "pcUrl": item.pcurl, "appUrl": item.appurl,
                "workflowBaseInfo": { "workflowName": item.workflowname },
            });
            items.push((item.receivedatetime.clone(), 0, value));
        }
    }
    if count {
        return Answer::Text(items.len().to_string());
    }
    // Newest first (guessed: e-cology's default order is by receive time, descending).
    items.sort_by(|a, b| (&b.0, b.1).cmp(&(&a.0, a.1)));
    let page = params
        .text("pageNo")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(1);
    let size = params
        .text("pageSize")
        .and_then(|s| s.parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(10)
        .min(MAX_PAGE_SIZE);
    let page: Vec<Value> = items
        .into_iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .map(|i| i.2)
        .collect();
    Answer::Json(Value::Array(page))
}

fn list_item(state: &State, r: &Request) -> Value {
    let node = state.node_of(r);
    json!({
        "requestId": r.id.to_string(), "requestName": r.name, "requestLevel": r.level.to_string(),
        "creatorId": r.creator.to_string(), "creatorName": name_of(state, r.creator), "createTime": r.created,
        "receiveTime": r.receive_time, "lastOperateTime": r.last_operate_time,
        "lastOperatorId": r.last_operator.to_string(), "lastOperatorName": name_of(state, r.last_operator),
        "currentNodeId": node.id.to_string(), "currentNodeName": node.name, "status": status_text(state, r),
        "sysName": "", "workflowBaseInfo": base_info(state, r),
    })
}
