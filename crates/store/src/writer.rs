//! The store's one connection, with group commit: every call is queued, and what is queued runs in one
//! transaction, each call in a savepoint of its own, then commits once and only then answers the callers.
//!
//! Why: a call used to be a blocking-pool task contending for a mutex around the connection, and its own
//! transaction — about eight thread hand-offs and eight WAL appends per durable send. One owner means no lock to
//! fight over, and under load one commit (one WAL append, one round of file locks) carries many calls. Nothing is
//! answered before it is committed, so "accepted" still means "on disk" (as WAL + synchronous=NORMAL makes it:
//! across process crashes, not power loss of the last transaction).
//!
//! Where batches run: in a task on the runtime that opened the store (for `qiao serve`, its serving thread), woken
//! when a call is queued; it yields once first, so the round's other tasks queue theirs and share the commit. A
//! dedicated thread used to own the connection, and its wake-ups both ways (three commits per durable send) were a
//! quarter of a send's CPU; a commit is a write() into the page cache (no fsync: WAL, synchronous=NORMAL, and
//! checkpoints run on their own thread, see `checkpoint`). What must not hold up the serving thread runs on a
//! blocking thread instead, with the connection handed over to it ([`Place::Waiting`]):
//! - a batch that must wait for the write lock (another process writing the file: `qiao keys create` beside the
//!   server): tried without waiting first, and moved when busy;
//! - a call marked long ([`Writer::call_long`]: scans, bulk writes);
//! - everything, for [`OFF_THREAD_FOR`], after a batch that took longer than [`SLOW_BATCH`] (a slow disk).
//!
//! A call that fails is rolled back to its savepoint and fails alone; the others in its batch commit. When the
//! commit itself fails, or SQLite ended the transaction under a call (it may roll back on I/O errors or a full
//! disk), every call of the batch whose work was lost is answered with that error.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, TryLockError, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Result, anyhow};
use rusqlite::{Connection, ErrorCode};
use tokio::sync::Notify;

use crate::connections::BUSY_TIMEOUT;

/// Most calls one transaction carries, so a burst still commits (and answers) in steps.
const MAX_BATCH: usize = 256;

/// A batch on the serving thread that took longer than this (wall time: a stalled write() shows in nothing else)
/// sends the batches after it to a blocking thread for [`OFF_THREAD_FOR`]. A durable send's three commits take tens
/// of microseconds each.
const SLOW_BATCH: Duration = Duration::from_millis(20);
const OFF_THREAD_FOR: Duration = Duration::from_secs(10);

/// A queued call: runs on the connection, and answers how it went, keeping its result to hand over once the
/// batch's fate is known. `long`: it may take long (see [`Writer::call_long`]).
struct Job {
    run: Box<dyn FnOnce(&Connection) -> Ran + Send>,
    long: bool,
}

/// A call that ran: whether its work stands, and how to answer its caller (`Some(error)`: its work was lost).
struct Ran {
    ok: bool,
    answer: Box<dyn FnOnce(Option<&str>) + Send>,
}

/// The connection and the queue, held by whoever runs batches: the task, a blocking thread it handed them to, or
/// the writer closing. `None` once closed.
struct Owner {
    conn: Connection,
    jobs: mpsc::Receiver<Job>,
}

struct Shared {
    owner: Mutex<Option<Owner>>,
    /// Told of every queued call (a permit is kept when the task is busy, so none is missed) and when a blocking
    /// thread hands the connection back.
    wake: Notify,
    /// The task is gone (its runtime shut down while the store lives on): callers run their batches themselves.
    orphaned: AtomicBool,
    /// [`SLOW_BATCH`], but for tests of something else on a loaded machine.
    slow_batch: Duration,
}

/// Where a batch runs, which decides what it may do.
#[derive(Clone, Copy, PartialEq)]
enum Place {
    /// The serving thread: never waits for a lock, leaves long calls to [`Place::Waiting`].
    Serving,
    /// A blocking thread (or the writer closing): may wait for the write lock up to the busy timeout.
    Waiting,
}

/// How a batch ended.
enum Next {
    /// The queue was empty.
    Drained,
    /// The batch was full: this call, taken from the queue, starts the next one.
    Full(Job),
    /// This call cannot run on the serving thread (long, or the write lock is busy): it, and what follows, moves.
    Elsewhere(Job),
}

