//! Secrets at rest in the store: subscriber secrets (`subscriptions.secret`) and connector key-value entries
//! (`kv.value`, where connectors cache platform access tokens) are sealed with the master key
//! ([`qiao_secrets`]), each bound to its row (`subscription:<id>`, `kv:<connection>:<key>`); `kv.rs` and
//! `subscriptions.rs` seal on write and open on read.
//!
//! Which rows are sealed is told by the value itself, no extra column: a sealed secret starts with `qenc:` (a
//! subscriber secret otherwise starts with `whsec_`), and a sealed kv value is stored as TEXT, where earlier
//! versions stored every kv value as a BLOB. Rows an earlier version wrote in plain text are sealed when the
//! store is opened; old contents are scrubbed (`secure_delete`, and the WAL is checkpointed and truncated).

use std::path::Path;

use anyhow::{Context, Result, bail};
use rusqlite::types::Value;
use rusqlite::{Connection, Transaction, params};

use super::Db;
use super::connections;
use qiao_secrets::{self as secrets, MasterKey, kv_place, subscription_place};

/// What `qiao secrets rotate` did to the store.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Resealed {
    /// Subscriber secrets re-sealed with the new key.
    pub subscriptions: usize,
    /// Connector kv values re-sealed with the new key.
    pub kv: usize,
    /// Values already sealed with the new key (a rotation run again after it was cut short), left as they are.
    pub already: usize,
}

/// At open: refuses a store whose secrets were sealed with another key (the wrong key, or a rotation the
/// server was not restarted for), then seals rows an earlier version wrote in plain text.
pub(super) fn check_and_seal(conn: &Connection, key: &MasterKey) -> Result<()> {
    if let Some(other) = sealed_with_another_key(conn, key)? {
        let found = secrets::sealed_key_id(&other).map_or_else(
            || "a format this version does not read".to_string(),
            |id| format!("master key {id}"),
        );
        bail!(
            "its secrets are sealed with {found}, but the master key in use is {}: start with the key they \
             were sealed with ({}, --master-key-file, or {} in the data dir; after `qiao secrets rotate`, the \
             new key)",
            key.id(),
            secrets::KEY_ENV,
            secrets::DATA_DIR_KEY_FILE,
        );
    }
    let sealed = scrubbing(conn, |tx| seal_plaintext(tx, key))?;
    if sealed > 0 {
        tracing::warn!(
            key_id = %key.id(),
            "sealed {sealed} secrets (subscriber secrets, connector kv values) that an earlier version stored in \
             plain text"
        );
    }
    Ok(())
}

/// One sealed value (subscriber secret or kv value) whose key id is not `key`'s, if any.
fn sealed_with_another_key(conn: &Connection, key: &MasterKey) -> rusqlite::Result<Option<String>> {
    let ours = format!("qenc:v1:{}:", key.id());
    let len = ours.len() as i64;
    let other = |sql: &str| -> rusqlite::Result<Option<String>> {
        let mut stmt = conn.prepare(sql)?;
        let mut rows = stmt.query(params![len, ours])?;
        rows.next()?.map(|r| r.get(0)).transpose()
    };
    Ok(
        match other(
            "SELECT secret FROM subscriptions
         WHERE substr(secret, 1, 5) = 'qenc:' AND substr(secret, 1, ?1) <> ?2 LIMIT 1",
        )? {
            Some(value) => Some(value),
            None => other(
                "SELECT value FROM kv WHERE typeof(value) = 'text' AND substr(value, 1, ?1) <> ?2 LIMIT 1",
            )?,
        },
    )
}

/// Seals the rows an earlier version stored in plain text; how many.
fn seal_plaintext(tx: &Transaction, key: &MasterKey) -> Result<usize> {
    let subscriptions: Vec<(i64, String)> = tx
        .prepare("SELECT id, secret FROM subscriptions WHERE substr(secret, 1, 5) <> 'qenc:'")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (id, secret) in &subscriptions {
        let sealed = key.seal(secret.as_bytes(), &subscription_place(*id));
        tx.execute(
            "UPDATE subscriptions SET secret = ?2 WHERE id = ?1",
            params![id, sealed],
        )?;
    }
    let kv: Vec<(String, String, Vec<u8>)> = tx
        .prepare("SELECT connection, key, value FROM kv WHERE typeof(value) = 'blob'")?
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    for (connection, k, value) in &kv {
        let sealed = key.seal(value, &kv_place(connection, k));
        tx.execute(
            "UPDATE kv SET value = ?3 WHERE connection = ?1 AND key = ?2",
            params![connection, k, sealed],
        )?;
    }
    Ok(subscriptions.len() + kv.len())
}

