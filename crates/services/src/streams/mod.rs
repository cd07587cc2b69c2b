//! Event streams: for connectors that export `event-stream` (contract 0.3.0), the host holds one outbound
//! WebSocket per connection to the platform (DingTalk Stream mode, Feishu's long connection), so events arrive
//! with no public URL. The connector speaks the platform's part (`open`, `on-frame`) inside its sandbox; the host
//! owns the socket, its egress check, keep-alive, reconnects and the store.
//!
//! - [`spawn`]: the supervisor. It keeps exactly one session per connection whose connector exports
//!   `event-stream`, restarting it when the connector (re)loads and ending it when the connector goes.
//! - `session`: one connection's stream, from `open` to close, reconnecting with backoff.
//! - `socket`: connecting where the connection's egress allows.
//! - [`Streams`]: what each stream is doing now (`GET /v1/connections`), and the stop signal for shutdown.

mod backoff;
mod session;
mod socket;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use qiao_contract::Capability;

use crate::App;

/// What one connection's stream is doing, as operators see it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct StreamStatus {
    /// `connecting`, `open`, `backing_off`, `off` (the connector says this connection does not use a stream:
    /// see `last_error`), or `stopped`.
    pub state: &'static str,
    /// When the state last changed (ms since the Unix epoch).
    pub since_ms: u64,
    /// Why the last attempt or frame failed, or why the stream is off. Never holds a secret: it is the
    /// connector's redacted error or a transport error without the URL's query.
    pub last_error: Option<String>,
    /// When a frame last arrived (ms since the Unix epoch).
    pub last_frame_ms: Option<u64>,
    /// When the next connect is due, while backing off.
    pub retry_at_ms: Option<u64>,
    pub connects: u64,
    pub frames: u64,
    /// Events the frames carried that were new (stored; redeliveries not counted).
    pub events_stored: u64,
}

impl Default for StreamStatus {
    fn default() -> Self {
        StreamStatus {
            state: "connecting",
            since_ms: now_ms(),
            last_error: None,
            last_frame_ms: None,
            retry_at_ms: None,
            connects: 0,
            frames: 0,
            events_stored: 0,
        }
    }
}

/// Every stream's status, and the signal that ends them all (shutdown).
pub struct Streams {
    board: Mutex<BTreeMap<String, StreamStatus>>,
    stop: watch::Sender<bool>,
}

impl Default for Streams {
    fn default() -> Self {
        Streams {
            board: Mutex::default(),
            stop: watch::Sender::new(false),
        }
    }
}

impl Streams {
    /// The status of `connection`'s stream; `None` when it has none.
    pub fn status(&self, connection: &str) -> Option<StreamStatus> {
        self.board().get(connection).cloned()
    }

    /// Closes every stream cleanly (a close frame, not a dropped socket) and starts no new one.
    pub fn stop(&self) {
        self.stop.send_replace(true);
    }

    fn update(&self, connection: &str, change: impl FnOnce(&mut StreamStatus)) {
        let mut board = self.board();
        change(board.entry(connection.to_string()).or_default());
    }

    fn set_state(&self, connection: &str, state: &'static str) {
        self.update(connection, |s| {
            if s.state != state {
                s.state = state;
                s.since_ms = now_ms();
            }
            if state != "backing_off" {
                s.retry_at_ms = None;
            }
        });
        qiao_metrics::stream_open(connection, state == "open");
    }

    fn forget(&self, connection: &str) {
        self.board().remove(connection);
        qiao_metrics::stream_open(connection, false);
    }

    fn board(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, StreamStatus>> {
        self.board.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(crate) fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A running session and the connector build it was started for.
struct Running {
    connector_hash: String,
    task: JoinHandle<()>,
}

/// How long the supervisor lets sessions close cleanly at shutdown.
pub const CLOSE_GRACE: Duration = Duration::from_secs(2);

/// Starts the supervisor: one session per connection whose loaded connector exports `event-stream`, following
/// the connector directory. It returns when [`Streams::stop`] is called, after the sessions have closed (at most
/// [`CLOSE_GRACE`]).
pub fn spawn(app: &Arc<App>) -> JoinHandle<()> {
    let app = app.clone();
    tokio::spawn(async move {
        let mut changes = app.runtime.connectors.changes();
        let mut stop = app.streams.stop.subscribe();
        let mut running: HashMap<String, Running> = HashMap::new();
        loop {
            if *stop.borrow() {
                break;
            }
            reconcile(&app, &mut running);
            tokio::select! {
                changed = changes.changed() => if changed.is_err() { break },
                _ = stop.changed() => {}
            }
        }
        // Sessions see the same stop signal and close their sockets; give them a moment to.
        let all = running.into_values().map(|r| r.task);
        let _ = tokio::time::timeout(CLOSE_GRACE, futures::future::join_all(all)).await;
    })
}

/// Brings the sessions in line with the loaded connectors: starts missing ones, restarts those whose connector
/// changed, ends those whose connector went or lost the export. Never two sessions for one connection: the old
/// one is aborted (its socket dropped) before the new one starts.
fn reconcile(app: &Arc<App>, running: &mut HashMap<String, Running>) {
    for conn in app.runtime.connections.values() {
        let wanted = app
            .runtime
            .connectors
            .get(&conn.connector)
            .filter(|c| c.exports.has(Capability::EventStream))
            .map(|c| c.hash.clone());
        let current = running.get(&conn.name).map(|r| r.connector_hash.clone());
        if wanted == current
            && running
                .get(&conn.name)
                .is_none_or(|r| !r.task.is_finished())
        {
            continue;
        }
        if let Some(old) = running.remove(&conn.name) {
            old.task.abort();
            app.streams.forget(&conn.name);
            tracing::info!(connection = %conn.name, "event stream ended: its connector changed or went");
        }
        if let Some(hash) = wanted {
            let task = tokio::spawn(session::run(
                app.clone(),
                conn.name.clone(),
                app.streams.stop.subscribe(),
            ));
            running.insert(
                conn.name.clone(),
                Running {
                    connector_hash: hash,
                    task,
                },
            );
        }
    }
}
