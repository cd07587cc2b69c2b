//! Scenarios for `plan`: order, minimality, drift, the mass-deactivation guard, matching.

use std::collections::{HashMap, HashSet};

use super::model::{Department, Directory, ObjectKind, Person};
use super::plan::{
    Ambiguity, Change, Field, MatchKey, Plan, PlanOptions, Step, StepKind, Value, plan,
};
use super::target::{Link, PlatformDepartment, PlatformUser, TargetState};

fn dept(id: &str, parent: Option<&str>) -> Department {
    Department {
        id: id.into(),
        name: format!("Dept {id}"),
        parent_id: parent.map(Into::into),
        order: None,
    }
}

fn person(id: &str, departments: &[&str]) -> Person {
    Person {
        id: id.into(),
        employee_no: Some(format!("E-{id}")),
        name: format!("Person {id}"),
        mobile: None,
        email: Some(format!("{id}@example.com")),
        title: Some("Engineer".into()),
        manager_id: None,
        department_ids: departments.iter().map(|d| d.to_string()).collect(),
        active: true,
        roles: vec![],
    }
}

fn pd(id: &str) -> String {
    format!("pd-{id}")
}

fn pu(id: &str) -> String {
    format!("pu-{id}")
}

/// The platform as a complete sync of `directory` leaves it: everything there under `pd-`/`pu-` ids, linked,
/// and synced.
fn synced(directory: &Directory) -> TargetState {
    TargetState {
        departments: directory
            .departments
            .iter()
            .map(|d| PlatformDepartment {
                id: pd(&d.id),
                name: d.name.clone(),
                parent_id: d.parent_id.as_deref().map(pd),
                order: d.order,
            })
            .collect(),
        users: directory
            .people
            .iter()
            .map(|p| PlatformUser {
                id: pu(&p.id),
                name: p.name.clone(),
                mobile: p.mobile.clone(),
                email: p.email.clone(),
                title: p.title.clone(),
                employee_no: p.employee_no.clone(),
                department_ids: p.department_ids.iter().map(|d| pd(d)).collect(),
                manager_id: p.manager_id.as_deref().map(pu),
                active: p.active,
            })
            .collect(),
        department_links: directory
            .departments
            .iter()
            .map(|d| Link::new(&d.id, pd(&d.id)))
            .collect(),
        person_links: directory
            .people
            .iter()
            .map(|p| Link::new(&p.id, pu(&p.id)))
            .collect(),
        synced_departments: directory.departments.clone(),
        synced_people: directory.people.clone(),
    }
}

fn department_mut<'d>(directory: &'d mut Directory, id: &str) -> &'d mut Department {
    directory
        .departments
        .iter_mut()
        .find(|d| d.id == id)
        .unwrap()
}

fn person_mut<'d>(directory: &'d mut Directory, id: &str) -> &'d mut Person {
    directory.people.iter_mut().find(|p| p.id == id).unwrap()
}

fn user_mut<'t>(target: &'t mut TargetState, id: &str) -> &'t mut PlatformUser {
    let id = pu(id);
    target.users.iter_mut().find(|u| u.id == id).unwrap()
}

fn platform_dept_mut<'t>(target: &'t mut TargetState, id: &str) -> &'t mut PlatformDepartment {
    let id = pd(id);
    target.departments.iter_mut().find(|d| d.id == id).unwrap()
}

fn steps(plan: &Plan) -> Vec<(StepKind, &str)> {
    plan.steps.iter().map(|s| (s.kind, s.id.as_str())).collect()
}

fn position(plan: &Plan, kind: StepKind, id: &str) -> usize {
    plan.steps
        .iter()
        .position(|s| s.kind == kind && s.id == id)
        .unwrap_or_else(|| panic!("no {kind:?} {id} in {:#?}", steps(plan)))
}

fn change(step: &Step, field: Field) -> Option<&Change> {
    step.changes.iter().find(|c| c.field == field)
}

fn text(value: &str) -> Value {
    Value::Text(value.into())
}

fn list(values: &[&str]) -> Value {
    Value::List(values.iter().map(|v| v.to_string()).collect())
}

/// A small company: hq → {eng → {backend, frontend}, sales}, people in each, managers set.
fn company() -> Directory {
    let mut people = vec![
        person("ceo", &["hq"]),
        person("cto", &["eng"]),
        person("be1", &["backend"]),
        person("be2", &["backend"]),
        person("fe1", &["frontend"]),
        person("s1", &["sales"]),
        person("s2", &["sales", "eng"]),
    ];
    people[0].manager_id = None;
    people[0].mobile = Some("13800000000".into());
    for p in &mut people[1..] {
        p.manager_id = Some("ceo".into());
    }
    people[2].manager_id = Some("cto".into());
    people[2].mobile = Some("+86 138-0000-0002".into());
    let mut departments = vec![
        dept("hq", None),
        dept("eng", Some("hq")),
        dept("backend", Some("eng")),
        dept("frontend", Some("eng")),
        dept("sales", Some("hq")),
    ];
    departments[1].order = Some(1);
    departments[4].order = Some(2);
    Directory {
        departments,
        people,
    }
}

