//! Third parties' connectors next to a bundled Rust one, measured in the same run: Jira (`plugins/jira`,
//! TypeScript, componentize-js), e-cology (`plugins/ecology`, Python, componentize-py) and Feishu
//! (`connectors/feishu`, Rust), each against its simulator.
//!
//! - budget, from the conformance suite every vendor runs (`qiao connectors test`): component size, cold compile
//!   (Cranelift, no cache), cached load, instantiate + describe;
//! - per call: `GET /v1/connections/{c}/tasks/{id}` through one server (REST → outbox-free read → a fresh instance
//!   → the connector's HTTP to the simulator → the task mapped back), median and p90 of sequential calls, after a
//!   warm-up; the same server's `GET /healthz` is the floor (the REST round trip alone), and each simulator's own
//!   answer to the request the connector makes, asked directly, is the platform's share.
//!
//! - e-cology next to Feishu: `GET …/users/{id}` (one user read: what directory paging does per page), through
//!   the same server.
//!
//! The ratios (Jira ÷ Feishu, e-cology ÷ Feishu) are the numbers to compare across machines.
//!
//! Needs the connectors built and signed (`make build` or `make test`). Run: `cargo bench -p qiao-tests --bench
//! connectors`; without `--bench` (as `cargo test --benches` does), or with `QIAO_BENCH_QUICK=1`, a few calls only.

use std::time::Instant;

use anyhow::{Context as _, Result, ensure};
use qiao_tests::feishu_sim::{FeishuSim, Options as FeishuOptions};
use qiao_tests::ecology_sim::{self, EcologySim};
use qiao_tests::jira_sim::{API_TOKEN, JiraSim, Options as JiraOptions};
use qiao_tests::signing::{self, PLUGIN_PUBLISHER};
use qiao_tests::TestServer;
use serde_json::{Value, json};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = std::env::var("QIAO_BENCH_QUICK").is_ok_and(|v| v == "1") || !args.iter().any(|a| a == "--bench");
    let calls = if quick { 20 } else { 500 };
    tokio::runtime::Builder::new_multi_thread().enable_all().build()?.block_on(bench(calls))
}

struct Budget {
    size_bytes: u64,
    cold_compile_ms: f64,
    cached_load_ms: f64,
    instantiate_describe_ms: f64,
}

async fn budget(name: &str) -> Result<Budget> {
    let options = qiao_kit::conformance::Options { file: qiao_tests::component(name), config: None, fixtures: None };
    let report = qiao_kit::conformance::json(&qiao_kit::conformance::run(&options).await?);
    let b = &report["budget"];
    let number = |key: &str| b[key].as_f64().with_context(|| format!("{name}: no budget.{key} in {b}"));
    Ok(Budget {
        size_bytes: number("size_bytes")? as u64,
        cold_compile_ms: number("cold_compile_ms")?,
        cached_load_ms: number("cached_load_ms")?,
        instantiate_describe_ms: number("instantiate_describe_ms")?,
    })
}

/// Median and p90, in ms, of `n` sequential runs of `call` after `n / 10` unmeasured ones.
async fn timed<F, Fut>(n: usize, mut call: F) -> Result<(f64, f64)>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    for _ in 0..(n / 10).max(2) {
        call().await?;
    }
    let mut times = Vec::with_capacity(n);
    for _ in 0..n {
        let started = Instant::now();
        call().await?;
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[n / 2], times[n * 9 / 10]))
}

