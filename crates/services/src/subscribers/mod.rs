//! Delivery of stored events to subscribers, per Standard Webhooks.
//!
//! Each subscription reads the event log from its own cursor, strictly in seq order, one event per signed
//! POST. A failed attempt is retried on `[subscribers] retry_schedule_ms`; once that is spent the event is
//! dead-lettered and the cursor moves past it. The cursor is stored and only moves after an event is handled,
//! so delivery is at-least-once across crashes, restarts and aborted tasks.
//!
//! - `filter`: which events a subscription wants.
//! - `message`, `sign`: the body and its signature.
//! - `deliver`: one HTTP attempt.
//! - `worker`: one subscription's loop. This file: the supervisor that runs one loop per subscription.

mod deliver;
mod filter;
mod message;
mod sign;
mod worker;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{AbortHandle, JoinSet};

pub use deliver::Sender;
pub use filter::{MAX_TYPE_CHARS, MAX_TYPES, check_pattern};
pub use sign::generate_secret;

use crate::App;

/// Longest the supervisor goes without re-reading the subscriptions (it is poked on every change).
const RESCAN: Duration = Duration::from_secs(1);

/// Starts delivering to every subscriber; aborted at shutdown (a delivery cut short is retried, never lost).
pub fn spawn(app: &Arc<App>) -> tokio::task::JoinHandle<()> {
    let app = app.clone();
    tokio::spawn(async move {
        match Sender::new(app.subscriber_settings.timeout_ms) {
            Ok(sender) => supervise(app, Arc::new(sender)).await,
            Err(e) => tracing::error!("cannot deliver events to subscribers: {e:#}"),
        }
    })
}

/// Tells the supervisor that subscriptions were created or deleted.
pub fn subscriptions_changed(app: &App) {
    app.subscriptions_changed
        .send_modify(|n| *n = n.wrapping_add(1));
}

/// Keeps one delivery loop running per stored subscription.
async fn supervise(app: Arc<App>, sender: Arc<Sender>) {
    let mut changed = app.subscriptions_changed.subscribe();
    // Owned by this task: when it is aborted at shutdown, dropping the set aborts every loop with it.
    let mut loops = Loops::default();
    loop {
        changed.borrow_and_update();
        match app.db.subscription_ids().await {
            Ok(ids) => loops.reconcile(&ids, |id| worker::run(app.clone(), sender.clone(), id)),
            Err(e) => tracing::warn!("cannot read subscriptions: {e:#}"),
        }
        let _ = tokio::time::timeout(RESCAN, changed.changed()).await;
    }
}

#[derive(Default)]
struct Loops {
    tasks: JoinSet<()>,
    by_subscription: HashMap<i64, AbortHandle>,
}

impl Loops {
    /// Stops the loops of deleted subscriptions and starts loops for new ones (and for any that ended).
    fn reconcile<F>(&mut self, ids: &[i64], start: impl Fn(i64) -> F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        while let Some(ended) = self.tasks.try_join_next() {
            if let Err(e) = ended
                && e.is_panic()
            {
                tracing::error!("a subscriber delivery loop panicked; restarting it: {e}");
            }
        }
        let wanted: HashSet<i64> = ids.iter().copied().collect();
        self.by_subscription.retain(|id, task| {
            let keep = wanted.contains(id) && !task.is_finished();
            if !keep {
                task.abort();
            }
            keep
        });
        for id in ids {
            if !self.by_subscription.contains_key(id) {
                let task = self.tasks.spawn(start(*id));
                self.by_subscription.insert(*id, task);
            }
        }
    }
}
