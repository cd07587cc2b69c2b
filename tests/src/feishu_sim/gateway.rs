//! Feishu's long connection (长连接): `POST /callback/ws/endpoint {"AppID","AppSecret"}` hands out a one-time
//! `ws://<sim>/ws?fpid=1&device_id=…&service_id=…&ticket=…` and the client settings (seconds, all four keys
//! always, as the official SDKs need); the WebSocket carries `pbbp2.Frame`s (protobuf, [`Frame`]): the client's
//! ping control frames, answered with a pong carrying the settings, and event data frames — the same plaintext
//! JSON an HTTP callback carries — each unacked until the client sends the frame back with `{"code":200}` (the
//! SDKs' ack). Every new connection gets the unacked events again, which is how Feishu redelivers.
//!
//! Events go to the long connection when the app has no HTTP callback URL and a client has connected at least
//! once (the app chose the long connection): events raised while no client is connected wait for the next one.
//!
//! Faults: the simulator's own (`inject`) on [`ENDPOINT_PATH`], and on the handshake under [`HANDSHAKE`]
//! (refused with Feishu's `Handshake-Status`/`Handshake-Msg` headers); on the live connection, a dropped socket,
//! going away for a while (endpoint answers code 1 "system busy", handshakes refused) and splitting the next
//! event into parts (`sum`/`seq` headers).

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::ws::{Message, WebSocketUpgrade};
use axum::extract::{Query, State as Extract};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::state::State;
use crate::sim_support::stream::{Link, Outgoing, TicketError, Tickets, accept};

type Shared = Arc<Mutex<State>>;

/// The endpoint request's path, for `inject`.
pub const ENDPOINT_PATH: &str = "/callback/ws/endpoint";
/// The fault key of the WebSocket handshake (`inject(HANDSHAKE, Fault::Status(503), n)`): not a path, so it never
/// matches the endpoint's path.
pub const HANDSHAKE: &str = "ws:/ws";
/// The SDKs' codes (lark_oapi/ws/const.py): busy and internal errors are retried, the rest is fatal.
const SYSTEM_BUSY: i64 = 1;
const AUTH_FAILED: i64 = 514;
const NO_CREDENTIAL: i64 = 1000040344;
/// Frames a client may send: pings and acks are small.
const MAX_CLIENT_FRAME: usize = 1 << 20;
/// Unacked events kept at most (the oldest go first), so a test that never connects cannot grow the sim.
const MAX_UNACKED: usize = 1000;

/// `pbbp2.Frame` `method`.
pub const CONTROL: i32 = 0;
pub const DATA: i32 = 1;

/// What the tests can read of the gateway's work.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct StreamStats {
    /// Endpoint requests received (any answer).
    pub endpoint_calls: usize,
    /// WebSocket upgrades accepted.
    pub connects: usize,
    /// Handshakes refused (fault, bad ticket, away).
    pub handshakes_refused: usize,
    /// Binary frames written to a socket (event parts, redeliveries, pongs).
    pub frames_sent: usize,
    /// Ping control frames received.
    pub pings: usize,
    /// Acks that settled an event (its message_id, `{"code":200}`).
    pub acks: usize,
    /// Acks that did not repeat the event's last frame (SeqID, LogID, service, headers) plus `biz_rt`.
    pub malformed_acks: usize,
    /// Events still waiting for their ack.
    pub unacked: usize,
}

/// Feishu's client settings, in seconds; sent whole in the endpoint answer and every pong.
#[derive(Clone, Debug, PartialEq)]
pub struct ClientConfig {
    pub reconnect_count: i64,
    pub reconnect_interval: u64,
    pub reconnect_nonce: u64,
    pub ping_interval: u64,
}

impl Default for ClientConfig {
    /// The official SDKs' defaults.
    fn default() -> ClientConfig {
        ClientConfig {
            reconnect_count: -1,
            reconnect_interval: 120,
            reconnect_nonce: 30,
            ping_interval: 120,
        }
    }
}

impl ClientConfig {
    fn json(&self) -> Value {
        json!({
            "ReconnectCount": self.reconnect_count,
            "ReconnectInterval": self.reconnect_interval,
            "ReconnectNonce": self.reconnect_nonce,
            "PingInterval": self.ping_interval,
        })
    }
}

