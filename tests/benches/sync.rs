//! Directory sync throughput, end to end through a real server and the WeCom simulator, next to baselines
//! measured in the same run on the same server and connection, so the numbers to compare across machines are the
//! ratios.
//!
//! For N people (10,000; and 100,000 with `QIAO_BENCH_LARGE=1`) in N/10 departments (a three-level tree):
//!
//! - GET: `GET /v1/directory` of the same directory (the JSON round trip of N people, median of three): the
//!   baseline for plan times.
//! - plan from empty: a dry run before anything was applied (the platform read, the plan made and stored).
//! - sync from empty: the run that creates every department and person (wall time from the `POST` until the
//!   run is final; steps/s over that time).
//! - re-plan: a dry run after it, with nothing changed (its plan must be empty).
//! - OUT: N/10 `PATCH /v1/connections/wc/users/{id}` (no `?wait`: answered 202) timed until all of them have
//!   succeeded: writes/s through the outbox of the same connection, the baseline for steps/s.
//! - a 1% change set (departments renamed, people moved, a new subtree, leavers) planned (dry run) then applied.
//!
//! The connection's outbox is unpaced (`rate_per_second` 100000, concurrency 8), the simulator's QPS limit out of
//! the way. The server's log goes to stderr at `warn` (`QIAO_BENCH_LOG` overrides the filter), not to the tests'
//! debug log file, so logging is not what is measured.
//!
//! Needs the connectors built and signed (`make build`). Run: `cargo bench -p qiao-tests --bench sync`. Small
//! (N = 1,000), for a smoke test, when run without `--bench` (as `cargo test --benches` does), with `--test`, or
//! with `QIAO_BENCH_QUICK=1`.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use qiao_tests::TestServer;
use qiao_tests::wecom_sim::{Options, WeComSim};
use serde_json::{Value, json};

