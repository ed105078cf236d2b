//! The publisher and logic behind [`Flux::sample`](crate::Flux::sample); the drain loop is the
//! timed stages' shared [`Core`](super::timed).

use std::time::Duration;

use crate::demand::UNBOUNDED;
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, StageOptions};
use crate::ops::timed::{next_tick, scheduler_or_default, Core, Logic, Setup, SharedScheduler};
use crate::ops::timed::{Step, Timed, TimedSubscriber};
use crate::protocol::{Publisher, Subscriber};
use crate::sched::{Instant, Scheduler};

/// Emits the latest item once per period. Built by [`Flux::sample`](crate::Flux::sample).
pub struct Sample<P: Publisher> {
    upstream: P,
    period: Duration,
    scheduler: Option<SharedScheduler>,
    options: StageOptions<P::Item>,
}

impl<P: Publisher + Clone> Clone for Sample<P> {
    fn clone(&self) -> Self {
        Sample {
            upstream: self.upstream.clone(),
            period: self.period,
            scheduler: self.scheduler.clone(),
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for Sample<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sample")
            .field("upstream", &self.upstream)
            .field("period", &self.period)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher> Sample<P> {
    pub(crate) fn new(upstream: P, period: Duration) -> Self {
        assert!(!period.is_zero(), "sample(0): the period must be positive");
        Sample {
            upstream,
            period,
            scheduler: None,
            options: StageOptions::default(),
        }
    }
}

crate::ops::timed::timed_stage!(Sample, P::Item);

impl<P> Publisher for Sample<P>
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
            logic: SampleLogic {
                period: self.period,
                latest: None,
                tick: false,
            },
        }))
    }
}

struct SampleLogic<T> {
    period: Duration,
    /// The latest item since the last emission.
    latest: Option<T>,
    /// A tick happened that the drain has not served yet.
    tick: bool,
}

impl<T: Send + 'static> Logic for SampleLogic<T> {
    type Item = T;
    const DOWNSTREAM: &'static str = "sample's downstream";

    fn start(&mut self, now: Instant) -> (Option<Instant>, u64) {
        // Lossy stages absorb overload by discarding: ask for everything (SEMANTICS §2).
        (Some(now + self.period), UNBOUNDED)
    }

    fn on_next<S: Subscriber<T> + 'static>(core: &Core<Self, S>, item: T) {
        if let Some(m) = core.options().metrics() {
            m.record_received(1);
        }
        let (dropped, reason) = {
            let mut held = core.lock();
            if held.accepting() {
                (held.logic.latest.replace(item), DropReason::Overwritten)
            } else {
                (Some(item), DropReason::Cancelled)
            }
        };
        if let Some(item) = dropped {
            core.options().discard(item, reason);
        }
    }

    fn on_timer(&mut self, deadline: Instant, now: Instant, ending: bool) -> Option<Instant> {
        if ending {
            // What is held goes as soon as there is demand; no more ticks.
            return None;
        }
        self.tick = true;
        Some(next_tick(deadline, self.period, now))
    }

    fn step(&mut self, demand: u64, _now: Instant, ending: bool) -> Step<T> {
        if std::mem::take(&mut self.tick) && demand > 0 {
            if let Some(item) = self.latest.take() {
                return Step::Emit(item);
            }
        }
        // Reactor emits the last item before completing; without demand, the end waits for it.
        if ending && demand > 0 {
            if let Some(item) = self.latest.take() {
                return Step::Emit(item);
            }
        }
        Step::Wait {
            wake_at: None,
            request: 0,
            empty: self.latest.is_none(),
        }
    }

    fn take_all(&mut self) -> Vec<T> {
        self.latest.take().into_iter().collect()
    }
}
