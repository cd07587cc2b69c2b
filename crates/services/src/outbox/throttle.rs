//! Per-connection pacing: at most `concurrency` calls in flight and `rate_per_second` started, so one
//! connection's burst cannot starve another's and Qiao stays under each platform's QPS instead of finding it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use qiao_config::OutboxPolicy;

pub struct Throttle {
    slots: Arc<Semaphore>,
    /// The earliest time the next call may start.
    next_start: Mutex<Instant>,
    interval: Duration,
}

impl Throttle {
    pub fn new(policy: &OutboxPolicy) -> Throttle {
        Throttle {
            slots: Arc::new(Semaphore::new(policy.concurrency as usize)),
            next_start: Mutex::new(Instant::now()),
            interval: Duration::from_secs_f64(1.0 / policy.rate_per_second),
        }
    }

    /// Free call slots right now.
    pub fn free(&self) -> usize {
        self.slots.available_permits()
    }

    /// A call slot, if one is free (the dispatcher never waits for one: it serves other connections instead).
    pub fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Waits for this call's turn under the rate.
    pub async fn pace(&self) {
        let start = {
            let mut next = self.next_start.lock().await;
            let start = (*next).max(Instant::now());
            *next = start + self.interval;
            start
        };
        tokio::time::sleep_until(start).await;
    }

    /// The platform said to slow down: no call of this connection starts before `wait` has passed.
    pub async fn hold_off(&self, wait: Duration) {
        let mut next = self.next_start.lock().await;
        *next = (*next).max(Instant::now() + wait);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn paces_calls_at_the_rate_and_holds_off() {
        let t = Throttle::new(&OutboxPolicy { rate_per_second: 10.0, concurrency: 2, ..Default::default() });
        let begin = tokio::time::Instant::now();
        for _ in 0..5 {
            t.pace().await;
        }
        // Five starts at 10/s: the fifth is 400 ms after the first.
        assert_eq!(begin.elapsed().as_millis(), 400);
        t.hold_off(Duration::from_secs(2)).await;
        t.pace().await;
        assert!(begin.elapsed() >= Duration::from_millis(2400));
        let a = t.try_slot().unwrap();
        let _b = t.try_slot().unwrap();
        assert!(t.try_slot().is_none());
        drop(a);
        assert_eq!(t.free(), 1);
    }
}
