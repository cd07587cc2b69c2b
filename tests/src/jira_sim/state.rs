//! The simulated Jira site: users, projects, issue types, priorities, one workflow, issues with their comments,
//! watchers and changelogs, plus the test controls (faults, rate-limit counters, the call log) and the webhook
//! deliveries made so far. Everything here renders itself the way Jira's REST v3 does (`*_json`).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};
use tokio::sync::mpsc::UnboundedSender;

use crate::sim_support::{Faults, QpsWindow};

use super::Options;

/// The site's administrator, whom the default API token and OAuth token act as (the connector's account).
pub const BOT: &str = "5b10a2844c20165700ede210";
pub const ALICE: &str = "5b10a2844c20165700ede211";
pub const BOB: &str = "5b10a2844c20165700ede212";
/// A deactivated account: it can be looked up but not assigned.
pub const CAROL: &str = "5b10a2844c20165700ede213";
/// An account whose profile hides its email: `emailAddress` is left out and an email search does not find it.
pub const DAVE: &str = "712020:3f0c3a6e-2b1d-4c55-9a7e-5d1f0b9e8c21";

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// This HTTP status with an HTML body, as a failing proxy in front of Jira would answer.
    Status(u16),
    /// HTTP 503 with Jira's error body and, when given, `Retry-After` in seconds.
    Unavailable(Option<u64>),
    /// HTTP 500 with Jira's error body.
    Internal,
    /// HTTP 429 with the rate-limit headers and this `RateLimit-Reason` (e.g. "jira-burst-based").
    RateLimit(String),
    /// HTTP 401 as for an expired or revoked API token.
    Unauthorized,
    /// HTTP 403 as for a missing project permission.
    Forbidden,
    /// HTTP 409, as Jira answers two transitions racing on one issue.
    Conflict,
    /// Answer only after this long (a caller with a shorter timeout times out, nothing is done).
    Delay(std::time::Duration),
    /// Carry the request out, then answer only after this long: the caller times out not knowing it worked.
    LateAnswer(std::time::Duration),
}

/// A status category: the three Jira has, with their fixed ids, keys, names and colours.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Category {
    New,
    Indeterminate,
    Done,
}

impl Category {
    pub fn id(self) -> u32 {
        match self {
            Category::New => 2,
            Category::Indeterminate => 4,
            Category::Done => 3,
        }
    }

    pub fn key(self) -> &'static str {
        match self {
            Category::New => "new",
            Category::Indeterminate => "indeterminate",
            Category::Done => "done",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Category::New => "To Do",
            Category::Indeterminate => "In Progress",
            Category::Done => "Done",
        }
    }

    fn color(self) -> &'static str {
        match self {
            Category::New => "blue-gray",
            Category::Indeterminate => "yellow",
            Category::Done => "green",
        }
    }

    /// The category a JQL value names: by name, key or id, as `statusCategory = …` takes them.
    pub fn parse(value: &str) -> Option<Category> {
        [Category::New, Category::Indeterminate, Category::Done]
            .into_iter()
            .find(|c| {
                value.eq_ignore_ascii_case(c.name())
                    || value.eq_ignore_ascii_case(c.key())
                    || value == c.id().to_string()
            })
    }
}

#[derive(Clone, Debug)]
pub struct StatusDef {
    pub id: String,
    pub name: String,
    pub category: Category,
}

/// A workflow transition. Ids are per workflow in Jira: connectors should find one by its target status.
#[derive(Clone, Debug)]
pub struct TransitionDef {
    pub id: String,
    pub name: String,
    /// Status ids it leaves from; empty for a global transition (available from every status).
    pub from: Vec<String>,
    /// The status id it ends in.
    pub to: String,
}

/// The one workflow every project and issue type uses.
#[derive(Clone, Debug)]
pub struct Workflow {
    pub statuses: Vec<StatusDef>,
    pub transitions: Vec<TransitionDef>,
    /// Where new issues start.
    pub initial: String,
}

