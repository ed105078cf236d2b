//! [`interval`]: a tick count on a scheduler, driven by the timed stages' shared core.

use std::time::Duration;

use crate::error::{Error, ErrorKind};
use crate::ops::timed::{next_tick, scheduler_or_default, Core, Logic, Setup, SharedScheduler};
use crate::ops::timed::{Step, Timed, TimedSubscriber};
use crate::protocol::Flux;
use crate::protocol::{NoopSubscription, Publisher, Subscriber};
use crate::sched::{Instant, Scheduler};

/// The publisher behind [`interval`] and [`interval_with`].
#[derive(Clone)]
pub struct Interval {
    period: Duration,
    scheduler: Option<SharedScheduler>,
}

impl std::fmt::Debug for Interval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interval")
            .field("period", &self.period)
            .finish_non_exhaustive()
    }
}

/// Emits `0, 1, 2, ...`, one every `period`, the first one `period` after subscription.
///
/// Runs on the shared default scheduler (a process-wide pool); choose another with
/// [`interval_with`] or [`Flux::scheduler`]. Cold: each subscriber gets its own count and clock.
/// It never completes; stop it with a cancel.
///
/// # Demand
///
/// A tick does not wait: a tick that finds no downstream demand fails the stream with
/// [`ErrorKind::Overflow`] (as Reactor's and RxJava's `interval` do) instead of queueing ticks
/// without bound. For a lossy clock, put a lossy stage after it, which requests unbounded:
/// `interval(p).drop_unrequested()` drops the ticks nobody asked for ([`DropReason::NoDemand`]), and
/// `interval(p).sample(q)` keeps the latest.
///
/// If the scheduler runs late, missed ticks are skipped, not fired in a burst; the count goes on
/// from where it was.
///
/// [`DropReason::NoDemand`]: crate::DropReason::NoDemand
///
/// # Panics
///
/// If `period` is zero.
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use std::time::Duration;
/// use backflow::prelude::*;
/// use backflow::sched::VirtualTime;
/// # struct Record(Arc<Mutex<Vec<u64>>>);
/// # impl Subscriber<u64> for Record {
/// #     fn on_subscribe(&mut self, s: SharedSubscription) { s.request(u64::MAX) }
/// #     fn on_next(&mut self, x: u64) { self.0.lock().unwrap().push(x) }
/// #     fn on_error(&mut self, e: Error) { panic!("{e}") }
/// #     fn on_complete(&mut self) {}
/// # }
///
/// let clock = VirtualTime::new();
/// let seen = Arc::new(Mutex::new(Vec::new()));
/// backflow::interval_with(Duration::from_secs(1), clock.clone()).subscribe(Record(seen.clone()));
/// clock.advance_by(Duration::from_millis(3500));
/// assert_eq!(*seen.lock().unwrap(), [0, 1, 2]); // at 1 s, 2 s and 3 s
/// ```
#[doc(alias = "tick")]
pub fn interval(period: Duration) -> Flux<Interval> {
    assert!(
        !period.is_zero(),
        "interval(0): the period must be positive"
    );
    Flux::new(Interval {
        period,
        scheduler: None,
    })
}

/// [`interval`] on `scheduler`: its clock, its timers, its thread.
///
/// # Panics
///
/// If `period` is zero.
pub fn interval_with<S: Scheduler + 'static>(period: Duration, scheduler: S) -> Flux<Interval> {
    interval(period).scheduler(scheduler)
}

impl Timed for Interval {
    fn set_scheduler(&mut self, scheduler: SharedScheduler) {
        self.scheduler = Some(scheduler);
    }
}

impl Publisher for Interval {
    type Item = u64;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<u64> + 'static,
    {
        let mut ticks = TimedSubscriber::new(Setup {
            downstream: subscriber,
            worker: scheduler_or_default(&self.scheduler).worker(),
            options: Default::default(),
            logic: IntervalLogic {
                period: self.period,
                due: 0,
                next: 0,
            },
        });
        // A source has no upstream: the core runs against a subscription that ignores it all.
        ticks.on_subscribe(NoopSubscription::shared());
    }
}

struct IntervalLogic {
    period: Duration,
    /// Ticks that came and are not emitted yet (0 or 1 unless the drain is held up).
    due: u64,
    /// The next value.
    next: u64,
}

impl Logic for IntervalLogic {
    type Item = u64;
    const DOWNSTREAM: &'static str = "interval's subscriber";

    fn start(&mut self, now: Instant) -> (Option<Instant>, u64) {
        (Some(now + self.period), 0)
    }

    fn on_next<S: Subscriber<u64> + 'static>(_core: &Core<Self, S>, _item: u64) {}

    fn on_timer(&mut self, deadline: Instant, now: Instant, _ending: bool) -> Option<Instant> {
        self.due += 1;
        Some(next_tick(deadline, self.period, now))
    }

    fn step(&mut self, demand: u64, _now: Instant, _ending: bool) -> Step<u64> {
        if self.due == 0 {
            return Step::Wait {
                wake_at: None,
                request: 0,
                empty: true,
            };
        }
        if demand == 0 {
            return Step::Fail(Error::new(
                ErrorKind::Overflow,
                format!(
                    "interval: tick {} came with no downstream demand (request more, or add a \
                     lossy stage such as drop() or sample())",
                    self.next
                ),
            ));
        }
        self.due -= 1;
        self.next += 1;
        Step::Emit(self.next - 1)
    }

    fn take_all(&mut self) -> Vec<u64> {
        Vec::new()
    }
}
