//! [`Tokio`]: a scheduler over a tokio runtime (feature `tokio`).

use std::collections::VecDeque;
use std::fmt;
use std::sync::OnceLock;
use std::time::Duration;

use ::tokio::runtime::Handle;
use ::tokio::task::AbortHandle;

use super::clock::Instant;
use super::immediate::Immediate;
use super::task::{run_caught, Task, TaskHandle, TimedTask};
use super::{Scheduler, Worker};
use crate::sync::{AtomicBool, Mutex, Ordering, StdArc};

/// How many queued tasks one pass of a [`Tokio`] worker runs before it hands the thread back to
/// tokio (it spawns a fresh pass for the rest): tokio's own cooperative budget is 128 polls.
const PASS_BUDGET: usize = 64;

/// A scheduler that runs tasks on a tokio runtime's workers and waits on its timer.
///
/// Built from a runtime [`Handle`]: [`Tokio::new`], or [`Tokio::current`] inside a runtime. Every
/// stage that takes a scheduler takes it: `publish_on`, `subscribe_on`, `interval`, and the timed
/// operators (`sample`, `throttle`, `timeout`, `debounce`, ...), so a stream can live on the
/// runtime an application already has.
///
/// # Drain passes
///
/// - [`schedule`](Scheduler::schedule) spawns one tokio task per backflow task. A stage never
///   schedules per item: `publish_on` and friends schedule one *drain pass* per batch (a
///   [`Runnable`](super::Runnable)), so the spawn is paid once per batch, not per item.
/// - A [`worker`](Scheduler::worker) (one per subscription of a draining stage) keeps its tasks in
///   order, one at a time: the first task submitted to an idle worker spawns a tokio task (the
///   *pass*), which runs it and then whatever was queued meanwhile, up to 64 tasks, and spawns a
///   fresh pass for the rest, so one busy stream yields to the runtime's other tasks instead of
///   holding a worker thread.
/// - On a `current_thread` runtime, passes run only while its thread is driving it (inside
///   `block_on`): consume such a stream from async code on that runtime, not by blocking a thread
///   on it from outside.
/// - A pass runs user code (`map`, `on_next`, ...) on a tokio worker thread, which must not block.
///   For blocking user code build the scheduler with [`blocking`](Tokio::blocking): every pass then
///   goes through [`spawn_blocking`](Handle::spawn_blocking), onto tokio's blocking pool.
///
/// # Time
///
/// [`now`](Scheduler::now) reads tokio's clock (the runtime's, so a runtime whose time is paused with
/// `tokio::time::pause` gives backflow paused time too, and `tokio::time::advance` or auto-advance
/// drives `interval`, `sample`, `timeout` ... deterministically). Instants count from the moment
/// this scheduler was built (its clones share that epoch); do not compare them with another
/// scheduler's. A delayed task waits in a tokio task on the runtime's timer (the runtime needs its
/// time driver: `enable_time` or `enable_all`); cancelling its [`TaskHandle`] aborts that task.
///
/// # When the runtime shuts down
///
/// A backflow stream does not end with the runtime by itself: nothing hangs and nothing panics.
/// Tokio drops the tasks it has not run when it shuts down, and refuses (drops at once) the ones
/// spawned after. A pass dropped unrun that way is run instead on the thread that dropped it (the
/// thread shutting the runtime down, or the one that scheduled it afterwards), and the scheduler
/// reports [`is_shut_down`](Tokio::is_shut_down). So a stream whose consumer lives outside the
/// runtime runs on to its end, on the threads that drive it; a consumer that lived on the runtime
/// (a `FluxStream` polled by a tokio task) was dropped with its task, which cancels the stream
/// upstream. Delayed tasks pending at shutdown move to backflow's own timer thread and run when
/// due by the real clock. Keep a pass's user code short and non-blocking: at shutdown it may run
/// inside `Runtime::drop`.
///
/// ```
/// use backflow::prelude::*;
/// use backflow::sched::Tokio;
/// use futures::StreamExt;
///
/// let runtime = tokio::runtime::Builder::new_multi_thread()
///     .worker_threads(2)
///     .enable_time()
///     .build()
///     .unwrap();
/// let sum = runtime.block_on(async {
///     let on_tokio = Tokio::current();
///     let mut stream = backflow::range(1..101u64)
///         .subscribe_on(on_tokio.clone())
///         .map(|x| x * 2)
///         .publish_on(on_tokio)
///         .into_stream();
///     let mut sum = 0;
///     while let Some(x) = stream.next().await {
///         sum += x.unwrap();
///     }
///     sum
/// });
/// assert_eq!(sum, 10_100);
/// ```
#[derive(Clone)]
#[doc(alias = "tokio")]
pub struct Tokio {
    inner: StdArc<Inner>,
}

