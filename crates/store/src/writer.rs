//! The store's one connection, driven by one thread with group commit: every call is queued to it, and the
//! thread runs what is queued in one transaction, each call in a savepoint of its own, then commits once and
//! only then answers the callers.
//!
//! Why: a call used to be a blocking-pool task contending for a mutex around the connection, and its own
//! transaction — about eight thread hand-offs and eight WAL appends per durable send. One owner thread means no
//! lock to fight over, and under load one commit (one WAL append, one round of file locks) carries many calls.
//! Nothing is answered before it is committed, so "accepted" still means "on disk" (as WAL + synchronous=NORMAL
//! makes it: across process crashes, not power loss of the last transaction).
//!
//! A call that fails is rolled back to its savepoint and fails alone; the others in its batch commit. When the
//! commit itself fails, or SQLite ended the transaction under a call (it may roll back on I/O errors or a full
//! disk), every call of the batch whose work was lost is answered with that error.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::mpsc;
use std::thread::JoinHandle;

use anyhow::{Result, anyhow};
use rusqlite::Connection;

/// Most calls one transaction carries, so a burst still commits (and answers) in steps.
const MAX_BATCH: usize = 256;

/// A queued call: runs on the writer's connection, and answers how it went, keeping its result to hand over once
/// the batch's fate is known.
type Job = Box<dyn FnOnce(&Connection) -> Ran + Send>;

/// A call that ran: whether its work stands, and how to answer its caller (`Some(error)`: its work was lost).
struct Ran {
    ok: bool,
    answer: Box<dyn FnOnce(Option<&str>) + Send>,
}

pub struct Writer {
    queue: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Takes ownership of `conn`: from now on only the writer's thread touches it.
    pub fn start(conn: Connection) -> Result<Writer> {
        let (queue, jobs) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("qiao-store".into())
            .spawn(move || drive(conn, jobs))?;
        Ok(Writer { queue: Some(queue), thread: Some(thread) })
    }

    /// Runs `f` on the connection in the next batch; its result once the batch committed.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R> {
        self.call_then(f, || {}).await
    }

    /// [`Writer::call`], and `after` on the writer's thread once the batch's fate is known (committed or not),
    /// before the caller hears of it: in commit order, and even when the caller stopped waiting.
    pub async fn call_then<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
        after: impl FnOnce() + Send + 'static,
    ) -> Result<R> {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<R>>();
        let job: Job = Box::new(move |conn| {
            let result = match catch_unwind(AssertUnwindSafe(|| f(conn))) {
                Ok(result) => result.map_err(anyhow::Error::from),
                Err(panic) => Err(anyhow!("a store call panicked: {}", panic_message(&panic))),
            };
            Ran {
                ok: result.is_ok(),
                answer: Box::new(move |lost: Option<&str>| {
                    after();
                    let result = match lost {
                        Some(why) if result.is_ok() => Err(anyhow!("{why}")),
                        _ => result,
                    };
                    let _ = tx.send(result);
                }),
            }
        });
        self.queue
            .as_ref()
            .and_then(|queue| queue.send(job).ok())
            .ok_or_else(|| anyhow!("the store is closed"))?;
        rx.await.map_err(|_| anyhow!("the store's writer stopped"))?
    }
}

impl Drop for Writer {
    /// Closes the queue and waits for the thread to finish what was queued and close the connection, so the file
    /// is released when the store is dropped (a test reopening it, `qiao secrets rotate` after a stop).
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

fn drive(conn: Connection, jobs: mpsc::Receiver<Job>) {
    let mut next = jobs.recv().ok();
    while let Some(first) = next {
        next = run_batch(&conn, first, &jobs).or_else(|| jobs.recv().ok());
    }
}

/// One transaction for `first` and whatever is queued by the time each call is done (up to [`MAX_BATCH`]), so
/// calls that arrive while the batch runs share its commit instead of waiting for one of their own; each call in
/// its own savepoint. Returns the call taken from the queue that did not fit, if one was.
fn run_batch(conn: &Connection, first: Job, jobs: &mpsc::Receiver<Job>) -> Option<Job> {
    let mut done: Vec<Ran> = Vec::with_capacity(16);
    let mut open = false;
    let mut job = first;
    let mut taken = 1;
    loop {
        if !open {
            if let Err(e) = exec(conn, "BEGIN IMMEDIATE") {
                // Cannot write now (the file is locked past the busy timeout): the call still runs, on its own,
                // and reads succeed; its writes fail as they would have.
                tracing::warn!("store: cannot begin a transaction: {e}");
            } else {
                open = true;
            }
        }
        let savepoint = open && exec(conn, "SAVEPOINT call").is_ok();
        let ran = job(conn);
        if open && conn.is_autocommit() {
            // SQLite rolled the transaction back under this call: everything before it in the batch is lost too.
            let why = "the store rolled back a transaction (an I/O error or a full disk); nothing of it was kept";
            for earlier in done.drain(..) {
                (earlier.answer)((earlier.ok).then_some(why));
            }
            (ran.answer)(ran.ok.then_some(why));
            open = false;
        } else {
            if savepoint {
                let end = if ran.ok { Ok(()) } else { exec(conn, "ROLLBACK TO call") };
                if let Err(e) = end.and_then(|()| exec(conn, "RELEASE call")) {
                    tracing::error!("store: cannot end a call's savepoint: {e}");
                }
            }
            done.push(ran);
        }
        // Looked at after each call, so what was queued meanwhile joins this commit.
        match jobs.try_recv() {
            Ok(queued) if taken < MAX_BATCH => {
                job = queued;
                taken += 1;
            }
            Ok(queued) => {
                commit_and_answer(conn, open, done);
                return Some(queued);
            }
            Err(_) => break,
        }
    }
    commit_and_answer(conn, open, done);
    None
}

/// Ends the batch's transaction (when `open`), then answers its calls: only now is their work known to stand.
fn commit_and_answer(conn: &Connection, open: bool, done: Vec<Ran>) {
    let lost = if open {
        exec(conn, "COMMIT").err().map(|e| {
            let _ = exec(conn, "ROLLBACK");
            format!("the store could not commit: {e}")
        })
    } else {
        None
    };
    for ran in done {
        (ran.answer)(if ran.ok { lost.as_deref() } else { None });
    }
}

/// A statement without parameters, prepared once: these run several times per call, and parsing them again each
/// time was a visible share of the writer's time.
fn exec(conn: &Connection, sql: &str) -> rusqlite::Result<()> {
    conn.prepare_cached(sql)?.execute([]).map(drop)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".into())
}

/// What a store call that must be all-or-nothing uses instead of a transaction: a savepoint, which nests in the
/// batch's transaction (and is a transaction of its own outside one). Committed by [`Atomic::commit`]; rolled back
/// when dropped without it.
pub struct Atomic<'c> {
    conn: &'c Connection,
    done: bool,
}