/// Applies the plan's steps, in order, to a model of the platform in enterprise terms, and fails when a step
/// could not be applied there: a parent, department or manager that does not exist yet, a move that makes a
/// cycle, a department deleted while something is still in it.
fn check_order(target: &TargetState, plan: &Plan) {
    // The links held, and those the plan makes.
    let linked = |held: &'_ [Link], kind: StepKind| -> HashMap<String, String> {
        held.iter()
            .map(|l| (l.platform_id.clone(), l.id.clone()))
            .chain(
                plan.steps
                    .iter()
                    .filter(|s| s.kind == kind)
                    .map(|s| (s.platform_id.clone().unwrap(), s.id.clone())),
            )
            .collect()
    };
    let dept_of = linked(&target.department_links, StepKind::LinkDepartment);
    let person_of = linked(&target.person_links, StepKind::LinkUser);
    let key = |platform: &str, map: &HashMap<String, String>| -> String {
        map.get(platform)
            .map_or(format!("platform:{platform}"), |id| id.to_string())
    };
    let mut parent: HashMap<String, Option<String>> = target
        .departments
        .iter()
        .map(|d| {
            (
                key(&d.id, &dept_of),
                d.parent_id.as_deref().map(|p| key(p, &dept_of)),
            )
        })
        .collect();
    let mut members: HashMap<String, Vec<String>> = target
        .users
        .iter()
        .filter(|u| u.active)
        .map(|u| {
            (
                key(&u.id, &person_of),
                u.department_ids.iter().map(|d| key(d, &dept_of)).collect(),
            )
        })
        .collect();
    let mut everyone: HashSet<String> = target
        .users
        .iter()
        .map(|u| key(&u.id, &person_of))
        .collect();
    let no_cycle = |parent: &HashMap<String, Option<String>>, start: &str| {
        let mut current = Some(start.to_string());
        for _ in 0..=parent.len() {
            match current {
                None => return,
                Some(c) => current = parent.get(&c).cloned().flatten(),
            }
        }
        panic!("cycle through {start}");
    };
    for step in &plan.steps {
        let after = |field: Field| change(step, field).map(|c| c.after.clone());
        match step.kind {
            StepKind::CreateDepartment | StepKind::UpdateDepartment => {
                if step.kind == StepKind::CreateDepartment {
                    assert!(!parent.contains_key(&step.id), "{} created twice", step.id);
                    parent.insert(step.id.clone(), None);
                }
                if let Some(value) = after(Field::ParentId) {
                    let new = match value {
                        Value::Text(p) => {
                            assert!(
                                parent.contains_key(&p),
                                "{}: parent {p} not there yet",
                                step.id
                            );
                            Some(p)
                        }
                        _ => None,
                    };
                    parent.insert(step.id.clone(), new);
                    no_cycle(&parent, &step.id);
                }
            }
            StepKind::CreateUser | StepKind::UpdateUser => {
                if let Some(Value::List(departments)) = after(Field::DepartmentIds) {
                    for d in &departments {
                        assert!(
                            parent.contains_key(d),
                            "{}: department {d} not there yet",
                            step.id
                        );
                    }
                    members.insert(step.id.clone(), departments);
                }
                if let Some(Value::Text(manager)) = after(Field::ManagerId) {
                    assert!(
                        everyone.contains(&manager),
                        "{}: manager {manager} not there yet",
                        step.id
                    );
                }
                everyone.insert(step.id.clone());
            }
            StepKind::DeactivateUser => {
                members.remove(&step.id);
            }
            StepKind::DeleteDepartment => {
                assert!(
                    !parent.values().any(|p| p.as_deref() == Some(&step.id)),
                    "{} deleted before its children",
                    step.id
                );
                assert!(
                    !members.values().any(|m| m.contains(&step.id)),
                    "{} deleted while users are in it",
                    step.id
                );
                parent.remove(&step.id);
            }
            StepKind::LinkDepartment | StepKind::LinkUser => {}
        }
    }
}

fn assert_nothing_to_do(plan: &Plan) {
    assert!(plan.is_empty(), "{:#?}", plan.steps);
    assert!(plan.drift.is_empty(), "{:#?}", plan.drift);
    assert!(plan.skipped.is_empty(), "{:#?}", plan.skipped);
    assert!(plan.ambiguous.is_empty(), "{:#?}", plan.ambiguous);
    assert!(!plan.needs_confirmation);
}

#[test]
fn an_unchanged_directory_gives_an_empty_plan() {
    let directory = company();
    directory.check().unwrap();
    let mut target = synced(&directory);
    assert_nothing_to_do(&plan(&directory, &target, &PlanOptions::default()));

    // The platform's own spelling of the same values, and its own order of a user's departments, are no change.
    user_mut(&mut target, "be1").mobile = Some("13800000002".into());
    user_mut(&mut target, "ceo").mobile = Some("+8613800000000".into());
    user_mut(&mut target, "ceo").email = Some("CEO@Example.com".into());
    user_mut(&mut target, "s2").department_ids = vec![pd("eng"), pd("sales"), pd("eng")];
    user_mut(&mut target, "fe1").title = Some(" Engineer ".into());
    let plan = plan(&directory, &target, &PlanOptions::default());
    assert_nothing_to_do(&plan);
    assert_eq!(plan.counts, Default::default());
    assert_eq!(plan.deactivation.linked_active, 7);
}

#[test]
fn from_empty_everything_is_created_parents_first_then_users_managers_first() {
    // A deep chain (depth 60) and a wide level (300 children of one department), listed children before
    // parents, and people listed before their managers.
    let mut departments = vec![dept("root", None)];
    for i in 1..=60 {
        let parent = if i == 1 {
            "root".to_string()
        } else {
            format!("deep{}", i - 1)
        };
        departments.push(dept(&format!("deep{i}"), Some(&parent)));
    }
    for i in 0..300 {
        departments.push(dept(&format!("wide{i}"), Some("root")));
    }
    departments.reverse();
    let mut people = vec![
        person("worker", &["deep60"]),
        person("lead", &["deep30"]),
        person("boss", &["root"]),
        person("w7", &["wide7", "deep2"]),
    ];
    people[0].manager_id = Some("lead".into());
    people[1].manager_id = Some("boss".into());
    people[3].manager_id = Some("worker".into());
    let directory = Directory {
        departments,
        people,
    };
    directory.check().unwrap();
    let target = TargetState::default();
    let plan = plan(&directory, &target, &PlanOptions::default());
    assert_eq!(plan.counts.create_department, 361);
    assert_eq!(plan.counts.create_user, 4);
    assert_eq!(plan.steps.len(), 365);
    assert!(plan.skipped.is_empty(), "{:#?}", plan.skipped);
    check_order(&target, &plan);
    // Every department before every user.
    let last_department = plan
        .steps
        .iter()
        .rposition(|s| s.kind == StepKind::CreateDepartment)
        .unwrap();
    let first_user = plan
        .steps
        .iter()
        .position(|s| s.kind == StepKind::CreateUser)
        .unwrap();
    assert!(last_department < first_user);
    assert!(
        position(&plan, StepKind::CreateUser, "boss")
            < position(&plan, StepKind::CreateUser, "lead")
    );
    assert!(
        position(&plan, StepKind::CreateUser, "lead")
            < position(&plan, StepKind::CreateUser, "worker")
    );
    assert!(
        position(&plan, StepKind::CreateUser, "worker")
            < position(&plan, StepKind::CreateUser, "w7")
    );
    let create = &plan.steps[position(&plan, StepKind::CreateUser, "w7")];
    assert_eq!(
        change(create, Field::DepartmentIds).unwrap().after,
        list(&["wide7", "deep2"])
    );
    assert_eq!(
        change(create, Field::ManagerId).unwrap().after,
        text("worker")
    );
    assert_eq!(
        change(create, Field::Email).unwrap().after,
        text("w7@example.com")
    );
    let deep = &plan.steps[position(&plan, StepKind::CreateDepartment, "deep60")];
    assert_eq!(change(deep, Field::ParentId).unwrap().after, text("deep59"));
    assert_eq!(change(deep, Field::ParentId).unwrap().before, Value::Null);
}

