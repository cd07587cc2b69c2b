//! The simulated corporation: departments, members, application messages, the approval app's template and
//! applications, issued tokens, SSO codes and user tickets, plus the test controls (faults, QPS window) and the
//! queue of callbacks to push.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedSender;

use crate::sim_support::{Faults, QpsWindow};

use super::Options;

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with this HTTP status and a non-JSON body, as a failing gateway would.
    Status(u16),
    /// Answer only after this long (longer than the caller's timeout, for a timeout).
    Delay(Duration),
    /// errcode -1, system busy: WeCom asks for a retry.
    Busy,
    /// errcode 45009, the per-API frequency limit.
    RateLimit,
    /// errcode 45033, too many concurrent calls to the API.
    Concurrency,
    /// The request's token is forgotten and the call answered 42001 (WeCom may invalidate tokens early).
    RevokeToken,
    /// errcode 60020, the caller's IP is not in the app's trusted-IP list (a configuration error, not retryable).
    IpNotTrusted,
}

#[derive(Clone, Debug)]
pub struct Dept {
    pub id: i64,
    pub name: String,
    pub name_en: String,
    pub parent_id: i64,
    pub order: i64,
}

#[derive(Clone, Debug)]
pub struct User {
    pub userid: String,
    pub name: String,
    pub mobile: String,
    pub email: String,
    /// Departments, with `order` and `is_leader_in_dept` parallel to it (as WeCom's arrays are).
    pub department: Vec<i64>,
    pub order: Vec<i64>,
    pub is_leader_in_dept: Vec<i64>,
    pub main_department: i64,
    pub position: String,
    /// "0" unknown, "1" male, "2" female: WeCom sends a string.
    pub gender: String,
    pub direct_leader: Vec<String>,
    /// 1 active, 2 disabled (`enable` 0), 4 not activated (invited, not joined yet), 5 quit. `enable` is
    /// answered from it: 0 when disabled, else 1.
    pub status: i64,
    pub avatar: String,
    /// Custom fields (`extattr`, text type) by name, in the order first set; only fields defined in the admin
    /// console ([`Options::custom_fields`](super::Options)) are kept.
    pub extattr: Vec<(String, String)>,
}

impl User {
    /// `enable`: 0 for a disabled member, else 1.
    pub fn enable(&self) -> i64 {
        i64::from(self.status != 2)
    }

