//! What every platform simulator shares: a server that stops when the simulator is dropped, and what it does
//! before it answers a request: play an injected fault, if one is due, and count the request against a
//! per-path, per-second QPS window. [`stream`]: what the event-stream gateways share.

pub mod stream;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

/// A router served on a local port until dropped, so a test's simulator goes away with the test.
pub struct Served {
    pub addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

pub async fn serve(listen: SocketAddr, app: axum::Router) -> anyhow::Result<Served> {
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let addr = listener.local_addr()?;
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.ok();
    });
    Ok(Served { addr, task })
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Faults waiting for requests: the next `times` requests whose path contains a pattern get its fault; and,
/// under chaos, a random share of the rest gets a random one of the chaos faults.
#[derive(Debug)]
pub struct Faults<F> {
    due: Vec<(String, F, u32)>,
    chaos: Option<Chaos<F>>,
}

#[derive(Debug)]
struct Chaos<F> {
    pattern: String,
    rate: f64,
    faults: Vec<F>,
}

impl<F> Default for Faults<F> {
    fn default() -> Self {
        Faults { due: Vec::new(), chaos: None }
    }
}

impl<F: Clone> Faults<F> {
    pub fn add(&mut self, pattern: &str, fault: F, times: u32) {
        self.due.push((pattern.to_string(), fault, times));
    }

    /// From now on, a share `rate` (0..1) of requests whose path contains `pattern` fail with one of `faults`,
    /// picked at random; an empty list of faults ends the chaos.
    pub fn chaos(&mut self, pattern: &str, rate: f64, faults: Vec<F>) {
        self.chaos = (!faults.is_empty()).then(|| Chaos { pattern: pattern.to_string(), rate, faults });
    }

    /// The first fault due for `path`, used up by one; else maybe a chaos fault.
    pub fn take(&mut self, path: &str) -> Option<F> {
        use rand::Rng;
        let Some(index) = self
            .due
            .iter()
            .position(|(p, _, n)| *n > 0 && path.contains(p.as_str()))
        else {
            let chaos = self.chaos.as_ref().filter(|c| path.contains(c.pattern.as_str()))?;
            let mut rng = rand::rng();
            return rng
                .random_bool(chaos.rate)
                .then(|| chaos.faults[rng.random_range(0..chaos.faults.len())].clone());
        };
        let (_, fault, remaining) = &mut self.due[index];
        *remaining -= 1;
        let fault = fault.clone();
        self.due.retain(|(_, _, n)| *n > 0);
        Some(fault)
    }
}

/// Requests per path in the current one-second window.
#[derive(Debug, Default)]
pub struct QpsWindow {
    windows: HashMap<String, (Instant, u32)>,
}

impl QpsWindow {
    /// Counts a request to `path`; false when it is over `limit` for this second.
    pub fn admit(&mut self, path: &str, limit: u32) -> bool {
        let now = Instant::now();
        let window = self.windows.entry(path.to_string()).or_insert((now, 0));
        if now.duration_since(window.0) >= Duration::from_secs(1) {
            *window = (now, 0);
        }
        window.1 += 1;
        window.1 <= limit
    }
}

/// (year, month, day) of a count of days since 1970-01-01 (Howard Hinnant's civil_from_days): the simulators
/// write the platforms' local date-times without a date crate.
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}
