//! The directory (`contact/v3`) and sign-in (OAuth2: `authen/v2/oauth/token`, then `authen/v1/user_info`), and
//! turning accounts off and on (`user-status`: the user's `is_frozen`, 暂停).
//! Creates carry Qiao's idempotency key as Feishu's `client_token`, so a retried create makes one user.
//!
//! What is written reads back the same through `get-user`, `list-users` and `list-departments`: name, email,
//! title (`job_title`), employee number, departments, manager (`leader_user_id`) and a department's name, parent
//! and order; with one exception, mobiles. Feishu takes `13011111111` or `+8613011111111` (FeishuNetSdk
//! `PatchContactV3UsersByUserIdBodyDto`: "中国大陆手机号：13011111111 或 +8613011111111", "国际电话区号的前缀中，
//! 必须包含加号 +") and answers with the number as it stores it, which for mainland numbers is `+86…` (the
//! simulator does the same; the docs' read examples show `13011111111`), so a number written without `+86` may
//! read back with it. Spaces and dashes are dropped before writing (the field is a plus sign and digits). Qiao's
//! directory planner compares mobiles normalised (no spaces or dashes, no `+86` before a mainland number), so it
//! sees no change either way; the connector passes Feishu's form through as it is.

use crate::clearable;
use qiao_sdk::http::Method;
use qiao_sdk::{Error, ErrorKind, json_object, required};
use serde_json::{Map, Value, json};

use crate::Feishu;
use crate::client::{
    accounts_base, app_id, app_secret, call, call_as, department_id_of, enc, get, id_types, post,
    string, user_id_of, user_id_type,
};
use crate::exports::qiao::connector::identity::{
    Department, DepartmentFields, Guest, SsoRequest, SsoUser, User, UserField, UserFields, UserKey,
    UserPage,
};
use crate::exports::qiao::connector::user_status;

const ROOT: &str = "0";
/// Feishu's page size limit for contact lists.
const MAX_PAGE: u32 = 50;
/// Pages of children read for one `list_departments`; the host's request cap bounds it too.
const MAX_PAGES: usize = 40;

fn department(value: &Value) -> Result<Department, Error> {
    let id =
        department_id_of(value).ok_or_else(|| Error::internal("a department without an id"))?;
    Ok(Department {
        name: value["name"].as_str().unwrap_or_default().to_string(),
        parent_id: value["parent_department_id"].as_str().filter(|_| id != ROOT).map(String::from),
        order: value["order"].as_i64().or_else(|| value["order"].as_str().and_then(|s| s.parse().ok())),
        // The custom `department_id`: the code it was created with, or the one Feishu gave it.
        code: value["department_id"].as_str().filter(|c| !c.is_empty() && id != ROOT).map(String::from),
        extra: Some(
            json!({ "department_id": value["department_id"], "open_department_id": value["open_department_id"],
                    "leader_user_id": value["leader_user_id"], "member_count": value["member_count"] })
            .to_string(),
        ),
        id,
    })
}

fn user(value: &Value) -> Result<User, Error> {
    let text = |key: &str| {
        value[key]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(String::from)
    };
    let status = &value["status"];
    Ok(User {
        id: user_id_of(value).ok_or_else(|| Error::internal("a user without an id of the configured user_id_type"))?,
        name: text("name").unwrap_or_default(),
        mobile: text("mobile"),
        email: text("email"),
        title: text("job_title"),
        employee_no: text("employee_no"),
        department_ids: value["department_ids"]
            .as_array()
            .map(|l| l.iter().filter_map(|d| d.as_str().map(String::from)).collect())
            .unwrap_or_default(),
        manager_id: text("leader_user_id"),
        active: !(status["is_resigned"] == true || status["is_frozen"] == true),
        extra: Some(
            json!({ "open_id": value["open_id"], "union_id": value["union_id"], "user_id": value["user_id"],
                    "status": value["status"] })
            .to_string(),
        ),
    })
}

