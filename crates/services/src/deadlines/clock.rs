//! The deadlines' clock: the system clock, which end-to-end tests may move (with the `test-clock` feature) to
//! cross a weekend in seconds. Production builds cannot set it: there is no setting, route or variable for it.

use std::sync::atomic::{AtomicI64, Ordering};

#[derive(Debug, Default)]
pub struct Clock {
    /// Added to the system clock; 0 unless a test moved it.
    offset_ms: AtomicI64,
}

impl Clock {
    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        qiao_store::now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Makes `now_ms` answer `instant_ms` now, and run on from there.
    #[cfg(feature = "test-clock")]
    pub fn set_now_ms(&self, instant_ms: i64) {
        self.offset_ms.store(instant_ms - qiao_store::now_ms(), Ordering::Relaxed);
    }
}