struct Inner {
    handle: Handle,
    /// Tokio's clock when this scheduler was built: backflow's [`Instant::EPOCH`] on it.
    epoch: ::tokio::time::Instant,
    /// Passes go through `spawn_blocking`.
    blocking: bool,
    /// Set the first time tokio drops a pass unrun: the runtime is shut down.
    shut_down: AtomicBool,
    /// Where delayed tasks go once the runtime's timer is gone.
    fallback: OnceLock<Immediate>,
}

impl Tokio {
    /// A scheduler on the runtime behind `handle`.
    ///
    /// ```
    /// let runtime = tokio::runtime::Runtime::new().unwrap();
    /// let on_tokio = backflow::sched::Tokio::new(runtime.handle().clone());
    /// let doubled = backflow::range(0..4u32)
    ///     .publish_on(on_tokio)
    ///     .map(|x| x * 2)
    ///     .collect() // blocks this (non-tokio) thread; the items cross from a tokio worker
    ///     .unwrap();
    /// assert_eq!(doubled, [0, 2, 4, 6]);
    /// ```
    pub fn new(handle: Handle) -> Tokio {
        let epoch = {
            let _in_runtime = handle.enter();
            ::tokio::time::Instant::now()
        };
        Tokio {
            inner: StdArc::new(Inner {
                handle,
                epoch,
                blocking: false,
                shut_down: AtomicBool::new(false),
                fallback: OnceLock::new(),
            }),
        }
    }

    /// A scheduler on the runtime this thread is in ([`Handle::current`]).
    ///
    /// # Panics
    ///
    /// Outside a tokio runtime; see [`try_current`](Tokio::try_current).
    pub fn current() -> Tokio {
        Tokio::new(Handle::current())
    }

    /// A scheduler on the runtime this thread is in, or `None` outside one.
    pub fn try_current() -> Option<Tokio> {
        Handle::try_current().ok().map(Tokio::new)
    }

    /// The same runtime, with every pass run through [`Handle::spawn_blocking`]: for streams whose
    /// user code blocks (file or database calls, `std::sync` waits). Order and one-at-a-time per
    /// worker are kept; passes no longer share tokio's async worker threads.
    ///
    /// ```
    /// let runtime = tokio::runtime::Runtime::new().unwrap();
    /// let blocking = backflow::sched::Tokio::new(runtime.handle().clone()).blocking();
    /// let n = backflow::range(0..3u32)
    ///     .publish_on(blocking)
    ///     .map(|x| { std::thread::sleep(std::time::Duration::from_millis(1)); x })
    ///     .collect()
    ///     .unwrap();
    /// assert_eq!(n, [0, 1, 2]);
    /// ```
    pub fn blocking(self) -> Tokio {
        Tokio {
            inner: StdArc::new(Inner {
                handle: self.inner.handle.clone(),
                epoch: self.inner.epoch,
                blocking: true,
                shut_down: AtomicBool::new(self.inner.shut_down.load(Ordering::Acquire)),
                fallback: OnceLock::new(),
            }),
        }
    }

    /// The runtime handle this scheduler spawns on.
    pub fn handle(&self) -> &Handle {
        &self.inner.handle
    }

    /// Whether tokio has dropped a pass of this scheduler unrun: its runtime is shut down, and
    /// passes now run on the threads that schedule them (see
    /// [When the runtime shuts down](Tokio#when-the-runtime-shuts-down)).
    pub fn is_shut_down(&self) -> bool {
        self.inner.shut_down.load(Ordering::Acquire)
    }
}

impl fmt::Debug for Tokio {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tokio")
            .field("blocking", &self.inner.blocking)
            .field("shut_down", &self.is_shut_down())
            .finish_non_exhaustive()
    }
}

