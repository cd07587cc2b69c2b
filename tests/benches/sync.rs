//! Directory sync throughput, end to end through a real server and the WeCom simulator, next to baselines
//! measured in the same run on the same server and connection, so the numbers to compare across machines are the
//! ratios.
//!
//! For N people (10,000; and 100,000 with `QIAO_BENCH_LARGE=1`) in N/10 departments (a three-level tree):
//!
//! - GET: `GET /v1/directory` of the same directory, read and parsed (the JSON round trip of N people, median of
//!   three): the baseline for plan times.
//! - plan from empty: a dry run before anything was applied (the platform read, the plan made and stored).
//! - sync from empty: the run that creates every department and person (wall time from the `POST` until the
//!   run is seen final; steps/s over that time).
//! - re-plan: a dry run after it, with nothing changed (its plan must be empty).
//! - OUT: N/10 `PATCH /v1/connections/wc/users/{id}` (no `?wait`: answered 202) timed until all of them have
//!   succeeded: writes/s through the outbox of the same connection, the baseline for steps/s. Each writes a
//!   person's whole record as it already is (name, mobile, email, title, employee number): nothing changes, and
//!   the simulator does for each what it does for a create (its mobile and email uniqueness checks).
//! - a 1% change set (departments renamed, people moved, a new subtree, leavers) planned (dry run), applied, and
//!   planned again (nothing left).
//!
//! And the platform alone, to tell Qiao's cost from the simulator's (which scans every member for a `user/list`
//! and for the uniqueness checks of a `user/create` or `user/update`, so its cost per request grows with N):
//!
//! - SIM_READ: what a plan reads, asked of the simulator directly by this client: `department/list` then
//!   `user/list` of every department, four at a time (as the host reads them). SIM_READ0 is the same before the
//!   sync (the simulator's own few departments and members).
//! - SIM_WRITE: OUT's N/10 `user/update` bodies sent to the simulator directly, eight at a time (the outbox's
//!   concurrency).
//!
//! The connection's outbox is unpaced (`rate_per_second` 100000, concurrency 8), the simulator's QPS limit out of
//! the way. The server's log goes to stderr at `warn` (`QIAO_BENCH_LOG` overrides the filter), not to the tests'
//! debug log file, so logging is not what is measured.
//!
//! Needs the connectors built and signed (`make build`). Run: `cargo bench -p qiao-tests --bench sync`. Small
//! (N = 1,000), for a smoke test, when run without `--bench` (as `cargo test --benches` does), with `--test`, or
//! with `QIAO_BENCH_QUICK=1`. `QIAO_BENCH_SIZES=20000,30000` runs those sizes instead (to see how times scale).

mod common;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use futures::StreamExt;
use common::process_cpu;
use qiao_tests::TestServer;
use qiao_tests::wecom_sim::{Options, WeComSim};
use serde_json::{Value, json};

