//! DingTalk Stream mode (contract 0.3.0 `event-stream`): events over an outbound WebSocket the host holds, so a
//! Qiao with no public URL still hears approvals, to-dos and contact changes. `open` asks DingTalk's gateway for a
//! one-time ticket; `on_frame` turns each JSON frame into Qiao events (mapped by `webhook::events`, as the HTTP
//! push maps them) and the ack DingTalk waits for: an unacked frame is pushed again on the next connection.
//!
//! A connection receives events one way only. `events` = "webhook" (the default when callback credentials are
//! set) keeps the HTTP push; "stream" (the default otherwise) uses this.

use qiao_sdk::text::{hex, urlencode};
use qiao_sdk::{Error, ErrorKind, config, crypto, json_http};
use serde_json::{Value, json};

use crate::DingTalk;
use crate::client::{api_base, app_key, id_text, string};
use crate::errors::check_api;
use crate::event_stream_bindings::event_stream::{Endpoint, Frame, Guest, Outcome};

/// A frame larger than this is refused unread: DingTalk's events are a few kilobytes.
const MAX_FRAME_BYTES: usize = 1 << 20;
/// The official SDK pings every 60 s (WebSocket control frames; DingTalk has no JSON keep-alive).
const KEEPALIVE_MS: u32 = 60_000;
/// The card-callback topic, subscribed like the official SDK's card handler (acked with an empty response).
const CARD_CALLBACK_TOPIC: &str = "/v1.0/card/instances/callback";

/// Whether this connection takes events by HTTP push rather than Stream mode.
fn uses_webhook() -> Result<bool, Error> {
    let set = |key: &str| config::get(key).is_some_and(|v| !v.trim().is_empty());
    match config::get("events").map(|v| v.trim().to_ascii_lowercase()) {
        Some(mode) if mode == "stream" => Ok(false),
        Some(mode) if mode == "webhook" => Ok(true),
        Some(mode) if !mode.is_empty() => Err(Error::invalid_input(format!(
            "events must be \"stream\" or \"webhook\", got {mode:?}"
        ))),
        _ => Ok(set("callback_token") || set("callback_aes_key")),
    }
}

impl Guest for DingTalk {
    fn open() -> Result<Endpoint, Error> {
        if uses_webhook()? {
            return Err(Error::unsupported(
                "this DingTalk connection takes events by HTTP push (callback credentials are set, or events = \
                 \"webhook\"): they arrive at its webhook URL. To use Stream mode instead, set events = \"stream\" \
                 (or remove callback_token and callback_aes_key) and choose Stream mode in the DingTalk developer \
                 console (事件订阅 → Stream 模式推送)",
            ));
        }
        let body = json!({
            "clientId": app_key()?,
            "clientSecret": qiao_sdk::require_config("app_secret")?,
            "subscriptions": [
                { "type": "EVENT", "topic": "*" },
                { "type": "CALLBACK", "topic": CARD_CALLBACK_TOPIC },
            ],
            "ua": concat!("qiao-dingtalk/", env!("CARGO_PKG_VERSION")),
            "localIp": "",
        });
        let url = format!("{}/v1.0/gateway/connections/open", api_base());
        // Without `accept: application/json` the gateway may answer XML (the official Node SDK's note).
        let response = json_http::post(&url, &[("accept", "application/json")], &body)?;
        let answer = check_api(&response).map_err(|e| match e.kind {
            ErrorKind::Unauthorized => Error {
                message: "DingTalk refused the app credentials for Stream mode: check app_key and app_secret"
                    .into(),
                ..e
            },
            _ => e,
        })?;
        let endpoint = string(&answer["endpoint"], "endpoint")?;
        let ticket = string(&answer["ticket"], "ticket")?;
        let separator = if endpoint.contains('?') { '&' } else { '?' };
        Ok(Endpoint {
            url: format!("{endpoint}{separator}ticket={}", urlencode(&ticket)),
            headers: vec![],
            keepalive_ms: KEEPALIVE_MS,
            keepalive_frame: None,
        })
    }

