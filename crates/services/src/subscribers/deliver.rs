//! One delivery attempt: an event signed and POSTed to a subscriber, and what became of it.

use std::error::Error as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use super::message::message;
use super::sign::SigningKey;
use qiao_store::{StoredEvent, Subscription};

/// At most this much of a refusal's body is read, to quote from it.
const MAX_ERROR_BODY_BYTES: usize = 4096;
/// How much of a refusal's body goes into `last_error`.
const QUOTED_BODY_CHARS: usize = 200;
/// Longest description of a transport error kept.
const MAX_ERROR_CHARS: usize = 300;

/// Sends webhook messages: one HTTP client (connection pool) shared by every subscription's loop.
pub struct Sender {
    client: reqwest::Client,
    timeout_ms: u64,
}

impl Sender {
    /// `timeout_ms`: the whole request, from connecting to the end of the answer.
    pub fn new(timeout_ms: u64) -> Result<Sender> {
        let client = reqwest::Client::builder()
            // A redirect is the subscriber's misconfiguration; following it would send signed events elsewhere.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_millis(timeout_ms))
            .user_agent(concat!("qiao/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(Sender { client, timeout_ms })
    }

    /// One attempt at delivering `event` to `sub`: `Ok` on a 2xx answer, otherwise a short reason for
    /// `last_error` (never containing the secret).
    pub async fn deliver(&self, sub: &Subscription, event: &StoredEvent) -> Result<(), String> {
        let key = SigningKey::from_secret(&sub.secret)?;
        let message = message(event);
        // Signed at each attempt, with that attempt's time, so receivers' replay windows accept retries.
        let timestamp = unix_seconds();
        let signature = key.sign(&message.id, timestamp, &message.body);
        let sent = self
            .client
            .post(&sub.url)
            .header("content-type", "application/json")
            .header("webhook-id", &message.id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(message.body)
            .send()
            .await;
        match sent {
            Ok(response) if response.status().is_success() => Ok(()),
            Ok(response) => Err(refusal(response).await),
            Err(e) => Err(self.transport_error(e)),
        }
    }

    fn transport_error(&self, e: reqwest::Error) -> String {
        if e.is_timeout() {
            return format!("no answer within {} ms", self.timeout_ms);
        }
        // The URL may carry a token of the subscriber's: leave it out; keep the causes, which say what failed.
        let e = e.without_url();
        let mut text = e.to_string();
        let mut source = e.source();
        while let Some(cause) = source {
            text.push_str(": ");
            text.push_str(&cause.to_string());
            source = cause.source();
        }
        truncate(&text, MAX_ERROR_CHARS)
    }
}

/// A non-2xx answer as `HTTP <status>: <start of the body>`.
async fn refusal(mut response: reqwest::Response) -> String {
    let status = response.status();
    let mut body = Vec::new();
    // Chunk by chunk, so a huge or endless body stops at the limit instead of filling memory.
    while body.len() < MAX_ERROR_BODY_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => body.extend_from_slice(&chunk),
            _ => break,
        }
    }
    body.truncate(MAX_ERROR_BODY_BYTES);
    // On one line: it is quoted in a log line and in an API error.
    let one_line = String::from_utf8_lossy(&body)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    let quoted = truncate(&one_line, QUOTED_BODY_CHARS);
    if quoted.is_empty() {
        format!("HTTP {status}")
    } else {
        format!("HTTP {status}: {quoted}")
    }
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

fn unix_seconds() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}
