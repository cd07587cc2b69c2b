//! Connector kv values as last read, already opened, so a connector's reads (its cached access token, an echo
//! user) skip the read transaction and the decryption: together a tenth of a connector read's CPU.
//!
//! Coherence: every kv write invalidates its key on the writer's thread once its transaction's fate is known
//! (`Db::run_then`): it bumps a generation, and stamps it on the key's stripe (one of [`STRIPES`], by the key's
//! hash). A read fills the cache only if its key's stripe was not stamped between the read's start and its fill,
//! so a value read from a snapshot older than a write is never kept after that write. Stripes rather than one
//! generation for all keys: under a steady stream of writes (every send stores a receiver row) a read of another
//! key, such as the access token after its refresh, would otherwise never be kept again; stripes rather than a
//! stamp per key, so that what invalidation remembers stays bounded. Two keys sharing a stripe only cost a fill.
//! Values live in memory in the clear: the process holds the master key anyway; the file stays sealed.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::Mutex;

/// Entries kept at most (then the cache starts over empty), and the largest value kept.
const MAX_ENTRIES: usize = 4096;
const MAX_VALUE_BYTES: usize = 16 * 1024;
/// How many stripes of keys invalidation stamps.
const STRIPES: usize = 1024;

#[derive(Default)]
pub struct KvCache {
    inner: Mutex<Inner>,
    hasher: RandomState,
}

struct Inner {
    generation: u64,
    /// The generation of the last invalidation of a key in each stripe.
    stamped: Box<[u64]>,
    /// By connection, then key: looked up with the caller's `&str`s, without building a key per read.
    entries: HashMap<String, HashMap<String, Cached>>,
    len: usize,
}

impl Default for Inner {
    fn default() -> Inner {
        Inner { generation: 0, stamped: vec![0; STRIPES].into(), entries: HashMap::new(), len: 0 }
    }
}

struct Cached {
    value: Vec<u8>,
    expires_at: Option<i64>,
}

/// Where a read began, for [`KvCache::fill`].
pub struct Ticket(u64);

impl KvCache {
    /// The value, if cached and not expired at `now`; else a ticket for filling it after reading the store.
    pub fn get(&self, connection: &str, key: &str, now: i64) -> Result<Vec<u8>, Ticket> {
        let mut inner = self.lock();
        match inner.entries.get(connection).and_then(|keys| keys.get(key)) {
            Some(c) if c.expires_at.is_none_or(|at| at > now) => Ok(c.value.clone()),
            Some(_) => {
                inner.remove(connection, key);
                Err(Ticket(inner.generation))
            }
            None => Err(Ticket(inner.generation)),
        }
    }

    /// Keeps what a read that began at `ticket` found, unless a write was made since.
    pub fn fill(&self, ticket: Ticket, connection: &str, key: &str, value: &[u8], expires_at: Option<i64>) {
        if value.len() > MAX_VALUE_BYTES {
            return;
        }
        let stripe = self.stripe(connection, key);
        let mut inner = self.lock();
        if inner.stamped[stripe] > ticket.0 {
            return;
        }
        if inner.len >= MAX_ENTRIES {
            inner.entries.clear();
            inner.len = 0;
        }
        let cached = Cached { value: value.to_vec(), expires_at };
        if inner.entries.entry(connection.to_string()).or_default().insert(key.to_string(), cached).is_none() {
            inner.len += 1;
        }
    }

    /// A write of this key was made (or tried): the next read goes to the store.
    pub fn invalidate(&self, connection: &str, key: &str) {
        let stripe = self.stripe(connection, key);
        let mut inner = self.lock();
        inner.generation += 1;
        inner.stamped[stripe] = inner.generation;
        inner.remove(connection, key);
    }

    fn stripe(&self, connection: &str, key: &str) -> usize {
        (self.hasher.hash_one((connection, key)) % STRIPES as u64) as usize
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl Inner {
    fn remove(&mut self, connection: &str, key: &str) {
        if let Some(keys) = self.entries.get_mut(connection)
            && keys.remove(key).is_some()
        {
            self.len -= 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_read_that_began_before_a_write_is_not_kept() {
        let cache = KvCache::default();
        let Err(ticket) = cache.get("c", "k", 0) else { panic!("empty") };
        cache.invalidate("c", "k");
        cache.fill(ticket, "c", "k", b"old", None);
        assert!(cache.get("c", "k", 0).is_err(), "the old value was not kept");
        let Err(ticket) = cache.get("c", "k", 0) else { panic!("empty") };
        cache.fill(ticket, "c", "k", b"new", None);
        assert_eq!(cache.get("c", "k", 0).ok(), Some(b"new".to_vec()));
        cache.invalidate("c", "k");
        assert!(cache.get("c", "k", 0).is_err(), "a write drops it");
    }

    #[test]
    fn a_read_is_kept_however_many_other_keys_are_written_meanwhile() {
        let cache = KvCache::default();
        let Err(ticket) = cache.get("c", "token", 0) else { panic!("empty") };
        // Writes of other keys (and of the same key of another connection) while the read was under way.
        let other = (0..).map(|i| format!("receiver:{i}")).find(|k| cache.stripe("c", k) != cache.stripe("c", "token"));
        cache.invalidate("c", &other.unwrap());
        if cache.stripe("d", "token") != cache.stripe("c", "token") {
            cache.invalidate("d", "token");
        }
        cache.fill(ticket, "c", "token", b"t", None);
        assert_eq!(cache.get("c", "token", 0).ok(), Some(b"t".to_vec()));
        // A key sharing the read's stripe makes the fill a miss, never a stale value.
        let Err(ticket) = cache.get("c", "other", 0) else { panic!("empty") };
        let twin = (0..).map(|i| format!("k{i}")).find(|k| cache.stripe("c", k) == cache.stripe("c", "other"));
        cache.invalidate("c", &twin.unwrap());
        cache.fill(ticket, "c", "other", b"o", None);
        assert!(cache.get("c", "other", 0).is_err());
    }

    #[test]
    fn an_expired_value_is_not_answered_and_entries_are_bounded() {
        let cache = KvCache::default();
        let Err(ticket) = cache.get("c", "k", 0) else { panic!("empty") };
        cache.fill(ticket, "c", "k", b"v", Some(100));
        assert!(cache.get("c", "k", 99).is_ok());
        assert!(cache.get("c", "k", 100).is_err());
        for i in 0..MAX_ENTRIES + 10 {
            let Err(ticket) = cache.get("c", &i.to_string(), 0) else { panic!("empty") };
            cache.fill(ticket, "c", &i.to_string(), b"v", None);
        }
        assert!(cache.lock().len <= MAX_ENTRIES);
        let Err(ticket) = cache.get("c", "big", 0) else { panic!("empty") };
        cache.fill(ticket, "c", "big", &vec![0; MAX_VALUE_BYTES + 1], None);
        assert!(cache.get("c", "big", 0).is_err(), "a large value is not kept");
    }
}
