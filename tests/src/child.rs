//! The real `qiao` binary as a child process, for tests that kill it (SIGKILL, SIGTERM) and start it again on
//! the same data directory.
//!
//! The binary is the one Cargo built next to the test executable (`target/debug/qiao`): `cargo test --workspace`
//! (what `make test` runs) builds it; `cargo test -p qiao-tests` alone does not, so build it first with
//! `cargo build -p qiao`.
//!
//! Each start writes the child's output to its own log file in the temporary directory; when a test panics,
//! dropping the [`QiaoChild`] prints the logs and kills the child, so no process outlives its test.

use std::fs::File;
use std::net::{SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};
use serde_json::Value;

/// How long a start may take until the child is ready (`/readyz`) (compiling connectors on a cold cache included).
const READY_DEADLINE: Duration = Duration::from_secs(60);
/// Starts tried on fresh ports when the picked one was taken meanwhile.
const PORT_TRIES: usize = 5;
/// Lines of each log printed when a test fails.
const LOG_TAIL_LINES: usize = 400;

/// The `qiao` binary Cargo built alongside the test executable.
pub fn qiao_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("the test executable's path");
    // target/debug/deps/<test>-<hash> → target/debug/qiao
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("the test executable lives in target/<profile>/deps");
    let binary = dir.join(format!("qiao{}", std::env::consts::EXE_SUFFIX));
    assert!(
        binary.exists(),
        "the qiao binary is missing at {}: build it first: cargo build -p qiao (make test does)",
        binary.display()
    );
    binary
}

