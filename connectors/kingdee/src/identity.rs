//! People and departments as K3Cloud base data: employees (`BD_Empinfo`, or the form in `user_form`; `SEC_User`
//! for system users) and departments (`BD_Department`, or `department_form`). Lists and gets are
//! ExecuteBillQuery, writes are Save, and "delete" disables (Forbid), which K3Cloud prefers to deleting base
//! data that bills refer to. Ids are the `FNumber` (the user account for `SEC_User`). No sign-in: K3Cloud is not
//! an identity provider.

use crate::clearable;
use qiao_sdk::{Error, ErrorKind, config, json_object, required};
use serde_json::{Map, Value, json};

use crate::Kingdee;
use crate::client::{form, literal, query, text};
use crate::exports::qiao::connector::identity::{
    Department, DepartmentFields, Guest, SsoRequest, SsoUser, User, UserField, UserFields, UserKey,
    UserPage,
};

/// Rows read when listing all departments (the tree is built from one list).
const MAX_DEPARTMENTS: u64 = 2000;
const MAX_PAGE: u32 = 500;

/// Where a form keeps each of Qiao's user fields.
struct UserForm {
    id: String,
    number: &'static str,
    name: &'static str,
    mobile: &'static str,
    email: &'static str,
    title: Option<&'static str>,
    department: Option<&'static str>,
}

fn user_form() -> UserForm {
    let id = config::get("user_form")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "BD_Empinfo".into());
    if id == "SEC_User" {
        UserForm {
            id,
            number: "FUserAccount",
            name: "FName",
            mobile: "FPhone",
            email: "FEmail",
            title: None,
            department: None,
        }
    } else {
        UserForm {
            id,
            number: "FNumber",
            name: "FName",
            mobile: "FMobile",
            email: "FEmail",
            title: Some("FPost"),
            department: Some("FDept"),
        }
    }
}

fn department_form() -> String {
    config::get("department_form")
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "BD_Department".into())
}

const DEPT_FIELDS: [&str; 5] = [
    "FID",
    "FNumber",
    "FName",
    "FParentID.FNumber",
    "FForbidStatus",
];

/// `FNumber` (编码) is both the id Qiao addresses a department by and the code it was created with.
fn department(row: &Value) -> Department {
    Department {
        id: text(&row["FNumber"]),
        name: text(&row["FName"]),
        parent_id: Some(text(&row["FParentID.FNumber"])).filter(|p| !p.is_empty()),
        order: None,
        code: Some(text(&row["FNumber"])).filter(|c| !c.is_empty()),
        extra: Some(
            json!({ "fid": row["FID"], "forbidden": row["FForbidStatus"] == "B" }).to_string(),
        ),
    }
}

fn user_fields(f: &UserForm) -> Vec<String> {
    let mut fields = vec![
        "FID".to_string(),
        f.number.into(),
        f.name.into(),
        f.mobile.into(),
        f.email.into(),
        "FForbidStatus".into(),
    ];
    fields.extend(f.title.map(String::from));
    fields.extend(f.department.map(|d| format!("{d}.FNumber")));
    fields
}

fn user(f: &UserForm, row: &Value) -> User {
    let opt = |key: &str| Some(text(&row[key])).filter(|s| !s.is_empty());
    User {
        id: text(&row[f.number]),
        name: text(&row[f.name]),
        mobile: opt(f.mobile),
        email: opt(f.email),
        title: f.title.and_then(opt),
        employee_no: opt(f.number),
        department_ids: f
            .department
            .and_then(|d| opt(&format!("{d}.FNumber")))
            .into_iter()
            .collect(),
        manager_id: None,
        active: row["FForbidStatus"] != "B",
        extra: Some(json!({ "fid": row["FID"], "form": f.id }).to_string()),
    }
}

