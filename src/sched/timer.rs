//! The shared timer: one thread that holds every real-time delayed task in an
//! earliest-deadline-first heap and hands each to its scheduler when it is due.

use std::collections::BinaryHeap;
use std::sync::Weak;

use super::clock::{real_now, to_std, Instant};
use super::task::{Due, TimedTask};
use crate::sync::{thread, Arc, Condvar, Mutex, StdArc};

/// A handle to the shared timer thread.
///
/// Each real-time scheduler takes one (lazily, on its first delayed task) and keeps it; the thread
/// runs while any handle exists and is stopped and joined with the last one. Pending tasks keep
/// their scheduler alive, and so the timer: a heap entry is never dropped unfired unless cancelled.
#[derive(Clone)]
pub(crate) struct Timer {
    inner: StdArc<TimerInner>,
}

struct TimerInner {
    shared: Arc<Shared>,
    thread: Option<thread::JoinHandle<()>>,
}

struct Shared {
    state: Mutex<State>,
    /// Notified when a new earliest deadline arrives (the thread may sleep until a later one) and
    /// on close.
    wake: Condvar,
}

struct State {
    heap: BinaryHeap<Due>,
    seq: u64,
    closed: bool,
    /// Heap length at which cancelled entries are swept out; doubles with the live size, so the
    /// sweep is amortised O(1) per push and cancelled tasks cannot pile up without bound.
    sweep_at: usize,
}

/// The current timer, if one runs. A process-wide registry, not part of any modelled protocol
/// (loom cannot hold statics), hence `parking_lot` directly, like the error hook.
static CURRENT: parking_lot::Mutex<Weak<TimerInner>> = parking_lot::Mutex::new(Weak::new());

const MIN_SWEEP: usize = 64;

impl Timer {
    /// The running timer, or a new one.
    pub(crate) fn shared() -> Timer {
        let mut current = CURRENT.lock();
        if let Some(inner) = current.upgrade() {
            return Timer { inner };
        }
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                heap: BinaryHeap::new(),
                seq: 0,
                closed: false,
                sweep_at: MIN_SWEEP,
            }),
            wake: Condvar::new(),
        });
        let runner = shared.clone();
        let thread = thread::Builder::new()
            .name("backflow-timer".to_string())
            .spawn(move || runner.run())
            .expect("failed to spawn the backflow timer thread");
        let inner = StdArc::new(TimerInner {
            shared,
            thread: Some(thread),
        });
        *current = StdArc::downgrade(&inner);
        Timer { inner }
    }

    /// Fires `task` at `deadline` (real clock).
    pub(crate) fn schedule(&self, deadline: Instant, task: StdArc<TimedTask>) {
        let shared = &self.inner.shared;
        let mut state = shared.state.lock();
        let seq = state.seq;
        state.seq += 1;
        let earliest = state
            .heap
            .peek()
            .map_or(true, |top| deadline < top.deadline);
        state.heap.push(Due {
            deadline,
            seq,
            task,
        });
        state.sweep_cancelled();
        drop(state);
        if earliest {
            shared.wake.notify_one();
        }
    }
}

impl State {
    fn sweep_cancelled(&mut self) {
        if self.heap.len() < self.sweep_at {
            return;
        }
        // Cancelled entries hold no task any more (cancel took it), so dropping them under the lock
        // runs no user code.
        self.heap.retain(|due| !due.task.is_cancelled());
        self.sweep_at = (self.heap.len() * 2).max(MIN_SWEEP);
    }
}

impl Shared {
    /// The timer thread's loop.
    fn run(&self) {
        let mut due = Vec::new();
        let mut state = self.state.lock();
        loop {
            if state.closed {
                let heap = std::mem::take(&mut state.heap);
                drop(state);
                drop(heap);
                return;
            }
            let now = real_now();
            while let Some(top) = state.heap.peek() {
                if top.deadline > now {
                    break;
                }
                due.extend(state.heap.pop().map(|d| d.task));
            }
            if !due.is_empty() {
                drop(state);
                // Already in deadline order (popped from the heap); ties in submission order.
                for task in due.drain(..) {
                    task.fire();
                }
                state = self.state.lock();
                continue;
            }
            state = match state.heap.peek().and_then(|top| to_std(top.deadline)) {
                Some(deadline) => self.wake.wait_until(state, deadline).0,
                None => self.wake.wait(state),
            };
        }
    }
}

impl Drop for TimerInner {
    fn drop(&mut self) {
        self.shared.state.lock().closed = true;
        self.shared.wake.notify_all();
        if let Some(handle) = self.thread.take() {
            // The last handle may go on the timer thread itself (a fired task held it).
            if handle.thread().id() != thread::current().id() {
                let _ = handle.join();
            }
        }
    }
}
