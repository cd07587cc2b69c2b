//! Events over Feishu's long connection (长连接), for a Qiao with no public URL: the host holds the WebSocket,
//! this module speaks Feishu's part of it (contract 0.3.0 `event-stream`).
//!
//! `open` asks `POST /callback/ws/endpoint` for a one-time `wss://` URL and the client settings (seconds); the
//! keep-alive is Feishu's own ping frame (a `pbbp2.Frame`, pbbp2.rs), answered by a pong that may carry new
//! settings. Events come as data frames whose payload is the same v2 JSON an HTTP callback carries, in
//! plaintext (no token or signature: the connection itself is authenticated), and are mapped by the webhook's
//! own mapping, so one event reads the same whichever way it came and its id (`header.event_id`) de-duplicates
//! redeliveries. The ack is the received frame sent back with a `biz_rt` header and `{"code":200}`; Feishu
//! redelivers what is not acked. Large payloads arrive in parts (`sum`/`seq` headers) kept in kv until whole.

use qiao_sdk::http::Method;
use qiao_sdk::{Error, config, json_http, kv};
use serde_json::{Value, json};

use crate::Feishu;
use crate::client::{app_id, app_secret, base, now_ms};
use crate::event_stream_bindings::event_stream::{Endpoint, Frame, Guest, Outcome};
use crate::pbbp2::{self, CONTROL, DATA};
use crate::webhook;

/// Feishu's SDKs ping every 120 s until the first settings arrive.
const DEFAULT_PING_S: u64 = 120;
/// A ping interval outside this is not taken as given (the host's keep-alive is a u32 of milliseconds).
const PING_RANGE_S: std::ops::RangeInclusive<u64> = 1..=3600;
/// Parts of one message: Feishu splits only large payloads, into a handful.
const MAX_PARTS: usize = 32;
/// A whole event, joined.
const MAX_EVENT_BYTES: usize = 2 * 1024 * 1024;
/// Parts wait this long for the rest (Feishu's SDKs wait 5 to 10 s; the host may be slower to call).
const PART_TTL_S: u32 = 60;
/// `message_id` goes into kv keys.
const MAX_MESSAGE_ID: usize = 128;

/// How this connection receives events.
#[derive(Debug, PartialEq)]
enum Mode {
    Stream,
    Webhook,
}

fn setting(key: &str) -> Option<String> {
    config::get(key).filter(|v| !v.trim().is_empty())
}

fn mode() -> Result<Mode, Error> {
    match setting("events").as_deref().map(str::trim) {
        Some("stream") => Ok(Mode::Stream),
        Some("webhook") => Ok(Mode::Webhook),
        Some(other) => Err(Error::invalid_input(format!(
            "events = {other:?}: use \"stream\" (Feishu's long connection) or \"webhook\" (HTTP callbacks)"
        ))),
        // Callback credentials mean the operator set up HTTP callbacks in the developer console.
        None if setting("encrypt_key").is_some() || setting("verification_token").is_some() => {
            Ok(Mode::Webhook)
        }
        None => Ok(Mode::Stream),
    }
}

impl Guest for Feishu {
    fn open() -> Result<Endpoint, Error> {
        if mode()? == Mode::Webhook {
            return Err(Error::unsupported(
                "this connection receives Feishu events by HTTP push (event callbacks: events = \"webhook\", or \
                 encrypt_key / verification_token set); to use the long connection instead, set events = \
                 \"stream\" and choose 使用长连接接收事件 (receive events through a persistent connection) in the \
                 app's event subscription",
            ));
        }
        let url = format!("{}/callback/ws/endpoint", base());
        let body = json!({ "AppID": app_id()?, "AppSecret": app_secret()? });
        let response = json_http::send(Method::Post, &url, &[("locale", "zh")], Some(&body))?;
        let answer = response.json().unwrap_or(Value::Null);
        endpoint(response.status, &answer)
    }