/// Concurrency of the client sending the baseline's writes.
const CLIENT_CONCURRENCY: usize = 32;
/// The connection's outbox concurrency (calls to the platform in flight at once), for sync and baseline alike.
const OUTBOX_CONCURRENCY: usize = 8;
/// The connection.
const C: &str = "wc";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = std::env::var("QIAO_BENCH_QUICK").is_ok_and(|v| v == "1")
        || args.iter().any(|a| a == "--test")
        || !args.iter().any(|a| a == "--bench");
    let large = std::env::var("QIAO_BENCH_LARGE").is_ok_and(|v| v == "1");
    let sizes: Vec<usize> = if quick {
        vec![1_000]
    } else if large {
        vec![10_000, 100_000]
    } else {
        vec![10_000]
    };
    quiet_log();
    println!(
        "directory sync bench ({} mode): N = {}; WeCom simulator, outbox concurrency {OUTBOX_CONCURRENCY}, unpaced",
        if quick { "quick" } else { "full" },
        sizes
            .iter()
            .map(|n| thousands(*n))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let mut rows = Vec::new();
    for &n in &sizes {
        let clock = Instant::now();
        rt.block_on(bench(n, &mut rows))
            .with_context(|| format!("N = {n}"))?;
        println!(
            "N = {}: done in {:.1} s",
            thousands(n),
            clock.elapsed().as_secs_f64()
        );
    }
    print_table(&rows);
    if !quick && !large {
        println!(
            "\nN = 100,000 skipped: set QIAO_BENCH_LARGE=1 to run it (it takes long: about ten times the 10,000 \
             people's time, or more)."
        );
    }
    println!(
        "\nsteps/s ratio: the sync's steps per second over OUT, the outbox's writes per second on the same \
         connection (N/10 PATCH users, accepted then delivered). Plan ratios: the plan's time over GET's (the \
         time to GET /v1/directory of the same N people); lower is better. seconds: wall time at the client, from \
         the POST until the run was seen final; run ms: the run's own report.duration_ms. cores: CPU time of this \
         whole process (client, server, simulator) over the wall time ({} available).",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("\ntotal wall time {:.1} s", started.elapsed().as_secs_f64());
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// The server's log at `warn` on stderr (`QIAO_BENCH_LOG` overrides), installed before the harness's debug log
/// file (which then keeps this one): a sync writes a log line per operation at `info`, many more at `debug`.
fn quiet_log() {
    let filter = std::env::var("QIAO_BENCH_LOG").unwrap_or_else(|_| {
        // Without the start-up warnings of a test config (a generated master key, secrets in plain text).
        "warn,qiao::secrets=error,qiao::config=error,qiao::imports::http=error".into()
    });
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
        .with_writer(std::io::stderr)
        .finish();
    let _ = tracing::subscriber::set_global_default(subscriber);
}

fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What a row is compared with.
#[derive(Clone, Copy, PartialEq)]
enum Against {
    /// This row is the baseline of that kind.
    Baseline,
    /// steps/s over OUT's writes/s.
    Out,
    /// seconds over GET's seconds.
    Get,
    /// Not compared (information).
    Nothing,
}

/// One line of the table.
struct Row {
    n: usize,
    name: String,
    /// Steps (or writes, or people) done.
    count: Option<u64>,
    seconds: f64,
    /// The run's own `report.duration_ms`.
    run_ms: Option<u64>,
    against: Against,
    /// For a baseline: which one ("OUT" or "GET").
    label: Option<&'static str>,
    cpu: Option<Duration>,
}

impl Row {
    fn rate(&self) -> Option<f64> {
        self.count.map(|c| c as f64 / self.seconds)
    }
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

    fn row(&self, n: usize, name: impl Into<String>, count: Option<u64>, against: Against) -> Row {
        Row {
            n,
            name: name.into(),
            count,
            seconds: self.wall.elapsed().as_secs_f64(),
            run_ms: None,
            against,
            label: None,
            cpu: process_cpu()
                .zip(self.cpu)
                .map(|(now, then)| now.saturating_sub(then)),
        }
    }
}

/// User and system CPU time of this process so far (Linux `/proc/self/stat`, in 10 ms clock ticks).
fn process_cpu() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

// ---------------------------------------------------------------------------------------------------------------
// The directory and its change set.

/// The smallest fan-out `f` whose three-level tree (f top-level departments, f² below them, f³ below those) holds
/// `d` departments: 10 for 1,000 departments, as the directory test's 200-department tree.
fn fanout(d: usize) -> usize {
    (1..).find(|f| f + f * f + f * f * f >= d).unwrap()
}

fn dept(i: usize) -> String {
    format!("d{i:05}")
}

fn person(i: usize) -> String {
    format!("p{i:06}")
}

/// N people in N/10 departments, as the directory test's `large()` generalised: `f` top-level departments, each
/// the parent of `f`, and so on (three levels; department `i >= f` is under `(i - f) / f`); each department's
/// head (the first N/10 people) manages the others in it.
fn directory(n: usize) -> Value {
    let d = n / 10;
    let f = fanout(d);
    let departments: Vec<Value> = (0..d)
        .map(|i| {
            let parent = if i < f {
                Value::Null
            } else {
                json!(dept((i - f) / f))
            };
            json!({ "id": dept(i), "name": format!("Department {i}"), "parent_id": parent })
        })
        .collect();
    let people: Vec<Value> = (0..n)
        .map(|i| {
            let mut p = json!({
                "id": person(i),
                "name": format!("Person {i}"),
                "mobile": format!("137{i:08}"),
                "email": format!("p{i}@corp.example"),
                "employee_no": format!("E{i:06}"),
                "title": if i < d { "Head" } else { "Staff" },
                "department_ids": [dept(i % d)],
            });
            if i >= d {
                p["manager_id"] = json!(person(i % d));
            }
            p
        })
        .collect();
    json!({ "departments": departments, "people": people })
}

/// The plan counts a change set must produce.
#[derive(Debug, PartialEq)]
struct Expected {
    create_department: u64,
    update_department: u64,
    update_user: u64,
    deactivate_user: u64,
}

impl Expected {
    fn steps(&self) -> u64 {
        self.create_department + self.update_department + self.update_user + self.deactivate_user
    }

    fn of(counts: &Value) -> Expected {
        let n = |k: &str| counts[k].as_u64().unwrap_or(0);
        Expected {
            create_department: n("create_department"),
            update_department: n("update_department"),
            update_user: n("update_user"),
            deactivate_user: n("deactivate_user"),
        }
    }
}

/// A 1% change set, the directory test's `change_set` scaled: 1% of the departments renamed; 1% of the people
/// changed (non-heads, who manage nobody): half moved to another department, a quarter into a new tree (a
/// top-level department with five children), a quarter leaving.
fn change_set(n: usize) -> (Value, Expected) {
    let d = n / 10;
    let mut directory = directory(n);
    let renames = (d / 100).max(1);
    for k in 0..renames {
        directory["departments"][k * 7]["name"] = json!(format!("Renamed {k}"));
    }
    let departments = directory["departments"].as_array_mut().unwrap();
    departments.push(json!({ "id": "new-top", "name": "New Business" }));
    for k in 0..5 {
        departments.push(json!({ "id": format!("new-{k}"), "name": format!("New Team {k}"), "parent_id": "new-top" }));
    }
    let changed = n / 100;
    let (moves, into_new) = (n / 200, n / 400);
    let leavers = changed - moves - into_new;
    let who = |j: usize| d + 7 * j;
    let people = directory["people"].as_array_mut().unwrap();
    for j in 0..moves {
        let i = who(j);
        people[i]["department_ids"] = json!([dept((i + 1) % d)]);
    }
    for k in 0..into_new {
        people[who(moves + k)]["department_ids"] = json!([format!("new-{}", k % 5)]);
    }
    let gone: std::collections::HashSet<String> = (moves + into_new..changed)
        .map(|j| person(who(j)))
        .collect();
    people.retain(|p| !gone.contains(p["id"].as_str().unwrap()));
    let expected = Expected {
        create_department: 6,
        update_department: renames as u64,
        update_user: (moves + into_new) as u64,
        deactivate_user: leavers as u64,
    };
    (directory, expected)
}

// ---------------------------------------------------------------------------------------------------------------
// Requests.

/// One request; its body, once it checked the status is one of `expect`.
async fn call(request: reqwest::RequestBuilder, expect: &[u16]) -> Result<bytes::Bytes> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = response.bytes().await?;
    if !expect.contains(&status) {
        let text = String::from_utf8_lossy(&body);
        bail!(
            "expected {expect:?}, got {status}: {}",
            &text[..text.len().min(2000)]
        );
    }
    Ok(body)
}

async fn call_json(request: reqwest::RequestBuilder, expect: &[u16]) -> Result<Value> {
    Ok(serde_json::from_slice(&call(request, expect).await?)?)
}

/// Runs `job(0..n)` from `concurrency` tasks; the time they took.
async fn concurrently<F, Fut>(n: usize, concurrency: usize, job: F) -> Result<Duration>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    let job = Arc::new(job);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (job, next) = (job.clone(), next.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok::<_, anyhow::Error>(());
                    }
                    job(i).await?;
                }
            })
        })
        .collect();
    for worker in workers {
        worker.await??;
    }
    Ok(start.elapsed())
}