impl Workflow {
    /// To Do → In Progress → 测试中 (an "In Review"-style status in the In Progress category) → Done, and
    /// Done → To Do through "Reopen". Transition names differ from status names, as in most real workflows.
    pub fn standard() -> Workflow {
        let status = |id: &str, name: &str, category| StatusDef {
            id: id.into(),
            name: name.into(),
            category,
        };
        let transition = |id: &str, name: &str, from: &str, to: &str| TransitionDef {
            id: id.into(),
            name: name.into(),
            from: vec![from.into()],
            to: to.into(),
        };
        Workflow {
            statuses: vec![
                status("10000", "To Do", Category::New),
                status("3", "In Progress", Category::Indeterminate),
                status("10001", "测试中", Category::Indeterminate),
                status("10002", "Done", Category::Done),
            ],
            transitions: vec![
                transition("11", "Start Progress", "10000", "3"),
                transition("21", "Send to Test", "3", "10001"),
                transition("31", "Done", "10001", "10002"),
                transition("41", "Reopen", "10002", "10000"),
            ],
            initial: "10000".into(),
        }
    }

    pub fn status(&self, id: &str) -> Option<&StatusDef> {
        self.statuses.iter().find(|s| s.id == id)
    }

    /// A status by id or (case-insensitive) name.
    pub fn find_status(&self, value: &str) -> Option<&StatusDef> {
        self.statuses
            .iter()
            .find(|s| s.id == value || s.name.eq_ignore_ascii_case(value))
    }

    /// The transitions available from `status`.
    pub fn available(&self, status: &str) -> Vec<&TransitionDef> {
        self.transitions
            .iter()
            .filter(|t| t.from.is_empty() || t.from.iter().any(|f| f == status))
            .collect()
    }
}

#[derive(Clone, Debug)]
pub struct User {
    pub account_id: String,
    pub display_name: String,
    pub email: String,
    pub active: bool,
    /// False when the profile hides the email: it is left out of answers and email searches miss the user.
    pub email_visible: bool,
    pub time_zone: String,
}

#[derive(Clone, Debug)]
pub struct Project {
    pub id: String,
    pub key: String,
    pub name: String,
    /// Account id of the lead: the default assignee (`accountId: "-1"`).
    pub lead: String,
    /// The number the next issue key takes.
    pub next_number: u64,
}

#[derive(Clone, Debug)]
pub struct Comment {
    pub id: String,
    pub author: String,
    /// ADF.
    pub body: Value,
    pub created: u64,
    pub updated: u64,
}

/// One changelog entry's item, as Jira's changelog and webhooks render it.
#[derive(Clone, Debug, PartialEq)]
pub struct ChangeItem {
    pub field: String,
    pub from: Option<String>,
    pub from_string: Option<String>,
    pub to: Option<String>,
    pub to_string: Option<String>,
}

/// The changes one request made, under one changelog id.
#[derive(Clone, Debug)]
pub struct ChangeGroup {
    pub id: String,
    pub author: String,
    pub created: u64,
    pub items: Vec<ChangeItem>,
}

#[derive(Clone, Debug)]
pub struct Issue {
    /// Numeric, as Jira's ids are (rendered as strings).
    pub id: u64,
    pub key: String,
    /// The project key.
    pub project: String,
    /// The issue type's name.
    pub issuetype: String,
    pub summary: String,
    /// ADF, or none.
    pub description: Option<Value>,
    /// Status id.
    pub status: String,
    pub assignee: Option<String>,
    pub reporter: String,
    pub creator: String,
    pub labels: Vec<String>,
    /// "YYYY-MM-DD".
    pub duedate: Option<String>,
    /// Priority name.
    pub priority: String,
    /// Set when the issue reaches a done status, cleared when it leaves.
    pub resolution: Option<String>,
    pub resolution_date: Option<u64>,
    /// Unix ms.
    pub created: u64,
    pub updated: u64,
    pub status_changed: u64,
    pub watchers: BTreeSet<String>,
    pub comments: Vec<Comment>,
    pub changelog: Vec<ChangeGroup>,
}

/// One attempt at sending a delivery: which retry it was (0 for the first send) and what came back.
#[derive(Clone, Debug)]
pub struct Attempt {
    pub retry: u32,
    /// The receiver's HTTP status; none when the connection failed or timed out.
    pub status: Option<u16>,
    pub error: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryKind {
    /// Sent because something happened on the site.
    Event,
    /// A test re-sent an earlier delivery unchanged (same identifier, body and signature): at-least-once delivery.
    Duplicate,
    /// A test sent a payload signed with the wrong secret, or not signed at all.
    Forged,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    Pending,
    /// A 2xx came back.
    Delivered,
    /// Given up: a 4xx Jira does not retry, or every retry failed.
    Failed,
}

/// A webhook delivery and its attempts. `body` is the exact bytes sent; `headers` the ones every attempt sends
/// (`X-Atlassian-Webhook-Retry` is added per retry).
#[derive(Clone, Debug)]
pub struct Delivery {
    /// `X-Atlassian-Webhook-Identifier`: unchanged across retries and duplicates.
    pub identifier: String,
    /// `webhookEvent`.
    pub event: String,
    pub url: String,
    pub body: String,
    pub headers: Vec<(String, String)>,
    pub kind: DeliveryKind,
    pub attempts: Vec<Attempt>,
    pub outcome: Outcome,
}

impl Delivery {
    pub fn payload(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }

