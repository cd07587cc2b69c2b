//! `/v1/connections/{c}/departments|users|sso`: the org directory and sign-in.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use serde_json::{Value, json};

use super::operations::{WriteOptions, accept};
use super::{ApiError, AppState, Body, call, expect_reply, people};
use qiao_contract::Capability;
use qiao_contract::json::render;
use qiao_contract::bindings::identity::{DepartmentFields, SsoRequest, UserFields, UserKey};
use qiao_contract::calls::{Call, Reply};

type Result<T> = std::result::Result<T, ApiError>;

#[derive(Deserialize)]
pub struct ListDepartments {
    parent: Option<String>,
    #[serde(default)]
    recursive: bool,
}

pub async fn list_departments(
    State(app): State<AppState>,
    Path(c): Path<String>,
    Query(q): Query<ListDepartments>,
) -> Result<Json<Value>> {
    let reply = call(
        &app,
        &c,
        Call::ListDepartments {
            parent: q.parent,
            recursive: q.recursive,
        },
    )
    .await?;
    Ok(Json(
        json!({ "departments": render(expect_reply!(reply, Reply::Departments)) }),
    ))
}

pub async fn get_department(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let reply = call(&app, &c, Call::GetDepartment { id }).await?;
    Ok(Json(render(expect_reply!(reply, Reply::Department))))
}

#[derive(Deserialize)]
#[serde(bound = "T: serde::de::DeserializeOwned")]
pub struct Create<T> {
    #[serde(flatten)]
    fields: Fields<T>,
    idempotency_key: Option<String>,
}

/// User or department fields whose `extra` (platform fields) may be written as a JSON object, as callers
/// would, or as a string holding one, as the contract carries it; and a user's `clear` as snake_case field
/// names (`["email", "employee_no"]`), empty when left out.
pub struct Fields<T>(T);

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for Fields<T> {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        let mut value = Value::deserialize(deserializer)?;
        if let Some(extra) = value
            .get_mut("extra")
            .filter(|e| !e.is_string() && !e.is_null())
        {
            *extra = Value::String(extra.to_string());
        }
        if let Some(fields) = value.as_object_mut() {
            let clear = match fields.remove("clear") {
                None | Some(Value::Null) => Vec::new(),
                Some(Value::Array(names)) => names
                    .iter()
                    .map(|name| {
                        name.as_str()
                            .and_then(qiao_contract::json::user_field)
                            .ok_or_else(|| serde::de::Error::custom(format!(
                                "clear: unknown field {name}; fields that can be cleared: {}",
                                qiao_contract::json::USER_FIELDS.join(", ")
                            )))
                    })
                    .collect::<std::result::Result<_, D::Error>>()?,
                Some(_) => return Err(serde::de::Error::custom("clear must be a list of field names")),
            };
            fields.insert("clear".into(), json!(clear));
        }
        serde_json::from_value(value)
            .map(Fields)
            .map_err(serde::de::Error::custom)
    }
}

/// Refuses a field both set and cleared: which one was meant?
fn check_clear(fields: &UserFields) -> Result<()> {
    for field in &fields.clear {
        use qiao_contract::identity::UserField::*;
        let set = match field {
            Mobile => fields.mobile.is_some(),
            Email => fields.email.is_some(),
            Title => fields.title.is_some(),
            EmployeeNo => fields.employee_no.is_some(),
            ManagerId => fields.manager_id.is_some(),
        };
        if set {
            return Err(ApiError::bad_request(format!(
                "{} is both set and cleared; give one",
                qiao_contract::json::user_field_name(*field)
            )));
        }
    }
    Ok(())
}

pub async fn create_department(
    State(app): State<AppState>,
    Path(c): Path<String>,
    options: WriteOptions,
    Body(body): Body<Create<DepartmentFields>>,
) -> Result<Response> {
    let write = Call::CreateDepartment {
        fields: body.fields.0,
        idempotency_key: body.idempotency_key,
    };
    accept(&app, &c, write, options).await
}

pub async fn update_department(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
    Body(Fields(fields)): Body<Fields<DepartmentFields>>,
) -> Result<Response> {
    accept(&app, &c, Call::UpdateDepartment { id, fields }, options).await
}

pub async fn delete_department(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
) -> Result<Response> {
    accept(&app, &c, Call::DeleteDepartment { id }, options).await
}

#[derive(Deserialize)]
pub struct ListUsers {
    cursor: Option<String>,
    limit: Option<u32>,
}

pub async fn list_users(
    State(app): State<AppState>,
    Path((c, department)): Path<(String, String)>,
    Query(q): Query<ListUsers>,
) -> Result<Json<Value>> {
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let reply = call(
        &app,
        &c,
        Call::ListUsers {
            department,
            cursor: q.cursor,
            limit,
        },
    )
    .await?;
    Ok(Json(render(expect_reply!(reply, Reply::UserPage))))
}

pub async fn get_user(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let reply = call(&app, &c, Call::GetUser { id }).await?;
    Ok(Json(render(expect_reply!(reply, Reply::User))))
}

#[derive(Deserialize)]
pub struct Lookup {
    mobile: Option<String>,
    email: Option<String>,
    union_id: Option<String>,
}

