//! Throughput of the outbox, end to end through a real server, next to baselines measured in the same run — the
//! HTTP layer alone, a raw SQLite commit with the store's pragmas, and the same sends made synchronously — so the
//! numbers to compare across machines are the ratios.
//!
//! - A: `GET /healthz` round trips (client concurrency 32): the HTTP layer alone.
//! - accept: `POST .../messages?wait=0` (and without `?wait`) answered 202, to a connection paced so that its
//!   dispatcher attempts nothing meanwhile; then the same with that backlog still queued.
//! - B: one `INSERT` of a stored request per transaction, straight through rusqlite, WAL with `synchronous` NORMAL
//!   (the store's setting), FULL (an fsync per commit) and OFF (no fsync at all, for reference).
//! - C: sends made synchronously (`?wait=30`, client concurrency 8), against the echo server and the Feishu
//!   simulator; next to each, the same number accepted at once and timed until all have succeeded (dispatcher
//!   concurrency 8).
//!
//! Needs the connectors built (`scripts/build-connectors.sh`). Run: `cargo bench -p qiao-tests --bench outbox`.
//! Small counts, for a smoke test in seconds, when run without `--bench` (as `cargo test --benches` does), with
//! `--test`, or with `QIAO_BENCH_QUICK=1`.

mod common;

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, bail, ensure};
use common::{concurrently, process_cpu, quick_mode};
use qiao_tests::TestServer;
use qiao_tests::echo_server::EchoServer;
use qiao_tests::feishu_sim::{FeishuSim, Options};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Concurrency of the client for the HTTP baseline and acceptance.
const ACCEPT_CONCURRENCY: usize = 32;
/// The dispatcher's per-connection concurrency, and the synchronous client's, for delivery.
const DELIVERY_CONCURRENCY: usize = 8;

struct Sizes {
    /// Requests for baseline A and for acceptance (and inserts for baseline B).
    accepts: usize,
    /// Sends delivered per target (outbox and synchronous each).
    deliveries: usize,
    /// Wall time allowed to raw inserts with `synchronous = FULL` (each fsyncs: on a slow disk, N of them could
    /// take minutes).
    full_budget: Duration,
}

/// One line of the table: `count` done in `seconds`.
struct Row {
    name: String,
    count: usize,
    seconds: f64,
    /// Labels of the baselines this row is compared with (each must be a row's `label`).
    against: Vec<&'static str>,
    label: Option<&'static str>,
    /// CPU time the whole process (client, server, simulator) used meanwhile, when known.
    cpu: Option<Duration>,
}

impl Row {
    fn rate(&self) -> f64 {
        self.count as f64 / self.seconds
    }
}

