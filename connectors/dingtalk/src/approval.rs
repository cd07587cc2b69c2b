//! OA approvals on the new API (`/v1.0/workflow/processInstances`): create from a process code and form
//! values, read with DingTalk's status and result folded into one Qiao status, act on a task, terminate.

use qiao_sdk::http::Method;
use qiao_sdk::text::urlencode;
use qiao_sdk::{Error, ErrorKind, json_object};
use serde_json::{Value, json};

use crate::DingTalk;
use crate::client::{agent_id, api, dept_number, id_text, string};
use crate::exports::qiao::connector::approval::{
    ActRequest, Action, CancelRequest, Comment, CreateRequest, Created, FormField, Guest, Instance,
    RemindRequest, Status, Task,
};
use qiao_sdk::required;

/// An instance's status: `RUNNING`/`NEW` are pending; `COMPLETED` is approved or rejected by `result`;
/// `TERMINATED` (撤销) and `CANCELED` are canceled.
pub fn instance_status(status: &str, result: &str) -> Status {
    match (
        status.to_ascii_uppercase().as_str(),
        result.to_ascii_lowercase().as_str(),
    ) {
        ("COMPLETED", "agree") => Status::Approved,
        ("COMPLETED", "refuse") => Status::Rejected,
        ("TERMINATED" | "CANCELED", _) => Status::Canceled,
        _ => Status::Pending,
    }
}

/// A task's state in Qiao's lower-case words.
fn task_status(status: &str, result: &str) -> String {
    match (
        status.to_ascii_uppercase().as_str(),
        result.to_ascii_uppercase().as_str(),
    ) {
        ("COMPLETED", "AGREE") => "approved",
        ("COMPLETED", "REFUSE") => "rejected",
        ("COMPLETED", "REDIRECTED") => "redirected",
        ("NEW" | "RUNNING", _) => "pending",
        ("PAUSED", _) => "paused",
        ("CANCELED" | "TERMINATED", _) => "canceled",
        _ => "completed",
    }
    .into()
}

fn fetch(id: &str) -> Result<Value, Error> {
    required(id, "id")?;
    let body = api(
        Method::Get,
        &format!(
            "/v1.0/workflow/processInstances?processInstanceId={}",
            urlencode(id)
        ),
        None,
    )?;
    if body["result"].is_null() {
        return Err(Error::not_found(format!("no approval instance {id}")));
    }
    Ok(body["result"].clone())
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_string()
}

impl Guest for DingTalk {
    fn create(request: CreateRequest) -> Result<Created, Error> {
        required(&request.template, "template (the DingTalk process code)")?;
        required(&request.applicant, "applicant")?;
        if request.fields.is_empty() {
            return Err(Error::invalid_input(
                "fields: a DingTalk approval needs its form values",
            ));
        }
        for field in &request.fields {
            required(&field.name, "fields[].name")?;
        }
        let mut body = json_object(request.options.as_deref(), "options")?;
        body.insert("processCode".into(), json!(request.template));
        body.insert("originatorUserId".into(), json!(request.applicant));
        body.insert("microappAgentId".into(), json!(agent_id()?));
        if let Some(dept) = &request.department_id {
            body.insert("deptId".into(), json!(dept_number(dept, "department_id")?));
        }
        if !request.approvers.is_empty() {
            // One step per approver, in order: what "explicit approvers" means to a person filling the form.
            let steps: Vec<Value> = request
                .approvers
                .iter()
                .map(|u| json!({ "actionType": "NONE", "userIds": [u] }))
                .collect();
            body.insert("approvers".into(), json!(steps));
        }
        let values: Vec<Value> = request
            .fields
            .iter()
            .map(|f| json!({ "name": f.name, "value": f.value }))
            .collect();
        body.insert("formComponentValues".into(), json!(values));
        let answer = api(
            Method::Post,
            "/v1.0/workflow/processInstances",
            Some(&Value::Object(body)),
        )?;
        Ok(Created {
            id: string(&answer["instanceId"], "instanceId")?,
            number: None,
        })
    }

