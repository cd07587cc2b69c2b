//! Callers waiting on an operation's attempt (`?wait=`), by operation id: an attempt that ends hands its row to
//! those waiting on it, and wakes no one else. It also knows which operations have an attempt in flight, under
//! the same lock: a caller that registers while its operation's attempt runs will be handed the row, so it need
//! not read the operation from the store first (for a send with `?wait=`, the one read of its answer path).
//!
//! Why not one broadcast of every attempt: with many callers waiting, each attempt woke all of them, and each
//! looked and went back to sleep — waits times attempts task wake-ups, on the send path's hottest loop.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use qiao_store::OperationRow;

/// An attempt's row as recorded after it; `None` when it could not be recorded (look in the store).
pub type Attempted = Option<Arc<OperationRow>>;

#[derive(Default)]
pub struct Waiters {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    waiting: HashMap<i64, Vec<oneshot::Sender<Attempted>>>,
    /// Operations with an attempt started and not yet ended.
    in_flight: HashSet<i64>,
}

impl Waiters {
    /// Waits for the next attempt of `id` to end: registered now, so an attempt ending after this call is seen.
    /// Dropping the returned wait withdraws it. [`Wait::in_flight`] tells whether an attempt was running as it
    /// was registered: then it is the one that ends next, and the operation is not final before it does.
    pub fn register(self: &Arc<Self>, id: i64) -> Wait {
        let (tx, rx) = oneshot::channel();
        let mut inner = self.lock();
        inner.waiting.entry(id).or_default().push(tx);
        let in_flight = inner.in_flight.contains(&id);
        drop(inner);
        Wait { waiters: self.clone(), id, rx, in_flight }
    }

    /// An attempt of `id` starts (before it can end, so that [`Waiters::register`] sees it running).
    pub fn started(&self, id: i64) {
        self.lock().in_flight.insert(id);
    }

    /// An attempt of `id` ended: everyone waiting on it gets `row`.
    pub fn ended(&self, id: i64, row: &Attempted) {
        let mut inner = self.lock();
        inner.in_flight.remove(&id);
        let Some(waiting) = inner.waiting.remove(&id) else { return };
        drop(inner);
        for tx in waiting {
            let _ = tx.send(row.clone());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().waiting.values().map(Vec::len).sum()
    }
}

/// One caller's wait for the next attempt of one operation.
pub struct Wait {
    waiters: Arc<Waiters>,
    id: i64,
    rx: oneshot::Receiver<Attempted>,
    in_flight: bool,
}

impl Wait {
    /// Whether an attempt of the operation was running when this wait was registered.
    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// The row the attempt recorded (`None`: look in the store).
    pub async fn ended(&mut self) -> Attempted {
        (&mut self.rx).await.unwrap_or(None)
    }
}

impl Drop for Wait {
    fn drop(&mut self) {
        // Ours is now closed: drop it (and the entry, if it was the last), so a caller that timed out leaves
        // nothing behind.
        self.rx.close();
        let mut inner = self.waiters.lock();
        if let Some(list) = inner.waiting.get_mut(&self.id) {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                inner.waiting.remove(&self.id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_attempt_wakes_only_its_own_waiters_and_a_dropped_wait_leaves_nothing() {
        let waiters = Arc::new(Waiters::default());
        let mut first = waiters.register(1);
        let mut second = waiters.register(1);
        let other = waiters.register(2);
        assert_eq!(waiters.waiting(), 3);
        waiters.ended(1, &None);
        assert!(first.ended().await.is_none());
        assert!(second.ended().await.is_none());
        drop((first, second));
        assert_eq!(waiters.waiting(), 1, "id 2 still waits");
        drop(other);
        assert_eq!(waiters.waiting(), 0, "a withdrawn wait is removed");
        waiters.ended(2, &None);
    }

    #[tokio::test]
    async fn a_wait_registered_while_an_attempt_runs_knows_it_and_is_handed_its_row() {
        let waiters = Arc::new(Waiters::default());
        assert!(!waiters.register(7).in_flight(), "no attempt yet: the caller must look in the store");
        waiters.started(7);
        let mut during = waiters.register(7);
        assert!(during.in_flight());
        waiters.ended(7, &None);
        assert!(during.ended().await.is_none(), "handed what the attempt recorded");
        assert!(!waiters.register(7).in_flight(), "ended: a later wait looks in the store");
    }
}
