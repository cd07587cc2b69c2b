//! Approvals mapped onto bills (expense claims, purchase requests...): `template` is the form id. Create = Save
//! (+ Submit when asked); get = View, `DocumentStatus` → Qiao's status; approve = Audit, reject = UnAudit, or
//! WorkflowAudit for forms under a BOS workflow (`workflow_forms`); cancel = UnAudit where needed, then Delete.

use qiao_sdk::{Error, config, json_object, required};
use serde_json::{Map, Value, json};

use crate::Kingdee;
use crate::client::{form, text};
use crate::exports::qiao::connector::approval::{
    ActRequest, Action, CancelRequest, CreateRequest, Created, FormField, Guest, Instance,
    RemindRequest, Status,
};

/// Z saved as draft, A created, B submitted (being audited), C audited, D un-audited (sent back).
pub fn status(document_status: &str) -> Status {
    match document_status {
        "B" => Status::Pending,
        "C" => Status::Approved,
        "D" => Status::Rejected,
        _ => Status::Draft,
    }
}

fn form_id(template: &Option<String>) -> Result<String, Error> {
    template.clone().filter(|t| !t.is_empty()).ok_or_else(|| {
        Error::invalid_input("template (the K3Cloud form id, e.g. ER_ExpReimbursement) is required")
    })
}

fn under_workflow(form_id: &str) -> bool {
    config::get("workflow_forms").is_some_and(|forms| forms.split(',').any(|f| f.trim() == form_id))
}

fn ids(id: &str) -> Value {
    json!({ "Ids": id })
}

fn view(form_id: &str, id: &str) -> Result<Value, Error> {
    required(id, "id")?;
    let number: i64 = id.parse().map_err(|_| {
        Error::invalid_input(format!("id must be the bill's FID (a number), got {id:?}"))
    })?;
    let answer = form(
        "View",
        &json!({ "formid": form_id, "data": { "Id": number } }),
    )?;
    let bill = answer["Result"]["Result"].clone();
    if bill.is_null() {
        return Err(Error::not_found(format!("no {form_id} bill with id {id}")));
    }
    Ok(bill)
}

fn document_status(bill: &Value) -> String {
    text(if bill["DocumentStatus"].is_null() {
        &bill["FDocumentStatus"]
    } else {
        &bill["DocumentStatus"]
    })
}

impl Guest for Kingdee {
    /// `fields`: K3Cloud field keys and values (a JSON object value, e.g. `{"FNumber": "E001"}`, references base
    /// data). `options`: `{"submit": true}` submits after saving; `{"applicant_field": "FProposerID"}` puts the
    /// applicant there as a reference.
    fn create(request: CreateRequest) -> Result<Created, Error> {
        let form_id = form_id(&Some(request.template.clone()))?;
        let options = Value::Object(json_object(request.options.as_deref(), "options")?);
        let mut model = Map::new();
        for field in &request.fields {
            required(&field.name, "fields[].name (a K3Cloud field key)")?;
            let value = match serde_json::from_str::<Value>(&field.value) {
                Ok(v @ (Value::Object(_) | Value::Array(_))) => v,
                _ => json!(field.value),
            };
            model.insert(field.name.clone(), value);
        }
        if let Some(key) = options["applicant_field"].as_str() {
            model.insert(key.into(), json!({ "FNumber": request.applicant }));
        }
        model.insert("FID".into(), json!(0));
        let data = json!({ "Model": model, "NeedUpDateFields": [], "NeedReturnFields": [], "IsDeleteEntry": "true",
                           "IsAutoSubmitAndAudit": "false", "IsVerifyBaseDataField": "true" });
        let answer = form("Save", &json!({ "formid": form_id, "data": data }))?;
        let id = text(&answer["Result"]["Id"]);
        let number = Some(text(&answer["Result"]["Number"])).filter(|n| !n.is_empty());
        if id.is_empty() || id == "0" {
            return Err(Error::internal("K3Cloud saved the bill but answered no Id"));
        }
        if options["submit"] == true {
            form("Submit", &json!({ "formid": form_id, "data": ids(&id) }))?;
        }
        Ok(Created { id, number })
    }

    fn get(id: String, template: Option<String>) -> Result<Instance, Error> {
        let form_id = form_id(&template)?;
        let bill = view(&form_id, &id)?;
        let fields = bill
            .as_object()
            .into_iter()
            .flatten()
            .filter(|(_, v)| v.is_string() || v.is_number() || v.is_boolean())
            .map(|(k, v)| FormField {
                name: k.clone(),
                value: text(v),
                kind: None,
            })
            .collect();
        let number = text(if bill["BillNo"].is_null() {
            &bill["FBillNo"]
        } else {
            &bill["BillNo"]
        });
        Ok(Instance {
            id,
            title: Some(number.clone()).filter(|n| !n.is_empty()),
            applicant: String::new(),
            status: status(&document_status(&bill)),
            tasks: vec![],
            approvers: vec![],
            comments: vec![],
            fields,
            extra: Some(json!({ "form_id": form_id, "bill_no": number, "document_status": document_status(&bill) }).to_string()),
            template: form_id,
        })
    }

    fn act(request: ActRequest) -> Result<(), Error> {
        let form_id = form_id(&request.template)?;
        required(&request.instance_id, "instance id")?;
        if under_workflow(&form_id) {
            let mut data = json!({
                "FormId": form_id,
                "Ids": request.instance_id,
                "ApprovalType": match request.action { Action::Approve => 1, Action::Reject => 2 },
                "Disposition": request.comment.clone().unwrap_or_default(),
            });
            if let Some(actor) = &request.actor {
                data["UserName"] = json!(actor);
            }
            return form("WorkflowAudit", &json!({ "data": data })).map(drop);
        }
        let operation = match request.action {
            Action::Approve => "Audit",
            Action::Reject => "UnAudit",
        };
        let mut data = ids(&request.instance_id);
        if operation == "Audit" {
            data["InterationFlags"] = json!("");
            data["IsVerifyProcInst"] = json!("true");
        }
        form(operation, &json!({ "formid": form_id, "data": data })).map(drop)
    }

    /// Un-audits a submitted or audited bill first, since K3Cloud deletes only bills that are not.
    fn cancel(request: CancelRequest) -> Result<(), Error> {
        let form_id = form_id(&request.template)?;
        let bill = view(&form_id, &request.instance_id)?;
        if matches!(document_status(&bill).as_str(), "B" | "C") {
            form(
                "UnAudit",
                &json!({ "formid": form_id, "data": ids(&request.instance_id) }),
            )?;
        }
        form(
            "Delete",
            &json!({ "formid": form_id, "data": ids(&request.instance_id) }),
        )
        .map(drop)
    }

    fn remind(_request: RemindRequest) -> Result<(), Error> {
        Err(Error::unsupported(
            "K3Cloud's WebAPI has no reminder for a bill's approvers, and no messaging to end users; remind them \
             on another platform",
        ))
    }
}
