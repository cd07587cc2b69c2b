//! DingTalk's Stream mode end to end: a connection with no callback credentials and no public URL; the host
//! opens a ticket through `dingtalk.wasm`, holds the WebSocket to the simulator's gateway, and stores the events
//! the connector maps from each frame before acking it. Dropped sockets, refused tickets, a SYSTEM disconnect,
//! a gateway gone for a while and lost acks are each followed by a reconnect, and every event is stored once.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use qiao_tests::TestServer;
use qiao_tests::dingtalk_sim::{DingTalkSim, Options};
use serde_json::{Value, json};

/// `stream` takes events over Stream mode (no callback credentials); `hooked` has them, so HTTP push.
fn config(sim: &DingTalkSim) -> String {
    let o = &sim.options;
    format!(
        "\n[connections.stream]\nconnector = \"dingtalk\"\n\
         settings = {{ app_key = \"{}\", agent_id = \"{}\", oapi_base = \"{base}\", api_base = \"{base}/\" }}\n\
         secrets = {{ app_secret = \"{}\" }}\n{}",
        o.app_key,
        o.agent_id,
        o.app_secret,
        sim.connection("hooked", ""),
        base = sim.base,
    )
}

async fn setup() -> (DingTalkSim, TestServer) {
    let sim = DingTalkSim::start(Options::default()).await.unwrap();
    let qiao = TestServer::start(&["dingtalk"], &config(&sim))
        .await
        .unwrap();
    (sim, qiao)
}

