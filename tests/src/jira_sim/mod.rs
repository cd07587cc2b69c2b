//! A Jira Cloud simulator: a stateful server speaking REST API v3 as Jira Cloud does (everything under
//! `/rest/api/3/`, Basic `email:api_token` or OAuth 2.0 `Bearer` auth, errors as
//! `{"errorMessages":[…],"errors":{field: message}}`) for what a tasks connector needs: issues (ADF descriptions
//! and comments, a workflow with transitions, assignee, labels, due dates, priorities, watchers, changelogs),
//! JQL search on `/search/jql` with `nextPageToken` paging (the old `/search` answers 410 Gone), and user lookup.
//!
//! It enforces Jira's three rate limits with their real headers (burst per endpoint, writes per issue, and the
//! hourly points quota of OAuth apps), injects faults on request, logs every call, and sends signed admin-webhook
//! deliveries (`X-Hub-Signature`, retried on failure with a stable `X-Atlassian-Webhook-Identifier`) that
//! tests can inspect, re-send as duplicates, or forge.
//!
//! Times are rendered, and JQL dates read, in the users' time zone (`Options::utc_offset_minutes`, UTC+8 by
//! default), as Jira does: a connector that ignores the offset is caught.
//!
//! Run it on its own with `cargo run -p qiao-tests --bin jira-sim -- --help`.

mod api;
mod jql;
mod state;
#[cfg(test)]
mod tests;
mod webhooks;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow};
use base64::Engine;
use serde_json::{Map, Value, json};

use crate::sim_support::{Served, serve};

pub use api::Refusal;
pub use jql::time_value as jql_time;
pub use state::{
    ALICE, Attempt, BOB, BOT, CAROL, Call, Category, ChangeGroup, ChangeItem, Comment, DAVE,
    Delivery, DeliveryKind, Fault, Issue, Outcome, Project, RateLimitHit, State, StatusDef,
    TransitionDef, User, Workflow, adf, adf_text, format_time,
};
pub use webhooks::signature;

/// An OAuth 2.0 (3LO) access token the site accepts: whom it acts as and its scopes (classic scopes such as
/// `read:jira-work`, `write:jira-work`, `read:jira-user`).
#[derive(Clone, Debug)]
pub struct OAuthToken {
    pub token: String,
    pub account_id: String,
    pub scopes: Vec<String>,
}

/// Burst limits: requests per second per endpoint and method (Jira's defaults: GET 100, POST 100, PUT 50,
/// DELETE 50).
#[derive(Clone, Debug)]
pub struct Burst {
    pub get: u32,
    pub post: u32,
    pub put: u32,
    pub delete: u32,
}

impl Burst {
    pub fn for_method(&self, method: &str) -> u32 {
        match method {
            "GET" => self.get,
            "POST" => self.post,
            "PUT" => self.put,
            _ => self.delete,
        }
    }
}

/// The points quota of OAuth apps: `points` per `window` (Jira: 65,000 per UTC hour in the global pool),
/// reset at each multiple of `window` since the epoch.
#[derive(Clone, Debug)]
pub struct Quota {
    pub points: u64,
    pub window: Duration,
    /// `RateLimit-Reason` when it runs out: "jira-quota-global-based" or "jira-quota-tenant-based".
    pub reason: String,
}