fn users_where(f: &UserForm, filter: &str, start: u64, limit: u64) -> Result<Vec<User>, Error> {
    let fields = user_fields(f);
    let fields: Vec<&str> = fields.iter().map(String::as_str).collect();
    Ok(query(&f.id, &fields, filter, f.number, start, limit)?
        .iter()
        .map(|row| user(f, row))
        .collect())
}

fn one_user(f: &UserForm, id: &str) -> Result<User, Error> {
    required(id, "id")?;
    users_where(f, &format!("{} = {}", f.number, literal(id)), 0, 1)?
        .pop()
        .ok_or_else(|| Error::not_found(format!("no {} with {} {id}", f.id, f.number)))
}

/// The internal FID behind a number, which Save needs to update instead of create.
fn fid_of(form_id: &str, number_field: &str, number: &str) -> Result<i64, Error> {
    let rows = query(
        form_id,
        &["FID"],
        &format!("{number_field} = {}", literal(number)),
        "",
        0,
        1,
    )?;
    rows.first()
        .and_then(|r| r["FID"].as_i64().or_else(|| text(&r["FID"]).parse().ok()))
        .ok_or_else(|| Error::not_found(format!("no {form_id} with {number_field} {number}")))
}

/// Saves `model` (FID 0: new); `changed` names the fields of an update. Answers the saved row's number.
fn save(form_id: &str, model: Map<String, Value>, changed: Vec<String>) -> Result<String, Error> {
    let data = json!({ "Model": model, "NeedUpDateFields": changed, "IsDeleteEntry": "true", "IsVerifyBaseDataField": "true" });
    let answer = form("Save", &json!({ "formid": form_id, "data": data }))?;
    Ok(text(&answer["Result"]["Number"]))
}

fn forbid(form_id: &str, number: &str) -> Result<(), Error> {
    required(number, "id")?;
    form(
        "ExcuteOperation",
        &json!({ "formid": form_id, "opNumber": "Forbid", "data": { "Numbers": [number] } }),
    )
    .map(drop)
}

fn user_model(f: &UserForm, fields: &UserFields) -> Result<Map<String, Value>, Error> {
    let mut model = json_object(fields.extra.as_deref(), "extra (K3Cloud fields)")?;
    let mut put = |key: Option<&str>, value: &Option<String>| {
        if let (Some(key), Some(v)) = (key, value) {
            model.insert(key.into(), json!(v));
        }
    };
    put(Some(f.name), &fields.name);
    put(Some(f.mobile), &fields.mobile);
    put(Some(f.email), &fields.email);
    put(f.title, &fields.title);
    if let (Some(key), Some(ids)) = (f.department, &fields.department_ids) {
        // Employees belong to one department in this form; the first is it.
        if let Some(first) = ids.first() {
            model.insert(key.into(), json!({ "FNumber": first }));
        }
    }
    Ok(model)
}

/// The department model's number: `code`, or `extra.FNumber` as before codes; both given must agree.
fn department_number(model: &mut Map<String, Value>, code: &Option<String>) -> Result<(), Error> {
    let Some(code) = code else {
        return Ok(());
    };
    required(code, "code")?;
    match model.get("FNumber").map(text) {
        Some(number) if number != *code => Err(Error::invalid_input(format!(
            "code {code:?} and extra.FNumber {number:?} differ: give one"
        ))),
        _ => {
            model.insert("FNumber".into(), json!(code));
            Ok(())
        }
    }
}

/// K3Cloud requires a department's number (编码): for a save without one, a site whose coding rule does not give
/// one refuses it (`FNumber: 字段“编码”是必填项`); say what to pass.
fn number_required(e: Error) -> Error {
    if e.kind == ErrorKind::InvalidInput && e.message.contains("FNumber") {
        Error {
            message: format!(
                "K3Cloud requires a department code (编码, FNumber): pass code ({})",
                e.message
            ),
            ..e
        }
    } else {
        e
    }
}