struct Unacked {
    message_id: String,
    event: Value,
    /// The last frame of each delivery: its ack repeats one of them.
    sent: Vec<Frame>,
}

pub struct Gateway {
    /// How long a ticket is good for.
    pub ticket_ttl: Duration,
    pub client_config: ClientConfig,
    /// Event payloads above this many bytes are sent in parts.
    pub part_bytes: usize,
    /// Tickets and connections carry the connection's `service_id`.
    tickets: Tickets<i32>,
    /// Events not acked yet, by sequence (push order).
    unacked: BTreeMap<u64, Unacked>,
    /// The connection new events go to; the app uses the long connection once a client connected.
    link: Link<i32>,
    /// The next event goes in this many parts.
    split_next: Option<usize>,
    /// This many more acks are lost on the way (the event stays unacked, so it comes again).
    lose_acks: u32,
    /// Events acked, in ack order.
    pub delivered: Vec<Value>,
    /// Every ack frame received, in order.
    pub acks: Vec<Frame>,
    pub stats: StreamStats,
    next: u64,
}

impl Default for Gateway {
    fn default() -> Gateway {
        Gateway {
            ticket_ttl: Duration::from_secs(60),
            client_config: ClientConfig::default(),
            part_bytes: 64 * 1024,
            tickets: Tickets::default(),
            unacked: BTreeMap::new(),
            link: Link::default(),
            split_next: None,
            lose_acks: 0,
            delivered: Vec::new(),
            acks: Vec::new(),
            stats: StreamStats::default(),
            next: 0,
        }
    }
}

impl Gateway {
    fn next(&mut self) -> u64 {
        self.next += 1;
        self.next
    }

    /// Whether events without an HTTP callback URL go to the long connection.
    pub fn streaming(&self) -> bool {
        self.link.streaming()
    }

    /// Whether a client is connected and gets new frames.
    pub fn connected(&self) -> bool {
        self.link.connected()
    }

    /// Queues an event (the plaintext JSON an HTTP push would carry) and sends it now if a client is connected.
    pub fn push_event(&mut self, event: Value) {
        if self.unacked.len() == MAX_UNACKED {
            self.unacked.pop_first();
        }
        let seq = self.next();
        let message_id = format!("sim-msg-{seq:06}");
        self.unacked.insert(
            seq,
            Unacked {
                message_id,
                event,
                sent: Vec::new(),
            },
        );
        self.deliver(seq);
        self.stats.unacked = self.unacked.len();
    }

    /// Sends the unacked event `seq` to the live client, in parts when large or when a split is due.
    fn deliver(&mut self, seq: u64) {
        let Some(service_id) = self.link.live().map(|(_, service)| *service) else {
            return;
        };
        let Some(entry) = self.unacked.get(&seq) else {
            return;
        };
        let payload = entry.event.to_string().into_bytes();
        let message_id = entry.message_id.clone();
        let parts = match self.split_next.take() {
            Some(n) => n.clamp(1, payload.len().max(1)),
            None => payload.len().div_ceil(self.part_bytes).max(1),
        };
        let size = payload.len().div_ceil(parts).max(1);
        let chunks: Vec<Vec<u8>> = if payload.is_empty() {
            vec![Vec::new()]
        } else {
            payload.chunks(size).map(<[u8]>::to_vec).collect()
        };
        let sum = chunks.len();
        let trace = format!("sim-trace-{seq}");
        let mut last = None;
        for (i, chunk) in chunks.into_iter().enumerate() {
            let frame_seq = self.next();
            let frame = Frame {
                seq_id: frame_seq,
                log_id: 7_000_000 + frame_seq,
                service: service_id,
                method: DATA,
                headers: vec![
                    ("type".into(), "event".into()),
                    ("message_id".into(), message_id.clone()),
                    ("sum".into(), sum.to_string()),
                    ("seq".into(), i.to_string()),
                    ("trace_id".into(), trace.clone()),
                ],
                payload: Some(chunk),
                log_id_new: Some(format!("sim-log-{frame_seq}")),
                ..Frame::default()
            };
            if !self.send(Outgoing::Frame(Message::Binary(frame.encode().into()))) {
                return;
            }
            last = Some(frame);
        }
        if let (Some(entry), Some(last)) = (self.unacked.get_mut(&seq), last) {
            entry.sent.push(last);
        }
    }

