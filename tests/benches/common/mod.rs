//! What the benches share (each that needs it says `mod common;`): the quick/full switch, N requests made from
//! a fixed number of concurrent clients, percentiles, and the process's CPU time.

// Each bench uses a part of it.
#![allow(dead_code)]

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Result;

pub mod native_rows;

/// Small counts, for a smoke test in seconds: when run without `--bench` (as `cargo test --benches` does), with
/// `--test`, or with `QIAO_BENCH_QUICK=1`.
pub fn quick_mode() -> bool {
    let args: Vec<String> = std::env::args().skip(1).collect();
    std::env::var("QIAO_BENCH_QUICK").is_ok_and(|v| v == "1")
        || args.iter().any(|a| a == "--test")
        || !args.iter().any(|a| a == "--bench")
}

/// User and system CPU time of this process so far (Linux `/proc/self/stat`, in 10 ms clock ticks).
pub fn process_cpu() -> Option<Duration> {
    cpu_of("self")
}

/// [`process_cpu`] of this process's threads named `name` (e.g. the store's writer, `qiao-store`).
pub fn thread_cpu(name: &str) -> Option<Duration> {
    threads_cpu("self", &[name])
}

/// The CPU of process `pid`'s threads named any of `names`, in one pass over its threads; `None` when it has none.
fn threads_cpu(pid: &str, names: &[&str]) -> Option<Duration> {
    let threads = std::fs::read_dir(format!("/proc/{pid}/task")).ok()?.flatten();
    let named: Vec<_> = threads
        .filter(|t| std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| names.contains(&c.trim())))
        .collect();
    if named.is_empty() {
        return None;
    }
    named.iter().map(|t| cpu_of(&format!("{pid}/task/{}", t.file_name().to_string_lossy()))).sum()
}

/// What a server child (`qiao serve`, the throughput bench's relay) has used so far: where its CPU went, and
/// what it wrote. Differences of two
/// snapshots say what a stretch of work cost, per request.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    pub cpu: Duration,
    /// The store's writer thread (one of [`STORE_WRITERS`]): every commit. `None` where commits run on the
    /// serving thread (Qiao's store does, see `qiao_store::writer`), mixed with everything else.
    pub store_writer: Option<Duration>,
    /// Bytes the process wrote with write(2) and its kin: the store's WAL and files, sockets, logs (None where
    /// `/proc/PID/io` cannot be read).
    pub written: Option<u64>,
}

/// The threads that commit to a server's file: Qiao's store writer (when it has one of its own: opened outside a
/// runtime), and the throughput bench's native relay's.
pub const STORE_WRITERS: [&str; 2] = ["qiao-store", "relay-writer"];

pub fn child_usage(pid: u32) -> Option<Usage> {
    let pid = pid.to_string();
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).unwrap_or_default();
    let written = io.lines().find_map(|l| l.strip_prefix("wchar:")).and_then(|v| v.trim().parse().ok());
    let store_writer = threads_cpu(&pid, &STORE_WRITERS);
    Some(Usage { cpu: cpu_of(&pid)?, store_writer, written })
}

impl std::ops::Sub for Usage {
    type Output = Usage;
    fn sub(self, earlier: Usage) -> Usage {
        Usage {
            cpu: self.cpu.saturating_sub(earlier.cpu),
            store_writer: self.store_writer.zip(earlier.store_writer).map(|(now, then)| now.saturating_sub(then)),
            written: self.written.zip(earlier.written).map(|(now, then)| now.saturating_sub(then)),
        }
    }
}

fn cpu_of(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name start at field 3 (state); utime and stime are fields 14 and 15.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// Runs `job(0..n)` from `concurrency` tasks; the time they took.
pub async fn concurrently<F, Fut>(n: usize, concurrency: usize, job: F) -> Result<Duration>
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<()>> + Send,
{
    Ok(timed(n, concurrency, job).await?.0)
}

/// [`concurrently`], also timing each job: the wall time, and every job's latency (in no particular order).
pub async fn timed<F, Fut>(
    n: usize,
    concurrency: usize,
    job: F,
) -> Result<(Duration, Vec<Duration>)>
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
                let mut latencies = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return Ok::<_, anyhow::Error>(latencies);
                    }
                    let began = Instant::now();
                    job(i).await?;
                    latencies.push(began.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::with_capacity(n);
    for worker in workers {
        latencies.extend(worker.await??);
    }
    Ok((start.elapsed(), latencies))
}

/// The `p` quantile (0..=1) of `samples` (nearest rank), or `None` when there are none.
pub fn percentile(samples: &[Duration], p: f64) -> Option<Duration> {
    let mut sorted = samples.to_vec();
    sorted.sort();
    (!sorted.is_empty())
        .then(|| sorted[((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1])
}
