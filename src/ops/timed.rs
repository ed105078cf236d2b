//! What the timed stages share (`throttle`, `throttle_first`, `sample`, `debounce`, `timeout`,
//! `interval`): the scheduler they run on and the [`Flux::scheduler`](crate::Flux::scheduler) setter; [`Core`], the engine
//! that drives `sample`, `debounce`, `throttle` and `interval` (each supplies a [`Logic`]); and its
//! parts — [`Serial`], the downstream subscriber behind a drain gate so that the upstream's thread
//! and the timer's thread never signal it at once, and [`TimerSlot`], a stage's one pending timer,
//! cancellable from any thread. `timeout`, which only passes items through, has a lighter protocol
//! of its own (src/ops/timeout.rs) and `throttle_first` needs only a clock.
//!
//! # Which scheduler
//!
//! Every timed stage reads its clock from a [`Scheduler`] and runs its timers there: by default a
//! process-wide pool with one thread per core, started on first use (Reactor's
//! `Schedulers.parallel()`, RxJava's `computation()`); each subscription takes one
//! [`worker`](Scheduler::worker) of it, so its timer tasks run in order on one thread.
//! `throttle_first` runs no timer: by default it reads the real clock and starts no thread. Tests
//! pass a [`VirtualTime`](crate::sched::VirtualTime) through [`Flux::scheduler`](crate::Flux::scheduler), which makes timed
//! behaviour exact and instant.

use std::sync::{OnceLock, Weak};
use std::time::Duration;

use crate::demand::{Demand, GateCell};
use crate::error::Error;
use crate::metrics::DropReason;
use crate::ops::stage::{ErrorMode, StageOptions};
use crate::protocol::{catch, deliver_error, SharedSubscription, Subscriber, Subscription};
use crate::sched::{Instant, Scheduler, TaskHandle, Worker};
use crate::sync::{AtomicBool, Mutex, MutexGuard, Ordering, StdArc};

/// The two trait impls every timed stage with `options` and `scheduler` fields has:
/// [`Configurable`](crate::stage::Configurable) (dropping `$dropped`) and [`Timed`].
macro_rules! timed_stage {
    ($stage:ident, $dropped:ty) => {
        impl<P: Publisher> Configurable for $stage<P> {
            type Dropped = $dropped;
            fn options_mut(&mut self) -> &mut StageOptions<$dropped> {
                &mut self.options
            }
        }

        impl<P: Publisher> Timed for $stage<P> {
            fn set_scheduler(&mut self, scheduler: SharedScheduler) {
                self.scheduler = Some(scheduler);
            }
        }
    };
}
pub(crate) use timed_stage;

/// A shared, type-erased scheduler handle, as timed stages hold it.
pub type SharedScheduler = StdArc<dyn Scheduler>;

/// A stage or source driven by a [`Scheduler`]: it gets the [`Flux::scheduler`](crate::Flux::scheduler) setter.
pub trait Timed {
    /// Makes the stage read its clock from, and run its timers on, `scheduler`.
    fn set_scheduler(&mut self, scheduler: SharedScheduler);
}

/// The scheduler a stage configured with `chosen` runs on: `chosen`, or the shared default.
pub(crate) fn scheduler_or_default(chosen: &Option<SharedScheduler>) -> SharedScheduler {
    static DEFAULT: OnceLock<SharedScheduler> = OnceLock::new();
    match chosen {
        Some(scheduler) => scheduler.clone(),
        // Lazily: a stream that names its scheduler, or is never subscribed, starts no thread.
        None => DEFAULT
            .get_or_init(|| StdArc::new(crate::sched::pool_default()))
            .clone(),
    }
}

/// The first periodic deadline after `now`, counting from `previous` in steps of `period`.
///
/// On time (`now < previous + period`, always so on virtual time) this is `previous + period`;
/// after a stall, the ticks missed are skipped instead of fired in a burst.
pub(crate) fn next_tick(previous: Instant, period: Duration, now: Instant) -> Instant {
    let next = previous + period;
    if next > now {
        return next;
    }
    let period_ns = period.as_nanos().max(1);
    let behind = (now - previous).as_nanos();
    let steps = behind / period_ns + 1;
    let offset = steps.saturating_mul(period_ns);
    let offset = u64::try_from(offset).map_or(Duration::MAX, Duration::from_nanos);
    previous + offset
}