    fn get(id: String, template: Option<String>) -> Result<Instance, Error> {
        let result = fetch(&id)?;
        let tasks = result["tasks"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| Task {
                id: id_text(&t["taskId"]).unwrap_or_default(),
                assignee: text(&t["userId"]),
                status: task_status(&text(&t["status"]), &text(&t["result"])),
            })
            .collect();
        let comments = result["operationRecords"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["remark"].as_str().is_some_and(|s| !s.is_empty()))
            .map(|r| Comment {
                author: text(&r["userId"]),
                text: text(&r["remark"]),
                time_ms: None,
            })
            .collect();
        let fields = result["formComponentValues"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|f| FormField {
                name: text(&f["name"]),
                value: text(&f["value"]),
                kind: f["componentType"].as_str().map(String::from),
            })
            .collect();
        Ok(Instance {
            template: template
                .or_else(|| result["processCode"].as_str().map(String::from))
                .unwrap_or_default(),
            title: result["title"].as_str().map(String::from),
            applicant: text(&result["originatorUserId"]),
            status: instance_status(&text(&result["status"]), &text(&result["result"])),
            tasks,
            approvers: result["approverUserIds"]
                .as_array()
                .map(|l| l.iter().filter_map(id_text).collect())
                .unwrap_or_default(),
            comments,
            fields,
            extra: Some(
                json!({
                    "business_id": result["businessId"],
                    "dingtalk_status": result["status"],
                    "dingtalk_result": result["result"],
                })
                .to_string(),
            ),
            id,
        })
    }

    /// Without a task id, acts on the pending task of `actor` (or the only pending task).
    fn act(request: ActRequest) -> Result<(), Error> {
        let (task_id, actor) = match (&request.task_id, &request.actor) {
            (Some(task), Some(actor)) => (task.clone(), actor.clone()),
            _ => pending_task(&request)?,
        };
        let task: i64 = task_id.parse().map_err(|_| {
            Error::invalid_input(format!("task_id must be a number, got {task_id:?}"))
        })?;
        let mut body = json!({
            "processInstanceId": request.instance_id,
            "taskId": task,
            "actionerUserId": actor,
            "result": match request.action { Action::Approve => "agree", Action::Reject => "refuse" },
        });
        if let Some(comment) = &request.comment {
            body["remark"] = json!(comment);
        }
        let answer = api(
            Method::Post,
            "/v1.0/workflow/processInstances/execute",
            Some(&body),
        )?;
        if answer["result"] == false {
            return Err(Error::conflict(
                "DingTalk did not execute the task (already done?)",
            ));
        }
        Ok(())
    }

    /// Terminates (撤销) the instance: as the operator when given, else as the system.
    fn cancel(request: CancelRequest) -> Result<(), Error> {
        required(&request.instance_id, "instance id")?;
        let mut body = json!({ "processInstanceId": request.instance_id, "isSystem": request.operator.is_none() });
        if let Some(operator) = &request.operator {
            body["operatingUserId"] = json!(operator);
        }
        if let Some(reason) = &request.reason {
            body["remark"] = json!(reason);
        }
        let answer = api(
            Method::Post,
            "/v1.0/workflow/processInstances/terminate",
            Some(&body),
        )?;
        if answer["result"] == false {
            return Err(Error::conflict(
                "DingTalk did not terminate the instance (already finished?)",
            ));
        }
        Ok(())
    }

    /// DingTalk's workflow API (`/v1.0/workflow/processInstances/...`) has create, get, execute and terminate,
    /// but no reminder (催办) an app can send.
    fn remind(_request: RemindRequest) -> Result<(), Error> {
        Err(Error::unsupported(
            "DingTalk's approval API has no reminder (催办) for an app to send; remind the approvers with a \
             message instead",
        ))
    }
}

/// The task to act on when the caller named only the actor, or nothing: their running task, or the only one.
fn pending_task(request: &ActRequest) -> Result<(String, String), Error> {
    let result = fetch(&request.instance_id)?;
    let running: Vec<(String, String)> = result["tasks"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|t| matches!(t["status"].as_str(), Some("RUNNING" | "NEW")))
        .filter_map(|t| Some((id_text(&t["taskId"])?, text(&t["userId"]))))
        .filter(|(id, user)| {
            request.actor.as_ref().is_none_or(|a| a == user)
                && request.task_id.as_ref().is_none_or(|t| t == id)
        })
        .collect();
    match running.as_slice() {
        [one] => Ok(one.clone()),
        [] => Err(Error::new(
            ErrorKind::Conflict,
            format!(
                "approval {} has no pending task{}",
                request.instance_id,
                request
                    .actor
                    .as_ref()
                    .map(|a| format!(" for {a}"))
                    .unwrap_or_default()
            ),
        )),
        _ => Err(Error::invalid_input(
            "several tasks are pending: name the task_id or the actor",
        )),
    }
}
