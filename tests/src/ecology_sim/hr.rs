//! §2 HR: the `*WithPage` reads and the `syn*` upserts of Weaver's "HR Standard Restful API".
//!
//! Every value is a string, as in the documented samples. `totalSize` is the record count (the doc says "total
//! page number" in places; clients use it as records). `canceled`: absent/empty = active only, "1" = canceled
//! only (documented), "2" = all (one client's reading, kept because a full sync needs it).

use serde_json::{Map, Value, json};

use super::api::Params;
use super::state::{Department, Jobtitle, Person, State, Subcompany};

/// Largest page served (the simulator's bound; e-cology's is not documented).
const MAX_PAGE_SIZE: usize = 1000;
/// Most items one `syn*` call takes (the simulator's bound).
const MAX_SYNC_ITEMS: usize = 1000;

fn failure(msg: impl Into<String>) -> Value {
    json!({ "code": "0", "data": {}, "msg": msg.into() })
}

pub fn handle(state: &mut State, name: &str, params: &Params) -> Value {
    match name {
        "getHrmsubcompanyWithPage"
        | "getHrmdepartmentWithPage"
        | "getJobtitleInfoWithPage"
        | "getHrmUserInfoWithPage" => {
            let filter = match params.json("params") {
                Ok(Some(Value::Object(map))) => map,
                Ok(None) => Map::new(),
                Ok(Some(_)) => return failure("params 必须是JSON对象"),
                Err(e) => return failure(e),
            };
            read(state, name, &filter)
        }
        "synSubcompany" | "synDepartment" | "synJobtitle" | "synHrmresource" => {
            let items = match params.json("data") {
                Ok(Some(Value::Array(items))) => items,
                Ok(_) => return failure("data 必须是JSON数组"),
                Err(e) => return failure(e),
            };
            if items.len() > MAX_SYNC_ITEMS {
                return failure(format!("data 最多 {MAX_SYNC_ITEMS} 条"));
            }
            let mut result = Map::new();
            for item in &items {
                let (key, outcome) = match name {
                    "synSubcompany" => syn_subcompany(state, item),
                    "synDepartment" => syn_department(state, item),
                    "synJobtitle" => syn_jobtitle(state, item),
                    _ => syn_person(state, item),
                };
                let (code, msg) = match outcome {
                    Ok(msg) => ("1", msg),
                    Err(msg) => ("0", msg),
                };
                result.insert(key, json!({ "code": code, "msg": msg }));
            }
            json!({ "code": "1", "result": result })
        }
        _ => failure(format!("接口不存在: {name}")),
    }
}