async fn bench(calls: usize) -> Result<()> {
    let jira_budget = budget("jira").await?;
    let feishu_budget = budget("feishu").await?;
    let ecology_budget = budget("ecology").await?;

    let jira = JiraSim::start(JiraOptions::default()).await?;
    let feishu = FeishuSim::start(FeishuOptions { qps: 1_000_000, ..FeishuOptions::default() }).await?;
    let ecology = EcologySim::start(ecology_sim::Options::default()).await?;
    let f = &feishu.options;
    let config = format!(
        r#"
        [connections.jira]
        connector = "jira"
        settings = {{ base_url = "{}", email = "qiao-bot@example.com", project = "OPS" }}
        secrets = {{ api_token = "{API_TOKEN}", webhook_secret = "{}" }}

        [connections.fs]
        connector = "feishu"
        settings = {{ app_id = "{}", api_base = "{}", user_id_type = "user_id" }}
        secrets = {{ app_secret = "{}", verification_token = "{}", encrypt_key = "{}" }}

        [connections.oa]
        connector = "ecology"
        settings = {{ base_url = "{}", appid = "{}", user_id = "1", ofs_syscode = "{}" }}
        secrets = {{ cpk = "unused-client-key", hook_secret = "unused" }}

        {}
        "#,
        jira.base,
        jira.options.webhook_secret,
        f.app_id,
        feishu.base,
        f.app_secret,
        f.verification_token,
        f.encrypt_key,
        ecology.base,
        ecology_sim::APPID,
        ecology_sim::SYSCODE,
        signing::trust(&[PLUGIN_PUBLISHER]),
    );
    let qiao = TestServer::start_as_is(&["jira", "feishu", "ecology"], &config).await?;

    let task = |connection: &str| {
        let qiao = &qiao;
        let path = format!("/v1/connections/{connection}/tasks?wait=30");
        async move {
            let (status, task) = qiao.post(&path, json!({ "title": "Bench", "description": "A task to read" })).await;
            ensure!(status == 201, "creating a task on {path}: {status} {task}");
            Ok::<_, anyhow::Error>(task["id"].as_str().context("an id")?.to_string())
        }
    };
    let jira_id = task("jira").await?;
    let feishu_id = task("fs").await?;

    let get = |path: String| {
        let qiao = &qiao;
        move || {
            let path = path.clone();
            async move {
                let (status, body) = qiao.get(&path).await;
                ensure!(status == 200, "{path}: {status} {body}");
                Ok(())
            }
        }
    };
    let floor = timed(calls, get("/healthz".into())).await?;
    let jira_call = timed(calls, get(format!("/v1/connections/jira/tasks/{jira_id}"))).await?;
    let feishu_call = timed(calls, get(format!("/v1/connections/fs/tasks/{feishu_id}"))).await?;
    let ecology_user = timed(calls, get(format!("/v1/connections/oa/users/{}", ecology_sim::LI_NA))).await?;
    let feishu_user = timed(calls, get("/v1/connections/fs/users/alice".into())).await?;

    // The platforms' share: the request each connector makes, asked of its simulator directly.
    let client = reqwest::Client::new();
    let jira_direct = {
        let (client, url, auth) = (&client, format!("{}/rest/api/3/issue/{jira_id}", jira.base), jira.basic_auth());
        timed(calls, move || {
            let (url, auth) = (url.clone(), auth.clone());
            async move {
                let r = client.get(&url).header("authorization", auth).send().await?;
                ensure!(r.status().is_success(), "{url}: {}", r.status());
                r.bytes().await?;
                Ok(())
            }
        })
        .await?
    };
    let token = feishu_token(&client, &feishu).await?;
    let feishu_direct = {
        let (client, url) = (&client, format!("{}/open-apis/task/v2/tasks/{feishu_id}", feishu.base));
        timed(calls, move || {
            let (url, token) = (url.clone(), token.clone());
            async move {
                let r = client.get(&url).bearer_auth(token).send().await?;
                ensure!(r.status().is_success(), "{url}: {}", r.status());
                r.bytes().await?;
                Ok(())
            }
        })
        .await?
    };

    let ratio = |a: f64, b: f64| if b > 0.0 { format!("{:.1}x", a / b) } else { "-".into() };
    let (j, fs) = (&jira_budget, &feishu_budget);
    println!("connector budget and per-call time, one run ({calls} calls each, sequential)");
    println!("{:<34} {:>14} {:>14} {:>10}", "", "jira (TS)", "feishu (Rust)", "jira/feishu");
    println!("{:<34} {:>14} {:>14} {:>10}", "component bytes", j.size_bytes, fs.size_bytes, ratio(j.size_bytes as f64, fs.size_bytes as f64));
    for (what, a, b) in [
        ("cold compile ms", j.cold_compile_ms, fs.cold_compile_ms),
        ("cached load ms", j.cached_load_ms, fs.cached_load_ms),
        ("instantiate + describe ms", j.instantiate_describe_ms, fs.instantiate_describe_ms),
        ("GET task via Qiao, median ms", jira_call.0, feishu_call.0),
        ("GET task via Qiao, p90 ms", jira_call.1, feishu_call.1),
        ("  simulator alone, median ms", jira_direct.0, feishu_direct.0),
        ("  Qiao's share, median ms", jira_call.0 - jira_direct.0 - floor.0, feishu_call.0 - feishu_direct.0 - floor.0),
    ] {
        println!("{what:<34} {a:>14.2} {b:>14.2} {:>10}", ratio(a, b));
    }
    println!("{:<34} {:>14.2} (the REST round trip alone; Qiao's share excludes it)", "GET /healthz, median ms", floor.0);
    println!();
    let (e, fs) = (&ecology_budget, &feishu_budget);
    println!("{:<34} {:>14} {:>14} {:>10}", "", "ecology (Py)", "feishu (Rust)", "eco/feishu");
    println!("{:<34} {:>14} {:>14} {:>10}", "component bytes", e.size_bytes, fs.size_bytes, ratio(e.size_bytes as f64, fs.size_bytes as f64));
    for (what, a, b) in [
        ("cold compile ms", e.cold_compile_ms, fs.cold_compile_ms),
        ("cached load ms", e.cached_load_ms, fs.cached_load_ms),
        ("instantiate + describe ms", e.instantiate_describe_ms, fs.instantiate_describe_ms),
        ("GET user via Qiao, median ms", ecology_user.0, feishu_user.0),
        ("GET user via Qiao, p90 ms", ecology_user.1, feishu_user.1),
    ] {
        println!("{what:<34} {a:>14.2} {b:>14.2} {:>10}", ratio(a, b));
    }
    Ok(())
}

async fn feishu_token(client: &reqwest::Client, feishu: &FeishuSim) -> Result<String> {
    let answer: Value = client
        .post(format!("{}/open-apis/auth/v3/tenant_access_token/internal", feishu.base))
        .json(&json!({ "app_id": feishu.options.app_id, "app_secret": feishu.options.app_secret }))
        .send()
        .await?
        .json()
        .await?;
    Ok(answer["tenant_access_token"].as_str().context("a tenant token")?.to_string())
}