#[test]
fn a_new_subtree_under_a_new_parent_is_created_top_down_and_nothing_else() {
    let before = company();
    let target = synced(&before);
    let mut after = before.clone();
    // Listed children first: the plan must not follow the listing.
    after
        .departments
        .push(dept("ml-infra", Some("ml-research")));
    after.departments.push(dept("ml-research", Some("ml")));
    after.departments.push(dept("ml-apps", Some("ml")));
    after.departments.push(dept("ml", Some("eng")));
    after.people.push(person("ml1", &["ml-infra"]));
    after.check().unwrap();
    let plan = plan(&after, &target, &PlanOptions::default());
    assert_eq!(
        steps(&plan),
        [
            (StepKind::CreateDepartment, "ml"),
            (StepKind::CreateDepartment, "ml-research"),
            (StepKind::CreateDepartment, "ml-infra"),
            (StepKind::CreateDepartment, "ml-apps"),
            (StepKind::CreateUser, "ml1"),
        ]
    );
    check_order(&target, &plan);
}

/// hq → a → {b, c}; then c moves up to hq and a moves under c (its former child's sibling): c must move first, or
/// the platform would be asked to put a under its own descendant.
fn swap() -> (Directory, Directory) {
    let before = Directory {
        departments: vec![
            dept("hq", None),
            dept("a", Some("hq")),
            dept("b", Some("a")),
            dept("c", Some("a")),
        ],
        people: vec![person("x", &["b"])],
    };
    let mut after = before.clone();
    department_mut(&mut after, "c").parent_id = Some("hq".into());
    department_mut(&mut after, "a").parent_id = Some("c".into());
    after.check().unwrap();
    (before, after)
}

#[test]
fn a_move_under_the_former_childs_sibling_moves_the_sibling_first() {
    let (before, after) = swap();
    let target = synced(&before);
    let plan = plan(&after, &target, &PlanOptions::default());
    assert_eq!(
        steps(&plan),
        [
            (StepKind::UpdateDepartment, "c"),
            (StepKind::UpdateDepartment, "a"),
        ]
    );
    let a = &plan.steps[1];
    assert_eq!(a.platform_id.as_deref(), Some("pd-a"));
    assert_eq!(
        a.changes,
        [Change {
            field: Field::ParentId,
            before: text("hq"),
            after: text("c"),
        }]
    );
    check_order(&target, &plan);
}

#[test]
fn a_move_that_would_make_a_cycle_because_of_drift_is_left_out() {
    let (before, after) = swap();
    let mut target = synced(&before);
    // Someone moved c under b on the platform: c's own move is drift, and a under c would then be a cycle.
    platform_dept_mut(&mut target, "c").parent_id = Some(pd("b"));
    let plan = plan(&after, &target, &PlanOptions::default());
    assert!(plan.is_empty(), "{:#?}", plan.steps);
    assert_eq!(plan.drift.len(), 1);
    let drift = &plan.drift[0];
    assert_eq!((drift.id.as_str(), drift.field), ("c", Field::ParentId));
    assert_eq!(
        (&drift.platform, &drift.synced, &drift.source),
        (&text("b"), &text("a"), &text("hq"))
    );
    assert!(!drift.overwritten);
    assert_eq!(plan.skipped.len(), 1, "{:#?}", plan.skipped);
    assert_eq!(plan.skipped[0].id, "a");
    assert_eq!(plan.skipped[0].field, Some(Field::ParentId));
    assert!(
        plan.skipped[0].reason.contains("cycle"),
        "{}",
        plan.skipped[0].reason
    );

    let wins = PlanOptions {
        source_wins: true,
        ..Default::default()
    };
    let plan = super::plan::plan(&after, &target, &wins);
    assert_eq!(
        steps(&plan),
        [
            (StepKind::UpdateDepartment, "c"),
            (StepKind::UpdateDepartment, "a"),
        ]
    );
    assert!(plan.drift[0].overwritten);
    check_order(&target, &plan);
}

#[test]
fn a_rename_is_one_change() {
    let before = company();
    let target = synced(&before);
    let mut after = before.clone();
    department_mut(&mut after, "sales").name = "Sales & Marketing".into();
    let plan = plan(&after, &target, &PlanOptions::default());
    assert_eq!(plan.steps.len(), 1, "{:#?}", plan.steps);
    let step = &plan.steps[0];
    assert_eq!(
        (step.kind, step.id.as_str()),
        (StepKind::UpdateDepartment, "sales")
    );
    assert_eq!(step.platform_id.as_deref(), Some("pd-sales"));
    assert_eq!(
        step.changes,
        [Change {
            field: Field::Name,
            before: text("Dept sales"),
            after: text("Sales & Marketing"),
        }]
    );
    assert_eq!(plan.counts.update_department, 1);
    assert!(plan.drift.is_empty());
}

