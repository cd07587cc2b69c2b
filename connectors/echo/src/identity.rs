//! A directory kept in kv: departments under an implicit root "1", users indexed by department, mobile, email.
//!
//! kv keys: `dept:{id}` and `user:{id}` records; `dept-children:{id}` and `dept-users:{id}` id lists;
//! `dept-code:{code}`, `mobile:{m}`, `email:{e}` → id lookups; `dept-seq`, `user-seq` counters.

use crate::clearable;
use qiao_sdk::text::{hex, urlencode};
use qiao_sdk::{Error, crypto, json_kv};

use crate::Echo;
use crate::exports::qiao::connector::identity::{
    Department, DepartmentFields, Guest, SsoRequest, SsoUser, User, UserField, UserFields, UserKey,
    UserPage,
};
use crate::store::{add_id, base_url, ids, remove_id};

const ROOT: &str = "1";

fn root() -> Department {
    Department {
        id: ROOT.into(),
        name: "Root".into(),
        parent_id: None,
        order: None,
        code: None,
        extra: None,
    }
}

fn dept_key(id: &str) -> String {
    format!("dept:{id}")
}

fn user_key(id: &str) -> String {
    format!("user:{id}")
}

fn code_key(code: &str) -> String {
    format!("dept-code:{code}")
}

fn load_department(id: &str) -> Result<Department, Error> {
    if id == ROOT {
        return Ok(root());
    }
    json_kv::get::<StoredDepartment>(&dept_key(id))
        .map(Into::into)
        .ok_or_else(|| Error::not_found(format!("no department {id}")))
}

/// A department as stored, to change it: the implicit root has no record and stays as it is.
fn stored_department(id: &str) -> Result<StoredDepartment, Error> {
    if id == ROOT {
        return Err(Error::invalid_input(
            "department 1 is the implicit root: it cannot be changed or deleted",
        ));
    }
    json_kv::get(&dept_key(id)).ok_or_else(|| Error::not_found(format!("no department {id}")))
}

fn load_user(id: &str) -> Result<User, Error> {
    json_kv::get::<StoredUser>(&user_key(id))
        .map(Into::into)
        .ok_or_else(|| Error::not_found(format!("no user {id}")))
}

#[derive(serde::Serialize, serde::Deserialize)]
struct StoredDepartment {
    id: String,
    name: String,
    parent_id: String,
    order: Option<i64>,
    /// Absent in records stored before contract 0.2.0, which read back as none.
    #[serde(default)]
    code: Option<String>,
}

impl From<StoredDepartment> for Department {
    fn from(d: StoredDepartment) -> Department {
        Department {
            id: d.id,
            name: d.name,
            parent_id: Some(d.parent_id),
            order: d.order,
            code: d.code,
            extra: None,
        }
    }
}

#[derive(serde::Serialize, serde::Deserialize, Clone)]
struct StoredUser {
    id: String,
    name: String,
    mobile: Option<String>,
    email: Option<String>,
    title: Option<String>,
    employee_no: Option<String>,
    department_ids: Vec<String>,
    manager_id: Option<String>,
}

impl From<StoredUser> for User {
    fn from(u: StoredUser) -> User {
        User {
            id: u.id,
            name: u.name,
            mobile: u.mobile,
            email: u.email,
            title: u.title,
            employee_no: u.employee_no,
            department_ids: u.department_ids,
            manager_id: u.manager_id,
            active: true,
            extra: None,
        }
    }
}

/// Stores a user and keeps its department and lookup indexes in step with the previous version.
fn save_user(user: &StoredUser, previous: Option<&StoredUser>) -> Result<(), Error> {
    if let Some(old) = previous {
        for d in &old.department_ids {
            remove_id(&format!("dept-users:{d}"), &old.id)?;
        }
        old.mobile
            .iter()
            .for_each(|m| qiao_sdk::kv::delete(&format!("mobile:{m}")));
        old.email
            .iter()
            .for_each(|e| qiao_sdk::kv::delete(&format!("email:{e}")));
    }
    for d in &user.department_ids {
        load_department(d)?;
        add_id(&format!("dept-users:{d}"), &user.id)?;
    }
    if let Some(m) = &user.mobile {
        json_kv::set(&format!("mobile:{m}"), &user.id, None)?;
    }
    if let Some(e) = &user.email {
        json_kv::set(&format!("email:{e}"), &user.id, None)?;
    }
    json_kv::set(&user_key(&user.id), user, None)
}

