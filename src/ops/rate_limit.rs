//! The publisher and logic behind [`Flux::rate_limit`](crate::Flux::rate_limit): items paced by a
//! shared [`RateLimiter`]; the drain loop is the timed stages' shared [`Core`](super::timed).

use std::collections::VecDeque;

use crate::error::Error;
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, StageOptions};
use crate::ops::timed::{Core, Logic, Setup, TimedSubscriber};
use crate::protocol::{Publisher, Subscriber};
use crate::resilience::rate::RateLimiter;
use crate::sched::{Instant, Scheduler};

/// Paces items by a rate limiter other streams may share. Built by
/// [`Flux::rate_limit`](crate::Flux::rate_limit).
pub struct RateLimit<P: Publisher> {
    upstream: P,
    limiter: RateLimiter,
    options: StageOptions<P::Item>,
}

impl<P: Publisher + Clone> Clone for RateLimit<P> {
    fn clone(&self) -> Self {
        RateLimit {
            upstream: self.upstream.clone(),
            limiter: self.limiter.clone(),
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for RateLimit<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimit")
            .field("upstream", &self.upstream)
            .field("limiter", &self.limiter)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher> RateLimit<P> {
    pub(crate) fn new(upstream: P, limiter: &RateLimiter) -> Self {
        RateLimit {
            upstream,
            limiter: limiter.clone(),
            options: StageOptions::default(),
        }
    }
}

impl<P: Publisher> Configurable for RateLimit<P> {
    type Dropped = P::Item;
    fn options_mut(&mut self) -> &mut StageOptions<P::Item> {
        &mut self.options
    }
}

impl<P> Publisher for RateLimit<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        // The limiter's clock is the stage's clock: its timers wait for the limiter's permits.
        let worker = self.limiter.clock().worker();
        self.upstream.subscribe(TimedSubscriber::new(Setup {
            downstream: subscriber,
            worker,
            options: self.options.clone(),
            logic: RateLimitLogic {
                window: self.limiter.burst(),
                limiter: self.limiter.clone(),
                queue: VecDeque::new(),
                outstanding: 0,
            },
        }))
    }
}

struct RateLimitLogic<T> {
    limiter: RateLimiter,
    /// The most items requested or held at once: the limiter's burst.
    window: u64,
    /// Items received, waiting for a permit or for demand; `queue.len() + outstanding <= window`.
    queue: VecDeque<T>,
    /// Requested upstream and not received yet.
    outstanding: u64,
}

impl<T: Send + 'static> Logic for RateLimitLogic<T> {
    type Item = T;
    const DOWNSTREAM: &'static str = "rate_limit's downstream";

    fn start(&mut self, _now: Instant) -> (Option<Instant>, u64) {
        (None, 0)
    }

    fn on_next<S: Subscriber<T> + 'static>(core: &Core<Self, S>, item: T) {
        if let Some(m) = core.options().metrics() {
            m.record_received(1);
        }
        let mut held = core.lock();
        if !held.accepting() {
            drop(held);
            return core.options().discard(item, DropReason::Cancelled);
        }
        if held.logic.outstanding == 0 {
            drop(held);
            core.options().discard(item, DropReason::Overflow);
            return core.fail(Error::overflow("rate_limit"));
        }
        held.logic.outstanding -= 1;
        held.logic.queue.push_back(item);
        drop(held);
        core.drain();
    }

    fn on_timer(&mut self, _deadline: Instant, _now: Instant, _ending: bool) -> Option<Instant> {
        None
    }

    fn step(&mut self, demand: u64, now: Instant, ending: bool) -> crate::ops::timed::Step<T> {
        use crate::ops::timed::Step;
        let mut wake_at = None;
        if !self.queue.is_empty() && demand > 0 {
            match self.limiter.try_acquire(1) {
                Ok(()) => return Step::Emit(self.queue.pop_front().expect("not empty")),
                Err(refused) => {
                    // Another sharer may take the permit first: the timer then asks again.
                    wake_at = Some(now + refused.retry_after.unwrap_or(self.limiter.interval()));
                }
            }
        }
        let mut request = 0;
        if !ending {
            let cap = demand.min(self.window);
            let in_flight = self.outstanding + self.queue.len() as u64;
            if cap > in_flight {
                request = cap - in_flight;
                self.outstanding += request;
            }
        }
        Step::Wait {
            wake_at,
            request,
            empty: self.queue.is_empty(),
        }
    }

    fn take_all(&mut self) -> Vec<T> {
        self.queue.drain(..).collect()
    }
}
