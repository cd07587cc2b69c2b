//! Webhook deliveries as a Jira Cloud admin webhook with a secret sends them: `POST` of the JSON payload with
//! `X-Hub-Signature: sha256=<lowercase hex HMAC-SHA256 of the raw body, keyed by the secret>` (WebSub style),
//! `X-Atlassian-Webhook-Identifier` (the same on every retry of one delivery) and, on retries only,
//! `X-Atlassian-Webhook-Retry: <n>`.
//!
//! Jira Cloud retries only on 408, 409, 425, 429, any 5xx, a connection failure or a timeout, up to 5 times
//! 5–15 minutes apart; other 4xx answers are final. The simulator keeps the rule and the count
//! (`Options::webhook_retries`) but waits only `Options::webhook_backoff` between attempts, so tests stay fast.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedReceiver;

use super::state::{Attempt, Outcome, Queued, State};
use crate::kingdee_sim::sign::hmac_sha256;

/// `sha256=<hex>` over `body` keyed by `secret`.
pub fn signature(secret: &str, body: &str) -> String {
    let digest = hmac_sha256(secret.as_bytes(), body.as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// The headers every attempt of a delivery carries; no signature when the webhook has no secret.
pub fn headers(secret: &str, identifier: &str, body: &str) -> Vec<(String, String)> {
    let mut headers = vec![
        (
            "Content-Type".to_string(),
            "application/json; charset=UTF-8".to_string(),
        ),
        (
            "User-Agent".to_string(),
            "Atlassian Webhook HTTP Client".to_string(),
        ),
        (
            "X-Atlassian-Webhook-Identifier".to_string(),
            identifier.to_string(),
        ),
        (
            "X-Atlassian-Webhook-Flow".to_string(),
            "Primary".to_string(),
        ),
    ];
    if !secret.is_empty() {
        headers.push(("X-Hub-Signature".to_string(), signature(secret, body)));
    }
    headers
}

/// Whether Jira sends again after this answer (`None`: no answer at all).
pub fn retryable(status: Option<u16>) -> bool {
    match status {
        None => true,
        Some(s) => matches!(s, 408 | 409 | 425 | 429) || (500..600).contains(&s),
    }
}

/// One attempt: POSTs `body` with `headers` (plus the retry header when `retry` > 0).
pub async fn send(
    client: &reqwest::Client,
    url: &str,
    headers: &[(String, String)],
    body: &str,
    retry: u32,
) -> Attempt {
    let mut request = client.post(url).body(body.to_string());
    for (name, value) in headers {
        request = request.header(name, value);
    }
    if retry > 0 {
        request = request.header("X-Atlassian-Webhook-Retry", retry.to_string());
    }
    match request.send().await {
        Ok(response) => Attempt {
            retry,
            status: Some(response.status().as_u16()),
            error: None,
        },
        Err(e) => Attempt {
            retry,
            status: None,
            error: Some(if e.is_timeout() {
                "timeout".into()
            } else {
                "connection failed".into()
            }),
        },
    }
}

pub fn client(timeout: Duration) -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(timeout)
        .build()
        .expect("HTTP client")
}

/// Sends the delivery at `index` until it is accepted, refused for good, or out of retries, recording each
/// attempt as it happens (tests can watch retries arrive).
pub async fn deliver(state: &Arc<Mutex<State>>, index: usize) {
    let (url, headers, body, retries, backoff, timeout) = {
        let s = state.lock().unwrap();
        let d = &s.deliveries[index];
        (
            d.url.clone(),
            d.headers.clone(),
            d.body.clone(),
            s.options.webhook_retries,
            s.options.webhook_backoff,
            s.options.webhook_timeout,
        )
    };
    let client = client(timeout);
    let mut retry = 0;
    loop {
        let attempt = send(&client, &url, &headers, &body, retry).await;
        let status = attempt.status;
        let ok = status.is_some_and(|s| (200..300).contains(&s));
        {
            let mut s = state.lock().unwrap();
            let d = &mut s.deliveries[index];
            d.attempts.push(attempt);
            if ok {
                d.outcome = Outcome::Delivered;
            } else if !retryable(status) || retry >= retries {
                d.outcome = Outcome::Failed;
            }
        }
        if ok || !retryable(status) || retry >= retries {
            return;
        }
        retry += 1;
        tokio::time::sleep(backoff * retry).await;
    }
}

/// The simulator's deliverer: one delivery at a time, in the order events happened (Jira itself promises no
/// order; tests that need disorder can re-send with [`super::JiraSim::redeliver`]).
pub async fn deliverer(state: Arc<Mutex<State>>, mut queue: UnboundedReceiver<Queued>) {
    while let Some(index) = queue.recv().await {
        deliver(&state, index).await;
    }
}
