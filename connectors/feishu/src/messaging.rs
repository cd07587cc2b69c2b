//! Messages: one `im/v1/messages` send per user or chat (Feishu has no multi-recipient send), carrying a `uuid`
//! derived from Qiao's idempotency key so a retried send is not delivered twice; departments and everyone through
//! the batch API. Urgent (加急) by app, SMS or phone; recall; read users. Mentions are rendered in text and rich
//! text (post) messages; what a message cannot carry comes back as problems and the message still goes.

use qiao_sdk::http::Method;
use qiao_sdk::text::hex;
use qiao_sdk::{Error, ErrorKind, config, crypto, json_kv, required};
use serde_json::{Value, json};

use crate::Feishu;
use crate::client::{call, enc, get, post, string, user_id_type};
use crate::exports::qiao::connector::messaging::{
    Card, Content, DeliveryProblem, Guest, Message, ReadReceipts, SendResult,
};

/// Who a sent message went to, for its read status: kept as long as Feishu lets a message be recalled.
const RECEIVER_TTL_S: u32 = 7 * 24 * 3600;
/// Batch messages (departments, everyone) have ids starting so; they cannot be recalled through the API.
const BATCH_PREFIX: &str = "bm_";

fn receiver_key(message_id: &str) -> String {
    format!("receiver:{message_id}")
}

/// `msg_type` and `content` (an object; single sends serialize it into a string).
fn content(content: &Content) -> Result<(&'static str, Value), Error> {
    Ok(match content {
        Content::Text(text) => {
            required(text, "text")?;
            ("text", json!({ "text": text }))
        }
        Content::Markdown(m) => {
            required(&m.text, "markdown.text")?;
            (
                "post",
                json!({ "zh_cn": { "title": m.title, "content": [[{ "tag": "md", "text": m.text }]] } }),
            )
        }
        Content::Card(card) => ("interactive", card_json(card)?),
    })
}

fn card_json(card: &Card) -> Result<Value, Error> {
    if let Some(template) = &card.template_id {
        let variables: Value = match &card.template_data {
            Some(text) => serde_json::from_str(text).map_err(|_| {
                Error::invalid_input("card.template_data must be JSON (the template's variables)")
            })?,
            None => json!({}),
        };
        return Ok(
            json!({ "type": "template", "data": { "template_id": template, "template_variable": variables } }),
        );
    }
    required(&card.title, "card.title")?;
    let mut elements = vec![json!({ "tag": "markdown", "content": card.markdown })];
    if !card.buttons.is_empty() {
        let mut actions = Vec::new();
        for (i, b) in card.buttons.iter().enumerate() {
            required(&b.title, "card.buttons[].title")?;
            required(&b.url, "card.buttons[].url")?;
            let kind = if i == 0 { "primary" } else { "default" };
            actions.push(json!({ "tag": "button", "text": { "tag": "plain_text", "content": b.title }, "url": b.url, "type": kind }));
        }
        elements.push(json!({ "tag": "action", "actions": actions }));
    }
    Ok(json!({
        "config": { "wide_screen_mode": true },
        "header": { "title": { "tag": "plain_text", "content": card.title } },
        "elements": elements,
    }))
}

fn unmentioned(recipient: &str, reason: &str) -> DeliveryProblem {
    DeliveryProblem {
        recipient: recipient.into(),
        code: "mention-unsupported".into(),
        reason: format!("not mentioned: {reason}; the message was sent without it"),
    }
}

/// A user id Feishu can mention: in the connection's `user_id_type` (open_id by default, as Feishu's own
/// examples use). An email address, which sends take, cannot be mentioned; nor can anything that would break out
/// of the `<at>` tag.
fn mentionable(id: &str) -> bool {
    !id.is_empty()
        && !id.contains(|c: char| c == '@' || c == '"' || c == '<' || c == '>' || c.is_whitespace())
}

/// Renders `who` (user ids, or `all`) at the end of the message: in text as `<at user_id="..."></at>`, in rich text
/// (post) as a last paragraph of `{"tag": "at", "user_id": "..."}` elements (NEXT.md §2.2). Cards are left alone:
/// their `<at id=...>` syntax is unconfirmed, so the caller reports those mentions instead.
fn render_mentions(msg_type: &str, body: &mut Value, who: &[&str]) {
    if who.is_empty() {
        return;
    }
    match msg_type {
        "text" => {
            let tags: Vec<String> = who
                .iter()
                .map(|id| format!("<at user_id=\"{id}\"></at>"))
                .collect();
            let text = body["text"].as_str().unwrap_or_default();
            body["text"] = json!(format!("{text}\n{}", tags.join(" ")));
        }
        "post" => {
            let line: Vec<Value> = who
                .iter()
                .map(|id| json!({ "tag": "at", "user_id": id }))
                .collect();
            if let Some(paragraphs) = body["zh_cn"]["content"].as_array_mut() {
                paragraphs.push(json!(line));
            }
        }
        _ => {}
    }
}