pub struct Writer {
    queue: Option<mpsc::Sender<Job>>,
    shared: Arc<Shared>,
    /// The thread running the task when the store was opened outside a runtime.
    thread: Option<JoinHandle<()>>,
}

impl Writer {
    /// Takes ownership of `conn`. Batches run on the current tokio runtime, or on a thread of their own when there
    /// is none.
    pub fn start(conn: Connection) -> Result<Writer> {
        Writer::start_with(conn, SLOW_BATCH)
    }

    fn start_with(conn: Connection, slow_batch: Duration) -> Result<Writer> {
        // Only a batch handed to a blocking thread waits for the lock (see `Place`).
        conn.busy_timeout(Duration::ZERO)?;
        let (queue, jobs) = mpsc::channel();
        let shared = Arc::new(Shared {
            owner: Mutex::new(Some(Owner { conn, jobs })),
            wake: Notify::new(),
            orphaned: AtomicBool::new(false),
            slow_batch,
        });
        let thread = match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(serve(shared.clone()));
                None
            }
            Err(_) => {
                let runtime = tokio::runtime::Builder::new_current_thread().build()?;
                let shared = shared.clone();
                let thread = std::thread::Builder::new()
                    .name("qiao-store".into())
                    .spawn(move || runtime.block_on(serve(shared)))?;
                Some(thread)
            }
        };
        Ok(Writer { queue: Some(queue), shared, thread })
    }

    /// Runs `f` on the connection in the next batch; its result once the batch committed.
    pub async fn call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R> {
        self.queue_call(f, || {}, false).await
    }

    /// [`Writer::call`] for a call that may take long (a scan of a table, a bulk write): it runs on a blocking
    /// thread, so the serving thread goes on meanwhile.
    pub async fn call_long<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
    ) -> Result<R> {
        self.queue_call(f, || {}, true).await
    }

    /// [`Writer::call`], and `after` where the batch ran, once its fate is known (committed or not), before the
    /// caller hears of it: in commit order, and even when the caller stopped waiting.
    pub async fn call_then<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
        after: impl FnOnce() + Send + 'static,
    ) -> Result<R> {
        self.queue_call(f, after, false).await
    }

    async fn queue_call<R: Send + 'static>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<R> + Send + 'static,
        after: impl FnOnce() + Send + 'static,
        long: bool,
    ) -> Result<R> {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<R>>();
        let run = Box::new(move |conn: &Connection| {
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
            .and_then(|queue| queue.send(Job { run, long }).ok())
            .ok_or_else(|| anyhow!("the store is closed"))?;
        if self.shared.orphaned.load(Ordering::Acquire) {
            // Blocks this caller for one batch; only after the runtime that opened the store has shut down.
            self.shared.run_waiting(None);
        } else {
            self.shared.wake.notify_one();
        }
        rx.await.map_err(|_| anyhow!("the store's writer stopped"))?
    }
}

impl Drop for Writer {
    /// Closes the queue, runs what was queued and closes the connection before returning, so the file is released
    /// when the store is dropped (a test reopening it, `qiao secrets rotate` after a stop).
    fn drop(&mut self) {
        drop(self.queue.take());
        if let Some(mut owner) = self.shared.owner().take() {
            drain(&mut owner, None);
        }
        self.shared.wake.notify_one();
        if let Some(thread) = self.thread.take()
            && thread.thread().id() != std::thread::current().id()
        {
            let _ = thread.join();
        }
    }
}

impl Shared {
    fn owner(&self) -> MutexGuard<'_, Option<Owner>> {
        self.owner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `first` and what is queued where waiting is allowed, then wakes the task for what came meanwhile.
    fn run_waiting(&self, first: Option<Job>) {
        if let Some(owner) = self.owner().as_mut() {
            let _ = owner.conn.busy_timeout(BUSY_TIMEOUT);
            drain(owner, first);
            let _ = owner.conn.busy_timeout(Duration::ZERO);
        }
        self.wake.notify_one();
    }
}

/// Runs `first` and every queued call in [`Place::Waiting`] batches until the queue is empty.
fn drain(owner: &mut Owner, first: Option<Job>) {
    let mut next = first.or_else(|| owner.jobs.try_recv().ok());
    while let Some(job) = next {
        next = match run_batch(&owner.conn, job, &owner.jobs, Place::Waiting) {
            Next::Drained => owner.jobs.try_recv().ok(),
            Next::Full(job) | Next::Elsewhere(job) => Some(job),
        };
    }
}

/// The task that runs batches on the serving thread, until the writer closes.
fn serve(shared: Arc<Shared>) -> impl Future<Output = ()> {
    // Made before the first poll: a runtime dropped before it ever ran the task still orphans the store.
    let orphaned = MarkOrphaned(shared.clone());
    async move {
        let _orphaned = orphaned;
        serve_until_closed(shared).await
    }
}

async fn serve_until_closed(shared: Arc<Shared>) {
    let mut off_thread_until: Option<Instant> = None;
    loop {
        shared.wake.notified().await;
        tokio::task::yield_now().await;
        match run_serving(&shared, &mut off_thread_until) {
            Step::Idle => {}
            Step::Closed => return,
            Step::Elsewhere(job) => {
                let shared = shared.clone();
                // Not awaited: the serving thread goes on; the blocking thread wakes the task when it is done.
                tokio::task::spawn_blocking(move || shared.run_waiting(Some(job)));
            }
        }
    }
}

enum Step {
    Idle,
    Closed,
    Elsewhere(Job),
}

/// Runs the queued calls on this thread, batch after batch, until the queue is empty or a call must move.
fn run_serving(shared: &Shared, off_thread_until: &mut Option<Instant>) -> Step {
    let mut owner = match shared.owner.try_lock() {
        Ok(owner) => owner,
        Err(TryLockError::Poisoned(e)) => e.into_inner(),
        // A blocking thread has the connection; it wakes the task when it hands it back.
        Err(TryLockError::WouldBlock) => return Step::Idle,
    };
    let Some(Owner { conn, jobs }) = owner.as_mut() else { return Step::Closed };
    let Ok(mut next) = jobs.try_recv() else { return Step::Idle };
    loop {
        if off_thread_until.is_some_and(|until| Instant::now() < until) {
            return Step::Elsewhere(next);
        }
        let started = Instant::now();
        let ended = run_batch(conn, next, jobs, Place::Serving);
        let took = started.elapsed();
        if took > shared.slow_batch {
            tracing::info!(
                took_ms = took.as_millis() as u64,
                "store: a commit held the serving thread; the next {}s of commits run on a blocking thread",
                OFF_THREAD_FOR.as_secs()
            );
            *off_thread_until = Some(Instant::now() + OFF_THREAD_FOR);
        }
        next = match ended {
            Next::Drained => return Step::Idle,
            Next::Full(job) => job,
            Next::Elsewhere(job) => return Step::Elsewhere(job),
        };
    }
}

/// Set when the task ends, so callers run batches themselves if it ended with its runtime while the store lives.
struct MarkOrphaned(Arc<Shared>);

impl Drop for MarkOrphaned {
    fn drop(&mut self) {
        self.0.orphaned.store(true, Ordering::Release);
        // A call queued before the mark was seen is run now, or it would wait forever.
        self.0.run_waiting(None);
    }
}

/// One transaction for `first` and whatever is queued by the time each call is done (up to [`MAX_BATCH`]), so
/// calls that arrive while the batch runs share its commit instead of waiting for one of their own; each call in
/// its own savepoint.
fn run_batch(conn: &Connection, first: Job, jobs: &mpsc::Receiver<Job>, place: Place) -> Next {
    let mut done: Vec<Ran> = Vec::with_capacity(16);
    let mut open = false;
    let mut job = first;
    let mut taken = 1;
    loop {
        if place == Place::Serving && job.long {
            commit_and_answer(conn, open, done);
            return Next::Elsewhere(job);
        }
        if !open {
            match exec(conn, "BEGIN IMMEDIATE") {
                Ok(()) => open = true,
                Err(e) if place == Place::Serving && is_busy(&e) => {
                    // Only the first call of a batch begins it (or the first after SQLite ended it, when the
                    // calls before were answered already): nothing else of this batch ran.
                    commit_and_answer(conn, false, done);
                    return Next::Elsewhere(job);
                }
                // Cannot write now (the file is locked past the busy timeout): the call still runs, on its own,
                // and reads succeed; its writes fail as they would have.
                Err(e) => tracing::warn!("store: cannot begin a transaction: {e}"),
            }
        }
        let savepoint = open && exec(conn, "SAVEPOINT call").is_ok();
        let ran = (job.run)(conn);
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
                return Next::Full(queued);
            }
            Err(_) => break,
        }
    }
    commit_and_answer(conn, open, done);
    Next::Drained
}