fn main() -> Result<()> {
    let quick = quick_mode();
    let sizes = if quick {
        Sizes {
            accepts: 200,
            deliveries: 100,
            full_budget: Duration::from_secs(1),
        }
    } else {
        Sizes {
            accepts: 5_000,
            deliveries: 2_000,
            full_budget: Duration::from_secs(10),
        }
    };
    println!(
        "outbox bench ({} mode): {} accepts at concurrency {ACCEPT_CONCURRENCY}, {} deliveries per target at \
         concurrency {DELIVERY_CONCURRENCY}",
        if quick { "quick" } else { "full" },
        sizes.accepts,
        sizes.deliveries
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut settings = Vec::new();
    let request = rt.block_on(acceptance(&sizes, &mut rows, &mut settings))?;
    raw_sqlite(&sizes, &request, &mut rows, &mut settings)?;
    rt.block_on(delivery(&sizes, &mut rows))?;
    print_table(&rows);
    println!(
        "\nCPU us/op: CPU time of this whole process (client, server, simulator) per operation; cores: that CPU \
         time over the wall time ({} available). Ratios are per-second rates over the named baseline's.",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("\nSQLite settings:");
    for line in &settings {
        println!("  {line}");
    }
    println!("\ntotal wall time {:.1} s", started.elapsed().as_secs_f64());
    // Servers left idle (a paced operation sleeping in the parked connection) need not be waited for.
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// Wall time, and the process's CPU time, since it started.
struct Clock {
    wall: Instant,
    cpu: Option<Duration>,
}

impl Clock {
    fn start() -> Clock {
        Clock {
            wall: Instant::now(),
            cpu: process_cpu(),
        }
    }

    fn row(
        &self,
        name: String,
        count: usize,
        against: Vec<&'static str>,
        label: Option<&'static str>,
    ) -> Row {
        Row {
            name,
            count,
            seconds: self.wall.elapsed().as_secs_f64(),
            cpu: process_cpu()
                .zip(self.cpu)
                .map(|(now, then)| now.saturating_sub(then)),
            against,
            label,
        }
    }
}

fn hello(text: &str) -> Value {
    json!({ "to": { "users": ["alice"] }, "text": text })
}

/// One request; its body, once it checked the status is one of `expect`.
async fn call(request: reqwest::RequestBuilder, expect: &[u16]) -> Result<bytes::Bytes> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = response.bytes().await?;
    if !expect.contains(&status) {
        bail!(
            "expected {expect:?}, got {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(body)
}

async fn counts(qiao: &TestServer) -> Result<Value> {
    let body = call(qiao.client.get(qiao.url("/v1/operations/counts")), &[200]).await?;
    Ok(serde_json::from_slice(&body)?)
}

fn count(counts: &Value, status: &str) -> u64 {
    counts[status].as_u64().unwrap_or(0)
}

/// A server with one connection whose dispatcher drains nothing meanwhile: one call slot, and one call started
/// per 100 s (the first runs at once, the second holds the slot while it waits its turn; the rest stay queued).
/// Its client is warmed up, and the connection has taken its first operations.
async fn parked(echo: &EchoServer) -> Result<Arc<TestServer>> {
    let config = format!(
        "[connections.parked]\nconnector = \"echo\"\nsettings = {{ api_base = \"{}\" }}\n\
         outbox = {{ concurrency = 1, rate_per_second = 0.01 }}\n",
        echo.base
    );
    let qiao = Arc::new(TestServer::start(&["echo"], &config).await?);
    concurrently(ACCEPT_CONCURRENCY * 4, ACCEPT_CONCURRENCY, healthz(&qiao)).await?;
    concurrently(
        ACCEPT_CONCURRENCY,
        ACCEPT_CONCURRENCY,
        accept(&qiao, WAIT_0),
    )
    .await?;
    tokio::time::sleep(Duration::from_millis(200)).await;
    Ok(qiao)
}

const WAIT_0: &str = "/v1/connections/parked/messages?wait=0";
const NO_WAIT: &str = "/v1/connections/parked/messages";

fn healthz(qiao: &Arc<TestServer>) -> impl Fn(usize) -> BoxedJob + Send + Sync + 'static {
    let qiao = qiao.clone();
    move |_| {
        let request = qiao.client.get(qiao.url("/healthz"));
        Box::pin(async move { call(request, &[200]).await.map(drop) })
    }
}

fn accept(
    qiao: &Arc<TestServer>,
    path: &'static str,
) -> impl Fn(usize) -> BoxedJob + Send + Sync + 'static {
    let qiao = qiao.clone();
    move |i| {
        let request = qiao
            .client
            .post(qiao.url(path))
            .json(&hello(&format!("accepted {i}")));
        Box::pin(async move { call(request, &[202]).await.map(drop) })
    }
}

type BoxedJob = std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send>>;

/// Waits until `n` more operations than in `before` are queued: none was attempted during the measurement.
async fn all_queued(qiao: &TestServer, before: &Value, n: usize) -> Result<()> {
    let after = counts(qiao).await?;
    let queued = count(&after, "queued") - count(before, "queued");
    ensure!(
        queued == n as u64,
        "the accepted operations should all still be queued: before {before}, after {after}"
    );
    Ok(())
}

/// Baseline A and acceptance. Returns a stored request, for baseline B's rows.
async fn acceptance(
    sizes: &Sizes,
    rows: &mut Vec<Row>,
    settings: &mut Vec<String>,
) -> Result<String> {
    let echo = EchoServer::start().await;
    let n = sizes.accepts;
    // Each kind of acceptance on its own server, so each starts with the same (empty) queue.
    {
        let qiao = parked(&echo).await?;
        let before = counts(&qiao).await?;
        let clock = Clock::start();
        concurrently(n, ACCEPT_CONCURRENCY, accept(&qiao, NO_WAIT)).await?;
        rows.push(clock.row(
            format!("accept: POST messages (no ?wait) -> 202, concurrency {ACCEPT_CONCURRENCY}"),
            n,
            vec!["A", "B"],
            None,
        ));
        all_queued(&qiao, &before, n).await?;
    }
    let qiao = parked(&echo).await?;
    let before = counts(&qiao).await?;
    let clock = Clock::start();
    concurrently(n, ACCEPT_CONCURRENCY, healthz(&qiao)).await?;
    rows.insert(
        0,
        clock.row(
            format!("A: GET /healthz (HTTP layer), concurrency {ACCEPT_CONCURRENCY}"),
            n,
            vec![],
            Some("A"),
        ),
    );
    let clock = Clock::start();
    concurrently(n, ACCEPT_CONCURRENCY, accept(&qiao, WAIT_0)).await?;
    rows.insert(
        1,
        clock.row(
            format!("accept: POST messages?wait=0 -> 202, concurrency {ACCEPT_CONCURRENCY}"),
            n,
            vec!["A", "B"],
            Some("ACC"),
        ),
    );
    // The same again, with those `n` still queued: how acceptance slows down as a backlog builds.
    let clock = Clock::start();
    concurrently(n, ACCEPT_CONCURRENCY, accept(&qiao, WAIT_0)).await?;
    rows.push(clock.row(
        format!(
            "accept: the same with {n} already queued (backlog {n} -> {})",
            2 * n
        ),
        n,
        vec!["ACC"],
        None,
    ));
    all_queued(&qiao, &before, 2 * n).await?;

    let (_, op) = qiao.get("/v1/operations/1").await;
    let request = op["request"].to_string();
    ensure!(
        op["operation"] == "send",
        "no stored operation to copy: {op}"
    );
    let db = qiao.data_dir.join("qiao.db");
    let conn =
        rusqlite::Connection::open_with_flags(&db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let pragma = |name: &str| -> Result<String> {
        let value: rusqlite::types::Value =
            conn.query_row(&format!("PRAGMA {name}"), [], |r| r.get(0))?;
        Ok(match value {
            rusqlite::types::Value::Integer(i) => i.to_string(),
            rusqlite::types::Value::Text(t) => t,
            other => format!("{other:?}"),
        })
    };
    settings.push(format!(
        "server store {}: journal_mode={} (stored in the file), synchronous=NORMAL (set per connection by \
         crates/store/src/lib.rs), page_size={}, wal_autocheckpoint={} pages, one connection behind a mutex",
        db.display(),
        pragma("journal_mode")?,
        pragma("page_size")?,
        pragma("wal_autocheckpoint")?,
    ));
    settings.push(format!(
        "SQLite {}; temporary files on {}",
        rusqlite::version(),
        filesystem(&qiao.data_dir)
    ));
    Ok(request)
}

/// Baseline B: the same rows inserted directly, one transaction each, with `synchronous` NORMAL and FULL.
fn raw_sqlite(
    sizes: &Sizes,
    request: &str,
    rows: &mut Vec<Row>,
    settings: &mut Vec<String>,
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    // OFF (never fsync, not even at checkpoints) is for reference only: it shows what the syncs cost.
    for (synchronous, label) in [("NORMAL", "B"), ("FULL", "B_FULL"), ("OFF", "B_OFF")] {
        // The store's own schema (its migrations, every index of the operations table), then written directly.
        let path = dir.path().join(format!("raw-{synchronous}.db"));
        let key = qiao_secrets::MasterKey::generate();
        drop(qiao_store::Db::open(&path, key)?);
        let conn = rusqlite::Connection::open(&path)?;
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = WAL; PRAGMA synchronous = {synchronous}; PRAGMA foreign_keys = ON;"
        ))?;
        let journal: String = conn.query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        let sync: i64 = conn.query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        settings.push(format!(
            "baseline {label}: journal_mode={journal}, synchronous={sync} ({synchronous}), one transaction per \
             INSERT of a {}-byte stored request into the operations table and its 4 indexes",
            request.len()
        ));
        let budget = if synchronous == "FULL" {
            sizes.full_budget
        } else {
            Duration::from_secs(60)
        };
        let clock = Clock::start();
        let mut done = 0;
        while done < sizes.accepts && clock.wall.elapsed() < budget {
            let request = request.replace("accepted", &format!("raw {done}"));
            let hash: String = Sha256::digest(&request)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            let now = qiao_store::now_ms();
            let tx = conn.unchecked_transaction()?;
            tx.prepare_cached(
                "INSERT INTO operations (connection, operation, request, idempotency_key, request_hash, status,
                     next_attempt_ms, created_ms, updated_ms)
                 VALUES (?1, ?2, ?3, NULL, ?4, 'queued', ?5, ?5, ?5)",
            )?
            .execute(rusqlite::params!["parked", "send", request, hash, now])?;
            tx.commit()?;
            done += 1;
        }
        rows.push(clock.row(
            format!("{label}: raw SQLite insert+commit, WAL, synchronous={synchronous}"),
            done,
            if label == "B" { vec![] } else { vec!["B"] },
            Some(label),
        ));
    }
    Ok(())
}

