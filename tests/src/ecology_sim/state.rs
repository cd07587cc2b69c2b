//! The simulated OA: organisation (subcompanies, departments, job titles, people), app registrations and tokens,
//! workflow definitions and requests, the unified to-do centre's items, SSO tokens, and the test controls.
//!
//! Times are server-local `yyyy-MM-dd HH:mm:ss` text (§2.2), which sorts as time. Seeded rows carry a fixed old
//! time so a test's `modified >=` cursor sees only what it changed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use super::Options;
use super::keys::ServerKey;
use crate::sim_support::Faults;

/// When every seeded row was created and last modified.
pub const SEED_TIME: &str = "2024-01-02 09:00:00";

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with this HTTP status and an HTML body, as a failing Resin/gateway would.
    Status(u16),
    /// Answer only after this long.
    Delay(Duration),
    /// The answer to an expired token, whatever the token (HR and workflow endpoints).
    TokenExpired,
    /// The endpoint's own failure shape: SYSTEM_INNER_ERROR (workflow), code "0" (HR), operResult "0" (OFS).
    InnerError,
}

#[derive(Clone, Debug)]
pub struct Call {
    pub method: String,
    pub path: String,
    /// The acting user, when the call carried a `userid` that decrypted.
    pub userid: Option<i64>,
}

#[derive(Clone, Debug)]
pub struct Subcompany {
    pub id: i64,
    pub name: String,
    pub desc: String,
    pub code: String,
    /// 0 = root.
    pub parent: i64,
    pub canceled: bool,
    pub showorder: f64,
    pub created: String,
    pub modified: String,
}

#[derive(Clone, Debug)]
pub struct Department {
    pub id: i64,
    /// Short name (departmentmark).
    pub mark: String,
    pub name: String,
    pub code: String,
    /// 0 = directly under the subcompany.
    pub parent: i64,
    pub subcompany: i64,
    pub canceled: bool,
    pub showorder: f64,
    pub created: String,
    pub modified: String,
}

#[derive(Clone, Debug)]
pub struct Jobtitle {
    pub id: i64,
    pub name: String,
    pub mark: String,
    pub code: String,
    pub created: String,
    pub modified: String,
}

#[derive(Clone, Debug)]
pub struct Person {
    pub id: i64,
    pub loginid: String,
    pub workcode: String,
    pub lastname: String,
    pub mobile: String,
    pub telephone: String,
    pub email: String,
    pub department: i64,
    pub jobtitle: i64,
    pub manager: Option<i64>,
    /// 0–3 active, 4–7 inactive (§2.2).
    pub status: u8,
    /// "" main account, "1" sub-account.
    pub accounttype: String,
    pub belongto: Option<i64>,
    pub seclevel: i64,
    pub password: String,
    pub showorder: f64,
    pub created: String,
    pub modified: String,
}

impl Person {
    pub fn active(&self) -> bool {
        self.status <= 3
    }
}

/// A registered app licence (a row of ECOLOGY_BIZ_EC after regist).
#[derive(Clone, Debug)]
pub struct Registration {
    pub secrit: String,
    /// The client key regist was given (unused by e-cology, kept for inspection).
    pub cpk: String,
}

#[derive(Clone, Debug)]
pub struct Token {
    pub appid: String,
    pub expires: Instant,
}

#[derive(Clone, Debug)]
pub struct WorkflowNode {
    pub id: i64,
    pub name: String,
    /// 0 create, 1 approve, 2 submit, 3 archive.
    pub node_type: u8,
}

#[derive(Clone, Debug)]
pub struct WorkflowDef {
    pub id: i64,
    pub name: String,
    pub type_id: i64,
    pub type_name: String,
    pub form_id: i64,
    pub main_table: String,
    pub main_fields: Vec<String>,
    /// Detail table name → its fields.
    pub detail_tables: BTreeMap<String, Vec<String>>,
    /// Create, the approval steps, archive.
    pub nodes: Vec<WorkflowNode>,
    /// Who approves the step at nodes[1]: the creator's manager, this person when there is none.
    pub first_approver_fallback: i64,
    /// Who approves the step at nodes[2].
    pub second_approver: i64,
}

#[derive(Clone, Debug)]
pub struct LogEntry {
    pub operator: i64,
    pub node_id: i64,
    pub node_name: String,
    /// "0" approve, "2" submit, "3" reject, "1" save (e-cology's logtype letters are not documented; guessed).
    pub log_type: String,
    pub remark: String,
    pub time: String,
}

