//! DingTalk's HTTP-push event subscription: `POST ?msg_signature=&timestamp=&nonce=` with `{"encrypt": …}`.
//! Every callback is verified and decrypted (the owner key must be ours), every answer is the encrypted word
//! "success" (else DingTalk counts the push as failed and retries), and the events are normalized into Qiao's.

use qiao_sdk::msg_crypt::{self, MsgCrypt};
use qiao_sdk::text::{hex, query_param};
use qiao_sdk::{Error, config, crypto, require_config, types::Event};
use serde_json::{Value, json};

use crate::DingTalk;
use crate::approval::instance_status;
use crate::client::{app_key, id_text};
use crate::exports::qiao::connector::approval::Status;
use crate::exports::qiao::connector::webhook::{Guest, Outcome, Request, Response};

fn crypt() -> Result<MsgCrypt, Error> {
    let owner = match config::get("callback_owner_key").filter(|v| !v.is_empty()) {
        Some(owner) => owner,
        None => app_key()?,
    };
    MsgCrypt::new(
        &require_config("callback_token")?,
        &require_config("callback_aes_key")?,
        &owner,
    )
}

impl Guest for DingTalk {
    fn handle(request: Request) -> Result<Outcome, Error> {
        if request.method != "POST" {
            return Err(Error::invalid_input("DingTalk callbacks are POSTs"));
        }
        let crypt = crypt()?;
        let param = |name: &str| query_param(&request.query, name).unwrap_or_default();
        // Event subscriptions sign with `msg_signature`; older ISV callbacks name it `signature`.
        let signature = query_param(&request.query, "msg_signature")
            .or_else(|| query_param(&request.query, "signature"))
            .ok_or_else(|| Error::unauthorized("callback without msg_signature"))?;
        let (timestamp, nonce) = (param("timestamp"), param("nonce"));
        let envelope: Value = serde_json::from_slice(&request.body)
            .map_err(|_| Error::invalid_input("callback body is not JSON"))?;
        let encrypt = envelope["encrypt"]
            .as_str()
            .ok_or_else(|| Error::invalid_input("callback body has no \"encrypt\""))?;
        crypt.verify(&signature, &timestamp, &nonce, encrypt)?;
        let plaintext = crypt.decrypt(encrypt)?;
        let event: Value = serde_json::from_str(&plaintext)
            .map_err(|_| Error::invalid_input("decrypted callback is not JSON"))?;
        let events = normalize(&event, &plaintext);
        Ok(Outcome {
            response: success(&crypt, &timestamp)?,
            events,
        })
    }
}

/// `{"msg_signature","timeStamp","nonce","encrypt"}` with "success" encrypted: the only answer DingTalk takes
/// as delivered (and, for `check_url`, as a verified URL).
fn success(crypt: &MsgCrypt, timestamp: &str) -> Result<Response, Error> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis().to_string())
        .unwrap_or_else(|_| timestamp.to_string());
    let nonce = msg_crypt::nonce(8);
    let encrypt = crypt.encrypt("success")?;
    let body = json!({
        "msg_signature": crypt.signature(&now, &nonce, &encrypt),
        "timeStamp": now,
        "nonce": nonce,
        "encrypt": encrypt,
    });
    Ok(Response {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    })
}

fn status_word(status: Status) -> &'static str {
    match status {
        Status::Draft => "draft",
        Status::Pending => "pending",
        Status::Approved => "approved",
        Status::Rejected => "rejected",
        Status::Canceled => "canceled",
    }
}

/// Qiao events for one HTTP-push callback; `check_url` has none.
fn normalize(event: &Value, plaintext: &str) -> Vec<Event> {
    let event_type = event["EventType"].as_str().unwrap_or_default();
    if event_type == "check_url" {
        return vec![];
    }
    let id = event["eventId"]
        .as_str()
        .or_else(|| event["EventId"].as_str())
        .map(String::from)
        .unwrap_or_else(|| hex(&crypto::sha256(plaintext.as_bytes())));
    let time_ms = event["EventTime"]
        .as_u64()
        .or_else(|| id_text(&event["EventTime"]).and_then(|t| t.parse().ok()))
        .or_else(|| id_text(&event["TimeStamp"]).and_then(|t| t.parse().ok()));
    events(event_type, event, &id, time_ms)
}