fn is_busy(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(ErrorCode::DatabaseBusy)
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
        writer_slow_at(SLOW_BATCH)
    }

    fn writer_slow_at(slow_batch: Duration) -> (tempfile::TempDir, Writer) {
        let dir = tempfile::tempdir().unwrap();
        let conn = table_at(&dir.path().join("w.db"));
        (dir, Writer::start_with(conn, slow_batch).unwrap())
    }

    /// A connection to the file at `path`, in WAL mode, with the tests' table.
    fn table_at(path: &std::path::Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE IF NOT EXISTS t (v INTEGER UNIQUE)").unwrap();
        conn
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

    fn thread_of_call() -> impl FnOnce(&Connection) -> rusqlite::Result<std::thread::ThreadId> + Send + 'static {
        |_| Ok(std::thread::current().id())
    }

    #[tokio::test]
    async fn calls_commit_on_the_serving_thread_and_long_ones_on_another() {
        // Not moved by a batch slowed by other tests running beside this one.
        let (_dir, w) = writer_slow_at(Duration::from_secs(3600));
        let here = std::thread::current().id();
        assert_eq!(w.call(thread_of_call()).await.unwrap(), here);
        assert_ne!(w.call_long(thread_of_call()).await.unwrap(), here);
        // Calls queued while the blocking thread still has the connection run there; then it is handed back.
        for _ in 0..100 {
            if w.call(thread_of_call()).await.unwrap() == here {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("the connection was not handed back to the serving thread");
    }

    #[tokio::test]
    async fn a_slow_batch_sends_the_next_commits_off_the_serving_thread() {
        let (_dir, w) = writer();
        let here = std::thread::current().id();
        w.call(|c| {
            std::thread::sleep(SLOW_BATCH * 2);
            c.execute("INSERT INTO t (v) VALUES (1)", [])
        })
        .await
        .unwrap();
        assert_ne!(w.call(thread_of_call()).await.unwrap(), here);
        assert_eq!(count(&w).await, 1);
    }

    #[tokio::test]
    async fn a_write_waiting_for_another_process_lock_leaves_the_serving_thread_free() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let w = std::sync::Arc::new(Writer::start(table_at(&path)).unwrap());
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN IMMEDIATE; INSERT INTO t (v) VALUES (1)").unwrap();
        let write = tokio::spawn({
            let w = w.clone();
            async move { w.call(|c| c.execute("INSERT INTO t (v) VALUES (2)", [])).await }
        });
        // This test runs on the serving thread: had the write waited for the lock here, nothing below would run
        // until it gave up (and it would have failed, the lock never released).
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert!(!write.is_finished(), "the write did not wait for the lock");
        other.execute_batch("COMMIT").unwrap();
        write.await.unwrap().unwrap();
        assert_eq!(count(&w).await, 2);
    }

    #[test]
    fn a_store_outlives_the_runtime_that_opened_it_and_opens_without_one() {
        let dir = tempfile::tempdir().unwrap();
        let open = || Writer::start(table_at(&dir.path().join("w.db"))).unwrap();
        let runtime = || tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let first = runtime();
        let w = first.block_on(async { open() });
        drop(first);
        runtime().block_on(w.call(|c| c.execute("INSERT INTO t (v) VALUES (1)", []))).unwrap();
        drop(w);
        let w = open();
        runtime().block_on(w.call(|c| c.execute("INSERT INTO t (v) VALUES (2)", []))).unwrap();
        assert_eq!(runtime().block_on(count(&w)), 2);
    }

    #[tokio::test]
    async fn what_was_answered_is_committed_when_the_writer_is_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let w = Writer::start(table_at(&path)).unwrap();
        w.call(|c| c.execute("INSERT INTO t (v) VALUES (7)", [])).await.unwrap();
        drop(w);
        let other = Connection::open(&path).unwrap();
        let n: i64 = other.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0)).unwrap();
        assert_eq!(n, 1);
    }
}
