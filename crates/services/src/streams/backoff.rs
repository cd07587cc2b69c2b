//! How long a stream waits before connecting again: doubling from one second to a minute, each wait drawn
//! between half and all of it (jitter), so many Qiaos, or many connections of one, do not reconnect in step after
//! the platform's gateway comes back.

use std::time::Duration;

use rand::Rng;

const FIRST: Duration = Duration::from_secs(1);
const MOST: Duration = Duration::from_secs(60);
/// Refused credentials do not fix themselves quickly: try again every few minutes, not every minute.
pub const REFUSED: Duration = Duration::from_secs(300);

#[derive(Debug, Default)]
pub struct Backoff {
    failures: u32,
}

impl Backoff {
    /// The wait after one more failure.
    pub fn next(&mut self) -> Duration {
        let full = FIRST.saturating_mul(1 << self.failures.min(6)).min(MOST);
        self.failures = self.failures.saturating_add(1);
        let half = full / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }

    /// A stream that worked (a frame handled) starts over at the first wait.
    pub fn reset(&mut self) {
        self.failures = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_with_jitter_up_to_a_minute_and_start_over_after_success() {
        let mut b = Backoff::default();
        let waits: Vec<Duration> = (0..10).map(|_| b.next()).collect();
        for (i, w) in waits.iter().enumerate() {
            let full = FIRST.saturating_mul(1 << i.min(6)).min(MOST);
            assert!(
                *w >= full / 2 && *w <= full,
                "wait {i}: {w:?} within [{:?}, {full:?}]",
                full / 2
            );
        }
        assert!(waits[9] <= MOST);
        b.reset();
        assert!(b.next() <= FIRST);
    }
}
