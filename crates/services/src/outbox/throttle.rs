//! Per-connection pacing: at most `concurrency` calls in flight and `rate_per_second` started, so one
//! connection's burst cannot starve another's and Qiao stays under each platform's QPS instead of finding it.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Mutex, OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

use serde::Serialize;

use qiao_config::OutboxPolicy;
use qiao_contract::describe::RateHint;

/// The fastest a connector's rate hint may pace a connection: a hint is the platform's documented limit, not a
/// reason to hammer it.
const MAX_HINTED_RATE: f64 = 1_000.0;

/// How fast a connection's writes start, and who said so.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Rate {
    pub per_second: f64,
    /// `operator` (the config), `connector` (its `*` rate hint) or `default`.
    pub from: &'static str,
}

/// The operator's rate when they set one; else the connector's documented rate for every write (`*`); else the
/// default.
pub fn rate(policy: &OutboxPolicy, hints: &[RateHint]) -> Rate {
    let hinted = hints
        .iter()
        .filter(|h| h.operation == "*" && h.per_second.is_finite() && h.per_second > 0.0)
        .map(|h| h.per_second.min(MAX_HINTED_RATE))
        .reduce(f64::min);
    match hinted {
        Some(per_second) if !policy.rate_set_by_operator => Rate { per_second, from: "connector" },
        _ if policy.rate_set_by_operator => Rate { per_second: policy.rate_per_second, from: "operator" },
        _ => Rate { per_second: policy.rate_per_second, from: "default" },
    }
}

/// The resolution of tokio's timer.
const TIMER_TICK: Duration = Duration::from_millis(1);

pub struct Throttle {
    slots: Arc<Semaphore>,
    /// The earliest time the next call may start.
    next_start: Mutex<Instant>,
}

impl Throttle {
    pub fn new(policy: &OutboxPolicy) -> Throttle {
        Throttle {
            slots: Arc::new(Semaphore::new(policy.concurrency as usize)),
            next_start: Mutex::new(Instant::now()),
        }
    }

    /// A call slot, if one is free. Nobody waits for one: the dispatcher serves other connections instead, and an
    /// accept leaves its operation queued.
    pub fn try_slot(&self) -> Option<OwnedSemaphorePermit> {
        self.slots.clone().try_acquire_owned().ok()
    }

    /// Waits for this call's turn under the rate (looked up per call: a reloaded connector may hint another).
    pub async fn pace(&self, rate: Rate) {
        let interval = Duration::from_secs_f64(1.0 / rate.per_second);
        let (start, now) = {
            let mut next = self.next_start.lock().await;
            let now = Instant::now();
            let start = (*next).max(now);
            *next = start + interval;
            (start, now)
        };
        // Tokio's timer fires on whole milliseconds: a sleep until now, or until a microsecond from now, takes
        // about a millisecond. A call whose turn is less than a tick away starts now; the turns themselves stay
        // `interval` apart, so the rate over any second is unchanged.
        if start > now + TIMER_TICK {
            tokio::time::sleep_until(start).await;
        }
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
        let t = Throttle::new(&OutboxPolicy { concurrency: 2, ..Default::default() });
        let ten = Rate { per_second: 10.0, from: "operator" };
        let begin = tokio::time::Instant::now();
        for _ in 0..5 {
            t.pace(ten).await;
        }
        // Five starts at 10/s: the fifth is 400 ms after the first.
        assert_eq!(begin.elapsed().as_millis(), 400);
        t.hold_off(Duration::from_secs(2)).await;
        t.pace(ten).await;
        assert!(begin.elapsed() >= Duration::from_millis(2400));
        let a = t.try_slot().unwrap();
        let _b = t.try_slot().unwrap();
        assert!(t.try_slot().is_none());
        drop(a);
        assert!(t.try_slot().is_some());
    }

    #[tokio::test(start_paused = true)]
    async fn a_call_whose_turn_is_due_does_not_wait_for_a_timer_tick() {
        // Under a fast rate every turn is less than a tick away: none sleeps (a sleep would move the paused clock
        // by a whole millisecond). The turns are still kept: at 1,000 a second the tenth next is 9.1 ms on, and
        // starts at most a tick early.
        let t = Throttle::new(&OutboxPolicy::default());
        let begin = tokio::time::Instant::now();
        for _ in 0..100 {
            t.pace(Rate { per_second: 1_000_000.0, from: "operator" }).await;
        }
        assert_eq!(begin.elapsed(), Duration::ZERO);
        let thousand = Rate { per_second: 1_000.0, from: "operator" };
        for _ in 0..10 {
            t.pace(thousand).await;
        }
        let tenth = begin.elapsed();
        assert!(tenth >= Duration::from_micros(8_100) && tenth <= Duration::from_millis(10), "{tenth:?}");
    }

    #[test]
    fn the_operators_rate_wins_then_the_connectors_then_the_default() {
        let hint = |operation: &str, per_second: f64| RateHint { operation: operation.into(), per_second, source: String::new() };
        let default = OutboxPolicy::default();
        let hints = [hint("send", 5.0), hint("*", 8.0), hint("*", 12.0), hint("*", f64::NAN), hint("*", -1.0)];
        assert_eq!(rate(&default, &hints), Rate { per_second: 8.0, from: "connector" });
        assert_eq!(rate(&default, &[hint("send", 5.0)]), Rate { per_second: 20.0, from: "default" });
        assert_eq!(rate(&default, &[hint("*", 1e9)]).per_second, MAX_HINTED_RATE);
        let set = OutboxPolicy { rate_per_second: 3.0, rate_set_by_operator: true, ..Default::default() };
        assert_eq!(rate(&set, &hints), Rate { per_second: 3.0, from: "operator" });
    }
}
