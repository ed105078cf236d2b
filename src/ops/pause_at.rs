//! The publisher and logic behind [`Flux::pause_at`](crate::Flux::pause_at): a buffer with two
//! watermarks, on the timed stages' shared [`Core`](super::timed) (it arms no timer).
//!
//! The logic decides under the core's lock; the hooks run outside it: `on_pause` on the upstream
//! side right after the item that filled the stage to `high` is held, `on_resume` in the request
//! that resumes the upstream (the upstream subscription is wrapped to see it), so no user code
//! ever runs under the lock.

use std::collections::VecDeque;

use crate::error::Error;
use crate::metrics::DropReason;
use crate::ops::stage::{Configurable, StageOptions};
use crate::ops::timed::{Core, Logic, Setup, Step, TimedSubscriber};
use crate::protocol::{catch, Publisher, SharedSubscription, Subscriber, Subscription};
use crate::sched::{Instant, Scheduler as _};
use crate::sync::{AtomicBool, Ordering, StdArc};

type Hook = StdArc<dyn Fn() + Send + Sync>;

/// Holds up to `high` items; stops requesting at `high`, resumes at `low`. Built by
/// [`Flux::pause_at`](crate::Flux::pause_at).
pub struct PauseAt<P: Publisher> {
    upstream: P,
    high: u64,
    low: u64,
    on_pause: Option<Hook>,
    on_resume: Option<Hook>,
    options: StageOptions<P::Item>,
}

impl<P: Publisher + Clone> Clone for PauseAt<P> {
    fn clone(&self) -> Self {
        PauseAt {
            upstream: self.upstream.clone(),
            high: self.high,
            low: self.low,
            on_pause: self.on_pause.clone(),
            on_resume: self.on_resume.clone(),
            options: self.options.clone(),
        }
    }
}

impl<P: Publisher + std::fmt::Debug> std::fmt::Debug for PauseAt<P> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PauseAt")
            .field("upstream", &self.upstream)
            .field("high", &self.high)
            .field("low", &self.low)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl<P: Publisher> PauseAt<P> {
    pub(crate) fn new(upstream: P, high: u64, low: u64) -> Self {
        assert!(high > 0, "pause_at(0, _): the stage must hold an item");
        assert!(
            low < high,
            "pause_at({high}, {low}): low must be below high"
        );
        PauseAt {
            upstream,
            high,
            low,
            on_pause: None,
            on_resume: None,
            options: StageOptions::default(),
        }
    }

    pub(crate) fn set_on_pause(&mut self, hook: Hook) {
        self.on_pause = Some(hook);
    }

    pub(crate) fn set_on_resume(&mut self, hook: Hook) {
        self.on_resume = Some(hook);
    }
}

impl<P: Publisher> Configurable for PauseAt<P> {
    type Dropped = P::Item;
    fn options_mut(&mut self) -> &mut StageOptions<P::Item> {
        &mut self.options
    }
}

impl<P> Publisher for PauseAt<P>
where
    P: Publisher,
    P::Item: Send + 'static,
{
    type Item = P::Item;

    fn subscribe<S>(&self, subscriber: S)
    where
        S: Subscriber<P::Item> + 'static,
    {
        let hooks = StdArc::new(Hooks {
            on_pause: self.on_pause.clone(),
            on_resume: self.on_resume.clone(),
            resuming: AtomicBool::new(false),
            metrics: self.options.metrics.clone(),
        });
        let core_side = TimedSubscriber::new(Setup {
            downstream: subscriber,
            // No timer is ever armed; the worker only serves the core's clock reads.
            worker: crate::sched::immediate().worker(),
            options: self.options.clone(),
            logic: PauseLogic {
                high: self.high,
                low: self.low,
                queue: VecDeque::new(),
                outstanding: 0,
                paused: false,
                hooks: hooks.clone(),
            },
        });
        self.upstream.subscribe(Tap {
            inner: core_side,
            hooks,
        })
    }
}

struct Hooks {
    on_pause: Option<Hook>,
    on_resume: Option<Hook>,
    /// Set under the core's lock when the logic resumes; taken by the request that follows it,
    /// which runs the `on_resume` hook. AcqRel: the swap sees the store of the same drain pass.
    resuming: AtomicBool,
    metrics: Option<StdArc<crate::metrics::StageMetrics>>,
}

