//! The enterprise's directory as Qiao keeps it — departments and people under the enterprise's own ids — its
//! validation, and the normalisation of the keys people are matched by.

use std::borrow::Cow;
use std::collections::{HashMap, HashSet};
use std::fmt;

use serde::{Deserialize, Serialize};

/// At most this many problems are listed by [`Directory::check`] (`Invalid::total` counts them all).
pub const MAX_PROBLEMS: usize = 100;
/// At most this many ids are listed in one problem or report (a cycle's members, an ambiguity's candidates).
pub const MAX_IDS: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Department {
    pub id: String,
    pub name: String,
    /// None: a top-level department (placed under the platform's root).
    #[serde(default)]
    pub parent_id: Option<String>,
    /// Position among its siblings; None: whatever the platform has.
    #[serde(default)]
    pub order: Option<i64>,
}

/// One person. An optional field that is None (or an empty list) is not managed by Qiao: the platform keeps
/// whatever it has (the identity interface cannot clear a field).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Person {
    /// The enterprise's person id.
    pub id: String,
    #[serde(default)]
    pub employee_no: Option<String>,
    pub name: String,
    #[serde(default)]
    pub mobile: Option<String>,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub title: Option<String>,
    /// Another person's enterprise id.
    #[serde(default)]
    pub manager_id: Option<String>,
    /// Enterprise department ids; the first is the main one.
    #[serde(default)]
    pub department_ids: Vec<String>,
    #[serde(default = "yes")]
    pub active: bool,
    #[serde(default)]
    pub roles: Vec<String>,
}

fn yes() -> bool {
    true
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub struct Directory {
    #[serde(default)]
    pub departments: Vec<Department>,
    #[serde(default)]
    pub people: Vec<Person>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ObjectKind {
    Department,
    Person,
}

impl fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ObjectKind::Department => "department",
            ObjectKind::Person => "person",
        })
    }
}

/// One thing wrong with a directory.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// The `index`-th department or person (from 0) has an empty id.
    EmptyId {
        kind: ObjectKind,
        index: usize,
    },
    EmptyName {
        kind: ObjectKind,
        id: String,
    },
    /// The id is used `count` times.
    DuplicateId {
        kind: ObjectKind,
        id: String,
        count: usize,
    },
    MissingParent {
        department: String,
        parent: String,
    },
    /// Departments that are each other's ancestors, each followed by its parent (at most [`MAX_IDS`]; `length`
    /// is the whole cycle's).
    Cycle {
        departments: Vec<String>,
        length: usize,
    },
    MissingDepartment {
        person: String,
        department: String,
    },
    MissingManager {
        person: String,
        manager: String,
    },
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::EmptyId { kind, index } => write!(f, "{kind} #{index} has an empty id"),
            Problem::EmptyName { kind, id } => write!(f, "{kind} {id} has an empty name"),
            Problem::DuplicateId { kind, id, count } => {
                write!(f, "{kind} id {id} is used {count} times")
            }
            Problem::MissingParent { department, parent } => {
                write!(
                    f,
                    "department {department}'s parent {parent} does not exist"
                )
            }
            Problem::Cycle {
                departments,
                length,
            } => {
                write!(f, "departments form a cycle: {}", departments.join(" → "))?;
                if *length > departments.len() {
                    write!(f, " … ({length} departments)")?;
                }
                Ok(())
            }
            Problem::MissingDepartment { person, department } => {
                write!(
                    f,
                    "person {person}'s department {department} does not exist"
                )
            }
            Problem::MissingManager { person, manager } => {
                write!(f, "person {person}'s manager {manager} does not exist")
            }
        }
    }
}

/// Why a directory was refused: every problem found (the first [`MAX_PROBLEMS`]), not just the first one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct Invalid {
    pub problems: Vec<Problem>,
    /// How many problems there are, listed or not.
    pub total: usize,
}

impl Invalid {
    fn push(&mut self, problem: Problem) {
        self.total += 1;
        if self.problems.len() < MAX_PROBLEMS {
            self.problems.push(problem);
        }
    }
}