/// A downstream subscriber owned behind a drain gate: whoever enters the gate owns the subscriber
/// until [`DrainGate::leave`](crate::demand::DrainGate::leave) returns 0, and everyone else (the upstream's thread, the timer's
/// thread, a `request` from anywhere) only records that there is work. This is rule 1.03 for a
/// stage whose signals come from two threads; the owner never holds a lock while it calls out.
pub(crate) struct Serial<S> {
    /// `Some` while subscribed; taken (dropping the subscriber, rule 3.13) on terminal or cancel.
    downstream: GateCell<Option<S>>,
}

impl<S> Serial<S> {
    pub(crate) fn new(downstream: S) -> Self {
        Serial {
            downstream: GateCell::new(Some(downstream)),
        }
    }

    /// Signals work: if the caller becomes the owner, it runs `pass` until no signal was missed.
    pub(crate) fn drain(&self, pass: impl FnMut(&mut Option<S>)) {
        self.downstream.drain(pass);
    }

    /// Calls `on_subscribe(handle)` while owning the gate, so that requests made inside it are
    /// served after it returns (rule 1.03), then runs `pass` until no signal was missed.
    ///
    /// A panicking `on_subscribe` is treated as a cancel: `on_panic` runs (it cancels upstream and
    /// stops the stage's timers), the panic goes to the subscriber as `on_error`, and the
    /// subscriber is released. Returns whether `on_subscribe` returned normally.
    pub(crate) fn start<T>(
        &self,
        handle: SharedSubscription,
        on_panic: impl FnOnce(),
        pass: impl FnMut(&mut Option<S>),
    ) -> bool
    where
        S: Subscriber<T>,
    {
        crate::stage::start(
            &self.downstream,
            handle,
            |slot| slot.as_mut(),
            |slot, panic| {
                on_panic();
                if let Some(mut downstream) = slot.take() {
                    deliver_error(&mut downstream, panic);
                }
            },
            pass,
        )
    }
}

/// Delivers a terminal signal to `downstream` and releases it; panics go to the error hook.
fn finish<T, S: Subscriber<T>>(mut downstream: S, end: Result<(), Error>) {
    crate::protocol::deliver_terminal(&mut downstream, end);
}

/// What a timed stage decides, under its lock, that it does next (outside the lock).
pub(crate) enum Step<T> {
    /// Deliver this item (a credit of downstream demand is there).
    Emit(T),
    /// Nothing to deliver now.
    Wait {
        /// Wake the stage at this instant (a token comes, an item becomes due).
        wake_at: Option<Instant>,
        /// Ask upstream for this many more items.
        request: u64,
        /// Nothing is held: once the upstream has ended, the end may go downstream.
        empty: bool,
    },
    /// End the stream with this error now (cancelling upstream, dropping what is held).
    Fail(Error),
}

/// How a drain pass ended.
enum Outcome {
    /// Nothing more to do until the next signal.
    Idle,
    /// The upstream's end may go downstream now.
    End(Result<(), Error>),
    /// The logic failed the stream.
    Fail(Error),
}

/// The behaviour of one timed stage, driven by [`Core`]: what happens on an item, on a timer, and
/// what to do next. Everything here runs under the core's lock: no calls out, no user code.
pub(crate) trait Logic: Sized + Send + 'static {
    /// The items the stage passes on.
    type Item: Send + 'static;

    /// Names the stage's downstream in panic messages.
    const DOWNSTREAM: &'static str;

    /// At subscription, at `now`: the first timer to arm and the first upstream request.
    fn start(&mut self, now: Instant) -> (Option<Instant>, u64);

    /// An item from upstream (upstream's thread, rule 1.03). Locks the core as it needs.
    fn on_next<S: Subscriber<Self::Item> + 'static>(core: &Core<Self, S>, item: Self::Item);

    /// The timer armed for `deadline` fired at `now`; returns the next deadline to arm.
    /// `ending`: the upstream has ended.
    fn on_timer(&mut self, deadline: Instant, now: Instant, ending: bool) -> Option<Instant>;

    /// The next step at `now`, with `demand` credits outstanding downstream.
    fn step(&mut self, demand: u64, now: Instant, ending: bool) -> Step<Self::Item>;

    /// Everything held, taken because the stage closes (each is dropped as `Cancelled`).
    fn take_all(&mut self) -> Vec<Self::Item>;
}