impl Inner {
    fn now(&self) -> Instant {
        // Entered, so that a runtime with paused time is read even from a thread outside it.
        let _in_runtime = self.handle.enter();
        Instant::from_epoch(::tokio::time::Instant::now().saturating_duration_since(self.epoch))
    }

    /// Spawns one pass running `job`; if tokio drops it unrun, the job runs on the dropping thread.
    fn spawn(self: &StdArc<Self>, job: Job) {
        let pass = Pass {
            job: Some(job),
            inner: self.clone(),
        };
        // The join handles are dropped: a pass is detached, and a shut-down runtime's refusal shows
        // as the pass being dropped unrun, which `Pass::drop` handles.
        if self.blocking {
            drop(self.handle.spawn_blocking(move || pass.run()));
        } else {
            drop(self.handle.spawn(async move { pass.run() }));
        }
    }

    fn fallback(&self) -> &Immediate {
        self.fallback.get_or_init(Immediate::new)
    }

    /// Schedules `task` for `deadline`, to run as a plain task or, with `serial`, on that worker.
    fn schedule_at(
        self: &StdArc<Self>,
        deadline: Instant,
        task: Task,
        serial: Option<StdArc<Serial>>,
    ) -> TaskHandle {
        let abort: StdArc<OnceLock<AbortHandle>> = StdArc::new(OnceLock::new());
        let on_cancel = AbortOnDrop(abort.clone());
        // `TaskHandle::cancel` drops the task unrun: `on_cancel` goes with it and aborts the
        // sleeping tokio task, so a cancelled timeout holds no timer entry until its deadline.
        let wrapped = Task::new(move || {
            let _on_cancel = on_cancel;
            task.run()
        });
        let timed = TimedTask::new(wrapped, None);
        let fire = Fire {
            timed: Some(timed.clone()),
            serial,
            inner: self.clone(),
            deadline,
        };
        if deadline <= self.now() {
            // Due already: as soon as possible, but on tokio, never nested in the caller.
            let mut fire = fire;
            if let Some(timed) = fire.timed.take() {
                match fire.serial.take() {
                    Some(serial) => serial.submit(Task::from_runnable(timed)),
                    None => self.spawn(Job::Plain(Task::from_runnable(timed))),
                }
            }
            return TaskHandle::new(timed);
        }
        let due = self.epoch.checked_add(deadline.since_epoch());
        let sleeper = async move {
            match due {
                Some(due) => ::tokio::time::sleep_until(due).await,
                // Beyond what tokio's clock holds: it never comes (the task can still be cancelled).
                None => std::future::pending::<()>().await,
            }
            fire.fire();
        };
        let join = self.handle.spawn(sleeper);
        let _ = abort.set(join.abort_handle());
        TaskHandle::new(timed)
    }
}

/// What a pass runs.
enum Job {
    /// One task, from [`Scheduler::schedule_task`].
    Plain(Task),
    /// A worker's first task, then its queue.
    Serial(StdArc<Serial>, Task),
}

impl Job {
    fn run(self) {
        match self {
            Job::Plain(task) => run_caught(task),
            Job::Serial(serial, first) => serial.drain(first),
        }
    }
}

/// A spawned pass. Dropped with its job still inside means tokio dropped it unrun: the runtime is
/// shut down (backflow never aborts a pass), and the job runs here instead.
struct Pass {
    job: Option<Job>,
    inner: StdArc<Inner>,
}

impl Pass {
    fn run(mut self) {
        if let Some(job) = self.job.take() {
            job.run();
        }
    }
}

impl Drop for Pass {
    fn drop(&mut self) {
        if let Some(job) = self.job.take() {
            self.inner.shut_down.store(true, Ordering::Release);
            job.run();
        }
    }
}

/// Held by a delayed task: dropping it (the task ran, or was cancelled) aborts its sleeper.
struct AbortOnDrop(StdArc<OnceLock<AbortHandle>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        if let Some(abort) = self.0.get() {
            abort.abort();
        }
    }
}

/// A delayed task's sleeper state: fires when due, or, dropped unfired and not cancelled (the
/// runtime shut down under it), moves to backflow's own timer.
struct Fire {
    timed: Option<StdArc<TimedTask>>,
    serial: Option<StdArc<Serial>>,
    inner: StdArc<Inner>,
    deadline: Instant,
}