#[derive(Clone, Debug)]
pub struct Options {
    /// Basic auth credentials: (email, API token). The email must be a site user's; the call acts as that user.
    pub api_tokens: Vec<(String, String)>,
    pub oauth_tokens: Vec<OAuthToken>,
    /// The admin webhook's secret; empty sends deliveries without `X-Hub-Signature`.
    pub webhook_secret: String,
    /// Where webhook deliveries go, if anywhere.
    pub callback_url: Option<String>,
    /// `webhookEvent`s the webhook listens to.
    pub webhook_events: Vec<String>,
    /// Retries after a failed attempt (Jira Cloud: 5).
    pub webhook_retries: u32,
    /// Wait before retry n is n × this (Jira waits 5–15 minutes; keep it short in tests).
    pub webhook_backoff: Duration,
    /// How long an attempt waits for the receiver before counting as failed.
    pub webhook_timeout: Duration,
    /// Send `description` in webhook payloads as plain text rather than ADF (whether Cloud sends ADF there is
    /// not documented; connectors should handle both).
    pub webhook_plain_text: bool,
    /// Per-issue write limits: (writes, window) pairs (Jira: 20 per 2 s and 100 per 30 s).
    pub per_issue_writes: Vec<(u32, Duration)>,
    pub burst: Burst,
    /// The OAuth points quota; none for unlimited. Basic-auth (API token) traffic is never charged.
    pub quota: Option<Quota>,
    /// The users' UTC offset: rendered times carry it and JQL dates are read in it.
    pub utc_offset_minutes: i32,
    /// `maxResults` cap of a search that asks for fields (Jira: 100) …
    pub max_results: usize,
    /// … and of one that asks for ids only (Jira: 5000).
    pub max_results_ids: usize,
}

pub const API_TOKEN: &str = "sim-jira-api-token";
pub const ALICE_API_TOKEN: &str = "sim-alice-api-token";
pub const OAUTH_TOKEN: &str = "sim-jira-oauth-token";

impl Default for Options {
    fn default() -> Options {
        Options {
            api_tokens: vec![
                ("qiao-bot@example.com".into(), API_TOKEN.into()),
                ("alice@example.com".into(), ALICE_API_TOKEN.into()),
            ],
            oauth_tokens: vec![OAuthToken {
                token: OAUTH_TOKEN.into(),
                account_id: BOT.into(),
                scopes: [
                    "read:jira-work",
                    "write:jira-work",
                    "read:jira-user",
                    "manage:jira-webhook",
                    "offline_access",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect(),
            }],
            webhook_secret: "sim-jira-webhook-secret".into(),
            callback_url: None,
            webhook_events: [
                "jira:issue_created",
                "jira:issue_updated",
                "jira:issue_deleted",
                "comment_created",
            ]
            .iter()
            .map(|s| s.to_string())
            .collect(),
            webhook_retries: 5,
            webhook_backoff: Duration::from_millis(50),
            webhook_timeout: Duration::from_secs(5),
            webhook_plain_text: false,
            per_issue_writes: vec![(20, Duration::from_secs(2)), (100, Duration::from_secs(30))],
            burst: Burst {
                get: 100,
                post: 100,
                put: 50,
                delete: 50,
            },
            quota: None,
            utc_offset_minutes: 480,
            max_results: 100,
            max_results_ids: 5000,
        }
    }
}

pub struct JiraSim {
    /// `http://127.0.0.1:PORT`: the site URL (`https://<site>.atlassian.net` in production).
    pub base: String,
    pub addr: SocketAddr,
    pub options: Options,
    state: Arc<Mutex<State>>,
    _server: Served,
    deliverer: tokio::task::JoinHandle<()>,
}

impl JiraSim {
    pub async fn start(options: Options) -> Result<JiraSim> {
        JiraSim::start_on("127.0.0.1:0".parse()?, options).await
    }

    pub async fn start_on(listen: SocketAddr, options: Options) -> Result<JiraSim> {
        let (outbox, queue) = tokio::sync::mpsc::unbounded_channel();
        let mut initial = State::new(options.clone(), String::new());
        initial.outbox = Some(outbox);
        let state = Arc::new(Mutex::new(initial));
        let server = serve(listen, api::router(state.clone())).await?;
        let addr = server.addr;
        let base = format!("http://{addr}");
        state.lock().unwrap().base = base.clone();
        let deliverer = tokio::spawn(webhooks::deliverer(state.clone(), queue));
        Ok(JiraSim {
            base,
            addr,
            options,
            state,
            _server: server,
            deliverer,
        })
    }

    /// Direct access to the site (users, issues, workflow, counters), to arrange a test or check its effect.
    pub fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap()
    }

    /// `Authorization` for the bot's API token (Basic `qiao-bot@example.com:sim-jira-api-token`).
    pub fn basic_auth(&self) -> String {
        let (email, token) = &self.options.api_tokens[0];
        basic(email, token)
    }