/// A stage's logic and how its stream ends, behind the core's lock.
pub(crate) struct Held<L> {
    pub(crate) logic: L,
    /// How the upstream ended (or the stage failed), waiting for held items to go first.
    end: Option<Result<(), Error>>,
    /// The stage has shut: nothing is held any more, and arrivals are dropped as `Cancelled`.
    closed: bool,
}

impl<L> Held<L> {
    /// Whether an arriving item may be held (the stage neither shut nor ended).
    pub(crate) fn accepting(&self) -> bool {
        !self.closed && self.end.is_none()
    }
}

/// The engine of a timed stage: the downstream behind a [`Serial`] drain gate, the stage's
/// [`Logic`] behind a lock, one [`TimerSlot`], downstream demand, and the upstream handle.
///
/// Signals come from three sides: upstream's thread (`on_next` and the end), the scheduler's
/// thread (timers) and the downstream (`request`, `cancel`, from any thread). Each records what
/// happened (under the lock, briefly) and then drains; the drain owner alone calls the
/// downstream, catching its panics (they cancel upstream and become `on_error`).
///
/// Why a lock and not a lock-free queue: it guards a bounded amount of state (one item for
/// `sample` and `debounce`, at most `burst` for `throttle`), is taken once per item and per timer
/// for a few instructions, and is contended only when a timer fires while an item arrives; the
/// `timed_ingest` bench puts `sample` at about 10 ns per item. It is never held while calling out
/// (downstream, upstream, scheduler, `on_drop`), so it cannot deadlock or wait on user code.
pub(crate) struct Core<L: Logic, S> {
    serial: Serial<S>,
    /// The core itself, for the timer tasks it schedules.
    me: Weak<Self>,
    upstream: SharedSubscription,
    worker: Worker,
    options: StageOptions<L::Item>,
    /// Downstream demand: added by `request`, spent by the drain owner.
    demand: Demand,
    /// Set once the stage is over (downstream cancel, terminal sent, panic); Release by the
    /// setter, Acquire by the drain owner, which then shuts the stage and releases the downstream.
    stopped: AtomicBool,
    /// Set by `request(0)` (Release); the drain owner (Acquire) answers with the rule 3.9 error.
    invalid: AtomicBool,
    timer: TimerSlot,
    state: Mutex<Held<L>>,
}

/// What a stage's upstream-side subscriber carries until `on_subscribe`.
pub(crate) struct Setup<L: Logic, S> {
    pub(crate) downstream: S,
    pub(crate) worker: Worker,
    pub(crate) options: StageOptions<L::Item>,
    pub(crate) logic: L,
}

/// The upstream-facing subscriber of a timed stage: builds the [`Core`] on `on_subscribe` and
/// hands it every signal.
pub(crate) struct TimedSubscriber<L: Logic, S> {
    waiting: Option<Setup<L, S>>,
    core: Option<StdArc<Core<L, S>>>,
}

impl<L: Logic, S> TimedSubscriber<L, S> {
    pub(crate) fn new(setup: Setup<L, S>) -> Self {
        TimedSubscriber {
            waiting: Some(setup),
            core: None,
        }
    }

    /// The core, once subscribed: for a stage whose upstream items are not its `L::Item`
    /// (`chunks_timeout` takes `T` and emits `Vec<T>`) and that wraps this subscriber.
    pub(crate) fn core(&self) -> Option<&StdArc<Core<L, S>>> {
        self.core.as_ref()
    }
}

