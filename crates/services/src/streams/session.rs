//! One connection's event stream, from the connector's `open` to close, again and again: connect, keep alive,
//! hand each frame to the connector, store the events it finds **before** sending its replies (the acks), and
//! after a failure wait (backoff) and open afresh (a platform's ticket is good for one connection).

use std::sync::Arc;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use tokio::sync::watch;
use tokio::time::{Instant, MissedTickBehavior};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;

use qiao_contract::event_stream::{Endpoint, Frame, Outcome};
use qiao_contract::types::ErrorKind;
use qiao_contract::{Call, Reply};
use qiao_runtime::CallError;

use super::backoff::{self, Backoff};
use super::now_ms;
use super::socket::{self, Socket};
use crate::App;

/// The keep-alive when the connector leaves it to the host.
const DEFAULT_KEEPALIVE: Duration = Duration::from_secs(30);
/// Bounds on a connector's keep-alive: often enough to notice a dead socket, not a flood.
const KEEPALIVE_RANGE: (Duration, Duration) = (Duration::from_secs(1), Duration::from_secs(600));
/// A socket that shows no sign of life (no frame, no pong) for this many keep-alive periods is given up.
const SILENT_PERIODS: u32 = 3;

/// Why a session's socket ended.
enum Ended {
    /// Shutdown: closed cleanly, nothing more to do.
    Stopped,
    /// The connector says this connection takes no stream.
    Off(String),
    /// The platform asked to reconnect (a disconnect frame): open again now.
    Asked,
    /// Something failed: wait, then open again. `refused`: credentials or permission, retried slowly.
    Failed { error: String, refused: bool },
}

pub async fn run(app: Arc<App>, connection: String, mut stop: watch::Receiver<bool>) {
    let mut backoff = Backoff::default();
    loop {
        if *stop.borrow() {
            break;
        }
        app.streams.set_state(&connection, "connecting");
        let ended = once(&app, &connection, &mut stop, &mut backoff).await;
        let wait = match ended {
            Ended::Stopped => break,
            Ended::Off(why) => {
                tracing::info!(%connection, "no event stream for this connection: {why}");
                app.streams
                    .update(&connection, |s| s.last_error = Some(why));
                app.streams.set_state(&connection, "off");
                return;
            }
            Ended::Asked => {
                tracing::info!(%connection, "event stream: the platform asked to reconnect");
                continue;
            }
            Ended::Failed { error, refused } => {
                let wait = if refused {
                    backoff::REFUSED
                } else {
                    backoff.next()
                };
                tracing::warn!(%connection, wait_ms = wait.as_millis() as u64, "event stream: {error}");
                app.streams.update(&connection, |s| {
                    s.last_error = Some(error);
                    s.retry_at_ms = Some(now_ms() + wait.as_millis() as u64);
                });
                app.streams.set_state(&connection, "backing_off");
                wait
            }
        };
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => {}
        }
    }
    app.streams.set_state(&connection, "stopped");
}

