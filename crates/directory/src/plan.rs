//! The plan that makes one platform connection's directory follow the enterprise's: which departments and users
//! to link, create, update, deactivate and delete, in an order the platform accepts, and only what differs.
//!
//! Order of the steps: links (no platform write), departments created (parents before children), departments
//! updated (in the order of the new tree, so a move never makes a cycle), users created (managers before their
//! reports where both are new), users updated, users deactivated, and last, departments deleted (children
//! first, and only those left empty).
//!
//! Steps speak in enterprise ids: a step's `id`, and the values of `parent_id`, `department_ids` and
//! `manager_id`, are the enterprise's (the applier maps them through the links, including those made by earlier
//! steps of the same plan); a `parent_id` of null is the top level (under [`PlanOptions::platform_root`]);
//! `platform_id` is the object's own platform id when it exists already. A platform object Qiao has no link for
//! is shown as `platform:ID`.
//!
//! A field whose platform value differs both from the value Qiao last applied and from the source was changed
//! outside Qiao: it is reported as [`Drift`], and left as it is unless [`PlanOptions::source_wins`].

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};

use serde::{Deserialize, Serialize};

pub use super::matching::MatchKey;
use super::matching::{Candidates, DepartmentIndex, Found, UserIndex};
use super::model::{
    Department, Directory, MAX_IDS, ObjectKind, Person, normalize_email, normalize_employee_no,
    normalize_mobile,
};
use super::target::{Link, PlatformUser, TargetState};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", default, deny_unknown_fields)]
pub struct PlanOptions {
    /// Overwrite platform values changed outside Qiao (they are reported as drift either way).
    pub source_wins: bool,
    /// A plan deactivating more than this share of the linked active users needs confirmation.
    pub max_deactivate_share: f64,
    /// The platform's root department (DingTalk and WeCom `1`, Feishu `0`): top-level departments of the
    /// directory go under it. None: platform departments without a parent are the top level.
    pub platform_root: Option<String>,
    /// Fields not compared on existing objects, e.g. those this connection's platform does not report back (a
    /// Feishu app without the phone scope reports no mobile). They are still written on create.
    pub ignore: Vec<Field>,
}

impl Default for PlanOptions {
    fn default() -> Self {
        PlanOptions {
            source_wins: false,
            max_deactivate_share: 0.1,
            platform_root: None,
            ignore: Vec::new(),
        }
    }
}

/// A field of a department or a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    Name,
    ParentId,
    Order,
    Mobile,
    Email,
    Title,
    EmployeeNo,
    DepartmentIds,
    ManagerId,
    Active,
    /// Whether the object exists on the platform (drift: deleted outside Qiao).
    Exists,
}

/// A field's value as shown in a plan (JSON: null, a boolean, a number, a string, or a list of strings).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Text(String),
    List(Vec<String>),
}