fn department_body(fields: &DepartmentFields) -> Result<Map<String, Value>, Error> {
    let mut body = json_object(fields.extra.as_deref(), "extra (Feishu fields)")?;
    if let Some(name) = &fields.name {
        required(name, "name")?;
        body.insert("name".into(), json!(name));
    }
    if let Some(parent) = &fields.parent_id {
        body.insert("parent_department_id".into(), json!(parent));
    }
    if let Some(order) = fields.order {
        body.insert("order".into(), json!(order.to_string()));
    }
    Ok(body)
}

/// Empties the fields of `clear` the way Feishu's PATCH takes it, an empty string. A field both set and cleared
/// is `invalid-input`; the mobile cannot be emptied (`unsupported`): every Feishu user has one.
fn clear_fields(body: &mut Map<String, Value>, fields: &UserFields) -> Result<(), Error> {
    clearable::refuse_set_and_cleared(fields)?;
    for &field in &fields.clear {
        let key = match field {
            UserField::Mobile => {
                return Err(Error::unsupported(
                    "cannot clear mobile: Feishu needs a mobile on every user; set another one instead",
                ));
            }
            UserField::Email => "email",
            UserField::Title => "job_title",
            UserField::EmployeeNo => "employee_no",
            UserField::ManagerId => "leader_user_id",
        };
        body.insert(key.into(), json!(""));
    }
    Ok(())
}

fn user_body(fields: &UserFields) -> Result<Map<String, Value>, Error> {
    let mut body = json_object(fields.extra.as_deref(), "extra (Feishu fields)")?;
    let mut put = |key: &str, value: &Option<String>| {
        if let Some(v) = value {
            body.insert(key.into(), json!(v));
        }
    };
    put("name", &fields.name);
    put("mobile", &fields.mobile.as_deref().map(mobile));
    put("email", &fields.email);
    put("job_title", &fields.title);
    put("employee_no", &fields.employee_no);
    put("leader_user_id", &fields.manager_id);
    if let Some(ids) = &fields.department_ids {
        body.insert("department_ids".into(), json!(ids));
    }
    Ok(body)
}

/// A mobile number as Feishu takes it: without the spaces and dashes people write in them.
fn mobile(number: &str) -> String {
    number
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '-')
        .collect()
}

/// `client_token` for a create: the caller's key, else none (Feishu then creates every time).
fn client_token(key: &Option<String>) -> String {
    key.as_deref()
        .map(|k| format!("&client_token={}", enc(k)))
        .unwrap_or_default()
}

impl Guest for Feishu {
    fn list_departments(
        parent_id: Option<String>,
        recursive: bool,
    ) -> Result<Vec<Department>, Error> {
        let parent = parent_id.unwrap_or_else(|| ROOT.into());
        let mut found = Vec::new();
        let mut page_token = String::new();
        for _ in 0..MAX_PAGES {
            let data = get(&format!(
                "contact/v3/departments/{}/children?{}&page_size={MAX_PAGE}&fetch_child={recursive}&page_token={}",
                enc(&parent),
                id_types(),
                enc(&page_token)
            ))?;
            for item in data["items"].as_array().into_iter().flatten() {
                found.push(department(item)?);
            }
            match data["page_token"]
                .as_str()
                .filter(|t| !t.is_empty() && data["has_more"] == true)
            {
                Some(next) => page_token = next.to_string(),
                None => return Ok(found),
            }
        }
        Err(Error::invalid_input(format!(
            "more than {} departments under {parent}: list a smaller subtree",
            MAX_PAGES * MAX_PAGE as usize
        )))
    }

    fn get_department(id: String) -> Result<Department, Error> {
        required(&id, "id")?;
        department(
            &get(&format!(
                "contact/v3/departments/{}?{}",
                enc(&id),
                id_types()
            ))?["department"],
        )
    }

