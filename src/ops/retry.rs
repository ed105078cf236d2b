//! The publisher behind [`Flux::retry`](crate::Flux::retry) and
//! [`Flux::retry_when`](crate::Flux::retry_when), and the resubscription core it shares with
//! [`Flux::repeat`](crate::Flux::repeat) (src/ops/repeat.rs).
//!
//! # The resubscription core
//!
//! One downstream subscription over a run of upstream subscriptions to the same source. The
//! downstream holds a [`Control`]: the demand [`Arbiter`] (which asks each new upstream for what
//! the previous one still owed) and the pending timer of a delayed resubscription. When an
//! upstream ends, a [`Policy`] decides: end the stream, or subscribe again now or after a delay
//! (on the stage's scheduler). Resubscriptions run on a trampoline, so a source that fails
//! synchronously many times does not grow the stack.
//!
//! The downstream subscriber lives in the shared state, which only the active upstream's
//! subscriber and timer tasks hold; the downstream's handle does not. So cancelling (which cancels
//! the upstream and the timer) releases the subscriber (rule 3.13) without a reference cycle.

use std::time::Duration;

use crate::error::Error;
use crate::metrics::PrimitiveMetrics;
use crate::ops::arbiter::Arbiter;
use crate::ops::timed::{scheduler_or_default, SharedScheduler, Timed, TimerSlot};
use crate::protocol::{
    catch, deliver_error, Publisher, SharedSubscription, Subscriber, Subscription,
};
use crate::resilience::retry::{Backoff, RetryBudget};
use crate::sched::{Scheduler, Worker};
use crate::sync::{AtomicUsize, Ordering, StdArc, UnsafeCell};

/// What to do when an upstream subscription ends.
pub(crate) enum Decision {
    /// Subscribe to the source again after this delay (zero: at once).
    Resubscribe(Duration),
    /// End the stream downstream with this.
    End(Result<(), Error>),
}

/// The per-subscription rule of a resubscribing stage.
pub(crate) trait Policy: Send + 'static {
    /// The current upstream ended with `end`.
    fn decide(&mut self, end: Result<(), Error>) -> Decision;
}

/// The downstream's handle: demand through the arbiter; cancel stops the upstream and the timer.
pub(crate) struct Control {
    arbiter: Arbiter,
    timer: TimerSlot,
}

impl Subscription for Control {
    fn request(&self, n: u64) {
        self.arbiter.request(n);
    }

    fn cancel(&self) {
        self.arbiter.cancel();
        self.timer.stop();
    }
}

struct State<P, S, Pol> {
    source: StdArc<P>,
    control: StdArc<Control>,
    worker: Worker,
    /// Skip, in each new attempt, the items already delivered (retry's default).
    skip_delivered: bool,
    metrics: Option<StdArc<PrimitiveMetrics>>,
    /// Trampoline for subscribing: whoever moves it from 0 subscribes. AcqRel: an ending
    /// upstream's writes to `owned` happen-before the next subscription.
    wip: AtomicUsize,
    owned: UnsafeCell<Owned<S, Pol>>,
}

struct Owned<S, Pol> {
    /// `None` once the stream is over downstream (terminal, cancel, panic).
    downstream: Option<S>,
    policy: Pol,
    /// Items delivered downstream over every attempt.
    delivered: u64,
    /// Items delivered by the current attempt, not yet reported to the arbiter.
    produced: u64,
}

// SAFETY: `owned` is touched by one party at a time: the active upstream's subscriber (its signals
// are serialised, rule 1.03), or the trampoline owner between two attempts (ordered by `wip` and by
// the timer queue's lock). P and S are Send; Pol is Send.
unsafe impl<P: Send + Sync, S: Send, Pol: Send> Sync for State<P, S, Pol> {}
// SAFETY: as above.
unsafe impl<P: Send + Sync, S: Send, Pol: Send> Send for State<P, S, Pol> {}

/// Subscribes `subscriber` to `source` under `policy`: the whole resubscribing stage.
pub(crate) fn subscribe_resubscribing<P, S, Pol>(
    source: &StdArc<P>,
    worker: Worker,
    policy: Pol,
    skip_delivered: bool,
    metrics: Option<StdArc<PrimitiveMetrics>>,
    mut subscriber: S,
) where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
    S: Subscriber<P::Item> + 'static,
    Pol: Policy,
{
    let control = StdArc::new(Control {
        arbiter: Arbiter::new(),
        timer: TimerSlot::new(),
    });
    if let Err(panic) = catch("on_subscribe", || subscriber.on_subscribe(control.clone())) {
        control.cancel();
        deliver_error(&mut subscriber, panic);
        return;
    }
    let state = StdArc::new(State {
        source: source.clone(),
        control,
        worker,
        skip_delivered,
        metrics,
        wip: AtomicUsize::new(0),
        owned: UnsafeCell::new(Owned {
            downstream: Some(subscriber),
            policy,
            delivered: 0,
            produced: 0,
        }),
    });
    subscribe_next(&state);
}