    /// `X-Hub-Signature`, if the delivery carries one.
    pub fn signature(&self) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("x-hub-signature"))
            .map(|(_, v)| v.as_str())
    }
}

/// A request the simulator answered.
#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    pub query: String,
    /// "basic", "bearer" or "none" (never the credential itself).
    pub auth: &'static str,
    pub status: u16,
}

/// A request refused with 429 by one of the three limits (faults are not counted here).
#[derive(Clone, Debug)]
pub struct RateLimitHit {
    /// `RateLimit-Reason`.
    pub reason: String,
    pub method: String,
    pub path: String,
}

/// Counters behind the three rate limits.
#[derive(Debug, Default)]
pub struct Limits {
    /// Issue id → times of admitted writes, within the longest per-issue window.
    pub issue_writes: HashMap<u64, Vec<Instant>>,
    /// Per method and endpoint template, per second.
    pub burst: QpsWindow,
    /// Points used in the current quota window, and which window (Unix seconds / window length).
    pub points_used: u64,
    pub points_window: u64,
    /// Objects the current request read, charged once it is answered: (issues and projects, users).
    pub reads: (u64, u64),
    pub hits: Vec<RateLimitHit>,
}

/// An event waiting for the deliverer: the index of its [`Delivery`] in `State::deliveries`.
pub type Queued = usize;

pub struct State {
    pub options: Options,
    /// The simulator's own base URL (for `self` links).
    pub base: String,
    pub users: BTreeMap<String, User>,
    pub projects: BTreeMap<String, Project>,
    /// Issue type name → id.
    pub issue_types: Vec<(String, String)>,
    /// Priority names, highest first, with their ids.
    pub priorities: Vec<(String, String)>,
    pub workflow: Workflow,
    /// By numeric id.
    pub issues: BTreeMap<u64, Issue>,
    pub faults: Faults<Fault>,
    pub calls: Vec<Call>,
    pub limits: Limits,
    pub deliveries: Vec<Delivery>,
    pub(super) outbox: Option<UnboundedSender<Queued>>,
    next_id: u64,
}

pub const DEFAULT_PRIORITY: &str = "Medium";

