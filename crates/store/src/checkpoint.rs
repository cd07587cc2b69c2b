//! Copies the WAL back into the database file on a thread of its own, so the writer never does.
//!
//! Why: SQLite's automatic checkpoint runs inside the commit that crosses its threshold, on the writer's thread:
//! every thousand pages or so, one commit (and every call queued behind it) waited for a thousand page copies and
//! an fsync. A passive checkpoint from another connection does the same work beside the writer; the writer still
//! restarts the WAL from its start once a checkpoint has caught up. The writer keeps a far higher automatic
//! threshold only as a backstop (this thread stuck on a slow disk): `connections::WRITER_BACKSTOP_PAGES`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use rusqlite::Connection;

/// How often what the writer committed since is copied (a round with nothing new returns at once).
const EVERY: Duration = Duration::from_millis(100);

pub struct Checkpointer {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl Checkpointer {
    pub fn start(path: &Path) -> std::io::Result<Checkpointer> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let path = path.to_path_buf();
        let thread = std::thread::Builder::new().name("qiao-checkpoint".into()).spawn({
            let stop = stop.clone();
            move || run(&path, &stop)
        })?;
        Ok(Checkpointer { stop, thread: Some(thread) })
    }
}

impl Drop for Checkpointer {
    fn drop(&mut self) {
        *self.stop.0.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.stop.1.notify_all();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn run(path: &PathBuf, stop: &(Mutex<bool>, Condvar)) {
    let mut conn: Option<Connection> = None;
    loop {
        let stopped = stop.0.lock().unwrap_or_else(|e| e.into_inner());
        let (stopped, _) = stop.1.wait_timeout(stopped, EVERY).unwrap_or_else(|e| e.into_inner());
        if *stopped {
            return;
        }
        drop(stopped);
        if conn.is_none() {
            conn = crate::connections::checkpointer(path).ok();
        }
        let Some(c) = &conn else { continue };
        // Passive: never waits for the writer or a reader; copies what it can now, the rest next round.
        if let Err(e) = c.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())) {
            // Not fatal: the writer's backstop still bounds the WAL. Opened again on the next round.
            tracing::warn!("store: background checkpoint failed: {e}");
            conn = None;
        }
    }
}
