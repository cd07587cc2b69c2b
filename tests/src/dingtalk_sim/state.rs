//! The simulated organisation: departments, users, role groups and roles, work notifications with read state,
//! DINGs, approval processes and instances, to-dos, scene groups and their robot messages, issued tokens and
//! sign-in codes, plus the test controls (faults, QPS window).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::sim_support::{Faults, QpsWindow};

use super::Options;
use super::gateway::Gateway;
use super::scenegroup::{self, GroupMessage, SceneGroup};
use super::todo::Todo;

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with this HTTP status and a non-JSON body, as a failing proxy would.
    Status(u16),
    /// Answer only after this long (longer than the caller's timeout, for a timeout).
    Delay(Duration),
    /// The old API's `-1` system busy (and a 503 `SystemBusy` on the new API).
    Busy,
    /// DingTalk's QPS limit: 90018 on the old API, 403 `QpsLimitForAppkeyAndApi` on the new one.
    RateLimit,
    /// The request's token is rejected as expired (42001 / `InvalidAuthentication`), and forgotten.
    RevokeToken,
}

#[derive(Clone, Debug)]
pub struct Dept {
    pub id: i64,
    pub name: String,
    pub parent_id: i64,
    pub order: i64,
}

#[derive(Clone, Debug)]
pub struct User {
    pub userid: String,
    pub unionid: String,
    pub name: String,
    /// The number without its country code, as DingTalk answers it (`+852-51234567` is stored as `51234567`
    /// with `state_code` 852).
    pub mobile: String,
    pub state_code: String,
    pub email: String,
    pub title: String,
    pub job_number: String,
    pub dept_id_list: Vec<i64>,
    pub manager_userid: String,
    /// DingTalk's `active`: the person has activated DingTalk (signed in once). Users an app creates are not.
    pub active: bool,
}

#[derive(Clone, Debug)]
pub struct RoleGroup {
    pub id: i64,
    pub name: String,
}

#[derive(Clone, Debug)]
pub struct Role {
    pub id: i64,
    pub name: String,
    pub group_id: i64,
    pub members: BTreeSet<String>,
}

#[derive(Clone, Debug)]
pub struct Notification {
    pub msg: Value,
    pub users: Vec<String>,
    pub read: HashSet<String>,
    pub invalid: Vec<String>,
    /// Silently dropped recipients and DingTalk's forbidden code for each.
    pub forbidden: Vec<(String, i64)>,
    pub recalled: bool,
}

#[derive(Clone, Debug)]
pub struct Task {
    pub id: i64,
    pub user: String,
    /// NEW, RUNNING, COMPLETED, CANCELED
    pub status: String,
    /// AGREE, REFUSE or empty
    pub result: String,
}

#[derive(Clone, Debug)]
pub struct Instance {
    pub id: String,
    pub process_code: String,
    pub title: String,
    pub originator: String,
    pub business_id: String,
    /// RUNNING, COMPLETED, TERMINATED
    pub status: String,
    /// agree, refuse or empty
    pub result: String,
    pub tasks: Vec<Task>,
    pub form: Vec<(String, String)>,
    pub records: Vec<Value>,
}

pub struct State {
    pub options: Options,
    pub depts: BTreeMap<i64, Dept>,
    pub users: BTreeMap<String, User>,
    pub role_groups: BTreeMap<i64, RoleGroup>,
    pub roles: BTreeMap<i64, Role>,
    pub notifications: BTreeMap<i64, Notification>,
    pub dings: HashMap<String, (Vec<String>, bool)>,
    /// Process code → (required form fields, approver chain).
    pub processes: HashMap<String, (Vec<String>, Vec<String>)>,
    pub instances: BTreeMap<String, Instance>,
    /// Token → expiry.
    pub tokens: HashMap<String, Instant>,
    /// User OAuth tokens → userid.
    pub user_tokens: HashMap<String, String>,
    /// In-app (免登) and web OAuth codes → userid; each works once.
    pub codes: HashMap<String, String>,
    pub faults: Faults<Fault>,
    /// Paths of every request received, in order.
    pub requests: Vec<String>,
    /// Per API path: start of the current one-second window and requests in it.
    pub qps_window: QpsWindow,
    /// Callbacks pushed by the simulator: the event and whether the receiver answered a valid success.
    pub pushed: Vec<(Value, bool)>,
    /// To-dos by id.
    pub todos: BTreeMap<String, Todo>,
    /// To-do cards per `org/tasks/query` page.
    pub todo_page_size: usize,
    /// Scene groups by open_conversation_id.
    pub scene_groups: BTreeMap<String, SceneGroup>,
    /// The app's scene-group templates and template robots.
    pub group_templates: HashSet<String>,
    pub scene_robots: HashSet<String>,
    /// Robot messages sent into scene groups, in order.
    pub group_messages: Vec<GroupMessage>,
    /// Stream mode: tickets, the live connection, unacked frames.
    pub gateway: Gateway,
    next_id: i64,
}