/// The message's mentions rendered into `body` (for users, departments and everyone) and `chat_body` (for group
/// chats, which alone can mention everyone), and the mentions neither can carry, as problems.
fn mention(
    message: &Message,
    msg_type: &str,
    body: &mut Value,
    chat_body: &mut Value,
) -> Vec<DeliveryProblem> {
    let mentions = &message.mentions;
    let mut problems = Vec::new();
    let card = msg_type == "interactive";
    let mut users = Vec::new();
    for id in &mentions.users {
        if card {
            problems.push(unmentioned(
                id,
                "Feishu's mention syntax in cards is not confirmed, so cards carry none",
            ));
        } else if !mentionable(id) {
            problems.push(unmentioned(
                id,
                "Feishu mentions a user by id, not by email or other text",
            ));
        } else {
            users.push(id.as_str());
        }
    }
    render_mentions(msg_type, body, &users);
    let mut in_chats = users.clone();
    if mentions.everyone {
        if message.to.chats.is_empty() {
            problems.push(unmentioned(
                "everyone",
                "everyone can be mentioned in group chats only",
            ));
        } else if msg_type != "text" {
            problems.push(unmentioned(
                "everyone",
                "Feishu documents mentioning everyone (<at user_id=\"all\">) in text messages only",
            ));
        } else {
            in_chats.push("all");
        }
    }
    render_mentions(msg_type, chat_body, &in_chats);
    problems
}

/// Feishu's de-duplication key for one receiver: the same key and receiver always give the same uuid.
fn uuid(key: &str, receiver: &str) -> String {
    hex(&crypto::sha256(format!("{key}\n{receiver}").as_bytes()))[..32].to_string()
}

/// A refusal about this recipient (not about Feishu or the app as a whole) is a problem, and the others still go.
fn recipient_problem(e: &Error) -> bool {
    matches!(
        e.kind,
        ErrorKind::InvalidInput | ErrorKind::NotFound | ErrorKind::Forbidden
    )
}

fn problem(recipient: &str, e: &Error) -> DeliveryProblem {
    DeliveryProblem {
        recipient: recipient.into(),
        code: e.platform_code.clone().unwrap_or_else(|| "refused".into()),
        reason: e
            .platform_message
            .clone()
            .unwrap_or_else(|| e.message.clone()),
    }
}

fn urgent_kind() -> Result<String, Error> {
    match config::get("urgent_kind")
        .filter(|v| !v.is_empty())
        .as_deref()
    {
        None | Some("app") => Ok("app".into()),
        Some(kind @ ("sms" | "phone")) => Ok(kind.into()),
        Some(other) => Err(Error::invalid_input(format!(
            "urgent_kind must be app, sms or phone, not {other:?}"
        ))),
    }
}

