//! A Kingdee K3Cloud (金蝶云星空) WebAPI simulator: a small stateful server speaking the WebAPI's wire format
//! (`POST {base}/{ServiceName}.common.kdsvc` under `/k3cloud/`, JSON in and out, HTTP 200 even on failure, the
//! outcome in `Result.ResponseStatus`) for what a Kingdee connector uses: login sessions (ValidateUser,
//! LoginByAppSecret, cookie `kdservice-sessionid`) and the SDK's signed headers, and the DynamicFormService
//! operations (Save, Submit, Audit, UnAudit, Delete, View, ExecuteBillQuery, WorkflowAudit, ExcuteOperation) over
//! two bills and three base-data forms.
//!
//! Kingdee has no webhooks: connectors poll `ExecuteBillQuery` on `FModifyDate`, so every change here bumps it,
//! strictly increasing. Approvals by people in the Kingdee client are played with [`KingdeeSim::advance`].
//!
//! Shapes and codes not pinned by the official SDK or the platform reference are marked "guess" where they are
//! made; a connector should key on `IsSuccess` and `MsgCode` 1 (session lost) and treat the rest as opaque.
//!
//! Run it on its own with `cargo run -p qiao-tests --bin kingdee-sim -- --help`.

mod api;
pub mod sign;
mod state;
#[cfg(test)]
mod tests;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;

use crate::sim_support::{Served, serve};

pub use state::{Decision, Fault, Form, Session, State};

/// The simulated account set (数据中心) and the third-party app authorised on it.
#[derive(Clone, Debug)]
pub struct Options {
    /// The account set id (`acctID`, the SDK's `acct_id` / DCID).
    pub acct_id: String,
    /// The integration user the signed headers name by default (any seeded SEC_User account may sign in).
    pub user_name: String,
    /// `<clientId>_<32 base64 chars>`: the 32 characters decode (DecodeAppSecret) to the key of X-Api-Signature.
    /// Default "300123_UWlhb0tpbmdkZWVTaW11bGF0b3JBcHAh" = "300123_" + base64(b"QiaoKingdeeSimulatorApp!").
    pub app_id: String,
    /// Keys X-Kd-Signature; also what LoginByAppSecret checks.
    pub app_secret: String,
    /// The one password every user has for ValidateUser.
    pub password: String,
    pub lcid: i64,
    /// Idle sessions end after this (Kingdee's default is about 20 minutes).
    pub session_ttl: Duration,
    /// The organisation number the SDK puts in X-Kd-Appdata by default (not checked: the SDK sends 0 unless told).
    pub org_num: String,
    /// Server-local time zone of FModifyDate / FCreateDate text, in minutes east of UTC (China: 480).
    pub utc_offset_minutes: i64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            acct_id: "sim-acct-001".into(),
            user_name: "administrator".into(),
            app_id: "300123_UWlhb0tpbmdkZWVTaW11bGF0b3JBcHAh".into(),
            app_secret: "sim-kingdee-app-secret".into(),
            password: "sim-password".into(),
            lcid: 2052,
            session_ttl: Duration::from_secs(20 * 60),
            org_num: "100".into(),
            utc_offset_minutes: 480,
        }
    }
}

pub struct KingdeeSim {
    /// `http://127.0.0.1:PORT`
    pub base: String,
    /// What a connection's server URL is: `http://127.0.0.1:PORT/k3cloud/`.
    pub api_base: String,
    pub addr: SocketAddr,
    pub options: Options,
    state: Arc<Mutex<State>>,
    _server: Served,
}

impl KingdeeSim {
    pub async fn start(options: Options) -> Result<KingdeeSim> {
        KingdeeSim::start_on("127.0.0.1:0".parse()?, options).await
    }

    pub async fn start_on(listen: SocketAddr, options: Options) -> Result<KingdeeSim> {
        let state = Arc::new(Mutex::new(State::new(options.clone())));
        let server = serve(listen, api::router(state.clone())).await?;
        let addr = server.addr;
        Ok(KingdeeSim {
            base: format!("http://{addr}"),
            api_base: format!("http://{addr}/k3cloud/"),
            addr,
            options,
            state,
            _server: server,
        })
    }

    /// Direct access to forms, rows and sessions, to arrange a test or check its effect.
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// The next `times` requests whose service name contains `service` fail with `fault`.
    pub fn inject(&self, service: &str, fault: Fault, times: u32) {
        self.state().faults.add(service, fault, times);
    }

    /// Requests received whose service name contains `service`.
    pub fn count(&self, service: &str) -> usize {
        self.state()
            .requests
            .iter()
            .filter(|s| s.contains(service))
            .count()
    }

    /// Every session ends at once (as when the server's app pool recycles): MsgCode 1 from now on.
    pub fn expire_sessions(&self) {
        self.state().expire_sessions();
    }

    /// A person in the Kingdee client audits (`approve`, B → C) or rejects/unaudits (B → D) a submitted bill.
    pub fn advance(&self, form_id: &str, fid: i64, approve: bool) -> Result<(), String> {
        self.state().advance(form_id, fid, approve)
    }

    /// The headers the official SDK's BuildHeader would send for `service` now, signed as `user` with the
    /// simulator's app (for tests that call the simulator directly).
    pub fn signed_headers(&self, service: &str, user: &str) -> Vec<(String, String)> {
        let o = &self.options;
        let id = sign::Identity {
            app_id: o.app_id.clone(),
            app_secret: o.app_secret.clone(),
            acct_id: o.acct_id.clone(),
            user_name: user.into(),
            lcid: o.lcid,
            org_num: o.org_num.clone(),
        };
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let url = format!("{}{service}.common.kdsvc", self.api_base);
        sign::build_headers(&id, &url, now)
    }
}