    fn send(&mut self, outgoing: Outgoing) -> bool {
        let sent = self.link.send(outgoing);
        if sent {
            self.stats.frames_sent += 1;
        }
        sent
    }

    /// The next event goes in `parts` parts (at most one per payload byte).
    pub fn split_next(&mut self, parts: usize) {
        self.split_next = Some(parts.max(1));
    }

    /// The next `n` acks are lost: their events stay unacked and come again on the next connection.
    pub fn lose_acks(&mut self, n: u32) {
        self.lose_acks = n;
    }

    /// Cuts the live connection's socket without a close frame.
    pub fn drop_connection(&mut self) -> bool {
        self.link.drop_connection()
    }

    /// The gateway goes away for `duration`: the live socket is cut; the endpoint answers "system busy" and
    /// handshakes are refused until then.
    pub fn go_away(&mut self, duration: Duration) {
        self.link.go_away(duration);
    }

    /// Sends every unacked event again on the live connection.
    pub fn redeliver(&mut self) {
        let pending: Vec<u64> = self.unacked.keys().copied().collect();
        for seq in pending {
            self.deliver(seq);
        }
    }

    /// A binary frame from a client; the answer to send back, if any (a pong).
    fn on_frame(&mut self, bytes: &[u8]) -> Option<Vec<u8>> {
        let frame = Frame::decode(bytes).ok()?;
        match (frame.method, frame.header("type")) {
            (CONTROL, Some("ping")) => {
                self.stats.pings += 1;
                let pong = Frame {
                    service: frame.service,
                    method: CONTROL,
                    headers: vec![("type".into(), "pong".into())],
                    payload: Some(self.client_config.json().to_string().into_bytes()),
                    ..Frame::default()
                };
                self.stats.frames_sent += 1;
                Some(pong.encode())
            }
            (DATA, Some("event")) => {
                self.on_ack(frame);
                None
            }
            _ => None,
        }
    }

    fn on_ack(&mut self, ack: Frame) {
        let message_id = ack.header("message_id").unwrap_or_default().to_string();
        let ok = ack
            .payload
            .as_deref()
            .and_then(|p| serde_json::from_slice::<Value>(p).ok())
            .is_some_and(|p| p["code"] == 200);
        let settled = self
            .unacked
            .iter()
            .find(|(_, u)| u.message_id == message_id)
            .map(|(seq, u)| (*seq, u.sent.clone()));
        if let Some((seq, sent)) = settled {
            let faithful = sent.iter().any(|last| {
                let mut expected = last.headers.clone();
                expected.push((
                    "biz_rt".into(),
                    ack.header("biz_rt").unwrap_or_default().into(),
                ));
                (ack.seq_id, ack.log_id, ack.service) == (last.seq_id, last.log_id, last.service)
                    && ack.headers == expected
                    && ack
                        .header("biz_rt")
                        .is_some_and(|rt| rt.parse::<i64>().is_ok())
            });
            if !faithful {
                self.stats.malformed_acks += 1;
            }
            let lost = ok && faithful && self.lose_acks > 0;
            if lost {
                self.lose_acks -= 1;
            }
            if ok && faithful && !lost {
                let entry = self.unacked.remove(&seq).expect("found above");
                self.delivered.push(entry.event);
                self.stats.acks += 1;
                self.stats.unacked = self.unacked.len();
            }
        }
        self.acks.push(ack);
    }
}

fn code(code: i64, msg: &str) -> Response {
    axum::Json(json!({ "code": code, "msg": msg })).into_response()
}

