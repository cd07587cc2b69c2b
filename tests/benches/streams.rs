//! Events per second into the store through one event stream, next to the same events over HTTP webhooks in the
//! same run, each event stored (committed, de-duplicated by id) before it is acknowledged:
//!
//! - stream: the hostile test connector's event-stream against the test gateway: N `event:ID` frames sent back to
//!   back on one WebSocket; done when the N acks are back. One stream is sequential by design (frames are handled in
//!   order, one connector call each), as DingTalk Stream mode and Feishu's long connection deliver them.
//! - webhook, 1 client: the echo connector's webhook, N callbacks one after another on one keep-alive connection:
//!   the same one-at-a-time shape over HTTP.
//! - webhook, 16 clients: N callbacks from 16 concurrent clients: what a platform pushing in parallel gets.
//!
//! - DingTalk, stream and webhook: the same approval events through the DingTalk connector, pushed by the
//!   simulator over its Stream gateway (one WebSocket; done when every frame is acked), and delivered as signed,
//!   encrypted HTTP callbacks from 16 clients.
//!
//! Needs the connectors built and signed. Run: `cargo bench -p qiao-tests --bench streams`. A small N (a smoke
//! test) when run without `--bench` or with `QIAO_BENCH_QUICK=1`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Result, ensure};
use qiao_tests::TestServer;
use qiao_tests::dingtalk_sim::{DingTalkSim, Options};
use qiao_tests::echo_server::EchoServer;
use qiao_tests::stream_gateway::StreamGateway;
use serde_json::json;
use tokio::sync::Mutex;

struct Row {
    name: &'static str,
    events: usize,
    seconds: f64,
    latencies: Vec<Duration>,
}

impl Row {
    fn rate(&self) -> f64 {
        self.events as f64 / self.seconds
    }

    fn percentile(&self, p: f64) -> Option<Duration> {
        let mut sorted = self.latencies.clone();
        sorted.sort();
        (!sorted.is_empty())
            .then(|| sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1])
    }
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = std::env::var("QIAO_BENCH_QUICK").is_ok_and(|v| v == "1")
        || !args.iter().any(|a| a == "--bench");
    let n = if quick { 300 } else { 5000 };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut rows = rt.block_on(bench(n))?;
    rows.extend(rt.block_on(dingtalk(n))?);
    println!(
        "streams bench ({} mode): {n} events per row, {} cores",
        if quick { "quick" } else { "full" },
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| path | events/s | p50 | p99 | vs stream |");
    println!("|---|---|---|---|---|");
    let stream = rows[0].rate();
    for row in &rows {
        let ms = |d: Option<Duration>| {
            d.map_or("—".to_string(), |d| {
                format!("{:.2} ms", d.as_secs_f64() * 1e3)
            })
        };
        println!(
            "| {} | {:.0} | {} | {} | {:.2}× |",
            row.name,
            row.rate(),
            ms(row.percentile(0.5)),
            ms(row.percentile(0.99)),
            row.rate() / stream
        );
    }
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

async fn bench(n: usize) -> Result<Vec<Row>> {
    let gateway = StreamGateway::start().await;
    let echo = EchoServer::start().await;
    let config = format!(
        r#"
        [connections.streamed]
        connector = "hostile"
        settings = {{ api_base = "{0}", stream = "on" }}

        [connections.hooked]
        connector = "echo"
        settings = {{ api_base = "{1}" }}
        # Unthrottled: the bench measures the host, not the flood guard.
        inbound = {{ rate_per_second = 1000000, burst = 1000000 }}
        "#,
        gateway.base, echo.base
    );
    let qiao = TestServer::start(&["hostile", "echo"], &config).await?;
    gateway.wait_for_connects(1, Duration::from_secs(15)).await;

    // Warm up both paths (compiled code, statements, connections).
    gateway.send("event:warm");
    gateway.wait_for_frame("ack:warm").await;
    let client = reqwest::Client::new();
    let hook = qiao.url("/v1/hooks/hooked");
    post(&client, &hook, "warm").await?;

    let before = gateway.received_count();
    let started = Instant::now();
    for i in 0..n {
        gateway.send(&format!("event:s{i}"));
    }
    gateway
        .wait(Duration::from_secs(600), "every ack", |g| {
            g.received_count() >= before + n
        })
        .await;
    let stream = Row {
        name: "stream (one WebSocket)",
        events: n,
        seconds: started.elapsed().as_secs_f64(),
        latencies: vec![],
    };

    let mut latencies = Vec::with_capacity(n);
    let started = Instant::now();
    for i in 0..n {
        let t = Instant::now();
        post(&client, &hook, &format!("w1-{i}")).await?;
        latencies.push(t.elapsed());
    }
    let one = Row {
        name: "webhook, 1 client",
        events: n,
        seconds: started.elapsed().as_secs_f64(),
        latencies,
    };

    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let started = Instant::now();
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (client, hook, next, latencies) = (
                client.clone(),
                hook.clone(),
                next.clone(),
                latencies.clone(),
            );
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= n {
                        break;
                    }
                    let t = Instant::now();
                    post(&client, &hook, &format!("w16-{i}")).await?;
                    mine.push(t.elapsed());
                }
                latencies.lock().await.extend(mine);
                anyhow::Ok(())
            })
        })
        .collect();
    for c in clients {
        c.await??;
    }
    let sixteen = Row {
        name: "webhook, 16 clients",
        events: n,
        seconds: started.elapsed().as_secs_f64(),
        latencies: std::mem::take(&mut *latencies.lock().await),
    };

    // Every event is in the store, once.
    for (connection, want) in [("streamed", n + 1), ("hooked", 2 * n + 1)] {
        let (mut stored, mut after) = (0, 0);
        loop {
            let page = qiao
                .db()
                .list_events(after, Some(connection.to_string()), 1000)
                .await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            stored += page.len();
        }
        ensure!(
            stored == want,
            "{connection}: {stored} events stored, want {want}"
        );
    }
    Ok(vec![stream, one, sixteen])
}

