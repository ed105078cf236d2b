//! The publisher and logic behind [`Flux::delay`](crate::Flux::delay); the drain loop is the timed
//! stages' shared [`Core`](super::timed).

use std::collections::VecDeque;
use std::time::Duration;

use crate::error::Error;
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, StageOptions};
use crate::ops::timed::{scheduler_or_default, Core, Logic, Setup, SharedScheduler, Step};
use crate::ops::timed::{Timed, TimedSubscriber};
use crate::protocol::{Publisher, Subscriber};
use crate::sched::{Instant, Scheduler};

/// How many items `delay` holds (and so asks for ahead) at most, by default.
pub const DELAY_CAPACITY: usize = 32;

/// Shifts each item later by a fixed time, keeping the order. Built by
/// [`Flux::delay`](crate::Flux::delay).
pub struct Delay<P: Publisher> {
    upstream: P,
    by: Duration,
    capacity: usize,
    scheduler: Option<SharedScheduler>,
    options: StageOptions<P::Item>,
}

impl<P: Publisher + Clone> Clone for Delay<P> {
    fn clone(&self) -> Self {
        Delay {
            upstream: self.upstream.clone(),
            by: self.by,
            capacity: self.capacity,
            scheduler: self.scheduler.clone(),
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for Delay<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delay")
            .field("upstream", &self.upstream)
            .field("by", &self.by)
            .field("capacity", &self.capacity)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher> Delay<P> {
    pub(crate) fn new(upstream: P, by: Duration, capacity: usize) -> Self {
        assert!(capacity > 0, "delay: the capacity must be at least 1");
        Delay {
            upstream,
            by,
            capacity,
            scheduler: None,
            options: StageOptions::default(),
        }
    }
}

crate::ops::timed::timed_stage!(Delay, P::Item);

impl<P> Publisher for Delay<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        self.upstream.subscribe(TimedSubscriber::new(Setup {
            downstream: subscriber,
            worker: scheduler_or_default(&self.scheduler).worker(),
            options: self.options.clone(),
            logic: DelayLogic {
                by: self.by,
                capacity: self.capacity,
                queue: VecDeque::new(),
                outstanding: 0,
            },
        }))
    }
}

struct DelayLogic<T> {
    by: Duration,
    capacity: usize,
    /// Held items with the time each becomes due, in arrival (and so due) order.
    queue: VecDeque<(Instant, T)>,
    /// Requested upstream and not yet received. Invariant: `queue.len() + outstanding <= capacity`.
    outstanding: u64,
}

impl<T: Send + 'static> Logic for DelayLogic<T> {
    type Item = T;
    const DOWNSTREAM: &'static str = "delay's downstream";

    fn start(&mut self, _now: Instant) -> (Option<Instant>, u64) {
        self.outstanding = self.capacity as u64;
        (None, self.outstanding)
    }

    fn on_next<S: Subscriber<T> + 'static>(core: &Core<Self, S>, item: T) {
        if let Some(m) = core.options().metrics() {
            m.record_received(1);
        }
        let now = core.now();
        let mut held = core.lock();
        if !held.accepting() {
            drop(held);
            return core.options().discard(item, DropReason::Cancelled);
        }
        let logic = &mut held.logic;
        if logic.outstanding == 0 {
            // More than requested: refuse to grow, fail (RxJava's MissingBackpressureException).
            drop(held);
            core.options().discard(item, DropReason::Overflow);
            return core.fail(Error::overflow("delay"));
        }
        logic.outstanding -= 1;
        let due = now + logic.by;
        logic.queue.push_back((due, item));
        drop(held);
        // One timer per stage: a pending one (for an earlier item) re-arms for the next due time.
        core.arm(due);
    }

    fn on_timer(&mut self, _deadline: Instant, now: Instant, _ending: bool) -> Option<Instant> {
        // The head item is due (the drain emits it) or still ahead: wait for it.
        self.queue
            .front()
            .map(|(due, _)| *due)
            .filter(|due| *due > now)
    }

    fn step(&mut self, demand: u64, now: Instant, ending: bool) -> Step<T> {
        if demand > 0 && self.queue.front().is_some_and(|(due, _)| *due <= now) {
            let (_, item) = self.queue.pop_front().expect("checked");
            return Step::Emit(item);
        }
        let request = if ending {
            0
        } else {
            let room = (self.capacity - self.queue.len()) as u64;
            let mut request = room.saturating_sub(self.outstanding);
            // In batches of a quarter (items still owed keep the stage busy meanwhile).
            if request < (self.capacity as u64 / 4).max(1) {
                request = 0;
            }
            self.outstanding += request;
            request
        };
        Step::Wait {
            wake_at: self
                .queue
                .front()
                .map(|(due, _)| *due)
                .filter(|due| *due > now),
            request,
            empty: self.queue.is_empty(),
        }
    }

    fn take_all(&mut self) -> Vec<T> {
        self.queue.drain(..).map(|(_, item)| item).collect()
    }
}
