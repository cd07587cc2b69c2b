//! A WeCom (企业微信) simulator: a small stateful server speaking WeCom's wire format (`/cgi-bin/...`, JSON in,
//! `{"errcode":…,"errmsg":…}` out, errors as HTTP 200) for the endpoints a WeCom connector uses: token, contacts
//! (with members' `enable` and custom fields), tags, SSO, application messages, app group chats (`appchat/*`),
//! to-dos (`todo/get`, `todo/update`) and the approval app. It issues tokens that expire, enforces a QPS limit with
//! WeCom's codes, injects faults on request, and pushes signed, encrypted XML callbacks when approvals move.
//!
//! Simplifications: a member made with `user/create` is active at once (`status` 1; WeCom's is 4, invited and not
//! yet joined, until the person joins; set it in [`State::users`] to test that), every tag may be changed by the
//! app (WeCom lets only the tag's creator, or the contacts-sync secret, change a locked tag), and `user/get` and
//! `user/list` always answer mobile and email (WeCom withholds them from apps created since mid-2022 that do not
//! use the contacts-sync secret).
//!
//! WeCom has no API to approve or reject: only people in the WeCom app do, so tests play the approver with
//! [`WeComSim::advance`].
//!
//! Run it on its own with `cargo run -p qiao-tests --bin wecom-sim -- --help`.

mod api;
mod appchat;
mod callbacks;
mod state;
#[cfg(test)]
mod tests;
mod todo;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

use crate::sim_support::{Served, serve};

pub use callbacks::SignedCallback;
pub use state::{
    Approval, Chat, Control, Dept, Detail, Fault, Message, Node, State, Tag, Template, Todo, User,
};

/// The simulated self-built app's credentials and its callback ("API 接收") settings.
#[derive(Clone, Debug)]
pub struct Options {
    pub corp_id: String,
    /// The app's Secret: WeCom has one per app, and tokens are per (corpid, secret).
    pub corp_secret: String,
    pub agent_id: i64,
    /// Lifetime of issued tokens (WeCom: 7200 s).
    pub token_ttl: Duration,
    /// Requests per second per API path before WeCom's 45009.
    pub qps: u32,
    pub callback_token: String,
    /// The 43-character EncodingAESKey.
    pub callback_aes_key: String,
    /// Where events are pushed, if anywhere.
    pub callback_url: Option<String>,
    /// `auth/getuserinfo` answers the old API's `UserId`/`DeviceId` keys instead of `userid`, as some tenants
    /// still see; connectors must read both.
    pub legacy_userinfo_keys: bool,
    /// The custom member fields (自定义字段, text) defined in the admin console: `extattr` values for other names
    /// are ignored, as WeCom does.
    pub custom_fields: Vec<String>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            corp_id: "wwsimcorp0123456789".into(),
            corp_secret: "sim-corp-secret".into(),
            agent_id: 1_000_002,
            token_ttl: Duration::from_secs(7200),
            qps: 40,
            callback_token: "sim-wecom-token".into(),
            callback_aes_key: "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C".into(),
            callback_url: None,
            legacy_userinfo_keys: false,
            custom_fields: vec!["工号".into()],
        }
    }
}

pub struct WeComSim {
    pub base: String,
    pub addr: SocketAddr,
    pub options: Options,
    state: Arc<Mutex<State>>,
    _server: Served,
    pusher: tokio::task::JoinHandle<()>,
}

impl WeComSim {
    /// A `[connections.NAME]` block of the wecom connector pointed at this simulator with its credentials;
    /// `extra` lines (limits, outbox, directory...) are added to it.
    pub fn connection(&self, name: &str, extra: &str) -> String {
        let o = &self.options;
        format!(
            "\n[connections.{name}]\nconnector = \"wecom\"\n\
             settings = {{ corp_id = \"{}\", agent_id = \"{}\", api_base = \"{}\" }}\n\
             secrets = {{ corp_secret = \"{}\", callback_token = \"{}\", callback_aes_key = \"{}\" }}\n{extra}\n",
            o.corp_id, o.agent_id, self.base, o.corp_secret, o.callback_token, o.callback_aes_key
        )
    }

