//! Event streams held by the host (contract 0.3.0 `event-stream`), tested through the hostile connector's tiny
//! text protocol against a test gateway: events are stored before their ack and once when sent again; a
//! trapping or spinning frame handler is contained and the stream reconnects; a disconnect request, a dropped
//! socket and refused handshakes are followed by a fresh open with backoff; the stream's egress is checked like
//! HTTP; shutdown closes cleanly; operators see each stream in `GET /v1/connections`.

use std::time::Duration;

use qiao_tests::TestServer;
use qiao_tests::stream_gateway::StreamGateway;
use serde_json::Value;

fn config(gateway: &StreamGateway) -> String {
    format!(
        r#"
        [connections.streamed]
        connector = "hostile"
        settings = {{ api_base = "{0}", stream = "on" }}
        limits = {{ cpu_ms = 300, timeout_ms = 3000 }}

        # The same connector, no stream: its open answers unsupported, and the stream is off.
        [connections.quiet]
        connector = "hostile"
        settings = {{ api_base = "{0}" }}

        # A stream URL on a host the connection is not granted.
        [connections.elsewhere]
        connector = "hostile"
        settings = {{ api_base = "{0}", stream = "on", stream_to = "wss://stream.example.com/ws" }}
        "#,
        gateway.base
    )
}

