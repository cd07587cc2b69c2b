//! Qiao's durable send path side by side with its peers, in one run against one Feishu simulator at unlimited QPS
//! (issue 24): every rate next to the baseline it is judged by, so the numbers to compare across machines are the
//! ratios. Each row is 16 concurrent clients.
//!
//! 1. raw HTTP: reqwest (keep-alive) POSTing `im/v1/messages?receive_id_type=user_id` with a tenant token fetched
//!    as the SDK fetches it: the wire work alone.
//! 2. lark-oapi: the official Python SDK sending the same messages from 16 threads (`peers/feishu_send.py`, in the
//!    virtualenv `scripts/bench-peers.sh` installs once under `target/bench-venv`).
//! 3. Qiao `POST /v1/connections/feishu/messages?wait=30`: accepted, delivered through the outbox, answered with
//!    the result. Goals: ≥ 10× lark-oapi, ≥ 0.25× raw HTTP.
//! 4. Qiao accept only (`?wait=0` → 202, committed) to a connection whose dispatcher attempts nothing meanwhile.
//!    Goal: ≥ 15,000/s.
//! 5. delivered by the outbox: N accepted at once, timed until all succeeded (p50/p99: accept to success, from
//!    the operations' timestamps). Goal: ≥ 0.8× row 3.
//! 6. connector reads through the REST API (the echo connector's kv, and a Feishu user from the simulator) next
//!    to `GET /healthz`, four times as many requests as the other rows. Goal: ≥ 0.25× healthz.
//! 7. a native durable relay (`throughput/relay.rs`: axum, rusqlite, reqwest in a process of its own): the same
//!    two commits, rows and HTTP hop as row 3, without Qiao. Row 3 is reported as a ratio of it (what Qiao's
//!    architecture costs: sandbox, REST API, outbox), and it as a ratio of lark-oapi and of raw HTTP: where a
//!    program doing nothing but the durable relay stands against row 3's goals on this machine. No goal of its own.
//! 8. rows 3 and 7 with one client at a time (a fifth as many sends): the latency of a durable send without
//!    queueing. A wait on the send path shows here first: the outbox's pacing slept a timer tick (~1 ms) before
//!    every attempt, which doubled this row's p50 and moved row 3's rate by 1–6%. No goal of its own; row 3 with
//!    one client is reported as a ratio of the relay with one.
//!
//! Qiao runs as a child process, as the crash tests start it (`QiaoChild`), logging at `info`: the `qiao` binary
//! beside this bench's executable, target/release/qiao under `cargo bench`, which does not build it — build it
//! first with `cargo build --release -p qiao --bin qiao` and sign the connectors with
//! `scripts/sign-connectors.sh target/release/qiao` (`make bench` does both); the bench warns when a source under
//! crates/ is newer than the binary. The simulator runs in this process, with unlimited QPS.
//!
//! The server columns are the CPU and bytes of the process answering the row: `qiao serve`, or row 7's relay.
//!
//! Prints one markdown table, with ✓/✗ for each goal, and writes it to `target/bench/throughput.json`. Timing is
//! never asserted (the machine may be busy): the bench fails only when something fails functionally — a non-2xx
//! answer, or the simulator not receiving exactly the messages sent.
//!
//! Run: `cargo bench -p qiao-tests --bench throughput`: 5,000 per row; 300 per row without `--bench` (as
//! `cargo test --benches` runs it) or with `QIAO_BENCH_QUICK=1`. `QIAO_BENCH_ONLY=reads,wait` runs only those rows
//! (`read_feishu`: that read alone).

mod common;
#[path = "throughput/relay.rs"]
mod relay;

use std::future::Future;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result, bail, ensure};
use common::{Usage, child_usage, percentile, quick_mode, timed};
use qiao_tests::child::QiaoChild;
use qiao_tests::echo_server::EchoServer;
use qiao_tests::feishu_sim::{FeishuSim, Options};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Concurrent clients (threads for the SDK) of every row but the one-client rows (8).
const CLIENTS: usize = 16;
/// Untimed requests before each row: connections opened, components instantiated, tokens fetched.
const WARMUP: usize = 4 * CLIENTS;
/// The recipient of every message (a user of the simulator's tenant, by `user_id`).
const RECEIVER: &str = "alice";

