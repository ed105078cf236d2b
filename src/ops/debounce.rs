//! The publisher and logic behind [`Flux::debounce`](crate::Flux::debounce); the drain loop is
//! the timed stages' shared [`Core`](super::timed).

use std::time::Duration;

use crate::demand::UNBOUNDED;
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, StageOptions};
use crate::ops::timed::{scheduler_or_default, Core, Logic, Setup, SharedScheduler, Step};
use crate::ops::timed::{Timed, TimedSubscriber};
use crate::protocol::{Publisher, Subscriber};
use crate::sched::{Instant, Scheduler};

/// Emits an item once no newer one came for a quiet period. Built by
/// [`Flux::debounce`](crate::Flux::debounce).
pub struct Debounce<P: Publisher> {
    upstream: P,
    quiet: Duration,
    scheduler: Option<SharedScheduler>,
    options: StageOptions<P::Item>,
}

impl<P: Publisher + Clone> Clone for Debounce<P> {
    fn clone(&self) -> Self {
        Debounce {
            upstream: self.upstream.clone(),
            quiet: self.quiet,
            scheduler: self.scheduler.clone(),
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for Debounce<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Debounce")
            .field("upstream", &self.upstream)
            .field("quiet", &self.quiet)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher> Debounce<P> {
    pub(crate) fn new(upstream: P, quiet: Duration) -> Self {
        Debounce {
            upstream,
            quiet,
            scheduler: None,
            options: StageOptions::default(),
        }
    }
}

crate::ops::timed::timed_stage!(Debounce, P::Item);

impl<P> Publisher for Debounce<P>
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
            logic: DebounceLogic {
                quiet: self.quiet,
                held: None,
                due: Instant::EPOCH,
                ready: false,
            },
        }))
    }
}

struct DebounceLogic<T> {
    quiet: Duration,
    /// The latest item, not emitted yet.
    held: Option<T>,
    /// When `held` becomes due: `quiet` after it arrived.
    due: Instant,
    /// `held` is due and waits for demand.
    ready: bool,
}

impl<T: Send + 'static> Logic for DebounceLogic<T> {
    type Item = T;
    const DOWNSTREAM: &'static str = "debounce's downstream";

    fn start(&mut self, _now: Instant) -> (Option<Instant>, u64) {
        // Lossy stages absorb overload by discarding: ask for everything (SEMANTICS §2).
        (None, UNBOUNDED)
    }

    fn on_next<S: Subscriber<T> + 'static>(core: &Core<Self, S>, item: T) {
        if let Some(m) = core.options().metrics() {
            m.record_received(1);
        }
        let now = core.now();
        let (dropped, reason, due) = {
            let mut held = core.lock();
            if held.accepting() {
                let logic = &mut held.logic;
                logic.due = now + logic.quiet;
                logic.ready = false;
                let previous = logic.held.replace(item);
                (previous, DropReason::Overwritten, Some(logic.due))
            } else {
                (Some(item), DropReason::Cancelled, None)
            }
        };
        if let Some(item) = dropped {
            core.options().discard(item, reason);
        }
        // One timer per stage, not per item: a pending timer finds the new due time when it
        // fires and re-arms for it.
        if let Some(due) = due {
            core.arm(due);
        }
    }

    fn on_timer(&mut self, _deadline: Instant, now: Instant, ending: bool) -> Option<Instant> {
        if ending || self.held.is_none() || self.ready {
            return None;
        }
        if now >= self.due {
            self.ready = true;
            None
        } else {
            Some(self.due)
        }
    }

    fn step(&mut self, demand: u64, _now: Instant, ending: bool) -> Step<T> {
        // On completion the held item goes at once, as in Reactor and RxJava.
        if (self.ready || ending) && demand > 0 {
            if let Some(item) = self.held.take() {
                self.ready = false;
                return Step::Emit(item);
            }
        }
        Step::Wait {
            wake_at: None,
            request: 0,
            empty: self.held.is_none(),
        }
    }

    fn take_all(&mut self) -> Vec<T> {
        self.ready = false;
        self.held.take().into_iter().collect()
    }
}