    /// `code` becomes the custom `department_id` (the enterprise's own id, which Feishu otherwise assigns).
    fn create_department(
        fields: DepartmentFields,
        idempotency_key: Option<String>,
    ) -> Result<Department, Error> {
        required(fields.name.as_deref().unwrap_or_default(), "name")?;
        let mut body = department_body(&fields)?;
        body.entry("parent_department_id").or_insert(json!(ROOT));
        if let Some(code) = &fields.code {
            required(code, "code")?;
            body.insert("department_id".into(), json!(code));
        }
        let path = format!(
            "contact/v3/departments?{}{}",
            id_types(),
            client_token(&idempotency_key)
        );
        department(&post(&path, &Value::Object(body))?["department"])
    }

    fn update_department(id: String, fields: DepartmentFields) -> Result<(), Error> {
        required(&id, "id")?;
        let body = Value::Object(department_body(&fields)?);
        call(
            Method::Patch,
            &format!("contact/v3/departments/{}?{}", enc(&id), id_types()),
            Some(&body),
        )
        .map(drop)
    }

    fn delete_department(id: String) -> Result<(), Error> {
        required(&id, "id")?;
        call(
            Method::Delete,
            &format!("contact/v3/departments/{}?{}", enc(&id), id_types()),
            None,
        )
        .map(drop)
    }