#[test]
fn a_reorder_is_one_change() {
    let before = company();
    let target = synced(&before);
    let mut after = before.clone();
    department_mut(&mut after, "sales").order = Some(0);
    let plan = plan(&after, &target, &PlanOptions::default());
    assert_eq!(steps(&plan), [(StepKind::UpdateDepartment, "sales")]);
    assert_eq!(
        plan.steps[0].changes,
        [Change {
            field: Field::Order,
            before: Value::Int(2),
            after: Value::Int(0),
        }]
    );
}

#[test]
fn a_user_moved_between_departments_is_one_change() {
    let before = company();
    let target = synced(&before);
    let mut after = before.clone();
    person_mut(&mut after, "be2").department_ids = vec!["frontend".into()];
    // The same departments in another order are no change.
    person_mut(&mut after, "s2").department_ids = vec!["eng".into(), "sales".into()];
    let plan = plan(&after, &target, &PlanOptions::default());
    assert_eq!(steps(&plan), [(StepKind::UpdateUser, "be2")]);
    assert_eq!(
        plan.steps[0].changes,
        [Change {
            field: Field::DepartmentIds,
            before: list(&["backend"]),
            after: list(&["frontend"]),
        }]
    );
    assert_eq!(plan.steps[0].platform_id.as_deref(), Some("pu-be2"));
    check_order(&target, &plan);
}

#[test]
fn user_fields_and_managers_are_updated() {
    let before = company();
    let target = synced(&before);
    let mut after = before.clone();
    let fe1 = person_mut(&mut after, "fe1");
    fe1.title = Some("Staff Engineer".into());
    fe1.manager_id = Some("cto".into());
    fe1.mobile = Some("139 0000 0005".into());
    let plan = plan(&after, &target, &PlanOptions::default());
    assert_eq!(steps(&plan), [(StepKind::UpdateUser, "fe1")]);
    assert_eq!(
        plan.steps[0].changes,
        [
            Change {
                field: Field::Mobile,
                before: Value::Null,
                after: text("139 0000 0005"),
            },
            Change {
                field: Field::Title,
                before: text("Engineer"),
                after: text("Staff Engineer"),
            },
            Change {
                field: Field::ManagerId,
                before: text("ceo"),
                after: text("cto"),
            },
        ]
    );
}

#[test]
fn a_value_removed_from_the_directory_is_emptied() {
    let before = company();
    let target = synced(&before);
    let mut after = before.clone();
    let s1 = person_mut(&mut after, "s1");
    s1.email = None;
    s1.title = Some("  ".into());
    s1.manager_id = None;
    let plan = plan(&after, &target, &PlanOptions::default());
    assert_eq!(steps(&plan), [(StepKind::UpdateUser, "s1")]);
    assert_eq!(
        plan.steps[0].changes,
        [
            Change {
                field: Field::Email,
                before: text("s1@example.com"),
                after: Value::Null,
            },
            Change {
                field: Field::Title,
                before: text("Engineer"),
                after: Value::Null,
            },
            Change {
                field: Field::ManagerId,
                before: text("ceo"),
                after: Value::Null,
            },
        ]
    );
    assert!(plan.drift.is_empty());
}

#[test]
fn a_value_qiao_never_synced_is_not_removed() {
    let before = company();
    let mut target = synced(&before);
    // Set on the platform by hand, never in the directory: not the directory's to remove.
    let s1 = user_mut(&mut target, "s1");
    s1.mobile = Some("13900000009".into());
    s1.manager_id = Some(pu("cto"));
    let mut after = before.clone();
    person_mut(&mut after, "s1").manager_id = None;
    target
        .synced_people
        .iter_mut()
        .find(|p| p.id == "s1")
        .unwrap()
        .manager_id = None;
    let plan = plan(&after, &target, &PlanOptions::default());
    assert_eq!(steps(&plan), []);
    assert!(plan.drift.is_empty());
    // Not yet synced (linked on the first run): nothing is emptied either.
    let mut target = synced(&before);
    target.synced_people.clear();
    let mut after = before.clone();
    person_mut(&mut after, "s1").email = None;
    let plan = super::plan::plan(&after, &target, &PlanOptions::default());
    assert_eq!(steps(&plan), []);
}

#[test]
fn a_removed_value_changed_on_the_platform_is_drift() {
    let before = company();
    let mut target = synced(&before);
    user_mut(&mut target, "s1").email = Some("sales@example.com".into());
    let mut after = before.clone();
    person_mut(&mut after, "s1").email = None;
    let plan = plan(&after, &target, &PlanOptions::default());
    assert_eq!(steps(&plan), []);
    assert_eq!(plan.drift.len(), 1);
    assert_eq!(plan.drift[0].field, Field::Email);
    assert_eq!(plan.drift[0].source, Value::Null);
    let wins = PlanOptions {
        source_wins: true,
        ..PlanOptions::default()
    };
    let plan = super::plan::plan(&after, &target, &wins);
    assert_eq!(steps(&plan), [(StepKind::UpdateUser, "s1")]);
    assert_eq!(plan.steps[0].changes[0].after, Value::Null);
}