impl State {
    pub fn new(options: Options) -> State {
        let mut state = State {
            options,
            depts: BTreeMap::new(),
            users: BTreeMap::new(),
            role_groups: BTreeMap::new(),
            roles: BTreeMap::new(),
            notifications: BTreeMap::new(),
            dings: HashMap::new(),
            processes: HashMap::new(),
            instances: BTreeMap::new(),
            tokens: HashMap::new(),
            user_tokens: HashMap::new(),
            codes: HashMap::new(),
            faults: Faults::default(),
            requests: Vec::new(),
            qps_window: QpsWindow::default(),
            pushed: Vec::new(),
            todos: BTreeMap::new(),
            todo_page_size: 10,
            scene_groups: BTreeMap::new(),
            group_templates: HashSet::from([scenegroup::TEMPLATE_ID.to_string()]),
            scene_robots: HashSet::from([scenegroup::ROBOT_CODE.to_string()]),
            group_messages: Vec::new(),
            gateway: Gateway::new(),
            next_id: 100,
        };
        for (id, name, parent) in [
            (1, "Qiao Demo Co", 0),
            (2, "Engineering", 1),
            (3, "Sales", 1),
        ] {
            state.depts.insert(
                id,
                Dept {
                    id,
                    name: name.into(),
                    parent_id: parent,
                    order: id,
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
        // DingTalk's default role group and roles, as a new organisation has them.
        state.role_groups.insert(
            1_507_113_577,
            RoleGroup {
                id: 1_507_113_577,
                name: "默认".into(),
            },
        );
        for (id, name, members) in [
            (1_507_113_578, "主管理员", vec!["manager1"]),
            (1_507_113_579, "子管理员", vec![]),
            (1_507_113_580, "负责人", vec![]),
            (1_507_113_581, "主管", vec!["manager1"]),
        ] {
            state.roles.insert(
                id,
                Role {
                    id,
                    name: name.into(),
                    group_id: 1_507_113_577,
                    members: members.into_iter().map(String::from).collect(),
                },
            );
        }
        state.processes.insert(
            "PROC-LEAVE".into(),
            (
                vec!["reason".into(), "days".into()],
                vec!["manager1".into()],
            ),
        );
        state
    }

    pub fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    /// An activated user (one who has signed in to DingTalk), with a mainland China mobile unless it says
    /// otherwise (`+852-51234567`).
    pub fn add_user(&mut self, userid: &str, name: &str, mobile: &str, depts: Vec<i64>) {
        let (state_code, mobile) = split_mobile(mobile);
        self.users.insert(
            userid.into(),
            User {
                userid: userid.into(),
                unionid: format!("union-{userid}"),
                name: name.into(),
                mobile,
                state_code,
                email: format!("{userid}@example.com"),
                title: String::new(),
                job_number: String::new(),
                dept_id_list: depts,
                manager_userid: String::new(),
                active: true,
            },
        );
    }

    /// A large organisation for scale tests: `departments` departments (ten under the root, one under each of
    /// those, the rest under the second level: three levels) and `users` users spread over them round robin, each with a title, job
    /// number, email and, but for the first of each department, a manager. Returns the new department ids.
    pub fn add_directory(&mut self, departments: usize, users: usize) -> Vec<i64> {
        let mut ids: Vec<i64> = Vec::with_capacity(departments);
        for i in 0..departments {
            let id = self.next_id();
            let parent = match i {
                0..10 => 1,
                10..20 => ids[i - 10],
                _ => ids[10 + (i - 20) % 10],
            };
            self.depts.insert(
                id,
                Dept {
                    id,
                    name: format!("Dept {i:03}"),
                    parent_id: parent,
                    order: i as i64,
                },
            );
            ids.push(id);
        }
        let mut first_of: HashMap<i64, String> = HashMap::new();
        for i in 0..users {
            let dept = ids[i % ids.len()];
            let userid = format!("bulk{i:05}");
            self.add_user(
                &userid,
                &format!("User {i:05}"),
                &format!("1370000{i:04}"),
                vec![dept],
            );
            let user = self.users.get_mut(&userid).unwrap();
            user.title = format!("Title {}", i % 7);
            user.job_number = format!("E{i:05}");
            match first_of.get(&dept) {
                Some(manager) => user.manager_userid = manager.clone(),
                None => {
                    first_of.insert(dept, userid.clone());
                }
            }
        }
        ids
    }

    /// A one-time sign-in code for the user (the in-app JSAPI code and the web OAuth code work alike).
    pub fn code_for(&mut self, userid: &str) -> String {
        let code = format!("code-{}", self.next_id());
        self.codes.insert(code.clone(), userid.into());
        code
    }

    /// DingTalk returns the same token while it is valid and extends it.
    pub fn issue_token(&mut self) -> String {
        let expiry = Instant::now() + self.options.token_ttl;
        let now = Instant::now();
        self.tokens.retain(|_, e| *e > now);
        let token = match self.tokens.keys().next() {
            Some(token) => token.clone(),
            None => format!("sim-token-{}", self.next_id()),
        };
        self.tokens.insert(token.clone(), expiry);
        token
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

    /// A department as `department/listsub` lists it: no `order` (only `department/get` has it).
    pub fn dept_brief_json(&self, dept: &Dept) -> Value {
        let mut value = json!({
            "dept_id": dept.id, "name": dept.name, "create_dept_group": false, "auto_add_user": true,
        });
        if dept.id != 1 {
            value["parent_id"] = json!(dept.parent_id);
        }
        value
    }

    /// A department as `department/get` answers it.
    pub fn dept_json(&self, dept: &Dept) -> Value {
        let mut value = self.dept_brief_json(dept);
        let fields = json!({
            "order": dept.order, "hide_dept": false, "outer_dept": false, "dept_manager_userid_list": [],
            "group_contain_sub_dept": false, "auto_approve_apply": false,
        });
        merge(&mut value, fields);
        value
    }

    /// The ids of `id` and every department under it.
    pub fn subtree(&self, id: i64) -> HashSet<i64> {
        let mut found = HashSet::from([id]);
        let mut grew = true;
        while grew {
            grew = false;
            for dept in self.depts.values() {
                if found.contains(&dept.parent_id) && found.insert(dept.id) {
                    grew = true;
                }
            }
        }
        found
    }

    /// The fields `user/list` and `user/get` share. Empty optional fields are left out, as DingTalk does.
    fn user_fields(&self, user: &User) -> Value {
        let mut value = json!({
            "userid": user.userid, "unionid": user.unionid, "name": user.name, "mobile": user.mobile,
            "state_code": user.state_code, "hide_mobile": false, "title": user.title,
            "job_number": user.job_number, "dept_id_list": user.dept_id_list, "active": user.active,
            "admin": false, "boss": false, "senior": false, "real_authed": user.active,
            "exclusive_account": false,
        });
        if !user.email.is_empty() {
            value["email"] = json!(user.email);
        }
        value
    }

    /// A user as `topapi/v2/user/list` lists one: without `manager_userid` (DingTalk's list has no manager; only
    /// `user/get` tells it).
    pub fn user_list_json(&self, user: &User) -> Value {
        let mut value = self.user_fields(user);
        value["dept_order"] = json!(1);
        value["leader"] = json!(false);
        value
    }

    /// A user as `topapi/v2/user/get` answers: the manager when there is one, the roles, and per-department
    /// order and leadership.
    pub fn user_json(&self, user: &User) -> Value {
        let mut value = self.user_fields(user);
        if !user.manager_userid.is_empty() {
            value["manager_userid"] = json!(user.manager_userid);
        }
        value["dept_order_list"] = user
            .dept_id_list
            .iter()
            .map(|d| json!({ "dept_id": d, "order": 1 }))
            .collect();
        value["leader_in_dept"] = user
            .dept_id_list
            .iter()
            .map(|d| json!({ "dept_id": d, "leader": false }))
            .collect();
        value["role_list"] = self
            .roles
            .values()
            .filter(|r| r.members.contains(&user.userid))
            .map(|r| {
                let group = self.role_groups.get(&r.group_id).map(|g| g.name.as_str());
                json!({ "id": r.id, "name": r.name, "group_name": group.unwrap_or_default() })
            })
            .collect();
        value
    }

    /// The members of a role, sorted (what a test compares with what Qiao listed).
    pub fn role_members(&self, role_id: i64) -> Vec<String> {
        self.roles
            .get(&role_id)
            .map(|r| r.members.iter().cloned().collect())
            .unwrap_or_default()
    }

    pub fn instance_json(&self, instance: &Instance) -> Value {
        json!({
            "title": instance.title,
            "status": instance.status,
            "result": instance.result,
            "businessId": instance.business_id,
            "originatorUserId": instance.originator,
            "originatorDeptId": "2",
            "approverUserIds": instance.tasks.iter().map(|t| t.user.clone()).collect::<Vec<_>>(),
            "tasks": instance.tasks.iter().map(|t| json!({
                "taskId": t.id, "userId": t.user, "status": t.status, "result": t.result,
            })).collect::<Vec<_>>(),
            "operationRecords": instance.records,
            "formComponentValues": instance.form.iter().map(|(name, value)| json!({
                "name": name, "value": value, "componentType": "TextField",
            })).collect::<Vec<_>>(),
        })
    }

    /// Starts an instance: its first task runs. Returns the instance and the callbacks it causes.
    pub fn create_instance(
        &mut self,
        process_code: &str,
        originator: &str,
        form: Vec<(String, String)>,
        approvers: Vec<String>,
    ) -> (String, Vec<Value>) {
        let id = format!("proc-inst-{}", self.next_id());
        let chain = if approvers.is_empty() {
            self.processes[process_code].1.clone()
        } else {
            approvers
        };
        let mut tasks = Vec::new();
        for (i, user) in chain.iter().enumerate() {
            let status = if i == 0 { "RUNNING" } else { "NEW" };
            tasks.push(Task {
                id: self.next_id(),
                user: user.clone(),
                status: status.into(),
                result: String::new(),
            });
        }
        let name = self
            .users
            .get(originator)
            .map(|u| u.name.clone())
            .unwrap_or_default();
        let business_id = format!("2026112300{}", self.next_id());
        let instance = Instance {
            id: id.clone(),
            process_code: process_code.into(),
            title: format!("{name}提交的请假"),
            originator: originator.into(),
            business_id,
            status: "RUNNING".into(),
            result: String::new(),
            tasks,
            form,
            records: vec![
                json!({ "userId": originator, "type": "START_PROCESS_INSTANCE", "result": "NONE" }),
            ],
        };
        let mut events = vec![self.instance_event(&instance, "start")];
        events.push(self.task_event(&instance, &instance.tasks[0], "start"));
        self.instances.insert(id.clone(), instance);
        (id, events)
    }

    /// The running task of an instance acted on (agree or refuse) by `actor`. Errors are DingTalk's codes.
    pub fn execute(
        &mut self,
        instance_id: &str,
        task_id: i64,
        actor: &str,
        agree: bool,
        remark: &str,
    ) -> Result<Vec<Value>, (&'static str, String)> {
        let mut instance = self.instances.get(instance_id).cloned().ok_or((
            "processInstanceNotExist",
            format!("审批实例不存在: {instance_id}"),
        ))?;
        if instance.status != "RUNNING" {
            return Err((
                "aflowProcessInstCanNotBeExecuted",
                "审批实例已结束，不能执行".into(),
            ));
        }
        let index = instance
            .tasks
            .iter()
            .position(|t| t.id == task_id && t.user == actor && t.status == "RUNNING")
            .ok_or((
                "invalidInstanceExecuteTaskId",
                format!("任务 {task_id} 不属于 {actor} 或不在进行中"),
            ))?;
        let mut events = Vec::new();
        instance.tasks[index].status = "COMPLETED".into();
        instance.tasks[index].result = if agree { "AGREE" } else { "REFUSE" }.into();
        instance.records.push(json!({
            "userId": actor, "type": "EXECUTE_TASK_NORMAL", "result": if agree { "AGREE" } else { "REFUSE" },
            "remark": remark,
        }));
        let done = instance.tasks[index].clone();
        events.push(self.task_event(&instance, &done, "finish"));
        if agree && index + 1 < instance.tasks.len() {
            instance.tasks[index + 1].status = "RUNNING".into();
            let next = instance.tasks[index + 1].clone();
            events.push(self.task_event(&instance, &next, "start"));
        } else {
            for task in instance.tasks.iter_mut().filter(|t| t.status == "NEW") {
                task.status = "CANCELED".into();
            }
            instance.status = "COMPLETED".into();
            instance.result = if agree { "agree" } else { "refuse" }.into();
            events.push(self.instance_event(&instance, "finish"));
        }
        self.instances.insert(instance_id.into(), instance);
        Ok(events)
    }

    /// As the running task's approver would, in the DingTalk app.
    pub fn advance(&mut self, instance_id: &str, agree: bool) -> Result<Vec<Value>, String> {
        let instance = self.instances.get(instance_id).ok_or("no such instance")?;
        let task = instance
            .tasks
            .iter()
            .find(|t| t.status == "RUNNING")
            .ok_or("no running task")?
            .clone();
        self.execute(instance_id, task.id, &task.user, agree, "")
            .map_err(|(_, m)| m)
    }

    pub fn terminate(
        &mut self,
        instance_id: &str,
        operator: &str,
    ) -> Result<Vec<Value>, (&'static str, String)> {
        let instance = self.instances.get_mut(instance_id).ok_or((
            "processInstanceNotExist",
            format!("审批实例不存在: {instance_id}"),
        ))?;
        if instance.status != "RUNNING" {
            return Err(("aflowProcessInstCanNotBeExecuted", "审批实例已结束".into()));
        }
        instance.status = "TERMINATED".into();
        for task in instance
            .tasks
            .iter_mut()
            .filter(|t| t.status == "RUNNING" || t.status == "NEW")
        {
            task.status = "CANCELED".into();
        }
        instance.records.push(
            json!({ "userId": operator, "type": "TERMINATE_PROCESS_INSTANCE", "result": "NONE" }),
        );
        let instance = instance.clone();
        Ok(vec![self.instance_event(&instance, "terminate")])
    }

    pub fn event_base(&mut self, event_type: &str) -> Value {
        json!({
            "EventType": event_type,
            "eventId": format!("evt-{:08x}", self.next_id() * 7919),
            "CorpId": self.options.corp_id,
            "EventTime": now_ms(),
            "createTime": now_ms(),
        })
    }

    fn instance_event(&mut self, instance: &Instance, kind: &str) -> Value {
        let mut event = self.event_base("bpms_instance_change");
        let extra = json!({
            "processInstanceId": instance.id, "processCode": instance.process_code, "type": kind,
            "title": instance.title, "staffId": instance.originator, "businessId": instance.business_id,
            "result": instance.result,
        });
        merge(&mut event, extra);
        if kind != "finish" {
            event.as_object_mut().unwrap().remove("result");
        }
        event
    }

    fn task_event(&mut self, instance: &Instance, task: &Task, kind: &str) -> Value {
        let mut event = self.event_base("bpms_task_change");
        let result = task.result.to_ascii_lowercase();
        merge(
            &mut event,
            json!({
                "processInstanceId": instance.id, "processCode": instance.process_code, "type": kind,
                "taskId": task.id, "staffId": task.user, "title": instance.title, "result": result,
            }),
        );
        event
    }

    /// A contact-change event for users or departments (`user_add_org`, `org_dept_create`, ...).
    pub fn contact_event(&mut self, event_type: &str, ids: Value) -> Value {
        let mut event = self.event_base(event_type);
        let key = if event_type.starts_with("org_dept") {
            "DeptId"
        } else {
            "UserId"
        };
        merge(
            &mut event,
            json!({ key: ids, "TimeStamp": now_ms().to_string() }),
        );
        event
    }
}

/// `+852-51234567` → ("852", "51234567"); `+86-13800000001` and `13800000001` → ("86", "13800000001").
pub fn split_mobile(mobile: &str) -> (String, String) {
    match mobile.strip_prefix('+').and_then(|m| m.split_once('-')) {
        Some((code, number)) => (code.to_string(), number.to_string()),
        None => ("86".to_string(), mobile.to_string()),
    }
}

fn merge(into: &mut Value, from: Value) {
    if let (Some(into), Value::Object(from)) = (into.as_object_mut(), from) {
        into.extend(from);
    }
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}
