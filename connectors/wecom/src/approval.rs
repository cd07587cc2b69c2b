//! Approvals through WeCom's 审批 app: submit (`oa/applyevent`) and read (`oa/getapprovaldetail`). WeCom's API
//! cannot approve, reject, revoke or remind: people do that in the client, and the change arrives as a callback.

use qiao_sdk::{Error, json_object};
use serde_json::{Value, json};

use crate::WeCom;
use crate::client::{id_text, number, post};
use crate::exports::qiao::connector::approval::{
    ActRequest, CancelRequest, Comment, CreateRequest, Created, FormField, Guest, Instance,
    RemindRequest, Status, Task,
};
use qiao_sdk::required;

/// WeCom's limit on a summary line.
const SUMMARY_CHARS: usize = 20;

/// `sp_status`: 1 pending, 2 approved, 3 rejected, 4 revoked, 6 revoked after approval, 7 deleted, 10 paid.
pub fn status(sp_status: i64) -> Status {
    match sp_status {
        2 | 10 => Status::Approved,
        3 => Status::Rejected,
        4 | 6 | 7 => Status::Canceled,
        _ => Status::Pending,
    }
}

/// An approver's state on a node (1 pending, 2 approved, 3 rejected, 4 transferred...), in Qiao's words.
fn task_status(sp_status: i64) -> &'static str {
    match sp_status {
        1 => "pending",
        2 => "approved",
        3 => "rejected",
        4 => "transferred",
        _ => "other",
    }
}

/// A form value in WeCom's control shape: JSON objects pass through; otherwise by the control type.
fn control_value(field: &FormField) -> Value {
    if let Ok(value @ Value::Object(_)) = serde_json::from_str(&field.value) {
        return value;
    }
    match field.kind.as_deref().unwrap_or("Text") {
        "Number" => json!({ "new_number": field.value }),
        "Money" => json!({ "new_money": field.value }),
        _ => json!({ "text": field.value }),
    }
}

/// A control's value back as text: the text, number or amount, else its JSON.
fn value_text(value: &Value) -> String {
    for key in ["text", "new_number", "new_money"] {
        if let Some(text) = id_text(&value[key]) {
            return text;
        }
    }
    value.to_string()
}

impl Guest for WeCom {
    /// `fields[].name` is the control id (e.g. `Text-1640339319582`), `kind` its control type (`Text`,
    /// `Number`, `Money`...; default `Text`), or the value a JSON object in WeCom's shape. Without `approvers`,
    /// the template's own flow applies; with them, one node each, in order. The summary defaults to the first
    /// three fields' values, cut to WeCom's 20 characters a line (options `summary_list` overrides it).
    fn create(request: CreateRequest) -> Result<Created, Error> {
        required(&request.template, "template (the WeCom template id)")?;
        required(&request.applicant, "applicant")?;
        if request.fields.is_empty() {
            return Err(Error::invalid_input(
                "fields: a WeCom approval needs its form controls",
            ));
        }
        let mut body = json_object(request.options.as_deref(), "options")?;
        let contents: Vec<Value> = request
            .fields
            .iter()
            .map(|f| {
                required(&f.name, "fields[].name (the control id)")?;
                Ok(json!({ "control": f.kind.as_deref().unwrap_or("Text"), "id": f.name, "value": control_value(f) }))
            })
            .collect::<Result<_, Error>>()?;
        body.insert("creator_userid".into(), json!(request.applicant));
        body.insert("template_id".into(), json!(request.template));
        body.insert(
            "use_template_approver".into(),
            json!(if request.approvers.is_empty() { 1 } else { 0 }),
        );
        if !request.approvers.is_empty() {
            // attr 1: or-sign; one approver per node makes the order explicit.
            let nodes: Vec<Value> = request
                .approvers
                .iter()
                .map(|u| json!({ "attr": 1, "userid": [u] }))
                .collect();
            body.insert("approver".into(), json!(nodes));
        }
        if let Some(dept) = &request.department_id {
            body.insert(
                "choose_department".into(),
                json!(number(dept, "department_id")?),
            );
        }
        body.insert("apply_data".into(), json!({ "contents": contents }));
        body.entry("summary_list").or_insert_with(|| {
            let lines: Vec<Value> = request
                .fields
                .iter()
                .take(3)
                .map(|f| {
                    let text: String = f.value.chars().take(SUMMARY_CHARS).collect();
                    json!({ "summary_info": [{ "text": text, "lang": "zh_CN" }] })
                })
                .collect();
            json!(lines)
        });
        let answer = post("oa/applyevent", &Value::Object(body))?;
        let sp_no = id_text(&answer["sp_no"])
            .ok_or_else(|| Error::internal("oa/applyevent answered no sp_no"))?;
        Ok(Created {
            number: Some(sp_no.clone()),
            id: sp_no,
        })
    }