/// An admin key for the child's data directory, made with `qiao keys create` as an operator would.
fn create_key(binary: &Path, data_dir: &Path) -> Result<String> {
    let out = Command::new(binary)
        .args(["keys", "create", "--name", "tests", "--scope", "admin", "--data-dir"])
        .arg(data_dir)
        .env("NO_COLOR", "1")
        .output()
        .context("cannot run qiao keys create")?;
    if !out.status.success() {
        bail!("qiao keys create failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8(out.stdout)?.trim().to_string())
}

/// One `qiao serve` process at a time on a fixed set of directories; started again by [`QiaoChild::restart`].
pub struct QiaoChild {
    pub client: reqwest::Client,
    pub plugins_dir: PathBuf,
    /// The flag naming the connector directory: `--connectors-dir`, or its deprecated alias for a test of it.
    pub connectors_dir_flag: &'static str,
    pub data_dir: PathBuf,
    config_path: PathBuf,
    binary: PathBuf,
    /// The running (or exited, not yet reaped) process.
    process: Option<Child>,
    /// Where the current (or last) process listens.
    addr: SocketAddr,
    /// One per start, in order.
    logs: Vec<PathBuf>,
    /// Where compiled connectors are cached: shared by the tests, or the child's own (a cold start).
    cache_dir: PathBuf,
    /// What answers 200 when a start counts as done: `/readyz`, or `/healthz` to see the start itself.
    ready_path: &'static str,
    dir: tempfile::TempDir,
}

impl QiaoChild {
    /// Starts `qiao serve` with the named components (each with its build signature) in its plugins directory
    /// and `config` (TOML); a config without `[trust]` gets one trusting the build key (see `signing`).
    pub async fn start(components: &[&str], config: &str) -> Result<QiaoChild> {
        QiaoChild::start_with(components, config, false).await
    }

    /// [`QiaoChild::start`] with a compile cache of its own, empty: every connector compiles at start. Returns
    /// as soon as the port answers (`/healthz`), before the connectors are ready.
    pub async fn start_cold(components: &[&str], config: &str) -> Result<QiaoChild> {
        QiaoChild::start_with(components, config, true).await
    }

    async fn start_with(components: &[&str], config: &str, cold: bool) -> Result<QiaoChild> {
        let binary = qiao_binary();
        let dir = tempfile::tempdir()?;
        let plugins_dir = dir.path().join("plugins");
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&plugins_dir)?;
        for name in components {
            crate::signing::copy_component(name, &plugins_dir)?;
        }
        let config_path = dir.path().join("qiao.toml");
        std::fs::write(&config_path, crate::signing::with_build_trust(config))?;
        let api_key = create_key(&binary, &data_dir)?;
        crate::logs::init();
        crate::logs::secrets_of_config(config);
        crate::logs::secret(&api_key);
        let mut child = QiaoChild {
            client: crate::client_with_key(&api_key),
            plugins_dir,
            connectors_dir_flag: "--connectors-dir",
            data_dir,
            config_path,
            binary,
            process: None,
            addr: "127.0.0.1:0".parse()?,
            logs: Vec::new(),
            cache_dir: if cold { dir.path().join("cache") } else { crate::shared_cache_dir() },
            ready_path: if cold { "/healthz" } else { "/readyz" },
            dir,
        };
        child.spawn_ready().await?;
        Ok(child)
    }

    /// Starts the server again on the same directories (after [`QiaoChild::kill`] or an exit), on a new port.
    /// A config file rewritten meanwhile without `[trust]` gets the build key's again.
    pub async fn restart(&mut self) -> Result<()> {
        if let Some(mut process) = self.process.take()
            && process.try_wait()?.is_none()
        {
            bail!(
                "restart: the previous qiao (pid {}) is still running",
                process.id()
            );
        }
        let config = std::fs::read_to_string(&self.config_path)?;
        let trusted = crate::signing::with_build_trust(&config);
        if trusted != config {
            std::fs::write(&self.config_path, trusted)?;
        }
        self.spawn_ready().await
    }

    /// Spawns on a free port and waits until it serves; tries another port if that one was taken meanwhile.
    async fn spawn_ready(&mut self) -> Result<()> {
        for _ in 0..PORT_TRIES {
            let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
            self.addr = SocketAddr::from(([127, 0, 0, 1], port));
            let log_path = self
                .dir
                .path()
                .join(format!("qiao-{}.log", self.logs.len() + 1));
            let log = File::create(&log_path)?;
            self.logs.push(log_path.clone());
            let process = Command::new(&self.binary)
                .arg("serve")
                .arg("--config")
                .arg(&self.config_path)
                .arg("--listen")
                .arg(self.addr.to_string())
                .arg(self.connectors_dir_flag)
                .arg(&self.plugins_dir)
                .arg("--data-dir")
                .arg(&self.data_dir)
                .arg("--cache-dir")
                .arg(&self.cache_dir)
                .env("NO_COLOR", "1")
                .env("QIAO_LOG", "info,tower_http=warn")
                .stdin(Stdio::null())
                .stdout(log.try_clone()?)
                .stderr(log)
                .spawn()
                .with_context(|| format!("cannot start {}", self.binary.display()))?;
            self.process = Some(process);
            match self.wait_ready(&log_path).await? {
                Ready::Serving => return Ok(()),
                Ready::PortTaken => continue,
            }
        }
        bail!(
            "qiao could not listen on a free port in {PORT_TRIES} tries:\n{}",
            self.logs_text()
        )
    }

    /// Ready once this process logged that it serves (so the answer is not another server's that took the port)
    /// and `/readyz` says its connectors have loaded.
    async fn wait_ready(&mut self, log_path: &Path) -> Result<Ready> {
        let start = Instant::now();
        loop {
            let log = std::fs::read_to_string(log_path).unwrap_or_default();
            if let Some(status) = self.process.as_mut().unwrap().try_wait()? {
                self.process = None;
                if log.contains("cannot listen") {
                    return Ok(Ready::PortTaken);
                }
                bail!("qiao exited at start ({status}):\n{log}");
            }
            if log.contains("qiao is serving")
                && let Ok(response) = self.client.get(self.url(self.ready_path)).send().await
                && response.status().is_success()
            {
                return Ok(Ready::Serving);
            }
            if start.elapsed() > READY_DEADLINE {
                bail!("qiao was not ready ({}) within {READY_DEADLINE:?}:\n{log}", self.ready_path);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Where the current (or last) process listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// The running process's id.
    pub fn pid(&self) -> u32 {
        self.process.as_ref().expect("qiao is not running").id()
    }

    /// SIGKILL (on Unix): the process dies at once, mid-whatever; reaped before this returns.
    pub fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// SIGTERM: asks the process to stop gracefully (see [`QiaoChild::wait_exit`]).
    pub fn terminate(&self) -> Result<()> {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .context("cannot run kill -TERM")?;
        if !status.success() {
            bail!("kill -TERM {} failed: {status}", self.pid());
        }
        Ok(())
    }

    /// Waits for the process to exit by itself: its status, or an error (the process still running) after
    /// `limit`.
    pub async fn wait_exit(&mut self, limit: Duration) -> Result<ExitStatus> {
        let start = Instant::now();
        let process = self.process.as_mut().context("qiao is not running")?;
        loop {
            if let Some(status) = process.try_wait()? {
                self.process = None;
                return Ok(status);
            }
            if start.elapsed() > limit {
                bail!("qiao (pid {}) did not exit within {limit:?}", process.id());
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Everything each start logged so far, oldest first.
    pub fn logs_text(&self) -> String {
        self.logs
            .iter()
            .enumerate()
            .map(|(i, path)| {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                format!("--- qiao start #{} ({}) ---\n{text}", i + 1, path.display())
            })
            .collect()
    }

    /// One API request: status and JSON body (`{"raw": text}` when it is not JSON).
    pub async fn request(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let mut request = self.client.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request
            .send()
            .await
            .unwrap_or_else(|e| panic!("request {path} to qiao at {}: {e}", self.addr));
        crate::read(response).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.request(reqwest::Method::GET, path, None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.request(reqwest::Method::POST, path, Some(body)).await
    }
}

enum Ready {
    Serving,
    PortTaken,
}

impl Drop for QiaoChild {
    fn drop(&mut self) {
        self.kill();
        for (i, path) in self.logs.iter().enumerate() {
            crate::logs::keep_child_log(path, i + 1);
        }
        if std::thread::panicking() {
            for (i, path) in self.logs.iter().enumerate() {
                let text = std::fs::read_to_string(path).unwrap_or_default();
                let lines: Vec<&str> = text.lines().collect();
                let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
                eprintln!(
                    "--- qiao start #{} log (last {} of {} lines) ---\n{}",
                    i + 1,
                    tail.len(),
                    lines.len(),
                    tail.join("\n")
                );
            }
        }
    }
}