async fn until(what: &str, within: Duration, check: impl Fn() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(start.elapsed() < within, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The gateway has seen `n` connections and one is live.
fn connected_again(sim: &DingTalkSim, n: usize) -> impl Fn() -> bool + '_ {
    move || sim.stream_stats().connects >= n && sim.stream_connected()
}

fn leave() -> Value {
    json!({ "template": "PROC-LEAVE", "applicant": "alice",
            "fields": [{ "name": "reason", "value": "看病" }, { "name": "days", "value": "1" }] })
}

/// Starts an approval through Qiao (two DingTalk events: the instance and its first task start).
async fn start_approval(qiao: &TestServer) -> String {
    let (status, created) = qiao.post("/v1/connections/stream/approvals", leave()).await;
    assert_eq!(status, 201, "{created}");
    created["id"].as_str().unwrap().to_string()
}

/// Waits until the stream's events stored in Qiao are `count`, and checks none is there twice.
async fn stored_once(qiao: &TestServer, count: usize) -> Vec<Value> {
    let start = Instant::now();
    loop {
        let events = qiao.events("stream").await;
        let mut seen: HashMap<String, usize> = HashMap::new();
        for event in &events {
            *seen
                .entry(event["id"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        assert!(
            seen.values().all(|n| *n == 1),
            "an event stored twice: {events:#?}"
        );
        if events.len() >= count {
            assert_eq!(events.len(), count, "{events:#?}");
            return events;
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{count} events: have {events:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn dingtalk_events_arrive_over_stream_mode_without_a_public_url() {
    let (sim, qiao) = setup().await;
    until("a stream connection", Duration::from_secs(15), || {
        sim.stream_connected()
    })
    .await;

    let id = start_approval(&qiao).await;
    sim.advance(&id, true).unwrap();
    let done = qiao
        .wait_for_event("stream", |e| {
            e["type"] == "approval.status_changed" && e["payload"]["status"] == "approved"
        })
        .await;
    assert_eq!(done["subject"], id.as_str());
    assert_eq!(done["payload"]["applicant"], "alice");
    let task = qiao
        .wait_for_event("stream", |e| {
            e["type"] == "approval.task_changed" && e["payload"]["status"] == "approved"
        })
        .await;
    assert_eq!(task["payload"]["assignee"], "manager1");
    // The event id is DingTalk's eventId, as the HTTP push would carry it.
    assert!(done["id"].as_str().unwrap().starts_with("evt-"), "{done}");

    // Four events (instance and task started, task and instance finished), each acked after it was stored.
    stored_once(&qiao, 4).await;
    until("every frame acked", Duration::from_secs(10), || {
        sim.stream_stats().unacked == 0
    })
    .await;
    let stats = sim.stream_stats();
    assert_eq!(
        (stats.opens, stats.connects, stats.events, stats.acks),
        (1, 1, 4, 4),
        "{stats:?}"
    );
    assert!(sim.pushed().is_empty(), "nothing went by HTTP push");

    let status = qiao.stream_status("stream").await;
    assert_eq!(status["state"], "open", "{status}");
    // The connection with callback credentials keeps HTTP push: its stream is off, and says why.
    let hooked = qiao.stream_status("hooked").await;
    assert_eq!(hooked["state"], "off", "{hooked}");
    assert!(
        hooked["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("HTTP push"),
        "{hooked}"
    );

    // A SYSTEM ping from the gateway is answered with its data echoed.
    let ping = sim.ping_stream().expect("connected");
    until("the ping's answer", Duration::from_secs(10), || {
        sim.stream_replies()
            .iter()
            .any(|r| r["headers"]["messageId"] == ping.as_str())
    })
    .await;
    let replies = sim.stream_replies();
    let pong = replies
        .iter()
        .find(|r| r["headers"]["messageId"] == ping.as_str())
        .unwrap();
    assert_eq!(pong["code"], 200);
    assert!(
        pong["data"].as_str().unwrap().contains("sim-opaque"),
        "{pong}"
    );
}

#[tokio::test]
async fn dingtalk_stream_reconnects_after_faults_and_stores_every_event_once() {
    let (sim, qiao) = setup().await;
    until("a stream connection", Duration::from_secs(15), || {
        sim.stream_connected()
    })
    .await;

    // Acks lost: the socket drops and every frame comes again; Qiao stores each once and acks again.
    sim.lose_stream_acks(true);
    let first = start_approval(&qiao).await;
    stored_once(&qiao, 2).await;
    until("the acks", Duration::from_secs(10), || {
        sim.stream_replies().len() >= 2
    })
    .await;
    sim.lose_stream_acks(false);
    assert!(sim.drop_stream());
    until(
        "a reconnect after the drop",
        Duration::from_secs(15),
        connected_again(&sim, 2),
    )
    .await;
    until(
        "the redelivered frames acked",
        Duration::from_secs(10),
        || sim.stream_stats().unacked == 0,
    )
    .await;
    stored_once(&qiao, 2).await;

    // Tickets refused at the handshake while the socket is down, and events raised meanwhile.
    sim.refuse_stream_handshakes(2);
    assert!(sim.drop_stream());
    sim.advance(&first, false).unwrap();
    until(
        "a reconnect past refused tickets",
        Duration::from_secs(20),
        connected_again(&sim, 3),
    )
    .await;
    stored_once(&qiao, 4).await;

    // The gateway asks the client to go: Qiao opens a fresh ticket and comes back.
    let opens = sim.stream_stats().opens;
    assert!(sim.disconnect_stream());
    until(
        "a reconnect after disconnect",
        Duration::from_secs(15),
        connected_again(&sim, 4),
    )
    .await;
    assert!(sim.stream_stats().opens > opens);
    let second = start_approval(&qiao).await;
    stored_once(&qiao, 6).await;

    // The gateway goes away for a while (open and connect fail), with an event waiting.
    sim.stream_away(Duration::from_secs(2));
    sim.advance(&second, true).unwrap();
    until(
        "a reconnect after the outage",
        Duration::from_secs(20),
        connected_again(&sim, 5),
    )
    .await;
    let events = stored_once(&qiao, 8).await;
    until("every frame acked", Duration::from_secs(10), || {
        sim.stream_stats().unacked == 0
    })
    .await;

    let stats = sim.stream_stats();
    assert_eq!(stats.events, 8, "{stats:?}");
    assert!(
        stats.frames_sent > stats.events,
        "some frames were sent again: {stats:?}"
    );
    let finished: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "approval.status_changed" && e["payload"]["status"] != "pending")
        .collect();
    let statuses: Vec<&str> = finished
        .iter()
        .map(|e| e["payload"]["status"].as_str().unwrap())
        .collect();
    assert_eq!(finished.len(), 2, "{statuses:?}");
    assert!(
        statuses.contains(&"rejected") && statuses.contains(&"approved"),
        "{statuses:?}"
    );
    let status = qiao.stream_status("stream").await;
    assert_eq!(status["state"], "open", "{status}");
    assert_eq!(status["events_stored"], 8, "{status}");
}

/// The replies the gateway got for `message_id`.
fn replies_to(sim: &DingTalkSim, message_id: &str) -> Vec<Value> {
    sim.stream_replies()
        .into_iter()
        .filter(|r| r["headers"]["messageId"] == message_id)
        .collect()
}

fn frame(kind: &str, message_id: &str, headers: Value, data: Value) -> String {
    let mut all =
        json!({ "messageId": message_id, "contentType": "application/json", "topic": "*" });
    all.as_object_mut()
        .unwrap()
        .extend(headers.as_object().cloned().unwrap_or_default());
    json!({ "specVersion": "1.0", "type": kind, "headers": all, "data": data }).to_string()
}

#[tokio::test]
async fn dingtalk_stream_frames_are_acked_only_when_understood() {
    let (sim, qiao) = setup().await;
    until("a stream connection", Duration::from_secs(15), || {
        sim.stream_connected()
    })
    .await;

    // Frames the connector refuses get no ack (DingTalk sends them again), and the stream stays up.
    assert!(sim.send_stream_text("not json"));
    assert!(sim.send_stream_binary(b"\x00\x01"));
    let object_data = frame(
        "EVENT",
        "bad-data",
        json!({ "eventType": "user_add_org" }),
        json!({ "UserId": ["x"] }),
    );
    assert!(sim.send_stream_text(&object_data));
    assert!(sim.send_stream_text(&json!({ "type": "EVENT", "data": "{}" }).to_string()));

    // A card callback is answered with an empty response; a type the connector does not know is acked.
    let card = json!({ "outTrackId": "card-1", "value": "{}" }).to_string();
    let callback = frame(
        "CALLBACK",
        "card-cb",
        json!({ "topic": "/v1.0/card/instances/callback" }),
        json!(card),
    );
    assert!(sim.send_stream_text(&callback));
    assert!(sim.send_stream_text(&frame("NEWTYPE", "new-type", json!({}), json!("{}"))));
    until(
        "the callback and unknown type acked",
        Duration::from_secs(10),
        || !replies_to(&sim, "card-cb").is_empty() && !replies_to(&sim, "new-type").is_empty(),
    )
    .await;
    let card_ack = &replies_to(&sim, "card-cb")[0];
    assert_eq!(card_ack["code"], 200);
    let data: Value = serde_json::from_str(card_ack["data"].as_str().unwrap()).unwrap();
    assert_eq!(data, json!({ "response": {} }));
    assert!(
        replies_to(&sim, "bad-data").is_empty(),
        "a refused frame is not acked"
    );
    assert_eq!(sim.stream_replies().len(), 2, "{:#?}", sim.stream_replies());
    let status = qiao.stream_status("stream").await;
    assert!(
        status["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("a frame"),
        "{status}"
    );
    assert_eq!(
        (status["state"].as_str(), status["connects"].as_u64()),
        (Some("open"), Some(1))
    );

    // A contact event naming two users: one Qiao event each, ids suffixed, as the HTTP push maps it.
    let event = sim
        .state()
        .contact_event("user_add_org", json!(["alice", "bob"]));
    let event_id = event["eventId"].as_str().unwrap().to_string();
    sim.raise(vec![event]);
    let events = stored_once(&qiao, 2).await;
    let mut ids: Vec<&str> = events.iter().map(|e| e["id"].as_str().unwrap()).collect();
    ids.sort();
    assert_eq!(
        ids,
        [format!("{event_id}/alice"), format!("{event_id}/bob")]
    );
    assert!(
        events.iter().all(|e| e["type"] == "contact.user_created"),
        "{events:#?}"
    );
    until("the event acked", Duration::from_secs(10), || {
        sim.stream_stats().unacked == 0
    })
    .await;
    assert!(
        events
            .iter()
            .all(|e| e["payload"]["platform"]["UserId"] == json!(["alice", "bob"]))
    );
}