impl State {
    pub fn new(options: Options, base: String) -> State {
        let mut state = State {
            options,
            base,
            users: BTreeMap::new(),
            projects: BTreeMap::new(),
            issue_types: vec![
                ("Task".into(), "10001".into()),
                ("Bug".into(), "10002".into()),
            ],
            priorities: ["Highest", "High", "Medium", "Low", "Lowest"]
                .iter()
                .enumerate()
                .map(|(i, n)| (n.to_string(), (i + 1).to_string()))
                .collect(),
            workflow: Workflow::standard(),
            issues: BTreeMap::new(),
            faults: Faults::default(),
            calls: Vec::new(),
            limits: Limits::default(),
            deliveries: Vec::new(),
            outbox: None,
            next_id: 10000,
        };
        for (id, name, email, active, visible) in [
            (BOT, "Qiao Bot", "qiao-bot@example.com", true, true),
            (ALICE, "Alice Li", "alice@example.com", true, true),
            (BOB, "Bob Zhang", "bob@example.com", true, true),
            (CAROL, "Carol Wu", "carol@example.com", false, true),
            (DAVE, "Dave Chen", "dave@example.com", true, false),
        ] {
            state.users.insert(
                id.into(),
                User {
                    account_id: id.into(),
                    display_name: name.into(),
                    email: email.into(),
                    active,
                    email_visible: visible,
                    time_zone: "Asia/Shanghai".into(),
                },
            );
        }
        for (id, key, name) in [
            ("10000", "OPS", "Operations"),
            ("10001", "DEV", "Development"),
        ] {
            state.projects.insert(
                key.into(),
                Project {
                    id: id.into(),
                    key: key.into(),
                    name: name.into(),
                    lead: BOT.into(),
                    next_number: 1,
                },
            );
        }
        state
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn user_by_email(&self, email: &str) -> Option<&User> {
        self.users
            .values()
            .find(|u| u.email.eq_ignore_ascii_case(email))
    }

    /// An issue's id from a numeric id or a key (keys match case-insensitively, as Jira's do).
    pub fn issue_id(&self, id_or_key: &str) -> Option<u64> {
        if let Ok(id) = id_or_key.parse::<u64>() {
            return self.issues.contains_key(&id).then_some(id);
        }
        self.issues
            .values()
            .find(|i| i.key.eq_ignore_ascii_case(id_or_key))
            .map(|i| i.id)
    }

    pub fn issue(&self, id_or_key: &str) -> Option<&Issue> {
        self.issue_id(id_or_key).and_then(|id| self.issues.get(&id))
    }

    pub fn project(&self, value: &str) -> Option<&Project> {
        self.projects.values().find(|p| {
            p.key.eq_ignore_ascii_case(value) || p.id == value || p.name.eq_ignore_ascii_case(value)
        })
    }

    pub fn issue_type(&self, value: &str) -> Option<(String, String)> {
        self.issue_types
            .iter()
            .find(|(n, id)| n.eq_ignore_ascii_case(value) || id == value)
            .cloned()
    }

    pub fn priority(&self, value: &str) -> Option<(String, String)> {
        self.priorities
            .iter()
            .find(|(n, id)| n.eq_ignore_ascii_case(value) || id == value)
            .cloned()
    }

    // ---- rendering ----

    pub fn user_json(&self, account_id: &str) -> Value {
        let Some(u) = self.users.get(account_id) else {
            return Value::Null;
        };
        let avatar = format!(
            "https://avatar-management--avatars.us-west-2.prod.public.atl-paas.net/{}/48",
            u.account_id
        );
        let mut user = json!({
            "self": format!("{}/rest/api/3/user?accountId={}", self.base, u.account_id),
            "accountId": u.account_id,
            "accountType": "atlassian",
            "avatarUrls": { "48x48": avatar, "24x24": avatar, "16x16": avatar, "32x32": avatar },
            "displayName": u.display_name,
            "active": u.active,
            "timeZone": u.time_zone,
            "locale": "en_US",
        });
        if u.email_visible {
            user["emailAddress"] = json!(u.email);
        }
        user
    }

    pub fn status_json(&self, status_id: &str) -> Value {
        let Some(s) = self.workflow.status(status_id) else {
            return Value::Null;
        };
        let c = s.category;
        json!({
            "self": format!("{}/rest/api/3/status/{}", self.base, s.id),
            "description": "",
            "iconUrl": format!("{}/images/icons/statuses/generic.png", self.base),
            "name": s.name,
            "id": s.id,
            "statusCategory": {
                "self": format!("{}/rest/api/3/statuscategory/{}", self.base, c.id()),
                "id": c.id(),
                "key": c.key(),
                "colorName": c.color(),
                "name": c.name(),
            },
        })
    }

    pub fn project_json(&self, key: &str) -> Value {
        let Some(p) = self.projects.get(key) else {
            return Value::Null;
        };
        json!({
            "self": format!("{}/rest/api/3/project/{}", self.base, p.id),
            "id": p.id,
            "key": p.key,
            "name": p.name,
            "projectTypeKey": "software",
            "simplified": false,
        })
    }

    fn issuetype_json(&self, name: &str) -> Value {
        let (name, id) = self
            .issue_type(name)
            .unwrap_or((name.to_string(), "0".into()));
        json!({
            "self": format!("{}/rest/api/3/issuetype/{id}", self.base),
            "id": id,
            "description": "",
            "iconUrl": format!("{}/images/icons/issuetypes/{}.svg", self.base, name.to_lowercase()),
            "name": name,
            "subtask": false,
            "hierarchyLevel": 0,
        })
    }

    fn priority_json(&self, name: &str) -> Value {
        let (name, id) = self
            .priority(name)
            .unwrap_or((name.to_string(), "0".into()));
        json!({
            "self": format!("{}/rest/api/3/priority/{id}", self.base),
            "iconUrl": format!("{}/images/icons/priorities/{}.svg", self.base, name.to_lowercase()),
            "name": name,
            "id": id,
        })
    }

    pub fn comment_json(&self, issue: &Issue, c: &Comment) -> Value {
        json!({
            "self": format!("{}/rest/api/3/issue/{}/comment/{}", self.base, issue.id, c.id),
            "id": c.id,
            "author": self.user_json(&c.author),
            "body": c.body,
            "updateAuthor": self.user_json(&c.author),
            "created": self.time(c.created),
            "updated": self.time(c.updated),
            "jsdPublic": true,
        })
    }

    /// Every field of an issue, as `GET /issue/{key}` renders `fields` (all of them are navigable here).
    pub fn fields_json(&self, issue: &Issue) -> Map<String, Value> {
        let user = |id: &Option<String>| id.as_deref().map_or(Value::Null, |a| self.user_json(a));
        let comments: Vec<Value> = issue
            .comments
            .iter()
            .map(|c| self.comment_json(issue, c))
            .collect();
        let total = comments.len();
        let fields = json!({
            "summary": issue.summary,
            "description": issue.description.clone().unwrap_or(Value::Null),
            "status": self.status_json(&issue.status),
            "statuscategorychangedate": self.time(issue.status_changed),
            "issuetype": self.issuetype_json(&issue.issuetype),
            "project": self.project_json(&issue.project),
            "priority": self.priority_json(&issue.priority),
            "assignee": user(&issue.assignee),
            "reporter": self.user_json(&issue.reporter),
            "creator": self.user_json(&issue.creator),
            "labels": issue.labels,
            "duedate": issue.duedate,
            "resolution": issue.resolution.as_ref().map_or(Value::Null, |r| json!({
                "self": format!("{}/rest/api/3/resolution/10000", self.base),
                "id": "10000",
                "description": "Work has been completed on this issue.",
                "name": r,
            })),
            "resolutiondate": issue.resolution_date.map(|t| self.time(t)),
            "created": self.time(issue.created),
            "updated": self.time(issue.updated),
            "watches": {
                "self": format!("{}/rest/api/3/issue/{}/watchers", self.base, issue.key),
                "watchCount": issue.watchers.len(),
                "isWatching": issue.watchers.contains(BOT),
            },
            "comment": {
                "comments": comments,
                "self": format!("{}/rest/api/3/issue/{}/comment", self.base, issue.id),
                "maxResults": total,
                "total": total,
                "startAt": 0,
            },
            "lastViewed": null,
        });
        match fields {
            Value::Object(map) => map,
            _ => unreachable!(),
        }
    }

    /// An issue with the fields `wanted` selects (see [`FieldSelection`]).
    pub fn issue_json(&self, issue: &Issue, wanted: &FieldSelection) -> Value {
        let all = self.fields_json(issue);
        let fields: Map<String, Value> = all
            .into_iter()
            .filter(|(name, _)| wanted.includes(name))
            .collect();
        json!({
            "expand": "renderedFields,names,schema,operations,editmeta,changelog,versionedRepresentations",
            "id": issue.id.to_string(),
            "self": format!("{}/rest/api/3/issue/{}", self.base, issue.id),
            "key": issue.key,
            "fields": fields,
        })
    }

    pub fn changelog_json(&self, group: &ChangeGroup) -> Value {
        json!({
            "id": group.id,
            "author": self.user_json(&group.author),
            "created": self.time(group.created),
            "items": group.items.iter().map(change_item_json).collect::<Vec<_>>(),
        })
    }

    /// A time as Jira renders it: millisecond precision and the user's UTC offset, `2026-12-03T16:45:00.123+0800`.
    pub fn time(&self, ms: u64) -> String {
        format_time(ms as i64, self.options.utc_offset_minutes)
    }

    // ---- webhook events ----

    /// Queues `payload` as a delivery of `event` if a callback URL is set and the webhook listens to `event`.
    pub fn emit(&mut self, event: &str, payload: Value) {
        let Some(url) = self.options.callback_url.clone() else {
            return;
        };
        if !self.options.webhook_events.iter().any(|e| e == event) {
            return;
        }
        let body = payload.to_string();
        let identifier = format!("{:x}", rand::random::<u64>());
        let headers = super::webhooks::headers(&self.options.webhook_secret, &identifier, &body);
        self.deliveries.push(Delivery {
            identifier,
            event: event.to_string(),
            url,
            body,
            headers,
            kind: DeliveryKind::Event,
            attempts: Vec::new(),
            outcome: Outcome::Pending,
        });
        let index = self.deliveries.len() - 1;
        if let Some(outbox) = &self.outbox {
            outbox.send(index).ok();
        }
    }

    /// The `issue` of a webhook payload: the full issue, rich text as ADF or (with `webhook_plain_text`) as text.
    pub fn webhook_issue(&self, issue: &Issue) -> Value {
        let mut value = self.issue_json(issue, &FieldSelection::All);
        value.as_object_mut().unwrap().remove("expand");
        if self.options.webhook_plain_text {
            let text = issue.description.as_ref().map(adf_text);
            value["fields"]["description"] = json!(text);
        }
        value
    }

    /// `jira:issue_created`, `jira:issue_updated` (with the changelog) or `jira:issue_deleted`.
    pub fn issue_event(
        &mut self,
        event: &str,
        type_name: &str,
        issue: &Issue,
        actor: &str,
        changelog: Option<&ChangeGroup>,
        comment: Option<&Comment>,
    ) {
        let mut payload = json!({
            "timestamp": now_ms(),
            "webhookEvent": event,
            "issue_event_type_name": type_name,
            "user": self.user_json(actor),
            "issue": self.webhook_issue(issue),
        });
        if let Some(group) = changelog {
            payload["changelog"] = json!({
                "id": group.id,
                "items": group.items.iter().map(change_item_json).collect::<Vec<_>>(),
            });
        }
        if let Some(c) = comment {
            payload["comment"] = self.comment_json(issue, c);
        }
        self.emit(event, payload);
    }

    /// `comment_created`: the comment and a trimmed issue (Jira sends only a few fields here), no `user`.
    pub fn comment_event(&mut self, issue: &Issue, comment: &Comment) {
        let full = self.fields_json(issue);
        let fields: Map<String, Value> = full
            .into_iter()
            .filter(|(k, _)| {
                [
                    "summary",
                    "issuetype",
                    "project",
                    "assignee",
                    "priority",
                    "status",
                ]
                .contains(&k.as_str())
            })
            .collect();
        let payload = json!({
            "timestamp": now_ms(),
            "webhookEvent": "comment_created",
            "comment": self.comment_json(issue, comment),
            "issue": {
                "id": issue.id.to_string(),
                "self": format!("{}/rest/api/3/issue/{}", self.base, issue.id),
                "key": issue.key,
                "fields": fields,
            },
        });
        self.emit("comment_created", payload);
    }
}

fn change_item_json(item: &ChangeItem) -> Value {
    json!({
        "field": item.field,
        "fieldtype": "jira",
        "fieldId": item.field,
        "from": item.from,
        "fromString": item.from_string,
        "to": item.to,
        "toString": item.to_string,
    })
}

/// Which fields to render: `fields=` of a GET or search.
#[derive(Clone, Debug)]
pub enum FieldSelection {
    /// `*all` or `*navigable` (every field here is navigable), minus exclusions (`-comment`).
    All,
    AllBut(Vec<String>),
    Only(Vec<String>),
}

impl FieldSelection {
    /// From a comma list or a JSON array of names; `default` when none are given.
    pub fn parse(names: &[String], default: FieldSelection) -> FieldSelection {
        let names: Vec<String> = names
            .iter()
            .map(|n| n.trim().to_string())
            .filter(|n| !n.is_empty())
            .collect();
        if names.is_empty() {
            return default;
        }
        let everything = names.iter().any(|n| n == "*all" || n == "*navigable");
        let excluded: Vec<String> = names
            .iter()
            .filter_map(|n| n.strip_prefix('-').map(str::to_string))
            .collect();
        if everything {
            return if excluded.is_empty() {
                FieldSelection::All
            } else {
                FieldSelection::AllBut(excluded)
            };
        }
        FieldSelection::Only(names.into_iter().filter(|n| !n.starts_with('-')).collect())
    }