/// Runs `f` in one transaction with `secure_delete` on (what the rows held before is overwritten, not left in
/// free pages), then moves the WAL into the database file and truncates it, so old contents are not left
/// there either. Only when `f` changed something.
fn scrubbing<R: Changes>(
    conn: &Connection,
    f: impl FnOnce(&Transaction) -> Result<R>,
) -> Result<R> {
    conn.execute_batch("PRAGMA secure_delete = ON")?;
    let result = (|| -> Result<R> {
        let tx = conn.unchecked_transaction()?;
        let result = f(&tx)?;
        tx.commit()?;
        Ok(result)
    })();
    conn.execute_batch("PRAGMA secure_delete = OFF")?;
    let result = result?;
    if result.changed() {
        let busy: i64 = conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |r| r.get(0))?;
        if busy != 0 {
            tracing::warn!(
                "the write-ahead log could not be truncated (another process has the store open)"
            );
        }
    }
    Ok(result)
}

trait Changes {
    fn changed(&self) -> bool;
}

impl Changes for usize {
    fn changed(&self) -> bool {
        *self > 0
    }
}

impl Changes for Resealed {
    fn changed(&self) -> bool {
        self.subscriptions + self.kv > 0
    }
}

/// One stored value under rotation: opened with the current key (or plain text from an earlier version),
/// sealed with the new one; `None` when it already is.
fn reseal_value(
    value: Option<&str>,
    plain: Option<&[u8]>,
    place: &str,
    current: &MasterKey,
    new: &MasterKey,
) -> Result<Option<String>> {
    let plaintext = match (value, plain) {
        (Some(sealed), _) if secrets::sealed_key_id(sealed) == Some(new.id()) => {
            // Rotated by an earlier run: check it opens, leave it.
            new.open(sealed, place)?;
            return Ok(None);
        }
        (Some(sealed), _) if secrets::is_sealed(sealed) => current.open(sealed, place)?,
        (Some(text), _) => text.as_bytes().to_vec(),
        (None, Some(bytes)) => bytes.to_vec(),
        (None, None) => return Ok(None),
    };
    Ok(Some(new.seal(&plaintext, place)))
}

impl Db {
    /// `qiao secrets rotate`: re-seals every secret in the store at `path` (which must exist) with `new`, in one
    /// transaction: all or nothing. Values already sealed with `new` are left as they are, so a rotation cut
    /// short can simply be run again. The server must not be running.
    pub fn reseal(path: &Path, current: &MasterKey, new: &MasterKey) -> Result<Resealed> {
        if !path.exists() {
            bail!("there is no store at {}", path.display());
        }
        let conn = connections::writer(path)?;
        scrubbing(&conn, |tx| {
            let mut done = Resealed::default();
            let subscriptions: Vec<(i64, String)> = tx
                .prepare("SELECT id, secret FROM subscriptions ORDER BY id")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (id, secret) in subscriptions {
                let place = subscription_place(id);
                match reseal_value(Some(&secret), None, &place, current, new)
                    .with_context(|| format!("subscription {id}'s secret"))?
                {
                    Some(sealed) => {
                        tx.execute(
                            "UPDATE subscriptions SET secret = ?2 WHERE id = ?1",
                            params![id, sealed],
                        )?;
                        done.subscriptions += 1;
                    }
                    None => done.already += 1,
                }
            }
            let kv: Vec<(String, String, Value)> = tx
                .prepare("SELECT connection, key, value FROM kv ORDER BY connection, key")?
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            for (connection, key, value) in kv {
                let place = kv_place(&connection, &key);
                let resealed = match &value {
                    Value::Text(text) => reseal_value(Some(text), None, &place, current, new),
                    Value::Blob(bytes) => reseal_value(None, Some(bytes), &place, current, new),
                    _ => Ok(None),
                }
                .with_context(|| format!("connection {connection}'s kv entry {key:?}"))?;
                match resealed {
                    Some(sealed) => {
                        tx.execute(
                            "UPDATE kv SET value = ?3 WHERE connection = ?1 AND key = ?2",
                            params![connection, key, sealed],
                        )?;
                        done.kv += 1;
                    }
                    None => done.already += 1,
                }
            }
            Ok(done)
        })
        .with_context(|| format!("database {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn store_with_secrets(path: &Path, key: &MasterKey) -> i64 {
        let db = Db::open(path, key.clone()).unwrap();
        let sub = db
            .create_subscription(
                "http://x/".into(),
                "whsec_TOPSECRET".into(),
                vec!["*".into()],
                None,
                None,
            )
            .await
            .unwrap();
        db.kv_set(
            "hq".into(),
            "token".into(),
            b"t-PLATFORMTOKEN".to_vec(),
            None,
            u64::MAX,
            u64::MAX,
        )
        .await
        .unwrap()
        .unwrap();
        sub.id
    }

    fn raw(path: &Path) -> Vec<u8> {
        let mut bytes = std::fs::read(path).unwrap();
        bytes.extend(std::fs::read(path.with_extension("db-wal")).unwrap_or_default());
        bytes
    }

    fn contains(haystack: &[u8], needle: &str) -> bool {
        haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
    }

    #[tokio::test]
    async fn secrets_are_sealed_on_disk_and_opened_on_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let key = MasterKey::generate();
        let id = store_with_secrets(&path, &key).await;
        let db = Db::open(&path, key.clone()).unwrap();
        assert_eq!(
            db.subscription(id).await.unwrap().unwrap().secret,
            "whsec_TOPSECRET"
        );
        assert_eq!(
            db.subscriptions().await.unwrap()[0].secret,
            "whsec_TOPSECRET"
        );
        assert_eq!(
            db.kv_get("hq".into(), "token".into()).await.unwrap(),
            Some(b"t-PLATFORMTOKEN".to_vec())
        );
        drop(db);
        let bytes = raw(&path);
        assert!(!contains(&bytes, "TOPSECRET") && !contains(&bytes, "PLATFORMTOKEN"));
        assert!(contains(&bytes, &format!("qenc:v1:{}:", key.id())));
    }

    #[tokio::test]
    async fn another_key_is_refused_at_open_with_both_ids() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let key = MasterKey::generate();
        store_with_secrets(&path, &key).await;
        let other = MasterKey::generate();
        let err = format!("{:#}", Db::open(&path, other.clone()).err().unwrap());
        assert!(
            err.contains(&format!("sealed with master key {}", key.id()))
                && err.contains(&format!("the master key in use is {}", other.id())),
            "{err}"
        );
    }

