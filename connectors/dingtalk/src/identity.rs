//! The directory (old API `/topapi/v2/...`) and sign-in: the in-app auth code (免登) and the web OAuth2 flow.

use crate::clearable;
use qiao_sdk::http::Method;
use qiao_sdk::text::urlencode;
use qiao_sdk::{Error, ErrorKind, json_object, require_config};
use serde_json::{Map, Value, json};

use crate::DingTalk;
use crate::client::{self, api_as, dept_number, id_text, oapi, oapi_paced, string};
use crate::exports::qiao::connector::identity::{
    Department, DepartmentFields, Guest, SsoRequest, SsoUser, User, UserField, UserFields, UserKey,
    UserPage,
};
use qiao_sdk::required;

/// DingTalk's root department.
const ROOT: i64 = 1;
/// Users per page of `list-users`. `/topapi/v2/user/list` would give 100, but it does not report the manager
/// (`manager_userid` is in `user/get` only), so each user of a page is read again with `user/get`: 20 a page keeps
/// one call within DingTalk's 20 requests per second per API and well within the host's request allowance.
const MAX_PAGE: u32 = 20;
const LOGIN_URL: &str = "https://login.dingtalk.com/oauth2/auth";

/// A number DingTalk gives as a number or as text (its docs show both).
fn number(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An id list DingTalk gives as an array, or as text (`"[2,3]"`, `"2,3"`).
fn id_list(value: &Value) -> Vec<String> {
    match value {
        Value::Array(ids) => ids.iter().filter_map(id_text).collect(),
        Value::String(s) => s
            .trim_matches(|c| c == '[' || c == ']')
            .split(',')
            .map(|id| id.trim().trim_matches('"'))
            .filter(|id| !id.is_empty())
            .map(String::from)
            .collect(),
        _ => vec![],
    }
}

/// A department as `department/get` reports it (`department/listsub` has no `order`).
fn department(value: &Value) -> Result<Department, Error> {
    let id = id_text(&value["dept_id"])
        .ok_or_else(|| Error::internal("a department without dept_id"))?;
    let mut extra = value.clone();
    if let Some(map) = extra.as_object_mut() {
        for key in ["dept_id", "name", "parent_id", "order"] {
            map.remove(key);
        }
    }
    Ok(Department {
        name: value["name"].as_str().unwrap_or_default().to_string(),
        parent_id: id_text(&value["parent_id"]).filter(|_| id != ROOT.to_string()),
        order: number(&value["order"]),
        // DingTalk keeps no caller-chosen code: see `create_department`.
        code: None,
        extra: Some(extra.to_string()),
        id,
    })
}

/// The mobile as it was written: DingTalk answers the number and its country code apart (`mobile`,
/// `state_code`), and takes a number outside mainland China as `+852-51234567`, which is what comes back.
fn mobile(value: &Value) -> Option<String> {
    let number = value["mobile"].as_str().filter(|s| !s.is_empty())?;
    let code = id_text(&value["state_code"]).unwrap_or_default();
    if code.is_empty() || code == "86" || number.starts_with('+') {
        Some(number.to_string())
    } else {
        Some(format!("+{code}-{number}"))
    }
}

/// A mobile number as a comparable key: no separators, no mainland China prefix.
fn mobile_key(raw: &str) -> String {
    let compact: String = raw
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect();
    for prefix in ["+86", "0086"] {
        if let Some(rest) = compact.strip_prefix(prefix) {
            return rest.to_string();
        }
    }
    compact
}

/// A user as `user/get` reports one.
///
/// DingTalk's `active` says whether the person has *activated* DingTalk (signed in once), not whether the account
/// is enabled: a user an app has just created stays inactive until they sign in. An app cannot disable a
/// DingTalk account at all, so every user DingTalk lists is active in the contract's sense; DingTalk's flag is
/// kept in `extra` as `activated`.
fn user(value: &Value) -> Result<User, Error> {
    let text = |key: &str| {
        value[key]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let mut extra = Map::new();
    for key in [
        "unionid",
        "state_code",
        "avatar",
        "admin",
        "boss",
        "leader",
        "leader_in_dept",
        "hired_date",
        "work_place",
        "remark",
        "org_email",
        "telephone",
        "role_list",
    ] {
        if !value[key].is_null() {
            extra.insert(key.into(), value[key].clone());
        }
    }
    if !value["active"].is_null() {
        extra.insert("activated".into(), value["active"].clone());
    }
    Ok(User {
        id: string(&value["userid"], "userid")?,
        name: text("name").unwrap_or_default(),
        mobile: mobile(value),
        email: text("email"),
        title: text("title"),
        employee_no: text("job_number"),
        department_ids: id_list(&value["dept_id_list"]),
        manager_id: text("manager_userid"),
        active: true,
        extra: Some(Value::Object(extra).to_string()),
    })
}

/// `user/get`: the user's record (DingTalk's `not-found` when there is no such user).
fn read_user(id: &str) -> Result<Value, Error> {
    let mut answer = oapi(
        "/topapi/v2/user/get",
        &json!({ "userid": id, "language": "zh_CN" }),
    )?;
    Ok(answer["result"].take())
}

/// The caller's `extra` (DingTalk's own field names), with the fields Qiao names set over it.
fn department_body(fields: &DepartmentFields) -> Result<Map<String, Value>, Error> {
    let mut body = json_object(fields.extra.as_deref(), "extra (DingTalk fields)")?;
    if let Some(name) = &fields.name {
        required(name, "name")?;
        body.insert("name".into(), json!(name));
    }
    if let Some(parent) = &fields.parent_id {
        body.insert("parent_id".into(), json!(dept_number(parent, "parent_id")?));
    }
    if let Some(order) = fields.order {
        body.insert("order".into(), json!(order));
    }
    Ok(body)
}

fn user_body(fields: &UserFields) -> Result<Map<String, Value>, Error> {
    let mut body = json_object(fields.extra.as_deref(), "extra (DingTalk fields)")?;
    let mut put = |key: &str, value: &Option<String>| {
        if let Some(v) = value {
            body.insert(key.into(), json!(v));
        }
    };
    put("userid", &fields.id);
    put("name", &fields.name);
    put("mobile", &fields.mobile);
    put("email", &fields.email);
    put("title", &fields.title);
    put("job_number", &fields.employee_no);
    put("manager_userid", &fields.manager_id);
    if let Some(ids) = &fields.department_ids {
        for id in ids {
            dept_number(id, "department_ids")?;
        }
        // DingTalk wants "2,3,4", not an array.
        body.insert("dept_id_list".into(), json!(ids.join(",")));
    }
    Ok(body)
}

/// The fields to clear, checked before any request: one also set is `invalid-input`; one DingTalk cannot empty
/// is `unsupported`, naming it.
fn check_clear(fields: &UserFields) -> Result<(), Error> {
    clearable::refuse_set_and_cleared(fields)?;
    for &field in &fields.clear {
        let reason = match field {
            UserField::ManagerId => continue,
            UserField::Mobile => {
                "DingTalk needs a mobile on every member and does not let an app change it (41054)"
            }
            _ => "DingTalk documents a way to empty manager_userid only (force_update_fields)",
        };
        return Err(Error::unsupported(format!(
            "cannot clear {}: {reason}",
            clearable::name(field)
        )));
    }
    Ok(())
}

/// The direct children of a department, each read with `department/get` for what `listsub` leaves out (`order`).
fn children(parent: i64) -> Result<Vec<Department>, Error> {
    let body = oapi_paced(
        "/topapi/v2/department/listsub",
        &json!({ "dept_id": parent }),
    )?;
    let mut found = Vec::new();
    for entry in body["result"].as_array().into_iter().flatten() {
        let Some(id) = number(&entry["dept_id"]) else {
            return Err(Error::internal("a department without dept_id"));
        };
        match oapi_paced("/topapi/v2/department/get", &json!({ "dept_id": id })) {
            Ok(detail) => found.push(department(&detail["result"])?),
            // Deleted since it was listed.
            Err(e) if e.kind == ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
    }
    Ok(found)
}

impl Guest for DingTalk {
    fn list_departments(
        parent_id: Option<String>,
        recursive: bool,
    ) -> Result<Vec<Department>, Error> {
        let parent = match &parent_id {
            Some(id) => dept_number(id, "parent")?,
            None => ROOT,
        };
        let mut found = children(parent)?;
        if recursive {
            // Two requests per department (listsub, get): the host's per-call request allowance
            // (`max_http_requests`) bounds the tree one call can read; raise it for a large organisation.
            let mut next = 0;
            while next < found.len() {
                let id = dept_number(&found[next].id, "dept_id")?;
                found.extend(children(id)?);
                next += 1;
            }
        }
        Ok(found)
    }

    fn get_department(id: String) -> Result<Department, Error> {
        let body = oapi(
            "/topapi/v2/department/get",
            &json!({ "dept_id": dept_number(&id, "id")? }),
        )?;
        department(&body["result"])
    }

    /// `fields.code` is ignored: DingTalk assigns every department's `dept_id` itself and takes no caller-chosen
    /// id. Its `source_identifier` is a free label, not an id Qiao could address the department by, and the
    /// reference does not say `department/get` reports it back; a caller who wants it set passes
    /// `extra.source_identifier`.
    fn create_department(
        fields: DepartmentFields,
        _idempotency_key: Option<String>,
    ) -> Result<Department, Error> {
        let name = fields.name.clone().unwrap_or_default();
        required(&name, "name")?;
        let mut body = department_body(&fields)?;
        body.entry("parent_id").or_insert(json!(ROOT));
        let answer = oapi("/topapi/v2/department/create", &Value::Object(body.clone()))?;
        let id = id_text(&answer["result"]["dept_id"])
            .ok_or_else(|| Error::internal("department/create: no dept_id"))?;
        Ok(Department {
            id,
            name,
            parent_id: id_text(&body["parent_id"]),
            order: fields.order,
            code: None,
            extra: None,
        })
    }

    fn update_department(id: String, fields: DepartmentFields) -> Result<(), Error> {
        let mut body = department_body(&fields)?;
        body.insert("dept_id".into(), json!(dept_number(&id, "id")?));
        oapi("/topapi/v2/department/update", &Value::Object(body)).map(drop)
    }

    fn delete_department(id: String) -> Result<(), Error> {
        oapi(
            "/topapi/v2/department/delete",
            &json!({ "dept_id": dept_number(&id, "id")? }),
        )
        .map(drop)
    }

    fn list_users(
        department_id: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<UserPage, Error> {
        let cursor: i64 = match cursor.as_deref() {
            None | Some("") => 0,
            Some(c) => c
                .parse()
                .map_err(|_| Error::invalid_input(format!("bad cursor {c:?}")))?,
        };
        let body = oapi_paced(
            "/topapi/v2/user/list",
            &json!({
                "dept_id": dept_number(&department_id, "department id")?,
                "cursor": cursor,
                "size": limit.clamp(1, MAX_PAGE),
            }),
        )?;
        let result = &body["result"];
        // The list has no manager: each user is read again (and one deleted meanwhile is left out).
        let mut users = Vec::new();
        for entry in result["list"].as_array().into_iter().flatten() {
            let id = string(&entry["userid"], "userid")?;
            let body = json!({ "userid": id, "language": "zh_CN" });
            match oapi_paced("/topapi/v2/user/get", &body) {
                Ok(answer) => users.push(user(&answer["result"])?),
                Err(e) if e.kind == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        let has_more = match &result["has_more"] {
            Value::Bool(more) => *more,
            Value::String(more) => more == "true",
            _ => false,
        };
        let next_cursor = if has_more {
            id_text(&result["next_cursor"])
        } else {
            None
        };
        Ok(UserPage { users, next_cursor })
    }

    fn get_user(id: String) -> Result<User, Error> {
        required(&id, "id")?;
        user(&read_user(&id)?)
    }

    fn find_user(key: UserKey) -> Result<String, Error> {
        let body = match key {
            UserKey::Mobile(mobile) => {
                oapi("/topapi/v2/user/getbymobile", &json!({ "mobile": mobile }))?
            }
            UserKey::UnionId(union_id) => {
                oapi("/topapi/user/getbyunionid", &json!({ "unionid": union_id }))?
            }
            UserKey::Email(_) => {
                return Err(Error::unsupported(
                    "DingTalk cannot look a user up by email; use the mobile or the unionId",
                ));
            }
        };
        string(&body["result"]["userid"], "userid")
    }

    fn create_user(fields: UserFields, _idempotency_key: Option<String>) -> Result<User, Error> {
        for (value, name) in [(&fields.name, "name"), (&fields.mobile, "mobile")] {
            required(value.as_deref().unwrap_or_default(), name)?;
        }
        if fields
            .department_ids
            .as_ref()
            .is_none_or(|ids| ids.is_empty())
        {
            return Err(Error::invalid_input(
                "department_ids is required (at least one department)",
            ));
        }
        let answer = oapi(
            "/topapi/v2/user/create",
            &Value::Object(user_body(&fields)?),
        )?;
        let id = string(&answer["result"]["userid"], "userid")?;
        Ok(User {
            id,
            name: fields.name.unwrap_or_default(),
            mobile: fields.mobile,
            email: fields.email,
            title: fields.title,
            employee_no: fields.employee_no,
            department_ids: fields.department_ids.unwrap_or_default(),
            manager_id: fields.manager_id,
            active: true,
            extra: Some(json!({ "unionid": answer["result"]["unionId"] }).to_string()),
        })
    }

    /// The mobile goes last, on its own and only when it differs from the current one: DingTalk refuses to
    /// change a member's number through its API (41054 "暂不支持修改手机号": the person changes it in the DingTalk
    /// app, or the member is deleted and created again), so the other fields are updated first and a new number
    /// ends in that refusal (`unsupported`).
    ///
    /// `clear`: DingTalk documents one way to empty a field, `force_update_fields` naming it, and only for
    /// `manager_userid`; every other field to clear is `unsupported`, answered before anything is changed.
    fn update_user(id: String, fields: UserFields) -> Result<(), Error> {
        required(&id, "id")?;
        check_clear(&fields)?;
        let mut body = user_body(&fields)?;
        body.remove("mobile");
        body.insert("userid".into(), json!(id));
        if fields.clear.contains(&UserField::ManagerId) {
            // Kept with any the caller's `extra` forces.
            let forced = match body.get("force_update_fields").and_then(Value::as_str) {
                Some(others) if !others.is_empty() => format!("{others},manager_userid"),
                _ => "manager_userid".to_string(),
            };
            body.insert("force_update_fields".into(), json!(forced));
        }
        if body.len() > 1 || fields.mobile.is_none() {
            oapi("/topapi/v2/user/update", &Value::Object(body))?;
        }
        if let Some(wanted) = &fields.mobile {
            let current = mobile(&read_user(&id)?);
            if current.is_none_or(|current| mobile_key(&current) != mobile_key(wanted)) {
                oapi(
                    "/topapi/v2/user/update",
                    &json!({ "userid": id, "mobile": wanted }),
                )?;
            }
        }
        Ok(())
    }

    fn delete_user(id: String) -> Result<(), Error> {
        required(&id, "id")?;
        oapi("/topapi/v2/user/delete", &json!({ "userid": id })).map(drop)
    }

    fn login_url(_user_id: String, _target: Option<String>) -> Result<String, Error> {
        Err(Error::unsupported(
            "DingTalk does not sign users in from a URL Qiao makes; use SSO (sso-authorize-url, sso-resolve)",
        ))
    }

    /// The web OAuth2 sign-in page. The in-app flow has no URL: the DingTalk client hands the page a code.
    fn sso_authorize_url(
        redirect_uri: String,
        state: String,
        flow: Option<String>,
    ) -> Result<String, Error> {
        if flow.as_deref() == Some("in-app") {
            return Err(Error::invalid_input(
                "the in-app flow has no sign-in URL: the page gets its code from the DingTalk client \
                 (dd.runtime.permission.requestAuthCode) and posts it to sso/resolve",
            ));
        }
        required(&redirect_uri, "redirect_uri")?;
        Ok(format!(
            "{LOGIN_URL}?redirect_uri={}&response_type=code&client_id={}&scope=openid&state={}&prompt=consent",
            urlencode(&redirect_uri),
            urlencode(&client::app_key()?),
            urlencode(&state)
        ))
    }

    /// `flow`: `in-app` (the default) for a code from the DingTalk client, `web` for the OAuth2 redirect.
    fn sso_resolve(request: SsoRequest) -> Result<SsoUser, Error> {
        required(&request.code, "code")?;
        match request.flow.as_deref().unwrap_or("in-app") {
            "in-app" => resolve_in_app(&request.code),
            "web" => resolve_web(&request.code),
            other => Err(Error::invalid_input(format!(
                "unknown flow {other:?}: use in-app or web"
            ))),
        }
    }
}

fn resolve_in_app(code: &str) -> Result<SsoUser, Error> {
    let body = oapi("/topapi/v2/user/getuserinfo", &json!({ "code": code }))?;
    let result = &body["result"];
    Ok(SsoUser {
        user_id: string(&result["userid"], "userid")?,
        name: result["name"].as_str().map(String::from),
        mobile: None,
        email: None,
        extra: Some(
            json!({ "unionid": result["unionid"], "device_id": result["device_id"], "sys_level": result["sys_level"] })
                .to_string(),
        ),
    })
}

/// Code → user access token → `contact/users/me` (as the user) → unionId → the user's id in this organisation.
fn resolve_web(code: &str) -> Result<SsoUser, Error> {
    let grant = json!({
        "clientId": client::app_key()?,
        "clientSecret": require_config("app_secret")?,
        "code": code,
        "grantType": "authorization_code",
    });
    let token = api_as(
        Method::Post,
        "/v1.0/oauth2/userAccessToken",
        Some(&grant),
        "",
    )?;
    let user_token = string(&token["accessToken"], "accessToken")?;
    let me = api_as(Method::Get, "/v1.0/contact/users/me", None, &user_token)?;
    let union_id = string(&me["unionId"], "unionId")?;
    let user_id = match oapi("/topapi/user/getbyunionid", &json!({ "unionid": union_id })) {
        Ok(body) => string(&body["result"]["userid"], "userid")?,
        Err(e) if e.kind == qiao_sdk::ErrorKind::NotFound => {
            return Err(Error::not_found(
                "the DingTalk account that signed in is not a member of this organisation",
            )
            .with_platform(
                e.platform_code.unwrap_or_default(),
                e.platform_message.unwrap_or_default(),
            ));
        }
        Err(e) => return Err(e),
    };
    let text = |key: &str| me[key].as_str().filter(|s| !s.is_empty()).map(String::from);
    Ok(SsoUser {
        user_id,
        name: text("nick"),
        mobile: text("mobile"),
        email: text("email"),
        extra: Some(
            json!({ "unionid": union_id, "openid": me["openId"], "corp_id": token["corpId"] })
                .to_string(),
        ),
    })
}
