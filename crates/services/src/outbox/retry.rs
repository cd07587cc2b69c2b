//! Which failures are retried, and when.

use std::time::Duration;

use rand::Rng;

use crate::failure::kind_name;
use qiao_config::OutboxPolicy;
use qiao_runtime::CallError;

/// The name `retry_on` uses for a failure.
pub fn failure_class(e: &CallError) -> &'static str {
    match e {
        CallError::Connector(e) => kind_name(e.kind),
        CallError::Timeout { .. } => "timeout",
        CallError::Trap { .. } => "crashed",
        CallError::CpuLimit { .. } => "cpu-limit",
        CallError::ConnectorNotLoaded { .. } => "not-loaded",
        // Its own calls fill the connection's bulkhead: a later attempt finds a place.
        CallError::Busy { .. } => "unavailable",
        CallError::Unsupported { .. } | CallError::OlderContract { .. } => "unsupported",
        CallError::UnknownConnection(_) => "not-found",
        CallError::Host(_) => "internal",
    }
}

/// How long to wait before attempt `attempts + 1`: exponential from `backoff_initial_ms`, capped, with
/// "equal jitter" (half fixed, half random) so retries of a burst spread out; never sooner than the platform's
/// own retry-after.
pub fn backoff(policy: &OutboxPolicy, attempts: u32, retry_after: Option<Duration>) -> Duration {
    let exp = policy
        .backoff_initial_ms
        .saturating_mul(1u64 << attempts.saturating_sub(1).min(30))
        .min(policy.backoff_max_ms);
    let jittered = exp / 2 + rand::rng().random_range(0..=exp / 2);
    Duration::from_millis(jittered).max(retry_after.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_with_jitter_caps_and_honours_retry_after() {
        let p = OutboxPolicy { backoff_initial_ms: 1000, backoff_max_ms: 8000, ..Default::default() };
        for (attempts, lo, hi) in [(1, 500, 1000), (2, 1000, 2000), (3, 2000, 4000), (4, 4000, 8000), (9, 4000, 8000)] {
            for _ in 0..50 {
                let d = backoff(&p, attempts, None).as_millis() as u64;
                assert!((lo..=hi).contains(&d), "attempt {attempts}: {d} ms not in {lo}..={hi}");
            }
        }
        assert_eq!(backoff(&p, 1, Some(Duration::from_secs(60))), Duration::from_secs(60));
    }
}
