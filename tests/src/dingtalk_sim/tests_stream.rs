//! The Stream mode gateway against a bare WebSocket client: tickets (one use, expiry, credentials), events as
//! EVENT frames with a JSON-string `data`, acks settling frames, redelivery of what was not acked on the next
//! connection, SYSTEM ping and disconnect, and the faults.

use std::time::Duration;

use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::{Error, Message};

use super::{DingTalkSim, Options};

/// A client playing an SDK (tokio-tungstenite answers the gateway's WebSocket pings itself).
struct Ws {
    socket: tokio_tungstenite::WebSocketStream<
        tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>,
    >,
}

enum Got {
    Text(String),
    Close(u16),
    /// The connection ended without a close frame.
    Gone,
}

impl Ws {
    /// Connects to `url` (`ws://host/path?query`); the handshake's HTTP status when it is not 101.
    async fn connect(url: &str) -> Result<Ws, u16> {
        match tokio_tungstenite::connect_async(url).await {
            Ok((socket, _)) => Ok(Ws { socket }),
            Err(Error::Http(response)) => Err(response.status().as_u16()),
            Err(error) => panic!("handshake with {url}: {error}"),
        }
    }

    async fn send(&mut self, value: &Value) {
        self.socket
            .send(Message::text(value.to_string()))
            .await
            .unwrap();
    }

    /// The next text or close frame, within five seconds.
    async fn next(&mut self) -> Got {
        tokio::time::timeout(Duration::from_secs(5), self.read())
            .await
            .expect("a frame within 5 s")
    }

    async fn read(&mut self) -> Got {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => return Got::Text(text.to_string()),
                Some(Ok(Message::Close(frame))) => {
                    return Got::Close(frame.map_or(1005, |f| u16::from(f.code)));
                }
                Some(Ok(_)) => {}
                Some(Err(_)) | None => return Got::Gone,
            }
        }
    }

    /// The next frame, which must be JSON text.
    async fn frame(&mut self) -> Value {
        match self.next().await {
            Got::Text(text) => serde_json::from_str(&text).unwrap(),
            Got::Close(code) => panic!("closed with {code} instead of a frame"),
            Got::Gone => panic!("connection gone instead of a frame"),
        }
    }

    /// The official Node/Go SDKs' EVENT ack.
    async fn ack(&mut self, frame: &Value) {
        let ack = json!({
            "code": 200, "message": "OK",
            "headers": { "contentType": "application/json", "messageId": frame["headers"]["messageId"] },
            "data": json!({ "status": "SUCCESS", "message": "" }).to_string(),
        });
        self.send(&ack).await;
    }
}

async fn open(sim: &DingTalkSim, secret: &str) -> (u16, Value) {
    let body = json!({
        "clientId": sim.options.app_key, "clientSecret": secret,
        "subscriptions": [{ "type": "EVENT", "topic": "*" }], "ua": "sim-test", "localIp": "",
    });
    let response = reqwest::Client::new()
        .post(format!("{}/v1.0/gateway/connections/open", sim.base))
        .header("accept", "application/json")
        .json(&body)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.json().await.unwrap())
}

/// The WebSocket URL an SDK builds from an open answer: the ticket url-encoded (Python's `quote_plus`).
fn url_of(answer: &Value) -> String {
    let ticket: String = answer["ticket"]
        .as_str()
        .unwrap()
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{}?ticket={ticket}", answer["endpoint"].as_str().unwrap())
}

async fn connect(sim: &DingTalkSim) -> Ws {
    let (status, answer) = open(sim, &sim.options.app_secret).await;
    assert_eq!(status, 200, "{answer}");
    Ws::connect(&url_of(&answer)).await.expect("upgrade")
}

/// Starts an approval instance through the simulator's state and returns its id, pushing its events.
fn start_approval(sim: &DingTalkSim) -> String {
    let (id, events) = sim.state().create_instance(
        "PROC-LEAVE",
        "alice",
        vec![("reason".into(), "rest".into())],
        vec![],
    );
    let options = sim.state().options.clone();
    super::callbacks::push_all(&sim.state, &options, events);
    id
}

#[tokio::test]
async fn dingtalk_sim_stream_tickets_are_single_use_and_need_the_app_credentials() {
    let sim = DingTalkSim::start(Options::default()).await.unwrap();

    let (status, answer) = open(&sim, "wrong-secret").await;
    assert_eq!(status, 401, "{answer}");
    assert_eq!(answer["code"], "invalidClientIdOrSecret");
    assert_eq!(sim.stream_stats().opens, 0);

    let (status, answer) = open(&sim, &sim.options.app_secret).await;
    assert_eq!(status, 200, "{answer}");
    let endpoint = answer["endpoint"].as_str().unwrap();
    assert_eq!(endpoint, format!("ws://{}/connect", sim.addr));
    let url = url_of(&answer);
    let ws = Ws::connect(&url).await.expect("the first use upgrades");
    // Reused, unknown or expired: refused at the handshake, no upgrade.
    assert_eq!(Ws::connect(&url).await.err(), Some(401));
    let unknown = format!("ws://{}/connect?ticket=nope", sim.addr);
    assert_eq!(Ws::connect(&unknown).await.err(), Some(401));
    sim.state().gateway.ticket_ttl = Duration::from_millis(1);
    let (_, answer) = open(&sim, &sim.options.app_secret).await;
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert_eq!(Ws::connect(&url_of(&answer)).await.err(), Some(403));

    let stats = sim.stream_stats();
    assert_eq!((stats.opens, stats.connects), (2, 1));
    assert!(sim.stream_connected());
    drop(ws);
}

