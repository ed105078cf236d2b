//! The publisher and subscriber behind [`Flux::timestamp`](crate::Flux::timestamp).

use std::time::Duration;

use crate::error::Error;
use crate::ops::timed::{SharedScheduler, Timed};
use crate::protocol::{Publisher, SharedSubscription, Subscriber};
use crate::sched::{Instant, Scheduler};
use crate::sync::StdArc;

/// Pairs each item with the time it passed. Built by [`Flux::timestamp`](crate::Flux::timestamp).
#[derive(Clone)]
pub struct Timestamp<P> {
    upstream: P,
    scheduler: Option<SharedScheduler>,
}

impl<P: std::fmt::Debug> std::fmt::Debug for Timestamp<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Timestamp")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl<P> Timestamp<P> {
    pub(crate) fn new(upstream: P) -> Self {
        Timestamp {
            upstream,
            scheduler: None,
        }
    }
}

impl<P> Timed for Timestamp<P> {
    fn set_scheduler(&mut self, scheduler: SharedScheduler) {
        self.scheduler = Some(scheduler);
    }
}

/// The clock of a stage that only reads time: the chosen scheduler's, or the real clock (the
/// immediate scheduler starts no thread for that).
pub(crate) fn clock_of(chosen: &Option<SharedScheduler>) -> SharedScheduler {
    match chosen {
        Some(scheduler) => scheduler.clone(),
        None => StdArc::new(crate::sched::immediate()),
    }
}

impl<P> Publisher for Timestamp<P>
where
    P: Publisher,
    P::Item: 'static,
{
    type Item = (Instant, P::Item);

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<(Instant, P::Item)> + 'static,
    {
        self.upstream.subscribe(ClockSubscriber {
            downstream: subscriber,
            clock: clock_of(&self.scheduler),
            last: None,
        })
    }
}

/// The 1:1 subscriber of `timestamp` and `elapsed`.
pub(crate) struct ClockSubscriber<S> {
    pub(crate) downstream: S,
    pub(crate) clock: SharedScheduler,
    /// `elapsed`: when the previous item (or the subscription) came.
    pub(crate) last: Option<Instant>,
}

impl<S> ClockSubscriber<S> {
    #[inline]
    fn since_last(&mut self) -> Duration {
        let now = self.clock.now();
        let since = self
            .last
            .map_or(Duration::ZERO, |last| now.saturating_duration_since(last));
        self.last = Some(now);
        since
    }
}

impl<T, S: Subscriber<(Instant, T)>> Subscriber<T> for ClockSubscriber<S> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        // 1:1: demand passes through unchanged.
        self.downstream.on_subscribe(subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        let now = self.clock.now();
        self.downstream.on_next((now, item))
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        let now = self.clock.now();
        self.downstream.try_on_next((now, item))
    }

    fn on_error(&mut self, error: Error) {
        self.downstream.on_error(error)
    }

    fn on_complete(&mut self) {
        self.downstream.on_complete()
    }
}

/// The `elapsed` face of the same subscriber.
pub(crate) struct ElapsedSubscriber<S>(pub(crate) ClockSubscriber<S>);

impl<T, S: Subscriber<(Duration, T)>> Subscriber<T> for ElapsedSubscriber<S> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.0.last = Some(self.0.clock.now());
        self.0.downstream.on_subscribe(subscription)
    }

    #[inline]
    fn on_next(&mut self, item: T) {
        let since = self.0.since_last();
        self.0.downstream.on_next((since, item))
    }

    #[inline]
    fn try_on_next(&mut self, item: T) -> bool {
        let since = self.0.since_last();
        self.0.downstream.try_on_next((since, item))
    }

    fn on_error(&mut self, error: Error) {
        self.0.downstream.on_error(error)
    }

    fn on_complete(&mut self) {
        self.0.downstream.on_complete()
    }
}
