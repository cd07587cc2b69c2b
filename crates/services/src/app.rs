//! [`App`]: one server's services around its runtime and store. The server builds it once; the API's handlers,
//! the outbox worker, pollers, subscribers and sync runs all take it.

use std::sync::Arc;

use anyhow::Result;
use futures::future::BoxFuture;
use tokio::sync::watch;

use qiao_config::{DirectorySettings, SubscriberSettings};
use qiao_runtime::Runtime;
use qiao_runtime::kv::{KvQuota, KvStore, QuotaExceeded};
use qiao_store::Db;

use crate::outbox::Outbox;
use crate::sync::Locks;

pub struct App {
    /// Runs connectors: the only way to call one.
    pub runtime: Arc<Runtime>,
    pub db: Arc<Db>,
    /// The outbox: writes to platforms, durable and retried (`outbox::worker` delivers them).
    pub outbox: Outbox,
    /// What the open webhook routes let through.
    pub gate: crate::gate::Gate,
    /// Bumped whenever new events are stored, so subscriber deliveries start without polling the table.
    pub events_added: watch::Sender<u64>,
    pub subscriber_settings: SubscriberSettings,
    /// Bumped when a subscription is created or deleted, so deliveries to it start (or stop) at once.
    pub subscriptions_changed: watch::Sender<u64>,
    /// Bumped when a rule is created, changed, enabled or deleted, so the rules' loop reloads them.
    pub rules_changed: watch::Sender<u64>,
    /// `[directory]`: the directory's source and the preferred platforms.
    pub directory: DirectorySettings,
    /// One directory write or sync run at a time per connection (`""`: the enterprise directory itself).
    pub directory_locks: Locks,
    /// `[calendar]` and `[[approvals.deadlines]]`, and the deadline worker's clock and wake-up.
    pub deadlines: crate::deadlines::Deadlines,
    /// Event streams: what each is doing, and the signal that closes them at shutdown.
    pub streams: Arc<crate::streams::Streams>,
    /// API keys as last read, for a second (`access::KEY_CACHE_TTL`).
    pub keys: crate::access::KeyCache,
}

impl App {
    /// How fast `connection`'s writes start now: the operator's rate, else its connector's documented one.
    pub fn pacing(&self, connection: &str) -> crate::outbox::throttle::Rate {
        let policy = self.runtime.connections.get(connection).map(|c| c.outbox.clone()).unwrap_or_default();
        let connector = self
            .runtime
            .connections
            .get(connection)
            .and_then(|c| self.runtime.connectors.get(&c.connector));
        let hints = connector.as_ref().map_or(&[][..], |c| &c.info.rate_hints[..]);
        crate::outbox::throttle::rate(&policy, hints)
    }

    /// The services of `runtime`'s connections over `db`, with default settings (the server sets its own).
    pub fn new(runtime: Arc<Runtime>, db: Arc<Db>) -> App {
        App {
            outbox: Outbox::new(runtime.connections.values().map(|c| &**c)),
            gate: crate::gate::Gate::new(runtime.connections.values().map(|c| &**c), Default::default()),
            runtime,
            db,
            events_added: watch::Sender::new(0),
            subscriber_settings: SubscriberSettings::default(),
            subscriptions_changed: watch::Sender::new(0),
            rules_changed: watch::Sender::new(0),
            directory: DirectorySettings::default(),
            directory_locks: Locks::default(),
            deadlines: Default::default(),
            streams: Default::default(),
            keys: Default::default(),
        }
    }
}

/// Connectors' key-value state in the store, for the runtime's `kv` import.
pub struct StoreKv(pub Arc<Db>);

impl KvStore for StoreKv {
    fn get(&self, connection: String, key: String) -> BoxFuture<'static, Result<Option<Vec<u8>>>> {
        let db = self.0.clone();
        Box::pin(async move { db.kv_get(connection, key).await })
    }

    fn set(
        &self,
        connection: String,
        key: String,
        value: Vec<u8>,
        ttl_seconds: Option<u32>,
        quota: KvQuota,
    ) -> BoxFuture<'static, Result<()>> {
        let db = self.0.clone();
        Box::pin(async move {
            db.kv_set(connection, key, value, ttl_seconds, quota.bytes, quota.keys)
                .await?
                .map_err(|why| QuotaExceeded(why).into())
        })
    }

    fn delete(&self, connection: String, key: String) -> BoxFuture<'static, Result<()>> {
        let db = self.0.clone();
        Box::pin(async move { db.kv_delete(connection, key).await })
    }
}
