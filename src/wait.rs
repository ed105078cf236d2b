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
//! A producer whose publication is a plain store (a [`SingleEmitter`](crate::SingleEmitter)'s
//! claim) pays the fence: [`Parker::notify`] (`PullWaker::wake_after_store`).
//! `loom-tests/tests/{bridge,worker_wakeup,emitter,publish_on}.rs` model-check every user.
//!
//! # Knobs
//!
//! [`SPIN_LIMIT`], [`SPIN_FOR`] and [`YIELD_FOR`] bound the spin before parking: 1 + 2 + ... + 64
//! spin-loop hints (crossbeam-utils' `Backoff` steps), more hints up to [`SPIN_FOR`] in all, then
//! yields up to [`SPIN_FOR`] + [`YIELD_FOR`]. They are the numbers to tune on a quiet machine:
//! longer spins catch more hand-offs without a futex wake-up, shorter ones burn less CPU when the
//! other side is really gone (a waiter spends at most the budget once per wait, then sleeps:
//! `tests/idle.rs`).
//!
//! [`Coalesce::DEPTH`] and [`Coalesce::FOR`] set how a pulling consumer batches: how many items
//! it waits for before a pull, and for how long at most. On the 2-core reference machine 128
//! items and 2 µs took an emitter read by a blocking iterator from ~20 to ~47 M items/s and one
//! read by `publish_on` from ~6 to ~45 M/s; 256 items (the wait then often runs out) gave ~32
//! and ~24, 64 items ~40 and ~44.

use std::task::Waker;
use std::time::{Duration, Instant};

use crate::sync::{fence, AtomicUsize, Condvar, Mutex, Ordering};

/// Spin steps: step `s <= SPIN_LIMIT` runs `2^s` spin-loop hints (127 in all), before the spin
/// looks at the clock at all.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const SPIN_LIMIT: u32 = 6;
/// How long a waiting side spins on spin-loop hints, in all, before it yields.
///
/// A budget in time, not in hints: one hint (`pause`) takes 9 ns on one x86 CPU and 40 on the
/// next, so a count tuned on one machine parks after ~2 µs on another, shorter than the gap between
/// two runs of a busy producer, and every gap then costs a futex wake-up (tens of µs on a VM).
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const SPIN_FOR: Duration = Duration::from_micros(20);
/// How long it then yields its thread (letting whatever else wants the core run), before it stops.
#[cfg_attr(loom, allow(dead_code))]
pub(crate) const YIELD_FOR: Duration = Duration::from_micros(20);
/// Spin-loop hints between two looks at the clock once the first steps are spent.
#[cfg_attr(loom, allow(dead_code))]
const HINTS_PER_LOOK: u32 = 64;

/// A bounded adaptive spin: each [`Spin::step`] waits a little longer, and reports when the
/// budget is spent: [`SPIN_LIMIT`] doubling steps of spin-loop hints, more hints up to
/// [`SPIN_FOR`], then yields up to [`SPIN_FOR`] + [`YIELD_FOR`]. Never a busy wait: after that
/// it stops, and the caller parks.
#[derive(Debug)]
pub(crate) struct Spin {
    step: u32,
    /// When the first timed step ran; `None` before it.
    #[cfg_attr(loom, allow(dead_code))]
    since: Option<Instant>,
}

impl Spin {
    pub(crate) fn new() -> Self {
        Spin {
            step: 0,
            since: None,
        }
    }

    /// Waits one step; `false` once the budget is spent (then the caller parks or leaves).
    #[inline]
    pub(crate) fn step(&mut self) -> bool {
        #[cfg(loom)]
        {
            // Under loom a spin only multiplies interleavings: one yield stands for all of it.
            if self.step > 0 {
                return false;
            }
            self.step = 1;
            crate::sync::thread::yield_now();
            true
        }
        #[cfg(not(loom))]
        {
            if self.step <= SPIN_LIMIT {
                for _ in 0..1u32 << self.step {
                    std::hint::spin_loop();
                }
                self.step += 1;
                return true;
            }
            self.timed_step()
        }
    }

    /// A step after the first [`SPIN_LIMIT`]: out of line, so the common short wait stays small.
    #[cfg(not(loom))]
    #[inline(never)]
    fn timed_step(&mut self) -> bool {
        let now = Instant::now();
        let since = *self.since.get_or_insert(now);
        let waited = now.saturating_duration_since(since);
        if waited < SPIN_FOR {
            for _ in 0..HINTS_PER_LOOK {
                std::hint::spin_loop();
            }
            true
        } else if waited < SPIN_FOR + YIELD_FOR {
            std::thread::yield_now();
            true
        } else {
            false
        }
    }
}

