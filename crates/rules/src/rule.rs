//! A rule compiled: its condition and templates checked once, when it is loaded or saved, and then evaluated
//! against events without IO.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use crate::actions::{self, Operation};
use crate::condition::Condition;
use crate::lookup::Lookups;
use crate::problems::Problems;
use crate::spec::{MAX_ACTIONS, MAX_ID_CHARS, MAX_SOURCE_BYTES, RuleSpec};
use crate::template::Templates;

/// What a rule may know of the connections it names when it is checked.
pub enum Known {
    /// No such connection is configured.
    Unknown,
    /// Configured, its connector not loaded (yet): its capabilities cannot be checked.
    NotLoaded,
    /// Configured, and its connector exports these capabilities (names as `GET /v1/connectors` lists them).
    Exports(Vec<String>),
}

pub struct Rule {
    pub spec: RuleSpec,
    condition: Option<Condition>,
    templates: Templates,
    /// Its condition or a template names `event.task`: the engine reads the task for it.
    reads_task: bool,
}

/// The event a rule is evaluated on, as conditions and templates see it (`event`).
#[derive(Debug, Clone, Serialize)]
pub struct EventInput {
    pub seq: i64,
    pub connection: String,
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub subject: String,
    pub time_ms: Option<i64>,
    pub received_ms: i64,
    pub payload: Value,
    /// The event's object on other connections: connection → object id (from links made by rules).
    pub links: serde_json::Map<String, Value>,
    /// Caused by one of Qiao's own writes (the platform echoing it).
    pub echo: bool,
    /// How many rule-made writes led to this event (0: none).
    pub hops: u32,
    /// For a task event (but `task.deleted`) triggering a rule that names `event.task`: the task as
    /// `GET …/tasks/{id}` answers it when the event is evaluated (assignees, labels, status, `extra`...), which
    /// the shared task events do not carry. Null otherwise, or when it could not be read.
    pub task: Value,
}

/// What every rule evaluated on one event shares, made once per event: its input (`event`, `actor`) and the
/// conditions' CEL scope. Not `Send`: evaluate, then drop it before awaiting anything.
pub struct EventScope {
    input: Value,
    condition: crate::condition::Scope,
}

impl EventScope {
    pub fn new(event: &EventInput, lookups: &Arc<Lookups>) -> Result<EventScope, String> {
        let input = EventScope::input(event, lookups);
        Ok(EventScope { condition: crate::condition::Scope::new(&input, lookups)?, input })
    }

    fn input(event: &EventInput, lookups: &Lookups) -> Value {
        let actor = event.payload.get("actor").and_then(Value::as_str).map_or(Value::Null, |a| lookups.person_of(&event.connection, a));
        json!({ "event": event, "actor": actor })
    }
}

/// One write a rule would make.
#[derive(Debug, Clone, Serialize)]
pub struct PlannedWrite {
    /// The action's index in the rule.
    pub action: usize,
    #[serde(rename = "do")]
    pub operation: &'static str,
    pub method: &'static str,
    /// The REST API route it is made through.
    pub path: String,
    pub connection: Option<String>,
    pub body: Value,
    #[serde(skip)]
    pub link: bool,
}

/// One action's outcome of an evaluation: its write, or why it could not be built.
pub type Planned = Result<PlannedWrite, String>;

#[derive(Debug, Clone, Serialize)]
pub struct Evaluation {
    pub matched: bool,
    /// Why the condition could not be decided (an error in it): the rule did not match.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Why the rule did not run though the event triggered it (an echo, a chain too deep).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    #[serde(skip)]
    pub writes: Vec<Planned>,
}

fn path_safe(s: &str) -> bool {
    !s.is_empty() && s.len() <= 256 && !s.contains(['/', '?', '#', '%']) && !s.chars().any(char::is_control) && s != "." && s != ".."
}