/// A goal of issue 24, checked against this run: reported, never asserted.
#[derive(Clone, Copy)]
enum Goal {
    /// At least `min` times the rate of the row labelled `against`.
    Ratio { against: &'static str, min: f64 },
    /// At least `min` per second.
    Rate { min: f64 },
    /// The ratio to the row labelled `against`, reported beside the goals: no goal of its own.
    Compare { against: &'static str },
}

struct Row {
    /// Short name, for ratios and the JSON.
    label: &'static str,
    name: String,
    count: usize,
    seconds: f64,
    p50: Option<Duration>,
    p99: Option<Duration>,
    goals: Vec<Goal>,
    /// Why the row was not measured (a peer that could not be installed).
    skipped: Option<String>,
    /// What the server (`qiao serve`, or the native relay) used for the row (CPU from /proc in 10 ms ticks,
    /// bytes written): the cost per request apart from the clients and the simulator that share the machine.
    server: Option<Usage>,
}

impl Row {
    fn measured(
        label: &'static str,
        name: String,
        wall: Duration,
        latencies: &[Duration],
        goals: Vec<Goal>,
    ) -> Row {
        Row {
            label,
            name,
            count: latencies.len(),
            seconds: wall.as_secs_f64(),
            p50: percentile(latencies, 0.5),
            p99: percentile(latencies, 0.99),
            goals,
            skipped: None,
            server: None,
        }
    }

    /// With what the server process `pid` used meanwhile: `before` is [`child_usage`] when the row started.
    fn charged(mut self, pid: u32, before: Option<Usage>) -> Row {
        self.server = before.zip(child_usage(pid)).map(|(before, after)| after - before);
        self
    }

    /// The server's CPU per request, in µs.
    fn cpu_per_request(&self) -> Option<f64> {
        self.per_request(|u| Some(u.cpu.as_secs_f64() * 1e6))
    }

    /// Of which the store's writer thread, in µs.
    fn store_cpu_per_request(&self) -> Option<f64> {
        self.per_request(|u| u.store_writer.map(|w| w.as_secs_f64() * 1e6))
    }

    /// Bytes the server wrote per request (the store's WAL, sockets, logs), in KiB.
    fn kib_written_per_request(&self) -> Option<f64> {
        self.per_request(|u| u.written.map(|bytes| bytes as f64 / 1024.0))
    }

    fn per_request(&self, of: impl Fn(&Usage) -> Option<f64>) -> Option<f64> {
        self.server.as_ref().filter(|_| self.count > 0).and_then(of).map(|total| total / self.count as f64)
    }

    fn rate(&self) -> Option<f64> {
        (self.skipped.is_none() && self.seconds > 0.0).then(|| self.count as f64 / self.seconds)
    }
}

/// Order of the rows in the table (they are measured in another order: the paused connection's backlog last).
const ORDER: [&str; 11] = [
    "raw",
    "sdk",
    "sync",
    "accept",
    "outbox",
    "healthz",
    "read_echo",
    "read_feishu",
    "relay",
    "sync_one",
    "relay_one",
];

fn main() -> Result<()> {
    if let Some(served) = relay::serve_if_asked() {
        return served;
    }
    let quick = quick_mode();
    let n = std::env::var("QIAO_BENCH_N")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(if quick { 300 } else { 5_000 });
    let target = target_dir()?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .context("the workspace root")?
        .to_path_buf();
    let qiao_binary = check_qiao_binary(&target, &root)?;
    println!(
        "throughput bench ({} mode): {n} per row, {CLIENTS} clients, {} cores, qiao {}",
        if quick { "quick" } else { "full" },
        cores(),
        qiao_binary.display()
    );
    let python = peers(&root, &target);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let (mut rows, sdk) = rt.block_on(run(n, &root, python))?;
    rows.sort_by_key(|r| ORDER.iter().position(|l| *l == r.label));
    let table = markdown(&rows);
    println!("\n{table}");
    let path = target.join("bench/throughput.json");
    std::fs::create_dir_all(path.parent().unwrap())?;
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&report(&rows, quick, n, &qiao_binary, sdk, &table))?,
    )?;
    println!(
        "p50/p99: each request's latency as its client saw it (row 5: an operation's accept to its success, from \
         its timestamps, in whole ms). Goals are reported, not asserted.\nwritten to {}; total wall time {:.1} s",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    // The paused connection's one held operation sleeps in the server; nothing needs waiting for.
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

/// `target/` (or `CARGO_TARGET_DIR`): this executable runs from `<target>/<profile>/deps/`.
fn target_dir() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    exe.ancestors()
        .nth(3)
        .map(Path::to_path_buf)
        .context("the bench executable lives in <target>/<profile>/deps")
}

/// The `qiao` binary `QiaoChild` runs (the one beside this executable: release under `cargo bench`); a warning
/// when a source under crates/ is newer than it, since `cargo bench` does not rebuild it.
fn check_qiao_binary(target: &Path, root: &Path) -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .context("the profile directory")?;
    let binary = profile_dir.join(format!("qiao{}", std::env::consts::EXE_SUFFIX));
    let Ok(built) = std::fs::metadata(&binary).and_then(|m| m.modified()) else {
        bail!(
            "{} is missing: build it with `cargo build --release -p qiao --bin qiao && \
             scripts/sign-connectors.sh target/release/qiao` (`make bench` does both)",
            binary.display()
        );
    };
    if profile_dir != target.join("release") {
        println!(
            "note: not a release build of qiao ({}): numbers are not comparable",
            binary.display()
        );
    }
    if let Some((newest, path)) = newest_source(&root.join("crates"))
        && newest > built
    {
        println!(
            "WARNING: {} is older than {}: rebuild it (`cargo build --release -p qiao --bin qiao`) to measure the \
             current code",
            binary.display(),
            path.display()
        );
    }
    Ok(binary)
}

