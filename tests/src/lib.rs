//! Harness for Qiao's end-to-end tests: a real `qiao` server on a loopback port with its own plugins and data
//! directories, real connector components built from source, and a local HTTP server for connectors to call.
//!
//! Components come from `scripts/build-connectors.sh` (run by `make test`).

pub mod child;
pub mod dingtalk_sim;
pub mod echo_server;
pub mod feishu_crypt;
pub mod feishu_sim;
pub mod kingdee_sim;
pub mod msg_crypt;
pub mod operations;
pub mod sim_support;
pub mod wecom_sim;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use qiao::server::{ServeOptions, Server};
use serde_json::Value;

/// Where a built component lives: bundled connectors in `target/connectors`, test-only ones in
/// `target/test-connectors`.
pub fn component(name: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("target");
    for dir in ["connectors", "test-connectors"] {
        let path = root.join(dir).join(format!("{name}.wasm"));
        if path.exists() {
            return path;
        }
    }
    panic!(
        "{name}.wasm is not built: run scripts/build-connectors.sh (or `make test`, which does)"
    );
}

/// Every test server shares one compile cache: compiling the Python component takes seconds each time.
pub fn shared_cache_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("target/qiao-test-cache")
}

pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    pub plugins_dir: PathBuf,
    pub data_dir: PathBuf,
    server: Option<Server>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts Qiao with the named components in its plugins directory and `config` (TOML) as its config file.
    pub async fn start(components: &[&str], config: &str) -> Result<TestServer> {
        let dir = tempfile::tempdir()?;
        let plugins_dir = dir.path().join("plugins");
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&plugins_dir)?;
        for name in components {
            std::fs::copy(component(name), plugins_dir.join(format!("{name}.wasm")))?;
        }
        let config_path = dir.path().join("qiao.toml");
        std::fs::write(&config_path, config)?;
        TestServer::start_in(dir, plugins_dir, data_dir, Some(config_path)).await
    }

    async fn start_in(
        dir: tempfile::TempDir,
        plugins_dir: PathBuf,
        data_dir: PathBuf,
        config: Option<PathBuf>,
    ) -> Result<TestServer> {
        let server = qiao::server::start(ServeOptions {
            config,
            listen: "127.0.0.1:0".parse()?,
            plugins_dir: plugins_dir.clone(),
            data_dir: data_dir.clone(),
            cache_dir: Some(shared_cache_dir()),
        })
        .await?;
        Ok(TestServer {
            base: format!("http://{}", server.addr),
            client: reqwest::Client::new(),
            plugins_dir,
            data_dir,
            server: Some(server),
            _dir: dir,
        })
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// One API request: status and JSON body.
    ///
    /// Writes to a connection (POST, PATCH, DELETE under `/v1/connections/`) wait for their result, as a
    /// synchronous caller would (`?wait=30`), unless the path names its own `wait`: tests of the outbox itself
    /// pass `wait=0` to see the `202 Accepted`.
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let waits = method != reqwest::Method::GET
            && path.starts_with("/v1/connections/")
            && !path.contains("wait=");
        let path = match (waits, path.contains('?')) {
            (false, _) => path.to_string(),
            (true, false) => format!("{path}?wait=30"),
            (true, true) => format!("{path}&wait=30"),
        };
        let mut request = self.client.request(method, self.url(&path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request.send().await.expect("request")).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }

    pub async fn patch(&self, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::PATCH, path, Some(body)).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::DELETE, path, None).await
    }

    /// The `/v1/connectors` row for a file name.
    pub async fn connector_row(&self, file: &str) -> Option<Value> {
        let (_, body) = self.get("/v1/connectors").await;
        body["connectors"]
            .as_array()?
            .iter()
            .find(|c| c["file"] == file)
            .cloned()
    }

    /// Polls `/v1/connectors` until `check` holds for the file's row (or its absence), for hot-reload tests.
    pub async fn wait_for_connector(
        &self,
        file: &str,
        check: impl Fn(Option<&Value>) -> bool,
    ) -> Result<()> {
        let start = Instant::now();
        loop {
            if check(self.connector_row(file).await.as_ref()) {
                return Ok(());
            }
            if start.elapsed() > Duration::from_secs(15) {
                anyhow::bail!(
                    "connector file {file} did not reach the expected state; now {:?}",
                    self.connector_row(file).await
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Stops the server and starts another on the same directories (a restart).
    pub async fn restart(mut self, config: &str) -> Result<TestServer> {
        self.server.take().unwrap().shutdown().await?;
        let config_path = self._dir.path().join("qiao.toml");
        std::fs::write(&config_path, config)?;
        let TestServer {
            plugins_dir,
            data_dir,
            _dir,
            ..
        } = self;
        TestServer::start_in(_dir, plugins_dir, data_dir, Some(config_path)).await
    }
}

/// The platform's own error code in an API error body (`error.details.platform_code`), or "".
pub fn platform_code(body: &Value) -> &str {
    body["error"]["details"]["platform_code"]
        .as_str()
        .unwrap_or_default()
}

impl TestServer {
    /// The events stored for a connection so far.
    pub async fn events(&self, connection: &str) -> Vec<Value> {
        let (status, body) = self
            .get(&format!("/v1/events?connection={connection}&limit=1000"))
            .await;
        assert_eq!(status, 200, "{body}");
        body["events"].as_array().unwrap().clone()
    }

    /// Waits for a connection's event that `check` accepts: callbacks arrive in the background.
    pub async fn wait_for_event(&self, connection: &str, check: impl Fn(&Value) -> bool) -> Value {
        let start = Instant::now();
        loop {
            if let Some(event) = self.events(connection).await.into_iter().find(|e| check(e)) {
                return event;
            }
            assert!(
                start.elapsed() < Duration::from_secs(15),
                "no such event; have {:#?}",
                self.events(connection).await
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Status and JSON body (or `{"raw": text}` when the body is not JSON).
pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.context("body").unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({ "raw": text }));
    (status, body)
}