/// A finished run, as `GET .../runs/{id}?plan=false` answers it, and the wall time from its `POST`.
struct Run {
    run: Value,
    wall: Duration,
    cpu: Option<Duration>,
}

impl Run {
    fn report(&self) -> &Value {
        &self.run["report"]
    }

    fn row(&self, n: usize, name: impl Into<String>, count: Option<u64>, against: Against) -> Row {
        Row {
            n,
            name: name.into(),
            count,
            seconds: self.wall.as_secs_f64(),
            run_ms: self.report()["duration_ms"].as_u64(),
            against,
            label: None,
            cpu: self.cpu,
        }
    }
}

/// Starts a run (`?wait=0`: the answer does not wait for it, nor carry its plan) and polls it until it is final:
/// `?wait=` is capped at 300 s, and its answer holds the whole plan. Polls often at first (a dry run of a small
/// directory takes well under a second), then every 200 ms.
async fn run(qiao: &TestServer, body: Value, deadline: Duration) -> Result<Run> {
    let clock = Clock::start();
    let started = call_json(
        qiao.client
            .post(qiao.url(&format!("/v1/connections/{C}/directory/runs?wait=0")))
            .json(&body),
        &[200, 202],
    )
    .await?;
    let id = started["id"].as_i64().context("a run id")?;
    let mut pause = Duration::from_millis(5);
    loop {
        let run = call_json(
            qiao.client.get(qiao.url(&format!(
                "/v1/connections/{C}/directory/runs/{id}?plan=false"
            ))),
            &[200],
        )
        .await?;
        let status = run["status"].as_str().unwrap_or_default();
        if [
            "planned",
            "needs_confirmation",
            "succeeded",
            "completed_with_errors",
            "failed",
        ]
        .contains(&status)
        {
            let wall = clock.wall.elapsed();
            return Ok(Run {
                run,
                wall,
                cpu: process_cpu()
                    .zip(clock.cpu)
                    .map(|(now, then)| now.saturating_sub(then)),
            });
        }
        if clock.wall.elapsed() > deadline {
            bail!("run {id} not final after {deadline:?}: {}", run["progress"]);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 3 / 2).min(Duration::from_millis(200));
    }
}