    #[tokio::test]
    async fn plaintext_rows_of_earlier_versions_are_sealed_at_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        {
            // As an earlier version wrote them.
            let conn = connections::writer(&path).unwrap();
            conn.execute(
                "INSERT INTO subscriptions (url, secret, types, cursor, created_ms) VALUES ('http://x/', 'whsec_OLDSECRET', '[\"*\"]', 0, 0)",
                [],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO kv (connection, key, value) VALUES ('hq', 'token', ?1)",
                [b"t-OLDTOKEN".to_vec()],
            )
            .unwrap();
        }
        assert!(contains(&raw(&path), "OLDSECRET"));
        let key = MasterKey::generate();
        let db = Db::open(&path, key.clone()).unwrap();
        assert_eq!(
            db.subscriptions().await.unwrap()[0].secret,
            "whsec_OLDSECRET"
        );
        assert_eq!(
            db.kv_get("hq".into(), "token".into()).await.unwrap(),
            Some(b"t-OLDTOKEN".to_vec())
        );
        drop(db);
        let bytes = raw(&path);
        assert!(
            !contains(&bytes, "OLDSECRET") && !contains(&bytes, "OLDTOKEN"),
            "scrubbed"
        );
        // And opened again: nothing left to seal, same key fine.
        Db::open(&path, key).unwrap();
    }

    #[tokio::test]
    async fn reseal_moves_everything_to_the_new_key_and_can_run_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("q.db");
        let (old, new) = (MasterKey::generate(), MasterKey::generate());
        let id = store_with_secrets(&path, &old).await;
        let done = Db::reseal(&path, &old, &new).unwrap();
        assert_eq!(
            done,
            Resealed {
                subscriptions: 1,
                kv: 1,
                already: 0
            }
        );
        let again = Db::reseal(&path, &old, &new).unwrap();
        assert_eq!(
            again,
            Resealed {
                subscriptions: 0,
                kv: 0,
                already: 2
            }
        );
        assert!(
            Db::open(&path, old.clone()).is_err(),
            "the old key no longer opens it"
        );
        let db = Db::open(&path, new.clone()).unwrap();
        assert_eq!(
            db.subscription(id).await.unwrap().unwrap().secret,
            "whsec_TOPSECRET"
        );
        assert_eq!(
            db.kv_get("hq".into(), "token".into()).await.unwrap(),
            Some(b"t-PLATFORMTOKEN".to_vec())
        );
        drop(db);
        assert!(
            !contains(&raw(&path), &format!("qenc:v1:{}:", old.id())),
            "old ciphertexts scrubbed"
        );
        // A wrong current key changes nothing.
        let stranger = MasterKey::generate();
        let err = format!(
            "{:#}",
            Db::reseal(&path, &stranger, &MasterKey::generate()).unwrap_err()
        );
        assert!(
            err.contains("subscription") && err.contains(new.id()),
            "{err}"
        );
        Db::open(&path, new).unwrap();
    }
}
