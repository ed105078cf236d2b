//! The [`Immediate`] scheduler: runs tasks on the calling thread.

use std::collections::VecDeque;
use std::fmt;
use std::sync::OnceLock;

use super::clock::{real_now, Instant};
use super::task::{run_caught, Route, Target, Task, TaskHandle, TimedTask};
use super::timer::Timer;
use super::{Scheduler, Worker};
use crate::demand::DrainGate;
use crate::sync::{Mutex, StdArc};

/// A scheduler that runs each task at once, on the thread that schedules it.
///
/// Built by [`immediate`](super::immediate). Useful where a stage needs a scheduler but no thread
/// hop (tests, or work already on the right thread). A task scheduled from inside a task runs
/// nested, at once; use [`worker`](Scheduler::worker) for a trampoline that queues it instead.
///
/// Delayed tasks go to the shared timer thread and run there when due: keep them short, every
/// real-time scheduler's timer shares that thread. Like every scheduler, pending delayed tasks keep
/// it (and the timer thread) alive until they run or are cancelled.
#[derive(Clone)]
pub struct Immediate {
    inner: StdArc<Inner>,
}

struct Inner {
    timer: OnceLock<Timer>,
}

impl Immediate {
    /// An immediate scheduler. Starts no thread until a delayed task is scheduled.
    pub fn new() -> Immediate {
        Immediate {
            inner: StdArc::new(Inner {
                timer: OnceLock::new(),
            }),
        }
    }

    fn schedule_routed(&self, deadline: Instant, task: Task, target: Target) -> TaskHandle {
        let route = Route {
            target,
            _keep_alive: self.inner.clone(),
        };
        let timed = TimedTask::new(task, Some(route));
        if deadline <= real_now() {
            timed.fire();
        } else {
            self.inner
                .timer
                .get_or_init(Timer::shared)
                .schedule(deadline, timed.clone());
        }
        TaskHandle::new(timed)
    }
}

impl Default for Immediate {
    fn default() -> Self {
        Immediate::new()
    }
}

impl fmt::Debug for Immediate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Immediate").finish_non_exhaustive()
    }
}

impl Scheduler for Immediate {
    fn schedule_task(&self, task: Task) {
        run_caught(task);
    }

    fn schedule_task_at(&self, deadline: Instant, task: Task) -> TaskHandle {
        self.schedule_routed(deadline, task, Target::Inline)
    }

    fn now(&self) -> Instant {
        real_now()
    }

    /// A trampoline: tasks run on the thread that schedules them, but one at a time and in order.
    /// A task scheduled while another runs (from inside it, or from another thread) is queued and
    /// run by the thread already draining, after the current task returns.
    fn worker(&self) -> Worker {
        Worker::new(ImmediateWorker {
            immediate: self.clone(),
            trampoline: StdArc::new(Trampoline::new()),
        })
    }
}

#[derive(Clone)]
struct ImmediateWorker {
    immediate: Immediate,
    trampoline: StdArc<Trampoline>,
}

impl Scheduler for ImmediateWorker {
    fn schedule_task(&self, task: Task) {
        self.trampoline.submit(task);
    }

    fn schedule_task_at(&self, deadline: Instant, task: Task) -> TaskHandle {
        let target = Target::Serial(self.trampoline.clone());
        self.immediate.schedule_routed(deadline, task, target)
    }

    fn now(&self) -> Instant {
        real_now()
    }

    fn worker(&self) -> Worker {
        Worker::new(self.clone())
    }
}

/// A queue drained by whichever thread submits into it while nobody else is draining: FIFO,
/// never two tasks at once, no thread of its own.
pub(crate) struct Trampoline {
    /// Never locked while a task runs.
    queue: Mutex<VecDeque<Task>>,
    /// Counts submissions not yet seen by the draining thread; whoever moves it from 0 drains.
    gate: DrainGate,
}

impl Trampoline {
    fn new() -> Self {
        Trampoline {
            queue: Mutex::new(VecDeque::new()),
            gate: DrainGate::new(),
        }
    }

    pub(crate) fn submit(&self, task: Task) {
        self.queue.lock().push_back(task);
        if !self.gate.enter() {
            return;
        }
        let mut missed = 1;
        loop {
            loop {
                let next = self.queue.lock().pop_front();
                match next {
                    Some(task) => run_caught(task),
                    None => break,
                }
            }
            missed = self.gate.leave(missed);
            if missed == 0 {
                return;
            }
        }
    }
}