/// Empties the fields of `clear` the way Save takes it: an empty value, named in `NeedUpDateFields` like every
/// field of an update. A field both set and cleared is `invalid-input`. The employee number is the row's number
/// (`FNumber`, or `FUserAccount` for system users), which K3Cloud requires: `unsupported`. A field the form does
/// not keep here (the manager; the title of `SEC_User`) is not written when set either: nothing to clear.
fn clear_fields(
    f: &UserForm,
    model: &mut Map<String, Value>,
    fields: &UserFields,
) -> Result<(), Error> {
    clearable::refuse_set_and_cleared(fields)?;
    for &field in &fields.clear {
        let key = match field {
            UserField::Mobile => Some(f.mobile),
            UserField::Email => Some(f.email),
            UserField::Title => f.title,
            UserField::ManagerId => None,
            UserField::EmployeeNo => {
                return Err(Error::unsupported(format!(
                    "cannot clear employee_no: it is the {} that K3Cloud requires of every {} row",
                    f.number, f.id
                )));
            }
        };
        if let Some(key) = key {
            model.insert(key.into(), json!(""));
        }
    }
    Ok(())
}

impl Guest for Kingdee {
    /// Departments under `parent_id`, or the top-level ones; built from one list of all departments.
    fn list_departments(
        parent_id: Option<String>,
        recursive: bool,
    ) -> Result<Vec<Department>, Error> {
        let all: Vec<Department> = query(
            &department_form(),
            &DEPT_FIELDS,
            "",
            "FNumber",
            0,
            MAX_DEPARTMENTS,
        )?
        .iter()
        .map(department)
        .collect();
        let mut found: Vec<Department> = all
            .iter()
            .filter(|d| d.parent_id == parent_id)
            .cloned()
            .collect();
        if recursive {
            let mut next = 0;
            while next < found.len() {
                let id = Some(found[next].id.clone());
                found.extend(all.iter().filter(|d| d.parent_id == id).cloned());
                next += 1;
            }
        }
        Ok(found)
    }

    fn get_department(id: String) -> Result<Department, Error> {
        required(&id, "id")?;
        let rows = query(
            &department_form(),
            &DEPT_FIELDS,
            &format!("FNumber = {}", literal(&id)),
            "",
            0,
            1,
        )?;
        rows.first()
            .map(department)
            .ok_or_else(|| Error::not_found(format!("no department {id}")))
    }

    /// The number (编码, `FNumber`) is `code`, else `extra.FNumber`, else the site's coding rule, if it has one.
    fn create_department(
        fields: DepartmentFields,
        _idempotency_key: Option<String>,
    ) -> Result<Department, Error> {
        let name = fields.name.clone().unwrap_or_default();
        required(&name, "name")?;
        let mut model = json_object(fields.extra.as_deref(), "extra (K3Cloud fields)")?;
        department_number(&mut model, &fields.code)?;
        model.insert("FID".into(), json!(0));
        model.insert("FName".into(), json!(name));
        if let Some(parent) = &fields.parent_id {
            model.insert("FParentID".into(), json!({ "FNumber": parent }));
        }
        let numbered = model.contains_key("FNumber");
        let number = save(&department_form(), model, vec![])
            .map_err(|e| if numbered { e } else { number_required(e) })?;
        Ok(Department {
            id: number.clone(),
            name,
            parent_id: fields.parent_id,
            order: None,
            code: Some(number),
            extra: None,
        })
    }

    /// `code` is not changed: it is the department's number, which Qiao knows it by.
    fn update_department(id: String, fields: DepartmentFields) -> Result<(), Error> {
        required(&id, "id")?;
        let form_id = department_form();
        let mut model = json_object(fields.extra.as_deref(), "extra (K3Cloud fields)")?;
        if let Some(name) = &fields.name {
            model.insert("FName".into(), json!(name));
        }
        if let Some(parent) = &fields.parent_id {
            model.insert("FParentID".into(), json!({ "FNumber": parent }));
        }
        let changed = model.keys().cloned().collect();
        model.insert("FID".into(), json!(fid_of(&form_id, "FNumber", &id)?));
        save(&form_id, model, changed).map(drop)
    }