impl Fire {
    fn fire(mut self) {
        if let Some(timed) = self.timed.take() {
            dispatch(&self.inner, self.serial.take(), timed);
        }
    }
}

/// Runs a due delayed task: on its worker, in a pass of its own (blocking schedulers), or here.
fn dispatch(inner: &StdArc<Inner>, serial: Option<StdArc<Serial>>, timed: StdArc<TimedTask>) {
    let task = Task::from_runnable(timed);
    match serial {
        Some(serial) => serial.submit(task),
        None if inner.blocking => inner.spawn(Job::Plain(task)),
        None => run_caught(task),
    }
}

impl Drop for Fire {
    fn drop(&mut self) {
        let Some(timed) = self.timed.take() else {
            return;
        };
        if timed.is_cancelled() {
            return;
        }
        self.inner.shut_down.store(true, Ordering::Release);
        // How long is left, by tokio's clock, goes on backflow's real-time timer.
        let left = self.deadline.saturating_duration_since(self.inner.now());
        let inner = self.inner.clone();
        let serial = self.serial.take();
        let fallback = self.inner.fallback();
        fallback.schedule_task_after(left, Task::new(move || dispatch(&inner, serial, timed)));
    }
}

/// A worker's queue: tasks run in submission order, one at a time, in passes.
struct Serial {
    inner: StdArc<Inner>,
    state: Mutex<SerialState>,
}

struct SerialState {
    queue: VecDeque<Task>,
    /// A pass is spawned or running: it will see what is queued.
    running: bool,
}

impl Serial {
    fn submit(self: &StdArc<Self>, task: Task) {
        let mut state = self.state.lock();
        if state.running {
            state.queue.push_back(task);
            return;
        }
        state.running = true;
        drop(state);
        self.inner.spawn(Job::Serial(self.clone(), task));
    }

    /// One pass: `first`, then the queue, until it is empty or the budget is spent.
    fn drain(self: StdArc<Self>, first: Task) {
        run_caught(first);
        let mut budget = PASS_BUDGET;
        loop {
            let next = {
                let mut state = self.state.lock();
                match state.queue.pop_front() {
                    Some(task) => task,
                    None => {
                        state.running = false;
                        return;
                    }
                }
            };
            budget -= 1;
            // A shut-down runtime runs passes inline: no point handing back to it.
            if budget == 0 && !self.inner.shut_down.load(Ordering::Acquire) {
                // Still `running`: the fresh pass owns the queue from here.
                let inner = self.inner.clone();
                inner.spawn(Job::Serial(self, next));
                return;
            }
            run_caught(next);
        }
    }
}

/// A [`Worker`] on a [`Tokio`] scheduler.
#[derive(Clone)]
struct TokioWorker {
    serial: StdArc<Serial>,
}

impl Scheduler for TokioWorker {
    fn schedule_task(&self, task: Task) {
        self.serial.submit(task)
    }

    fn schedule_task_at(&self, deadline: Instant, task: Task) -> TaskHandle {
        self.serial
            .inner
            .schedule_at(deadline, task, Some(self.serial.clone()))
    }

    fn now(&self) -> Instant {
        self.serial.inner.now()
    }

    fn worker(&self) -> Worker {
        Worker::new(self.clone())
    }
}

impl Scheduler for Tokio {
    fn schedule_task(&self, task: Task) {
        self.inner.spawn(Job::Plain(task))
    }

    fn schedule_task_at(&self, deadline: Instant, task: Task) -> TaskHandle {
        self.inner.schedule_at(deadline, task, None)
    }

    fn now(&self) -> Instant {
        self.inner.now()
    }

    fn worker(&self) -> Worker {
        Worker::new(TokioWorker {
            serial: StdArc::new(Serial {
                inner: self.inner.clone(),
                state: Mutex::new(SerialState {
                    queue: VecDeque::new(),
                    running: false,
                }),
            }),
        })
    }

    fn schedule_task_after(&self, delay: Duration, task: Task) -> TaskHandle {
        self.schedule_task_at(self.now() + delay, task)
    }
}
