//! What the DingTalk and Feishu simulators' event-stream gateways share, around each platform's own framing
//! (JSON text frames, protobuf frames), its answers and its ack rules: one-time tickets that expire, the one live
//! socket new frames go to (a newer connection takes over), the gateway going away for a while, and the task
//! that serves a socket.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use tokio::sync::mpsc;

/// One-time tickets, each carrying what the connection it opens needs (`()` when nothing).
pub struct Tickets<T> {
    issued: HashMap<String, (Instant, T)>,
}

impl<T> Default for Tickets<T> {
    fn default() -> Self {
        Tickets {
            issued: HashMap::new(),
        }
    }
}

/// Why a ticket did not open a connection.
#[derive(Debug, PartialEq)]
pub enum TicketError {
    Expired,
    /// Never issued, or used already.
    Unknown,
}

impl<T> Tickets<T> {
    /// Issues `ticket`, good for `ttl`; expired ones go, so unused tickets cannot grow the simulator.
    pub fn issue(&mut self, ticket: String, ttl: Duration, data: T) {
        let now = Instant::now();
        self.issued.retain(|_, (expiry, _)| *expiry > now);
        self.issued.insert(ticket, (now + ttl, data));
    }

    /// Uses the ticket up, whether or not it is still good.
    pub fn redeem(&mut self, ticket: &str) -> Result<T, TicketError> {
        match self.issued.remove(ticket) {
            Some((expiry, data)) if expiry > Instant::now() => Ok(data),
            Some(_) => Err(TicketError::Expired),
            None => Err(TicketError::Unknown),
        }
    }
}

/// What a gateway queues for a socket.
pub enum Outgoing {
    Frame(Message),
    /// The frame, then a 1000 close if the client has not closed within the grace period.
    FrameThenClose(Message, Duration),
    /// Cut the TCP connection without a close frame, as a network failure would.
    Drop,
}

struct Live<T> {
    id: u64,
    data: T,
    sender: mpsc::UnboundedSender<Outgoing>,
}

/// The connection new frames go to, whether the app has chosen the stream, and the gateway's outage.
pub struct Link<T> {
    live: Option<Live<T>>,
    /// A client has connected: the app takes its events over the stream.
    streaming: bool,
    /// Opening and connecting fail until then.
    away_until: Option<Instant>,
}

impl<T> Default for Link<T> {
    fn default() -> Self {
        Link {
            live: None,
            streaming: false,
            away_until: None,
        }
    }
}

impl<T> Link<T> {
    /// Connection `id` takes over (carrying `data`); the receiver is what [`serve_socket`] writes out.
    pub fn attach(&mut self, id: u64, data: T) -> mpsc::UnboundedReceiver<Outgoing> {
        let (sender, receiver) = mpsc::unbounded_channel();
        self.live = Some(Live { id, data, sender });
        self.streaming = true;
        receiver
    }

    /// The live connection gets no more frames (its socket stays open for acks until it ends).
    pub fn detach(&mut self) {
        self.live = None;
    }

    /// Connection `id` ended: forgotten, unless a newer one took over already.
    pub fn ended(&mut self, id: u64) {
        if self.live.as_ref().is_some_and(|l| l.id == id) {
            self.live = None;
        }
    }

    /// The live connection's number and data.
    pub fn live(&self) -> Option<(u64, &T)> {
        self.live.as_ref().map(|l| (l.id, &l.data))
    }

    /// Whether a client is connected and gets new frames.
    pub fn connected(&self) -> bool {
        self.live.as_ref().is_some_and(|l| !l.sender.is_closed())
    }

    /// Whether events without an HTTP callback URL go to the stream.
    pub fn streaming(&self) -> bool {
        self.streaming
    }

    /// Queues for the live connection; false (and the connection forgotten) when there is none or it ended.
    pub fn send(&mut self, outgoing: Outgoing) -> bool {
        let Some(live) = &self.live else {
            return false;
        };
        if live.sender.send(outgoing).is_err() {
            self.live = None;
            return false;
        }
        true
    }

    /// Cuts the live connection's socket without a close frame.
    pub fn drop_connection(&mut self) -> bool {
        let sent = self.send(Outgoing::Drop);
        self.live = None;
        sent
    }

    /// The gateway goes away for `duration`: the live socket is cut; opening and connecting fail until then.
    pub fn go_away(&mut self, duration: Duration) {
        self.drop_connection();
        self.away_until = Some(Instant::now() + duration);
    }

    pub fn away(&self) -> bool {
        self.away_until.is_some_and(|until| Instant::now() < until)
    }
}

/// Upgrades to connection `id`, served by [`serve_socket`] with `on_message` run under the simulator's lock, and
/// forgotten by the gateway's link (which `link` finds in the state) when it ends, unless a newer one took over.
pub fn accept<S, T>(
    upgrade: WebSocketUpgrade,
    max_message_size: usize,
    shared: Arc<Mutex<S>>,
    id: u64,
    outgoing: mpsc::UnboundedReceiver<Outgoing>,
    on_message: fn(&mut S, Message) -> Option<Message>,
    link: fn(&mut S) -> &mut Link<T>,
) -> Response
where
    S: Send + 'static,
    T: 'static,
{
    upgrade
        .max_message_size(max_message_size)
        .on_upgrade(move |socket| async move {
            serve_socket(socket, outgoing, |message| {
                on_message(&mut shared.lock().unwrap(), message)
            })
            .await;
            link(&mut shared.lock().unwrap()).ended(id);
        })
}

/// Serves one connection until either side ends it: writes what the gateway queues, hands every other client
/// message than a close to `on_message` and writes back its answer, if any. Once the gateway forgot the
/// connection (a newer one took over, or after a detach) it gets no more frames but is still read, for acks.
async fn serve_socket(
    socket: WebSocket,
    mut outgoing: mpsc::UnboundedReceiver<Outgoing>,
    mut on_message: impl FnMut(Message) -> Option<Message>,
) {
    let (mut sink, mut incoming) = socket.split();
    let mut close_at: Option<tokio::time::Instant> = None;
    let mut current = true;
    loop {
        let grace = async {
            match close_at {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            out = outgoing.recv(), if current => match out {
                Some(Outgoing::Frame(message)) => {
                    if sink.send(message).await.is_err() {
                        break;
                    }
                }
                Some(Outgoing::FrameThenClose(message, grace)) => {
                    if sink.send(message).await.is_err() {
                        break;
                    }
                    close_at = Some(tokio::time::Instant::now() + grace);
                }
                Some(Outgoing::Drop) => break,
                None => current = false,
            },
            message = incoming.next() => match message {
                Some(Ok(Message::Close(_))) | Some(Err(_)) | None => break,
                // WebSocket pings are answered by the socket itself.
                Some(Ok(message)) => {
                    if let Some(reply) = on_message(message)
                        && sink.send(reply).await.is_err()
                    {
                        break;
                    }
                }
            },
            () = grace => {
                let frame = CloseFrame { code: 1000, reason: "disconnect".into() };
                let _ = sink.send(Message::Close(Some(frame))).await;
                break;
            }
        }
    }
}