fn subscribe_next<P, S, Pol>(state: &StdArc<State<P, S, Pol>>)
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
    S: Subscriber<P::Item> + 'static,
    Pol: Policy,
{
    if state.wip.fetch_add(1, Ordering::AcqRel) != 0 {
        return;
    }
    loop {
        let skip = state.owned.with_mut(|owned| {
            // SAFETY: we own the trampoline and no upstream subscription is active.
            let owned = unsafe { &mut *owned };
            owned.downstream.as_ref()?;
            if state.control.arbiter.is_cancelled() {
                owned.downstream = None;
                return None;
            }
            Some(if state.skip_delivered {
                owned.delivered
            } else {
                0
            })
        });
        if let Some(skip) = skip {
            state.source.subscribe(Attempt {
                state: state.clone(),
                upstream: None,
                skip,
            });
        }
        if state.wip.fetch_sub(1, Ordering::AcqRel) == 1 {
            return;
        }
    }
}

/// The subscriber of one attempt.
struct Attempt<P, S, Pol> {
    state: StdArc<State<P, S, Pol>>,
    upstream: Option<SharedSubscription>,
    /// Items still to skip: delivered downstream by an earlier attempt.
    skip: u64,
}

impl<P, S, Pol> Attempt<P, S, Pol> {
    #[inline]
    fn owned<R>(&mut self, f: impl FnOnce(&mut Owned<S, Pol>) -> R) -> R {
        self.state.owned.with_mut(|owned| {
            // SAFETY: only the active attempt signals, and the trampoline does not touch `owned`
            // while an attempt is active.
            f(unsafe { &mut *owned })
        })
    }
}

impl<P, S, Pol> Attempt<P, S, Pol>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
    S: Subscriber<P::Item> + 'static,
    Pol: Policy,
{
    fn on_end(&mut self, end: Result<(), Error>) {
        self.upstream = None;
        let produced = self.owned(|owned| std::mem::take(&mut owned.produced));
        self.state.control.arbiter.produced(produced);
        let decision = self.owned(|owned| {
            owned.downstream.as_ref()?;
            Some(owned.policy.decide(end))
        });
        match decision {
            None => {}
            Some(Decision::End(end)) => {
                if let Some(m) = &self.state.metrics {
                    if end.is_err() {
                        m.record_rejected(1);
                    }
                }
                if let Some(mut downstream) = self.owned(|owned| owned.downstream.take()) {
                    crate::protocol::deliver_terminal(&mut downstream, end);
                }
            }
            Some(Decision::Resubscribe(delay)) => {
                if let Some(m) = &self.state.metrics {
                    m.record_admitted(1);
                }
                if delay.is_zero() {
                    subscribe_next(&self.state);
                } else {
                    arm(&self.state, delay);
                }
            }
        }
    }
}

fn arm<P, S, Pol>(state: &StdArc<State<P, S, Pol>>, delay: Duration)
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
    S: Subscriber<P::Item> + 'static,
    Pol: Policy,
{
    let timer = &state.control.timer;
    let Some(generation) = timer.arm() else {
        // Stopped: the downstream cancelled. Release it.
        state.owned.with_mut(|owned| {
            // SAFETY: no attempt is active (the last one ended) and no timer will run.
            unsafe { &mut *owned }.downstream = None;
        });
        return;
    };
    let again = state.clone();
    let handle = state.worker.schedule_after(delay, move || {
        again.control.timer.fired(generation);
        subscribe_next(&again);
    });
    timer.set(generation, handle);
}

impl<P, S, Pol> Subscriber<P::Item> for Attempt<P, S, Pol>
where
    P: Publisher + Send + Sync + 'static,
    P::Item: 'static,
    S: Subscriber<P::Item> + 'static,
    Pol: Policy,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        if self.upstream.is_some() {
            subscription.cancel();
            return;
        }
        self.upstream = Some(subscription.clone());
        if self.skip > 0 {
            // The items to skip cost the upstream credits the downstream never asked for.
            subscription.request(self.skip);
        }
        self.state.control.arbiter.switch_to(subscription);
    }

    fn on_next(&mut self, item: P::Item) {
        if self.skip > 0 {
            self.skip -= 1;
            return;
        }
        let outcome = self.owned(|owned| {
            let downstream = owned.downstream.as_mut()?;
            owned.produced += 1;
            owned.delivered += 1;
            Some(catch("retry's downstream", || downstream.on_next(item)))
        });
        if let Some(Err(panic)) = outcome {
            // Rule 2.13: the downstream is treated as cancelled; its panic is not an upstream
            // failure to retry.
            if let Some(upstream) = self.upstream.take() {
                upstream.cancel();
            }
            self.state.control.cancel();
            if let Some(mut downstream) = self.owned(|owned| owned.downstream.take()) {
                deliver_error(&mut downstream, panic);
            }
        }
    }

    fn on_error(&mut self, error: Error) {
        self.on_end(Err(error));
    }

    fn on_complete(&mut self) {
        self.on_end(Ok(()));
    }
}

// ---- retry ----

