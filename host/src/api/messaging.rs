//! `/v1/connections/{c}/messages`: send, recall, read status.

use axum::Json;
use axum::response::Response;
use axum::extract::{Path, State};
use serde::Deserialize;
use serde_json::{Value, json};

use super::operations::{WriteOptions, accept};
use super::{ApiError, AppState, Body, call, expect_reply};
use crate::bindings::messaging::{Button, Card, Content, Markdown, Message, Recipients};
use crate::calls::{Call, Reply};
use crate::outbox::write::Write;

type Result<T> = std::result::Result<T, ApiError>;

/// `{"to": {"users": [...]}, "text": "..."}` or `"markdown": {"title","text"}` or `"card": {...}`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendBody {
    to: To,
    text: Option<String>,
    markdown: Option<Markdown>,
    card: Option<CardBody>,
    #[serde(default)]
    urgent: bool,
    idempotency_key: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct To {
    users: Vec<String>,
    departments: Vec<String>,
    chats: Vec<String>,
    tags: Vec<String>,
    everyone: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CardBody {
    title: String,
    #[serde(default)]
    markdown: String,
    #[serde(default)]
    buttons: Vec<Button>,
    template_id: Option<String>,
    template_data: Option<Value>,
}

impl SendBody {
    fn into_message(self) -> Result<Message> {
        let content = match (self.text, self.markdown, self.card) {
            (Some(text), None, None) => Content::Text(text),
            (None, Some(markdown), None) => Content::Markdown(markdown),
            (None, None, Some(c)) => Content::Card(Card {
                title: c.title,
                markdown: c.markdown,
                buttons: c.buttons,
                template_id: c.template_id,
                template_data: c.template_data.map(|v| v.to_string()),
            }),
            _ => {
                return Err(ApiError::bad_request(
                    "give exactly one of \"text\", \"markdown\" or \"card\"",
                ));
            }
        };
        let to = self.to;
        if to.users.is_empty()
            && to.departments.is_empty()
            && to.chats.is_empty()
            && to.tags.is_empty()
            && !to.everyone
        {
            return Err(ApiError::bad_request(
                "\"to\" names no recipients (users, departments, chats, tags or everyone)",
            ));
        }
        Ok(Message {
            to: Recipients {
                users: to.users,
                departments: to.departments,
                chats: to.chats,
                tags: to.tags,
                everyone: to.everyone,
            },
            content,
            urgent: self.urgent,
            idempotency_key: self.idempotency_key,
        })
    }
}

pub async fn send(
    State(rt): State<AppState>,
    Path(c): Path<String>,
    options: WriteOptions,
    Body(body): Body<SendBody>,
) -> Result<Response> {
    let message = body.into_message()?;
    accept(&rt, &c, Write::Send { message }, options).await
}

pub async fn recall(
    State(rt): State<AppState>,
    Path((c, message_id)): Path<(String, String)>,
    options: WriteOptions,
) -> Result<Response> {
    accept(&rt, &c, Write::Recall { message_id }, options).await
}

pub async fn read_status(
    State(rt): State<AppState>,
    Path((c, id)): Path<(String, String)>,
) -> Result<Json<Value>> {
    let reply = call(&rt, &c, Call::ReadStatus(id)).await?;
    Ok(Json(json!(expect_reply!(reply, Reply::ReadReceipts))))
}
