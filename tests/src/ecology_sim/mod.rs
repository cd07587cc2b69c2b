//! A Weaver e-cology 9 simulator: a small stateful server speaking what a Qiao connector uses, as
//! `/work/shared/platforms/ECOLOGY.md` describes it (section numbers below are that file's):
//!
//! * §1 token auth: `regist` hands out `secrit` + `spk` (a real 2048-bit RSA key made here), `applytoken` decrypts
//!   the `secret` header (PKCS#1 v1.5) and checks it, business calls carry `appid`, `token` and an RSA-encrypted
//!   `userid` that is decrypted and looked up;
//! * §2 HR: the `*WithPage` reads (`params` JSON, `curpage`/`pagesize`, `modified >=`) and the `syn*` upserts,
//!   accepting §1 headers or the HR `key`/`ts` MD5 token (§2.1);
//! * §3 workflow: `/api/workflow/paService/*` over one two-step workflow (department manager, then the general
//!   manager), with the `{code, data, errMsg}` envelope and per-user to-do lists;
//! * §4.1 OFS unified to-do inbound (`/rest/ofs/*ByJson`, `receivets` ordering), no token;
//! * §6 SSO: `/ssologin/getToken` and the pages that take `ssoToken`.
//!
//! Shapes ECOLOGY.md does not pin are marked "guessed" where they are made. Run it on its own with
//! `cargo run -p qiao-tests --bin ecology-sim -- --help`.

mod api;
mod hr;
pub mod keys;
mod ofs;
mod state;
#[cfg(test)]
mod tests;
mod workflow;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Result;

use crate::sim_support::{Served, serve};

pub use keys::{ServerKey, encrypt_pkcs1, hrm_key};
pub use state::{
    Call, Department, Fault, Jobtitle, LogEntry, OfsItem, Person, Request, SsoLogin, State,
    Subcompany, Token, WorkflowDef,
};

/// The REST app licence (ECOLOGY_BIZ_EC.APPID) seeded for the connector.
pub const APPID: &str = "qiao-ecology-app";
/// The SSO app (`WeaverLoginClient.properties`) seeded for `/ssologin/getToken`.
pub const SSO_APPID: &str = "qiao-sso";
/// The HR webservice key (`hrm_webservice_config.jsp`) the `key`/`ts` token is made from.
pub const HRM_KEY: &str = "5936562a-d47c-4a29-9b74-b310e6c971b7";
/// The heterogeneous system registered in the unified to-do centre.
pub const SYSCODE: &str = "qiao";

/// Seeded HrmResource ids.
pub const BOT: i64 = 1;
pub const WANG_FANG: i64 = 2;
pub const LI_NA: i64 = 3;
pub const ZHANG_WEI: i64 = 4;
pub const CHEN_JING: i64 = 5;
pub const ZHANG_WEI_SUB: i64 = 6;
/// Seeded subcompanies and departments.
pub const SUB_HQ: i64 = 1;
pub const SUB_SH: i64 = 2;
pub const DEPT_EXEC: i64 = 11;
pub const DEPT_ENG: i64 = 12;
pub const DEPT_SALES: i64 = 13;
pub const DEPT_OLD: i64 = 14;
/// The seeded two-step workflow (expense claim) and its form's tables.
pub const WORKFLOW_EXPENSE: i64 = 44;
pub const EXPENSE_DETAIL_TABLE: &str = "formtable_main_44_dt1";

#[derive(Clone, Debug)]
pub struct Options {
    /// App licences accepted by regist / applytoken.
    pub appids: Vec<String>,
    /// Token lifetime when applytoken sends no `time` (e-cology's default: 1800 s).
    pub token_ttl: Duration,
    /// Upper bound on a requested `time` (guessed: e-cology's limit is not documented).
    pub max_token_ttl: Duration,
    /// RSA modulus size of the server key (ECOLOGY.md §1.5: 2048).
    pub key_bits: usize,
    pub hrm_key: String,
    /// How long an HR `key`/`ts` token is good for (§2.1: 5 minutes), either side of the server clock.
    pub hrm_token_window: Duration,
    /// Whether HR endpoints also take §1 token headers (§2.1: many installs do).
    pub hrm_accepts_rest_token: bool,
    /// Registered OFS systems (`syscode`).
    pub syscodes: Vec<String>,
    /// How OFS `creator`/`receiver`/`userid` strings map to people (人员转换规则): "loginid", "workcode" or "id".
    pub ofs_user_rule: String,
    /// SSO apps accepted by `/ssologin/getToken`.
    pub sso_appids: Vec<String>,
    /// How long an ssoToken may wait before it is used (guessed).
    pub sso_ttl: Duration,
    /// Server-local time zone of every `yyyy-MM-dd HH:mm:ss` text, minutes east of UTC (China: 480).
    pub utc_offset_minutes: i64,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            appids: vec![APPID.into()],
            token_ttl: Duration::from_secs(1800),
            max_token_ttl: Duration::from_secs(7 * 24 * 3600),
            key_bits: 2048,
            hrm_key: HRM_KEY.into(),
            hrm_token_window: Duration::from_secs(300),
            hrm_accepts_rest_token: true,
            syscodes: vec![SYSCODE.into()],
            ofs_user_rule: "loginid".into(),
            sso_appids: vec![SSO_APPID.into()],
            sso_ttl: Duration::from_secs(60),
            utc_offset_minutes: 480,
        }
    }
}