/// Checks a run ended in `status` with nothing failed or skipped.
fn check(run: &Run, status: &str, what: &str) -> Result<()> {
    let report = run.report();
    ensure!(
        run.run["status"] == status
            && report["failed"].as_u64() == Some(0)
            && report["skipped"].as_u64() == Some(0),
        "{what}: expected {status} with nothing failed or skipped, got {} with report {}",
        run.run["status"],
        truncated(report)
    );
    Ok(())
}

fn truncated(value: &Value) -> String {
    let text = value.to_string();
    text.chars().take(3000).collect()
}

async fn put_directory(qiao: &TestServer, directory: &Value) -> Result<Value> {
    call_json(
        qiao.client.put(qiao.url("/v1/directory")).json(directory),
        &[200],
    )
    .await
}

/// `GET /v1/directory`, read and parsed: the time of the median of three.
async fn get_directory(qiao: &TestServer, people: usize) -> Result<Duration> {
    let mut times = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        let body = call_json(qiao.client.get(qiao.url("/v1/directory")), &[200]).await?;
        times.push(start.elapsed());
        let got = body["people"].as_array().map_or(0, Vec::len);
        ensure!(
            got == people,
            "GET /v1/directory answered {got} people, not {people}"
        );
    }
    times.sort();
    Ok(times[1])
}

async fn counts(qiao: &TestServer) -> Result<Value> {
    call_json(qiao.client.get(qiao.url("/v1/operations/counts")), &[200]).await
}

fn count(counts: &Value, status: &str) -> u64 {
    counts[status].as_u64().unwrap_or(0)
}