impl<L, S> Subscriber<L::Item> for TimedSubscriber<L, S>
where
    L: Logic,
    S: Subscriber<L::Item> + 'static,
{
    fn on_subscribe(&mut self, subscription: SharedSubscription) {
        let Some(setup) = self.waiting.take() else {
            // Rule 2.05: already subscribed.
            subscription.cancel();
            return;
        };
        let core = StdArc::new_cyclic(|me| Core {
            serial: Serial::new(setup.downstream),
            me: me.clone(),
            upstream: subscription,
            worker: setup.worker,
            options: setup.options,
            demand: Demand::new(),
            stopped: AtomicBool::new(false),
            invalid: AtomicBool::new(false),
            timer: TimerSlot::new(),
            state: Mutex::new(Held {
                logic: setup.logic,
                end: None,
                closed: false,
            }),
        });
        self.core = Some(core.clone());
        core.start();
    }

    fn on_next(&mut self, item: L::Item) {
        match &self.core {
            Some(core) => L::on_next(core, item),
            None => drop(item),
        }
    }

    fn on_error(&mut self, error: Error) {
        if let Some(core) = &self.core {
            core.on_end(Err(error));
        }
    }

    fn on_complete(&mut self) {
        if let Some(core) = &self.core {
            core.on_end(Ok(()));
        }
    }
}

impl<L, S> Core<L, S>
where
    L: Logic,
    S: Subscriber<L::Item> + 'static,
{
    fn start(self: &StdArc<Self>) {
        let now = self.worker.now();
        let (first_timer, request) = self.state.lock().logic.start(now);
        let handle: SharedSubscription = self.clone();
        let started = self.serial.start(
            handle,
            || {
                self.stop_upstream();
                self.state.lock().closed = true;
            },
            |slot| self.pass(slot),
        );
        if !started || self.stopped.load(Ordering::Acquire) {
            return;
        }
        if let Some(deadline) = first_timer {
            self.arm(deadline);
        }
        self.request_upstream(request);
    }

    /// The stage's lock: its logic and whether it still accepts items.
    pub(crate) fn lock(&self) -> MutexGuard<'_, Held<L>> {
        self.state.lock()
    }

    pub(crate) fn options(&self) -> &StageOptions<L::Item> {
        &self.options
    }

    /// The stage's clock.
    pub(crate) fn now(&self) -> Instant {
        self.worker.now()
    }

    /// Arms the stage's timer for `deadline`, unless one is pending already (its firing asks the
    /// logic for the next deadline) or the stage is over.
    pub(crate) fn arm(&self, deadline: Instant) {
        let Some(generation) = self.timer.arm() else {
            return;
        };
        // Pending work keeps the stage alive (a source's ticks, the last paced items after the
        // upstream has gone): the task holds it until it runs or `TimerSlot::stop` cancels it,
        // which every way out of the stage does.
        let Some(core) = self.me.upgrade() else {
            return;
        };
        let handle = self
            .worker
            .schedule_at(deadline, move || core.on_timer(generation, deadline));
        self.timer.set(generation, handle);
    }

    fn on_timer(&self, generation: u64, deadline: Instant) {
        self.timer.fired(generation);
        let now = self.worker.now();
        let next = {
            let mut held = self.state.lock();
            if held.closed {
                return;
            }
            let ending = held.end.is_some();
            held.logic.on_timer(deadline, now, ending)
        };
        if let Some(next) = next {
            self.arm(next);
        }
        self.drain();
    }

    /// Records how the upstream ended; the end goes downstream once what is held has gone
    /// (`ErrorMode::AfterDrain`), or at once for an error in `ErrorMode::Immediate` (what is held
    /// is dropped as `Cancelled`).
    pub(crate) fn on_end(&self, end: Result<(), Error>) {
        let dropped = {
            let mut held = self.state.lock();
            if !held.accepting() {
                drop(held);
                // Ended already (the stage failed and cancelled upstream): nobody takes this one.
                if let Err(error) = end {
                    crate::error::report_undeliverable(&error);
                }
                return;
            }
            let dropped = match (&end, self.options.error_mode) {
                (Err(_), ErrorMode::Immediate) => held.logic.take_all(),
                _ => Vec::new(),
            };
            held.end = Some(end);
            dropped
        };
        for item in dropped {
            self.options.discard(item, DropReason::Cancelled);
        }
        self.drain();
    }

    /// The stage itself fails (overflow, rate exceeded): cancel upstream, then end with `error`.
    pub(crate) fn fail(&self, error: Error) {
        self.upstream.cancel();
        self.on_end(Err(error));
    }

    pub(crate) fn drain(&self) {
        self.serial.drain(|slot| self.pass(slot));
    }

    fn request_upstream(&self, n: u64) {
        if n > 0 {
            if let Some(m) = self.options.metrics() {
                m.record_requested(n);
            }
            self.upstream.request(n);
        }
    }

    /// Cancels upstream and stops the timer: the stage is over.
    fn stop_upstream(&self) {
        self.stopped.store(true, Ordering::Release);
        self.upstream.cancel();
        self.timer.stop();
    }

    /// One drain pass (the caller owns the gate): deliver what may go, or shut down.
    fn pass(&self, slot: &mut Option<S>) {
        let Some(downstream) = slot.as_mut() else {
            return;
        };
        if self.stopped.load(Ordering::Acquire) {
            return self.shut(slot, None);
        }
        if self.invalid.load(Ordering::Acquire) {
            self.stop_upstream();
            return self.shut(slot, Some(Err(Error::invalid_demand())));
        }
        match catch(L::DOWNSTREAM, || self.emit(downstream)) {
            Ok(Outcome::Idle) => {}
            Ok(Outcome::End(end)) => {
                self.stopped.store(true, Ordering::Release);
                self.shut(slot, Some(end));
            }
            Ok(Outcome::Fail(error)) | Err(error) => {
                self.stop_upstream();
                self.shut(slot, Some(Err(error)));
            }
        }
    }

    /// Delivers items while the logic says so.
    fn emit(&self, downstream: &mut S) -> Outcome {
        loop {
            if self.stopped.load(Ordering::Acquire) {
                // Cancelled from inside `on_next`: stop at once; the next pass shuts the stage.
                return Outcome::Idle;
            }
            let now = self.worker.now();
            let step = {
                let mut held = self.state.lock();
                if held.closed {
                    return Outcome::Idle;
                }
                let ending = held.end.is_some();
                match held.logic.step(self.demand.get(), now, ending) {
                    Step::Wait { empty: true, .. } if ending => {
                        return Outcome::End(held.end.take().expect("ending"));
                    }
                    step => step,
                }
            };
            match step {
                Step::Emit(item) => {
                    downstream.on_next(item);
                    self.demand.produced(1);
                    if let Some(m) = self.options.metrics() {
                        m.record_emitted(1);
                    }
                }
                Step::Wait {
                    wake_at, request, ..
                } => {
                    if let Some(deadline) = wake_at {
                        self.arm(deadline);
                    }
                    // A synchronous upstream may deliver inside this call: its items are held and
                    // the drain gate brings this owner back for them.
                    self.request_upstream(request);
                    return Outcome::Idle;
                }
                Step::Fail(error) => return Outcome::Fail(error),
            }
        }
    }

    /// Ends the subscription: drops what is held (`Cancelled`), signals `end` if any, and releases
    /// the downstream (rule 3.13). Only the drain owner calls it.
    fn shut(&self, slot: &mut Option<S>, end: Option<Result<(), Error>>) {
        self.timer.stop();
        let held = {
            let mut held = self.state.lock();
            held.closed = true;
            held.end = None;
            held.logic.take_all()
        };
        for item in held {
            self.options.discard(item, DropReason::Cancelled);
        }
        if let Some(downstream) = slot.take() {
            if let Some(end) = end {
                finish(downstream, end);
            }
        }
    }
}

