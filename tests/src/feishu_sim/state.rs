//! The simulated tenant: departments and users (each with Feishu's several kinds of id), messages with their
//! recipients, read receipts, recalls and urgent reminders, the approval app's definition, instances and
//! subscriptions, issued tenant and user tokens, SSO codes, plus the test controls (faults, QPS window) and the
//! queue of callbacks to push.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc::UnboundedSender;

use crate::sim_support::{Faults, QpsWindow};

use super::Options;

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with this HTTP status and a non-JSON body, as a failing gateway would.
    Status(u16),
    /// Answer only after this long (longer than the caller's timeout, for a timeout).
    Delay(Duration),
    /// HTTP 429, code 99991400, with the `x-ogw-ratelimit-*` headers.
    RateLimit,
    /// The request's tenant token is forgotten, so the call answers 99991663 (as after an app secret reset).
    RevokeToken,
    /// HTTP 400, code 99991672: the app lacks this scope (a configuration error, not retryable).
    MissingScope(String),
    /// HTTP 500 with a JSON error body: a server-side failure worth a retry.
    Internal,
    /// The request is carried out, but the answer comes only after this long: the caller times out not knowing
    /// that it worked (the case that sends twice unless the platform de-duplicates).
    LateAnswer(Duration),
}

/// A department. The map key and `department_id` are the tenant's custom id; `open_department_id` is the
/// per-app id Feishu uses by default. The root is "0" in both.
#[derive(Clone, Debug)]
pub struct Dept {
    pub department_id: String,
    pub open_department_id: String,
    pub name: String,
    /// The parent's custom id ("0" for the root's children; empty for the root).
    pub parent: String,
    pub order: i64,
    /// The leader's `user_id`, if any.
    pub leader: Option<String>,
}

#[derive(Clone, Debug)]
pub struct User {
    /// The tenant-wide custom id (`user_id`); the map key.
    pub user_id: String,
    /// Per app: "ou_" and 32 hex digits.
    pub open_id: String,
    /// Per developer: "on_" and 32 hex digits.
    pub union_id: String,
    pub name: String,
    pub mobile: String,
    pub email: String,
    /// Custom department ids.
    pub department_ids: Vec<String>,
    pub job_title: String,
    pub employee_no: String,
    /// The leader's `user_id`, if any.
    pub leader: Option<String>,
    pub is_activated: bool,
    pub is_frozen: bool,
    pub is_resigned: bool,
}

/// An ordinary user group (用户组, `type` 1): its id (what the member paths take), name and user members.
#[derive(Clone, Debug)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub description: String,
    /// Members' `user_id`s.
    pub members: BTreeSet<String>,
}

/// An urgent reminder (加急) on a message: `kind` is "app", "sms" or "phone".
#[derive(Clone, Debug)]
pub struct Urgent {
    pub kind: String,
    pub user_ids: Vec<String>,
}

/// A message as `im/v1/messages` or `message/v4/batch_send` accepted it.
#[derive(Clone, Debug)]
pub struct Message {
    /// "om_…" for single messages, "bm_…" for batch sends.
    pub message_id: String,
    pub chat_id: String,
    pub msg_type: String,
    /// The content as sent: a JSON string for `im/v1`, the `content` (or `card`) object for batch sends.
    pub content: Value,
    /// The idempotency key, if the sender gave one.
    pub uuid: Option<String>,
    /// Recipients' `user_id`s.
    pub recipients: Vec<String>,
    /// `user_id` → read time (Unix ms).
    pub read: BTreeMap<String, u64>,
    pub recalled: bool,
    pub urgent: Vec<Urgent>,
    pub sent_at: SystemTime,
    pub create_time: u64,
}

impl Message {
    pub fn is_batch(&self) -> bool {
        self.message_id.starts_with("bm_")
    }
}

/// A form widget of an approval definition.
#[derive(Clone, Debug)]
pub struct Widget {
    pub id: String,
    /// "input", "number", "textarea", "date", …
    pub kind: String,
    pub name: String,
    pub required: bool,
}