/// Baseline OUT: `m` writes (`PATCH users/{id}`, the title each head already has: nothing changes on the platform
/// nor in the next plan) accepted without `?wait` and timed until all of them have succeeded.
async fn outbox_writes(
    qiao: &Arc<TestServer>,
    m: usize,
) -> Result<(Duration, Duration, Option<Duration>)> {
    let before = counts(qiao).await?;
    let clock = Clock::start();
    let server = qiao.clone();
    let accepted = concurrently(m, CLIENT_CONCURRENCY, move |i| {
        let request = server
            .client
            .patch(server.url(&format!("/v1/connections/{C}/users/{}", person(i))))
            .json(&json!({ "title": "Head" }));
        async move { call(request, &[200, 202]).await.map(drop) }
    })
    .await?;
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        let now = counts(qiao).await?;
        if count(&now, "succeeded") >= count(&before, "succeeded") + m as u64 {
            break;
        }
        let bad = |c: &Value| count(c, "failed") + count(c, "dead") + count(c, "retrying");
        if bad(&now) > bad(&before) {
            bail!("baseline writes failed or are retried: {now}");
        }
        if Instant::now() > deadline {
            bail!("baseline writes were not all delivered in time: {now}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let wall = clock.wall.elapsed();
    let cpu = process_cpu()
        .zip(clock.cpu)
        .map(|(now, then)| now.saturating_sub(then));
    Ok((wall, accepted, cpu))
}

// ---------------------------------------------------------------------------------------------------------------
// The bench for one N.

async fn bench(n: usize, rows: &mut Vec<Row>) -> Result<()> {
    let d = n / 10;
    let deadline = Duration::from_secs(3600);
    let sim = WeComSim::start(Options {
        qps: 1_000_000,
        ..Options::default()
    })
    .await?;
    let o = &sim.options;
    let config = format!(
        "[connections.{C}]\nconnector = \"wecom\"\n\
         settings = {{ corp_id = \"{}\", agent_id = \"{}\", api_base = \"{}\" }}\n\
         secrets = {{ corp_secret = \"{}\", callback_token = \"{}\", callback_aes_key = \"{}\" }}\n\
         limits = {{ max_http_requests = 5000, timeout_ms = 300000 }}\n\
         outbox = {{ rate_per_second = 100000.0, concurrency = {OUTBOX_CONCURRENCY} }}\n",
        o.corp_id, o.agent_id, sim.base, o.corp_secret, o.callback_token, o.callback_aes_key
    );
    let qiao = Arc::new(TestServer::start(&["wecom"], &config).await?);
    let say = |what: &str| println!("  N = {}: {what}", thousands(n));

    // The directory, pushed.
    let full = directory(n);
    let clock = Clock::start();
    let pushed = put_directory(&qiao, &full).await?;
    ensure!(
        pushed["changed"]["people"]["added"].as_u64() == Some(n as u64),
        "the push should add {n} people: {pushed}"
    );
    rows.push(clock.row(
        n,
        format!(
            "PUT /v1/directory ({n} people, {d} departments, fan-out {})",
            fanout(d)
        ),
        Some(n as u64),
        Against::Nothing,
    ));
    let get = get_directory(&qiao, n).await?;
    rows.push(Row {
        n,
        name: "GET: GET /v1/directory, read and parsed (median of 3)".into(),
        count: Some(n as u64),
        seconds: get.as_secs_f64(),
        run_ms: None,
        against: Against::Baseline,
        label: Some("GET"),
        cpu: None,
    });
    say(&format!(
        "directory pushed; GET takes {:.3} s",
        get.as_secs_f64()
    ));

    // 1. From empty: the plan alone (dry run), then the sync.
    let dry = run(&qiao, json!({ "dry_run": true }), deadline).await?;
    check(&dry, "planned", "the plan from empty")?;
    let planned = &dry.report()["planned"];
    ensure!(
        planned["create_user"].as_u64() == Some(n as u64)
            && planned["create_department"].as_u64() == Some(d as u64),
        "the plan from empty should create {d} departments and {n} people: {planned}"
    );
    let steps = dry.report()["steps"].as_u64().unwrap_or(0);
    rows.push(dry.row(
        n,
        format!("plan from empty (dry run, {steps} steps planned)"),
        None,
        Against::Get,
    ));
    say(&format!("plan from empty: {:.3} s", dry.wall.as_secs_f64()));

    let applied = run(&qiao, json!({}), deadline).await?;
    check(&applied, "succeeded", "the sync from empty")?;
    let done = applied.report()["done"].as_u64().unwrap_or(0);
    ensure!(
        done == (n + d) as u64,
        "the sync from empty should do {} steps: {}",
        n + d,
        truncated(applied.report())
    );
    ensure!(
        sim.user_enabled(&person(n - 1)) == Some(true),
        "the last person should be in WeCom"
    );
    rows.push(applied.row(n, "sync from empty (apply)", Some(done), Against::Out));
    say(&format!(
        "sync from empty: {done} steps in {:.3} s",
        applied.wall.as_secs_f64()
    ));

    // 2. Nothing changed: the plan is empty.
    let again = run(&qiao, json!({ "dry_run": true }), deadline).await?;
    check(&again, "planned", "the re-plan")?;
    ensure!(
        again.report()["steps"].as_u64() == Some(0) && again.report()["drift"].as_u64() == Some(0),
        "nothing changed: the plan should be empty: {}",
        truncated(again.report())
    );
    rows.push(again.row(n, "re-plan, nothing changed (dry run)", None, Against::Get));
    say(&format!("re-plan: {:.3} s", again.wall.as_secs_f64()));

    // Baseline OUT: the same connection's outbox, written directly.
    let m = n / 10;
    let (wall, accepted, cpu) = outbox_writes(&qiao, m).await?;
    rows.push(Row {
        n,
        name: format!(
            "OUT: {m} PATCH users (202, accepted in {:.2} s) then delivered",
            accepted.as_secs_f64()
        ),
        count: Some(m as u64),
        seconds: wall.as_secs_f64(),
        run_ms: None,
        against: Against::Baseline,
        label: Some("OUT"),
        cpu,
    });
    say(&format!(
        "baseline: {m} writes in {:.3} s",
        wall.as_secs_f64()
    ));

    // 3. The 1% change set: planned (dry run), then applied, then nothing left to do.
    let (changed, expected) = change_set(n);
    let clock = Clock::start();
    put_directory(&qiao, &changed).await?;
    rows.push(clock.row(
        n,
        "PUT /v1/directory (the 1% change set)",
        Some((n - expected.deactivate_user as usize) as u64),
        Against::Nothing,
    ));
    let dry = run(&qiao, json!({ "dry_run": true }), deadline).await?;
    check(&dry, "planned", "the change set's plan")?;
    let got = Expected::of(&dry.report()["planned"]);
    ensure!(
        got == expected && dry.report()["steps"].as_u64() == Some(expected.steps()),
        "the change set's plan should be {expected:?} (nothing else), got {}",
        dry.report()["planned"]
    );
    rows.push(dry.row(
        n,
        format!(
            "1% change set: plan (dry run, {} steps planned)",
            expected.steps()
        ),
        None,
        Against::Get,
    ));
    let applied = run(&qiao, json!({}), deadline).await?;
    check(&applied, "succeeded", "the change set")?;
    let done = applied.report()["done"].as_u64().unwrap_or(0);
    ensure!(
        done == expected.steps(),
        "the change set should do {} steps: {}",
        expected.steps(),
        truncated(applied.report())
    );
    rows.push(applied.row(
        n,
        "1% change set: apply (plan included)",
        Some(done),
        Against::Out,
    ));
    // The run minus its own plan's time, as the dry run just before measured it.
    let apply_only = (applied.wall.as_secs_f64() - dry.wall.as_secs_f64()).max(1e-3);
    rows.push(Row {
        n,
        name: "1% change set: apply phase only (apply - its dry run; derived)".into(),
        count: Some(done),
        seconds: apply_only,
        run_ms: None,
        against: Against::Out,
        label: None,
        cpu: None,
    });
    ensure!(
        sim.user_enabled(&person(who_left(n))) == Some(false),
        "a leaver should be disabled in WeCom"
    );
    say(&format!(
        "change set: {done} steps in {:.3} s",
        applied.wall.as_secs_f64()
    ));

    let after = run(&qiao, json!({ "dry_run": true }), deadline).await?;
    check(&after, "planned", "the re-plan after the change set")?;
    ensure!(
        after.report()["steps"].as_u64() == Some(0),
        "after the change set nothing is left to do: {}",
        truncated(after.report())
    );
    rows.push(after.row(
        n,
        "re-plan after the change set (dry run)",
        None,
        Against::Get,
    ));
    Ok(())
}

/// The first leaver of [`change_set`].
fn who_left(n: usize) -> usize {
    let d = n / 10;
    let (moves, into_new) = (n / 200, n / 400);
    d + 7 * (moves + into_new)
}

fn print_table(rows: &[Row]) {
    let base = |n: usize, label: &str| rows.iter().find(|r| r.n == n && r.label == Some(label));
    let name_width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4);
    println!(
        "\n{:>7}  {:<name_width$}  {:>7}  {:>8}  {:>8}  {:>9}  {:>5}  ratio",
        "N", "measurement", "count", "seconds", "run ms", "per s", "cores"
    );
    println!("{}", "-".repeat(name_width + 70));
    for row in rows {
        let ratio = match row.against {
            Against::Baseline => format!("(baseline {})", row.label.unwrap_or("")),
            Against::Nothing => String::new(),
            Against::Out => match (row.rate(), base(row.n, "OUT").and_then(Row::rate)) {
                (Some(rate), Some(out)) => {
                    format!("{:.3}x OUT (steps/s over writes/s)", rate / out)
                }
                _ => "?".into(),
            },
            Against::Get => match base(row.n, "GET") {
                Some(get) => format!("{:.1}x GET (time over time)", row.seconds / get.seconds),
                None => "?".into(),
            },
        };
        let cores = row.cpu.map_or(String::new(), |cpu| {
            format!("{:.2}", cpu.as_secs_f64() / row.seconds)
        });
        println!(
            "{:>7}  {:<name_width$}  {:>7}  {:>8.3}  {:>8}  {:>9}  {cores:>5}  {ratio}",
            thousands(row.n),
            row.name,
            row.count.map_or(String::new(), |c| c.to_string()),
            row.seconds,
            row.run_ms.map_or(String::new(), |ms| ms.to_string()),
            row.rate().map_or(String::new(), |r| format!("{r:.0}")),
        );
    }
}
