//! Callers waiting on an operation's attempt (`?wait=`), by operation id: an attempt that ends hands its row to
//! those waiting on it, and wakes no one else.
//!
//! Why not one broadcast of every attempt: with many callers waiting, each attempt woke all of them, and each
//! looked and went back to sleep — waits times attempts task wake-ups, on the send path's hottest loop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use qiao_store::OperationRow;

/// An attempt's row as recorded after it; `None` when it could not be recorded (look in the store).
pub type Attempted = Option<Arc<OperationRow>>;

#[derive(Default)]
pub struct Waiters {
    waiting: Mutex<HashMap<i64, Vec<oneshot::Sender<Attempted>>>>,
}

impl Waiters {
    /// Waits for the next attempt of `id` to end: registered now, so an attempt ending after this call is seen.
    /// Dropping the returned wait withdraws it.
    pub fn register(self: &Arc<Self>, id: i64) -> Wait {
        let (tx, rx) = oneshot::channel();
        self.lock().entry(id).or_default().push(tx);
        Wait { waiters: self.clone(), id, rx }
    }

    /// An attempt of `id` ended: everyone waiting on it gets `row`.
    pub fn ended(&self, id: i64, row: &Attempted) {
        let Some(waiting) = self.lock().remove(&id) else { return };
        for tx in waiting {
            let _ = tx.send(row.clone());
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<oneshot::Sender<Attempted>>>> {
        self.waiting.lock().unwrap_or_else(|e| e.into_inner())
    }

    #[cfg(test)]
    fn waiting(&self) -> usize {
        self.lock().values().map(Vec::len).sum()
    }
}

/// One caller's wait for the next attempt of one operation.
pub struct Wait {
    waiters: Arc<Waiters>,
    id: i64,
    rx: oneshot::Receiver<Attempted>,
}

impl Wait {
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
        let mut waiting = self.waiters.lock();
        if let Some(list) = waiting.get_mut(&self.id) {
            list.retain(|tx| !tx.is_closed());
            if list.is_empty() {
                waiting.remove(&self.id);
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
}
