//! Callbacks as WeCom sends them to an app's "API 接收" URL: the URL check (`GET` with an encrypted `echostr`,
//! answered with its plaintext) and event pushes (`POST url?msg_signature=&timestamp=&nonce=` with an XML envelope
//! whose `Encrypt` holds the event XML), encrypted for the corpid with the WXBizMsgCrypt scheme.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, Result};
use tokio::sync::mpsc::UnboundedReceiver;

use super::Options;
use super::state::{State, cdata, now_secs};
use crate::msg_crypt::MsgCrypt;

#[derive(Clone, Debug)]
pub struct SignedCallback {
    /// `msg_signature=…&timestamp=…&nonce=…`
    pub query: String,
    /// The outer XML envelope.
    pub body: String,
    pub signature: String,
    pub timestamp: String,
    pub nonce: String,
    pub encrypt: String,
}

/// WeCom waits 5 s for an answer before it counts a push as failed (and retries).
const PUSH_TIMEOUT: Duration = Duration::from_secs(5);

fn crypt(options: &Options) -> MsgCrypt {
    MsgCrypt::new(
        &options.callback_token,
        &options.callback_aes_key,
        &options.corp_id,
    )
    .expect("the simulator's callback key is valid")
}

fn nonce() -> String {
    // WeCom's nonces are decimal strings.
    rand::random::<u32>().to_string()
}

pub fn sign(options: &Options, inner_xml: &str) -> SignedCallback {
    let crypt = crypt(options);
    let encrypt = crypt.encrypt(inner_xml);
    // Seconds, unlike DingTalk's milliseconds.
    let timestamp = now_secs().to_string();
    let nonce = nonce();
    let signature = crypt.signature(&timestamp, &nonce, &encrypt);
    let body = format!(
        "<xml><ToUserName><![CDATA[{}]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt>\
         <AgentID><![CDATA[{}]]></AgentID></xml>",
        cdata(&options.corp_id),
        options.agent_id
    );
    SignedCallback {
        query: format!("msg_signature={signature}&timestamp={timestamp}&nonce={nonce}"),
        body,
        signature,
        timestamp,
        nonce,
        encrypt,
    }
}

/// `url` with the callback's query appended (after any query of its own).
fn with_query(url: &str, query: &str) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{query}")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(PUSH_TIMEOUT)
        .build()
        .expect("HTTP client")
}

/// Posts the callback; (HTTP status, body text). WeCom accepts any 200 answer: empty, `success` or an encrypted
/// passive reply.
pub async fn deliver(url: &str, callback: &SignedCallback) -> Result<(u16, String)> {
    let response = client()
        .post(with_query(url, &callback.query))
        .header("content-type", "text/xml")
        .body(callback.body.clone())
        .send()
        .await
        .context("delivering a callback")?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.unwrap_or_default()))
}

/// The check WeCom runs when an admin saves the callback URL: a signed, encrypted random `echostr` that the
/// receiver must decrypt and echo verbatim. Returns (status, body, the plaintext the body should be).
pub async fn verify_url(options: &Options, url: &str) -> Result<(u16, String, String)> {
    let crypt = crypt(options);
    let echo = format!("{}{:010}", rand::random::<u32>(), rand::random::<u32>());
    let echostr = crypt.encrypt(&echo);
    let timestamp = now_secs().to_string();
    let nonce = nonce();
    let signature = crypt.signature(&timestamp, &nonce, &echostr);
    let mut target = reqwest::Url::parse(url).context("callback URL")?;
    target
        .query_pairs_mut()
        .append_pair("msg_signature", &signature)
        .append_pair("timestamp", &timestamp)
        .append_pair("nonce", &nonce)
        .append_pair("echostr", &echostr);
    let response = client()
        .get(target)
        .send()
        .await
        .context("verifying the callback URL")?;
    let status = response.status().as_u16();
    Ok((status, response.text().await.unwrap_or_default(), echo))
}

/// The simulator's one pusher: sends queued events in order, each after the previous one's answer (or
/// timeout), recording whether the receiver answered 200.
pub async fn pusher(state: Arc<Mutex<State>>, mut outbox: UnboundedReceiver<(String, String)>) {
    while let Some((url, inner_xml)) = outbox.recv().await {
        let options = state.lock().unwrap().options.clone();
        let callback = sign(&options, &inner_xml);
        let ok = matches!(deliver(&url, &callback).await, Ok((200, _)));
        state.lock().unwrap().pushed.push((inner_xml, ok));
    }
}
