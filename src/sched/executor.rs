//! The thread-owning schedulers, [`Single`] and [`Pool`], and the wake-up protocol of their
//! worker threads.

use std::collections::VecDeque;
use std::fmt;
use std::sync::OnceLock;

use super::clock::{real_now, Instant};
use super::task::{run_caught, Route, Target, Task, TaskHandle, TimedTask};
use super::timer::Timer;
use super::{Scheduler, Worker};
use crate::sync::{thread, Arc, AtomicBool, AtomicUsize, Mutex, Ordering, StdArc};
use crate::wait::Parker;

/// The task queue of one worker thread, and how the thread sleeps and wakes.
///
/// Wake-up protocol: the crate's one wait strategy ([`Parker`]). `push` queues under the lock,
/// sets the `has_work` hint, and then notifies the parker (a SeqCst fence and a load: a lock and a
/// condvar notify only when the worker announced that it parks). The worker, when its queue is
/// empty, spins briefly on `has_work`, announces itself, looks again (under the lock), and parks.
/// So a push either lands before the worker's last look (the worker sees the task) or its notify
/// sees the announcement (the worker is woken): no lost wake-up.
/// `loom-tests/tests/worker_wakeup.rs` model-checks it.
pub(crate) struct Core {
    queue: Mutex<Queue>,
    parker: Parker,
    /// Tasks were queued (or the core closed) since the worker last took the queue. Stored under
    /// the lock (Relaxed; the lock's release and the parker's fence order it), read without the
    /// lock by the spinning or re-checking worker and by [`may_linger`].
    has_work: AtomicBool,
}

struct Queue {
    tasks: VecDeque<Task>,
    /// No handle is left: run what is queued, then exit.
    closed: bool,
}

#[cfg(not(loom))]
thread_local! {
    /// The core whose worker loop runs on this thread (null: not a scheduler thread), and how
    /// many tasks of the current batch are still to run.
    static CURRENT: std::cell::Cell<(*const Core, usize)> =
        const { std::cell::Cell::new((std::ptr::null(), 0)) };
}

/// Whether a task running now may keep its thread a little longer (spin for more work of its
/// own) without delaying anyone: it runs on a [`Single`] / [`Pool`] thread, no task of its batch
/// is waiting behind it, and nothing new was queued on that thread. `false` anywhere else (the
/// immediate scheduler, a virtual clock, a user's scheduler), where the caller's thread is
/// someone else's.
pub(crate) fn may_linger() -> bool {
    #[cfg(not(loom))]
    {
        let (core, pending) = CURRENT.with(|current| current.get());
        if core.is_null() || pending > 0 {
            return false;
        }
        // SAFETY: CURRENT holds the core only while `Core::work` runs on this thread, and `work`
        // borrows it (`&self`) for that whole time.
        let core = unsafe { &*core };
        !core.has_work.load(Ordering::Relaxed)
    }
    #[cfg(loom)]
    false
}

impl Core {
    pub(crate) fn new() -> Self {
        Core {
            queue: Mutex::new(Queue {
                tasks: VecDeque::new(),
                closed: false,
            }),
            parker: Parker::new(),
            has_work: AtomicBool::new(false),
        }
    }

    /// Queues a task and wakes the worker if it parks.
    pub(crate) fn push(&self, task: Task) {
        let mut queue = self.queue.lock();
        if queue.closed {
            // Unreachable through the public API: a core closes only when no handle and no pending
            // delayed task refers to its scheduler any more. Drop outside the lock all the same.
            drop(queue);
            drop(task);
            return;
        }
        queue.tasks.push_back(task);
        self.has_work.store(true, Ordering::Relaxed);
        drop(queue);
        self.parker.notify();
    }

    /// Lets the worker exit once the queue is empty.
    pub(crate) fn close(&self) {
        let mut queue = self.queue.lock();
        queue.closed = true;
        self.has_work.store(true, Ordering::Relaxed);
        drop(queue);
        self.parker.notify();
    }

