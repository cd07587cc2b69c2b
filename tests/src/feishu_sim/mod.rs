//! A Feishu/Lark (飞书) simulator: a small stateful server speaking Feishu's wire format (everything under
//! `/open-apis/`, `Authorization: Bearer …`, `{"code":0,"msg":"success","data":{…}}` out, errors as an HTTP
//! status with a non-zero `code`) for the endpoints a Feishu connector uses: the tenant token, contact/v3 (with
//! user groups and frozen users), SSO,
//! im/v1 messages (with uuid de-duplication, read receipts, recall and urgent reminders), batch sends and
//! approval/v4 (with reminders), Task v2 (tasks, members, comments, task events) and group chats (im/v1/chats).
//! It issues tokens that expire (and renews them in Feishu's last-30-minutes window), enforces a QPS
//! limit with Feishu's 429, injects faults on request, and pushes signed, encrypted callbacks when approvals
//! move — but only for approval codes the app subscribed to, as Feishu does — and when tasks change, once the
//! app called `task_v2/task_subscription`.
//!
//! With no callback URL, events go over Feishu's long connection instead (gateway.rs: `POST
//! /callback/ws/endpoint`, then a WebSocket of protobuf frames, acks and redelivery), once a client connected.
//!
//! Tests can also play the approver in the Feishu app with [`FeishuSim::advance`], and a task's people with
//! [`FeishuSim::set_task_done`] and [`FeishuSim::comment_on_task`].
//!
//! Run it on its own with `cargo run -p qiao-tests --bin feishu-sim -- --help`.

mod api;
mod callbacks;
mod chats;
mod gateway;
mod state;
mod tasks;
#[cfg(test)]
mod stream_tests;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

use crate::sim_support::{Served, serve};
use serde_json::Value;

pub use callbacks::SignedCallback;
pub use chats::ChatInfo;
pub use gateway::{ClientConfig, ENDPOINT_PATH, Frame, HANDSHAKE, StreamStats};
pub use state::{
    Comment, Definition, Dept, Fault, Group, Instance, Message, State, Task, Urgent, User, Widget,
    hex_id,
};
pub use tasks::{TaskCommentV2, TaskV2};

/// The simulated self-built app's credentials, its event-subscription settings and the simulator's limits.
#[derive(Clone, Debug)]
pub struct Options {
    pub app_id: String,
    pub app_secret: String,
    /// The tenant the app is installed in (events carry it).
    pub tenant_key: String,
    /// Lifetime of issued tenant tokens (Feishu: 7200 s).
    pub token_ttl: Duration,
    /// While less than this remains of the current token, a token request gets a new one (Feishu: 30 min).
    pub refresh_window: Duration,
    /// Requests per second per API path before HTTP 429 / 99991400.
    pub qps: u32,
    /// The event subscription's Verification Token (`token` / `header.token` in every event).
    pub verification_token: String,
    /// The event subscription's Encrypt Key; empty sends plaintext events without a signature (as Feishu does
    /// when none is configured).
    pub encrypt_key: String,
    /// Where events are pushed, if anywhere.
    pub callback_url: Option<String>,
    /// Whether the tenant has quota left for SMS and phone urgent reminders (most test tenants do not).
    pub urgent_quota: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            app_id: "cli_simapp0001".into(),
            app_secret: "sim-feishu-secret".into(),
            tenant_key: "sim-tenant-key".into(),
            token_ttl: Duration::from_secs(7200),
            refresh_window: Duration::from_secs(30 * 60),
            qps: 40,
            verification_token: "sim-verify-token".into(),
            encrypt_key: "sim-encrypt-key".into(),
            callback_url: None,
            urgent_quota: false,
        }
    }
}

pub struct FeishuSim {
    pub base: String,
    pub addr: SocketAddr,
    pub options: Options,
    state: Arc<Mutex<State>>,
    _server: Served,
    pusher: tokio::task::JoinHandle<()>,
}

impl FeishuSim {
    /// A `[connections.NAME]` block of the feishu connector pointed at this simulator, with its credentials and
    /// callback secrets (events by HTTP push) and ids as the enterprise knows them (`user_id`, `department_id`);
    /// `extra` lines (limits, outbox...) are added to it.
    pub fn connection(&self, name: &str, extra: &str) -> String {
        let o = &self.options;
        let callback = format!(
            ", verification_token = \"{}\", encrypt_key = \"{}\"",
            o.verification_token, o.encrypt_key
        );
        self.block(name, &callback, extra)
    }

