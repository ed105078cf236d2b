//! Schedulers: where and when stream work runs.
//!
//! A [`Scheduler`] runs [`Task`]s now ([`schedule`](Scheduler::schedule)), at or after a deadline
//! ([`schedule_after`](Scheduler::schedule_after), returning a [`TaskHandle`] that can cancel), and
//! reads its clock ([`now`](Scheduler::now)). Stages that cross threads or use time take one
//! (`publish_on`, `subscribe_on`, and the timed operators). Every scheduler is a cheap, `Send +
//! Sync` handle: clone it freely.
//!
//! | scheduler | runs tasks on | order | delayed tasks |
//! |---|---|---|---|
//! | [`immediate()`] | the calling thread, at once | nested calls run nested | on the shared timer thread |
//! | [`single()`] | one dedicated thread | FIFO | queued on that thread when due |
//! | [`pool(n)`](pool), [`pool_default()`] | `n` threads, round robin | FIFO per [`Worker`] | queued on a pool thread when due |
//! | [`VirtualTime`] | the thread that advances the clock | deadline, then submission | on virtual time, no thread |
//!
//! # Time
//!
//! Clocks read [`Instant`]s: the time since the clock's epoch. Real-time schedulers share one
//! process-wide epoch; a [`VirtualTime`] starts at [`Instant::EPOCH`] and moves only when a test
//! advances it, which makes timed behaviour testable without sleeping. Real-time delayed tasks wait
//! on one shared timer thread (an earliest-deadline-first heap), which hands each task to its
//! scheduler when due; ties run in submission order.
//!
//! # Workers
//!
//! [`Scheduler::worker`] (Reactor's `createWorker`) returns a [`Worker`]: a scheduler that runs what
//! is submitted to it in order, one task at a time, never two at once, with each task
//! happening-before the next. On a [`Pool`] it pins to one thread; `single` and `VirtualTime` are
//! already serial; on `immediate` it is a trampoline. A stage that drains on a scheduler takes one
//! worker per subscription. Its own drain gate ([`DrainGate`](crate::demand::DrainGate)) already
//! keeps its drain passes from overlapping; the worker adds FIFO order and, on a pool, keeps one
//! subscription's passes on one thread.
//!
//! Schedule one task per batch of work, not per item: a [`Runnable`] rescheduled through
//! [`Task::from_runnable`] costs a reference-count increment and a queue push, no allocation.
//!
//! # Lifetime
//!
//! A scheduler lives while any handle to it exists: a clone, a [`Worker`], a queued task that
//! captured one, or a delayed task still pending (pending work keeps its scheduler alive, like a
//! handle; cancel it to let go). When the last one goes, the scheduler runs the tasks already queued,
//! then its threads exit and are joined by the thread that dropped the last handle, unless that is
//! one of the scheduler's own threads (a task dropped it): that thread exits once the task returns.
//! Idle threads sleep on a condition variable (after a short bounded spin); they never busy-wait.
//!
//! # Panics
//!
//! A panicking task does not kill its thread, nor the scheduler: the panic is caught, reported as
//! an [`ErrorKind::Panicked`](crate::ErrorKind::Panicked) error to the
//! [error hook](crate::set_error_hook) (stderr by default), and the next task runs.
//!
//! # Example
//!
//! ```
//! use std::sync::mpsc;
//! use std::time::Duration;
//! use backflow::sched::{self, Scheduler, VirtualTime};
//!
//! // A dedicated thread, FIFO.
//! let single = sched::single();
//! let (tx, rx) = mpsc::channel();
//! for i in 0..3 {
//!     let tx = tx.clone();
//!     single.schedule(move || tx.send(i).unwrap());
//! }
//! assert_eq!(rx.iter().take(3).collect::<Vec<_>>(), [0, 1, 2]);
//!
//! // A delayed task, cancelled before it is due.
//! let later = single.schedule_after(Duration::from_secs(3600), || unreachable!());
//! assert!(later.cancel());
//! drop(single); // runs what is queued, then stops and joins the thread
//!
//! // Virtual time: nothing runs until the test moves the clock.
//! let clock = VirtualTime::new();
//! let (tx, rx) = mpsc::channel();
//! clock.schedule_after(Duration::from_millis(10), move || tx.send("tick").unwrap());
//! clock.advance_by(Duration::from_millis(9));
//! assert!(rx.try_recv().is_err());
//! clock.advance_by(Duration::from_millis(1));
//! assert_eq!(rx.try_recv(), Ok("tick"));
//! ```

use std::fmt;
use std::time::Duration;

use crate::sync::StdArc;

mod clock;
mod executor;
mod fast_clock;
mod immediate;
mod task;
mod timer;
mod virtual_time;
// ecosystem: the scheduler over a tokio runtime.
#[cfg(feature = "tokio")]
mod tokio;

#[cfg(feature = "tokio")]
pub use self::tokio::Tokio;
pub use clock::Instant;
pub(crate) use executor::may_linger;
pub use executor::{Pool, Single};
/// The real clock in integer nanoseconds, for hot paths that never need a `Duration`.
pub(crate) use fast_clock::{fast_nanos, fast_now};
pub use immediate::Immediate;
pub use task::{Runnable, Task, TaskHandle};
pub use virtual_time::VirtualTime;