#[test]
fn leavers_are_deactivated_after_everything_else() {
    let before = company();
    let mut target = synced(&before);
    // A user who already left on the platform: nothing to do.
    user_mut(&mut target, "s1").active = false;
    let mut after = before.clone();
    after.people.retain(|p| p.id != "be2" && p.id != "s1");
    person_mut(&mut after, "fe1").active = false;
    person_mut(&mut after, "cto").title = Some("VP Engineering".into());
    after.people.push(person("new", &["sales"]));
    let mut synced_s1 = target.synced_people.clone();
    synced_s1.iter_mut().find(|p| p.id == "s1").unwrap().active = false;
    target.synced_people = synced_s1;
    let plan = plan(&after, &target, &PlanOptions::default());
    assert_eq!(
        steps(&plan),
        [
            (StepKind::CreateUser, "new"),
            (StepKind::UpdateUser, "cto"),
            (StepKind::DeactivateUser, "fe1"),
            (StepKind::DeactivateUser, "be2"),
        ]
    );
    let be2 = &plan.steps[3];
    assert_eq!(be2.platform_id.as_deref(), Some("pu-be2"));
    assert_eq!(be2.name, "Person be2");
    assert_eq!(plan.counts.deactivate_user, 2);
    assert_eq!(plan.deactivation.deactivate, 2);
    assert_eq!(plan.deactivation.linked_active, 6);
    // 2 of 6 is a third: over the default 10 %.
    assert!(plan.needs_confirmation);
    let relaxed = PlanOptions {
        max_deactivate_share: 0.5,
        ..Default::default()
    };
    assert!(!super::plan::plan(&after, &target, &relaxed).needs_confirmation);
    assert!(plan.drift.is_empty());
}

/// 100 linked active people in one department.
fn staff() -> Directory {
    Directory {
        departments: vec![dept("hq", None)],
        people: (0..100)
            .map(|i| person(&format!("p{i}"), &["hq"]))
            .collect(),
    }
}

#[test]
fn the_guard_trips_just_over_the_share_and_not_at_it() {
    let before = staff();
    let target = synced(&before);
    let options = PlanOptions::default();

    let mut at = before.clone();
    at.people.truncate(90);
    let plan = plan(&at, &target, &options);
    assert_eq!(plan.counts.deactivate_user, 10);
    assert_eq!(plan.deactivation.linked_active, 100);
    assert!(!plan.needs_confirmation);

    let mut over = before.clone();
    over.people.truncate(89);
    let plan = super::plan::plan(&over, &target, &options);
    assert_eq!(plan.counts.deactivate_user, 11);
    assert!(plan.needs_confirmation);
    assert_eq!(plan.deactivation.deactivate, 11);
    assert_eq!(plan.deactivation.linked_active, 100);
    assert_eq!(plan.deactivation.max_share, 0.1);
    // The steps are there for the caller to confirm.
    assert_eq!(plan.steps.len(), 11);

    // Shares whose product with the count is not exact in binary: 3 of 30 at 0.1, 7 of 10 at 0.7.
    let small = Directory {
        departments: staff().departments,
        people: staff().people[..30].to_vec(),
    };
    let target = synced(&small);
    let mut at = small.clone();
    at.people.truncate(27);
    assert!(!super::plan::plan(&at, &target, &options).needs_confirmation);
    at.people.truncate(26);
    assert!(super::plan::plan(&at, &target, &options).needs_confirmation);
    let ten = Directory {
        departments: staff().departments,
        people: staff().people[..10].to_vec(),
    };
    let target = synced(&ten);
    let mut at = ten.clone();
    at.people.truncate(3);
    let seventy = PlanOptions {
        max_deactivate_share: 0.7,
        ..Default::default()
    };
    assert!(!super::plan::plan(&at, &target, &seventy).needs_confirmation);
    at.people.truncate(2);
    assert!(super::plan::plan(&at, &target, &seventy).needs_confirmation);
}

#[test]
fn drift_is_reported_and_left_alone_unless_the_source_wins() {
    let before = company();
    let mut target = synced(&before);
    // Changed outside Qiao, source unchanged.
    user_mut(&mut target, "be1").title = Some("Boss".into());
    // Changed outside Qiao and in the source, differently.
    user_mut(&mut target, "fe1").name = "Fei".into();
    // Changed outside Qiao to what the source now says: nothing to do.
    user_mut(&mut target, "s1").title = Some("Seller".into());
    // Renamed outside Qiao.
    platform_dept_mut(&mut target, "sales").name = "Vendite".into();
    // Deactivated outside Qiao.
    user_mut(&mut target, "s2").active = false;
    let mut after = before.clone();
    person_mut(&mut after, "fe1").name = "Fei Fei".into();
    person_mut(&mut after, "s1").title = Some("Seller".into());
    // A plain change next to the drift.
    person_mut(&mut after, "cto").title = Some("CTO".into());

    let plan = plan(&after, &target, &PlanOptions::default());
    assert_eq!(steps(&plan), [(StepKind::UpdateUser, "cto")]);
    let drift: Vec<_> = plan
        .drift
        .iter()
        .map(|d| (d.kind, d.id.as_str(), d.field, d.overwritten))
        .collect();
    assert_eq!(
        drift,
        [
            (ObjectKind::Department, "sales", Field::Name, false),
            (ObjectKind::Person, "be1", Field::Title, false),
            (ObjectKind::Person, "fe1", Field::Name, false),
            (ObjectKind::Person, "s2", Field::Active, false),
        ]
    );
    let be1 = &plan.drift[1];
    assert_eq!(be1.platform_id.as_deref(), Some("pu-be1"));
    assert_eq!(
        (&be1.platform, &be1.synced, &be1.source),
        (&text("Boss"), &text("Engineer"), &text("Engineer"))
    );

    let wins = PlanOptions {
        source_wins: true,
        ..Default::default()
    };
    let plan = super::plan::plan(&after, &target, &wins);
    assert_eq!(
        steps(&plan),
        [
            (StepKind::UpdateDepartment, "sales"),
            (StepKind::UpdateUser, "cto"),
            (StepKind::UpdateUser, "be1"),
            (StepKind::UpdateUser, "fe1"),
            (StepKind::UpdateUser, "s2"),
        ]
    );
    assert_eq!(plan.drift.len(), 4);
    assert!(plan.drift.iter().all(|d| d.overwritten));
    let be1 = plan.steps.iter().find(|s| s.id == "be1").unwrap();
    assert_eq!(
        be1.changes,
        [Change {
            field: Field::Title,
            before: text("Boss"),
            after: text("Engineer"),
        }]
    );
    let s2 = plan.steps.iter().find(|s| s.id == "s2").unwrap();
    assert_eq!(change(s2, Field::Active).unwrap().after, Value::Bool(true));
}