    fn list_users(
        department_id: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<UserPage, Error> {
        required(&department_id, "department id")?;
        let data = get(&format!(
            "contact/v3/users/find_by_department?department_id={}&{}&page_size={}&page_token={}",
            enc(&department_id),
            id_types(),
            limit.clamp(1, MAX_PAGE),
            enc(cursor.as_deref().unwrap_or_default())
        ))?;
        let users = data["items"]
            .as_array()
            .into_iter()
            .flatten()
            .map(user)
            .collect::<Result<Vec<_>, _>>()?;
        let next_cursor = data["page_token"]
            .as_str()
            .filter(|t| !t.is_empty() && data["has_more"] == true)
            .map(String::from);
        Ok(UserPage { users, next_cursor })
    }

    fn get_user(id: String) -> Result<User, Error> {
        required(&id, "id")?;
        user(&get(&format!("contact/v3/users/{}?{}", enc(&id), id_types()))?["user"])
    }

    fn find_user(key: UserKey) -> Result<String, Error> {
        let body = match key {
            UserKey::Mobile(mobile) => json!({ "mobiles": [mobile] }),
            UserKey::Email(email) => json!({ "emails": [email] }),
            UserKey::UnionId(union_id) => {
                let data = get(&format!(
                    "contact/v3/users/{}?user_id_type=union_id",
                    enc(&union_id)
                ))?;
                return user_id_of(&data["user"]).ok_or_else(|| {
                    Error::internal("Feishu's answer has no id of the configured user_id_type")
                });
            }
        };
        let data = post(
            &format!(
                "contact/v3/users/batch_get_id?user_id_type={}",
                enc(&user_id_type())
            ),
            &body,
        )?;
        data["user_list"]
            .as_array()
            .and_then(|l| l.first())
            .and_then(|u| u["user_id"].as_str())
            .filter(|id| !id.is_empty())
            .map(String::from)
            .ok_or_else(|| {
                Error::not_found(
                    "no Feishu user has this mobile or email (or the app cannot see them)",
                )
            })
    }

    fn create_user(fields: UserFields, idempotency_key: Option<String>) -> Result<User, Error> {
        required(fields.name.as_deref().unwrap_or_default(), "name")?;
        required(fields.mobile.as_deref().unwrap_or_default(), "mobile")?;
        if fields
            .department_ids
            .as_ref()
            .is_none_or(|ids| ids.is_empty())
        {
            return Err(Error::invalid_input(
                "department_ids is required (at least one department)",
            ));
        }
        let mut body = user_body(&fields)?;
        if let Some(id) = &fields.id {
            // Only the enterprise's own user_id can be chosen; open and union ids are Feishu's.
            body.insert("user_id".into(), json!(id));
        }
        let path = format!(
            "contact/v3/users?{}{}",
            id_types(),
            client_token(&idempotency_key)
        );
        user(&post(&path, &Value::Object(body))?["user"])
    }

    fn update_user(id: String, fields: UserFields) -> Result<(), Error> {
        required(&id, "id")?;
        let mut body = user_body(&fields)?;
        clear_fields(&mut body, &fields)?;
        let body = Value::Object(body);
        call(
            Method::Patch,
            &format!("contact/v3/users/{}?{}", enc(&id), id_types()),
            Some(&body),
        )
        .map(drop)
    }

    fn delete_user(id: String) -> Result<(), Error> {
        required(&id, "id")?;
        call(
            Method::Delete,
            &format!("contact/v3/users/{}?{}", enc(&id), id_types()),
            None,
        )
        .map(drop)
    }

    fn login_url(_user_id: String, _target: Option<String>) -> Result<String, Error> {
        Err(Error::unsupported(
            "Feishu does not sign users in from a URL Qiao makes; use SSO (sso-authorize-url, sso-resolve)",
        ))
    }

    /// Feishu's OAuth2 authorize page; `flow` is not used (one flow).
    fn sso_authorize_url(
        redirect_uri: String,
        state: String,
        _flow: Option<String>,
    ) -> Result<String, Error> {
        required(&redirect_uri, "redirect_uri")?;
        Ok(format!(
            "{}/open-apis/authen/v1/authorize?client_id={}&redirect_uri={}&state={}",
            accounts_base(),
            enc(&app_id()?),
            enc(&redirect_uri),
            enc(&state)
        ))
    }

    fn sso_resolve(request: SsoRequest) -> Result<SsoUser, Error> {
        required(&request.code, "code")?;
        let mut grant = json!({
            "grant_type": "authorization_code",
            "client_id": app_id()?,
            "client_secret": app_secret()?,
            "code": request.code,
        });
        if let Some(uri) = &request.redirect_uri {
            grant["redirect_uri"] = json!(uri);
        }
        // Whatever Feishu says about a bad code (20003 "not found, expired or used"...), it is the caller's input.
        let token = call_as(Method::Post, "authen/v2/oauth/token", Some(&grant), "").map_err(
            |e| match e.kind {
                ErrorKind::NotFound | ErrorKind::InvalidInput => Error {
                    kind: ErrorKind::InvalidInput,
                    message: format!(
                        "the sign-in code is invalid, expired or already used ({})",
                        e.message
                    ),
                    ..e
                },
                _ => e,
            },
        )?;
        let user_token = string(&token["access_token"], "access_token")?;
        let me = call_as(Method::Get, "authen/v1/user_info", None, &user_token)?;
        let text = |key: &str| me[key].as_str().filter(|s| !s.is_empty()).map(String::from);
        let user_id = user_id_of(&me).ok_or_else(|| {
            Error::forbidden(format!(
                "Feishu's user info has no {}: grant the app the scope for it",
                user_id_type()
            ))
        })?;
        // Kept, where the operator opted in, so that what Feishu lets only the person do (the approval reminder)
        // can be done for them.
        if crate::user_tokens::enabled() {
            crate::user_tokens::remember(&user_id, &token)?;
        }
        Ok(SsoUser {
            user_id,
            name: text("name"),
            mobile: text("mobile"),
            email: text("email"),
            extra: Some(
                json!({ "open_id": me["open_id"], "union_id": me["union_id"], "user_id": me["user_id"],
                        "tenant_key": me["tenant_key"] })
                .to_string(),
            ),
        })
    }
}

/// `PATCH contact/v3/users/:user_id {"is_frozen": bool}`: a frozen (暂停) user cannot sign in and reads back with
/// `status.is_frozen` (so `active: false`); unfreezing restores them. `is_frozen` is a field of the user the PATCH
/// takes (lark-oapi `lark_oapi/api/contact/v3/model/user.py`, the body of `patch_user_request.py`; FeishuNetSdk
/// `PatchContactV3UsersByUserIdBodyDto`: "是否是暂停状态的用户").
impl user_status::Guest for Feishu {
    fn set_active(user_id: String, active: bool) -> Result<(), Error> {
        required(&user_id, "user id")?;
        call(
            Method::Patch,
            &format!("contact/v3/users/{}?{}", enc(&user_id), id_types()),
            Some(&json!({ "is_frozen": !active })),
        )
        .map(drop)
    }
}
