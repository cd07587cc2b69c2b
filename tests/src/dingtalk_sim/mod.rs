//! A DingTalk simulator: a small stateful server speaking DingTalk's wire format on both hosts at once (the old
//! API's `/gettoken` and `/topapi/...`, and the new API's `/v1.0/...`, whose paths do not overlap), for exactly
//! the endpoints Qiao's DingTalk connector uses (the directory, roles, work notifications, DING, approvals, to-dos,
//! scene groups and their robot messages).
//! Shapes follow DingTalk's: `user/list` has no manager and `department/listsub` no order (only `user/get` and
//! `department/get` do), and users an app creates are not `active` (activated) yet. It issues tokens that expire,
//! enforces a QPS limit with DingTalk's codes, injects faults on request, and pushes signed, encrypted callbacks
//! when approvals and to-dos change, or, for an app without a callback URL, sends them over DingTalk's Stream
//! mode (`gateway.rs`: open a ticket, connect a WebSocket, ack each frame).
//!
//! Run it on its own with `cargo run -p qiao-tests --bin dingtalk-sim -- --help`.

mod api;
mod callbacks;
mod gateway;
mod scenegroup;
mod state;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_stream;
#[cfg(test)]
mod tests_tasks;
mod todo;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

use crate::sim_support::{Served, serve};
use serde_json::Value;

pub use callbacks::SignedCallback;
pub use gateway::{HANDSHAKE as STREAM_HANDSHAKE, OPEN_PATH as STREAM_OPEN_PATH, StreamStats};
pub use scenegroup::{
    GroupMessage, ROBOT_CODE as SCENE_ROBOT_CODE, SceneGroup,
    TEMPLATE_ID as SCENE_GROUP_TEMPLATE_ID,
};
pub use state::{Dept, Fault, Role, RoleGroup, State, User};
pub use todo::Todo;

/// The simulated app's credentials and the organisation's callback settings.
#[derive(Clone, Debug)]
pub struct Options {
    pub app_key: String,
    pub app_secret: String,
    pub agent_id: i64,
    pub corp_id: String,
    /// Lifetime of issued tokens (DingTalk: 7200 s).
    pub token_ttl: Duration,
    /// Requests per second per app and API before DingTalk's QPS errors.
    pub qps: u32,
    pub callback_token: String,
    /// The 43-character EncodingAESKey.
    pub callback_aes_key: String,
    /// Where approval changes are pushed, if anywhere.
    pub callback_url: Option<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            app_key: "dingsimappkey".into(),
            app_secret: "sim-app-secret-0123456789".into(),
            agent_id: 2_000_001,
            corp_id: "dingsimcorp".into(),
            token_ttl: Duration::from_secs(7200),
            qps: 40,
            callback_token: "sim-callback-token".into(),
            callback_aes_key: "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG".into(),
            callback_url: None,
        }
    }
}

pub struct DingTalkSim {
    pub base: String,
    pub addr: SocketAddr,
    pub options: Options,
    state: Arc<Mutex<State>>,
    _server: Served,
}

impl DingTalkSim {
    /// A `[connections.NAME]` block of the dingtalk connector pointed at this simulator (both of its hosts) with
    /// its credentials; `extra` lines (limits, outbox, directory...) are added to it.
    pub fn connection(&self, name: &str, extra: &str) -> String {
        let o = &self.options;
        format!(
            "\n[connections.{name}]\nconnector = \"dingtalk\"\n\
             settings = {{ app_key = \"{}\", agent_id = \"{}\", oapi_base = \"{}\", api_base = \"{}/\" }}\n\
             secrets = {{ app_secret = \"{}\", callback_token = \"{}\", callback_aes_key = \"{}\" }}\n{extra}\n",
            o.app_key,
            o.agent_id,
            self.base,
            self.base,
            o.app_secret,
            o.callback_token,
            o.callback_aes_key
        )
    }

    /// [`DingTalkSim::connection`] with more settings (`key = "value", ...`) in its `settings` table.
    pub fn connection_with(&self, name: &str, settings: &str, extra: &str) -> String {
        self.connection(name, extra).replacen(
            " }\nsecrets",
            &format!(", {settings} }}\nsecrets"),
            1,
        )
    }

    pub async fn start(options: Options) -> Result<DingTalkSim> {
        DingTalkSim::start_on("127.0.0.1:0".parse()?, options).await
    }

    pub async fn start_on(listen: SocketAddr, options: Options) -> Result<DingTalkSim> {
        let state = Arc::new(Mutex::new(State::new(options.clone())));
        let server = serve(listen, api::router(state.clone())).await?;
        let addr = server.addr;
        Ok(DingTalkSim {
            base: format!("http://{addr}"),
            addr,
            options,
            state,
            _server: server,
        })
    }