/// Qiao events for one DingTalk event, however it came (HTTP push flattens the business fields next to
/// `EventType`; Stream mode carries them alone in `data`): `fields` holds them, `id` is DingTalk's `eventId` so a
/// redelivery de-duplicates. To-do events are `todo_events.rs`'s. Contact events name several users or
/// departments at once: one event each, the id suffixed when there are several.
pub fn events(event_type: &str, fields: &Value, id: &str, time_ms: Option<u64>) -> Vec<Event> {
    if let Some(events) = crate::todo_events::events(event_type, fields, id, time_ms) {
        return events;
    }
    let event = fields;
    let id = id.to_string();
    let text = |key: &str| event[key].as_str().unwrap_or_default().to_string();
    let one = |kind: &str, subject: String, payload: Value| {
        vec![Event {
            id: id.clone(),
            kind: kind.into(),
            time_ms,
            subject,
            payload: payload.to_string(),
        }]
    };
    match event_type {
        "bpms_instance_change" => {
            let status = match text("type").as_str() {
                "start" => Status::Pending,
                "finish" => instance_status("COMPLETED", &text("result")),
                _ => Status::Canceled, // terminate, delete
            };
            one(
                "approval.status_changed",
                text("processInstanceId"),
                json!({
                    "instance_id": text("processInstanceId"), "template": text("processCode"),
                    "status": status_word(status), "title": text("title"), "applicant": text("staffId"),
                    "business_id": event["businessId"], "platform": event,
                }),
            )
        }
        "bpms_task_change" => {
            let status = match (text("type").as_str(), text("result").as_str()) {
                ("start", _) => "pending",
                ("finish", "agree") => "approved",
                ("finish", "refuse") => "rejected",
                ("finish", "redirect") => "redirected",
                _ => "canceled",
            };
            one(
                "approval.task_changed",
                text("processInstanceId"),
                json!({
                    "instance_id": text("processInstanceId"), "template": text("processCode"),
                    "task_id": id_text(&event["taskId"]), "assignee": text("staffId"), "status": status,
                    "comment": event["remark"], "platform": event,
                }),
            )
        }
        _ => match contact_kind(event_type) {
            Some((kind, key)) => {
                let subjects: Vec<String> = event[key]
                    .as_array()
                    .map(|l| l.iter().filter_map(id_text).collect())
                    .unwrap_or_default();
                let many = subjects.len() > 1;
                subjects
                    .into_iter()
                    .map(|subject| Event {
                        id: if many {
                            format!("{id}/{subject}")
                        } else {
                            id.clone()
                        },
                        kind: kind.into(),
                        time_ms,
                        payload: json!({ "id": subject, "platform": event }).to_string(),
                        subject,
                    })
                    .collect()
            }
            // Kept, not dropped: a subscriber may want an event type this connector does not know yet.
            None => one(
                &format!("dingtalk.{event_type}"),
                String::new(),
                json!({ "platform": event }),
            ),
        },
    }
}

/// The Qiao kind of a contact-change event, and the field listing whom it is about.
fn contact_kind(event_type: &str) -> Option<(&'static str, &'static str)> {
    Some(match event_type {
        "user_add_org" => ("contact.user_created", "UserId"),
        "user_modify_org" => ("contact.user_updated", "UserId"),
        "user_leave_org" => ("contact.user_deleted", "UserId"),
        "org_dept_create" => ("contact.department_created", "DeptId"),
        "org_dept_modify" => ("contact.department_updated", "DeptId"),
        "org_dept_remove" => ("contact.department_deleted", "DeptId"),
        _ => return None,
    })
}
