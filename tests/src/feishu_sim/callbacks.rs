//! Callbacks as Feishu's event subscription (webhook mode) sends them: `POST url` with the event JSON, or, when
//! the app has an Encrypt Key, `{"encrypt": …}` made with [`FeishuCrypt`] and the `X-Lark-Request-Timestamp`,
//! `X-Lark-Request-Nonce` and `X-Lark-Signature` headers, the signature covering the exact body bytes sent.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use serde_json::{Value, json};
use tokio::sync::mpsc::UnboundedReceiver;

use super::Options;
use super::state::{State, now_ms};
use crate::feishu_crypt::FeishuCrypt;

#[derive(Clone, Debug)]
pub struct SignedCallback {
    /// The request headers (content type, and the three `X-Lark-*` headers when encrypted).
    pub headers: Vec<(String, String)>,
    /// The raw body: `{"encrypt":"…"}`, or the plaintext when no Encrypt Key is set.
    pub body: String,
    /// Unix seconds, as Feishu sends them; empty when not encrypted.
    pub timestamp: String,
    pub nonce: String,
    /// `X-Lark-Signature`; empty when not encrypted (Feishu signs only with an Encrypt Key).
    pub signature: String,
    /// The `encrypt` value; empty when not encrypted.
    pub encrypt: String,
}

/// How long the simulator waits for an answer before it counts a push as failed. Feishu documents 3 s for
/// events (1 s for the URL check); a generous timeout keeps slow test machines from flaking.
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

pub fn sign(options: &Options, plaintext: &Value) -> SignedCallback {
    let text = plaintext.to_string();
    let mut headers = vec![(
        "content-type".to_string(),
        "application/json; charset=utf-8".to_string(),
    )];
    let key = options.encrypt_key.as_str();
    if key.is_empty() {
        return SignedCallback {
            headers,
            body: text,
            timestamp: String::new(),
            nonce: String::new(),
            signature: String::new(),
            encrypt: String::new(),
        };
    }
    let crypt = FeishuCrypt::new(key);
    let encrypt = crypt.encrypt(&text);
    let body = json!({ "encrypt": encrypt }).to_string();
    let timestamp = (now_ms() / 1000).to_string();
    let nonce = format!("{:016x}", rand::random::<u64>());
    let signature = crypt.signature(&timestamp, &nonce, body.as_bytes());
    headers.extend([
        ("X-Lark-Request-Timestamp".to_string(), timestamp.clone()),
        ("X-Lark-Request-Nonce".to_string(), nonce.clone()),
        ("X-Lark-Signature".to_string(), signature.clone()),
    ]);
    SignedCallback {
        headers,
        body,
        timestamp,
        nonce,
        signature,
        encrypt,
    }
}

pub fn url_verification(options: &Options) -> Value {
    json!({
        "challenge": format!("{:032x}", rand::random::<u128>()),
        "token": options.verification_token,
        "type": "url_verification",
    })
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PUSH_TIMEOUT)
        .build()
        .expect("HTTP client")
}

/// Posts the callback; (HTTP status, body text). Feishu counts any 200 as delivered.
pub async fn deliver(url: &str, callback: &SignedCallback) -> Result<(u16, String)> {
    let mut request = client().post(url).body(callback.body.clone());
    for (name, value) in &callback.headers {
        request = request.header(name, value);
    }
    let response = request.send().await.context("delivering a callback")?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.unwrap_or_default()))
}

/// The simulator's one pusher: sends queued events in order, each after the previous one's answer (or
/// timeout), recording whether the receiver answered 200.
pub async fn pusher(state: Arc<Mutex<State>>, mut outbox: UnboundedReceiver<(String, Value)>) {
    while let Some((url, event)) = outbox.recv().await {
        let options = state.lock().unwrap().options.clone();
        let callback = sign(&options, &event);
        let ok = matches!(deliver(&url, &callback).await, Ok((200, _)));
        state.lock().unwrap().pushed.push((event, ok));
    }
}