/// A filter value as text (numbers given as numbers are accepted too).
fn get(filter: &Map<String, Value>, name: &str) -> Option<String> {
    match filter.get(name)? {
        Value::String(s) if s.is_empty() => None,
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

fn number(filter: &Map<String, Value>, name: &str, default: usize) -> usize {
    get(filter, name)
        .and_then(|s| s.trim().parse::<usize>().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// Canceled rule for org units: see the module comment.
fn canceled_matches(filter: &Map<String, Value>, canceled: bool) -> bool {
    match get(filter, "canceled").as_deref() {
        Some("1") => canceled,
        Some("2") => true,
        _ => !canceled,
    }
}

fn since(filter: &Map<String, Value>, name: &str, value: &str) -> bool {
    get(filter, name).is_none_or(|cursor| value >= cursor.as_str())
}

fn eq(filter: &Map<String, Value>, name: &str, value: &str) -> bool {
    get(filter, name).is_none_or(|wanted| wanted == value)
}

fn read(state: &State, name: &str, filter: &Map<String, Value>) -> Value {
    let rows: Vec<Value> = match name {
        "getHrmsubcompanyWithPage" => state
            .subcompanies
            .values()
            .filter(|s| {
                eq(filter, "id", &s.id.to_string())
                    && eq(filter, "subcompanyname", &s.name)
                    && eq(filter, "subcompanycode", &s.code)
                    && since(filter, "modified", &s.modified)
                    && since(filter, "created", &s.created)
                    && canceled_matches(filter, s.canceled)
            })
            .map(subcompany_json)
            .collect(),
        "getHrmdepartmentWithPage" => state
            .departments
            .values()
            .filter(|d| {
                eq(filter, "id", &d.id.to_string())
                    && eq(filter, "departmentname", &d.name)
                    && eq(filter, "departmentcode", &d.code)
                    && eq(filter, "subcompanyid1", &d.subcompany.to_string())
                    && since(filter, "modified", &d.modified)
                    && since(filter, "created", &d.created)
                    && canceled_matches(filter, d.canceled)
            })
            .map(department_json)
            .collect(),
        "getJobtitleInfoWithPage" => state
            .jobtitles
            .values()
            .filter(|j| {
                eq(filter, "id", &j.id.to_string())
                    && eq(filter, "jobtitlename", &j.name)
                    && since(filter, "modified", &j.modified)
                    && since(filter, "created", &j.created)
            })
            .map(jobtitle_json)
            .collect(),
        _ => state
            .people
            .values()
            .filter(|p| {
                let sub = state
                    .departments
                    .get(&p.department)
                    .map_or(0, |d| d.subcompany);
                eq(filter, "id", &p.id.to_string())
                    && eq(filter, "loginid", &p.loginid)
                    && eq(filter, "workcode", &p.workcode)
                    && eq(filter, "departmentid", &p.department.to_string())
                    && eq(filter, "subcompanyid1", &sub.to_string())
                    && eq(filter, "jobtitleid", &p.jobtitle.to_string())
                    && since(filter, "modified", &p.modified)
                    && since(filter, "created", &p.created)
            })
            .map(|p| person_json(state, p))
            .collect(),
    };
    let page = number(filter, "curpage", 1);
    let size = number(filter, "pagesize", 20).min(MAX_PAGE_SIZE);
    let total = rows.len();
    let list: Vec<Value> = rows
        .into_iter()
        .skip((page - 1).saturating_mul(size))
        .take(size)
        .collect();
    json!({ "code": "1", "data": { "totalSize": total, "dataList": list, "page": page, "pageSize": size } })
}

fn flag(canceled: bool) -> &'static str {
    if canceled { "1" } else { "" }
}

fn subcompany_json(s: &Subcompany) -> Value {
    json!({ "id": s.id.to_string(), "subcompanyname": s.name, "subcompanydesc": s.desc,
            "subcompanycode": s.code, "supsubcomid": s.parent.to_string(), "canceled": flag(s.canceled),
            "created": s.created, "modified": s.modified, "showorder": format!("{:.1}", s.showorder), "url": "" })
}

fn department_json(d: &Department) -> Value {
    json!({ "id": d.id.to_string(), "departmentmark": d.mark, "departmentname": d.name,
            "departmentcode": d.code, "supdepid": d.parent.to_string(), "subcompanyid1": d.subcompany.to_string(),
            "canceled": flag(d.canceled), "created": d.created, "modified": d.modified,
            "showorder": format!("{:.1}", d.showorder) })
}

fn jobtitle_json(j: &Jobtitle) -> Value {
    json!({ "id": j.id.to_string(), "jobtitlename": j.name, "jobtitlemark": j.mark, "jobtitleremark": "",
            "jobdoc": "", "jobresponsibility": "", "jobcompetency": "", "jobdepartmentid": "",
            "created": j.created, "modified": j.modified })
}

fn person_json(state: &State, p: &Person) -> Value {
    let dept = state.departments.get(&p.department);
    let sub = dept.and_then(|d| state.subcompanies.get(&d.subcompany));
    let id_text = |id: Option<i64>| id.map(|i| i.to_string()).unwrap_or_default();
    json!({
        "id": p.id.to_string(), "loginid": p.loginid, "workcode": p.workcode, "lastname": p.lastname,
        "mobile": p.mobile, "telephone": p.telephone, "mobilecall": "", "email": p.email,
        "departmentid": p.department.to_string(),
        "departmentname": dept.map(|d| d.name.clone()).unwrap_or_default(),
        "departmentcode": dept.map(|d| d.code.clone()).unwrap_or_default(),
        "subcompanyid1": sub.map(|s| s.id.to_string()).unwrap_or_default(),
        "subcompanyname": sub.map(|s| s.name.clone()).unwrap_or_default(),
        "subcompanycode": sub.map(|s| s.code.clone()).unwrap_or_default(),
        "jobtitle": p.jobtitle.to_string(), "managerid": id_text(p.manager), "assistantid": "",
        "status": p.status.to_string(), "accounttype": p.accounttype, "belongto": id_text(p.belongto),
        "seclevel": p.seclevel.to_string(), "password": p.password, "dsporder": format!("{:.1}", p.showorder),
        "created": p.created, "modified": p.modified, "createdate": &p.created[..10.min(p.created.len())],
        "lastmoddate": &p.modified[..10.min(p.modified.len())],
    })
}

fn field(item: &Value, name: &str) -> String {
    match item.get(name) {
        Some(Value::String(s)) => s.trim().to_string(),
        Some(Value::Null) | None => String::new(),
        Some(other) => other.to_string(),
    }
}

fn action(item: &Value) -> String {
    let a = field(item, "@action");
    if a.is_empty() { "add".into() } else { a }
}

fn syn_subcompany(state: &mut State, item: &Value) -> (String, Result<String, String>) {
    let code = field(item, "code");
    if code.is_empty() {
        return (code, Err("code 不能为空".into()));
    }
    let parent_code = field(item, "parentcode");
    let parent = if parent_code.is_empty() {
        0
    } else {
        match state.subcompanies.values().find(|s| s.code == parent_code) {
            Some(s) => s.id,
            None => return (code, Err(format!("上级分部 {parent_code} 不存在"))),
        }
    };
    let now = state.now_text();
    let existing = state
        .subcompanies
        .values()
        .find(|s| s.code == code)
        .map(|s| s.id);
    let action = action(item);
    let id = match existing {
        Some(id) => id,
        None if action == "delete" => return (code, Err("分部不存在".into())),
        None => {
            let id = state.next_id();
            state.subcompanies.insert(
                id,
                Subcompany {
                    id,
                    name: String::new(),
                    desc: String::new(),
                    code: code.clone(),
                    parent,
                    canceled: false,
                    showorder: 0.0,
                    created: now.clone(),
                    modified: now.clone(),
                },
            );
            id
        }
    };
    let s = state.subcompanies.get_mut(&id).unwrap();
    if action == "delete" {
        s.canceled = true;
    } else {
        let short = field(item, "shortname");
        let full = field(item, "fullname");
        if !short.is_empty() {
            s.name = short;
        }
        if !full.is_empty() {
            s.desc = full;
        }
        s.parent = parent;
        s.canceled = field(item, "canceled") == "1";
        if let Ok(order) = field(item, "order").parse() {
            s.showorder = order;
        }
    }
    s.modified = now;
    (
        code,
        Ok(if existing.is_some() {
            "更新成功"
        } else {
            "插入成功"
        }
        .into()),
    )
}

fn syn_department(state: &mut State, item: &Value) -> (String, Result<String, String>) {
    let code = field(item, "code");
    if code.is_empty() {
        return (code, Err("code 不能为空".into()));
    }
    let action = action(item);
    let existing = state
        .departments
        .values()
        .find(|d| d.code == code)
        .map(|d| d.id);
    let org_code = field(item, "org_code");
    let subcompany = match state.subcompanies.values().find(|s| s.code == org_code) {
        Some(s) => Some(s.id),
        None if existing.is_some() && org_code.is_empty() => None,
        None if action == "delete" => None,
        None => return (code, Err(format!("分部 {org_code} 不存在"))),
    };
    let parent_code = field(item, "parent_code");
    let parent = if parent_code.is_empty() {
        0
    } else {
        match state.departments.values().find(|d| d.code == parent_code) {
            Some(d) => d.id,
            None => return (code, Err(format!("上级部门 {parent_code} 不存在"))),
        }
    };
    let now = state.now_text();
    let id = match existing {
        Some(id) => id,
        None if action == "delete" => return (code, Err("部门不存在".into())),
        None => {
            let id = state.next_id();
            state.departments.insert(
                id,
                Department {
                    id,
                    mark: String::new(),
                    name: String::new(),
                    code: code.clone(),
                    parent,
                    subcompany: subcompany.unwrap_or(0),
                    canceled: false,
                    showorder: 0.0,
                    created: now.clone(),
                    modified: now.clone(),
                },
            );
            id
        }
    };
    let d = state.departments.get_mut(&id).unwrap();
    if action == "delete" {
        d.canceled = true;
    } else {
        let short = field(item, "shortname");
        let full = field(item, "fullname");
        if !short.is_empty() {
            d.mark = short;
        }
        if !full.is_empty() {
            d.name = full;
        }
        if let Some(sub) = subcompany {
            d.subcompany = sub;
        }
        d.parent = parent;
        d.canceled = field(item, "canceled") == "1";
        if let Ok(order) = field(item, "order").parse() {
            d.showorder = order;
        }
    }
    d.modified = now;
    (
        code,
        Ok(if existing.is_some() {
            "更新成功"
        } else {
            "插入成功"
        }
        .into()),
    )
}

fn syn_jobtitle(state: &mut State, item: &Value) -> (String, Result<String, String>) {
    let code = field(item, "jobtitlecode");
    if code.is_empty() {
        return (code, Err("jobtitlecode 不能为空".into()));
    }
    let now = state.now_text();
    let existing = state
        .jobtitles
        .values()
        .find(|j| j.code == code)
        .map(|j| j.id);
    let id = existing.unwrap_or_else(|| state.next_id());
    let name = field(item, "jobtitlename");
    let job = state.jobtitles.entry(id).or_insert_with(|| Jobtitle {
        id,
        name: String::new(),
        mark: String::new(),
        code: code.clone(),
        created: now.clone(),
        modified: now.clone(),
    });
    if !name.is_empty() {
        job.name = name.clone();
        job.mark = name;
    }
    job.modified = now;
    (code, Ok("操作成功".into()))
}

/// `{JSON}{"departmentcode":"X"}` → Some(("departmentcode", "X")); a path `A>B` → None (looked up by name).
fn json_ref(text: &str) -> Option<(String, String)> {
    let body = text.strip_prefix("{JSON}")?;
    let value: Value = serde_json::from_str(body).ok()?;
    let (k, v) = value.as_object()?.iter().next()?;
    Some((k.clone(), v.as_str()?.to_string()))
}

fn resolve_department(state: &State, text: &str) -> Result<i64, String> {
    if let Some((key, code)) = json_ref(text) {
        if key != "departmentcode" {
            return Err(format!("不支持的部门引用 {key}"));
        }
        return state
            .departments
            .values()
            .find(|d| d.code == code)
            .map(|d| d.id)
            .ok_or_else(|| format!("部门编码 {code} 不存在"));
    }
    // A path names departments by short or full name; the simulator only resolves existing paths (e-cology
    // would create the missing ones).
    let last = text.rsplit('>').next().unwrap_or("").trim();
    state
        .departments
        .values()
        .find(|d| !d.canceled && (d.mark == last || d.name == last))
        .map(|d| d.id)
        .ok_or_else(|| format!("部门 {text} 不存在"))
}

fn resolve_jobtitle(state: &State, text: &str) -> Option<i64> {
    if let Some((_, code)) = json_ref(text) {
        return state
            .jobtitles
            .values()
            .find(|j| j.code == code)
            .map(|j| j.id);
    }
    state
        .jobtitles
        .values()
        .find(|j| j.name == text)
        .map(|j| j.id)
}

fn syn_person(state: &mut State, item: &Value) -> (String, Result<String, String>) {
    let workcode = field(item, "workcode");
    if workcode.is_empty() {
        return (workcode, Err("workcode 不能为空".into()));
    }
    let existing = state.person_by_workcode(&workcode).map(|p| p.id);
    let department = match field(item, "department") {
        d if d.is_empty() && existing.is_some() => None,
        d if d.is_empty() => return (workcode, Err("department 不能为空".into())),
        d => match resolve_department(state, &d) {
            Ok(id) => Some(id),
            Err(e) => return (workcode, Err(e)),
        },
    };
    let manager = match field(item, "managerid") {
        m if m.is_empty() => None,
        m => match state.person_by_workcode(&m) {
            Some(p) => Some(p.id),
            None => return (workcode, Err(format!("上级 {m} 不存在"))),
        },
    };
    let loginid = field(item, "loginid");
    if !loginid.is_empty()
        && state
            .people
            .values()
            .any(|p| p.loginid == loginid && Some(p.id) != existing)
    {
        return (workcode, Err(format!("登录名 {loginid} 已存在")));
    }
    let jobtitle = resolve_jobtitle(state, &field(item, "jobtitle"));
    let belongto = state
        .person_by_workcode(&field(item, "belongto"))
        .map(|p| p.id);
    let now = state.now_text();
    let id = existing.unwrap_or_else(|| state.next_id());
    let person = state.people.entry(id).or_insert_with(|| Person {
        id,
        loginid: String::new(),
        workcode: workcode.clone(),
        lastname: String::new(),
        mobile: String::new(),
        telephone: String::new(),
        email: String::new(),
        department: 0,
        jobtitle: 1,
        manager: None,
        status: 1,
        accounttype: String::new(),
        belongto: None,
        seclevel: 10,
        password: String::new(),
        showorder: id as f64,
        created: now.clone(),
        modified: now.clone(),
    });
    let set = |target: &mut String, name: &str| {
        let value = field(item, name);
        if !value.is_empty() {
            *target = value;
        }
    };
    set(&mut person.loginid, "loginid");
    set(&mut person.lastname, "lastname");
    set(&mut person.mobile, "mobile");
    set(&mut person.telephone, "telephone");
    set(&mut person.email, "email");
    if !field(item, "password").is_empty() {
        // Stored hashed, as e-cology does; the plain text is never kept.
        person.password = super::keys::hrm_key("", &field(item, "password"));
    }
    if let Some(d) = department {
        person.department = d;
    }
    if let Some(j) = jobtitle {
        person.jobtitle = j;
    }
    if manager.is_some() {
        person.manager = manager;
    }
    if let Ok(status) = field(item, "status").parse::<u8>() {
        person.status = status.min(7);
    }
    if let Ok(level) = field(item, "seclevel").parse::<i64>() {
        person.seclevel = level.clamp(0, 100);
    }
    match field(item, "accounttype").as_str() {
        "次账号" | "1" => {
            person.accounttype = "1".into();
            person.belongto = belongto;
        }
        "主账号" | "0" => {
            person.accounttype = String::new();
            person.belongto = None;
        }
        _ => {}
    }
    person.modified = now;
    let verb = if existing.is_some() {
        "更新"
    } else {
        "创建"
    };
    let msg = format!("{}|{}|{verb}|成功|", person.workcode, person.lastname);
    (workcode, Ok(msg))
}
