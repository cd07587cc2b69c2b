//! The server the echo and hostile test connectors call: it records what it receives and misbehaves on request.
//!
//! - `POST /echo`: answers `{"echo": <body>, "token_sha256": <hex sha256 of the x-echo-token header>}` (proof the
//!   platform got the secret, without echoing it into Qiao's answers) and records the body and token.
//! - `GET /ping`: 200.
//! - `GET /huge`: a body far larger than any sane limit, streamed.
//! - `GET /slow`: answers after 60 s.
//! - `GET /redirect`: 302 to `/ping` on another origin (must not be followed).

use crate::sim_support::{Served, serve};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};

#[derive(Clone, Default)]
pub struct Recorded(Arc<Mutex<Vec<Value>>>);

impl Recorded {
    pub fn all(&self) -> Vec<Value> {
        self.0.lock().unwrap().clone()
    }
}

pub struct EchoServer {
    pub base: String,
    pub recorded: Recorded,
    _server: Served,
}

impl EchoServer {
    pub async fn start() -> EchoServer {
        let recorded = Recorded::default();
        let app = Router::new()
            .route("/echo", post(echo))
            .route("/ping", get(|| async { "pong" }))
            .route("/huge", get(huge))
            .route(
                "/slow",
                get(|| async {
                    tokio::time::sleep(Duration::from_secs(60)).await;
                    "late"
                }),
            )
            .with_state(recorded.clone());
        let server = serve("127.0.0.1:0".parse().unwrap(), app).await.unwrap();
        EchoServer {
            base: format!("http://{}", server.addr),
            recorded,
            _server: server,
        }
    }
}

async fn echo(
    State(recorded): State<Recorded>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Json<Value> {
    let token = headers
        .get("x-echo-token")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    recorded
        .0
        .lock()
        .unwrap()
        .push(json!({ "body": body, "token": token }));
    Json(json!({ "echo": body, "token_sha256": token.as_deref().map(sha256_hex) }))
}

/// What the echo server answers for a token: `token_sha256`.
pub fn sha256_hex(token: &str) -> String {
    use sha2::Digest;
    hex_lower(&sha2::Sha256::digest(token.as_bytes()))
}

/// The signature the echo connector checks on a callback (`x-echo-signature`): hex HMAC-SHA256 of the body with
/// the connection's token.
pub fn hex_hmac(key: &str, body: &str) -> String {
    hex_lower(&qiao_runtime::imports::crypto::hmac_sha256(key.as_bytes(), body.as_bytes()))
}

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 64 MiB in 64 KiB chunks, without a content-length, so only a streaming limit stops it.
async fn huge() -> impl IntoResponse {
    let chunk = bytes::Bytes::from(vec![b'x'; 64 * 1024]);
    let stream =
        futures::stream::iter((0..1024).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
    Body::from_stream(stream)
}
