//! What rules may look up beyond the event: the enterprise's people and their accounts on each connection. A
//! snapshot of the directory, indexed once per batch of events, so conditions and templates run without IO.

use std::collections::{BTreeMap, HashMap};

use serde_json::{Value, json};

use qiao_directory::model::{Directory, Person, normalize_email, normalize_employee_no, normalize_mobile};

#[derive(Default)]
pub struct Lookups {
    people: Vec<Person>,
    accounts: Vec<BTreeMap<String, String>>,
    by_id: HashMap<String, usize>,
    by_email: HashMap<String, usize>,
    by_mobile: HashMap<String, usize>,
    by_employee_no: HashMap<String, usize>,
    /// (connection, platform user id) → person.
    by_account: HashMap<(String, String), usize>,
}

impl Lookups {
    /// `accounts`: (person id, connection, platform user id), the directory's links.
    pub fn new(directory: Directory, accounts: impl IntoIterator<Item = (String, String, String)>) -> Lookups {
        let mut l = Lookups::default();
        for (i, p) in directory.people.into_iter().enumerate() {
            l.by_id.insert(p.id.clone(), i);
            if let Some(e) = &p.email {
                l.by_email.insert(normalize_email(e).into_owned(), i);
            }
            if let Some(m) = &p.mobile {
                l.by_mobile.insert(normalize_mobile(m).into_owned(), i);
            }
            if let Some(n) = &p.employee_no {
                l.by_employee_no.insert(normalize_employee_no(n).into_owned(), i);
            }
            l.people.push(p);
            l.accounts.push(BTreeMap::new());
        }
        for (person, connection, user) in accounts {
            if let Some(&i) = l.by_id.get(&person) {
                l.accounts[i].insert(connection.clone(), user.clone());
                l.by_account.insert((connection, user), i);
            }
        }
        l
    }

    fn view(&self, i: usize) -> Value {
        let p = &self.people[i];
        json!({
            "id": p.id,
            "name": p.name,
            "email": p.email,
            "mobile": p.mobile,
            "employee_no": p.employee_no,
            "title": p.title,
            "manager_id": p.manager_id,
            "department_ids": p.department_ids,
            "roles": p.roles,
            "active": p.active,
            "accounts": self.accounts[i],
        })
    }

    fn found(&self, i: Option<&usize>) -> Value {
        i.map_or(Value::Null, |&i| self.view(i))
    }

    pub fn person(&self, id: &str) -> Value {
        self.found(self.by_id.get(id))
    }

    pub fn person_by_email(&self, email: &str) -> Value {
        self.found(self.by_email.get(normalize_email(email).as_ref()))
    }

    pub fn person_by_mobile(&self, mobile: &str) -> Value {
        self.found(self.by_mobile.get(normalize_mobile(mobile).as_ref()))
    }

    pub fn person_by_employee_no(&self, no: &str) -> Value {
        self.found(self.by_employee_no.get(normalize_employee_no(no).as_ref()))
    }

    /// The person behind a platform user id on a connection.
    pub fn person_of(&self, connection: &str, user: &str) -> Value {
        self.found(self.by_account.get(&(connection.to_string(), user.to_string())))
    }

    fn index_of(&self, person: &Value) -> Option<usize> {
        let id = match person {
            Value::String(id) => id.as_str(),
            Value::Object(p) => p.get("id")?.as_str()?,
            _ => return None,
        };
        self.by_id.get(id).copied()
    }

    /// A person's (a person or their id) user id on a connection.
    pub fn account(&self, person: &Value, connection: &str) -> Value {
        self.index_of(person)
            .and_then(|i| self.accounts[i].get(connection))
            .map_or(Value::Null, |u| Value::String(u.clone()))
    }

    /// A person's (a person or their id) manager.
    pub fn manager(&self, person: &Value) -> Value {
        let manager = self.index_of(person).and_then(|i| self.people[i].manager_id.as_ref());
        manager.map_or(Value::Null, |m| self.person(m))
    }
}

/// The functions conditions and templates may call, with how many arguments each takes.
pub const FUNCTIONS: &[(&str, usize)] = &[
    ("person", 1),
    ("person_by_email", 1),
    ("person_by_mobile", 1),
    ("person_by_employee_no", 1),
    ("person_of", 2),
    ("account", 2),
    ("manager", 1),
];

/// Calls function `name` (one of [`FUNCTIONS`]) with JSON arguments; `Err` for a wrong argument.
pub fn call(l: &Lookups, name: &str, args: &[Value]) -> Result<Value, String> {
    let text = |i: usize| -> Result<&str, String> {
        match args.get(i) {
            Some(Value::String(s)) => Ok(s),
            Some(Value::Null) => Err(format!("{name}: argument {} is null", i + 1)),
            Some(other) => Err(format!("{name}: argument {} must be a string, not {other}", i + 1)),
            None => Err(format!("{name}: missing argument {}", i + 1)),
        }
    };
    let expected = FUNCTIONS.iter().find(|(n, _)| *n == name).map(|(_, n)| *n).ok_or_else(|| format!("no function {name}"))?;
    if args.len() != expected {
        return Err(format!("{name} takes {expected} argument(s), not {}", args.len()));
    }
    Ok(match name {
        "person" => l.person(text(0)?),
        "person_by_email" => l.person_by_email(text(0)?),
        "person_by_mobile" => l.person_by_mobile(text(0)?),
        "person_by_employee_no" => l.person_by_employee_no(text(0)?),
        "person_of" => l.person_of(text(0)?, text(1)?),
        "account" => l.account(&args[0], text(1)?),
        "manager" => l.manager(&args[0]),
        _ => unreachable!("listed in FUNCTIONS"),
    })
}
