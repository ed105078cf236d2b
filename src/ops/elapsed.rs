//! The publisher behind [`Flux::elapsed`](crate::Flux::elapsed); its subscriber is
//! [`timestamp`](super::timestamp)'s clock reader.

use std::time::Duration;

use crate::ops::timed::{SharedScheduler, Timed};
use crate::ops::timestamp::{clock_of, ClockSubscriber, ElapsedSubscriber};
use crate::protocol::{Publisher, Subscriber};

/// Pairs each item with the time since the previous one (or the subscription). Built by
/// [`Flux::elapsed`](crate::Flux::elapsed).
#[derive(Clone)]
pub struct Elapsed<P> {
    upstream: P,
    scheduler: Option<SharedScheduler>,
}

impl<P: std::fmt::Debug> std::fmt::Debug for Elapsed<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Elapsed")
            .field("upstream", &self.upstream)
            .finish_non_exhaustive()
    }
}

impl<P> Elapsed<P> {
    pub(crate) fn new(upstream: P) -> Self {
        Elapsed {
            upstream,
            scheduler: None,
        }
    }
}

impl<P> Timed for Elapsed<P> {
    fn set_scheduler(&mut self, scheduler: SharedScheduler) {
        self.scheduler = Some(scheduler);
    }
}

impl<P> Publisher for Elapsed<P>
where
    P: Publisher,
    P::Item: 'static,
{
    type Item = (Duration, P::Item);

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<(Duration, P::Item)> + 'static,
    {
        self.upstream.subscribe(ElapsedSubscriber(ClockSubscriber {
            downstream: subscriber,
            clock: clock_of(&self.scheduler),
            last: None,
        }))
    }
}