/// Batches a consumer's pulls from a fused upstream (an emitter's ring): before a pull, wait a
/// moment for [`Coalesce::DEPTH`] items to be ready rather than take the one or two there are.
///
/// A consumer that drains faster than its producer fills catches up with it, and then reads each
/// slot right after it was written, on the cache line the producer is writing next: the line
/// moves between the two cores for every item or two, both sides stall on it, and every pull
/// pays its fixed cost (the gate, the fences) for a couple of items. Waiting until the producer
/// is a few lines ahead keeps the two sides on different lines and makes each pull a batch (the
/// FastForward queue's "temporal slipping"). The wait is bounded by [`Coalesce::FOR`]; a wait that
/// runs out (a producer slower than that) turns batching off for the next
/// [`Coalesce::SKIP_AFTER_MISS`] pulls, so a trickle of items pays the wait once per that many
/// items, not per item.
#[derive(Debug, Default)]
pub(crate) struct Coalesce {
    /// Pulls left to make without waiting, after a wait that ran out.
    skip: u32,
}

impl Coalesce {
    /// How many items a pull waits for.
    pub(crate) const DEPTH: usize = 128;
    /// The longest wait before a pull.
    #[cfg_attr(loom, allow(dead_code))]
    pub(crate) const FOR: Duration = Duration::from_micros(2);
    /// Pulls made without waiting after a wait ran out.
    pub(crate) const SKIP_AFTER_MISS: u32 = 64;

    /// Before a pull: waits (bounded) until `deep_enough` says the batch is there.
    #[inline]
    pub(crate) fn before_pull(&mut self, mut deep_enough: impl FnMut() -> bool) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        if !deep_enough() && !Self::wait(deep_enough) {
            self.skip = Self::SKIP_AFTER_MISS;
        }
    }

    /// Polls `deep_enough` between short runs of spin-loop hints, for at most [`Self::FOR`].
    /// Under loom there is no wait: it would only multiply interleavings.
    #[inline(never)]
    fn wait(mut deep_enough: impl FnMut() -> bool) -> bool {
        #[cfg(loom)]
        {
            let _ = &mut deep_enough;
            true
        }
        #[cfg(not(loom))]
        {
            let start = Instant::now();
            loop {
                for _ in 0..4 {
                    for _ in 0..16 {
                        std::hint::spin_loop();
                    }
                    if deep_enough() {
                        return true;
                    }
                }
                if start.elapsed() >= Self::FOR {
                    return false;
                }
            }
        }
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
        self.park(ready, deadline)
    }

    /// [`wait`](Self::wait) that spins on `hint` rather than on `ready`: a cheap look that may
    /// miss or be stale (one that reads no line the producers write per item), while the look
    /// after the announcement, the one that decides to park, is `ready`'s.
    pub(crate) fn wait_hinted<R>(
        &self,
        mut hint: impl FnMut() -> Option<R>,
        ready: impl FnMut() -> Option<R>,
        deadline: Option<Instant>,
    ) -> Option<R> {
        if let Some(r) = spin_until(&mut hint) {
            return Some(r);
        }
        self.park(ready, deadline)
    }

    /// Announces, looks once more, and parks until `ready` answers or `deadline` passes.
    fn park<R>(
        &self,
        mut ready: impl FnMut() -> Option<R>,
        deadline: Option<Instant>,
    ) -> Option<R> {
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

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn a_deep_enough_batch_is_pulled_at_once() {
        let mut coalesce = Coalesce::default();
        let mut looks = 0;
        coalesce.before_pull(|| {
            looks += 1;
            true
        });
        assert_eq!(looks, 1);
        assert_eq!(coalesce.skip, 0);
    }

    #[test]
    fn a_wait_that_runs_out_turns_batching_off_for_a_while() {
        let mut coalesce = Coalesce::default();
        let mut looks = 0;
        coalesce.before_pull(|| {
            looks += 1;
            false
        });
        assert!(looks > 1, "it waited, looking more than once");
        // The next pulls go ahead without looking, then batching is tried again.
        let mut later = 0;
        for _ in 0..Coalesce::SKIP_AFTER_MISS {
            coalesce.before_pull(|| {
                later += 1;
                true
            });
        }
        assert_eq!(later, 0);
        coalesce.before_pull(|| {
            later += 1;
            true
        });
        assert_eq!(later, 1);
    }
}