    pub fn includes(&self, field: &str) -> bool {
        match self {
            FieldSelection::All => true,
            FieldSelection::AllBut(out) => !out.iter().any(|f| f == field),
            FieldSelection::Only(names) => names.iter().any(|f| f == field),
        }
    }

    /// A search that names no fields (or only `id`) gets ids only, as `/search/jql` answers by default.
    pub fn ids_only(&self) -> bool {
        match self {
            FieldSelection::Only(names) => names.iter().all(|n| n == "id"),
            _ => false,
        }
    }
}

// ---- ADF ----

/// Whether `value` is an ADF document (`{"type":"doc","version":1,"content":[…]}`).
pub fn is_adf(value: &Value) -> bool {
    value["type"] == "doc" && value["version"] == 1 && value["content"].is_array()
}

/// The text of an ADF document: text nodes, paragraphs and other blocks on their own lines.
pub fn adf_text(value: &Value) -> String {
    fn walk(node: &Value, out: &mut String) {
        if let Some(text) = node["text"].as_str() {
            out.push_str(text);
        }
        if node["type"] == "hardBreak" {
            out.push('\n');
        }
        if node["type"] == "mention" {
            out.push_str(node["attrs"]["text"].as_str().unwrap_or(""));
        }
        if let Some(children) = node["content"].as_array() {
            for child in children {
                walk(child, out);
            }
            let block = node["type"]
                .as_str()
                .is_some_and(|t| t != "doc" && !matches!(t, "text" | "hardBreak" | "mention"));
            if block && !out.ends_with('\n') {
                out.push('\n');
            }
        }
    }
    let mut out = String::new();
    walk(value, &mut out);
    out.trim_end().to_string()
}

/// A one-paragraph ADF document.
pub fn adf(text: &str) -> Value {
    json!({
        "type": "doc",
        "version": 1,
        "content": [{ "type": "paragraph", "content": [{ "type": "text", "text": text }] }],
    })
}

// ---- time ----

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// Howard Hinnant's days_from_civil: days since 1970-01-01 of a proleptic Gregorian date.
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}