/// Whether a condition or template names `event.task`.
fn names_task(s: &str) -> bool {
    s.match_indices("event.task").any(|(i, m)| !s[i + m.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_'))
}

fn has_template(s: &str) -> bool {
    s.contains("{{") || s.contains("{%")
}

impl Rule {
    /// Checks and compiles a rule; every problem is added to `problems` (and `None` returned if there was one).
    pub fn compile(spec: RuleSpec, known: &dyn Fn(&str) -> Known, problems: &mut Problems) -> Option<Rule> {
        let before = problems.0.len();
        let id = spec.id.clone();
        if spec.id.is_empty()
            || spec.id.chars().count() > MAX_ID_CHARS
            || !spec.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            problems.add(&id, "id", format!("must be 1-{MAX_ID_CHARS} letters, digits, - or _"));
        }
        if spec.on.types.is_empty() {
            problems.add(&id, "on.types", "name at least one event type (\"task.status_changed\", \"task.*\")");
        }
        for (i, t) in spec.on.types.iter().enumerate() {
            if t.is_empty() || t.trim_end_matches('*').contains('*') {
                problems.add(&id, format!("on.types[{i}]"), format!("{t:?}: a type, or a prefix ending in *"));
            }
        }
        if let Some(c) = &spec.on.connection
            && matches!(known(c), Known::Unknown)
        {
            problems.add(&id, "on.connection", format!("no connection {c:?} is configured"));
        }
        if spec.max_hops == 0 || spec.max_hops > 10 {
            problems.add(&id, "max_hops", "must be 1-10");
        }
        let condition = match &spec.when {
            Some(source) if source.len() > MAX_SOURCE_BYTES => {
                problems.add(&id, "when", format!("longer than {MAX_SOURCE_BYTES} bytes"));
                None
            }
            Some(source) => match Condition::compile(source) {
                Ok(c) => Some(c),
                Err((position, message)) => {
                    problems.at(&id, "when", position, message);
                    None
                }
            },
            None => None,
        };
        let mut templates = Templates::default();
        if spec.actions.is_empty() || spec.actions.len() > MAX_ACTIONS {
            problems.add(&id, "actions", format!("give 1-{MAX_ACTIONS} actions"));
        }
        for (i, action) in spec.actions.iter().enumerate() {
            let field = |f: &str| format!("actions[{i}].{f}");
            let Some(op) = actions::find(&action.operation) else {
                problems.add(&id, field("do"), format!("unknown operation {:?}; one of {}", action.operation, actions::names().join(", ")));
                continue;
            };
            match (&action.connection, op.needs_connection()) {
                (None, true) => problems.add(&id, field("connection"), format!("{} needs a connection", op.name)),
                (Some(_), false) => problems.add(&id, field("connection"), format!("{} writes across connections; give none", op.name)),
                (Some(c), true) if !has_template(c) => match known(c) {
                    Known::Unknown => problems.add(&id, field("connection"), format!("no connection {c:?} is configured")),
                    Known::Exports(caps) if !caps.iter().any(|x| x == op.capability) => problems.add(
                        &id,
                        field("connection"),
                        format!("{c:?}'s connector does not export {} (needed by {})", op.capability, op.name),
                    ),
                    _ => {}
                },
                _ => {}
            }
            match (&action.target, op.needs_target()) {
                (None, true) => problems.add(&id, field("target"), format!("{} needs a target (the object it acts on)", op.name)),
                (Some(_), false) => problems.add(&id, field("target"), format!("{} acts on no existing object; give no target", op.name)),
                _ => {}
            }
            if !action.body.is_object() {
                problems.add(&id, field("body"), "must be an object (the REST API body of the operation)");
            }
            let mut sources = Vec::new();
            if let Some(c) = &action.connection {
                sources.push((format!("a{i}.connection"), field("connection"), c.clone()));
            }
            if let Some(t) = &action.target {
                sources.push((format!("a{i}.target"), field("target"), t.clone()));
            }
            strings(&action.body, &mut |pointer, s| {
                sources.push((format!("a{i}.body{pointer}"), format!("{}{}", field("body"), dotted(pointer)), s.to_string()))
            });
            for (name, field, source) in sources {
                if source.len() > MAX_SOURCE_BYTES {
                    problems.add(&id, field, format!("longer than {MAX_SOURCE_BYTES} bytes"));
                } else if let Err((position, message)) = templates.add(name, source) {
                    problems.at(&id, field, position, message);
                }
            }
        }
        let mut reads_task = spec.when.as_deref().is_some_and(names_task);
        for action in &spec.actions {
            reads_task |= [&action.connection, &action.target].into_iter().flatten().any(|s| names_task(s));
            strings(&action.body, &mut |_, s| reads_task |= names_task(s));
        }
        (problems.0.len() == before).then_some(Rule { spec, condition, templates, reads_task })
    }

    /// Checks and compiles a set of rules (ids must differ): all of them, or every problem.
    pub fn compile_all(specs: Vec<RuleSpec>, known: &dyn Fn(&str) -> Known) -> Result<Vec<Rule>, Problems> {
        let mut problems = Problems::default();
        let mut seen = std::collections::HashSet::new();
        for spec in &specs {
            if !seen.insert(spec.id.clone()) {
                problems.add(&spec.id, "id", "two rules have this id");
            }
        }
        let rules: Vec<Rule> = specs.into_iter().filter_map(|s| Rule::compile(s, known, &mut problems)).collect();
        if problems.is_empty() { Ok(rules) } else { Err(problems) }
    }

    pub fn id(&self) -> &str {
        &self.spec.id
    }

    /// Whether the rule uses `event.task` (the task an event is about, read for it).
    pub fn reads_task(&self) -> bool {
        self.reads_task
    }

    pub fn triggered_by(&self, event: &EventInput) -> bool {
        self.spec.on.matches(&event.connection, &event.kind)
    }

    /// What conditions and templates see for an event.
    pub fn input(&self, event: &EventInput, lookups: &Lookups) -> Value {
        let mut input = EventScope::input(event, lookups);
        input["rule"] = json!({ "id": self.spec.id });
        input
    }

    /// Evaluates the rule on an event it is triggered by: whether it matches and, if so, the writes it makes.
    /// To evaluate several rules on one event, make its [`EventScope`] once and use [`Rule::evaluate_in`].
    pub fn evaluate(&self, event: &EventInput, lookups: &Arc<Lookups>) -> Evaluation {
        match EventScope::new(event, lookups) {
            Ok(scope) => self.evaluate_in(&scope, event, lookups),
            Err(e) => Evaluation { matched: false, error: Some(format!("when: {e}")), skipped: None, writes: Vec::new() },
        }
    }

    pub fn evaluate_in(&self, scope: &EventScope, event: &EventInput, lookups: &Arc<Lookups>) -> Evaluation {
        let mut evaluation = Evaluation { matched: false, error: None, skipped: None, writes: Vec::new() };
        if event.echo && !self.spec.echoes {
            evaluation.skipped = Some("the event echoes one of Qiao's own writes (set echoes = true to react to those)".into());
            return evaluation;
        }
        if event.hops >= self.spec.max_hops {
            evaluation.skipped = Some(format!(
                "a chain of {} rule-made writes led to this event; the rule's max_hops is {}",
                event.hops, self.spec.max_hops
            ));
            return evaluation;
        }
        let rule = json!({ "id": self.spec.id });
        match self.condition.as_ref().map_or(Ok(true), |c| c.holds(&scope.condition, &rule)) {
            Ok(true) => {}
            Ok(false) => return evaluation,
            Err(e) => {
                evaluation.error = Some(format!("when: {e}"));
                return evaluation;
            }
        }
        evaluation.matched = true;
        let mut input = scope.input.clone();
        input["rule"] = rule;
        evaluation.writes = (0..self.spec.actions.len()).map(|i| self.plan(i, &input, lookups)).collect();
        evaluation
    }

    fn plan(&self, i: usize, input: &Value, lookups: &Arc<Lookups>) -> Planned {
        let action = &self.spec.actions[i];
        let op: &Operation = actions::find(&action.operation).expect("checked at compile");
        let render = |name: String, field: &str| -> Result<String, String> {
            self.templates.render(&name, input, lookups).map_err(|e| format!("{field}: {e}"))
        };
        let connection = action.connection.as_ref().map(|_| render(format!("a{i}.connection"), "connection")).transpose()?;
        let target = action.target.as_ref().map(|_| render(format!("a{i}.target"), "target")).transpose()?;
        for (what, value) in [("connection", &connection), ("target", &target)] {
            if let Some(v) = value
                && !path_safe(v)
            {
                return Err(format!("{what}: {v:?} is not an id (empty, too long, or has / ? # %)"));
            }
        }
        let body = render_strings(&action.body, "", &mut |pointer, _| render(format!("a{i}.body{pointer}"), &format!("body{}", dotted(pointer))))?;
        Ok(PlannedWrite {
            action: i,
            operation: op.name,
            method: op.method,
            path: op.route(connection.as_deref().unwrap_or(""), target.as_deref().unwrap_or("")),
            connection,
            body,
            link: action.link && op.creates,
        })
    }
}

/// Calls `f` with the JSON pointer and text of every string in `value`.
fn strings(value: &Value, f: &mut dyn FnMut(&str, &str)) {
    fn walk(value: &Value, pointer: &mut String, f: &mut dyn FnMut(&str, &str)) {
        match value {
            Value::String(s) => f(pointer, s),
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    let len = pointer.len();
                    pointer.push_str(&format!("/{i}"));
                    walk(item, pointer, f);
                    pointer.truncate(len);
                }
            }
            Value::Object(fields) => {
                for (k, item) in fields {
                    let len = pointer.len();
                    pointer.push('/');
                    pointer.push_str(&k.replace('~', "~0").replace('/', "~1"));
                    walk(item, pointer, f);
                    pointer.truncate(len);
                }
            }
            _ => {}
        }
    }
    walk(value, &mut String::new(), f)
}

/// `value` with every string replaced by what `f` renders for it (by JSON pointer).
fn render_strings(value: &Value, pointer: &str, f: &mut dyn FnMut(&str, &str) -> Result<String, String>) -> Result<Value, String> {
    Ok(match value {
        Value::String(s) => Value::String(f(pointer, s)?),
        Value::Array(items) => Value::Array(
            items.iter().enumerate().map(|(i, item)| render_strings(item, &format!("{pointer}/{i}"), f)).collect::<Result<_, _>>()?,
        ),
        Value::Object(fields) => Value::Object(
            fields
                .iter()
                .map(|(k, item)| {
                    let p = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                    Ok((k.clone(), render_strings(item, &p, f)?))
                })
                .collect::<Result<_, String>>()?,
        ),
        other => other.clone(),
    })
}

/// A JSON pointer as the field path problems name (`/to/chats/0` → `.to.chats[0]`).
fn dotted(pointer: &str) -> String {
    pointer
        .split('/')
        .skip(1)
        .map(|part| match part.parse::<usize>() {
            Ok(i) => format!("[{i}]"),
            Err(_) => format!(".{}", part.replace("~1", "/").replace("~0", "~")),
        })
        .collect()
}
