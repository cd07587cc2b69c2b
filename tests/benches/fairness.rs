//! Fairness under abuse, end to end through a real server, each ratio measured in the same run:
//!
//! - A: a good connection (echo; `read-status` of a sent message, client concurrency 8), alone, then while a
//!   hostile connection runs 8 concurrent calls that burn CPU in host calls (`hash-loop`: SHA-256 of 4 MiB
//!   buffers through the `crypto` import until the CPU limit, re-issued as each ends). Holds when the good
//!   connection keeps at least half its throughput and its p99 stays under 10x its idle p99.
//! - B: `GET /v1/connections` (client concurrency 8), alone, then while 32 clients send forged callbacks to a
//!   Feishu connection's `/v1/hooks/...` as fast as they are answered. Holds when the API keeps at least half its
//!   throughput.
//!
//! Needs the connectors built and signed (`make build`, or `scripts/build-connectors.sh` and
//! `scripts/sign-connectors.sh`). Run: `cargo bench -p qiao-tests --bench fairness`. Short phases (a smoke test)
//! when run without `--bench` (as `cargo test --benches` does), with `--test`, or with `QIAO_BENCH_QUICK=1`.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use qiao_tests::child::QiaoChild;
use qiao_tests::echo_server::EchoServer;
use qiao_tests::feishu_sim::{FeishuSim, Options};
use serde_json::json;
use tokio::sync::Mutex;

/// Client concurrency of the measured (good) traffic.
const CLIENTS: usize = 8;
/// Concurrent calls of the hostile connection.
const HOSTILE_CALLS: usize = 8;
/// Concurrent senders of forged callbacks.
const FLOODERS: usize = 32;

/// One measured phase: requests done, their latencies, and the wall time.
struct Phase {
    name: String,
    latencies: Vec<Duration>,
    errors: usize,
    seconds: f64,
}

impl Phase {
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        if sorted.is_empty() {
            return Duration::ZERO;
        }
        sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1]
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = std::env::var("QIAO_BENCH_QUICK").is_ok_and(|v| v == "1")
        || args.iter().any(|a| a == "--test")
        || !args.iter().any(|a| a == "--bench");
    let phase = if quick { Duration::from_secs(1) } else { Duration::from_secs(5) };
    println!(
        "fairness bench ({} mode): {} s per phase, client concurrency {CLIENTS}, {HOSTILE_CALLS} hostile calls, \
         {FLOODERS} flooders, {} cores",
        if quick { "quick" } else { "full" },
        phase.as_secs(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    let (rows, notes) = rt.block_on(bench(phase))?;
    print_table(&rows);
    for note in &notes {
        println!("{note}");
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// Runs `request` from `CLIENTS` clients for `length`, timing each.
async fn measure<F, Fut>(name: &str, length: Duration, request: F) -> Phase
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let request = Arc::new(request);
    let started = Instant::now();
    let until = started + length;
    let results = Arc::new(Mutex::new((Vec::new(), 0usize)));
    let mut clients = Vec::new();
    for _ in 0..CLIENTS {
        let (request, results) = (request.clone(), results.clone());
        clients.push(tokio::spawn(async move {
            let (mut mine, mut errors) = (Vec::new(), 0);
            while Instant::now() < until {
                let t = Instant::now();
                if request().await {
                    mine.push(t.elapsed());
                } else {
                    errors += 1;
                }
            }
            let mut all = results.lock().await;
            all.0.extend(mine);
            all.1 += errors;
        }));
    }
    for client in clients {
        let _ = client.await;
    }
    let seconds = started.elapsed().as_secs_f64();
    let (latencies, errors) = std::mem::take(&mut *results.lock().await);
    Phase { name: name.to_string(), latencies, errors, seconds }
}

/// Runs `attack` from `n` tasks, over and over, until the returned flag is set; counts outcomes by label.
fn attack<F, Fut>(n: usize, attack: F) -> (Arc<AtomicBool>, tokio::task::JoinHandle<BTreeMap<String, usize>>)
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: Future<Output = String> + Send,
{
    let stop = Arc::new(AtomicBool::new(false));
    let attack = Arc::new(attack);
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (stop, attack) = (stop.clone(), attack.clone());
            tokio::spawn(async move {
                let mut seen = BTreeMap::<String, usize>::new();
                while !stop.load(Ordering::Relaxed) {
                    *seen.entry(attack().await).or_default() += 1;
                }
                seen
            })
        })
        .collect();
    let all = tokio::spawn(async move {
        let mut seen = BTreeMap::new();
        for task in tasks {
            for (k, v) in task.await.unwrap_or_default() {
                *seen.entry(k).or_default() += v;
            }
        }
        seen
    });
    (stop, all)
}

fn outcome(status: u16, body: &serde_json::Value) -> String {
    match body["error"]["code"].as_str() {
        Some(code) => format!("{status} {code}"),
        None => status.to_string(),
    }
}