#[test]
fn without_synced_values_a_difference_is_a_change_not_drift() {
    let before = company();
    let mut target = synced(&before);
    target.synced_people.clear();
    user_mut(&mut target, "be1").title = Some("Boss".into());
    let plan = plan(&before, &target, &PlanOptions::default());
    assert_eq!(steps(&plan), [(StepKind::UpdateUser, "be1")]);
    assert!(plan.drift.is_empty());
}

#[test]
fn objects_deleted_outside_qiao_are_drift() {
    let before = company();
    let mut target = synced(&before);
    target.users.retain(|u| u.id != pu("fe1"));
    target.departments.retain(|d| d.id != pd("sales"));
    // The users in sales went with it on the platform.
    for user in &mut target.users {
        user.department_ids.retain(|d| *d != pd("sales"));
    }
    let plan = plan(&before, &target, &PlanOptions::default());
    let drift: Vec<_> = plan
        .drift
        .iter()
        .map(|d| (d.id.as_str(), d.field))
        .collect();
    assert_eq!(drift, [("sales", Field::Exists), ("fe1", Field::Active)]);
    // Nothing recreated; the people in sales cannot be moved there.
    assert!(
        plan.steps
            .iter()
            .all(|s| s.kind != StepKind::CreateDepartment && s.kind != StepKind::CreateUser)
    );
    assert!(
        plan.skipped
            .iter()
            .any(|s| s.id == "s1" && s.field == Some(Field::DepartmentIds))
    );

    let wins = PlanOptions {
        source_wins: true,
        ..Default::default()
    };
    let plan = super::plan::plan(&before, &target, &wins);
    assert_eq!(
        steps(&plan),
        [
            (StepKind::CreateDepartment, "sales"),
            (StepKind::CreateUser, "fe1"),
            (StepKind::UpdateUser, "s1"),
            (StepKind::UpdateUser, "s2"),
        ]
    );
    check_order(&target, &plan);
}

#[test]
fn unlinked_people_are_matched_by_mobile_then_email_then_employee_number() {
    let directory = Directory {
        departments: vec![dept("hq", None)],
        people: vec![
            Person {
                mobile: Some("+86 138 0013 8000".into()),
                ..person("by-mobile", &["hq"])
            },
            Person {
                email: Some("Li.Lei@Example.com".into()),
                ..person("by-email", &["hq"])
            },
            Person {
                email: None,
                employee_no: Some(" e042 ".into()),
                ..person("by-number", &["hq"])
            },
            person("new", &["hq"]),
        ],
    };
    let user =
        |id: &str, mobile: Option<&str>, email: Option<&str>, number: Option<&str>| PlatformUser {
            id: id.into(),
            name: "Someone".into(),
            mobile: mobile.map(Into::into),
            email: email.map(Into::into),
            title: None,
            employee_no: number.map(Into::into),
            department_ids: vec!["1".into()],
            manager_id: None,
            active: true,
        };
    let target = TargetState {
        departments: vec![PlatformDepartment {
            id: "1".into(),
            name: "Dept hq".into(),
            parent_id: None,
            order: None,
        }],
        users: vec![
            user("u1", Some("13800138000"), None, None),
            user("u2", None, Some("li.lei@example.com"), None),
            user("u3", None, None, Some("E042")),
            user("u4", Some("13900000000"), None, None),
        ],
        ..Default::default()
    };
    let plan = plan(&directory, &target, &PlanOptions::default());
    let links: Vec<_> = plan
        .steps
        .iter()
        .filter(|s| s.kind == StepKind::LinkUser || s.kind == StepKind::LinkDepartment)
        .map(|s| {
            (
                s.id.as_str(),
                s.platform_id.as_deref().unwrap(),
                s.matched_by.unwrap(),
            )
        })
        .collect();
    assert_eq!(
        links,
        [
            ("hq", "1", MatchKey::ParentAndName),
            ("by-mobile", "u1", MatchKey::Mobile),
            ("by-email", "u2", MatchKey::Email),
            ("by-number", "u3", MatchKey::EmployeeNo),
        ]
    );
    assert_eq!(plan.counts.create_user, 1);
    assert_eq!(position(&plan, StepKind::CreateUser, "new"), 4);
    // Matched users are then brought in line (name, title ...), with their platform id.
    let update = &plan.steps[position(&plan, StepKind::UpdateUser, "by-mobile")];
    assert_eq!(update.platform_id.as_deref(), Some("u1"));
    assert_eq!(
        change(update, Field::Name).unwrap().after,
        text("Person by-mobile")
    );
    assert!(
        change(update, Field::DepartmentIds).is_none(),
        "{update:#?}"
    );
    assert_eq!(plan.unmanaged_users, 1);
    assert!(plan.ambiguous.is_empty());
    check_order(&target, &plan);
}