fn ids(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| e["id"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn stream_events_are_stored_before_their_ack_and_once_when_sent_again() {
    let gateway = StreamGateway::start().await;
    let qiao = TestServer::start(&["hostile"], &config(&gateway))
        .await
        .unwrap();
    gateway.wait_for_connects(1, Duration::from_secs(15)).await;
    assert_eq!(
        gateway.headers(0)["x-hostile"],
        "1",
        "the connector's handshake headers are sent"
    );
    let open = qiao
        .wait_for_stream("streamed", "open state", |s| s["state"] == "open")
        .await;
    assert_eq!(open["connects"], 1, "{open}");

    gateway.send("event:e1");
    gateway.wait_for_frame("ack:e1").await;
    // The ack is sent after the commit: whoever sees the ack finds the event stored.
    assert_eq!(ids(&qiao.events("streamed").await), ["e1"]);

    // Sent again (a platform redelivering what it thinks unacknowledged): acknowledged again, stored once.
    gateway.send("event:e1");
    gateway.send("event:e2");
    gateway.wait_for_frame("ack:e2").await;
    assert_eq!(
        gateway
            .received()
            .iter()
            .filter(|(_, t)| t == "ack:e1")
            .count(),
        2,
        "{:?}",
        gateway.received()
    );
    let mut stored = ids(&qiao.events("streamed").await);
    stored.sort();
    assert_eq!(stored, ["e1", "e2"]);
    let event = &qiao.events("streamed").await[0];
    assert_eq!(event["type"], "test.streamed", "{event}");

    let status = qiao.stream_status("streamed").await;
    assert_eq!(
        (status["frames"].as_u64(), status["events_stored"].as_u64()),
        (Some(3), Some(2)),
        "{status}"
    );
    assert!(status["last_frame_ms"].as_u64().is_some(), "{status}");

    // A frame the connector refuses gets no reply and does not end the stream.
    gateway.send("hello");
    gateway.send("event:e3");
    gateway.wait_for_frame("ack:e3").await;
    let status = qiao.stream_status("streamed").await;
    assert_eq!(status["connects"], 1, "{status}");
    assert!(
        status["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("does not know"),
        "{status}"
    );

    // The connection whose connector says it takes no stream: off, with the connector's reason; never connected.
    let quiet = qiao
        .wait_for_stream("quiet", "off state", |s| s["state"] == "off")
        .await;
    assert!(
        quiet["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("stream = on"),
        "{quiet}"
    );
    assert_eq!(quiet["connects"], 0, "{quiet}");
    // A connection without a stream-capable connector has none.
    assert_eq!(gateway.connects(), 1, "one connection, one stream");
}

#[tokio::test]
async fn a_trapping_or_spinning_frame_handler_is_contained_and_the_stream_reconnects() {
    let gateway = StreamGateway::start().await;
    let qiao = TestServer::start(&["hostile"], &config(&gateway))
        .await
        .unwrap();
    gateway.wait_for_connects(1, Duration::from_secs(15)).await;

    gateway.send("trap");
    gateway.wait_for_connects(2, Duration::from_secs(15)).await;
    let status = qiao.stream_status("streamed").await;
    assert!(
        status["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("crashed"),
        "{status}"
    );

    gateway.send("spin");
    gateway.wait_for_connects(3, Duration::from_secs(15)).await;
    let status = qiao.stream_status("streamed").await;
    assert!(
        status["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("CPU time limit"),
        "{status}"
    );

    // The new stream works; the server kept answering throughout.
    gateway.send("event:after");
    gateway.wait_for_frame("ack:after").await;
    let (health, _) = qiao.get("/healthz").await;
    assert_eq!(health, 200);
}

#[tokio::test]
async fn a_disconnect_request_a_dropped_socket_and_refused_handshakes_each_lead_to_a_fresh_open() {
    let gateway = StreamGateway::start().await;
    let qiao = TestServer::start(&["hostile"], &config(&gateway))
        .await
        .unwrap();
    gateway.wait_for_connects(1, Duration::from_secs(15)).await;

    // Asked to reconnect: the reply goes out first, then a new connection at once.
    gateway.send("bye");
    gateway.wait_for_frame("bye").await;
    gateway.wait_for_connects(2, Duration::from_secs(5)).await;

    // Keep-alive pings (every second, as the connector asked) reach the gateway.
    gateway
        .wait(Duration::from_secs(5), "a keep-alive ping", |g| {
            g.received().iter().any(|(c, t)| *c == 1 && t == "ping")
        })
        .await;

    // Dropped without a close frame, and the next two handshakes refused: Qiao backs off and comes back.
    gateway.refuse_next(2);
    gateway.drop_connection();
    let backing = qiao
        .wait_for_stream("streamed", "backing off", |s| s["state"] == "backing_off")
        .await;
    assert!(backing["retry_at_ms"].as_u64().is_some(), "{backing}");
    gateway.wait_for_connects(3, Duration::from_secs(20)).await;
    assert_eq!(gateway.refused(), 2);
    let status = qiao
        .wait_for_stream("streamed", "open again", |s| s["state"] == "open")
        .await;
    assert_eq!(status["connects"], 3, "{status}");
    assert!(
        status["last_error"]
            .as_str()
            .unwrap_or_default()
            .contains("handshake refused with HTTP 503"),
        "{status}"
    );

    gateway.send("event:back");
    gateway.wait_for_frame("ack:back").await;
}

#[tokio::test]
async fn a_stream_connects_only_where_the_connections_http_may_and_closes_cleanly_at_shutdown() {
    let gateway = StreamGateway::start().await;
    let qiao = TestServer::start(&["hostile"], &config(&gateway))
        .await
        .unwrap();
    let refused = qiao
        .wait_for_stream("elsewhere", "a refusal", |s| s["state"] == "backing_off")
        .await;
    let error = refused["last_error"].as_str().unwrap_or_default();
    assert!(
        error.contains("https://stream.example.com is not granted to connection elsewhere"),
        "{refused}"
    );

    gateway.wait_for_connects(1, Duration::from_secs(15)).await;
    qiao.stop().await.unwrap();
    // 1001 "going away": the platform knows the client left on purpose.
    gateway.wait_for_frame("close:1001").await;
}

/// SIGKILL once the event is stored, whether or not its ack got out: the platform sends what it saw no ack for
/// again to the next connection, and the restarted Qiao stores it once.
#[tokio::test]
async fn a_sigkill_after_the_store_loses_nothing_and_the_redelivery_is_stored_once() {
    let gateway = StreamGateway::start().await;
    let mut qiao = qiao_tests::child::QiaoChild::start(&["hostile"], &config(&gateway)).await.unwrap();
    gateway.wait_for_connects(1, Duration::from_secs(15)).await;
    gateway.send("event:k1");
    let started = std::time::Instant::now();
    loop {
        let (_, body) = qiao.get("/v1/events?connection=streamed").await;
        if body["events"].as_array().is_some_and(|e| !e.is_empty()) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "k1 never stored");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    qiao.kill();
    let acked_before_kill = gateway.received().iter().any(|(_, t)| t == "ack:k1");
    eprintln!("the ack of k1 reached the gateway before the kill: {acked_before_kill}");

    qiao.restart().await.unwrap();
    gateway.wait_for_connects(2, Duration::from_secs(20)).await;
    // Redelivered (the platform saw no ack, or resends to be safe), and a new event after it.
    gateway.send("event:k1");
    gateway.send("event:k2");
    gateway.wait_for_frame("ack:k2").await;
    let (_, body) = qiao.get("/v1/events?connection=streamed").await;
    let mut stored = ids(body["events"].as_array().unwrap());
    stored.sort();
    assert_eq!(stored, ["k1", "k2"], "{body}");
    assert!(
        gateway.received().iter().any(|(c, t)| *c == 1 && t == "ack:k1"),
        "the redelivery is acknowledged again: {:?}",
        gateway.received()
    );
}

/// `wss://` goes through TLS (rustls, the web PKI roots): against a server that is not speaking TLS the handshake
/// fails with an error in the stream's status, and the stream backs off; nothing else is disturbed.
#[tokio::test]
async fn a_wss_stream_whose_tls_handshake_fails_backs_off_with_the_reason() {
    // Accepts and answers garbage: not a TLS server.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            use tokio::io::AsyncWriteExt;
            let _ = socket.write_all(b"HTTP/1.1 400 not tls\r\n\r\n").await;
        }
    });
    let config = format!(
        r#"
        [connections.tls]
        connector = "hostile"
        settings = {{ api_base = "https://127.0.0.1:{port}", stream = "on", stream_to = "wss://127.0.0.1:{port}/ws" }}
        "#
    );
    let qiao = TestServer::start(&["hostile"], &config).await.unwrap();
    let status = qiao.wait_for_stream("tls", "a failed handshake", |s| s["state"] == "backing_off").await;
    let error = status["last_error"].as_str().unwrap_or_default();
    assert!(error.starts_with(&format!("wss://127.0.0.1:{port}: ")), "{status}");
    // rustls's own words: the server's answer is not a TLS record.
    assert!(error.contains("corrupt message"), "{status}");
    assert!(!error.contains("/ws"), "the path and query are not shown: {status}");
    let (health, _) = qiao.get("/healthz").await;
    assert_eq!(health, 200);
}
