//! [`VirtualTime`]: a scheduler whose clock moves only when a test says so.

use std::collections::BinaryHeap;
use std::fmt;
use std::time::Duration;

use super::clock::Instant;
use super::task::{run_caught, Due, Task, TaskHandle, TimedTask};
use super::{Scheduler, Worker};
use crate::sync::{thread, Condvar, Mutex, StdArc};

/// A deterministic scheduler for tests: a virtual clock and a queue of tasks, run only when the
/// test advances the clock, on the thread that advances it.
///
/// - [`now`](Scheduler::now) reads the virtual clock: [`Instant::EPOCH`] at creation; it moves only
///   in [`advance_by`](VirtualTime::advance_by) / [`advance_to`](VirtualTime::advance_to).
/// - `advance_by(d)` runs exactly the tasks due by `now + d`, in deadline order (ties in submission
///   order), setting the clock to each task's deadline while it runs, then to `now + d`. Tasks that
///   running tasks schedule are included when their deadline falls within the window.
/// - [`schedule`](Scheduler::schedule) (no delay) queues the task at the current instant: it runs on
///   the next [`run_pending`](VirtualTime::run_pending) or advance, not at once (RxJava's
///   `TestScheduler`; Reactor's `VirtualTimeScheduler` runs it at once instead). This lets a test
///   observe a thread hop as a separate step.
/// - Nothing runs on its own: no threads, no real time.
///
/// One thread advances at a time; a second thread that calls `advance_*` waits for the first.
/// Called from inside a running task, `advance_*` only extends the window of the advance in progress
/// and returns. Panicking tasks are reported like on every scheduler (see [Panics](super#panics)).
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use backflow::sched::{Scheduler, VirtualTime};
///
/// let clock = VirtualTime::new();
/// let log = Arc::new(Mutex::new(Vec::new()));
/// for ms in [20u64, 10] {
///     let log = log.clone();
///     clock.schedule_after(Duration::from_millis(ms), move || log.lock().unwrap().push(ms));
/// }
/// clock.advance_by(Duration::from_millis(15));
/// assert_eq!(*log.lock().unwrap(), [10]);
/// clock.advance_by(Duration::from_millis(5));
/// assert_eq!(*log.lock().unwrap(), [10, 20]);
/// assert_eq!(clock.now().since_epoch(), Duration::from_millis(20));
/// ```
#[derive(Clone)]
pub struct VirtualTime {
    inner: StdArc<Inner>,
}

struct Inner {
    state: Mutex<State>,
    /// Notified when an advance ends, for threads waiting to drive.
    idle: Condvar,
}

struct State {
    now: Instant,
    /// The end of the advance in progress: tasks due by then run in it.
    until: Instant,
    heap: BinaryHeap<Due>,
    seq: u64,
    /// The thread running an advance, if any.
    driver: Option<thread::ThreadId>,
}

impl VirtualTime {
    /// A virtual clock at [`Instant::EPOCH`] with no tasks.
    pub fn new() -> VirtualTime {
        VirtualTime {
            inner: StdArc::new(Inner {
                state: Mutex::new(State {
                    now: Instant::EPOCH,
                    until: Instant::EPOCH,
                    heap: BinaryHeap::new(),
                    seq: 0,
                    driver: None,
                }),
                idle: Condvar::new(),
            }),
        }
    }

    /// Moves the clock forward by `delay`, running every task due by then (see the type docs).
    pub fn advance_by(&self, delay: Duration) {
        self.advance(|now| now + delay);
    }

    /// Moves the clock to `instant`, running every task due by then. An instant in the past runs
    /// the tasks due now and leaves the clock where it is: virtual time never goes back.
    pub fn advance_to(&self, instant: Instant) {
        self.advance(|_| instant);
    }

    /// Runs the tasks due now (including those queued by [`schedule`](Scheduler::schedule))
    /// without moving the clock: `advance_by(Duration::ZERO)`.
    pub fn run_pending(&self) {
        self.advance_by(Duration::ZERO);
    }

    /// How many tasks are waiting to run (neither run nor cancelled).
    pub fn pending(&self) -> usize {
        let state = self.inner.state.lock();
        state
            .heap
            .iter()
            .filter(|due| !due.task.is_cancelled())
            .count()
    }

    /// The deadline of the earliest waiting task, if any.
    pub fn next_deadline(&self) -> Option<Instant> {
        let state = self.inner.state.lock();
        state
            .heap
            .iter()
            .filter(|due| !due.task.is_cancelled())
            .map(|due| due.deadline)
            .min()
    }

    /// Queues `task` at `deadline`, or now if that is earlier.
    fn queue(&self, deadline: Instant, task: Task) -> StdArc<TimedTask> {
        let timed = TimedTask::new(task, None);
        let mut state = self.inner.state.lock();
        let seq = state.seq;
        state.seq += 1;
        let deadline = deadline.max(state.now);
        state.heap.push(Due {
            deadline,
            seq,
            task: timed.clone(),
        });
        timed
    }

    fn advance(&self, until: impl FnOnce(Instant) -> Instant) {
        let me = thread::current().id();
        let mut state = self.inner.state.lock();
        loop {
            match state.driver {
                None => break,
                Some(driver) if driver == me => {
                    // Re-entrant call from a running task: widen the window of the outer advance.
                    let until = until(state.now);
                    state.until = state.until.max(until);
                    return;
                }
                Some(_) => state = self.inner.idle.wait(state),
            }
        }
        state.driver = Some(me);
        state.until = until(state.now).max(state.now);
        loop {
            let next = match state.heap.peek() {
                Some(top) if top.deadline <= state.until => state.heap.pop(),
                _ => None,
            };
            let Some(due) = next else { break };
            state.now = state.now.max(due.deadline);
            drop(state);
            run_caught(Task::from_runnable(due.task));
            state = self.inner.state.lock();
        }
        state.now = state.until;
        state.driver = None;
        drop(state);
        self.inner.idle.notify_all();
    }
}

impl Default for VirtualTime {
    fn default() -> Self {
        VirtualTime::new()
    }
}

impl fmt::Debug for VirtualTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = self.inner.state.lock();
        f.debug_struct("VirtualTime")
            .field("now", &state.now)
            .field("queued", &state.heap.len())
            .finish()
    }
}

impl Scheduler for VirtualTime {
    fn schedule_task(&self, task: Task) {
        self.queue(Instant::EPOCH, task);
    }

    fn schedule_task_at(&self, deadline: Instant, task: Task) -> TaskHandle {
        TaskHandle::new(self.queue(deadline, task))
    }

    fn now(&self) -> Instant {
        self.inner.state.lock().now
    }

    /// The clock itself: one thread runs its tasks, one at a time, in deadline then submission
    /// order.
    fn worker(&self) -> Worker {
        Worker::new(self.clone())
    }
}