/// The file system holding `path` (from /proc/self/mountinfo), which decides what an fsync costs.
fn filesystem(path: &Path) -> String {
    let path = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return "an unknown file system".into();
    };
    mounts
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split(' ').collect();
            let mount = *fields.get(4)?;
            let dash = fields.iter().position(|f| *f == "-")?;
            let (kind, source) = (fields.get(dash + 1)?, fields.get(dash + 2)?);
            path.starts_with(mount)
                .then(|| (mount.len(), format!("{kind} ({source} mounted at {mount})")))
        })
        .max_by_key(|(len, _)| *len)
        .map_or_else(|| "an unknown file system".into(), |(_, fs)| fs)
}

/// Baseline C and delivery through the outbox, against the echo server and the Feishu simulator.
async fn delivery(sizes: &Sizes, rows: &mut Vec<Row>) -> Result<()> {
    let outbox = format!("concurrency = {DELIVERY_CONCURRENCY}, rate_per_second = 100000");
    {
        let echo = EchoServer::start().await;
        let config = ["sync", "async"]
            .map(|name| {
                format!(
                    "[connections.{name}]\nconnector = \"echo\"\nsettings = {{ api_base = \"{}\" }}\n\
                     outbox = {{ {outbox} }}\n",
                    echo.base
                )
            })
            .concat();
        let qiao = Arc::new(TestServer::start(&["echo"], &config).await?);
        deliver(sizes, &qiao, "echo", "C_echo", rows).await?;
        ensure!(
            echo.recorded.all().len() >= 2 * sizes.deliveries,
            "the echo server did not get every send"
        );
    }
    {
        let sim = FeishuSim::start(Options {
            qps: 100_000,
            ..Default::default()
        })
        .await?;
        let o = &sim.options;
        let config = ["sync", "async"]
            .map(|name| {
                format!(
                    "[connections.{name}]\nconnector = \"feishu\"\n\
                     settings = {{ app_id = \"{}\", api_base = \"{}\", user_id_type = \"user_id\" }}\n\
                     secrets = {{ app_secret = \"{}\", verification_token = \"{}\", encrypt_key = \"{}\" }}\n\
                     outbox = {{ {outbox} }}\n",
                    o.app_id, sim.base, o.app_secret, o.verification_token, o.encrypt_key
                )
            })
            .concat();
        let qiao = Arc::new(TestServer::start(&["feishu"], &config).await?);
        deliver(sizes, &qiao, "Feishu sim", "C_feishu", rows).await?;
        ensure!(
            sim.state().messages.len() >= 2 * sizes.deliveries,
            "the simulator did not get every send"
        );
    }
    Ok(())
}