/// The most recently modified `.rs` or `Cargo.toml` under `dir`.
fn newest_source(dir: &Path) -> Option<(SystemTime, PathBuf)> {
    let mut newest: Option<(SystemTime, PathBuf)> = None;
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        let found = if path.is_dir() {
            newest_source(&path)
        } else if path.extension().is_some_and(|e| e == "rs") || path.ends_with("Cargo.toml") {
            entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .map(|t| (t, path))
        } else {
            None
        };
        if let Some(found) = found
            && newest.as_ref().is_none_or(|(t, _)| found.0 > *t)
        {
            newest = Some(found);
        }
    }
    newest
}

/// The virtualenv's python with lark-oapi (installed on first use by `scripts/bench-peers.sh`), or why not.
fn peers(root: &Path, target: &Path) -> Result<PathBuf, String> {
    let out = std::process::Command::new(root.join("scripts/bench-peers.sh"))
        .env("QIAO_BENCH_VENV", target.join("bench-venv"))
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| format!("cannot run scripts/bench-peers.sh: {e}"))?;
    if !out.status.success() {
        return Err(format!("scripts/bench-peers.sh failed ({})", out.status));
    }
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .last()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .ok_or_else(|| format!("scripts/bench-peers.sh named no python: {stdout:?}"))
}

async fn run(
    n: usize,
    root: &Path,
    python: Result<PathBuf, String>,
) -> Result<(Vec<Row>, Option<String>)> {
    let sim = Sim::start().await?;
    let echo = EchoServer::start().await;
    let mut rows = vec![];
    if selected("raw") {
        rows.push(raw_http(&sim, n).await?);
    }
    let (sdk_row, sdk) = match python {
        _ if !selected("sdk") => (skipped("sdk", "lark-oapi", "not selected (QIAO_BENCH_ONLY)".into()), None),
        Ok(python) => {
            let (row, sdk) = lark_oapi(&sim, n, root, &python).await?;
            (row, Some(sdk))
        }
        Err(why) => {
            println!("lark-oapi row SKIPPED: {why}");
            (
                skipped("sdk", "lark-oapi (official Python SDK), 16 threads", why),
                None,
            )
        }
    };
    rows.push(sdk_row);
    // Before Qiao starts, so that the two servers never share the machine.
    // Row 8, one client at a time: a fifth as many sends, which still take about a second.
    let one_client = n / 5;
    if selected("relay") || selected("relay_one") {
        rows.extend(native_relay(&sim, n, one_client).await?);
    }
    let qiao = Arc::new(QiaoChild::start(&["feishu", "echo"], &config(&sim, &echo)).await?);
    // Reads are cheap: four times as many, so that the fastest rows still last long enough to time.
    if READS.iter().any(|group| selected(group)) {
        rows.extend(reads(&qiao, 4 * n).await?);
    }
    if selected("wait") {
        rows.push(sync_sends(&qiao, &sim, n).await?);
    }
    if selected("wait_one") {
        rows.push(one_client_sends(&qiao, &sim, one_client).await?);
    }
    if selected("outbox") {
        rows.push(outbox(&qiao, &sim, n).await?);
    }
    if selected("accept") {
        rows.push(accept(&qiao, n).await?);
    }
    Ok((rows, sdk))
}

/// The read rows: all of them as `reads`, or one by its label.
const READS: [&str; 4] = ["reads", "healthz", "read_echo", "read_feishu"];

/// Whether a group of rows runs: all of them, unless `QIAO_BENCH_ONLY` names some (comma-separated: raw, sdk,
/// relay, wait, outbox, accept, wait_one, relay_one, and the reads, all or one: [`READS`]), which is how one
/// lever is measured, or profiled, without the rest.
fn selected(group: &str) -> bool {
    std::env::var("QIAO_BENCH_ONLY").map_or(true, |only| only.split(',').any(|g| g.trim() == group))
}

fn skipped(label: &'static str, name: &str, why: String) -> Row {
    Row {
        label,
        name: name.into(),
        count: 0,
        seconds: 0.0,
        p50: None,
        p99: None,
        goals: vec![],
        skipped: Some(why),
        server: None,
    }
}

/// Four connections: `feishu` (synchronous sends), `outbox` (sends accepted, then delivered), `parked` (paced so
/// that its dispatcher attempts nothing while acceptance is measured) and `echo` (kv reads). Qiao's own pacing
/// must not cap the rate: the outbox may start a million calls per second, 16 at once, and each connection may run
/// 64 calls at once (reads included).
fn config(sim: &FeishuSim, echo: &EchoServer) -> String {
    let o = &sim.options;
    let feishu = |name: &str, outbox: &str| {
        format!(
            "[connections.{name}]\nconnector = \"feishu\"\n\
             settings = {{ app_id = \"{}\", api_base = \"{}\", user_id_type = \"user_id\" }}\n\
             secrets = {{ app_secret = \"{}\", verification_token = \"{}\", encrypt_key = \"{}\" }}\n\
             outbox = {{ {outbox} }}\n\n",
            o.app_id, sim.base, o.app_secret, o.verification_token, o.encrypt_key
        )
    };
    let fast = format!("concurrency = {CLIENTS}, rate_per_second = 1000000");
    format!(
        "[limits]\nconcurrency = {}\ntimeout_ms = 10000\n\n{}{}{}\
         [connections.echo]\nconnector = \"echo\"\nsettings = {{ api_base = \"{}\" }}\n",
        4 * CLIENTS,
        feishu("feishu", &fast),
        feishu("outbox", &fast),
        // One call slot and one call per 100 s: the first runs at once, the second holds the slot while it waits
        // its turn, the rest stay queued.
        feishu("parked", "concurrency = 1, rate_per_second = 0.01"),
        echo.base,
    )
}

