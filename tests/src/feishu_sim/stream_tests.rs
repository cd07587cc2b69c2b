//! The long-connection gateway against a WebSocket client (tokio-tungstenite) playing an SDK: binary frames, and
//! a look at refused handshakes and their `Handshake-*` headers.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::http::HeaderMap;
use tokio_tungstenite::tungstenite::{Error, Message};

use super::{ClientConfig, ENDPOINT_PATH, Fault, FeishuSim, Frame, HANDSHAKE, Options};

struct Ws {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

enum Read {
    Binary(Vec<u8>),
    Closed,
}

/// The status and headers of a refused handshake.
struct Handshake {
    status: u16,
    headers: HeaderMap,
}

impl Handshake {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

async fn handshake(url: &str) -> Result<Ws, Handshake> {
    match tokio_tungstenite::connect_async(url).await {
        Ok((socket, _)) => Ok(Ws { socket }),
        Err(Error::Http(response)) => Err(Handshake {
            status: response.status().as_u16(),
            headers: response.headers().clone(),
        }),
        Err(error) => panic!("handshake with {url}: {error}"),
    }
}

/// The answer to a handshake that must be refused.
async fn refused(url: &str) -> Handshake {
    match handshake(url).await {
        Ok(_) => panic!("the handshake was accepted"),
        Err(answer) => answer,
    }
}

impl Ws {
    async fn connect(url: &str) -> Ws {
        match handshake(url).await {
            Ok(ws) => ws,
            Err(answer) => panic!("handshake refused: {} {:?}", answer.status, answer.headers),
        }
    }

    async fn send(&mut self, payload: &[u8]) {
        self.socket
            .send(Message::binary(payload.to_vec()))
            .await
            .unwrap();
    }

    /// The next binary message (WebSocket pings and text skipped), or `Closed`.
    async fn read(&mut self) -> Read {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Binary(bytes))) => return Read::Binary(bytes.to_vec()),
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => return Read::Closed,
                Some(Ok(_)) => {}
            }
        }
    }

    async fn frame(&mut self) -> Frame {
        match tokio::time::timeout(Duration::from_secs(5), self.read()).await {
            Ok(Read::Binary(bytes)) => Frame::decode(&bytes).unwrap(),
            Ok(Read::Closed) => panic!("the gateway closed the socket"),
            Err(_) => panic!("no frame within 5 s"),
        }
    }

    /// The ack Feishu's SDKs send: the same frame, `biz_rt` added, `{"code":200}`.
    async fn ack(&mut self, frame: &Frame) {
        let mut ack = frame.clone();
        ack.headers.push(("biz_rt".into(), "2".into()));
        ack.payload = Some(br#"{"code":200}"#.to_vec());
        self.send(&ack.encode()).await;
    }
}

async fn endpoint(sim: &FeishuSim, body: Value) -> (u16, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}{ENDPOINT_PATH}", sim.base))
        .header("locale", "zh")
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

async fn url(sim: &FeishuSim) -> String {
    let body = json!({ "AppID": sim.options.app_id, "AppSecret": sim.options.app_secret });
    let (status, answer) = endpoint(sim, body).await;
    assert_eq!((status, &answer["code"]), (200, &json!(0)), "{answer}");
    answer["data"]["URL"].as_str().unwrap().to_string()
}

fn contact_event(sim: &FeishuSim, name: &str) -> Value {
    sim.state().contact_event(
        "contact.user.created_v3",
        json!({ "open_id": "ou_x", "name": name }),
    )
}

