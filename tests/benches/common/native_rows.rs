//! The rows a durable send writes, as plain rusqlite statements on a file with the store's schema and pragmas:
//! what the SQL itself costs without the store around it. The store bench's native baseline writes them in one
//! transaction per send; the throughput bench's native relay in two, as a durable send must (committed before it
//! is tried, the outcome committed before it is answered).

use std::path::Path;

use qiao_secrets::MasterKey;
use qiao_store::Db;
use rusqlite::{Connection, params};

/// A kv value as the store seals it (nonce, ciphertext, tag): about this long for a short receiver id.
pub const SEALED: &str = "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";

/// Opens `path` with the store's schema (made by opening it once as a `Db`) and pragmas.
pub fn open(path: &Path) -> Connection {
    drop(Db::open(path, MasterKey::generate()).expect("the store's schema"));
    let c = Connection::open(path).expect("open the native file");
    c.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;").expect("pragmas");
    c
}

/// The accepted operation, taken for its first attempt, and its audit row; the operation's id.
pub fn accept(c: &Connection, request: &str, request_hash: &str, now: i64) -> rusqlite::Result<i64> {
    c.prepare_cached(
        "INSERT INTO operations (connection, operation, request, idempotency_key, request_hash, status,
             attempts, next_attempt_ms, created_ms, updated_ms, actor, cause)
         VALUES ('feishu', 'send', ?1, NULL, ?2, 'running', 1, ?3, ?3, ?3, 'key-1', NULL)",
    )?
    .execute(params![request, request_hash, now])?;
    let id = c.last_insert_rowid();
    c.prepare_cached(
        "INSERT INTO audit (time_ms, actor, actor_name, action, target, connection, status, error, operation_id)
         VALUES (?1, 'key-1', 'bench', 'POST /v1/connections/{connection}/messages',
                 '/v1/connections/feishu/messages', 'feishu', 202, NULL, ?2)",
    )?
    .execute(params![now, id])?;
    Ok(id)
}

/// The connector's kv write (the message's receiver, for read receipts) and the operation's success.
pub fn succeed(c: &Connection, id: i64, result: &str, key: &str, now: i64) -> rusqlite::Result<()> {
    c.prepare_cached("INSERT INTO kv (connection, key, value, expires_at) VALUES ('feishu', ?1, ?2, ?3)")?
        .execute(params![key, SEALED, now + 7 * 24 * 3600 * 1000])?;
    c.prepare_cached(
        "INSERT INTO kv_usage (connection, bytes, keys) VALUES ('feishu', ?1, 1)
         ON CONFLICT (connection) DO UPDATE SET bytes = bytes + excluded.bytes, keys = keys + 1",
    )?
    .execute([(key.len() + SEALED.len()) as i64])?;
    c.prepare_cached("UPDATE operations SET status = 'succeeded', result = ?2, updated_ms = ?3 WHERE id = ?1")?
        .execute(params![id, result, now])?;
    Ok(())
}
