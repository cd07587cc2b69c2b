//! Callbacks as DingTalk's HTTP push sends them: `POST url?msg_signature=&timestamp=&nonce=` with
//! `{"encrypt": …}`, encrypted for the app's key (the owner key of an event subscription), and the check that
//! the receiver answered the encrypted "success" DingTalk requires.

use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use serde_json::{Value, json};

use super::Options;
use super::state::{State, now_ms};
use crate::msg_crypt::MsgCrypt;

#[derive(Clone, Debug)]
pub struct SignedCallback {
    /// `msg_signature=…&timestamp=…&nonce=…`
    pub query: String,
    pub body: String,
    pub signature: String,
    pub timestamp: String,
    pub nonce: String,
    pub encrypt: String,
}

fn crypt(options: &Options) -> MsgCrypt {
    MsgCrypt::new(
        &options.callback_token,
        &options.callback_aes_key,
        &options.app_key,
    )
    .expect("the simulator's callback key is valid")
}

pub fn sign(options: &Options, event: &Value) -> SignedCallback {
    let crypt = crypt(options);
    let encrypt = crypt.encrypt(&event.to_string());
    let timestamp = now_ms().to_string();
    let nonce = format!("{:x}", rand::random::<u32>());
    let signature = crypt.signature(&timestamp, &nonce, &encrypt);
    SignedCallback {
        query: format!("msg_signature={signature}&timestamp={timestamp}&nonce={nonce}"),
        body: json!({ "encrypt": encrypt }).to_string(),
        signature,
        timestamp,
        nonce,
        encrypt,
    }
}

/// Posts the callback; (status, whether the answer is a correctly signed, encrypted "success").
pub async fn deliver(
    options: &Options,
    url: &str,
    callback: &SignedCallback,
) -> Result<(u16, bool)> {
    let response = reqwest::Client::new()
        .post(format!("{url}?{}", callback.query))
        .header("content-type", "application/json")
        .body(callback.body.clone())
        .send()
        .await
        .context("delivering a callback")?;
    let status = response.status().as_u16();
    let body: Value = response.json().await.unwrap_or(Value::Null);
    Ok((status, is_success(options, &body)))
}

fn is_success(options: &Options, body: &Value) -> bool {
    let crypt = crypt(options);
    let field = |k: &str| body[k].as_str().unwrap_or_default().to_string();
    let encrypt = field("encrypt");
    crypt.signature(&field("timeStamp"), &field("nonce"), &encrypt) == field("msg_signature")
        && crypt.decrypt(&encrypt).is_ok_and(|text| text == "success")
}

/// Pushes events in order to the configured callback URL, in the background, recording the outcome. Without
/// one, an app in Stream mode gets them over its stream instead (`gateway.rs`).
pub fn push_all(state: &Arc<Mutex<State>>, options: &Options, events: Vec<Value>) {
    let Some(url) = options.callback_url.clone() else {
        let mut state = state.lock().unwrap();
        if state.gateway.streaming() {
            state.gateway.push_events(&options.app_key, events);
        }
        return;
    };
    let (state, options) = (state.clone(), options.clone());
    tokio::spawn(async move {
        for event in events {
            let callback = sign(&options, &event);
            let ok = matches!(deliver(&options, &url, &callback).await, Ok((200, true)));
            state.lock().unwrap().pushed.push((event, ok));
        }
    });
}