impl Value {
    fn text(value: Option<&str>) -> Value {
        value.map_or(Value::Null, |v| Value::Text(v.to_string()))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Change {
    pub field: Field,
    /// The platform's value now (null on create).
    pub before: Value,
    pub after: Value,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepKind {
    /// An existing platform department is this enterprise department (no platform write).
    LinkDepartment,
    CreateDepartment,
    UpdateDepartment,
    DeleteDepartment,
    /// An existing platform user is this person (no platform write).
    LinkUser,
    CreateUser,
    UpdateUser,
    DeactivateUser,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Step {
    pub kind: StepKind,
    /// The enterprise id.
    pub id: String,
    /// The platform id, when the object exists there already.
    pub platform_id: Option<String>,
    /// For display: the source's name, or the platform's for what the source no longer has.
    pub name: String,
    /// On create, every field set; on update, what changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// On a link: the key that matched.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub matched_by: Option<MatchKey>,
}

/// A platform value changed outside Qiao: it differs from what Qiao last applied and from the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Drift {
    pub kind: ObjectKind,
    pub id: String,
    pub platform_id: Option<String>,
    pub field: Field,
    pub platform: Value,
    pub synced: Value,
    pub source: Value,
    /// Whether the plan overwrites it (`source_wins`).
    pub overwritten: bool,
}

/// A match that would be a guess: the objects involved are neither linked nor created.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "ambiguity", rename_all = "snake_case")]
pub enum Ambiguity {
    /// One key of one enterprise object finds several platform objects (at most [`MAX_IDS`] listed; `count`
    /// says how many).
    SeveralCandidates {
        kind: ObjectKind,
        id: String,
        key: MatchKey,
        value: String,
        platform_ids: Vec<String>,
        count: usize,
    },
    /// Several enterprise objects find the same platform object (at most [`MAX_IDS`] claims listed).
    ClaimedBySeveral {
        kind: ObjectKind,
        platform_id: String,
        claims: Vec<Claim>,
        count: usize,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Claim {
    pub id: String,
    pub key: MatchKey,
    pub value: String,
}

/// Something the plan leaves out, and why: an object (or one of its fields) that cannot be planned.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Skipped {
    pub kind: ObjectKind,
    /// The enterprise id.
    pub id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<Field>,
    pub reason: String,
}

/// The mass-deactivation guard's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Deactivation {
    pub deactivate: usize,
    /// Platform users linked to a person (by an existing link or one this plan makes) and active now.
    pub linked_active: usize,
    pub max_share: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Counts {
    pub link_department: usize,
    pub create_department: usize,
    pub update_department: usize,
    pub delete_department: usize,
    pub link_user: usize,
    pub create_user: usize,
    pub update_user: usize,
    pub deactivate_user: usize,
}

impl Counts {
    fn count(steps: &[Step]) -> Counts {
        let mut counts = Counts::default();
        for step in steps {
            *match step.kind {
                StepKind::LinkDepartment => &mut counts.link_department,
                StepKind::CreateDepartment => &mut counts.create_department,
                StepKind::UpdateDepartment => &mut counts.update_department,
                StepKind::DeleteDepartment => &mut counts.delete_department,
                StepKind::LinkUser => &mut counts.link_user,
                StepKind::CreateUser => &mut counts.create_user,
                StepKind::UpdateUser => &mut counts.update_user,
                StepKind::DeactivateUser => &mut counts.deactivate_user,
            } += 1;
        }
        counts
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub struct Plan {
    pub steps: Vec<Step>,
    pub counts: Counts,
    pub drift: Vec<Drift>,
    pub ambiguous: Vec<Ambiguity>,
    pub skipped: Vec<Skipped>,
    pub deactivation: Deactivation,
    /// The deactivations exceed `max_deactivate_share` of the linked active users: the caller must confirm.
    pub needs_confirmation: bool,
    /// Platform departments and users Qiao has no link for (left alone).
    pub unmanaged_departments: usize,
    pub unmanaged_users: usize,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.steps.is_empty()
    }
}

/// Computes the plan for one platform connection. The source should have passed [`Directory::check`]; what an
/// invalid one has wrong (a duplicate id, a missing parent, a cycle) is left out and listed in `skipped`.
pub fn plan(source: &Directory, target: &TargetState, options: &PlanOptions) -> Plan {
    let mut planner = Planner::new(source, target, options);
    planner.departments();
    planner.people();
    planner.deletions();
    planner.finish()
}

/// A parent, department or manager reference, in the enterprise's terms where there is a link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ref<'a> {
    /// No parent: the top level (the platform's root).
    Top,
    /// An enterprise id.
    Id(&'a str),
    /// A platform object without a link.
    Platform(&'a str),
}

impl Ref<'_> {
    fn show(self) -> Value {
        match self {
            Ref::Top => Value::Null,
            Ref::Id(id) => Value::Text(id.to_string()),
            Ref::Platform(id) => Value::Text(format!("platform:{id}")),
        }
    }

    fn show_list(refs: &[Ref<'_>]) -> Value {
        Value::List(
            refs.iter()
                .map(|r| match r.show() {
                    Value::Text(t) => t,
                    _ => String::new(),
                })
                .collect(),
        )
    }
}

/// What a source department is on the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DeptState {
    /// Not planned: a duplicate id, or not in the tree (missing parent, cycle).
    Unplanned,
    /// Not on the platform and not to be created (ambiguous match, drift, a blocked parent).
    Blocked,
    /// This platform department (by index), linked before or matched now.
    Existing(usize),
    /// To be created (again, when its link points at nothing).
    Create,
}

/// What a source person is on the platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum PersonState {
    Unplanned,
    /// Not on the platform and not to be created.
    Blocked,
    Existing(usize),
    /// Active and to be created.
    Create,
    /// Not on the platform and nothing to do (inactive).
    Absent,
}

/// The three values one field is decided on.
enum Decision {
    Same,
    Change,
    Drift,
}

fn decide<T: PartialEq>(platform: &T, synced: Option<&T>, source: &T) -> Decision {
    if platform == source {
        Decision::Same
    } else if synced.is_some_and(|s| s != platform) {
        Decision::Drift
    } else {
        Decision::Change
    }
}

/// A text field for comparison: trimmed, empty as none.
fn text(value: Option<&str>) -> Option<&str> {
    value.map(str::trim).filter(|v| !v.is_empty())
}

/// A key field for comparison: normalised, empty as none.
fn key<'s>(value: Option<&'s str>, normalize: fn(&'s str) -> Cow<'s, str>) -> Option<Cow<'s, str>> {
    value.map(normalize).filter(|v| !v.is_empty())
}

/// One object's identity in drift and skipped reports.
#[derive(Clone, Copy)]
struct Object<'a> {
    kind: ObjectKind,
    id: &'a str,
    platform_id: Option<&'a str>,
}

struct Planner<'a> {
    source: &'a Directory,
    target: &'a TargetState,
    options: &'a PlanOptions,
    /// Bit `1 << field` per ignored field.
    ignored: u32,
    root: Option<&'a str>,

    src_dept: HashMap<&'a str, usize>,
    src_person: HashMap<&'a str, usize>,
    plat_dept: HashMap<&'a str, usize>,
    plat_user: HashMap<&'a str, usize>,
    /// Enterprise id → platform id and back: the links held, then those matched by this plan.
    dept_link: HashMap<&'a str, &'a str>,
    dept_rev: HashMap<&'a str, &'a str>,
    person_link: HashMap<&'a str, &'a str>,
    person_rev: HashMap<&'a str, &'a str>,
    /// By enterprise id; only for links held before this plan.
    synced_dept: HashMap<&'a str, &'a Department>,
    synced_person: HashMap<&'a str, &'a Person>,

    dept_state: Vec<DeptState>,
    person_state: Vec<PersonState>,
    /// Source departments, parents before children (the new tree's preorder).
    dept_order: Vec<usize>,

    /// The platform's tree as the plan leaves it: nodes `0..departments.len()` are the platform's departments,
    /// then those created; each node's parent node.
    node_parent: Vec<Option<usize>>,
    /// Source department → its node.
    src_node: Vec<Option<usize>>,
    /// Per platform user: deactivated by the plan; new department nodes when the plan moves them.
    deactivated: Vec<bool>,
    moved: HashMap<usize, Vec<usize>>,

    links: Vec<Step>,
    user_links: Vec<Step>,
    dept_creates: Vec<Step>,
    dept_updates: Vec<Step>,
    user_creates: Vec<Step>,
    user_updates: Vec<Step>,
    deactivations: Vec<Step>,
    deletes: Vec<Step>,
    drift: Vec<Drift>,
    ambiguous: Vec<Ambiguity>,
    skipped: Vec<Skipped>,
}

impl<'a> Planner<'a> {
    fn new(
        source: &'a Directory,
        target: &'a TargetState,
        options: &'a PlanOptions,
    ) -> Planner<'a> {
        fn index<'a, T>(items: &'a [T], id: impl Fn(&'a T) -> &'a str) -> HashMap<&'a str, usize> {
            let mut map = HashMap::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                map.entry(id(item)).or_insert(i);
            }
            map
        }
        fn links(links: &[Link]) -> (HashMap<&str, &str>, HashMap<&str, &str>) {
            let mut forward = HashMap::with_capacity(links.len());
            let mut reverse = HashMap::with_capacity(links.len());
            for link in links {
                if forward.contains_key(link.id.as_str())
                    || reverse.contains_key(link.platform_id.as_str())
                {
                    continue;
                }
                forward.insert(link.id.as_str(), link.platform_id.as_str());
                reverse.insert(link.platform_id.as_str(), link.id.as_str());
            }
            (forward, reverse)
        }
        let (dept_link, dept_rev) = links(&target.department_links);
        let (person_link, person_rev) = links(&target.person_links);
        let synced_dept = target
            .synced_departments
            .iter()
            .filter(|d| dept_link.contains_key(d.id.as_str()))
            .map(|d| (d.id.as_str(), d))
            .collect();
        let synced_person = target
            .synced_people
            .iter()
            .filter(|p| person_link.contains_key(p.id.as_str()))
            .map(|p| (p.id.as_str(), p))
            .collect();
        let departments = target.departments.len();
        Planner {
            source,
            target,
            options,
            ignored: options
                .ignore
                .iter()
                .fold(0, |bits, &f| bits | 1 << f as u32),
            root: options.platform_root.as_deref(),
            src_dept: HashMap::with_capacity(source.departments.len()),
            src_person: HashMap::with_capacity(source.people.len()),
            plat_dept: index(&target.departments, |d| d.id.as_str()),
            plat_user: index(&target.users, |u| u.id.as_str()),
            dept_link,
            dept_rev,
            person_link,
            person_rev,
            synced_dept,
            synced_person,
            dept_state: vec![DeptState::Unplanned; source.departments.len()],
            person_state: vec![PersonState::Unplanned; source.people.len()],
            dept_order: Vec::with_capacity(source.departments.len()),
            node_parent: Vec::with_capacity(departments),
            src_node: vec![None; source.departments.len()],
            deactivated: vec![false; target.users.len()],
            moved: HashMap::new(),
            links: Vec::new(),
            user_links: Vec::new(),
            dept_creates: Vec::new(),
            dept_updates: Vec::new(),
            user_creates: Vec::new(),
            user_updates: Vec::new(),
            deactivations: Vec::new(),
            deletes: Vec::new(),
            drift: Vec::new(),
            ambiguous: Vec::new(),
            skipped: Vec::new(),
        }
    }

    fn skip(&mut self, kind: ObjectKind, id: &str, field: Option<Field>, reason: String) {
        self.skipped.push(Skipped {
            kind,
            id: id.to_string(),
            field,
            reason,
        });
    }

    /// Decides one field of an existing object: nothing, a change, or drift (with the change when the source
    /// wins). `show` gives the platform's, the synced and the source's values as shown.
    fn field<T: PartialEq>(
        &mut self,
        object: Object<'_>,
        field: Field,
        (platform, synced, source): (T, Option<T>, T),
        show: impl FnOnce() -> (Value, Value, Value),
        changes: &mut Vec<Change>,
    ) -> bool {
        if self.ignored & 1 << field as u32 != 0 {
            return false;
        }
        match decide(&platform, synced.as_ref(), &source) {
            Decision::Same => false,
            Decision::Change => {
                let (before, _, after) = show();
                changes.push(Change {
                    field,
                    before,
                    after,
                });
                true
            }
            Decision::Drift => {
                let (platform, synced, source) = show();
                self.drift.push(Drift {
                    kind: object.kind,
                    id: object.id.to_string(),
                    platform_id: object.platform_id.map(str::to_string),
                    field,
                    platform: platform.clone(),
                    synced,
                    source: source.clone(),
                    overwritten: self.options.source_wins,
                });
                if self.options.source_wins {
                    changes.push(Change {
                        field,
                        before: platform,
                        after: source,
                    });
                }
                self.options.source_wins
            }
        }
    }

    /// A platform department id in the enterprise's terms.
    fn dept_ref(&self, platform_id: Option<&'a str>) -> Ref<'a> {
        match platform_id {
            None => Ref::Top,
            Some(p) => match self.dept_rev.get(p) {
                Some(id) => Ref::Id(id),
                None if Some(p) == self.root => Ref::Top,
                None => Ref::Platform(p),
            },
        }
    }

    fn person_ref(&self, platform_id: &'a str) -> Ref<'a> {
        match self.person_rev.get(platform_id) {
            Some(id) => Ref::Id(id),
            None => Ref::Platform(platform_id),
        }
    }

    // ---- Departments

    fn departments(&mut self) {
        let source = self.source;
        let departments = &source.departments;

        // The new tree: first occurrences, children lists, and its preorder from the top-level departments.
        for (i, d) in departments.iter().enumerate() {
            if self.src_dept.contains_key(d.id.as_str()) {
                self.skip(
                    ObjectKind::Department,
                    &d.id,
                    None,
                    "duplicate id: only its first occurrence is planned".into(),
                );
            } else {
                self.src_dept.insert(&d.id, i);
            }
        }
        let mut children: Vec<Vec<usize>> = vec![Vec::new(); departments.len()];
        let mut tops = Vec::new();
        for (i, d) in departments.iter().enumerate() {
            if self.src_dept[d.id.as_str()] != i {
                continue;
            }
            match &d.parent_id {
                None => tops.push(i),
                Some(p) => match self.src_dept.get(p.as_str()) {
                    Some(&parent) => children[parent].push(i),
                    None => self.skip(
                        ObjectKind::Department,
                        &d.id,
                        None,
                        format!("its parent {p} is not in the directory"),
                    ),
                },
            }
        }
        let mut reached = vec![false; departments.len()];
        let mut stack: Vec<usize> = tops.into_iter().rev().collect();
        while let Some(i) = stack.pop() {
            reached[i] = true;
            self.dept_order.push(i);
            stack.extend(children[i].iter().rev());
        }
        for (i, d) in departments.iter().enumerate() {
            if !reached[i]
                && self.src_dept[d.id.as_str()] == i
                && d.parent_id
                    .as_deref()
                    .is_some_and(|p| self.src_dept.contains_key(p))
            {
                self.skip(
                    ObjectKind::Department,
                    &d.id,
                    None,
                    "not under a top-level department (its ancestors form a cycle or one has no parent)".into(),
                );
            }
        }

        // Where each department is on the platform: its link, or a match by parent and name, in tree order so a
        // parent is settled before its children are looked for under it. Two passes: every match is known
        // before anything is compared.
        let target = self.target;
        let index = DepartmentIndex::new(&target.departments, |i| {
            !self
                .dept_rev
                .contains_key(target.departments[i].id.as_str())
        });
        // Unlinked source siblings of one name, which would claim the same platform department.
        let mut siblings: HashMap<(Option<&str>, &str), Vec<usize>> = HashMap::new();
        for &i in &self.dept_order {
            let d = &departments[i];
            if !self.dept_link.contains_key(d.id.as_str()) {
                siblings
                    .entry((d.parent_id.as_deref(), d.name.trim()))
                    .or_default()
                    .push(i);
            }
        }
        let mut reported: HashSet<usize> = HashSet::new();
        for n in 0..self.dept_order.len() {
            let i = self.dept_order[n];
            let d = &departments[i];
            let parent = d
                .parent_id
                .as_deref()
                .map(|p| self.dept_state[self.src_dept[p]]);
            let link = self.dept_link.get(d.id.as_str()).copied();
            if let Some(&p) = link.and_then(|l| self.plat_dept.get(l)) {
                // There already, whatever becomes of its parent.
                self.dept_state[i] = DeptState::Existing(p);
                continue;
            }
            if let Some(DeptState::Blocked) = parent {
                self.dept_state[i] = DeptState::Blocked;
                let p = d.parent_id.as_deref().unwrap_or_default();
                self.skip(
                    ObjectKind::Department,
                    &d.id,
                    None,
                    format!("its parent {p} is not on the platform"),
                );
                continue;
            }
            if let Some(platform_id) = link {
                self.dept_state[i] = self.gone_department(d, platform_id);
                continue;
            }
            let parent_platform = match parent {
                None => self.root,
                Some(DeptState::Existing(p)) => Some(target.departments[p].id.as_str()),
                // A new parent has no children yet.
                _ => {
                    self.dept_state[i] = DeptState::Create;
                    continue;
                }
            };
            self.dept_state[i] = match index.find(parent_platform, &d.name) {
                None => DeptState::Create,
                Some(Candidates::Many(found)) => {
                    self.ambiguous.push(Ambiguity::SeveralCandidates {
                        kind: ObjectKind::Department,
                        id: d.id.clone(),
                        key: MatchKey::ParentAndName,
                        value: d.name.trim().to_string(),
                        platform_ids: found
                            .iter()
                            .take(MAX_IDS)
                            .map(|&p| target.departments[p].id.clone())
                            .collect(),
                        count: found.len(),
                    });
                    DeptState::Blocked
                }
                Some(&Candidates::One(p)) => {
                    let claimants = &siblings[&(d.parent_id.as_deref(), d.name.trim())];
                    let platform_id = target.departments[p].id.as_str();
                    if claimants.len() > 1 {
                        if reported.insert(p) {
                            self.ambiguous.push(Ambiguity::ClaimedBySeveral {
                                kind: ObjectKind::Department,
                                platform_id: platform_id.to_string(),
                                claims: claimants
                                    .iter()
                                    .take(MAX_IDS)
                                    .map(|&c| Claim {
                                        id: departments[c].id.clone(),
                                        key: MatchKey::ParentAndName,
                                        value: departments[c].name.trim().to_string(),
                                    })
                                    .collect(),
                                count: claimants.len(),
                            });
                        }
                        DeptState::Blocked
                    } else if let Some(other) = self.dept_rev.get(platform_id) {
                        // Only when a department linked to the platform's root has top-level siblings.
                        let reason = format!("its platform match {platform_id} is already {other}");
                        self.skip(ObjectKind::Department, &d.id, None, reason);
                        DeptState::Blocked
                    } else {
                        self.dept_link.insert(&d.id, platform_id);
                        self.dept_rev.insert(platform_id, &d.id);
                        self.links.push(Step {
                            kind: StepKind::LinkDepartment,
                            id: d.id.clone(),
                            platform_id: Some(platform_id.to_string()),
                            name: d.name.clone(),
                            changes: vec![],
                            matched_by: Some(MatchKey::ParentAndName),
                        });
                        DeptState::Existing(p)
                    }
                }
            };
        }

        // Creates and updates, in tree order, on a model of the platform's tree so that no move makes a cycle.
        self.node_parent = self
            .target
            .departments
            .iter()
            .map(|d| {
                d.parent_id
                    .as_deref()
                    .and_then(|p| self.plat_dept.get(p).copied())
            })
            .collect();
        for n in 0..self.dept_order.len() {
            let i = self.dept_order[n];
            let d = &departments[i];
            // None: the parent is not on the platform (only for a department already there).
            let parent_node = match &d.parent_id {
                Some(p) => self.src_node[self.src_dept[p.as_str()]].map(Some),
                None => Some(self.root.and_then(|r| self.plat_dept.get(r).copied())),
            };
            match self.dept_state[i] {
                DeptState::Create => {
                    self.src_node[i] = Some(self.node_parent.len());
                    self.node_parent.push(parent_node.flatten());
                    let mut changes = vec![
                        Change {
                            field: Field::Name,
                            before: Value::Null,
                            after: Value::Text(d.name.clone()),
                        },
                        Change {
                            field: Field::ParentId,
                            before: Value::Null,
                            after: Value::text(d.parent_id.as_deref()),
                        },
                    ];
                    if let Some(order) = d.order {
                        changes.push(Change {
                            field: Field::Order,
                            before: Value::Null,
                            after: Value::Int(order),
                        });
                    }
                    self.dept_creates.push(Step {
                        kind: StepKind::CreateDepartment,
                        id: d.id.clone(),
                        platform_id: None,
                        name: d.name.clone(),
                        changes,
                        matched_by: None,
                    });
                }
                DeptState::Existing(p) => {
                    self.src_node[i] = Some(p);
                    self.update_department(d, p, parent_node);
                }
                DeptState::Blocked | DeptState::Unplanned => {}
            }
        }
    }

    /// A linked department whose platform department is gone: deleted outside Qiao (drift) when Qiao had
    /// synced it, else simply to be created.
    fn gone_department(&mut self, d: &'a Department, platform_id: &'a str) -> DeptState {
        let object = Object {
            kind: ObjectKind::Department,
            id: &d.id,
            platform_id: Some(platform_id),
        };
        let synced = self.synced_dept.contains_key(d.id.as_str()).then_some(true);
        let mut changes = Vec::new();
        let show = || (Value::Bool(false), Value::Bool(true), Value::Bool(true));
        if self.field(
            object,
            Field::Exists,
            (false, synced, true),
            show,
            &mut changes,
        ) {
            DeptState::Create
        } else {
            let reason = format!("deleted on the platform outside Qiao (was {platform_id})");
            self.skip(ObjectKind::Department, &d.id, None, reason);
            DeptState::Blocked
        }
    }

    fn update_department(
        &mut self,
        d: &'a Department,
        p: usize,
        parent_node: Option<Option<usize>>,
    ) {
        let target = self.target;
        let platform = &target.departments[p];
        let object = Object {
            kind: ObjectKind::Department,
            id: &d.id,
            platform_id: Some(&platform.id),
        };
        let synced = self.synced_dept.get(d.id.as_str()).copied();
        let mut changes = Vec::new();

        let cmp = (
            platform.name.trim(),
            synced.map(|s| s.name.trim()),
            d.name.trim(),
        );
        let show = || {
            (
                Value::Text(platform.name.clone()),
                Value::text(synced.map(|s| s.name.as_str())),
                Value::Text(d.name.clone()),
            )
        };
        self.field(object, Field::Name, cmp, show, &mut changes);

        let before = self.dept_ref(platform.parent_id.as_deref());
        let after = d.parent_id.as_deref().map_or(Ref::Top, Ref::Id);
        let was = synced.map(|s| s.parent_id.as_deref().map_or(Ref::Top, Ref::Id));
        let show = || {
            (
                before.show(),
                was.map_or(Value::Null, Ref::show),
                after.show(),
            )
        };
        let mut moving = Vec::new();
        if self.field(
            object,
            Field::ParentId,
            (before, was, after),
            show,
            &mut moving,
        ) {
            let parent = d.parent_id.as_deref().unwrap_or("the top level");
            if let Some(parent_node) = parent_node
                && !self.makes_cycle(p, parent_node)
            {
                self.node_parent[p] = parent_node;
                changes.append(&mut moving);
            } else if parent_node.is_none() {
                let reason = format!("its parent {parent} is not on the platform");
                self.skip(ObjectKind::Department, &d.id, Some(Field::ParentId), reason);
            } else {
                let reason =
                    format!("moving it under {parent} now would make a cycle on the platform");
                self.skip(ObjectKind::Department, &d.id, Some(Field::ParentId), reason);
            }
        }

        if let Some(order) = d.order {
            let cmp = (platform.order, synced.map(|s| s.order), Some(order));
            let show = || {
                let int = |o: Option<i64>| o.map_or(Value::Null, Value::Int);
                (
                    int(platform.order),
                    int(synced.and_then(|s| s.order)),
                    Value::Int(order),
                )
            };
            self.field(object, Field::Order, cmp, show, &mut changes);
        }

        if !changes.is_empty() {
            self.dept_updates.push(Step {
                kind: StepKind::UpdateDepartment,
                id: d.id.clone(),
                platform_id: Some(platform.id.clone()),
                name: d.name.clone(),
                changes,
                matched_by: None,
            });
        }
    }

    /// Whether putting `node` under `parent` makes a cycle in the platform's tree as planned so far.
    fn makes_cycle(&self, node: usize, parent: Option<usize>) -> bool {
        let mut current = parent;
        // Bounded: the platform's own data could hold a cycle.
        for _ in 0..=self.node_parent.len() {
            match current {
                None => return false,
                Some(c) if c == node => return true,
                Some(c) => current = self.node_parent[c],
            }
        }
        true
    }

    /// The platform node a source department will be, when it will be there.
    fn dept_node(&self, id: &str) -> Option<usize> {
        self.src_dept.get(id).and_then(|&i| self.src_node[i])
    }

    // ---- People

    fn people(&mut self) {
        let source = self.source;
        let people = &source.people;
        let mut unlinked = Vec::new();
        for (i, person) in people.iter().enumerate() {
            if self.src_person.contains_key(person.id.as_str()) {
                self.skip(
                    ObjectKind::Person,
                    &person.id,
                    None,
                    "duplicate id: only its first occurrence is planned".into(),
                );
                continue;
            }
            self.src_person.insert(&person.id, i);
            match self.person_link.get(person.id.as_str()) {
                Some(&platform_id) => {
                    self.person_state[i] = match self.plat_user.get(platform_id) {
                        Some(&u) => PersonState::Existing(u),
                        None => self.gone_user(person, platform_id),
                    }
                }
                None => unlinked.push(i),
            }
        }
        self.match_people(&unlinked);

        // Creates: every department must be there; managers first when both are new.
        let mut creating = Vec::new();
        for (i, person) in people.iter().enumerate() {
            if self.person_state[i] != PersonState::Create {
                continue;
            }
            let missing = person
                .department_ids
                .iter()
                .find(|d| self.dept_node(d).is_none());
            if let Some(missing) = missing {
                self.person_state[i] = PersonState::Blocked;
                let reason = format!("department {missing} is not on the platform");
                self.skip(ObjectKind::Person, &person.id, None, reason);
            } else {
                creating.push(i);
            }
        }
        self.create_people(&creating);

        for (i, person) in people.iter().enumerate() {
            if let PersonState::Existing(u) = self.person_state[i] {
                if person.active {
                    self.update_person(person, u);
                } else {
                    self.deactivate(
                        &person.id,
                        &person.name,
                        u,
                        self.synced_person.get(person.id.as_str()).copied(),
                    );
                }
            }
        }
        // People no longer in the directory.
        let target = self.target;
        for (u, user) in target.users.iter().enumerate() {
            if let Some(&id) = self.person_rev.get(user.id.as_str())
                && !self.src_person.contains_key(id)
            {
                self.deactivate(id, &user.name, u, self.synced_person.get(id).copied());
            }
        }
    }

    /// A linked person whose platform user is gone: for an active person, deleted outside Qiao (drift) when Qiao
    /// had it active, else simply to be created again.
    fn gone_user(&mut self, person: &'a Person, platform_id: &'a str) -> PersonState {
        if !person.active {
            return PersonState::Absent;
        }
        let object = Object {
            kind: ObjectKind::Person,
            id: &person.id,
            platform_id: Some(platform_id),
        };
        let synced = self.synced_person.get(person.id.as_str()).map(|s| s.active);
        let mut changes = Vec::new();
        let show = || {
            (
                Value::Bool(false),
                synced.map_or(Value::Null, Value::Bool),
                Value::Bool(true),
            )
        };
        if self.field(
            object,
            Field::Active,
            (false, synced, true),
            show,
            &mut changes,
        ) {
            PersonState::Create
        } else {
            let reason =
                format!("deleted or deactivated on the platform outside Qiao (was {platform_id})");
            self.skip(ObjectKind::Person, &person.id, None, reason);
            PersonState::Blocked
        }
    }

    /// Links unlinked people to the unlinked platform users they match, unless ambiguous; the rest are to be
    /// created (active) or left (inactive).
    fn match_people(&mut self, unlinked: &[usize]) {
        let source = self.source;
        let people = &source.people;
        let target = self.target;
        let index = UserIndex::new(&target.users, |u| {
            !self.person_rev.contains_key(target.users[u].id.as_str())
        });
        // Claims on each platform user: (person, key, value).
        let mut claims: HashMap<usize, Vec<(usize, MatchKey, Cow<'a, str>)>> = HashMap::new();
        let mut claimed = Vec::new();
        for &i in unlinked {
            let person = &people[i];
            match index.find(person) {
                Found::Nothing => {
                    self.person_state[i] = if person.active {
                        PersonState::Create
                    } else {
                        PersonState::Absent
                    };
                }
                Found::Several { key, value, users } => {
                    self.person_state[i] = PersonState::Blocked;
                    self.ambiguous.push(Ambiguity::SeveralCandidates {
                        kind: ObjectKind::Person,
                        id: person.id.clone(),
                        key,
                        value: value.into_owned(),
                        platform_ids: users
                            .iter()
                            .take(MAX_IDS)
                            .map(|&u| target.users[u].id.clone())
                            .collect(),
                        count: users.len(),
                    });
                }
                Found::One { user, key, value } => {
                    let entry = claims.entry(user).or_default();
                    if entry.is_empty() {
                        claimed.push(user);
                    }
                    entry.push((i, key, value));
                }
            }
        }
        // In the order of the first claim, which follows the source.
        for user in claimed {
            let claims = &claims[&user];
            let platform_id = target.users[user].id.as_str();
            if let [(i, key, _)] = claims[..] {
                let person = &people[i];
                self.person_state[i] = PersonState::Existing(user);
                self.person_link.insert(&person.id, platform_id);
                self.person_rev.insert(platform_id, &person.id);
                self.user_links.push(Step {
                    kind: StepKind::LinkUser,
                    id: person.id.clone(),
                    platform_id: Some(platform_id.to_string()),
                    name: person.name.clone(),
                    changes: vec![],
                    matched_by: Some(key),
                });
            } else {
                for (i, ..) in claims {
                    self.person_state[*i] = PersonState::Blocked;
                }
                self.ambiguous.push(Ambiguity::ClaimedBySeveral {
                    kind: ObjectKind::Person,
                    platform_id: platform_id.to_string(),
                    claims: claims
                        .iter()
                        .take(MAX_IDS)
                        .map(|(i, key, value)| Claim {
                            id: people[*i].id.clone(),
                            key: *key,
                            value: value.to_string(),
                        })
                        .collect(),
                    count: claims.len(),
                });
            }
        }
    }

    /// Whether a person's manager is, or will be, on the platform.
    fn person_there(&self, id: &str) -> bool {
        self.src_person.get(id).is_some_and(|&i| {
            matches!(
                self.person_state[i],
                PersonState::Existing(_) | PersonState::Create
            )
        })
    }

    /// Create steps, a manager before the people who report to them when both are new; in a cycle of new
    /// managers, one of them gets the manager in an update after all creates.
    fn create_people(&mut self, creating: &[usize]) {
        let source = self.source;
        let people = &source.people;
        let position: HashMap<&str, usize> = creating
            .iter()
            .enumerate()
            .map(|(n, &i)| (people[i].id.as_str(), n))
            .collect();
        const NEW: u8 = 0;
        const ON_PATH: u8 = 1;
        const DONE: u8 = 2;
        let mut state = vec![NEW; creating.len()];
        let mut chain = Vec::new();
        // Everyone has at most one manager: follow the chain up until it leaves the new people or meets itself.
        for start in 0..creating.len() {
            if state[start] != NEW {
                continue;
            }
            chain.clear();
            let mut deferred = None;
            let mut current = start;
            loop {
                state[current] = ON_PATH;
                chain.push(current);
                let manager = people[creating[current]]
                    .manager_id
                    .as_deref()
                    .and_then(|m| position.get(m).copied());
                match manager {
                    Some(m) if state[m] == NEW => current = m,
                    Some(m) if state[m] == ON_PATH => {
                        deferred = Some(current);
                        break;
                    }
                    _ => break,
                }
            }
            for &n in chain.iter().rev() {
                state[n] = DONE;
                self.create_person(&people[creating[n]], deferred == Some(n));
            }
        }
    }

    fn create_person(&mut self, person: &'a Person, defer_manager: bool) {
        let mut changes = Vec::new();
        let mut set = |field: Field, value: Value| {
            changes.push(Change {
                field,
                before: Value::Null,
                after: value,
            })
        };
        set(Field::Name, Value::Text(person.name.clone()));
        for (field, value) in [
            (Field::Mobile, &person.mobile),
            (Field::Email, &person.email),
            (Field::Title, &person.title),
            (Field::EmployeeNo, &person.employee_no),
        ] {
            if text(value.as_deref()).is_some() {
                set(field, Value::text(value.as_deref()));
            }
        }
        if !person.department_ids.is_empty() {
            set(
                Field::DepartmentIds,
                Value::List(person.department_ids.clone()),
            );
        }
        let manager = self.manager(person);
        if let Some(manager) = manager {
            if defer_manager {
                self.user_updates.push(Step {
                    kind: StepKind::UpdateUser,
                    id: person.id.clone(),
                    platform_id: None,
                    name: person.name.clone(),
                    changes: vec![Change {
                        field: Field::ManagerId,
                        before: Value::Null,
                        after: Value::Text(manager.to_string()),
                    }],
                    matched_by: None,
                });
            } else {
                changes.push(Change {
                    field: Field::ManagerId,
                    before: Value::Null,
                    after: Value::Text(manager.to_string()),
                });
            }
        }
        self.user_creates.push(Step {
            kind: StepKind::CreateUser,
            id: person.id.clone(),
            platform_id: None,
            name: person.name.clone(),
            changes,
            matched_by: None,
        });
    }

    /// The person's manager when it is to be set: named, not the person, and on the platform (else skipped).
    fn manager(&mut self, person: &'a Person) -> Option<&'a str> {
        let manager = person.manager_id.as_deref().filter(|m| *m != person.id)?;
        if self.person_there(manager) {
            Some(manager)
        } else {
            let reason = format!("manager {manager} is not on the platform");
            self.skip(
                ObjectKind::Person,
                &person.id,
                Some(Field::ManagerId),
                reason,
            );
            None
        }
    }

    fn update_person(&mut self, person: &'a Person, u: usize) {
        let target = self.target;
        let user = &target.users[u];
        let object = Object {
            kind: ObjectKind::Person,
            id: &person.id,
            platform_id: Some(&user.id),
        };
        let synced = self.synced_person.get(person.id.as_str()).copied();
        let mut changes = Vec::new();

        let cmp = (
            user.name.trim(),
            synced.map(|s| s.name.trim()),
            person.name.trim(),
        );
        let show = || {
            (
                Value::Text(user.name.clone()),
                Value::text(synced.map(|s| s.name.as_str())),
                Value::Text(person.name.clone()),
            )
        };
        self.field(object, Field::Name, cmp, show, &mut changes);

        type Get = fn(&Person) -> &Option<String>;
        type GetUser = fn(&PlatformUser) -> &Option<String>;
        type Normalize = fn(&str) -> Cow<'_, str>;
        let keys: [(Field, Get, GetUser, Normalize); 4] = [
            (
                Field::Mobile,
                |p| &p.mobile,
                |u| &u.mobile,
                normalize_mobile,
            ),
            (Field::Email, |p| &p.email, |u| &u.email, normalize_email),
            (
                Field::Title,
                |p| &p.title,
                |u| &u.title,
                |t| Cow::Borrowed(t.trim()),
            ),
            (
                Field::EmployeeNo,
                |p| &p.employee_no,
                |u| &u.employee_no,
                normalize_employee_no,
            ),
        ];
        for (field, get, get_user, normalize) in keys {
            let source = key(get(person).as_deref(), normalize);
            let was = synced
                .and_then(|s| key(get(s).as_deref(), normalize))
                .map(Some);
            // A value the directory no longer has is emptied only if Qiao synced one: a value the platform holds
            // that the enterprise never gave (set by hand there) is not the directory's to remove.
            if source.is_none() && was.is_none() {
                continue;
            }
            let platform = key(get_user(user).as_deref(), normalize);
            let removed = source.is_none();
            let show = || {
                (
                    Value::text(get_user(user).as_deref()),
                    Value::text(synced.and_then(|s| get(s).as_deref())),
                    // Blank is no value: emptied, not set to spaces.
                    Value::text(get(person).as_deref().filter(|_| !removed)),
                )
            };
            self.field(object, field, (platform, was, source), show, &mut changes);
        }

        if !person.department_ids.is_empty() {
            if let Some(missing) = person
                .department_ids
                .iter()
                .find(|d| self.dept_node(d).is_none())
            {
                let reason = format!("department {missing} is not on the platform");
                self.skip(
                    ObjectKind::Person,
                    &person.id,
                    Some(Field::DepartmentIds),
                    reason,
                );
            } else {
                let sorted = |mut refs: Vec<Ref<'a>>| {
                    refs.sort_unstable();
                    refs.dedup();
                    refs
                };
                let before: Vec<Ref> = user
                    .department_ids
                    .iter()
                    .map(|d| self.dept_ref(Some(d)))
                    .collect();
                let after: Vec<Ref> = person.department_ids.iter().map(|d| Ref::Id(d)).collect();
                let was = synced
                    .filter(|s| !s.department_ids.is_empty())
                    .map(|s| sorted(s.department_ids.iter().map(|d| Ref::Id(d)).collect()));
                let show = || {
                    (
                        Ref::show_list(&before),
                        was.as_deref().map_or(Value::Null, Ref::show_list),
                        Value::List(person.department_ids.clone()),
                    )
                };
                let cmp = (sorted(before.clone()), was.clone(), sorted(after));
                if self.field(object, Field::DepartmentIds, cmp, show, &mut changes) {
                    let nodes = person
                        .department_ids
                        .iter()
                        .filter_map(|d| self.dept_node(d))
                        .collect();
                    self.moved.insert(u, nodes);
                }
            }
        }

        // As for the fields above, a manager is removed only where Qiao synced one.
        let was = synced
            .and_then(|s| s.manager_id.as_deref())
            .filter(|m| *m != person.id)
            .map(|m| Some(Ref::Id(m)));
        let manager = match person.manager_id.as_deref().filter(|m| *m != person.id) {
            Some(_) => self.manager(person).map(Some),
            None => was.is_some().then_some(None),
        };
        if let Some(manager) = manager {
            let before = user.manager_id.as_deref().map(|m| self.person_ref(m));
            let show = || {
                (
                    before.map_or(Value::Null, Ref::show),
                    was.flatten().map_or(Value::Null, Ref::show),
                    Value::text(manager),
                )
            };
            self.field(
                object,
                Field::ManagerId,
                (before, was, manager.map(Ref::Id)),
                show,
                &mut changes,
            );
        }

        let cmp = (user.active, synced.map(|s| s.active), true);
        let show = || {
            (
                Value::Bool(user.active),
                synced.map_or(Value::Null, |s| Value::Bool(s.active)),
                Value::Bool(true),
            )
        };
        self.field(object, Field::Active, cmp, show, &mut changes);

        if !changes.is_empty() {
            self.user_updates.push(Step {
                kind: StepKind::UpdateUser,
                id: person.id.clone(),
                platform_id: Some(user.id.clone()),
                name: person.name.clone(),
                changes,
                matched_by: None,
            });
        }
    }

    /// Deactivates platform user `u` (linked to `id`) when it is active, unless it was reactivated outside Qiao
    /// (drift) and the source does not win.
    fn deactivate(&mut self, id: &'a str, name: &str, u: usize, synced: Option<&Person>) {
        let target = self.target;
        let user = &target.users[u];
        let object = Object {
            kind: ObjectKind::Person,
            id,
            platform_id: Some(&user.id),
        };
        let was = synced.map(|s| s.active);
        let show = || {
            (
                Value::Bool(user.active),
                was.map_or(Value::Null, Value::Bool),
                Value::Bool(false),
            )
        };
        let mut changes = Vec::new();
        if self.field(
            object,
            Field::Active,
            (user.active, was, false),
            show,
            &mut changes,
        ) {
            self.deactivated[u] = true;
            self.deactivations.push(Step {
                kind: StepKind::DeactivateUser,
                id: id.to_string(),
                platform_id: Some(user.id.clone()),
                name: name.to_string(),
                changes,
                matched_by: None,
            });
        }
    }

    // ---- Deletions

    /// Linked departments no longer in the directory, deepest first, unless something stays in them: a
    /// department or user Qiao does not manage, or one whose move was left out.
    fn deletions(&mut self) {
        let target = self.target;
        let platform = target.departments.len();
        let mut doomed = vec![false; platform];
        let mut any = false;
        for (p, d) in target.departments.iter().enumerate() {
            if let Some(&id) = self.dept_rev.get(d.id.as_str())
                && !self.src_dept.contains_key(id)
                && self.plat_dept.get(d.id.as_str()) == Some(&p)
                && Some(d.id.as_str()) != self.root
            {
                doomed[p] = true;
                any = true;
            }
        }
        if !any {
            return;
        }
        let mut kept: Vec<Option<String>> = vec![None; platform];
        let name_of = |node: usize| -> String {
            if node < platform {
                let d = &target.departments[node];
                match self.dept_rev.get(d.id.as_str()) {
                    Some(id) => id.to_string(),
                    None => format!("platform:{}", d.id),
                }
            } else {
                "a new department".to_string()
            }
        };
        for (node, parent) in self.node_parent.iter().enumerate() {
            if let Some(q) = *parent
                && q < platform
                && doomed[q]
                && !(node < platform && doomed[node])
                && kept[q].is_none()
            {
                kept[q] = Some(format!("department {} stays in it", name_of(node)));
            }
        }
        for (u, user) in target.users.iter().enumerate() {
            if self.deactivated[u] {
                continue;
            }
            let moved = self.moved.get(&u);
            let nodes: Vec<usize> = match moved {
                Some(nodes) => nodes.clone(),
                None => user
                    .department_ids
                    .iter()
                    .filter_map(|d| self.plat_dept.get(d.as_str()).copied())
                    .collect(),
            };
            for q in nodes {
                if q < platform && doomed[q] && kept[q].is_none() {
                    let who = match self.person_rev.get(user.id.as_str()) {
                        Some(id) => id.to_string(),
                        None => format!("platform:{}", user.id),
                    };
                    kept[q] = Some(format!("user {who} stays in it"));
                }
            }
        }
        // A kept department keeps its doomed ancestors.
        for q in 0..platform {
            if kept[q].is_none() {
                continue;
            }
            let mut child = q;
            let mut steps = 0;
            while let Some(parent) = self.node_parent[child]
                && parent < platform
                && doomed[parent]
                && kept[parent].is_none()
                && steps <= platform
            {
                kept[parent] = Some(format!("department {} stays in it", name_of(child)));
                child = parent;
                steps += 1;
            }
        }
        let mut deletes = Vec::new();
        for p in 0..platform {
            if !doomed[p] {
                continue;
            }
            let id = self.dept_rev[target.departments[p].id.as_str()];
            if let Some(reason) = kept[p].take() {
                self.skip(
                    ObjectKind::Department,
                    id,
                    None,
                    format!("not deleted: {reason}"),
                );
                continue;
            }
            let mut depth = 0;
            let mut current = self.node_parent[p];
            while let Some(c) = current
                && c < platform
                && doomed[c]
                && depth <= platform
            {
                depth += 1;
                current = self.node_parent[c];
            }
            deletes.push((depth, p, id));
        }
        deletes.sort_by_key(|&(depth, p, _)| (std::cmp::Reverse(depth), p));
        self.deletes = deletes
            .into_iter()
            .map(|(_, p, id)| Step {
                kind: StepKind::DeleteDepartment,
                id: id.to_string(),
                platform_id: Some(target.departments[p].id.clone()),
                name: target.departments[p].name.clone(),
                changes: vec![],
                matched_by: None,
            })
            .collect();
    }

    fn finish(self) -> Plan {
        let (mut linked_active, mut unmanaged_users) = (0, 0);
        for user in &self.target.users {
            if !self.person_rev.contains_key(user.id.as_str()) {
                unmanaged_users += 1;
            } else if user.active {
                linked_active += 1;
            }
        }
        let deactivate = self.deactivations.len();
        let max_share = self.options.max_deactivate_share;
        // As a ratio: 10 of 100 at 0.1 is exactly at the share (not over it), whatever the rounding of 0.1 * 100.
        let needs_confirmation =
            deactivate > 0 && deactivate as f64 / linked_active.max(1) as f64 > max_share;
        let unmanaged_departments = self
            .target
            .departments
            .iter()
            .filter(|d| !self.dept_rev.contains_key(d.id.as_str()))
            .count();
        let mut steps = Vec::with_capacity(
            self.links.len()
                + self.user_links.len()
                + self.dept_creates.len()
                + self.dept_updates.len()
                + self.user_creates.len()
                + self.user_updates.len()
                + self.deactivations.len()
                + self.deletes.len(),
        );
        for part in [
            self.links,
            self.user_links,
            self.dept_creates,
            self.dept_updates,
            self.user_creates,
            self.user_updates,
            self.deactivations,
            self.deletes,
        ] {
            steps.extend(part);
        }
        Plan {
            counts: Counts::count(&steps),
            steps,
            drift: self.drift,
            ambiguous: self.ambiguous,
            skipped: self.skipped,
            deactivation: Deactivation {
                deactivate,
                linked_active,
                max_share,
            },
            needs_confirmation,
            unmanaged_departments,
            unmanaged_users,
        }
    }
}
