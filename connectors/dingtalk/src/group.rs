//! Messages into a scene group (`to.chats`), sent by the group template's robot through
//! `topapi/im/chat/scencegroup/message/send_v2` (DingTalk's spelling) with its public templates for internal apps:
//! `inner_app_template_text` and `inner_app_template_markdown`. This is where DingTalk can @ people: the userids
//! go in `at_users` (at most 50) and, as DingTalk renders only what the text shows, `@userid` is written after the
//! content. The enterprise robot's `groupMessages/send` cannot @, so it is not used.

use qiao_sdk::{Error, config, required};
use serde_json::json;

use crate::chats::members as chats_members;
use crate::client::{oapi, string};
use crate::exports::qiao::connector::messaging::{Content, DeliveryProblem, Message, SendResult};
use crate::messaging::{MENTION_UNSUPPORTED, mention_problems};

/// Group message ids carry this prefix, to tell them from work notification task ids.
pub const ID_PREFIX: &str = "group:";
/// DingTalk @s at most 50 people in one message.
const MAX_AT: usize = 50;

/// The group template's robot (developer console → 场景群 → 机器人): a robot of its own, not the app's
/// `robot_code`, so without the setting nothing can be sent to a group.
fn scene_robot() -> Result<String, Error> {
    config::get("scene_group_robot_code")
        .filter(|v| !v.trim().is_empty())
        .ok_or_else(|| {
            Error::unsupported(
                "DingTalk sends to a scene group through its group template's robot: set the \
                 scene_group_robot_code setting (developer console → 场景群 → 机器人) to send to to.chats",
            )
        })
}

/// The template and its parameters for the content, with the mentions' `@userid` after it.
fn template(content: &Content, at: &str) -> Result<(&'static str, serde_json::Value), Error> {
    let after = |text: &str, sep: &str| {
        if at.is_empty() {
            text.to_string()
        } else {
            format!("{text}{sep}{at}")
        }
    };
    Ok(match content {
        Content::Text(text) => {
            required(text, "text")?;
            (
                "inner_app_template_text",
                json!({ "content": after(text, " ") }),
            )
        }
        Content::Markdown(m) => {
            required(&m.title, "markdown.title")?;
            required(&m.text, "markdown.text")?;
            (
                "inner_app_template_markdown",
                json!({ "title": m.title, "markdown_content": after(&m.text, "\n\n") }),
            )
        }
        // The group templates have no buttons: a card goes as markdown, its buttons as links.
        Content::Card(card) => {
            if card.template_id.is_some() {
                return Err(Error::unsupported(
                    "DingTalk card templates (interactive cards) are not supported by this connector; \
                     send a card with title, markdown and buttons",
                ));
            }
            required(&card.title, "card.title")?;
            required(&card.markdown, "card.markdown")?;
            let mut text = card.markdown.clone();
            for button in &card.buttons {
                required(&button.title, "card.buttons[].title")?;
                required(&button.url, "card.buttons[].url")?;
                text.push_str(&format!("\n\n[{}]({})", button.title, button.url));
            }
            (
                "inner_app_template_markdown",
                json!({ "title": card.title, "markdown_content": after(&text, "\n\n") }),
            )
        }
    })
}

pub fn send(message: &Message) -> Result<SendResult, Error> {
    let to = &message.to;
    if !to.users.is_empty() || !to.departments.is_empty() || to.everyone {
        return Err(Error::invalid_input(
            "DingTalk sends to a scene group and to people through different APIs: send to.chats and \
             to.users/departments/everyone as separate messages",
        ));
    }
    let [chat] = to.chats.as_slice() else {
        return Err(Error::invalid_input(
            "DingTalk sends a robot message to one scene group at a time: give one chat in to.chats",
        ));
    };
    required(chat, "to.chats[]")?;
    let robot = scene_robot()?;
    let mut problems: Vec<DeliveryProblem> = Vec::new();
    let mut wanted: Vec<String> = Vec::new();
    for user in &message.mentions.users {
        if !wanted.contains(user) {
            wanted.push(user.clone());
        }
    }
    // A mention of someone outside the group notifies nobody: the contract asks for it to be reported.
    if !wanted.is_empty() {
        let members = chats_members(chat)?;
        let (inside, outside): (Vec<String>, Vec<String>) =
            wanted.into_iter().partition(|u| members.contains(u));
        problems.extend(mention_problems(
            &outside,
            false,
            "mention-not-recipient",
            "not mentioned: not a member of the scene group",
        ));
        wanted = inside;
    }
    if wanted.len() > MAX_AT {
        let over = wanted.split_off(MAX_AT);
        problems.extend(mention_problems(
            &over,
            false,
            MENTION_UNSUPPORTED,
            "not mentioned: DingTalk @s at most 50 people in one message",
        ));
    }
    if message.urgent {
        problems.push(DeliveryProblem {
            recipient: chat.clone(),
            code: "urgent-unsupported".into(),
            reason: "DING goes to people, not to a group: the group message was sent without it"
                .into(),
        });
    }
    let at: Vec<String> = wanted.iter().map(|u| format!("@{u}")).collect();
    let (template_id, params) = template(&message.content, &at.join(" "))?;
    let mut body = json!({
        "target_open_conversation_id": chat,
        "robot_code": robot,
        "msg_template_id": template_id,
        "msg_param_map": params.to_string(),
        "is_at_all": message.mentions.everyone,
    });
    if !wanted.is_empty() {
        body["at_users"] = json!(wanted.join(","));
    }
    let answer = oapi("/topapi/im/chat/scencegroup/message/send_v2", &body)?;
    let id = string(&answer["open_msg_id"], "open_msg_id")?;
    Ok(SendResult {
        message_id: format!("{ID_PREFIX}{id}"),
        problems,
        extra: Some(
            json!({ "open_msg_id": id, "chat": chat, "request_id": answer["request_id"] })
                .to_string(),
        ),
    })
}
