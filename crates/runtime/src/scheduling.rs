//! Where and when a connector call's guest runs: the connection's lanes (how many of its calls may be running at
//! the same instant), and which threads run it.
//!
//! A call starts on the thread that polls it: the thread serving the request, or the outbox's attempt. Nearly every
//! call is a few hundred microseconds of I/O and a few dozen of CPU, and running it there costs no hand-off between
//! threads (on 2 cores, one serving thread spends ~22% less CPU per durable send than two work-stealing ones: the
//! wake-ups between them cost more than the work they share). A call that holds the CPU for long — one poll over
//! [`LONG_POLL`], which a guest that computes reaches before its next epoch yield, as does a slow host call — is
//! moved between two polls to the call pool, threads of its own (half the cores, at least one). A connection with
//! [`STRIKES`] such polls within [`STRIKES_WITHIN`] is one whose connector computes (one or two may be a cold
//! start: a connector's first instances fault in its code and memory), and its calls start in the pool for the
//! next [`HEAVY_FOR`]. So a connector that computes holds up the threads that serve requests for [`STRIKES`] polls
//! (each bounded by the epoch tick) per [`HEAVY_FOR`], whatever it does after.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use anyhow::Result;
use tokio::sync::{AcquireError, OwnedSemaphorePermit, Semaphore};

/// A poll of a call's guest that spends more CPU than this moves the call to the pool. A call of a Rust connector
/// polls for tens of microseconds; the JavaScript and Python ones for about a millisecond, all in one poll. CPU
/// time, not wall time: on a busy machine a short poll can be preempted for milliseconds.
pub const LONG_POLL: Duration = Duration::from_millis(1);

/// How long a connection's calls start in the pool once it is found to compute.
pub const HEAVY_FOR: Duration = Duration::from_secs(10);

/// This many long polls of a connection's calls within [`STRIKES_WITHIN`] of the first find it computing.
pub const STRIKES: u32 = 3;
pub const STRIKES_WITHIN: Duration = Duration::from_secs(1);

/// The name of the pool's threads (in `top -H`, a profile, a thread dump).
pub const POOL_THREAD: &str = "qiao-calls";

/// Lanes per connection, and threads in the call pool: half the cores (at least one), so the calls of one
/// connection, however many, leave the other half of the machine to the API and to the other connections.
pub fn half_the_cores() -> usize {
    std::thread::available_parallelism().map_or(1, |n| (n.get() / 2).max(1))
}

/// A call's future, polled only while it holds one of its connection's lanes (released at each `Pending`, so a
/// call waiting on I/O, or yielding at an epoch tick, lets the connection's next call run). The semaphore is fair:
/// the connection's calls take turns.
pub struct Laned<F: Future> {
    inner: Pin<Box<F>>,
    lanes: Arc<Semaphore>,
    waiting: Option<Acquiring>,
}

/// Waiting for a lane.
type Acquiring = Pin<Box<dyn Future<Output = Result<OwnedSemaphorePermit, AcquireError>> + Send>>;

impl<F: Future> Laned<F> {
    fn new(lanes: Arc<Semaphore>, inner: F) -> Laned<F> {
        Laned { inner: Box::pin(inner), lanes, waiting: None }
    }
}

impl<F: Future> Future for Laned<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let permit = match this.lanes.clone().try_acquire_owned() {
            Ok(permit) if this.waiting.is_none() => permit,
            other => {
                drop(other);
                let waiting = this.waiting.get_or_insert_with(|| Box::pin(this.lanes.clone().acquire_owned()));
                match waiting.as_mut().poll(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(permit) => {
                        this.waiting = None;
                        match permit {
                            Ok(permit) => permit,
                            // Never closed; run without a lane rather than hang.
                            Err(_) => return this.inner.as_mut().poll(cx),
                        }
                    }
                }
            }
        };
        let result = this.inner.as_mut().poll(cx);
        drop(permit);
        result
    }
}

/// One connection's record here: its lanes, and its long polls.
pub struct Seat {
    name: String,
    lanes: Arc<Semaphore>,
    strikes: Mutex<Strikes>,
}

impl Seat {
    /// `call`, polled only while it holds one of the connection's lanes.
    pub fn laned<F: Future>(&self, call: F) -> Laned<F> {
        Laned::new(self.lanes.clone(), call)
    }

    fn is_heavy(&self) -> bool {
        let strikes = self.strikes.lock().unwrap_or_else(|e| e.into_inner());
        strikes.heavy_until.is_some_and(|until| until > Instant::now())
    }

