//! How the consumer of a hand-off waits: spin a short bounded time, announce that it parks,
//! look once more, then park. The one place that writes this protocol; every waiting side in the
//! crate stands on it (the blocking iterator and the stream bridge, the scheduler threads, the
//! emitter's producers waiting for room, publish_on's drain lingering before it lets go).
//!
//! ```text
//! consumer (waits)                        producer (publishes)
//! ----------------                        --------------------
//! spin: ready()? (bounded)                publish (a Release store or stronger)
//! lock; sleepers += 1                     fence(SeqCst)
//! fence(SeqCst)                           sleepers != 0 ?  -- usually not: done, no lock
//! ready()? -> leave                         lock; notify (condvar or task waker)
//! wait (releases the lock atomically)
//! ```
//!
//! The two SeqCst fences are ordered one way or the other: if the producer's comes first, the
//! consumer's `ready()` after its own fence sees the publication; if the consumer's comes first,
//! the producer's load after its fence sees the registration and notifies. The consumer holds the
//! lock from its registration until the condvar wait releases it, and the producer takes the lock
//! to notify, so a notification cannot slip in between the last look and the wait. While both
//! sides are busy, the producer pays one fence and one load per publication: no lock, no syscall.
//! A producer whose publication was itself a SeqCst read-modify-write (an mpsc ring's claim) skips
//! the fence ([`Parker::notify_after_seqcst_rmw`]): the emitter's pushes to a pull-fused consumer.
//! `loom-tests/tests/{bridge,worker_wakeup,emitter,publish_on}.rs` model-check every user.
//!
//! # Knobs
//!
//! [`SPIN_LIMIT`] and [`YIELD_LIMIT`] bound the spin before parking (crossbeam-utils' `Backoff`
//! defaults: 1 + 2 + ... + 64 spin-loop hints, then 4 yields; a few microseconds). They are the
//! numbers to tune on a quiet machine: longer spins catch more hand-offs without a futex wake-up,
//! shorter ones burn less CPU when the other side is really gone.

use std::task::Waker;
use std::time::Instant;

use crate::sync::{fence, AtomicUsize, Condvar, Mutex, Ordering};

/// Spin steps: step `s <= SPIN_LIMIT` runs `2^s` spin-loop hints.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const SPIN_LIMIT: u32 = 6;
/// Steps after `SPIN_LIMIT` and up to this one yield the thread; after it the spin is over.
pub(crate) const YIELD_LIMIT: u32 = 10;

/// A bounded adaptive spin: each [`Spin::step`] waits a little longer, and reports when the
/// budget is spent. Never a busy wait: after [`YIELD_LIMIT`] steps it stops.
#[derive(Debug)]
pub(crate) struct Spin {
    step: u32,
}

impl Spin {
    pub(crate) fn new() -> Self {
        Spin { step: 0 }
    }

    /// Waits one step; `false` once the budget is spent (then the caller parks or leaves).
    #[inline]
    pub(crate) fn step(&mut self) -> bool {
        if self.step > YIELD_LIMIT {
            return false;
        }
        #[cfg(loom)]
        {
            // Under loom a spin only multiplies interleavings: one yield stands for all of it.
            self.step = YIELD_LIMIT + 1;
            crate::sync::thread::yield_now();
        }
        #[cfg(not(loom))]
        {
            if self.step <= SPIN_LIMIT {
                for _ in 0..1u32 << self.step {
                    std::hint::spin_loop();
                }
            } else {
                std::thread::yield_now();
            }
            self.step += 1;
        }
        true
    }
}

/// Spins (boundedly) until `ready` returns `Some`; `None` once the budget is spent.
#[inline]
pub(crate) fn spin_until<R>(mut ready: impl FnMut() -> Option<R>) -> Option<R> {
    let mut spin = Spin::new();
    loop {
        if let Some(r) = ready() {
            return Some(r);
        }
        if !spin.step() {
            return None;
        }
    }
}