impl<L, S> Subscription for Core<L, S>
where
    L: Logic,
    S: Subscriber<L::Item> + 'static,
{
    fn request(&self, n: u64) {
        if n == 0 {
            self.invalid.store(true, Ordering::Release);
        } else {
            self.demand.add(n);
        }
        self.drain();
    }

    fn cancel(&self) {
        if !self.stopped.swap(true, Ordering::AcqRel) {
            self.upstream.cancel();
            self.timer.stop();
        }
        self.drain();
    }
}

/// A stage's one pending timer: armed by whoever needs it, disarmed when it fires, cancelled for
/// good by [`stop`](TimerSlot::stop), from any thread.
///
/// Scheduling happens outside the lock (a scheduler may run a due task inline, and that task
/// locks the stage), so arming is two steps: [`arm`](TimerSlot::arm) reserves the slot and returns
/// a generation, the caller schedules, then [`set`](TimerSlot::set) stores the handle, or cancels
/// the task at once if the slot was stopped meanwhile. Generations keep a late `set` or `fired`
/// of an older timer from clobbering a newer one.
pub(crate) struct TimerSlot {
    /// Cold path: locked a few times per timer, never while a task runs or is cancelled.
    inner: Mutex<TimerState>,
}

struct TimerState {
    /// Bumped by every `arm`; identifies the armed timer.
    generation: u64,
    armed: bool,
    stopped: bool,
    handle: Option<TaskHandle>,
}