/// Jira's timestamp format: `2026-12-03T16:45:00.123+0800`, in the given UTC offset.
pub fn format_time(ms: i64, offset_minutes: i32) -> String {
    let local = ms + i64::from(offset_minutes) * 60_000;
    let (days, rem) = (local.div_euclid(86_400_000), local.rem_euclid(86_400_000));
    let (y, m, d) = crate::sim_support::civil_from_days(days);
    let sign = if offset_minutes < 0 { '-' } else { '+' };
    let off = offset_minutes.unsigned_abs();
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}{sign}{:02}{:02}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000,
        off / 60,
        off % 60
    )
}

/// UTC ISO-8601 to the second, as `X-RateLimit-Reset` carries it.
pub fn format_utc_iso(secs: u64) -> String {
    let secs = secs as i64;
    let (y, m, d) = crate::sim_support::civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// "YYYY-MM-DD" as (year, month, day), if it is a real date.
pub fn parse_date(text: &str) -> Option<(i64, i64, i64)> {
    let parts: Vec<&str> = text.split(['-', '/']).collect();
    let [y, m, d] = parts.as_slice() else {
        return None;
    };
    if y.len() != 4 || m.is_empty() || m.len() > 2 || d.is_empty() || d.len() > 2 {
        return None;
    }
    let (y, m, d) = (y.parse().ok()?, m.parse().ok()?, d.parse().ok()?);
    let days_in = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        _ => return None,
    };
    (1..=days_in).contains(&d).then_some((y, m, d))
}