impl fmt::Display for Invalid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN: usize = 5;
        let noun = if self.total == 1 {
            "problem"
        } else {
            "problems"
        };
        write!(f, "the directory has {} {noun}: ", self.total)?;
        for (i, problem) in self.problems.iter().take(SHOWN).enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{problem}")?;
        }
        if self.total > SHOWN {
            write!(f, "; and {} more", self.total - SHOWN)?;
        }
        Ok(())
    }
}

impl Directory {
    /// Checks that ids are unique and not empty, names not empty, every parent, department and manager referred
    /// to exists, and the departments form a tree (no cycles). Lists every problem found.
    pub fn check(&self) -> Result<(), Invalid> {
        let mut invalid = Invalid {
            problems: Vec::new(),
            total: 0,
        };

        // Ids, first occurrence wins; duplicates are reported once per id with their count.
        let departments = first_occurrences(
            ObjectKind::Department,
            self.departments
                .iter()
                .map(|d| (d.id.as_str(), d.name.as_str())),
            &mut invalid,
        );
        let people = first_occurrences(
            ObjectKind::Person,
            self.people.iter().map(|p| (p.id.as_str(), p.name.as_str())),
            &mut invalid,
        );

        // Parents, by index of the parent's first occurrence.
        let mut parent: Vec<Option<usize>> = vec![None; self.departments.len()];
        for (i, department) in self.departments.iter().enumerate() {
            if let Some(p) = &department.parent_id {
                match departments.get(p.as_str()) {
                    Some(&j) => parent[i] = Some(j),
                    None => invalid.push(Problem::MissingParent {
                        department: department.id.clone(),
                        parent: p.clone(),
                    }),
                }
            }
        }

        // Cycles: walk up from each department not yet seen; meeting the current walk again closes a cycle.
        const NEW: u8 = 0;
        const ON_PATH: u8 = 1;
        const DONE: u8 = 2;
        let mut state = vec![NEW; self.departments.len()];
        let mut path = Vec::new();
        for start in 0..self.departments.len() {
            if state[start] != NEW
                || departments.get(self.departments[start].id.as_str()) != Some(&start)
            {
                continue;
            }
            path.clear();
            let mut current = start;
            loop {
                state[current] = ON_PATH;
                path.push(current);
                match parent[current] {
                    Some(next) if state[next] == NEW => current = next,
                    Some(next) if state[next] == ON_PATH => {
                        let from = path.iter().position(|&i| i == next).unwrap_or(0);
                        let cycle = &path[from..];
                        invalid.push(Problem::Cycle {
                            departments: cycle
                                .iter()
                                .take(MAX_IDS)
                                .map(|&i| self.departments[i].id.clone())
                                .collect(),
                            length: cycle.len(),
                        });
                        break;
                    }
                    _ => break,
                }
            }
            for &i in &path {
                state[i] = DONE;
            }
        }

        for person in &self.people {
            for department in &person.department_ids {
                if !departments.contains_key(department.as_str()) {
                    invalid.push(Problem::MissingDepartment {
                        person: person.id.clone(),
                        department: department.clone(),
                    });
                }
            }
            if let Some(manager) = &person.manager_id
                && !people.contains_key(manager.as_str())
            {
                invalid.push(Problem::MissingManager {
                    person: person.id.clone(),
                    manager: manager.clone(),
                });
            }
        }

        if invalid.total == 0 {
            Ok(())
        } else {
            Err(invalid)
        }
    }
}

/// Index of each id's first occurrence; reports empty ids and names, and each duplicated id once.
fn first_occurrences<'a>(
    kind: ObjectKind,
    items: impl Iterator<Item = (&'a str, &'a str)>,
    invalid: &mut Invalid,
) -> HashMap<&'a str, usize> {
    let mut first: HashMap<&str, usize> = HashMap::new();
    let mut duplicated: Vec<&str> = Vec::new();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for (index, (id, name)) in items.enumerate() {
        if id.trim().is_empty() {
            invalid.push(Problem::EmptyId { kind, index });
            continue;
        }
        if name.trim().is_empty() {
            invalid.push(Problem::EmptyName {
                kind,
                id: id.to_string(),
            });
        }
        if first.contains_key(id) {
            let count = counts.entry(id).or_insert(1);
            if *count == 1 {
                duplicated.push(id);
            }
            *count += 1;
        } else {
            first.insert(id, index);
        }
    }
    let mut seen = HashSet::new();
    for id in duplicated {
        if seen.insert(id) {
            invalid.push(Problem::DuplicateId {
                kind,
                id: id.to_string(),
                count: counts[id],
            });
        }
    }
    first
}