/// Where consumers park and producers wake them: threads on a condvar, or one async task's waker.
pub(crate) struct Parker {
    /// Parked or about-to-park consumers: threads registered in [`wait`](Self::wait), plus one
    /// for a task waker stored by [`register`](Self::register). Changed under `slot`'s lock only;
    /// read without it by [`notify`](Self::notify), after a SeqCst fence.
    sleepers: AtomicUsize,
    /// The task waker, if a task waits.
    slot: Mutex<Option<Waker>>,
    wake: Condvar,
}

impl std::fmt::Debug for Parker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Parker")
            .field("sleepers", &self.sleepers.load(Ordering::Relaxed))
            .finish()
    }
}

impl Default for Parker {
    fn default() -> Self {
        Parker::new()
    }
}

impl Parker {
    pub(crate) fn new() -> Self {
        Parker {
            sleepers: AtomicUsize::new(0),
            slot: Mutex::new(None),
            wake: Condvar::new(),
        }
    }

    /// Blocks the calling thread until `ready` returns `Some`, or `deadline` passes (then one last
    /// look; `None` if still nothing). Spins first (bounded), then parks.
    pub(crate) fn wait<R>(
        &self,
        mut ready: impl FnMut() -> Option<R>,
        deadline: Option<Instant>,
    ) -> Option<R> {
        if let Some(r) = spin_until(&mut ready) {
            return Some(r);
        }
        let mut guard = self.slot.lock();
        self.sleepers.fetch_add(1, Ordering::Relaxed);
        // Pairs with the fence in `notify` (module docs).
        fence(Ordering::SeqCst);
        let outcome = loop {
            if let Some(r) = ready() {
                break Some(r);
            }
            match deadline {
                Some(deadline) => {
                    let (woken, timed_out) = self.wake.wait_until(guard, deadline);
                    guard = woken;
                    if timed_out {
                        break ready();
                    }
                }
                None => guard = self.wake.wait(guard),
            }
        };
        self.sleepers.fetch_sub(1, Ordering::Relaxed);
        drop(guard);
        outcome
    }

    /// For a task: stores `waker` and announces it, then looks once more. Returns `Some` if
    /// `ready` answered (the task goes on), `None` if it may return `Poll::Pending`: a later
    /// [`notify`](Self::notify) wakes it.
    pub(crate) fn register<R>(
        &self,
        waker: &Waker,
        mut ready: impl FnMut() -> Option<R>,
    ) -> Option<R> {
        if let Some(r) = ready() {
            return Some(r);
        }
        {
            let mut slot = self.slot.lock();
            if slot.replace(waker.clone()).is_none() {
                self.sleepers.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Pairs with the fence in `notify` (module docs).
        fence(Ordering::SeqCst);
        ready()
    }

    /// Producer side, after publishing with a Release store or stronger: wakes every parked
    /// thread and the registered task, if any announced itself. One fence and one load when
    /// nobody waits.
    #[inline]
    pub(crate) fn notify(&self) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Relaxed) != 0 {
            self.notify_slow();
        }
    }

    /// Producer side, right after publishing with a SeqCst read-modify-write (a ring's claim):
    /// as [`notify`](Self::notify), without the fence. The claim and this SeqCst load are both in
    /// the single total order with the consumer's fence: if the fence comes first, this load sees
    /// the registration made before it; if the claim comes first, the consumer's look after its
    /// fence sees the claim (C++20 \[atomics.order\] p4–p5). Loom regards SeqCst accesses as
    /// AcqRel, so under `cfg(loom)` a fence stands in for that order.
    #[inline]
    pub(crate) fn notify_after_seqcst_rmw(&self) {
        #[cfg(loom)]
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::SeqCst) != 0 {
            self.notify_slow();
        }
    }

    #[cold]
    fn notify_slow(&self) {
        let mut slot = self.slot.lock();
        let waker = slot.take();
        if waker.is_some() {
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
        }
        self.wake.notify_all();
        drop(slot);
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}
