//! Approvals (`approval/v4`): create with the form as Feishu wants it (a JSON *string* of widgets), read with
//! tasks and comments, approve and reject tasks, cancel, remind (as the reminding user). Feishu only sends an
//! approval code's events after the app subscribes to it, so the first create with a code subscribes (once;
//! remembered in kv).

use qiao_sdk::http::Method;
use qiao_sdk::{Error, ErrorKind, json_kv, json_object, logging, required};
use serde_json::{Value, json};

use crate::Feishu;
use crate::client::{call_as, enc, get, post, string, user_id_query, user_id_type};
use crate::exports::qiao::connector::approval::{
    ActRequest, Action, CancelRequest, Comment, CreateRequest, Created, FormField, Guest, Instance,
    RemindRequest, Status, Task,
};
use crate::user_tokens;

/// Feishu's reminder comment is at most this many characters.
const MAX_REMIND_COMMENT: usize = 500;

/// PENDING, APPROVED, REJECTED; CANCELED, DELETED and REVERTED end without a decision.
pub fn status(text: &str) -> Status {
    match text.to_ascii_uppercase().as_str() {
        "APPROVED" => Status::Approved,
        "REJECTED" => Status::Rejected,
        "CANCELED" | "DELETED" | "REVERTED" | "OVERTIME_CLOSE" => Status::Canceled,
        _ => Status::Pending,
    }
}

/// The user field Feishu reads for the configured id type (`user_id` or `open_id`).
fn user_field() -> &'static str {
    if user_id_type() == "user_id" {
        "user_id"
    } else {
        "open_id"
    }
}

/// Subscribes the app to a code's events the first time a connection uses it.
fn ensure_subscribed(code: &str) -> Result<(), Error> {
    let key = format!("subscribed:{code}");
    if json_kv::get::<bool>(&key).is_some() {
        return Ok(());
    }
    match post(
        &format!("approval/v4/approvals/{}/subscribe", enc(code)),
        &json!({}),
    ) {
        Ok(_) => logging::info(
            "subscribed to the approval code's events, so its status changes arrive at the webhook",
            &[("approval_code", code)],
        ),
        // Already subscribed (by an earlier run or another tool): what we wanted.
        Err(e)
            if e.platform_message
                .as_deref()
                .is_some_and(|m| m.to_ascii_lowercase().contains("subscri")) => {}
        Err(e) => return Err(e),
    }
    json_kv::set(&key, &true, None)
}

fn instance(id: &str) -> Result<Value, Error> {
    required(id, "id")?;
    get(&format!("approval/v4/instances/{}?{}", enc(id), user_id_query()))
}

fn user_of(value: &Value) -> String {
    value[user_field()]
        .as_str()
        .or_else(|| value["user_id"].as_str())
        .unwrap_or_default()
        .to_string()
}

impl Guest for Feishu {
    /// `fields`: widget id, value and `kind` (the widget type, default `input`); a value that is JSON (a number,
    /// a list) is passed as JSON. `approvers` are not set here: Feishu binds them to node ids, given in
    /// `options` as `node_approver_user_id_list` (or `node_approver_open_id_list`).
    fn create(request: CreateRequest) -> Result<Created, Error> {
        required(&request.template, "template (the Feishu approval code)")?;
        required(&request.applicant, "applicant")?;
        if request.fields.is_empty() {
            return Err(Error::invalid_input(
                "fields: a Feishu approval needs its form widgets",
            ));
        }
        let mut form = Vec::new();
        for field in &request.fields {
            required(&field.name, "fields[].name (the widget id)")?;
            let value = match serde_json::from_str::<Value>(&field.value) {
                Ok(v @ (Value::Array(_) | Value::Object(_))) => v,
                _ => json!(field.value),
            };
            form.push(json!({ "id": field.name, "type": field.kind.as_deref().unwrap_or("input"), "value": value }));
        }
        let mut body = Value::Object(json_object(request.options.as_deref(), "options")?);
        body["approval_code"] = json!(request.template);
        body[user_field()] = json!(request.applicant);
        body["form"] = json!(Value::Array(form).to_string());
        if let Some(dept) = &request.department_id {
            body["department_id"] = json!(dept);
        }
        if let Some(key) = &request.idempotency_key {
            body["uuid"] = json!(key);
        }
        ensure_subscribed(&request.template)?;
        let data = post(&format!("approval/v4/instances?{}", user_id_query()), &body)?;
        Ok(Created {
            id: string(&data["instance_code"], "instance_code")?,
            number: None,
        })
    }