    fn get(id: String, _template: Option<String>) -> Result<Instance, Error> {
        required(&id, "id")?;
        let answer = post("oa/getapprovaldetail", &json!({ "sp_no": id }))?;
        let info = &answer["info"];
        let mut tasks = Vec::new();
        let mut comments = Vec::new();
        for (node, record) in info["sp_record"]
            .as_array()
            .into_iter()
            .flatten()
            .enumerate()
        {
            for (i, detail) in record["details"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
            {
                let assignee = id_text(&detail["approver"]["userid"]).unwrap_or_default();
                tasks.push(Task {
                    id: format!("{node}.{i}"),
                    assignee: assignee.clone(),
                    status: task_status(detail["sp_status"].as_i64().unwrap_or(0)).into(),
                });
                if let Some(speech) = detail["speech"].as_str().filter(|s| !s.is_empty()) {
                    let time_ms = detail["sptime"]
                        .as_u64()
                        .filter(|t| *t > 0)
                        .map(|t| t * 1000);
                    comments.push(Comment {
                        author: assignee,
                        text: speech.into(),
                        time_ms,
                    });
                }
            }
        }
        for comment in info["comments"].as_array().into_iter().flatten() {
            comments.push(Comment {
                author: id_text(&comment["commentUserInfo"]["userid"]).unwrap_or_default(),
                text: comment["commentcontent"]
                    .as_str()
                    .unwrap_or_default()
                    .into(),
                time_ms: comment["commenttime"].as_u64().map(|t| t * 1000),
            });
        }
        let fields = info["apply_data"]["contents"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|c| FormField {
                name: id_text(&c["id"]).unwrap_or_default(),
                value: value_text(&c["value"]),
                kind: c["control"].as_str().map(String::from),
            })
            .collect();
        let approvers = tasks.iter().map(|t| t.assignee.clone()).collect();
        Ok(Instance {
            id,
            template: info["template_id"].as_str().unwrap_or_default().into(),
            title: info["sp_name"].as_str().map(String::from),
            applicant: id_text(&info["applyer"]["userid"]).unwrap_or_default(),
            status: status(info["sp_status"].as_i64().unwrap_or(1)),
            tasks,
            approvers,
            comments,
            fields,
            extra: Some(
                json!({ "sp_status": info["sp_status"], "apply_time": info["apply_time"] })
                    .to_string(),
            ),
        })
    }

    fn act(_request: ActRequest) -> Result<(), Error> {
        Err(Error::unsupported(
            "WeCom's API cannot approve or reject: approvers act in the WeCom client, and the change arrives \
             as an approval.status_changed event",
        ))
    }

    fn cancel(_request: CancelRequest) -> Result<(), Error> {
        Err(Error::unsupported(
            "WeCom's API cannot revoke an approval: the applicant revokes it in the WeCom client",
        ))
    }

    fn remind(_request: RemindRequest) -> Result<(), Error> {
        Err(Error::unsupported(
            "WeCom's API cannot remind approvers (催办): people do that in the WeCom client; remind them with a \
             message instead",
        ))
    }
}