    /// [`FeishuSim::connection`] without callback secrets: the connector takes its events over the long
    /// connection.
    pub fn stream_connection(&self, name: &str, extra: &str) -> String {
        self.block(name, "", extra)
    }

    fn block(&self, name: &str, more_secrets: &str, extra: &str) -> String {
        let o = &self.options;
        format!(
            "\n[connections.{name}]\nconnector = \"feishu\"\n\
             settings = {{ app_id = \"{}\", api_base = \"{}\", user_id_type = \"user_id\", department_id_type = \"department_id\" }}\n\
             secrets = {{ app_secret = \"{}\"{more_secrets} }}\n{extra}\n",
            o.app_id, self.base, o.app_secret
        )
    }

    pub async fn start(options: Options) -> Result<FeishuSim> {
        FeishuSim::start_on("127.0.0.1:0".parse()?, options).await
    }

    pub async fn start_on(listen: SocketAddr, options: Options) -> Result<FeishuSim> {
        let (outbox, queue) = tokio::sync::mpsc::unbounded_channel();
        let mut initial = State::new(options.clone());
        initial.outbox = Some(outbox);
        let state = Arc::new(Mutex::new(initial));
        let server = serve(listen, api::router(state.clone())).await?;
        let addr = server.addr;
        let pusher = tokio::spawn(callbacks::pusher(state.clone(), queue));
        Ok(FeishuSim {
            base: format!("http://{addr}"),
            addr,
            options,
            state,
            _server: server,
            pusher,
        })
    }

