//! The thread-owning schedulers, [`Single`] and [`Pool`], and the wake-up protocol of their
//! worker threads.

use std::collections::VecDeque;
use std::fmt;
use std::sync::OnceLock;

use super::clock::{real_now, Instant};
use super::task::{run_caught, Route, Target, Task, TaskHandle, TimedTask};
use super::timer::Timer;
use super::{Scheduler, Worker};
use crate::sync::{thread, Arc, AtomicBool, AtomicUsize, Condvar, Mutex, Ordering, StdArc};

/// The task queue of one worker thread, and how the thread sleeps and wakes.
///
/// Wake-up protocol: the queue, the `parked` flag and `closed` live under one lock. The worker sets
/// `parked` and waits on `wake` only after seeing, under that lock, an empty queue and an open
/// core; `push` queues and reads-and-clears `parked` under the same lock, and notifies when it was
/// set. So a push either lands before the worker's check (the worker sees the task) or after the
/// worker is waiting (the worker is notified): no lost wake-up. `loom-tests/tests/worker_wakeup.rs`
/// model-checks it.
pub(crate) struct Core {
    queue: Mutex<Queue>,
    /// Notified by `push` when the worker is parked, and (all) by `close`.
    wake: Condvar,
    /// A hint for the spinning worker: stored under the lock by `push` and by the worker when it
    /// takes the queue, read without the lock while spinning. Relaxed: a stale read costs at most a
    /// spin or a lock, since the decision to park is re-made under the lock.
    has_work: AtomicBool,
}

struct Queue {
    tasks: VecDeque<Task>,
    /// The worker is waiting (or about to wait) on `wake`.
    parked: bool,
    /// No handle is left: run what is queued, then exit.
    closed: bool,
}

impl Core {
    pub(crate) fn new() -> Self {
        Core {
            queue: Mutex::new(Queue {
                tasks: VecDeque::new(),
                parked: false,
                closed: false,
            }),
            wake: Condvar::new(),
            has_work: AtomicBool::new(false),
        }
    }

    /// Queues a task and wakes the worker if it sleeps.
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
        let parked = std::mem::replace(&mut queue.parked, false);
        drop(queue);
        if parked {
            self.wake.notify_one();
        }
    }

    /// Lets the worker exit once the queue is empty.
    pub(crate) fn close(&self) {
        self.queue.lock().closed = true;
        self.wake.notify_all();
    }

    /// The worker thread's loop: run batches of tasks until the core is closed and drained.
    pub(crate) fn work(&self) {
        let mut batch = VecDeque::new();
        while self.next_batch(&mut batch) {
            for task in batch.drain(..) {
                run_caught(task);
            }
        }
    }

    /// Swaps the whole queue into `batch` (one lock per batch, not per task), waiting for work if
    /// there is none. Returns `false` when the core is closed and empty.
    fn next_batch(&self, batch: &mut VecDeque<Task>) -> bool {
        self.spin_for_work();
        let mut queue = self.queue.lock();
        loop {
            if !queue.tasks.is_empty() {
                std::mem::swap(batch, &mut queue.tasks);
                queue.parked = false;
                self.has_work.store(false, Ordering::Relaxed);
                return true;
            }
            if queue.closed {
                return false;
            }
            queue.parked = true;
            queue = self.wake.wait(queue);
        }
    }

    /// A short bounded spin (a few hundred nanoseconds, then a few yields) before parking: a drain
    /// task that reschedules at once should not pay for a futex wake-up. Never a busy wait: the
    /// `Backoff` completes after a fixed number of steps.
    #[cfg(not(loom))]
    fn spin_for_work(&self) {
        let backoff = crossbeam_utils::Backoff::new();
        while !backoff.is_completed() {
            if self.has_work.load(Ordering::Relaxed) {
                return;
            }
            backoff.snooze();
        }
    }

    /// Under loom the spin only multiplies interleavings; the protocol does not depend on it.
    #[cfg(loom)]
    fn spin_for_work(&self) {}
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