    /// Disables the department (Forbid).
    fn delete_department(id: String) -> Result<(), Error> {
        forbid(&department_form(), &id)
    }

    /// Paged by row offset; department `all` lists every user of the form.
    fn list_users(
        department_id: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<UserPage, Error> {
        let f = user_form();
        let start: u64 = match cursor.as_deref() {
            None | Some("") => 0,
            Some(c) => c
                .parse()
                .map_err(|_| Error::invalid_input(format!("bad cursor {c:?}")))?,
        };
        let filter = match (f.department, department_id.as_str()) {
            (_, "all") => String::new(),
            (Some(dept), id) => format!("{dept}.FNumber = {}", literal(id)),
            (None, _) => {
                return Err(Error::unsupported(format!(
                    "{} has no department: list department all",
                    f.id
                )));
            }
        };
        let limit = limit.clamp(1, MAX_PAGE) as u64;
        let users = users_where(&f, &filter, start, limit)?;
        let next_cursor = (users.len() as u64 == limit).then(|| (start + limit).to_string());
        Ok(UserPage { users, next_cursor })
    }

    fn get_user(id: String) -> Result<User, Error> {
        one_user(&user_form(), &id)
    }

    fn find_user(key: UserKey) -> Result<String, Error> {
        let f = user_form();
        let (field, value) = match &key {
            UserKey::Mobile(m) => (f.mobile, m),
            UserKey::Email(e) => (f.email, e),
            UserKey::UnionId(_) => {
                return Err(Error::unsupported(
                    "K3Cloud has no union id; look up by mobile or email",
                ));
            }
        };
        required(value, "lookup value")?;
        users_where(&f, &format!("{field} = {}", literal(value)), 0, 1)?
            .pop()
            .map(|u| u.id)
            .ok_or_else(|| Error::not_found(format!("no {} with {field} {value}", f.id)))
    }

    /// The number is the `employee_no` given (the row's number is the employee number: it reads back as both
    /// `id` and `employee_no`), else the `id` given, else K3Cloud's coding rule.
    fn create_user(fields: UserFields, _idempotency_key: Option<String>) -> Result<User, Error> {
        let f = user_form();
        required(fields.name.as_deref().unwrap_or_default(), "name")?;
        let mut model = user_model(&f, &fields)?;
        model.insert("FID".into(), json!(0));
        if let Some(number) = fields.employee_no.as_ref().or(fields.id.as_ref()) {
            model.insert(f.number.into(), json!(number));
        }
        let number = save(&f.id, model, vec![])?;
        one_user(&f, &number)
    }

    fn update_user(id: String, fields: UserFields) -> Result<(), Error> {
        let f = user_form();
        required(&id, "id")?;
        let mut model = user_model(&f, &fields)?;
        clear_fields(&f, &mut model, &fields)?;
        let changed = model.keys().cloned().collect();
        model.insert("FID".into(), json!(fid_of(&f.id, f.number, &id)?));
        save(&f.id, model, changed).map(drop)
    }

    /// Disables the user (Forbid): bills keep referring to them.
    fn delete_user(id: String) -> Result<(), Error> {
        let f = user_form();
        forbid(&f.id, &id)
    }

    fn login_url(_user_id: String, _target: Option<String>) -> Result<String, Error> {
        Err(Error::unsupported(
            "K3Cloud does not sign users in from a URL Qiao makes",
        ))
    }

    fn sso_authorize_url(
        _redirect_uri: String,
        _state: String,
        _flow: Option<String>,
    ) -> Result<String, Error> {
        Err(Error::unsupported(
            "K3Cloud is not an identity provider: no single sign-on",
        ))
    }

    fn sso_resolve(_request: SsoRequest) -> Result<SsoUser, Error> {
        Err(Error::unsupported(
            "K3Cloud is not an identity provider: no single sign-on",
        ))
    }
}