type Job = Pin<Box<dyn Future<Output = Result<()>> + Send>>;

/// One request; its response, once it checked the status is one of `expect`.
async fn call(request: reqwest::RequestBuilder, expect: &[u16]) -> Result<reqwest::Response> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    if !expect.contains(&status) {
        let body = response.text().await.unwrap_or_default();
        bail!("expected {expect:?}, got {status}: {body}");
    }
    Ok(response)
}

/// A job making one request, done when it was answered 200 and its body read.
fn answered(request: reqwest::RequestBuilder) -> Job {
    Box::pin(async move { call(request, &[200]).await?.bytes().await.map(drop).map_err(Into::into) })
}

async fn call_json(request: reqwest::RequestBuilder, expect: &[u16]) -> Result<Value> {
    Ok(call(request, expect).await?.json().await?)
}

/// The uuid the simulator de-duplicates on, one per message, as Qiao's Feishu connector makes them.
fn uuid(text: &str) -> String {
    hex::encode(&Sha256::digest(text.as_bytes())[..16])
}

/// The simulator, with what it received moved out of it every few milliseconds: it de-duplicates a message by
/// scanning every message it holds for the same uuid, under its one lock, so a list growing through a row would
/// slow the fastest rows most (raw HTTP: a third of its rate at 5,000 messages). Every message here has its own
/// uuid, so nothing a scan could find is lost.
struct Sim {
    sim: Arc<FeishuSim>,
    /// The texts of the messages moved out since the last [`Sim::reset`].
    received: Arc<Mutex<Vec<String>>>,
    drainer: tokio::task::JoinHandle<()>,
}

impl std::ops::Deref for Sim {
    type Target = FeishuSim;

    fn deref(&self) -> &FeishuSim {
        &self.sim
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.drainer.abort();
    }
}

impl Sim {
    async fn start() -> Result<Sim> {
        let sim = Arc::new(
            FeishuSim::start(Options {
                qps: u32::MAX,
                ..Default::default()
            })
            .await?,
        );
        let received = Arc::new(Mutex::new(Vec::new()));
        let drainer = tokio::spawn({
            let (sim, received) = (sim.clone(), received.clone());
            async move {
                loop {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    drain(&sim, &received);
                }
            }
        });
        Ok(Sim {
            sim,
            received,
            drainer,
        })
    }

    /// Forgets what the simulator received: each row checks its own messages.
    fn reset(&self) {
        drain(&self.sim, &self.received);
        self.received.lock().unwrap().clear();
    }

    /// Times `n` messages sent from `clients` clients by the jobs `sender(prefix)` makes (texts `"{prefix} {i}"`),
    /// and checks that the simulator received exactly those: the wall time and each send's latency.
    async fn timed_sends<F>(
        &self,
        n: usize,
        clients: usize,
        prefix: &'static str,
        sender: impl FnOnce(&'static str) -> F,
    ) -> Result<(Duration, Vec<Duration>)>
    where
        F: Fn(usize) -> Job + Send + Sync + 'static,
    {
        self.reset();
        let timing = timed(n, clients, sender(prefix)).await?;
        self.check(&format!("{prefix} "), texts(prefix, n))?;
        Ok(timing)
    }

    /// The simulator received exactly the messages `expected` among those whose text starts with `prefix` since
    /// the last reset: none missing, none twice.
    fn check(&self, prefix: &str, expected: impl IntoIterator<Item = String>) -> Result<()> {
        drain(&self.sim, &self.received);
        let mut got: Vec<String> = self
            .received
            .lock()
            .unwrap()
            .iter()
            .filter(|text| text.starts_with(prefix))
            .cloned()
            .collect();
        got.sort();
        let mut want: Vec<String> = expected.into_iter().collect();
        want.sort();
        if got != want {
            let missing = want.iter().find(|t| got.binary_search(t).is_err());
            let extra = got.windows(2).find(|w| w[0] == w[1]).map(|w| &w[0]);
            bail!(
                "the simulator received {} messages {prefix:?}…, {} were sent (first missing: {missing:?}, first \
                 twice: {extra:?})",
                got.len(),
                want.len()
            );
        }
        Ok(())
    }
}

/// Moves the simulator's messages (their texts) into `received`, and forgets its request log.
fn drain(sim: &FeishuSim, received: &Mutex<Vec<String>>) {
    let messages = {
        let mut state = sim.state();
        state.requests.clear();
        std::mem::take(&mut state.messages)
    };
    let texts = messages.iter().filter_map(|m| {
        let content: Value = serde_json::from_str(m.content.as_str()?).ok()?;
        Some(content["text"].as_str()?.to_string())
    });
    received.lock().unwrap().extend(texts);
}

fn texts(prefix: &str, n: usize) -> impl Iterator<Item = String> + '_ {
    (0..n).map(move |i| format!("{prefix} {i}"))
}

