//! Work notifications (工作通知, old API), DING for urgent ones (new API), recall, and read status, which is
//! also where DingTalk admits the messages it dropped silently (its sending limits answer "ok" and deliver
//! nothing): those come back as problems, never swallowed. Mentions cannot be rendered in work notifications, so
//! each comes back as a problem too. Messages to a chat (`to.chats`) are scene-group robot messages, which can @
//! (`group.rs`).

use qiao_sdk::http::Method;
use qiao_sdk::{Error, config, json_kv, logging};
use serde_json::{Value, json};

use crate::DingTalk;
use crate::client::{agent_id, api, app_key, id_text, oapi, string};
use crate::exports::qiao::connector::messaging::{
    Card, Content, DeliveryProblem, Guest, Mentions, Message, ReadReceipts, SendResult,
};
use qiao_sdk::required;

/// How long a DING id is kept for recall: DingTalk lets a work notification be recalled for 24 hours.
const DING_TTL_S: u32 = 2 * 24 * 3600;
/// DingTalk's cap on recipients of one work notification from an internal app.
const MAX_USERS: usize = 5000;

fn ding_key(task_id: &str) -> String {
    format!("ding:{task_id}")
}

fn msg(content: &Content) -> Result<Value, Error> {
    Ok(match content {
        Content::Text(text) => {
            required(text, "text")?;
            json!({ "msgtype": "text", "text": { "content": text } })
        }
        Content::Markdown(m) => {
            required(&m.title, "markdown.title")?;
            required(&m.text, "markdown.text")?;
            json!({ "msgtype": "markdown", "markdown": { "title": m.title, "text": m.text } })
        }
        Content::Card(card) => action_card(card)?,
    })
}

/// An action card: one button as DingTalk's "single" link, several as a button list. Without buttons DingTalk's
/// action card is incomplete, so the card goes as markdown.
fn action_card(card: &Card) -> Result<Value, Error> {
    if card.template_id.is_some() {
        return Err(Error::unsupported(
            "DingTalk card templates (interactive cards) are not supported by this connector; \
             send a card with title, markdown and buttons",
        ));
    }
    required(&card.title, "card.title")?;
    required(&card.markdown, "card.markdown")?;
    for button in &card.buttons {
        required(&button.title, "card.buttons[].title")?;
        required(&button.url, "card.buttons[].url")?;
    }
    Ok(match card.buttons.as_slice() {
        [] => {
            json!({ "msgtype": "markdown", "markdown": { "title": card.title, "text": card.markdown } })
        }
        [one] => json!({ "msgtype": "action_card", "action_card": {
            "title": card.title, "markdown": card.markdown,
            "single_title": one.title, "single_url": one.url,
        }}),
        many => json!({ "msgtype": "action_card", "action_card": {
            "title": card.title, "markdown": card.markdown, "btn_orientation": "1",
            "btn_json_list": many.iter().map(|b| json!({ "title": b.title, "action_url": b.url })).collect::<Vec<_>>(),
        }}),
    })
}

/// One problem per mention that could not be rendered: the users given, and everyone when asked for.
pub(crate) fn mention_problems(
    users: &[String],
    everyone: bool,
    code: &str,
    reason: &str,
) -> Vec<DeliveryProblem> {
    let everyone = everyone.then(|| "everyone".to_string());
    users
        .iter()
        .cloned()
        .chain(everyone)
        .map(|recipient| DeliveryProblem {
            recipient,
            code: code.into(),
            reason: reason.into(),
        })
        .collect()
}

/// A work notification arrives in each recipient's own conversation with the app: DingTalk has no @ there (its
/// mentions live in group messages, see `group.rs`). So every mention is a problem and the notification goes
/// out without it.
fn unrendered_mentions(mentions: &Mentions) -> Vec<DeliveryProblem> {
    mention_problems(
        &mentions.users,
        mentions.everyone,
        MENTION_UNSUPPORTED,
        "not mentioned: DingTalk work notifications are one-to-one and carry no @mentions; the notification \
         was sent without it",
    )
}

