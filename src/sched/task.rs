//! What schedulers run: [`Task`], [`Runnable`], and the cancellable delayed task behind [`TaskHandle`].

use std::any::Any;
use std::cmp::Ordering as CmpOrdering;
use std::fmt;

use super::clock::Instant;
use super::executor::Core;
use super::immediate::Trampoline;
use crate::error::{report_undeliverable, Error};
use crate::sync::{Arc, AtomicUsize, Mutex, Ordering, StdArc};

/// Work that can be scheduled many times without allocating: the scheduler holds one reference
/// and hands it to [`run`](Runnable::run).
///
/// A stage with a drain loop implements this on its shared state and schedules
/// `Task::from_runnable(state.clone())` each time it needs a drain pass: a reference-count increment
/// instead of a boxed closure per schedule. Java's `Runnable`; Rust's `std::task::Wake` has the same
/// shape.
///
/// ```
/// use std::sync::atomic::{AtomicUsize, Ordering};
/// use std::sync::Arc;
/// use backflow::sched::{self, Runnable, Scheduler, Task};
///
/// struct Counter(AtomicUsize);
/// impl Runnable for Counter {
///     fn run(self: Arc<Self>) {
///         self.0.fetch_add(1, Ordering::Relaxed);
///     }
/// }
///
/// let counter = Arc::new(Counter(AtomicUsize::new(0)));
/// let now = sched::immediate();
/// now.schedule_task(Task::from_runnable(counter.clone()));
/// now.schedule_task(Task::from_runnable(counter.clone()));
/// assert_eq!(counter.0.load(Ordering::Relaxed), 2);
/// ```
pub trait Runnable: Send + Sync + 'static {
    /// Runs once per schedule; `self` is the reference the scheduler held.
    fn run(self: StdArc<Self>);
}

/// A unit of work for a [`Scheduler`](super::Scheduler): a boxed closure, or a shared [`Runnable`].
///
/// Boxing a closure that captures nothing does not allocate; [`Task::from_runnable`] never does.
pub struct Task(Kind);

enum Kind {
    Once(Box<dyn FnOnce() + Send + 'static>),
    Shared(StdArc<dyn Runnable>),
}

impl Task {
    /// A task that calls `f` once.
    pub fn new<F: FnOnce() + Send + 'static>(f: F) -> Task {
        Task(Kind::Once(Box::new(f)))
    }

    /// A task that calls [`Runnable::run`] on `runnable`.
    pub fn from_runnable<R: Runnable>(runnable: StdArc<R>) -> Task {
        Task(Kind::Shared(runnable))
    }

    /// Runs the task on the calling thread. Panics propagate: schedulers catch them (see
    /// [the module docs](super#panics)).
    pub fn run(self) {
        match self.0 {
            Kind::Once(f) => f(),
            Kind::Shared(r) => r.run(),
        }
    }
}

impl fmt::Debug for Task {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.0 {
            Kind::Once(_) => "Task(closure)",
            Kind::Shared(_) => "Task(runnable)",
        })
    }
}

/// Runs a task on a scheduler thread: a panic is reported as an [`ErrorKind::Panicked`] error and
/// the thread goes on with the next task.
///
/// [`ErrorKind::Panicked`]: crate::ErrorKind::Panicked
pub(crate) fn run_caught(task: Task) {
    if let Err(payload) = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.run())) {
        // Dropping the payload runs its destructor, which may itself panic; that must not unwind
        // out of a worker loop either.
        let error = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            Error::panicked("a scheduled task", payload)
        }));
        if let Ok(error) = error {
            report_undeliverable(&error);
        }
    }
}

/// A handle to a task scheduled for later, through which it can be cancelled.
///
/// Dropping the handle does not cancel the task (it detaches, like a thread's `JoinHandle`).
///
/// ```
/// use std::time::Duration;
/// use backflow::sched::{Scheduler, VirtualTime};
///
/// let clock = VirtualTime::new();
/// let handle = clock.schedule_after(Duration::from_secs(1), || unreachable!("cancelled"));
/// assert!(handle.is_pending());
/// assert!(handle.cancel());   // prevented the run
/// assert!(!handle.cancel());  // nothing left to prevent
/// clock.advance_by(Duration::from_secs(2));
/// ```
#[derive(Clone)]
pub struct TaskHandle {
    task: StdArc<TimedTask>,
}

impl TaskHandle {
    pub(crate) fn new(task: StdArc<TimedTask>) -> Self {
        TaskHandle { task }
    }

    /// Cancels the task if it has not started. Returns `true` if this call prevented it from
    /// running: the task (and whatever it captured) is dropped here, on the calling thread.
    /// Returns `false` if it has started, has finished, or was cancelled already.
    pub fn cancel(&self) -> bool {
        self.task.cancel()
    }

