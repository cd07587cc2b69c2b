//! The directory (`department/*`, `user/*`) and sign-in: WeCom's OAuth2 in the client or by QR code on the web,
//! `auth/getuserinfo` for the code, and `auth/getuserdetail` for mobile and email when a user ticket comes back.

use crate::clearable;
use qiao_sdk::text::urlencode;
use qiao_sdk::{Error, config, json_object, logging};
use serde_json::{Map, Value, json};

use crate::WeCom;
use crate::client::{self, corp_id, get, id_text, number, post};
use crate::exports::qiao::connector::identity::{
    Department, DepartmentFields, Guest, SsoRequest, SsoUser, User, UserField, UserFields, UserKey,
    UserPage,
};
use qiao_sdk::required;

const ROOT: i64 = 1;
/// `user/list_id` takes up to 10000 per page; Qiao's pages are smaller.
const MAX_PAGE: u32 = 1000;
/// Lists every user of the enterprise (cursor-paged `user/list_id`) instead of one department's.
const ALL: &str = "all";

fn department(value: &Value) -> Result<Department, Error> {
    let id = id_text(&value["id"]).ok_or_else(|| Error::internal("a department without id"))?;
    Ok(Department {
        name: value["name"].as_str().unwrap_or_default().to_string(),
        parent_id: id_text(&value["parentid"]).filter(|p| p != "0"),
        order: value["order"].as_i64(),
        // WeCom keeps no code apart from the id: a code given on create became the id (`create_department`),
        // and a read cannot tell such an id from one WeCom chose.
        code: None,
        extra: Some(
            json!({ "name_en": value["name_en"], "department_leader": value["department_leader"] })
                .to_string(),
        ),
        id,
    })
}

/// The setting naming the custom member field (扩展属性) that holds the employee number.
const EMPLOYEE_NO_SETTING: &str = "employee_no_attr";
/// Its default: the name most enterprises give that field.
const EMPLOYEE_NO_DEFAULT: &str = "工号";
/// WeCom keeps at most this many characters of a custom field's text (and cuts longer values).
const MAX_ATTR_CHARS: usize = 32;

/// WeCom has no employee number: it is kept in a text custom field (`extattr`), named by `employee_no_attr`
/// (default 工号). The field must exist in the admin console (通讯录 → 字段设置 / custom fields): WeCom ignores
/// values for fields it does not have. None when the setting is empty (employee numbers are then not kept).
fn employee_no_attr() -> Option<String> {
    match config::get(EMPLOYEE_NO_SETTING) {
        None => Some(EMPLOYEE_NO_DEFAULT.to_string()),
        Some(name) => Some(name.trim().to_string()).filter(|n| !n.is_empty()),
    }
}

/// The text of the custom field `name` in a member's `extattr` (`text.value`, or the older flat `value`).
fn attr_text(value: &Value, name: &str) -> Option<String> {
    value["extattr"]["attrs"]
        .as_array()?
        .iter()
        .find(|a| a["name"].as_str() == Some(name))
        .and_then(|a| a["text"]["value"].as_str().or(a["value"].as_str()))
        .filter(|v| !v.is_empty())
        .map(String::from)
}

/// Whether the member can use WeCom: `enable` 1 (0 is disabled), else by `status` (1 active, 4 invited and not
/// yet joined: both enabled; 2 disabled; 5 left the enterprise).
fn active(value: &Value) -> bool {
    let status = value["status"].as_i64();
    match value["enable"].as_i64() {
        Some(enable) => enable == 1 && status != Some(5),
        None => !matches!(status, Some(2 | 5)),
    }
}