pub(crate) const MENTION_UNSUPPORTED: &str = "mention-unsupported";

/// The DING's text: DING carries plain text only.
fn ding_text(content: &Content) -> String {
    match content {
        Content::Text(text) => text.clone(),
        Content::Markdown(m) => format!("{}\n{}", m.title, m.text),
        Content::Card(card) => format!("{}\n{}", card.title, card.markdown),
    }
}

fn robot_code() -> Result<String, Error> {
    match config::get("robot_code").filter(|v| !v.is_empty()) {
        Some(code) => Ok(code),
        None => app_key(),
    }
}

/// Sends a DING to the message's users; what DingTalk could not deliver becomes problems.
fn ding(
    message: &Message,
    task_id: &str,
    problems: &mut Vec<DeliveryProblem>,
) -> Result<Option<String>, Error> {
    if !message.to.departments.is_empty() || message.to.everyone {
        problems.push(DeliveryProblem {
            recipient: "departments/everyone".into(),
            code: "ding_users_only".into(),
            reason: "DING goes to listed users only; departments and everyone got the work notification without it"
                .into(),
        });
    }
    if message.to.users.is_empty() {
        return Ok(None);
    }
    let body = json!({
        "robotCode": robot_code()?,
        "remindType": 1,
        "receiverUserIdList": message.to.users,
        "content": ding_text(&message.content),
    });
    let answer = api(Method::Post, "/v1.0/robot/ding/send", Some(&body))?;
    for failed in answer["failedList"].as_array().into_iter().flatten() {
        problems.push(DeliveryProblem {
            recipient: id_text(&failed["userId"])
                .or_else(|| failed.as_str().map(String::from))
                .unwrap_or_default(),
            code: "ding_failed".into(),
            reason: failed["reason"]
                .as_str()
                .unwrap_or("DING not delivered")
                .into(),
        });
    }
    let ding_id = string(&answer["openDingId"], "openDingId")?;
    // The DING rang: a refused record only means a recall cannot withdraw it.
    json_kv::keep(&ding_key(task_id), &ding_id, Some(DING_TTL_S));
    Ok(Some(ding_id))
}

impl Guest for DingTalk {
    fn send(message: Message) -> Result<SendResult, Error> {
        let to = &message.to;
        if !to.tags.is_empty() {
            return Err(Error::unsupported(
                "DingTalk work notifications cannot be addressed to tags",
            ));
        }
        if !to.chats.is_empty() {
            return crate::group::send(&message);
        }
        if to.users.is_empty() && to.departments.is_empty() && !to.everyone {
            return Err(Error::invalid_input(
                "no recipients: set to.users, to.departments or to.everyone",
            ));
        }
        if to.users.len() > MAX_USERS {
            return Err(Error::invalid_input(format!(
                "DingTalk takes at most {MAX_USERS} users per work notification, got {}",
                to.users.len()
            )));
        }
        for dept in &to.departments {
            crate::client::dept_number(dept, "to.departments")?;
        }
        let mut body = json!({ "agent_id": agent_id()?, "msg": msg(&message.content)? });
        if !to.users.is_empty() {
            body["userid_list"] = json!(to.users.join(","));
        }
        if !to.departments.is_empty() {
            body["dept_id_list"] = json!(to.departments.join(","));
        }
        if to.everyone {
            body["to_all_user"] = json!(true);
        }
        let answer = oapi("/topapi/message/corpconversation/asyncsend_v2", &body)?;
        let task_id = string(&answer["task_id"], "task_id")?;
        let mut problems = unrendered_mentions(&message.mentions);
        let mut extra = json!({ "request_id": answer["request_id"] });
        if message.urgent {
            // The notification went out; a failed DING must not hide that, so it becomes a problem.
            match ding(&message, &task_id, &mut problems) {
                Ok(ding_id) => extra["ding_id"] = json!(ding_id),
                Err(e) => {
                    logging::warn(
                        "DING failed after the work notification was sent",
                        &[("error", &e.message)],
                    );
                    problems.push(DeliveryProblem {
                        recipient: "ding".into(),
                        code: e
                            .platform_code
                            .clone()
                            .unwrap_or_else(|| "ding_failed".into()),
                        reason: format!(
                            "the work notification was sent but the DING failed: {}",
                            e.message
                        ),
                    });
                }
            }
        }
        Ok(SendResult {
            message_id: task_id,
            problems,
            extra: Some(extra.to_string()),
        })
    }