    /// The worker thread's loop: run batches of tasks until the core is closed and drained.
    pub(crate) fn work(&self) {
        #[cfg(not(loom))]
        CURRENT.with(|current| current.set((self as *const Core, 0)));
        let mut batch = VecDeque::new();
        while self.next_batch(&mut batch) {
            while let Some(task) = batch.pop_front() {
                #[cfg(not(loom))]
                CURRENT.with(|current| current.set((self as *const Core, batch.len())));
                run_caught(task);
            }
        }
        #[cfg(not(loom))]
        CURRENT.with(|current| current.set((std::ptr::null(), 0)));
    }

    /// Swaps the whole queue into `batch` (one lock per batch, not per task), waiting for work if
    /// there is none (spin, announce, look again, park). Returns `false` when the core is closed
    /// and empty.
    fn next_batch(&self, batch: &mut VecDeque<Task>) -> bool {
        self.parker.wait(|| self.take(batch), None).unwrap_or(false)
    }

    /// One look at the queue: `Some(true)` with a batch, `Some(false)` when closed and empty,
    /// `None` when there is nothing yet.
    fn take(&self, batch: &mut VecDeque<Task>) -> Option<bool> {
        if !self.has_work.load(Ordering::Relaxed) {
            return None;
        }
        let mut queue = self.queue.lock();
        // A closed core keeps the hint up: every later look must reach `closed`.
        self.has_work.store(queue.closed, Ordering::Relaxed);
        if !queue.tasks.is_empty() {
            std::mem::swap(batch, &mut queue.tasks);
            return Some(true);
        }
        if queue.closed {
            return Some(false);
        }
        None
    }
}

/// The threads of a [`Single`] or [`Pool`]; dropping it (with the last handle) stops them.
struct Executors {
    cores: Box<[Arc<Core>]>,
    threads: Vec<thread::JoinHandle<()>>,
    /// Round-robin cursor for `schedule` and `worker`; Relaxed: any spread will do.
    next: AtomicUsize,
    timer: OnceLock<Timer>,
}

impl Executors {
    fn start(name: &str, threads: usize) -> StdArc<Self> {
        assert!(threads > 0, "a scheduler needs at least one thread");
        let cores: Box<[Arc<Core>]> = (0..threads).map(|_| Arc::new(Core::new())).collect();
        let mut handles = Vec::with_capacity(threads);
        for (index, core) in cores.iter().enumerate() {
            let core = core.clone();
            let name = if threads == 1 {
                name.to_string()
            } else {
                format!("{name}-{index}")
            };
            match thread::Builder::new().name(name).spawn(move || core.work()) {
                Ok(handle) => handles.push(handle),
                Err(error) => {
                    // Stop the threads already started before giving up.
                    drop(Executors::assemble(cores, handles));
                    panic!("failed to spawn a backflow scheduler thread: {error}");
                }
            }
        }
        StdArc::new(Executors::assemble(cores, handles))
    }

    fn assemble(cores: Box<[Arc<Core>]>, threads: Vec<thread::JoinHandle<()>>) -> Self {
        Executors {
            cores,
            threads,
            next: AtomicUsize::new(0),
            timer: OnceLock::new(),
        }
    }

    fn pick(&self) -> usize {
        if self.cores.len() == 1 {
            0
        } else {
            self.next.fetch_add(1, Ordering::Relaxed) % self.cores.len()
        }
    }

    fn schedule_at(this: &StdArc<Self>, core: usize, deadline: Instant, task: Task) -> TaskHandle {
        let route = Route {
            target: Target::Queue(this.cores[core].clone()),
            _keep_alive: this.clone(),
        };
        let timed = TimedTask::new(task, Some(route));
        if deadline <= real_now() {
            timed.fire();
        } else {
            this.timer
                .get_or_init(Timer::shared)
                .schedule(deadline, timed.clone());
        }
        TaskHandle::new(timed)
    }
}

impl Drop for Executors {
    fn drop(&mut self) {
        for core in self.cores.iter() {
            core.close();
        }
        // A task that held the last handle may drop it on one of our own threads: that thread
        // exits by itself once the task returns; joining it from itself would deadlock.
        let me = thread::current().id();
        for handle in self.threads.drain(..) {
            if handle.thread().id() != me {
                let _ = handle.join();
            }
        }
    }
}

