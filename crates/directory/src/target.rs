//! What one platform connection holds now, in the platform's ids, and what Qiao knows about it: which platform
//! object is which enterprise object (links), and the values Qiao last applied (to tell drift from change).

use serde::{Deserialize, Serialize};

use super::model::{Department, Person};
use qiao_contract::identity;

/// A department as the platform reports it (`identity.list-departments`); ids are the platform's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct PlatformDepartment {
    pub id: String,
    pub name: String,
    /// None for the platform's root.
    #[serde(default)]
    pub parent_id: Option<String>,
    #[serde(default)]
    pub order: Option<i64>,
}

/// A user as the platform reports it (`identity.list-users`); ids are the platform's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct PlatformUser {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    #[serde(default)]
    pub employee_no: Option<String>,
    #[serde(default)]
    pub department_ids: Vec<String>,
    #[serde(default)]
    pub manager_id: Option<String>,
    #[serde(default = "yes")]
    pub active: bool,
}

fn yes() -> bool {
    true
}

/// An enterprise object (`id`) and the platform object it is (`platform_id`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Link {
    pub id: String,
    pub platform_id: String,
}

impl Link {
    pub fn new(id: impl Into<String>, platform_id: impl Into<String>) -> Link {
        Link {
            id: id.into(),
            platform_id: platform_id.into(),
        }
    }
}

/// One platform connection's directory now, with Qiao's links into it and the values Qiao last applied.
///
/// A link is one-to-one: a link naming an enterprise id or a platform id that an earlier link already names is
/// ignored. The synced records are in the enterprise's terms (enterprise ids for parents, departments and
/// managers), per object the values Qiao last wrote or found equal; a field that is None (an empty list) there
/// is unknown, and cannot show drift.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct TargetState {
    #[serde(default)]
    pub departments: Vec<PlatformDepartment>,
    #[serde(default)]
    pub users: Vec<PlatformUser>,
    #[serde(default)]
    pub department_links: Vec<Link>,
    #[serde(default)]
    pub person_links: Vec<Link>,
    #[serde(default)]
    pub synced_departments: Vec<Department>,
    #[serde(default)]
    pub synced_people: Vec<Person>,
}

impl From<identity::Department> for PlatformDepartment {
    fn from(d: identity::Department) -> Self {
        PlatformDepartment {
            id: d.id,
            name: d.name,
            parent_id: d.parent_id,
            order: d.order,
        }
    }
}

impl From<identity::User> for PlatformUser {
    fn from(u: identity::User) -> Self {
        PlatformUser {
            id: u.id,
            name: u.name,
            mobile: u.mobile,
            email: u.email,
            title: u.title,
            employee_no: u.employee_no,
            department_ids: u.department_ids,
            manager_id: u.manager_id,
            active: u.active,
        }
    }
}
