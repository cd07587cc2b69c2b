//! What the open webhook routes let through, before any connector runs: a token bucket per connection (a flood
//! is answered 429 at the cost of a lock, not a connector call) and one pool for webhook calls across
//! connections (so callbacks, forged or not, cannot take the machine from the authenticated API).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use qiao_config::{Connection, InboundLimits, InboundSettings};

struct Bucket {
    limits: InboundLimits,
    tokens: f64,
    at: Instant,
}

impl Bucket {
    /// Takes a token, or says how long until one is there.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        let refill = now.duration_since(self.at).as_secs_f64() * self.limits.rate_per_second;
        self.tokens = (self.tokens + refill).min(self.limits.burst as f64);
        self.at = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - self.tokens) / self.limits.rate_per_second))
        }
    }
}

/// Why a callback was not let in.
#[derive(Debug, PartialEq)]
pub enum Refused {
    /// The connection's bucket is empty: try again after this long.
    RateLimited(Duration),
    /// The webhook pool stayed full for the whole wait.
    Busy(Duration),
}

pub struct Gate {
    buckets: HashMap<String, Mutex<Bucket>>,
    pool: Arc<Semaphore>,
    queue_wait: Duration,
}

impl Gate {
    pub fn new<'a>(connections: impl Iterator<Item = &'a Connection>, settings: InboundSettings) -> Gate {
        let now = Instant::now();
        Gate {
            buckets: connections
                .map(|c| {
                    let bucket = Bucket { limits: c.inbound, tokens: c.inbound.burst as f64, at: now };
                    (c.name.clone(), Mutex::new(bucket))
                })
                .collect(),
            pool: Arc::new(Semaphore::new(settings.concurrency.max(1) as usize)),
            queue_wait: Duration::from_millis(settings.queue_wait_ms),
        }
    }

    /// Lets one callback for `connection` in: a place in the webhook pool, held until the permit is dropped.
    /// Unknown connections pass (the route answers 404 without calling a connector).
    pub async fn admit(&self, connection: &str) -> Result<Option<OwnedSemaphorePermit>, Refused> {
        let Some(bucket) = self.buckets.get(connection) else { return Ok(None) };
        bucket.lock().expect("bucket lock").take(Instant::now()).map_err(Refused::RateLimited)?;
        match tokio::time::timeout(self.queue_wait, self.pool.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(Some(permit)),
            _ => Err(Refused::Busy(Duration::from_secs(1))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn connection(rate: f64, burst: u32) -> Connection {
        Connection { name: "c".into(), inbound: InboundLimits { rate_per_second: rate, burst }, ..Default::default() }
    }

    #[tokio::test]
    async fn a_burst_passes_then_the_rate_holds() {
        let c = connection(10.0, 5);
        let gate = Gate::new([&c].into_iter(), InboundSettings { concurrency: 100, queue_wait_ms: 10 });
        let mut held = Vec::new();
        for _ in 0..5 {
            held.push(gate.admit("c").await.expect("within the burst"));
        }
        let Err(Refused::RateLimited(wait)) = gate.admit("c").await else { panic!("the sixth is refused") };
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        tokio::time::sleep(Duration::from_millis(120)).await;
        assert!(gate.admit("c").await.is_ok(), "a token came back");
        assert!(gate.admit("unknown").await.unwrap().is_none(), "unknown connections are not gated here");
    }

    #[tokio::test]
    async fn a_full_pool_answers_busy_after_the_wait() {
        let c = connection(1000.0, 1000);
        let gate = Gate::new([&c].into_iter(), InboundSettings { concurrency: 1, queue_wait_ms: 20 });
        let _first = gate.admit("c").await.unwrap();
        assert!(matches!(gate.admit("c").await, Err(Refused::Busy(_))));
    }
}