pub async fn find_user(
    State(app): State<AppState>,
    Path(c): Path<String>,
    Query(q): Query<Lookup>,
) -> Result<Json<Value>> {
    let key = match (q.mobile, q.email, q.union_id) {
        (Some(m), None, None) => UserKey::Mobile(m),
        (None, Some(e), None) => UserKey::Email(e),
        (None, None, Some(u)) => UserKey::UnionId(u),
        _ => {
            return Err(ApiError::bad_request(
                "give exactly one of ?mobile=, ?email= or ?union_id=",
            ));
        }
    };
    let reply = call(&app, &c, Call::FindUser { key }).await?;
    Ok(Json(
        json!({ "user_id": expect_reply!(reply, Reply::UserId) }),
    ))
}

pub async fn create_user(
    State(app): State<AppState>,
    Path(c): Path<String>,
    options: WriteOptions,
    Body(body): Body<Create<UserFields>>,
) -> Result<Response> {
    if !body.fields.0.clear.is_empty() {
        return Err(ApiError::bad_request("clear is for updates: a new user has nothing to clear"));
    }
    let write = Call::CreateUser {
        fields: body.fields.0,
        idempotency_key: body.idempotency_key,
    };
    accept(&app, &c, write, options).await
}

pub async fn update_user(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
    Body(Fields(fields)): Body<Fields<UserFields>>,
) -> Result<Response> {
    check_clear(&fields)?;
    accept(&app, &c, Call::UpdateUser { id, fields }, options).await
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct LoginUrlBody {
    /// Where in the connected system to land (a path or URL of it).
    target: Option<String>,
}

/// `POST .../users/{id}/login-url`: a URL that signs the user in to the connected system. Not kept or logged
/// by Qiao: it is a credential.
pub async fn login_url(
    State(app): State<AppState>,
    Path((c, user_id)): Path<(String, String)>,
    Body(b): Body<LoginUrlBody>,
) -> Result<Json<Value>> {
    let reply = call(&app, &c, Call::LoginUrl { user_id, target: b.target }).await?;
    Ok(Json(json!({ "url": expect_reply!(reply, Reply::Url) })))
}

/// `POST .../people/{person}/login-url`: the same for the enterprise's person, signed in as their account on the
/// connection (the directory's link). Behind one-click sign-in: a person who signed in through DingTalk, WeCom or
/// Feishu (`sso/exchange` answers the person) is sent into the OA as themselves.
pub async fn person_login_url(
    State(app): State<AppState>,
    Path((c, person)): Path<(String, String)>,
    Body(b): Body<LoginUrlBody>,
) -> Result<Json<Value>> {
    let (users, missing) =
        people::on_connection(&app, &c, Capability::Identity, "person", std::slice::from_ref(&person)).await?;
    let Some(user_id) = users.into_iter().next() else {
        return Err(people::nobody_found("unresolved_person", "person", &missing));
    };
    let reply = call(&app, &c, Call::LoginUrl { user_id: user_id.clone(), target: b.target }).await?;
    Ok(Json(json!({ "url": expect_reply!(reply, Reply::Url), "user_id": user_id })))
}

pub async fn delete_user(
    State(app): State<AppState>,
    Path((c, id)): Path<(String, String)>,
    options: WriteOptions,
) -> Result<Response> {
    accept(&app, &c, Call::DeleteUser { id }, options).await
}

#[derive(Deserialize)]
pub struct AuthorizeUrl {
    redirect_uri: String,
    state: String,
    flow: Option<String>,
}

pub async fn sso_authorize_url(
    State(app): State<AppState>,
    Path(c): Path<String>,
    Body(body): Body<AuthorizeUrl>,
) -> Result<Json<Value>> {
    let call_ = Call::SsoAuthorizeUrl {
        redirect_uri: body.redirect_uri,
        state: body.state,
        flow: body.flow,
    };
    let reply = call(&app, &c, call_).await?;
    Ok(Json(json!({ "url": expect_reply!(reply, Reply::Url) })))
}

pub async fn sso_resolve(
    State(app): State<AppState>,
    Path(c): Path<String>,
    Body(request): Body<SsoRequest>,
) -> Result<Json<Value>> {
    let reply = call(&app, &c, Call::SsoResolve { request }).await?;
    Ok(Json(render(expect_reply!(reply, Reply::SsoUser))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoStart {
    redirect_uri: String,
    flow: Option<String>,
}

/// `POST …/sso/start` `{redirect_uri, flow?}` → `{url, state, expires_at_ms}`: a state Qiao keeps, in the URL.
pub async fn sso_start(
    State(app): State<AppState>,
    Path(c): Path<String>,
    Body(body): Body<SsoStart>,
) -> Result<Json<Value>> {
    let started = qiao_services::sso::start(&app, &c, body.redirect_uri, body.flow).await?;
    Ok(Json(json!(started)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SsoExchange {
    code: String,
    state: String,
    redirect_uri: Option<String>,
}

/// `POST …/sso/exchange` `{code, state, redirect_uri?}` → `{connection, platform_user, person, matched_by}`.
pub async fn sso_exchange(
    State(app): State<AppState>,
    Path(c): Path<String>,
    Body(body): Body<SsoExchange>,
) -> Result<Json<Value>> {
    let answer = qiao_services::sso::exchange(&app, &c, body.code, body.state, body.redirect_uri).await?;
    Ok(Json(answer))
}
