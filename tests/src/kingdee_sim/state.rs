//! The simulated account set (账套): forms and their rows, login sessions, and the test controls (faults, denied
//! forms, request log).
//!
//! Rows are kept generic, as Kingdee's own forms are: one JSON object per row holding the F-fields the caller saved
//! (base-data references as `{"FNumber": "..."}`), plus `FID`, the number field (`FBillNo` for bills, `FNumber` or
//! `FUserAccount` for base data), `FDocumentStatus`, `FForbidStatus` (base data), `FCreateDate` and
//! `FModifyDate`. Dates are server-local naive text `YYYY-MM-DDTHH:MM:SS.fff`, which sorts as time.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::sim_support::Faults;

use super::Options;

#[derive(Clone, Debug, PartialEq)]
pub enum Fault {
    /// Answer with this HTTP status and a non-JSON body, as a failing IIS/gateway would.
    Status(u16),
    /// Answer only after this long.
    Delay(Duration),
    /// The "会话信息已丢失，请重新登录" result (MsgCode 1), as when the server recycles its sessions.
    SessionLost,
    /// The no-permission result (MsgCode 2).
    PermissionDenied,
    /// A busy server: IsSuccess false, MsgCode 4, "服务器繁忙，请稍后再试" (guessed shape).
    Busy,
}

/// A form (业务对象): its schema and its rows.
#[derive(Clone, Debug)]
pub struct Form {
    pub id: String,
    /// Shown in messages.
    pub name: String,
    /// A bill (单据: auto-numbered `FBillNo`) or base data (基础资料: caller-chosen number, `FForbidStatus`).
    pub bill: bool,
    /// `FBillNo`, `FNumber` or `FUserAccount`: what `Numbers` and `Number` refer to.
    pub number_field: String,
    /// Bill number prefix, e.g. "FYBX" → "FYBX000001".
    pub prefix: String,
    pub next_no: u32,
    /// Bills go through a BOS workflow: approved with WorkflowAudit, not Audit.
    pub workflow: bool,
    /// (field, label): must be non-empty on Save.
    pub required: Vec<(String, String)>,
    /// (field, referenced base-data form): values are `{"FNumber": "..."}`.
    pub refs: Vec<(String, String)>,
    /// Fields a query may name even when no row has them yet.
    pub fields: Vec<String>,
    pub rows: BTreeMap<i64, Value>,
}

impl Form {
    pub fn referenced_form(&self, field: &str) -> Option<&str> {
        self.refs
            .iter()
            .find(|(f, _)| f.eq_ignore_ascii_case(field))
            .map(|(_, form)| form.as_str())
    }

    /// The stored spelling of a field named in any letter case (Kingdee field keys are case-insensitive), if the
    /// form knows it.
    pub fn canonical(&self, field: &str) -> Option<String> {
        let standard = [
            "FID",
            "FCreateDate",
            "FModifyDate",
            "FDocumentStatus",
            self.number_field.as_str(),
            "FForbidStatus",
        ];
        standard
            .iter()
            .copied()
            .chain(self.fields.iter().map(String::as_str))
            .find(|f| f.eq_ignore_ascii_case(field))
            .map(String::from)
            .or_else(|| {
                self.rows.values().find_map(|row| {
                    row.as_object()?
                        .keys()
                        .find(|k| k.eq_ignore_ascii_case(field))
                        .cloned()
                })
            })
    }

    pub fn find_number(&self, number: &str) -> Option<i64> {
        self.rows
            .iter()
            .find(|(_, row)| row[&self.number_field] == number)
            .map(|(fid, _)| *fid)
    }
}

pub struct Session {
    /// The login account (SEC_User FUserAccount).
    pub user: String,
    pub expires: Instant,
}

/// A WorkflowAudit or [`super::KingdeeSim::advance`] decision, for tests to check.
#[derive(Clone, Debug, PartialEq)]
pub struct Decision {
    pub form_id: String,
    pub number: String,
    pub user: String,
    pub approve: bool,
    pub disposition: String,
}

pub struct State {
    pub options: Options,
    pub forms: BTreeMap<String, Form>,
    /// Session id → session. Expired ones stay until [`State::expire_sessions`]; both answer MsgCode 1.
    pub sessions: HashMap<String, Session>,
    /// (user account, form id) pairs the user may not use: MsgCode 2.
    pub denied: HashSet<(String, String)>,
    pub faults: Faults<Fault>,
    /// Service names of every request received, in order.
    pub requests: Vec<String>,
    pub decisions: Vec<Decision>,
    /// Unix milliseconds of the last FModifyDate handed out (to keep them strictly increasing).
    last_modify_ms: i64,
    next_fid: i64,
}