#[derive(Clone, Debug)]
pub struct Request {
    pub id: i64,
    pub workflow_id: i64,
    pub name: String,
    pub level: i64,
    pub creator: i64,
    pub main: BTreeMap<String, Value>,
    /// Table → rows of field → value.
    pub details: BTreeMap<String, Vec<BTreeMap<String, Value>>>,
    /// Index into the workflow's nodes.
    pub node: usize,
    /// Who must act at the current node (empty once archived).
    pub operators: Vec<i64>,
    /// When the request reached the current operators.
    pub receive_time: String,
    /// Everyone who has acted on it.
    pub handled: BTreeSet<i64>,
    pub rejected: bool,
    pub created: String,
    pub last_operate_time: String,
    pub last_operator: i64,
    pub logs: Vec<LogEntry>,
}

/// One receiver's item in the unified to-do centre (ofs_todo_data).
#[derive(Clone, Debug)]
pub struct OfsItem {
    pub syscode: String,
    pub flowid: String,
    /// The receiver as the OA person.
    pub receiver: i64,
    pub requestname: String,
    pub workflowname: String,
    pub nodename: String,
    pub pcurl: String,
    pub appurl: String,
    pub creator: Option<i64>,
    pub createdatetime: String,
    pub receivedatetime: String,
    /// The latest applied `receivets` (ms).
    pub receivets: i64,
    /// 0 to-do, 2 done, 4 over (办结), 8 CC / to-read.
    pub isremark: u8,
    /// 0 unread, 1 read.
    pub viewtype: u8,
}

#[derive(Clone, Debug)]
pub struct SsoToken {
    pub person: i64,
    pub appid: String,
    pub expires: Instant,
}

/// A page opened with a valid ssoToken.
#[derive(Clone, Debug, PartialEq)]
pub struct SsoLogin {
    pub person: i64,
    pub loginid: String,
    pub path: String,
}

pub struct State {
    pub options: Options,
    pub key: ServerKey,
    pub subcompanies: BTreeMap<i64, Subcompany>,
    pub departments: BTreeMap<i64, Department>,
    pub jobtitles: BTreeMap<i64, Jobtitle>,
    pub people: BTreeMap<i64, Person>,
    pub registrations: HashMap<String, Registration>,
    pub tokens: HashMap<String, Token>,
    pub workflows: BTreeMap<i64, WorkflowDef>,
    pub requests: BTreeMap<i64, Request>,
    /// (syscode, flowid, receiver) → item.
    pub ofs: BTreeMap<(String, String, i64), OfsItem>,
    /// OFS updates dropped because an item had a newer `receivets`.
    pub ofs_stale: u32,
    pub sso_tokens: HashMap<String, SsoToken>,
    pub sso_logins: Vec<SsoLogin>,
    /// (person, workflow id) pairs that may not create that workflow (NO_PERMISSION).
    pub denied_create: BTreeSet<(i64, i64)>,
    pub faults: Faults<Fault>,
    pub calls: Vec<Call>,
    next_id: i64,
    /// Unix seconds added to the clock (tests move time forward to expire HR tokens and such).
    pub clock_skew: i64,
}

impl State {
    pub fn new(options: Options, key: ServerKey) -> State {
        let mut state = State {
            options,
            key,
            subcompanies: BTreeMap::new(),
            departments: BTreeMap::new(),
            jobtitles: BTreeMap::new(),
            people: BTreeMap::new(),
            registrations: HashMap::new(),
            tokens: HashMap::new(),
            workflows: BTreeMap::new(),
            requests: BTreeMap::new(),
            ofs: BTreeMap::new(),
            ofs_stale: 0,
            sso_tokens: HashMap::new(),
            sso_logins: Vec::new(),
            denied_create: BTreeSet::new(),
            faults: Faults::default(),
            calls: Vec::new(),
            next_id: 1000,
            clock_skew: 0,
        };
        state.seed();
        state
    }