/// An approval definition (审批定义), known by its code.
#[derive(Clone, Debug)]
pub struct Definition {
    pub code: String,
    pub name: String,
    pub widgets: Vec<Widget>,
    /// The admin-configured flow: one node per approver, one after another (`user_id`s).
    pub approvers: Vec<String>,
}

#[derive(Clone, Debug)]
pub struct Task {
    pub id: String,
    pub user_id: String,
    /// PENDING, APPROVED, REJECTED, TRANSFERRED or DONE.
    pub status: String,
    pub node_name: String,
    /// Unix ms; `end_time` 0 while pending.
    pub start_time: u64,
    pub end_time: u64,
}

#[derive(Clone, Debug)]
pub struct Comment {
    pub id: String,
    pub user_id: String,
    pub comment: String,
    pub create_time: u64,
}

#[derive(Clone, Debug)]
pub struct Instance {
    pub instance_code: String,
    pub approval_code: String,
    pub serial_number: String,
    /// PENDING, APPROVED, REJECTED, CANCELED or DELETED.
    pub status: String,
    /// The applicant's `user_id`.
    pub user_id: String,
    /// The applicant's department (custom id).
    pub department_id: String,
    pub start_time: u64,
    pub end_time: u64,
    /// The form as submitted: a JSON string of `[{id, type, value}]`.
    pub form: String,
    /// The approvers still to act after the current task, in order (`user_id`s).
    pub remaining: Vec<String>,
    pub tasks: Vec<Task>,
    pub comments: Vec<Comment>,
    pub timeline: Vec<Value>,
    pub uuid: Option<String>,
    /// Reminders sent with `instances/remind`: (who reminded, `user_id`; task ids; comment).
    pub reminders: Vec<(String, Vec<String>, String)>,
}

pub struct State {
    pub options: Options,
    pub depts: BTreeMap<String, Dept>,
    pub users: BTreeMap<String, User>,
    /// User groups by id.
    pub groups: BTreeMap<String, Group>,
    /// Group chats: chat_id → member `user_id`s.
    pub chats: BTreeMap<String, Vec<String>>,
    /// Group chats' names, owners and create uuids (chats.rs).
    pub chat_info: BTreeMap<String, super::chats::ChatInfo>,
    /// Task v2: tasks, comments, the event subscription (tasks.rs).
    pub todo: super::tasks::Tasks,
    /// In send order, single and batch messages alike.
    pub messages: Vec<Message>,
    pub definitions: BTreeMap<String, Definition>,
    pub instances: BTreeMap<String, Instance>,
    /// Approval codes subscribed with `approvals/:code/subscribe`: only these push events.
    pub subscriptions: BTreeSet<String>,
    /// Tenant token → expiry. Expired tokens stay, so they keep answering 99991663.
    pub tokens: HashMap<String, Instant>,
    /// User token → (`user_id`, expiry).
    pub user_tokens: HashMap<String, (String, Instant)>,
    /// Refresh token → `user_id`; each works once.
    pub refresh_tokens: HashMap<String, String>,
    /// SSO codes → `user_id`; each works once.
    pub codes: HashMap<String, String>,
    /// `client_token` of a create → the department's or user's custom id.
    pub client_tokens: HashMap<String, String>,
    pub faults: Faults<Fault>,
    /// Paths of every request received, in order.
    pub requests: Vec<String>,
    /// Per API path: start of the current one-second window and requests in it.
    pub qps_window: QpsWindow,
    /// Callbacks pushed by the simulator: the plaintext event and whether the receiver answered 200.
    pub pushed: Vec<(Value, bool)>,
    /// Callbacks waiting to be pushed, in order, by the simulator's one pusher task: (URL, plaintext event).
    pub(super) outbox: Option<UnboundedSender<(String, Value)>>,
    /// The long connection: events go there when no callback URL is set and a client has connected.
    pub gateway: super::gateway::Gateway,
    next_id: u64,
}

