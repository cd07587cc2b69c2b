//! A test gateway for event streams: a WebSocket server that plays a platform's side of the hostile connector's
//! tiny text protocol (`event:ID` → `ack:ID`), so the host's stream handling (store before ack, reconnects,
//! keep-alive, clean close, containment of a broken handler) is tested apart from any platform's framing.
//!
//! Frames the test sends go to the newest connection; every frame Qiao sends is recorded with the connection it
//! came on. Faults: refuse the next handshakes, drop the socket without a close frame.

use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use tokio::sync::{Notify, mpsc};

#[derive(Default)]
struct Inner {
    /// One sender per connection, newest last; `None` once the test dropped it.
    connections: Mutex<Vec<Option<mpsc::UnboundedSender<Message>>>>,
    /// What Qiao sent: (connection index, text). Close frames as `close:CODE`, pings as `ping`.
    received: Mutex<Vec<(usize, String)>>,
    /// The handshake headers of each connection.
    headers: Mutex<Vec<HeaderMap>>,
    refuse: AtomicU32,
    refused: AtomicUsize,
    changed: Notify,
}

#[derive(Clone)]
pub struct StreamGateway {
    /// `http://127.0.0.1:PORT`: the connection's `api_base`; the hostile connector connects to `ws://…/stream`.
    pub base: String,
    inner: Arc<Inner>,
}

impl StreamGateway {
    pub async fn start() -> StreamGateway {
        let inner = Arc::new(Inner::default());
        let app = axum::Router::new()
            .route("/stream", axum::routing::get(upgrade))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        StreamGateway { base, inner }
    }

    /// Connections accepted so far.
    pub fn connects(&self) -> usize {
        self.inner.connections.lock().unwrap().len()
    }

    /// Handshakes refused so far.
    pub fn refused(&self) -> usize {
        self.inner.refused.load(Ordering::SeqCst)
    }

    pub fn headers(&self, connection: usize) -> HeaderMap {
        self.inner.headers.lock().unwrap()[connection].clone()
    }

    /// Sends a text frame on the newest connection.
    pub fn send(&self, text: &str) {
        let connections = self.inner.connections.lock().unwrap();
        let tx = connections
            .last()
            .and_then(|c| c.as_ref())
            .expect("a live connection");
        tx.send(Message::Text(text.into()))
            .expect("the connection is open");
    }

    /// Drops the newest connection's socket without a close frame.
    pub fn drop_connection(&self) {
        if let Some(last) = self.inner.connections.lock().unwrap().last_mut() {
            *last = None;
        }
    }

    /// Answers the next `n` handshakes with 503.
    pub fn refuse_next(&self, n: u32) {
        self.inner.refuse.store(n, Ordering::SeqCst);
    }

    /// How many frames Qiao has sent (cheaper than [`Self::received`] for a bench's thousands).
    pub fn received_count(&self) -> usize {
        self.inner.received.lock().unwrap().len()
    }

    pub fn received(&self) -> Vec<(usize, String)> {
        self.inner.received.lock().unwrap().clone()
    }

    /// Waits until `check` holds, for at most `limit`.
    pub async fn wait(&self, limit: Duration, what: &str, check: impl Fn(&StreamGateway) -> bool) {
        let deadline = Instant::now() + limit;
        loop {
            let notified = self.inner.changed.notified();
            if check(self) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "gave up waiting for {what}; connects {}, received {:?}",
                self.connects(),
                self.received()
            );
            let _ = tokio::time::timeout(left.min(Duration::from_millis(200)), notified).await;
        }
    }

    /// Waits for Qiao to send `text` (on any connection).
    pub async fn wait_for_frame(&self, text: &str) {
        self.wait(Duration::from_secs(15), text, |g| {
            g.received().iter().any(|(_, t)| t == text)
        })
        .await
    }

    /// Waits for the `n`th connection.
    pub async fn wait_for_connects(&self, n: usize, limit: Duration) {
        self.wait(limit, &format!("connection {n}"), |g| g.connects() >= n)
            .await
    }
}

async fn upgrade(
    State(inner): State<Arc<Inner>>,
    headers: HeaderMap,
    ws: WebSocketUpgrade,
) -> Response {
    let refuse = inner.refuse.load(Ordering::SeqCst);
    if refuse > 0 {
        inner.refuse.store(refuse - 1, Ordering::SeqCst);
        inner.refused.fetch_add(1, Ordering::SeqCst);
        inner.changed.notify_waiters();
        return (StatusCode::SERVICE_UNAVAILABLE, "gateway refusing (test)").into_response();
    }
    ws.on_upgrade(move |socket| serve(inner, headers, socket))
}

async fn serve(inner: Arc<Inner>, headers: HeaderMap, socket: WebSocket) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let index = {
        let mut connections = inner.connections.lock().unwrap();
        connections.push(Some(tx));
        inner.headers.lock().unwrap().push(headers);
        connections.len() - 1
    };
    inner.changed.notify_waiters();
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            out = rx.recv() => match out {
                Some(message) => if sink.send(message).await.is_err() { break },
                // The test dropped this connection: end without a close frame.
                None => break,
            },
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(Message::Text(t))) => t.to_string(),
                    Some(Ok(Message::Close(c))) => format!("close:{}", c.map_or(0, |c| c.code)),
                    Some(Ok(Message::Ping(_))) => "ping".into(),
                    Some(Ok(_)) => continue,
                    Some(Err(_)) | None => break,
                };
                let closing = text.starts_with("close:");
                inner.received.lock().unwrap().push((index, text));
                inner.changed.notify_waiters();
                if closing {
                    break;
                }
            }
        }
    }
    inner.changed.notify_waiters();
}