/// Resubscribes to its source after an error. Built by [`Flux::retry`](crate::Flux::retry) and
/// [`Flux::retry_when`](crate::Flux::retry_when).
pub struct Retry<P, B> {
    source: StdArc<P>,
    backoff: B,
    honour_hint: bool,
    max_delay: Duration,
    budget: Option<RetryBudget>,
    retry_if: Option<StdArc<dyn Fn(&Error) -> bool + Send + Sync>>,
    skip_delivered: bool,
    scheduler: Option<SharedScheduler>,
    metrics: Option<StdArc<PrimitiveMetrics>>,
}

impl<P, B: Clone> Clone for Retry<P, B> {
    fn clone(&self) -> Self {
        Retry {
            source: self.source.clone(),
            backoff: self.backoff.clone(),
            honour_hint: self.honour_hint,
            max_delay: self.max_delay,
            budget: self.budget.clone(),
            retry_if: self.retry_if.clone(),
            skip_delivered: self.skip_delivered,
            scheduler: self.scheduler.clone(),
            metrics: self.metrics.clone(),
        }
    }
}

impl<P: std::fmt::Debug, B> std::fmt::Debug for Retry<P, B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retry")
            .field("source", &self.source)
            .field("honour_hint", &self.honour_hint)
            .field("max_delay", &self.max_delay)
            .field("skip_delivered", &self.skip_delivered)
            .finish_non_exhaustive()
    }
}

/// The longest wait a `retry_when` stage takes by default, whatever the backoff or hint says.
pub const RETRY_MAX_DELAY: Duration = Duration::from_secs(60);

impl<P, B> Retry<P, B> {
    pub(crate) fn new(source: P, backoff: B, honour_hint: bool) -> Self {
        Retry {
            source: StdArc::new(source),
            backoff,
            honour_hint,
            max_delay: RETRY_MAX_DELAY,
            budget: None,
            retry_if: None,
            skip_delivered: true,
            scheduler: None,
            metrics: None,
        }
    }

    pub(crate) fn set_max_delay(&mut self, cap: Duration) {
        self.max_delay = cap;
    }
    pub(crate) fn set_budget(&mut self, budget: RetryBudget) {
        self.budget = Some(budget);
    }
    pub(crate) fn set_retry_if(&mut self, f: StdArc<dyn Fn(&Error) -> bool + Send + Sync>) {
        self.retry_if = Some(f);
    }
    pub(crate) fn set_replay(&mut self) {
        self.skip_delivered = false;
    }
    pub(crate) fn set_honour_hint(&mut self, honour: bool) {
        self.honour_hint = honour;
    }
    pub(crate) fn set_metrics(&mut self, metrics: StdArc<PrimitiveMetrics>) {
        self.metrics = Some(metrics);
    }
}

impl<P, B> Timed for Retry<P, B> {
    fn set_scheduler(&mut self, scheduler: SharedScheduler) {
        self.scheduler = Some(scheduler);
    }
}

struct RetryPolicy<D> {
    delays: D,
    attempts: u64,
    honour_hint: bool,
    max_delay: Duration,
    budget: Option<RetryBudget>,
    retry_if: Option<StdArc<dyn Fn(&Error) -> bool + Send + Sync>>,
}

impl<D: Iterator<Item = Duration> + Send + 'static> Policy for RetryPolicy<D> {
    fn decide(&mut self, end: Result<(), Error>) -> Decision {
        self.attempts += 1;
        let error = match end {
            Ok(()) => {
                if let Some(budget) = &self.budget {
                    budget.record_success();
                }
                return Decision::End(Ok(()));
            }
            Err(error) => error,
        };
        let allowed_by_budget = self.budget.as_ref().map_or(true, |b| b.record_failure());
        if let Some(retry_if) = &self.retry_if {
            match catch("retry_if", || retry_if(&error)) {
                Ok(true) => {}
                Ok(false) => return Decision::End(Err(error)),
                Err(panic) => return Decision::End(Err(panic)),
            }
        }
        if !allowed_by_budget {
            return Decision::End(Err(Error::retry_exhausted(self.attempts, error)));
        }
        match self.delays.next() {
            None => Decision::End(Err(Error::retry_exhausted(self.attempts, error))),
            Some(delay) => {
                let hint = if self.honour_hint {
                    error.retry_after().unwrap_or(Duration::ZERO)
                } else {
                    Duration::ZERO
                };
                Decision::Resubscribe(delay.max(hint).min(self.max_delay))
            }
        }
    }
}

impl<P, B> Publisher for Retry<P, B>
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
        let policy = RetryPolicy {
            delays: self.backoff.delays(),
            attempts: 0,
            honour_hint: self.honour_hint,
            max_delay: self.max_delay,
            budget: self.budget.clone(),
            retry_if: self.retry_if.clone(),
        };
        subscribe_resubscribing(
            &self.source,
            scheduler_or_default(&self.scheduler).worker(),
            policy,
            self.skip_delivered,
            self.metrics.clone(),
            subscriber,
        );
    }
}