impl Guest for Feishu {
    fn send(message: Message) -> Result<SendResult, Error> {
        let to = &message.to;
        if to.users.is_empty() && to.chats.is_empty() && to.departments.is_empty() && !to.everyone {
            return Err(Error::invalid_input(
                "no recipients: set to.users, to.chats, to.departments or to.everyone",
            ));
        }
        if !to.tags.is_empty() {
            return Err(Error::unsupported(
                "Feishu has no tags to address messages to; use users, chats or departments",
            ));
        }
        let (msg_type, mut body) = content(&message.content)?;
        let mut chat_body = body.clone();
        let mut problems = mention(&message, msg_type, &mut body, &mut chat_body);
        let urgent = if message.urgent {
            Some(urgent_kind()?)
        } else {
            None
        };
        let user_type = user_id_type();
        let mut ids = Vec::new();
        let targets = to
            .users
            .iter()
            // An address with `@` is an email: Feishu finds the user by it.
            .map(|u| {
                (
                    u,
                    if u.contains('@') {
                        "email"
                    } else {
                        user_type.as_str()
                    },
                )
            })
            .chain(to.chats.iter().map(|c| (c, "chat_id")));
        for (receiver, receive_id_type) in targets {
            let content = if receive_id_type == "chat_id" {
                &chat_body
            } else {
                &body
            };
            let mut request = json!({ "receive_id": receiver, "msg_type": msg_type, "content": content.to_string() });
            if let Some(key) = &message.idempotency_key {
                request["uuid"] = json!(uuid(key, receiver));
            }
            match post(
                &format!("im/v1/messages?receive_id_type={receive_id_type}"),
                &request,
            ) {
                Ok(data) => {
                    let id = string(&data["message_id"], "message_id")?;
                    if receive_id_type != "chat_id" {
                        // Kept, not required: the message is out (a refused record leaves its read status
                        // listing readers only, as for a chat).
                        json_kv::keep(&receiver_key(&id), receiver, Some(RECEIVER_TTL_S));
                    }
                    if let (Some(kind), "email") = (&urgent, receive_id_type) {
                        problems.push(DeliveryProblem {
                            recipient: receiver.clone(),
                            code: "urgent_needs_user_id".into(),
                            reason: format!("sent, but not as urgent ({kind}): Feishu raises urgent messages by user id"),
                        });
                    } else if let (Some(kind), false) = (&urgent, receive_id_type == "chat_id") {
                        let path = format!(
                            "im/v1/messages/{}/urgent_{kind}?user_id_type={user_type}",
                            enc(&id)
                        );
                        match call(
                            Method::Patch,
                            &path,
                            Some(&json!({ "user_id_list": [receiver] })),
                        ) {
                            Ok(_) => {}
                            Err(e)
                                if e.kind == ErrorKind::RateLimited
                                    || e.kind == ErrorKind::Unavailable =>
                            {
                                return Err(e);
                            }
                            Err(e) => problems.push(DeliveryProblem {
                                code: e
                                    .platform_code
                                    .clone()
                                    .unwrap_or_else(|| "urgent_failed".into()),
                                reason: format!("sent, but not as urgent ({kind}): {}", e.message),
                                recipient: receiver.clone(),
                            }),
                        }
                    }
                    ids.push(id);
                }
                // Throttled or down: the whole send fails, and the caller's retry is safe with an idempotency key.
                Err(e) if !recipient_problem(&e) => return Err(e),
                Err(e) => problems.push(problem(receiver, &e)),
            }
        }
        if !to.departments.is_empty() || to.everyone {
            let departments = if to.everyone {
                vec!["0".to_string()]
            } else {
                to.departments.clone()
            };
            let mut request = json!({ "msg_type": msg_type, "department_ids": departments });
            let field = if msg_type == "interactive" {
                "card"
            } else {
                "content"
            };
            request[field] = if msg_type == "post" {
                json!({ "post": body })
            } else {
                body.clone()
            };
            let data = post("message/v4/batch_send/", &request)?;
            for dept in data["invalid_department_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d.as_str())
            {
                problems.push(DeliveryProblem {
                    recipient: dept.into(),
                    code: "invalid_department".into(),
                    reason: "no such department, or outside the app's availability".into(),
                });
            }
            ids.push(string(&data["message_id"], "message_id")?);
            if urgent.is_some() {
                problems.push(DeliveryProblem {
                    recipient: "departments".into(),
                    code: "urgent_users_only".into(),
                    reason: "Feishu raises urgent messages to users only; the department message went out as usual".into(),
                });
            }
        }
        if ids.is_empty() {
            let reasons: Vec<String> = problems
                .iter()
                .filter(|p| p.code != "mention-unsupported")
                .map(|p| format!("{}: {}", p.recipient, p.reason))
                .collect();
            return Err(Error::invalid_input(format!(
                "no recipient could be sent to ({})",
                reasons.join("; ")
            )));
        }
        Ok(SendResult {
            message_id: ids.join(","),
            problems,
            extra: None,
        })
    }

    /// Recalls every single message of the send; batch messages cannot be (Feishu's API refuses).
    fn recall(message_id: String) -> Result<(), Error> {
        required(&message_id, "message id")?;
        let mut batch = false;
        for id in message_id.split(',') {
            if id.starts_with(BATCH_PREFIX) {
                batch = true;
                continue;
            }
            call(Method::Delete, &format!("im/v1/messages/{}", enc(id)), None)?;
        }
        if batch {
            return Err(Error::unsupported(
                "messages to departments (batch messages) cannot be recalled through Feishu's API; \
                 the messages to users and chats were recalled",
            ));
        }
        Ok(())
    }

    fn read_status(message_id: String) -> Result<ReadReceipts, Error> {
        required(&message_id, "message id")?;
        let user_type = user_id_type();
        let (mut read, mut unread, mut problems) = (Vec::new(), Vec::new(), Vec::new());
        for id in message_id.split(',') {
            if id.starts_with(BATCH_PREFIX) {
                let data = get(&format!("im/v1/batch_messages/{}/read_user", enc(id)))?;
                let counts = &data["read_user"];
                problems.push(DeliveryProblem {
                    recipient: "departments".into(),
                    code: "counts_only".into(),
                    reason: format!(
                        "read by {} of {} (Feishu gives counts only for department messages)",
                        counts["read_count"], counts["total_count"]
                    ),
                });
                continue;
            }
            let data = get(&format!(
                "im/v1/messages/{}/read_users?user_id_type={user_type}&page_size=100",
                enc(id)
            ))?;
            let readers: Vec<String> = data["items"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|r| r["user_id"].as_str().map(String::from))
                .collect();
            if let Some(receiver) = json_kv::get::<String>(&receiver_key(id))
                && !readers.contains(&receiver)
            {
                unread.push(receiver);
            }
            read.extend(readers);
        }
        read.sort();
        read.dedup();
        Ok(ReadReceipts {
            read,
            unread,
            problems,
        })
    }
}