    /// Counts a long poll; the connection turns heavy at its [`STRIKES`]th within [`STRIKES_WITHIN`].
    fn long_poll(&self, poll: Duration) {
        let now = Instant::now();
        let mut strikes = self.strikes.lock().unwrap_or_else(|e| e.into_inner());
        let already = strikes.heavy_until.is_some_and(|until| until > now);
        *strikes = match *strikes {
            Strikes { since, count, .. } if count > 0 && now.duration_since(since) <= STRIKES_WITHIN => {
                Strikes { since, count: count + 1, heavy_until: strikes.heavy_until }
            }
            _ => Strikes { since: now, count: 1, heavy_until: strikes.heavy_until },
        };
        let turns = strikes.count >= STRIKES;
        if already || turns {
            strikes.heavy_until = Some(now + HEAVY_FOR);
        }
        drop(strikes);
        if turns && !already {
            let connection = self.name.as_str();
            qiao_metrics::calls_moved(connection);
            tracing::info!(
                connection,
                poll_ms = poll.as_secs_f64() * 1e3,
                "calls of connection {connection} hold the CPU for long (this poll: {:.1} ms of CPU): they run on \
                 the call pool (threads {POOL_THREAD}) for the next {} s, off the threads that serve requests",
                poll.as_secs_f64() * 1e3,
                HEAVY_FOR.as_secs()
            );
        }
    }
}

#[derive(Clone, Copy)]
struct Strikes {
    /// The first long poll of the current window, and how many since (it included; 0: none yet).
    since: Instant,
    count: u32,
    /// Until when the connection's calls start in the pool.
    heavy_until: Option<Instant>,
}

/// The call pool, and each connection's seat (one lookup per call finds both its lanes and its long polls).
pub struct CallPool {
    /// Some until dropped: a runtime cannot be dropped where blocking is not allowed (inside another runtime).
    pool: Option<tokio::runtime::Runtime>,
    seats: Mutex<HashMap<String, Arc<Seat>>>,
}

impl CallPool {
    pub fn new() -> Result<CallPool> {
        CallPool::with_threads(half_the_cores())
    }

    pub fn with_threads(threads: usize) -> Result<CallPool> {
        let pool = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(threads.max(1))
            .thread_name(POOL_THREAD)
            .enable_all()
            .build()?;
        Ok(CallPool { pool: Some(pool), seats: Mutex::new(HashMap::new()) })
    }

    /// The connection's seat, made at first use with [`half_the_cores`] lanes.
    pub fn seat(&self, connection: &str) -> Arc<Seat> {
        let mut seats = self.seats.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(seat) = seats.get(connection) {
            return seat.clone();
        }
        let seat = Arc::new(Seat {
            name: connection.to_string(),
            lanes: Arc::new(Semaphore::new(half_the_cores())),
            strikes: Mutex::new(Strikes { since: Instant::now(), count: 0, heavy_until: None }),
        });
        seats.insert(connection.to_string(), seat.clone());
        seat
    }

    /// Runs `call` for the connection of `seat`: where it is polled, unless the connection's calls have been
    /// holding the CPU; moved to the pool at its first long poll. `None` when the pool stopped before the call
    /// finished (the server is stopping). A panic in the call is the caller's, wherever it ran.
    pub async fn run<F>(&self, seat: &Seat, call: F) -> Option<F::Output>
    where
        F: Future + Send + 'static,
        F::Output: Send + 'static,
    {
        let pool = self.pool.as_ref()?.handle();
        let place = if seat.is_heavy() {
            Place::Pool(Remote::spawn(pool, call))
        } else {
            Place::Here(Box::pin(call))
        };
        Placed { place, pool, seat }.await
    }
}

impl Drop for CallPool {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            pool.shutdown_background();
        }
    }
}

enum Place<F: Future> {
    Here(Pin<Box<F>>),
    Pool(Remote<F::Output>),
    Moving,
}

/// A call polled here until a poll runs long, then in the pool.
struct Placed<'a, F: Future> {
    place: Place<F>,
    pool: &'a tokio::runtime::Handle,
    seat: &'a Seat,
}

impl<F> Future for Placed<'_, F>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    type Output = Option<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<F::Output>> {
        let this = &mut *self;
        if let Place::Here(call) = &mut this.place {
            let (wall_start, cpu_start) = (Instant::now(), thread_cpu());
            let polled = call.as_mut().poll(cx);
            // A poll's CPU time is at most its wall time, read without a system call: the second CPU read is
            // needed only for the few polls that took long on the clock (one of them possibly preempted).
            let wall = wall_start.elapsed();
            let took = if wall < LONG_POLL { wall } else { thread_cpu().saturating_sub(cpu_start) };
            if took >= LONG_POLL {
                this.seat.long_poll(took);
            }
            match polled {
                Poll::Ready(output) => return Poll::Ready(Some(output)),
                Poll::Pending if took < LONG_POLL => return Poll::Pending,
                Poll::Pending => {
                    let Place::Here(call) = std::mem::replace(&mut this.place, Place::Moving) else { unreachable!() };
                    this.place = Place::Pool(Remote::spawn(this.pool, call));
                }
            }
        }
        match &mut this.place {
            Place::Pool(remote) => Pin::new(remote).poll(cx),
            _ => unreachable!("a call is here or in the pool"),
        }
    }
}

/// CPU time of the calling thread (~170 ns a read, a system call: per poll, not per guest instruction).
fn thread_cpu() -> Duration {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    Duration::new(t.tv_sec.max(0) as u64, t.tv_nsec.clamp(0, 999_999_999) as u32)
}

