//! The publisher behind [`Flux::repeat`](crate::Flux::repeat) and
//! [`Flux::repeat_when`](crate::Flux::repeat_when), on the resubscription core of
//! [`retry`](super::retry).

use std::time::Duration;

use crate::error::Error;
use crate::ops::retry::{subscribe_resubscribing, Decision, Policy};
use crate::ops::timed::{scheduler_or_default, SharedScheduler, Timed};
use crate::protocol::{Publisher, Subscriber};
use crate::resilience::retry::Backoff;
use crate::sched::Scheduler;
use crate::sync::StdArc;

/// Resubscribes to its source after it completes. Built by [`Flux::repeat`](crate::Flux::repeat)
/// and [`Flux::repeat_when`](crate::Flux::repeat_when).
pub struct Repeat<P, B> {
    source: StdArc<P>,
    delays: B,
    scheduler: Option<SharedScheduler>,
}

impl<P, B: Clone> Clone for Repeat<P, B> {
    fn clone(&self) -> Self {
        Repeat {
            source: self.source.clone(),
            delays: self.delays.clone(),
            scheduler: self.scheduler.clone(),
        }
    }
}

impl<P: std::fmt::Debug, B> std::fmt::Debug for Repeat<P, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repeat")
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

impl<P, B> Repeat<P, B> {
    pub(crate) fn new(source: P, delays: B) -> Self {
        Repeat {
            source: StdArc::new(source),
            delays,
            scheduler: None,
        }
    }
}

impl<P, B> Timed for Repeat<P, B> {
    fn set_scheduler(&mut self, scheduler: SharedScheduler) {
        self.scheduler = Some(scheduler);
    }
}

struct RepeatPolicy<D> {
    delays: D,
}

impl<D: Iterator<Item = Duration> + Send + 'static> Policy for RepeatPolicy<D> {
    fn decide(&mut self, end: Result<(), Error>) -> Decision {
        match end {
            Err(error) => Decision::End(Err(error)),
            Ok(()) => match self.delays.next() {
                Some(delay) => Decision::Resubscribe(delay),
                None => Decision::End(Ok(())),
            },
        }
    }
}

impl<P, B> Publisher for Repeat<P, B>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
    B: Backoff,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        let policy = RepeatPolicy {
            delays: self.delays.delays(),
        };
        subscribe_resubscribing(
            &self.source,
            scheduler_or_default(&self.scheduler).worker(),
            policy,
            false,
            None,
            subscriber,
        );
    }
}