    /// The text of the custom field `name`, if set.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.extattr
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A tag (标签): members named one by one and whole departments.
#[derive(Clone, Debug)]
pub struct Tag {
    pub id: i64,
    pub name: String,
    /// In the order added.
    pub users: Vec<String>,
    pub parties: Vec<i64>,
}

/// An application message as `message/send` accepted it.
#[derive(Clone, Debug)]
pub struct Message {
    pub msgid: String,
    /// The request body, verbatim (also what duplicate checking compares).
    pub body: Value,
    /// Members it was delivered to.
    pub users: Vec<String>,
    pub invalid_users: Vec<String>,
    pub invalid_parties: Vec<String>,
    pub invalid_tags: Vec<String>,
    pub sent_at: SystemTime,
    pub recalled: bool,
    /// Later sends with the same body that duplicate checking suppressed.
    pub duplicates: u32,
}

/// An app group chat (群聊会话, `appchat/*`).
#[derive(Clone, Debug)]
pub struct Chat {
    pub chatid: String,
    pub name: String,
    pub owner: String,
    /// In the order they joined; the owner among them.
    pub userlist: Vec<String>,
    /// Made by the simulated app: WeCom lets an app read, change and send to its own chats only (86008).
    pub by_app: bool,
    /// Unix seconds.
    pub created: u64,
}

/// A to-do (待办). WeCom's server API only reads and updates them; they are made in the client (the JS-SDK's
/// `ww.createTodo`), which a test plays with [`State::create_todo`].
#[derive(Clone, Debug)]
pub struct Todo {
    pub todo_id: String,
    pub content: String,
    pub creator: String,
    /// 0 done, 1 in progress.
    pub status: i64,
    /// Unix seconds.
    pub create_time: u64,
    /// (userid, status: 0 done, 1 in progress), in order.
    pub attendees: Vec<(String, i64)>,
    /// Unix seconds; 0 for none.
    pub end_time: u64,
    /// Unix seconds.
    pub reminders: Vec<u64>,
    /// Made from the simulated app's page: `todo/*` answers only for those.
    pub by_app: bool,
}

/// A form control of an approval template: (control type, id, title).
#[derive(Clone, Debug)]
pub struct Control {
    pub control: String,
    pub id: String,
    pub title: String,
    pub required: bool,
}

#[derive(Clone, Debug)]
pub struct Template {
    pub id: String,
    pub name: String,
    pub controls: Vec<Control>,
    /// The admin-configured flow, used when `use_template_approver` is 1: one approver per node.
    pub approvers: Vec<String>,
}

/// One approval node (`sp_record` entry).
#[derive(Clone, Debug)]
pub struct Node {
    /// 1 或签 (any one approver decides), 2 会签 (every approver must agree).
    pub attr: i64,
    /// 1 pending, 2 approved, 3 rejected.
    pub status: i64,
    pub details: Vec<Detail>,
}

#[derive(Clone, Debug)]
pub struct Detail {
    pub userid: String,
    pub speech: String,
    /// 1 pending, 2 approved, 3 rejected.
    pub status: i64,
    /// Unix seconds; 0 while the approver has not acted.
    pub time: u64,
}

#[derive(Clone, Debug)]
pub struct Approval {
    pub sp_no: String,
    pub sp_name: String,
    pub template_id: String,
    pub applyer: String,
    pub party: i64,
    pub apply_time: u64,
    /// 1 pending, 2 approved, 3 rejected, 4 canceled.
    pub status: i64,
    pub nodes: Vec<Node>,
    pub notifyer: Vec<String>,
    /// `apply_data.contents` as submitted.
    pub contents: Vec<Value>,
    pub summary: Value,
}

pub struct State {
    pub options: Options,
    pub depts: BTreeMap<i64, Dept>,
    pub users: BTreeMap<String, User>,
    /// In send order.
    pub messages: Vec<Message>,
    /// App group chats by chatid, and what was sent to them (`chat_messages`).
    pub chats: BTreeMap<String, Chat>,
    /// `appchat/create` calls a day WeCom allows an enterprise (1000).
    pub chat_daily_limit: usize,
    /// To-dos by id.
    pub todos: BTreeMap<String, Todo>,
    /// Tags (`tag/*`), also for `totag`.
    pub tags: BTreeMap<i64, Tag>,
    pub chat_messages: Vec<(String, Value)>,
    pub templates: HashMap<String, Template>,
    pub approvals: BTreeMap<String, Approval>,
    /// Token → expiry. Expired tokens stay, so they keep answering 42001 rather than 40014.
    pub tokens: HashMap<String, Instant>,
    /// SSO codes → userid; each works once.
    pub codes: HashMap<String, String>,
    /// user_ticket → userid.
    pub tickets: HashMap<String, String>,
    pub faults: Faults<Fault>,
    /// Paths of every request received, in order.
    pub requests: Vec<String>,
    /// Per API path: start of the current one-second window and requests in it.
    pub qps_window: QpsWindow,
    /// Callbacks pushed by the simulator: the inner XML and whether the receiver answered 200.
    pub pushed: Vec<(String, bool)>,
    /// Callbacks waiting to be pushed, in order, by the simulator's one pusher task: (URL, inner XML).
    pub(super) outbox: Option<UnboundedSender<(String, String)>>,
    next_id: i64,
}

impl State {
    pub fn new(options: Options) -> State {
        let mut state = State {
            options,
            depts: BTreeMap::new(),
            users: BTreeMap::new(),
            messages: Vec::new(),
            chats: BTreeMap::from([(
                "wrchat-eng".into(),
                Chat {
                    chatid: "wrchat-eng".into(),
                    name: "Engineering".into(),
                    owner: "manager1".into(),
                    userlist: vec!["manager1".into(), "alice".into()],
                    by_app: true,
                    created: now_secs(),
                },
            )]),
            chat_daily_limit: 1000,
            todos: BTreeMap::new(),
            chat_messages: Vec::new(),
            tags: BTreeMap::from([(
                1,
                Tag {
                    id: 1,
                    name: "项目组".into(),
                    users: vec!["alice".into(), "bob".into()],
                    parties: Vec::new(),
                },
            )]),
            templates: HashMap::new(),
            approvals: BTreeMap::new(),
            tokens: HashMap::new(),
            codes: HashMap::new(),
            tickets: HashMap::new(),
            faults: Faults::default(),
            requests: Vec::new(),
            qps_window: QpsWindow::default(),
            pushed: Vec::new(),
            outbox: None,
            next_id: 100,
        };
        for (id, name, name_en, parent) in [
            (1, "Qiao WeCom Demo", "Qiao WeCom Demo", 0),
            (2, "Engineering", "Engineering", 1),
            (3, "Sales", "Sales", 1),
        ] {
            state.depts.insert(
                id,
                Dept {
                    id,
                    name: name.into(),
                    name_en: name_en.into(),
                    parent_id: parent,
                    // WeCom sorts larger `order` first; the seed keeps id order.
                    order: 100_000_000 - id * 1000,
                },
            );
        }
        for (userid, name, mobile, dept) in [
            ("manager1", "Wang Fang", "13800000001", 2),
            ("alice", "Li Na", "13800000002", 2),
            ("bob", "Zhang Wei", "13800000003", 3),
        ] {
            state.add_user(userid, name, mobile, vec![dept]);
        }
        let manager = state.users.get_mut("manager1").unwrap();
        manager.is_leader_in_dept = vec![1];
        manager.position = "Engineering Manager".into();
        for userid in ["alice", "bob"] {
            state.users.get_mut(userid).unwrap().direct_leader = vec!["manager1".into()];
        }
        let control = |control: &str, id: &str, title: &str| Control {
            control: control.into(),
            id: id.into(),
            title: title.into(),
            required: true,
        };
        state.templates.insert(
            "tpl-leave".into(),
            Template {
                id: "tpl-leave".into(),
                name: "请假".into(),
                controls: vec![
                    control("Text", "Text-1", "reason"),
                    control("Number", "Number-1", "days"),
                ],
                approvers: vec!["manager1".into()],
            },
        );
        state
    }