pub struct EcologySim {
    /// `http://127.0.0.1:PORT`: what a connection's OA address is.
    pub base: String,
    pub addr: SocketAddr,
    pub options: Options,
    state: Arc<Mutex<State>>,
    _server: Served,
}

impl EcologySim {
    pub async fn start(options: Options) -> Result<EcologySim> {
        EcologySim::start_on("127.0.0.1:0".parse()?, options).await
    }

    pub async fn start_on(listen: SocketAddr, options: Options) -> Result<EcologySim> {
        let bits = options.key_bits;
        let key = tokio::task::spawn_blocking(move || ServerKey::generate(bits)).await??;
        let state = Arc::new(Mutex::new(State::new(options.clone(), key)));
        let server = serve(listen, api::router(state.clone())).await?;
        let addr = server.addr;
        Ok(EcologySim {
            base: format!("http://{addr}"),
            addr,
            options,
            state,
            _server: server,
        })
    }

    /// Direct access to people, requests, to-dos and tokens, to arrange a test or check its effect.
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// Every request received, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// Requests received whose path contains `path`.
    pub fn count(&self, path: &str) -> usize {
        self.state()
            .calls
            .iter()
            .filter(|c| c.path.contains(path))
            .count()
    }

    /// The next `times` requests whose path contains `path` fail with `fault`.
    pub fn inject(&self, path: &str, fault: Fault, times: u32) {
        self.state().faults.add(path, fault, times);
    }

    /// The server public key as regist hands it out (Base64 DER SubjectPublicKeyInfo).
    pub fn spk(&self) -> String {
        self.state().key.spk.clone()
    }

    /// Every issued token expires now: the next business call answers "token不存在或者超时".
    pub fn expire_tokens(&self) {
        self.state().expire_tokens();
    }

    /// The OA admin clears the app's registration (as after reinstalling the licence): applytoken with the old
    /// secrit fails until the client registers again. With `new_key`, the server key pair changes as well, so
    /// anything encrypted with the old spk no longer decrypts.
    pub async fn reset_registration(&self, appid: &str, new_key: bool) -> Result<()> {
        let key = if new_key {
            let bits = self.options.key_bits;
            Some(tokio::task::spawn_blocking(move || ServerKey::generate(bits)).await??)
        } else {
            None
        };
        self.state().reset_registration(appid, key);
        Ok(())
    }

    /// The three headers of a business call as `user`, with a fresh registration and token made directly in the
    /// state (for tests that call the simulator without going through regist / applytoken).
    pub fn business_headers(&self, user: i64) -> Vec<(String, String)> {
        let mut state = self.state();
        state.register(APPID);
        let token = state.issue_token(APPID, None);
        let userid = encrypt_pkcs1(&state.key.spk, &user.to_string()).expect("spk encrypts");
        vec![
            ("appid".into(), APPID.into()),
            ("token".into(), token),
            ("userid".into(), userid),
        ]
    }

    /// `user` approves (`approve`) or rejects the request in the OA's own pages, as a person would: the same
    /// rules as `submitRequest` / `rejectRequest` (Err with the envelope's code and message when refused).
    pub fn act(&self, request_id: i64, user: i64, approve: bool) -> Result<(), String> {
        let mut state = self.state();
        let params = api::Params(
            [(
                "requestId".to_string(),
                serde_json::json!(request_id.to_string()),
            )]
            .into(),
        );
        let name = if approve {
            "submitRequest"
        } else {
            "rejectRequest"
        };
        match workflow::handle(&mut state, &axum::http::Method::POST, name, user, &params) {
            workflow::Answer::Json(body) if body["code"] == "SUCCESS" => Ok(()),
            workflow::Answer::Json(body) => Err(format!("{}: {}", body["code"], body["errMsg"])),
            workflow::Answer::Text(text) => Err(text),
        }
    }

    /// The OA URL a connector builds for a person signed in with `sso_token`.
    pub fn sso_url(&self, sso_token: &str) -> String {
        format!("{}/wui/index.html?ssoToken={sso_token}#/main", self.base)
    }
}
