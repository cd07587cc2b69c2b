//! Where the store's file is opened: one function per role, so that what each role's connection needs (and why)
//! is side by side instead of in three modules. The writer's is opened first: it sets the journal mode and
//! migrates the schema, which the others rely on.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result};
use rusqlite::{Connection, OpenFlags};

/// Prepared statements each connection keeps. The writer runs a few dozen distinct statements on its hot paths;
/// with rusqlite's default of 16 they evicted each other and were parsed again, a tenth of the writer's time.
const STATEMENT_CACHE: usize = 256;

/// The writer's own automatic checkpoint, in pages: only if the checkpointer's thread (`checkpoint`) falls far
/// behind.
pub const WRITER_BACKSTOP_PAGES: i64 = 20_000;

/// How long a connection waits for a lock another holds before failing (a checkpoint restarting the WAL).
pub(crate) const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The one connection that writes (see `writer`): pragmas set, schema migrated.
pub fn writer(path: &Path) -> Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("cannot open database {}", path.display()))?;
    // WAL: readers don't block the writer; NORMAL sync is durable across process crashes (not power loss of
    // the last transaction), which is the trade-off SQLite recommends for WAL.
    conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "wal_autocheckpoint", WRITER_BACKSTOP_PAGES)?;
    crate::migrate(&conn)?;
    Ok(conn)
}

/// A connection for point reads (see `readers`), which cannot write.
pub fn reader(path: &Path) -> Result<Connection> {
    // Read-write flags (a WAL reader may need to create the shared-memory index), but `query_only` refuses
    // any write: writes go through the writer, always.
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX | OpenFlags::SQLITE_OPEN_URI,
    )
    .with_context(|| format!("cannot open database {} for reading", path.display()))?;
    conn.execute_batch("PRAGMA query_only = ON;")?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    Ok(conn)
}

/// The checkpointer's connection (see `checkpoint`): it runs only passive checkpoints, which never wait for a
/// lock, so it needs no busy timeout and no statement cache.
pub fn checkpointer(path: &Path) -> Result<Connection> {
    Connection::open(path).with_context(|| format!("cannot open database {} to checkpoint", path.display()))
}
