//! §4.1 the unified to-do centre's inbound JSON endpoints (`/rest/ofs/*ByJson`): no token, a JSON body, one item
//! per (syscode, flowid, receiver). `receiver`/`creator`/`userid` map to people by the conversion rule
//! (`Options::ofs_user_rule`, loginid by default).
//!
//! `receivets` (ms) orders updates: one older than the item's is dropped and counted in `State::ofs_stale`;
//! the answer is still `operResult` "1" (guessed: the documented behaviour is only that it is discarded).
//! `dateType` / `operType` values, the messages, and deleting a missing item succeeding are guessed.

use serde_json::{Value, json};

use super::state::{OfsItem, State};

/// Longest text field kept (the simulator's bound).
const MAX_FIELD: usize = 2000;

pub fn result(syscode: &str, date_type: &str, oper_type: &str, ok: bool, message: &str) -> Value {
    json!({ "syscode": syscode, "dateType": date_type, "operType": oper_type,
            "operResult": if ok { "1" } else { "0" }, "message": message })
}

fn field(body: &Value, name: &str) -> String {
    let text = match body.get(name) {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    };
    text.chars().take(MAX_FIELD).collect()
}

pub fn handle(state: &mut State, name: &str, body: &Value) -> Value {
    let syscode = field(body, "syscode");
    let lower = name.to_ascii_lowercase();
    let (date_type, isremark) = match lower.as_str() {
        "receivetodorequestbyjson" => ("todo", Some(0)),
        "processdonerequestbyjson" => ("done", Some(2)),
        "processoverrequestbyjson" => ("over", Some(4)),
        "receiveccrequestbyjson" => ("cc", Some(8)),
        "receiverequestinfobyjson" => ("request", field(body, "isremark").parse::<u8>().ok()),
        "deleteuserrequestinfobyjson" | "deleterequestinfobyjson" => ("delete", None),
        _ => return result(&syscode, "", "", false, &format!("接口不存在: {name}")),
    };
    if !body.is_object() {
        return result(&syscode, date_type, "", false, "请求数据不是有效的JSON");
    }
    if !state.options.syscodes.contains(&syscode) {
        return result(&syscode, date_type, "", false, "异构系统标识不存在");
    }
    let flowid = field(body, "flowid");
    if flowid.is_empty() {
        return result(&syscode, date_type, "", false, "flowid 不能为空");
    }
    if date_type == "delete" {
        let before = state.ofs.len();
        if lower == "deleteuserrequestinfobyjson" {
            let Some(user) = state.ofs_person(&field(body, "userid")) else {
                return result(
                    &syscode,
                    date_type,
                    "AutoDel",
                    false,
                    "userid 无法转换为OA人员",
                );
            };
            state.ofs.remove(&(syscode.clone(), flowid.clone(), user));
        } else {
            state
                .ofs
                .retain(|(s, f, _), _| !(s == &syscode && f == &flowid));
        }
        let message = if state.ofs.len() < before {
            "删除成功"
        } else {
            "数据不存在"
        };
        return result(&syscode, date_type, "AutoDel", true, message);
    }
    let Some(isremark) = isremark.filter(|r| [0, 2, 4, 8].contains(r)) else {
        return result(&syscode, date_type, "", false, "isremark 只能是 0/2/4/8");
    };
    let Some(receiver) = state.ofs_person(&field(body, "receiver")) else {
        return result(&syscode, date_type, "", false, "receiver 无法转换为OA人员");
    };
    let creator_text = field(body, "creator");
    let creator = if creator_text.is_empty() {
        None
    } else {
        match state.ofs_person(&creator_text) {
            Some(c) => Some(c),
            None => return result(&syscode, date_type, "", false, "creator 无法转换为OA人员"),
        }
    };
    let receivets = match field(body, "receivets") {
        ts if ts.is_empty() => state.now_ms(),
        ts => match ts.parse::<i64>() {
            Ok(ts) => ts,
            Err(_) => return result(&syscode, date_type, "", false, "receivets 必须是毫秒时间戳"),
        },
    };
    let key = (syscode.clone(), flowid.clone(), receiver);
    let existing = state.ofs.get(&key).cloned();
    if let Some(item) = &existing
        && receivets < item.receivets
    {
        state.ofs_stale += 1;
        return result(
            &syscode,
            date_type,
            "AutoEdit",
            true,
            "receivets 早于已有数据，已忽略",
        );
    }
    let requestname = field(body, "requestname");
    if existing.is_none() && requestname.is_empty() {
        return result(&syscode, date_type, "", false, "requestname 不能为空");
    }
    let now = state.now_text();
    let mut item = existing.clone().unwrap_or(OfsItem {
        syscode: syscode.clone(),
        flowid,
        receiver,
        requestname: String::new(),
        workflowname: String::new(),
        nodename: String::new(),
        pcurl: String::new(),
        appurl: String::new(),
        creator,
        createdatetime: now.clone(),
        receivedatetime: now.clone(),
        receivets,
        isremark,
        viewtype: 0,
    });
    let set = |target: &mut String, name: &str| {
        let value = field(body, name);
        if !value.is_empty() {
            *target = value;
        }
    };
    set(&mut item.requestname, "requestname");
    set(&mut item.workflowname, "workflowname");
    set(&mut item.nodename, "nodename");
    set(&mut item.pcurl, "pcurl");
    set(&mut item.appurl, "appurl");
    set(&mut item.createdatetime, "createdatetime");
    set(&mut item.receivedatetime, "receivedatetime");
    if creator.is_some() {
        item.creator = creator;
    }
    item.receivets = receivets;
    item.isremark = isremark;
    if let Ok(view) = field(body, "viewtype").parse::<u8>() {
        item.viewtype = view.min(1);
    }
    state.ofs.insert(key, item);
    let oper = if existing.is_some() {
        "AutoEdit"
    } else {
        "AutoNew"
    };
    result(&syscode, date_type, oper, true, "操作成功")
}