    /// Recalls the work notification, and its DING if it had one.
    fn recall(message_id: String) -> Result<(), Error> {
        let task_id = task_number(&message_id)?;
        oapi(
            "/topapi/message/corpconversation/recall",
            &json!({ "agent_id": agent_id()?, "msg_task_id": task_id }),
        )?;
        if let Some(ding_id) = json_kv::get::<String>(&ding_key(&message_id)) {
            api(
                Method::Post,
                "/v1.0/robot/ding/recall",
                Some(&json!({ "robotCode": robot_code()?, "openDingId": ding_id })),
            )?;
            qiao_sdk::kv::delete(&ding_key(&message_id));
        }
        Ok(())
    }

    fn read_status(message_id: String) -> Result<ReadReceipts, Error> {
        let body = oapi(
            "/topapi/message/corpconversation/getsendresult",
            &json!({ "agent_id": agent_id()?, "task_id": task_number(&message_id)? }),
        )?;
        let result = &body["send_result"];
        let ids = |key: &str| -> Vec<String> {
            result[key]
                .as_array()
                .map(|l| l.iter().filter_map(id_text).collect())
                .unwrap_or_default()
        };
        let problem = |recipient: String, code: &str, reason: &str| DeliveryProblem {
            recipient,
            code: code.into(),
            reason: reason.into(),
        };
        let mut problems = Vec::new();
        for user in ids("invalid_user_id_list") {
            problems.push(problem(
                user,
                "invalid_user",
                "not a user of this organisation",
            ));
        }
        for user in ids("failed_user_id_list") {
            problems.push(problem(user, "failed", "DingTalk failed to deliver"));
        }
        // The silent drops: DingTalk's per-user, per-day and duplicate-content limits. forbidden_list says which
        // limit (143103–143206); forbidden_user_id_list alone does not.
        let listed: Vec<(String, String)> = result["forbidden_list"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| {
                Some((
                    id_text(&f["userid"])?,
                    id_text(&f["code"]).unwrap_or_default(),
                ))
            })
            .collect();
        for (user, code) in &listed {
            let reason = format!(
                "dropped by DingTalk's sending limits (code {code}): the send answered ok but the user got nothing"
            );
            problems.push(problem(user.clone(), code, &reason));
        }
        for user in ids("forbidden_user_id_list") {
            if !listed.iter().any(|(l, _)| *l == user) {
                problems.push(problem(
                    user,
                    "forbidden",
                    "dropped by DingTalk's sending limits",
                ));
            }
        }
        Ok(ReadReceipts {
            read: ids("read_user_id_list"),
            unread: ids("unread_user_id_list"),
            problems,
        })
    }
}

/// Message ids are DingTalk task ids, which are numbers.
fn task_number(message_id: &str) -> Result<i64, Error> {
    if message_id.starts_with(crate::group::ID_PREFIX) {
        return Err(Error::unsupported(
            "recall and read status of scene-group messages are not implemented by this connector (DingTalk \
             documents the read status through the robot API's groupMessages/query, with the open_msg_id)",
        ));
    }
    message_id.parse().map_err(|_| {
        Error::invalid_input(format!(
            "{message_id:?} is not a DingTalk work notification id"
        ))
    })
}