    pub fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn add_user(&mut self, userid: &str, name: &str, mobile: &str, department: Vec<i64>) {
        let main_department = department.first().copied().unwrap_or(1);
        self.users.insert(
            userid.into(),
            User {
                userid: userid.into(),
                name: name.into(),
                mobile: mobile.into(),
                email: format!("{userid}@example.com"),
                order: vec![0; department.len()],
                is_leader_in_dept: vec![0; department.len()],
                department,
                main_department,
                position: String::new(),
                gender: "0".into(),
                direct_leader: Vec::new(),
                status: 1,
                avatar: format!("https://wework.qpic.cn/sim/{userid}/0"),
                extattr: Vec::new(),
            },
        );
    }

    /// A to-do as the app's page makes it with the JS-SDK's `ww.createTodo` (`by_app`), or as another app or a
    /// person does (not `by_app`: the app's `todo/*` calls are refused for it): its id.
    pub fn create_todo(
        &mut self,
        creator: &str,
        content: &str,
        attendees: &[&str],
        end_time: u64,
        by_app: bool,
    ) -> String {
        let todo_id = format!("{:032x}", self.next_id() as u128 * 0x9e37_79b9_7f4a_7c15);
        self.todos.insert(
            todo_id.clone(),
            Todo {
                todo_id: todo_id.clone(),
                content: content.into(),
                creator: creator.into(),
                status: 1,
                create_time: now_secs(),
                attendees: attendees.iter().map(|u| (u.to_string(), 1)).collect(),
                end_time,
                reminders: if end_time > 3600 {
                    vec![end_time - 3600]
                } else {
                    vec![]
                },
                by_app,
            },
        );
        todo_id
    }