/// `POST /callback/ws/endpoint {"AppID","AppSecret"}`. Errors come with HTTP 200, as a code the SDKs judge.
pub fn endpoint(state: &mut State, headers: &HeaderMap, body: &Value) -> Response {
    state.gateway.stats.endpoint_calls += 1;
    if state.gateway.link.away() {
        return code(SYSTEM_BUSY, "system busy");
    }
    let (app_id, secret) = (
        body["AppID"].as_str().unwrap_or_default(),
        body["AppSecret"].as_str().unwrap_or_default(),
    );
    if app_id.is_empty() || secret.is_empty() {
        return code(
            NO_CREDENTIAL,
            "no credential: AppID and AppSecret are required",
        );
    }
    if app_id != state.options.app_id || secret != state.options.app_secret {
        return code(AUTH_FAILED, "auth failed: app id or app secret is invalid");
    }
    let host = headers
        .get("host")
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    let gateway = &mut state.gateway;
    let n = gateway.next();
    let ticket = format!("sim-ticket-{:x}{n}", rand::random::<u64>());
    let service_id = 33_554_000 + n as i32;
    let ttl = gateway.ticket_ttl;
    gateway.tickets.issue(ticket.clone(), ttl, service_id);
    // `device_id` and `service_id` are never first: Feishu's Node SDK loses the first query key.
    let url = format!(
        "ws://{host}/ws?fpid=1&aid=552564&device_id=sim-device-{n}&access_key=sim&service_id={service_id}&ticket={ticket}"
    );
    super::api::ok(json!({ "URL": url, "ClientConfig": gateway.client_config.json() }))
}

/// A refused upgrade, with the headers Feishu's SDKs read: 514 is retried (without 1000040350), 403 is fatal.
fn refuse(state: &mut State, http: StatusCode, handshake_status: u16, msg: &str) -> Response {
    state.gateway.stats.handshakes_refused += 1;
    let mut response = (http, msg.to_string()).into_response();
    let headers = response.headers_mut();
    headers.insert("handshake-status", handshake_status.into());
    headers.insert("handshake-msg", msg.parse().unwrap());
    response
}

/// `GET /ws?…&ticket=`: the upgrade, when the ticket is good (each works once, until it expires).
pub async fn connect(
    Extract(shared): Extract<Shared>,
    Query(query): Query<HashMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let mut state = shared.lock().unwrap();
    state.requests.push(HANDSHAKE.to_string());
    if let Some(fault) = state.take_fault(HANDSHAKE) {
        let http = match fault {
            super::state::Fault::Status(status) => {
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY)
            }
            _ => StatusCode::SERVICE_UNAVAILABLE,
        };
        return refuse(&mut state, http, 514, "system busy");
    }
    if state.gateway.link.away() {
        return refuse(
            &mut state,
            StatusCode::SERVICE_UNAVAILABLE,
            514,
            "system busy",
        );
    }
    let ticket = query.get("ticket").cloned().unwrap_or_default();
    let service_id = match state.gateway.tickets.redeem(&ticket) {
        Ok(service_id) => service_id,
        Err(TicketError::Expired) => {
            return refuse(&mut state, StatusCode::FORBIDDEN, 514, "ticket expired");
        }
        Err(TicketError::Unknown) => {
            return refuse(
                &mut state,
                StatusCode::FORBIDDEN,
                514,
                "ticket invalid or used",
            );
        }
    };
    let gateway = &mut state.gateway;
    let id = gateway.next();
    let receiver = gateway.link.attach(id, service_id);
    gateway.stats.connects += 1;
    // A new connection gets every event the last ones left unacked.
    gateway.redeliver();
    drop(state);
    // Text means nothing here.
    accept(
        upgrade,
        MAX_CLIENT_FRAME,
        shared,
        id,
        receiver,
        |state, message| match message {
            Message::Binary(bytes) => state
                .gateway
                .on_frame(&bytes)
                .map(|reply| Message::Binary(reply.into())),
            _ => None,
        },
        |state| &mut state.gateway.link,
    )
}

/// `pbbp2.Frame` (proto2; lark_oapi/ws/pb/pbbp2_pb2.py), the simulator's own codec: required fields always
/// written, unknown fields skipped, lengths checked.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Frame {
    pub seq_id: u64,
    pub log_id: u64,
    pub service: i32,
    pub method: i32,
    pub headers: Vec<(String, String)>,
    pub payload_encoding: Option<String>,
    pub payload_type: Option<String>,
    pub payload: Option<Vec<u8>>,
    pub log_id_new: Option<String>,
}

