//! Feishu event callbacks. With an Encrypt Key configured, bodies are `{"encrypt": base64(IV ‖ AES-256-CBC)}`
//! under SHA-256(key), and pushes are signed: `X-Lark-Signature` = SHA-256(timestamp + nonce + key + raw body),
//! checked over the exact bytes received. The verification token inside is checked too. Both envelopes are
//! read: v2 (`schema: 2.0`, `header.event_id`) and v1 (`uuid`), which approval events still use. Task events
//! become the shared task vocabulary (task_events.rs).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use qiao_sdk::crypto::{self, Padding};
use qiao_sdk::text::hex;
use qiao_sdk::{Error, config, types::Event};
use serde_json::{Value, json};

use crate::Feishu;
use crate::approval::status;
use crate::client::{department_id_of, millis, user_id_of};
use crate::exports::qiao::connector::approval::Status;
use crate::exports::qiao::connector::webhook::{Guest, Outcome, Request, Response};
use crate::task_events;

fn header<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request
        .headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn setting(key: &str) -> Option<String> {
    config::get(key).filter(|v| !v.is_empty())
}

fn decrypt(encrypt_key: &str, encrypt: &str) -> Result<String, Error> {
    let refuse = |why: &str| Error::unauthorized(format!("callback cannot be decrypted: {why}"));
    let data = STANDARD
        .decode(encrypt.trim())
        .map_err(|_| refuse("not base64"))?;
    if data.len() < 32 || data.len() % 16 != 0 {
        return Err(refuse("not IV plus whole AES blocks"));
    }
    let key = crypto::sha256(encrypt_key.as_bytes());
    let plain = crypto::aes256_cbc_decrypt(&key, &data[..16], &data[16..], Padding::Pkcs7)
        .map_err(|_| refuse("wrong encrypt key"))?;
    String::from_utf8(plain).map_err(|_| refuse("not UTF-8"))
}

fn json_response(body: Value) -> Response {
    Response {
        status: 200,
        headers: vec![("content-type".into(), "application/json".into())],
        body: body.to_string().into_bytes(),
    }
}