    /// A one-time OAuth2 code for the member, as the WeCom client or the web QR login hands the browser.
    pub fn code_for(&mut self, userid: &str) -> String {
        let code = format!("sim-code-{:x}", self.next_id() * 104_729);
        self.codes.insert(code.clone(), userid.into());
        code
    }

    /// WeCom returns the same token while it is valid, without extending it; a new one once it has expired.
    pub fn issue_token(&mut self) -> (String, Duration) {
        let now = Instant::now();
        if let Some((token, expiry)) = self.tokens.iter().find(|(_, e)| **e > now) {
            return (token.clone(), *expiry - now);
        }
        let token = format!("sim-wecom-token-{:x}", self.next_id() * 7919);
        let ttl = self.options.token_ttl;
        self.tokens.insert(token.clone(), now + ttl);
        (token, ttl)
    }

    pub fn token_valid(&self, token: &str) -> Result<(), &'static str> {
        match self.tokens.get(token) {
            Some(expiry) if *expiry > Instant::now() => Ok(()),
            Some(_) => Err("expired"),
            None => Err("unknown"),
        }
    }

    /// Takes the fault due for `path`, if any.
    pub fn take_fault(&mut self, path: &str) -> Option<Fault> {
        self.faults.take(path)
    }

    /// Counts a request against its API's per-second window; false when over the limit.
    pub fn within_qps(&mut self, path: &str) -> bool {
        self.qps_window.admit(path, self.options.qps)
    }

    /// The department and every department below it, in id order (one pass over the departments, however deep).
    pub fn subtree(&self, root: i64) -> Vec<i64> {
        let mut children: HashMap<i64, Vec<i64>> = HashMap::new();
        for d in self.depts.values().filter(|d| d.id != d.parent_id) {
            children.entry(d.parent_id).or_default().push(d.id);
        }
        let mut ids = vec![root];
        let mut i = 0;
        while i < ids.len() {
            if let Some(below) = children.get(&ids[i]) {
                ids.extend(below);
            }
            i += 1;
        }
        ids.sort();
        ids
    }

    /// Each department's leaders (`is_leader_in_dept` 1), from one pass over the members.
    pub fn leaders(&self) -> HashMap<i64, Vec<String>> {
        let mut leaders: HashMap<i64, Vec<String>> = HashMap::new();
        for u in self.users.values() {
            for (d, leader) in u.department.iter().zip(&u.is_leader_in_dept) {
                if *leader == 1 {
                    leaders.entry(*d).or_default().push(u.userid.clone());
                }
            }
        }
        leaders
    }

    pub fn dept_json(&self, dept: &Dept) -> Value {
        let leaders = self.leaders();
        self.dept_json_with(dept, &leaders)
    }

    /// [`State::dept_json`] with the leaders worked out once for a whole list.
    pub fn dept_json_with(&self, dept: &Dept, leaders: &HashMap<i64, Vec<String>>) -> Value {
        let leaders = leaders.get(&dept.id).cloned().unwrap_or_default();
        json!({
            "id": dept.id, "name": dept.name, "name_en": dept.name_en, "parentid": dept.parent_id,
            "order": dept.order, "department_leader": leaders,
        })
    }

    /// The members of a tag: those named one by one, then those of its departments (and their subdepartments).
    pub fn tag_users(&self, tag: &Tag) -> Vec<String> {
        let mut users = tag.users.clone();
        if !tag.parties.is_empty() {
            let depts: HashSet<i64> = tag.parties.iter().flat_map(|p| self.subtree(*p)).collect();
            users.extend(
                self.users
                    .values()
                    .filter(|u| u.department.iter().any(|d| depts.contains(d)))
                    .map(|u| u.userid.clone()),
            );
        }
        users
    }