/// A scheduler with one dedicated thread that runs tasks one at a time, in submission order.
///
/// Built by [`single`](super::single). Cheap to clone (one `Arc`); the thread stops and is joined
/// when the last clone, worker and pending task are gone (see [Lifetime](super#lifetime)).
///
/// # Order
///
/// FIFO: tasks run in the order [`schedule`](Scheduler::schedule) was called (calls from one thread
/// keep their order; calls racing from several threads are ordered by the queue's lock), never two
/// at once. Delayed tasks join the queue when their deadline comes.
#[derive(Clone)]
pub struct Single {
    executors: StdArc<Executors>,
}

impl Single {
    /// Starts a scheduler whose thread is called `backflow-single`.
    pub fn new() -> Single {
        Single::with_name("backflow-single")
    }

    /// Starts a scheduler whose thread is called `name` (Linux shows the first 15 bytes).
    pub fn with_name(name: &str) -> Single {
        Single {
            executors: Executors::start(name, 1),
        }
    }
}

impl Default for Single {
    fn default() -> Self {
        Single::new()
    }
}

impl fmt::Debug for Single {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Single").finish_non_exhaustive()
    }
}

impl Scheduler for Single {
    fn schedule_task(&self, task: Task) {
        self.executors.cores[0].push(task);
    }

    fn schedule_task_at(&self, deadline: Instant, task: Task) -> TaskHandle {
        Executors::schedule_at(&self.executors, 0, deadline, task)
    }

    fn now(&self) -> Instant {
        real_now()
    }

    /// The scheduler itself: it is already serial.
    fn worker(&self) -> Worker {
        Worker::new(self.clone())
    }
}

/// A fixed pool of threads, each with its own FIFO queue.
///
/// Built by [`pool`](super::pool) or [`pool_default`](super::pool_default). Like Reactor's
/// `Schedulers.parallel()`: [`schedule`](Scheduler::schedule) hands tasks to the threads round
/// robin (no work stealing: a long task delays the ones queued behind it on its thread), and
/// [`worker`](Scheduler::worker) pins a [`Worker`] to one thread, so everything submitted through
/// that worker runs in order, never two at once, on the same thread (cache-friendly for a stage's
/// drain loop).
///
/// # Order
///
/// Tasks scheduled on the pool itself have no order between them. Tasks on one [`Worker`] run FIFO.
#[derive(Clone)]
pub struct Pool {
    executors: StdArc<Executors>,
}

impl Pool {
    /// Starts `threads` threads called `backflow-pool-<i>`.
    ///
    /// # Panics
    ///
    /// If `threads` is 0, or a thread cannot be spawned.
    pub fn new(threads: usize) -> Pool {
        Pool::with_name(threads, "backflow-pool")
    }

    /// Starts `threads` threads called `<name>-<i>` (Linux shows the first 15 bytes).
    ///
    /// # Panics
    ///
    /// If `threads` is 0, or a thread cannot be spawned.
    pub fn with_name(threads: usize, name: &str) -> Pool {
        Pool {
            executors: Executors::start(name, threads),
        }
    }

    /// How many threads the pool runs.
    pub fn threads(&self) -> usize {
        self.executors.cores.len()
    }
}

impl fmt::Debug for Pool {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads())
            .finish_non_exhaustive()
    }
}

impl Scheduler for Pool {
    fn schedule_task(&self, task: Task) {
        self.executors.cores[self.executors.pick()].push(task);
    }

    fn schedule_task_at(&self, deadline: Instant, task: Task) -> TaskHandle {
        Executors::schedule_at(&self.executors, self.executors.pick(), deadline, task)
    }

    fn now(&self) -> Instant {
        real_now()
    }

    /// A worker pinned to the next thread, round robin.
    fn worker(&self) -> Worker {
        Worker::new(Pinned {
            executors: self.executors.clone(),
            core: self.executors.pick(),
        })
    }
}

/// A pool's worker: everything goes to one thread.
#[derive(Clone)]
struct Pinned {
    executors: StdArc<Executors>,
    core: usize,
}

impl Scheduler for Pinned {
    fn schedule_task(&self, task: Task) {
        self.executors.cores[self.core].push(task);
    }

    fn schedule_task_at(&self, deadline: Instant, task: Task) -> TaskHandle {
        Executors::schedule_at(&self.executors, self.core, deadline, task)
    }

    fn now(&self) -> Instant {
        real_now()
    }

    fn worker(&self) -> Worker {
        Worker::new(self.clone())
    }
}