impl Guest for Echo {
    fn list_departments(
        parent_id: Option<String>,
        recursive: bool,
    ) -> Result<Vec<Department>, Error> {
        let parent = parent_id.unwrap_or_else(|| ROOT.into());
        load_department(&parent)?;
        let mut out = Vec::new();
        let mut queue = vec![parent];
        while let Some(p) = queue.pop() {
            for child in ids(&format!("dept-children:{p}")) {
                out.push(load_department(&child)?);
                if recursive {
                    queue.push(child);
                }
            }
        }
        Ok(out)
    }

    fn get_department(id: String) -> Result<Department, Error> {
        load_department(&id)
    }

    fn create_department(
        fields: DepartmentFields,
        _idempotency_key: Option<String>,
    ) -> Result<Department, Error> {
        let name = fields
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::invalid_input("name is required"))?;
        let parent_id = fields.parent_id.unwrap_or_else(|| ROOT.into());
        load_department(&parent_id)?;
        let code = free_code(fields.code)?;
        let id = (json_kv::next("dept-seq")? + 1).to_string();
        let dept = StoredDepartment {
            id: id.clone(),
            name,
            parent_id: parent_id.clone(),
            order: fields.order,
            code,
        };
        json_kv::set(&dept_key(&id), &dept, None)?;
        if let Some(code) = &dept.code {
            json_kv::set(&code_key(code), &id, None)?;
        }
        add_id(&format!("dept-children:{parent_id}"), &id)?;
        Ok(dept.into())
    }

    fn update_department(id: String, fields: DepartmentFields) -> Result<(), Error> {
        let mut dept = stored_department(&id)?;
        if fields.code.is_some() && fields.code != dept.code {
            return Err(Error::invalid_input(format!(
                "department {id}'s code is chosen on create and cannot change"
            )));
        }
        if let Some(name) = fields.name {
            dept.name = name;
        }
        if let Some(parent) = fields.parent_id {
            load_department(&parent)?;
            remove_id(&format!("dept-children:{}", dept.parent_id), &id)?;
            add_id(&format!("dept-children:{parent}"), &id)?;
            dept.parent_id = parent;
        }
        dept.order = fields.order.or(dept.order);
        json_kv::set(&dept_key(&id), &dept, None)
    }

    fn delete_department(id: String) -> Result<(), Error> {
        let dept = stored_department(&id)?;
        if !ids(&format!("dept-children:{id}")).is_empty()
            || !ids(&format!("dept-users:{id}")).is_empty()
        {
            return Err(Error::conflict(format!("department {id} is not empty")));
        }
        remove_id(&format!("dept-children:{}", dept.parent_id), &id)?;
        if let Some(code) = &dept.code {
            qiao_sdk::kv::delete(&code_key(code));
        }
        qiao_sdk::kv::delete(&dept_key(&id));
        Ok(())
    }

    fn list_users(
        department_id: String,
        cursor: Option<String>,
        limit: u32,
    ) -> Result<UserPage, Error> {
        load_department(&department_id)?;
        let start: usize = cursor
            .as_deref()
            .unwrap_or("0")
            .parse()
            .map_err(|_| Error::invalid_input("bad cursor"))?;
        let ids = ids(&format!("dept-users:{department_id}"));
        let end = start.saturating_add(limit.max(1) as usize).min(ids.len());
        let users = ids
            .get(start..end)
            .unwrap_or_default()
            .iter()
            .map(|id| load_user(id))
            .collect::<Result<_, _>>()?;
        Ok(UserPage {
            users,
            next_cursor: (end < ids.len()).then(|| end.to_string()),
        })
    }

    fn get_user(id: String) -> Result<User, Error> {
        load_user(&id)
    }

    fn find_user(key: UserKey) -> Result<String, Error> {
        let (index, value) = match &key {
            UserKey::Mobile(m) => ("mobile", m),
            UserKey::Email(e) => ("email", e),
            UserKey::UnionId(u) => {
                return Err(Error::unsupported(format!("echo has no union ids ({u})")));
            }
        };
        json_kv::get(&format!("{index}:{value}"))
            .ok_or_else(|| Error::not_found(format!("no user with {index} {value}")))
    }

    fn create_user(fields: UserFields, _idempotency_key: Option<String>) -> Result<User, Error> {
        check_clear(&fields)?;
        let name = fields
            .name
            .filter(|n| !n.is_empty())
            .ok_or_else(|| Error::invalid_input("name is required"))?;
        let id = match fields.id {
            Some(id) => id,
            None => format!("u{}", json_kv::next("user-seq")?),
        };
        if json_kv::get::<StoredUser>(&user_key(&id)).is_some() {
            return Err(Error::conflict(format!("user {id} exists")));
        }
        let user = StoredUser {
            id,
            name,
            mobile: fields.mobile,
            email: fields.email,
            title: fields.title,
            employee_no: fields.employee_no,
            department_ids: fields.department_ids.unwrap_or_else(|| vec![ROOT.into()]),
            manager_id: fields.manager_id,
        };
        save_user(&user, None)?;
        Ok(user.into())
    }

    fn update_user(id: String, fields: UserFields) -> Result<(), Error> {
        check_clear(&fields)?;
        let old: StoredUser = json_kv::get(&user_key(&id))
            .ok_or_else(|| Error::not_found(format!("no user {id}")))?;
        let mut user = old.clone();
        for &field in &fields.clear {
            clear(&mut user, field);
        }
        user.name = fields.name.unwrap_or(user.name);
        user.mobile = fields.mobile.or(user.mobile);
        user.email = fields.email.or(user.email);
        user.title = fields.title.or(user.title);
        user.employee_no = fields.employee_no.or(user.employee_no);
        user.department_ids = fields.department_ids.unwrap_or(user.department_ids);
        user.manager_id = fields.manager_id.or(user.manager_id);
        save_user(&user, Some(&old))
    }

    fn delete_user(id: String) -> Result<(), Error> {
        let old: StoredUser = json_kv::get(&user_key(&id))
            .ok_or_else(|| Error::not_found(format!("no user {id}")))?;
        let mut gone = old.clone();
        gone.department_ids.clear();
        gone.mobile = None;
        gone.email = None;
        save_user(&gone, Some(&old))?;
        qiao_sdk::kv::delete(&user_key(&id));
        Ok(())
    }

    fn sso_authorize_url(
        redirect_uri: String,
        state: String,
        _flow: Option<String>,
    ) -> Result<String, Error> {
        Ok(format!(
            "{}/authorize?redirect_uri={}&state={}",
            base_url(),
            urlencode(&redirect_uri),
            urlencode(&state)
        ))
    }

    /// Codes are `code-{user id}`: a stand-in for a platform's code exchange.
    fn sso_resolve(request: SsoRequest) -> Result<SsoUser, Error> {
        let id = request
            .code
            .strip_prefix("code-")
            .ok_or_else(|| Error::not_found("unknown sign-in code"))?;
        let user = load_user(id)?;
        Ok(SsoUser {
            user_id: user.id,
            name: Some(user.name),
            mobile: user.mobile,
            email: user.email,
            extra: None,
        })
    }

    /// `{api_base}/login?user=..&token=..[&target=..]`, the shape of an SSO-by-token link (Weaver e-cology's).
    /// The token comes from the host's `crypto.random-bytes`, which is secure in every guest language. Nothing
    /// here logs the URL: it is a bearer credential.
    fn login_url(user_id: String, target: Option<String>) -> Result<String, Error> {
        load_user(&user_id)?;
        let token = hex(&crypto::random_bytes(16));
        let mut url = format!(
            "{}/login?user={}&token={token}",
            base_url(),
            urlencode(&user_id)
        );
        if let Some(target) = target {
            url += &format!("&target={}", urlencode(&target));
        }
        Ok(url)
    }
}

/// A code given on create must be unique, as a platform's caller-chosen code is (Kingdee `FNumber`).
fn free_code(code: Option<String>) -> Result<Option<String>, Error> {
    let Some(code) = code else { return Ok(None) };
    qiao_sdk::required(&code, "code")?;
    match json_kv::get::<String>(&code_key(&code)) {
        Some(owner) => Err(Error::conflict(format!(
            "department code {code} is taken by department {owner}"
        ))),
        None => Ok(Some(code)),
    }
}

/// Setting a field and clearing it in the same call has no meaning: refused before anything changes.
fn check_clear(fields: &UserFields) -> Result<(), Error> {
    clearable::refuse_set_and_cleared(fields)
}

fn clear(user: &mut StoredUser, field: UserField) {
    match field {
        UserField::Mobile => user.mobile = None,
        UserField::Email => user.email = None,
        UserField::Title => user.title = None,
        UserField::EmployeeNo => user.employee_no = None,
        UserField::ManagerId => user.manager_id = None,
    }
}