    pub fn user_json(&self, user: &User) -> Value {
        // Custom fields answer both the text form and the older flat `value`.
        let attrs: Vec<Value> = user
            .extattr
            .iter()
            .map(|(name, value)| {
                json!({ "type": 0, "name": name, "value": value, "text": { "value": value } })
            })
            .collect();
        json!({
            "userid": user.userid, "name": user.name, "department": user.department, "order": user.order,
            "position": user.position, "mobile": user.mobile, "gender": user.gender, "email": user.email,
            "biz_mail": "", "is_leader_in_dept": user.is_leader_in_dept, "direct_leader": user.direct_leader,
            "avatar": user.avatar, "thumb_avatar": user.avatar, "telephone": "", "alias": "",
            "address": "", "open_userid": format!("wo-{}", user.userid), "main_department": user.main_department,
            "extattr": { "attrs": attrs }, "status": user.status, "enable": user.enable(), "qr_code": "",
            "external_position": "", "external_profile": { "external_attr": [] },
        })
    }

    pub fn approval_json(&self, approval: &Approval) -> Value {
        let controls = self
            .templates
            .get(&approval.template_id)
            .map(|t| t.controls.clone())
            .unwrap_or_default();
        // getapprovaldetail gives every control's value all the other control types' empty fields too.
        let contents: Vec<Value> = approval
            .contents
            .iter()
            .map(|c| {
                let mut value = json!({
                    "tips": [], "members": [], "departments": [], "files": [], "children": [],
                    "stat_field": [], "sum_field": [], "related_approval": [], "students": [], "classes": [],
                    "docs": [], "wedrive_files": [],
                });
                merge(&mut value, c["value"].clone());
                let title = controls
                    .iter()
                    .find(|k| c["id"] == k.id.as_str())
                    .map(|k| k.title.clone())
                    .unwrap_or_default();
                json!({
                    "control": c["control"], "id": c["id"], "title": [{ "text": title, "lang": "zh_CN" }],
                    "value": value,
                })
            })
            .collect();
        json!({
            "sp_no": approval.sp_no,
            "sp_name": approval.sp_name,
            "sp_status": approval.status,
            "template_id": approval.template_id,
            "apply_time": approval.apply_time,
            "applyer": { "userid": approval.applyer, "partyid": approval.party.to_string() },
            "sp_record": approval.nodes.iter().map(|n| json!({
                "sp_status": n.status,
                "approverattr": n.attr,
                "details": n.details.iter().map(|d| json!({
                    "approver": { "userid": d.userid }, "speech": d.speech, "sp_status": d.status,
                    "sptime": d.time, "media_id": [],
                })).collect::<Vec<_>>(),
            })).collect::<Vec<_>>(),
            "notifyer": approval.notifyer.iter().map(|u| json!({ "userid": u })).collect::<Vec<_>>(),
            "apply_data": { "contents": contents },
            "comments": [],
        })
    }

    /// Files an application; its first node waits on its approvers. Pushes `sys_approval_change` (1, 提单).
    #[allow(clippy::too_many_arguments)]
    pub fn create_approval(
        &mut self,
        template_id: &str,
        applyer: &str,
        party: i64,
        nodes: Vec<Node>,
        notifyer: Vec<String>,
        contents: Vec<Value>,
        summary: Value,
    ) -> String {
        let now = now_secs();
        // WeCom's numbers are the date and a sequence number within it: 202611230001.
        let sp_no = format!("{}{:04}", yyyymmdd(now), self.approvals.len() + 1);
        let approval = Approval {
            sp_no: sp_no.clone(),
            sp_name: self.templates[template_id].name.clone(),
            template_id: template_id.into(),
            applyer: applyer.into(),
            party,
            apply_time: now,
            status: 1,
            nodes,
            notifyer,
            contents,
            summary,
        };
        let xml = self.approval_xml(&approval, 1);
        self.approvals.insert(sp_no.clone(), approval);
        self.push(xml);
        sp_no
    }