    fn get(id: String, _template: Option<String>) -> Result<Instance, Error> {
        let data = instance(&id)?;
        let tasks: Vec<Task> = data["task_list"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|t| Task {
                id: t["id"].as_str().unwrap_or_default().into(),
                assignee: user_of(t),
                status: t["status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_ascii_lowercase(),
            })
            .collect();
        let comments = data["comment_list"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| Comment {
                author: user_of(c),
                text: c["comment"].as_str().unwrap_or_default().into(),
                time_ms: c["create_time"].as_str().and_then(|t| t.parse().ok()),
            })
            .collect();
        // The form comes back as a JSON string of widgets.
        let widgets: Value = data["form"]
            .as_str()
            .and_then(|f| serde_json::from_str(f).ok())
            .unwrap_or(json!([]));
        let fields = widgets
            .as_array()
            .into_iter()
            .flatten()
            .map(|w| FormField {
                name: w["id"].as_str().unwrap_or_default().into(),
                value: match &w["value"] {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                },
                kind: w["type"].as_str().map(String::from),
            })
            .collect();
        Ok(Instance {
            template: data["approval_code"].as_str().unwrap_or_default().into(),
            title: data["approval_name"].as_str().map(String::from),
            applicant: user_of(&data),
            status: status(data["status"].as_str().unwrap_or_default()),
            approvers: tasks.iter().map(|t| t.assignee.clone()).collect(),
            tasks,
            comments,
            fields,
            extra: Some(
                json!({ "serial_number": data["serial_number"], "feishu_status": data["status"] })
                    .to_string(),
            ),
            id,
        })
    }

    /// Without `task_id`, acts on the actor's pending task (or the only pending one); without `template`, the
    /// instance says its approval code.
    fn act(request: ActRequest) -> Result<(), Error> {
        let (mut code, mut task, mut actor) = (
            request.template.clone(),
            request.task_id.clone(),
            request.actor.clone(),
        );
        if code.is_none() || task.is_none() || actor.is_none() {
            let data = instance(&request.instance_id)?;
            code = code.or_else(|| data["approval_code"].as_str().map(String::from));
            let pending: Vec<(String, String)> = data["task_list"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|t| t["status"] == "PENDING")
                .map(|t| (t["id"].as_str().unwrap_or_default().to_string(), user_of(t)))
                .filter(|(id, user)| {
                    task.as_ref().is_none_or(|t| t == id)
                        && actor.as_ref().is_none_or(|a| a == user)
                })
                .collect();
            match pending.as_slice() {
                [(id, user)] => {
                    task = Some(id.clone());
                    actor = Some(user.clone());
                }
                [] => {
                    return Err(Error::new(
                        ErrorKind::Conflict,
                        format!(
                            "approval {} has no pending task for this actor",
                            request.instance_id
                        ),
                    ));
                }
                _ => {
                    return Err(Error::invalid_input(
                        "several tasks are pending: name the task_id or the actor",
                    ));
                }
            }
        }
        let verb = match request.action {
            Action::Approve => "approve",
            Action::Reject => "reject",
        };
        let mut body = json!({
            "approval_code": code.unwrap_or_default(),
            "instance_code": request.instance_id,
            "user_id": actor.unwrap_or_default(),
            "task_id": task.unwrap_or_default(),
        });
        if let Some(comment) = &request.comment {
            body["comment"] = json!(comment);
        }
        post(&format!("approval/v4/tasks/{verb}?{}", user_id_query()), &body).map(drop)
    }

    /// Withdrawn by the applicant (Feishu's cancel needs the applicant as `user_id`).
    fn cancel(request: CancelRequest) -> Result<(), Error> {
        let (code, operator) = match (&request.template, &request.operator) {
            (Some(code), Some(op)) => (code.clone(), op.clone()),
            _ => {
                let data = instance(&request.instance_id)?;
                (
                    request.template.clone().unwrap_or_else(|| {
                        data["approval_code"].as_str().unwrap_or_default().into()
                    }),
                    request.operator.clone().unwrap_or_else(|| user_of(&data)),
                )
            }
        };
        let body = json!({ "approval_code": code, "instance_code": request.instance_id, "user_id": operator });
        post(
            &format!("approval/v4/instances/cancel?{}", user_id_query()),
            &body,
        )
        .map(drop)
    }

    /// Feishu's reminder, `POST approval/v4/instances/remind {instance_code, task_ids, comment}` (NEXT.md §6), is a
    /// person's action taken with their own user_access_token (scope approval:instance:write): the reminding user
    /// (the `operator`, by default the applicant, who is the one Feishu lets remind) must have signed in to Qiao
    /// with Feishu, which keeps their token (user_tokens.rs). Without `task-ids`, every pending task is reminded.
    fn remind(request: RemindRequest) -> Result<(), Error> {
        if let Some(comment) = &request.comment
            && comment.chars().count() > MAX_REMIND_COMMENT
        {
            return Err(Error::invalid_input(format!(
                "comment: Feishu's reminder takes at most {MAX_REMIND_COMMENT} characters"
            )));
        }
        let data = instance(&request.instance_id)?;
        let pending: Vec<String> = data["task_list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["status"] == "PENDING")
            .filter_map(|t| t["id"].as_str().map(String::from))
            .collect();
        let task_ids = if request.task_ids.is_empty() {
            pending
        } else {
            request.task_ids.clone()
        };
        if task_ids.is_empty() {
            return Err(Error::new(
                ErrorKind::Conflict,
                format!(
                    "approval {} has no pending task to remind",
                    request.instance_id
                ),
            ));
        }
        let operator = request.operator.clone().unwrap_or_else(|| user_of(&data));
        required(&operator, "operator")?;
        let token = user_tokens::token_for(&operator, "Reminding approvers on Feishu")?;
        let mut body = json!({ "instance_code": request.instance_id, "task_ids": task_ids });
        if let Some(comment) = &request.comment {
            body["comment"] = json!(comment);
        }
        call_as(
            Method::Post,
            &format!("approval/v4/instances/remind?{}", user_id_query()),
            Some(&body),
            &token,
        )
        .map(drop)
    }
}