/// 32 lowercase hex digits derived from `seed`: ids are stable across runs, so tests can spell them.
pub fn hex_id(seed: &str) -> String {
    Sha256::digest(seed.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl State {
    pub fn new(options: Options) -> State {
        let mut state = State {
            options,
            depts: BTreeMap::new(),
            users: BTreeMap::new(),
            groups: BTreeMap::new(),
            chats: BTreeMap::new(),
            chat_info: BTreeMap::new(),
            todo: Default::default(),
            messages: Vec::new(),
            definitions: BTreeMap::new(),
            instances: BTreeMap::new(),
            subscriptions: BTreeSet::new(),
            tokens: HashMap::new(),
            user_tokens: HashMap::new(),
            refresh_tokens: HashMap::new(),
            codes: HashMap::new(),
            client_tokens: HashMap::new(),
            faults: Faults::default(),
            requests: Vec::new(),
            qps_window: QpsWindow::default(),
            pushed: Vec::new(),
            outbox: None,
            gateway: Default::default(),
            next_id: 100,
        };
        state.depts.insert(
            "0".into(),
            Dept {
                department_id: "0".into(),
                open_department_id: "0".into(),
                name: "Qiao Feishu Demo".into(),
                parent: String::new(),
                order: 0,
                leader: None,
            },
        );
        for (id, name, order) in [("eng", "Engineering", 1000), ("sales", "Sales", 2000)] {
            state.add_dept(id, name, "0", order);
        }
        for (user_id, name, mobile, dept) in [
            ("manager1", "Wang Fang", "+8613800000001", "eng"),
            ("alice", "Li Na", "+8613800000002", "eng"),
            ("bob", "Zhang Wei", "+8613800000003", "sales"),
        ] {
            state.add_user(user_id, name, mobile, vec![dept.into()]);
        }
        state.users.get_mut("manager1").unwrap().job_title = "Engineering Manager".into();
        state.depts.get_mut("eng").unwrap().leader = Some("manager1".into());
        for user_id in ["alice", "bob"] {
            state.users.get_mut(user_id).unwrap().leader = Some("manager1".into());
        }
        let chat = format!("oc_{}", hex_id("chat:eng"));
        state
            .chats
            .insert(chat.clone(), vec!["manager1".into(), "alice".into()]);
        state.chat_info.insert(
            chat,
            super::chats::ChatInfo {
                name: "Engineering".into(),
                description: String::new(),
                owner: "manager1".into(),
                chat_type: "private".into(),
                uuid: None,
            },
        );
        let widget = |id: &str, kind: &str, name: &str| Widget {
            id: id.into(),
            kind: kind.into(),
            name: name.into(),
            required: true,
        };
        state.definitions.insert(
            "APPROVAL-LEAVE".into(),
            Definition {
                code: "APPROVAL-LEAVE".into(),
                name: "请假".into(),
                widgets: vec![
                    widget("widget_reason", "input", "Reason"),
                    widget("widget_days", "number", "Days"),
                ],
                approvers: vec!["manager1".into()],
            },
        );
        state
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn add_dept(&mut self, department_id: &str, name: &str, parent: &str, order: i64) {
        self.depts.insert(
            department_id.into(),
            Dept {
                department_id: department_id.into(),
                open_department_id: format!("od-{}", hex_id(&format!("dept:{department_id}"))),
                name: name.into(),
                parent: parent.into(),
                order,
                leader: None,
            },
        );
    }

    pub fn add_user(
        &mut self,
        user_id: &str,
        name: &str,
        mobile: &str,
        department_ids: Vec<String>,
    ) {
        self.users.insert(
            user_id.into(),
            User {
                user_id: user_id.into(),
                open_id: format!(
                    "ou_{}",
                    hex_id(&format!("open:{}:{user_id}", self.options.app_id))
                ),
                union_id: format!("on_{}", hex_id(&format!("union:{user_id}"))),
                name: name.into(),
                mobile: mobile.into(),
                email: format!("{user_id}@example.com"),
                department_ids,
                job_title: String::new(),
                employee_no: String::new(),
                leader: None,
                is_activated: true,
                is_frozen: false,
                is_resigned: false,
            },
        );
    }

    /// The user an id of this type names (`open_id` when the type is empty, as Feishu defaults).
    pub fn find_user(&self, id: &str, id_type: &str) -> Option<&User> {
        match id_type {
            "user_id" => self.users.get(id),
            "union_id" => self.users.values().find(|u| u.union_id == id),
            "" | "open_id" => self.users.values().find(|u| u.open_id == id),
            _ => None,
        }
    }

    /// The id of this type for a `user_id`; the `user_id` itself when the user is unknown.
    pub fn user_ref(&self, user_id: &str, id_type: &str) -> String {
        match (self.users.get(user_id), id_type) {
            (Some(u), "" | "open_id") => u.open_id.clone(),
            (Some(u), "union_id") => u.union_id.clone(),
            _ => user_id.to_string(),
        }
    }

    /// The custom id of the department an id of this type names (`open_department_id` by default; "0" is the
    /// root in both).
    pub fn find_dept(&self, id: &str, id_type: &str) -> Option<String> {
        match id_type {
            "department_id" => self.depts.contains_key(id).then(|| id.to_string()),
            "" | "open_department_id" => self
                .depts
                .values()
                .find(|d| d.open_department_id == id)
                .map(|d| d.department_id.clone()),
            _ => None,
        }
    }

    pub fn dept_ref(&self, department_id: &str, id_type: &str) -> String {
        match (self.depts.get(department_id), id_type) {
            (Some(d), "" | "open_department_id") => d.open_department_id.clone(),
            _ => department_id.to_string(),
        }
    }

    /// A one-time OAuth code for the user, as Feishu's authorize page hands the browser.
    pub fn code_for(&mut self, user_id: &str) -> String {
        let code = format!("sim-code-{}", hex_id(&format!("code:{}", self.next_id())));
        self.codes.insert(code.clone(), user_id.into());
        code
    }

    /// Feishu's rule: the same tenant token while more than `refresh_window` of it remains, else a new one (the
    /// old one stays valid until it expires). Returns the token and its remaining lifetime.
    pub fn issue_token(&mut self) -> (String, Duration) {
        let now = Instant::now();
        let window = self.options.refresh_window;
        let current = self
            .tokens
            .iter()
            .filter(|(_, expiry)| **expiry > now + window)
            .max_by_key(|(_, expiry)| **expiry);
        if let Some((token, expiry)) = current {
            return (token.clone(), *expiry - now);
        }
        let token = format!("t-sim{}", hex_id(&format!("tenant:{}", self.next_id())));
        let ttl = self.options.token_ttl;
        self.tokens.insert(token.clone(), now + ttl);
        (token, ttl)
    }

    pub fn token_valid(&self, token: &str) -> bool {
        self.tokens.get(token).is_some_and(|e| *e > Instant::now())
    }

    /// The `user_id` a valid user token belongs to.
    pub fn user_of_token(&self, token: &str) -> Option<String> {
        self.user_tokens
            .get(token)
            .filter(|(_, expiry)| *expiry > Instant::now())
            .map(|(user, _)| user.clone())
    }

    /// Takes the fault due for `path`, if any.
    pub fn take_fault(&mut self, path: &str) -> Option<Fault> {
        self.faults.take(path)
    }

    /// Counts a request against its path's one-second window: `Err(seconds to wait)` when over the limit.
    pub fn within_qps(&mut self, path: &str) -> Result<(), u64> {
        if self.qps_window.admit(path, self.options.qps) {
            Ok(())
        } else {
            Err(1)
        }
    }

    /// The department's children (`recursive`: all descendants, parents before children), in order. One pass
    /// over the departments, however deep the tree.
    pub fn children(&self, parent: &str, recursive: bool) -> Vec<String> {
        let mut below: HashMap<&str, Vec<&Dept>> = HashMap::new();
        for dept in self.depts.values().filter(|d| d.department_id != "0") {
            below.entry(dept.parent.as_str()).or_default().push(dept);
        }
        let direct = |p: &str| -> Vec<String> {
            let mut depts = below.get(p).cloned().unwrap_or_default();
            depts.sort_by(|a, b| (a.order, &a.department_id).cmp(&(b.order, &b.department_id)));
            depts.into_iter().map(|d| d.department_id.clone()).collect()
        };
        let mut out = direct(parent);
        if recursive {
            let mut i = 0;
            while i < out.len() {
                let more = direct(&out[i]);
                out.extend(more);
                i += 1;
            }
        }
        out
    }

    /// Members per department (custom id), counted in one pass over the users.
    pub fn member_counts(&self) -> HashMap<&str, usize> {
        let mut counts = HashMap::new();
        for user in self.users.values() {
            for dept in &user.department_ids {
                *counts.entry(dept.as_str()).or_insert(0) += 1;
            }
        }
        counts
    }

    /// An ordinary user group made in the admin console, with these members (`user_id`s).
    pub fn add_group(&mut self, id: &str, name: &str, members: &[&str]) {
        self.groups.insert(
            id.into(),
            Group {
                id: id.into(),
                name: name.into(),
                description: String::new(),
                members: members.iter().map(|m| m.to_string()).collect(),
            },
        );
    }

    /// The user group with this name (names are unique in a tenant).
    pub fn group_named(&self, name: &str) -> Option<&Group> {
        self.groups.values().find(|g| g.name == name)
    }

    pub fn dept_json(&self, dept: &Dept, user_id_type: &str, dept_id_type: &str) -> Value {
        let members = self
            .users
            .values()
            .filter(|u| u.department_ids.contains(&dept.department_id))
            .count();
        self.dept_json_counted(dept, user_id_type, dept_id_type, members)
    }

    /// [`State::dept_json`] with the member count given (from [`State::member_counts`], for lists).
    pub fn dept_json_counted(
        &self,
        dept: &Dept,
        user_id_type: &str,
        dept_id_type: &str,
        members: usize,
    ) -> Value {
        let parent = if dept.department_id == "0" {
            String::new()
        } else {
            self.dept_ref(&dept.parent, dept_id_type)
        };
        let leader = dept
            .leader
            .as_deref()
            .map(|l| self.user_ref(l, user_id_type))
            .unwrap_or_default();
        json!({
            "name": dept.name,
            "i18n_name": { "zh_cn": dept.name, "en_us": dept.name, "ja_jp": "" },
            "parent_department_id": parent,
            "department_id": dept.department_id,
            "open_department_id": dept.open_department_id,
            "leader_user_id": leader,
            "chat_id": "",
            // Feishu sends `order` as a decimal string.
            "order": dept.order.to_string(),
            "member_count": members,
            "primary_member_count": members,
            "status": { "is_deleted": false },
        })
    }

    pub fn user_json(&self, user: &User, user_id_type: &str, dept_id_type: &str) -> Value {
        let departments: Vec<String> = user
            .department_ids
            .iter()
            .map(|d| self.dept_ref(d, dept_id_type))
            .collect();
        let leader = user
            .leader
            .as_deref()
            .map(|l| self.user_ref(l, user_id_type))
            .unwrap_or_default();
        json!({
            "union_id": user.union_id,
            "user_id": user.user_id,
            "open_id": user.open_id,
            "name": user.name,
            "en_name": "",
            "email": user.email,
            "mobile": user.mobile,
            "mobile_visible": true,
            "gender": 0,
            "avatar": { "avatar_72": format!("https://s1-imfile.feishucdn.com/sim/{}_72.png", user.user_id) },
            "status": {
                "is_frozen": user.is_frozen, "is_resigned": user.is_resigned, "is_activated": user.is_activated,
                "is_exited": false, "is_unjoin": !user.is_activated,
            },
            "department_ids": departments,
            "leader_user_id": leader,
            "city": "",
            "country": "",
            "job_title": user.job_title,
            "employee_no": user.employee_no,
            "employee_type": 1,
            "is_tenant_manager": false,
            "orders": user.department_ids.iter().map(|d| json!({
                "department_id": self.dept_ref(d, dept_id_type), "user_order": 0, "department_order": 0,
                "is_primary_dept": Some(d) == user.department_ids.first(),
            })).collect::<Vec<_>>(),
        })
    }

    /// The user marks the message read (as opening it in the Feishu app does). False when the message is unknown
    /// or the user is not one of its recipients.
    pub fn mark_read(&mut self, message_id: &str, user_id: &str) -> bool {
        match self
            .messages
            .iter_mut()
            .find(|m| m.message_id == message_id)
        {
            Some(m) if m.recipients.iter().any(|r| r == user_id) => {
                m.read.entry(user_id.into()).or_insert_with(now_ms);
                true
            }
            _ => false,
        }
    }

    pub fn message(&self, message_id: &str) -> Option<&Message> {
        self.messages.iter().find(|m| m.message_id == message_id)
    }

    /// `GET approval/v4/instances/:code`'s `data`. Task and comment users carry both `user_id` and `open_id`.
    pub fn instance_json(&self, instance: &Instance) -> Value {
        let name = self
            .definitions
            .get(&instance.approval_code)
            .map(|d| d.name.clone())
            .unwrap_or_default();
        let open = |u: &str| self.user_ref(u, "open_id");
        json!({
            "approval_code": instance.approval_code,
            "approval_name": name,
            "instance_code": instance.instance_code,
            "serial_number": instance.serial_number,
            "status": instance.status,
            "user_id": instance.user_id,
            "open_id": open(&instance.user_id),
            "department_id": instance.department_id,
            "start_time": instance.start_time.to_string(),
            "end_time": instance.end_time.to_string(),
            "form": instance.form,
            "uuid": instance.uuid.clone().unwrap_or_default(),
            "reverted": false,
            "task_list": instance.tasks.iter().map(|t| json!({
                "id": t.id, "user_id": t.user_id, "open_id": open(&t.user_id), "status": t.status,
                "node_id": format!("node-{}", hex_id(&t.node_name)), "node_name": t.node_name,
                "custom_node_id": "", "type": "AND",
                "start_time": t.start_time.to_string(), "end_time": t.end_time.to_string(),
            })).collect::<Vec<_>>(),
            "comment_list": instance.comments.iter().map(|c| json!({
                "id": c.id, "user_id": c.user_id, "open_id": open(&c.user_id), "comment": c.comment,
                "create_time": c.create_time.to_string(), "files": [],
            })).collect::<Vec<_>>(),
            "timeline": instance.timeline,
        })
    }

    /// Files an instance; its first approver's task is pending. Pushes `approval_instance` PENDING and
    /// `approval_task` PENDING when the approval code is subscribed.
    pub fn create_instance(
        &mut self,
        approval_code: &str,
        user_id: &str,
        department_id: &str,
        form: String,
        approvers: Vec<String>,
        uuid: Option<String>,
    ) -> String {
        let now = now_ms();
        let n = self.next_id();
        let hex = hex_id(&format!("instance:{n}")).to_uppercase();
        // Feishu's instance codes look like upper-case UUIDs.
        let instance_code = format!(
            "{}-{}-{}-{}-{}",
            &hex[..8],
            &hex[8..12],
            &hex[12..16],
            &hex[16..20],
            &hex[20..32]
        );
        let serial_number = format!("{}{:04}", yyyymmdd(now / 1000), self.instances.len() + 1);
        let mut instance = Instance {
            instance_code: instance_code.clone(),
            approval_code: approval_code.into(),
            serial_number,
            status: "PENDING".into(),
            user_id: user_id.into(),
            department_id: department_id.into(),
            start_time: now,
            end_time: 0,
            form,
            remaining: approvers,
            tasks: Vec::new(),
            comments: Vec::new(),
            timeline: vec![json!({
                "type": "START", "create_time": now.to_string(), "user_id": user_id,
                "open_id": self.user_ref(user_id, "open_id"), "ext": "{}",
            })],
            uuid,
            reminders: Vec::new(),
        };
        let mut events = vec![self.instance_event(&instance)];
        events.extend(self.next_task(&mut instance));
        self.instances.insert(instance_code.clone(), instance);
        self.push_approval(approval_code, events);
        instance_code
    }

    /// Opens the next approver's task, or approves the instance when none is left; returns the events.
    fn next_task(&mut self, instance: &mut Instance) -> Vec<Value> {
        let now = now_ms();
        if instance.remaining.is_empty() {
            instance.status = "APPROVED".into();
            instance.end_time = now;
            return vec![self.instance_event(instance)];
        }
        let user_id = instance.remaining.remove(0);
        let n = self.next_id();
        let task = Task {
            id: format!("{}", 7_000_000_000_000_000_000u64 + n),
            user_id,
            status: "PENDING".into(),
            node_name: format!("审批 {}", instance.tasks.len() + 1),
            start_time: now,
            end_time: 0,
        };
        let event = self.task_event(instance, &task);
        instance.tasks.push(task);
        vec![event]
    }

    /// The pending task's approver approves or rejects (`comment` optional). The caller has checked who may.
    pub fn decide(
        &mut self,
        instance_code: &str,
        task_id: &str,
        approve: bool,
        comment: &str,
    ) -> Result<(), String> {
        let mut instance = self
            .instances
            .get(instance_code)
            .cloned()
            .ok_or_else(|| format!("instance {instance_code} does not exist"))?;
        if instance.status != "PENDING" {
            return Err(format!(
                "instance {instance_code} is {}, not PENDING",
                instance.status
            ));
        }
        let now = now_ms();
        let index = instance
            .tasks
            .iter()
            .position(|t| t.id == task_id && t.status == "PENDING")
            .ok_or_else(|| format!("task {task_id} is not a pending task of {instance_code}"))?;
        let status = if approve { "APPROVED" } else { "REJECTED" };
        let task = &mut instance.tasks[index];
        task.status = status.into();
        task.end_time = now;
        let (user_id, task) = (task.user_id.clone(), task.clone());
        if !comment.is_empty() {
            let id = format!("{}", 7_100_000_000_000_000_000u64 + self.next_id());
            instance.comments.push(Comment {
                id,
                user_id: user_id.clone(),
                comment: comment.into(),
                create_time: now,
            });
        }
        instance.timeline.push(json!({
            "type": if approve { "PASS" } else { "REJECT" }, "create_time": now.to_string(),
            "user_id": user_id, "open_id": self.user_ref(&user_id, "open_id"), "task_id": task_id,
            "comment": comment, "ext": "{}",
        }));
        let mut events = vec![self.task_event(&instance, &task)];
        if approve {
            events.extend(self.next_task(&mut instance));
        } else {
            instance.status = "REJECTED".into();
            instance.end_time = now;
            events.push(self.instance_event(&instance));
        }
        let code = instance.approval_code.clone();
        self.instances.insert(instance_code.into(), instance);
        self.push_approval(&code, events);
        Ok(())
    }

    /// The current approver acts, as in the Feishu app.
    pub fn advance(&mut self, instance_code: &str, approve: bool) -> Result<(), String> {
        let task = self
            .instances
            .get(instance_code)
            .ok_or_else(|| format!("instance {instance_code} does not exist"))?
            .tasks
            .iter()
            .find(|t| t.status == "PENDING")
            .map(|t| t.id.clone())
            .ok_or_else(|| format!("instance {instance_code} has no pending task"))?;
        let comment = if approve { "同意" } else { "驳回" };
        self.decide(instance_code, &task, approve, comment)
    }

    /// The applicant withdraws a pending instance; its open tasks end as DONE.
    pub fn cancel(&mut self, instance_code: &str) -> Result<(), String> {
        let now = now_ms();
        let instance = self
            .instances
            .get_mut(instance_code)
            .ok_or_else(|| format!("instance {instance_code} does not exist"))?;
        if instance.status != "PENDING" {
            return Err(format!(
                "instance {instance_code} is {}, not PENDING",
                instance.status
            ));
        }
        instance.status = "CANCELED".into();
        instance.end_time = now;
        instance.remaining.clear();
        for task in instance.tasks.iter_mut().filter(|t| t.status == "PENDING") {
            task.status = "DONE".into();
            task.end_time = now;
        }
        let user_id = instance.user_id.clone();
        instance.timeline.push(json!({
            "type": "CANCEL", "create_time": now.to_string(), "user_id": user_id, "ext": "{}",
        }));
        let instance = instance.clone();
        let event = self.instance_event(&instance);
        self.push_approval(&instance.approval_code, vec![event]);
        Ok(())
    }

    /// A v1 envelope (`{"uuid","token","ts","type":"event_callback","event"}`), as approval events still use.
    pub fn v1_event(&self, event: Value) -> Value {
        let now = now_ms();
        json!({
            "uuid": format!("{:032x}", rand::random::<u128>()),
            "token": self.options.verification_token,
            "ts": format!("{}.{:03}", now / 1000, now % 1000),
            "type": "event_callback",
            "event": event,
        })
    }

    /// A v2 envelope (`{"schema":"2.0","header":{…},"event":…}`).
    pub fn v2_event(&self, event_type: &str, event: Value) -> Value {
        json!({
            "schema": "2.0",
            "header": {
                "event_id": format!("{:032x}", rand::random::<u128>()),
                "event_type": event_type,
                "create_time": now_ms().to_string(),
                "token": self.options.verification_token,
                "app_id": self.options.app_id,
                "tenant_key": self.options.tenant_key,
            },
            "event": event,
        })
    }

    /// A contact event such as `contact.user.created_v3` or `contact.department.deleted_v3`, with `object` as
    /// its `event.object` (for a user, e.g. [`State::user_json`]).
    pub fn contact_event(&self, event_type: &str, object: Value) -> Value {
        self.v2_event(event_type, json!({ "object": object }))
    }

    /// `im.message.message_read_v1`: the reader (by open_id) has read these messages.
    pub fn message_read_event(&self, reader_open_id: &str, message_ids: Vec<String>) -> Value {
        let reader = self.users.values().find(|u| u.open_id == reader_open_id);
        self.v2_event(
            "im.message.message_read_v1",
            json!({
                "reader": {
                    "reader_id": {
                        "open_id": reader_open_id,
                        "union_id": reader.map(|u| u.union_id.clone()).unwrap_or_default(),
                        "user_id": reader.map(|u| u.user_id.clone()).unwrap_or_default(),
                    },
                    "read_time": now_ms().to_string(),
                    "tenant_key": self.options.tenant_key,
                },
                "message_id_list": message_ids,
            }),
        )
    }

    fn instance_event(&self, instance: &Instance) -> Value {
        let now = now_ms().to_string();
        self.v1_event(json!({
            "app_id": self.options.app_id,
            "tenant_key": self.options.tenant_key,
            "type": "approval_instance",
            "approval_code": instance.approval_code,
            "instance_code": instance.instance_code,
            "status": instance.status,
            "operate_time": now,
            "instance_operate_time": now,
            "uuid": format!("{:08x}", rand::random::<u32>()),
        }))
    }

    fn task_event(&self, instance: &Instance, task: &Task) -> Value {
        self.v1_event(json!({
            "app_id": self.options.app_id,
            "tenant_key": self.options.tenant_key,
            "type": "approval_task",
            "approval_code": instance.approval_code,
            "instance_code": instance.instance_code,
            "task_id": task.id,
            "user_id": task.user_id,
            "open_id": self.user_ref(&task.user_id, "open_id"),
            "status": task.status,
            "operate_time": now_ms().to_string(),
        }))
    }

    /// Approval events go out only for subscribed approval codes: Feishu's rule.
    fn push_approval(&mut self, approval_code: &str, events: Vec<Value>) {
        if self.subscriptions.contains(approval_code) {
            for event in events {
                self.push(event);
            }
        }
    }

    /// Queues a callback for the configured URL; with none, sends it over the long connection if the app uses
    /// one (else nothing is pushed or recorded).
    pub fn push(&mut self, event: Value) {
        if let (Some(url), Some(outbox)) = (&self.options.callback_url, &self.outbox) {
            outbox.send((url.clone(), event)).ok();
        } else if self.options.callback_url.is_none() && self.gateway.streaming() {
            self.gateway.push_event(event);
        }
    }
}

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// The UTC+8 calendar date of a Unix time as a number like 20261123 (the start of the serial numbers).
fn yyyymmdd(secs: u64) -> u64 {
    let (year, month, day) = crate::sim_support::civil_from_days(((secs + 8 * 3600) / 86_400) as i64);
    (year * 10_000 + month * 100 + day) as u64
}
