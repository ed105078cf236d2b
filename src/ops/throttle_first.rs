//! The publisher and subscriber behind [`Flux::throttle_first`](crate::Flux::throttle_first).

use std::time::Duration;

use crate::demand::{Demand, UNBOUNDED};
use crate::error::Error;
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, StageOptions};
use crate::ops::timed::{SharedScheduler, Timed};
use crate::protocol::{Publisher, SharedSubscription, Subscriber, Subscription};
use crate::sched::{Instant, Scheduler};
use crate::sync::StdArc;

/// Emits an item, then drops items for a window. Built by
/// [`Flux::throttle_first`](crate::Flux::throttle_first).
pub struct ThrottleFirst<P: Publisher> {
    upstream: P,
    window: Duration,
    scheduler: Option<SharedScheduler>,
    options: StageOptions<P::Item>,
}

impl<P: Publisher + Clone> Clone for ThrottleFirst<P> {
    fn clone(&self) -> Self {
        ThrottleFirst {
            upstream: self.upstream.clone(),
            window: self.window,
            scheduler: self.scheduler.clone(),
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for ThrottleFirst<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ThrottleFirst")
            .field("upstream", &self.upstream)
            .field("window", &self.window)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher> ThrottleFirst<P> {
    pub(crate) fn new(upstream: P, window: Duration) -> Self {
        ThrottleFirst {
            upstream,
            window,
            scheduler: None,
            options: StageOptions::default(),
        }
    }
}

crate::ops::timed::timed_stage!(ThrottleFirst, P::Item);

impl<P> Publisher for ThrottleFirst<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        // Only the clock is read, no timer runs: without a chosen scheduler, the real clock (the
        // immediate scheduler starts no thread for that).
        let clock: SharedScheduler = match &self.scheduler {
            Some(scheduler) => scheduler.clone(),
            None => StdArc::new(crate::sched::immediate()),
        };
        self.upstream.subscribe(ThrottleFirstSubscriber {
            downstream: subscriber,
            demand: StdArc::new(Demand::new()),
            clock,
            window: self.window,
            quiet_until: None,
            options: self.options.clone(),
        })
    }
}

struct ThrottleFirstSubscriber<S, T> {
    downstream: S,
    /// Downstream demand: added by `request` on any thread, spent by `on_next` (upstream's thread).
    demand: StdArc<Demand>,
    clock: SharedScheduler,
    window: Duration,
    /// The end of the window opened by the last emitted item: items before it are dropped.
    quiet_until: Option<Instant>,
    options: StageOptions<T>,
}

struct ThrottleFirstSubscription {
    upstream: SharedSubscription,
    demand: StdArc<Demand>,
}

impl Subscription for ThrottleFirstSubscription {
    fn request(&self, n: u64) {
        if n == 0 {
            // Let the upstream answer with the rule 3.9 error, through its serialised signal path.
            self.upstream.request(0);
        } else {
            self.demand.add(n);
        }
    }

    fn cancel(&self) {
        self.upstream.cancel()
    }
}

impl<S, T> Subscriber<T> for ThrottleFirstSubscriber<S, T>
where
    S: Subscriber<T>,
    T: Send,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.downstream
            .on_subscribe(StdArc::new(ThrottleFirstSubscription {
                upstream: subscription.clone(),
                demand: self.demand.clone(),
            }));
        if let Some(m) = self.options.metrics() {
            m.record_requested(UNBOUNDED);
        }
        // Lossy: ask for everything and discard what the window refuses (SEMANTICS §2).
        subscription.request(UNBOUNDED);
    }

    fn on_next(&mut self, item: T) {
        let metrics = self.options.metrics();
        if let Some(m) = metrics {
            m.record_received(1);
        }
        let now = self.clock.now();
        if self.quiet_until.is_some_and(|until| now < until) {
            if let Some(m) = metrics {
                m.record_throttled(1);
            }
            return self.options.discard(item, DropReason::Throttled);
        }
        if self.demand.get() == 0 {
            // RxJava signals MissingBackpressureException here; a lossy stage drops instead.
            return self.options.discard(item, DropReason::NoDemand);
        }
        self.demand.produced(1);
        self.quiet_until = Some(now + self.window);
        if let Some(m) = metrics {
            m.record_emitted(1);
        }
        self.downstream.on_next(item)
    }

    fn on_error(&mut self, error: Error) {
        self.downstream.on_error(error)
    }

    fn on_complete(&mut self) {
        self.downstream.on_complete()
    }
}