    pub async fn start(options: Options) -> Result<WeComSim> {
        WeComSim::start_on("127.0.0.1:0".parse()?, options).await
    }

    pub async fn start_on(listen: SocketAddr, options: Options) -> Result<WeComSim> {
        let (outbox, queue) = tokio::sync::mpsc::unbounded_channel();
        let mut initial = State::new(options.clone());
        initial.outbox = Some(outbox);
        let state = Arc::new(Mutex::new(initial));
        let server = serve(listen, api::router(state.clone())).await?;
        let addr = server.addr;
        let pusher = tokio::spawn(callbacks::pusher(state.clone(), queue));
        Ok(WeComSim {
            base: format!("http://{addr}"),
            addr,
            options,
            state,
            _server: server,
            pusher,
        })
    }

    /// Direct access to the corporation, messages and approvals, to arrange a test or check its effect.
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// A tag's members named one by one (`tag/get`'s `userlist`), in the order added; None when there is no
    /// such tag.
    pub fn tag_members(&self, tagid: &str) -> Option<Vec<String>> {
        let id: i64 = tagid.trim().parse().ok()?;
        self.state().tags.get(&id).map(|t| t.users.clone())
    }

    /// The id of the tag named `name`, if any.
    pub fn tag_id(&self, name: &str) -> Option<i64> {
        self.state()
            .tags
            .values()
            .find(|t| t.name == name)
            .map(|t| t.id)
    }

    /// A copy of the app group chat, to check its members.
    pub fn chat(&self, chatid: &str) -> Option<Chat> {
        self.state().chats.get(chatid).cloned()
    }

    /// A copy of the to-do, to check its status and attendees.
    pub fn todo(&self, todo_id: &str) -> Option<Todo> {
        self.state().todos.get(todo_id).cloned()
    }

    /// Whether the member is enabled (`enable` 1, `status` not 2); None when there is no such member.
    pub fn user_enabled(&self, userid: &str) -> Option<bool> {
        self.state().users.get(userid).map(|u| u.enable() == 1)
    }

    /// A copy of the member, to check its fields.
    pub fn user(&self, userid: &str) -> Option<User> {
        self.state().users.get(userid).cloned()
    }

    /// Where events are pushed from now on (Qiao's address is known only after it starts).
    pub fn set_callback_url(&self, url: &str) {
        self.state().options.callback_url = Some(url.to_string());
    }

    /// The next `times` requests whose path contains `path` fail with `fault`.
    pub fn inject(&self, path: &str, fault: Fault, times: u32) {
        self.state().faults.add(path, fault, times);
    }

    /// Every issued token stops working at once (as when the app secret is reset): 40014 from now on.
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

    /// A signed, encrypted push of `inner_xml` (an event such as [`State::contact_xml`] builds), as WeCom would
    /// send it (to deliver, or to tamper with).
    pub fn signed_callback(&self, inner_xml: &str) -> SignedCallback {
        callbacks::sign(&self.options, inner_xml)
    }

    /// Posts a callback to `url`: (HTTP status, body text).
    pub async fn deliver(&self, url: &str, callback: &SignedCallback) -> Result<(u16, String)> {
        callbacks::deliver(url, callback).await
    }

    /// Runs WeCom's URL check against `url`: (HTTP status, body, the plaintext echo the body must equal).
    pub async fn verify_url(&self, url: &str) -> Result<(u16, String, String)> {
        callbacks::verify_url(&self.options, url).await
    }

    /// Events the simulator pushed by itself, in order: the inner XML and whether the receiver answered 200.
    pub fn pushed(&self) -> Vec<(String, bool)> {
        self.state().pushed.clone()
    }

    /// The application's current approver agrees (`approve`) or rejects it in the WeCom app; pushes
    /// `sys_approval_change`.
    pub fn advance(&self, sp_no: &str, approve: bool) -> Result<(), String> {
        self.state().advance(sp_no, approve)
    }
}

impl Drop for WeComSim {
    fn drop(&mut self) {
        self.pusher.abort();
    }
}