/// M sends made synchronously (`?wait=30`, client concurrency 8) through connection `sync`, then M accepted
/// through connection `async` and timed until all of them have succeeded.
async fn deliver(
    sizes: &Sizes,
    qiao: &Arc<TestServer>,
    target: &str,
    label: &'static str,
    rows: &mut Vec<Row>,
) -> Result<()> {
    let send = |connection: &'static str, wait: u32, expect: &'static [u16]| {
        let qiao = qiao.clone();
        move |i: usize| {
            let request = qiao
                .client
                .post(qiao.url(&format!(
                    "/v1/connections/{connection}/messages?wait={wait}"
                )))
                .json(&hello(&format!("{connection} {i}")));
            async move { call(request, expect).await.map(drop) }
        }
    };
    // Warm up both connections (compiled component loaded, the Feishu token fetched and stored) and the client.
    for connection in ["sync", "async"] {
        concurrently(
            DELIVERY_CONCURRENCY * 2,
            DELIVERY_CONCURRENCY,
            send(connection, 30, &[200]),
        )
        .await?;
    }
    let m = sizes.deliveries;

    let clock = Clock::start();
    concurrently(m, DELIVERY_CONCURRENCY, send("sync", 30, &[200])).await?;
    rows.push(clock.row(
        format!("{label}: synchronous send (?wait=30) to {target}, client concurrency {DELIVERY_CONCURRENCY}"),
        m,
        vec![],
        Some(label),
    ));

    let before = count(&counts(qiao).await?, "succeeded");
    let clock = Clock::start();
    // `wait=0` answers 200 with the result when the dispatcher was done before the answer was.
    let accepted = concurrently(m, ACCEPT_CONCURRENCY, send("async", 0, &[200, 202])).await?;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let now = counts(qiao).await?;
        if count(&now, "succeeded") >= before + m as u64 {
            break;
        }
        if count(&now, "failed") + count(&now, "dead") + count(&now, "retrying") > 0 {
            bail!("sends to {target} failed or are retried: {now}");
        }
        if Instant::now() > deadline {
            bail!("sends to {target} were not all delivered in time: {now}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    rows.push(clock.row(
        format!(
            "outbox: {m} accepted (in {:.2} s) then delivered to {target}, dispatcher concurrency \
             {DELIVERY_CONCURRENCY}",
            accepted.as_secs_f64()
        ),
        m,
        vec![label],
        None,
    ));
    Ok(())
}