async fn bench(length: Duration) -> Result<(Vec<(Phase, Option<usize>)>, Vec<String>)> {
    let echo = EchoServer::start().await;
    let sim = FeishuSim::start(Options::default()).await?;
    let o = &sim.options;
    let config = format!(
        r#"
        [connections.good]
        connector = "echo"
        settings = {{ api_base = "{echo}" }}

        [connections.evil]
        connector = "hostile"
        settings = {{ api_base = "{echo}" }}
        limits = {{ timeout_ms = 60000 }}

        [connections.flooded]
        connector = "feishu"
        settings = {{ app_id = "{app_id}", api_base = "{sim}" }}
        secrets = {{ app_secret = "{secret}", verification_token = "{token}", encrypt_key = "{key}" }}
        "#,
        echo = echo.base,
        app_id = o.app_id,
        sim = sim.base,
        secret = o.app_secret,
        token = o.verification_token,
        key = o.encrypt_key,
    );
    let qiao = Arc::new(QiaoChild::start(&["echo", "hostile", "feishu"], &config).await?);
    let (status, body) = qiao
        .post("/v1/connections/good/messages?wait=30", json!({ "to": { "users": ["u1"] }, "text": "hi" }))
        .await;
    ensure!(status == 200, "send on the good connection: {status} {body}");
    let id = body["message_id"].as_str().unwrap_or_default().to_string();
    let mut rows = Vec::new();
    let mut notes = Vec::new();

    // A: the good connection's reads, alone and next to the hostile connection's host-call-heavy calls.
    let good_read = {
        let (qiao, path) = (qiao.clone(), format!("/v1/connections/good/messages/{id}/read-status"));
        move || {
            let (qiao, url) = (qiao.clone(), qiao.url(&path));
            async move {
                succeeded(qiao.client.get(url).send().await).await
            }
        }
    };
    let idle = measure("A. echo read, alone", length, good_read.clone()).await;
    let (stop, hostile) = attack(HOSTILE_CALLS, {
        let qiao = qiao.clone();
        move || {
            let qiao = qiao.clone();
            async move {
                let (status, body) = qiao.get("/v1/connections/evil/messages/hash-loop/read-status").await;
                outcome(status, &body)
            }
        }
    });
    // Let the hostile calls start before measuring.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let loaded = measure("A. echo read, 8 hash-loop calls next door", length, good_read).await;
    stop.store(true, Ordering::Relaxed);
    let hostile = hostile.await?;
    let rate_ratio = loaded.rate() / idle.rate();
    let p99_ratio = loaded.percentile(0.99).as_secs_f64() / idle.percentile(0.99).as_secs_f64().max(1e-9);
    notes.push(format!(
        "A: throughput kept {:.0}% (needs >= 50%: {}), p99 {:.1}x idle p99 (needs < 10x: {}); hostile calls: {hostile:?}",
        rate_ratio * 100.0,
        verdict(rate_ratio >= 0.5),
        p99_ratio,
        verdict(p99_ratio < 10.0)
    ));
    rows.push((idle, None));
    rows.push((loaded, Some(0)));

    // B: the authenticated API, alone and during a flood of forged callbacks.
    let api = {
        let qiao = qiao.clone();
        move || {
            let (qiao, url) = (qiao.clone(), qiao.url("/v1/connections"));
            async move { succeeded(qiao.client.get(url).send().await).await }
        }
    };
    let idle = measure("B. GET /v1/connections, alone", length, api.clone()).await;
    let forger = reqwest::Client::new();
    let (stop, flood) = attack(FLOODERS, {
        let (forger, url) = (forger.clone(), qiao.url("/v1/hooks/flooded"));
        move || {
            let (forger, url) = (forger.clone(), url.clone());
            async move {
                match forger.post(url).json(&json!({ "encrypt": "bm90IHJlYWxseQ==" })).send().await {
                    Ok(r) => {
                        let status = r.status().as_u16();
                        let _ = r.bytes().await;
                        status.to_string()
                    }
                    Err(_) => "transport error".to_string(),
                }
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let flood_started = Instant::now();
    let loaded = measure("B. GET /v1/connections, forged-callback flood", length, api).await;
    stop.store(true, Ordering::Relaxed);
    let flood = flood.await?;
    let flood_seconds = flood_started.elapsed().as_secs_f64() + 0.2;
    let rate_ratio = loaded.rate() / idle.rate();
    notes.push(format!(
        "B: throughput kept {:.0}% (needs >= 50%: {}); forged callbacks answered: {flood:?} (~{:.0}/s)",
        rate_ratio * 100.0,
        verdict(rate_ratio >= 0.5),
        flood.values().sum::<usize>() as f64 / flood_seconds
    ));
    let base = rows.len();
    rows.push((idle, None));
    rows.push((loaded, Some(base)));
    Ok((rows, notes))
}

/// A 200 whose body was read in full.
async fn succeeded(response: reqwest::Result<reqwest::Response>) -> bool {
    match response {
        Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
        _ => false,
    }
}

fn verdict(holds: bool) -> &'static str {
    if holds { "holds" } else { "MISSED" }
}

fn print_table(rows: &[(Phase, Option<usize>)]) {
    println!(
        "\n{:<48} {:>8} {:>6} {:>10} {:>9} {:>9} {:>9} {:>8} {:>8}",
        "phase", "requests", "errors", "req/s", "p50 ms", "p99 ms", "max ms", "x rate", "x p99"
    );
    for (phase, against) in rows {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        let (x_rate, x_p99) = match against {
            Some(i) => {
                let base = &rows[*i].0;
                (
                    format!("{:.2}", phase.rate() / base.rate()),
                    format!("{:.1}", ms(phase.percentile(0.99)) / ms(base.percentile(0.99)).max(1e-6)),
                )
            }
            None => ("-".into(), "-".into()),
        };
        println!(
            "{:<48} {:>8} {:>6} {:>10.0} {:>9.2} {:>9.2} {:>9.2} {:>8} {:>8}",
            phase.name,
            phase.latencies.len(),
            phase.errors,
            phase.rate(),
            ms(phase.percentile(0.5)),
            ms(phase.percentile(0.99)),
            ms(phase.latencies.iter().max().copied().unwrap_or_default()),
            x_rate,
            x_p99
        );
    }
    println!();
}
