//! Harness for Qiao's end-to-end tests: a real `qiao` server on a loopback port with its own plugins and data
//! directories, real connector components built from source, and a local HTTP server for connectors to call.
//!
//! Components come from `scripts/build-connectors.sh` (run by `make test`).

pub mod child;
pub mod dingtalk_sim;
pub mod echo_server;
pub mod ecology_sim;
pub mod feishu_crypt;
pub mod feishu_sim;
pub mod jira_sim;
pub mod kingdee_sim;
pub mod logs;
pub mod msg_crypt;
pub mod operations;
pub mod signing;
pub mod sim_support;
pub mod stream_gateway;
pub mod wecom_sim;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use qiao::server::{ServeOptions, Server};
use serde_json::Value;

/// Where a built component lives: bundled connectors in `target/connectors`, test-only ones in
/// `target/test-connectors` (hostile, echo-v2, and the connectors frozen at a released contract:
/// `echo-v0.1.0`, `echo-js`, `echo-py`).
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

/// Held by the few tests that keep every core busy for a long while (building a project in three languages, syncing
/// thousands of people to three platforms): all the end-to-end tests share one binary, and two of these side by
/// side would starve each other, and the tests around them, past their time limits. Take it first thing.
pub async fn one_heavy_test_at_a_time() -> tokio::sync::MutexGuard<'static, ()> {
    static HEAVY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    HEAVY.lock().await
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
    /// Sends the admin [`TestServer::api_key`] with every request; build another client to call without it.
    pub client: reqwest::Client,
    /// An `admin` API key made for the test at start.
    pub api_key: String,
    pub plugins_dir: PathBuf,
    pub data_dir: PathBuf,
    server: Option<Server>,
    _dir: tempfile::TempDir,
}

impl TestServer {
    /// Starts Qiao with the named components (each with its build signature, `NAME.wasm.sig`) in its plugins
    /// directory and `config` (TOML) as its config file; a config without `[trust]` gets one trusting the build
    /// key (see `signing`).
    pub async fn start(components: &[&str], config: &str) -> Result<TestServer> {
        TestServer::start_as_is(components, &signing::with_build_trust(config)).await
    }

    /// [`TestServer::start`] with `config` exactly as given (no `[trust]` added): the server's own defaults.
    pub async fn start_as_is(components: &[&str], config: &str) -> Result<TestServer> {
        let dir = tempfile::tempdir()?;
        let plugins_dir = dir.path().join("plugins");
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&plugins_dir)?;
        for name in components {
            signing::copy_component(name, &plugins_dir)?;
        }
        let config_path = dir.path().join("qiao.toml");
        std::fs::write(&config_path, config)?;
        logs::init();
        logs::secrets_of_config(config);
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
            connectors_dir: plugins_dir.clone(),
            data_dir: data_dir.clone(),
            cache_dir: Some(shared_cache_dir()),
            master_key_file: None,
        })
        .await?;
        // The port opens before the connectors have compiled; a test starts from a loaded directory.
        server.app.runtime.connectors.ready().await;
        let (_, api_key) = qiao_services::access::create_key(
            &server.app.db,
            "tests",
            vec![qiao_services::access::Scope::Admin],
            None,
            None,
        )
        .await?;
        logs::secret(&api_key);
        Ok(TestServer {
            base: format!("http://{}", server.addr),
            client: client_with_key(&api_key),
            api_key,
            plugins_dir,
            data_dir,
            server: Some(server),
            _dir: dir,
        })
    }

    /// The server's store.
    pub fn db(&self) -> std::sync::Arc<qiao_store::Db> {
        self.server.as_ref().expect("running").app.db.clone()
    }

    /// The server's services (e.g. to move the approval deadlines' clock, `app().deadlines.clock`).
    pub fn app(&self) -> std::sync::Arc<qiao_services::App> {
        self.server.as_ref().expect("running").app.clone()
    }

    /// Makes an API key on this server (as `qiao keys create` would) and returns it.
    pub async fn create_key(&self, scopes: &[&str], connections: Option<&[&str]>) -> String {
        let scopes = scopes.iter().map(|s| s.parse().expect("a scope")).collect();
        let connections = connections.map(|c| c.iter().map(|s| s.to_string()).collect());
        qiao_services::access::create_key(&self.db(), "test-key", scopes, connections, None)
            .await
            .expect("create key")
            .1
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
        let mut request = self.client.request(method.clone(), self.url(&path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, body) = read(request.send().await.expect("request")).await;
        logs::response(method.as_str(), &path, status, &body.to_string());
        (status, body)
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

    /// Runs directory sync on a connection and waits (up to 120 s) for the run to finish: its plan, progress and
    /// report (a dry run answers its plan).
    pub async fn sync(&self, connection: &str, body: Value) -> Value {
        let path = format!("/v1/connections/{connection}/directory/runs?wait=120");
        let (status, run) = self.post(&path, body).await;
        assert_eq!(
            status, 200,
            "the run should finish: {} {} {}",
            run["status"], run["progress"], run["report"]
        );
        run
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

    /// Shuts the server down as `qiao serve` does on SIGTERM.
    pub async fn stop(mut self) -> Result<()> {
        self.server.take().unwrap().shutdown().await
    }

    /// Stops the server and starts another on the same directories (a restart); `config` as in
    /// [`TestServer::start`].
    pub async fn restart(mut self, config: &str) -> Result<TestServer> {
        self.server.take().unwrap().shutdown().await?;
        let config = &signing::with_build_trust(config);
        let config_path = self._dir.path().join("qiao.toml");
        std::fs::write(&config_path, config)?;
        logs::secrets_of_config(config);
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

    /// A connection's event-stream status as `GET /v1/connections` lists it (`state`, `last_error`...).
    pub async fn stream_status(&self, connection: &str) -> Value {
        let (status, body) = self.get("/v1/connections").await;
        assert_eq!(status, 200, "{body}");
        body["connections"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == connection)
            .unwrap_or_else(|| panic!("{connection} listed: {body}"))["stream"]
            .clone()
    }

    /// Waits (up to 20 s) for a connection's stream status that `check` accepts: streams open and back off in
    /// the background. `what` names the awaited status in the failure.
    pub async fn wait_for_stream(
        &self,
        connection: &str,
        what: &str,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let start = Instant::now();
        loop {
            let status = self.stream_status(connection).await;
            if check(&status) {
                return status;
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "{connection}: no {what}: {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `Authorization: Bearer <key>`, marked sensitive so it is never printed.
pub fn auth_headers(key: &str) -> reqwest::header::HeaderMap {
    let mut value = reqwest::header::HeaderValue::from_str(&format!("Bearer {key}")).expect("ascii key");
    value.set_sensitive(true);
    reqwest::header::HeaderMap::from_iter([(reqwest::header::AUTHORIZATION, value)])
}

/// A client that sends `Authorization: Bearer <key>` with every request.
pub fn client_with_key(key: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .default_headers(auth_headers(key))
        .build()
        .expect("a reqwest client")
}

/// Status and JSON body (or `{"raw": text}` when the body is not JSON).
pub async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.context("body").unwrap();
    let body = serde_json::from_str(&text).unwrap_or_else(|_| serde_json::json!({ "raw": text }));
    (status, body)
}
