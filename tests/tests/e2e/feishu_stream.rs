//! Feishu events over the long connection (contract 0.3.0 `event-stream`): a connection with no callback
//! credentials gets its events through the WebSocket the host holds to the simulator's gateway — approvals and
//! contact changes reach `/v1/events`, a payload split into parts is joined, and after a dropped socket, a
//! refused handshake, a gateway away for a while or a lost ack, the host connects again and each event is
//! stored once.

use std::time::{Duration, Instant};

use qiao_tests::TestServer;
use qiao_tests::feishu_sim::{ClientConfig, Fault, FeishuSim, HANDSHAKE, Options};
use serde_json::{Value, json};

/// `fs` has no verification token or encrypt key: the connector's events default to the long connection. `hooked`
/// has callback credentials: events come by HTTP, and the connector says so instead of opening a stream.
fn config(sim: &FeishuSim) -> String {
    sim.stream_connection("fs", "limits = { timeout_ms = 3000 }") + &sim.connection("hooked", "")
}

async fn setup() -> (FeishuSim, TestServer) {
    let sim = FeishuSim::start(Options::default()).await.unwrap();
    // Pings every second, so the keep-alive is seen within a test.
    sim.set_client_config(ClientConfig {
        ping_interval: 1,
        ..ClientConfig::default()
    });
    let qiao = TestServer::start(&["feishu"], &config(&sim)).await.unwrap();
    wait("the first connect", || sim.stream_connected()).await;
    (sim, qiao)
}

async fn wait(what: &str, check: impl Fn() -> bool) {
    let started = Instant::now();
    while !check() {
        assert!(started.elapsed() < Duration::from_secs(20), "no {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn contact(sim: &FeishuSim, event_type: &str, user_id: &str, name: &str) -> Value {
    let object = json!({ "user_id": user_id, "open_id": format!("ou_{user_id}"), "name": name });
    sim.state().contact_event(event_type, object)
}

fn event_id(event: &Value) -> String {
    event["header"]["event_id"].as_str().unwrap().to_string()
}

/// How many of the connection's stored events have this id.
async fn stored(qiao: &TestServer, id: &str) -> usize {
    qiao.events("fs")
        .await
        .iter()
        .filter(|e| e["id"] == id)
        .count()
}

#[tokio::test]
async fn approvals_and_contact_changes_come_over_the_long_connection() {
    let (sim, qiao) = setup().await;
    let path = |rest: &str| format!("/v1/connections/fs{rest}");

    let leave = json!({ "template": "APPROVAL-LEAVE", "applicant": "alice", "fields": [
        { "name": "widget_reason", "value": "家里有事" }, { "name": "widget_days", "value": "2", "kind": "number" } ] });
    let (status, created) = qiao.post(&path("/approvals"), leave).await;
    assert_eq!(status, 201, "{created}");
    let id = created["id"].as_str().unwrap().to_string();
    let (status, body) = qiao
        .post(
            &path(&format!("/approvals/{id}/approve")),
            json!({ "actor": "manager1" }),
        )
        .await;
    assert_eq!(status, 204, "{body}");
    let approved = qiao
        .wait_for_event("fs", |e| {
            e["type"] == "approval.status_changed"
                && e["subject"] == id.as_str()
                && e["payload"]["status"] == "approved"
        })
        .await;
    assert!(sim.pushed().is_empty(), "nothing went by HTTP");

    let created = contact(&sim, "contact.user.created_v3", "carol", "Zhao Li");
    sim.emit(created.clone());
    let event = qiao
        .wait_for_event("fs", |e| {
            e["type"] == "contact.user_created" && e["subject"] == "carol"
        })
        .await;
    assert_eq!(
        event["id"],
        event_id(&created).as_str(),
        "the event id is Feishu's, for de-duplication"
    );

    // Acked only once stored, and with the frame Feishu sent (same ids and headers, plus biz_rt).
    wait("the acks", || sim.stream_stats().unacked == 0).await;
    let stats = sim.stream_stats();
    assert_eq!(stats.malformed_acks, 0, "{stats:?}");
    assert!(stats.acks >= 2, "{stats:?}");
    assert_eq!(stored(&qiao, &event_id(&created)).await, 1);
    assert_eq!(stored(&qiao, approved["id"].as_str().unwrap()).await, 1);
    // Feishu's ping frame every PingInterval, answered by pongs carrying the settings.
    wait("pings", || sim.stream_stats().pings >= 2).await;
    assert_eq!(sim.stream_stats().connects, 1, "one connection all along");
    assert_eq!(
        sim.stream_stats().endpoint_calls,
        1,
        "the hooked connection asks for no endpoint"
    );
    // ...and operators see why it has no stream.
    let hooked = qiao
        .wait_for_stream("hooked", "off state", |s| s["state"] == "off")
        .await;
    let why = hooked["last_error"].as_str().unwrap_or_default();
    assert!(
        why.contains("HTTP push") && why.contains("events = \"stream\""),
        "{hooked}"
    );
}

#[tokio::test]
async fn split_payloads_are_joined_and_reconnects_store_each_event_once() {
    let (sim, qiao) = setup().await;

    // A payload in three parts: one event, stored once, acked with the last part.
    sim.split_next_event(3);
    let split = contact(&sim, "contact.user.updated_v3", "alice", "Li Na (split)");
    sim.emit(split.clone());
    qiao.wait_for_event("fs", |e| e["id"] == event_id(&split).as_str())
        .await;
    wait("the split event's ack", || sim.stream_stats().acks == 1).await;
    assert_eq!(stored(&qiao, &event_id(&split)).await, 1);

    // A lost ack: Feishu sends the event again on the next connection; it is stored once.
    sim.lose_stream_acks(1);
    let lost = contact(&sim, "contact.user.updated_v3", "bob", "Zhang Wei");
    sim.emit(lost.clone());
    qiao.wait_for_event("fs", |e| e["id"] == event_id(&lost).as_str())
        .await;
    wait("the lost ack", || sim.state().gateway.acks.len() == 2).await;
    assert_eq!(sim.stream_stats().unacked, 1);

    // The socket drops and the next handshake is refused: the host asks for a new endpoint and connects again.
    sim.inject(HANDSHAKE, Fault::Status(503), 1);
    assert!(sim.drop_stream());
    wait("a reconnect", || sim.stream_stats().connects == 2).await;
    assert_eq!(sim.stream_stats().handshakes_refused, 1);
    wait("the redelivered event's ack", || {
        sim.stream_stats().unacked == 0
    })
    .await;
    assert_eq!(
        stored(&qiao, &event_id(&lost)).await,
        1,
        "redelivered, stored once"
    );

    // The gateway goes away for a while (endpoint busy, handshakes refused): the host keeps trying.
    sim.stream_go_away(Duration::from_secs(2));
    let during = contact(&sim, "contact.user.deleted_v3", "bob", "Zhang Wei");
    sim.emit(during.clone());
    wait("a connect after the outage", || {
        sim.stream_stats().connects == 3
    })
    .await;
    qiao.wait_for_event("fs", |e| e["id"] == event_id(&during).as_str())
        .await;
    let calls = sim.stream_stats().endpoint_calls;
    assert!(
        calls >= 4,
        "every connect asks for a fresh endpoint: {calls}"
    );

    wait("every ack", || sim.stream_stats().unacked == 0).await;
    for event in [&split, &lost, &during] {
        assert_eq!(stored(&qiao, &event_id(event)).await, 1, "{event}");
    }
    assert_eq!(sim.stream_stats().malformed_acks, 0);
}