/// One connection: open, connect, serve until it ends.
async fn once(
    app: &Arc<App>,
    connection: &str,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> Ended {
    let endpoint = match app.runtime.call(connection, Call::StreamOpen {}).await {
        Ok(Reply::StreamEndpoint(endpoint)) => endpoint,
        Ok(_) => return failed("the connector's open answered something else"),
        Err(CallError::Connector(e)) if e.kind == ErrorKind::Unsupported => {
            return Ended::Off(e.message);
        }
        Err(CallError::Connector(e)) => {
            qiao_metrics::stream_connect(connection, "open_failed");
            let refused = matches!(e.kind, ErrorKind::Unauthorized | ErrorKind::Forbidden);
            return Ended::Failed {
                error: format!("open: {}", e.message),
                refused,
            };
        }
        Err(e) => {
            qiao_metrics::stream_connect(connection, "open_failed");
            return failed(format!("open: {e}"));
        }
    };
    let socket = tokio::select! {
        socket = socket::connect(app, connection, &endpoint) => socket,
        _ = stop.changed() => return Ended::Stopped,
    };
    let socket = match socket {
        Ok(socket) => socket,
        Err(e) => {
            qiao_metrics::stream_connect(connection, "connect_failed");
            return failed(e);
        }
    };
    qiao_metrics::stream_connect(connection, "open");
    app.streams.update(connection, |s| s.connects += 1);
    app.streams.set_state(connection, "open");
    tracing::info!(%connection, "event stream open");
    serve(app, connection, socket, &endpoint, stop, backoff).await
}

fn failed(error: impl Into<String>) -> Ended {
    Ended::Failed {
        error: error.into(),
        refused: false,
    }
}

async fn serve(
    app: &Arc<App>,
    connection: &str,
    mut socket: Socket,
    endpoint: &Endpoint,
    stop: &mut watch::Receiver<bool>,
    backoff: &mut Backoff,
) -> Ended {
    let mut period = keepalive(endpoint.keepalive_ms);
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut heard = Instant::now();
    loop {
        tokio::select! {
            _ = stop.changed() => {
                let close = CloseFrame { code: CloseCode::Away, reason: "qiao is shutting down".into() };
                let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(Some(close))).await;
                return Ended::Stopped;
            }
            _ = ticks.tick() => {
                if heard.elapsed() > period * SILENT_PERIODS {
                    return failed(format!("no sign of life for {} s", heard.elapsed().as_secs()));
                }
                let ping = match &endpoint.keepalive_frame {
                    Some(frame) => message(frame.clone()),
                    None => Message::Ping(Default::default()),
                };
                if let Err(e) = socket.send(ping).await {
                    return failed(format!("keep-alive: {e}"));
                }
            }
            received = socket.next() => {
                let frame = match received {
                    None => return failed("the platform closed the connection"),
                    Some(Err(e)) => return failed(format!("the connection failed: {e}")),
                    Some(Ok(Message::Text(text))) => Frame::Text(text.to_string()),
                    Some(Ok(Message::Binary(bytes))) => Frame::Binary(bytes.to_vec()),
                    Some(Ok(Message::Close(close))) => {
                        let why = close.map(|c| format!("{} {}", u16::from(c.code), c.reason)).unwrap_or_default();
                        return failed(format!("the platform closed the connection {why}").trim_end().to_string());
                    }
                    // Pings are answered by the library; a pong is a sign of life.
                    Some(Ok(_)) => {
                        heard = Instant::now();
                        continue;
                    }
                };
                heard = Instant::now();
                app.streams.update(connection, |s| {
                    s.frames += 1;
                    s.last_frame_ms = Some(now_ms());
                });
                let outcome = match handle(app, connection, frame).await {
                    Handled::Outcome(outcome) => outcome,
                    Handled::Skip => continue,
                    Handled::Broken(e) => return failed(e),
                };
                for reply in outcome.replies {
                    if let Err(e) = socket.send(message(reply)).await {
                        return failed(format!("sending a reply: {e}"));
                    }
                }
                backoff.reset();
                if let Some(ms) = outcome.keepalive_ms {
                    let next = keepalive(ms);
                    if next != period {
                        period = next;
                        ticks = tokio::time::interval_at(Instant::now() + period, period);
                        ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
                    }
                }
                if outcome.reconnect {
                    let _ = tokio::time::timeout(Duration::from_secs(1), socket.close(None)).await;
                    return Ended::Asked;
                }
            }
        }
    }
}

enum Handled {
    /// The events are stored: send the replies.
    Outcome(Outcome),
    /// Nothing to send: the connector refused the frame, or its events could not be stored (the platform
    /// delivers unacknowledged frames again).
    Skip,
    /// The connector's handler itself failed (trap, time, CPU): reconnect.
    Broken(String),
}

/// One frame through the connector, and its events into the store.
async fn handle(app: &Arc<App>, connection: &str, frame: Frame) -> Handled {
    let mut outcome = match app
        .runtime
        .call(connection, Call::StreamFrame { frame })
        .await
    {
        Ok(Reply::StreamOutcome(outcome)) => outcome,
        Ok(_) => return Handled::Broken("the connector's on-frame answered something else".into()),
        Err(CallError::Connector(e)) => {
            qiao_metrics::stream_frame(connection, "error");
            tracing::warn!(%connection, kind = e.kind.name(), "event stream: the connector refused a frame: {}", e.message);
            app.streams.update(connection, |s| {
                s.last_error = Some(format!("a frame: {}", e.message))
            });
            return Handled::Skip;
        }
        Err(e) => {
            qiao_metrics::stream_frame(connection, "failed");
            return Handled::Broken(format!("the connector's frame handler failed: {e}"));
        }
    };
    qiao_metrics::stream_frame(connection, "ok");
    let events = std::mem::take(&mut outcome.events);
    if !events.is_empty() {
        match crate::inbound::store_events(app, connection, events).await {
            Ok(new) => app
                .streams
                .update(connection, |s| s.events_stored += new as u64),
            Err(e) => {
                tracing::warn!(%connection, "event stream: events not stored, so not acknowledged: {e:#}");
                app.streams.update(connection, |s| {
                    s.last_error = Some(format!("storing events: {e}"))
                });
                return Handled::Skip;
            }
        }
    }
    Handled::Outcome(outcome)
}

fn message(frame: Frame) -> Message {
    match frame {
        Frame::Text(text) => Message::text(text),
        Frame::Binary(bytes) => Message::binary(bytes),
    }
}

fn keepalive(ms: u32) -> Duration {
    if ms == 0 {
        return DEFAULT_KEEPALIVE;
    }
    Duration::from_millis(ms as u64).clamp(KEEPALIVE_RANGE.0, KEEPALIVE_RANGE.1)
}