    /// Whether the task has neither started nor been cancelled.
    pub fn is_pending(&self) -> bool {
        self.task.state.load(Ordering::Acquire) == PENDING
    }
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.task.state.load(Ordering::Acquire) {
            PENDING => "pending",
            STARTED => "started",
            _ => "cancelled",
        };
        f.debug_struct("TaskHandle").field("state", &state).finish()
    }
}

const PENDING: usize = 0;
const STARTED: usize = 1;
const CANCELLED: usize = 2;

/// Where a delayed task goes when its deadline comes.
pub(crate) enum Target {
    /// Run on the thread that fires it (the shared timer thread, for `immediate`).
    Inline,
    /// Queue on one executor thread.
    Queue(Arc<Core>),
    /// Hand to an immediate worker's trampoline.
    Serial(StdArc<Trampoline>),
}

/// Keeps the scheduler a pending delayed task belongs to alive (its threads, its timer handle).
pub(crate) type KeepAlive = StdArc<dyn Any + Send + Sync>;

/// How a timer-held task reaches its scheduler; taken when it fires or is cancelled.
pub(crate) struct Route {
    pub(crate) target: Target,
    /// Held, never read: dropping it is the point.
    pub(crate) _keep_alive: KeepAlive,
}

struct Slot {
    task: Option<Task>,
    route: Option<Route>,
}

/// A task with a deadline: the shared state of a [`TaskHandle`], the timer's heap entry and the
/// queued task it becomes when due.
pub(crate) struct TimedTask {
    /// `PENDING` → `STARTED` (the runner) or `PENDING` → `CANCELLED` (`cancel`), by an AcqRel CAS
    /// that pairs with the other party's CAS: the winner alone takes `slot.task`.
    state: AtomicUsize,
    /// Cold path only; never locked while user code runs (tasks are dropped after unlocking).
    slot: Mutex<Slot>,
}

impl TimedTask {
    pub(crate) fn new(task: Task, route: Option<Route>) -> StdArc<Self> {
        StdArc::new(TimedTask {
            state: AtomicUsize::new(PENDING),
            slot: Mutex::new(Slot {
                task: Some(task),
                route,
            }),
        })
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.state.load(Ordering::Acquire) == CANCELLED
    }

    /// The deadline has come: send the task where it runs. Does nothing if it was cancelled.
    pub(crate) fn fire(self: &StdArc<Self>) {
        let route = self.slot.lock().route.take();
        let Some(route) = route else { return };
        let Route {
            target,
            _keep_alive: keep_alive,
        } = route;
        let task = Task(Kind::Shared(self.clone()));
        // Dropping the keep-alive may drop the scheduler's last reference. A task run here runs
        // whatever becomes of its scheduler, so let go first: whoever sees the task's effects sees
        // the scheduler released. A queued task must be queued first, so that the graceful shutdown
        // that may follow still runs it.
        match target {
            Target::Inline => {
                drop(keep_alive);
                run_caught(task);
            }
            Target::Queue(core) => {
                core.push(task);
                drop(keep_alive);
            }
            Target::Serial(trampoline) => {
                trampoline.submit(task);
                drop(keep_alive);
            }
        }
    }

    fn cancel(&self) -> bool {
        if self
            .state
            .compare_exchange(PENDING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        let (task, route) = {
            let mut slot = self.slot.lock();
            (slot.task.take(), slot.route.take())
        };
        // Outside the lock: the task's captures and the scheduler's last handle may be dropped here.
        drop(task);
        drop(route);
        true
    }
}

impl Runnable for TimedTask {
    fn run(self: StdArc<Self>) {
        if self
            .state
            .compare_exchange(PENDING, STARTED, Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            let task = self.slot.lock().task.take();
            if let Some(task) = task {
                task.run();
            }
        }
    }
}

/// A heap entry: a delayed task ordered by deadline, ties broken by submission order.
pub(crate) struct Due {
    pub(crate) deadline: Instant,
    /// Submission number, unique per heap: ties run first-submitted first.
    pub(crate) seq: u64,
    pub(crate) task: StdArc<TimedTask>,
}

impl PartialEq for Due {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == CmpOrdering::Equal
    }
}

impl Eq for Due {}

impl PartialOrd for Due {
    fn partial_cmp(&self, other: &Self) -> Option<CmpOrdering> {
        Some(self.cmp(other))
    }
}

impl Ord for Due {
    /// Reversed, so that `BinaryHeap` (a max-heap) pops the earliest deadline first.
    fn cmp(&self, other: &Self) -> CmpOrdering {
        other
            .deadline
            .cmp(&self.deadline)
            .then_with(|| other.seq.cmp(&self.seq))
    }
}