impl Frame {
    pub fn header(&self, key: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn encode(&self) -> Vec<u8> {
        fn varint(out: &mut Vec<u8>, mut v: u64) {
            while v >= 0x80 {
                out.push(v as u8 | 0x80);
                v >>= 7;
            }
            out.push(v as u8);
        }
        fn field(out: &mut Vec<u8>, number: u64, bytes: &[u8]) {
            varint(out, number << 3 | 2);
            varint(out, bytes.len() as u64);
            out.extend_from_slice(bytes);
        }
        let mut out = Vec::new();
        for (number, value) in [
            (1, self.seq_id),
            (2, self.log_id),
            (3, self.service as i64 as u64),
            (4, self.method as i64 as u64),
        ] {
            varint(&mut out, number << 3);
            varint(&mut out, value);
        }
        for (key, value) in &self.headers {
            let mut header = Vec::new();
            field(&mut header, 1, key.as_bytes());
            field(&mut header, 2, value.as_bytes());
            field(&mut out, 5, &header);
        }
        let strings = [(6, &self.payload_encoding), (7, &self.payload_type)];
        for (number, value) in strings {
            if let Some(v) = value {
                field(&mut out, number, v.as_bytes());
            }
        }
        if let Some(p) = &self.payload {
            field(&mut out, 8, p);
        }
        if let Some(v) = &self.log_id_new {
            field(&mut out, 9, v.as_bytes());
        }
        out
    }

    pub fn decode(bytes: &[u8]) -> Result<Frame, String> {
        let mut frame = Frame::default();
        let mut required = 0u8;
        let mut at = 0;
        while at < bytes.len() {
            let key = read_varint(bytes, &mut at)?;
            match (key >> 3, key & 7) {
                (n @ 1..=4, 0) => {
                    let v = read_varint(bytes, &mut at)?;
                    required |= 1 << (n - 1);
                    match n {
                        1 => frame.seq_id = v,
                        2 => frame.log_id = v,
                        3 => frame.service = v as i32,
                        _ => frame.method = v as i32,
                    }
                }
                (n @ 5..=9, 2) => {
                    let value = read_bytes(bytes, &mut at)?;
                    let text = || {
                        String::from_utf8(value.to_vec())
                            .map_err(|_| format!("field {n} is not UTF-8"))
                    };
                    match n {
                        5 => {
                            if frame.headers.len() >= 64 {
                                return Err("too many headers".into());
                            }
                            frame.headers.push(read_header(value)?);
                        }
                        6 => frame.payload_encoding = Some(text()?),
                        7 => frame.payload_type = Some(text()?),
                        8 => frame.payload = Some(value.to_vec()),
                        _ => frame.log_id_new = Some(text()?),
                    }
                }
                (1..=9, wire) => return Err(format!("known field with wire type {wire}")),
                (_, 0) => {
                    read_varint(bytes, &mut at)?;
                }
                (_, 2) => {
                    read_bytes(bytes, &mut at)?;
                }
                (_, 1) => at = skip(bytes, at, 8)?,
                (_, 5) => at = skip(bytes, at, 4)?,
                (_, wire) => return Err(format!("wire type {wire}")),
            }
        }
        if required != 0b1111 {
            return Err("a required field (SeqID, LogID, service, method) is missing".into());
        }
        Ok(frame)
    }
}

fn skip(bytes: &[u8], at: usize, width: usize) -> Result<usize, String> {
    let end = at + width;
    if end > bytes.len() {
        return Err("truncated".into());
    }
    Ok(end)
}

fn read_varint(bytes: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *bytes.get(*at).ok_or("truncated varint")?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte < 0x80 {
            return Ok(value);
        }
    }
    Err("varint too long".into())
}

fn read_bytes<'a>(bytes: &'a [u8], at: &mut usize) -> Result<&'a [u8], String> {
    let len = read_varint(bytes, at)? as usize;
    let end = at
        .checked_add(len)
        .filter(|e| *e <= bytes.len())
        .ok_or("length past the end")?;
    let slice = &bytes[*at..end];
    *at = end;
    Ok(slice)
}

fn read_header(bytes: &[u8]) -> Result<(String, String), String> {
    let (mut key, mut value, mut at) = (None, None, 0);
    while at < bytes.len() {
        let tag = read_varint(bytes, &mut at)?;
        let field = read_bytes(bytes, &mut at).map(|b| String::from_utf8_lossy(b).into_owned());
        match tag {
            0x0a => key = Some(field?),
            0x12 => value = Some(field?),
            _ => return Err(format!("unexpected header tag {tag}")),
        }
    }
    Ok((
        key.ok_or("header without key")?,
        value.ok_or("header without value")?,
    ))
}
