//! App messages (`message/send`) to users, departments or everyone, and to group chats (`appchat/send`);
//! recall within 24 hours. WeCom has no read receipts and no urgent reminders: those answer `unsupported`.
//! Mentions are rendered as `<@userid>` in markdown to group chats; others come back as problems ([`mention`]).

use qiao_sdk::Error;
use serde_json::{Value, json};

use crate::WeCom;
use crate::client::{agent_id, is_userid, number, post};
use crate::exports::qiao::connector::messaging::{
    Card, Content, DeliveryProblem, Guest, Mentions, Message, ReadReceipts, SendResult,
};
use qiao_sdk::required;

/// WeCom's own default duplicate-check window: long enough for the outbox's retries and a restart, short enough
/// that a deliberately repeated message (the same text an hour later) is delivered.
const DUPLICATE_WINDOW_S: u32 = 1800;
/// WeCom's longest window (4 hours).
const MAX_DUPLICATE_WINDOW_S: u32 = 4 * 3600;

/// The duplicate-check window for a send with an idempotency key: the `duplicate_check_interval_s` setting.
fn duplicate_window() -> Result<u32, Error> {
    match qiao_sdk::config::get("duplicate_check_interval_s") {
        None => Ok(DUPLICATE_WINDOW_S),
        Some(text) => text
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|s| *s <= MAX_DUPLICATE_WINDOW_S)
            .ok_or_else(|| {
                Error::invalid_input(format!(
                    "duplicate_check_interval_s must be 0-{MAX_DUPLICATE_WINDOW_S} seconds, got {text:?}"
                ))
            }),
    }
}
/// Messages to group chats get no msgid from WeCom; their message ids say so, and cannot be recalled.
const APPCHAT_PREFIX: &str = "appchat:";

/// The message body's type and fields.
fn body(content: &Content) -> Result<(&'static str, Value), Error> {
    Ok(match content {
        Content::Text(text) => {
            required(text, "text")?;
            ("text", json!({ "content": text }))
        }
        // WeCom's markdown has no title field: the title leads as a heading.
        Content::Markdown(m) => {
            required(&m.text, "markdown.text")?;
            let content = if m.title.is_empty() {
                m.text.clone()
            } else {
                format!("### {}\n{}", m.title, m.text)
            };
            ("markdown", json!({ "content": content }))
        }
        Content::Card(card) => card_body(card)?,
    })
}

/// A template card when the caller gives one; one button: a text card; several: a text-notice template card
/// with a jump list (WeCom's text card has a single link).
fn card_body(card: &Card) -> Result<(&'static str, Value), Error> {
    if let Some(kind) = &card.template_id {
        let data: Value = match &card.template_data {
            Some(text) => serde_json::from_str(text).map_err(|_| {
                Error::invalid_input(
                    "card.template_data must be a JSON object (WeCom's template_card)",
                )
            })?,
            None => json!({}),
        };
        let mut data = if data.is_object() { data } else { json!({}) };
        data["card_type"] = json!(kind);
        return Ok(("template_card", data));
    }
    required(&card.title, "card.title")?;
    for button in &card.buttons {
        required(&button.title, "card.buttons[].title")?;
        required(&button.url, "card.buttons[].url")?;
    }
    Ok(match card.buttons.as_slice() {
        [] => {
            return Err(Error::invalid_input(
                "a WeCom card needs at least one button (its link)",
            ));
        }
        [one] => (
            "textcard",
            json!({ "title": card.title, "description": card.markdown, "url": one.url, "btntxt": one.title }),
        ),
        many => (
            "template_card",
            json!({
                "card_type": "text_notice",
                "main_title": { "title": card.title },
                "sub_title_text": card.markdown,
                "jump_list": many.iter().take(3).map(|b| json!({ "type": 1, "title": b.title, "url": b.url })).collect::<Vec<_>>(),
                "card_action": { "type": 1, "url": many[0].url },
            }),
        ),
    })
}

/// A recipient WeCom refused or a mention it cannot carry: the one way this connector reports either.
fn problem(recipient: &str, code: &str, reason: &str) -> DeliveryProblem {
    DeliveryProblem {
        recipient: recipient.into(),
        code: code.into(),
        reason: reason.into(),
    }
}