#[test]
fn ambiguous_matches_are_reported_and_neither_linked_nor_created() {
    let directory = Directory {
        departments: vec![dept("hq", None)],
        people: vec![
            // Two platform users with this mobile.
            Person {
                mobile: Some("13800138000".into()),
                ..person("twice", &["hq"])
            },
            // These two claim the same platform user, one by mobile, one by email.
            Person {
                mobile: Some("13900139000".into()),
                ..person("claim-a", &["hq"])
            },
            Person {
                email: Some("shared@example.com".into()),
                ..person("claim-b", &["hq"])
            },
            person("fine", &["hq"]),
        ],
    };
    let user = |id: &str, mobile: Option<&str>, email: Option<&str>| PlatformUser {
        id: id.into(),
        name: "Someone".into(),
        mobile: mobile.map(Into::into),
        email: email.map(Into::into),
        title: None,
        employee_no: None,
        department_ids: vec![],
        manager_id: None,
        active: true,
    };
    let target = TargetState {
        users: vec![
            user("t1", Some("+86 13800138000"), None),
            user("t2", Some("138-0013-8000"), None),
            user("c", Some("13900139000"), Some("shared@example.com")),
        ],
        ..Default::default()
    };
    let plan = plan(&directory, &target, &PlanOptions::default());
    assert_eq!(
        steps(&plan),
        [
            (StepKind::CreateDepartment, "hq"),
            (StepKind::CreateUser, "fine"),
        ]
    );
    assert_eq!(plan.ambiguous.len(), 2, "{:#?}", plan.ambiguous);
    match &plan.ambiguous[0] {
        Ambiguity::SeveralCandidates {
            kind,
            id,
            key,
            value,
            platform_ids,
            count,
        } => {
            assert_eq!(
                (*kind, id.as_str(), *key),
                (ObjectKind::Person, "twice", MatchKey::Mobile)
            );
            assert_eq!(value, "13800138000");
            assert_eq!(platform_ids, &["t1", "t2"]);
            assert_eq!(*count, 2);
        }
        other => panic!("{other:?}"),
    }
    match &plan.ambiguous[1] {
        Ambiguity::ClaimedBySeveral {
            platform_id,
            claims,
            ..
        } => {
            assert_eq!(platform_id, "c");
            let claims: Vec<_> = claims.iter().map(|c| (c.id.as_str(), c.key)).collect();
            assert_eq!(
                claims,
                [("claim-a", MatchKey::Mobile), ("claim-b", MatchKey::Email)]
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(plan.unmanaged_users, 3);
}

#[test]
fn departments_are_matched_by_parent_and_name_and_ambiguity_blocks_the_subtree() {
    let directory = Directory {
        departments: vec![
            dept("hq", None),
            Department {
                name: "Engineering".into(),
                ..dept("eng", Some("hq"))
            },
            Department {
                name: "Backend".into(),
                ..dept("backend", Some("eng"))
            },
            // Two platform departments "Sales" under the root.
            Department {
                name: "Sales".into(),
                ..dept("sales", Some("hq"))
            },
            dept("sales-east", Some("sales")),
            // Two source departments "Ops" under hq, one platform "Ops".
            Department {
                name: "Ops".into(),
                ..dept("ops1", Some("hq"))
            },
            Department {
                name: "Ops".into(),
                ..dept("ops2", Some("hq"))
            },
        ],
        people: vec![
            person("seller", &["sales-east"]),
            person("dev", &["backend"]),
        ],
    };
    directory.check().unwrap();
    let department = |id: &str, name: &str, parent: Option<&str>| PlatformDepartment {
        id: id.into(),
        name: name.into(),
        parent_id: parent.map(Into::into),
        order: None,
    };
    let target = TargetState {
        departments: vec![
            department("1", "Company", None),
            department("10", "Engineering", Some("1")),
            department("11", "Sales", Some("1")),
            department("12", "Sales", Some("1")),
            department("13", "Ops", Some("1")),
            // Same name, another parent: not a candidate.
            department("20", "Backend", Some("13")),
        ],
        ..Default::default()
    };
    // hq is linked to the platform's root; its children match under it.
    let target = TargetState {
        department_links: vec![Link::new("hq", "1")],
        ..target
    };
    let options = PlanOptions {
        platform_root: Some("1".into()),
        ..Default::default()
    };
    let plan = plan(&directory, &target, &options);
    assert_eq!(
        steps(&plan),
        [
            (StepKind::LinkDepartment, "eng"),
            (StepKind::CreateDepartment, "backend"),
            (StepKind::UpdateDepartment, "hq"),
            (StepKind::CreateUser, "dev"),
        ]
    );
    // hq's name differs from the platform root's: an update (no synced value, so no drift).
    assert_eq!(plan.steps[2].changes.len(), 1);
    assert!(plan.drift.is_empty());
    let ambiguous: Vec<_> = plan
        .ambiguous
        .iter()
        .map(|a| match a {
            Ambiguity::SeveralCandidates { id, .. } => format!("several:{id}"),
            Ambiguity::ClaimedBySeveral { platform_id, .. } => format!("claimed:{platform_id}"),
        })
        .collect();
    assert_eq!(ambiguous, ["several:sales", "claimed:13"]);
    let skipped: Vec<_> = plan.skipped.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(skipped, ["sales-east", "seller"]);
    check_order(&target, &plan);
}

#[test]
fn departments_no_longer_in_the_source_are_deleted_children_first_when_empty() {
    let before = Directory {
        departments: vec![
            dept("hq", None),
            dept("old", Some("hq")),
            dept("old-a", Some("old")),
            dept("old-a-1", Some("old-a")),
            dept("kept-child", Some("old")),
            dept("busy", Some("hq")),
        ],
        people: vec![
            person("stays", &["old-a-1"]),
            person("leaves", &["old-a"]),
            person("boss", &["hq"]),
        ],
    };
    let mut target = synced(&before);
    // Someone Qiao does not manage is in "busy".
    target.users.push(PlatformUser {
        id: "stranger".into(),
        name: "Stranger".into(),
        mobile: None,
        email: None,
        title: None,
        employee_no: None,
        department_ids: vec![pd("busy")],
        manager_id: None,
        active: true,
    });
    let after = Directory {
        departments: vec![
            dept("hq", None),
            // Moved out of "old" before it goes.
            dept("kept-child", Some("hq")),
        ],
        people: vec![person("stays", &["kept-child"]), person("boss", &["hq"])],
    };
    after.check().unwrap();
    let options = PlanOptions {
        max_deactivate_share: 1.0,
        ..Default::default()
    };
    let plan = plan(&after, &target, &options);
    assert_eq!(
        steps(&plan),
        [
            (StepKind::UpdateDepartment, "kept-child"),
            (StepKind::UpdateUser, "stays"),
            (StepKind::DeactivateUser, "leaves"),
            (StepKind::DeleteDepartment, "old-a-1"),
            (StepKind::DeleteDepartment, "old-a"),
            (StepKind::DeleteDepartment, "old"),
        ]
    );
    assert_eq!(plan.steps[3].platform_id.as_deref(), Some("pd-old-a-1"));
    assert_eq!(plan.skipped.len(), 1, "{:#?}", plan.skipped);
    assert_eq!(plan.skipped[0].id, "busy");
    assert!(
        plan.skipped[0].reason.contains("platform:stranger"),
        "{}",
        plan.skipped[0].reason
    );
    assert_eq!(plan.counts.delete_department, 3);
    check_order(&target, &plan);
}

#[test]
fn a_department_whose_user_move_is_drift_is_not_deleted() {
    let before = Directory {
        departments: vec![dept("hq", None), dept("old", Some("hq"))],
        people: vec![person("x", &["old"])],
    };
    let mut target = synced(&before);
    // x was also added to hq outside Qiao: moving x is drift, so x stays in "old", which must stay too.
    user_mut(&mut target, "x").department_ids = vec![pd("old"), pd("hq")];
    let after = Directory {
        departments: vec![dept("hq", None)],
        people: vec![person("x", &["hq"])],
    };
    let plan = plan(&after, &target, &PlanOptions::default());
    assert!(plan.is_empty(), "{:#?}", plan.steps);
    assert_eq!(plan.drift.len(), 1);
    assert_eq!(plan.skipped.len(), 1);
    assert!(
        plan.skipped[0].reason.contains("user x stays"),
        "{}",
        plan.skipped[0].reason
    );
}

#[test]
fn new_managers_are_created_first_and_a_cycle_of_new_managers_is_closed_by_an_update() {
    let mut people = vec![
        person("a", &["hq"]),
        person("b", &["hq"]),
        person("c", &["hq"]),
        person("x", &["hq"]),
        person("y", &["hq"]),
        person("self", &["hq"]),
    ];
    people[0].manager_id = Some("b".into());
    people[1].manager_id = Some("c".into());
    people[3].manager_id = Some("y".into());
    people[4].manager_id = Some("x".into());
    people[5].manager_id = Some("self".into());
    let directory = Directory {
        departments: vec![dept("hq", None)],
        people,
    };
    directory.check().unwrap();
    let target = TargetState::default();
    let plan = plan(&directory, &target, &PlanOptions::default());
    assert_eq!(
        steps(&plan),
        [
            (StepKind::CreateDepartment, "hq"),
            (StepKind::CreateUser, "c"),
            (StepKind::CreateUser, "b"),
            (StepKind::CreateUser, "a"),
            (StepKind::CreateUser, "y"),
            (StepKind::CreateUser, "x"),
            (StepKind::CreateUser, "self"),
            (StepKind::UpdateUser, "y"),
        ]
    );
    let y = &plan.steps[4];
    assert!(change(y, Field::ManagerId).is_none());
    assert_eq!(
        change(&plan.steps[5], Field::ManagerId).unwrap().after,
        text("y")
    );
    assert_eq!(
        plan.steps[7].changes,
        [Change {
            field: Field::ManagerId,
            before: Value::Null,
            after: text("x"),
        }]
    );
    assert!(change(&plan.steps[6], Field::ManagerId).is_none());
    check_order(&target, &plan);
}

#[test]
fn ignored_fields_are_not_compared() {
    let before = company();
    let mut target = synced(&before);
    for user in &mut target.users {
        user.mobile = None;
    }
    // A platform that does not report mobiles looks like drift on every run.
    let noisy = plan(&before, &target, &PlanOptions::default());
    assert!(noisy.is_empty());
    let drift: Vec<_> = noisy
        .drift
        .iter()
        .map(|d| (d.id.as_str(), d.field))
        .collect();
    assert_eq!(drift, [("ceo", Field::Mobile), ("be1", Field::Mobile)]);
    let options = PlanOptions {
        ignore: vec![Field::Mobile],
        ..Default::default()
    };
    assert_nothing_to_do(&plan(&before, &target, &options));
}

#[test]
fn an_invalid_source_is_planned_around_not_looped_on() {
    let directory = Directory {
        departments: vec![
            dept("hq", None),
            dept("a", Some("b")),
            dept("b", Some("a")),
            dept("orphan", Some("gone")),
            dept("hq", None),
        ],
        people: vec![
            person("p", &["a"]),
            person("q", &["hq"]),
            person("q", &["hq"]),
        ],
    };
    assert!(directory.check().is_err());
    let plan = plan(&directory, &TargetState::default(), &PlanOptions::default());
    assert_eq!(
        steps(&plan),
        [
            (StepKind::CreateDepartment, "hq"),
            (StepKind::CreateUser, "q"),
        ]
    );
    let skipped: Vec<_> = plan.skipped.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(skipped, ["hq", "orphan", "a", "b", "q", "p"]);
}

#[test]
fn a_plan_serialises_in_snake_case() {
    let before = company();
    let target = synced(&before);
    let mut after = before.clone();
    department_mut(&mut after, "sales").name = "Sales & Marketing".into();
    after.departments.push(dept("new", Some("hq")));
    let plan = plan(&after, &target, &PlanOptions::default());
    let json = serde_json::to_value(&plan).unwrap();
    assert_eq!(json["steps"][0]["kind"], "create_department");
    assert_eq!(json["steps"][0]["changes"][1]["field"], "parent_id");
    assert_eq!(
        json["steps"][0]["changes"][1]["before"],
        serde_json::Value::Null
    );
    assert_eq!(json["steps"][0]["changes"][1]["after"], "hq");
    assert_eq!(json["steps"][1]["kind"], "update_department");
    assert_eq!(json["counts"]["update_department"], 1);
    assert_eq!(json["needs_confirmation"], false);
    let back: Plan = serde_json::from_value(json).unwrap();
    assert_eq!(back, plan);
    let options: PlanOptions =
        serde_json::from_str(r#"{"source_wins": true, "ignore": ["mobile"]}"#).unwrap();
    assert_eq!(options.max_deactivate_share, 0.1);
    assert_eq!(options.ignore, [Field::Mobile]);
}
