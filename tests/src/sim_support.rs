//! What every platform simulator shares: a server that stops when the simulator is dropped, and what it does
//! before it answers a request: play an injected fault, if one is due, and count the request against a
//! per-path, per-second QPS window.

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

/// Faults waiting for requests: the next `times` requests whose path contains a pattern get its fault.
#[derive(Debug)]
pub struct Faults<F> {
    due: Vec<(String, F, u32)>,
}

impl<F> Default for Faults<F> {
    fn default() -> Self {
        Faults { due: Vec::new() }
    }
}

impl<F: Clone> Faults<F> {
    pub fn add(&mut self, pattern: &str, fault: F, times: u32) {
        self.due.push((pattern.to_string(), fault, times));
    }

    /// The first fault due for `path`, used up by one.
    pub fn take(&mut self, path: &str) -> Option<F> {
        let index = self
            .due
            .iter()
            .position(|(p, _, n)| *n > 0 && path.contains(p.as_str()))?;
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