/// Concurrency of the client sending the baseline's writes.
const CLIENT_CONCURRENCY: usize = 32;
/// The connection's outbox concurrency (calls to the platform in flight at once), for sync and baseline alike.
const OUTBOX_CONCURRENCY: usize = 8;
/// Departments whose members the host reads at once (`PARALLEL_DEPARTMENTS` in crates/services/src/sync/platform.rs).
const READ_CONCURRENCY: usize = 4;
/// The connection.
const C: &str = "wc";

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let quick = std::env::var("QIAO_BENCH_QUICK").is_ok_and(|v| v == "1")
        || args.iter().any(|a| a == "--test")
        || !args.iter().any(|a| a == "--bench");
    let large = std::env::var("QIAO_BENCH_LARGE").is_ok_and(|v| v == "1");
    let chosen: Option<Vec<usize>> = std::env::var("QIAO_BENCH_SIZES")
        .ok()
        .map(|v| {
            v.split(',')
                .map(|n| n.trim().replace('_', "").parse::<usize>())
                .collect::<Result<Vec<_>, _>>()
        })
        .transpose()
        .context("QIAO_BENCH_SIZES: a comma-separated list of people counts")?;
    let sizes: Vec<usize> = match &chosen {
        Some(sizes) => {
            ensure!(
                sizes.iter().all(|n| *n >= 1_000),
                "QIAO_BENCH_SIZES: at least 1000 people each"
            );
            sizes.clone()
        }
        None if quick => vec![1_000],
        None if large => vec![10_000, 100_000],
        None => vec![10_000],
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
    let mut took = Vec::new();
    for &n in &sizes {
        let clock = Instant::now();
        rt.block_on(bench(n, &mut rows))
            .with_context(|| format!("N = {n}"))?;
        took.push(format!(
            "N = {}: {:.1} s",
            thousands(n),
            clock.elapsed().as_secs_f64()
        ));
    }
    print_table(&rows);
    if chosen.is_none() && !quick && !large {
        println!(
            "\nN = 100,000 skipped: set QIAO_BENCH_LARGE=1 to run it. It takes long: the simulator's cost per \
             request grows with N (see SIM_READ and SIM_WRITE), so its time grows faster than N."
        );
    }
    println!(
        "\nRate ratios (x OUT, x SIM_WRITE): steps (or writes) per second over the baseline's writes per second: \
         OUT, the outbox's on the same connection (N/10 PATCH users, accepted then delivered); SIM_WRITE, the \
         simulator's alone (the same writes sent to it directly). Time ratios (x GET, x SIM_READ): the time over \
         the baseline's: GET, to GET /v1/directory of the same N people; SIM_READ, to read the platform's \
         departments and members directly, as a plan does (SIM_READ0: before the sync). seconds: wall time at the \
         client (a run: from its POST until it was seen final, at most 5% or 5 ms late); run ms: the run's own \
         report.duration_ms (for a writes phase: the server's time from the run's first write accepted into the \
         outbox, its plan made and stored, until the run finished). cores: CPU time of this whole process \
         (client, server, simulator) over the wall time ({} available).",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!(
        "\n{}; total wall time {:.1} s",
        took.join(", "),
        started.elapsed().as_secs_f64()
    );
    rt.shutdown_timeout(Duration::from_secs(1));
    Ok(())
}

/// The server's log at `warn` on stderr (`QIAO_BENCH_LOG` overrides), installed before the harness's debug log
/// file (which then keeps this one): a sync writes a log line per operation at `info`, many more at `debug`.
fn quiet_log() {
    let filter = std::env::var("QIAO_BENCH_LOG").unwrap_or_else(|_| {
        // Without the start-up warnings of a test config (a generated master key, secrets in plain text).
        "warn,qiao_secrets=error,qiao_config=error,qiao_runtime::imports::http=error".into()
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
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// The table.

/// How a row is compared with a baseline (the row of the same N with that label).
#[derive(Clone, Copy)]
enum Ratio {
    /// Per second over the baseline's per second (higher is better).
    Rate(&'static str),
    /// Seconds over the baseline's seconds (lower is better).
    Time(&'static str),
}

/// A sync's steps/s against the writes/s of the outbox and of the simulator alone.
const AGAINST_WRITES: &[Ratio] = &[Ratio::Rate("OUT"), Ratio::Rate("SIM_WRITE")];
/// A plan's time against the directory's round trip and the platform's read.
const AGAINST_READS: &[Ratio] = &[Ratio::Time("GET"), Ratio::Time("SIM_READ")];

/// One line of the table.
struct Row {
    n: usize,
    name: String,
    /// Steps (or writes, or people) done: with it, the row has a rate.
    count: Option<u64>,
    seconds: f64,
    /// The run's own `report.duration_ms`.
    run_ms: Option<u64>,
    against: &'static [Ratio],
    /// For a baseline: its name.
    label: Option<&'static str>,
    /// CPU time the whole process (client, server, simulator) used meanwhile, when known.
    cpu: Option<Duration>,
}

impl Row {
    fn rate(&self) -> Option<f64> {
        self.count.map(|c| c as f64 / self.seconds)
    }

    fn baseline(mut self, label: &'static str) -> Row {
        self.label = Some(label);
        self
    }

    fn against(mut self, against: &'static [Ratio]) -> Row {
        self.against = against;
        self
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

    fn cpu(&self) -> Option<Duration> {
        process_cpu()
            .zip(self.cpu)
            .map(|(now, then)| now.saturating_sub(then))
    }

    fn row(&self, n: usize, name: impl Into<String>, count: Option<u64>) -> Row {
        Row {
            n,
            name: name.into(),
            count,
            seconds: self.wall.elapsed().as_secs_f64(),
            run_ms: None,
            against: &[],
            label: None,
            cpu: self.cpu(),
        }
    }
}

fn print_table(rows: &[Row]) {
    let base = |n: usize, label: &str| rows.iter().find(|r| r.n == n && r.label == Some(label));
    let name_width = rows
        .iter()
        .map(|r| r.name.chars().count())
        .max()
        .unwrap_or(4);
    println!(
        "\n{:>7}  {:<name_width$}  {:>7}  {:>8}  {:>7}  {:>8}  {:>5}  ratios",
        "N", "measurement", "count", "seconds", "run ms", "per s", "cores"
    );
    println!("{}", "-".repeat(name_width + 96));
    let mut last_n = None;
    for row in rows {
        if last_n.is_some_and(|n| n != row.n) {
            println!();
        }
        last_n = Some(row.n);
        let mut ratios: Vec<String> = row.label.map(|l| format!("[{l}]")).into_iter().collect();
        for against in row.against {
            ratios.push(match *against {
                Ratio::Rate(label) => match (row.rate(), base(row.n, label).and_then(Row::rate)) {
                    (Some(rate), Some(b)) => format!("{:.3}x {label}", rate / b),
                    _ => format!("? {label}"),
                },
                Ratio::Time(label) => match base(row.n, label) {
                    Some(b) => format!("{:.2}x {label}", row.seconds / b.seconds),
                    None => format!("? {label}"),
                },
            });
        }
        let cores = row.cpu.map_or(String::new(), |cpu| {
            format!("{:.2}", cpu.as_secs_f64() / row.seconds)
        });
        println!(
            "{:>7}  {:<name_width$}  {:>7}  {:>8.3}  {:>7}  {:>8}  {cores:>5}  {}",
            thousands(row.n),
            row.name,
            row.count.map_or(String::new(), |c| c.to_string()),
            row.seconds,
            row.run_ms.map_or(String::new(), |ms| ms.to_string()),
            row.rate().map_or(String::new(), |r| format!("{r:.0}")),
            ratios.join(", "),
        );
    }
}

// ---------------------------------------------------------------------------------------------------------------
// The directory and its change set.

/// The smallest fan-out `f` whose three-level tree (f top-level departments, f² below them, f³ below those) holds
/// `d` departments: 10 for 1,000 departments, the shape of the directory test's 200-department tree.
fn fanout(d: usize) -> usize {
    (1..).find(|f| f + f * f + f * f * f >= d).unwrap()
}

fn dept(i: usize) -> String {
    format!("d{i:05}")
}

fn person(i: usize) -> String {
    format!("p{i:06}")
}

/// Person `i`'s fields as [`directory`] gives them (and OUT writes them back).
fn fields(i: usize, d: usize) -> Value {
    json!({
        "name": format!("Person {i}"),
        "mobile": format!("137{i:08}"),
        "email": format!("p{i}@corp.example"),
        "employee_no": format!("E{i:06}"),
        "title": if i < d { "Head" } else { "Staff" },
    })
}

/// N people in N/10 departments, the directory test's `large()` generalised: `f` top-level departments, each the
/// parent of `f`, and so on (three levels; department `i >= f` is under `(i - f) / f`); each department's head
/// (the first N/10 people) manages the others in it.
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
            let mut p = fields(i, d);
            p["id"] = json!(person(i));
            p["department_ids"] = json!([dept(i % d)]);
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

/// The people a change set changes: non-heads (who manage nobody), seven apart; of 1% of N, half move to
/// another department, a quarter into the new tree, and the rest leave.
struct Changed {
    moves: usize,
    into_new: usize,
    leavers: usize,
}

impl Changed {
    fn of(n: usize) -> Changed {
        let (moves, into_new) = (n / 200, n / 400);
        Changed {
            moves,
            into_new,
            leavers: n / 100 - moves - into_new,
        }
    }

    /// The `j`th person changed.
    fn who(n: usize, j: usize) -> usize {
        n / 10 + 7 * j
    }

    fn first_leaver(&self, n: usize) -> usize {
        Changed::who(n, self.moves + self.into_new)
    }
}

/// A 1% change set, the directory test's `change_set` scaled: 1% of the departments renamed, a new tree (a
/// top-level department with five children), and 1% of the people changed (see [`Changed`]).
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
        departments.push(
            json!({ "id": format!("new-{k}"), "name": format!("New Team {k}"), "parent_id": "new-top" }),
        );
    }
    let c = Changed::of(n);
    let people = directory["people"].as_array_mut().unwrap();
    for j in 0..c.moves {
        let i = Changed::who(n, j);
        people[i]["department_ids"] = json!([dept((i + 1) % d)]);
    }
    for k in 0..c.into_new {
        people[Changed::who(n, c.moves + k)]["department_ids"] = json!([format!("new-{}", k % 5)]);
    }
    let first = c.moves + c.into_new;
    let gone: std::collections::HashSet<String> = (first..first + c.leavers)
        .map(|j| person(Changed::who(n, j)))
        .collect();
    people.retain(|p| !gone.contains(p["id"].as_str().unwrap()));
    let expected = Expected {
        create_department: 6,
        update_department: renames as u64,
        update_user: (c.moves + c.into_new) as u64,
        deactivate_user: c.leavers as u64,
    };
    (directory, expected)
}

// ---------------------------------------------------------------------------------------------------------------
// Requests to Qiao.

/// One request; its body, once it checked the status is one of `expect`.
async fn call(request: reqwest::RequestBuilder, expect: &[u16]) -> Result<bytes::Bytes> {
    let response = request.send().await?;
    let status = response.status().as_u16();
    let body = response.bytes().await?;
    if !expect.contains(&status) {
        let text = String::from_utf8_lossy(&body);
        bail!(
            "expected {expect:?}, got {status}: {}",
            text.chars().take(2000).collect::<String>()
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

    fn row(&self, n: usize, name: impl Into<String>, count: Option<u64>) -> Row {
        Row {
            n,
            name: name.into(),
            count,
            seconds: self.wall.as_secs_f64(),
            run_ms: self.report()["duration_ms"].as_u64(),
            against: &[],
            label: None,
            cpu: self.cpu,
        }
    }
}

/// Starts a run (`?wait=0`: the answer does not wait for it, nor carry its plan) and polls it until it is final
/// (`?wait=` is capped at 300 s, and its answer holds the whole plan), often at first (a dry run of a small
/// directory takes a fraction of a second), at most every 200 ms later.
async fn run(qiao: &TestServer, body: Value) -> Result<Run> {
    let deadline = Duration::from_secs(3 * 3600);
    let clock = Clock::start();
    let started = call_json(
        qiao.client
            .post(qiao.url(&format!("/v1/connections/{C}/directory/runs?wait=0")))
            .json(&body),
        &[200, 202],
    )
    .await?;
    let id = started["id"].as_i64().context("a run id")?;
    loop {
        let run = call_json(
            qiao.client.get(qiao.url(&format!(
                "/v1/connections/{C}/directory/runs/{id}?plan=false"
            ))),
            &[200],
        )
        .await?;
        let status = run["status"].as_str().unwrap_or_default();
        let done = [
            "planned",
            "needs_confirmation",
            "succeeded",
            "completed_with_errors",
            "failed",
        ];
        if done.contains(&status) {
            return Ok(Run {
                run,
                wall: clock.wall.elapsed(),
                cpu: clock.cpu(),
            });
        }
        if clock.wall.elapsed() > deadline {
            bail!("run {id} not final after {deadline:?}: {}", run["progress"]);
        }
        // A pause of a twentieth of the time so far: the run is seen final at most 5% (or 5 ms) late.
        let pause =
            (clock.wall.elapsed() / 20).clamp(Duration::from_millis(5), Duration::from_millis(200));
        tokio::time::sleep(pause).await;
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
    value.to_string().chars().take(3000).collect()
}

async fn put_directory(qiao: &TestServer, directory: &Value) -> Result<Value> {
    call_json(
        qiao.client.put(qiao.url("/v1/directory")).json(directory),
        &[200],
    )
    .await
}

/// The median of three runs of `f`.
async fn median<F, Fut>(f: F) -> Result<Duration>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<()>>,
{
    let mut times = Vec::new();
    for _ in 0..3 {
        let start = Instant::now();
        f().await?;
        times.push(start.elapsed());
    }
    times.sort();
    Ok(times[1])
}

/// Baseline GET: `GET /v1/directory`, read and parsed.
async fn get_directory(qiao: &TestServer, people: usize) -> Result<Duration> {
    median(|| async {
        let body = call_json(qiao.client.get(qiao.url("/v1/directory")), &[200]).await?;
        let got = body["people"].as_array().map_or(0, Vec::len);
        ensure!(
            got == people,
            "GET /v1/directory answered {got} people, not {people}"
        );
        Ok(())
    })
    .await
}

/// One `GET .../runs/{id}?plan=false`: what a client polling a run pays (and the store's one connection with it).
async fn poll_time(qiao: &TestServer, id: i64) -> Result<Duration> {
    let url = qiao.url(&format!(
        "/v1/connections/{C}/directory/runs/{id}?plan=false"
    ));
    median(|| async { call(qiao.client.get(&url), &[200]).await.map(drop) }).await
}

async fn counts(qiao: &TestServer) -> Result<Value> {
    call_json(qiao.client.get(qiao.url("/v1/operations/counts")), &[200]).await
}

fn count(counts: &Value, status: &str) -> u64 {
    counts[status].as_u64().unwrap_or(0)
}

/// Operations stored so far (their ids count up from 1, and none is deleted here).
async fn operations_so_far(qiao: &TestServer) -> Result<i64> {
    let counts = counts(qiao).await?;
    let all = counts.as_object().context("counts")?;
    Ok(all.values().filter_map(Value::as_u64).sum::<u64>() as i64)
}

/// A run's phase of writes, by the server's clock: from its first write accepted into the outbox (the plan was
/// made and stored before) until the run was finished. `before`: the operations stored before the run started.
async fn writes_phase(qiao: &TestServer, run: &Run, before: i64) -> Result<Duration> {
    let page = call_json(
        qiao.client
            .get(qiao.url(&format!("/v1/operations?after={before}&limit=1"))),
        &[200],
    )
    .await?;
    let first = &page["operations"][0];
    let id = run.run["id"].as_i64().unwrap_or(0);
    ensure!(
        first["actor"] == format!("sync-run-{id}"),
        "operation {} should be run {id}'s first write: {first}",
        before + 1
    );
    let (start, end) = (
        first["created_ms"].as_i64().context("created_ms")?,
        run.run["finished_ms"].as_i64().context("finished_ms")?,
    );
    Ok(Duration::from_millis((end - start).max(1) as u64))
}

/// The row of a run's writes phase.
fn writes_row(n: usize, name: &str, done: u64, phase: Duration) -> Row {
    Row {
        n,
        name: name.into(),
        count: Some(done),
        seconds: phase.as_secs_f64(),
        run_ms: Some(phase.as_millis() as u64),
        against: AGAINST_WRITES,
        label: None,
        cpu: None,
    }
}

/// Baseline OUT: `PATCH users/{id}` of the first `m` people, each with their whole record as it is (nothing
/// changes on the platform, nor in the next plan), accepted without `?wait` and timed until all of them have
/// succeeded. Answers the wall time, the time to accept them, and the CPU time.
async fn outbox_writes(
    qiao: &Arc<TestServer>,
    m: usize,
    d: usize,
) -> Result<(Duration, Duration, Option<Duration>)> {
    let before = counts(qiao).await?;
    let clock = Clock::start();
    let server = qiao.clone();
    let accepted = concurrently(m, CLIENT_CONCURRENCY, move |i| {
        let request = server
            .client
            .patch(server.url(&format!("/v1/connections/{C}/users/{}", person(i))))
            .json(&fields(i, d));
        async move { call(request, &[200, 202]).await.map(drop) }
    })
    .await?;
    let deadline = Instant::now() + Duration::from_secs(1800);
    let bad = |c: &Value| count(c, "failed") + count(c, "dead") + count(c, "retrying");
    loop {
        let now = counts(qiao).await?;
        if count(&now, "succeeded") >= count(&before, "succeeded") + m as u64 {
            break;
        }
        if bad(&now) > bad(&before) {
            bail!("baseline writes failed or are retried: {now}");
        }
        if Instant::now() > deadline {
            bail!("baseline writes were not all delivered in time: {now}");
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Ok((clock.wall.elapsed(), accepted, clock.cpu()))
}

// ---------------------------------------------------------------------------------------------------------------
// Requests to the simulator directly.

/// A token for calling the simulator directly.
async fn sim_token(sim: &WeComSim) -> Result<String> {
    let o = &sim.options;
    let url = format!(
        "{}/cgi-bin/gettoken?corpid={}&corpsecret={}",
        sim.base, o.corp_id, o.corp_secret
    );
    let body = sim_call(reqwest::Client::new().get(url)).await?;
    Ok(body["access_token"]
        .as_str()
        .context("a token")?
        .to_string())
}

/// A WeCom answer, once it checked its `errcode` is 0.
async fn sim_call(request: reqwest::RequestBuilder) -> Result<Value> {
    let body = call_json(request, &[200]).await?;
    ensure!(body["errcode"] == 0, "the simulator refused: {body}");
    Ok(body)
}

/// Baseline SIM_READ: what a plan reads from WeCom (`department/list` of the root, then `user/list` of each
/// department listed, the root included, four at a time), asked directly. Its count: the members listed.
async fn platform_read(sim: &WeComSim, n: usize, name: &str, label: &'static str) -> Result<Row> {
    let token = sim_token(sim).await?;
    let client = reqwest::Client::new();
    let clock = Clock::start();
    let url = format!(
        "{}/cgi-bin/department/list?access_token={token}&id=1",
        sim.base
    );
    let departments = sim_call(client.get(url)).await?;
    let ids: Vec<i64> = departments["department"]
        .as_array()
        .context("departments")?
        .iter()
        .filter_map(|d| d["id"].as_i64())
        .collect();
    let lists = futures::stream::iter(ids)
        .map(|id| {
            let url = format!(
                "{}/cgi-bin/user/list?access_token={token}&department_id={id}",
                sim.base
            );
            let request = client.get(url);
            async move {
                let body = sim_call(request).await?;
                Ok::<_, anyhow::Error>(body["userlist"].as_array().map_or(0, Vec::len))
            }
        })
        .buffered(READ_CONCURRENCY)
        .collect::<Vec<_>>()
        .await;
    let mut members = 0;
    for listed in lists {
        members += listed?;
    }
    let mut row = clock.row(n, name, None).baseline(label);
    row.name = format!("{name} ({members} members listed)");
    Ok(row)
}

/// Baseline SIM_WRITE: OUT's writes (the first `m` people's whole records, as they are) sent to the simulator's
/// `user/update` directly, as many at a time as the outbox sends.
async fn sim_writes(sim: &WeComSim, m: usize, d: usize) -> Result<()> {
    let token = sim_token(sim).await?;
    let url = format!("{}/cgi-bin/user/update?access_token={token}", sim.base);
    let client = reqwest::Client::new();
    concurrently(m, OUTBOX_CONCURRENCY, move |i| {
        let f = fields(i, d);
        let body = json!({
            "userid": person(i),
            "name": f["name"],
            "mobile": f["mobile"],
            "email": f["email"],
            "position": f["title"],
        });
        let request = client.post(url.clone()).json(&body);
        async move { sim_call(request).await.map(drop) }
    })
    .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------------------------------
// The bench for one N.

async fn bench(n: usize, rows: &mut Vec<Row>) -> Result<()> {
    let d = n / 10;
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
    let say = |what: String| println!("  N = {}: {what}", thousands(n));

    // The directory, pushed; the baselines for plan times.
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
    ));
    let get = get_directory(&qiao, n).await?;
    rows.push(Row {
        n,
        name: "GET: GET /v1/directory, read and parsed (median of 3)".into(),
        count: Some(n as u64),
        seconds: get.as_secs_f64(),
        run_ms: None,
        against: &[],
        label: Some("GET"),
        cpu: None,
    });
    rows.push(
        platform_read(
            &sim,
            n,
            "SIM_READ0: the platform read, direct, before the sync",
            "SIM_READ0",
        )
        .await?,
    );
    say(format!(
        "directory pushed; GET takes {:.3} s",
        get.as_secs_f64()
    ));

    // 1. From empty: the plan alone (dry run), then the sync.
    let dry = run(&qiao, json!({ "dry_run": true })).await?;
    check(&dry, "planned", "the plan from empty")?;
    let planned = &dry.report()["planned"];
    ensure!(
        planned["create_user"].as_u64() == Some(n as u64)
            && planned["create_department"].as_u64() == Some(d as u64),
        "the plan from empty should create {d} departments and {n} people: {planned}"
    );
    let steps = dry.report()["steps"].as_u64().unwrap_or(0);
    rows.push(
        dry.row(
            n,
            format!("plan from empty (dry run, {steps} steps planned)"),
            None,
        )
        .against(&[Ratio::Time("GET"), Ratio::Time("SIM_READ0")]),
    );
    say(format!("plan from empty: {:.3} s", dry.wall.as_secs_f64()));

    let before = operations_so_far(&qiao).await?;
    let applied = run(&qiao, json!({})).await?;
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
    rows.push(
        applied
            .row(n, "sync from empty (apply)", Some(done))
            .against(AGAINST_WRITES),
    );
    let phase = writes_phase(&qiao, &applied, before).await?;
    rows.push(writes_row(
        n,
        "  its writes phase (first write accepted -> run finished)",
        done,
        phase,
    ));
    say(format!(
        "sync from empty: {done} steps in {:.3} s",
        applied.wall.as_secs_f64()
    ));
    let poll = poll_time(&qiao, applied.run["id"].as_i64().unwrap_or(0)).await?;
    rows.push(Row {
        n,
        name: "one poll of that run: GET runs/{id}?plan=false (median of 3)".into(),
        count: None,
        seconds: poll.as_secs_f64(),
        run_ms: None,
        against: &[],
        label: None,
        cpu: None,
    });
    rows.push(
        platform_read(
            &sim,
            n,
            "SIM_READ: the platform read, direct, after the sync",
            "SIM_READ",
        )
        .await?,
    );

    // 2. Nothing changed: the plan is empty.
    let again = run(&qiao, json!({ "dry_run": true })).await?;
    check(&again, "planned", "the re-plan")?;
    ensure!(
        again.report()["steps"].as_u64() == Some(0) && again.report()["drift"].as_u64() == Some(0),
        "nothing changed: the plan should be empty: {}",
        truncated(again.report())
    );
    rows.push(
        again
            .row(n, "re-plan, nothing changed (dry run)", None)
            .against(AGAINST_READS),
    );
    say(format!("re-plan: {:.3} s", again.wall.as_secs_f64()));

    // The write baselines: the same connection's outbox, and the simulator alone.
    let m = n / 10;
    let (wall, accepted, cpu) = outbox_writes(&qiao, m, d).await?;
    rows.push(Row {
        n,
        name: format!(
            "OUT: {m} PATCH users (202; all accepted in {:.2} s) until delivered",
            accepted.as_secs_f64()
        ),
        count: Some(m as u64),
        seconds: wall.as_secs_f64(),
        run_ms: None,
        against: &[Ratio::Rate("SIM_WRITE")],
        label: Some("OUT"),
        cpu,
    });
    let clock = Clock::start();
    sim_writes(&sim, m, d).await?;
    rows.push(
        clock
            .row(
                n,
                format!("SIM_WRITE: the same {m} user/update, direct"),
                Some(m as u64),
            )
            .baseline("SIM_WRITE"),
    );
    say(format!(
        "baselines: {m} writes in {:.3} s through the outbox",
        wall.as_secs_f64()
    ));

    // 3. The 1% change set: planned (dry run), then applied, then nothing left to do.
    let (changed, expected) = change_set(n);
    let clock = Clock::start();
    put_directory(&qiao, &changed).await?;
    rows.push(clock.row(
        n,
        "PUT /v1/directory (the 1% change set)",
        Some(n as u64 - expected.deactivate_user),
    ));
    let dry = run(&qiao, json!({ "dry_run": true })).await?;
    check(&dry, "planned", "the change set's plan")?;
    let got = Expected::of(&dry.report()["planned"]);
    ensure!(
        got == expected && dry.report()["steps"].as_u64() == Some(expected.steps()),
        "the change set's plan should be {expected:?} (nothing else), got {}",
        dry.report()["planned"]
    );
    rows.push(
        dry.row(
            n,
            format!(
                "1% change set: plan (dry run, {} steps planned)",
                expected.steps()
            ),
            None,
        )
        .against(AGAINST_READS),
    );
    let before = operations_so_far(&qiao).await?;
    let applied = run(&qiao, json!({})).await?;
    check(&applied, "succeeded", "the change set")?;
    let done = applied.report()["done"].as_u64().unwrap_or(0);
    ensure!(
        done == expected.steps(),
        "the change set should do {} steps: {}",
        expected.steps(),
        truncated(applied.report())
    );
    rows.push(
        applied
            .row(n, "1% change set: apply (its plan included)", Some(done))
            .against(AGAINST_WRITES),
    );
    let phase = writes_phase(&qiao, &applied, before).await?;
    rows.push(writes_row(
        n,
        "  its writes phase (first write accepted -> run finished)",
        done,
        phase,
    ));
    ensure!(
        sim.user_enabled(&person(Changed::of(n).first_leaver(n))) == Some(false),
        "a leaver should be disabled in WeCom"
    );
    say(format!(
        "change set: {done} steps in {:.3} s",
        applied.wall.as_secs_f64()
    ));

    let after = run(&qiao, json!({ "dry_run": true })).await?;
    check(&after, "planned", "the re-plan after the change set")?;
    ensure!(
        after.report()["steps"].as_u64() == Some(0),
        "after the change set nothing is left to do: {}",
        truncated(after.report())
    );
    rows.push(
        after
            .row(n, "re-plan after the change set (dry run)", None)
            .against(AGAINST_READS),
    );
    Ok(())
}