#[cfg(test)]
mod time_tests {
    use super::*;

    #[test]
    fn formats_and_inverts_dates() {
        assert_eq!(format_time(0, 0), "1970-01-01T00:00:00.000+0000");
        assert_eq!(
            format_time(1_700_000_000_123, 480),
            "2023-11-15T06:13:20.123+0800"
        );
        assert_eq!(format_time(0, -330), "1969-12-31T18:30:00.000-0530");
        assert_eq!(format_utc_iso(1_700_000_000), "2023-11-14T22:13:20Z");
        for days in [-1000, 0, 19_000, 20_000, 100_000] {
            let (y, m, d) = crate::sim_support::civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(parse_date("2024-02-29"), Some((2024, 2, 29)));
        assert_eq!(parse_date("2023-02-29"), None);
        assert_eq!(parse_date("2023-13-01"), None);
    }

    #[test]
    fn reads_adf_text() {
        let doc = json!({"type":"doc","version":1,"content":[
            {"type":"paragraph","content":[{"type":"text","text":"one"},{"type":"hardBreak"},{"type":"text","text":"two"}]},
            {"type":"paragraph","content":[{"type":"text","text":"three"}]}]});
        assert_eq!(adf_text(&doc), "one\ntwo\nthree");
        assert!(is_adf(&adf("x")));
        assert!(!is_adf(&json!("x")));
    }
}