async fn wait_for(what: &str, check: impl Fn() -> bool) {
    for _ in 0..100 {
        if check() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

fn payload_json(frame: &Frame) -> Value {
    serde_json::from_slice(frame.payload.as_deref().unwrap()).unwrap()
}

#[tokio::test]
async fn feishu_sim_stream_endpoint_answers_like_feishu() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let (status, answer) = endpoint(
        &sim,
        json!({ "AppID": sim.options.app_id, "AppSecret": sim.options.app_secret }),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(answer["code"], 0);
    let url = answer["data"]["URL"].as_str().unwrap();
    let query = url.split_once('?').unwrap().1;
    let keys: Vec<&str> = query
        .split('&')
        .map(|p| p.split('=').next().unwrap())
        .collect();
    // Never first: Feishu's Node SDK loses the first query key.
    assert!(keys[0] != "device_id" && keys[0] != "service_id", "{url}");
    for key in ["device_id", "service_id", "ticket"] {
        assert!(keys.contains(&key), "{url}");
    }
    let config = &answer["data"]["ClientConfig"];
    for key in [
        "ReconnectCount",
        "ReconnectInterval",
        "ReconnectNonce",
        "PingInterval",
    ] {
        assert!(config[key].is_i64(), "{key} in {config}");
    }
    let (status, wrong) = endpoint(
        &sim,
        json!({ "AppID": sim.options.app_id, "AppSecret": "nope" }),
    )
    .await;
    assert_eq!(status, 200, "the SDKs judge the code, not the status");
    assert_eq!(wrong["code"], 514, "{wrong}");
    assert_eq!(endpoint(&sim, json!({})).await.1["code"], 1000040344);
    sim.inject(ENDPOINT_PATH, Fault::Internal, 1);
    assert_eq!(endpoint(&sim, json!({})).await.0, 500);
    assert_eq!(
        sim.stream_stats().endpoint_calls,
        3,
        "faults answer before counting"
    );
}

#[tokio::test]
async fn feishu_sim_stream_tickets_work_once_and_refusals_say_why() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let url = url(&sim).await;
    let ws = Ws::connect(&url).await;
    drop(ws);
    let used = refused(&url).await;
    assert_eq!(used.status, 403);
    assert_eq!(used.header("handshake-status"), Some("514"));
    assert_eq!(used.header("handshake-msg"), Some("ticket invalid or used"));
    let bogus = refused(&url.replace("ticket=", "ticket=x")).await;
    assert_eq!(bogus.header("handshake-status"), Some("514"));

    sim.inject(HANDSHAKE, Fault::Status(503), 1);
    let fresh = self::url(&sim).await;
    let busy = refused(&fresh).await;
    assert_eq!(busy.status, 503);
    assert_eq!(busy.header("handshake-status"), Some("514"));
    // The fault took the attempt, not the ticket.
    Ws::connect(&fresh).await;
    let stats = sim.stream_stats();
    assert_eq!((stats.connects, stats.handshakes_refused), (2, 3));
}

#[tokio::test]
async fn feishu_sim_stream_answers_pings_with_the_client_config() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    sim.set_client_config(ClientConfig {
        ping_interval: 5,
        ..ClientConfig::default()
    });
    let url = url(&sim).await;
    let service: i32 = url
        .split("service_id=")
        .nth(1)
        .unwrap()
        .split('&')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let mut ws = Ws::connect(&url).await;
    let ping = Frame {
        service,
        method: 0,
        headers: vec![("type".into(), "ping".into())],
        ..Frame::default()
    };
    ws.send(&ping.encode()).await;
    let pong = ws.frame().await;
    assert_eq!(
        (pong.method, pong.service, pong.header("type")),
        (0, service, Some("pong"))
    );
    assert_eq!(
        payload_json(&pong),
        json!({"ReconnectCount": -1, "ReconnectInterval": 120, "ReconnectNonce": 30, "PingInterval": 5})
    );
    assert_eq!(sim.stream_stats().pings, 1);
}