/// The same approval events through the DingTalk connector: over Stream mode, then as HTTP callbacks.
async fn dingtalk(n: usize) -> Result<Vec<Row>> {
    let sim = Arc::new(
        DingTalkSim::start(Options {
            qps: 1_000_000,
            ..Options::default()
        })
        .await?,
    );
    let o = &sim.options;
    let config = format!(
        "[connections.dt_stream]\nconnector = \"dingtalk\"\n\
         settings = {{ app_key = \"{}\", agent_id = \"{}\", oapi_base = \"{base}\", api_base = \"{base}/\" }}\n\
         secrets = {{ app_secret = \"{}\" }}\n{}",
        o.app_key,
        o.agent_id,
        o.app_secret,
        sim.connection(
            "dt_hook",
            "inbound = { rate_per_second = 1000000, burst = 1000000 }"
        ),
        base = sim.base,
    );
    let qiao = TestServer::start(&["dingtalk"], &config).await?;
    let started = Instant::now();
    while !sim.stream_connected() {
        ensure!(
            started.elapsed() < Duration::from_secs(15),
            "the DingTalk stream never connected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let corp = sim.options.corp_id.clone();
    let event = move |i: usize, via: &str| {
        json!({
            "EventType": "bpms_instance_change", "eventId": format!("{via}-{i}"), "CorpId": corp,
            "EventTime": 1_780_000_000_000u64 + i as u64, "processInstanceId": format!("pi-{via}-{i}"),
            "processCode": "PROC-LEAVE", "type": "finish", "result": "agree", "title": "bench", "staffId": "alice",
        })
    };

    let acked = sim.stream_stats().acks;
    let started = Instant::now();
    sim.raise((0..n).map(|i| event(i, "stream")).collect());
    while sim.stream_stats().acks < acked + n {
        ensure!(
            started.elapsed() < Duration::from_secs(600),
            "stream acks: {:?}",
            sim.stream_stats().acks
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let stream = Row {
        name: "DingTalk, stream",
        events: n,
        seconds: started.elapsed().as_secs_f64(),
        latencies: vec![],
    };

    let callbacks: Vec<_> = (0..n)
        .map(|i| sim.signed_callback(&event(i, "hook")))
        .collect();
    let callbacks = Arc::new(callbacks);
    let url = qiao.url("/v1/hooks/dt_hook");
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(n)));
    let started = Instant::now();
    let clients: Vec<_> = (0..16)
        .map(|_| {
            let (sim, callbacks, url, next, latencies) = (
                sim.clone(),
                callbacks.clone(),
                url.clone(),
                next.clone(),
                latencies.clone(),
            );
            tokio::spawn(async move {
                let mut mine = Vec::new();
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    if i >= callbacks.len() {
                        break;
                    }
                    let t = Instant::now();
                    let (status, ok) = sim.deliver(&url, &callbacks[i]).await?;
                    ensure!(status == 200 && ok, "callback {i}: {status}");
                    mine.push(t.elapsed());
                }
                latencies.lock().await.extend(mine);
                anyhow::Ok(())
            })
        })
        .collect();
    for c in clients {
        c.await??;
    }
    let hooked = Row {
        name: "DingTalk, webhook, 16 clients",
        events: n,
        seconds: started.elapsed().as_secs_f64(),
        latencies: std::mem::take(&mut *latencies.lock().await),
    };
    for connection in ["dt_stream", "dt_hook"] {
        let stored = qiao
            .db()
            .list_events(0, Some(connection.to_string()), (n + 10) as u32)
            .await?
            .len();
        ensure!(
            stored == n,
            "{connection}: {stored} events stored, want {n}"
        );
    }
    Ok(vec![stream, hooked])
}

async fn post(client: &reqwest::Client, url: &str, id: &str) -> Result<()> {
    let response = client
        .post(url)
        .header("x-event-id", id)
        .body(format!("{{\"id\":\"{id}\"}}"))
        .send()
        .await?;
    ensure!(
        response.status() == 200,
        "callback {id}: {}",
        response.status()
    );
    Ok(())
}
