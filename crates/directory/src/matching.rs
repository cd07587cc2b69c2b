//! Finding the platform object an unlinked enterprise object already is: a person by mobile, then email, then
//! employee number (normalised); a department by its parent and name. Only platform objects without a link are
//! candidates. Deciding what an ambiguous result means is the plan's job.

use std::borrow::Cow;
use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::model::{Person, normalize_email, normalize_employee_no, normalize_mobile};
use super::target::{PlatformDepartment, PlatformUser};

/// What an unlinked object was matched on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MatchKey {
    Mobile,
    Email,
    EmployeeNo,
    /// A department: same parent, same name.
    ParentAndName,
}

/// Platform objects (indices) sharing one key.
pub(super) enum Candidates {
    One(usize),
    Many(Vec<usize>),
}

impl Candidates {
    fn add(&mut self, index: usize) {
        match self {
            Candidates::One(first) => *self = Candidates::Many(vec![*first, index]),
            Candidates::Many(all) => all.push(index),
        }
    }

    fn insert<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Candidates>, key: K, index: usize) {
        map.entry(key)
            .and_modify(|c| c.add(index))
            .or_insert(Candidates::One(index));
    }
}

/// What one key of one person found.
pub(super) enum Found<'p> {
    Nothing,
    One {
        user: usize,
        key: MatchKey,
        value: Cow<'p, str>,
    },
    Several {
        key: MatchKey,
        value: Cow<'p, str>,
        users: Vec<usize>,
    },
}

/// Unlinked platform users by normalised mobile, email and employee number.
pub(super) struct UserIndex<'a> {
    mobile: HashMap<Cow<'a, str>, Candidates>,
    email: HashMap<Cow<'a, str>, Candidates>,
    employee_no: HashMap<Cow<'a, str>, Candidates>,
}

fn key<'s>(value: Option<&'s str>, normalize: fn(&'s str) -> Cow<'s, str>) -> Option<Cow<'s, str>> {
    value.map(normalize).filter(|v| !v.is_empty())
}

impl<'a> UserIndex<'a> {
    /// Indexes the users for which `unlinked(index)` holds.
    pub(super) fn new(
        users: &'a [PlatformUser],
        unlinked: impl Fn(usize) -> bool,
    ) -> UserIndex<'a> {
        let mut index = UserIndex {
            mobile: HashMap::new(),
            email: HashMap::new(),
            employee_no: HashMap::new(),
        };
        for (i, user) in users.iter().enumerate() {
            if !unlinked(i) {
                continue;
            }
            if let Some(k) = key(user.mobile.as_deref(), normalize_mobile) {
                Candidates::insert(&mut index.mobile, k, i);
            }
            if let Some(k) = key(user.email.as_deref(), normalize_email) {
                Candidates::insert(&mut index.email, k, i);
            }
            if let Some(k) = key(user.employee_no.as_deref(), normalize_employee_no) {
                Candidates::insert(&mut index.employee_no, k, i);
            }
        }
        index
    }

    /// The first of the person's keys (mobile, email, employee number) that finds anyone decides.
    pub(super) fn find<'p>(&self, person: &'p Person) -> Found<'p> {
        let keys = [
            (
                MatchKey::Mobile,
                key(person.mobile.as_deref(), normalize_mobile),
                &self.mobile,
            ),
            (
                MatchKey::Email,
                key(person.email.as_deref(), normalize_email),
                &self.email,
            ),
            (
                MatchKey::EmployeeNo,
                key(person.employee_no.as_deref(), normalize_employee_no),
                &self.employee_no,
            ),
        ];
        for (key, value, map) in keys {
            let Some(value) = value else { continue };
            match map.get(value.as_ref()) {
                None => continue,
                Some(Candidates::One(user)) => {
                    return Found::One {
                        user: *user,
                        key,
                        value,
                    };
                }
                Some(Candidates::Many(users)) => {
                    return Found::Several {
                        key,
                        value,
                        users: users.clone(),
                    };
                }
            }
        }
        Found::Nothing
    }
}

/// Unlinked platform departments by (platform parent id, trimmed name).
pub(super) struct DepartmentIndex<'a> {
    by_place: HashMap<(Option<&'a str>, &'a str), Candidates>,
}

impl<'a> DepartmentIndex<'a> {
    pub(super) fn new(
        departments: &'a [PlatformDepartment],
        unlinked: impl Fn(usize) -> bool,
    ) -> DepartmentIndex<'a> {
        let mut by_place = HashMap::new();
        for (i, department) in departments.iter().enumerate() {
            if unlinked(i) {
                let place = (department.parent_id.as_deref(), department.name.trim());
                Candidates::insert(&mut by_place, place, i);
            }
        }
        DepartmentIndex { by_place }
    }

    pub(super) fn find(&self, parent: Option<&'a str>, name: &'a str) -> Option<&Candidates> {
        self.by_place.get(&(parent, name.trim()))
    }
}
