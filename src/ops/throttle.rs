//! The publisher, builder and logic behind [`Flux::throttle`](crate::Flux::throttle); the drain
//! loop is the timed stages' shared [`Core`](super::timed), the rate limit a
//! [`TokenBucket`](super::token_bucket).

use std::collections::VecDeque;
use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, StageOptions};
use crate::ops::timed::{scheduler_or_default, Core, Logic, Setup, SharedScheduler, Step};
use crate::ops::timed::{Timed, TimedSubscriber};
use crate::ops::token_bucket::TokenBucket;
use crate::protocol::{Publisher, Subscriber};
use crate::sched::{Instant, Scheduler};

/// What a [`throttle`](crate::Flux::throttle) does with an item that finds no token.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum ThrottleMode {
    /// Delay it until a token comes (and, meanwhile, request nothing more). Akka's `Shaping`; the
    /// default.
    #[default]
    Shaping,
    /// Fail the stream with [`ErrorKind::RateExceeded`], whose
    /// [`retry_after`](Error::retry_after) says when the next token comes. Akka's `Enforcing`.
    Enforcing,
}

/// Paces items with a token bucket. Built by [`Flux::throttle`](crate::Flux::throttle).
pub struct Throttle<P: Publisher> {
    upstream: P,
    elements: u64,
    per: Duration,
    burst: u64,
    mode: ThrottleMode,
    scheduler: Option<SharedScheduler>,
    options: StageOptions<P::Item>,
}

impl<P: Publisher + Clone> Clone for Throttle<P> {
    fn clone(&self) -> Self {
        Throttle {
            upstream: self.upstream.clone(),
            elements: self.elements,
            per: self.per,
            burst: self.burst,
            mode: self.mode,
            scheduler: self.scheduler.clone(),
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for Throttle<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Throttle")
            .field("upstream", &self.upstream)
            .field("elements", &self.elements)
            .field("per", &self.per)
            .field("burst", &self.burst)
            .field("mode", &self.mode)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher> Throttle<P> {
    pub(crate) fn new(upstream: P, elements: u64, per: Duration) -> Self {
        assert!(elements > 0, "throttle(0, _): the rate must be positive");
        assert!(
            !per.is_zero(),
            "throttle(_, 0): the period must be positive"
        );
        Throttle {
            upstream,
            elements,
            per,
            burst: elements,
            mode: ThrottleMode::default(),
            scheduler: None,
            options: StageOptions::default(),
        }
    }
}

impl<P: Publisher> Throttle<P> {
    /// The bucket's capacity (see [`Flux::burst`](crate::Flux::burst)).
    pub(crate) fn set_burst(&mut self, burst: u64) {
        self.burst = burst;
    }

    /// What an item that finds no token does (see [`Flux::mode`](crate::Flux::mode)).
    pub(crate) fn set_mode(&mut self, mode: ThrottleMode) {
        self.mode = mode;
    }
}

crate::ops::timed::timed_stage!(Throttle, P::Item);

impl<P> Publisher for Throttle<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        let worker = scheduler_or_default(&self.scheduler).worker();
        let bucket = TokenBucket::new(self.elements, self.per, self.burst, worker.now());
        self.upstream.subscribe(TimedSubscriber::new(Setup {
            downstream: subscriber,
            worker,
            options: self.options.clone(),
            logic: ThrottleLogic {
                elements: self.elements,
                per: self.per,
                burst: self.burst,
                mode: self.mode,
                bucket,
                queue: VecDeque::new(),
                outstanding: 0,
            },
        }))
    }
}

struct ThrottleLogic<T> {
    elements: u64,
    per: Duration,
    burst: u64,
    mode: ThrottleMode,
    bucket: TokenBucket,
    /// Items received and not emitted yet: waiting for a token (shaping) or for the drain. At most
    /// `burst` (`queue.len() + outstanding <= min(downstream demand, burst)`).
    queue: VecDeque<T>,
    /// Requested upstream and not received yet.
    outstanding: u64,
}

impl<T> ThrottleLogic<T> {
    fn rate_exceeded(&self, retry_after: Duration) -> Error {
        Error::with_retry_after(
            ErrorKind::RateExceeded,
            format!(
                "rate exceeded: throttle of {} per {:?} (burst {}) got an item {:?} before its token",
                self.elements, self.per, self.burst, retry_after
            ),
            Some(retry_after),
        )
    }
}

impl<T: Send + 'static> Logic for ThrottleLogic<T> {
    type Item = T;
    const DOWNSTREAM: &'static str = "throttle's downstream";

    fn start(&mut self, now: Instant) -> (Option<Instant>, u64) {
        // The bucket starts full at subscription; the first request comes with downstream demand.
        self.bucket = TokenBucket::new(self.elements, self.per, self.burst, now);
        (None, 0)
    }

    fn on_next<S: Subscriber<T> + 'static>(core: &Core<Self, S>, item: T) {
        let metrics = core.options().metrics();
        if let Some(m) = metrics {
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
            return core.fail(Error::overflow("throttle"));
        }
        logic.outstanding -= 1;
        match logic.mode {
            ThrottleMode::Shaping => {
                // Delayed: the tokens there now go to the items ahead of it first.
                let delayed = logic.bucket.available(now) <= logic.queue.len() as u64;
                logic.queue.push_back(item);
                drop(held);
                if delayed {
                    if let Some(m) = metrics {
                        m.record_throttled(1);
                    }
                }
            }
            ThrottleMode::Enforcing => match logic.bucket.try_acquire(now, 1) {
                Ok(()) => {
                    logic.queue.push_back(item);
                    drop(held);
                }
                Err(retry_after) => {
                    let error = logic.rate_exceeded(retry_after);
                    drop(held);
                    if let Some(m) = metrics {
                        m.record_throttled(1);
                    }
                    core.options().discard(item, DropReason::Throttled);
                    return core.fail(error);
                }
            },
        }
        core.drain();
    }

    fn on_timer(&mut self, _deadline: Instant, _now: Instant, _ending: bool) -> Option<Instant> {
        // A token came: the drain that follows emits.
        None
    }

    fn step(&mut self, demand: u64, now: Instant, ending: bool) -> Step<T> {
        let mut wake_at = None;
        if !self.queue.is_empty() && demand > 0 {
            // Enforcing took the token when the item arrived.
            let token = match self.mode {
                ThrottleMode::Enforcing => Ok(()),
                ThrottleMode::Shaping => self.bucket.try_acquire(now, 1),
            };
            match token {
                Ok(()) => return Step::Emit(self.queue.pop_front().expect("not empty")),
                Err(wait) => wake_at = Some(now + wait),
            }
        }
        let mut request = 0;
        if !ending {
            let cap = demand.min(self.burst);
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