/// A mobile number as a matching key: spaces and dashes removed, and the country code (`+86`, `0086`, `86`) of an
/// 11-digit Chinese mobile number (`1` and ten more digits) dropped. Other numbers keep their `+` prefix.
pub fn normalize_mobile(raw: &str) -> Cow<'_, str> {
    let compact: Cow<str> = if raw.chars().any(|c| c == '-' || c.is_whitespace()) {
        Cow::Owned(
            raw.chars()
                .filter(|&c| c != '-' && !c.is_whitespace())
                .collect(),
        )
    } else {
        Cow::Borrowed(raw)
    };
    let chinese =
        |s: &str| s.len() == 11 && s.starts_with('1') && s.bytes().all(|b| b.is_ascii_digit());
    let prefix = ["+86", "0086", "86"]
        .into_iter()
        .find(|p| compact.strip_prefix(p).is_some_and(chinese))
        .map_or(0, str::len);
    match compact {
        Cow::Borrowed(s) => Cow::Borrowed(&s[prefix..]),
        Cow::Owned(mut s) => {
            s.drain(..prefix);
            Cow::Owned(s)
        }
    }
}

/// An email address as a matching key: trimmed, lowercase.
pub fn normalize_email(raw: &str) -> Cow<'_, str> {
    let trimmed = raw.trim();
    if trimmed.chars().any(char::is_uppercase) {
        Cow::Owned(trimmed.to_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    }
}