    fn on_frame(frame: Frame) -> Result<Outcome, Error> {
        let started = now_ms();
        let bytes = match frame {
            Frame::Binary(bytes) => bytes,
            Frame::Text(_) => {
                return Err(Error::invalid_input(
                    "Feishu's long connection sends binary frames; got a text frame",
                ));
            }
        };
        let frame = pbbp2::Frame::decode(&bytes)
            .map_err(|why| Error::invalid_input(format!("not a Feishu frame: {why}")))?;
        let mut outcome = Outcome {
            events: vec![],
            replies: vec![],
            reconnect: false,
            keepalive_ms: None,
        };
        match (frame.method, frame.header("type")) {
            (CONTROL, Some("pong")) => outcome.keepalive_ms = pong_keepalive(&frame),
            (DATA, Some("event")) => {
                let Some(payload) = whole_payload(&frame, &KvParts)? else {
                    return Ok(outcome);
                };
                let body: Value = serde_json::from_slice(&payload)
                    .ok()
                    .filter(Value::is_object)
                    .ok_or_else(|| {
                        Error::invalid_input("the event frame's payload is not a JSON object")
                    })?;
                outcome.events = webhook::normalize(&body);
                let elapsed = now_ms().saturating_sub(started);
                outcome.replies = vec![Frame::Binary(ack(frame, elapsed).encode())];
            }
            // Server pings need no answer; `card` frames are not acked by Feishu's SDKs either (card actions
            // come as `event` frames of type card.action.trigger).
            _ => {}
        }
        Ok(outcome)
    }
}

/// The endpoint answer: `{"code":0,"data":{"URL","ClientConfig":{…,"PingInterval"}}}`. Feishu's SDKs retry on
/// HTTP errors and codes 1 (system busy) and 1000040343 (internal error), and stop on any other code.
fn endpoint(status: u16, answer: &Value) -> Result<Endpoint, Error> {
    let code = answer["code"].as_i64();
    let msg = answer["msg"].as_str().unwrap_or_default();
    if status == 429 {
        return Err(
            Error::rate_limited("Feishu's long-connection endpoint is rate limited", None)
                .with_platform(code.unwrap_or(429), msg),
        );
    }
    let Some(code) = code.filter(|_| status == 200) else {
        return Err(Error::unavailable(format!(
            "Feishu's long-connection endpoint answered HTTP {status}"
        ))
        .with_platform(code.unwrap_or(status as i64), msg));
    };
    match code {
        0 => {}
        1 | 1000040343 => {
            return Err(Error::unavailable(format!(
                "Feishu's long-connection endpoint is busy ({msg}); retry later"
            ))
            .with_platform(code, msg));
        }
        _ => {
            return Err(Error::unauthorized(format!(
                "Feishu refused a long connection for this app ({msg}): check app_id and app_secret, and that \
                 the app's event subscription uses the long connection"
            ))
            .with_platform(code, msg));
        }
    }
    let data = &answer["data"];
    let url = data["URL"]
        .as_str()
        .filter(|u| u.starts_with("wss://") || u.starts_with("ws://"))
        .ok_or_else(|| Error::unavailable("Feishu's endpoint answer has no WebSocket URL"))?;
    let service = query_param(url, "service_id")
        .and_then(|s| s.parse::<i32>().ok())
        .ok_or_else(|| {
            Error::unavailable("Feishu's long-connection URL has no integer service_id")
        })?;
    let ping_s = data["ClientConfig"]["PingInterval"]
        .as_u64()
        .filter(|s| PING_RANGE_S.contains(s))
        .unwrap_or(DEFAULT_PING_S);
    Ok(Endpoint {
        url: url.to_string(),
        headers: vec![],
        keepalive_ms: (ping_s * 1000) as u32,
        keepalive_frame: Some(Frame::Binary(ping(service).encode())),
    })
}

fn query_param<'a>(url: &'a str, key: &str) -> Option<&'a str> {
    let query = url.split_once('?')?.1;
    let query = query.split('#').next().unwrap_or(query);
    query
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The client's ping: a control frame of type `ping` naming the connection's service.
fn ping(service: i32) -> pbbp2::Frame {
    pbbp2::Frame {
        service,
        method: CONTROL,
        headers: vec![("type".into(), "ping".into())],
        ..pbbp2::Frame::default()
    }
}

/// A pong may carry the client settings as JSON; its `PingInterval` (seconds) becomes the keep-alive.
fn pong_keepalive(frame: &pbbp2::Frame) -> Option<u32> {
    let config: Value = serde_json::from_slice(frame.payload.as_deref()?).ok()?;
    let ping_s = config["PingInterval"]
        .as_u64()
        .filter(|s| PING_RANGE_S.contains(s))?;
    Some((ping_s * 1000) as u32)
}