impl TimerSlot {
    pub(crate) fn new() -> Self {
        TimerSlot {
            inner: Mutex::new(TimerState {
                generation: 0,
                armed: false,
                stopped: false,
                handle: None,
            }),
        }
    }

    /// Reserves the slot: `Some(generation)` if the caller must now schedule the timer and hand
    /// its handle to [`set`](Self::set); `None` if a timer is pending already or the slot stopped.
    pub(crate) fn arm(&self) -> Option<u64> {
        let mut state = self.inner.lock();
        if state.armed || state.stopped {
            return None;
        }
        state.armed = true;
        state.generation += 1;
        Some(state.generation)
    }

    /// Stores the handle of the timer armed as `generation`; cancels it if the slot stopped.
    pub(crate) fn set(&self, generation: u64, handle: TaskHandle) {
        let cancel = {
            let mut state = self.inner.lock();
            if state.stopped {
                true
            } else {
                if state.generation == generation && state.armed {
                    state.handle = Some(handle.clone());
                }
                false
            }
        };
        if cancel {
            // Outside the lock: cancelling drops the task and what it captured.
            handle.cancel();
        }
    }

    /// The timer armed as `generation` is running: the slot is free for the next one.
    pub(crate) fn fired(&self, generation: u64) {
        let mut state = self.inner.lock();
        if state.generation == generation {
            state.armed = false;
            state.handle = None;
        }
    }

    #[cfg(test)]
    fn is_stopped(&self) -> bool {
        self.inner.lock().stopped
    }

    /// Cancels the pending timer, if any, and refuses every later one.
    pub(crate) fn stop(&self) {
        let handle = {
            let mut state = self.inner.lock();
            state.stopped = true;
            state.armed = false;
            state.handle.take()
        };
        if let Some(handle) = handle {
            handle.cancel();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sched::VirtualTime;

    #[test]
    fn next_tick_on_time_and_after_a_stall() {
        let at = |ms| Instant::EPOCH + Duration::from_millis(ms);
        let p = Duration::from_millis(10);
        assert_eq!(next_tick(at(10), p, at(10)), at(20));
        assert_eq!(next_tick(at(10), p, at(19)), at(20));
        assert_eq!(
            next_tick(at(10), p, at(20)),
            at(30),
            "a due tick is not re-fired"
        );
        assert_eq!(
            next_tick(at(10), p, at(57)),
            at(60),
            "missed ticks are skipped"
        );
    }

    #[test]
    fn timer_slot_arms_once_and_stop_cancels() {
        let clock = VirtualTime::new();
        let slot = TimerSlot::new();
        let g = slot.arm().expect("free");
        assert_eq!(slot.arm(), None, "one pending timer at a time");
        let h = clock.schedule_after(Duration::from_secs(1), || unreachable!("stopped"));
        slot.set(g, h.clone());
        slot.stop();
        assert!(!h.is_pending());
        assert_eq!(slot.arm(), None);
        assert!(slot.is_stopped());
        let late = clock.schedule_after(Duration::from_secs(1), || unreachable!("stopped"));
        slot.set(g, late.clone());
        assert!(
            !late.is_pending(),
            "a timer set after stop is cancelled at once"
        );
        clock.advance_by(Duration::from_secs(2));
    }

    #[test]
    fn a_stale_generation_does_not_disarm_the_current_timer() {
        let slot = TimerSlot::new();
        let first = slot.arm().unwrap();
        slot.fired(first);
        let second = slot.arm().unwrap();
        slot.fired(first);
        assert_eq!(slot.arm(), None, "the second timer is still pending");
        slot.fired(second);
        assert!(slot.arm().is_some());
    }
}