/// Renders the mentions WeCom has a syntax for into `content` (the message's `msgtype` object): `<@userid>` in
/// markdown sent to app group chats, after the text. WeCom documents `<@userid>` for group markdown (its group
/// robots, NEXT.md §4.2; whether app chats render it too is not documented). Every other mention is a problem
/// and the message goes without it: an app message (`message/send`) arrives in each person's own conversation
/// with the app, where no one can be called out; text and cards have no mention syntax; markdown has no
/// "everyone" (`@all` belongs to group robots' text messages).
fn mention(
    mentions: &Mentions,
    to_chats: bool,
    msgtype: &str,
    content: &mut Value,
) -> Vec<DeliveryProblem> {
    let unmentioned = |recipient: &str, why: &str| {
        problem(
            recipient,
            "mention-unsupported",
            &format!("not mentioned: {why}; the message was sent without it"),
        )
    };
    let markdown_chat = to_chats && msgtype == "markdown";
    let why = if !to_chats {
        "WeCom app messages are one-to-one and carry no @mentions"
    } else if !markdown_chat {
        "WeCom renders <@userid> in markdown only: send markdown to mention"
    } else {
        ""
    };
    let mut problems = Vec::new();
    let mut tags = Vec::new();
    for id in &mentions.users {
        if !markdown_chat {
            problems.push(unmentioned(id, why));
        } else if is_userid(id) {
            tags.push(format!("<@{id}>"));
        } else {
            problems.push(unmentioned(
                id,
                "not a WeCom userid, so it cannot be mentioned",
            ));
        }
    }
    if mentions.everyone {
        problems.push(unmentioned(
            "everyone",
            if markdown_chat {
                "WeCom's markdown has no mention of everyone (@all is for group robots' text messages)"
            } else {
                why
            },
        ));
    }
    if !tags.is_empty() {
        let text = content["content"].as_str().unwrap_or_default();
        content["content"] = json!(format!("{text}\n{}", tags.join(" ")));
    }
    problems
}

/// WeCom's "a|b" lists of what it refused.
fn refused(answer: &Value, key: &str, code: &str, reason: &str) -> Vec<DeliveryProblem> {
    answer[key]
        .as_str()
        .unwrap_or_default()
        .split('|')
        .filter(|s| !s.is_empty())
        .map(|recipient| problem(recipient, code, reason))
        .collect()
}

impl Guest for WeCom {
    fn send(message: Message) -> Result<SendResult, Error> {
        if message.urgent {
            return Err(Error::unsupported(
                "WeCom has no urgent reminder (like DingTalk's DING) for app messages; send without urgent",
            ));
        }
        let to = &message.to;
        let (msgtype, mut content) = body(&message.content)?;
        let problems = mention(
            &message.mentions,
            !to.chats.is_empty(),
            msgtype,
            &mut content,
        );
        if !to.chats.is_empty() {
            if !to.users.is_empty()
                || !to.departments.is_empty()
                || !to.tags.is_empty()
                || to.everyone
            {
                return Err(Error::invalid_input(
                    "send to group chats apart from users and departments",
                ));
            }
            if msgtype == "template_card" {
                return Err(Error::unsupported(
                    "WeCom's app group chats take no template cards (appchat/send): send a card with one button \
                     (a text card), or markdown",
                ));
            }
            for chat in &to.chats {
                post(
                    "appchat/send",
                    &json!({ "chatid": chat, "msgtype": msgtype, msgtype: content }),
                )?;
            }
            return Ok(SendResult {
                message_id: format!("{APPCHAT_PREFIX}{}", to.chats.join(",")),
                problems,
                extra: None,
            });
        }
        let mut request = json!({ "agentid": agent_id()?, "msgtype": msgtype, msgtype: content });
        if to.everyone {
            request["touser"] = json!("@all");
        } else {
            if to.users.is_empty() && to.departments.is_empty() && to.tags.is_empty() {
                return Err(Error::invalid_input(
                    "no recipients: set to.users, to.departments, to.chats or to.everyone",
                ));
            }
            request["touser"] = json!(to.users.join("|"));
            for dept in &to.departments {
                number(dept, "to.departments")?;
            }
            request["toparty"] = json!(to.departments.join("|"));
            request["totag"] = json!(to.tags.join("|"));
        }
        let window = duplicate_window()?;
        if message.idempotency_key.is_some() && window > 0 {
            // WeCom de-duplicates by content, not by key: the same message again within the window is dropped.
            request["enable_duplicate_check"] = json!(1);
            request["duplicate_check_interval"] = json!(window);
        }
        let answer = post("message/send", &request)?;
        let mut problems = problems;
        problems.extend(refused(
            &answer,
            "invaliduser",
            "invalid_user",
            "not a member, or outside the app's visible range",
        ));
        problems.extend(refused(
            &answer,
            "invalidparty",
            "invalid_department",
            "no such department, or outside the app's visible range",
        ));
        problems.extend(refused(&answer, "invalidtag", "invalid_tag", "no such tag"));
        problems.extend(refused(
            &answer,
            "unlicenseduser",
            "unlicensed_user",
            "the member has no WeCom licence",
        ));
        let message_id = answer["msgid"]
            .as_str()
            .filter(|m| !m.is_empty())
            .ok_or_else(|| Error::internal("message/send answered no msgid"))?
            .to_string();
        Ok(SendResult {
            message_id,
            problems,
            extra: answer
                .get("response_code")
                .map(|c| json!({ "response_code": c }).to_string()),
        })
    }

    fn recall(message_id: String) -> Result<(), Error> {
        if message_id.starts_with(APPCHAT_PREFIX) {
            return Err(Error::unsupported(
                "messages to group chats cannot be recalled: WeCom gives them no msgid",
            ));
        }
        required(&message_id, "message id")?;
        post("message/recall", &json!({ "msgid": message_id })).map(drop)
    }

    fn read_status(_message_id: String) -> Result<ReadReceipts, Error> {
        Err(Error::unsupported(
            "WeCom has no read receipts for app messages",
        ))
    }
}