/// Row 1: the wire work alone, as a Rust client with keep-alive does it.
async fn raw_http(sim: &Sim, n: usize) -> Result<Row> {
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(CLIENTS)
        .build()?;
    // As the SDK gets it: `tenant_access_token/internal` with the app's id and secret.
    let token = call_json(
        client
            .post(format!(
                "{}/open-apis/auth/v3/tenant_access_token/internal",
                sim.base
            ))
            .json(&json!({ "app_id": sim.options.app_id, "app_secret": sim.options.app_secret })),
        &[200],
    )
    .await?["tenant_access_token"]
        .as_str()
        .context("no tenant_access_token")?
        .to_string();
    let url = format!(
        "{}/open-apis/im/v1/messages?receive_id_type=user_id",
        sim.base
    );
    let send = |prefix: &'static str| {
        let (client, url, token) = (client.clone(), url.clone(), token.clone());
        move |i: usize| -> Job {
            let text = format!("{prefix} {i}");
            let body = json!({
                "receive_id": RECEIVER,
                "msg_type": "text",
                "content": json!({ "text": text }).to_string(),
                "uuid": uuid(&text),
            });
            // Feishu answers a refusal with a non-200 status (and a non-zero code): 200 is a message sent.
            let request = client.post(&url).bearer_auth(&token).json(&body);
            answered(request)
        }
    };
    timed(WARMUP, CLIENTS, send("warmup raw-http")).await?;
    let (wall, latencies) = sim.timed_sends(n, CLIENTS, "raw-http", send).await?;
    Ok(Row::measured(
        "raw",
        format!("raw HTTP: reqwest (keep-alive), {CLIENTS} clients, POST im/v1/messages"),
        wall,
        &latencies,
        vec![],
    ))
}

/// Row 2: the official Python SDK, its script run in the peers' virtualenv.
async fn lark_oapi(sim: &Sim, n: usize, root: &Path, python: &Path) -> Result<(Row, String)> {
    sim.reset();
    let out = tokio::process::Command::new(python)
        .arg(root.join("tests/benches/peers/feishu_send.py"))
        .args(["--base", &sim.base])
        .args(["--app-id", &sim.options.app_id])
        .args(["--app-secret", &sim.options.app_secret])
        .args(["--receive-id", RECEIVER])
        .args(["--count", &n.to_string()])
        .args(["--warmup", &WARMUP.to_string()])
        .args(["--threads", &CLIENTS.to_string()])
        .args(["--prefix", "lark-oapi"])
        .output()
        .await
        .context("cannot run the lark-oapi peer")?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    ensure!(
        out.status.success(),
        "the lark-oapi peer failed ({}): {stdout}{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    let result: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .with_context(|| format!("the lark-oapi peer's output: {stdout}"))?;
    let number = |key: &str| {
        result[key]
            .as_f64()
            .with_context(|| format!("{key} in {result}"))
    };
    ensure!(
        number("count")? as usize == n,
        "the lark-oapi peer sent {result}"
    );
    sim.check(
        "lark-oapi ",
        texts("lark-oapi warmup", WARMUP).chain(texts("lark-oapi", n)),
    )?;
    let ms = |key: &str| number(key).map(|ms| Some(Duration::from_secs_f64(ms / 1000.0)));
    let sdk = result["sdk"].as_str().unwrap_or("lark-oapi").to_string();
    let row = Row {
        label: "sdk",
        name: format!("{sdk} (official Python SDK), {CLIENTS} threads"),
        count: n,
        seconds: number("seconds")?,
        p50: ms("p50_ms")?,
        p99: ms("p99_ms")?,
        goals: vec![],
        skipped: None,
        server: None,
    };
    Ok((row, sdk))
}

fn hello(text: &str) -> Value {
    json!({ "to": { "users": [RECEIVER] }, "text": text })
}

/// A job sending "<prefix> i" through `connection` with `?wait=`, expecting one of `expect`; the operations' ids
/// (from `Location`) go to `ids`.
fn send(
    qiao: &Arc<QiaoChild>,
    connection: &str,
    wait: u32,
    prefix: &'static str,
    expect: &'static [u16],
    ids: Option<Arc<Mutex<Vec<i64>>>>,
) -> impl Fn(usize) -> Job + Send + Sync + 'static {
    let url = qiao.url(&format!(
        "/v1/connections/{connection}/messages?wait={wait}"
    ));
    let client = qiao.client.clone();
    move |i| {
        let request = client.post(&url).json(&hello(&format!("{prefix} {i}")));
        let ids = ids.clone();
        Box::pin(async move {
            let response = call(request, expect).await?;
            if let Some(ids) = ids {
                let id = response
                    .headers()
                    .get("location")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.strip_prefix("/v1/operations/"))
                    .and_then(|v| v.parse().ok())
                    .context("an accepted send without its operation's Location")?;
                ids.lock().unwrap().push(id);
            }
            response.bytes().await?;
            Ok(())
        })
    }
}

