//! Connections for point reads, beside the writer's: a read of one row by its key runs here, on the caller's
//! thread, instead of queueing behind the writer's batches.
//!
//! Why: on the request path the hot reads are tiny (a connector's kv value, an operation by id) and a trip to the
//! writer's thread cost two thread wake-ups each, more than the read itself. WAL lets readers run beside the
//! writer; each statement reads the last committed state, so a read after a write that was answered sees it
//! (answered means committed, see `writer`). Only reads bounded by a key belong here: a scan would hold up the
//! async worker it runs on.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::Result;
use rusqlite::Connection;

/// Idle connections kept for reuse; more may be open at once under load (one per concurrent read), and the extra
/// ones are closed when done.
const KEEP_IDLE: usize = 8;

pub struct Readers {
    path: PathBuf,
    idle: Mutex<Vec<Connection>>,
}

impl Readers {
    /// Readers of the store at `path`, which the writer has already opened (and migrated).
    pub fn new(path: &Path) -> Readers {
        Readers { path: path.to_path_buf(), idle: Mutex::new(Vec::new()) }
    }

    /// Runs `f` on a read connection; the answer reflects every write committed before the call.
    pub fn read<R>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<R>) -> Result<R> {
        let conn = match self.idle().pop() {
            Some(conn) => conn,
            None => crate::connections::reader(&self.path)?,
        };
        let result = f(&conn);
        let mut idle = self.idle();
        if idle.len() < KEEP_IDLE {
            idle.push(conn);
        }
        Ok(result?)
    }

    fn idle(&self) -> std::sync::MutexGuard<'_, Vec<Connection>> {
        self.idle.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_sees_what_the_writer_answered_and_cannot_write() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER)").unwrap();
        let writer = crate::writer::Writer::start(conn).unwrap();
        let readers = Readers::new(&path);
        let count =
            |r: &Readers| r.read(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get::<_, i64>(0))).unwrap();
        assert_eq!(count(&readers), 0);
        for i in 1..=3 {
            writer.call(move |c| c.execute("INSERT INTO t (v) VALUES (?1)", [i])).await.unwrap();
            assert_eq!(count(&readers), i, "the reader kept an old snapshot");
        }
        let refused = readers.read(|c| c.execute("INSERT INTO t (v) VALUES (9)", []));
        assert!(format!("{:#}", refused.unwrap_err()).contains("readonly"));
        assert_eq!(count(&readers), 3);
    }
}