    /// Direct access to the organisation, messages and approvals, to arrange a test or check its effect.
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Where approval changes are pushed from now on (Qiao's address is known only after it starts).
    pub fn set_callback_url(&self, url: &str) {
        self.state().options.callback_url = Some(url.to_string());
    }

    /// The next `times` requests whose path contains `path` fail with `fault`.
    pub fn inject(&self, path: &str, fault: Fault, times: u32) {
        self.state().faults.add(path, fault, times);
    }

    /// The members of a role (sorted), read straight from the simulated organisation.
    pub fn role_members(&self, role_id: &str) -> Vec<String> {
        role_id
            .parse()
            .map(|id| self.state().role_members(id))
            .unwrap_or_default()
    }

    /// The role named `name`: its id and its group's name.
    pub fn role(&self, name: &str) -> Option<(String, String)> {
        let state = self.state();
        let role = state.roles.values().find(|r| r.name == name)?;
        let group = state.role_groups.get(&role.group_id)?.name.clone();
        Some((role.id.to_string(), group))
    }

    /// Every issued token stops working at once (as when the app secret is reset).
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

    /// A signed, encrypted callback for `event`, as DingTalk would send it (to deliver, or to tamper with).
    pub fn signed_callback(&self, event: &Value) -> SignedCallback {
        callbacks::sign(&self.options, event)
    }

    /// Sends a callback to `url` and checks the answer is DingTalk's encrypted "success": (HTTP status,
    /// whether the answer was a valid encrypted success).
    pub async fn deliver(&self, url: &str, callback: &SignedCallback) -> Result<(u16, bool)> {
        callbacks::deliver(&self.options, url, callback).await
    }

    /// Callbacks the simulator pushed by itself (approval changes): the event and whether Qiao answered
    /// with a valid encrypted success.
    pub fn pushed(&self) -> Vec<(Value, bool)> {
        self.state().pushed.clone()
    }

    /// Stream mode's counters: opens, connects, frames sent, acks, frames still unacked.
    pub fn stream_stats(&self) -> StreamStats {
        self.state().gateway.stats.clone()
    }

    /// Whether a Stream client is connected and gets new frames.
    pub fn stream_connected(&self) -> bool {
        self.state().gateway.connected()
    }

    /// The next `times` `connections/open` calls fail with DingTalk's 503 `SystemBusy` (a passing failure).
    pub fn refuse_stream_opens(&self, times: u32) {
        self.inject(STREAM_OPEN_PATH, Fault::Busy, times);
    }

    /// The next `times` WebSocket handshakes are refused with HTTP 401, as for a stale ticket.
    pub fn refuse_stream_handshakes(&self, times: u32) {
        self.inject(STREAM_HANDSHAKE, Fault::Status(401), times);
    }

    /// Cuts the live Stream connection without a close frame; false when none was connected.
    pub fn drop_stream(&self) -> bool {
        self.state().gateway.drop_connection()
    }

    /// Sends SYSTEM `disconnect` on the live Stream connection (and closes it after a grace period).
    pub fn disconnect_stream(&self) -> bool {
        self.state().gateway.disconnect()
    }

    /// The gateway goes away for `duration`: the live connection is cut, open and connect fail meanwhile.
    pub fn stream_away(&self, duration: Duration) {
        self.state().gateway.go_away(duration);
    }

    /// Sends SYSTEM `ping` on the live Stream connection; its messageId.
    pub fn ping_stream(&self) -> Option<String> {
        self.state().gateway.ping()
    }

    /// From now on acks are lost (`true`) or settle their frames again (`false`).
    pub fn lose_stream_acks(&self, lose: bool) {
        self.state().gateway.lose_acks = lose;
    }

    /// Sends a text frame of the test's own making on the live Stream connection (not tracked for acks).
    pub fn send_stream_text(&self, text: &str) -> bool {
        self.state().gateway.send_raw(Some(text.to_string()), None)
    }

    /// Sends a binary frame on the live Stream connection (DingTalk never does).
    pub fn send_stream_binary(&self, bytes: &[u8]) -> bool {
        self.state().gateway.send_raw(None, Some(bytes.to_vec()))
    }

    /// Raises DingTalk events (HTTP-push shaped, e.g. from `State::contact_event`): pushed to the callback URL,
    /// or over the stream.
    pub fn raise(&self, events: Vec<Value>) {
        let options = self.state().options.clone();
        callbacks::push_all(&self.state, &options, events);
    }

    /// Every text frame Stream clients sent (acks, ping replies), parsed, in order.
    pub fn stream_replies(&self) -> Vec<Value> {
        self.state().gateway.replies.clone()
    }

    /// Acts on the instance's running task as its approver would in the DingTalk app, pushing the callbacks.
    pub fn advance(&self, instance_id: &str, agree: bool) -> Result<(), String> {
        let events = self.state().advance(instance_id, agree)?;
        let options = self.state().options.clone();
        callbacks::push_all(&self.state, &options, events);
        Ok(())
    }
}
