//! DingTalk's Stream mode gateway: `POST /v1.0/gateway/connections/open` hands out a one-time ticket and the
//! endpoint `ws://<sim>/connect`; `GET /connect?ticket=` upgrades to the WebSocket over which events come as JSON
//! frames (`data` a JSON *string* of the business fields, header values digit strings, as the official SDKs read
//! them). A frame stays unacked until the client acks its messageId with code 200 (and not `status: LATER`); every
//! new connection gets the unacked frames again, which is how DingTalk redelivers.
//!
//! Events go to the stream when the app has no HTTP callback URL and a client has connected at least once (the
//! app is in Stream mode): frames raised while no client is connected wait for the next connection.
//!
//! Faults: the simulator's own (`inject`) on the open path, and on the handshake under [`HANDSHAKE`]; and, on the
//! live connection, a dropped socket, a SYSTEM `disconnect`, and going away for a while.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{Query, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::api::{api_err, api_ok};
use super::state::{Fault, State, now_ms};
use crate::sim_support::stream::{Link, Outgoing, TicketError, Tickets, accept};

type Shared = Arc<Mutex<State>>;

/// The fault key of the WebSocket handshake (`inject(HANDSHAKE, Fault::Status(401), n)`): not a path, so that
/// it never matches `/v1.0/gateway/connections/open` (which contains `/connect`).
pub const HANDSHAKE: &str = "ws:/connect";
/// The open path, for `inject`.
pub const OPEN_PATH: &str = "/v1.0/gateway/connections/open";
/// How long after a SYSTEM `disconnect` the gateway closes the socket itself if the client has not.
const DISCONNECT_GRACE: Duration = Duration::from_secs(3);

/// What the tests can read of the gateway's work.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamStats {
    /// `connections/open` calls with the right credentials, answered with a ticket.
    pub opens: usize,
    /// WebSocket upgrades accepted.
    pub connects: usize,
    /// Frames written to a socket (events, redeliveries, SYSTEM frames).
    pub frames_sent: usize,
    /// Acks that settled a frame (code 200, not LATER, a messageId the gateway sent).
    pub acks: usize,
    /// Frames still waiting for their ack.
    pub unacked: usize,
    /// Events queued for the stream (each once, however often it is sent).
    pub events: usize,
}

#[derive(Default)]
pub struct Gateway {
    /// How long a ticket is good for.
    pub ticket_ttl: Duration,
    tickets: Tickets<()>,
    /// Frames not acked yet, by sequence (send order): messageId and text.
    unacked: BTreeMap<u64, (String, String)>,
    /// The connection new frames go to; the app is in Stream mode once a client connected.
    link: Link<()>,
    /// Every text frame the clients sent, parsed (acks, ping replies), in order.
    pub replies: Vec<Value>,
    /// Acks are lost on the way (recorded in `replies`, settling nothing): every frame is sent again on the
    /// next connection.
    pub lose_acks: bool,
    pub stats: StreamStats,
    next: u64,
}

impl Gateway {
    pub fn new() -> Gateway {
        Gateway {
            ticket_ttl: Duration::from_secs(60),
            ..Gateway::default()
        }
    }