    /// The current approver agrees or rejects, as in the WeCom app. Pushes `sys_approval_change` (2 or 3).
    pub fn advance(&mut self, sp_no: &str, approve: bool) -> Result<(), String> {
        let mut approval = self
            .approvals
            .get(sp_no)
            .cloned()
            .ok_or_else(|| format!("no approval {sp_no}"))?;
        if approval.status != 1 {
            return Err(format!(
                "approval {sp_no} is not pending (sp_status {})",
                approval.status
            ));
        }
        let node_index = approval
            .nodes
            .iter()
            .position(|n| n.status == 1)
            .ok_or("no pending node")?;
        let node = &mut approval.nodes[node_index];
        let detail = node
            .details
            .iter_mut()
            .find(|d| d.status == 1)
            .ok_or("no pending approver")?;
        detail.status = if approve { 2 } else { 3 };
        detail.time = now_secs();
        detail.speech = if approve { "同意" } else { "驳回" }.into();
        if !approve {
            node.status = 3;
            approval.status = 3;
        } else if node.attr == 1 || node.details.iter().all(|d| d.status == 2) {
            node.status = 2;
            if approval.nodes.iter().all(|n| n.status == 2) {
                approval.status = 2;
            }
        }
        let xml = self.approval_xml(&approval, if approve { 2 } else { 3 });
        self.approvals.insert(sp_no.into(), approval);
        self.push(xml);
        Ok(())
    }

    fn event_head(&self, event: &str, agent_id: i64) -> String {
        format!(
            "<ToUserName><![CDATA[{}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\
             <CreateTime>{}</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[{event}]]></Event>\
             <AgentID>{agent_id}</AgentID>",
            cdata(&self.options.corp_id),
            now_secs(),
        )
    }

    /// The decrypted `sys_approval_change` event. Its AgentID is the approval app's own (3010040 in every sample
    /// of WeCom's), not the receiving app's; `SpNoStr` is the newer string copy WeCom recommends over `SpNo`.
    pub fn approval_xml(&self, approval: &Approval, change_event: i64) -> String {
        let mut records = String::new();
        for node in &approval.nodes {
            records.push_str(&format!(
                "<SpRecord><SpStatus>{}</SpStatus><ApproverAttr>{}</ApproverAttr>",
                node.status, node.attr
            ));
            for d in &node.details {
                records.push_str(&format!(
                    "<Details><Approver><UserId><![CDATA[{}]]></UserId></Approver><Speech><![CDATA[{}]]></Speech>\
                     <SpStatus>{}</SpStatus><SpTime>{}</SpTime></Details>",
                    cdata(&d.userid),
                    cdata(&d.speech),
                    d.status,
                    d.time
                ));
            }
            records.push_str("</SpRecord>");
        }
        for userid in &approval.notifyer {
            records.push_str(&format!(
                "<Notifyer><UserId><![CDATA[{}]]></UserId></Notifyer>",
                cdata(userid)
            ));
        }
        format!(
            "<xml>{}<ApprovalInfo><SpNoStr><![CDATA[{sp}]]></SpNoStr><SpNo>{sp}</SpNo><SpName><![CDATA[{}]]></SpName>\
             <SpStatus>{}</SpStatus><TemplateId><![CDATA[{}]]></TemplateId><ApplyTime>{}</ApplyTime>\
             <Applyer><UserId><![CDATA[{}]]></UserId><Party><![CDATA[{}]]></Party></Applyer>{records}\
             <StatuChangeEvent>{change_event}</StatuChangeEvent></ApprovalInfo></xml>",
            self.event_head("sys_approval_change", 3_010_040),
            cdata(&approval.sp_name),
            approval.status,
            cdata(&approval.template_id),
            approval.apply_time,
            cdata(&approval.applyer),
            approval.party,
            sp = approval.sp_no,
        )
    }