    fn on_frame(frame: Frame) -> Result<Outcome, Error> {
        let text = match frame {
            Frame::Text(text) => text,
            Frame::Binary(_) => {
                return Err(Error::invalid_input(
                    "DingTalk Stream frames are JSON text; a binary frame is not one",
                ));
            }
        };
        if text.len() > MAX_FRAME_BYTES {
            return Err(Error::invalid_input(format!(
                "a DingTalk Stream frame of {} bytes is over the {MAX_FRAME_BYTES}-byte limit",
                text.len()
            )));
        }
        let frame: Value = serde_json::from_str(&text)
            .map_err(|_| Error::invalid_input("a DingTalk Stream frame is not JSON"))?;
        on_message(&frame)
    }
}

/// The outcome of one parsed downstream frame.
fn on_message(frame: &Value) -> Result<Outcome, Error> {
    let headers = &frame["headers"];
    let message_id = headers["messageId"]
        .as_str()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| Error::invalid_input("a DingTalk Stream frame without headers.messageId"))?;
    let kind = frame["type"]
        .as_str()
        .ok_or_else(|| Error::invalid_input("a DingTalk Stream frame without a type"))?;
    let header = |key: &str| headers[key].as_str().unwrap_or_default();
    let mut outcome = Outcome {
        events: vec![],
        replies: vec![],
        reconnect: false,
        keepalive_ms: None,
    };
    match kind {
        "SYSTEM" => {
            // Like the official Python SDK, every SYSTEM frame is acked; a ping's data is echoed.
            let data = frame["data"].as_str().unwrap_or_default();
            outcome.replies.push(ack(message_id, data));
            outcome.reconnect = header("topic") == "disconnect";
        }
        "EVENT" => {
            let fields = data_fields(frame)?;
            let event_type = header("eventType");
            let id = match header("eventId") {
                "" => hex(&crypto::sha256(
                    frame["data"].as_str().unwrap_or_default().as_bytes(),
                )),
                id => id.to_string(),
            };
            let time_ms = [&headers["eventBornTime"], &headers["time"]]
                .into_iter()
                .find_map(|v| id_text(v).and_then(|t| t.parse().ok()));
            outcome.events = crate::webhook::events(event_type, &fields, &id, time_ms);
            outcome.replies.push(ack(
                message_id,
                &json!({ "status": "SUCCESS", "message": "" }).to_string(),
            ));
        }
        // Card callbacks carry no Qiao event; an empty response keeps the card as it is.
        "CALLBACK" => {
            data_fields(frame)?;
            outcome
                .replies
                .push(ack(message_id, &json!({ "response": {} }).to_string()));
        }
        // A type this connector does not know yet: acked, so DingTalk does not push it again forever.
        _ => outcome.replies.push(ack(
            message_id,
            &json!({ "status": "SUCCESS", "message": "" }).to_string(),
        )),
    }
    Ok(outcome)
}

/// The frame's `data`: a string holding a JSON object (DingTalk never sends the object itself).
fn data_fields(frame: &Value) -> Result<Value, Error> {
    let data = frame["data"].as_str().ok_or_else(|| {
        Error::invalid_input("a DingTalk Stream frame whose data is not a JSON string")
    })?;
    match serde_json::from_str::<Value>(data) {
        Ok(fields @ Value::Object(_)) => Ok(fields),
        _ => Err(Error::invalid_input(
            "a DingTalk Stream frame whose data is not a JSON object",
        )),
    }
}

/// DingTalk's ack: code 200, the frame's messageId, and `data` (a JSON string).
fn ack(message_id: &str, data: &str) -> Frame {
    Frame::Text(
        json!({
            "code": 200,
            "headers": { "contentType": "application/json", "messageId": message_id },
            "message": "OK",
            "data": data,
        })
        .to_string(),
    )
}