    fn next(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Whether events without an HTTP callback URL go to the stream.
    pub fn streaming(&self) -> bool {
        self.link.streaming()
    }

    /// Queues HTTP-push style events (`EventType`, `eventId`, `EventTime`, `CorpId` next to the business fields)
    /// as EVENT frames, and sends them now if a client is connected.
    pub fn push_events(&mut self, app_key: &str, events: Vec<Value>) {
        for event in events {
            let (message_id, text) = self.event_frame(app_key, &event);
            let seq = self.next();
            self.unacked.insert(seq, (message_id, text.clone()));
            self.stats.events += 1;
            self.send(Outgoing::Frame(Message::Text(text.into())));
        }
        self.stats.unacked = self.unacked.len();
    }

    /// The stream form of an HTTP-push event: the envelope fields move to headers, the rest is `data`.
    fn event_frame(&mut self, app_key: &str, event: &Value) -> (String, String) {
        let mut fields = event.as_object().cloned().unwrap_or_default();
        let mut take = |key: &str| match fields.remove(key) {
            Some(Value::String(s)) => s,
            Some(Value::Number(n)) => n.to_string(),
            _ => String::new(),
        };
        let (event_type, event_id) = (take("EventType"), take("eventId"));
        let (born, corp) = (take("EventTime"), take("CorpId"));
        take("BizId");
        let message_id = format!("sim-msg-{:06}", self.next());
        let frame = json!({
            "specVersion": "1.0",
            "type": "EVENT",
            "headers": {
                "messageId": message_id, "topic": "*", "contentType": "application/json",
                "time": now_ms().to_string(), "appId": app_key,
                "connectionId": self.link.live().map(|(id, _)| format!("sim-conn-{id}")).unwrap_or_default(),
                "eventId": event_id, "eventType": event_type, "eventBornTime": born,
                "eventCorpId": corp, "eventUnifiedAppId": app_key,
            },
            "data": Value::Object(fields).to_string(),
        });
        (message_id, frame.to_string())
    }

    fn send(&mut self, outgoing: Outgoing) -> bool {
        let sent = self.link.send(outgoing);
        if sent {
            self.stats.frames_sent += 1;
        }
        sent
    }

    /// A SYSTEM frame to the live client; its messageId.
    fn system(&mut self, topic: &str, data: Value) -> Option<String> {
        self.link.live()?;
        let message_id = format!("sim-sys-{:06}", self.next());
        let frame = json!({
            "specVersion": "1.0", "type": "SYSTEM",
            "headers": { "messageId": message_id, "topic": topic, "contentType": "application/json",
                         "time": now_ms().to_string() },
            "data": data.to_string(),
        });
        let message = Message::Text(frame.to_string().into());
        let outgoing = if topic == "disconnect" {
            Outgoing::FrameThenClose(message, DISCONNECT_GRACE)
        } else {
            Outgoing::Frame(message)
        };
        self.send(outgoing).then_some(message_id)
    }

    /// A SYSTEM `ping` to the live client (DingTalk's own keep-alive check); its messageId.
    pub fn ping(&mut self) -> Option<String> {
        self.system(
            "ping",
            json!({ "opaque": format!("sim-opaque-{}", self.next) }),
        )
    }

    /// A SYSTEM `disconnect`: the client should reconnect with a fresh ticket. The connection gets no more frames.
    pub fn disconnect(&mut self) -> bool {
        let sent = self
            .system("disconnect", json!({ "reason": "gateway restarting" }))
            .is_some();
        self.link.detach();
        sent
    }

    /// Cuts the live connection's socket without a close frame.
    pub fn drop_connection(&mut self) -> bool {
        self.link.drop_connection()
    }

    /// The gateway goes away for `duration`: the live socket is cut, open and connect fail until then.
    pub fn go_away(&mut self, duration: Duration) {
        self.link.go_away(duration);
    }

    /// Sends every unacked frame again on the live connection (DingTalk does after about 60 s without an ack).
    pub fn redeliver(&mut self) {
        let frames: Vec<String> = self
            .unacked
            .values()
            .map(|(_, text)| text.clone())
            .collect();
        for text in frames {
            self.send(Outgoing::Frame(Message::Text(text.into())));
        }
    }

    /// A frame of the test's own making (malformed, unknown, binary) to the live client, not tracked for acks.
    pub fn send_raw(&mut self, text: Option<String>, binary: Option<Vec<u8>>) -> bool {
        match (text, binary) {
            (Some(text), _) => self.send(Outgoing::Frame(Message::Text(text.into()))),
            (None, Some(bytes)) => self.send(Outgoing::Frame(Message::Binary(bytes.into()))),
            (None, None) => false,
        }
    }

    /// Whether a client is connected and gets new frames.
    pub fn connected(&self) -> bool {
        self.link.connected()
    }

    /// A text frame from a client: an ack settles the frame of its messageId.
    fn on_reply(&mut self, text: &str) {
        let Ok(reply) = serde_json::from_str::<Value>(text) else {
            return;
        };
        let message_id = reply["headers"]["messageId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        // Node and Go say `{"status":"SUCCESS"|"LATER"}`; Python echoes the data: anything but LATER counts.
        let later = reply["data"]
            .as_str()
            .and_then(|d| serde_json::from_str::<Value>(d).ok())
            .is_some_and(|d| d["status"] == "LATER");
        if reply["code"] == 200 && !later && !self.lose_acks {
            let settled = self
                .unacked
                .iter()
                .find(|(_, (id, _))| *id == message_id)
                .map(|(s, _)| *s);
            if let Some(seq) = settled {
                self.unacked.remove(&seq);
                self.stats.acks += 1;
                self.stats.unacked = self.unacked.len();
            }
        }
        self.replies.push(reply);
    }
}

/// `POST /v1.0/gateway/connections/open {clientId, clientSecret, subscriptions, ua, localIp}`.
pub fn open(state: &mut State, headers: &HeaderMap, body: &Value) -> Response {
    if state.gateway.link.away() {
        return api_err(503, "ServiceUnavailable", "服务暂不可用");
    }
    if body["clientId"] != state.options.app_key.as_str()
        || body["clientSecret"] != state.options.app_secret.as_str()
    {
        return api_err(
            401,
            "invalidClientIdOrSecret",
            "无效的clientId或者clientSecret",
        );
    }
    if body["subscriptions"].as_array().is_none_or(Vec::is_empty) {
        return api_err(400, "InvalidParameter", "subscriptions不能为空");
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let ticket = format!(
        "sim-ticket-{:x}+/{}",
        rand::random::<u64>(),
        state.next_id()
    );
    let ttl = state.gateway.ticket_ttl;
    state.gateway.tickets.issue(ticket.clone(), ttl, ());
    state.gateway.stats.opens += 1;
    api_ok(json!({ "endpoint": format!("ws://{host}/connect"), "ticket": ticket }))
}

/// `GET /connect?ticket=`: the upgrade, when the ticket is good (each works once, until it expires).
pub async fn connect(
    Extract(shared): Extract<Shared>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let mut state = shared.lock().unwrap();
    state.requests.push(HANDSHAKE.to_string());
    match state.take_fault(HANDSHAKE) {
        Some(Fault::Status(status)) => {
            return (StatusCode::from_u16(status).unwrap(), "handshake refused").into_response();
        }
        Some(_) => return api_err(503, "ServiceUnavailable", "服务暂不可用"),
        None => {}
    }
    if state.gateway.link.away() {
        return api_err(503, "ServiceUnavailable", "服务暂不可用");
    }
    let ticket = query.get("ticket").cloned().unwrap_or_default();
    match state.gateway.tickets.redeem(&ticket) {
        Ok(()) => {}
        Err(TicketError::Expired) => return api_err(403, "TicketExpired", "ticket已过期"),
        Err(TicketError::Unknown) => return api_err(401, "InvalidTicket", "ticket无效或已使用"),
    }
    let gateway = &mut state.gateway;
    let id = gateway.next();
    let receiver = gateway.link.attach(id, ());
    gateway.stats.connects += 1;
    // A new connection gets every frame the last ones left unacked.
    gateway.redeliver();
    drop(state);
    // Pongs and binary frames mean nothing here.
    accept(
        upgrade,
        1 << 20,
        shared,
        id,
        receiver,
        |state, message| {
            if let Message::Text(text) = message {
                state.gateway.on_reply(text.as_str());
            }
            None
        },
        |state| &mut state.gateway.link,
    )
}
