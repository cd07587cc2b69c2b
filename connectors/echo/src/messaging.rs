//! Messages: each send POSTs to `{api_base}/echo` and is remembered in kv (`msg:{id}`, ids from the `sent`
//! counter) for recall and read status.
//!
//! Recipients whose id starts with `bad-` stand for users the platform refuses: they are reported as delivery
//! problems and the rest still get the message, as a real platform does.

use qiao_sdk::{Error, ErrorKind, config, json_http, json_kv, logging, require_config};
use serde_json::json;

use crate::Echo;
use crate::exports::qiao::connector::messaging::{
    Content, DeliveryProblem, Guest, Mentions, Message, ReadReceipts, SendResult,
};

#[derive(serde::Serialize, serde::Deserialize)]
struct Sent {
    users: Vec<String>,
}

fn key(id: &str) -> String {
    format!("msg:{id}")
}

fn problem(recipient: &str, code: &str, reason: &str) -> DeliveryProblem {
    DeliveryProblem {
        recipient: recipient.into(),
        code: code.into(),
        reason: reason.into(),
    }
}

/// The recipients echo delivers to, and a problem for each it refuses.
fn deliverable(users: &[String]) -> (Vec<String>, Vec<DeliveryProblem>) {
    let (bad, good): (Vec<&String>, Vec<&String>) =
        users.iter().partition(|u| u.starts_with("bad-"));
    let problems = bad
        .into_iter()
        .map(|u| problem(u, "invalid-user", "unknown user"))
        .collect();
    (good.into_iter().cloned().collect(), problems)
}

/// The mentions echo can render: like DingTalk, only a user who receives the message can be mentioned. Any
/// other is reported and left out, and the message still goes (the contract's rule for unrenderable mentions).
/// A mentioned recipient echo refused is already reported as such, so it is only left out.
fn renderable(
    mentions: &Mentions,
    to: &[String],
    delivered: &[String],
) -> (Vec<String>, Vec<DeliveryProblem>) {
    let mut rendered = Vec::new();
    let mut problems = Vec::new();
    for user in &mentions.users {
        if delivered.contains(user) {
            rendered.push(user.clone());
        } else if !to.contains(user) {
            let reason = "a mentioned user must also be a recipient";
            problems.push(problem(user, "mention-not-recipient", reason));
        }
    }
    (rendered, problems)
}

/// Echo's mention syntax: `@id` (and `@all`) before the text, as a chat client shows them.
fn render(content: &Content, users: &[String], everyone: bool) -> String {
    let text = match content {
        Content::Text(text) => text.clone(),
        Content::Markdown(m) => m.text.clone(),
        Content::Card(card) => card.title.clone(),
    };
    let all = everyone.then(|| "all".to_string());
    users
        .iter()
        .chain(all.iter())
        .map(|id| format!("@{id} "))
        .chain([text])
        .collect()
}

impl Guest for Echo {
    fn send(message: Message) -> Result<SendResult, Error> {
        let base = require_config("api_base")?;
        let (good, mut problems) = deliverable(&message.to.users);
        let (mentioned, mention_problems) = renderable(&message.mentions, &message.to.users, &good);
        problems.extend(mention_problems);
        let content = render(&message.content, &mentioned, message.mentions.everyone);
        let id = format!("msg-{}", json_kv::next("sent")?);
        let body = json!({
            "id": id,
            "to": good,
            "content": content,
            "mentions": mentioned,
            "urgent": message.urgent,
            "idempotency_key": message.idempotency_key,
            "connector_version": crate::VERSION,
        });
        let token = config::get("token");
        let headers: Vec<(&str, &str)> =
            token.iter().map(|t| ("x-echo-token", t.as_str())).collect();
        let url = format!("{}/echo", base.trim_end_matches('/'));
        let response = json_http::post(&url, &headers, &body)?;
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
        qiao_sdk::kv::delete(&key(&message_id));
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