    /// Direct access to the tenant, messages and approvals, to arrange a test or check its effect.
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Where events are pushed from now on (Qiao's address is known only after it starts).
    pub fn set_callback_url(&self, url: &str) {
        self.state().options.callback_url = Some(url.to_string());
    }

    /// The next `times` requests whose path contains `path` fail with `fault`.
    pub fn inject(&self, path: &str, fault: Fault, times: u32) {
        self.state().faults.add(path, fault, times);
    }

    /// From now on a share `rate` of requests whose path contains `path` fail with one of `faults`, at random.
    pub fn chaos(&self, path: &str, rate: f64, faults: Vec<Fault>) {
        self.state().faults.chaos(path, rate, faults);
    }

    /// Every issued tenant token stops working at once (as when the app secret is reset): 99991663 from now on.
    pub fn revoke_tokens(&self) {
        self.state().tokens.clear();
    }

    /// Requests received on paths containing `path`.
    pub fn count(&self, path: &str) -> usize {
        self.state()
            .requests
            .iter()
            .filter(|p| p.contains(path))
            .count()
    }

    /// A push of `plaintext` (an event such as [`State::contact_event`] builds) as Feishu would send it:
    /// encrypted and signed when an Encrypt Key is set (to deliver, or to tamper with).
    pub fn signed_callback(&self, plaintext: &Value) -> SignedCallback {
        let options = self.state().options.clone();
        callbacks::sign(&options, plaintext)
    }

    /// Posts a callback to `url`: (HTTP status, body text).
    pub async fn deliver(&self, url: &str, callback: &SignedCallback) -> Result<(u16, String)> {
        callbacks::deliver(url, callback).await
    }

    /// The plaintext of Feishu's URL check (`{"challenge","token","type":"url_verification"}`); the receiver
    /// must answer `{"challenge": <the same>}`. Sign it with [`FeishuSim::signed_callback`] to send it.
    pub fn url_verification(&self) -> Value {
        callbacks::url_verification(&self.state().options)
    }

    /// Runs Feishu's URL check against `url`: (HTTP status, body, the challenge the body must echo).
    pub async fn verify_url(&self, url: &str) -> Result<(u16, String, String)> {
        let plaintext = self.url_verification();
        let challenge = plaintext["challenge"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (status, body) = self.deliver(url, &self.signed_callback(&plaintext)).await?;
        Ok((status, body, challenge))
    }

    /// Events the simulator pushed by itself, in order: the plaintext and whether the receiver answered 200.
    pub fn pushed(&self) -> Vec<(Value, bool)> {
        self.state().pushed.clone()
    }

    /// The members (`user_id`s, sorted) of the user group with this id, or `None` when there is no such group.
    pub fn group_members(&self, group_id: &str) -> Option<Vec<String>> {
        self.state()
            .groups
            .get(group_id)
            .map(|g| g.members.iter().cloned().collect())
    }

    /// The user group with this name, if any (names are unique in a tenant).
    pub fn group_named(&self, name: &str) -> Option<Group> {
        self.state().group_named(name).cloned()
    }

    /// The task as the simulator holds it (deleted ones too), if any.
    pub fn task(&self, guid: &str) -> Option<TaskV2> {
        self.state()
            .todo
            .tasks
            .iter()
            .find(|t| t.guid == guid)
            .cloned()
    }

    /// A person completes (`done`) or reopens the task in the Feishu app; Feishu's task event follows when the
    /// app subscribed.
    pub fn set_task_done(&self, guid: &str, done: bool) -> Result<(), String> {
        self.state().set_task_done(guid, done)
    }

    /// A person (`creator`, a `user_id`) makes a task in the Feishu app, assigned to `assignees`, with other
    /// create fields (`tasklists`...); answers its guid. Its `task_create` event follows when the app subscribed.
    pub fn create_task_as(
        &self,
        creator: &str,
        summary: &str,
        assignees: &[&str],
        other: Value,
    ) -> Result<String, String> {
        let other = match other {
            Value::Null => serde_json::Map::new(),
            Value::Object(o) => o,
            _ => return Err("other fields must be an object".into()),
        };
        self.state().create_task_as(creator, summary, assignees, other)
    }

    /// A person (`user_id`) comments on the task in the Feishu app; answers the comment id.
    pub fn comment_on_task(
        &self,
        guid: &str,
        user_id: &str,
        content: &str,
    ) -> Result<String, String> {
        self.state().comment_on_task(guid, user_id, content)
    }

    /// The chat's members (`user_id`s, in join order), or `None` when there is no such chat.
    pub fn chat_members(&self, chat_id: &str) -> Option<Vec<String>> {
        self.state().chats.get(chat_id).cloned()
    }

    /// Sends an event (the plaintext JSON, e.g. from [`State::contact_event`]) as Feishu would: pushed to the
    /// callback URL, or over the long connection when the app uses one.
    pub fn emit(&self, event: Value) {
        self.state().push(event);
    }

    /// What the long connection did: endpoint calls, connects, frames, pings, acks.
    pub fn stream_stats(&self) -> StreamStats {
        self.state().gateway.stats.clone()
    }

    /// Events the long-connection client acked, in ack order.
    pub fn stream_delivered(&self) -> Vec<Value> {
        self.state().gateway.delivered.clone()
    }

    /// Whether a long-connection client is connected now.
    pub fn stream_connected(&self) -> bool {
        self.state().gateway.connected()
    }

    /// Cuts the long connection's socket (no close frame); unacked events go again on the next connection.
    pub fn drop_stream(&self) -> bool {
        self.state().gateway.drop_connection()
    }

    /// The long-connection gateway goes away for `duration`: the socket is cut, the endpoint answers code 1
    /// (system busy) and handshakes are refused until then.
    pub fn stream_go_away(&self, duration: Duration) {
        self.state().gateway.go_away(duration);
    }

    /// The next `n` acks over the long connection are lost: those events come again after a reconnect.
    pub fn lose_stream_acks(&self, n: u32) {
        self.state().gateway.lose_acks(n);
    }

    /// The next event over the long connection comes in `parts` parts.
    pub fn split_next_event(&self, parts: usize) {
        self.state().gateway.split_next(parts);
    }

    /// The settings the endpoint and every pong hand out (seconds).
    pub fn set_client_config(&self, config: ClientConfig) {
        self.state().gateway.client_config = config;
    }

    /// The instance's current approver approves (`approve`) or rejects it in the Feishu app; pushes
    /// `approval_task` and `approval_instance` if the approval code is subscribed.
    pub fn advance(&self, instance_code: &str, approve: bool) -> Result<(), String> {
        self.state().advance(instance_code, approve)
    }
}

impl Drop for FeishuSim {
    fn drop(&mut self) {
        self.pusher.abort();
    }
}