/// The ack Feishu's SDKs send: the event's own frame, plus `biz_rt` (handling time, ms), payload `{"code":200}`.
fn ack(mut frame: pbbp2::Frame, elapsed_ms: u64) -> pbbp2::Frame {
    frame
        .headers
        .push(("biz_rt".into(), elapsed_ms.to_string()));
    frame.payload = Some(br#"{"code":200}"#.to_vec());
    frame
}

/// Where parts of a split message wait for the rest: kv in the guest (each frame is its own call).
trait Parts {
    fn get(&self, key: &str) -> Option<Vec<u8>>;
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error>;
    fn delete(&self, key: &str);
}

struct KvParts;

impl Parts for KvParts {
    fn get(&self, key: &str) -> Option<Vec<u8>> {
        kv::get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
        kv::set(key, value, Some(PART_TTL_S))
    }
    fn delete(&self, key: &str) {
        kv::delete(key)
    }
}

fn part_key(message_id: &str, seq: usize) -> String {
    format!("feishu/stream/part/{message_id}/{seq}")
}

/// The event's payload once every part has come (`sum` parts, `seq` 0-based), or none while some are missing.
fn whole_payload(frame: &pbbp2::Frame, parts: &impl Parts) -> Result<Option<Vec<u8>>, Error> {
    let number = |key: &str| -> Result<usize, Error> {
        frame
            .header(key)
            .ok_or_else(|| Error::invalid_input(format!("the event frame has no {key} header")))?
            .parse()
            .map_err(|_| {
                Error::invalid_input(format!("the event frame's {key} header is not a number"))
            })
    };
    let (sum, seq) = (number("sum")?, number("seq")?);
    if sum == 0 || sum > MAX_PARTS || seq >= sum {
        return Err(Error::invalid_input(format!(
            "the event frame says part {seq} of {sum} (at most {MAX_PARTS} parts, numbered from 0)"
        )));
    }
    let payload = frame.payload.clone().unwrap_or_default();
    if sum == 1 {
        return Ok(Some(payload));
    }
    let message_id = frame
        .header("message_id")
        .filter(|id| !id.is_empty() && id.len() <= MAX_MESSAGE_ID)
        .ok_or_else(|| Error::invalid_input("a part of a split event has no usable message_id"))?;
    if payload.len() > MAX_EVENT_BYTES {
        return Err(Error::invalid_input("a part of a split event is too large"));
    }
    let mut whole = Vec::new();
    for i in 0..sum {
        let part = if i == seq {
            payload.clone()
        } else {
            match parts.get(&part_key(message_id, i)) {
                Some(part) => part,
                None => {
                    parts.set(&part_key(message_id, seq), &payload)?;
                    return Ok(None);
                }
            }
        };
        whole.extend_from_slice(&part);
        if whole.len() > MAX_EVENT_BYTES {
            return Err(Error::invalid_input(format!(
                "a split event is over {MAX_EVENT_BYTES} bytes"
            )));
        }
    }
    for i in (0..sum).filter(|i| *i != seq) {
        parts.delete(&part_key(message_id, i));
    }
    Ok(Some(whole))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::RefCell;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Memory(RefCell<HashMap<String, Vec<u8>>>);

    impl Parts for Memory {
        fn get(&self, key: &str) -> Option<Vec<u8>> {
            self.0.borrow().get(key).cloned()
        }
        fn set(&self, key: &str, value: &[u8]) -> Result<(), Error> {
            self.0.borrow_mut().insert(key.into(), value.to_vec());
            Ok(())
        }
        fn delete(&self, key: &str) {
            self.0.borrow_mut().remove(key);
        }
    }

    fn event_part(id: &str, sum: usize, seq: usize, payload: &[u8]) -> pbbp2::Frame {
        pbbp2::Frame {
            seq_id: 9,
            log_id: 8,
            service: 7,
            method: DATA,
            headers: vec![
                ("type".into(), "event".into()),
                ("message_id".into(), id.into()),
                ("trace_id".into(), "t".into()),
                ("sum".into(), sum.to_string()),
                ("seq".into(), seq.to_string()),
            ],
            payload: Some(payload.to_vec()),
            ..pbbp2::Frame::default()
        }
    }

    #[test]
    fn joins_parts_in_any_order_and_forgets_them() {
        let parts = Memory::default();
        let frame = |seq, text: &str| event_part("m1", 3, seq, text.as_bytes());
        assert_eq!(whole_payload(&frame(2, "c"), &parts).unwrap(), None);
        assert_eq!(whole_payload(&frame(0, "a"), &parts).unwrap(), None);
        assert_eq!(
            whole_payload(&frame(1, "b"), &parts).unwrap(),
            Some(b"abc".to_vec())
        );
        assert!(parts.0.borrow().is_empty());
        assert_eq!(
            whole_payload(&event_part("m2", 1, 0, b"x"), &parts).unwrap(),
            Some(b"x".to_vec())
        );
    }

    #[test]
    fn refuses_bad_part_numbers() {
        let parts = Memory::default();
        for (sum, seq) in [(0, 0), (2, 2), (MAX_PARTS + 1, 0)] {
            let err = whole_payload(&event_part("m", sum, seq, b"x"), &parts).unwrap_err();
            assert_eq!(err.kind, qiao_sdk::ErrorKind::InvalidInput);
        }
        let mut frame = event_part("m", 1, 0, b"x");
        frame.headers.retain(|(k, _)| k != "sum");
        assert!(
            whole_payload(&frame, &parts)
                .unwrap_err()
                .message
                .contains("sum")
        );
        let long = "m".repeat(MAX_MESSAGE_ID + 1);
        assert!(whole_payload(&event_part(&long, 2, 0, b"x"), &parts).is_err());
    }

    #[test]
    fn acks_with_the_same_frame_plus_biz_rt() {
        let frame = event_part("m", 1, 0, b"{}");
        let acked = ack(frame.clone(), 3);
        assert_eq!(acked.seq_id, frame.seq_id);
        assert_eq!(acked.headers[..5], frame.headers[..]);
        assert_eq!(acked.header("biz_rt"), Some("3"));
        assert_eq!(acked.payload.as_deref(), Some(&br#"{"code":200}"#[..]));
    }

    #[test]
    fn reads_the_endpoint_answer() {
        let answer = json!({"code": 0, "msg": "ok", "data": {
            "URL": "wss://msg-frontier.feishu.cn/ws/v2?fpid=493&aid=552564&device_id=7&access_key=a&service_id=33554678&ticket=t",
            "ClientConfig": {"ReconnectCount": -1, "ReconnectInterval": 120, "ReconnectNonce": 30, "PingInterval": 90}}});
        let endpoint = endpoint(200, &answer).unwrap();
        assert_eq!(endpoint.keepalive_ms, 90_000);
        let Some(Frame::Binary(ping_bytes)) = endpoint.keepalive_frame else {
            panic!("no ping")
        };
        let ping = pbbp2::Frame::decode(&ping_bytes).unwrap();
        assert_eq!((ping.service, ping.method), (33554678, CONTROL));
        assert_eq!(ping.header("type"), Some("ping"));
    }

    #[test]
    fn maps_endpoint_codes() {
        use qiao_sdk::ErrorKind::*;
        let kind = |status, body: Value| endpoint(status, &body).unwrap_err().kind;
        assert_eq!(
            kind(200, json!({"code": 1, "msg": "system busy"})),
            Unavailable
        );
        assert_eq!(
            kind(200, json!({"code": 1000040343, "msg": "internal"})),
            Unavailable
        );
        assert_eq!(kind(502, Value::Null), Unavailable);
        assert_eq!(kind(429, Value::Null), RateLimited);
        let refused =
            endpoint(200, &json!({"code": 10014, "msg": "app secret invalid"})).unwrap_err();
        assert_eq!(refused.kind, Unauthorized);
        assert!(refused.message.contains("app secret invalid"));
        // No service_id: Feishu's SDKs retry such an answer.
        let no_service = json!({"code": 0, "data": {"URL": "wss://x/ws?fpid=1&device_id=1", "ClientConfig": {}}});
        assert_eq!(kind(200, no_service), Unavailable);
    }

    #[test]
    fn a_pong_with_settings_changes_the_keepalive() {
        let mut pong = ping(1);
        pong.headers = vec![("type".into(), "pong".into())];
        assert_eq!(pong_keepalive(&pong), None);
        pong.payload = Some(br#"{"ReconnectCount":-1,"ReconnectInterval":120,"ReconnectNonce":30,"PingInterval":5}"#.to_vec());
        assert_eq!(pong_keepalive(&pong), Some(5000));
        pong.payload = Some(br#"{"PingInterval":0}"#.to_vec());
        assert_eq!(pong_keepalive(&pong), None);
    }
}