fn get(qiao: &Arc<QiaoChild>, path: &str) -> impl Fn(usize) -> Job + Send + Sync + 'static {
    let url = qiao.url(path);
    let client = qiao.client.clone();
    move |_| {
        answered(client.get(&url))
    }
}

/// Row 6: `GET /healthz`, then connector reads through the REST API, `n` each.
async fn reads(qiao: &Arc<QiaoChild>, n: usize) -> Result<Vec<Row>> {
    let user = call_json(
        qiao.client
            .post(qiao.url("/v1/connections/echo/users?wait=30"))
            .json(&json!({ "name": "Bench Reader", "email": "reader@example.com" })),
        &[200, 201],
    )
    .await?;
    let user = user["id"]
        .as_str()
        .context("the echo user's id")?
        .to_string();
    let paths = [
        (
            "healthz",
            "GET /healthz".to_string(),
            "/healthz".to_string(),
        ),
        (
            "read_echo",
            "connector read: GET /v1/connections/echo/users/{id} (echo, kv)".to_string(),
            format!("/v1/connections/echo/users/{user}"),
        ),
        (
            "read_feishu",
            "connector read: GET /v1/connections/feishu/users/{id} (Feishu sim)".to_string(),
            format!("/v1/connections/feishu/users/{RECEIVER}"),
        ),
    ];
    let mut rows = Vec::new();
    for (label, name, path) in paths.into_iter().filter(|(label, ..)| selected("reads") || selected(label)) {
        timed(WARMUP, CLIENTS, get(qiao, &path)).await?;
        let used = child_usage(qiao.pid());
        let (wall, latencies) = timed(n, CLIENTS, get(qiao, &path)).await?;
        let goals = if label == "healthz" {
            vec![]
        } else {
            vec![Goal::Ratio {
                against: "healthz",
                min: 0.25,
            }]
        };
        rows.push(Row::measured(
            label,
            format!("{name}, {CLIENTS} clients"),
            wall,
            &latencies,
            goals,
        ).charged(qiao.pid(), used));
    }
    Ok(rows)
}

/// Row 3: durable sends answered with the platform's result.
async fn sync_sends(qiao: &Arc<QiaoChild>, sim: &Sim, n: usize) -> Result<Row> {
    timed(
        WARMUP,
        CLIENTS,
        send(qiao, "feishu", 30, "warmup sync", &[200], None),
    )
    .await?;
    let used = child_usage(qiao.pid());
    let (wall, latencies) = sim.timed_sends(n, CLIENTS, "qiao-sync", |p| send(qiao, "feishu", 30, p, &[200], None)).await?;
    Ok(Row::measured(
        "sync",
        format!("Qiao POST …/feishu/messages?wait=30 (durable send, result), {CLIENTS} clients"),
        wall,
        &latencies,
        vec![
            Goal::Ratio {
                against: "sdk",
                min: 10.0,
            },
            Goal::Ratio {
                against: "raw",
                min: 0.25,
            },
            Goal::Compare { against: "relay" },
        ],
    )
    .charged(qiao.pid(), used))
}

/// Row 8: row 3 with one client.
async fn one_client_sends(qiao: &Arc<QiaoChild>, sim: &Sim, n: usize) -> Result<Row> {
    let used = child_usage(qiao.pid());
    let (wall, latencies) = sim.timed_sends(n, 1, "qiao-one", |p| send(qiao, "feishu", 30, p, &[200], None)).await?;
    Ok(Row::measured(
        "sync_one",
        "one client: Qiao POST …/feishu/messages?wait=30".into(),
        wall,
        &latencies,
        vec![Goal::Compare { against: "relay_one" }],
    )
    .charged(qiao.pid(), used))
}

/// Row 7: the native durable relay, sent the same messages as row 3 (`n`); and as row 8, with one client
/// (`one_client`).
async fn native_relay(sim: &Sim, n: usize, one_client: usize) -> Result<Vec<Row>> {
    let dir = tempfile::tempdir()?;
    let (app_id, app_secret) = (&sim.options.app_id, &sim.options.app_secret);
    let relay = relay::RelayChild::start(dir.path(), &sim.base, app_id, app_secret).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(CLIENTS).build()?;
    let send = |prefix: &'static str| {
        let (client, url) = (client.clone(), format!("{}/messages", relay.base));
        move |i: usize| -> Job {
            answered(client.post(&url).json(&hello(&format!("{prefix} {i}"))))
        }
    };
    timed(WARMUP, CLIENTS, send("warmup relay")).await?;
    let mut rows = vec![];
    if selected("relay") {
        let used = child_usage(relay.pid());
        let (wall, latencies) = sim.timed_sends(n, CLIENTS, "relay", send).await?;
        rows.push(
            Row::measured(
                "relay",
                format!(
                    "native durable relay (axum + rusqlite + reqwest: row 3's commits and hop, no Qiao), {CLIENTS} \
                     clients"
                ),
                wall,
                &latencies,
                // Beside row 3's goals: where a program doing nothing but its commits and hop stands against them.
                vec![Goal::Compare { against: "sdk" }, Goal::Compare { against: "raw" }],
            )
            .charged(relay.pid(), used),
        );
    }
    if selected("relay_one") {
        let used = child_usage(relay.pid());
        let (wall, latencies) = sim.timed_sends(one_client, 1, "relay-one", send).await?;
        rows.push(
            Row::measured("relay_one", "one client: native durable relay".into(), wall, &latencies, vec![])
                .charged(relay.pid(), used),
        );
    }
    Ok(rows)
}