    /// A decrypted `change_contact` event: `change_type` is create_user, update_user, delete_user, create_party,
    /// update_party or delete_party, `id` the userid or department id. Creates and updates carry the current
    /// fields when the simulator knows the member or department, as WeCom's do.
    pub fn contact_xml(&self, change_type: &str, id: &str) -> String {
        let mut fields = String::new();
        if change_type.ends_with("_party") {
            fields.push_str(&format!("<Id>{}</Id>", cdata(id)));
            let dept = id.parse().ok().and_then(|id: i64| self.depts.get(&id));
            if let (Some(d), false) = (dept, change_type == "delete_party") {
                fields.push_str(&format!(
                    "<Name><![CDATA[{}]]></Name><ParentId><![CDATA[{}]]></ParentId><Order>{}</Order>",
                    cdata(&d.name),
                    d.parent_id,
                    d.order
                ));
            }
        } else {
            fields.push_str(&format!("<UserID><![CDATA[{}]]></UserID>", cdata(id)));
            if let (Some(u), false) = (self.users.get(id), change_type == "delete_user") {
                let join = |v: &[i64]| {
                    v.iter()
                        .map(|n| n.to_string())
                        .collect::<Vec<_>>()
                        .join(",")
                };
                fields.push_str(&format!(
                    "<Name><![CDATA[{}]]></Name><Department><![CDATA[{}]]></Department>\
                     <MainDepartment><![CDATA[{}]]></MainDepartment><IsLeaderInDept><![CDATA[{}]]></IsLeaderInDept>\
                     <DirectLeader><![CDATA[{}]]></DirectLeader><Position><![CDATA[{}]]></Position>\
                     <Mobile><![CDATA[{}]]></Mobile><Gender><![CDATA[{}]]></Gender><Email><![CDATA[{}]]></Email>\
                     <Status>{}</Status><Avatar><![CDATA[{}]]></Avatar>",
                    cdata(&u.name),
                    join(&u.department),
                    u.main_department,
                    join(&u.is_leader_in_dept),
                    cdata(&u.direct_leader.join(",")),
                    cdata(&u.position),
                    cdata(&u.mobile),
                    cdata(&u.gender),
                    cdata(&u.email),
                    u.status,
                    cdata(&u.avatar),
                ));
            }
        }
        format!(
            "<xml>{}<ChangeType><![CDATA[{}]]></ChangeType>{fields}</xml>",
            self.event_head("change_contact", self.options.agent_id),
            cdata(change_type),
        )
    }

    /// Queues a callback for the configured URL (none: nothing is pushed or recorded, as with no URL set in
    /// WeCom's console).
    pub fn push(&mut self, inner_xml: String) {
        if let (Some(url), Some(outbox)) = (&self.options.callback_url, &self.outbox) {
            outbox.send((url.clone(), inner_xml)).ok();
        }
    }
}

/// Text for a CDATA section: a literal `]]>` must be split across two sections.
pub fn cdata(text: &str) -> String {
    text.replace("]]>", "]]]]><![CDATA[>")
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The UTC+8 calendar date of a Unix time as a number like 20261123 (WeCom's approval numbers start with it).
fn yyyymmdd(secs: u64) -> u64 {
    let (year, month, day) = crate::sim_support::civil_from_days(((secs + 8 * 3600) / 86_400) as i64);
    (year * 10_000 + month * 100 + day) as u64
}

#[cfg(test)]
mod tests {
    #[test]
    fn wecom_dates() {
        assert_eq!(super::yyyymmdd(0), 19700101);
        assert_eq!(super::yyyymmdd(1_571_728_713), 20191022);
        assert_eq!(super::yyyymmdd(951_782_400), 20000229);
    }
}
