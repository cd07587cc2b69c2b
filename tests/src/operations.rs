//! What the outbox tests share, whether Qiao runs in-process ([`crate::TestServer`]) or as a child process
//! ([`crate::child::QiaoChild`]): a Feishu connection with outbox settings, and reading operations back.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::feishu_sim::FeishuSim;

/// A running Qiao that answers GET requests: status and JSON body.
pub trait Api {
    fn get(&self, path: &str) -> impl Future<Output = (u16, Value)>;
}

impl Api for crate::TestServer {
    fn get(&self, path: &str) -> impl Future<Output = (u16, Value)> {
        crate::TestServer::get(self, path)
    }
}

impl Api for crate::child::QiaoChild {
    fn get(&self, path: &str) -> impl Future<Output = (u16, Value)> {
        crate::child::QiaoChild::get(self, path)
    }
}

/// Feishu connections on one simulator: `(name, call timeout in ms, outbox settings)`.
pub fn feishu_config(sim: &FeishuSim, connections: &[(&str, u64, &str)]) -> String {
    let o = &sim.options;
    connections
        .iter()
        .map(|(name, timeout_ms, outbox)| {
            format!(
                r#"
                [connections.{name}]
                connector = "feishu"
                settings = {{ app_id = "{}", api_base = "{}", user_id_type = "user_id" }}
                secrets = {{ app_secret = "{}", verification_token = "{}", encrypt_key = "{}" }}
                limits = {{ timeout_ms = {timeout_ms} }}
                outbox = {{ {outbox} }}
                "#,
                o.app_id, sim.base, o.app_secret, o.verification_token, o.encrypt_key
            )
        })
        .collect()
}

/// `GET /v1/operations/counts`.
pub async fn counts(api: &impl Api) -> Value {
    let (status, counts) = api.get("/v1/operations/counts").await;
    assert_eq!(status, 200, "{counts}");
    counts
}

/// Waits until `check` holds for the operation counts; fails with them (and `what`) after `limit`.
pub async fn wait_for_counts(api: &impl Api, what: &str, limit: Duration, check: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let counts = counts(api).await;
        if check(&counts) {
            return counts;
        }
        assert!(
            start.elapsed() < limit,
            "timed out after {limit:?} waiting for {what}; operation counts: {counts}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Every operation matching `query` (e.g. `&connection=fs`), page by page.
pub async fn all_operations(api: &impl Api, query: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let (status, page) = api.get(&format!("/v1/operations?after={after}&limit=1000{query}")).await;
        assert_eq!(status, 200, "{page}");
        let ops = page["operations"].as_array().unwrap().clone();
        if ops.is_empty() {
            return out;
        }
        after = page["next_after"].as_i64().unwrap();
        out.extend(ops);
    }
}