impl Hooks {
    fn run(hook: &Option<Hook>, name: &str) {
        if let Some(hook) = hook {
            if let Err(panic) = catch(name, || hook()) {
                crate::error::report_undeliverable(&panic);
            }
        }
    }
}

/// Sits between the upstream and the core to see the core's requests.
struct Tap<C> {
    inner: C,
    hooks: StdArc<Hooks>,
}

struct TapSubscription {
    upstream: SharedSubscription,
    hooks: StdArc<Hooks>,
}

impl Subscription for TapSubscription {
    fn request(&self, n: u64) {
        if self.hooks.resuming.swap(false, Ordering::AcqRel) {
            if let Some(m) = &self.hooks.metrics {
                m.set_paused(false);
            }
            Hooks::run(&self.hooks.on_resume, "on_resume");
        }
        self.upstream.request(n)
    }

    fn cancel(&self) {
        self.upstream.cancel()
    }
}

impl<T, C: Subscriber<T>> Subscriber<T> for Tap<C> {
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        self.inner.on_subscribe(StdArc::new(TapSubscription {
            upstream: subscription,
            hooks: self.hooks.clone(),
        }))
    }
    fn on_next(&mut self, item: T) {
        self.inner.on_next(item)
    }
    fn on_error(&mut self, error: Error) {
        self.inner.on_error(error)
    }
    fn on_complete(&mut self) {
        self.inner.on_complete()
    }
}

struct PauseLogic<T> {
    high: u64,
    low: u64,
    /// Items held, at most `high`; `queue.len() + outstanding <= high`.
    queue: VecDeque<T>,
    /// Requested upstream and not received yet.
    outstanding: u64,
    /// Stopped requesting: set when `high` items are held, cleared when at most `low` are.
    paused: bool,
    hooks: StdArc<Hooks>,
}

impl<T: Send + 'static> Logic for PauseLogic<T> {
    type Item = T;
    const DOWNSTREAM: &'static str = "pause_at's downstream";

    fn start(&mut self, _now: Instant) -> (Option<Instant>, u64) {
        // Like a consumer that polls: fill up to the high watermark whatever the demand.
        self.outstanding = self.high;
        (None, self.high)
    }

    fn on_next<S: Subscriber<T> + 'static>(core: &Core<Self, S>, item: T) {
        let metrics = core.options().metrics();
        if let Some(m) = metrics {
            m.record_received(1);
        }
        let mut held = core.lock();
        if !held.accepting() {
            drop(held);
            return core.options().discard(item, DropReason::Cancelled);
        }
        let logic = &mut held.logic;
        if logic.outstanding == 0 {
            drop(held);
            core.options().discard(item, DropReason::Overflow);
            return core.fail(Error::overflow("pause_at"));
        }
        logic.outstanding -= 1;
        logic.queue.push_back(item);
        let len = logic.queue.len() as u64;
        let paused_now = !logic.paused && len >= logic.high;
        if paused_now {
            logic.paused = true;
        }
        let hooks = logic.hooks.clone();
        drop(held);
        if let Some(m) = metrics {
            m.set_buffered(len);
        }
        if paused_now {
            if let Some(m) = metrics {
                m.set_paused(true);
            }
            Hooks::run(&hooks.on_pause, "on_pause");
        }
        core.drain();
    }

    fn on_timer(&mut self, _deadline: Instant, _now: Instant, _ending: bool) -> Option<Instant> {
        None
    }

    fn step(&mut self, demand: u64, _now: Instant, ending: bool) -> Step<T> {
        if demand > 0 {
            if let Some(item) = self.queue.pop_front() {
                if let Some(m) = &self.hooks.metrics {
                    m.set_buffered(self.queue.len() as u64);
                }
                return Step::Emit(item);
            }
        }
        let held = self.queue.len() as u64;
        if self.paused && held <= self.low {
            self.paused = false;
            self.hooks.resuming.store(true, Ordering::Release);
        }
        let mut request = 0;
        if !ending && !self.paused {
            let room = self.high - held - self.outstanding;
            if room > 0 {
                request = room;
                self.outstanding += room;
            }
        }
        Step::Wait {
            wake_at: None,
            request,
            empty: self.queue.is_empty(),
        }
    }

    fn take_all(&mut self) -> Vec<T> {
        self.queue.drain(..).collect()
    }
}