fn user(value: &Value) -> Result<User, Error> {
    let text = |key: &str| {
        value[key]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let id = text("userid").ok_or_else(|| Error::internal("a user without userid"))?;
    let mut extra = Map::new();
    for key in [
        "status",
        "enable",
        "gender",
        "alias",
        "main_department",
        "is_leader_in_dept",
        "open_userid",
        "biz_mail",
    ] {
        if !value[key].is_null() {
            extra.insert(key.into(), value[key].clone());
        }
    }
    Ok(User {
        id,
        name: text("name").unwrap_or_default(),
        mobile: text("mobile"),
        email: text("email"),
        title: text("position"),
        employee_no: employee_no_attr().and_then(|name| attr_text(value, &name)),
        department_ids: department_ids(value),
        manager_id: value["direct_leader"]
            .as_array()
            .and_then(|l| l.first())
            .and_then(id_text),
        active: active(value),
        extra: Some(Value::Object(extra).to_string()),
    })
}

/// The member's departments, the main one (`main_department`) first, as Qiao's users have them.
fn department_ids(value: &Value) -> Vec<String> {
    let mut ids: Vec<String> = value["department"]
        .as_array()
        .map(|ids| ids.iter().filter_map(id_text).collect())
        .unwrap_or_default();
    if let Some(main) = id_text(&value["main_department"])
        && let Some(at) = ids.iter().position(|id| *id == main)
    {
        let main = ids.remove(at);
        ids.insert(0, main);
    }
    ids
}

fn department_body(fields: &DepartmentFields) -> Result<Map<String, Value>, Error> {
    let mut body = json_object(fields.extra.as_deref(), "extra (WeCom fields)")?;
    if let Some(name) = &fields.name {
        required(name, "name")?;
        body.insert("name".into(), json!(name));
    }
    if let Some(parent) = &fields.parent_id {
        body.insert("parentid".into(), json!(number(parent, "parent_id")?));
    }
    if let Some(order) = fields.order {
        body.insert("order".into(), json!(order));
    }
    Ok(body)
}

/// A department code as the numeric id WeCom lets the caller choose (`department/create` `id`, a positive 32-bit
/// number). Any other code is left for WeCom to assign the id: directory sync passes the enterprise's own
/// department id as the code, and most are not numbers.
fn code_id(code: &str) -> Option<u32> {
    code.trim().parse().ok().filter(|id| *id > 0)
}

/// Empties the fields of `clear` the way `user/update` takes it: an empty value, an empty leader list, an empty
/// text in the employee-number custom field. A field both set and cleared is `invalid-input`. WeCom itself
/// refuses to leave a member with neither mobile nor email (60129).
fn clear_fields(body: &mut Map<String, Value>, fields: &UserFields) -> Result<(), Error> {
    clearable::refuse_set_and_cleared(fields)?;
    for &field in &fields.clear {
        let (key, empty) = match field {
            UserField::Mobile => ("mobile", json!("")),
            UserField::Email => ("email", json!("")),
            UserField::Title => ("position", json!("")),
            UserField::ManagerId => ("direct_leader", json!([])),
            UserField::EmployeeNo => {
                // Not kept when the setting is empty: then there is nothing to clear.
                if let Some(name) = employee_no_attr() {
                    set_attr(body, &name, "")?;
                }
                continue;
            }
        };
        body.insert(key.into(), empty);
    }
    Ok(())
}

fn user_body(fields: &UserFields) -> Result<Map<String, Value>, Error> {
    let mut body = json_object(fields.extra.as_deref(), "extra (WeCom fields)")?;
    let mut put = |key: &str, value: &Option<String>| {
        if let Some(v) = value {
            body.insert(key.into(), json!(v));
        }
    };
    put("name", &fields.name);
    put("mobile", &fields.mobile);
    put("email", &fields.email);
    put("position", &fields.title);
    if let Some(ids) = &fields.department_ids {
        let ids: Vec<i64> = ids
            .iter()
            .map(|id| number(id, "department_ids"))
            .collect::<Result<_, _>>()?;
        // The first is the main department, as in Qiao's users.
        if let Some(main) = ids.first() {
            body.entry("main_department").or_insert(json!(main));
        }
        body.insert("department".into(), json!(ids));
    }
    if let Some(manager) = &fields.manager_id {
        body.insert("direct_leader".into(), json!([manager]));
    }
    if let Some(number) = &fields.employee_no {
        match employee_no_attr() {
            Some(name) => set_attr(&mut body, &name, number)?,
            None => logging::warn(
                "employee_no_attr is empty, so employee numbers are not kept in WeCom; employee_no is not sent",
                &[],
            ),
        }
    }
    Ok(body)
}

/// Sets the text custom field `name` in the request's `extattr`, keeping any other field the caller's `extra`
/// gave.
fn set_attr(body: &mut Map<String, Value>, name: &str, text: &str) -> Result<(), Error> {
    if text.chars().count() > MAX_ATTR_CHARS {
        return Err(Error::invalid_input(format!(
            "employee_no is kept in WeCom's custom field {name:?}, which holds at most {MAX_ATTR_CHARS} characters"
        )));
    }
    let extattr = body.entry("extattr").or_insert_with(|| json!({}));
    if !extattr.is_object() {
        return Err(Error::invalid_input("extra.extattr must be a JSON object"));
    }
    let attrs = extattr
        .as_object_mut()
        .unwrap()
        .entry("attrs")
        .or_insert_with(|| json!([]));
    let Some(attrs) = attrs.as_array_mut() else {
        return Err(Error::invalid_input(
            "extra.extattr.attrs must be a JSON array",
        ));
    };
    attrs.retain(|a| a["name"].as_str() != Some(name));
    attrs.push(json!({ "type": 0, "name": name, "text": { "value": text } }));
    Ok(())
}

impl Guest for WeCom {
    /// `department/list` answers the whole subtree in one request; direct children are filtered from it.
    fn list_departments(
        parent_id: Option<String>,
        recursive: bool,
    ) -> Result<Vec<Department>, Error> {
        let parent = match &parent_id {
            Some(id) => number(id, "parent")?,
            None => ROOT,
        };
        let body = get(&format!("department/list?id={parent}"))?;
        let all = body["department"].as_array().cloned().unwrap_or_default();
        all.iter()
            .filter(|d| d["id"].as_i64() != Some(parent))
            .filter(|d| recursive || d["parentid"].as_i64() == Some(parent))
            .map(department)
            .collect()
    }

    fn get_department(id: String) -> Result<Department, Error> {
        let body = get(&format!("department/get?id={}", number(&id, "id")?))?;
        department(&body["department"])
    }

    /// `code`, when a number, becomes the department's id: WeCom lets the caller choose it.
    fn create_department(
        fields: DepartmentFields,
        _idempotency_key: Option<String>,
    ) -> Result<Department, Error> {
        let name = fields.name.clone().unwrap_or_default();
        required(&name, "name")?;
        let mut body = department_body(&fields)?;
        body.entry("parentid").or_insert(json!(ROOT));
        let chosen = fields.code.as_deref().and_then(code_id);
        if let Some(id) = chosen {
            body.insert("id".into(), json!(id));
        }
        let answer = post("department/create", &Value::Object(body.clone()))?;
        Ok(Department {
            id: id_text(&answer["id"])
                .ok_or_else(|| Error::internal("department/create: no id"))?,
            name,
            parent_id: id_text(&body["parentid"]),
            order: fields.order,
            code: chosen.map(|id| id.to_string()),
            extra: None,
        })
    }

    fn update_department(id: String, fields: DepartmentFields) -> Result<(), Error> {
        let mut body = department_body(&fields)?;
        body.insert("id".into(), json!(number(&id, "id")?));
        post("department/update", &Value::Object(body)).map(drop)
    }

    fn delete_department(id: String) -> Result<(), Error> {
        get(&format!("department/delete?id={}", number(&id, "id")?)).map(drop)
    }

    /// A department's direct members (`user/list`, paged here by offset), or, for the department id `all`,
    /// every user id of the enterprise (`user/list_id`, paged by WeCom's cursor; names are not included).
    fn list_users(
        department_id: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<UserPage, Error> {
        let limit = limit.clamp(1, MAX_PAGE);
        if department_id == ALL {
            let mut body = json!({ "limit": limit });
            if let Some(cursor) = cursor.filter(|c| !c.is_empty()) {
                body["cursor"] = json!(cursor);
            }
            let answer = post("user/list_id", &body)?;
            let mut users: Vec<User> = Vec::new();
            for row in answer["dept_user"].as_array().into_iter().flatten() {
                let id = id_text(&row["userid"]).unwrap_or_default();
                let dept = id_text(&row["department"]);
                match users.iter_mut().find(|u| u.id == id) {
                    Some(user) => user.department_ids.extend(dept),
                    None => users.push(User {
                        id,
                        name: String::new(),
                        mobile: None,
                        email: None,
                        title: None,
                        employee_no: None,
                        department_ids: dept.into_iter().collect(),
                        manager_id: None,
                        active: true,
                        extra: None,
                    }),
                }
            }
            let next_cursor = answer["next_cursor"]
                .as_str()
                .filter(|c| !c.is_empty())
                .map(String::from);
            return Ok(UserPage { users, next_cursor });
        }
        let offset: usize = match cursor.as_deref() {
            None | Some("") => 0,
            Some(c) => c
                .parse()
                .map_err(|_| Error::invalid_input(format!("bad cursor {c:?}")))?,
        };
        let body = get(&format!(
            "user/list?department_id={}",
            number(&department_id, "department id")?
        ))?;
        let all = body["userlist"].as_array().cloned().unwrap_or_default();
        let users = all
            .iter()
            .skip(offset)
            .take(limit as usize)
            .map(user)
            .collect::<Result<Vec<_>, _>>()?;
        let next = offset + users.len();
        Ok(UserPage {
            next_cursor: (next < all.len()).then(|| next.to_string()),
            users,
        })
    }

    fn get_user(id: String) -> Result<User, Error> {
        required(&id, "id")?;
        user(&get(&format!("user/get?userid={}", urlencode(&id)))?)
    }

    fn find_user(key: UserKey) -> Result<String, Error> {
        let body = match key {
            UserKey::Mobile(mobile) => post("user/getuserid", &json!({ "mobile": mobile }))?,
            // email_type 1: the corporate mailbox, 2: a personal one; WeCom tries the one named.
            UserKey::Email(email) => post(
                "user/get_userid_by_email",
                &json!({ "email": email, "email_type": 1 }),
            )?,
            UserKey::UnionId(_) => {
                return Err(Error::unsupported(
                    "WeCom has no union id; look users up by mobile or email",
                ));
            }
        };
        id_text(&body["userid"]).ok_or_else(|| Error::internal("WeCom's answer has no userid"))
    }

    /// WeCom wants the caller to choose the user id.
    fn create_user(fields: UserFields, _idempotency_key: Option<String>) -> Result<User, Error> {
        let id = fields.id.clone().unwrap_or_default();
        required(&id, "id (WeCom's userid, chosen by the caller)")?;
        required(fields.name.as_deref().unwrap_or_default(), "name")?;
        if fields.mobile.is_none() && fields.email.is_none() {
            return Err(Error::invalid_input(
                "WeCom needs a mobile or an email for a new user",
            ));
        }
        let mut body = user_body(&fields)?;
        body.insert("userid".into(), json!(id));
        post("user/create", &Value::Object(body))?;
        Ok(User {
            id,
            name: fields.name.unwrap_or_default(),
            mobile: fields.mobile,
            email: fields.email,
            title: fields.title,
            employee_no: fields.employee_no.filter(|_| employee_no_attr().is_some()),
            department_ids: fields.department_ids.unwrap_or_default(),
            manager_id: fields.manager_id,
            active: true,
            extra: None,
        })
    }

    fn update_user(id: String, fields: UserFields) -> Result<(), Error> {
        required(&id, "id")?;
        let mut body = user_body(&fields)?;
        clear_fields(&mut body, &fields)?;
        body.insert("userid".into(), json!(id));
        post("user/update", &Value::Object(body)).map(drop)
    }

    fn delete_user(id: String) -> Result<(), Error> {
        required(&id, "id")?;
        get(&format!("user/delete?userid={}", urlencode(&id))).map(drop)
    }

    fn login_url(_user_id: String, _target: Option<String>) -> Result<String, Error> {
        Err(Error::unsupported(
            "WeCom does not sign users in from a URL Qiao makes; use SSO (sso-authorize-url, sso-resolve)",
        ))
    }

    /// `flow`: `oauth` (default; a page opened inside the WeCom client) or `qr` (a web page: scan to sign in).
    fn sso_authorize_url(
        redirect_uri: String,
        state: String,
        flow: Option<String>,
    ) -> Result<String, Error> {
        required(&redirect_uri, "redirect_uri")?;
        let (corp, agent) = (urlencode(&corp_id()?), client::agent_id()?);
        let (redirect, state) = (urlencode(&redirect_uri), urlencode(&state));
        match flow.as_deref().unwrap_or("oauth") {
            "oauth" => {
                let scope = config::get("oauth_scope")
                    .filter(|s| !s.is_empty())
                    .unwrap_or("snsapi_base".into());
                Ok(format!(
                    "https://open.weixin.qq.com/connect/oauth2/authorize?appid={corp}&redirect_uri={redirect}\
                     &response_type=code&scope={}&state={state}&agentid={agent}#wechat_redirect",
                    urlencode(&scope)
                ))
            }
            "qr" => Ok(format!(
                "https://login.work.weixin.qq.com/wwlogin/sso/login?login_type=CorpApp&appid={corp}&agentid={agent}\
                 &redirect_uri={redirect}&state={state}"
            )),
            other => Err(Error::invalid_input(format!(
                "unknown flow {other:?}: use oauth or qr"
            ))),
        }
    }

    /// Both flows hand back a code for `auth/getuserinfo`.
    fn sso_resolve(request: SsoRequest) -> Result<SsoUser, Error> {
        required(&request.code, "code")?;
        let body = get(&format!(
            "auth/getuserinfo?code={}",
            urlencode(&request.code)
        ))?;
        // The old API answered `UserId`; some deployments still do.
        let Some(user_id) = id_text(&body["userid"]).or_else(|| id_text(&body["UserId"])) else {
            return Err(Error::not_found(
                "the WeChat user who signed in is not a member of this enterprise (WeCom answered an openid)",
            ));
        };
        let (mut mobile, mut email) = (None, None);
        if let Some(ticket) = body["user_ticket"].as_str().filter(|t| !t.is_empty()) {
            // Mobile and email need the snsapi_privateinfo scope and the member's consent; sign-in works without.
            match post("auth/getuserdetail", &json!({ "user_ticket": ticket })) {
                Ok(detail) => {
                    mobile = detail["mobile"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(String::from);
                    email = detail["email"]
                        .as_str()
                        .filter(|s| !s.is_empty())
                        .map(String::from);
                }
                Err(e) => logging::warn(
                    "auth/getuserdetail failed; signing in without mobile and email",
                    &[("error", &e.message)],
                ),
            }
        }
        Ok(SsoUser {
            user_id,
            name: None,
            mobile,
            email,
            extra: None,
        })
    }
}