fn print_table(rows: &[Row]) {
    let rate_of = |label: &str| rows.iter().find(|r| r.label == Some(label)).map(Row::rate);
    let name_width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4);
    println!(
        "\n{:<name_width$}  {:>6}  {:>8}  {:>10}  {:>10}  {:>5}  ratio vs baseline",
        "name", "count", "seconds", "per second", "CPU us/op", "cores"
    );
    println!("{}", "-".repeat(name_width + 68));
    for row in rows {
        let ratios: Vec<String> = row
            .against
            .iter()
            .filter_map(|b| rate_of(b).map(|base| format!("{:.3}x {b}", row.rate() / base)))
            .collect();
        let ratio = if ratios.is_empty() {
            "(baseline)".to_string()
        } else {
            ratios.join(", ")
        };
        let (per_op, cores) = match row.cpu {
            Some(cpu) => (
                format!("{:.0}", cpu.as_secs_f64() * 1e6 / row.count as f64),
                format!("{:.2}", cpu.as_secs_f64() / row.seconds),
            ),
            None => ("?".into(), "?".into()),
        };
        println!(
            "{:<name_width$}  {:>6}  {:>8.3}  {:>10.0}  {per_op:>10}  {cores:>5}  {ratio}",
            row.name,
            row.count,
            row.seconds,
            row.rate()
        );
    }
}
