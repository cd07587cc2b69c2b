//! Messages: each send POSTs to `{api_base}/echo` and is remembered in kv for recall and read status.

use qiao_sdk::v0_1_0::{Error, ErrorKind, config, json_http, json_kv, logging, require_config};
use serde_json::json;

use crate::Echo;
use crate::exports::qiao::connector::messaging::{
    Content, DeliveryProblem, Guest, Message, ReadReceipts, SendResult,
};

#[derive(serde::Serialize, serde::Deserialize)]
struct Sent {
    users: Vec<String>,
}

fn key(id: &str) -> String {
    format!("msg:{id}")
}

impl Guest for Echo {
    fn send(message: Message) -> Result<SendResult, Error> {
        let base = require_config("api_base")?;
        let (good, bad): (Vec<String>, Vec<String>) = message
            .to
            .users
            .into_iter()
            .partition(|u| !u.starts_with("bad-"));
        let problems = bad
            .into_iter()
            .map(|u| DeliveryProblem {
                recipient: u,
                code: "invalid-user".into(),
                reason: "unknown user".into(),
            })
            .collect();
        let content = match &message.content {
            Content::Text(text) => text.clone(),
            Content::Markdown(m) => m.text.clone(),
            Content::Card(card) => card.title.clone(),
        };
        let id = format!("msg-{}", json_kv::next("sent")?);
        let body = json!({
            "id": id,
            "to": good,
            "content": content,
            "urgent": message.urgent,
            "idempotency_key": message.idempotency_key,
            "connector_version": crate::VERSION,
        });
        let token = config::get("token");
        let headers: Vec<(&str, &str)> =
            token.iter().map(|t| ("x-echo-token", t.as_str())).collect();
        let response = json_http::post(
            &format!("{}/echo", base.trim_end_matches('/')),
            &headers,
            &body,
        )?;
        if !response.is_success() {
            return Err(Error::new(
                ErrorKind::Unavailable,
                "the echo server refused the message",
            )
            .with_platform(response.status, response.text()));
        }
        logging::info(
            "message sent",
            &[("id", &id), ("recipients", &good.len().to_string())],
        );
        json_kv::set(&key(&id), &Sent { users: good }, None)?;
        Ok(SendResult {
            message_id: id,
            problems,
            extra: Some(response.text()),
        })
    }

    fn recall(message_id: String) -> Result<(), Error> {
        sent(&message_id)?;
        qiao_sdk::v0_1_0::kv::delete(&key(&message_id));
        Ok(())
    }

    fn read_status(message_id: String) -> Result<ReadReceipts, Error> {
        Ok(ReadReceipts {
            read: vec![],
            unread: sent(&message_id)?.users,
            problems: vec![],
        })
    }
}

fn sent(id: &str) -> Result<Sent, Error> {
    json_kv::get(&key(id)).ok_or_else(|| Error::not_found(format!("no message {id}")))
}