    /// Where webhook deliveries go from now on (Qiao's address is known only after it starts).
    pub fn set_callback_url(&self, url: &str) {
        self.state().options.callback_url = Some(url.to_string());
    }

    /// The next `times` requests whose path contains `path` fail with `fault`.
    pub fn inject(&self, path: &str, fault: Fault, times: u32) {
        self.state().faults.add(path, fault, times);
    }

    /// From now on a share `rate` of requests whose path contains `path` fail with one of `faults`.
    pub fn chaos(&self, path: &str, rate: f64, faults: Vec<Fault>) {
        self.state().faults.chaos(path, rate, faults);
    }

    /// Every request answered so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.state().calls.clone()
    }

    /// Requests answered on paths containing `path`.
    pub fn count(&self, path: &str) -> usize {
        self.state()
            .calls
            .iter()
            .filter(|c| c.path.contains(path))
            .count()
    }

    /// Requests refused by a rate limit (not by an injected fault), in order.
    pub fn rate_limit_hits(&self) -> Vec<RateLimitHit> {
        self.state().limits.hits.clone()
    }

    /// OAuth points charged in the current quota window.
    pub fn points_used(&self) -> u64 {
        self.state().limits.points_used
    }

    /// Writes admitted to this issue within the longest per-issue window.
    pub fn issue_writes(&self, key: &str) -> usize {
        let state = self.state();
        let longest = state
            .options
            .per_issue_writes
            .iter()
            .map(|(_, w)| *w)
            .max()
            .unwrap_or_default();
        state
            .issue_id(key)
            .and_then(|id| state.limits.issue_writes.get(&id))
            .map_or(0, |times| {
                times.iter().filter(|t| t.elapsed() < longest).count()
            })
    }

    pub fn issue(&self, key: &str) -> Option<Issue> {
        self.state().issue(key).cloned()
    }

    /// Every webhook delivery so far (events, duplicates and forgeries), in the order they were made.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.state().deliveries.clone()
    }

    /// Waits until at least `n` deliveries of kind `Event` are settled (delivered or given up), then returns
    /// all deliveries; an error after `timeout`.
    pub async fn wait_for_deliveries(&self, n: usize, timeout: Duration) -> Result<Vec<Delivery>> {
        let start = Instant::now();
        loop {
            let all = self.deliveries();
            let settled = all
                .iter()
                .filter(|d| d.kind == DeliveryKind::Event && d.outcome != Outcome::Pending)
                .count();
            if settled >= n {
                return Ok(all);
            }
            if start.elapsed() > timeout {
                return Err(anyhow!(
                    "{settled} of {n} webhook deliveries settled after {timeout:?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// `sha256=<hex>` of `body` with the webhook secret, as `X-Hub-Signature` carries it.
    pub fn signature(&self, body: &str) -> String {
        signature(&self.state().options.webhook_secret, body)
    }

    /// Sends the delivery with this identifier again, unchanged (same body, signature and identifier), as an
    /// at-least-once duplicate; answers the receiver's status.
    pub async fn redeliver(&self, identifier: &str) -> Result<u16> {
        let original = self
            .deliveries()
            .into_iter()
            .find(|d| d.identifier == identifier)
            .with_context(|| format!("no delivery {identifier}"))?;
        let timeout = self.state().options.webhook_timeout;
        let attempt = webhooks::send(
            &webhooks::client(timeout),
            &original.url,
            &original.headers,
            &original.body,
            0,
        )
        .await;
        let status = attempt.status;
        self.record(Delivery {
            kind: DeliveryKind::Duplicate,
            attempts: vec![attempt],
            outcome: outcome(status),
            ..original
        });
        status.ok_or_else(|| anyhow!("the receiver did not answer"))
    }

    /// Sends `payload` to the callback URL as a forgery: signed with `wrong_secret`, or with no signature at
    /// all when `None`; answers the receiver's status.
    pub async fn send_forged(&self, payload: &Value, wrong_secret: Option<&str>) -> Result<u16> {
        let (url, timeout) = {
            let state = self.state();
            (
                state.options.callback_url.clone(),
                state.options.webhook_timeout,
            )
        };
        let url = url.context("no callback URL set")?;
        let body = payload.to_string();
        let identifier = format!("{:x}", rand::random::<u64>());
        let headers = webhooks::headers(wrong_secret.unwrap_or(""), &identifier, &body);
        let attempt = webhooks::send(&webhooks::client(timeout), &url, &headers, &body, 0).await;
        let status = attempt.status;
        self.record(Delivery {
            identifier,
            event: payload["webhookEvent"].as_str().unwrap_or("").to_string(),
            url,
            body,
            headers,
            kind: DeliveryKind::Forged,
            attempts: vec![attempt],
            outcome: outcome(status),
        });
        status.ok_or_else(|| anyhow!("the receiver did not answer"))
    }

    fn record(&self, delivery: Delivery) {
        self.state().deliveries.push(delivery);
    }

    // ---- a person working in Jira's UI: changes that send webhooks, without going through the API ----

    /// Creates an issue as `account` (fields as `POST /issue` takes them); answers its key.
    pub fn create_as(&self, account: &str, fields: Value) -> Result<String, String> {
        let mut state = self.state();
        known(&state, account)?;
        api::create_for(&mut state, account, &json!({ "fields": fields }))
            .map_err(|r| r.to_string())
    }

    /// Moves the issue to the status named `status` through the transition that leads there from its current
    /// status, as `account`.
    pub fn transition_as(&self, key: &str, status: &str, account: &str) -> Result<(), String> {
        let mut state = self.state();
        known(&state, account)?;
        let id = state.issue_id(key).ok_or("no such issue")?;
        let current = state.issues[&id].status.clone();
        let target = state
            .workflow
            .find_status(status)
            .ok_or("no such status")?
            .id
            .clone();
        let transition = state
            .workflow
            .available(&current)
            .into_iter()
            .find(|t| t.to == target)
            .map(|t| t.id.clone())
            .ok_or_else(|| format!("no transition to {status} from the issue's status"))?;
        api::transition_issue(&mut state, account, id, &transition, &Map::new())
            .map_err(|r| r.to_string())
    }

    /// Edits fields (as `PUT /issue` takes them) as `account`.
    pub fn edit_as(&self, key: &str, fields: Value, account: &str) -> Result<(), String> {
        let mut state = self.state();
        known(&state, account)?;
        let id = state.issue_id(key).ok_or("no such issue")?;
        let fields = fields
            .as_object()
            .cloned()
            .ok_or("fields must be an object")?;
        api::change(&mut state, account, id, &fields, &Value::Null, None).map_err(|r| r.to_string())
    }

    /// Comments `text` (one ADF paragraph) as `account`; answers the comment id.
    pub fn comment_as(&self, key: &str, text: &str, account: &str) -> Result<String, String> {
        let mut state = self.state();
        known(&state, account)?;
        let id = state.issue_id(key).ok_or("no such issue")?;
        api::add_comment(&mut state, account, id, &json!({ "body": adf(text) }))
            .map(|c| c.id)
            .map_err(|r| r.to_string())
    }

    /// Deletes the issue as `account`.
    pub fn delete_as(&self, key: &str, account: &str) -> Result<(), String> {
        let mut state = self.state();
        known(&state, account)?;
        let id = state.issue_id(key).ok_or("no such issue")?;
        api::delete_issue(&mut state, account, id);
        Ok(())
    }
}

fn known(state: &State, account: &str) -> Result<(), String> {
    if state.users.contains_key(account) {
        Ok(())
    } else {
        Err(format!("no account {account}"))
    }
}

fn outcome(status: Option<u16>) -> Outcome {
    if status.is_some_and(|s| (200..300).contains(&s)) {
        Outcome::Delivered
    } else {
        Outcome::Failed
    }
}

/// `Basic base64(email:token)`.
pub fn basic(email: &str, token: &str) -> String {
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{email}:{token}"));
    format!("Basic {encoded}")
}

impl Drop for JiraSim {
    fn drop(&mut self) {
        self.deliverer.abort();
    }
}