/// An employee number as a matching key: trimmed, ASCII letters lowercase.
pub fn normalize_employee_no(raw: &str) -> Cow<'_, str> {
    let trimmed = raw.trim();
    if trimmed.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(trimmed.to_ascii_lowercase())
    } else {
        Cow::Borrowed(trimmed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn department(id: &str, parent: Option<&str>) -> Department {
        Department {
            id: id.into(),
            name: format!("D {id}"),
            parent_id: parent.map(Into::into),
            order: None,
        }
    }

    fn person(id: &str, departments: &[&str], manager: Option<&str>) -> Person {
        Person {
            id: id.into(),
            employee_no: None,
            name: format!("P {id}"),
            mobile: None,
            email: None,
            title: None,
            manager_id: manager.map(Into::into),
            department_ids: departments.iter().map(|d| d.to_string()).collect(),
            active: true,
            roles: vec![],
        }
    }

    #[test]
    fn a_valid_directory_passes() {
        let directory = Directory {
            departments: vec![
                department("root", None),
                department("a", Some("root")),
                department("b", Some("a")),
            ],
            people: vec![
                person("boss", &["root"], None),
                person("x", &["a", "b"], Some("boss")),
            ],
        };
        assert_eq!(directory.check(), Ok(()));
    }

    #[test]
    fn every_problem_is_listed_with_its_ids() {
        let directory = Directory {
            departments: vec![
                department("root", None),
                // a → b → c → a
                department("a", Some("c")),
                department("b", Some("a")),
                department("c", Some("b")),
                // hanging off the cycle: not a cycle itself
                department("d", Some("a")),
                department("self", Some("self")),
                department("orphan", Some("gone")),
                department("root", None),
            ],
            people: vec![
                person("p1", &["root", "nowhere"], Some("ghost")),
                person("p2", &["a"], None),
                person("p2", &["a"], None),
                person("", &[], None),
            ],
        };
        let invalid = directory.check().unwrap_err();
        let problems = &invalid.problems;
        assert_eq!(invalid.total, problems.len());
        assert!(problems.contains(&Problem::DuplicateId {
            kind: ObjectKind::Department,
            id: "root".into(),
            count: 2
        }));
        assert!(problems.contains(&Problem::DuplicateId {
            kind: ObjectKind::Person,
            id: "p2".into(),
            count: 2
        }));
        assert!(problems.contains(&Problem::EmptyId {
            kind: ObjectKind::Person,
            index: 3
        }));
        assert!(problems.contains(&Problem::MissingParent {
            department: "orphan".into(),
            parent: "gone".into()
        }));
        assert!(problems.contains(&Problem::MissingDepartment {
            person: "p1".into(),
            department: "nowhere".into()
        }));
        assert!(problems.contains(&Problem::MissingManager {
            person: "p1".into(),
            manager: "ghost".into()
        }));
        let cycles: Vec<_> = problems
            .iter()
            .filter_map(|p| match p {
                Problem::Cycle {
                    departments,
                    length,
                } => Some((departments.clone(), *length)),
                _ => None,
            })
            .collect();
        assert_eq!(cycles.len(), 2, "{problems:?}");
        let (mut abc, length) = cycles[0].clone();
        assert_eq!(length, 3);
        abc.sort();
        assert_eq!(abc, ["a", "b", "c"]);
        assert_eq!(cycles[1], (vec!["self".to_string()], 1));
        assert_eq!(invalid.total, 8, "{problems:#?}");
        let message = invalid.to_string();
        assert!(
            message.starts_with("the directory has 8 problems: "),
            "{message}"
        );
        assert!(message.ends_with("and 3 more"), "{message}");
    }

    #[test]
    fn the_problem_list_is_bounded() {
        let directory = Directory {
            departments: vec![],
            people: (0..1000)
                .map(|i| person(&format!("p{i}"), &["none"], None))
                .collect(),
        };
        let invalid = directory.check().unwrap_err();
        assert_eq!(invalid.total, 1000);
        assert_eq!(invalid.problems.len(), MAX_PROBLEMS);
    }

    #[test]
    fn a_long_cycle_lists_a_bounded_number_of_ids() {
        let n = 500;
        let directory = Directory {
            departments: (0..n)
                .map(|i| department(&format!("d{i}"), Some(&format!("d{}", (i + 1) % n))))
                .collect(),
            people: vec![],
        };
        let invalid = directory.check().unwrap_err();
        assert_eq!(invalid.total, 1);
        match &invalid.problems[0] {
            Problem::Cycle {
                departments,
                length,
            } => {
                assert_eq!(*length, n);
                assert_eq!(departments.len(), MAX_IDS);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mobiles_are_normalised_for_chinese_numbers_only() {
        for raw in [
            "13800138000",
            "138 0013 8000",
            "138-0013-8000",
            "+86 138 0013 8000",
            "+86-13800138000",
            "8613800138000",
            "008613800138000",
            " 13800138000 ",
        ] {
            assert_eq!(normalize_mobile(raw), "13800138000", "{raw}");
        }
        assert_eq!(normalize_mobile("+1 415-555-0100"), "+14155550100");
        // 86 followed by something that is not a Chinese mobile number stays.
        assert_eq!(normalize_mobile("8623456789012"), "8623456789012");
        assert_eq!(normalize_mobile("+8602112345678"), "+8602112345678");
        assert!(matches!(normalize_mobile("13800138000"), Cow::Borrowed(_)));
    }

    #[test]
    fn emails_and_employee_numbers_are_normalised() {
        assert_eq!(
            normalize_email("  Li.Lei@Example.COM "),
            "li.lei@example.com"
        );
        assert!(matches!(
            normalize_email("li@example.com"),
            Cow::Borrowed(_)
        ));
        assert_eq!(normalize_employee_no(" E001 "), "e001");
    }

    #[test]
    fn serde_is_snake_case_with_defaults_and_refuses_unknown_fields() {
        let person: Person = serde_json::from_str(
            r#"{"id": "p1", "name": "Li Lei", "employee_no": "E1", "department_ids": ["d1"], "manager_id": "p0"}"#,
        )
        .unwrap();
        assert!(person.active);
        assert_eq!(person.employee_no.as_deref(), Some("E1"));
        let json = serde_json::to_value(&person).unwrap();
        assert_eq!(json["department_ids"][0], "d1");
        assert_eq!(json["manager_id"], "p0");
        let typo =
            serde_json::from_str::<Person>(r#"{"id": "p1", "name": "x", "departmentIds": ["d1"]}"#);
        assert!(typo.is_err());
        let directory: Directory =
            serde_json::from_str(r#"{"departments": [{"id": "d1", "name": "HQ"}]}"#).unwrap();
        assert_eq!(directory.departments[0].parent_id, None);
        assert!(directory.people.is_empty());
    }
}