impl Guest for Feishu {
    fn handle(request: Request) -> Result<Outcome, Error> {
        if request.method != "POST" {
            return Err(Error::invalid_input("Feishu callbacks are POSTs"));
        }
        let outer: Value = serde_json::from_slice(&request.body)
            .map_err(|_| Error::invalid_input("callback body is not JSON"))?;
        let encrypt_key = setting("encrypt_key");
        let body: Value = match (outer["encrypt"].as_str(), &encrypt_key) {
            (Some(encrypt), Some(key)) => serde_json::from_str(&decrypt(key, encrypt)?)
                .map_err(|_| Error::invalid_input("decrypted callback is not JSON"))?,
            (Some(_), None) => {
                return Err(Error::invalid_input(
                    "callback is encrypted but encrypt_key is not configured",
                ));
            }
            (None, Some(_)) => {
                return Err(Error::unauthorized(
                    "callback is not encrypted although an encrypt_key is configured",
                ));
            }
            (None, None) => outer,
        };
        let token = body["token"]
            .as_str()
            .or_else(|| body["header"]["token"].as_str())
            .unwrap_or_default();
        if let Some(expected) = setting("verification_token")
            && token != expected
        {
            return Err(Error::unauthorized("callback verification token mismatch"));
        }
        // Feishu does not sign the URL check; everything else it signs when an encrypt key is set.
        if body["type"] == "url_verification" {
            return Ok(Outcome {
                response: json_response(json!({ "challenge": body["challenge"] })),
                events: vec![],
            });
        }
        if let Some(key) = &encrypt_key {
            let (timestamp, nonce, signature) = (
                header(&request, "x-lark-request-timestamp").unwrap_or_default(),
                header(&request, "x-lark-request-nonce").unwrap_or_default(),
                header(&request, "x-lark-signature").unwrap_or_default(),
            );
            let mut signed = format!("{timestamp}{nonce}{key}").into_bytes();
            signed.extend_from_slice(&request.body);
            if hex(&crypto::sha256(&signed)) != signature.to_ascii_lowercase() {
                return Err(Error::unauthorized(
                    "callback signature (X-Lark-Signature) mismatch",
                ));
            }
        }
        Ok(Outcome {
            response: json_response(json!({})),
            events: normalize(&body),
        })
    }
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

/// An event's JSON (v2 or v1 envelope, decrypted) as Qiao events: the one mapping for callbacks and the long
/// connection (stream.rs).
pub(crate) fn normalize(body: &Value) -> Vec<Event> {
    if body["schema"] == "2.0" {
        return normalize_v2(body);
    }
    // v1: {"uuid", "ts", "type": "event_callback", "event": {"type", ...}}
    let event = &body["event"];
    let id = body["uuid"].as_str().unwrap_or_default().to_string();
    let text = |key: &str| event[key].as_str().unwrap_or_default().to_string();
    let time_ms = millis(&event["operate_time"]).or_else(|| millis(&body["ts"]).map(|s| s * 1000));
    let (kind, payload) = match event["type"].as_str().unwrap_or_default() {
        "approval_instance" => (
            "approval.status_changed".to_string(),
            json!({ "instance_id": text("instance_code"), "template": text("approval_code"),
                    "status": status_word(status(&text("status"))), "platform": event }),
        ),
        "approval_task" => (
            "approval.task_changed".to_string(),
            json!({ "instance_id": text("instance_code"), "template": text("approval_code"), "task_id": text("task_id"),
                    "assignee": user_id_of(event), "status": text("status").to_ascii_lowercase(), "platform": event }),
        ),
        other => (format!("feishu.{other}"), json!({ "platform": event })),
    };
    vec![Event {
        id,
        kind,
        time_ms,
        subject: text("instance_code"),
        payload: payload.to_string(),
    }]
}

fn normalize_v2(body: &Value) -> Vec<Event> {
    let header = &body["header"];
    let event = &body["event"];
    let id = header["event_id"].as_str().unwrap_or_default().to_string();
    let event_type = header["event_type"].as_str().unwrap_or_default();
    let time_ms = millis(&header["create_time"]);
    let one = |kind: &str, subject: String, payload: Value| {
        vec![Event {
            id: id.clone(),
            kind: kind.into(),
            time_ms,
            subject,
            payload: payload.to_string(),
        }]
    };
    let object = &event["object"];
    match event_type {
        "contact.user.created_v3" | "contact.user.updated_v3" | "contact.user.deleted_v3" => {
            let kind = format!(
                "contact.user_{}",
                event_type
                    .split('.')
                    .nth(2)
                    .unwrap_or("")
                    .trim_end_matches("_v3")
            );
            let subject = user_id_of(object).unwrap_or_default();
            one(
                &kind,
                subject.clone(),
                json!({ "id": subject, "platform": event }),
            )
        }
        "contact.department.created_v3"
        | "contact.department.updated_v3"
        | "contact.department.deleted_v3" => {
            let kind = format!(
                "contact.department_{}",
                event_type
                    .split('.')
                    .nth(2)
                    .unwrap_or("")
                    .trim_end_matches("_v3")
            );
            let subject = department_id_of(object).unwrap_or_default();
            one(
                &kind,
                subject.clone(),
                json!({ "id": subject, "platform": event }),
            )
        }
        // One read receipt names several messages: an event each, the id suffixed when there are several.
        "im.message.message_read_v1" => {
            let reader = user_id_of(&event["reader"]["reader_id"]).unwrap_or_default();
            let messages: Vec<&str> = event["message_id_list"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|m| m.as_str())
                .collect();
            let many = messages.len() > 1;
            messages
                .into_iter()
                .map(|message| Event {
                    id: if many {
                        format!("{id}/{message}")
                    } else {
                        id.clone()
                    },
                    kind: "message.read".into(),
                    time_ms: millis(&event["reader"]["read_time"]).or(time_ms),
                    subject: message.into(),
                    payload: json!({ "message_id": message, "reader": reader, "platform": event })
                        .to_string(),
                })
                .collect()
        }
        "task.task.update_user_access_v2" => task_events::user_access(&id, time_ms, event),
        "task.task.comment.updated_v1" => match task_events::comment(&id, time_ms, event) {
            Some(commented) => vec![commented],
            None => one(
                &format!("feishu.{event_type}"),
                event["task_id"].as_str().unwrap_or_default().into(),
                json!({ "platform": event }),
            ),
        },
        other => one(
            &format!("feishu.{other}"),
            String::new(),
            json!({ "platform": event }),
        ),
    }
}