async fn counts(qiao: &QiaoChild) -> Result<Value> {
    call_json(qiao.client.get(qiao.url("/v1/operations/counts")), &[200]).await
}

fn count(counts: &Value, status: &str) -> u64 {
    counts[status].as_u64().unwrap_or(0)
}

/// Row 5: N accepted at once (`?wait=0`), timed until the outbox delivered them all.
async fn outbox(qiao: &Arc<QiaoChild>, sim: &Sim, n: usize) -> Result<Row> {
    timed(
        WARMUP,
        CLIENTS,
        send(qiao, "outbox", 30, "warmup outbox", &[200], None),
    )
    .await?;
    sim.reset();
    let before = count(&counts(qiao).await?, "succeeded");
    let ids = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let used = child_usage(qiao.pid());
    let start = Instant::now();
    // `wait=0` answers 200 with the result when the dispatcher was done before the answer was.
    let (accepted, _) = timed(
        n,
        CLIENTS,
        send(
            qiao,
            "outbox",
            0,
            "qiao-outbox",
            &[200, 202],
            Some(ids.clone()),
        ),
    )
    .await?;
    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let now = counts(qiao).await?;
        if count(&now, "succeeded") >= before + n as u64 {
            break;
        }
        if count(&now, "failed") + count(&now, "dead") + count(&now, "retrying") > 0 {
            bail!("outbox sends failed or are retried: {now}");
        }
        if Instant::now() > deadline {
            bail!("outbox sends were not all delivered in time: {now}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let wall = start.elapsed();
    let mut ids = std::mem::take(&mut *ids.lock().unwrap());
    ids.sort();
    let latencies = accept_to_success(qiao, &ids).await?;
    sim.check("qiao-outbox ", texts("qiao-outbox", n))?;
    Ok(Row::measured(
        "outbox",
        format!(
            "Qiao outbox: {n} accepted (in {:.2} s) then delivered, {CLIENTS} at once",
            accepted.as_secs_f64()
        ),
        wall,
        &latencies,
        vec![Goal::Ratio {
            against: "sync",
            min: 0.8,
        }],
    )
    .charged(qiao.pid(), used))
}

/// Each operation's time from its commit to its success (`updated_ms - created_ms`), read back from
/// `GET /v1/operations`; all of `ids` (sorted) must have succeeded.
async fn accept_to_success(qiao: &QiaoChild, ids: &[i64]) -> Result<Vec<Duration>> {
    let mut latencies = Vec::with_capacity(ids.len());
    let mut after = ids.first().map_or(0, |first| first - 1);
    let last = ids.last().copied().unwrap_or(0);
    while after < last {
        let page = call_json(
            qiao.client.get(qiao.url(&format!(
                "/v1/operations?connection=outbox&status=succeeded&after={after}&limit=1000"
            ))),
            &[200],
        )
        .await?;
        let ops = page["operations"].as_array().context("operations")?;
        if ops.is_empty() {
            break;
        }
        for op in ops {
            let id = op["id"].as_i64().context("an operation's id")?;
            if ids.binary_search(&id).is_ok() {
                let ms =
                    op["updated_ms"].as_i64().unwrap_or(0) - op["created_ms"].as_i64().unwrap_or(0);
                latencies.push(Duration::from_millis(ms.max(0) as u64));
            }
            after = after.max(id);
        }
    }
    ensure!(
        latencies.len() == ids.len(),
        "{} of {} accepted operations are listed as succeeded",
        latencies.len(),
        ids.len()
    );
    Ok(latencies)
}

/// Row 4: accepted and committed (202), to the paced connection: nothing is attempted meanwhile, so this is
/// acceptance alone. Measured last: its backlog stays queued.
async fn accept(qiao: &Arc<QiaoChild>, n: usize) -> Result<Row> {
    // The first operation runs at once and the second holds the call slot waiting for its turn; the rest queue.
    timed(
        WARMUP,
        CLIENTS,
        send(qiao, "parked", 0, "warmup accept", &[200, 202], None),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let before = counts(qiao).await?;
    let used = child_usage(qiao.pid());
    let (wall, latencies) = timed(
        n,
        CLIENTS,
        send(qiao, "parked", 0, "qiao-accept", &[202], None),
    )
    .await?;
    let after = counts(qiao).await?;
    ensure!(
        count(&after, "queued") - count(&before, "queued") == n as u64,
        "every accepted operation should still be queued: before {before}, after {after}"
    );
    Ok(Row::measured(
        "accept",
        format!(
            "Qiao accept only: POST …/parked/messages?wait=0 -> 202 (committed; deliveries paced off), {CLIENTS} clients"
        ),
        wall,
        &latencies,
        vec![Goal::Rate { min: 15_000.0 }],
    )
    .charged(qiao.pid(), used))
}

/// A goal's outcome: the ratio (or rate) measured, and whether it holds.
fn judge(goal: &Goal, row: &Row, rows: &[Row]) -> Option<(f64, bool)> {
    let rate = row.rate()?;
    match *goal {
        Goal::Ratio { against, min } => {
            let base = rows.iter().find(|r| r.label == against)?.rate()?;
            let ratio = rate / base;
            Some((ratio, ratio >= min))
        }
        Goal::Rate { min } => Some((rate, rate >= min)),
        Goal::Compare { against } => Some((rate / rows.iter().find(|r| r.label == against)?.rate()?, true)),
    }
}

/// How a ratio names its baseline.
fn name_of(label: &str) -> &str {
    match label {
        "raw" => "raw HTTP",
        "sdk" => "lark-oapi",
        "sync" => "row 3",
        "relay" => "native relay",
        "relay_one" => "native relay with one client",
        other => other,
    }
}

fn thousands(value: f64) -> String {
    let digits = format!("{:.0}", value);
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ms(d: Option<Duration>) -> String {
    d.map_or("–".into(), |d| format!("{:.2}", d.as_secs_f64() * 1000.0))
}

fn markdown(rows: &[Row]) -> String {
    let mut out = String::from(
        "| # | path | count | per second | p50 ms | p99 ms | server CPU µs/req | of which store writer | KiB written/req \
         | ratio (goal) |\n|---|---|---:|---:|---:|---:|---:|---:|---:|---|\n",
    );
    for row in rows {
        let number = match row.label {
            "raw" => "1",
            "sdk" => "2",
            "sync" => "3",
            "accept" => "4",
            "outbox" => "5",
            "relay" => "7",
            "sync_one" | "relay_one" => "8",
            _ => "6",
        };
        let goals: Vec<String> = row
            .goals
            .iter()
            .map(|goal| {
                let outcome = judge(goal, row, rows);
                let mark = |holds: bool| if holds { "✓" } else { "✗" };
                match (goal, outcome) {
                    (Goal::Ratio { against, min }, Some((ratio, holds))) => {
                        format!(
                            "{ratio:.2}× {} (≥ {min}×) {}",
                            name_of(against),
                            mark(holds)
                        )
                    }
                    (Goal::Ratio { against, min }, None) => {
                        format!("? {} (≥ {min}×)", name_of(against))
                    }
                    (Goal::Rate { min }, Some((_, holds))) => {
                        format!("(≥ {}/s) {}", thousands(*min), mark(holds))
                    }
                    (Goal::Rate { min }, None) => format!("(≥ {}/s)", thousands(*min)),
                    (Goal::Compare { against }, Some((ratio, _))) => format!("{ratio:.2}× {}", name_of(against)),
                    (Goal::Compare { against }, None) => format!("? {}", name_of(against)),
                }
            })
            .collect();
        let ratio = match (&row.skipped, goals.is_empty()) {
            (Some(why), _) => format!("skipped: {why}"),
            (None, true) => "baseline".into(),
            (None, false) => goals.join("; "),
        };
        out.push_str(&format!(
            "| {number} | {} | {} | {} | {} | {} | {} | {} | {} | {ratio} |\n",
            row.name,
            row.count,
            row.rate().map_or("–".into(), thousands),
            ms(row.p50),
            ms(row.p99),
            row.cpu_per_request().map_or("–".into(), |us| format!("{us:.0}")),
            row.store_cpu_per_request().map_or("–".into(), |us| format!("{us:.0}")),
            row.kib_written_per_request().map_or("–".into(), |kib| format!("{kib:.1}")),
        ));
    }
    out
}

fn report(
    rows: &[Row],
    quick: bool,
    n: usize,
    qiao: &Path,
    sdk: Option<String>,
    table: &str,
) -> Value {
    let secs = |d: Option<Duration>| d.map(|d| d.as_secs_f64() * 1000.0);
    json!({
        "bench": "throughput",
        "mode": if quick { "quick" } else { "full" },
        "per_row": n,
        "clients": CLIENTS,
        "cores": cores(),
        "unix_time": SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |d| d.as_secs()),
        "qiao": qiao.display().to_string(),
        "sdk": sdk,
        "rows": rows.iter().map(|row| json!({
            "label": row.label,
            "name": row.name,
            "count": row.count,
            "seconds": row.seconds,
            "per_second": row.rate(),
            "p50_ms": secs(row.p50),
            "p99_ms": secs(row.p99),
            "server_cpu_us_per_request": row.cpu_per_request(),
            "store_writer_cpu_us_per_request": row.store_cpu_per_request(),
            "server_kib_written_per_request": row.kib_written_per_request(),
            "skipped": row.skipped,
            "goals": row.goals.iter().map(|goal| {
                let outcome = judge(goal, row, rows);
                match goal {
                    Goal::Ratio { against, min } => json!({
                        "against": against, "min_ratio": min,
                        "ratio": outcome.map(|o| o.0), "holds": outcome.map(|o| o.1),
                    }),
                    Goal::Rate { min } => json!({
                        "min_per_second": min, "holds": outcome.map(|o| o.1),
                    }),
                    Goal::Compare { against } => json!({ "against": against, "ratio": outcome.map(|o| o.0) }),
                }
            }).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "table": table,
    })
}