    fn seed(&mut self) {
        let t = || SEED_TIME.to_string();
        for (id, name, code, parent) in [(1, "Qiao Group", "HQ", 0), (2, "Qiao Shanghai", "SH", 1)]
        {
            self.subcompanies.insert(
                id,
                Subcompany {
                    id,
                    name: name.into(),
                    desc: name.into(),
                    code: code.into(),
                    parent,
                    canceled: false,
                    showorder: id as f64,
                    created: t(),
                    modified: t(),
                },
            );
        }
        for (id, mark, name, code, parent, sub, canceled) in [
            (
                11,
                "总经办",
                "总经理办公室 Executive Office",
                "D-EXEC",
                0,
                1,
                false,
            ),
            (12, "研发部", "研发部 Engineering", "D-ENG", 0, 1, false),
            (13, "销售部", "销售部 Sales", "D-SALES", 0, 2, false),
            (
                14,
                "旧项目部",
                "旧项目部 Old Projects",
                "D-OLD",
                12,
                1,
                true,
            ),
        ] {
            self.departments.insert(
                id,
                Department {
                    id,
                    mark: mark.into(),
                    name: name.into(),
                    code: code.into(),
                    parent,
                    subcompany: sub,
                    canceled,
                    showorder: id as f64,
                    created: t(),
                    modified: t(),
                },
            );
        }
        for (id, name, code) in [
            (1, "General Manager", "JT-GM"),
            (2, "Engineer", "JT-ENG"),
            (3, "Sales Rep", "JT-SALES"),
        ] {
            self.jobtitles.insert(
                id,
                Jobtitle {
                    id,
                    name: name.into(),
                    mark: name.into(),
                    code: code.into(),
                    created: t(),
                    modified: t(),
                },
            );
        }
        type Seed<'a> = (
            i64,
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            &'a str,
            i64,
            i64,
            Option<i64>,
            u8,
        );
        let people: [Seed; 6] = [
            (
                1,
                "qiao.bot",
                "Q0001",
                "Qiao 集成账号",
                "",
                "qiao.bot@example.com",
                11,
                1,
                Some(3),
                1,
            ),
            (
                2,
                "wangfang",
                "E1001",
                "王芳",
                "13800000001",
                "wangfang@example.com",
                11,
                1,
                None,
                1,
            ),
            (
                3,
                "lina",
                "E1002",
                "李娜",
                "13800000002",
                "lina@example.com",
                12,
                2,
                Some(2),
                1,
            ),
            (
                4,
                "zhangwei",
                "E1003",
                "张伟",
                "13800000003",
                "zhangwei@example.com",
                12,
                2,
                Some(3),
                0,
            ),
            (
                5,
                "chenjing",
                "E1004",
                "陈静",
                "13800000004",
                "chenjing@example.com",
                13,
                3,
                Some(2),
                5,
            ),
            (
                6,
                "zhangwei2",
                "E1003-2",
                "张伟(兼)",
                "",
                "",
                13,
                3,
                Some(2),
                1,
            ),
        ];
        for (id, loginid, workcode, lastname, mobile, email, dept, job, manager, status) in people {
            self.people.insert(
                id,
                Person {
                    id,
                    loginid: loginid.into(),
                    workcode: workcode.into(),
                    lastname: lastname.into(),
                    mobile: mobile.into(),
                    telephone: String::new(),
                    email: email.into(),
                    department: dept,
                    jobtitle: job,
                    manager,
                    status,
                    accounttype: if id == 6 { "1".into() } else { String::new() },
                    belongto: (id == 6).then_some(4),
                    seclevel: 50,
                    password: "C0F7EE31DF2E44963AD1A5B9083601F4".into(),
                    showorder: id as f64,
                    created: t(),
                    modified: t(),
                },
            );
        }
        let mut details = BTreeMap::new();
        details.insert(
            super::EXPENSE_DETAIL_TABLE.to_string(),
            names(&["fyrq", "fylx", "je"]),
        );
        self.workflows.insert(
            super::WORKFLOW_EXPENSE,
            WorkflowDef {
                id: super::WORKFLOW_EXPENSE,
                name: "费用报销流程".into(),
                type_id: 3,
                type_name: "财务类".into(),
                form_id: -44,
                main_table: "formtable_main_44".into(),
                main_fields: names(&["sqr", "sqrq", "bxje", "sy"]),
                detail_tables: details,
                nodes: vec![
                    node(441, "创建", 0),
                    node(442, "部门经理审批", 1),
                    node(443, "总经理审批", 1),
                    node(444, "归档", 3),
                ],
                first_approver_fallback: super::LI_NA,
                second_approver: super::WANG_FANG,
            },
        );
    }

    /// Unix milliseconds of the simulator's clock.
    pub fn now_ms(&self) -> i64 {
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
            + self.clock_skew * 1000
    }

    /// Now as server-local `yyyy-MM-dd HH:mm:ss`.
    pub fn now_text(&self) -> String {
        format_local(self.now_ms() + self.options.utc_offset_minutes * 60_000)
    }

    pub fn next_id(&mut self) -> i64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn person_by_loginid(&self, loginid: &str) -> Option<&Person> {
        self.people.values().find(|p| p.loginid == loginid)
    }

    pub fn person_by_workcode(&self, workcode: &str) -> Option<&Person> {
        self.people.values().find(|p| p.workcode == workcode)
    }

    /// Bumps a person's `modified`, as an edit in the OA would.
    pub fn touch_person(&mut self, id: i64) {
        let now = self.now_text();
        if let Some(p) = self.people.get_mut(&id) {
            p.modified = now;
        }
    }

    /// A person's status changes in the OA (4–7 make them inactive), bumping `modified`.
    pub fn set_person_status(&mut self, id: i64, status: u8) {
        if let Some(p) = self.people.get_mut(&id) {
            p.status = status.min(7);
        }
        self.touch_person(id);
    }

    /// A department is sealed (canceled = 1) in the OA, bumping `modified`.
    pub fn cancel_department(&mut self, id: i64) {
        let now = self.now_text();
        if let Some(d) = self.departments.get_mut(&id) {
            d.canceled = true;
            d.modified = now;
        }
    }

    /// A new secrit for the app (regist). The secrit is a UUID, as e-cology's.
    pub fn register(&mut self, appid: &str) -> String {
        if let Some(existing) = self.registrations.get(appid) {
            // Guessed: re-registering keeps the keys (ECOLOGY.md §1.2 leaves it open; clients that re-regist on
            // every refresh are reported to keep working).
            return existing.secrit.clone();
        }
        let secrit = uuid();
        self.registrations.insert(
            appid.to_string(),
            Registration {
                secrit: secrit.clone(),
                cpk: String::new(),
            },
        );
        secrit
    }

    pub fn issue_token(&mut self, appid: &str, ttl: Option<Duration>) -> String {
        let token = uuid();
        let ttl = ttl
            .unwrap_or(self.options.token_ttl)
            .min(self.options.max_token_ttl);
        self.tokens.insert(
            token.clone(),
            Token {
                appid: appid.to_string(),
                expires: Instant::now() + ttl,
            },
        );
        token
    }

    pub fn token_valid(&self, appid: &str, token: &str) -> bool {
        self.tokens
            .get(token)
            .is_some_and(|t| t.appid == appid && t.expires > Instant::now())
    }

    pub fn expire_tokens(&mut self) {
        let now = Instant::now();
        for token in self.tokens.values_mut() {
            token.expires = now;
        }
    }

    pub fn reset_registration(&mut self, appid: &str, key: Option<ServerKey>) {
        self.registrations.remove(appid);
        self.tokens.retain(|_, t| t.appid != appid);
        if let Some(key) = key {
            self.key = key;
        }
    }

    /// The request's workflow and current node.
    pub fn node_of(&self, request: &Request) -> &WorkflowNode {
        &self.workflows[&request.workflow_id].nodes[request.node]
    }

    /// The OFS item for a receiver given as the OA person id.
    pub fn ofs_item(&self, syscode: &str, flowid: &str, receiver: i64) -> Option<&OfsItem> {
        self.ofs
            .get(&(syscode.to_string(), flowid.to_string(), receiver))
    }

    /// The person an OFS `creator` / `receiver` / `userid` string names under the conversion rule.
    pub fn ofs_person(&self, text: &str) -> Option<i64> {
        let text = text.trim();
        match self.options.ofs_user_rule.as_str() {
            "workcode" => self.person_by_workcode(text).map(|p| p.id),
            "id" => text.parse().ok().filter(|id| self.people.contains_key(id)),
            _ => self.person_by_loginid(text).map(|p| p.id),
        }
    }
}

fn node(id: i64, name: &str, node_type: u8) -> WorkflowNode {
    WorkflowNode {
        id,
        name: name.into(),
        node_type,
    }
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

pub fn uuid() -> String {
    let n: u128 = rand::random();
    let h = format!("{n:032x}");
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}

/// Unix milliseconds (already shifted to local time) → "yyyy-MM-dd HH:mm:ss".
pub fn format_local(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (year, month, day) = crate::sim_support::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60
    )
}