/// Runs tasks now or later, somewhere, and tells the time.
///
/// Object safe: `Arc<dyn Scheduler>` is a scheduler too. The generic helpers
/// ([`schedule`](Scheduler::schedule), [`schedule_after`](Scheduler::schedule_after),
/// [`schedule_at`](Scheduler::schedule_at)) box a closure into a [`Task`]; the `*_task` methods take
/// a ready [`Task`], which is how a stage reschedules a [`Runnable`] without allocating.
///
/// Implementations must be cheap to clone (an `Arc` inside) and must never run a task before
/// its deadline by their own clock.
#[doc(alias = "Executor")]
pub trait Scheduler: Send + Sync {
    /// Runs `task` as soon as possible (where and how: see each scheduler).
    fn schedule_task(&self, task: Task);

    /// Runs `task` once this scheduler's clock reaches `deadline`; a deadline already passed means
    /// as soon as possible. The handle can cancel it until it starts.
    fn schedule_task_at(&self, deadline: Instant, task: Task) -> TaskHandle;

    /// The scheduler's clock: real time for threads, virtual time for [`VirtualTime`].
    fn now(&self) -> Instant;

    /// A [`Worker`] on this scheduler: tasks submitted to it run in order, one at a time.
    #[doc(alias = "createWorker")]
    fn worker(&self) -> Worker;

    /// Runs `task` once `delay` has passed on this scheduler's clock.
    fn schedule_task_after(&self, delay: Duration, task: Task) -> TaskHandle {
        self.schedule_task_at(self.now() + delay, task)
    }

    /// Runs `f` as soon as possible.
    fn schedule<F>(&self, f: F)
    where
        F: FnOnce() + Send + 'static,
        Self: Sized,
    {
        self.schedule_task(Task::new(f))
    }

    /// Runs `f` once `delay` has passed on this scheduler's clock.
    fn schedule_after<F>(&self, delay: Duration, f: F) -> TaskHandle
    where
        F: FnOnce() + Send + 'static,
        Self: Sized,
    {
        self.schedule_task_after(delay, Task::new(f))
    }

    /// Runs `f` once this scheduler's clock reaches `deadline` (for drift-free periodic work:
    /// `start + k * period`).
    fn schedule_at<F>(&self, deadline: Instant, f: F) -> TaskHandle
    where
        F: FnOnce() + Send + 'static,
        Self: Sized,
    {
        self.schedule_task_at(deadline, Task::new(f))
    }
}

impl<S: Scheduler + ?Sized> Scheduler for StdArc<S> {
    fn schedule_task(&self, task: Task) {
        (**self).schedule_task(task)
    }

    fn schedule_task_at(&self, deadline: Instant, task: Task) -> TaskHandle {
        (**self).schedule_task_at(deadline, task)
    }

    fn now(&self) -> Instant {
        (**self).now()
    }

    fn worker(&self) -> Worker {
        (**self).worker()
    }

    fn schedule_task_after(&self, delay: Duration, task: Task) -> TaskHandle {
        (**self).schedule_task_after(delay, task)
    }
}

/// A serial view of a scheduler: tasks submitted through it run in submission order, one at a
/// time, each happening-before the next (Reactor's `Scheduler.Worker`).
///
/// Get one from [`Scheduler::worker`]. It is itself a [`Scheduler`] (whose `worker` is itself) and a
/// handle: it keeps its scheduler alive. Delayed tasks join its order when their deadline comes.
///
/// ```
/// use std::sync::mpsc;
/// use backflow::sched::{self, Scheduler};
///
/// let pool = sched::pool(2);
/// let worker = pool.worker(); // pinned to one of the two threads
/// let (tx, rx) = mpsc::channel();
/// for i in 0..100 {
///     let tx = tx.clone();
///     worker.schedule(move || tx.send(i).unwrap());
/// }
/// assert_eq!(rx.iter().take(100).collect::<Vec<_>>(), (0..100).collect::<Vec<_>>());
/// ```
#[derive(Clone)]
#[doc(alias = "createWorker")]
pub struct Worker {
    serial: StdArc<dyn Scheduler>,
}

impl Worker {
    /// Wraps a scheduler that already runs its tasks one at a time in submission order (the caller
    /// vouches for it), for implementors of [`Scheduler::worker`].
    pub fn new<S: Scheduler + 'static>(serial: S) -> Worker {
        Worker {
            serial: StdArc::new(serial),
        }
    }
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker").finish_non_exhaustive()
    }
}

impl Scheduler for Worker {
    fn schedule_task(&self, task: Task) {
        self.serial.schedule_task(task)
    }

    fn schedule_task_at(&self, deadline: Instant, task: Task) -> TaskHandle {
        self.serial.schedule_task_at(deadline, task)
    }

    fn now(&self) -> Instant {
        self.serial.now()
    }

    fn worker(&self) -> Worker {
        self.clone()
    }
}

/// A scheduler that runs tasks on the calling thread, at once. See [`Immediate`].
pub fn immediate() -> Immediate {
    Immediate::new()
}

/// A scheduler with one dedicated thread, FIFO. See [`Single`].
///
/// # Panics
///
/// If the thread cannot be spawned.
pub fn single() -> Single {
    Single::new()
}

/// A fixed pool of `threads` threads. See [`Pool`].
///
/// # Panics
///
/// If `threads` is 0, or a thread cannot be spawned.
pub fn pool(threads: usize) -> Pool {
    Pool::new(threads)
}

/// A pool with one thread per available core (`std::thread::available_parallelism`, 1 if unknown).
///
/// # Panics
///
/// If a thread cannot be spawned.
pub fn pool_default() -> Pool {
    Pool::new(std::thread::available_parallelism().map_or(1, |n| n.get()))
}