#[tokio::test]
async fn dingtalk_sim_streams_events_and_redelivers_what_was_not_acked() {
    let sim = DingTalkSim::start(Options::default()).await.unwrap();
    // Before any client connected the app is not in Stream mode: nothing is queued.
    start_approval(&sim);
    assert_eq!(sim.stream_stats().unacked, 0);

    let mut ws = connect(&sim).await;
    let instance = start_approval(&sim);
    let first = ws.frame().await;
    assert_eq!(first["specVersion"], "1.0");
    assert_eq!(first["type"], "EVENT");
    let headers = &first["headers"];
    assert_eq!(headers["eventType"], "bpms_instance_change");
    assert_eq!(headers["eventCorpId"], sim.options.corp_id.as_str());
    assert_eq!(headers["appId"], sim.options.app_key.as_str());
    assert!(
        headers["eventBornTime"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    assert!(headers["eventId"].as_str().unwrap().starts_with("evt-"));
    // `data` is a JSON string of the business fields only.
    let data: Value = serde_json::from_str(first["data"].as_str().unwrap()).unwrap();
    assert_eq!(data["processInstanceId"], instance.as_str());
    assert_eq!(data["type"], "start");
    assert!(data.get("EventType").is_none() && data.get("eventId").is_none());
    let second = ws.frame().await;
    assert_eq!(second["headers"]["eventType"], "bpms_task_change");

    // Only the first is acked; a LATER ack does not settle the second.
    ws.ack(&first).await;
    let later = json!({
        "code": 200, "message": "OK",
        "headers": { "contentType": "application/json", "messageId": second["headers"]["messageId"] },
        "data": json!({ "status": "LATER" }).to_string(),
    });
    ws.send(&later).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = sim.stream_stats();
    assert_eq!((stats.frames_sent, stats.acks, stats.unacked), (2, 1, 1));

    // The socket drops; the next connection gets the unacked frame again, same messageId and eventId.
    assert!(sim.drop_stream());
    assert!(matches!(ws.next().await, Got::Gone));
    let mut ws = connect(&sim).await;
    let again = ws.frame().await;
    assert_eq!(
        again["headers"]["messageId"],
        second["headers"]["messageId"]
    );
    assert_eq!(again["headers"]["eventId"], second["headers"]["eventId"]);
    ws.ack(&again).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = sim.stream_stats();
    assert_eq!(
        (stats.connects, stats.frames_sent, stats.acks, stats.unacked),
        (2, 3, 2, 0)
    );

    // Events raised while no client is connected wait for the next one.
    drop(ws);
    tokio::time::sleep(Duration::from_millis(100)).await;
    sim.advance(&instance, true).unwrap();
    let mut ws = connect(&sim).await;
    let frames = [ws.frame().await, ws.frame().await];
    let kinds: Vec<&str> = frames
        .iter()
        .map(|f| f["headers"]["eventType"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["bpms_task_change", "bpms_instance_change"]);

    // Lost acks settle nothing: both frames come again on the next connection.
    sim.lose_stream_acks(true);
    for frame in &frames {
        ws.ack(frame).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.stream_stats().unacked, 2);
    sim.lose_stream_acks(false);
    drop(ws);
    let mut ws = connect(&sim).await;
    for frame in &frames {
        let again = ws.frame().await;
        assert_eq!(again["headers"]["messageId"], frame["headers"]["messageId"]);
        ws.ack(&again).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let stats = sim.stream_stats();
    assert_eq!((stats.events, stats.unacked), (4, 0), "{stats:?}");
}

#[tokio::test]
async fn dingtalk_sim_stream_system_ping_and_disconnect() {
    let sim = DingTalkSim::start(Options::default()).await.unwrap();
    let mut ws = connect(&sim).await;

    let id = sim.ping_stream().expect("a client is connected");
    let ping = ws.frame().await;
    assert_eq!(
        (ping["type"].as_str(), ping["headers"]["topic"].as_str()),
        (Some("SYSTEM"), Some("ping"))
    );
    assert_eq!(ping["headers"]["messageId"], id.as_str());
    let echo = json!({
        "code": 200, "message": "OK", "data": ping["data"],
        "headers": { "contentType": "application/json", "messageId": id },
    });
    ws.send(&echo).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(sim.stream_replies(), vec![echo]);

    // Disconnect: no more frames for this connection, and a 1000 close when the client does not go itself.
    assert!(sim.disconnect_stream());
    let disconnect = ws.frame().await;
    assert_eq!(disconnect["headers"]["topic"], "disconnect");
    assert!(!sim.stream_connected());
    start_approval(&sim);
    assert!(matches!(ws.next().await, Got::Close(1000)));
    assert_eq!(sim.stream_stats().unacked, 2);
}

#[tokio::test]
async fn dingtalk_sim_stream_faults_refuse_opens_and_handshakes_and_go_away() {
    let sim = DingTalkSim::start(Options::default()).await.unwrap();

    sim.refuse_stream_opens(1);
    let (status, answer) = open(&sim, &sim.options.app_secret).await;
    assert_eq!((status, answer["code"].as_str()), (503, Some("SystemBusy")));

    sim.refuse_stream_handshakes(1);
    let (_, answer) = open(&sim, &sim.options.app_secret).await;
    assert_eq!(Ws::connect(&url_of(&answer)).await.err(), Some(401));
    let mut ws = connect(&sim).await;

    sim.stream_away(Duration::from_millis(300));
    assert!(matches!(ws.next().await, Got::Gone));
    let (status, _) = open(&sim, &sim.options.app_secret).await;
    assert_eq!(status, 503);
    tokio::time::sleep(Duration::from_millis(350)).await;
    let _ws = connect(&sim).await;
    assert!(sim.stream_connected());
    let stats = sim.stream_stats();
    assert_eq!((stats.opens, stats.connects), (3, 2));
}