pub fn atomic(conn: &Connection) -> rusqlite::Result<Atomic<'_>> {
    exec(conn, "SAVEPOINT atomic")?;
    Ok(Atomic { conn, done: false })
}

impl Atomic<'_> {
    pub fn commit(mut self) -> rusqlite::Result<()> {
        self.done = true;
        exec(self.conn, "RELEASE atomic")
    }
}

impl std::ops::Deref for Atomic<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

impl Drop for Atomic<'_> {
    fn drop(&mut self) {
        if !self.done {
            let _ = exec(self.conn, "ROLLBACK TO atomic").and_then(|()| exec(self.conn, "RELEASE atomic"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn writer() -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let conn = Connection::open(dir.path().join("w.db")).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER UNIQUE)").unwrap();
        (dir, Writer::start(conn).unwrap())
    }

    async fn count(w: &Writer) -> i64 {
        w.call(|c| c.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))).await.unwrap()
    }

    #[tokio::test]
    async fn a_failing_call_is_rolled_back_alone_and_the_rest_of_its_batch_commits() {
        let (_dir, w) = writer();
        let w = std::sync::Arc::new(w);
        let calls: Vec<_> = (0..200)
            .map(|i| {
                let w = w.clone();
                tokio::spawn(async move {
                    w.call(move |c| {
                        c.execute("INSERT INTO t (v) VALUES (?1)", [i])?;
                        // Every tenth call writes, then fails: its own row must not survive.
                        if i % 10 == 0 {
                            c.execute("INSERT INTO t (v) VALUES (?1)", [i])?;
                        }
                        Ok(i)
                    })
                    .await
                })
            })
            .collect();
        let mut failed = 0;
        for call in calls {
            if call.await.unwrap().is_err() {
                failed += 1;
            }
        }
        assert_eq!(failed, 20);
        assert_eq!(count(&w).await, 180);
    }

    #[tokio::test]
    async fn more_calls_than_a_batch_holds_are_all_committed_and_answered() {
        let (_dir, w) = writer();
        let w = std::sync::Arc::new(w);
        let calls: Vec<_> = (0..(3 * MAX_BATCH as i64 + 7))
            .map(|i| {
                let w = w.clone();
                tokio::spawn(async move { w.call(move |c| c.execute("INSERT INTO t (v) VALUES (?1)", [i])).await })
            })
            .collect();
        for call in calls {
            call.await.unwrap().unwrap();
        }
        assert_eq!(count(&w).await, 3 * MAX_BATCH as i64 + 7);
    }

    #[tokio::test]
    async fn a_panicking_call_is_an_error_and_the_writer_goes_on() {
        let (_dir, w) = writer();
        let panicked = w
            .call(|c| -> rusqlite::Result<()> {
                c.execute("INSERT INTO t (v) VALUES (1)", [])?;
                panic!("boom")
            })
            .await;
        assert!(format!("{:#}", panicked.unwrap_err()).contains("boom"));
        w.call(|c| c.execute("INSERT INTO t (v) VALUES (2)", [])).await.unwrap();
        assert_eq!(count(&w).await, 1);
    }

    #[tokio::test]
    async fn atomic_work_is_all_or_nothing_inside_a_batch() {
        let (_dir, w) = writer();
        let result = w
            .call(|c| {
                let tx = atomic(c)?;
                tx.execute("INSERT INTO t (v) VALUES (1)", [])?;
                tx.execute("INSERT INTO t (v) VALUES (1)", [])?;
                tx.commit()
            })
            .await;
        assert!(result.is_err());
        w.call(|c| {
            let tx = atomic(c)?;
            tx.execute("INSERT INTO t (v) VALUES (3)", [])?;
            tx.commit()
        })
        .await
        .unwrap();
        assert_eq!(count(&w).await, 1);
    }

    #[tokio::test]
    async fn what_was_answered_is_committed_when_the_writer_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (v INTEGER UNIQUE)").unwrap();
        let w = Writer::start(conn).unwrap();
        w.call(|c| c.execute("INSERT INTO t (v) VALUES (7)", [])).await.unwrap();
        drop(w);
        let other = Connection::open(&path).unwrap();
        let n: i64 = other.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }
}