fn names(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

impl State {
    pub fn new(options: Options) -> State {
        let mut state = State {
            options,
            forms: BTreeMap::new(),
            sessions: HashMap::new(),
            denied: HashSet::new(),
            faults: Faults::default(),
            requests: Vec::new(),
            decisions: Vec::new(),
            last_modify_ms: 0,
            next_fid: 100_001,
        };
        let form =
            |id: &str, name: &str, bill: bool, number: &str, prefix: &str, workflow: bool| Form {
                id: id.into(),
                name: name.into(),
                bill,
                number_field: number.into(),
                prefix: prefix.into(),
                next_no: 1,
                workflow,
                required: Vec::new(),
                refs: Vec::new(),
                fields: Vec::new(),
                rows: BTreeMap::new(),
            };
        let mut dept = form("BD_Department", "部门", false, "FNumber", "", false);
        dept.required = pairs(&[("FNumber", "编码"), ("FName", "名称")]);
        dept.refs = pairs(&[("FParentID", "BD_Department")]);
        dept.fields = names(&["FName", "FParentID", "FDescription"]);
        let mut emp = form("BD_Empinfo", "员工", false, "FNumber", "", false);
        emp.required = pairs(&[("FNumber", "编码"), ("FName", "名称")]);
        emp.refs = pairs(&[("FDept", "BD_Department")]);
        emp.fields = names(&["FName", "FMobile", "FEmail", "FDept", "FPost"]);
        let mut user = form("SEC_User", "用户", false, "FUserAccount", "", false);
        user.required = pairs(&[("FUserAccount", "用户账号"), ("FName", "用户名称")]);
        user.fields = names(&["FName", "FPhone", "FEmail"]);
        let mut claim = form(
            "ER_ExpReimbursement",
            "费用报销单",
            true,
            "FBillNo",
            "FYBX",
            false,
        );
        claim.required = pairs(&[
            ("FProposerID", "申请人"),
            ("FCausa", "事由"),
            ("FReqAmount", "申请报销金额"),
        ]);
        claim.refs = pairs(&[
            ("FProposerID", "BD_Empinfo"),
            ("FRequestDeptID", "BD_Department"),
        ]);
        claim.fields = names(&[
            "FDate",
            "FProposerID",
            "FRequestDeptID",
            "FCausa",
            "FReqAmount",
            "FRemark",
        ]);
        let mut request = form(
            "PUR_Requisition",
            "采购申请单",
            true,
            "FBillNo",
            "CGSQ",
            true,
        );
        request.required = pairs(&[
            ("FApplicantId", "申请人"),
            ("FApplicationDeptId", "申请部门"),
        ]);
        request.refs = pairs(&[
            ("FApplicantId", "BD_Empinfo"),
            ("FApplicationDeptId", "BD_Department"),
        ]);
        request.fields = names(&[
            "FDate",
            "FApplicantId",
            "FApplicationDeptId",
            "FNote",
            "FTotalAmount",
        ]);
        for f in [dept, emp, user, claim, request] {
            state.forms.insert(f.id.clone(), f);
        }
        // Seed base data is audited (C) and enabled (A), as a live account set's would be.
        for (number, name, parent) in [
            ("D00", "Qiao Kingdee Demo", None),
            ("D01", "Engineering", Some("D00")),
            ("D02", "Sales", Some("D00")),
        ] {
            let mut row = json!({ "FNumber": number, "FName": name });
            if let Some(parent) = parent {
                row["FParentID"] = json!({ "FNumber": parent });
            }
            state.insert("BD_Department", row, "C");
        }
        for (number, name, mobile, email, dept, post) in [
            (
                "E001",
                "Wang Fang",
                "13800000001",
                "wangfang@example.com",
                "D01",
                "Engineering Manager",
            ),
            (
                "E002",
                "Li Na",
                "13800000002",
                "lina@example.com",
                "D01",
                "Engineer",
            ),
            (
                "E003",
                "Zhang Wei",
                "13800000003",
                "zhangwei@example.com",
                "D02",
                "Sales Rep",
            ),
        ] {
            let row = json!({ "FNumber": number, "FName": name, "FMobile": mobile, "FEmail": email,
                              "FDept": { "FNumber": dept }, "FPost": post });
            state.insert("BD_Empinfo", row, "C");
        }
        for (account, name, phone, email) in [
            ("administrator", "Administrator", "", ""),
            (
                "wangfang",
                "Wang Fang",
                "13800000001",
                "wangfang@example.com",
            ),
        ] {
            let row =
                json!({ "FUserAccount": account, "FName": name, "FPhone": phone, "FEmail": email });
            state.insert("SEC_User", row, "C");
        }
        state
    }

    /// The next FModifyDate: now in the configured UTC offset, one millisecond after the last one if the clock has
    /// not moved, so `FModifyDate >= cursor` polling sees every change.
    pub fn touch(&mut self) -> String {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        self.last_modify_ms = now.max(self.last_modify_ms + 1);
        format_local(self.last_modify_ms + self.options.utc_offset_minutes * 60_000)
    }

    pub fn next_fid(&mut self) -> i64 {
        self.next_fid += 1;
        self.next_fid - 1
    }

    /// Adds a row as-is (no validation), to arrange a test: FID, number (bills), dates and statuses are filled
    /// in; `status` is the FDocumentStatus. Returns the FID.
    pub fn insert(&mut self, form_id: &str, model: Value, status: &str) -> i64 {
        let fid = self.next_fid();
        let now = self.touch();
        let form = self.forms.get_mut(form_id).expect("known form");
        let mut row = model;
        row["FID"] = json!(fid);
        if form.bill && row["FBillNo"].as_str().unwrap_or("").is_empty() {
            row["FBillNo"] = json!(format!("{}{:06}", form.prefix, form.next_no));
            form.next_no += 1;
        }
        row["FDocumentStatus"] = json!(status);
        if !form.bill {
            row["FForbidStatus"] = json!("A");
        }
        row["FCreateDate"] = json!(now);
        row["FModifyDate"] = json!(now);
        form.rows.insert(fid, row);
        fid
    }

    pub fn row(&self, form_id: &str, fid: i64) -> Option<&Value> {
        self.forms.get(form_id)?.rows.get(&fid)
    }

    /// The FID of the row with this number (FBillNo / FNumber / FUserAccount).
    pub fn find(&self, form_id: &str, number: &str) -> Option<i64> {
        self.forms.get(form_id)?.find_number(number)
    }

    /// FDocumentStatus of a row.
    pub fn status(&self, form_id: &str, fid: i64) -> Option<String> {
        Some(
            self.row(form_id, fid)?["FDocumentStatus"]
                .as_str()?
                .to_string(),
        )
    }

    /// Sets fields of a row and bumps its FModifyDate.
    pub fn update(&mut self, form_id: &str, fid: i64, fields: Map<String, Value>) {
        let now = self.touch();
        if let Some(row) = self
            .forms
            .get_mut(form_id)
            .and_then(|f| f.rows.get_mut(&fid))
        {
            let object = row.as_object_mut().unwrap();
            object.extend(fields);
            object.insert("FModifyDate".into(), json!(now));
        }
    }

    /// The user may no longer use the form (MsgCode 2).
    pub fn deny(&mut self, user: &str, form_id: &str) {
        self.denied.insert((user.to_string(), form_id.to_string()));
    }

    pub fn is_user(&self, account: &str) -> bool {
        self.find("SEC_User", account).is_some()
    }

    /// Someone in the Kingdee client approves (B → C) or rejects (B → D) a submitted bill.
    pub fn advance(&mut self, form_id: &str, fid: i64, approve: bool) -> Result<(), String> {
        match self.status(form_id, fid).as_deref() {
            Some("B") => {}
            Some(other) => {
                return Err(format!(
                    "bill {fid} of {form_id} is in status {other}, not B"
                ));
            }
            None => return Err(format!("no bill {fid} in {form_id}")),
        }
        let number = self.row(form_id, fid).unwrap()["FBillNo"]
            .as_str()
            .unwrap_or("")
            .to_string();
        let status = if approve { "C" } else { "D" };
        self.update(
            form_id,
            fid,
            Map::from_iter([("FDocumentStatus".into(), json!(status))]),
        );
        self.decisions.push(Decision {
            form_id: form_id.into(),
            number,
            user: "administrator".into(),
            approve,
            disposition: String::new(),
        });
        Ok(())
    }

    /// Takes the fault due for `service`, if any.
    pub fn take_fault(&mut self, service: &str) -> Option<Fault> {
        self.faults.take(service)
    }

    pub fn new_session(&mut self, user: &str) -> String {
        let id = format!("{:032x}", rand::random::<u128>());
        let expires = Instant::now() + self.options.session_ttl;
        self.sessions.insert(
            id.clone(),
            Session {
                user: user.into(),
                expires,
            },
        );
        id
    }

    /// The session's user, if it is live.
    pub fn session_user(&self, id: &str) -> Option<String> {
        let session = self.sessions.get(id)?;
        (session.expires > Instant::now()).then(|| session.user.clone())
    }

    pub fn expire_sessions(&mut self) {
        self.sessions.clear();
    }
}

/// Unix milliseconds (already shifted to local time) → "YYYY-MM-DDTHH:MM:SS.fff".
pub fn format_local(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    let (year, month, day) = crate::sim_support::civil_from_days(days);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn formats_dates() {
        assert_eq!(super::format_local(0), "1970-01-01T00:00:00.000");
        assert_eq!(
            super::format_local(1_700_000_000_123),
            "2023-11-14T22:13:20.123"
        );
        assert_eq!(
            super::format_local(951_782_400_000),
            "2000-02-29T00:00:00.000"
        );
    }
}