/// A call running in the pool; dropping it (the caller stopped waiting, the call's timeout) stops the call.
struct Remote<T>(tokio::task::JoinHandle<T>);

impl<T: Send + 'static> Remote<T> {
    fn spawn<F: Future<Output = T> + Send + 'static>(pool: &tokio::runtime::Handle, call: F) -> Remote<T> {
        Remote(pool.spawn(call))
    }
}

impl<T> Future for Remote<T> {
    type Output = Option<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        match Pin::new(&mut self.0).poll(cx) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Ok(output)) => Poll::Ready(Some(output)),
            Poll::Ready(Err(e)) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Poll::Ready(Err(_)) => Poll::Ready(None),
        }
    }
}

impl<T> Drop for Remote<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Holds the CPU for `cpu` (thread CPU time, spinning).
    fn spin(cpu: Duration) {
        let until = thread_cpu() + cpu;
        while thread_cpu() < until {
            std::hint::spin_loop();
        }
    }

    /// Polls `polls` times, spinning for `each` per poll; the names of the threads that polled it.
    async fn busy(polls: usize, each: Duration) -> Vec<String> {
        let mut seen = Vec::new();
        for _ in 0..polls {
            seen.push(std::thread::current().name().unwrap_or("?").to_string());
            spin(each);
            tokio::task::yield_now().await;
        }
        seen
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_poll_that_waits_without_computing_is_not_long() {
        let calls = CallPool::with_threads(1).unwrap();
        let here = std::thread::current().name().unwrap_or("?").to_string();
        let blocked = calls
            .run(&calls.seat("sleepy"), async {
                let mut seen = Vec::new();
                for _ in 0..3 {
                    seen.push(std::thread::current().name().unwrap_or("?").to_string());
                    // As a poll preempted by the OS: wall time passes, the thread's CPU time does not.
                    std::thread::sleep(LONG_POLL * 3);
                    tokio::task::yield_now().await;
                }
                seen
            })
            .await
            .unwrap();
        assert!(blocked.iter().all(|t| *t == here), "only CPU spent counts: {blocked:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_call_that_holds_the_cpu_moves_to_the_pool_and_its_connection_starts_there_after() {
        let calls = CallPool::with_threads(1).unwrap();
        let here = std::thread::current().name().unwrap_or("?").to_string();

        let light = calls.run(&calls.seat("light"), busy(5, Duration::ZERO)).await.unwrap();
        assert!(light.iter().all(|t| *t == here), "a short call stays where it is polled: {light:?}");

        let first = calls.run(&calls.seat("heavy"), busy(4, LONG_POLL * 2)).await.unwrap();
        assert_eq!(first[0], here, "it starts where it is polled");
        assert!(first[1..].iter().all(|t| t == POOL_THREAD), "after one long poll it runs in the pool: {first:?}");
        let once = calls.run(&calls.seat("heavy"), busy(2, Duration::ZERO)).await.unwrap();
        assert!(once.iter().all(|t| *t == here), "a long poll or two may be a cold start: {once:?}");

        for _ in 1..STRIKES {
            let again = calls.run(&calls.seat("heavy"), busy(2, LONG_POLL * 2)).await.unwrap();
            assert_eq!(again[0], here, "{again:?}");
        }
        let next = calls.run(&calls.seat("heavy"), busy(2, Duration::ZERO)).await.unwrap();
        assert!(next.iter().all(|t| t == POOL_THREAD), "the connection's next call starts in the pool: {next:?}");
        let other = calls.run(&calls.seat("light"), busy(2, Duration::ZERO)).await.unwrap();
        assert!(other.iter().all(|t| *t == here), "other connections are not moved: {other:?}");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_call_in_the_pool_stops_when_its_caller_stops_waiting() {
        let calls = CallPool::with_threads(1).unwrap();
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let call = async move {
            spin(LONG_POLL * 2);
            loop {
                let _ = tx.send(());
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        };
        let stopped = tokio::time::timeout(Duration::from_millis(50), calls.run(&calls.seat("spinner"), call)).await;
        assert!(stopped.is_err(), "the call never ends by itself");
        // Aborted: its sender is dropped once the pool gets to it, so the channel ends.
        let ended = tokio::time::timeout(Duration::from_secs(10), async { while rx.recv().await.is_some() {} }).await;
        assert!(ended.is_ok(), "the call kept running in the pool after its caller stopped waiting");
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_panic_in_the_pool_is_the_callers() {
        let calls = CallPool::with_threads(1).unwrap();
        let call = async {
            spin(LONG_POLL * 2);
            tokio::task::yield_now().await;
            panic!("guest host bug");
        };
        let seat = calls.seat("p");
        let caught = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(calls.run(&seat, call))).await;
        let message = caught.expect_err("panicked").downcast::<&str>().map(|m| m.to_string()).unwrap_or_default();
        assert_eq!(message, "guest host bug");
    }
}