#[tokio::test]
async fn feishu_sim_stream_delivers_events_until_acked() {
    let sim = FeishuSim::start(Options {
        encrypt_key: String::new(),
        ..Options::default()
    })
    .await
    .unwrap();
    // Before any client connected the app is not in long-connection mode: nothing is kept.
    sim.emit(contact_event(&sim, "before"));
    assert_eq!(sim.stream_stats().unacked, 0);

    let mut ws = Ws::connect(&url(&sim).await).await;
    let event = contact_event(&sim, "Li Na");
    sim.emit(event.clone());
    let frame = ws.frame().await;
    assert_eq!(frame.method, 1);
    for (key, value) in [("type", "event"), ("sum", "1"), ("seq", "0")] {
        assert_eq!(frame.header(key), Some(value));
    }
    assert!(frame.header("message_id").is_some() && frame.header("trace_id").is_some());
    assert_eq!(
        payload_json(&frame),
        event,
        "the plaintext an HTTP push carries"
    );

    // Not acked: a new connection gets it again.
    assert!(sim.drop_stream());
    assert!(matches!(ws.read().await, Read::Closed));
    let mut ws = Ws::connect(&url(&sim).await).await;
    let again = ws.frame().await;
    assert_eq!(again.header("message_id"), frame.header("message_id"));

    // An ack that does not repeat the frame settles nothing.
    let mut sloppy = again.clone();
    sloppy.headers.retain(|(k, _)| k != "trace_id");
    sloppy.payload = Some(br#"{"code":200}"#.to_vec());
    ws.send(&sloppy.encode()).await;
    ws.ack(&again).await;
    wait_for("the ack", || sim.stream_stats().acks == 1).await;
    let stats = sim.stream_stats();
    assert_eq!(
        (stats.unacked, stats.malformed_acks, stats.connects),
        (0, 1, 2)
    );
    assert_eq!(sim.stream_delivered(), vec![event]);

    // Acked: the next connection gets nothing old, only what is new.
    drop(ws);
    wait_for("the disconnect", || !sim.stream_connected()).await;
    let mut ws = Ws::connect(&url(&sim).await).await;
    let next = contact_event(&sim, "Zhang Wei");
    sim.emit(next.clone());
    assert_eq!(payload_json(&ws.frame().await), next);
}

#[tokio::test]
async fn feishu_sim_stream_splits_payloads_and_takes_the_last_parts_ack() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let mut ws = Ws::connect(&url(&sim).await).await;
    sim.split_next_event(3);
    let event = contact_event(&sim, "split");
    sim.emit(event.clone());
    let mut parts = Vec::new();
    for _ in 0..3 {
        parts.push(ws.frame().await);
    }
    let id = parts[0].header("message_id").map(String::from);
    let mut joined = Vec::new();
    for (i, part) in parts.iter().enumerate() {
        assert_eq!(part.header("message_id").map(String::from), id);
        assert_eq!(
            (part.header("sum"), part.header("seq")),
            (Some("3"), Some(i.to_string().as_str()))
        );
        joined.extend(part.payload.clone().unwrap());
    }
    assert_eq!(serde_json::from_slice::<Value>(&joined).unwrap(), event);
    ws.ack(&parts[2]).await;
    wait_for("the ack", || sim.stream_stats().acks == 1).await;
    // Only the next event is split.
    sim.emit(contact_event(&sim, "whole"));
    assert_eq!(ws.frame().await.header("sum"), Some("1"));
}

#[tokio::test]
async fn feishu_sim_stream_goes_away_for_a_while() {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    let mut ws = Ws::connect(&url(&sim).await).await;
    sim.stream_go_away(Duration::from_millis(300));
    assert!(matches!(ws.read().await, Read::Closed));
    let (_, busy) = endpoint(
        &sim,
        json!({ "AppID": sim.options.app_id, "AppSecret": sim.options.app_secret }),
    )
    .await;
    assert_eq!(busy["code"], 1, "system busy: the SDKs retry");
    tokio::time::sleep(Duration::from_millis(350)).await;
    let mut ws = Ws::connect(&url(&sim).await).await;

    // v1 envelopes (approval events) go the same way as v2 ones.
    let approval = sim.state().v1_event(
        json!({ "type": "approval_instance", "instance_code": "I-1", "status": "APPROVED" }),
    );
    sim.emit(approval.clone());
    let frame = ws.frame().await;
    assert_eq!(payload_json(&frame), approval);
    assert_eq!(sim.stream_stats().connects, 2);
}
